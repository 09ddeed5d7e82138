"""Paired comparisons by seed: the effect of one config key, seed by seed.

Runs that differ only in ``key`` (and the seed) form one comparison. With ``a`` the first value
of ``key`` (sorted, or as ordered by the caller) and ``b`` another one, each seed ``s`` run with
both gives the paired difference, in percentage points of the metric (an accuracy in [0, 1]):

    d_s = 100 * (x_s(b) - x_s(a))

reported as ``mean(d)``, the sample std (ddof=1), the number of pairs and the wins (``d_s > 0``).
Pairing removes the seed-to-seed spread of the shared baseline, which unpaired means keep.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from nlpcompress.config import metric_names as names
from nlpcompress.report.runs import as_number, config_group, is_present, run_record, select_runs

COLUMNS = [
    "comparison",
    "key",
    "a",
    "b",
    "pairs",
    "seeds",
    "a_mean",
    "b_mean",
    "diff_mean_pp",
    "diff_std_pp",
    "wins",
    "diffs_pp",
]


def paired_differences(
    runs_df: pd.DataFrame,
    key: str,
    metric: str = names.TEST_ACC,
    order: Sequence[str] | None = None,
) -> pd.DataFrame:
    """One row per (comparison group, value ``b``): the paired differences against ``a``.

    Args:
        runs_df: runs in the ``search_runs`` pandas layout (FINISHED top-level ones are used).
        key: the config key compared, e.g. ``quant.lsq`` or ``distill.alpha``.
        metric: the MLflow metric compared.
        order: the values of ``key`` in the order to compare (the first is ``a``); default:
            sorted as strings.
    """
    runs = select_runs(runs_df)
    cells: dict[str, dict[str, dict[str, float]]] = {}  # group -> value -> seed -> metric
    labels: dict[tuple[str, str], str] = {}  # (group, value) -> run label
    records = runs.to_dict("records")
    # A param that only some runs of a method have (added by a later version, e.g.
    # quant.lsq_init) cannot tell them apart: within each method, group on the params all its
    # runs have. Methods are kept apart, since one may drop another's knobs (`~method.x`).
    shared: dict[str, set[str]] = {}
    for row in records:
        present = {k for k, v in row.items() if k.startswith("params.") and is_present(v)}
        method = str(row.get("params.method.name", ""))
        shared[method] = shared[method] & present if method in shared else present
    for row in records:
        kept = shared[str(row.get("params.method.name", ""))] | {f"params.{key}"}
        params = {k[len("params.") :]: v for k, v in row.items() if k in kept}
        value = params.get(key)
        x = as_number(row.get(f"metrics.{metric}"))
        if not is_present(value) or math.isnan(x):
            continue
        group = config_group({k: v for k, v in params.items() if k != key})
        cells.setdefault(group, {}).setdefault(str(value), {})[str(params.get("seed", ""))] = x
        labels.setdefault((group, str(value)), run_record(row)["label"])
    out = []
    for group, by_value in cells.items():
        values = [v for v in (order or sorted(by_value)) if v in by_value]
        if len(values) < 2:
            continue
        a = values[0]
        for b in values[1:]:
            seeds = sorted(set(by_value[a]) & set(by_value[b]), key=_seed_key)
            if not seeds:
                continue
            diffs = [100.0 * (by_value[b][s] - by_value[a][s]) for s in seeds]
            out.append(
                {
                    "comparison": labels[(group, a)],
                    "key": key,
                    "a": a,
                    "b": b,
                    "pairs": len(seeds),
                    "seeds": ",".join(seeds),
                    "a_mean": _mean([by_value[a][s] for s in seeds]),
                    "b_mean": _mean([by_value[b][s] for s in seeds]),
                    "diff_mean_pp": _mean(diffs),
                    "diff_std_pp": pd.Series(diffs).std(ddof=1) if len(diffs) > 1 else math.nan,
                    "wins": sum(d > 0 for d in diffs),
                    "diffs_pp": ", ".join(f"{d:+.2f}" for d in diffs),
                }
            )
    return pd.DataFrame(out, columns=COLUMNS)


def format_paired(table: pd.DataFrame, metric: str = names.TEST_ACC) -> str:
    """The paired table as GitHub-flavoured Markdown (means in percent, differences in points)."""
    if table.empty:
        return f"No paired runs (same config and seed, two values of the key) for {metric}.\n"
    lines = [
        f"| comparison | {table['key'].iloc[0]}: a -> b | pairs (seeds) | a {metric} | "
        f"b {metric} | b - a, points | wins | per seed |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in table.to_dict("records"):
        std = "" if math.isnan(r["diff_std_pp"]) else f" ± {r['diff_std_pp']:.2f}"
        lines.append(
            f"| {r['comparison']} | {r['a']} -> {r['b']} | {r['pairs']} ({r['seeds']}) | "
            f"{100 * r['a_mean']:.2f} | {100 * r['b_mean']:.2f} | {r['diff_mean_pp']:+.2f}{std} | "
            f"{r['wins']}/{r['pairs']} | {r['diffs_pp']} |"
        )
    return "\n".join(lines) + "\n"


def write_paired(table: pd.DataFrame, out_dir: str | Path, metric: str = names.TEST_ACC) -> dict:
    """``paired.md`` and ``paired.csv`` under ``out_dir``; returns ``{name: path}``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    md, csv = out / "paired.md", out / "paired.csv"
    md.write_text(format_paired(table, metric), encoding="utf-8")
    table.to_csv(csv, index=False)
    return {"paired_md": md, "paired_csv": csv}


def _mean(values: list[float]) -> float:
    return sum(values) / len(values)


def _seed_key(seed: Any) -> tuple[int, Any]:
    text = str(seed)
    return (0, int(text)) if text.lstrip("-").isdigit() else (1, text)

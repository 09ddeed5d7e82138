"""Build the report: aggregated table, Pareto flags, CSV, plots and the Markdown page."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from nlpcompress.report.pareto import pareto_mask
from nlpcompress.report.plots import plot_tradeoff
from nlpcompress.report.runs import METRICS, aggregate_seeds, run_records
from nlpcompress.report.table import (
    format_markdown,
    format_text,
    megabytes,
    milliseconds,
    noisy,
    percent,
)

# The Pareto axes on which a run timed on a busy machine is marked (timing noise moves latency only)
NOISY_AXES = ("latency",)
# Pareto axis -> (cost column, axis label, log x, plot file)
AXES = {
    "size": ("size_mb", "size (MB, stored form)", True, "accuracy_vs_size.png"),
    "latency": ("latency_ms_p50", "latency p50 (ms)", False, "accuracy_vs_latency.png"),
}
CSV_COLUMNS = [
    "label",
    "method",
    "model",
    "data",
    "bits",
    "quant_form",
    "sparsity",
    "teacher",
    "student",
    "pair",
    "form",
    "materialized",
    *[c for m in METRICS for c in (m, f"{m}_std")],
    "n_runs",
    "n_noisy",
    "seeds",
    "pareto_size",
    "pareto_latency",
    "group",
    "run_ids",
]


@dataclass
class ReportResult:
    """What :func:`build_report` produced.

    Attributes:
        table: one row per configuration (seeds aggregated), best test accuracy first, with
            ``pareto_size`` / ``pareto_latency`` flags.
        runs: one row per MLflow run that went into the table.
        out_dir: where the files were written.
        files: ``markdown``, ``csv``, ``plot_size``, ``plot_latency`` -> path.
        pareto: axis (``size``, ``latency``) -> labels of the Pareto-optimal configurations.
        text: the table as plain aligned text (what :func:`print_table` prints).
    """

    table: pd.DataFrame
    runs: pd.DataFrame
    out_dir: Path
    files: dict[str, Path] = field(default_factory=dict)
    pareto: dict[str, list[str]] = field(default_factory=dict)
    text: str = ""


def add_pareto_flags(table: pd.DataFrame) -> pd.DataFrame:
    """``pareto_size`` / ``pareto_latency`` columns from the (mean) accuracy and cost of each row."""
    table = table.copy()
    for axis, (cost, *_rest) in AXES.items():
        table[f"pareto_{axis}"] = (
            pareto_mask(list(table["test_acc"]), list(table[cost])) if len(table) else []
        )
    return table


def build_report(
    runs_df: pd.DataFrame,
    out_dir: str | Path,
    *,
    title: str = "nlpcompress results",
    source: str = "",
    progress: bool | None = None,
) -> ReportResult:
    """Aggregate runs, mark the Pareto sets, write ``results.md``, ``results.csv`` and the plots.

    Args:
        runs_df: runs in the ``mlflow.search_runs(output_format="pandas")`` layout; only FINISHED,
            non-summary, top-level runs are used (see :func:`nlpcompress.report.runs.select_runs`).
        out_dir: output folder (created).
        title: Markdown title.
        source: where the runs came from (experiment, tracking URI, filter), for the header.
        progress: progress bars (None: only on a terminal).

    Returns:
        A :class:`ReportResult`.

    Example:
        >>> import mlflow
        >>> runs = mlflow.search_runs(experiment_names=["nlpcompress"])  # doctest: +SKIP
        >>> result = build_report(runs, "outputs/report")  # doctest: +SKIP
        >>> print(result.text)  # doctest: +SKIP
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    runs = run_records(runs_df, progress=progress)
    table = add_pareto_flags(aggregate_seeds(runs))
    result = ReportResult(table=table, runs=runs, out_dir=out, text=format_text(table))
    result.pareto = {axis: list(table.loc[table[f"pareto_{axis}"], "label"]) for axis in AXES}

    result.files["csv"] = out / "results.csv"
    table.reindex(columns=CSV_COLUMNS).to_csv(result.files["csv"], index=False, float_format="%.6g")
    for axis, (cost, xlabel, log_x, name) in AXES.items():
        result.files[f"plot_{axis}"] = plot_tradeoff(
            table,
            cost,
            xlabel,
            out / name,
            log_x=log_x,
            title=f"Accuracy vs {axis} · {title}",
            mark_noisy=axis in NOISY_AXES,
        )
    result.files["markdown"] = out / "results.md"
    result.files["markdown"].write_text(markdown(result, title, source))
    return result


def pareto_labels(table: pd.DataFrame, axis: str) -> list[str]:
    """The labels on an axis' front, by cost; on a speed axis a winner timed on a busy machine
    is suffixed ``(speed noisy)``."""
    cost = AXES[axis][0]
    front = table[table[f"pareto_{axis}"]].sort_values(cost)
    return [
        r["label"] + (" (speed noisy)" if axis in NOISY_AXES and noisy(r) else "")
        for _, r in front.iterrows()
    ]


def _pareto_lines(table: pd.DataFrame, axis: str) -> list[str]:
    cost = AXES[axis][0]
    front = table[table[f"pareto_{axis}"]].sort_values(cost)
    shown = megabytes if axis == "size" else milliseconds
    unit = "MB" if axis == "size" else "ms"
    lines = []
    for _, r in front.iterrows():
        busy = axis in NOISY_AXES and noisy(r)
        note = " (timed on a busy machine: this speed is noisy)" if busy else ""
        lines.append(f"- {r['label']}: {percent(r['test_acc'])}% at {shown(r[cost])} {unit}{note}")
    return lines or ["- (no run has this measurement)"]


def markdown(result: ReportResult, title: str, source: str = "") -> str:
    """The Markdown page: header, table, Pareto sets, plots, and how to read them."""
    table, runs = result.table, result.runs
    now = dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    lines = [f"# {title}", ""]
    if source:
        lines += [source, ""]
    lines += [
        f"{len(runs)} FINISHED runs in {len(table)} configurations (runs differing only in seed are "
        f"aggregated: mean ± sample std). Generated {now}.",
        "",
        format_markdown(table),
        "",
        "Columns: *vs fp32* is the test accuracy change against the fp32 baseline in percentage points; "
        "*size* is the stored form on disk (MB = 10^6 bytes) and *size ratio* its fraction of the fp32 "
        "export; *p50 ms* the median latency of the deployed form and *speedup* the fp32 PyTorch "
        "latency over it, timed side by side; *materialized = no (sim.)* means the compressed form is "
        "simulated in the timed model (e.g. fake-quantized or masked dense weights), so its speed is "
        "not that of a real kernel; *noisy* counts the runs timed on a busy machine (their p50 and "
        "speedup are marked \\*); *pareto* marks the configurations on the accuracy-vs-size and "
        "accuracy-vs-latency fronts (no other configuration is at least as accurate and at most as "
        "large/slow, one of the two strictly).",
        "",
        "## Pareto-optimal: accuracy vs size",
        "",
        *_pareto_lines(table, "size"),
        "",
        "## Pareto-optimal: accuracy vs latency",
        "",
        *_pareto_lines(table, "latency"),
        "",
        "## Plots",
        "",
        "Filled markers: materialized forms; hollow: simulated. On the latency plot, triangles are "
        "configurations with a run timed on a busy machine (tag speed_quality noisy). Dashed "
        "staircase: the Pareto front; dotted line: the fp32 baseline accuracy.",
        "",
    ]
    for axis in AXES:
        path = result.files[f"plot_{axis}"]
        lines += [f"![accuracy vs {axis}]({path.name})", ""]
    return "\n".join(lines)

"""From MLflow runs to one row per configuration (seeds aggregated to mean and std).

The runs travel as a DataFrame in the layout of ``mlflow.search_runs(output_format="pandas")``:
columns ``run_id``, ``status``, ``params.<key>``, ``metrics.<key>``, ``tags.<key>``. That lets
a caller pass ``mlflow.search_runs(...)`` straight to :func:`nlpcompress.report.build_report`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from typing import Any

import pandas as pd
from tqdm.auto import tqdm

from nlpcompress.config import metric_names as names
from nlpcompress.config.hashing import is_result_neutral, stable_hash

SUMMARY_TAG = "nlpcompress.summary"
PARENT_TAG = "mlflow.parentRunId"

# report column -> (MLflow metric, scale)
METRICS: dict[str, tuple[str, float]] = {
    "test_acc": (names.TEST_ACC, 1.0),
    "test_f1": (names.TEST_F1, 1.0),
    "acc_change_pp": (names.TEST_ACC_DROP, -1.0),  # change = -drop, in percentage points
    "size_mb": (names.SIZE_BYTES, 1e-6),
    "size_ratio": (names.SIZE_RATIO, 1.0),
    "latency_ms_p50": (names.LATENCY_P50, 1.0),
    "speedup_vs_fp32": (names.SPEEDUP, 1.0),
    "sparsity_actual": (names.SPARSITY_ACTUAL, 1.0),
    "fp32_test_acc": (names.FP32_TEST_ACC, 1.0),
}
DESCRIPTORS = (
    "label",
    "method",
    "model",
    "data",
    "bits",
    "quant_form",
    "bits_label",
    "prune_kind",
    "sparsity",
    "teacher",
    "student",
    "pair",
    "stages",
    "form",
    "materialized",
)


def read_runs(
    client,
    experiment_name: str,
    filter_string: str = "",
    include_nested: bool = False,
    page_size: int = 500,
    progress: bool | None = None,
) -> pd.DataFrame:
    """FINISHED runs of an experiment, summary runs excluded, as a ``search_runs`` DataFrame.

    Args:
        client: an ``mlflow.tracking.MlflowClient``.
        experiment_name: the MLflow experiment.
        filter_string: an extra MLflow filter (``params.quant.bits = '8'``, ``tags.method = 'qat'``),
            ANDed with ``attributes.status = 'FINISHED'``.
        include_nested: keep child runs (``mlflow.parentRunId`` set), e.g. the stages of a
            pipeline; by default only top-level runs, which hold the final result.
        page_size: runs fetched per request.
        progress: show a progress bar (None: only on a terminal).

    Raises:
        LookupError: the experiment does not exist.
    """
    exp = client.get_experiment_by_name(experiment_name)
    if exp is None:
        existing = sorted(e.name for e in client.search_experiments())
        raise LookupError(
            f"experiment {experiment_name!r} not found (experiments: {', '.join(existing) or 'none'})"
        )
    query = " and ".join(f for f in ("attributes.status = 'FINISHED'", filter_string.strip()) if f)
    rows: list[dict[str, Any]] = []
    token = None
    with tqdm(
        desc="reading runs", unit="run", disable=None if progress is None else not progress
    ) as bar:
        while True:
            page = client.search_runs(
                [exp.experiment_id],
                filter_string=query,
                max_results=page_size,
                order_by=["attributes.start_time ASC"],
                page_token=token,
            )
            rows.extend(run_row(run) for run in page)
            bar.update(len(page))
            token = page.token
            if not token:
                break
    return select_runs(pd.DataFrame(rows), include_nested=include_nested)


def run_row(run) -> dict[str, Any]:
    """An ``mlflow.entities.Run`` as one row of the ``search_runs`` layout."""
    row: dict[str, Any] = {
        "run_id": run.info.run_id,
        "experiment_id": run.info.experiment_id,
        "status": run.info.status,
        "start_time": run.info.start_time,
    }
    row.update({f"metrics.{k}": v for k, v in run.data.metrics.items()})
    row.update({f"params.{k}": v for k, v in run.data.params.items()})
    row.update({f"tags.{k}": v for k, v in run.data.tags.items()})
    return row


def select_runs(runs_df: pd.DataFrame, include_nested: bool = False) -> pd.DataFrame:
    """Keep FINISHED runs that are not report summaries (nor child runs unless asked)."""
    if runs_df.empty:
        return runs_df
    keep = pd.Series(True, index=runs_df.index)
    if "status" in runs_df:
        keep &= runs_df["status"] == "FINISHED"
    if f"tags.{SUMMARY_TAG}" in runs_df:
        keep &= runs_df[f"tags.{SUMMARY_TAG}"].astype(str).str.lower() != "true"
    if not include_nested and f"tags.{PARENT_TAG}" in runs_df:
        keep &= runs_df[f"tags.{PARENT_TAG}"].isna()
    return runs_df[keep].reset_index(drop=True)


def is_present(value: Any) -> bool:
    """False for the empties an MLflow frame holds (None, NaN, '', 'None', 'null', 'nan')."""
    if value is None:
        return False
    if isinstance(value, float) and math.isnan(value):
        return False
    return str(value) not in ("", "None", "null", "nan")


def as_number(value: Any) -> float:
    """The value as a float; NaN where it is absent or not a number."""
    try:
        return float(value) if is_present(value) else math.nan
    except (TypeError, ValueError):
        return math.nan


def _first(*values: Any) -> str:
    """The first present value as a string ('' if none)."""
    return next((str(v) for v in values if is_present(v)), "")


def config_group(params: dict[str, Any]) -> str:
    """Hash of the params that determine a result: all but the seed and the keys that
    ``config_hash`` leaves out too (:func:`~nlpcompress.config.hashing.is_result_neutral`)."""
    kept = {
        k: str(v)
        for k, v in params.items()
        if is_present(v) and k != "seed" and not is_result_neutral(k)
    }
    return stable_hash(kept, length=12)


def _stages(value: Any) -> str:
    if not is_present(value):
        return ""
    try:
        stages = json.loads(str(value).replace("'", '"'))
    except json.JSONDecodeError:
        return str(value)
    return ">".join(map(str, stages)) if isinstance(stages, list) else str(stages)


def bits_label(bits: float, form: str) -> str:
    """``int8``, ``int4``, ``binary``, ``ternary``, ``split_binary``, ``fx8`` (fixed point); ''
    without quantization."""
    if math.isnan(bits):
        return ""
    if form in ("binary", "ternary", "split_binary"):
        return form
    return f"{'fx' if form == 'fixed_point' else 'int'}{int(bits)}"


KD_WEIGHT_KEYS = (
    "distill.alpha",
    "distill.hidden_weight",
    "distill.attention_weight",
    "distill.embedding_weight",
    "distill.value_weight",
)


def kd_label(params: dict[str, Any]) -> str:
    """The distillation loss of a run: its ``distill.name`` (``logit``, ``intermediate``, ...),
    or ``no KD`` when every teacher term has weight 0 (``distill.alpha=0``: labels only, the
    control of Hinton et al.); empty when the run logged no ``distill.*`` params."""
    name = _first(params.get("distill.name"))
    if not name:
        return ""
    weights = [as_number(params.get(key)) for key in KD_WEIGHT_KEYS]
    if all(w == 0 for w in weights if not math.isnan(w)) and not math.isnan(weights[0]):
        return "no KD"
    return name


def run_record(row: dict[str, Any]) -> dict[str, Any]:
    """One run (a ``search_runs`` row as a dict) as a report row: descriptors and metrics."""
    params = {k[len("params.") :]: v for k, v in row.items() if k.startswith("params.")}
    tags = {k[len("tags.") :]: v for k, v in row.items() if k.startswith("tags.") and is_present(v)}
    metrics = {k[len("metrics.") :]: v for k, v in row.items() if k.startswith("metrics.")}

    method = _first(params.get("method.name"), tags.get("method"), "?")
    bits = as_number(params.get("quant.bits"))
    quant_form = _first(params.get("quant.form"), "" if math.isnan(bits) else "int")
    prune_kind = _first(params.get("prune.kind"))
    sparsity_actual = as_number(metrics.get(names.SPARSITY_ACTUAL))
    # Structured pruning is configured by head/FFN fractions, so its sparsity is the measured one.
    if prune_kind == "structured" and not math.isnan(sparsity_actual):
        sparsity = sparsity_actual
    else:
        sparsity = as_number(tags.get("sparsity", params.get("prune.sparsity")))
    teacher = _first(tags.get("teacher"), params.get("pair.teacher"))
    student = _first(tags.get("student"), params.get("pair.student.name"))
    pair = _first(tags.get("pair"), params.get("pair.name"))
    materialized = str(tags.get("materialized", "")).lower()

    record: dict[str, Any] = {
        "run_id": row.get("run_id", ""),
        "run_name": tags.get("mlflow.runName", ""),
        "seed": params.get("seed", ""),
        "group": config_group(params) if params else str(row.get("run_id", "")),
        "method": method,
        "model": _first(params.get("model.name"), tags.get("model")),
        "data": _first(params.get("data.name"), tags.get("data")),
        "bits": bits,
        "quant_form": quant_form,
        # learned (LSQ) steps name themselves: "int2 LSQ" beside "int2" (fixed min/max steps)
        "bits_label": bits_label(bits, quant_form)
        + (" LSQ" if str(params.get("quant.lsq", "")).lower() == "true" else ""),
        "prune_kind": prune_kind,
        "sparsity": sparsity,
        "teacher": teacher,
        "student": student,
        "pair": pair,
        "kd": kd_label(params) if method == "distill" else "",
        "stages": _stages(params.get("pipeline.stages")),
        "form": tags.get("form", ""),
        "materialized": {"true": True, "false": False}.get(materialized),
        # runner.log_run: "ok" or "noisy: load X on N cores" (timed on a busy machine)
        "speed_noisy": str(tags.get("speed_quality", "")).startswith("noisy"),
    }
    for column, (key, scale) in METRICS.items():
        record[column] = as_number(metrics.get(key)) * scale
    record["label"] = run_label(record)
    return record


def run_label(rec: dict[str, Any]) -> str:
    """Short name for tables and plot annotations, e.g. ``qat int4``, ``prune magnitude 50%``,
    ``distill minilm3 logit``, ``distill minilm3 no KD``."""
    if rec["method"] == "baseline":
        return "fp32 baseline"
    parts = [rec["method"]]
    if rec["stages"]:
        parts.append(rec["stages"])
    if rec["prune_kind"] and rec["method"] == "prune":
        parts.append(rec["prune_kind"])
    if rec["student"]:
        parts.append(rec["student"])
    if rec.get("kd"):
        parts.append(rec["kd"])
    if not math.isnan(rec["sparsity"]):
        parts.append(f"{rec['sparsity']:.0%}")
    if rec["bits_label"]:
        parts.append(rec["bits_label"])
    return " ".join(parts)


def run_records(runs_df: pd.DataFrame, progress: bool | None = None) -> pd.DataFrame:
    """One report row per run (see :func:`run_record`), after :func:`select_runs`."""
    runs = select_runs(runs_df)
    rows: Iterable[dict[str, Any]] = runs.to_dict("records")
    records = [
        run_record(r)
        for r in tqdm(
            rows,
            total=len(runs),
            desc="summarising runs",
            unit="run",
            disable=None if progress is None else not progress,
        )
    ]
    return pd.DataFrame(records)


def _join_unique(values: pd.Series) -> str:
    seen = []
    for v in values:
        if is_present(v) and str(v) not in seen:
            seen.append(str(v))
    return ",".join(seen)


def _materialized(values: pd.Series) -> bool | None:
    unique = {v for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))}
    return unique.pop() if len(unique) == 1 else None


def disambiguate(table: pd.DataFrame) -> pd.Series:
    """Labels made unique: shared labels get ``[model/data]``, then the config hash if still shared."""
    labels = table["label"].copy()
    dup = labels.duplicated(keep=False)
    labels[dup] = labels[dup] + " [" + table.loc[dup, "model"] + "/" + table.loc[dup, "data"] + "]"
    dup = labels.duplicated(keep=False)
    labels[dup] = labels[dup] + " #" + table.loc[dup, "group"].str[:6]
    return labels


def aggregate_seeds(records: pd.DataFrame) -> pd.DataFrame:
    """One row per configuration group: metric mean and sample std (ddof=1) over its runs.

    For a group of ``n`` runs with values ``x_1..x_n``: ``mean = sum(x) / n`` and
    ``std = sqrt(sum((x - mean)^2) / (n - 1))``; ``std`` is NaN for a single run. NaN values
    (a metric a run did not log) are skipped. Descriptors come from the group's first run
    (they are equal within a group, being derived from params); ``materialized`` is None when
    the runs disagree. Rows are sorted by mean test accuracy, best first (ties: smaller first). Two groups with the
    same label get a suffix (see :func:`disambiguate`).

    Returns:
        Columns: group, label, descriptors, ``<metric>`` and ``<metric>_std`` for every metric,
        n_runs, n_noisy (runs timed on a busy machine, tag ``speed_quality`` noisy), seeds, run_ids.
    """
    if records.empty:
        return pd.DataFrame(
            columns=["group", *DESCRIPTORS, *METRICS, "n_runs", "n_noisy", "seeds", "run_ids"]
        )
    out = []
    for group, runs in records.groupby("group", sort=False):
        first = runs.iloc[0]
        row: dict[str, Any] = {"group": group}
        row.update({k: first[k] for k in DESCRIPTORS if k != "materialized"})
        row["materialized"] = _materialized(runs["materialized"])
        for column in METRICS:
            # records built elsewhere (tests, older callers) may lack a newer metric
            values = (
                runs[column].astype(float) if column in runs else pd.Series(math.nan, runs.index)
            )
            row[column] = values.mean()
            row[f"{column}_std"] = values.std(ddof=1) if values.notna().sum() > 1 else math.nan
        row.update(
            n_runs=len(runs),
            n_noisy=int(runs["speed_noisy"].sum()) if "speed_noisy" in runs else 0,
            seeds=_join_unique(runs["seed"]),
            run_ids=",".join(runs["run_id"]),
        )
        out.append(row)
    table = pd.DataFrame(out)
    table["label"] = disambiguate(table)
    table = table.sort_values(
        ["test_acc", "size_mb"], ascending=[False, True], kind="stable", na_position="last"
    )
    return table.reset_index(drop=True)

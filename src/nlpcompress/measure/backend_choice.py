"""``deploy=auto``: choose the deployed runtime by measuring every candidate on this machine.

For candidates ``c`` with validation accuracy ``a_c`` (percent) and batch-1 p50 latency
``t_c`` (ms, timed side by side in alternating rounds by :func:`~nlpcompress.measure.speed.compare`),
the choice is

    c* = argmin_c { t_c : a_c >= max_c' a_c' - max_acc_drop }

(ties broken by the order of the candidates). Every candidate's figures are kept for
``deploy_candidates.csv``.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from nlpcompress.config import metric_names as names
from nlpcompress.config.schema import MeasureConfig
from nlpcompress.export.deploy import Deployable, predictor_of
from nlpcompress.measure.accuracy import evaluate_splits
from nlpcompress.measure.speed import compare


@dataclass(frozen=True)
class CandidateResult:
    """One candidate's measured figures (accuracy in percent, latency in ms)."""

    name: str
    backend: str
    val_acc: float
    latency_ms_p50: float
    throughput: float
    file_bytes: int | None = None
    chosen: bool = False


def choose(results: Sequence[CandidateResult], max_acc_drop: float) -> str:
    """The name of the fastest candidate within ``max_acc_drop`` points of the best accuracy."""
    if not results:
        raise ValueError("deploy=auto: no candidate form could be built")
    best_acc = max(r.val_acc for r in results)
    eligible = [r for r in results if r.val_acc >= best_acc - max_acc_drop - 1e-9]
    return min(eligible, key=lambda r: r.latency_ms_p50).name


def measure_candidates(
    forms: Mapping[str, Deployable], datamodule, measure: MeasureConfig
) -> list[CandidateResult]:
    """Validation accuracy of each form, then all of them timed side by side."""
    accuracy = {
        name: 100.0
        * evaluate_splits(predictor_of(form, measure.threads), datamodule, ("val",))[names.VAL_ACC]
        for name, form in forms.items()
    }
    speed = compare(dict(forms), measure)
    return [
        CandidateResult(
            name,
            form.backend,
            accuracy[name],
            speed[name].latency_ms_p50,
            speed[name].throughput,
            form.file_bytes,
        )
        for name, form in forms.items()
    ]


def mark_chosen(results: Sequence[CandidateResult], name: str) -> list[CandidateResult]:
    return [CandidateResult(**(asdict(r) | {"chosen": r.name == name})) for r in results]


def write_candidates_csv(results: Sequence[CandidateResult], path: Path) -> Path:
    """One row per candidate: name, backend, val_acc, latency, throughput, bytes, chosen."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fields = list(CandidateResult.__dataclass_fields__)
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        for r in results:
            row = asdict(r)
            row["val_acc"] = f"{r.val_acc:.2f}"
            row["latency_ms_p50"] = f"{r.latency_ms_p50:.3f}"
            row["throughput"] = f"{r.throughput:.1f}"
            row["file_bytes"] = "" if r.file_bytes is None else r.file_bytes
            writer.writerow(row)
    return path


def candidate_metrics(results: Sequence[CandidateResult]) -> dict[str, float]:
    """``deploy/<name>/val_acc``, ``.../latency_ms_p50``, ``.../throughput`` per candidate."""
    out: dict[str, float] = {"deploy/candidates": float(len(results))}
    for r in results:
        for key in ("val_acc", "latency_ms_p50", "throughput"):
            value = getattr(r, key)
            if math.isfinite(value):
                out[f"deploy/{r.name}/{key}"] = value
    return out

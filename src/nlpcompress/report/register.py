"""``nlpcompress-report --register-best``: the Pareto winners in the MLflow Model Registry.

Every configuration on a Pareto front (accuracy vs size, accuracy vs latency) becomes a
version of one registered model, ``<experiment>-pareto`` unless named. A configuration
aggregates its seeds; the version is the logged model of its most accurate run (test
accuracy) that has one. A version is tagged with the configuration's label and the fronts
it is on; a run already registered under that name is not registered twice.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from nlpcompress.report.build import ReportResult
from nlpcompress.tracking.conventions import scoped_tracking_uri

PARETO_TAG = "nlpcompress.pareto"
LABEL_TAG = "nlpcompress.label"


@dataclass(frozen=True)
class Registered:
    """One registered model version (``new`` False when the run already had one)."""

    label: str
    fronts: tuple[str, ...]
    run_id: str
    model_id: str
    name: str
    version: str
    new: bool = True


def registered_name(experiment: str, name: str | None = None) -> str:
    return name or f"{experiment}-pareto"


def winners(result: ReportResult) -> dict[str, tuple[list[str], tuple[str, ...]]]:
    """Pareto label -> (its run ids, most accurate first; the fronts it is on).

    Read from the table's ``pareto_<axis>`` flags (the printed labels of ``result.pareto`` may
    carry a note such as ``(speed noisy)``).
    """
    table = result.table
    axes = [a for a in result.pareto if f"pareto_{a}" in table] or [
        c.removeprefix("pareto_") for c in table.columns if c.startswith("pareto_")
    ]
    accuracy = _run_accuracy(result.runs)
    out = {}
    for _, row in table.iterrows():
        fronts = tuple(a for a in axes if bool(row[f"pareto_{a}"]))
        if not fronts:
            continue
        run_ids = [r for r in str(row["run_ids"]).split(",") if r]
        run_ids.sort(key=lambda r: -accuracy.get(r, float("-inf")))
        out[str(row["label"])] = (run_ids, fronts)
    return out


def _run_accuracy(runs: pd.DataFrame) -> dict[str, float]:
    if runs is None or runs.empty or "run_id" not in runs or "test_acc" not in runs:
        return {}
    values = pd.to_numeric(runs["test_acc"], errors="coerce").fillna(float("-inf"))
    return dict(zip(runs["run_id"], values, strict=False))


def logged_model_id(client, run_id: str) -> str | None:
    """The id of the last MLflow model logged by the run, if any."""
    run = client.get_run(run_id)
    outputs = run.outputs.model_outputs if run.outputs is not None else []
    if outputs:
        return max(outputs, key=lambda o: o.step).model_id
    return run.data.tags.get("mlflow_model_id")


def _ensure_registered_model(client, name: str, experiment: str) -> None:
    from mlflow.exceptions import MlflowException

    try:
        client.create_registered_model(
            name, description=f"Pareto-optimal configurations of experiment {experiment!r}."
        )
    except MlflowException as err:
        if err.error_code != "RESOURCE_ALREADY_EXISTS":
            raise


def _existing_versions(client, name: str) -> dict[str, str]:
    """run id -> version already registered under ``name``."""
    versions = client.search_model_versions(f"name = '{name}'")
    return {v.run_id: v.version for v in versions if v.run_id}


def register_best(
    client, experiment: str, result: ReportResult, name: str | None = None
) -> list[Registered]:
    """Register the logged model of each Pareto-optimal configuration.

    Args:
        client: an ``MlflowClient`` on the store (its registry is the same store).
        experiment: the experiment the report read.
        result: what :func:`~nlpcompress.report.build.build_report` returned.
        name: the registered model's name (default ``<experiment>-pareto``).

    Returns:
        What was registered (or found registered), in Pareto order. Configurations without
        a logged model (``logger.log_model=false``) are left out.
    """
    target = registered_name(experiment, name)
    chosen = []
    for label, (run_ids, fronts) in winners(result).items():
        for run_id in run_ids:
            model_id = logged_model_id(client, run_id)
            if model_id:
                chosen.append((label, fronts, run_id, model_id))
                break
    if not chosen:
        return []
    _ensure_registered_model(client, target, experiment)
    existing = _existing_versions(client, target)
    out = []
    for label, fronts, run_id, model_id in chosen:
        if run_id in existing:
            out.append(
                Registered(label, fronts, run_id, model_id, target, existing[run_id], new=False)
            )
            continue
        # MLflow's registry resolves ``models:/<id>`` through the global tracking URI
        with scoped_tracking_uri(client.tracking_uri):
            version = client.create_model_version(
                target,
                source=f"models:/{model_id}",
                run_id=run_id,
                model_id=model_id,
                tags={LABEL_TAG: label[:5000], PARETO_TAG: ",".join(fronts)},
                description=f"{label}: Pareto-optimal on accuracy vs {' and '.join(fronts)}.",
            )
        out.append(Registered(label, fronts, run_id, model_id, target, str(version.version)))
    return out


def describe(registered: list[Registered]) -> str:
    """Lines for the console: one per registered version."""
    if not registered:
        return "Registered nothing: no Pareto-optimal run has a logged MLflow model."
    lines = []
    for r in registered:
        state = "registered" if r.new else "already registered"
        lines.append(
            f"{state} {r.name} version {r.version}: {r.label} (pareto {','.join(r.fronts)}, "
            f"run {r.run_id}, model {r.model_id})"
        )
    return "\n".join(lines)

"""``nlpcompress-report``: the results table, Pareto fronts and plots of an MLflow experiment.

Examples:
    nlpcompress-report                                   # experiment nlpcompress, embedded store
    nlpcompress-report --experiment demo --out outputs/report/demo
    nlpcompress-report --filter "tags.method = 'qat' and params.quant.bits = '4'" --no-log

Reads the FINISHED runs of the experiment (report summary runs and nested child runs left out),
prints the table, writes ``results.md``, ``results.csv`` and two PNG plots to ``--out``, and
logs those files as artifacts of a summary run (tag ``nlpcompress.summary=true``, run name
``report-<experiment>``) so they show in the MLflow UI. Exit codes: 0 done, 1 no runs matched,
2 bad store, experiment or filter.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path

from nlpcompress.report.build import ReportResult, build_report
from nlpcompress.report.runs import SUMMARY_TAG, read_runs
from nlpcompress.report.table import format_markdown, print_table

PROJECT_ROOT = Path(__file__).resolve().parents[3]
NOTE_LIMIT = 5000  # characters of the run description (mlflow.note.content) shown in the UI


def default_tracking_uri() -> str:
    """``MLFLOW_TRACKING_URI`` or the embedded store ``outputs/mlflow/mlflow.db`` under the project.

    Same resolution as :func:`nlpcompress.tracking.run.resolve_tracking_uri` with no
    ``logger.tracking_uri``; not imported from there because that module pulls in Lightning
    and torch, which would make the report several seconds slower to start.
    """
    return (
        os.environ.get("MLFLOW_TRACKING_URI")
        or f"sqlite:///{PROJECT_ROOT / 'outputs' / 'mlflow' / 'mlflow.db'}"
    )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="nlpcompress-report",
        description=__doc__.split("\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--experiment", default="nlpcompress", help="MLflow experiment name (default: %(default)s)"
    )
    parser.add_argument(
        "--tracking-uri",
        default=None,
        help="MLflow tracking URI (default: MLFLOW_TRACKING_URI, else sqlite:///<project>/outputs/mlflow/mlflow.db)",
    )
    parser.add_argument(
        "--filter",
        default="",
        help="extra MLflow filter on tags/params/metrics, e.g. \"tags.method = 'ptq'\"",
    )
    parser.add_argument(
        "--out",
        default=str(PROJECT_ROOT / "outputs" / "report"),
        help="output folder (default: <project>/outputs/report)",
    )
    parser.add_argument("--no-log", action="store_true", help="do not log a summary run to MLflow")
    parser.add_argument(
        "--include-nested",
        action="store_true",
        help="also report child runs (mlflow.parentRunId set), e.g. pipeline stages",
    )
    return parser.parse_args(argv)


def _retry(fn, *args, **kwargs):
    """Call ``fn``, retrying while sqlite says the database is locked (a sweep may be writing)."""
    for attempt in range(30):
        try:
            return fn(*args, **kwargs)
        except Exception as err:  # MlflowException wraps sqlite's OperationalError
            if "locked" not in str(err).lower() or attempt == 29:
                raise
            time.sleep(0.3)
    return None


def log_summary_run(
    client, experiment_name: str, result: ReportResult, filter_string: str = ""
) -> str:
    """A FINISHED run ``report-<experiment>`` holding the report files as artifacts under ``report/``.

    Tagged ``nlpcompress.summary=true`` (so later reports skip it); its description
    (``mlflow.note.content``) is the Markdown table, and it logs ``report/runs``,
    ``report/configurations`` and the Pareto set sizes as metrics.

    Returns:
        The summary run's id.
    """
    from mlflow.entities import Metric, Param

    exp = _retry(client.get_experiment_by_name, experiment_name)
    note = format_markdown(result.table)
    if len(note) > NOTE_LIMIT:
        note = "The table is too long for the description: see report/results.md in the artifacts."
    run = _retry(
        client.create_run,
        exp.experiment_id,
        run_name=f"report-{experiment_name}",
        tags={SUMMARY_TAG: "true", "mlflow.note.content": note},
    )
    run_id = run.info.run_id
    try:
        now = int(time.time() * 1000)
        metrics = {
            "report/runs": len(result.runs),
            "report/configurations": len(result.table),
            **{f"report/pareto_{axis}": len(labels) for axis, labels in result.pareto.items()},
        }
        _retry(
            client.log_batch,
            run_id,
            metrics=[Metric(k, float(v), now, 0) for k, v in metrics.items()],
            params=[
                Param("report.filter", filter_string or "none"),
                Param("report.experiment", experiment_name),
            ],
        )
        for path in result.files.values():
            _retry(client.log_artifact, run_id, str(path), "report")
    except BaseException:
        _retry(client.set_terminated, run_id, "FAILED")
        raise
    _retry(client.set_terminated, run_id, "FINISHED")
    return run_id


def main(argv: list[str] | None = None) -> int:
    """Console entry point; returns the exit code."""
    args = parse_args(argv)
    uri = args.tracking_uri or default_tracking_uri()
    if uri.startswith("sqlite:///") and not Path(uri.removeprefix("sqlite:///")).is_file():
        print(
            f"nlpcompress-report: no MLflow store at {uri} (run an experiment first, or pass --tracking-uri)",
            file=sys.stderr,
        )
        return 2

    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    # MLflow announces "Creating initial MLflow database tables..." on every open of a sqlite store.
    logging.getLogger("mlflow.store.db.utils").setLevel(logging.WARNING)
    client = MlflowClient(uri)
    try:
        runs_df = read_runs(
            client, args.experiment, args.filter, include_nested=args.include_nested
        )
    except LookupError as err:
        print(f"nlpcompress-report: {err} in {uri}", file=sys.stderr)
        return 2
    except MlflowException as err:
        print(f"nlpcompress-report: bad --filter {args.filter!r}: {err.message}", file=sys.stderr)
        return 2
    if runs_df.empty:
        where = f" matching {args.filter!r}" if args.filter else ""
        print(
            f"nlpcompress-report: no FINISHED runs in experiment {args.experiment!r}{where} ({uri})",
            file=sys.stderr,
        )
        return 1

    source = (
        f"Experiment `{args.experiment}` ({uri})"
        + (f", filter `{args.filter}`" if args.filter else "")
        + "."
    )
    result = build_report(
        runs_df, args.out, title=f"nlpcompress results: {args.experiment}", source=source
    )
    print(
        f"\n{len(result.runs)} runs, {len(result.table)} configurations, experiment {args.experiment!r}\n"
    )
    print_table(result)
    for axis, labels in result.pareto.items():
        print(f"\nPareto-optimal (accuracy vs {axis}): {', '.join(labels) or '-'}")
    print(f"\nWrote {', '.join(str(p) for p in result.files.values())}")
    if not args.no_log:
        run_id = log_summary_run(client, args.experiment, result, args.filter)
        print(f"Logged summary run {run_id} (report-{args.experiment}) to {uri}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""``nlpcompress-report``: the results table, Pareto fronts and plots of an MLflow experiment.

Examples:
    nlpcompress-report                                   # experiment nlpcompress, embedded store
    nlpcompress-report --experiment demo --out outputs/report/demo
    nlpcompress-report --filter "tags.method = 'qat' and params.quant.bits = '4'" --no-log

Reads the FINISHED runs of the experiment (report summary runs and nested child runs left out),
prints the table, writes ``results.md``, ``results.csv`` and two PNG plots to ``--out``, and
logs those files as artifacts of a summary run (tag ``nlpcompress.summary=true``, run name
``report-<experiment>``) so they show in the MLflow UI. The summary run's description and the
experiment's description (the top of the experiment page) get the compact results table, with
a link to each run. Exit codes: 0 done, 1 no runs matched, 2 bad store, experiment or filter.

Store: ``--tracking-uri``, else ``--root-dir DIR`` (``DIR/outputs/mlflow/mlflow.db``, the store
of runs made with ``paths.root_dir=DIR``), else ``MLFLOW_TRACKING_URI`` or the checkout's own
store; when that one lacks the experiment, the stores recorded by past runs in the store index
(:mod:`nlpcompress.tracking.stores`) are searched, and the one used is named on stderr (the
newest when several hold it).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path

from nlpcompress.report.build import AXES, ReportResult, build_report, pareto_labels
from nlpcompress.report.locate import choose_store, root_store
from nlpcompress.report.notes import (
    EXPERIMENT_NOTE_LIMIT,
    NOTE_TAG,
    generated_line,
    merge_note,
    results_note,
)
from nlpcompress.report.runs import SUMMARY_TAG, read_runs
from nlpcompress.report.table import md_escape, print_table
from nlpcompress.tracking.stores import sqlite_path

PROJECT_ROOT = Path(__file__).resolve().parents[3]
NOTE_LIMIT = 5000  # characters of the run description (mlflow.note.content) shown in the UI


def default_tracking_uri() -> str:
    """``MLFLOW_TRACKING_URI`` or the embedded store ``outputs/mlflow/mlflow.db`` under the project.

    Same resolution as :func:`nlpcompress.tracking.run.resolve_tracking_uri` with no
    ``logger.tracking_uri``; not imported from there because that module pulls in Lightning
    and torch, which would make the report several seconds slower to start.
    """
    return os.environ.get("MLFLOW_TRACKING_URI") or root_store(PROJECT_ROOT)


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
        "--root-dir",
        default=None,
        help="read the store of runs made with paths.root_dir=DIR (DIR/outputs/mlflow/mlflow.db)",
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
    parser.add_argument(
        "--register-best",
        action="store_true",
        help="register the Pareto-optimal runs' logged models in the MLflow Model Registry",
    )
    parser.add_argument(
        "--paired",
        default=None,
        metavar="KEY",
        help="also compare the runs that differ only in config KEY, paired by seed "
        "(e.g. quant.lsq, distill.alpha): paired.md / paired.csv",
    )
    parser.add_argument(
        "--paired-order",
        default=None,
        metavar="A,B",
        help="the values of --paired KEY in order, the first being the reference (default: sorted)",
    )
    parser.add_argument(
        "--register-name",
        default=None,
        help="registered model name for --register-best (default: <experiment>-pareto)",
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
    (``mlflow.note.content``) is the compact Markdown table with run links
    (:func:`~nlpcompress.report.notes.results_note`; the full table is ``report/results.md``),
    and it logs ``report/runs``, ``report/configurations`` and the Pareto set sizes as metrics.

    Returns:
        The summary run's id.
    """
    from mlflow.entities import Metric, Param

    exp = _retry(client.get_experiment_by_name, experiment_name)
    note = results_note(
        result.table,
        exp.experiment_id,
        generated_line(experiment_name, f"{len(result.runs)} FINISHED runs"),
        NOTE_LIMIT,
        footer=_pareto_footer(result) + "\n\nAll columns: report/results.md in the artifacts.",
    )
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


def _pareto_footer(result: ReportResult) -> str:
    return "\n\n".join(
        f"Pareto-optimal (accuracy vs {axis}): "
        + (", ".join(md_escape(label) for label in pareto_labels(result.table, axis)) or "-")
        for axis in AXES
    )


def set_experiment_note(
    client, experiment_name: str, result: ReportResult, summary_run_id: str | None = None
) -> str:
    """Put the compact results table at the top of the experiment page; returns the note.

    The experiment's description (tag ``mlflow.note.content``) keeps what a person wrote
    there; only the report's own section is replaced (:func:`~nlpcompress.report.notes.merge_note`).
    """
    exp = _retry(client.get_experiment_by_name, experiment_name)
    summary = (
        f"summary run [report-{experiment_name}](#/experiments/{exp.experiment_id}/runs/{summary_run_id})"
        if summary_run_id
        else ""
    )
    generated = generated_line(
        experiment_name,
        f"{len(result.runs)} FINISHED runs" + (f"; files in the {summary}" if summary else ""),
    )
    section = results_note(
        result.table,
        exp.experiment_id,
        generated,
        EXPERIMENT_NOTE_LIMIT,
        title="Results (test accuracy, size, speed-up, materialized; best accuracy first)",
        footer=_pareto_footer(result),
    )
    note = merge_note(exp.tags.get(NOTE_TAG), section)
    _retry(client.set_experiment_tag, exp.experiment_id, NOTE_TAG, note)
    return note


def resolve_store(args: argparse.Namespace) -> str:
    """``--tracking-uri`` > ``--root-dir`` > the default store, else the indexed store holding
    the experiment (named on stderr)."""
    if args.tracking_uri:
        return args.tracking_uri
    if args.root_dir:
        return root_store(args.root_dir)
    choice = choose_store(args.experiment, default_tracking_uri())
    if choice.note:
        print(f"nlpcompress-report: {choice.note}", file=sys.stderr)
    return choice.uri


def main(argv: list[str] | None = None) -> int:
    """Console entry point; returns the exit code."""
    args = parse_args(argv)
    uri = resolve_store(args)
    if (db := sqlite_path(uri)) is not None and not db.is_file():
        print(
            f"nlpcompress-report: no MLflow store at {uri} (run an experiment first, or pass "
            "--tracking-uri or --root-dir)",
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
    for axis in result.pareto:
        labels = pareto_labels(result.table, axis)
        print(f"\nPareto-optimal (accuracy vs {axis}): {', '.join(labels) or '-'}")
    if args.paired:
        from nlpcompress.report.paired import format_paired, paired_differences, write_paired

        order = args.paired_order.split(",") if args.paired_order else None
        paired = paired_differences(runs_df, args.paired, order=order)
        print(f"\nPaired by seed ({args.paired}):\n{format_paired(paired)}")
        result.files.update(write_paired(paired, args.out))
    print(f"\nWrote {', '.join(str(p) for p in result.files.values())}")
    if not args.no_log:
        run_id = log_summary_run(client, args.experiment, result, args.filter)
        print(f"Logged summary run {run_id} (report-{args.experiment}) to {uri}")
        set_experiment_note(client, args.experiment, result, run_id)
        print(f"Set the description of experiment {args.experiment!r} to the results table")
    if args.register_best:
        from nlpcompress.report.register import describe, register_best

        print(describe(register_best(client, args.experiment, result, args.register_name)))
    return 0


if __name__ == "__main__":
    sys.exit(main())

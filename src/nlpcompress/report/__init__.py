"""Results tables, Pareto fronts and plots over the MLflow runs of an experiment.

``nlpcompress-report --experiment NAME`` (see :mod:`nlpcompress.report.cli`), or in-process:
``build_report(mlflow.search_runs(...), out_dir)`` then ``print_table(result)``.
"""

from nlpcompress.report.build import ReportResult, build_report
from nlpcompress.report.pareto import pareto_front, pareto_mask
from nlpcompress.report.runs import read_runs
from nlpcompress.report.table import print_table

__all__ = [
    "ReportResult",
    "build_report",
    "pareto_front",
    "pareto_mask",
    "print_table",
    "read_runs",
]

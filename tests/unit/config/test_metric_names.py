"""The metric names are defined once: the readers (report, CLI summary, review view) use them."""

from __future__ import annotations

import ast
from pathlib import Path

from nlpcompress.config import metric_names as names
from nlpcompress.report.runs import METRICS
from nlpcompress.tracking.conventions import REVIEW_METRICS

SRC = Path(__file__).resolve().parents[3] / "src" / "nlpcompress"
SHARED = {v for k, v in vars(names).items() if k.isupper() and isinstance(v, str)}


def test_the_report_and_the_review_view_read_the_defined_names():
    assert {key for key, _ in METRICS.values()} <= SHARED
    assert REVIEW_METRICS == names.REVIEW and set(names.REVIEW) <= SHARED
    assert set(names.RUN_SUMMARY) <= SHARED


def test_no_module_spells_a_shared_metric_name_as_a_literal():
    """A literal "test/acc" in a module would drift from the definition on the next rename."""
    found = []
    for path in SRC.rglob("*.py"):
        if path.name == "metric_names.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and node.value in SHARED - {names.FP32_PREFIX}:
                found.append(f"{path.relative_to(SRC)}:{node.lineno} {node.value!r}")
    assert not found, found

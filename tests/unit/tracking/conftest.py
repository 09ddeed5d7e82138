"""Shared fixtures of the tracking tests."""

from __future__ import annotations

import pytest

from nlpcompress.tracking.run import RunTracker


@pytest.fixture
def tracker(tmp_path):
    """A started run in a fresh sqlite store under ``tmp_path``."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    tracker = RunTracker(uri, "tracking-tests", str(tmp_path / "artifacts"))
    tracker.start("run", {})
    return tracker

"""MLflow's own conventions, so its UI fills the Source, User and Models columns.

* :func:`source_tags`: ``mlflow.source.*`` and ``mlflow.user`` (the names MLflow itself sets in
  ``mlflow.utils.mlflow_tags``; our client-created runs get none of them by default).
* :data:`EXPERIMENT_KIND_TAG`: the experiment tag the UI reads to pick its view. MLflow 3's UI
  opens an untagged experiment in the GenAI view (traces); ``custom_model_development`` is the
  value its own "Model training" switch writes.
* :func:`review_view_tags`: a saved view of the experiment's run list, stored the way the UI's
  own "Share" button stores one (experiment tag ``mlflow.sharedViewState.<key>``, opened with
  ``?viewStateShareKey=<key>``): the columns a reviewer needs (test accuracy, its change, size,
  speed-up, ``materialized``, timing quality) shown without the column picker, best accuracy first.
* :func:`ui_hint`: the command or URL that opens a run (and the sweep's table) in the UI.
* :func:`scoped_tracking_uri`: MLflow's global tracking URI set for one block. Its model
  logging and registry resolve ``models:/<id>`` through that global, not through the client
  that asked; MLflow's only way to scope it is the private ``_use_tracking_uri``, used here
  and nowhere else.

No MLflow import here: the constants are copied, so this module stays light.
"""

from __future__ import annotations

import getpass
import json
import os
import shlex
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from nlpcompress.config import metric_names

MLFLOW_USER = "mlflow.user"
MLFLOW_SOURCE_NAME = "mlflow.source.name"
MLFLOW_SOURCE_TYPE = "mlflow.source.type"
MLFLOW_GIT_COMMIT = "mlflow.source.git.commit"
MLFLOW_GIT_BRANCH = "mlflow.source.git.branch"
COMMAND_TAG = "nlpcompress.command"
EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
MODEL_TRAINING_KIND = "custom_model_development"
# The UI's view switch (MLflow >= 3.5 keeps it per browser; the URL parameter wins).
UI_WORKFLOW_QUERY = "workflowType=machine_learning"
MAX_COMMAND_CHARS = 5000
# The UI's "Share view" convention (MLflow 3.x: runs page, experiment tag + URL parameter).
SHARED_VIEW_TAG_PREFIX = "mlflow.sharedViewState."
SHARED_VIEW_QUERY = "viewStateShareKey"
REVIEW_VIEW_KEY = "nlpcompress-review"
REVIEW_METRICS = metric_names.REVIEW
REVIEW_TAGS = ("method", "materialized", "speed_quality", "form")


def git_sha(root: str | Path) -> str | None:
    """``HEAD``'s full sha, or None outside git."""
    try:
        done = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.SubprocessError):
        return None
    sha = done.stdout.strip()
    return sha if done.returncode == 0 and len(sha) == 40 else None


def git_branch(root: str | Path) -> str | None:
    """The checked-out branch, or None (detached ``HEAD``, outside git)."""
    try:
        done = subprocess.run(
            ["git", "symbolic-ref", "--short", "-q", "HEAD"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=5,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    branch = done.stdout.strip()
    return branch if done.returncode == 0 and branch else None


def entry_point(argv: list[str]) -> str:
    """``nlpcompress`` for our console script or ``python -m nlpcompress``; else the script path."""
    script = Path(argv[0]) if argv and argv[0] else Path("python")
    if script.name == "nlpcompress" or script.parts[-2:] == ("nlpcompress", "__main__.py"):
        return "nlpcompress"
    return str(script.resolve()) if script.exists() else str(script)


def current_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (some containers) and no USER
        return os.environ.get("USER", "unknown")


def source_tags(root: str | Path, argv: list[str] | None = None) -> dict[str, str]:
    """The standard source tags of a run started by ``argv`` (default ``sys.argv``) in ``root``.

    Returns:
        ``mlflow.source.name`` (the entry point), ``mlflow.source.type`` (``LOCAL``),
        ``mlflow.user``, ``mlflow.source.git.commit`` and ``.branch`` when in git, and
        ``nlpcompress.command``, the command line that started the run.
    """
    argv = list(sys.argv if argv is None else argv)
    name = entry_point(argv)
    tags = {
        MLFLOW_SOURCE_NAME: name,
        MLFLOW_SOURCE_TYPE: "LOCAL",
        MLFLOW_USER: current_user(),
        COMMAND_TAG: shlex.join([name, *argv[1:]])[:MAX_COMMAND_CHARS],
    }
    if sha := git_sha(root):
        tags[MLFLOW_GIT_COMMIT] = sha
        if branch := git_branch(root):
            tags[MLFLOW_GIT_BRANCH] = branch
    return tags


def _column(kind: str, key: str) -> str:
    """The UI's column key: ``<kind>.`<key>``` (kinds ``attributes``, ``metrics``, ``tags``)."""
    return f"{kind}.`{key}`"


def review_view_state() -> dict:
    """The run-list state of the review view, in the UI's shared-view JSON.

    Keys are the UI's own (``selectedColumns``: column keys as :func:`_column` writes them;
    ``columnOrder``: the same keys, accuracy, its change, size ratio, speed-up, ``materialized``
    and the method first, right after the run name; ``columnWidths`` in
    pixels, wide enough for the metric names; ``orderByKey`` / ``orderByAsc``: the sort); the UI
    fills every key not given with its default.
    """
    metrics = [_column("metrics", key) for key in REVIEW_METRICS]
    tags = [_column("tags", key) for key in REVIEW_TAGS]
    attributes = [_column("attributes", name) for name in ("Dataset", "Models", "Source")]
    # accuracy, its change, size ratio, speed-up, materialized, method
    first = [*metrics[:3], metrics[4], tags[1], tags[0]]
    rest = [key for key in metrics + tags if key not in first]
    return {
        "selectedColumns": attributes + metrics + tags,
        "columnOrder": first + rest + attributes,
        "columnWidths": {**dict.fromkeys(metrics, 150), _column("attributes", "Dataset"): 180},
        "orderByKey": _column("metrics", metric_names.TEST_ACC),
        "orderByAsc": False,
    }


def review_view_tags() -> dict[str, str]:
    """The experiment tag that stores the review view (see :func:`review_view_state`)."""
    return {SHARED_VIEW_TAG_PREFIX + REVIEW_VIEW_KEY: json.dumps(review_view_state())}


def review_page(experiment_id: str) -> str:
    """The UI fragment of the experiment's run list in the review view, "Model training" mode."""
    return (
        f"#/experiments/{experiment_id}/runs"
        f"?{UI_WORKFLOW_QUERY}&{SHARED_VIEW_QUERY}={REVIEW_VIEW_KEY}"
    )


def ui_hint(tracking_uri: str, experiment_id: str, run_id: str) -> str:
    """How to open the run (and its experiment's review table) in the MLflow UI.

    The URLs on a server; on a local store the ``mlflow ui`` command, then the URLs.
    """
    run_page = f"#/experiments/{experiment_id}/runs/{run_id}?{UI_WORKFLOW_QUERY}"
    if tracking_uri.startswith(("http://", "https://")):
        base = tracking_uri.rstrip("/")
        return f"{base}/{run_page}  (all runs: {base}/{review_page(experiment_id)})"
    base = "http://127.0.0.1:5000"
    return (
        f"mlflow ui --backend-store-uri {shlex.quote(tracking_uri)}"
        f"  then open {base}/{run_page}  (all runs: {base}/{review_page(experiment_id)})"
    )


@contextmanager
def scoped_tracking_uri(uri: str) -> Iterator[None]:
    """MLflow's global tracking URI set to ``uri`` within the block, restored after."""
    from mlflow.tracking._tracking_service.utils import _use_tracking_uri

    with _use_tracking_uri(uri):
        yield

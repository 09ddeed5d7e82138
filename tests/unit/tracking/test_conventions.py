"""MLflow's standard source tags and the UI hint, built without MLflow."""

from __future__ import annotations

import getpass
import json
import subprocess
from pathlib import Path

from nlpcompress.tracking.conventions import (
    COMMAND_TAG,
    MLFLOW_GIT_COMMIT,
    MLFLOW_SOURCE_NAME,
    MLFLOW_SOURCE_TYPE,
    MLFLOW_USER,
    entry_point,
    review_view_tags,
    source_tags,
    ui_hint,
)

ROOT = Path(__file__).resolve().parents[3]


def test_tag_names_are_mlflows_own():
    from mlflow.utils import mlflow_tags

    assert MLFLOW_SOURCE_NAME == mlflow_tags.MLFLOW_SOURCE_NAME
    assert MLFLOW_SOURCE_TYPE == mlflow_tags.MLFLOW_SOURCE_TYPE
    assert MLFLOW_GIT_COMMIT == mlflow_tags.MLFLOW_GIT_COMMIT
    assert MLFLOW_USER == mlflow_tags.MLFLOW_USER


def test_source_tags_in_git_have_the_full_sha_and_the_command_line():
    argv = [str(ROOT / "src" / "nlpcompress" / "__main__.py"), "model=tiny_bert", "data=tiny"]
    tags = source_tags(ROOT, argv)
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    assert len(head) == 40
    assert tags[MLFLOW_GIT_COMMIT] == head
    assert tags[MLFLOW_SOURCE_NAME] == "nlpcompress"
    assert tags[MLFLOW_SOURCE_TYPE] == "LOCAL"
    assert tags[MLFLOW_USER] == getpass.getuser()
    assert tags[COMMAND_TAG] == "nlpcompress model=tiny_bert data=tiny"


def test_source_tags_outside_git_have_no_commit(tmp_path):
    script = tmp_path / "sweep.py"
    script.write_text("")
    tags = source_tags(tmp_path, [str(script), "--x", "a b"])
    assert MLFLOW_GIT_COMMIT not in tags
    assert tags[MLFLOW_SOURCE_NAME] == str(script)
    assert tags[COMMAND_TAG] == f"{script} --x 'a b'"


def test_entry_point_of_the_console_script():
    assert entry_point(["/venv/bin/nlpcompress", "-m", "seed=1,2"]) == "nlpcompress"


def test_ui_hint_for_a_local_store_and_a_server():
    local = ui_hint("sqlite:////tmp/out/mlflow.db", "3", "abc")
    assert local.startswith("mlflow ui --backend-store-uri sqlite:////tmp/out/mlflow.db")
    assert "http://127.0.0.1:5000/#/experiments/3/runs/abc?workflowType=machine_learning" in local
    review = (
        "#/experiments/3/runs?workflowType=machine_learning&viewStateShareKey=nlpcompress-review"
    )
    assert local.endswith(f"(all runs: http://127.0.0.1:5000/{review})")
    assert ui_hint("http://mlflow.lab:5000/", "3", "abc") == (
        "http://mlflow.lab:5000/#/experiments/3/runs/abc?workflowType=machine_learning"
        f"  (all runs: http://mlflow.lab:5000/{review})"
    )


def test_review_view_is_a_shared_view_with_the_review_columns_best_accuracy_first():
    tags = review_view_tags()
    assert list(tags) == ["mlflow.sharedViewState.nlpcompress-review"]
    state = json.loads(tags["mlflow.sharedViewState.nlpcompress-review"])
    assert state["orderByKey"] == "metrics.`test/acc`" and state["orderByAsc"] is False
    columns = state["selectedColumns"]
    for key in ("metrics.`test/acc`", "metrics.`size/ratio_vs_fp32`", "tags.`materialized`"):
        assert key in columns
    assert "metrics.`speed/speedup_vs_fp32`" in columns
    assert columns[:3] == ["attributes.`Dataset`", "attributes.`Models`", "attributes.`Source`"]
    assert len(columns) == len(set(columns))
    assert sorted(state["columnOrder"]) == sorted(columns)
    assert state["columnOrder"][:5] == [
        "metrics.`test/acc`",
        "metrics.`test/acc_drop_vs_fp32`",
        "metrics.`size/ratio_vs_fp32`",
        "metrics.`speed/speedup_vs_fp32`",
        "tags.`materialized`",
    ]

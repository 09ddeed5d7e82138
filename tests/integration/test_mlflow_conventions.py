"""One real CLI run on the tiny model follows MLflow's conventions: the UI's Dataset, Source
and Models columns are filled, and the experiment opens in the "Model training" view."""

from __future__ import annotations

import json

import mlflow
import pytest
from mlflow.entities import LoggedModelStatus
from mlflow.tracking import MlflowClient

from nlpcompress.tracking.conventions import scoped_tracking_uri
from tests.conftest import TINY

pytestmark = pytest.mark.integration


def test_a_run_has_dataset_inputs_source_tags_an_onnx_model_and_the_experiment_kind(run_cli):
    res = run_cli([*TINY, "method=baseline", "measure.enabled=false", "deploy=onnxruntime"])
    assert res.returncode == 0, res.stderr[-3000:]
    (run,) = res.runs
    client = MlflowClient(res.tracking_uri)
    tags = run.data.tags

    inputs = {
        {t.key: t.value for t in i.tags}["mlflow.data.context"]: i.dataset
        for i in run.inputs.dataset_inputs
    }
    assert sorted(inputs) == ["test", "train", "validation"]
    train = inputs["train"]
    assert train.name == "tiny"
    assert train.source_type == "generated"
    profile = json.loads(train.profile)
    assert profile["train_rows"] == int(run.data.metrics["data/train_size"])
    assert profile["test_rows"] == int(run.data.metrics["data/test_size"])
    assert profile["num_labels"] == int(run.data.metrics["data/num_labels"]) == 2

    assert tags["mlflow.source.type"] == "LOCAL"
    assert tags["mlflow.source.name"] == "nlpcompress"
    assert tags["mlflow.source.git.commit"].startswith(tags["git_commit"].removesuffix("-dirty"))
    assert len(tags["mlflow.source.git.commit"]) == 40
    assert tags["mlflow.user"]
    assert "method=baseline" in tags["nlpcompress.command"]

    assert "mlflow_model_error" not in tags
    (output,) = run.outputs.model_outputs
    model = client.get_logged_model(output.model_id)
    assert model.source_run_id == run.info.run_id
    assert model.experiment_id == run.info.experiment_id
    assert tags["mlflow_model_id"] == model.model_id
    assert model.status == LoggedModelStatus.READY
    with scoped_tracking_uri(res.tracking_uri):
        info = mlflow.models.get_model_info(f"models:/{model.model_id}")
    assert "onnx" in info.flavors
    assert info.saved_input_example_info is not None
    assert run.info.status == "FINISHED"

    exp = client.get_experiment(run.info.experiment_id)
    assert exp.tags["mlflow.experimentKind"] == "custom_model_development"
    assert f"#/experiments/{exp.experiment_id}/runs/{run.info.run_id}" in res.stdout
    assert f"mlflow ui --backend-store-uri {res.tracking_uri}" in res.stdout

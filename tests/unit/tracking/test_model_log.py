"""The deployed form is logged as an MLflow model linked to its run (ONNX and torch)."""

from __future__ import annotations

import json

import mlflow
import numpy as np
import pytest
import torch
from mlflow.entities import LoggedModelStatus
from mlflow.tracking import MlflowClient

from nlpcompress.export.deploy import OnnxDeployable, TorchDeployable, export_onnx
from nlpcompress.tracking.conventions import scoped_tracking_uri
from nlpcompress.tracking.model_log import (
    ERROR_TAG,
    MODEL_ID_TAG,
    example_inputs,
    log_deployed_model_safely,
)
from tests.tiny_bert import make_tiny_bert


def _tiny_bert():
    return make_tiny_bert(layers=1, hidden=16, heads=2, positions=32)


@pytest.fixture
def batch():
    ids = torch.randint(1, 50, (4, 9), generator=torch.Generator().manual_seed(1))
    mask = torch.ones_like(ids)
    mask[1, 6:] = 0
    return {"input_ids": ids, "attention_mask": mask, "labels": torch.tensor([0, 1, 0, 1])}


def test_example_inputs_are_two_int64_rows_without_labels(batch):
    example = example_inputs(batch)
    assert sorted(example) == ["attention_mask", "input_ids", "token_type_ids"]
    assert all(v.dtype == np.int64 and v.shape == (2, 9) for v in example.values())
    assert example["attention_mask"][1, 6:].sum() == 0
    assert not example["token_type_ids"].any()


def _assert_linked(tracker, model_id):
    client = MlflowClient(tracker.tracking_uri)
    run = client.get_run(tracker.run_id)
    assert run.data.tags[MODEL_ID_TAG] == model_id
    assert ERROR_TAG not in run.data.tags
    assert [o.model_id for o in run.outputs.model_outputs] == [model_id]
    assert run.info.status == "RUNNING"  # logging the model leaves our run's status alone
    (model,) = client.search_logged_models(experiment_ids=[tracker.experiment_id])
    assert model.model_id == model_id
    assert model.source_run_id == tracker.run_id
    assert model.status == LoggedModelStatus.READY
    assert mlflow.active_run() is None
    return model


def test_an_onnx_deployable_is_logged_with_the_onnx_flavour(tracker, batch, tmp_path):
    model = _tiny_bert()
    path = export_onnx(model, tmp_path / "model.onnx", fuse=False)
    example = example_inputs(batch)
    model_id = log_deployed_model_safely(tracker, OnnxDeployable(path), example)
    _assert_linked(tracker, model_id)

    with scoped_tracking_uri(tracker.tracking_uri):
        info = mlflow.models.get_model_info(f"models:/{model_id}")
        pyfunc = mlflow.pyfunc.load_model(f"models:/{model_id}")
    assert "onnx" in info.flavors
    inputs = {i["name"] for i in json.loads(info.signature.inputs.to_json())}
    assert inputs == {"input_ids", "attention_mask", "token_type_ids"}
    with torch.no_grad():
        expected = model(**{k: torch.from_numpy(v) for k, v in example.items()}).logits
    got = pyfunc.predict(example)["logits"]
    np.testing.assert_allclose(np.asarray(got), expected.numpy(), atol=1e-4)


def test_a_torch_deployable_is_logged_with_the_pytorch_flavour(tracker, batch):
    model_id = log_deployed_model_safely(
        tracker, TorchDeployable(_tiny_bert()), example_inputs(batch)
    )
    _assert_linked(tracker, model_id)
    with scoped_tracking_uri(tracker.tracking_uri):
        info = mlflow.models.get_model_info(f"models:/{model_id}")
    assert "pytorch" in info.flavors
    assert info.signature.outputs.to_dict()[0]["tensor-spec"]["shape"] == (-1, 2)
    assert [i["name"] for i in info.signature.inputs.to_dict()] == [
        "input_ids",
        "attention_mask",
        "token_type_ids",
    ]


def test_a_failure_is_a_warning_and_a_tag_not_an_error(tracker, batch, tmp_path, caplog):
    missing = OnnxDeployable(tmp_path / "gone.onnx")
    assert log_deployed_model_safely(tracker, missing, example_inputs(batch)) is None
    tags = MlflowClient(tracker.tracking_uri).get_run(tracker.run_id).data.tags
    assert "gone.onnx" in tags[ERROR_TAG]
    assert "logging the MLflow model failed" in caplog.text

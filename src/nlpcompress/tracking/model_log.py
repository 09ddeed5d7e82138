"""The deployed form as an MLflow model: listed under the run's Models and registrable.

An ONNX deployable is logged with the ``mlflow.onnx`` flavour, with an input example (two
tokenized rows of the test split, int64 ``input_ids`` / ``attention_mask`` /
``token_type_ids``) and the signature inferred from it and the model's logits. A torch one is
logged with ``mlflow.pytorch`` (pickled: it takes keyword inputs) and that signature only:
MLflow's pytorch pyfunc serves a single array, so a dict example would not validate. The model is an MLflow 3 ``LoggedModel`` whose source run is ours.

MLflow's ``log_model`` is fluent (it reads the global tracking URI and would end an active run
it started), so the LoggedModel is created here with the client, in our experiment and linked
to our run, and ``log_model`` only fills it (``model_id=``, ``run_id=``), under our tracking URI
for the duration of the call; no run is started or ended. A failure never fails the run: it
is logged as a warning and as the run tag ``mlflow_model_error``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import numpy as np
import torch

from nlpcompress.export.deploy import Deployable, OnnxDeployable, TorchDeployable
from nlpcompress.export.ort_session import open_session
from nlpcompress.models.io import logits_of
from nlpcompress.tracking.conventions import scoped_tracking_uri
from nlpcompress.tracking.run import RunTracker, retry_locked

log = logging.getLogger(__name__)
# Not "model": that is the run's artifact folder of the stored form, and MLflow lists a logged
# model's files under ``runs:/<id>/<its name>`` too, resolving it through the global tracking URI.
MODEL_NAME = "deployed"
EXAMPLE_ROWS = 2
ERROR_TAG = "mlflow_model_error"
MODEL_ID_TAG = "mlflow_model_id"
INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids")


def example_inputs(batch: Mapping[str, torch.Tensor], rows: int = EXAMPLE_ROWS) -> dict:
    """The first ``rows`` of a tokenized batch as int64 arrays (labels left out)."""
    example = {
        name: batch[name][:rows].cpu().numpy().astype(np.int64)
        for name in INPUT_NAMES
        if name in batch
    }
    if "token_type_ids" not in example:
        example["token_type_ids"] = np.zeros_like(example["input_ids"])
    return example


def _onnx_inputs(path) -> list[str]:
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    initializers = {t.name for t in model.graph.initializer}
    return [i.name for i in model.graph.input if i.name not in initializers]


def _log_onnx(deployed: OnnxDeployable, example: dict, model_id: str, run_id: str) -> None:
    import mlflow.onnx
    import onnx
    import onnxruntime as ort
    from mlflow.models import infer_signature

    names = _onnx_inputs(deployed.path)
    feed = {n: example[n] for n in names}
    session = open_session(deployed.path, 1, spinning=False)
    logits = session.run(None, feed)[0]
    mlflow.onnx.log_model(
        onnx.load(str(deployed.path)),
        name=MODEL_NAME,
        model_id=model_id,
        run_id=run_id,
        input_example=feed,
        signature=infer_signature(feed, logits),
        pip_requirements=[f"onnx=={onnx.__version__}", f"onnxruntime=={ort.__version__}"],
        onnx_execution_providers=["CPUExecutionProvider"],  # where the run measured it
    )


def _log_torch(deployed: TorchDeployable, example: dict, model_id: str, run_id: str) -> None:
    import mlflow.pytorch
    import transformers
    from mlflow.models import infer_signature

    # MLflow warns that pickle is unsafe to load: chosen knowingly (see below), not news per run.
    logging.getLogger("mlflow.pytorch").setLevel(logging.ERROR)
    module = deployed.module.eval()
    with torch.no_grad():
        logits = logits_of(module(**{k: torch.from_numpy(v) for k, v in example.items()}))
    mlflow.pytorch.log_model(
        module,
        name=MODEL_NAME,
        model_id=model_id,
        run_id=run_id,
        # no input_example: the pytorch pyfunc takes one array, so MLflow's check of a dict
        # example fails (a warning per run); the signature still names the three inputs
        signature=infer_signature(example, logits.numpy()),
        pip_requirements=[
            f"torch=={torch.__version__.split('+')[0]}",
            f"transformers=={transformers.__version__}",
        ],
        # pt2 (MLflow's default) traces forward with one positional tensor; ours takes keywords
        serialization_format="pickle",
    )


def log_deployed_model(tracker: RunTracker, deployed: Deployable, example: dict) -> str:
    """Log ``deployed`` as an MLflow model of ``tracker``'s run.

    Args:
        tracker: the run (its experiment and tracking URI are used).
        deployed: what the run deployed (``OnnxDeployable.path`` or ``TorchDeployable.module``).
        example: the input example, see :func:`example_inputs`.

    Returns:
        The LoggedModel's id (also set as the run tag ``mlflow_model_id``).
    """
    flavor = "onnx" if isinstance(deployed, OnnxDeployable) else "pytorch"
    model = retry_locked(tracker.client.create_logged_model)(
        tracker.experiment_id,
        name=MODEL_NAME,
        source_run_id=tracker.run_id,
        tags={"backend": deployed.backend},
    )
    try:
        with scoped_tracking_uri(tracker.tracking_uri):
            if flavor == "onnx":
                _log_onnx(deployed, example, model.model_id, tracker.run_id)
            else:
                _log_torch(deployed, example, model.model_id, tracker.run_id)
    except BaseException:
        retry_locked(tracker.client.finalize_logged_model)(model.model_id, "FAILED")
        raise
    tracker.set_tags({MODEL_ID_TAG: model.model_id})
    return model.model_id


def log_deployed_model_safely(
    tracker: RunTracker, deployed: Deployable, example: dict
) -> str | None:
    """:func:`log_deployed_model`, a failure logged (warning, tag ``mlflow_model_error``)."""
    if not tracker.active:
        return None
    try:
        return log_deployed_model(tracker, deployed, example)
    except Exception as err:  # noqa: BLE001 (the run's results must not be lost to this)
        message = f"{type(err).__name__}: {err}"
        log.warning("logging the MLflow model failed: %s", message)
        tracker.set_tags({ERROR_TAG: message[:5000]})
        return None

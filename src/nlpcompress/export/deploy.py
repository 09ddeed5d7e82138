"""Deployable forms of a model: a torch module, or an ONNX file run by ONNX Runtime.

The fused ONNX path (measured fastest here, see the README): eager attention, TorchScript
exporter (opset 17, dynamic batch and sequence axes), then ONNX Runtime's BERT fusion
(``optimize_model(model_type="bert")``), which folds attention into one fused kernel.

The fusion leaves ``Add`` + ``LayerNormalization`` unfused (``SkipLayerNormalization`` off),
and every session this project opens leaves out ORT's own ``SkipLayerNormFusion``
(:data:`~nlpcompress.export.ort_session.DISABLED_OPTIMIZERS`), which would fuse them again at
load: ORT 1.32's ``SkipLayerNormalization`` CPU kernel was the slowest node of the int8 graph
(``benchmarks/skip_layernorm_speed.py``). A file deployed elsewhere needs the same session
option, ``disabled_optimizers=["SkipLayerNormFusion"]``, for the speed measured here.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from nlpcompress.export.ort_session import open_session
from nlpcompress.models.io import logits_of

log = logging.getLogger(__name__)
ONNX_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


@dataclass
class TorchDeployable:
    """A torch module timed in this process (``vocab_size``: token ids it accepts, when fewer
    than the timer's synthetic range, e.g. after vocabulary pruning)."""

    module: nn.Module
    backend: str = "torch"
    vocab_size: int | None = None

    @property
    def file_bytes(self) -> int | None:
        return None


@dataclass
class OnnxDeployable:
    """An ONNX file run by ``backend`` (``onnxruntime``, or ``openvino``: OpenVINO's CPU plugin
    reading the same file), timed in fresh processes (``vocab_size`` as above)."""

    path: Path
    backend: str = "onnxruntime"
    vocab_size: int | None = None

    @property
    def file_bytes(self) -> int:
        return Path(self.path).stat().st_size


Deployable = TorchDeployable | OnnxDeployable


class _LogitsOnly(nn.Module):
    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, input_ids, attention_mask, token_type_ids):
        return logits_of(
            self.model(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            )
        )


def export_onnx(model: nn.Module, path: Path, opset: int = 17, fuse: bool = True) -> Path:
    """Export ``model`` to ONNX (fp32) and, for BERT-like models, apply ORT's fusion.

    Args:
        model: a classifier taking ``input_ids, attention_mask, token_type_ids``.
        path: the ``.onnx`` file to write.
        opset: ONNX opset.
        fuse: run ``onnxruntime.transformers.optimizer.optimize_model`` (BERT fusion).

    Returns:
        The path of the (fused) model.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    wrapper = _LogitsOnly(model).eval()
    example = (
        torch.ones(1, 16, dtype=torch.long),
        torch.ones(1, 16, dtype=torch.long),
        torch.zeros(1, 16, dtype=torch.long),
    )
    axes = {name: {0: "batch", 1: "sequence"} for name in ONNX_INPUTS}
    axes["logits"] = {0: "batch"}
    raw = path.with_suffix(".raw.onnx")
    with torch.no_grad():
        torch.onnx.export(
            wrapper,
            example,
            str(raw),
            input_names=list(ONNX_INPUTS),
            output_names=["logits"],
            dynamic_axes=axes,
            opset_version=opset,
            dynamo=False,
        )
    config = getattr(model, "config", None)
    if fuse and getattr(config, "model_type", "") in ("bert", "roberta", "distilbert"):
        from onnxruntime.transformers.optimizer import optimize_model

        heads, width = _fusion_shape(model) or (0, 0)  # 0: layer norm/GELU fusions only
        optimize_model(
            str(raw),
            model_type="bert",
            num_heads=heads,
            hidden_size=width,
            optimization_options=fusion_options(),
        ).save_model_to_file(str(path))
        raw.unlink()
    else:
        raw.rename(path)
    return path


def fusion_options():
    """ORT's BERT fusions without ``SkipLayerNormalization`` (slower than the plain ``Add`` +
    ``LayerNormalization`` it replaces; see the module docstring)."""
    from onnxruntime.transformers.fusion_options import FusionOptions

    options = FusionOptions("bert")
    options.enable_skip_layer_norm = False
    options.enable_bias_skip_layer_norm = False
    return options


def _fusion_shape(model: nn.Module) -> tuple[int, int] | None:
    """``(heads, attention width)`` for ORT's attention fusion, or None to leave it unfused.

    The width is ``kept heads * head size``: after structured pruning it is smaller than the
    hidden size, and ORT silently skips the fusion when told the hidden size instead. Layers
    pruned to different head counts cannot share one fusion setting and stay unfused.
    """
    shapes = {
        (m.num_attention_heads, m.num_attention_heads * m.attention_head_size)
        for m in model.modules()
        if hasattr(m, "attention_head_size") and hasattr(m, "query")
    }
    return shapes.pop() if len(shapes) == 1 else None


def ort_predictor(path: Path, threads: int):
    """Batch -> logits through ONNX Runtime, with spinning off (in-process use)."""
    import numpy as np

    session = open_session(path, threads, spinning=False)
    names = [i.name for i in session.get_inputs()]

    def predict(batch):
        feed = {n: batch[n].numpy().astype(np.int64) for n in names}
        return torch.from_numpy(session.run(["logits"], feed)[0])

    return predict


def openvino_predictor(path: Path, threads: int):
    """Batch -> logits through OpenVINO's CPU plugin (in-process use)."""
    import numpy as np

    from nlpcompress.measure.openvino_worker import compile_model, input_names

    compiled = compile_model(str(path), threads)
    names = input_names(compiled)
    output = compiled.output(0)

    def predict(batch):
        feed = {n: batch[n].numpy().astype(np.int64) for n in names}
        return torch.from_numpy(np.array(compiled(feed)[output]))

    return predict


def predictor_of(deployed: Deployable, threads: int):
    """What :func:`~nlpcompress.measure.accuracy.evaluate_splits` takes for ``deployed``: the
    module itself, or a predictor of the file on its runtime (ONNX Runtime or OpenVINO)."""
    if isinstance(deployed, OnnxDeployable):
        if deployed.backend == "openvino":
            return openvino_predictor(deployed.path, threads)
        return ort_predictor(deployed.path, threads)
    return deployed.module


def default_deploy(model: nn.Module, backend: str, workdir: Path, opset: int = 17) -> Deployable:
    """The model as is on torch; its fused fp32 ONNX export on onnxruntime."""
    if backend == "torch":
        return TorchDeployable(model)
    return OnnxDeployable(export_onnx(model, Path(workdir) / "model.onnx", opset=opset))

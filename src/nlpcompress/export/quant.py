"""Deployable forms of a quantized model (:mod:`nlpcompress.quant`) on this CPU.

* int8 weights, ``onnxruntime``: the dequantized model exported to the fused ONNX graph,
  then ``quantize_dynamic(weight_type=QInt8)``: MatMul, fused Attention and the fused
  EmbedLayerNormalization (the embedding tables) run int8 kernels; activations are quantized
  dynamically per batch by ORT. Our symmetric int8 weights are on ORT's grid
  (``s = max|w| / 127``), so ORT re-derives the same codes for per-tensor (or, with
  ``ort_per_channel``, per-channel) weights.
* int8 weights, ``torch``: ``torch.ao.quantization.quantize_dynamic`` of every ``nn.Linear``
  (fbgemm/x86 int8 GEMM, dynamic activations); embeddings stay fp32 in that runtime.
* anything else (sub-8-bit, binary, ternary, fixed point): the model with dequantized fp32
  weights, i.e. what those forms are on this machine: not materialized.
"""

from __future__ import annotations

import copy
from pathlib import Path

import torch
from torch import nn

from nlpcompress.export.deploy import Deployable, OnnxDeployable, TorchDeployable, export_onnx
from nlpcompress.quant.modules import act_quantizers, dequantized_copy, quantized_modules


def has_int8_kernel(model: nn.Module) -> bool:
    """Whether every quantized weight is symmetric 8-bit int (and activations, if any, 8-bit)."""
    wrappers = quantized_modules(model)
    if not wrappers:
        return False
    for m in wrappers.values():
        s = m.weight_quantizer.spec
        if not (s.form == "int" and s.bits == 8 and s.symmetric):
            return False
    return all(aq.bits == 8 for aq in act_quantizers(model).values())


def ort_int8(
    model: nn.Module, workdir: Path, opset: int = 17, per_channel: bool = False
) -> OnnxDeployable:
    """Fused ONNX export of the dequantized model + ORT dynamic QInt8 quantization."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    plain = dequantized_copy(_without_act_quant(copy.deepcopy(model))).eval()
    fp32_path = export_onnx(plain, Path(workdir) / "model_fp32.onnx", opset=opset)
    out = Path(workdir) / "model_int8.onnx"
    # the fused graph has contrib ops that shape inference cannot type: default to float
    quantize_dynamic(
        str(fp32_path),
        str(out),
        weight_type=QuantType.QInt8,
        per_channel=per_channel,
        extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
    )
    fp32_path.unlink()
    return OnnxDeployable(out)


def torch_int8(model: nn.Module, per_channel: bool = True) -> TorchDeployable:
    """``torch.ao`` dynamic int8 Linear of the dequantized model."""
    from torch.ao.quantization import (
        default_dynamic_qconfig,
        per_channel_dynamic_qconfig,
        quantize_dynamic,
    )

    plain = dequantized_copy(_without_act_quant(copy.deepcopy(model))).eval()
    qconfig = per_channel_dynamic_qconfig if per_channel else default_dynamic_qconfig
    return TorchDeployable(quantize_dynamic(plain, {nn.Linear: qconfig}, dtype=torch.qint8))


def simulated(model: nn.Module, backend: str, workdir: Path, opset: int = 17) -> Deployable:
    """The quantized weights in fp32 (no low-precision kernel): timed as what it is."""
    if act_quantizers(model):
        deployed = copy.deepcopy(model).eval()
        if backend == "onnxruntime":
            return OnnxDeployable(export_onnx(deployed, Path(workdir) / "model.onnx", opset=opset))
        return TorchDeployable(deployed)
    plain = dequantized_copy(copy.deepcopy(model)).eval()
    if backend == "onnxruntime":
        return OnnxDeployable(export_onnx(plain, Path(workdir) / "model.onnx", opset=opset))
    return TorchDeployable(plain)


def _without_act_quant(model: nn.Module) -> nn.Module:
    # the int8 runtimes quantize activations themselves (dynamically)
    for m in quantized_modules(model).values():
        if hasattr(m, "act_quantizer"):
            m.act_quantizer = None
    return model

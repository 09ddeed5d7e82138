"""Stored form of quantized weights: bit-packed integer codes + scales (+ zero points).

Encoding ``packed_int`` (parts / attrs):

* ``codes``: uint8, the unsigned codes ``u = q - q_min`` bit-packed at ``bits`` per value
  (:mod:`nlpcompress.quant.packing`);
* ``scale``: ``[R, G]``, one step per group, fp16 when that is exact (else fp32);
* ``zero``: uint8 ``[R, G]`` unsigned zero points ``z - q_min``, only when they vary (asymmetric);
  otherwise attr ``offset`` holds the constant ``z - q_min``;
* attrs ``bits``, ``groups = [R, G, g]``.

Decoding: ``x_hat = scale * (u - (z - q_min))``, which is exactly ``s * (q - z)``, the value
the evaluated model used.

Encoding ``sparse_packed_int`` (weights that are mostly exact zeros, e.g. pruned then quantized:
Deep Compression's prune -> quantize storage): the same ``scale``/``zero``/``offset`` parts, plus

* ``mask``: one bit per entry, set where ``u != z - q_min`` (the value is not exactly 0);
* ``codes``: only those ``nnz`` codes, bit-packed at ``bits``;

``ceil(n / 8) + ceil(nnz * bits / 8)`` bytes against ``ceil(n * bits / 8)`` dense, so it is
written only when smaller (zero fraction above ``1 / bits``: 12.5% at int8). Decoding puts the
zero code ``z - q_min`` at unmasked entries, so ``x_hat`` is the same tensor either way.

Encoding ``split_binary`` (BinaryBERT's split weights, :class:`SplitBinaryQuantizer`): two
binary planes, each stored as above (parts prefixed ``first.`` / ``second.``, their encodings
and attrs in attr ``planes``); the decoded weight is the sum of the two planes.

Builder ``hf_quantized_classifier`` rebuilds an HF classifier and, when the model quantized
activations, re-inserts the calibrated activation quantizers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from nlpcompress.quant.modules import (
    ActQuantizer,
    Codes,
    QuantLinear,
    SplitCodes,
    quantized_modules,
    set_submodule,
)
from nlpcompress.quant.packing import pack_bits, packed_nbytes, unpack_bits
from nlpcompress.storage.format import (
    EncodedTensor,
    ExportedArtifact,
    decode,
    encode_dense,
    register_builder,
    register_decoder,
    write_artifact,
)

ENCODING = "packed_int"
SPARSE_ENCODING = "sparse_packed_int"
SPLIT_ENCODING = "split_binary"
PLANES = ("first", "second")
BUILDER = "hf_quantized_classifier"


def encode_codes(c: Codes, shape: tuple[int, ...]) -> EncodedTensor:
    """Pack :class:`Codes` into a ``packed_int`` tensor of logical shape ``shape``."""
    unsigned = (c.codes - c.qmin).round().to(torch.int32)
    scale = c.scale.detach().reshape(c.scale.shape[0], c.scale.shape[1]).float().contiguous()
    half = scale.to(torch.float16)
    if torch.equal(
        half.float(), scale
    ):  # fp16 holds the scales exactly (the quantizers round them so)
        scale = half
    parts: dict[str, torch.Tensor] = {"scale": scale}
    zero = (c.zero - c.qmin).float()
    attrs: dict[str, Any] = {"bits": c.bits, "groups": list(c.codes.shape)}
    if zero.numel() == 1:
        attrs["offset"] = float(zero)
        zero_code = zero.reshape(())
    else:
        parts["zero"] = zero.reshape(scale.shape).round().to(torch.uint8)
        zero_code = parts["zero"].to(torch.int32).unsqueeze(-1)
    nonzero = unsigned != zero_code
    nnz = int(nonzero.sum())
    if packed_nbytes(nonzero.numel(), 1) + packed_nbytes(nnz, c.bits) < packed_nbytes(
        unsigned.numel(), c.bits
    ):
        parts["mask"] = pack_bits(nonzero.to(torch.uint8), 1)
        parts["codes"] = pack_bits(unsigned[nonzero], c.bits)
        return EncodedTensor(SPARSE_ENCODING, tuple(shape), parts, attrs | {"nonzero": nnz})
    parts["codes"] = pack_bits(unsigned, c.bits)
    return EncodedTensor(ENCODING, tuple(shape), parts, attrs)


def encode_split(c: SplitCodes, shape: tuple[int, ...]) -> EncodedTensor:
    """The two binary planes of a split weight, each packed by :func:`encode_codes`."""
    planes = [encode_codes(codes, shape) for codes in (c.first, c.second)]
    parts = {
        f"{name}.{k}": v for name, p in zip(PLANES, planes, strict=True) for k, v in p.parts.items()
    }
    attrs = {"planes": [{"encoding": p.encoding, "attrs": p.attrs} for p in planes]}
    return EncodedTensor(SPLIT_ENCODING, tuple(shape), parts, attrs)


def _zero_codes(enc: EncodedTensor) -> torch.Tensor:
    """``z - q_min`` per group, ``[R, G, 1]`` (or a scalar)."""
    rows, groups, _ = enc.attrs["groups"]
    if "zero" in enc.parts:
        return enc.parts["zero"].float().reshape(rows, groups, 1)
    return torch.tensor(enc.attrs["offset"])


def _dequantize(enc: EncodedTensor, u: torch.Tensor) -> torch.Tensor:
    """``x_hat = scale * (u - (z - q_min))`` for unsigned codes ``u`` of shape ``[R, G, g]``."""
    rows, groups, _ = enc.attrs["groups"]
    scale = enc.parts["scale"].float().reshape(rows, groups, 1)
    return (scale * (u - _zero_codes(enc))).reshape(enc.shape)


@register_decoder(SPARSE_ENCODING)
def decode_sparse_packed_int(enc: EncodedTensor) -> torch.Tensor:
    rows, groups, size = enc.attrs["groups"]
    nonzero = unpack_bits(enc.parts["mask"], 1, rows * groups * size).bool()
    u = _zero_codes(enc).expand(rows, groups, size).clone()
    u[nonzero.reshape(rows, groups, size)] = unpack_bits(
        enc.parts["codes"], enc.attrs["bits"], enc.attrs["nonzero"]
    ).float()
    return _dequantize(enc, u)


@register_decoder(ENCODING)
def decode_packed_int(enc: EncodedTensor) -> torch.Tensor:
    rows, groups, size = enc.attrs["groups"]
    u = unpack_bits(enc.parts["codes"], enc.attrs["bits"], rows * groups * size).float()
    return _dequantize(enc, u.reshape(rows, groups, size))


@register_decoder(SPLIT_ENCODING)
def decode_split_binary(enc: EncodedTensor) -> torch.Tensor:
    total = torch.zeros(enc.shape)
    for name, plane in zip(PLANES, enc.attrs["planes"], strict=True):
        prefix = f"{name}."
        parts = {k[len(prefix) :]: v for k, v in enc.parts.items() if k.startswith(prefix)}
        total += decode(EncodedTensor(plane["encoding"], enc.shape, parts, plane["attrs"]))
    return total


def encode_model(
    model: nn.Module, dense_dtype: torch.dtype | None = None
) -> dict[str, EncodedTensor]:
    """Every tensor of a fake-quant model: quantized weights packed, the rest dense.

    Quantizer internals (LSQ steps, activation ranges) are not tensors of the stored model:
    the steps are inside the packed weights' scales, the ranges go to the metadata.
    """
    wrappers = quantized_modules(model)
    tensors: dict[str, EncodedTensor] = {}
    for name, module in wrappers.items():
        w = module.weight
        codes = module.weight_quantizer.encode(w)
        encode = encode_split if isinstance(codes, SplitCodes) else encode_codes
        tensors[f"{name}.weight"] = encode(codes, tuple(w.shape))
    for key, value in model.state_dict().items():
        if key in tensors or ".weight_quantizer." in key or ".act_quantizer." in key:
            continue
        tensors[key] = encode_dense(value, dense_dtype if value.is_floating_point() else None)
    return tensors


def activation_meta(model: nn.Module) -> dict[str, dict[str, Any]]:
    """Calibrated activation quantizers, by Linear name (for the builder)."""
    out = {}
    for name, module in quantized_modules(model).items():
        aq = getattr(module, "act_quantizer", None)
        if aq is not None and aq.calibrated:
            out[name] = {
                "bits": aq.bits,
                "symmetric": aq.symmetric,
                "scale": float(aq.scale),
                "zero": float(aq.zero),
            }
    return out


def export_quantized(
    model: nn.Module, stem: Path, extra_meta: dict[str, Any] | None = None
) -> ExportedArtifact:
    """Write the stored form of a fake-quant HF classifier; ``load_model(stem)`` rebuilds it."""
    meta = {
        "builder": BUILDER,
        "hf_config": model.config.to_dict(),
        "act_quant": activation_meta(model),
    }
    meta.update(extra_meta or {})
    return write_artifact(stem, encode_model(model), meta)


class _ActLinear(nn.Module):
    """A plain Linear preceded by a fixed activation quantizer (the rebuilt W·A· layer)."""

    def __init__(self, linear: nn.Linear, act: ActQuantizer):
        super().__init__()
        self.linear, self.act_quantizer = linear, act

    def forward(self, x):
        return self.linear(self.act_quantizer(x))


@register_builder(BUILDER)
def build_quantized_classifier(meta: dict[str, Any], state: dict[str, torch.Tensor]) -> nn.Module:
    from nlpcompress.models.builders import build_hf_classifier

    model = build_hf_classifier(meta, state)
    for name, info in meta.get("act_quant", {}).items():
        act = ActQuantizer(info["bits"], info["symmetric"], "minmax")
        act.scale.fill_(info["scale"])
        act.zero.fill_(info["zero"])
        act.calibrated = True
        set_submodule(model, name, _ActLinear(model.get_submodule(name), act))
    return model


__all__ = [
    "QuantLinear",
    "decode_packed_int",
    "decode_sparse_packed_int",
    "decode_split_binary",
    "encode_codes",
    "encode_model",
    "encode_split",
    "export_quantized",
]

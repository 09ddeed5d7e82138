"""Stored form of pruned models: sparse tensors for real, and smaller dense models.

Encodings (a tensor of ``n`` entries, ``z`` of them non-zero, ``b`` bytes per value,
viewed as ``r`` rows of ``c`` columns):

* ``sparse_bitmask``: one bit per entry (``ceil(n / 8)`` bytes) + the ``z`` non-zero
  values in row-major order: ``n / 8 + z * b`` bytes.
* ``sparse_csr``: row pointers ``(r + 1) * 4`` bytes + column indices (int16 when
  ``c <= 32768``, else int32) + values: ``4 (r + 1) + z * (2|4 + b)`` bytes.
* ``dense``: ``n * b`` bytes (the foundation's encoding), or ``dense_int8_rows``.

:func:`encode_sparse` writes whichever is smallest. With ``int8=True`` the values are
symmetric int8 with one fp32 scale per row: ``q = round(w / s_r)``, ``s_r = max_j |w_rj| / 127``,
decoded as ``w ~ q * s_r`` (prune, then quantize the surviving weights).

The builder ``pruned_bert`` rebuilds a BERT classifier whose layers may have fewer heads
and FFN neurons (``meta["heads_per_layer"]``, ``meta["ffn_per_layer"]``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from nlpcompress.prune.bert import encoder_prefix
from nlpcompress.prune.structured import layer_shapes, resize
from nlpcompress.storage.format import (
    EncodedTensor,
    ExportedArtifact,
    encode_dense,
    register_builder,
    register_decoder,
    write_artifact,
)

BUILDER = "pruned_bert"
_BIT_WEIGHTS = torch.tensor([1, 2, 4, 8, 16, 32, 64, 128], dtype=torch.int32)


def pack_bits(mask: torch.Tensor) -> torch.Tensor:
    """Pack a boolean tensor into ``ceil(n / 8)`` uint8 (entry ``8k + i`` is bit ``i`` of byte ``k``)."""
    flat = mask.reshape(-1).to(torch.int32)
    pad = (-flat.numel()) % 8
    flat = torch.cat([flat, flat.new_zeros(pad)]).reshape(-1, 8)
    return (flat * _BIT_WEIGHTS).sum(dim=1).to(torch.uint8)


def unpack_bits(packed: torch.Tensor, numel: int) -> torch.Tensor:
    """Inverse of :func:`pack_bits`: a flat boolean tensor of ``numel`` entries."""
    bits = (packed.to(torch.int32).unsqueeze(1) & _BIT_WEIGHTS) != 0
    return bits.reshape(-1)[:numel]


def quantize_rows_int8(matrix: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Symmetric per-row int8: ``s_r = max_j |w_rj| / 127``, ``q = clamp(round(w / s_r), -127, 127)``.

    Uses the quantization family's :func:`nlpcompress.quant.quantizers.quantize_weight`
    (symmetric, per channel), so pruned-then-int8 weights match ``method=ptq``'s int8 grid.

    Returns:
        ``(q int8, scales fp32 (rows,))``; all-zero rows get scale 1.
    """
    from nlpcompress.quant.quantizers import quantize_weight

    codes, scale, _ = quantize_weight(
        matrix.detach().float(), 8, symmetric=True, granularity="per_channel"
    )
    return codes.reshape(matrix.shape).to(torch.int8), scale.reshape(-1).float()


def _as_matrix(t: torch.Tensor) -> torch.Tensor:
    return t.reshape(1, -1) if t.dim() < 2 else t.reshape(t.shape[0], -1)


def _values_and_scale(
    matrix: torch.Tensor, int8: bool
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    if not int8:
        return matrix.detach().float(), {}
    q, scale = quantize_rows_int8(matrix)
    return q, {"scale": scale}


def encode_bitmask(tensor: torch.Tensor, int8: bool = False) -> EncodedTensor:
    """``sparse_bitmask`` encoding of ``tensor`` (see the module docstring)."""
    m = _as_matrix(tensor)
    values, extra = _values_and_scale(m, int8)
    nz = m != 0
    parts = {"bits": pack_bits(nz), "values": values[nz].contiguous(), **extra}
    return EncodedTensor(
        "sparse_bitmask", tuple(tensor.shape), parts, {"rows": m.shape[0], "cols": m.shape[1]}
    )


def encode_csr(tensor: torch.Tensor, int8: bool = False) -> EncodedTensor:
    """``sparse_csr`` encoding of ``tensor`` (see the module docstring)."""
    m = _as_matrix(tensor)
    values, extra = _values_and_scale(m, int8)
    nz = m != 0
    counts = nz.sum(dim=1)
    crow = torch.cat([torch.zeros(1, dtype=torch.int64), counts.cumsum(0)]).to(torch.int32)
    col_dtype = torch.int16 if m.shape[1] <= 32768 else torch.int32
    cols = nz.nonzero()[:, 1].to(col_dtype)
    parts = {"crow": crow, "col": cols.contiguous(), "values": values[nz].contiguous(), **extra}
    return EncodedTensor(
        "sparse_csr", tuple(tensor.shape), parts, {"rows": m.shape[0], "cols": m.shape[1]}
    )


def encode_dense_int8(tensor: torch.Tensor) -> EncodedTensor:
    """``dense_int8_rows``: every entry as int8 with a per-row fp32 scale."""
    q, scale = quantize_rows_int8(_as_matrix(tensor))
    return EncodedTensor("dense_int8_rows", tuple(tensor.shape), {"values": q, "scale": scale})


def encode_sparse(tensor: torch.Tensor, int8: bool = False) -> EncodedTensor:
    """The smallest of dense, bitmask and CSR for this tensor (values fp32, or int8 rows)."""
    dense = encode_dense_int8(tensor) if int8 else encode_dense(tensor.float())
    options = [dense, encode_bitmask(tensor, int8), encode_csr(tensor, int8)]
    return min(options, key=lambda enc: enc.stored_bytes)


def _decode_values(enc: EncodedTensor, nz: torch.Tensor, rows: int, cols: int) -> torch.Tensor:
    out = torch.zeros(rows, cols, dtype=torch.float32)
    out[nz] = enc.parts["values"].float()
    if "scale" in enc.parts:
        out = out * enc.parts["scale"].float()[:, None]
    return out


@register_decoder("sparse_bitmask")
def decode_bitmask(enc: EncodedTensor) -> torch.Tensor:
    rows, cols = enc.attrs["rows"], enc.attrs["cols"]
    nz = unpack_bits(enc.parts["bits"], rows * cols).reshape(rows, cols)
    return _decode_values(enc, nz, rows, cols)


@register_decoder("sparse_csr")
def decode_csr(enc: EncodedTensor) -> torch.Tensor:
    rows, cols = enc.attrs["rows"], enc.attrs["cols"]
    crow = enc.parts["crow"].to(torch.int64)
    row_of = torch.repeat_interleave(torch.arange(rows), crow[1:] - crow[:-1])
    nz = torch.zeros(rows, cols, dtype=torch.bool)
    nz[row_of, enc.parts["col"].to(torch.int64)] = True
    return _decode_values(enc, nz, rows, cols)


@register_decoder("dense_int8_rows")
def decode_dense_int8(enc: EncodedTensor) -> torch.Tensor:
    return enc.parts["values"].float() * enc.parts["scale"].float()[:, None]


def pruned_meta(model: nn.Module) -> dict[str, Any]:
    """Metadata that lets the ``pruned_bert`` builder rebuild ``model``'s architecture."""
    heads, ffn = layer_shapes(model)
    return {
        "builder": BUILDER,
        "hf_config": model.config.to_dict(),
        "heads_per_layer": heads,
        "ffn_per_layer": ffn,
    }


@register_builder(BUILDER)
def build_pruned_bert(meta: dict[str, Any], state: dict[str, torch.Tensor]) -> nn.Module:
    from transformers import AutoConfig, AutoModelForSequenceClassification

    config_dict = dict(meta["hf_config"])
    config = AutoConfig.for_model(config_dict.pop("model_type"), **config_dict)
    model = AutoModelForSequenceClassification.from_config(config, attn_implementation="eager")
    resize(model, meta["heads_per_layer"], meta["ffn_per_layer"])
    params = {n for n, _ in model.named_parameters()}
    missing = params - set(state)
    if missing:
        raise ValueError(f"exported model lacks parameters: {sorted(missing)[:5]}")
    model.load_state_dict(
        {k: v.float() if v.is_floating_point() else v for k, v in state.items()}, strict=False
    )
    return model


def is_sparse_candidate(name: str, tensor: torch.Tensor) -> bool:
    """Weights stored sparse (or int8): matrices of the encoder, embeddings and pooler.
    Biases, LayerNorms and the classifier head stay dense fp32."""
    return tensor.dim() == 2 and tensor.is_floating_point() and not name.startswith("classifier")


def encode_model(model: nn.Module, int8: bool = False) -> dict[str, EncodedTensor]:
    """Every tensor of ``model``'s state dict in its smallest stored form."""
    out = {}
    for name, t in model.state_dict().items():
        if name.endswith("position_ids"):
            continue  # rebuilt by the constructor
        t = t.detach().cpu()
        if is_sparse_candidate(name, t):
            out[name] = encode_sparse(t, int8)
        else:
            out[name] = encode_dense(t)
    return out


def encoder_bytes(model: nn.Module, tensors: dict[str, EncodedTensor]) -> int:
    """Stored bytes of the Transformer layers alone (``<base>.encoder.layer.*``)."""
    prefix = encoder_prefix(model)
    return sum(enc.stored_bytes for name, enc in tensors.items() if name.startswith(prefix))


def dense_encoder_bytes(model: nn.Module) -> int:
    """fp32 bytes of the Transformer layers of ``model`` (4 bytes per parameter)."""
    prefix = encoder_prefix(model)
    return sum(4 * t.numel() for name, t in model.state_dict().items() if name.startswith(prefix))


def export_pruned(
    model: nn.Module,
    stem: Path,
    tensors: dict[str, EncodedTensor] | None = None,
    int8: bool = False,
) -> ExportedArtifact:
    """Write the pruned model (sparse and/or structurally smaller) as ``stem.{safetensors,json}``."""
    tensors = tensors if tensors is not None else encode_model(model, int8)
    return write_artifact(Path(stem), tensors, pruned_meta(model))

"""Size of the stored form: bytes on disk, parameters, non-zeros, bits per weight."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import torch

from nlpcompress.config import metric_names as names
from nlpcompress.storage.format import ExportedArtifact, decode

ENCODER_PREFIXES = ("encoder.layer.", ".encoder.layer.")


@dataclass
class LayerRecord:
    """One row of the per-layer CSV: how a tensor is stored."""

    name: str
    shape: tuple[int, ...]
    stored_bits: float
    sparsity: float
    encoding: str


def is_encoder_tensor(name: str) -> bool:
    """Whether a state-dict key belongs to the Transformer layers (not embeddings or head)."""
    return ".encoder.layer." in f".{name}" or ".layers." in f".{name}"


def layer_records(artifact: ExportedArtifact) -> list[LayerRecord]:
    """One row per stored tensor: shape, stored bits per element, sparsity, encoding."""
    rows = []
    for name, enc in artifact.tensors.items():
        tensor = decode(enc)
        numel = max(1, enc.numel)
        zeros = numel - int(torch.count_nonzero(tensor)) if tensor.is_floating_point() else 0
        rows.append(
            LayerRecord(
                name, enc.shape, 8.0 * enc.stored_bytes / numel, zeros / numel, enc.encoding
            )
        )
    return rows


def size_metrics(
    artifact: ExportedArtifact,
    fp32_bytes: int | None,
    records: list[LayerRecord] | None = None,
    fp32_encoder_bytes: int | None = None,
) -> dict[str, float]:
    """``size/*`` metrics of an exported artifact.

    * ``size/bytes``: bytes of the files written (payload + metadata).
    * ``size/params``: stored elements; ``size/nonzero_params``: those not zero.
    * ``size/avg_bits``: 8 * stored payload bytes / stored elements (codes, scales, masks
      and indices all count).
    * ``size/ratio_vs_fp32``: ``size/bytes`` / the fp32 baseline's exported bytes.
    * ``size/encoder_bytes``: stored payload bytes of the Transformer layers alone.
    """
    records = records if records is not None else layer_records(artifact)
    params = sum(int(torch.Size(r.shape).numel()) for r in records)
    nonzero = sum(round(torch.Size(r.shape).numel() * (1 - r.sparsity)) for r in records)
    stored = sum(enc.stored_bytes for enc in artifact.tensors.values())
    encoder = sum(
        enc.stored_bytes for name, enc in artifact.tensors.items() if is_encoder_tensor(name)
    )
    out = {
        names.SIZE_BYTES: float(artifact.bytes),
        "size/params": float(params),
        "size/nonzero_params": float(nonzero),
        names.SIZE_AVG_BITS: 8.0 * stored / max(1, params),
        "size/encoder_bytes": float(encoder),
    }
    if fp32_bytes:
        out[names.SIZE_RATIO] = artifact.bytes / fp32_bytes
    if fp32_encoder_bytes:
        out["size/encoder_ratio_vs_fp32"] = encoder / fp32_encoder_bytes
    return out


def encoder_bytes(artifact: ExportedArtifact) -> int:
    return sum(
        enc.stored_bytes for name, enc in artifact.tensors.items() if is_encoder_tensor(name)
    )


def write_layer_csv(records: list[LayerRecord], path: Path) -> Path:
    """The per-layer table: name, shape, stored bits, sparsity, encoding."""
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["name", "shape", "stored_bits", "sparsity", "encoding"])
        for r in records:
            writer.writerow(
                [
                    r.name,
                    "x".join(map(str, r.shape)),
                    f"{r.stored_bits:.3f}",
                    f"{r.sparsity:.4f}",
                    r.encoding,
                ]
            )
    return path


def count_params(model: torch.nn.Module) -> tuple[int, int]:
    """``(parameters, non-zero parameters)`` of a live model."""
    total = nonzero = 0
    for p in model.parameters():
        total += p.numel()
        nonzero += int(torch.count_nonzero(p.detach()))
    return total, nonzero

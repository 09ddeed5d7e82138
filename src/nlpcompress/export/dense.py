"""The plain stored form: every tensor of the state dict, dense, in its dtype."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from nlpcompress.models.builders import hf_meta
from nlpcompress.storage.format import ExportedArtifact, encode_dense, write_artifact


def export_dense(
    model: nn.Module, stem: Path, dtype: torch.dtype | None = None
) -> ExportedArtifact:
    """Write ``model``'s parameters (and persistent buffers) densely (fp32 unless ``dtype``)."""
    state = {k: v for k, v in model.state_dict().items() if not k.endswith("position_ids")}
    tensors = {
        k: encode_dense(v, dtype if v.is_floating_point() else None) for k, v in state.items()
    }
    return write_artifact(stem, tensors, hf_meta(model))

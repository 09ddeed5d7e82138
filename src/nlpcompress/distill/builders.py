"""Stored-format builders for distillation students that are not Hugging Face models."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from nlpcompress.distill.students import BiLSTMClassifier
from nlpcompress.storage.format import (
    ExportedArtifact,
    encode_dense,
    register_builder,
    write_artifact,
)

BILSTM_BUILDER = "distill_bilstm"


def export_bilstm(model: BiLSTMClassifier, stem: Path) -> ExportedArtifact:
    """Write a :class:`BiLSTMClassifier` as ``stem.safetensors`` + ``stem.json`` (fp32, dense)."""
    tensors = {name: encode_dense(t) for name, t in model.state_dict().items()}
    return write_artifact(stem, tensors, {"builder": BILSTM_BUILDER, "bilstm": dict(model.spec)})


@register_builder(BILSTM_BUILDER)
def build_bilstm(meta: dict[str, Any], state: dict[str, torch.Tensor]) -> BiLSTMClassifier:
    model = BiLSTMClassifier(**meta["bilstm"])
    model.load_state_dict(state, strict=True)
    return model

"""Builders that rebuild exported models (see :mod:`nlpcompress.storage.format`)."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from transformers import AutoConfig, AutoModelForSequenceClassification

from nlpcompress.storage.format import register_builder

HF_BUILDER = "hf_sequence_classification"


def hf_meta(model: nn.Module) -> dict[str, Any]:
    """Metadata that lets :func:`build_hf_classifier` rebuild ``model``'s architecture."""
    return {"builder": HF_BUILDER, "hf_config": model.config.to_dict()}


@register_builder(HF_BUILDER)
def build_hf_classifier(meta: dict[str, Any], state: dict[str, torch.Tensor]) -> nn.Module:
    config_dict = dict(meta["hf_config"])
    model_type = config_dict.pop("model_type")
    config = AutoConfig.for_model(model_type, **config_dict)
    model = AutoModelForSequenceClassification.from_config(config, attn_implementation="eager")
    model.load_state_dict(
        {k: v.to(torch.float32) if v.is_floating_point() else v for k, v in state.items()},
        strict=False,
    )
    missing = set(model.state_dict()) - set(state)
    # Buffers such as position_ids are rebuilt by the constructor; parameters must all be there.
    missing_params = missing & {n for n, _ in model.named_parameters()}
    if missing_params:
        raise ValueError(f"exported model lacks parameters: {sorted(missing_params)[:5]}")
    return model

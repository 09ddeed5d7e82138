"""The model's module names and shapes without weights (for config validation before any work)."""

from __future__ import annotations

import torch
from torch import nn
from transformers import AutoModelForSequenceClassification, BertConfig

from nlpcompress.config.schema import ModelConfig
from nlpcompress.models.presets import load_config


def model_skeleton(cfg: ModelConfig, num_labels: int = 2) -> nn.Module:
    """The classifier that ``build_classifier`` would build, on the meta device (no memory, no data).

    The vocabulary size of a ``random`` model is a placeholder (it changes no module name and
    no row length that quantization checks).
    """
    if cfg.source == "random":
        config = BertConfig(
            vocab_size=30522,
            hidden_size=cfg.hidden_size,
            num_hidden_layers=cfg.num_layers,
            num_attention_heads=cfg.num_heads,
            intermediate_size=cfg.intermediate_size,
            num_labels=num_labels,
        )
    else:
        config = load_config(cfg, num_labels)
    with torch.device("meta"):
        return AutoModelForSequenceClassification.from_config(config, attn_implementation="eager")

"""The one tiny BERT classifier builder of the unit tests (random weights, eager attention)."""

from __future__ import annotations

import torch
from transformers import BertConfig, BertForSequenceClassification


def make_tiny_bert(
    *,
    seed: int = 0,
    layers: int = 2,
    hidden: int = 32,
    heads: int = 4,
    ffn: int | None = None,
    vocab: int = 50,
    labels: int = 2,
    positions: int = 64,
    dropout: float = 0.1,
) -> BertForSequenceClassification:
    """A seeded ``BertForSequenceClassification`` in eval mode.

    Args:
        ffn: intermediate size; ``2 * hidden`` when None.
        dropout: hidden and attention dropout (only matters when a test trains).
    """
    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=vocab,
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        intermediate_size=ffn if ffn is not None else 2 * hidden,
        max_position_embeddings=positions,
        num_labels=labels,
        hidden_dropout_prob=dropout,
        attention_probs_dropout_prob=dropout,
    )
    config._attn_implementation = "eager"
    return BertForSequenceClassification(config).eval()

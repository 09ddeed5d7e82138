"""Tiny BERT classifiers for the pruning unit tests (random weights, seconds to run)."""

import pytest
import torch
from transformers import BertConfig, BertForSequenceClassification


def make_tiny_bert(seed: int = 0, layers: int = 2, heads: int = 4, hidden: int = 32, ffn: int = 64):
    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=50,
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        intermediate_size=ffn,
        max_position_embeddings=32,
        num_labels=2,
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
    )
    config._attn_implementation = "eager"
    return BertForSequenceClassification(config).eval()


@pytest.fixture
def tiny_bert():
    return make_tiny_bert()


@pytest.fixture
def tiny_batch():
    g = torch.Generator().manual_seed(1)
    input_ids = torch.randint(1, 50, (3, 10), generator=g)
    attention_mask = torch.ones_like(input_ids)
    attention_mask[1, 7:] = 0
    return {
        "input_ids": input_ids,
        "attention_mask": attention_mask,
        "labels": torch.tensor([0, 1, 1]),
    }

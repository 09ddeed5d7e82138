"""Tiny BERT classifiers for the pruning unit tests (random weights, seconds to run)."""

import pytest
import torch

from tests.tiny_bert import make_tiny_bert as tiny_bert_model


def make_tiny_bert(seed: int = 0, layers: int = 2, heads: int = 4, hidden: int = 32, ffn: int = 64):
    return tiny_bert_model(
        seed=seed, layers=layers, heads=heads, hidden=hidden, ffn=ffn, positions=32, dropout=0.0
    )


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

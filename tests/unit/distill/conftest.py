"""Tiny BERTs and batches for the distillation unit tests."""

from __future__ import annotations

import copy

import pytest
import torch

from tests.tiny_bert import make_tiny_bert


def tiny_bert(
    layers: int = 4,
    hidden: int = 16,
    heads: int = 4,
    vocab: int = 50,
    labels: int = 2,
    seed: int = 0,
):
    return make_tiny_bert(
        seed=seed, layers=layers, hidden=hidden, heads=heads, vocab=vocab, labels=labels
    )


def teacher_and_perturbed_copy(layers: int = 2, noise: float = 0.05):
    """A tiny teacher and a copy with every weight moved by ``noise`` std, like the compressed
    (fake-quantized, pruned) model that distils from it."""
    teacher = tiny_bert(layers=layers, seed=0)
    student = copy.deepcopy(teacher)
    with torch.no_grad():
        for p in student.parameters():
            p.add_(noise * torch.randn_like(p))
    return teacher, student


def make_batch(
    lengths: list[int], vocab: int = 50, seed: int = 1, pad_to: int | None = None
) -> dict:
    g = torch.Generator().manual_seed(seed)
    width = pad_to or max(lengths)
    ids = torch.zeros(len(lengths), width, dtype=torch.long)
    mask = torch.zeros_like(ids)
    for row, n in enumerate(lengths):
        ids[row, :n] = torch.randint(1, vocab, (n,), generator=g)
        mask[row, :n] = 1
    return {
        "input_ids": ids,
        "attention_mask": mask,
        "token_type_ids": torch.zeros_like(ids),
        "labels": torch.arange(len(lengths)) % 2,
        "idx": torch.arange(len(lengths)),
    }


@pytest.fixture
def teacher():
    return tiny_bert()

"""Expose pre-softmax attention scores from Hugging Face BERT-like models.

``output_attentions=True`` returns softmax probabilities. TinyBERT's attention loss uses
the raw scores ``S = Q K^T / sqrt(d) + mask``. :func:`attention_scores` temporarily swaps
the model's attention function for one that computes exactly the eager attention but
returns ``S`` instead of ``softmax(S)`` as the attention output; ``softmax(S)`` recovers the
probabilities, so one forward pass serves both the MSE and the KL losses.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn

SCORES_IMPL = "nlpcompress_eager_scores"
_registered = False
# While a capture is active, each attention call appends its value tensor (B, A, L, d_k), in
# layer order (MiniLM's value-relation loss needs them).
_captured_values: list[list[torch.Tensor]] = []


def eager_scores_attention(
    module: nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    scaling: float | None = None,
    dropout: float = 0.0,
    **kwargs,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Eager attention ``softmax(S) V`` with ``S = Q K^T * scaling + mask``; returns ``(out, S)``."""
    if _captured_values:
        _captured_values[-1].append(value)
    scaling = query.size(-1) ** -0.5 if scaling is None else scaling
    scores = torch.matmul(query, key.transpose(2, 3)) * scaling
    if attention_mask is not None:
        scores = scores + attention_mask
    probs = nn.functional.softmax(scores, dim=-1)
    probs = nn.functional.dropout(probs, p=dropout, training=module.training)
    out = torch.matmul(probs, value).transpose(1, 2).contiguous()
    return out, scores


def _register() -> None:
    global _registered
    if _registered:
        return
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface, eager_mask

    AttentionInterface.register(SCORES_IMPL, eager_scores_attention)
    AttentionMaskInterface.register(SCORES_IMPL, eager_mask)
    _registered = True


@contextmanager
def captured_values() -> Iterator[list[torch.Tensor]]:
    """Within the block (and :func:`attention_scores`), the value tensors of every
    self-attention call, in call (= layer) order, are appended to the yielded list."""
    values: list[torch.Tensor] = []
    _captured_values.append(values)
    try:
        yield values
    finally:
        _captured_values.pop()


@contextmanager
def attention_scores(model: nn.Module) -> Iterator[nn.Module]:
    """Within the block, ``model(..., output_attentions=True).attentions`` are raw scores.

    Example:
        >>> with attention_scores(student):
        ...     out = student(**batch, output_attentions=True)
        >>> probs = out.attentions[0].softmax(-1)
    """
    config = getattr(model, "config", None)
    if config is None or getattr(config, "_attn_implementation", None) != "eager":
        raise ValueError("attention scores need a Hugging Face model with eager attention")
    _register()
    config._attn_implementation = SCORES_IMPL
    try:
        yield model
    finally:
        config._attn_implementation = "eager"

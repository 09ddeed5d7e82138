"""Masks applied in the forward pass: fixed masks and movement pruning scores.

Both are ``torch.nn.utils.parametrize`` parametrizations of a ``weight``: the module
keeps the dense original ``W`` and computes ``W' = W * M`` on each forward.

Movement pruning (Sanh, Wolf & Rush, 2020, "Movement Pruning: Adaptive Sparsity by
Fine-Tuning") learns a score ``S_ij`` per weight. The mask is binarised from the scores
and the straight-through estimator passes the gradient through the binarisation, so

``dL/dS_ij = dL/dW'_ij * W_ij``

and after training ``S_ij = -sum_t lr * dL/dW_ij^(t) * W_ij^(t)``: weights moving away
from zero gain score, weights moving towards zero lose it.

* hard (TopK): ``M = TopK(S, v)``, keeping the fraction ``v`` of highest scores.
* soft (threshold): ``M = 1[sigmoid(S) > tau]`` with an L1 penalty
  ``lambda * sum_ij sigmoid(S_ij)`` pushing scores down.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import nn
from torch.nn.utils import parametrize

from nlpcompress.prune.masks import topk_mask


class TopKBinarizer(torch.autograd.Function):
    """``M = TopK(S, k)`` forward; identity (straight-through) backward."""

    @staticmethod
    def forward(ctx, scores: torch.Tensor, sparsity: float) -> torch.Tensor:
        return topk_mask(scores, sparsity).to(scores.dtype)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        return grad, None


class ThresholdBinarizer(torch.autograd.Function):
    """``M = 1[sigmoid(S) > tau]`` forward; identity (straight-through) backward."""

    @staticmethod
    def forward(ctx, scores: torch.Tensor, threshold: float) -> torch.Tensor:
        return (torch.sigmoid(scores) > threshold).to(scores.dtype)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        return grad, None


class FixedMask(nn.Module):
    """``W' = W * M`` with ``M`` a buffer (magnitude, N:M or structured masks)."""

    def __init__(self, shape: torch.Size):
        super().__init__()
        self.register_buffer("mask", torch.ones(shape))

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        return weight * self.mask


class MovementMask(nn.Module):
    """``W' = W * Binarize(S)`` with learned scores ``S`` (a parameter of this module).

    Args:
        shape: the weight's shape.
        mode: ``hard`` (TopK at ``self.sparsity``) or ``soft`` (``sigmoid(S) > threshold``).
        threshold: ``tau`` for soft mode.
    """

    def __init__(self, shape: torch.Size, mode: str = "hard", threshold: float = 0.5):
        super().__init__()
        if mode not in ("hard", "soft"):
            raise ValueError(f"movement mode must be hard or soft, got {mode!r}")
        self.mode, self.threshold = mode, threshold
        self.sparsity = 0.0
        # Soft mode starts with every sigmoid(S) above tau so nothing is pruned at step 0.
        init = (
            0.0 if mode == "hard" else float(torch.logit(torch.tensor(min(0.99, threshold + 0.25))))
        )
        self.scores = nn.Parameter(torch.full(tuple(shape), init))

    def current_mask(self) -> torch.Tensor:
        if self.mode == "hard":
            return TopKBinarizer.apply(self.scores, self.sparsity)
        return ThresholdBinarizer.apply(self.scores, self.threshold)

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        return weight * self.current_mask()


def attach(module: nn.Module, param: nn.Module, name: str = "weight") -> nn.Module:
    """Register ``param`` as the parametrization of ``module.<name>`` and return it."""
    parametrize.register_parametrization(module, name, param, unsafe=True)
    return param


def masked_modules(model: nn.Module) -> Iterator[tuple[str, nn.Module, nn.Module]]:
    """``(module name, module, parametrization)`` for every masked ``weight`` in ``model``."""
    for name, module in model.named_modules():
        if parametrize.is_parametrized(module, "weight"):
            for p in module.parametrizations.weight:
                if isinstance(p, FixedMask | MovementMask):
                    yield name, module, p


def movement_penalty(model: nn.Module) -> torch.Tensor:
    """Soft movement's L1 regulariser ``sum_ij sigmoid(S_ij)`` over all soft masks, divided
    by the number of scores (so ``lambda`` does not depend on model size)."""
    total, count = None, 0
    for _, _, p in masked_modules(model):
        if isinstance(p, MovementMask) and p.mode == "soft":
            term = torch.sigmoid(p.scores).sum()
            total = term if total is None else total + term
            count += p.scores.numel()
    return total / count if total is not None else torch.zeros(())


def bake(model: nn.Module) -> nn.Module:
    """Replace every masked weight by ``W * M`` and drop the parametrizations (in place)."""
    for _, module, _ in list(masked_modules(model)):
        parametrize.remove_parametrizations(module, "weight", leave_parametrized=True)
    return model

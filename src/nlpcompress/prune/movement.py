"""Masks applied in the forward pass: fixed masks and movement pruning scores.

Both are ``torch.nn.utils.parametrize`` parametrizations of a ``weight``: the module
keeps the dense original ``W`` and computes ``W' = W * M`` on each forward.

Movement pruning (Sanh, Wolf & Rush, 2020, "Movement Pruning: Adaptive Sparsity by
Fine-Tuning") learns a score ``S_ij`` per weight. The mask is binarised from the scores
and the straight-through estimator passes the gradient through the binarisation, so

``dL/dS_ij = dL/dW'_ij * W_ij``

and after training ``S_ij = -sum_t lr * dL/dW_ij^(t) * W_ij^(t)``: weights moving away
from zero gain score, weights moving towards zero lose it.

* hard (TopK): ``M = TopK(S, v)`` in every matrix, keeping the same fraction ``v`` of
  its highest scores (the paper's per-matrix TopK, ``TopKBinarizer``).
* soft (threshold): ``M = 1[sigmoid(S) > tau]`` with one ``tau`` for all matrices and an L1
  penalty ``lambda_t * mean_ij sigmoid(S_ij)`` pushing scores down, so each matrix ends at
  the sparsity its scores earn. Here ``tau_t`` is not hand-tuned: at each prune step it is
  the ``sigmoid(S)``-quantile that meets the schedule's sparsity ``s_t`` over the union of
  matrices (the paper tunes ``tau`` and ``lambda`` by hand until a sparsity comes out), so
  the final sparsity is the configured one. As in the authors' ``ThresholdBinarizer``, every
  matrix keeps at least ``MIN_KEEP`` (0.5%) of its weights.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import torch
from torch import nn
from torch.nn.utils import parametrize

from nlpcompress.prune.masks import magnitude_masks, topk_mask

MIN_KEEP = 0.005


class TopKBinarizer(torch.autograd.Function):
    """``M = TopK(S, k)`` forward; identity (straight-through) backward."""

    @staticmethod
    def forward(ctx, scores: torch.Tensor, sparsity: float) -> torch.Tensor:
        return topk_mask(scores, sparsity).to(scores.dtype)

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
        mode: ``hard`` (the same TopK sparsity in every matrix) or ``soft`` (one threshold
            over all matrices, with the L1 penalty of :func:`movement_penalty`).
    """

    def __init__(self, shape: torch.Size, mode: str = "hard"):
        super().__init__()
        if mode not in ("hard", "soft"):
            raise ValueError(f"movement mode must be hard or soft, got {mode!r}")
        self.mode = mode
        self.sparsity = 0.0
        # Constant initial scores (the authors' ``mask_init=constant, mask_scale=0``): the
        # ranking is then learned from the movement alone; nothing is pruned before the
        # schedule's first prune step.
        self.scores = nn.Parameter(torch.zeros(tuple(shape)))

    def current_mask(self) -> torch.Tensor:
        """TopK of this matrix's scores at its current sparsity.

        For soft movement the sparsity of each matrix is the one the global threshold
        ``tau_t`` gave it at the last prune step (:func:`global_sparsities`), so between two
        prune steps the number of kept weights per matrix stays fixed.
        """
        return TopKBinarizer.apply(self.scores, self.sparsity)

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        return weight * self.current_mask()


def global_sparsities(
    scores: dict[str, torch.Tensor], sparsity: float, min_keep: float = MIN_KEEP
) -> dict[str, float]:
    """Per-matrix sparsities under one global threshold on the scores.

    ``tau = `` the ``round(s * N)``-th smallest score of the union (``N`` entries); matrix
    ``l`` gets ``s_l = #{S_l <= tau} / #S_l``, capped so that at least ``min_keep`` of it
    (and at least one weight) stays, so no matrix is
    cut entirely (an all-zero matrix would cut its branch of every token's path).
    ``sigmoid`` is monotonic, so a threshold on ``sigmoid(S)`` and one on ``S`` select the
    same weights.
    """
    masks = magnitude_masks(scores, sparsity, "global", scores=scores)
    out = {}
    for k, mask in masks.items():
        floor = max(1, math.ceil(min_keep * mask.numel())) / mask.numel()
        out[k] = min(1.0 - float(mask.mean()), 1.0 - floor)
    return out


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

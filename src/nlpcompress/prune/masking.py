"""Masks on a model's weights: attach them (all ones), recompute them at a sparsity.

Plain torch: :class:`~nlpcompress.methods.prune_module.PruningModule` calls
:func:`update_masks` on the schedule's prune steps while fine-tuning.
"""

from __future__ import annotations

import torch
from torch import nn

from nlpcompress.prune.masks import magnitude_masks, nm_mask
from nlpcompress.prune.movement import FixedMask, MovementMask, attach, global_sparsities


def attach_masks(
    targets: dict[str, nn.Module], kind: str, movement_mode: str = "hard"
) -> dict[str, nn.Module]:
    """Parametrize every target's ``weight`` with a mask (all ones at first)."""
    out = {}
    for name, module in targets.items():
        shape = module.weight.shape
        out[name] = attach(
            module,
            MovementMask(shape, movement_mode) if kind == "movement" else FixedMask(shape),
        )
    return out


def update_masks(
    masks: dict[str, nn.Module],
    targets: dict[str, nn.Module],
    kind: str,
    sparsity: float,
    scope: str,
    n: int = 2,
    m: int = 4,
) -> None:
    """Recompute the masks at ``sparsity`` (a prune step of the schedule).

    * magnitude: ``M = 1[|W * M_old| > t]`` over the *effective* weights, so a pruned
      weight stays pruned (Zhu & Gupta);
    * nm: N:M of ``|W|``;
    * movement: hard with ``scope=layer`` gives every matrix the sparsity ``s`` (TopK per
      matrix, as the paper); soft movement (and hard with ``scope=global``) gives each matrix
      the sparsity it has under one threshold on all the scores
      (:func:`~nlpcompress.prune.movement.global_sparsities`).
    """
    with torch.no_grad():
        if kind == "magnitude":
            new = magnitude_masks({k: targets[k].weight for k in masks}, sparsity, scope)
            for k, p in masks.items():
                p.mask.copy_(new[k])
        elif kind == "nm":
            for k, p in masks.items():
                p.mask.copy_(nm_mask(targets[k].parametrizations.weight.original, n, m))
        elif kind == "movement":
            soft = any(p.mode == "soft" for p in masks.values())
            if scope == "layer" and not soft:
                for p in masks.values():
                    p.sparsity = sparsity
                return
            per_matrix = global_sparsities({k: p.scores for k, p in masks.items()}, sparsity)
            for k, p in masks.items():
                p.sparsity = per_matrix[k]


def pruned_weight_ratio(masks: dict[str, nn.Module], targets: dict[str, nn.Module]) -> float:
    """``mean |W_ij| over the pruned (i, j) / mean |W_ij| over all``, on the dense weights
    ``W`` under the masks (before they are baked), pooled over every masked matrix.

    Magnitude pruning removes the smallest weights (a ratio near 0). Movement pruning removes
    the weights that moved towards zero; only if they had the steps to get near zero before
    the cut is its ratio well below 1. A ratio near 1 means the mask cut weights of ordinary
    size. NaN when nothing is pruned.
    """
    pruned_sum, pruned_count, all_sum, all_count = 0.0, 0, 0.0, 0
    with torch.no_grad():
        for k, kept in current_masks(masks).items():
            weight = targets[k].parametrizations.weight.original.abs()
            removed = ~kept
            pruned_sum += float(weight[removed].sum())
            pruned_count += int(removed.sum())
            all_sum += float(weight.sum())
            all_count += weight.numel()
    if pruned_count == 0:
        return float("nan")
    return (pruned_sum / pruned_count) / (all_sum / all_count)


def current_masks(masks: dict[str, nn.Module]) -> dict[str, torch.Tensor]:
    """Each parametrization's mask as it is applied now (bool: True = kept)."""
    with torch.no_grad():
        return {
            k: (p.current_mask() if isinstance(p, MovementMask) else p.mask) != 0
            for k, p in masks.items()
        }


def mask_flip_rate(previous: dict[str, torch.Tensor], current: dict[str, torch.Tensor]) -> float:
    """Share of mask entries that changed between two steps, pooled over every matrix:
    ``sum_l |M_l^t xor M_l^(t-1)| / sum_l N_l``.

    A fixed mask changes only on prune steps, by the schedule's new cut. A movement mask is TopK
    of scores that move every step, so weights can also swap in and out at the threshold; a
    weight that comes back has the value it had when it was cut.
    """
    flipped = sum(int((current[k] ^ previous[k]).sum()) for k in current)
    total = sum(m.numel() for m in current.values())
    return flipped / total if total else 0.0

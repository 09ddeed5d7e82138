"""Unstructured and N:M pruning masks.

A mask ``M`` has the shape of its weight ``W``; the pruned weight is ``W * M``. The
sparsity of a set of tensors is the fraction of zeros among all their entries:
``s = #{M == 0} / #M``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch


def keep_count(numel: int, sparsity: float) -> int:
    """Number of entries kept at a given sparsity: ``k = numel - round(sparsity * numel)``."""
    if not 0.0 <= sparsity <= 1.0:
        raise ValueError(f"sparsity must be in [0, 1], got {sparsity}")
    return numel - int(round(sparsity * numel))


def topk_mask(scores: torch.Tensor, sparsity: float) -> torch.Tensor:
    """Keep the ``k`` highest scores: ``M_i = 1[i in TopK(S, k)]``, ``k = n - round(s * n)``.

    Exactly ``n - k`` entries are zero, whatever the ties (ties are broken by index
    order of ``torch.topk``).

    Args:
        scores: importance of each entry (e.g. ``|W|``), any shape.
        sparsity: fraction of entries to zero, in [0, 1].

    Returns:
        A float mask of 0/1 with the shape of ``scores``.
    """
    flat = scores.detach().reshape(-1)
    k = keep_count(flat.numel(), sparsity)
    mask = torch.zeros_like(flat, dtype=torch.float32)
    if k > 0:
        mask[torch.topk(flat.float(), k, sorted=False).indices] = 1.0
    return mask.reshape(scores.shape)


def magnitude_masks(
    weights: Mapping[str, torch.Tensor],
    sparsity: float,
    scope: str = "global",
    scores: Mapping[str, torch.Tensor] | None = None,
) -> dict[str, torch.Tensor]:
    """Magnitude masks ``M = 1[|W| > t]`` for a set of weights.

    * ``scope="layer"``: one threshold per tensor; each tensor gets sparsity ``s``.
    * ``scope="global"``: one threshold ``t`` over all tensors: the ``round(s * N)``
      smallest ``|w|`` of the union (``N`` entries) are zeroed, so layers end up with
      different sparsities but the union has sparsity ``s``.

    Args:
        weights: name -> weight.
        sparsity: target fraction of zeros in [0, 1].
        scope: ``global`` or ``layer``.
        scores: optional importance per entry (defaults to ``|W|``); movement or Taylor
            scores can be ranked the same way.

    Returns:
        name -> 0/1 mask. The target is met exactly (ties broken by index).
    """
    scores = {
        n: (scores[n] if scores is not None else w.detach().abs()) for n, w in weights.items()
    }
    if scope == "layer":
        return {n: topk_mask(s, sparsity) for n, s in scores.items()}
    if scope != "global":
        raise ValueError(f"scope must be 'global' or 'layer', got {scope!r}")
    names = list(scores)
    flat = torch.cat([scores[n].reshape(-1).float() for n in names])
    mask = topk_mask(flat, sparsity)
    out, start = {}, 0
    for n in names:
        size = scores[n].numel()
        out[n] = mask[start : start + size].reshape(scores[n].shape)
        start += size
    return out


def nm_mask(weight: torch.Tensor, n: int, m: int) -> torch.Tensor:
    """N:M mask: in every group of ``m`` consecutive entries along the last (input)
    dimension keep the ``n`` largest ``|w|``; sparsity is exactly ``1 - n / m``.

    Args:
        weight: a 2-D weight ``(out, in)`` with ``in % m == 0``.
        n: entries kept per group, ``0 < n < m``.
        m: group size.
    """
    if not 0 < n < m:
        raise ValueError(f"N:M needs 0 < N < M, got {n}:{m}")
    if weight.shape[-1] % m:
        raise ValueError(f"last dimension {weight.shape[-1]} is not a multiple of M={m}")
    groups = weight.detach().abs().reshape(-1, m)
    keep = torch.topk(groups, n, dim=1).indices
    mask = torch.zeros_like(groups, dtype=torch.float32).scatter_(1, keep, 1.0)
    return mask.reshape(weight.shape)


def sparsity_of(tensors: Mapping[str, torch.Tensor] | list[torch.Tensor]) -> float:
    """Fraction of exact zeros over all entries: ``sum_i #{W_i == 0} / sum_i #W_i``."""
    values = tensors.values() if isinstance(tensors, Mapping) else tensors
    zeros = total = 0
    for t in values:
        zeros += int((t == 0).sum())
        total += t.numel()
    return zeros / total if total else 0.0


def is_nm_sparse(weight: torch.Tensor, n: int, m: int) -> bool:
    """True when every group of ``m`` consecutive entries holds at most ``n`` non-zeros."""
    groups = weight.reshape(-1, m)
    return bool(((groups != 0).sum(dim=1) <= n).all())


def nm_sparsity(n: int, m: int) -> float:
    """Sparsity of an N:M pattern: ``1 - n / m``."""
    return 1.0 - n / m if m else math.nan

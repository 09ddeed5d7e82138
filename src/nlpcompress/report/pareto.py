"""Pareto-optimal runs: higher accuracy is better, lower cost (size, latency) is better.

Definition used everywhere in the report: run ``j`` *dominates* run ``i`` when

    acc_j >= acc_i  and  cost_j <= cost_i  and  (acc_j > acc_i  or  cost_j < cost_i)

and run ``i`` is *Pareto-optimal* when its accuracy and cost are both finite and no other run
with finite values dominates it. Two runs with identical accuracy and cost do not dominate each
other, so both are optimal (ties are kept, not broken arbitrarily). A run with a missing (NaN)
accuracy or cost is never optimal and never dominates another.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def dominates(acc_j: float, cost_j: float, acc_i: float, cost_i: float) -> bool:
    """Whether ``(acc_j, cost_j)`` dominates ``(acc_i, cost_i)`` (see the module docstring)."""
    return acc_j >= acc_i and cost_j <= cost_i and (acc_j > acc_i or cost_j < cost_i)


def pareto_mask(accuracy: Sequence[float], cost: Sequence[float]) -> list[bool]:
    """Which runs are Pareto-optimal for (maximise accuracy, minimise cost).

    Run ``i`` is dominated iff some run has a strictly lower cost and an accuracy >= acc_i, or
    a cost <= cost_i and a strictly higher accuracy. With the runs sorted by cost, let
    ``best_below(c)`` be the best accuracy among costs ``< c`` and ``best_upto(c)`` among
    costs ``<= c``: ``i`` is optimal iff ``best_below(cost_i) < acc_i`` and
    ``best_upto(cost_i) == acc_i``. That is O(n log n) instead of comparing all pairs.

    Args:
        accuracy: one accuracy per run (higher is better); NaN for missing.
        cost: one cost per run (lower is better), e.g. size in MB or latency in ms; NaN for missing.

    Returns:
        One flag per run, in the input order.

    Example:
        >>> pareto_mask([0.9, 0.8, 0.85, 0.9], [10.0, 2.0, 5.0, 12.0])
        [True, True, True, False]
    """
    acc = np.asarray(accuracy, dtype=float)
    cst = np.asarray(cost, dtype=float)
    if acc.shape != cst.shape or acc.ndim != 1:
        raise ValueError(
            f"accuracy and cost must be 1-D of the same length, got {acc.shape} and {cst.shape}"
        )
    valid = np.flatnonzero(np.isfinite(acc) & np.isfinite(cst))
    mask = np.zeros(len(acc), dtype=bool)
    order = valid[np.lexsort((-acc[valid], cst[valid]))]  # cost ascending, then accuracy descending
    best_below = -np.inf
    start = 0
    while start < len(order):
        stop = start
        while stop < len(order) and cst[order[stop]] == cst[order[start]]:
            stop += 1
        group = order[start:stop]
        best_here = acc[group].max()
        for i in group:
            mask[i] = acc[i] > best_below and acc[i] == best_here
        best_below = max(best_below, best_here)
        start = stop
    return mask.tolist()


def pareto_front(accuracy: Sequence[float], cost: Sequence[float]) -> list[int]:
    """Indices of the Pareto-optimal runs, ordered by cost (ascending), then accuracy.

    Along this order the accuracy never decreases, so the front reads as a staircase: the
    best accuracy reachable within a cost budget ``c`` is that of the last front point with
    cost ``<= c``.
    """
    mask = pareto_mask(accuracy, cost)
    idx = [i for i, ok in enumerate(mask) if ok]
    return sorted(idx, key=lambda i: (float(cost[i]), float(accuracy[i])))

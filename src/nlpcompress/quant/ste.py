"""Straight-through estimators and the LSQ learnable-scale quantizer."""

from __future__ import annotations

import torch


def round_ste(x: torch.Tensor) -> torch.Tensor:
    """``round(x)`` forward, identity gradient backward (straight-through estimator).

    ``x + (round(x) - x).detach()``: the value is ``round(x)``, ``d/dx = 1``.
    """
    return x + (torch.round(x) - x).detach()


def sign_ste(x: torch.Tensor) -> torch.Tensor:
    """``sign(x)`` forward (``sign(0) = +1``), gradient ``1_{|x| <= 1}`` backward (BinaryConnect)."""
    s = torch.where(x >= 0, torch.ones_like(x), -torch.ones_like(x))
    clipped = x.clamp(-1.0, 1.0)
    return clipped + (s - clipped).detach()


def grad_scale(x: torch.Tensor, factor: float) -> torch.Tensor:
    """Value ``x``, gradient multiplied by ``factor``: ``(x - x f).detach() + x f``."""
    y = x * factor
    return (x - y).detach() + y


def lsq_quantize(
    x: torch.Tensor, scale: torch.Tensor, qmin: int, qmax: int, grad_factor: float | None = None
) -> torch.Tensor:
    """LSQ fake quantization with a learnable step (Esser et al., 2020).

    ``x_hat = s * round(clamp(x / s, q_min, q_max))`` (symmetric, zero point 0). With the
    straight-through round the step's gradient is

    * ``-x/s + round(x/s)`` where ``q_min <= x/s <= q_max``,
    * ``q_min`` below the range, ``q_max`` above it,

    times ``g = 1 / sqrt(N * q_max)`` (``N`` = number of values), the LSQ gradient scale.

    Args:
        x: values to quantize.
        scale: learnable step, broadcastable to ``x``.
        qmin, qmax: the integer range.
        grad_factor: override of ``g``.
    """
    g = grad_factor if grad_factor is not None else 1.0 / (x.numel() * max(qmax, 1)) ** 0.5
    s = grad_scale(scale, g)
    return round_ste(torch.clamp(x / s, qmin, qmax)) * s

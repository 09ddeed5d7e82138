"""Activation range calibration: min-max, percentile and MSE-optimal clipping.

An :class:`RangeObserver` collects activations seen during calibration forward passes
(a bounded random subsample plus the exact running min / max); :func:`calibrate_range`
turns them into a clipping range ``[lo, hi]``, from which :func:`affine_params` gives
the activation scale and zero point.
"""

from __future__ import annotations

import torch
from torch import nn

from nlpcompress.quant.quantizers import affine_params, qrange, quantize

CALIBRATIONS = ("minmax", "percentile", "mse")


def calibrate_range(
    samples: torch.Tensor,
    method: str,
    bits: int,
    symmetric: bool,
    percentile: float = 99.99,
    grid: int = 100,
) -> tuple[float, float]:
    """Clipping range of an activation tensor.

    * ``minmax``: ``[min x, max x]``;
    * ``percentile``: the ``p``-th and ``(100 - p)``-th percentiles (``|x|``'s ``p``-th when
      symmetric), which ignores the rarest outliers;
    * ``mse``: ``[c * min x, c * max x]`` with ``c`` in ``{1/grid, 2/grid, ..., 1}`` minimising
      ``mean((x - Q_c(x))^2)``, ``Q_c`` the ``bits``-bit quantizer of that range.

    Args:
        samples: activations (any shape).
        method: one of ``minmax``, ``percentile``, ``mse``.
        bits, symmetric: the activation quantizer (needed by ``mse``).
        percentile: ``p`` in (50, 100].
        grid: number of clipping ratios tried by ``mse``.
    """
    x = samples.detach().reshape(-1).float()
    lo, hi = float(x.min()), float(x.max())
    if method == "minmax":
        return lo, hi
    if method == "percentile":
        q = percentile / 100.0
        if symmetric:
            peak = float(torch.quantile(x.abs(), q))
            return -peak, peak
        return float(torch.quantile(x, 1.0 - q)), float(torch.quantile(x, q))
    if method == "mse":
        qmin, qmax = qrange(bits, symmetric)
        best, best_err = (lo, hi), float("inf")
        for k in range(1, grid + 1):
            c = k / grid
            scale, zero = affine_params(torch.tensor(c * lo), torch.tensor(c * hi), bits, symmetric)
            err = float(((scale * (quantize(x, scale, zero, qmin, qmax) - zero) - x) ** 2).mean())
            if err < best_err:
                best, best_err = (c * lo, c * hi), err
        return best
    raise ValueError(f"unknown calibration {method!r}; allowed: {', '.join(CALIBRATIONS)}")


class RangeObserver(nn.Module):
    """Records activations passing through it (identity forward) while ``enabled``.

    Keeps the exact running min / max and a random subsample of at most ``max_samples``
    values per call, enough for percentiles and the MSE search.
    """

    def __init__(self, max_samples: int = 4096, seed: int = 0):
        super().__init__()
        self.max_samples = max_samples
        self.enabled = False
        self.samples: list[torch.Tensor] = []
        self.lo, self.hi = float("inf"), float("-inf")
        self._gen = torch.Generator().manual_seed(seed)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.enabled:
            flat = x.detach().reshape(-1).float()
            self.lo, self.hi = min(self.lo, float(flat.min())), max(self.hi, float(flat.max()))
            if flat.numel() > self.max_samples:
                flat = flat[torch.randint(flat.numel(), (self.max_samples,), generator=self._gen)]
            self.samples.append(flat.cpu())
        return x

    def collected(self) -> torch.Tensor:
        """All subsampled values plus the exact extremes (so min-max is exact)."""
        if not self.samples:
            raise RuntimeError("no activations observed: run calibration batches first")
        return torch.cat(self.samples + [torch.tensor([self.lo, self.hi])])

"""Weight quantizers: uniform affine integers, fixed point, binary and ternary.

Plain torch functions on tensors, no framework. Every quantizer here returns integer *codes*
plus the scale / zero point that map them back, so that the evaluated (fake-quantized) weight
and the stored weight are computed by the same :func:`dequantize`.

Layout: a weight is viewed as ``[R, G, g]`` (:func:`group_view`): ``R`` rows that own their
scales, ``G`` groups per row and ``g`` values per group. Per-tensor is ``[1, 1, numel]``,
per-channel (one scale per output row) is ``[rows, 1, cols]`` and per-group is
``[rows, cols / group_size, group_size]``. Scales and zero points have shape ``[R, G, 1]``.
"""

from __future__ import annotations

import math

import torch

from nlpcompress.quant.ste import round_ste

GRANULARITIES = ("per_tensor", "per_channel", "per_group")


def qrange(bits: int, symmetric: bool) -> tuple[int, int]:
    """Integer code range ``[q_min, q_max]`` of a ``bits``-bit quantizer.

    Symmetric codes use the restricted signed range ``[-(2^(b-1) - 1), 2^(b-1) - 1]`` so that
    the grid is symmetric about 0 (``2^b - 1`` levels); asymmetric codes use ``[0, 2^b - 1]``.

    Args:
        bits: 1..8 (symmetric needs at least 2).
        symmetric: signed symmetric grid (zero point 0) or unsigned affine grid.
    """
    if not 1 <= bits <= 8:
        raise ValueError(f"bits must be in 1..8, got {bits}")
    if symmetric:
        if bits < 2:
            raise ValueError(
                "a symmetric integer grid needs bits >= 2 (use the binary form for 1 bit)"
            )
        return -(2 ** (bits - 1) - 1), 2 ** (bits - 1) - 1
    return 0, 2**bits - 1


def group_view(w: torch.Tensor, granularity: str, group_size: int | None = None) -> torch.Tensor:
    """View ``w`` (2-D ``[rows, cols]``, or anything for per-tensor) as ``[R, G, g]``.

    Raises:
        ValueError: unknown granularity, or ``group_size`` not dividing ``cols``.
    """
    if granularity == "per_tensor":
        return w.reshape(1, 1, -1)
    if w.dim() != 2:
        raise ValueError(
            f"{granularity} quantization needs a 2-D weight, got shape {tuple(w.shape)}"
        )
    rows, cols = w.shape
    if granularity == "per_channel":
        return w.reshape(rows, 1, cols)
    if granularity == "per_group":
        if not group_size or cols % group_size:
            raise ValueError(f"group_size={group_size} does not divide the row length {cols}")
        return w.reshape(rows, cols // group_size, group_size)
    raise ValueError(f"unknown granularity {granularity!r}; allowed: {', '.join(GRANULARITIES)}")


def round_scale(scale: torch.Tensor, dtype: torch.dtype | None) -> torch.Tensor:
    """``scale`` rounded to the nearest value of ``dtype`` (kept fp32), so it is stored exactly.

    Scales below the smallest normal number of ``dtype`` are raised to it (never to 0).
    """
    if dtype is None:
        return scale
    return scale.clamp(min=torch.finfo(dtype).tiny).to(dtype).to(scale.dtype)


def affine_params(
    lo: torch.Tensor,
    hi: torch.Tensor,
    bits: int,
    symmetric: bool,
    scale_dtype: torch.dtype | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Scale ``s`` and zero point ``z`` covering ``[lo, hi]``.

    The range is first widened to contain 0 (so that 0 is exactly representable).

    * symmetric: ``s = max(|lo|, |hi|) / q_max``, ``z = 0``;
    * asymmetric: ``s = (hi - lo) / (q_max - q_min)``, ``z = clamp(q_min - round(lo / s), q_min, q_max)``.

    A zero range gives ``s = 1`` (any code then decodes to the exact constant 0). With
    ``scale_dtype`` (e.g. fp16, for storage) ``s`` is rounded to that type before ``z`` is computed.
    """
    qmin, qmax = qrange(bits, symmetric)
    lo = torch.minimum(lo, torch.zeros_like(lo))
    hi = torch.maximum(hi, torch.zeros_like(hi))
    if symmetric:
        scale = torch.maximum(lo.abs(), hi) / qmax
        zero = torch.zeros_like(scale)
    else:
        scale = (hi - lo) / (qmax - qmin)
    scale = round_scale(torch.where(scale > 0, scale, torch.ones_like(scale)), scale_dtype)
    if not symmetric:
        zero = (qmin - torch.round(lo / scale)).clamp(qmin, qmax)
    return scale, zero


def quantize(
    x: torch.Tensor, scale: torch.Tensor, zero: torch.Tensor, qmin: int, qmax: int
) -> torch.Tensor:
    """Integer codes ``q = clamp(round(x / s) + z, q_min, q_max)`` (float dtype, integral values)."""
    return torch.clamp(torch.round(x / scale) + zero, qmin, qmax)


def dequantize(q: torch.Tensor, scale: torch.Tensor, zero: torch.Tensor | float) -> torch.Tensor:
    """``x_hat = s * (q - z)``: the one formula both the evaluated and the stored weight use."""
    return scale * (q - zero)


def fake_quantize(
    x: torch.Tensor, scale: torch.Tensor, zero: torch.Tensor, qmin: int, qmax: int
) -> torch.Tensor:
    """``s * (clamp(round(x / s) + z, q_min, q_max) - z)`` with a straight-through gradient.

    The gradient w.r.t. ``x`` is 1 where ``x`` falls inside the clipping range and 0 outside
    (the clipped straight-through estimator).
    """
    q = torch.clamp(round_ste(x / scale) + zero, qmin, qmax)
    return dequantize(q, scale, zero)


def minmax_weight_params(
    w: torch.Tensor,
    bits: int,
    symmetric: bool,
    granularity: str,
    group_size: int | None = None,
    scale_dtype: torch.dtype | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Scale and zero point from the min / max of each group of ``w`` (shape ``[R, G, 1]``)."""
    v = group_view(w.detach(), granularity, group_size)
    return affine_params(
        v.amin(dim=-1, keepdim=True), v.amax(dim=-1, keepdim=True), bits, symmetric, scale_dtype
    )


def quantize_weight(
    w: torch.Tensor,
    bits: int,
    symmetric: bool = True,
    granularity: str = "per_channel",
    group_size: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Uniform affine quantization of a weight: ``(codes [R, G, g], scale [R, G, 1], zero [R, G, 1])``.

    ``codes`` are integral floats in ``[q_min, q_max]``; ``dequantize(codes, scale, zero)``
    reshaped to ``w.shape`` is the quantized weight.
    """
    qmin, qmax = qrange(bits, symmetric)
    scale, zero = minmax_weight_params(w, bits, symmetric, granularity, group_size)
    return (
        quantize(group_view(w.detach(), granularity, group_size), scale, zero, qmin, qmax),
        scale,
        zero,
    )


# ---------------------------------------------------------------- fixed point


def fixed_point_range(bits: int) -> tuple[int, int]:
    """Two's complement range of a ``bits``-bit signed integer: ``[-2^(b-1), 2^(b-1) - 1]``."""
    return -(2 ** (bits - 1)), 2 ** (bits - 1) - 1


def auto_frac_bits(x: torch.Tensor, bits: int) -> int:
    """The most fractional bits ``s`` such that ``max|x| * 2^s`` still fits in ``bits`` signed bits.

    ``s = (bits - 1) - ceil(log2(max|x|))``; the value may be negative (coarse steps).
    """
    peak = float(x.detach().abs().max())
    if peak == 0:
        return bits - 1
    return (bits - 1) - math.ceil(math.log2(peak))


def fixed_point_quantize(x: torch.Tensor, bits: int, frac_bits: int) -> torch.Tensor:
    """Saturating fixed point: ``x_q = clamp(round(2^s * x), q_min, q_max) / 2^s``.

    Values outside the representable range saturate to the largest / smallest code
    (contrast :func:`naive_fixed_point`, which wraps around). Gradient: straight-through
    inside the range.
    """
    qmin, qmax = fixed_point_range(bits)
    step = 2.0 ** (-frac_bits)
    return fake_quantize(
        x, torch.tensor(step, dtype=x.dtype), torch.tensor(0.0, dtype=x.dtype), qmin, qmax
    )


def naive_fixed_point(x: torch.Tensor, bits: int, frac_bits: int) -> torch.Tensor:
    """The often-written ``int(round(2^s * x)) / 2^s`` with a plain integer cast (``bits`` = 8: int8).

    Kept only to show the failure: a value outside the range overflows the integer type and
    wraps around (two's complement), e.g. 1.6 with 8 bits and s = 7 becomes -0.3984.
    """
    if bits != 8:
        raise ValueError("the naive cast is shown for int8 only")
    codes = (
        torch.round(x * 2.0**frac_bits).to(torch.int32).to(torch.int8)
    )  # int32 -> int8 wraps mod 256
    return codes.to(x.dtype) / 2.0**frac_bits


# ---------------------------------------------------------------- binary and ternary


def binary_alpha(w: torch.Tensor) -> torch.Tensor:
    """Per-output-channel scale ``alpha_i = mean_j |W_ij|`` (XNOR-Net), shape ``[rows, 1]``."""
    return w.detach().abs().mean(dim=1, keepdim=True)


def binarize(w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``W_b = alpha * sign(W)`` with ``sign(0) = +1``; returns ``(codes in {0, 1}, alpha)``.

    Codes store ``b = [W >= 0]``; ``W_b = alpha * (2b - 1) = (2 alpha) * (b - 1/2)``.
    """
    return (w.detach() >= 0).to(w.dtype), binary_alpha(w)


def ternary_threshold(w: torch.Tensor) -> torch.Tensor:
    """TWN threshold ``delta_i = 0.7 * mean_j |W_ij|`` per output channel, shape ``[rows, 1]``."""
    return 0.7 * w.detach().abs().mean(dim=1, keepdim=True)


def ternarize(w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """TWN: ``W_t = alpha * t``, ``t = sign(W) * [|W| > delta]`` in ``{-1, 0, +1}``.

    ``alpha_i`` is the mean of ``|W_ij|`` over the kept entries (``|W_ij| > delta_i``), which
    minimises ``||W - alpha t||^2`` for the chosen ``t``. Returns ``(codes = t + 1 in {0, 1, 2},
    alpha [rows, 1])``.
    """
    w = w.detach()
    delta = ternary_threshold(w)
    keep = w.abs() > delta
    t = torch.sign(w) * keep
    count = keep.sum(dim=1, keepdim=True).clamp(min=1)
    alpha = (w.abs() * keep).sum(dim=1, keepdim=True) / count
    return t + 1, alpha


def split_ternary(w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Ternary weight splitting (BinaryBERT, Bai et al. 2021, eq. 5-6), one split per row.

    Splits the latent ``w`` into ``w1 + w2``-like latents whose binarizations add up to the
    ternarization of ``w``: ``B(w1) + B(w2) = T(w)``, with ``B(x) = alpha(x) sign(x)``,
    ``alpha(x)_i = mean_j |x_ij|`` (:func:`binarize`) and ``T`` the TWN ternarizer
    (:func:`ternarize`, threshold ``delta_i``, scale ``alpha_i``). With ``I`` the kept entries
    of a row (``|w| > delta``), ``J`` the others and ``n`` the row length:

    * ``b = (n alpha - sum_j |w_j|) / (2 |J|)``,
    * ``a = (S_I + N_J - P_J) / (2 S_I)`` with ``S_I = sum_I |w|``, ``P_J`` the sum of the
      positive and ``N_J`` of the absolute negative entries of ``J``,
    * on ``I``: ``w1 = a w``, ``w2 = (1 - a) w`` (both keep the sign of ``w``);
    * on ``J``: ``w1 = w + b`` if ``w > 0`` else ``b``, ``w2 = -b`` if ``w > 0`` else ``w - b``
      (opposite signs).

    Then ``mean|w1| = mean|w2| = alpha / 2`` per row, so ``B(w1) + B(w2)`` is ``alpha sign(w)``
    on ``I`` and ``0`` on ``J``: the ternary weight exactly. Computed in float64 as the
    authors' script does; returned in ``w``'s dtype.

    Raises:
        ValueError: ``w`` is not 2-D.
    """
    if w.dim() != 2:
        raise ValueError(f"ternary weight splitting needs a 2-D weight, got {tuple(w.shape)}")
    x = w.detach().double()
    keep = x.abs() > ternary_threshold(x)
    rest = ~keep
    n = x.shape[1]
    s_i = (x.abs() * keep).sum(dim=1, keepdim=True)
    alpha = s_i / keep.sum(dim=1, keepdim=True).clamp(min=1)
    n_j = rest.sum(dim=1, keepdim=True)
    b = (n * alpha - x.abs().sum(dim=1, keepdim=True)) / (2 * n_j.clamp(min=1))
    pos_j = (x.clamp(min=0) * rest).sum(dim=1, keepdim=True)
    neg_j = ((-x).clamp(min=0) * rest).sum(dim=1, keepdim=True)
    a = torch.where(s_i > 0, (s_i + neg_j - pos_j) / (2 * s_i.clamp(min=1e-300)), 0.5)
    w1 = torch.where(keep, a * x, torch.where(x > 0, x + b, b))
    w2 = torch.where(keep, (1 - a) * x, torch.where(x > 0, -b, x - b))
    return w1.to(w.dtype), w2.to(w.dtype)

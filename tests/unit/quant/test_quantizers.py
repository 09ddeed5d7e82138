"""Quantizer formulas on fixed tensors."""

import pytest
import torch

from nlpcompress.quant import quantizers as Q
from nlpcompress.quant.ste import lsq_quantize, round_ste, sign_ste

W = torch.tensor([[0.50, -0.25, 0.10, -1.00], [0.02, 0.04, -0.06, 0.08], [3.0, -1.5, 0.75, 0.0]])


@pytest.mark.parametrize("bits", range(2, 9))
@pytest.mark.parametrize("symmetric", [True, False])
@pytest.mark.parametrize("granularity", ["per_tensor", "per_channel", "per_group"])
def test_levels_within_bits_and_error_bounded(bits, symmetric, granularity):
    w = torch.randn(8, 16, generator=torch.Generator().manual_seed(bits))
    codes, scale, zero = Q.quantize_weight(w, bits, symmetric, granularity, group_size=4)
    qmin, qmax = Q.qrange(bits, symmetric)
    assert codes.min() >= qmin and codes.max() <= qmax
    assert torch.equal(codes, codes.round())
    per_group = codes.reshape(codes.shape[0] * codes.shape[1], -1)
    assert all(len(torch.unique(g)) <= 2**bits for g in per_group)
    w_hat = Q.dequantize(codes, scale, zero).reshape(w.shape)
    # inside the range, the error of rounding is at most half a step
    step = scale.expand_as(codes).reshape(w.shape)
    assert torch.all((w_hat - w).abs() <= step / 2 + 1e-6)


def test_symmetric_grid_is_symmetric_and_zero_exact():
    assert Q.qrange(4, True) == (-7, 7)
    assert Q.qrange(4, False) == (0, 15)
    codes, scale, zero = Q.quantize_weight(W, 4, True, "per_channel")
    assert torch.all(zero == 0)
    # scale_i = max|W_i| / 7
    torch.testing.assert_close(scale.reshape(-1), W.abs().amax(1) / 7)
    w_hat = Q.dequantize(codes, scale, zero).reshape(W.shape)
    # the largest |w| of each row is exactly representable, and so is -max (symmetric grid)
    torch.testing.assert_close(w_hat.abs().amax(1), W.abs().amax(1))
    assert w_hat[2, 3] == 0.0


def test_asymmetric_formula_on_fixed_values():
    x = torch.tensor([[-1.0, 0.0, 0.5, 2.0]])
    codes, scale, zero = Q.quantize_weight(x, 2, False, "per_tensor")
    # s = (2 - (-1)) / 3 = 1, z = 0 - round(-1 / 1) = 1, q = clamp(round(x) + 1, 0, 3)
    assert float(scale) == pytest.approx(1.0)
    assert float(zero) == 1.0
    assert codes.reshape(-1).tolist() == [0.0, 1.0, 1.0, 3.0]  # round(0.5) = 0 (half to even)


def test_group_size_must_divide_row():
    with pytest.raises(ValueError, match="group_size=3"):
        Q.group_view(W, "per_group", 3)
    with pytest.raises(ValueError, match="granularity"):
        Q.group_view(W, "per_block", 2)
    with pytest.raises(ValueError):
        Q.qrange(9, True)
    with pytest.raises(ValueError):
        Q.qrange(1, True)


def test_fixed_point_saturates_where_naive_cast_wraps():
    x = torch.tensor([0.5, -0.75, 1.6, -3.0, 0.3])
    sat = Q.fixed_point_quantize(x, bits=8, frac_bits=7)
    naive = Q.naive_fixed_point(x, bits=8, frac_bits=7)
    # in range: both give round(128 x) / 128
    torch.testing.assert_close(sat[[0, 1, 4]], torch.round(x[[0, 1, 4]] * 128) / 128)
    torch.testing.assert_close(naive[[0, 1, 4]], sat[[0, 1, 4]])
    # out of range: saturate to 127/128 and -128/128 ...
    assert sat[2] == 127 / 128 and sat[3] == -1.0
    # ... while the int8 cast wraps: round(204.8) = 205 -> 205 - 256 = -51; -384 -> -384 + 512 = 128 -> -128
    assert naive[2] == -51 / 128
    assert naive[2] < 0 < x[2]


def test_auto_frac_bits_fits_the_peak():
    x = torch.tensor([0.3, -2.5, 1.0])
    s = Q.auto_frac_bits(x, 8)  # max 2.5 -> ceil(log2 2.5) = 2 -> s = 7 - 2 = 5
    assert s == 5
    q = Q.fixed_point_quantize(x, 8, s)
    assert torch.all((q - x).abs() <= 2.0 ** (-s) / 2)


def test_binary_values_are_plus_minus_alpha_per_channel():
    codes, alpha = Q.binarize(W)
    torch.testing.assert_close(alpha.reshape(-1), W.abs().mean(1))
    wb = alpha * (2 * codes - 1)
    for i in range(W.shape[0]):
        assert set(wb[i].tolist()) <= {float(alpha[i]), -float(alpha[i])}
        assert torch.equal(torch.sign(wb[i][W[i] != 0]), torch.sign(W[i][W[i] != 0]))
    assert wb[2, 3] == alpha[2]  # sign(0) = +1


def test_ternary_threshold_and_alpha():
    codes, alpha = Q.ternarize(W)
    t = codes - 1
    delta = 0.7 * W.abs().mean(1, keepdim=True)
    torch.testing.assert_close(Q.ternary_threshold(W), delta)
    assert torch.equal(t, torch.sign(W) * (W.abs() > delta))
    # row 0: delta = 0.7 * 0.4625 = 0.32375 -> keeps 0.5 and -1.0 -> alpha = 0.75
    assert t[0].tolist() == [1.0, 0.0, 0.0, -1.0]
    assert float(alpha[0]) == pytest.approx(0.75)
    assert set(torch.unique(t).tolist()) <= {-1.0, 0.0, 1.0}


def test_round_ste_passes_gradient():
    x = torch.tensor([0.2, 1.7, -2.4], requires_grad=True)
    y = round_ste(x)
    assert y.tolist() == [0.0, 2.0, -2.0]
    y.sum().backward()
    assert x.grad.tolist() == [1.0, 1.0, 1.0]


def test_fake_quant_clipped_ste():
    x = torch.tensor([0.1, 0.4, 5.0, -5.0], requires_grad=True)
    y = Q.fake_quantize(x, torch.tensor(0.1), torch.tensor(0.0), -7, 7)
    torch.testing.assert_close(y.detach(), torch.tensor([0.1, 0.4, 0.7, -0.7]))
    y.sum().backward()
    assert x.grad.tolist() == [1.0, 1.0, 0.0, 0.0]  # no gradient where clipped


def test_sign_ste():
    x = torch.tensor([0.3, -0.2, 0.0, 2.0], requires_grad=True)
    y = sign_ste(x)
    assert y.tolist() == [1.0, -1.0, 1.0, 1.0]
    y.sum().backward()
    assert x.grad.tolist() == [1.0, 1.0, 1.0, 0.0]


def test_lsq_gradient_matches_formula():
    x = torch.tensor([0.26, -0.04, 1.0, -1.0])
    s = torch.tensor(0.1, requires_grad=True)
    y = lsq_quantize(x, s, -7, 7, grad_factor=1.0)
    torch.testing.assert_close(y.detach(), torch.tensor([0.3, -0.0, 0.7, -0.7]))
    y.sum().backward()
    v = x / 0.1
    inside = (v >= -7) & (v <= 7)
    expected = torch.where(
        inside, -v + torch.round(v), torch.where(v > 7, torch.tensor(7.0), torch.tensor(-7.0))
    )
    assert float(s.grad) == pytest.approx(float(expected.sum()), abs=1e-5)
    # the default gradient scale is 1 / sqrt(N q_max)
    s2 = torch.tensor(0.1, requires_grad=True)
    lsq_quantize(x, s2, -7, 7).sum().backward()
    assert float(s2.grad) == pytest.approx(float(expected.sum()) / (4 * 7) ** 0.5, abs=1e-5)


def test_ternary_weight_splitting_on_a_row_worked_by_hand():
    # row [0.9, -0.6, 0.1, -0.2]: mean|w| 0.45, delta 0.315, kept I = {0.9, -0.6}, alpha 0.75;
    # b = (4 * 0.75 - 1.8) / (2 * 2) = 0.3; a = (S_I + N_J - P_J) / (2 S_I) = 1.6 / 3
    w = torch.tensor([[0.9, -0.6, 0.1, -0.2]])
    w1, w2 = Q.split_ternary(w)
    a = 1.6 / 3
    torch.testing.assert_close(w1, torch.tensor([[0.9 * a, -0.6 * a, 0.4, 0.3]]))
    torch.testing.assert_close(w2, torch.tensor([[0.9 * (1 - a), -0.6 * (1 - a), -0.3, -0.5]]))
    # both planes have alpha / 2 = 0.375; their binarizations add up to the ternary weight
    torch.testing.assert_close(Q.binary_alpha(w1), torch.tensor([[0.375]]))
    torch.testing.assert_close(Q.binary_alpha(w2), torch.tensor([[0.375]]))


def _binary(x):
    codes, alpha = Q.binarize(x)
    return alpha * (2 * codes - 1)


def _ternary(x):
    codes, alpha = Q.ternarize(x)
    return alpha * (codes - 1)


@pytest.mark.parametrize(
    "rows", [W, torch.randn(48, 384, generator=torch.Generator().manual_seed(3)) * 0.04]
)
def test_split_planes_binarize_to_the_ternary_weight(rows):
    w1, w2 = Q.split_ternary(rows)
    torch.testing.assert_close(_binary(w1) + _binary(w2), _ternary(rows), rtol=0, atol=1e-6)
    # the kept entries keep their sign in both planes; the others get opposite signs
    keep = rows.abs() > Q.ternary_threshold(rows)
    assert torch.equal(torch.sign(w1[keep]), torch.sign(rows[keep]))
    assert torch.equal(torch.sign(w2[keep]), torch.sign(rows[keep]))
    assert bool(((w1[~keep] >= 0) != (w2[~keep] >= 0)).all())
    with pytest.raises(ValueError, match="2-D"):
        Q.split_ternary(rows.reshape(-1))

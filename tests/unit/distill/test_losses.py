"""The losses against their formulas on fixed tensors."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from nlpcompress.distill import losses

Z_S = torch.tensor([[2.0, -1.0, 0.5], [0.1, 0.3, -0.2], [-1.5, 2.5, 1.0]])
Z_T = torch.tensor([[3.0, 0.0, -1.0], [0.5, -0.5, 1.5], [-2.0, 1.0, 2.0]])
Y = torch.tensor([0, 2, 1])


def reference_kd(z_s, z_t, y, t, alpha):
    """Written out from the formula with Python floats."""
    b = len(z_s)
    kl = 0.0
    for i in range(b):
        ps = [math.exp(v / t) for v in z_s[i].tolist()]
        pt = [math.exp(v / t) for v in z_t[i].tolist()]
        ps = [p / sum(ps) for p in ps]
        pt = [p / sum(pt) for p in pt]
        kl += sum(q * (math.log(q) - math.log(p)) for p, q in zip(ps, pt, strict=True))
    kl /= b
    ce = 0.0
    for i in range(b):
        row = z_s[i].tolist()
        ce += -(row[y[i]] - math.log(sum(math.exp(v) for v in row)))
    ce /= b
    return alpha * t * t * kl + (1 - alpha) * ce, kl, ce


@pytest.mark.parametrize(("t", "alpha"), [(1.0, 0.5), (2.0, 0.5), (4.0, 0.9), (3.0, 1.0)])
def test_kd_loss_matches_the_formula(t, alpha):
    expected, _, _ = reference_kd(Z_S, Z_T, Y, t, alpha)
    assert losses.kd_loss(Z_S, Z_T, Y, t, alpha).item() == pytest.approx(expected, rel=1e-5)


def test_soft_term_carries_the_t_squared_factor():
    for t in (1.0, 2.0, 5.0):
        _, kl, _ = reference_kd(Z_S, Z_T, Y, t, 1.0)
        assert losses.kd_loss(Z_S, Z_T, Y, t, 1.0).item() == pytest.approx(t * t * kl, rel=1e-5)
        assert losses.soft_kl(Z_S, Z_T, t).item() == pytest.approx(kl, rel=1e-5)


def test_kl_direction_is_teacher_to_student():
    """KL(p_t || p_s), not KL(p_s || p_t): the two differ on these logits."""
    p_s, p_t = F.softmax(Z_S, -1), F.softmax(Z_T, -1)
    forward = (p_t * (p_t.log() - p_s.log())).sum(-1).mean()
    reverse = (p_s * (p_s.log() - p_t.log())).sum(-1).mean()
    assert abs(forward - reverse) > 1e-2
    assert losses.soft_kl(Z_S, Z_T, 1.0).item() == pytest.approx(forward.item(), rel=1e-5)


def test_alpha_zero_is_exactly_cross_entropy():
    ce = F.cross_entropy(Z_S, Y)
    assert torch.equal(losses.kd_loss(Z_S, Z_T, Y, 3.0, 0.0), ce)
    assert torch.equal(losses.kd_loss(Z_S, None, Y, 3.0, 0.0), ce)


def test_soft_term_vanishes_when_student_equals_teacher():
    assert losses.kd_loss(Z_T, Z_T, Y, 2.0, 1.0).item() == pytest.approx(0.0, abs=1e-6)


def test_gradients_reach_the_student_only():
    z_s = Z_S.clone().requires_grad_(True)
    z_t = Z_T.clone().requires_grad_(True)
    losses.kd_loss(z_s, z_t, Y, 2.0, 0.7).backward()
    assert z_s.grad is not None and z_s.grad.abs().sum() > 0
    assert z_t.grad is None


@pytest.mark.parametrize(("t", "alpha"), [(0.0, 0.5), (-1.0, 0.5), (1.0, -0.1), (1.0, 1.5)])
def test_bad_knobs_raise(t, alpha):
    with pytest.raises(ValueError):
        losses.kd_loss(Z_S, Z_T, Y, t, alpha)


def test_hidden_mse_over_real_tokens_matches_the_formula():
    g = torch.Generator().manual_seed(0)
    h_s, h_t = torch.randn(2, 4, 3, generator=g), torch.randn(2, 4, 3, generator=g)
    mask = torch.tensor([[1, 1, 1, 0], [1, 1, 0, 0]])
    total, n = 0.0, 0
    for b in range(2):
        for pos in range(4):
            if mask[b, pos]:
                total += ((h_s[b, pos] - h_t[b, pos]) ** 2).sum().item()
                n += 1
    assert losses.hidden_mse(h_s, h_t, mask).item() == pytest.approx(total / (n * 3), rel=1e-6)
    assert losses.hidden_mse(h_s, h_t).item() == pytest.approx(
        F.mse_loss(h_s, h_t).item(), rel=1e-6
    )
    # padding contents do not matter
    h_s2 = h_s.clone()
    h_s2[0, 3] += 100.0
    assert losses.hidden_mse(h_s2, h_t, mask).item() == pytest.approx(total / (n * 3), rel=1e-6)


def test_hidden_mse_projects_student_width():
    g = torch.Generator().manual_seed(1)
    h_s, h_t = torch.randn(2, 3, 4, generator=g), torch.randn(2, 3, 6, generator=g)
    proj = torch.nn.Linear(4, 6)
    expected = F.mse_loss(proj(h_s), h_t)
    assert losses.hidden_mse(h_s, h_t, None, proj).item() == pytest.approx(
        expected.item(), rel=1e-6
    )
    with pytest.raises(ValueError, match="projection"):
        losses.hidden_mse(h_s, h_t)
    assert losses.embedding_mse(h_s, h_t, None, proj).item() == pytest.approx(
        expected.item(), rel=1e-6
    )


def test_attention_mse_counts_real_pairs_only():
    g = torch.Generator().manual_seed(2)
    s, t = torch.randn(2, 2, 3, 3, generator=g), torch.randn(2, 2, 3, 3, generator=g)
    mask = torch.tensor([[1, 1, 1], [1, 1, 0]])
    total, n = 0.0, 0
    for b in range(2):
        for a in range(2):
            for q in range(3):
                for k in range(3):
                    if mask[b, q] and mask[b, k]:
                        total += (s[b, a, q, k] - t[b, a, q, k]).item() ** 2
                        n += 1
    assert losses.attention_mse(s, t, mask).item() == pytest.approx(total / n, rel=1e-6)
    s2 = s.clone()
    s2[1, :, 2, :] = -3.4e38  # a padded query row holding the mask value changes nothing
    assert losses.attention_mse(s2, t, mask).item() == pytest.approx(total / n, rel=1e-6)


def test_attention_kl_matches_the_formula():
    g = torch.Generator().manual_seed(3)
    mask = torch.tensor([[1, 1, 1], [1, 1, 0]])
    neg = (1 - mask)[:, None, None, :] * -1e9
    p_s = (torch.randn(2, 2, 3, 3, generator=g) + neg).softmax(-1)
    p_t = (torch.randn(2, 2, 3, 3, generator=g) + neg).softmax(-1)
    total, n = 0.0, 0
    for b in range(2):
        for a in range(2):
            for q in range(3):
                if mask[b, q]:
                    total += sum(
                        p_t[b, a, q, k].item()
                        * (math.log(p_t[b, a, q, k].item()) - math.log(p_s[b, a, q, k].item()))
                        for k in range(3)
                        if mask[b, k]
                    )
                    n += 1
    assert losses.attention_kl(p_s, p_t, mask).item() == pytest.approx(total / n, rel=1e-5)
    assert losses.attention_kl(p_t, p_t, mask).item() == pytest.approx(0.0, abs=1e-6)


def test_match_heads_averages_groups():
    att = torch.arange(2 * 4 * 2 * 2, dtype=torch.float).reshape(2, 4, 2, 2)
    out = losses.match_heads(att, 2)
    assert torch.equal(out[:, 0], (att[:, 0] + att[:, 1]) / 2)
    assert torch.equal(out[:, 1], (att[:, 2] + att[:, 3]) / 2)
    with pytest.raises(ValueError):
        losses.match_heads(att, 3)


def test_value_relation_kl_matches_the_formula_on_fixed_tensors():
    torch.manual_seed(0)
    v_s, v_t = torch.randn(1, 2, 3, 4), torch.randn(1, 2, 3, 8)
    mask = torch.tensor([[1, 1, 0]])
    got = losses.value_relation_kl(v_s, v_t, mask)

    def vr(v):
        s = v[..., :2, :] @ v[..., :2, :].transpose(-1, -2) / v.shape[-1] ** 0.5
        return s.softmax(-1)  # real queries x real keys

    p_s, p_t = vr(v_s), vr(v_t)
    expected = (p_t * (p_t.log() - p_s.log())).sum(-1).mean()
    torch.testing.assert_close(got, expected)
    assert losses.value_relation_kl(v_t, v_t, mask) == pytest.approx(0.0, abs=1e-6)
    rel = losses.value_relation(v_s, mask)
    assert rel[..., 2].abs().max() < 1e-6  # padded key: no mass
    torch.testing.assert_close(rel.sum(-1), torch.ones(1, 2, 3))

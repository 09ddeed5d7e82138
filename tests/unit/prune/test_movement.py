import pytest
import torch
from torch import nn

from nlpcompress.prune.movement import (
    MIN_KEEP,
    FixedMask,
    MovementMask,
    attach,
    bake,
    global_sparsities,
    masked_modules,
    movement_penalty,
)


def test_hard_movement_scores_receive_straight_through_gradients():
    torch.manual_seed(0)
    lin = nn.Linear(6, 4)
    w = lin.weight.detach().clone()
    mm = attach(lin, MovementMask(lin.weight.shape, mode="hard"))
    mm.sparsity = 0.5
    with torch.no_grad():
        mm.scores.copy_(torch.arange(24.0).reshape(4, 6))
    x = torch.randn(5, 6)
    out = lin(x)
    # forward uses W * TopK(S): the 12 highest scores are the last 12 entries
    expected_mask = (torch.arange(24).reshape(4, 6) >= 12).float()
    torch.testing.assert_close(out, x @ (w * expected_mask).T + lin.bias)
    out.sum().backward()
    # STE: dL/dS = dL/dW' * W, with dL/dW' = sum over batch of x (for every output row)
    grad_w_prime = x.sum(0).expand(4, 6)
    torch.testing.assert_close(mm.scores.grad, grad_w_prime * w)
    assert mm.scores.grad.abs().sum() > 0


def test_soft_movement_global_threshold_and_penalty():
    lin = nn.Linear(3, 2)
    mm = attach(lin, MovementMask(lin.weight.shape, mode="soft"))
    with torch.no_grad():
        mm.scores.copy_(torch.tensor([[1.0, -1.0, 0.1], [-0.1, 2.0, -3.0]]))
    # sigmoid(S) > tau with tau the 50% quantile: the three highest scores stay
    mm.sparsity = global_sparsities({"lin": mm.scores}, 0.5)["lin"]
    assert mm.current_mask().tolist() == [[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]]
    pen = movement_penalty(lin)
    torch.testing.assert_close(pen, torch.sigmoid(mm.scores).mean())
    (lin(torch.ones(1, 3)).sum() + pen).backward()
    assert mm.scores.grad is not None and mm.scores.grad.abs().sum() > 0


def test_global_sparsities_follow_one_threshold_and_never_empty_a_matrix():
    # matrix "low" holds all the smallest scores: one threshold would cut it entirely
    scores = {"low": torch.full((10, 10), -1.0), "high": torch.arange(100.0).reshape(10, 10)}
    got = global_sparsities(scores, 0.5)
    assert got["high"] == 0.0
    assert got["low"] == pytest.approx(1.0 - 1 / 100)  # capped: at least one weight stays
    assert MIN_KEEP * 100 < 1
    union = (100 * got["low"] + 100 * got["high"]) / 200
    assert abs(union - 0.5) < 0.01


def test_movement_scores_start_constant_so_nothing_is_ranked_before_training():
    mm = MovementMask(torch.Size((4, 4)), mode="hard")
    assert torch.count_nonzero(mm.scores) == 0
    assert mm.current_mask().sum() == 16  # sparsity 0 until the first prune step


def test_fixed_mask_and_bake():
    lin = nn.Linear(4, 4)
    fm = attach(lin, FixedMask(lin.weight.shape))
    fm.mask.zero_()
    fm.mask[0] = 1
    assert len(list(masked_modules(lin))) == 1
    bake(lin)
    assert isinstance(lin.weight, nn.Parameter)
    assert int((lin.weight != 0).sum()) == 4

import torch
from torch import nn

from nlpcompress.prune.movement import (
    FixedMask,
    MovementMask,
    attach,
    bake,
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


def test_soft_movement_threshold_and_penalty():
    lin = nn.Linear(3, 2)
    mm = attach(lin, MovementMask(lin.weight.shape, mode="soft", threshold=0.5))
    with torch.no_grad():
        mm.scores.copy_(torch.tensor([[1.0, -1.0, 0.1], [-0.1, 2.0, -3.0]]))
    assert mm.current_mask().tolist() == [[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]]
    pen = movement_penalty(lin)
    torch.testing.assert_close(pen, torch.sigmoid(mm.scores).mean())
    (lin(torch.ones(1, 3)).sum() + pen).backward()
    assert mm.scores.grad is not None and mm.scores.grad.abs().sum() > 0


def test_fixed_mask_and_bake():
    lin = nn.Linear(4, 4)
    fm = attach(lin, FixedMask(lin.weight.shape))
    fm.mask.zero_()
    fm.mask[0] = 1
    assert len(list(masked_modules(lin))) == 1
    bake(lin)
    assert isinstance(lin.weight, nn.Parameter)
    assert int((lin.weight != 0).sum()) == 4

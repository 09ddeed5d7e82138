import math

import torch
from torch import nn

from nlpcompress.prune.masking import (
    attach_masks,
    current_masks,
    mask_flip_rate,
    pruned_weight_ratio,
    update_masks,
)


def _linear(values: list[float]) -> nn.Linear:
    lin = nn.Linear(len(values), 1, bias=False)
    with torch.no_grad():
        lin.weight.copy_(torch.tensor([values]))
    return lin


def test_pruned_weight_ratio_of_a_magnitude_mask_is_the_small_weights_share():
    targets = {"a": _linear([0.1, -0.2, 0.3, -0.4]), "b": _linear([1.0, 2.0, -3.0, 4.0])}
    masks = attach_masks(targets, "magnitude")
    assert math.isnan(pruned_weight_ratio(masks, targets))  # nothing pruned yet
    update_masks(masks, targets, "magnitude", 0.25, "global")  # 2 of 8: 0.1 and 0.2
    # mean |W| pruned = 0.15; mean |W| of all = 11 / 8
    assert abs(pruned_weight_ratio(masks, targets) - 0.15 / (11 / 8)) < 1e-6


def test_pruned_weight_ratio_of_movement_reads_the_dense_weights_under_the_scores():
    targets = {"a": _linear([0.1, -0.2, 0.3, -0.4])}
    masks = attach_masks(targets, "movement")
    with torch.no_grad():
        masks["a"].scores.copy_(torch.tensor([[4.0, 3.0, 2.0, 1.0]]))  # the largest |W| lowest
    update_masks(masks, targets, "movement", 0.5, "layer")
    # TopK keeps 0.1 and -0.2: the pruned 0.3 and -0.4 average 0.35; all average 0.25
    assert abs(pruned_weight_ratio(masks, targets) - 0.35 / 0.25) < 1e-6


def test_mask_flip_rate_counts_changed_entries_over_all_matrices():
    previous = {"a": torch.tensor([True, True, False, False]), "b": torch.tensor([True, False])}
    current = {"a": torch.tensor([True, False, True, False]), "b": torch.tensor([True, False])}
    assert mask_flip_rate(previous, current) == 2 / 6
    assert mask_flip_rate(current, current) == 0.0


def test_movement_masks_flip_when_scores_cross_the_threshold():
    targets = {"a": _linear([0.1, -0.2, 0.3, -0.4])}
    masks = attach_masks(targets, "movement")
    with torch.no_grad():
        masks["a"].scores.copy_(torch.tensor([[4.0, 3.0, 2.0, 1.0]]))
    update_masks(masks, targets, "movement", 0.5, "layer")
    before = current_masks(masks)
    assert before["a"].tolist() == [[True, True, False, False]]
    with torch.no_grad():
        masks["a"].scores.copy_(torch.tensor([[4.0, 1.5, 2.0, 1.0]]))  # 2nd and 3rd swap
    assert mask_flip_rate(before, current_masks(masks)) == 2 / 4

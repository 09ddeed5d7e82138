import pytest
import torch
from torch import nn

from nlpcompress.prune.bert import prunable_linears
from nlpcompress.prune.masks import is_nm_sparse, sparsity_of
from nlpcompress.prune.training import attach_masks, update_masks


def _weights(targets):
    return [m.weight.detach() for m in targets.values()]


def test_gradual_magnitude_masks_are_monotone(tiny_bert):
    targets = prunable_linears(tiny_bert)
    masks = attach_masks(targets, "magnitude")
    update_masks(masks, targets, "magnitude", 0.5, "global")
    first = {k: p.mask.clone() for k, p in masks.items()}
    assert sparsity_of(_weights(targets)) == pytest.approx(0.5, abs=1e-4)
    update_masks(masks, targets, "magnitude", 0.7, "global")
    assert sparsity_of(_weights(targets)) == pytest.approx(0.7, abs=1e-4)
    assert all(((first[k] == 0) <= (p.mask == 0)).all() for k, p in masks.items())


def test_global_movement_spreads_one_topk_over_layers():
    layers = {"a": nn.Linear(10, 10), "b": nn.Linear(10, 10)}
    masks = attach_masks(layers, "movement")
    with torch.no_grad():
        masks["a"].scores.copy_(torch.arange(100.0).reshape(10, 10))
        masks["b"].scores.copy_(torch.arange(100.0, 200.0).reshape(10, 10))
    update_masks(masks, layers, "movement", 0.6, "global")
    # the 80 highest of 200 scores are all in b: a loses every weight, b keeps 80 of 100
    assert masks["a"].sparsity == pytest.approx(1.0)
    assert masks["b"].sparsity == pytest.approx(0.2)
    assert sparsity_of(_weights(layers)) == pytest.approx(0.6)


def test_nm_masks_follow_the_pattern(tiny_bert):
    targets = prunable_linears(tiny_bert)
    masks = attach_masks(targets, "nm")
    update_masks(masks, targets, "nm", 0.5, "layer", 2, 4)
    assert all(is_nm_sparse(w, 2, 4) for w in _weights(targets))
    assert sparsity_of(_weights(targets)) == pytest.approx(0.5)

import pytest
import torch
from torch import nn

from nlpcompress.prune.bert import prunable_linears
from nlpcompress.prune.masking import attach_masks, update_masks
from nlpcompress.prune.masks import is_nm_sparse, sparsity_of
from nlpcompress.prune.movement import masked_modules


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


def test_global_movement_spreads_one_topk_over_layers_but_never_empties_one():
    layers = {"a": nn.Linear(10, 10), "b": nn.Linear(10, 10)}
    masks = attach_masks(layers, "movement")
    with torch.no_grad():
        masks["a"].scores.copy_(torch.arange(100.0).reshape(10, 10))
        masks["b"].scores.copy_(torch.arange(100.0, 200.0).reshape(10, 10))
    update_masks(masks, layers, "movement", 0.6, "global")
    # the 80 highest of 200 scores are all in b; a would lose every weight, but keeps one
    # (an all-zero matrix was how global TopK collapsed runs to one class)
    assert masks["a"].sparsity == pytest.approx(0.99)
    assert masks["b"].sparsity == pytest.approx(0.2)
    assert sparsity_of(_weights(layers)) == pytest.approx(0.595)


def _random_scores(masks, seed=0):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for i, p in enumerate(masks.values()):
            # matrices on different scales, as learned scores are
            p.scores.copy_(torch.randn(p.scores.shape, generator=g) * (1 + i))


def test_hard_movement_gives_every_matrix_the_target_and_spares_head_and_pooler(tiny_bert):
    targets = prunable_linears(tiny_bert)
    masks = attach_masks(targets, "movement", "hard")
    _random_scores(masks)
    update_masks(masks, targets, "movement", 0.9, "layer")
    for name, module in targets.items():
        assert sparsity_of([module.weight.detach()]) == pytest.approx(0.9, abs=1e-3), name
    masked = {name for name, _, _ in masked_modules(tiny_bert)}
    assert masked == set(targets)
    assert not any("classifier" in n or "pooler" in n or "embeddings" in n for n in masked)
    assert tiny_bert.classifier.weight.count_nonzero() == tiny_bert.classifier.weight.numel()


def test_soft_movement_meets_the_target_within_one_point(tiny_bert):
    targets = prunable_linears(tiny_bert)
    masks = attach_masks(targets, "movement", "soft")
    _random_scores(masks, seed=3)
    for target in (0.5, 0.9, 0.97):
        update_masks(masks, targets, "movement", target, "global")
        assert sparsity_of(_weights(targets)) == pytest.approx(target, abs=0.01)
    per_matrix = [sparsity_of([m.weight.detach()]) for m in targets.values()]
    assert max(per_matrix) - min(per_matrix) > 0.05  # one threshold: uneven per matrix
    assert max(per_matrix) < 1.0


def test_nm_masks_follow_the_pattern(tiny_bert):
    targets = prunable_linears(tiny_bert)
    masks = attach_masks(targets, "nm")
    update_masks(masks, targets, "nm", 0.5, "layer", 2, 4)
    assert all(is_nm_sparse(w, 2, 4) for w in _weights(targets))
    assert sparsity_of(_weights(targets)) == pytest.approx(0.5)

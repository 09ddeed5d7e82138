import pytest
import torch

from nlpcompress.prune.masks import is_nm_sparse, magnitude_masks, nm_mask, sparsity_of, topk_mask


def test_topk_mask_keeps_largest_scores():
    scores = torch.tensor([[0.1, -5.0, 3.0], [2.0, 0.0, -1.0]]).abs()
    mask = topk_mask(scores, 0.5)
    assert mask.tolist() == [[0.0, 1.0, 1.0], [1.0, 0.0, 0.0]]


@pytest.mark.parametrize("sparsity", [0.0, 0.3, 0.5, 0.9, 0.97])
def test_layer_scope_hits_target_in_every_tensor(sparsity):
    g = torch.Generator().manual_seed(0)
    weights = {"a": torch.randn(37, 19, generator=g), "b": torch.randn(64, 8, generator=g) * 10}
    masks = magnitude_masks(weights, sparsity, scope="layer")
    for name, w in weights.items():
        expected = round(sparsity * w.numel())
        assert int((masks[name] == 0).sum()) == expected
        # magnitude: every kept |w| >= every pruned |w|
        kept, pruned = w.abs()[masks[name] == 1], w.abs()[masks[name] == 0]
        if kept.numel() and pruned.numel():
            assert kept.min() >= pruned.max()


@pytest.mark.parametrize("sparsity", [0.5, 0.9])
def test_global_scope_hits_target_over_the_union(sparsity):
    g = torch.Generator().manual_seed(0)
    weights = {
        "small": torch.randn(40, 40, generator=g) * 0.01,
        "large": torch.randn(40, 40, generator=g),
    }
    masks = magnitude_masks(weights, sparsity, scope="global")
    pruned = {n: w * masks[n] for n, w in weights.items()}
    assert sparsity_of(pruned) == pytest.approx(sparsity, abs=1 / 3200)
    # one threshold: the small-scale tensor is pruned harder than the large one
    assert sparsity_of([pruned["small"]]) > sparsity_of([pruned["large"]])
    threshold = max(w.abs()[masks[n] == 0].max() for n, w in weights.items())
    kept = torch.cat([w.abs()[masks[n] == 1] for n, w in weights.items()])
    assert kept.min() >= threshold


def test_global_scope_with_ties_still_exact():
    weights = {"a": torch.ones(10, 10), "b": torch.ones(5, 4)}
    masks = magnitude_masks(weights, 0.25, scope="global")
    assert sum(int((m == 0).sum()) for m in masks.values()) == 30


def test_nm_mask_2_of_4():
    w = torch.tensor([[1.0, -4.0, 2.0, 0.5, 9.0, 8.0, -7.0, 6.0]])
    mask = nm_mask(w, 2, 4)
    assert mask.tolist() == [[0.0, 1.0, 1.0, 0.0, 1.0, 1.0, 0.0, 0.0]]
    big = torch.randn(16, 32)
    m = nm_mask(big, 2, 4)
    assert is_nm_sparse(big * m, 2, 4)
    assert sparsity_of([big * m]) == pytest.approx(0.5)


def test_nm_mask_refuses_bad_patterns():
    with pytest.raises(ValueError):
        nm_mask(torch.randn(4, 8), 4, 4)
    with pytest.raises(ValueError):
        nm_mask(torch.randn(4, 6), 2, 4)

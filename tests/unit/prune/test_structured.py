import copy

import pytest
import torch
from torch import nn

from nlpcompress.prune.structured import (
    head_importance,
    layer_shapes,
    mask_heads_and_neurons,
    neuron_importance,
    remove_heads,
    remove_neurons,
    select_units,
    taylor_gradients,
)


def _logits(model, batch):
    return model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits


def _loss(model, batch):
    return nn.functional.cross_entropy(_logits(model, batch), batch["labels"])


def test_removal_matches_masking_the_removed_units(tiny_bert, tiny_batch):
    heads = [[0, 2], [3]]
    neurons = [list(range(0, 64, 2)), [5, 6, 7]]
    masked = mask_heads_and_neurons(copy.deepcopy(tiny_bert), heads, neurons)
    pruned = remove_neurons(remove_heads(copy.deepcopy(tiny_bert), heads), neurons)
    assert layer_shapes(pruned) == ([2, 3], [32, 61])
    assert pruned.bert.encoder.layer[0].attention.self.query.out_features == 16
    assert pruned.bert.encoder.layer[0].attention.output.dense.in_features == 16
    torch.testing.assert_close(
        _logits(pruned, tiny_batch), _logits(masked, tiny_batch), atol=1e-5, rtol=1e-5
    )
    # and it is a real change, not a no-op
    assert not torch.allclose(
        _logits(pruned, tiny_batch), _logits(tiny_bert, tiny_batch), atol=1e-4
    )
    assert sum(p.numel() for p in pruned.parameters()) < sum(
        p.numel() for p in tiny_bert.parameters()
    )


def test_remove_every_head_is_refused(tiny_bert):
    with pytest.raises(ValueError):
        remove_heads(tiny_bert, [[0, 1, 2, 3], []])


def test_norm_importance_formula(tiny_bert):
    layer = tiny_bert.bert.encoder.layer[1]
    att, d = layer.attention.self, 8
    h = 2
    rows = slice(h * d, (h + 1) * d)
    expected = torch.sqrt(
        sum(lin.weight[rows].pow(2).sum() for lin in (att.query, att.key, att.value))
        + layer.attention.output.dense.weight[:, rows].pow(2).sum()
    )
    torch.testing.assert_close(head_importance(tiny_bert, "norm")[1][h], expected.detach())
    j = 7
    expected_n = torch.sqrt(
        layer.intermediate.dense.weight[j].pow(2).sum()
        + layer.output.dense.weight[:, j].pow(2).sum()
    )
    torch.testing.assert_close(neuron_importance(tiny_bert, "norm")[1][j], expected_n.detach())


def test_taylor_importance_formula(tiny_bert, tiny_batch):
    grads = taylor_gradients(tiny_bert, [tiny_batch], _loss)
    tiny_bert.zero_grad()
    _loss(tiny_bert, tiny_batch).backward()
    layer = tiny_bert.bert.encoder.layer[0]
    j = 3
    expected = (
        layer.intermediate.dense.weight[j] * layer.intermediate.dense.weight.grad[j]
    ).abs().sum() + (
        layer.output.dense.weight[:, j] * layer.output.dense.weight.grad[:, j]
    ).abs().sum()
    torch.testing.assert_close(
        neuron_importance(tiny_bert, "taylor", grads)[0][j], expected.detach()
    )
    assert all(t.shape == (4,) for t in head_importance(tiny_bert, "taylor", grads))


def test_select_units_layer_and_global():
    imp = [torch.tensor([3.0, 1.0, 2.0, 4.0]), torch.tensor([0.5, 0.6, 9.0, 0.7])]
    assert select_units(imp, 0.5, "layer") == [[1, 2], [0, 1]]
    # global: 4 lowest of 8 are 0.5, 0.6, 0.7, 1.0
    assert select_units(imp, 0.5, "global") == [[1], [0, 1, 3]]
    # global never empties a layer: layer 1's best (0.2) is protected, so 5.0 goes instead
    low = [torch.tensor([5.0, 6.0]), torch.tensor([0.1, 0.2])]
    assert select_units(low, 0.5, "global") == [[0], [0]]
    with pytest.raises(ValueError):
        select_units(imp, 1.0, "layer")

import math

import pytest
import torch

from nlpcompress.prune.collapse import layer_token_cosines, token_cosine


def test_token_cosine_of_one_direction_is_one_and_of_orthogonal_tokens_zero():
    mask = torch.ones(1, 4)
    same = torch.tensor([[1.0, 2.0, 0.0]]).expand(4, 3) * torch.tensor([[1.0], [2.0], [3.0], [0.5]])
    assert token_cosine(same[None], mask) == pytest.approx(1.0)
    assert token_cosine(torch.eye(4)[None], mask) == pytest.approx(0.0, abs=1e-12)


def test_token_cosine_is_the_mean_over_distinct_pairs_and_skips_padding():
    # real tokens (1, 0), (0, 1), (1, 1): cosines 0, 1/sqrt(2), 1/sqrt(2) over 3 pairs
    hidden = torch.tensor(
        [[[1.0, 0.0], [0.0, 1.0], [9.0, -9.0]], [[1.0, 1.0], [5.0, 5.0], [0.0, 0.0]]]
    )
    mask = torch.tensor([[1, 1, 0], [1, 0, 0]])
    assert token_cosine(hidden, mask) == pytest.approx(2 / math.sqrt(2) / 3)
    # brute force over the same tokens
    tokens = hidden[mask.bool()]
    units = torch.nn.functional.normalize(tokens, dim=-1)
    cos = units @ units.T
    assert token_cosine(hidden, mask) == pytest.approx(float((cos.sum() - 3) / 6))
    assert math.isnan(token_cosine(hidden, torch.tensor([[1, 0, 0], [0, 0, 0]])))


def test_layer_token_cosines_gives_one_value_per_hidden_state(tiny_bert, tiny_batch):
    tiny_bert.train()
    values = layer_token_cosines(tiny_bert, tiny_batch)
    assert len(values) == tiny_bert.config.num_hidden_layers + 1
    assert all(-1.0 <= v <= 1.0 for v in values)
    assert tiny_bert.training  # the mode is given back

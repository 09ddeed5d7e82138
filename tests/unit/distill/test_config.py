"""Bad distillation configs fail before any work, with one line naming key, value, allowed."""

from __future__ import annotations

import pytest

from nlpcompress.cli import run_config
from nlpcompress.config.errors import ConfigError
from nlpcompress.distill.config import DistillConfig, PairConfig

BASE = ["method=distill", "data=tiny"]


def test_pairs_compose_with_their_teacher(compose_cfg):
    cfg = run_config(compose_cfg([*BASE, "pair=minilm6_to_minilm3"]))
    pair, distill = cfg.section("pair"), cfg.section("distill")
    assert isinstance(pair, PairConfig) and isinstance(distill, DistillConfig)
    assert cfg.model.name == pair.teacher == "minilm_l6"
    assert pair.student.layers == [0, 2, 4]
    cfg = run_config(compose_cfg([*BASE, "pair=bert_base_to_distilbert"]))
    assert cfg.model.name == "bert-base-uncased"
    cfg = run_config(compose_cfg([*BASE, "pair=minilm6_to_tiny", "distill=intermediate"]))
    assert cfg.section("pair").student.model.hidden_size == 192


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        (["distill.temperature=0"], "distill.temperature"),
        (["distill.temperature=-2"], "distill.temperature"),
        (["distill.alpha=1.5"], "distill.alpha"),
        (["distill.alpha=-0.1"], "distill.alpha"),
        (["distill.hidden_weight=-1"], "distill.hidden_weight"),
        (["distill.attention_loss=cosine"], "distill.attention_loss"),
        (["pair.student.layers=[0,2,6]"], "pair.student.layers"),
        (["distill=intermediate", "pair.layer_map=[1,3,6]"], "pair.layer_map"),
        (["distill=intermediate", "pair.layer_map=[1,3]"], "pair.layer_map"),
        (
            ["pair=minilm6_to_tiny", "distill=intermediate", "pair.student.model.num_layers=7"],
            "distill.layer_map",
        ),
        (
            [
                "pair=minilm6_to_tiny",
                "distill=intermediate",
                "pair.student.tokenizer=bert-base-uncased",
            ],
            "pair.student.tokenizer",
        ),
        (
            ["pair=minilm6_to_tiny", "pair.student.tokenizer=bert-base-uncased"],
            "pair.student.tokenizer",
        ),
        (["pair=minilm6_to_bilstm", "distill=intermediate"], "distill.hidden_weight"),
        (
            ["pair=minilm6_to_bilstm", "pair.student.embedding_dim=300"],
            "pair.student.embedding_dim",
        ),
        (["pair=minilm6_to_minilm3", "model=tiny_bert"], "pair.teacher"),
        (["pair.student.kind=mlp"], "pair.student.kind"),
    ],
)
def test_bad_distill_configs_are_refused(compose_cfg, overrides, key):
    raw = compose_cfg([*BASE, *overrides])
    with pytest.raises(ConfigError) as info:
        run_config(raw)
    message = str(info.value)
    assert message.startswith(f"invalid config: {key}="), message
    assert "allowed:" in message and "\n" not in message


def test_teacher_with_other_labels_is_refused(teacher):
    from nlpcompress.methods.distill import check_teacher_labels

    check_teacher_labels(teacher, 2)
    with pytest.raises(ConfigError, match="pair.teacher=2.*3 labels"):
        check_teacher_labels(teacher, 3)

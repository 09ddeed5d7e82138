"""Hydra's failed overrides, refused in the project's words (config/overrides.py)."""

from __future__ import annotations

import pytest
from hydra import compose, initialize_config_dir
from hydra.errors import ConfigCompositionException

import nlpcompress.methods.registry  # noqa: F401  (registers the method sections, as the CLI does)
from nlpcompress.config.overrides import groups_by_method, override_refusal
from tests.conftest import ROOT

CONF = ROOT / "conf"


def _composition_error(overrides: list[str]) -> ConfigCompositionException:
    with (
        initialize_config_dir(str(CONF), version_base="1.3"),
        pytest.raises(ConfigCompositionException) as caught,
    ):
        compose("config", overrides=overrides)
    return caught.value


def test_method_groups_come_from_the_method_presets():
    groups = groups_by_method(CONF)
    assert groups["ptq"] == {"quant"}
    assert groups["prune"] == {"prune"}
    assert groups["distill"] == {"distill", "pair"}
    assert groups["pipeline"] == {"distill", "pair", "prune", "quant"}
    assert groups["baseline"] == set()


def test_a_knob_of_a_group_the_method_lacks_names_the_methods_that_read_it():
    refusal = override_refusal(_composition_error(["quant.bits=0"]), CONF)
    assert refusal is not None
    assert (refusal.key, refusal.value) == ("quant.bits", 0)
    assert "method=ptq, method=qat" in refusal.allowed
    assert refusal.allowed.endswith("add e.g. method=ptq")
    refusal = override_refusal(_composition_error(["pair.teacher=x"]), CONF)
    assert refusal.allowed.endswith("add e.g. method=distill")


def test_a_typo_lists_the_keys_of_its_section():
    refusal = override_refusal(_composition_error(["trainer.learnin_rate=1e-4"]), CONF)
    assert (refusal.key, refusal.value) == ("trainer.learnin_rate", 1e-4)
    assert refusal.allowed.startswith(
        "a key that trainer has: max_epochs, max_steps, learning_rate"
    )


def test_other_composition_errors_are_left_to_hydra():
    assert override_refusal(_composition_error(["method=nope"]), CONF) is None


def test_a_schema_knob_the_preset_leaves_out_is_added_with_a_plus():
    refusal = override_refusal(_composition_error(["data.max_train_samples=8000"]), CONF)
    assert refusal.allowed.startswith("+data.max_train_samples=8000 (")


def test_a_nested_knob_of_a_selected_group_is_not_blamed_on_the_method():
    refusal = override_refusal(
        _composition_error(["method=distill", "pair.student.embedding_init=teacher_pca"]), CONF
    )
    assert refusal.allowed.startswith("+pair.student.embedding_init=teacher_pca (")
    refusal = override_refusal(_composition_error(["method=distill", "pair.studnt=x"]), CONF)
    assert refusal.allowed.startswith("a key that pair has: name, teacher, student")

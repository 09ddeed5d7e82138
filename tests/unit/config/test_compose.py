"""Every option of every config group composes and validates; invalid values are refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from nlpcompress.cli import run_config
from nlpcompress.config.errors import ConfigError, ModelLoadError
from tests.conftest import CONF

SKIP_GROUPS = {"hydra"}


def all_options() -> list[tuple[str, str]]:
    options = []
    for group in sorted(p for p in CONF.iterdir() if p.is_dir() and p.name not in SKIP_GROUPS):
        for yaml in sorted(group.glob("*.yaml")):
            options.append((group.name, yaml.stem))
    return options


def method_pulling(group: str) -> str | None:
    """A method whose config pulls ``group`` into the defaults (sections are not top-level)."""
    for yaml in sorted((CONF / "method").glob("*.yaml")):
        if f"/{group}:" in yaml.read_text():
            return yaml.stem
    return None


def overrides_for(group: str, option: str) -> list[str]:
    top_level = (CONF / "config.yaml").read_text()
    extra = (
        []
        if f"- {group}:" in top_level or group == "method"
        else [f"method={method_pulling(group)}"]
    )
    if (group, option) == ("data", "local"):
        extra.append("data.path=/tmp/x")
    return [*extra, f"{group}={option}"]


@pytest.mark.parametrize(("group", "option"), all_options())
def test_every_option_composes_and_validates(compose_cfg, group, option):
    raw = compose_cfg(overrides_for(group, option))
    try:
        cfg = run_config(raw)
    except ModelLoadError as err:
        # Hub presets validate against the model's config, which needs the hub: offline they
        # must say so clearly (they do run where a hub is reachable).
        assert raw["model"]["source"] == "hub" or raw.get("pair"), err
        assert "could not load" in str(err)
        return
    assert cfg.method.name


def test_core_groups_exist():
    for group in (
        "data",
        "model",
        "method",
        "trainer",
        "logger",
        "paths",
        "hydra",
        "experiment",
        "debug",
    ):
        assert (CONF / group).is_dir(), group


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("data.max_length=-3", "data.max_length"),
        ("data.batch_size=0", "data.batch_size"),
        ("data.tiny_size=3", "data.tiny_size"),
        ("+data.colour=red", "data.colour"),
        ("data.max_length=abc", "data.max_length"),
        ("trainer.learning_rate=3", "trainer.learning_rate"),
        ("trainer.max_epochs=0", "trainer.max_epochs"),
        ("trainer.precision=fp8", "trainer.precision"),
        ("model.num_heads=5", "model.num_heads"),
        ("model.dropout=1.5", "model.dropout"),
        ("measure.threads=0", "measure.threads"),
        ("deploy.backend=tensorrt", "deploy.backend"),
        ("deploy=auto deploy.candidates=[torch,tensorrt]", "deploy.candidates[1]"),
        ("deploy=auto deploy.candidates=[]", "deploy.candidates"),
        ("deploy=auto deploy.max_acc_drop=-1", "deploy.max_acc_drop"),
        ("method.name=nonsense", "method.name"),
        ("seed=abc", "seed"),
        ("+surprise=1", "surprise"),
    ],
)
def test_invalid_values_are_refused_naming_the_key(compose_cfg, override, key):
    raw = compose_cfg(["model=tiny_bert", "data=tiny", *override.split(" ")])
    with pytest.raises(ConfigError) as info:
        run_config(raw)
    message = str(info.value)
    assert message.startswith(f"invalid config: {key}=")
    assert "allowed:" in message
    assert "\n" not in message


def test_config_hash_ignores_paths_but_not_seed(compose_cfg):
    a = run_config(compose_cfg(["model=tiny_bert", "data=tiny"]))
    b = run_config(compose_cfg(["model=tiny_bert", "data=tiny", "paths.output_dir=/elsewhere"]))
    c = run_config(compose_cfg(["model=tiny_bert", "data=tiny", "seed=7"]))
    assert a.config_hash() == b.config_hash() != c.config_hash()


@pytest.mark.parametrize(
    "override",
    [
        "paths.output_dir=/elsewhere",
        "logger.experiment_name=other",
        "resume=false",
        "task_name=other",
        "objective=test/f1",
        "objective_max_acc_drop=1.5",
        "trainer.enable_progress_bar=false",
    ],
)
def test_the_hash_and_the_report_leave_out_the_same_keys(compose_cfg, override):
    """One list (config.hashing.RESULT_NEUTRAL_KEYS) for RunConfig.config_hash and the report."""
    from nlpcompress.report.runs import config_group
    from nlpcompress.tracking.run import flatten

    a = run_config(compose_cfg(["model=tiny_bert", "data=tiny"]))
    b = run_config(compose_cfg(["model=tiny_bert", "data=tiny", override]))
    assert a.config_hash() == b.config_hash()
    params = [{k: str(v) for k, v in flatten(c.to_dict()).items()} for c in (a, b)]
    assert params[0] != params[1]
    assert config_group(params[0]) == config_group(params[1])


def test_a_spec_for_another_method_is_refused(compose_cfg):
    from nlpcompress.config.run import build_run_config
    from nlpcompress.methods.registry import method_spec

    with pytest.raises(ConfigError, match=r"method\.name='baseline'; allowed: 'ptq'"):
        build_run_config(compose_cfg(["model=tiny_bert", "data=tiny"]), method_spec("ptq"))


def test_conf_dir_is_the_repo_conf():
    from nlpcompress.cli import CONF_DIR

    assert Path(CONF_DIR) == CONF

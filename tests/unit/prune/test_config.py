"""Bad pruning configs fail in validation, before any work, naming the key."""

import pytest

from nlpcompress.cli import run_config
from nlpcompress.config.errors import ConfigError
from nlpcompress.prune.config import PruneConfig

TINY = ["model=tiny_bert", "data=tiny", "debug=fast", "method=prune"]


def test_presets_compose(compose_cfg):
    for preset in ("magnitude", "movement", "structured", "nm"):
        cfg = run_config(compose_cfg([*TINY, f"prune={preset}"]))
        section = cfg.section("prune")
        assert isinstance(section, PruneConfig) and section.kind == preset


@pytest.mark.parametrize(
    "overrides,key",
    [
        (["prune.sparsity=1.0"], "prune.sparsity"),
        (["prune.sparsity=-0.1"], "prune.sparsity"),
        (["prune=nm", "prune.n=4", "prune.m=4"], "prune.n"),
        (["prune=nm", "prune.n=5", "prune.m=4"], "prune.n"),
        (["prune.start_step=5", "prune.end_step=3"], "prune.end_step"),
        (["prune.end_step=50"], "prune.end_step"),  # debug=fast trains 20 steps
        (
            ["prune=structured", "prune.heads_fraction=0.9"],
            "prune.heads_fraction",
        ),  # 4 heads: all would go
        (["prune=structured", "prune.heads_fraction=1.0"], "prune.heads_fraction"),
        (["prune.scope=row"], "prune.scope"),
        (["prune=movement", "prune.schedule=one_shot"], "prune.schedule"),
        (["prune.kind=lottery"], "prune.kind"),
    ],
)
def test_bad_input_is_refused(compose_cfg, overrides, key):
    with pytest.raises(ConfigError) as err:
        run_config(compose_cfg([*TINY, *overrides]))
    assert err.value.key == key


def test_run_name_part():
    assert PruneConfig(sparsity=0.9).describe() == "magnitude-s0.9"
    assert PruneConfig(kind="structured").describe() == "structured-h0.5-f0.5"


@pytest.mark.parametrize(
    "experiment,kind",
    [("prune_structured_minilm", "structured"), ("prune_sparse_minilm", "magnitude")],
)
def test_experiments_compose(compose_cfg, experiment, kind):
    cfg = run_config(compose_cfg([f"experiment={experiment}"]))
    assert (cfg.model.name, cfg.data.name, cfg.method.name) == (
        "minilm_l6",
        "rotten_tomatoes",
        "prune",
    )
    assert cfg.section("prune").kind == kind

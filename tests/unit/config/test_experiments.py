"""Every preset in ``conf/experiment`` composes and validates, for every job of its own sweep."""

import itertools
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from nlpcompress.cli import run_config
from nlpcompress.config.errors import ModelLoadError

CONF = Path(__file__).resolve().parents[3] / "conf"
PRESETS = sorted(p.stem for p in (CONF / "experiment").glob("*.yaml"))


def sweep_jobs(preset: str) -> list[list[str]]:
    """The override lists of the preset's ``hydra.sweeper.params`` grid (seeds left out)."""
    raw = OmegaConf.load(CONF / "experiment" / f"{preset}.yaml")
    params = OmegaConf.select(raw, "hydra.sweeper.params", default=None)
    params = OmegaConf.to_container(params, resolve=False) if params is not None else {}
    axes = [
        [f"{key}={value}" for value in str(values).split(",")]
        for key, values in params.items()
        if key != "seed"
    ]
    return [list(combo) for combo in itertools.product(*axes)]


def test_presets_found():
    assert {
        "q8bert_sst2_cpu",
        "binarybert_cpu",
        "movement_pruning_cpu",
        "binary_qat_minilm",
    } <= set(PRESETS)


def test_sweep_jobs_expand_the_grid():
    assert sweep_jobs("movement_pruning_cpu") == [
        [f"prune={p}"] for p in ("magnitude", "movement", "movement_soft")
    ]


@pytest.mark.parametrize("preset", PRESETS)
def test_preset_validates(compose_cfg, preset):
    """Offline, a hub preset (BERT-base) may only stop at its model, with the offline hint."""
    for job in sweep_jobs(preset):
        raw = compose_cfg([f"experiment={preset}", *job])
        try:
            cfg = run_config(raw)
        except ModelLoadError as err:
            assert "offline preset" in str(err), err
            assert raw["model"]["name"] not in ("minilm_l6", "tiny_bert"), err
            continue
        assert cfg.method.name == raw["method"]["name"]


def test_unknown_pipeline_stage_is_reported_under_stages(compose_cfg):
    from nlpcompress.config.errors import ConfigError

    raw = compose_cfg(
        ["model=tiny_bert", "data=tiny", "method=pipeline", "pipeline.stages=[distill,foo]"]
    )
    with pytest.raises(ConfigError, match=r"pipeline.stages='foo'; allowed: compression methods"):
        run_config(raw)


def test_the_compact_preset_runs_unchanged_on_a_local_file(compose_cfg, tmp_path):
    """Issue 12: the headline preset takes any labelled file through data=local."""
    data = tmp_path / "reviews.csv"
    data.write_text("text,label\ngood film,pos\nbad film,neg\n", encoding="utf-8")
    cfg = run_config(compose_cfg(["experiment=compact_minilm", "data=local", f"data.path={data}"]))
    assert cfg.method.name == "pipeline" and cfg.deploy.backend == "auto"
    assert cfg.data.name == "local"
    assert list(cfg.measure.seq_lengths) == [16, 64, 128, 256]


def test_the_binarybert_comparison_rows_validate(compose_cfg):
    """The rows the BinaryBERT preset's header runs into the same experiment."""
    qat = run_config(
        compose_cfg(
            [
                "experiment=binarybert_cpu",
                "quant=binary",
                "method.distill=false",
                "method.ternary_max_steps=0",
            ]
        )
    )
    assert qat.section("quant").form == "binary" and not qat.method.distill
    drop = ["~method.learning_rate", "~method.max_epochs", "~method.distill"]
    ptq = run_config(
        compose_cfg(
            [
                "experiment=binarybert_cpu",
                "quant=binary",
                "method=ptq",
                *drop,
                "~method.ternary_max_steps",
            ]
        )
    )
    assert ptq.method.name == "ptq"
    tws = run_config(compose_cfg(["experiment=binarybert_cpu"]))
    assert tws.section("quant").form == "split_binary" and tws.method.ternary_max_steps > 0


@pytest.mark.parametrize(
    "override, named",
    [("quant=binary", "quant.form=binary"), ("method=mixed_precision", "method=mixed_precision")],
)
def test_a_ternary_stage_needs_qat_of_split_binary_weights(compose_cfg, override, named):
    from nlpcompress.config.errors import ConfigError

    with pytest.raises(ConfigError, match=rf"method.ternary_max_steps=1000; allowed: .*{named}"):
        run_config(compose_cfg(["experiment=binarybert_cpu", override]))


def test_the_movement_gpu_command_cuts_at_the_authors_rate(compose_cfg):
    """The movement preset's header command for a GPU: full SST-2 (67,349 sentences, batch 32),
    30 epochs; its cubic schedule peaks near the authors' 0.007% of the kept weights a step,
    where the CPU preset peaks at 2.6%."""
    from nlpcompress.methods.prune import make_schedule

    base = ["experiment=movement_pruning_cpu", "prune=movement"]
    gpu = run_config(
        compose_cfg(
            [
                *base,
                "trainer=gpu",
                "data.max_train_samples=null",
                "+prune.epochs=30",
                "prune.start_fraction=0.1",
                "prune.end_fraction=0.8",
                "trainer.learning_rate=3e-5",
            ]
        )
    )
    p = gpu.section("prune")
    assert p.epochs == 30 and gpu.data.max_train_samples is None
    steps_per_epoch = -(-67349 // gpu.data.batch_size)  # ceil
    peak = make_schedule(p, steps_per_epoch * p.epochs).peak_cut_rate()
    assert 0.00005 < peak < 0.0001
    cpu = run_config(compose_cfg(base))
    cpu_steps = -(-8000 // cpu.data.batch_size) * cpu.trainer.max_epochs
    assert make_schedule(cpu.section("prune"), cpu_steps).peak_cut_rate() > 0.02

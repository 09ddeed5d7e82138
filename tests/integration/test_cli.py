"""End to end through the real CLI on tiny models, MLflow under tmp_path."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from tests.conftest import ROOT, TINY

pytestmark = pytest.mark.integration
# Target 2 s (issue 13). Measured 1.4-2.3 s on the 2-core reference machine under a load of 4,
# of which Hydra's own start (it composes the config twice) is about 1.4 s. The bound leaves
# room for a busy machine yet fails on any heavy import before the check (torch alone
# adds about 3 s there, the whole stack 15 s).
REFUSAL_BOUND_S = 4.0
HEAVY = ("torch", "lightning", "transformers", "mlflow", "datasets")


def test_baseline_run_logs_metrics_tags_and_artifacts(run_cli, tmp_path):
    res = run_cli(
        [*TINY, "method=baseline"], cache_dir=tmp_path / "fresh-cache"
    )  # so it fine-tunes
    assert res.returncode == 0, res.stderr[-3000:]
    (run,) = res.runs
    assert run.info.status == "FINISHED"
    m = run.data.metrics
    for key in (
        "val/acc",
        "test/acc",
        "val/f1",
        "test/f1",
        "size/bytes",
        "size/params",
        "size/ratio_vs_fp32",
        "speed/latency_ms_p50",
        "speed/latency_ms_p90",
        "speed/throughput",
        "speed/speedup_vs_fp32",
        "resources/peak_rss_mb",
        "test/acc_drop_vs_fp32",
        "data/tokens_p50",
        "data/tokens_p95",
        "data/tokens_max",
    ):
        assert key in m, key
    # data=tiny is a keyword rule: debug=fast's 20 steps learn it (1.00 on seeds 0-5)
    assert m["fp32/test/acc"] >= 0.90 and m["test/acc"] >= 0.90
    assert 0 < m["data/tokens_p50"] <= m["data/tokens_p95"] <= m["data/tokens_max"]
    assert not [k for k in m if "_seq" in k]  # measure.seq_lengths is empty by default
    assert m["size/ratio_vs_fp32"] == pytest.approx(1.0)
    assert m["size/avg_bits"] == pytest.approx(32.0, rel=1e-3)
    assert run.data.tags["materialized"] == "true"
    assert run.data.tags["method"] == "baseline"
    assert run.info.run_name == "baseline"
    # Lightning's curve of the baseline fine-tune landed in the same run, under baseline/, so
    # it never shares steps with a method's own train/loss; and its seconds per step
    assert "baseline/train/loss" in m and "train/loss" not in m
    assert m["baseline/time/train_step_s"] > 0
    from mlflow.tracking import MlflowClient

    client = MlflowClient(res.tracking_uri)
    names = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"config.yaml", "layers.csv", "model"} <= names
    model_files = {a.path for a in client.list_artifacts(run.info.run_id, "model")}
    assert model_files == {"model/model.safetensors", "model/model.json"}
    _assert_console_is_single_copy(res)


def _assert_console_is_single_copy(res) -> None:
    """Each Lightning line once (through Hydra's handler, on stdout), no dataset-saving bars."""
    lightning = [
        line.split("] - ", 1)[1]
        for line in res.stdout.splitlines()
        if "][lightning." in line and "] - " in line
    ]
    assert "Seed set to 42" in lightning and any("Trainer.fit` stopped" in x for x in lightning)
    assert len(lightning) == len(set(lightning)), lightning
    # Lightning's own console handler prints "INFO: <message>" on stderr: not a second copy
    assert not [line for line in res.stderr.splitlines() if line.startswith("INFO: ")]
    assert "GPU available" not in res.stdout + res.stderr  # known noise stays filtered
    assert "Saving the dataset" not in res.stdout + res.stderr


def test_deploy_auto_and_seq_lengths_time_every_form_side_by_side(run_cli):
    """One run for two features (each CLI run costs seconds of imports): deploy=auto measures
    its candidates and deploys one, and measure.seq_lengths times it and fp32 at each length."""
    res = run_cli([*TINY, "method=baseline", "deploy=auto", "measure.seq_lengths=[8,16,4096]"])
    assert res.returncode == 0, res.stderr[-3000:]
    (run,) = res.runs
    m, tags = run.data.metrics, run.data.tags
    for length in (8, 16):
        assert m[f"speed/latency_ms_p50_seq{length}"] > 0
        assert m[f"speed/fp32_latency_ms_p50_seq{length}"] > 0
    assert "speed/latency_ms_p50_seq4096" not in m  # beyond tiny_bert's 512 positions: skipped
    from nlpcompress.export.candidates import openvino_installed

    assert openvino_installed()  # `make install` installs the .[openvino] extra
    candidates = ["torch", "torch_int8", "onnxruntime", "onnxruntime_int8", "openvino"]
    assert tags["deploy_candidates"] == ",".join(candidates)
    assert tags["deploy_backend"] in candidates
    assert m["deploy/candidates"] == 5.0
    assert m["deploy/openvino/latency_ms_p50"] > 0
    chosen = tags["deploy_backend"]
    best = max(m[f"deploy/{c}/val_acc"] for c in candidates)
    assert m[f"deploy/{chosen}/val_acc"] >= best - 0.3
    # the choice is the fastest of those within 0.3 points of the best
    eligible = [c for c in candidates if m[f"deploy/{c}/val_acc"] >= best - 0.3]
    assert chosen == min(eligible, key=lambda c: m[f"deploy/{c}/latency_ms_p50"])
    from mlflow.tracking import MlflowClient

    names = {a.path for a in MlflowClient(res.tracking_uri).list_artifacts(run.info.run_id)}
    assert "deploy_candidates.csv" in names


def test_bad_config_fails_before_work_with_one_line(run_cli):
    res = run_cli([*TINY, "data.max_length=-3"])
    assert res.returncode == 2
    assert "data.max_length=-3" in res.stderr and "allowed" in res.stderr
    assert not [r for r in res.runs if r.info.status == "FINISHED"]


@pytest.mark.parametrize("launcher", ["basic", "joblib"])
def test_multirun_failed_job_is_recorded_and_others_finish(run_cli, launcher):
    extra = ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2"] if launcher == "joblib" else []
    res = run_cli(
        [
            *TINY,
            "method=baseline",
            "measure.enabled=false",
            "data.path=null,/nonexistent/reviews.csv",
            *extra,
        ],
        multirun=True,
    )
    statuses = sorted(r.info.status for r in res.runs)
    assert statuses == ["FAILED", "FINISHED"], res.stderr[-3000:]
    failed = next(r for r in res.runs if r.info.status == "FAILED")
    assert "/nonexistent/reviews.csv" in failed.data.tags["error"]
    assert "neither a file nor a folder" in failed.data.tags["error"]


def test_multirun_resume_skips_finished_jobs(run_cli):
    args = [*TINY, "method=baseline", "measure.enabled=false", "seed=1,2"]
    first = run_cli(args, multirun=True)
    assert [r.info.status for r in first.runs] == ["FINISHED", "FINISHED"], first.stderr[-2000:]
    again = run_cli(args, multirun=True)
    assert len(again.runs) == 2
    assert "skipping" in again.stderr + again.stdout
    forced = run_cli([*args, "resume=false"], multirun=True)
    assert len(forced.runs) == 4


def _refuse(
    overrides: list[str], tmp_path, *flags: str
) -> tuple[subprocess.CompletedProcess, float]:
    env = {**os.environ, "TOKENIZERS_PARALLELISM": "false"}
    env.pop("MLFLOW_TRACKING_URI", None)
    args = [sys.executable, *flags, "-m", "nlpcompress", f"paths.root_dir={tmp_path}", *overrides]
    start = time.perf_counter()
    done = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=120, env=env)
    return done, time.perf_counter() - start


@pytest.mark.parametrize(
    ("overrides", "allowed"),
    [
        (["method=ptq", "quant.bits=0"], "an integer in 2..8"),
        # the default method=baseline has no quant group: Hydra itself fails the override
        (["quant.bits=0"], "quant.* only with a method that has a 'quant' section"),
    ],
)
def test_a_bad_value_is_refused_within_seconds_before_any_heavy_import(
    tmp_path, overrides, allowed
):
    times = []
    for _ in range(3):  # the best of three: one slow start on a busy machine is not the code
        done, seconds = _refuse(overrides, tmp_path)
        times.append(seconds)
        assert done.returncode == 2, done.stderr[-2000:]
        (line,) = done.stderr.strip().splitlines()
        assert line.startswith("nlpcompress: invalid config: quant.bits=0; allowed: ")
        assert allowed in line
        if seconds <= 2.0:
            break
    print(f"refusal wall time: {', '.join(f'{t:.2f}' for t in times)} s")
    assert min(times) <= REFUSAL_BOUND_S, times
    done, _ = _refuse(overrides, tmp_path, "-X", "importtime")
    loaded = {line.split("|")[-1].strip() for line in done.stderr.splitlines() if "|" in line}
    assert not [m for m in loaded if m.split(".")[0] in HEAVY]


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("data.max_length=100000", ["data.max_length=100000", "8..512", "512 positions"]),
        ("measure.seq_length=4096", ["measure.seq_length=4096", "512 positions"]),
        ("logger.tracking_uri=garbage", ["logger.tracking_uri='garbage'", "sqlite:///", "http"]),
        ("logger.tracking_uri=file:///tmp/x", ["file stores", "sqlite:///"]),
    ],
)
def test_impossible_lengths_and_stores_are_refused_up_front(tmp_path, override, expected):
    done, seconds = _refuse([*TINY, override], tmp_path)
    assert done.returncode == 2, done.stderr[-2000:]
    (line,) = done.stderr.strip().splitlines()
    for part in expected:
        assert part in line, line
    assert seconds < 30


def test_hub_model_offline_fails_with_a_clear_message(run_cli):
    res = run_cli(
        ["model=bert-base-uncased", "data=tiny", "debug=fast"], env={"HF_HUB_OFFLINE": "1"}
    )
    assert res.returncode == 2
    last = res.stderr.strip().splitlines()[-1]
    assert "model=bert-base-uncased: could not load 'bert-base-uncased'" in last
    assert "model=minilm_l6" in last  # says what works offline
    (run,) = res.runs
    assert run.info.status == "FAILED"

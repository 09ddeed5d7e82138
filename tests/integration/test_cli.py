"""End to end through the real CLI on tiny models, MLflow under tmp_path."""

from __future__ import annotations

import pytest

from tests.conftest import TINY

pytestmark = pytest.mark.integration


def test_baseline_run_logs_metrics_tags_and_artifacts(run_cli):
    res = run_cli([*TINY, "method=baseline"])
    assert res.returncode == 0, res.stderr[-3000:]
    (run,) = res.runs
    assert run.info.status == "FINISHED"
    m = run.data.metrics
    for key in ("val/acc", "test/acc", "val/f1", "test/f1", "size/bytes", "size/params", "size/ratio_vs_fp32",
                "speed/latency_ms_p50", "speed/latency_ms_p90", "speed/throughput", "speed/speedup_vs_fp32",
                "resources/peak_rss_mb", "test/acc_drop_vs_fp32"):
        assert key in m, key
    assert m["size/ratio_vs_fp32"] == pytest.approx(1.0)
    assert m["size/avg_bits"] == pytest.approx(32.0, rel=1e-3)
    assert run.data.tags["materialized"] == "true"
    assert run.data.tags["method"] == "baseline"
    assert run.info.run_name == "baseline-tiny_bert-tiny"
    assert "train/loss" in m  # Lightning's curve landed in the same run
    from mlflow.tracking import MlflowClient

    client = MlflowClient(res.tracking_uri)
    names = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"config.yaml", "layers.csv", "model"} <= names
    model_files = {a.path for a in client.list_artifacts(run.info.run_id, "model")}
    assert model_files == {"model/model.safetensors", "model/model.json"}


def test_bad_config_fails_before_work_with_one_line(run_cli):
    res = run_cli([*TINY, "data.max_length=-3"])
    assert res.returncode == 2
    assert "data.max_length=-3" in res.stderr and "allowed" in res.stderr
    assert not [r for r in res.runs if r.info.status == "FINISHED"]

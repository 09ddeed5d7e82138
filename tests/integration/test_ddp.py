"""``trainer=cpu_ddp``: two gloo processes train one model; one MLflow run, written by rank 0."""

from __future__ import annotations

import math

import pytest

from tests.conftest import TINY

pytestmark = pytest.mark.integration


def test_cpu_ddp_trains_on_two_processes_into_one_run(run_cli, tmp_path, monkeypatch):
    cache = tmp_path / "cache"  # a fresh baseline cache: the baseline must really train here
    monkeypatch.setenv("NLPCOMPRESS_TEST_CACHE", str(cache))
    res = run_cli([*TINY, "method=baseline", "trainer=cpu_ddp", "measure.enabled=false"])
    out = res.stdout + res.stderr
    assert res.returncode == 0, res.stderr[-3000:]
    assert "GLOBAL_RANK: 1, MEMBER: 2/2" in out and "distributed_backend=gloo" in out

    (run,) = res.runs  # one run, not one per process
    assert run.info.status == "FINISHED"
    assert run.data.tags["world_size"] == "2"
    assert run.data.tags["baseline_from_cache"] == "false"
    m = run.data.metrics
    for key in ("val/acc", "test/acc", "test/f1", "fp32/test/acc", "size/bytes"):
        assert key in m, key
    assert 0.0 <= m["test/acc"] <= 1.0

    # Each rank saw half the epoch: ceil(ceil(train/2)/batch) steps, fewer than one process needs.
    batch = 8  # conf/data/tiny.yaml
    per_rank_steps = math.ceil(math.ceil(m["data/train_size"] / 2) / batch)
    assert per_rank_steps < math.ceil(m["data/train_size"] / batch)
    from mlflow.tracking import MlflowClient

    steps = [
        p.step
        # the baseline is fine-tuned in this run: its curve is logged under baseline/
        for p in MlflowClient(res.tracking_uri).get_metric_history(
            run.info.run_id, "baseline/train/loss"
        )
    ]
    assert steps and max(steps) < per_rank_steps

    # Rank 0 alone wrote the baseline cache entry, once, and left no scratch folder behind.
    entries = [p for p in (cache / "baselines").iterdir() if p.is_dir()]
    assert len(entries) == 1 and (entries[0] / "baseline.json").is_file()
    assert not entries[0].name.endswith(".tmp")

"""The real model on the real data: all-MiniLM-L6-v2 fine-tuned on Rotten Tomatoes (offline)."""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.integration]


def test_minilm_rotten_tomatoes_learns_well_above_chance(run_cli):
    res = run_cli(
        [
            "model=minilm_l6",
            "data=rotten_tomatoes",
            "method=baseline",
            "trainer.max_steps=100",
            "trainer.val_check_interval=100",
            "trainer.enable_progress_bar=false",
            "data.max_length=48",
            "measure.latency_iters=10",
            "measure.throughput_iters=2",
            "measure.rounds=1",
            "measure.warmup=2",
        ],
        timeout=1500,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    (run,) = res.runs
    m = run.data.metrics
    assert m["test/acc"] > 0.70  # chance is 0.58 (majority class)
    assert m["data/test_size"] == 1275
    assert m["size/params"] > 22e6
    assert run.data.tags["model"] == "minilm_l6"

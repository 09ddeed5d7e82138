"""The real model on the real data: all-MiniLM-L6-v2 fine-tuned on Rotten Tomatoes (offline)."""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.integration]

# 80 steps of 16 sentences of <= 32 tokens (most snippets are shorter): 76.5% test on the AVX2
# machine in 164 s alone; 100 x 32 x 48 tokens gave 80.1% in 345 s.
BASELINE = [
    "model=minilm_l6",
    "data=rotten_tomatoes",
    "trainer.max_steps=80",
    "trainer.val_check_interval=80",
    "trainer.enable_progress_bar=false",
    "data.batch_size=16",
    "data.max_length=32",
]


def test_minilm_rotten_tomatoes_learns_well_above_chance_and_binary_ptq_falls(run_cli):
    res = run_cli(
        [
            *BASELINE,
            "method=baseline",
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
    # The tiny keyword data is too easy for 1-bit weights to hurt (binary PTQ keeps 0.88-1.00
    # there); on the real model they do: int8 PTQ keeps the fine-tuned accuracy, binary PTQ
    # (sign * mean|w| per row, no retraining) loses it. Same cached baseline, no timing.
    res = run_cli(
        [*BASELINE, "method=ptq", "quant=int8,binary", "measure.enabled=false"],
        multirun=True,
        timeout=900,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    # the store also holds the baseline run above
    ptq = {
        r.data.params["quant.form"]: r.data.metrics
        for r in res.runs
        if "quant.form" in r.data.params
    }
    assert set(ptq) == {"int", "binary"}
    fp32 = m["test/acc"]
    print(
        f"MiniLM test acc: fp32 {fp32:.4f}, int8 PTQ {ptq['int']['test/acc']:.4f}, "
        f"binary PTQ {ptq['binary']['test/acc']:.4f}"
    )
    assert ptq["int"]["test/acc"] >= fp32 - 0.02
    # seen: fp32 76.47, int8 76.31, binary 65.80 (AVX2 EPYC)
    assert ptq["binary"]["test/acc"] <= fp32 - 0.05

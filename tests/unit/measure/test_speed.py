"""Side-by-side timing: a model against itself is ~1x; percentiles; ONNX timed in a subprocess."""

from __future__ import annotations

import json
import subprocess

import pytest
import torch
from torch import nn

from nlpcompress.config.schema import MeasureConfig
from nlpcompress.export.deploy import OnnxDeployable, TorchDeployable, export_onnx
from nlpcompress.measure.speed import compare, latency_by_length, percentile


class Toy(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(30522, 64)
        self.ff = nn.Sequential(nn.Linear(64, 256), nn.GELU(), nn.Linear(256, 64))
        self.out = nn.Linear(64, 2)

    def forward(self, input_ids, attention_mask=None, token_type_ids=None):
        return self.out(self.ff(self.emb(input_ids)).mean(1))


def test_percentile_matches_numpy_linear():
    import numpy as np

    values = [5.0, 1.0, 3.0, 2.0, 4.0, 10.0]
    for q in (0, 50, 90, 100):
        assert percentile(values, q) == pytest.approx(float(np.percentile(values, q)))


def test_model_against_itself_is_about_one():
    model = Toy().eval()
    cfg = MeasureConfig(
        seq_length=32,
        threads=1,
        warmup=3,
        latency_iters=60,
        throughput_batch=8,
        throughput_iters=6,
        rounds=3,
    )
    res = compare({"a": TorchDeployable(model), "b": TorchDeployable(model)}, cfg)
    ratio = res["a"].latency_ms_p50 / res["b"].latency_ms_p50
    assert 0.6 < ratio < 1.6
    assert res["a"].latency_ms_p90 >= res["a"].latency_ms_p50 > 0
    assert len(res["a"].latencies_ms) == 60
    assert res["a"].throughput > 0


def test_bigger_model_is_slower():
    small, big = Toy().eval(), Toy().eval()
    big.ff = nn.Sequential(*[nn.Linear(64, 64) for _ in range(40)])
    cfg = MeasureConfig(
        seq_length=64,
        threads=1,
        warmup=2,
        latency_iters=15,
        throughput_iters=2,
        throughput_batch=4,
        rounds=1,
    )
    res = compare({"small": TorchDeployable(small), "big": TorchDeployable(big)}, cfg)
    assert res["big"].latency_ms_p50 > res["small"].latency_ms_p50


def test_onnx_export_is_timed_in_a_worker_and_predicts_like_torch(tmp_path):
    model = Toy().eval()
    path = export_onnx(model, tmp_path / "toy.onnx", fuse=False)
    cfg = MeasureConfig(
        seq_length=16,
        threads=1,
        warmup=2,
        latency_iters=10,
        throughput_iters=2,
        throughput_batch=4,
        rounds=1,
    )
    res = compare({"onnx": OnnxDeployable(path)}, cfg)
    assert res["onnx"].latency_ms_p50 > 0
    from nlpcompress.export.deploy import ort_predictor

    batch = {
        "input_ids": torch.randint(0, 30522, (3, 7)),
        "attention_mask": torch.ones(3, 7, dtype=torch.long),
        "token_type_ids": torch.zeros(3, 7, dtype=torch.long),
    }
    with torch.no_grad():
        expected = model(**batch)
    torch.testing.assert_close(ort_predictor(path, 1)(batch), expected, atol=1e-4, rtol=1e-4)


def test_latency_by_length_times_each_candidate_at_each_length():
    model = Toy().eval()
    cfg = MeasureConfig(threads=1, warmup=2, latency_iters=10, rounds=2, seq_lengths=[8, 16])
    res = latency_by_length(
        {"fp32": TorchDeployable(model), "model": TorchDeployable(model)}, cfg, cfg.seq_lengths
    )
    assert set(res) == {8, 16}
    assert all(res[n][name] > 0 for n in (8, 16) for name in ("fp32", "model"))


def test_seq_lengths_must_be_positive():
    from nlpcompress.config.errors import ConfigError

    with pytest.raises(ConfigError, match=r"seq_lengths\[1\]"):
        MeasureConfig(seq_lengths=[8, 0])


def test_one_worker_process_times_every_shape_of_a_round_in_order():
    from nlpcompress.measure.ort_worker import parse_args, time_jobs

    seen = []
    jobs = [[1, 8, 2, 3], [4, 8, 1, 2]]
    path, threads, seed, vocab, parsed = parse_args(["m.onnx", "2", "0", "500", json.dumps(jobs)])
    assert (path, threads, seed, vocab, parsed) == ("m.onnx", 2, 0, 500, jobs)
    timed = time_jobs(
        lambda feed: seen.append(feed["input_ids"].shape), ["input_ids"], jobs, 0, 500
    )
    assert [len(ms) for ms in timed] == [3, 2]
    assert seen == [(1, 8)] * 5 + [(4, 8)] * 3  # warm-up + timed calls, job by job


def test_an_onnx_candidate_costs_one_process_per_round(tmp_path, monkeypatch):
    import nlpcompress.measure.speed as speed

    calls = []

    def fake_run(cmd, **kwargs):
        jobs = json.loads(cmd[-1])
        calls.append(jobs)
        ms = json.dumps({"ms": [[1.0] * job[3] for job in jobs]})
        return subprocess.CompletedProcess(cmd, 0, stdout=ms + "\n", stderr="")

    monkeypatch.setattr(speed.subprocess, "run", fake_run)
    cfg = MeasureConfig(
        seq_length=16,
        threads=1,
        warmup=3,
        latency_iters=10,
        rounds=2,
        throughput_batch=4,
        throughput_iters=2,
    )
    res = compare({"onnx": OnnxDeployable(tmp_path / "m.onnx")}, cfg)
    assert calls == [[[1, 16, 3, 5], [4, 16, 2, 1]]] * 2
    assert res["onnx"].throughput == pytest.approx(4 * 1000.0)
    calls.clear()
    by_length = latency_by_length({"onnx": OnnxDeployable(tmp_path / "m.onnx")}, cfg, [8, 32])
    assert calls == [[[1, 8, 3, 5], [1, 32, 3, 5]]] * 2
    assert by_length == {8: {"onnx": 1.0}, 32: {"onnx": 1.0}}

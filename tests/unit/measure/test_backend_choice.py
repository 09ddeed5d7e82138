"""deploy=auto's choice: the fastest candidate within max_acc_drop points of the best accuracy."""

from __future__ import annotations

import csv

import pytest
import torch

from nlpcompress.config.schema import MeasureConfig
from nlpcompress.export.deploy import TorchDeployable
from nlpcompress.measure.backend_choice import (
    CandidateResult,
    candidate_metrics,
    choose,
    mark_chosen,
    measure_candidates,
    write_candidates_csv,
)
from tests.tiny_bert import make_tiny_bert


def _result(name: str, acc: float, ms: float) -> CandidateResult:
    return CandidateResult(name, "torch", acc, ms, 1000.0 / ms)


def test_the_fastest_within_the_drop_wins_and_a_faster_worse_one_is_passed_over():
    results = [
        _result("torch", 85.0, 10.0),
        _result("onnxruntime", 85.0, 5.0),
        _result("onnxruntime_int8", 84.8, 3.0),  # 0.2 points under the best: allowed at 0.3
        _result("torch_int8", 80.0, 2.0),  # fastest, but 5 points worse
    ]
    assert choose(results, max_acc_drop=0.3) == "onnxruntime_int8"
    assert choose(results, max_acc_drop=0.1) == "onnxruntime"
    assert choose(results, max_acc_drop=5.0) == "torch_int8"
    # at a drop of 0 only the most accurate compete: the faster of the two tied at 85.0
    assert choose(results, max_acc_drop=0.0) == "onnxruntime"


def test_ties_in_latency_keep_the_first_candidate_and_no_candidate_is_an_error():
    assert choose([_result("torch", 85.0, 4.0), _result("onnxruntime", 85.0, 4.0)], 0.3) == "torch"
    with pytest.raises(ValueError, match="no candidate"):
        choose([], 0.3)


def test_csv_and_metrics_hold_every_candidate_and_mark_one(tmp_path):
    results = mark_chosen(
        [_result("torch", 85.0, 10.0), _result("onnxruntime", 84.9, 5.0)], "onnxruntime"
    )
    rows = list(csv.DictReader(write_candidates_csv(results, tmp_path / "c.csv").open()))
    assert [r["name"] for r in rows] == ["torch", "onnxruntime"]
    assert [r["chosen"] for r in rows] == ["False", "True"]
    assert rows[1]["val_acc"] == "84.90" and rows[1]["latency_ms_p50"] == "5.000"
    m = candidate_metrics(results)
    assert m["deploy/candidates"] == 2.0
    assert m["deploy/onnxruntime/latency_ms_p50"] == 5.0
    assert m["deploy/torch/val_acc"] == 85.0


class _Batches:
    """The part of the datamodule that evaluate_splits reads."""

    num_labels = 2

    def __init__(self, batches):
        self.batches = batches

    def val_dataloader(self):
        return self.batches

    test_dataloader = val_dataloader


def test_measure_candidates_scores_and_times_each_form():
    model = make_tiny_bert(vocab=60)
    gen = torch.Generator().manual_seed(0)
    ids = torch.randint(5, 60, (16, 8), generator=gen)
    batch = {
        "input_ids": ids,
        "attention_mask": torch.ones_like(ids),
        "token_type_ids": torch.zeros_like(ids),
    }
    with torch.no_grad():
        predicted = model(**batch).logits.argmax(-1)
    # labels = the model's own predictions for the first 12 rows, flipped for the last 4: 75%
    labels = predicted.clone()
    labels[12:] = 1 - labels[12:]
    data = _Batches([batch | {"labels": labels}])
    forms = {
        "torch": TorchDeployable(model, vocab_size=60),
        "torch_again": TorchDeployable(model, vocab_size=60),
    }
    cfg = MeasureConfig(
        seq_length=8, threads=1, warmup=1, latency_iters=10, throughput_batch=2, rounds=2
    )
    results = measure_candidates(forms, data, cfg)
    assert [r.name for r in results] == ["torch", "torch_again"]
    assert [r.val_acc for r in results] == [pytest.approx(75.0)] * 2
    assert all(r.latency_ms_p50 > 0 and r.throughput > 0 for r in results)

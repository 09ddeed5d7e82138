"""Pareto sets on hand-computed fixtures, and the mean/std aggregation over seeds."""

from __future__ import annotations

import math
import random

import pandas as pd
import pytest

from nlpcompress.report.pareto import dominates, pareto_front, pareto_mask
from nlpcompress.report.runs import aggregate_seeds

# (accuracy, size MB): hand-worked below
POINTS = [
    (0.91, 90.0),  # 0 most accurate                                     -> optimal
    (0.89, 23.0),  # 1 nothing at least as accurate and as small         -> optimal
    (0.885, 24.0),  # 2 point 1 is more accurate and smaller             -> dominated
    (0.87, 48.0),  # 3 point 1 again                                     -> dominated
    (0.86, 12.0),  # 4                                                   -> optimal
    (0.80, 4.0),  # 5 smallest                                           -> optimal
    (0.80, 30.0),  # 6 same accuracy as 5, larger                         -> dominated (one strict)
    (0.89, 40.0),  # 7 same accuracy as 1, larger                         -> dominated (one strict)
]
EXPECTED = [True, True, False, False, True, True, False, False]


def test_hand_computed_pareto_set():
    acc, size = zip(*POINTS, strict=True)
    assert pareto_mask(acc, size) == EXPECTED
    # Front in cost order: 5 (4 MB), 4 (12), 1 (23), 0 (90); accuracy rises along it.
    assert pareto_front(acc, size) == [5, 4, 1, 0]


def test_identical_points_are_both_optimal():
    # Neither dominates the other (no strict inequality), so ties are both kept.
    assert pareto_mask([0.9, 0.9, 0.8], [10.0, 10.0, 10.0]) == [True, True, False]
    assert pareto_mask([0.9, 0.9], [10.0, 5.0]) == [False, True]
    assert pareto_mask([0.9, 0.95], [5.0, 5.0]) == [False, True]
    assert pareto_front([0.9, 0.9, 0.8], [10.0, 10.0, 10.0]) == [0, 1]


def test_missing_values_are_neither_optimal_nor_dominating():
    nan = math.nan
    # Point 1 would dominate point 0 but has no size; point 2 has no accuracy.
    assert pareto_mask([0.8, 0.99, nan, 0.7], [10.0, nan, 1.0, 5.0]) == [True, False, False, True]
    assert pareto_mask([], []) == []
    with pytest.raises(ValueError, match="same length"):
        pareto_mask([0.1, 0.2], [1.0])


def test_mask_matches_the_pairwise_definition_on_random_points():
    rng = random.Random(0)
    for _ in range(200):
        n = rng.randint(1, 12)
        # Few distinct values so ties in accuracy and in cost are frequent.
        acc = [rng.choice([0.7, 0.8, 0.85, 0.9]) for _ in range(n)]
        cost = [rng.choice([1.0, 2.0, 3.0, 5.0]) for _ in range(n)]
        brute = [
            not any(dominates(acc[j], cost[j], acc[i], cost[i]) for j in range(n) if j != i)
            for i in range(n)
        ]
        assert pareto_mask(acc, cost) == brute, (acc, cost)


def _record(group, seed, acc, size, latency=math.nan, label="ptq int8", materialized=True):
    return {
        "group": group,
        "run_id": f"{group}-{seed}",
        "seed": str(seed),
        "label": label,
        "method": "ptq",
        "model": "tiny_bert",
        "data": "tiny",
        "bits": 8.0,
        "quant_form": "int",
        "bits_label": "int8",
        "prune_kind": "",
        "sparsity": math.nan,
        "teacher": "",
        "student": "",
        "pair": "",
        "stages": "",
        "form": "int8",
        "materialized": materialized,
        "test_acc": acc,
        "acc_change_pp": math.nan,
        "size_mb": size,
        "size_ratio": math.nan,
        "latency_ms_p50": latency,
        "speedup_vs_fp32": math.nan,
        "sparsity_actual": math.nan,
        "fp32_test_acc": math.nan,
    }


def test_aggregation_mean_and_sample_std_over_seeds():
    records = pd.DataFrame(
        [
            _record("a", 1, 0.80, 10.0, 4.0),
            _record("a", 2, 0.84, 10.0, 5.0),
            _record("a", 3, 0.82, 10.0, math.nan),  # latency not logged by this run: skipped
            _record("b", 1, 0.90, 40.0, 9.0, label="fp32", materialized=False),
            _record("b", 2, 0.90, 40.0, 9.0, label="fp32", materialized=True),
            _record("c", 7, 0.85, 20.0, 6.0, label="qat int4"),
        ]
    )
    table = aggregate_seeds(records)
    assert list(table["group"]) == ["b", "c", "a"]  # best mean accuracy first
    a = table.set_index("group").loc["a"]
    # mean 0.82; std = sqrt(((-0.02)^2 + 0.02^2 + 0) / (3 - 1)) = 0.02
    assert a["test_acc"] == pytest.approx(0.82) and a["test_acc_std"] == pytest.approx(0.02)
    # latency over the two runs that logged it: mean 4.5, std = sqrt(2 * 0.5^2 / 1) = 0.7071
    assert a["latency_ms_p50"] == pytest.approx(4.5) and a["latency_ms_p50_std"] == pytest.approx(
        math.sqrt(0.5)
    )
    assert a["size_mb_std"] == 0.0 and a["n_runs"] == 3 and a["seeds"] == "1,2,3"
    assert a["run_ids"] == "a-1,a-2,a-3"
    c = table.set_index("group").loc["c"]
    assert c["n_runs"] == 1 and math.isnan(c["test_acc_std"])  # one run: no spread to report
    b = table.set_index("group").loc["b"]
    assert b["materialized"] is None  # the runs disagree


def test_same_label_different_configs_are_told_apart():
    records = pd.DataFrame(
        [
            _record("g1", 1, 0.8, 10.0),
            _record("g2", 1, 0.7, 10.0),
            {**_record("g3", 1, 0.6, 10.0), "model": "minilm_l6"},
        ]
    )
    labels = list(aggregate_seeds(records)["label"])
    assert labels == [
        "ptq int8 [tiny_bert/tiny] #g1",
        "ptq int8 [tiny_bert/tiny] #g2",
        "ptq int8 [minilm_l6/tiny]",
    ]

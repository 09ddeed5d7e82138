"""Paired-by-seed differences: the formula on fixed runs."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from nlpcompress.report.paired import format_paired, paired_differences, write_paired
from tests.unit.report.test_runs import _row

QAT = {"method.name": "qat", "quant.bits": "2", "quant.form": "int"}


def _runs():
    acc = {("False", "1"): 0.80, ("True", "1"): 0.82, ("False", "2"): 0.78, ("True", "2"): 0.77}
    acc |= {("False", "3"): 0.79, ("True", "3"): 0.83}
    rows = [
        _row(f"{lsq}{seed}", QAT | {"quant.lsq": lsq, "seed": seed}, {"test/acc": x})
        for (lsq, seed), x in acc.items()
    ]
    # another configuration (3 bits) with only one seed run both ways, and an unpaired run
    rows += [
        _row(
            "a3", QAT | {"quant.bits": "3", "quant.lsq": "False", "seed": "1"}, {"test/acc": 0.85}
        ),
        _row("b3", QAT | {"quant.bits": "3", "quant.lsq": "True", "seed": "1"}, {"test/acc": 0.86}),
        _row("c3", QAT | {"quant.bits": "3", "quant.lsq": "True", "seed": "2"}, {"test/acc": 0.9}),
        _row("x", QAT | {"quant.lsq": "True", "seed": "4"}, {"test/acc": 0.5}, status="FAILED"),
    ]
    return pd.DataFrame(rows)


def test_differences_are_paired_by_seed_in_points():
    table = paired_differences(_runs(), "quant.lsq")
    two = table[table["comparison"] == "qat int2"].iloc[0]
    assert (two["a"], two["b"], two["pairs"], two["seeds"]) == ("False", "True", 3, "1,2,3")
    diffs = [2.0, -1.0, 4.0]  # 100 * (True - False) for seeds 1, 2, 3
    assert two["diff_mean_pp"] == pytest.approx(sum(diffs) / 3)
    mean = sum(diffs) / 3
    std = math.sqrt(sum((d - mean) ** 2 for d in diffs) / 2)
    assert two["diff_std_pp"] == pytest.approx(std)
    assert two["wins"] == 2 and two["diffs_pp"] == "+2.00, -1.00, +4.00"
    assert two["a_mean"] == pytest.approx(0.79) and two["b_mean"] == pytest.approx(0.80666, 1e-4)
    # 3 bits: seed 1 is the only pair (seed 2 has no False run); one pair has no std
    three = table[table["comparison"] == "qat int3"].iloc[0]
    assert three["pairs"] == 1 and three["diff_mean_pp"] == pytest.approx(1.0)
    assert math.isnan(three["diff_std_pp"])


def test_an_explicit_order_flips_the_sign_and_the_files_are_written(tmp_path):
    table = paired_differences(_runs(), "quant.lsq", order=["True", "False"])
    two = table[table["comparison"] == "qat int2 LSQ"].iloc[0]
    assert two["diff_mean_pp"] == pytest.approx(-5.0 / 3)
    files = write_paired(table, tmp_path)
    text = files["paired_md"].read_text()
    assert "| qat int2 LSQ | True -> False | 3 (1,2,3) |" in text
    assert pd.read_csv(files["paired_csv"])["pairs"].tolist() == [3, 1]


def test_no_pairs_says_so():
    table = paired_differences(_runs(), "prune.sparsity")
    assert table.empty
    assert format_paired(table).startswith("No paired runs")


def test_a_param_only_newer_runs_have_does_not_split_the_pairs():
    runs = _runs()
    newer = runs["params.quant.lsq"] == "True"
    runs.loc[newer, "params.quant.lsq_init"] = "lsq"
    table = paired_differences(runs, "quant.lsq")
    assert table[table["comparison"] == "qat int2"].iloc[0]["pairs"] == 3


def test_a_knob_another_method_lacks_still_separates_its_runs():
    """PTQ runs have no method.learning_rate: QAT runs at two learning rates must not pair."""
    rows = [
        _row(
            f"{lr}{lsq}",
            QAT | {"method.learning_rate": lr, "quant.lsq": lsq, "seed": "1"},
            {"test/acc": acc},
        )
        for lr, lsq, acc in (("1e-4", "False", 0.80), ("1e-3", "True", 0.90))
    ]
    rows.append(
        _row(
            "p",
            {"method.name": "ptq", "quant.bits": "2", "quant.lsq": "False", "seed": "1"},
            {"test/acc": 0.6},
        )
    )
    assert paired_differences(pd.DataFrame(rows), "quant.lsq").empty

"""From search_runs rows to report records; the config grouping; the text/Markdown tables."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from nlpcompress.report.build import add_pareto_flags, build_report
from nlpcompress.report.runs import (
    aggregate_seeds,
    config_group,
    run_record,
    run_records,
    select_runs,
)
from nlpcompress.report.table import format_markdown, format_text


def _row(run_id, params, metrics=None, tags=None, status="FINISHED"):
    row = {"run_id": run_id, "status": status}
    row |= {f"params.{k}": v for k, v in params.items()}
    row |= {f"metrics.{k}": v for k, v in (metrics or {}).items()}
    row |= {f"tags.{k}": v for k, v in (tags or {}).items()}
    return row


def test_config_group_ignores_seed_paths_and_logger_only():
    base = {
        "method.name": "ptq",
        "quant.bits": "8",
        "seed": "1",
        "paths.run_dir": "/a",
        "logger.run_name": "x",
        "resume": "True",
    }
    same = base | {"seed": "2", "paths.run_dir": "/b", "logger.run_name": "y", "resume": "False"}
    assert config_group(base) == config_group(same)
    assert config_group(base) != config_group(base | {"quant.bits": "4"})
    assert config_group(base) != config_group(base | {"trainer.learning_rate": "0.001"})
    # A param missing from one run's DataFrame row comes back as NaN: same as absent.
    assert config_group(base) == config_group(base | {"prune.sparsity": math.nan})


def test_run_record_reads_params_metrics_and_tags():
    rec = run_record(
        _row(
            "r1",
            {
                "method.name": "qat",
                "quant.bits": "4",
                "quant.form": "int",
                "seed": "3",
                "model.name": "tiny_bert",
                "data.name": "tiny",
            },
            {
                "test/acc": 0.85,
                "test/acc_drop_vs_fp32": 2.5,
                "size/bytes": 12_500_000.0,
                "speed/latency_ms_p50": 3.0,
                "speed/speedup_vs_fp32": 2.0,
                "size/ratio_vs_fp32": 0.25,
            },
            {"materialized": "false", "form": "fake-quant int4", "mlflow.runName": "qat-int4"},
        )
    )
    assert rec["label"] == "qat int4" and rec["bits"] == 4.0 and rec["quant_form"] == "int"
    assert rec["acc_change_pp"] == -2.5 and rec["size_mb"] == 12.5 and rec["materialized"] is False
    assert rec["seed"] == "3" and rec["run_name"] == "qat-int4" and math.isnan(rec["sparsity"])
    assert (rec["model"], rec["data"]) == ("tiny_bert", "tiny")


def test_run_record_sparsity_pair_and_pipeline_labels():
    structured = run_record(
        _row(
            "s",
            {"method.name": "prune", "prune.kind": "structured", "prune.sparsity": "0.5"},
            {"sparsity/actual": 0.4375},
        )
    )
    assert structured["sparsity"] == 0.4375 and structured["label"] == "prune structured 44%"
    magnitude = run_record(
        _row(
            "m",
            {"method.name": "prune", "prune.kind": "magnitude", "prune.sparsity": "0.9"},
            {"sparsity/actual": 0.8999},
        )
    )
    assert magnitude["sparsity"] == 0.9 and magnitude["sparsity_actual"] == 0.8999
    distill = run_record(
        _row(
            "d",
            {
                "method.name": "distill",
                "pair.teacher": "minilm_l6",
                "pair.student.name": "minilm3",
                "pair.name": "minilm6_to_minilm3",
            },
        )
    )
    assert (distill["teacher"], distill["student"], distill["label"]) == (
        "minilm_l6",
        "minilm3",
        "distill minilm3",
    )
    kd = {"method.name": "distill", "pair.student.name": "minilm3", "distill.name": "logit"}
    logit = run_record(_row("k", {**kd, "distill.alpha": "0.5", "distill.hidden_weight": "0.0"}))
    labels_only = run_record(
        _row("n", {**kd, "distill.alpha": "0.0", "distill.hidden_weight": "0.0"})
    )
    assert logit["label"] == "distill minilm3 logit"
    assert labels_only["label"] == "distill minilm3 no KD"
    hidden_only = run_record(
        _row(
            "h",
            {
                **kd,
                "distill.name": "intermediate",
                "distill.alpha": "0",
                "distill.hidden_weight": "1",
            },
        )
    )
    assert hidden_only["label"] == "distill minilm3 intermediate"
    pipeline = run_record(
        _row(
            "p",
            {
                "method.name": "pipeline",
                "pipeline.stages": "['distill', 'prune', 'qat']",
                "pair.student.name": "minilm3",
                "prune.sparsity": "0.5",
                "quant.bits": "8",
            },
        )
    )
    assert pipeline["label"] == "pipeline distill>prune>qat minilm3 50% int8"
    binary = run_record(
        _row("b", {"method.name": "qat", "quant.bits": "1", "quant.form": "binary"})
    )
    assert binary["bits_label"] == "binary"
    split = run_record(
        _row("s", {"method.name": "qat", "quant.bits": "2", "quant.form": "split_binary"})
    )
    assert split["bits_label"] == "split_binary"
    lsq = run_record(
        _row(
            "l", {"method.name": "qat", "quant.bits": "2", "quant.form": "int", "quant.lsq": "True"}
        )
    )
    assert lsq["label"] == "qat int2 LSQ"
    ste = run_record(
        _row(
            "s",
            {"method.name": "qat", "quant.bits": "2", "quant.form": "int", "quant.lsq": "False"},
        )
    )
    assert ste["label"] == "qat int2"
    assert run_record(_row("f", {"method.name": "baseline"}))["label"] == "fp32 baseline"


def test_select_runs_keeps_finished_top_level_non_summary_runs():
    df = pd.DataFrame(
        [
            _row("ok", {"method.name": "ptq"}),
            _row("failed", {"method.name": "ptq"}, status="FAILED"),
            _row("summary", {}, tags={"nlpcompress.summary": "true"}),
            _row("child", {"method.name": "ptq"}, tags={"mlflow.parentRunId": "ok"}),
        ]
    )
    assert list(select_runs(df)["run_id"]) == ["ok"]
    assert list(select_runs(df, include_nested=True)["run_id"]) == ["ok", "child"]
    assert list(run_records(df, progress=False)["run_id"]) == ["ok"]


def _fixture_runs():
    """Two seeds of int8 PTQ and one fp32 baseline, as search_runs rows."""
    common = {"model.name": "tiny_bert", "data.name": "tiny"}
    return pd.DataFrame(
        [
            _row(
                "b",
                common | {"method.name": "baseline", "seed": "1"},
                {
                    "test/acc": 0.9,
                    "size/bytes": 4e6,
                    "speed/latency_ms_p50": 2.0,
                    "speed/speedup_vs_fp32": 1.0,
                    "test/acc_drop_vs_fp32": 0.0,
                    "size/ratio_vs_fp32": 1.0,
                },
                {"materialized": "true"},
            ),
            _row(
                "q1",
                common | {"method.name": "ptq", "quant.bits": "8", "seed": "1"},
                {
                    "test/acc": 0.88,
                    "size/bytes": 1e6,
                    "speed/latency_ms_p50": 1.0,
                    "speed/speedup_vs_fp32": 2.0,
                    "test/acc_drop_vs_fp32": 2.0,
                    "size/ratio_vs_fp32": 0.25,
                },
                {"materialized": "true"},
            ),
            _row(
                "q2",
                common | {"method.name": "ptq", "quant.bits": "8", "seed": "2"},
                {
                    "test/acc": 0.86,
                    "size/bytes": 1e6,
                    "speed/latency_ms_p50": 1.2,
                    "speed/speedup_vs_fp32": 1.8,
                    "test/acc_drop_vs_fp32": 4.0,
                    "size/ratio_vs_fp32": 0.25,
                },
                {"materialized": "true"},
            ),
        ]
    )


def test_text_and_markdown_tables():
    table = add_pareto_flags(aggregate_seeds(run_records(_fixture_runs(), progress=False)))
    text = format_text(table).splitlines()
    assert text[0].split()[:3] == ["config", "method", "bits"]
    assert set(text[1]) == {"-", " "}
    assert len(text[1]) == max(len(line) for line in text)
    baseline, ptq = text[2], text[3]
    # numbers right-aligned under their header
    assert text[0].index("test acc %") + len("test acc %") == ptq.index("87.00 ± 1.41") + len(
        "87.00 ± 1.41"
    )
    assert (
        baseline.startswith("fp32 baseline") and "90.00" in baseline and "size,latency" in baseline
    )
    # ptq: mean 87 % ± sample std 1.41, change -3.00 ± 1.41 pp, 1.00 MB, speedup 1.90x
    assert ptq.startswith("ptq int8") and "87.00 ± 1.41" in ptq and "-3.00 ± 1.41" in ptq
    assert "1.00" in ptq and "1.90 ± 0.14x" in ptq and ptq.rstrip().endswith("size,latency")
    md = format_markdown(table).splitlines()
    assert md[0].startswith("| config | method |") and md[1].startswith("|:---|:---|")
    assert md[3].startswith("| ptq int8 | ptq | int8 |")


def test_build_report_writes_files(tmp_path):
    result = build_report(_fixture_runs(), tmp_path / "r", title="t", progress=False)
    assert {p.name for p in result.files.values()} == {
        "results.md",
        "results.csv",
        "accuracy_vs_size.png",
        "accuracy_vs_latency.png",
    }
    assert all(p.is_file() and p.stat().st_size > 0 for p in result.files.values())
    assert result.pareto == {
        "size": ["fp32 baseline", "ptq int8"],
        "latency": ["fp32 baseline", "ptq int8"],
    }
    csv = pd.read_csv(result.files["csv"])
    assert list(csv["label"]) == ["fp32 baseline", "ptq int8"]
    assert csv.loc[1, "test_acc"] == pytest.approx(0.87) and csv.loc[1, "n_runs"] == 2

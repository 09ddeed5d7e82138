"""``nlpcompress-report`` end to end on a FIXTURE MLflow experiment (fake runs written directly).

The runs below are not produced by training: they are hand-written params/metrics/tags in the
layout the runner logs, so the expected table and Pareto sets can be computed by hand.
"""

from __future__ import annotations

import csv
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
from mlflow.entities import Metric, Param
from mlflow.tracking import MlflowClient
from PIL import Image

from nlpcompress.report.cli import main

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
EXPERIMENT = "report-fixture"

# (label, seed, params, metrics (acc, size bytes, latency ms), materialized, extra tags)
BASE = {
    "data.name": "tiny",
    "model.name": "tiny_bert",
    "trainer.learning_rate": "0.0001",
    "logger.experiment_name": EXPERIMENT,
    "resume": "True",
}
FIXTURE_RUNS = [
    ("fp32 baseline", 1, {"method.name": "baseline"}, (0.90, 90e6, 10.0), True, {}),
    ("fp32 baseline", 2, {"method.name": "baseline"}, (0.92, 90e6, 10.4), True, {}),
    (
        "ptq int8",
        1,
        {"method.name": "ptq", "quant.bits": "8", "quant.form": "int"},
        (0.89, 23e6, 4.0),
        True,
        {},
    ),
    (
        "ptq fx8",
        1,
        {"method.name": "ptq", "quant.bits": "8", "quant.form": "fixed_point"},
        (0.885, 24e6, 4.2),
        False,
        {},
    ),
    (
        "qat int4",
        1,
        {"method.name": "qat", "quant.bits": "4", "quant.form": "int"},
        (0.85, 12e6, 11.0),
        False,
        {},
    ),
    (
        "qat int4",
        2,
        {"method.name": "qat", "quant.bits": "4", "quant.form": "int"},
        (0.86, 12e6, 11.0),
        False,
        {},
    ),
    (
        "qat int4",
        3,
        {"method.name": "qat", "quant.bits": "4", "quant.form": "int"},
        (0.87, 12e6, 11.0),
        False,
        {},
    ),
    (
        "qat binary",
        1,
        {"method.name": "qat", "quant.bits": "1", "quant.form": "binary"},
        (0.80, 4e6, 12.0),
        False,
        {},
    ),
    (
        "prune magnitude 50%",
        1,
        {"method.name": "prune", "prune.kind": "magnitude", "prune.sparsity": "0.5"},
        (0.87, 48e6, 10.5),
        False,
        {"sparsity": "0.5"},
    ),
    (
        "distill minilm3",
        1,
        {
            "method.name": "distill",
            "pair.name": "minilm6_to_minilm3",
            "pair.teacher": "minilm_l6",
            "pair.student.name": "minilm3",
        },
        (0.895, 45e6, 5.0),
        True,
        {"teacher": "minilm_l6", "student": "minilm3"},
    ),
]
# Hand-computed from FIXTURE_RUNS (means over seeds), best accuracy first:
#   label                acc    size  latency
#   fp32 baseline        .910   90    10.2     size: optimal (most accurate)        latency: optimal
#   distill minilm3      .895   45     5.0     size: optimal                        latency: optimal
#   ptq int8             .890   23     4.0     size: optimal                        latency: optimal (fastest)
#   ptq fx8              .885   24     4.2     dominated by ptq int8 on both
#   prune magnitude 50%  .870   48    10.5     dominated by ptq int8 (size), distill (latency)
#   qat int4             .860   12    11.0     size: optimal                        latency: dominated by baseline
#   qat binary           .800    4    12.0     size: optimal (smallest)             latency: dominated
EXPECTED = [  # label, acc, acc std, n, size MB, latency, pareto size, pareto latency
    ("fp32 baseline", 0.91, math.sqrt(2) * 0.01, 2, 90.0, 10.2, True, True),
    ("distill minilm3", 0.895, None, 1, 45.0, 5.0, True, True),
    ("ptq int8", 0.89, None, 1, 23.0, 4.0, True, True),
    ("ptq fx8", 0.885, None, 1, 24.0, 4.2, False, False),
    ("prune magnitude 50%", 0.87, None, 1, 48.0, 10.5, False, False),
    ("qat int4", 0.86, 0.01, 3, 12.0, 11.0, True, False),
    ("qat binary", 0.80, None, 1, 4.0, 12.0, True, False),
]


def _log_run(
    client: MlflowClient,
    exp_id: str,
    name: str,
    params: dict,
    metrics: dict,
    tags: dict,
    status: str = "FINISHED",
) -> str:
    run = client.create_run(exp_id, run_name=name, tags=tags)
    client.log_batch(
        run.info.run_id,
        metrics=[Metric(k, float(v), 0, 0) for k, v in metrics.items()],
        params=[Param(k, str(v)) for k, v in params.items()],
    )
    client.set_terminated(run.info.run_id, status)
    return run.info.run_id


def make_report_fixture_experiment(folder: Path) -> str:
    """A sqlite MLflow store holding FIXTURE_RUNS plus runs the report must ignore; returns its URI."""
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    client = MlflowClient(uri)
    exp_id = client.create_experiment(EXPERIMENT, artifact_location=(folder / "artifacts").as_uri())
    for i, (label, seed, params, (acc, size, latency), materialized, extra) in enumerate(
        FIXTURE_RUNS
    ):
        fp32 = 0.90 if seed != 2 else 0.92
        metrics = {
            "test/acc": acc,
            "size/bytes": size,
            "size/ratio_vs_fp32": size / 90e6,
            "speed/latency_ms_p50": latency,
            "speed/speedup_vs_fp32": 10.0 / latency,
            "test/acc_drop_vs_fp32": 100 * (fp32 - acc),
            "fp32/test/acc": fp32,
        }
        tags = {"method": params["method.name"], "materialized": str(materialized).lower(), **extra}
        _log_run(
            client,
            exp_id,
            label,
            {**BASE, **params, "seed": seed, "paths.run_dir": f"/tmp/run{i}"},
            metrics,
            tags,
        )
    ignored = {"test/acc": 0.99, "size/bytes": 1e6, "speed/latency_ms_p50": 1.0}
    _log_run(
        client,
        exp_id,
        "failed",
        {**BASE, "method.name": "ptq", "seed": 1},
        ignored,
        {},
        status="FAILED",
    )
    _log_run(
        client,
        exp_id,
        "running",
        {**BASE, "method.name": "ptq", "seed": 1},
        ignored,
        {},
        status="RUNNING",
    )
    _log_run(client, exp_id, "report-old", {}, ignored, {"nlpcompress.summary": "true"})
    return uri


@pytest.fixture(scope="module")
def fixture_store(tmp_path_factory) -> str:
    return make_report_fixture_experiment(tmp_path_factory.mktemp("report_store"))


def _report_cli(args: list[str]) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    return subprocess.run(
        [sys.executable, "-m", "nlpcompress.report.cli", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )


def _summary_runs(uri: str) -> list:
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name(EXPERIMENT)
    return client.search_runs(
        [exp.experiment_id], filter_string="tags.`nlpcompress.summary` = 'true'"
    )


def _assert_rows(rows: list[dict], expected: list[tuple]) -> None:
    assert [r["label"] for r in rows] == [e[0] for e in expected]
    for row, (label, acc, std, n, size, latency, p_size, p_lat) in zip(rows, expected, strict=True):
        assert float(row["test_acc"]) == pytest.approx(acc), label
        if std is None:
            assert row["test_acc_std"] == "", label
        else:
            assert float(row["test_acc_std"]) == pytest.approx(std, rel=1e-4), label
        assert int(row["n_runs"]) == n, label
        assert float(row["size_mb"]) == pytest.approx(size), label
        assert float(row["latency_ms_p50"]) == pytest.approx(latency), label
        assert (row["pareto_size"], row["pareto_latency"]) == (str(p_size), str(p_lat)), label


def test_report_cli_writes_table_pareto_plots_and_summary_run(fixture_store, tmp_path):
    out = tmp_path / "report"
    before = {r.info.run_id for r in _summary_runs(fixture_store)}
    done = _report_cli(
        ["--experiment", EXPERIMENT, "--tracking-uri", fixture_store, "--out", str(out)]
    )
    assert done.returncode == 0, done.stderr[-3000:]

    for name in ("results.md", "results.csv", "accuracy_vs_size.png", "accuracy_vs_latency.png"):
        assert (out / name).is_file(), name
    with open(out / "results.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    _assert_rows(rows, EXPECTED)
    by_label = {r["label"]: r for r in rows}
    assert (
        by_label["qat int4"]["seeds"] == "1,2,3" and by_label["qat int4"]["materialized"] == "False"
    )
    assert by_label["fp32 baseline"]["latency_ms_p50_std"] != ""
    assert float(by_label["fp32 baseline"]["acc_change_pp"]) == pytest.approx(0.0)
    assert float(by_label["ptq int8"]["acc_change_pp"]) == pytest.approx(-1.0)
    assert (by_label["distill minilm3"]["teacher"], by_label["distill minilm3"]["student"]) == (
        "minilm_l6",
        "minilm3",
    )
    assert float(by_label["prune magnitude 50%"]["sparsity"]) == pytest.approx(0.5)

    for name in ("accuracy_vs_size.png", "accuracy_vs_latency.png"):
        with Image.open(out / name) as img:
            img.verify()
        with Image.open(out / name) as img:
            assert img.format == "PNG" and img.width > 600 and img.height > 400
            assert len(img.convert("L").getcolors(1 << 16)) > 20  # not a blank canvas

    md = (out / "results.md").read_text()
    assert "![accuracy vs size](accuracy_vs_size.png)" in md and "| fp32 baseline |" in md
    size_section = md.split("## Pareto-optimal: accuracy vs size")[1].split("##")[0]
    assert "ptq fx8" not in size_section and "qat binary" in size_section
    lines = done.stdout.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("config"))
    assert [line.split("  ")[0].strip() for line in lines[header + 2 : header + 9]] == [
        e[0] for e in EXPECTED
    ]
    assert "91.00 ± 1.41" in lines[header + 2]

    new = [r for r in _summary_runs(fixture_store) if r.info.run_id not in before]
    assert len(new) == 1
    summary = new[0]
    assert summary.info.run_name == f"report-{EXPERIMENT}" and summary.info.status == "FINISHED"
    assert (
        summary.data.metrics["report/configurations"] == 7
        and summary.data.metrics["report/runs"] == 10
    )
    assert (
        summary.data.metrics["report/pareto_size"] == 5
        and summary.data.metrics["report/pareto_latency"] == 3
    )
    artifacts = {
        a.path for a in MlflowClient(fixture_store).list_artifacts(summary.info.run_id, "report")
    }
    assert artifacts == {
        "report/results.md",
        "report/results.csv",
        "report/accuracy_vs_size.png",
        "report/accuracy_vs_latency.png",
    }


def test_report_filter_no_log_and_summary_runs_ignored(fixture_store, tmp_path, capsys):
    assert (
        main(
            [
                "--experiment",
                EXPERIMENT,
                "--tracking-uri",
                fixture_store,
                "--out",
                str(tmp_path / "a"),
            ]
        )
        == 0
    )
    summaries = len(_summary_runs(fixture_store))
    # A second report sees the same runs: the summary run just logged is not one of them.
    assert (
        main(
            [
                "--experiment",
                EXPERIMENT,
                "--tracking-uri",
                fixture_store,
                "--out",
                str(tmp_path / "b"),
                "--no-log",
            ]
        )
        == 0
    )
    assert (tmp_path / "a" / "results.csv").read_text() == (
        tmp_path / "b" / "results.csv"
    ).read_text()
    assert len(_summary_runs(fixture_store)) == summaries

    out = tmp_path / "qat"
    assert (
        main(
            [
                "--experiment",
                EXPERIMENT,
                "--tracking-uri",
                fixture_store,
                "--out",
                str(out),
                "--no-log",
                "--filter",
                "params.method.name = 'qat'",
                "--paired",
                "quant.bits",
            ]
        )
        == 0
    )
    # int4 and binary differ in quant.form too, so no pair: said, and the files still written
    assert (out / "paired.md").read_text().startswith("No paired runs")
    assert (out / "paired.csv").is_file()
    with open(out / "results.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    # Among the two QAT configurations alone: both on the size front, only int4 on the latency one.
    _assert_rows(
        rows,
        [
            ("qat int4", 0.86, 0.01, 3, 12.0, 11.0, True, True),
            ("qat binary", 0.80, None, 1, 4.0, 12.0, True, False),
        ],
    )
    assert len(_summary_runs(fixture_store)) == summaries
    capsys.readouterr()


def test_report_cli_errors(fixture_store, tmp_path, capsys):
    args = ["--tracking-uri", fixture_store, "--out", str(tmp_path), "--no-log"]
    assert main(["--experiment", "nope", *args]) == 2
    assert "experiment 'nope' not found" in capsys.readouterr().err
    assert main(["--experiment", EXPERIMENT, *args, "--filter", "params.method.name = 'none'"]) == 1
    assert "no FINISHED runs" in capsys.readouterr().err
    assert main(["--experiment", EXPERIMENT, *args, "--filter", "this is not a filter"]) == 2
    assert "bad --filter" in capsys.readouterr().err
    missing = f"sqlite:///{tmp_path / 'missing.db'}"
    assert (
        main(["--experiment", EXPERIMENT, "--tracking-uri", missing, "--out", str(tmp_path)]) == 2
    )
    assert not (tmp_path / "missing.db").exists()

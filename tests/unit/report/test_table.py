"""Rounded figures, noisy-timing marks and valid GFM tables in the report's tables."""

from __future__ import annotations

import re

import pandas as pd

from nlpcompress.report.build import add_pareto_flags, build_report, pareto_labels
from nlpcompress.report.runs import aggregate_seeds, run_records
from nlpcompress.report.table import (
    NOISY_FOOTNOTE,
    format_compact_markdown,
    format_markdown,
    format_text,
)
from tests.unit.report.gfm import cells, tables

COMMON = {"model.name": "tiny_bert", "data.name": "tiny"}


def _row(run_id, params, metrics, tags):
    row = {"run_id": run_id, "status": "FINISHED"}
    row |= {f"params.{k}": v for k, v in params.items()}
    row |= {f"metrics.{k}": v for k, v in metrics.items()}
    row |= {f"tags.{k}": v for k, v in tags.items()}
    return row


def _runs() -> pd.DataFrame:
    """A baseline timed on a quiet machine, and a PTQ config with two seeds, one noisy; long floats."""
    metrics = {
        "test/acc": 0.9012345678901234,
        "test/f1": 0.8987654321098765,
        "test/acc_drop_vs_fp32": 0.0,
        "size/bytes": 90123456.0,
        "size/ratio_vs_fp32": 1.0,
        "speed/latency_ms_p50": 10.123456789,
        "speed/speedup_vs_fp32": 1.0,
    }
    ptq = {
        "test/f1": 0.8712345678901234,
        "size/bytes": 23456789.0,
        "size/ratio_vs_fp32": 0.26027397260273977,
    }
    return pd.DataFrame(
        [
            _row(
                "b1",
                COMMON | {"method.name": "baseline", "seed": "1"},
                metrics,
                {"materialized": "true", "speed_quality": "ok"},
            ),
            _row(
                "p1",
                COMMON | {"method.name": "ptq", "quant.bits": "8", "seed": "1"},
                ptq
                | {
                    "test/acc": 0.8876543210987654,
                    "test/acc_drop_vs_fp32": 1.3580246791,
                    "speed/latency_ms_p50": 1.7777777777,
                    "speed/speedup_vs_fp32": 5.694444444444,
                },
                {"materialized": "true", "speed_quality": "noisy: load 9.3 on 2 cores"},
            ),
            _row(
                "p2",
                COMMON | {"method.name": "ptq", "quant.bits": "8", "seed": "2"},
                ptq
                | {
                    "test/acc": 0.8823456789012345,
                    "test/acc_drop_vs_fp32": 1.8888888888,
                    "speed/latency_ms_p50": 1.8111111111,
                    "speed/speedup_vs_fp32": 5.691111111111,
                },
                {"materialized": "true", "speed_quality": "ok"},
            ),
        ]
    )


def _table() -> pd.DataFrame:
    return add_pareto_flags(aggregate_seeds(run_records(_runs(), progress=False)))


NUMBER = re.compile(r"\d+\.\d+")


def _decimals(text: str) -> set[int]:
    return {len(m.group().split(".")[1]) for m in NUMBER.finditer(text)}


def test_every_shown_figure_is_rounded():
    table = _table()
    text = format_text(table)
    md = format_markdown(table)
    # 2 decimals everywhere, 1 for sizes >= 10 MB, 3 for the size ratio; never 16 digits
    assert _decimals(text) <= {1, 2, 3} and _decimals(md) <= {1, 2, 3}
    baseline, ptq = text.splitlines()[2], text.splitlines()[3]
    assert "90.12" in baseline and "89.88" in baseline and "90.1 " in baseline
    # ptq: acc mean 88.50 ± 0.38, F1 87.12 (same both seeds: std 0.00), 23.5 MB, 0.260
    assert "88.50 ± 0.38" in ptq and "87.12 ± 0.00" in ptq and "23.5" in ptq and "0.260" in ptq
    assert "-1.62 ± 0.38" in ptq and "1.79 ± 0.02*" in ptq and "5.69 ± 0.00x*" in ptq
    header = text.splitlines()[0]
    assert "test F1 %" in header and header.split()[-2:] == ["noisy", "pareto"]


def test_noisy_speed_is_marked_with_a_footnote():
    table = _table()
    assert list(table["n_noisy"]) == [0, 1]
    text = format_text(table).splitlines()
    assert "x*" not in text[2] and text[-1] == NOISY_FOOTNOTE and text[-2] == ""
    headers, *rows = tables(format_markdown(table))[0]
    speed = headers.index("speedup")
    # Markdown escapes the star: `5.69x*` would open an emphasis
    assert [r[speed] for r in rows] == ["1.00x", "5.69 ± 0.00x\\*"]
    assert [r[headers.index("noisy")] for r in rows] == ["0", "1"]
    assert format_markdown(table).endswith("\n\n\\* timed on a busy machine (speed_quality noisy)")
    # The latency front names the noisy winner; size is not a timing
    assert pareto_labels(table, "latency") == ["ptq int8 (speed noisy)", "fp32 baseline"]
    assert pareto_labels(table, "size") == ["ptq int8", "fp32 baseline"]


def test_markdown_is_a_valid_gfm_table():
    md = format_markdown(_table())
    (found,) = tables(md)
    assert len(found) == 3 and found[0][:3] == ["config", "method", "bits"]
    assert found[1][0] == "fp32 baseline" and found[2][0] == "ptq int8"
    # a pipe or a star in a label does not add a column or an emphasis
    table = _table()
    table.loc[1, "label"] = "a|b *c*"
    (rows,) = tables(format_markdown(table))
    assert rows[2][0] == "a\\|b \\*c\\*"


def test_compact_note_has_run_links_and_is_padded_for_the_mlflow_ui():
    table = _table()
    note = format_compact_markdown(table, "7")
    (rows,) = tables(note)
    assert [c.replace("&nbsp;", "") for c in rows[0]] == [
        "config",
        "test acc %",
        "size MB",
        "speedup",
        "materialized",
        "runs",
    ]
    assert all(c.startswith("&nbsp;") and c.endswith("&nbsp;") for r in rows for c in r)
    ptq = [c.replace("&nbsp;", "") for c in rows[2]]
    assert ptq == [
        "ptq int8",
        "88.50 ± 0.38",
        "23.5",
        "5.69 ± 0.00x\\*",
        "yes",
        "[seed 1](#/experiments/7/runs/p1) [seed 2](#/experiments/7/runs/p2) (1 noisy)",
    ]
    assert cells(note.splitlines()[2])[5] == "&nbsp;[seed 1](#/experiments/7/runs/b1)&nbsp;"
    short = format_compact_markdown(table, "7", links=False, max_rows=1)
    (rows,) = tables(short)
    assert len(rows) == 2 and "1 more configurations: see report/results.md." in short


def test_results_md_rounds_pareto_lines_and_keeps_csv_precision(tmp_path):
    result = build_report(_runs(), tmp_path, progress=False)
    md = result.files["markdown"].read_text()
    tables(md)  # valid tables, blank lines around
    assert "- ptq int8: 88.50% at 23.5 MB" in md
    assert "- ptq int8: 88.50% at 1.79 ms (timed on a busy machine: this speed is noisy)" in md
    assert NUMBER.search(md) and _decimals(md.split("## Plots")[0]) <= {1, 2, 3}
    csv = pd.read_csv(result.files["csv"])
    assert csv.loc[csv["label"] == "fp32 baseline", "test_f1"].item() == 0.898765
    assert list(csv["n_noisy"]) == [0, 1]

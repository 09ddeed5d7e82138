"""The results table as plain aligned text (stdout) and as Markdown, every figure rounded.

Rounding, wherever a figure is shown (``results.csv`` keeps full precision): accuracy and F1
in percent with 2 decimals, the change vs fp32 in points with 2, sizes in MB with 1 (>= 10 MB)
or 2, size ratios with 3, latencies in ms and speed-ups with 2; a ``± std`` like its mean.
Speed figures of a configuration with a run timed on a busy machine (tag ``speed_quality`` =
``noisy: ...``, see ``runner.log_run``) carry :data:`NOISY_MARK` and the table a footnote.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Sequence
from typing import Any, TextIO

import pandas as pd

PARETO_AXES = {"size": "pareto_size", "latency": "pareto_latency"}
NOISY_MARK = "*"
NOISY_FOOTNOTE = f"{NOISY_MARK} timed on a busy machine (speed_quality noisy)"


def _ok(x: Any) -> bool:
    return x is not None and not (isinstance(x, float) and math.isnan(x))


def _pm(row: pd.Series, column: str, fmt: str, scale: float = 1.0) -> str:
    """``mean ± std`` (std only when the group has several runs)."""
    mean, std = row.get(column), row.get(f"{column}_std")
    if not _ok(mean):
        return "-"
    text = format(mean * scale, fmt)
    return f"{text} ± {format(std * scale, fmt.lstrip('+'))}" if _ok(std) else text


def percent(fraction: float) -> str:
    """An accuracy or F1 fraction in percent, 2 decimals: ``0.8765 -> '87.65'``."""
    return f"{100.0 * fraction:.2f}" if _ok(fraction) else "-"


def megabytes(mb: float) -> str:
    """A size in MB: 1 decimal from 10 MB, else 2 (``90.0``, ``4.00``)."""
    return "-" if not _ok(mb) else f"{mb:.1f}" if mb >= 10 else f"{mb:.2f}"


def milliseconds(ms: float) -> str:
    """A latency in ms, 2 decimals."""
    return f"{ms:.2f}" if _ok(ms) else "-"


def noisy(row: pd.Series) -> bool:
    """Whether some run of this configuration was timed on a busy machine."""
    count = row.get("n_noisy", 0)
    return _ok(count) and int(count) > 0


def _speed(row: pd.Series, column: str, unit: str = "") -> str:
    """A speed figure (``mean ± std`` + unit), marked when its timing is noisy."""
    text = _pm(row, column, ".2f")
    if text == "-":
        return text
    return text + unit + (NOISY_MARK if noisy(row) else "")


def _pair(row: pd.Series) -> str:
    if not row["teacher"] and not row["student"]:
        return "-"
    return f"{row['teacher'] or '?'}->{row['student'] or '?'}"


def _pareto(row: pd.Series) -> str:
    return ",".join(name for name, col in PARETO_AXES.items() if bool(row.get(col, False)))


def _materialized(value: Any) -> str:
    return {True: "yes", False: "no (sim.)"}.get(value, "mixed") if value is not None else "?"


def _count(row: pd.Series, column: str) -> str:
    value = row.get(column, 0)
    return str(int(value)) if _ok(value) else "0"


# header -> (cell formatter, right-aligned)
COLUMNS: dict[str, tuple[Callable[[pd.Series], str], bool]] = {
    "config": (lambda r: str(r["label"]), False),
    "method": (lambda r: str(r["method"]), False),
    "bits": (lambda r: r["bits_label"] or "-", False),
    "sparsity": (lambda r: f"{r['sparsity']:.0%}" if _ok(r["sparsity"]) else "-", True),
    "teacher->student": (_pair, False),
    "test acc %": (lambda r: _pm(r, "test_acc", ".2f", 100.0), True),
    "test F1 %": (lambda r: _pm(r, "test_f1", ".2f", 100.0), True),
    "vs fp32 (pp)": (lambda r: _pm(r, "acc_change_pp", "+.2f"), True),
    "size MB": (lambda r: megabytes(r["size_mb"]), True),
    "size ratio": (lambda r: f"{r['size_ratio']:.3f}" if _ok(r["size_ratio"]) else "-", True),
    "p50 ms": (lambda r: _speed(r, "latency_ms_p50"), True),
    "speedup": (lambda r: _speed(r, "speedup_vs_fp32", "x"), True),
    "materialized": (lambda r: _materialized(r["materialized"]), False),
    "runs": (lambda r: _count(r, "n_runs"), True),
    "noisy": (lambda r: _count(r, "n_noisy"), True),
    "pareto": (_pareto, False),
}


def table_cells(table: pd.DataFrame) -> tuple[list[str], list[list[str]]]:
    """Headers and formatted cells, one list per row, in the table's order."""
    headers = list(COLUMNS)
    rows = [[fmt(row) for fmt, _ in COLUMNS.values()] for _, row in table.iterrows()]
    return headers, rows


def footnotes(table: pd.DataFrame) -> list[str]:
    """The lines explaining the marks used in ``table`` (none when nothing is marked)."""
    if "n_noisy" in table and (table["n_noisy"].fillna(0) > 0).any():
        return [NOISY_FOOTNOTE]
    return []


def format_text(table: pd.DataFrame) -> str:
    """Plain text, columns aligned (numbers to the right), a dashed rule under the header."""
    headers, rows = table_cells(table)
    widths = [
        max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)
    ]
    right = [r for _, r in COLUMNS.values()]

    def line(cells: list[str]) -> str:
        return "  ".join(
            c.rjust(w) if r else c.ljust(w) for c, w, r in zip(cells, widths, right, strict=True)
        ).rstrip()

    lines = [line(headers), line(["-" * w for w in widths]), *(line(r) for r in rows)]
    notes = footnotes(table)
    return "\n".join(lines + ([""] + notes if notes else []))


def md_escape(text: str) -> str:
    """Cell text safe in a GFM table: pipes, emphasis stars and link brackets escaped."""
    for char in ("\\", "|", "*", "[", "]"):
        text = text.replace(char, "\\" + char)
    return text


def gfm_table(
    headers: Sequence[str],
    rows: Sequence[Sequence[str]],
    right: Sequence[bool],
    *,
    escape: bool = True,
    pad: bool = False,
) -> str:
    """A GitHub-flavoured Markdown table: header, ``|:---|---:|`` separator, one line per row.

    Args:
        headers: column titles.
        rows: cells, as many per row as ``headers``.
        right: per column, right-aligned (numbers) or left.
        escape: escape Markdown in the cells (:func:`md_escape`); off for cells holding links.
        pad: wrap each cell in ``&nbsp;``. The MLflow UI drops the alignment and gives note
            tables no cell padding, so in a narrow description box the columns shrink to their
            widest word and neighbouring numbers touch (``50.00+0.002.35``); a non-breaking
            space each side keeps them apart.
    """

    def line(cells: Sequence[str]) -> str:
        if len(cells) != len(headers):
            raise ValueError(f"{len(cells)} cells for {len(headers)} columns: {cells}")
        cells = [md_escape(c) if escape else c for c in cells]
        if pad:
            cells = [f"&nbsp;{c}&nbsp;" for c in cells]
        return "| " + " | ".join(cells) + " |"

    align = ["---:" if r else ":---" for r in right]
    return "\n".join([line(headers), "|" + "|".join(align) + "|", *(line(r) for r in rows)])


def format_markdown(table: pd.DataFrame) -> str:
    """A GitHub-flavoured Markdown table (numbers right-aligned), then its footnotes.

    The footnotes follow a blank line: a line right under a table would be read as a row.
    """
    headers, rows = table_cells(table)
    text = gfm_table(headers, rows, [r for _, r in COLUMNS.values()])
    notes = [md_escape(n) for n in footnotes(table)]
    return text + ("\n\n" + "\n".join(notes) if notes else "")


# The reviewer's first view (MLflow descriptions): what was compressed, how well, how small/fast.
COMPACT_COLUMNS = ("config", "test acc %", "size MB", "speedup", "materialized")


def run_link(experiment_id: str, run_id: str) -> str:
    """The MLflow UI's address of a run, relative to the UI's page (hash routing)."""
    return f"#/experiments/{experiment_id}/runs/{run_id}"


def _run_links(row: pd.Series, experiment_id: str) -> str:
    ids = [i for i in str(row.get("run_ids", "")).split(",") if i]
    seeds = str(row.get("seeds", "")).split(",")
    names = seeds if len(seeds) == len(ids) and all(seeds) else [i[:6] for i in ids]
    prefix = "seed " if names is seeds else ""
    return " ".join(
        f"[{prefix}{md_escape(n)}]({run_link(experiment_id, i)})"
        for n, i in zip(names, ids, strict=True)
    )


def format_compact_markdown(
    table: pd.DataFrame, experiment_id: str, *, links: bool = True, max_rows: int | None = None
) -> str:
    """The compact table for MLflow descriptions: config, test accuracy, size, speed-up,
    materialized and the runs (each a link to its run page when ``links``), padded for the UI
    (see :func:`gfm_table`), then its footnotes.

    Args:
        table: the report table.
        experiment_id: the experiment the run links point into.
        links: one link per run; otherwise just the run count.
        max_rows: keep the first (most accurate) rows only, and say how many were left out.
    """
    shown = table if max_rows is None else table.head(max_rows)
    rows = []
    for _, row in shown.iterrows():
        cells = [md_escape(COLUMNS[c][0](row)) for c in COMPACT_COLUMNS]
        runs = _run_links(row, experiment_id) if links else _count(row, "n_runs")
        if noisy(row):
            runs += f" ({_count(row, 'n_noisy')} noisy)"
        rows.append([*cells, runs])
    right = [COLUMNS[c][1] for c in COMPACT_COLUMNS] + [False]
    text = gfm_table([*COMPACT_COLUMNS, "runs"], rows, right, escape=False, pad=True)
    notes = [md_escape(n) for n in footnotes(shown)]
    if len(shown) < len(table):
        notes.append(f"{len(table) - len(shown)} more configurations: see report/results.md.")
    return text + ("\n\n" + "\n\n".join(notes) if notes else "")


def print_table(table_or_result: Any, file: TextIO | None = None) -> None:
    """Print the results table (a report table DataFrame or a ``ReportResult``) as aligned text."""
    table = getattr(table_or_result, "table", table_or_result)
    print(format_text(table), file=file or sys.stdout)

"""The results table as plain aligned text (stdout) and as Markdown."""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from typing import Any, TextIO

import pandas as pd

PARETO_AXES = {"size": "pareto_size", "latency": "pareto_latency"}


def _ok(x: Any) -> bool:
    return x is not None and not (isinstance(x, float) and math.isnan(x))


def _pm(row: pd.Series, column: str, fmt: str, scale: float = 1.0) -> str:
    """``mean ± std`` (std only when the group has several runs)."""
    mean, std = row.get(column), row.get(f"{column}_std")
    if not _ok(mean):
        return "-"
    text = format(mean * scale, fmt)
    return f"{text} ± {format(std * scale, fmt.lstrip('+'))}" if _ok(std) else text


def _size(mb: float) -> str:
    return "-" if not _ok(mb) else f"{mb:.1f}" if mb >= 10 else f"{mb:.2f}"


def _pair(row: pd.Series) -> str:
    if not row["teacher"] and not row["student"]:
        return "-"
    return f"{row['teacher'] or '?'}->{row['student'] or '?'}"


def _pareto(row: pd.Series) -> str:
    return ",".join(name for name, col in PARETO_AXES.items() if bool(row.get(col, False)))


def _materialized(value: Any) -> str:
    return {True: "yes", False: "no (sim.)"}.get(value, "mixed") if value is not None else "?"


# header -> (cell formatter, right-aligned)
COLUMNS: dict[str, tuple[Callable[[pd.Series], str], bool]] = {
    "config": (lambda r: str(r["label"]), False),
    "method": (lambda r: str(r["method"]), False),
    "bits": (lambda r: r["bits_label"] or "-", False),
    "sparsity": (lambda r: f"{r['sparsity']:.0%}" if _ok(r["sparsity"]) else "-", True),
    "teacher->student": (_pair, False),
    "test acc %": (lambda r: _pm(r, "test_acc", ".2f", 100.0), True),
    "vs fp32 (pp)": (lambda r: _pm(r, "acc_change_pp", "+.2f"), True),
    "size MB": (lambda r: _size(r["size_mb"]), True),
    "size ratio": (lambda r: f"{r['size_ratio']:.3f}" if _ok(r["size_ratio"]) else "-", True),
    "p50 ms": (lambda r: _pm(r, "latency_ms_p50", ".2f"), True),
    "speedup": (
        lambda r: _pm(r, "speedup_vs_fp32", ".2f") + ("x" if _ok(r["speedup_vs_fp32"]) else ""),
        True,
    ),
    "materialized": (lambda r: _materialized(r["materialized"]), False),
    "runs": (lambda r: str(int(r["n_runs"])), True),
    "pareto": (_pareto, False),
}


def table_cells(table: pd.DataFrame) -> tuple[list[str], list[list[str]]]:
    """Headers and formatted cells, one list per row, in the table's order."""
    headers = list(COLUMNS)
    rows = [[fmt(row) for fmt, _ in COLUMNS.values()] for _, row in table.iterrows()]
    return headers, rows


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

    return "\n".join([line(headers), line(["-" * w for w in widths]), *(line(r) for r in rows)])


def format_markdown(table: pd.DataFrame) -> str:
    """A GitHub-flavoured Markdown table (numbers right-aligned)."""
    headers, rows = table_cells(table)
    align = ["---:" if r else ":---" for _, r in COLUMNS.values()]

    def line(cells: list[str]) -> str:
        return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"

    return "\n".join([line(headers), "|" + "|".join(align) + "|", *(line(r) for r in rows)])


def print_table(table_or_result: Any, file: TextIO | None = None) -> None:
    """Print the results table (a report table DataFrame or a ``ReportResult``) as aligned text."""
    table = getattr(table_or_result, "table", table_or_result)
    print(format_text(table), file=file or sys.stdout)

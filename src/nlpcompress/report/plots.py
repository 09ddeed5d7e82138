"""Accuracy-vs-cost scatter plots with the Pareto front (matplotlib, Agg canvas, no pyplot).

Using ``Figure`` + ``FigureCanvasAgg`` directly keeps the plots independent of any global
matplotlib backend or pyplot state, so the report can run inside another program (the demo).
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from nlpcompress.report.labels import place_labels
from nlpcompress.report.pareto import pareto_front
from nlpcompress.report.table import noisy

PALETTE = [
    "#1f77b4",
    "#d62728",
    "#2ca02c",
    "#9467bd",
    "#ff7f0e",
    "#8c564b",
    "#e377c2",
    "#17becf",
    "#7f7f7f",
    "#bcbd22",
]


def method_colors(methods: list[str]) -> dict[str, str]:
    """A stable colour per method (sorted names, cycled palette)."""
    return {m: PALETTE[i % len(PALETTE)] for i, m in enumerate(sorted(set(methods)))}


def _std(row: pd.Series, column: str) -> float:
    value = row.get(f"{column}_std", math.nan)
    return 0.0 if value is None or math.isnan(value) else float(value)


def fp32_reference(table: pd.DataFrame) -> float | None:
    """The fp32 baseline test accuracy to draw, when all rows share one model and dataset.

    The mean of the rows' ``fp32_test_acc`` (the baseline each run compared against); None
    when rows come from several model/data combinations or none logged it.
    """
    if "fp32_test_acc" not in table or table[["model", "data"]].drop_duplicates().shape[0] != 1:
        return None
    values = table["fp32_test_acc"].dropna()
    return float(values.mean()) if len(values) else None


def plot_tradeoff(
    table: pd.DataFrame,
    x: str,
    xlabel: str,
    path: Path,
    *,
    log_x: bool = False,
    title: str = "",
    mark_noisy: bool = False,
) -> Path:
    """Write :func:`tradeoff_figure` to ``path`` (PNG); returns ``path``."""
    fig = tradeoff_figure(table, x, xlabel, log_x=log_x, title=title, mark_noisy=mark_noisy)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png")
    return path


def tradeoff_figure(
    table: pd.DataFrame,
    x: str,
    xlabel: str,
    *,
    log_x: bool = False,
    title: str = "",
    mark_noisy: bool = False,
) -> Figure:
    """Scatter test accuracy (%) against a cost column, with the Pareto front as a staircase.

    Points are coloured by method and annotated with their config label, placed so that no
    two labels overlap (:func:`~nlpcompress.report.labels.place_labels`); filled markers are
    materialized forms, hollow markers simulated ones (``materialized=false``). With
    ``mark_noisy`` (the latency plot), a configuration with a run timed on a busy machine
    (``n_noisy > 0``) is a triangle instead of a circle, with a legend entry. Error bars show
    the std over seeds where a configuration has several runs. The front (see
    :mod:`nlpcompress.report.pareto`) is drawn as a ``where="post"`` step line: the best
    accuracy reachable within each cost budget. A dotted line marks the fp32 baseline accuracy
    when all runs share one model and dataset (:func:`fp32_reference`).

    Args:
        table: the aggregated report table (``test_acc``, ``x``, ``method``, ``materialized``, ``label``).
        x: cost column, e.g. ``size_mb`` or ``latency_ms_p50``.
        xlabel: axis label.
        log_x: logarithmic cost axis.
        title: figure title.
        mark_noisy: draw configurations with noisy timings differently.

    Returns:
        The figure, drawn once, its layout fixed and its labels placed.
    """
    fig = Figure(figsize=(8.5, 5.5), dpi=130, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    data = table[table["test_acc"].notna() & table[x].notna()].reset_index(drop=True)
    colors = method_colors(list(table["method"]))
    labels: list[tuple[float, float, str]] = []
    any_noisy = False

    for _, row in data.iterrows():
        color = colors[row["method"]]
        hollow = row["materialized"] is False
        shaky = mark_noisy and noisy(row)
        any_noisy |= shaky
        acc = 100.0 * row["test_acc"]
        ax.errorbar(
            row[x],
            acc,
            yerr=100.0 * _std(row, "test_acc"),
            xerr=_std(row, x),
            fmt="none",
            ecolor=color,
            elinewidth=0.8,
            alpha=0.6,
            zorder=2,
        )
        ax.scatter(
            row[x],
            acc,
            s=70 if shaky else 55,
            marker="^" if shaky else "o",
            zorder=3,
            linewidths=1.6,
            facecolors="white" if hollow else color,
            edgecolors=color,
        )
        labels.append((row[x], acc, str(row["label"])))

    front = pareto_front(list(data["test_acc"]), list(data[x]))
    if front:
        xs = [data.at[i, x] for i in front]
        ys = [100.0 * data.at[i, "test_acc"] for i in front]
        ax.step(xs, ys, where="post", color="black", linewidth=1.0, linestyle="--", zorder=1)
        ax.scatter(
            xs,
            ys,
            s=140,
            marker="o",
            facecolors="none",
            edgecolors="black",
            linewidths=0.8,
            zorder=2,
        )

    fp32 = fp32_reference(table)
    if fp32 is not None:
        ax.axhline(100.0 * fp32, color="#888888", linestyle=":", linewidth=1.0, zorder=0)

    ax.margins(x=0.08, y=0.08)
    if log_x:
        ax.set_xscale("log")
        # Plain numbers (2, 5, 10, 20, 50...) instead of powers of ten: sizes span 1-2 decades.
        ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))
        ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel(xlabel)
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(title or f"accuracy vs {xlabel}")
    ax.grid(True, which="both", alpha=0.25)
    handles = [
        Line2D([], [], marker="o", linestyle="", color=c, label=m) for m, c in colors.items()
    ]
    handles += [
        Line2D(
            [],
            [],
            marker="o",
            linestyle="",
            markerfacecolor="#555555",
            markeredgecolor="#555555",
            label="materialized",
        ),
        Line2D(
            [],
            [],
            marker="o",
            linestyle="",
            markerfacecolor="white",
            markeredgecolor="#555555",
            label="simulated",
        ),
        Line2D(
            [],
            [],
            color="black",
            linestyle="--",
            marker="o",
            markerfacecolor="none",
            markersize=10,
            label="Pareto front",
        ),
    ]
    if any_noisy:
        handles.append(
            Line2D(
                [],
                [],
                marker="^",
                linestyle="",
                markerfacecolor="none",
                markeredgecolor="#555555",
                label="timed on a busy machine",
            )
        )
    if fp32 is not None:
        handles.append(Line2D([], [], color="#888888", linestyle=":", label="fp32 baseline"))
    ax.legend(
        handles=handles, fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False
    )
    # Labels are measured in pixels: settle the layout first, then keep it as it is.
    fig.canvas.draw()
    fig.set_layout_engine("none")
    place_labels(ax, labels)
    return fig

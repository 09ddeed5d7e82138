"""Per-layer sparsity of a pruned model: a table and a grouped bar chart (Agg canvas)."""

from __future__ import annotations

import csv
import re
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from nlpcompress.report.plots import PALETTE

_LAYER = re.compile(r"layer\.(\d+)\.(.+)$")


def write_layer_sparsity(sparsity: dict[str, float], stem: Path) -> list[Path]:
    """Write ``<stem>.csv`` (module, layer, matrix, sparsity) and ``<stem>.png``.

    Args:
        sparsity: module name -> fraction of zeros of its weight.
        stem: output path without suffix.

    Returns:
        The two files written.
    """
    rows = []
    for name, value in sparsity.items():
        match = _LAYER.search(name)
        layer, matrix = (int(match.group(1)), match.group(2)) if match else (-1, name)
        rows.append((name, layer, matrix, value))
    csv_path = stem.with_suffix(".csv")
    with open(csv_path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["module", "layer", "matrix", "sparsity"])
        writer.writerows((n, layer, m, f"{v:.6f}") for n, layer, m, v in rows)
    layers = sorted({r[1] for r in rows})
    matrices = list(dict.fromkeys(r[2] for r in rows))
    fig = Figure(figsize=(max(6.0, 1.2 * len(layers) + 2), 4.0))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    width = 0.8 / max(1, len(matrices))
    lookup = {(r[1], r[2]): r[3] for r in rows}
    for j, matrix in enumerate(matrices):
        xs = [i + (j - (len(matrices) - 1) / 2) * width for i in range(len(layers))]
        ys = [100.0 * lookup.get((layer, matrix), float("nan")) for layer in layers]
        ax.bar(xs, ys, width, label=matrix, color=PALETTE[j % len(PALETTE)])
    ax.set_xticks(range(len(layers)), [f"layer {layer}" for layer in layers])
    ax.set_ylabel("sparsity of the final mask (%)")
    ax.set_ylim(0, 100)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=7, ncol=3, loc="lower right")
    fig.tight_layout()
    png_path = stem.with_suffix(".png")
    fig.savefig(png_path, dpi=110)
    return [csv_path, png_path]

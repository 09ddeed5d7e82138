"""Point labels that do not overlap: a greedy placement on text boxes measured by the renderer.

Each label is tried at candidate offsets around its point, nearest first: right or left of the
point, then stacked one text height further up or down at a time. A candidate is taken when
its box (as drawn, from ``Text.get_window_extent``) is inside the axes and clear of every label
already placed and of every point's marker; when none is, the candidate overlapping least
wins. A label moved more than about one line from its point gets a thin leader line. Labels
are placed in order of their points' height, so a cluster fans out as a readable stack.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from matplotlib.axes import Axes
from matplotlib.text import Annotation
from matplotlib.transforms import Bbox

GAP_PT = 5.0  # offset of a label from its point, points
MARKER_PX = 5.0  # half-size of the box kept clear around each point, pixels
MAX_LAYERS = 40  # candidate rows above and below a point


def _overlap(a: Bbox, b: Bbox) -> float:
    w = min(a.x1, b.x1) - max(a.x0, b.x0)
    h = min(a.y1, b.y1) - max(a.y0, b.y0)
    return w * h if w > 0 and h > 0 else 0.0


def _outside(box: Bbox, frame: Bbox) -> float:
    """Area of ``box`` outside ``frame``."""
    return box.width * box.height - _overlap(box, frame)


def _candidates(height_pt: float) -> list[tuple[float, float, str]]:
    """(dx, dy, ha) offsets in points, nearest to the point first."""
    step = 1.15 * height_pt
    out = []
    for k in range(MAX_LAYERS):
        for dy in (0.5 * GAP_PT + k * step, -0.5 * GAP_PT - height_pt - k * step):
            out += [(GAP_PT, dy, "left"), (-GAP_PT, dy, "right")]
    return sorted(out, key=lambda c: math.hypot(c[0], c[1] + 0.5 * height_pt))


def place_labels(
    ax: Axes,
    points: Sequence[tuple[float, float, str]],
    *,
    fontsize: float = 7.0,
    color: str = "#333333",
    leader_color: str = "#999999",
) -> list[Annotation]:
    """Annotate ``(x, y, text)`` points in data coordinates without labels overlapping.

    Call after the figure's layout is final (draw it once and fix the layout engine), since the
    boxes are measured in display pixels.

    Returns:
        The label annotations (leader lines are separate, text-less annotations).
    """
    fig = ax.figure
    renderer = fig.canvas.get_renderer()
    frame = ax.get_window_extent(renderer)
    to_px = fig.dpi / 72.0
    pixels = [tuple(ax.transData.transform((x, y))) for x, y, _ in points]
    markers = [
        Bbox.from_bounds(u - MARKER_PX, v - MARKER_PX, 2 * MARKER_PX, 2 * MARKER_PX)
        for u, v in pixels
    ]
    placed: list[Bbox] = []
    labels: list[Annotation] = []
    for i in sorted(range(len(points)), key=lambda j: (-pixels[j][1], pixels[j][0])):
        x, y, text = points[i]
        label = ax.annotate(
            text,
            (x, y),
            textcoords="offset points",
            xytext=(GAP_PT, 0.5 * GAP_PT),
            fontsize=fontsize,
            color=color,
            va="bottom",
            zorder=4,
            annotation_clip=False,
        )
        height_pt = label.get_window_extent(renderer).height / to_px
        best, best_cost = None, math.inf
        for dx, dy, ha in _candidates(height_pt):
            label.set_ha(ha)
            label.xyann = (dx, dy)
            box = label.get_window_extent(renderer)
            cost = sum(_overlap(box, p) for p in placed) + sum(_overlap(box, m) for m in markers)
            cost += 4.0 * _outside(box, frame)
            if cost < best_cost:
                best, best_cost = (dx, dy, ha), cost
            if cost == 0.0:
                break
        dx, dy, ha = best
        label.set_ha(ha)
        label.xyann = (dx, dy)
        placed.append(label.get_window_extent(renderer))
        labels.append(label)
        if abs(dy) > 1.5 * height_pt:
            # From the point to the middle of the label's near edge.
            ax.annotate(
                "",
                (x, y),
                textcoords="offset points",
                xytext=(dx, dy + 0.5 * height_pt),
                arrowprops={
                    "arrowstyle": "-",
                    "color": leader_color,
                    "linewidth": 0.6,
                    "shrinkA": 0,
                    "shrinkB": 3,
                },
                zorder=3,
                annotation_clip=False,
            )
    return labels

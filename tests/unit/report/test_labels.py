"""Plot labels never overlap, even for points drawn on top of each other."""

from __future__ import annotations

import pandas as pd

from nlpcompress.report.plots import tradeoff_figure


def _table(n_cluster: int = 6) -> pd.DataFrame:
    rows = [
        {
            "label": f"qat int{bits} cluster label",
            "method": "qat" if bits % 2 else "ptq",
            "model": "m",
            "data": "d",
            "test_acc": 0.85 + bits * 1e-5,
            "size_mb": 12.0 + bits * 1e-3,
            "latency_ms_p50": 5.0,
            "materialized": bits % 3 == 0,
            "n_noisy": bits % 2,
        }
        for bits in range(2, 2 + n_cluster)
    ]
    rows += [
        {
            "label": "fp32 baseline",
            "method": "baseline",
            "model": "m",
            "data": "d",
            "test_acc": 0.91,
            "size_mb": 90.0,
            "latency_ms_p50": 10.0,
            "materialized": True,
            "n_noisy": 0,
        },
        {
            "label": "qat binary",
            "method": "qat",
            "model": "m",
            "data": "d",
            "test_acc": 0.70,
            "size_mb": 4.0,
            "latency_ms_p50": 12.0,
            "materialized": False,
            "n_noisy": 0,
        },
    ]
    return pd.DataFrame(rows)


def _label_boxes(fig):
    renderer = fig.canvas.get_renderer()
    (ax,) = [a for a in fig.axes if a.texts]
    texts = [t for t in ax.texts if t.get_text()]
    return {t.get_text(): t.get_window_extent(renderer) for t in texts}, ax


def test_labels_of_clustered_points_do_not_overlap():
    for x, log_x in (("size_mb", True), ("latency_ms_p50", False)):
        fig = tradeoff_figure(_table(), x, x, log_x=log_x, mark_noisy=True)
        boxes, ax = _label_boxes(fig)
        assert len(boxes) == 8  # every point labelled once
        names = sorted(boxes)
        for i, a in enumerate(names):
            for b in names[i + 1 :]:
                assert not boxes[a].overlaps(boxes[b]), (x, a, b, boxes[a], boxes[b])
        frame = ax.get_window_extent(fig.canvas.get_renderer())
        for name, box in boxes.items():  # and stay inside the axes, clear of the legend
            assert frame.x0 <= box.x0 and box.x1 <= frame.x1, name
            assert frame.y0 <= box.y0 and box.y1 <= frame.y1, name


def test_noisy_points_are_triangles_with_a_legend_entry_on_the_latency_plot():
    fig = tradeoff_figure(_table(), "latency_ms_p50", "latency", mark_noisy=True)
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert "timed on a busy machine" in legend
    fig = tradeoff_figure(_table(), "size_mb", "size", log_x=True)
    assert "timed on a busy machine" not in [
        t.get_text() for t in fig.axes[0].get_legend().get_texts()
    ]

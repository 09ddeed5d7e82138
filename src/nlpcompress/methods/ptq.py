"""``method=ptq``: post-training quantization of the cached fine-tuned baseline (no training)."""

from __future__ import annotations

from nlpcompress.measure.accuracy import torch_predictor
from nlpcompress.measure.agreement import output_agreement
from nlpcompress.methods.base import CompressedModel, MethodContext
from nlpcompress.methods.quant_workflow import (
    calibrate,
    quant_result,
    quantize_for_method,
)


def run_ptq(ctx: MethodContext) -> CompressedModel:
    """Quantize the baseline's weights (calibrating activation ranges when asked), and log
    how far that moved the baseline's validation outputs (``quant/val_agreement_vs_fp32``,
    ``quant/val_logit_rel_error_vs_fp32``: :mod:`nlpcompress.measure.agreement`)."""
    q = ctx.cfg.section("quant")
    model, _, metrics = quantize_for_method(ctx, q)
    ranges = calibrate(model, ctx, q.calib_batches)
    if ranges:
        metrics["quant/calibrated_layers"] = float(len(ranges))
    if ctx.start_model is None:  # a pipeline stage quantizes its predecessor, not the baseline
        moved = output_agreement(
            torch_predictor(ctx.baseline.model.eval()),
            torch_predictor(model.eval()),
            ctx.datamodule.val_dataloader(),
        )
        # how far the quantized weights moved the fp32 model's outputs (validation split)
        metrics |= {f"quant/val_{k}_vs_fp32": v for k, v in moved.items()}
    return quant_result(ctx, model, q, metrics)

"""``method=mixed_precision``: mixed precision in both senses.

1. Per-layer bit widths: a sensitivity-based allocation under ``quant.budget_bits`` (or a
   hand-written ``quant.policy``), logged as ``bit_allocation.csv``.
2. Mixed-precision training: the quantization-aware fine-tune runs with
   ``method.precision`` (bf16-mixed); its throughput and peak memory are logged against an
   fp32 fine-tune of the same model measured the same way for ``method.compare_steps`` steps.
"""

from __future__ import annotations

import copy
import dataclasses

from nlpcompress.methods.base import CompressedModel, MethodContext
from nlpcompress.methods.qat import qat_module, train_quantized
from nlpcompress.methods.quant_workflow import (
    calibrate,
    quant_result,
    quantize_for_method,
)
from nlpcompress.training.probe import TrainingProbe, release_memory


def run_mixed_precision(ctx: MethodContext) -> CompressedModel:
    q, mcfg = ctx.cfg.section("quant"), ctx.cfg.method
    metrics = {}
    model, _, alloc_metrics = quantize_for_method(ctx, q)
    metrics |= alloc_metrics
    calibrate(model, ctx, q.calib_batches)
    if mcfg.compare_steps:
        ref = copy.deepcopy(
            model
        )  # the same fake-quant model, trained briefly at the reference precision
        probe_ref = TrainingProbe(mcfg.probe_warmup)
        ref_cfg = dataclasses.replace(mcfg, max_steps=mcfg.compare_steps, max_epochs=1)
        train_quantized(
            ctx,
            qat_module(ctx, ref, ref_cfg),
            ref_cfg,
            mcfg.compare_precision,
            [probe_ref],
            checkpoint=False,
            limit_val_batches=0,
        )
        metrics |= probe_ref.metrics("train_fp32")
        del ref
        release_memory()
    probe = TrainingProbe(mcfg.probe_warmup)
    module = qat_module(ctx, model, mcfg)
    metrics["time/qat_train_s"] = train_quantized(ctx, module, mcfg, mcfg.precision, [probe])
    metrics |= probe.metrics("train")
    if mcfg.compare_steps and metrics.get("train_fp32/throughput_samples_s"):
        metrics["train/throughput_speedup_vs_fp32"] = (
            metrics["train/throughput_samples_s"] / metrics["train_fp32/throughput_samples_s"]
        )
        if metrics["train_fp32/peak_mem_mb"] > 0:
            metrics["train/peak_mem_ratio_vs_fp32"] = (
                metrics["train/peak_mem_mb"] / metrics["train_fp32/peak_mem_mb"]
            )
    result = quant_result(ctx, module.model.eval(), q, metrics)
    result.tags["train_precision"] = str(mcfg.precision)
    return result

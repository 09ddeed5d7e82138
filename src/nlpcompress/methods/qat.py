"""``method=qat``: quantization-aware fine-tuning from the cached baseline.

The fake-quant model (straight-through estimators, optional LSQ steps) is fine-tuned with
the usual :class:`ClassifierModule`, or with ``method.distill=true`` against the fp32
baseline it came from (:class:`~nlpcompress.training.teacher_kd.TeacherKDModule`: logits and
every layer's hidden states, BinaryBERT's recipe); the best checkpoint by ``val/acc`` is kept
and then stored as integer codes plus scales.
"""

from __future__ import annotations

import copy
import dataclasses

from nlpcompress.config.errors import ConfigError
from nlpcompress.distill.students import num_layers
from nlpcompress.methods.base import CompressedModel, MethodContext
from nlpcompress.methods.quant_workflow import (
    calibrate,
    quant_result,
    quantize_for_method,
)
from nlpcompress.methods.teacher_outputs import teacher_cache_metrics, training_split_outputs
from nlpcompress.training.module import ClassifierModule
from nlpcompress.training.teacher_kd import TeacherKDModule
from nlpcompress.training.trainer import fit_best


def train_quantized(
    ctx: MethodContext,
    module: ClassifierModule,
    mcfg,
    precision: str | None,
    callbacks=(),
    **overrides,
) -> float:
    """Fit ``module`` and restore its best checkpoint; returns the wall time in seconds."""
    trainer = ctx.make_trainer(
        max_epochs=mcfg.max_epochs,
        max_steps=mcfg.max_steps,
        precision=precision or ctx.cfg.trainer.precision,
        callbacks=list(callbacks),
        **overrides,
    )
    return fit_best(trainer, module, ctx.datamodule, seed=ctx.cfg.seed)


def qat_module(ctx: MethodContext, model, mcfg) -> ClassifierModule:
    """The module that fine-tunes ``model``: cross-entropy, or KD from the fp32 baseline."""
    trainer_cfg = ctx.cfg.trainer
    if mcfg.learning_rate is not None:
        trainer_cfg = dataclasses.replace(trainer_cfg, learning_rate=mcfg.learning_rate)
    if not getattr(mcfg, "distill", False):
        return ClassifierModule(model, trainer_cfg, ctx.datamodule.num_labels)
    if ctx.baseline is None:
        raise ConfigError(
            "method.distill", True, "false: this run has no fp32 baseline to distil from"
        )
    teacher = copy.deepcopy(ctx.baseline.model).eval()
    cache = None
    if mcfg.distill_cache:
        layers = list(range(num_layers(teacher))) if mcfg.distill_hidden_weight > 0 else []
        cache, _ = training_split_outputs(
            ctx,
            teacher,
            ctx.baseline.key,
            layers,
            False,
            mcfg.distill_cache_max_mb,
            "method.distill_cache_max_mb",
        )
    return TeacherKDModule(
        model,
        trainer_cfg,
        ctx.datamodule.num_labels,
        teacher,
        mcfg.distill_temperature,
        mcfg.distill_alpha,
        mcfg.distill_hidden_weight,
        cache,
    )


def run_qat(ctx: MethodContext) -> CompressedModel:
    """Fake-quantize the baseline, calibrate activations, fine-tune with STE, store as integers."""
    q, mcfg = ctx.cfg.section("quant"), ctx.cfg.method
    model, _, metrics = quantize_for_method(ctx, q)
    calibrate(model, ctx, q.calib_batches)
    module = qat_module(ctx, model, mcfg)
    metrics["time/qat_train_s"] = train_quantized(ctx, module, mcfg, mcfg.precision)
    if isinstance(module, TeacherKDModule):
        metrics.update(teacher_cache_metrics(module.cache, module.teacher_calls))
    return quant_result(ctx, module.model.eval(), q, metrics)

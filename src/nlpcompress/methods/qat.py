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
from nlpcompress.measure.accuracy import evaluate_splits
from nlpcompress.methods.base import CompressedModel, MethodContext
from nlpcompress.methods.quant_workflow import (
    calibrate,
    quant_result,
    quantize_for_method,
)
from nlpcompress.methods.teacher_outputs import teacher_cache_metrics, training_split_outputs
from nlpcompress.quant.modules import split_plane_signs, split_ternary_layers
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
    """Fit ``module`` and restore its best checkpoint; returns the wall time in seconds.

    ``overrides`` (``max_steps``, ``log_prefix``, ...) go to ``ctx.make_trainer``.
    """
    limits = {"max_epochs": mcfg.max_epochs, "max_steps": mcfg.max_steps} | overrides
    trainer = ctx.make_trainer(
        precision=precision or ctx.cfg.trainer.precision, callbacks=list(callbacks), **limits
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


def train_ternary_then_split(ctx: MethodContext, model, mcfg) -> dict[str, float]:
    """BinaryBERT's first stage: ternary QAT for ``method.ternary_max_steps`` steps (same loss
    and learning rate as the run), then ternary weight splitting, in place.

    Metrics: ``tws/ternary_val_acc`` and ``tws/ternary_test_acc`` (the ternary model, which the
    split model equals), ``tws/split_layers``, ``tws/split_max_weight_change`` (fp16 rounding
    of the scales only), ``time/ternary_train_s`` and, with KD, ``tws/teacher_forward_calls``.
    The stage's curves are logged under ``ternary/``.
    """
    module = qat_module(ctx, model, mcfg)
    seconds = train_quantized(
        ctx,
        module,
        mcfg,
        mcfg.precision,
        max_steps=mcfg.ternary_max_steps,
        max_epochs=-1,
        log_prefix="ternary/",
        default_root_dir=ctx.run_dir / "ternary_stage",
    )
    metrics = {"time/ternary_train_s": seconds}
    if isinstance(module, TeacherKDModule):
        metrics["tws/teacher_forward_calls"] = float(module.teacher_calls)
    scores = evaluate_splits(module.model, ctx.datamodule, ("val", "test"))
    metrics |= {f"tws/ternary_{split}_acc": scores[f"{split}/acc"] for split in ("val", "test")}
    layers, change = split_ternary_layers(module.model)
    return metrics | {"tws/split_layers": float(layers), "tws/split_max_weight_change": change}


def run_qat(ctx: MethodContext) -> CompressedModel:
    """Fake-quantize the baseline, calibrate activations, fine-tune with STE, store as integers.

    ``quant.form=split_binary`` with ``method.ternary_max_steps > 0`` trains the ternary model
    first and splits it (:func:`train_ternary_then_split`) before the run's own fit.
    """
    q, mcfg = ctx.cfg.section("quant"), ctx.cfg.method
    ternary_stage = q.form == "split_binary" and mcfg.ternary_max_steps > 0
    model, _, metrics = quantize_for_method(ctx, q, split=not ternary_stage)
    calibrate(model, ctx, q.calib_batches)
    if ternary_stage:
        metrics |= train_ternary_then_split(ctx, model, mcfg)
    signs = split_plane_signs(model)
    module = qat_module(ctx, model, mcfg)
    metrics["time/qat_train_s"] = train_quantized(ctx, module, mcfg, mcfg.precision)
    if signs.numel():
        # how far the binary fine-tune moved the split planes (TWS: from the ternary model)
        flipped = (split_plane_signs(module.model) != signs).float().mean()
        metrics["tws/plane_sign_flip_rate"] = float(flipped)
    if isinstance(module, TeacherKDModule):
        metrics.update(teacher_cache_metrics(module.cache, module.teacher_calls))
    return quant_result(ctx, module.model.eval(), q, metrics)

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
import time
from dataclasses import dataclass

import torch

from nlpcompress.config.errors import ConfigError
from nlpcompress.config.schema import MethodConfig
from nlpcompress.config.typed import check
from nlpcompress.methods.base import CompressedModel, MethodContext
from nlpcompress.methods.registry import register_method
from nlpcompress.quant.workflow import calibrate, quant_result, quantize_for_method, validate_quant
from nlpcompress.training.module import ClassifierModule
from nlpcompress.training.teacher_kd import TeacherKDModule


@dataclass(frozen=True)
class QATMethodConfig(MethodConfig):
    """QAT fine-tuning knobs (separate from ``trainer``, whose values define the baseline).

    Attributes:
        max_epochs: epochs of QAT.
        max_steps: step limit (-1: none).
        learning_rate: QAT learning rate; null uses ``trainer.learning_rate``.
        precision: Lightning precision of QAT; null uses ``trainer.precision``.
        distill: distil from the fp32 baseline while quantizing (BinaryBERT / BiT).
        distill_temperature: ``T`` of the logit term.
        distill_alpha: weight of the soft logit term against cross-entropy (1: KD only).
        distill_hidden_weight: weight of the mean hidden-state MSE over layers (0: logits only).
    """

    name: str = "qat"
    max_epochs: int = 1
    max_steps: int = -1
    learning_rate: float | None = None
    precision: str | None = None
    distill: bool = False
    distill_temperature: float = 1.0
    distill_alpha: float = 1.0
    distill_hidden_weight: float = 1.0

    def __post_init__(self):
        check(
            self.distill_temperature > 0,
            "distill_temperature",
            self.distill_temperature,
            "a number > 0",
        )
        check(0.0 <= self.distill_alpha <= 1.0, "distill_alpha", self.distill_alpha, "in [0, 1]")
        check(
            self.distill_hidden_weight >= 0,
            "distill_hidden_weight",
            self.distill_hidden_weight,
            "a number >= 0",
        )
        check(self.max_epochs >= 1, "max_epochs", self.max_epochs, "an integer >= 1")
        check(
            self.max_steps == -1 or self.max_steps > 0,
            "max_steps",
            self.max_steps,
            "-1 or an integer > 0",
        )
        check(
            self.learning_rate is None or 0 < self.learning_rate < 1,
            "learning_rate",
            self.learning_rate,
            "null or a number in (0, 1)",
        )
        check(
            self.precision in (None, "32-true", "32", "bf16-mixed", "bf16-true"),
            "precision",
            self.precision,
            "null, 32-true, bf16-mixed or bf16-true",
        )


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
    start = time.perf_counter()
    trainer.fit(module, datamodule=ctx.datamodule)
    seconds = time.perf_counter() - start
    best = trainer.checkpoint_callback.best_model_path if trainer.checkpoint_callback else ""
    if best:
        module.load_state_dict(
            torch.load(best, map_location="cpu", weights_only=True)["state_dict"]
        )
    return seconds


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
    return TeacherKDModule(
        model,
        trainer_cfg,
        ctx.datamodule.num_labels,
        copy.deepcopy(ctx.baseline.model),
        mcfg.distill_temperature,
        mcfg.distill_alpha,
        mcfg.distill_hidden_weight,
    )


@register_method("qat", config_cls=QATMethodConfig, sections=("quant",), validate=validate_quant)
def run_qat(ctx: MethodContext) -> CompressedModel:
    """Fake-quantize the baseline, calibrate activations, fine-tune with STE, store as integers."""
    q, mcfg = ctx.cfg.section("quant"), ctx.cfg.method
    model, _, metrics = quantize_for_method(ctx, q)
    calibrate(model, ctx, q.calib_batches)
    module = qat_module(ctx, model, mcfg)
    metrics["time/qat_train_s"] = train_quantized(ctx, module, mcfg, mcfg.precision)
    return quant_result(ctx, module.model.eval(), q, metrics)

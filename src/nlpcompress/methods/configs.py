"""Schemas of the ``method`` group (and the ``pipeline`` section) of the methods whose knobs
are not a technique's own section.

Import-light on purpose (no torch): the CLI validates a config with them before it imports
any method (see :mod:`nlpcompress.methods.registry`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from nlpcompress.config.schema import MethodConfig
from nlpcompress.config.typed import check, check_kd, register_section


@dataclass(frozen=True)
class PTQMethodConfig(MethodConfig):
    """PTQ has no knobs of its own: everything is in the ``quant`` group."""

    name: str = "ptq"


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
        distill_cache: read the teacher's logits and hidden states from an on-disk cache of the
            training split (one teacher pass, reused by every later run with the same baseline
            and data) instead of running the teacher every step.
        distill_cache_max_mb: the most the cached hidden states (float16) may take; beyond it
            the teacher runs every step.
        ternary_max_steps: ``quant.form=split_binary`` only: steps of ternary QAT before the
            ternary weights are split into two binary planes (BinaryBERT's ternary-weight
            splitting; the split model then trains for ``max_epochs`` / ``max_steps``, with
            the same loss and learning rate); 0 splits the ternarized start model directly.
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
    distill_cache: bool = True
    distill_cache_max_mb: int = 2048
    ternary_max_steps: int = 0

    def __post_init__(self):
        check_kd(self.distill_temperature, self.distill_alpha)
        check(
            self.ternary_max_steps >= 0,
            "ternary_max_steps",
            self.ternary_max_steps,
            "an integer >= 0 (0: no ternary stage)",
        )
        check(
            self.distill_cache_max_mb >= 0,
            "distill_cache_max_mb",
            self.distill_cache_max_mb,
            "an integer >= 0",
        )
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


@dataclass(frozen=True)
class MixedPrecisionMethodConfig(QATMethodConfig):
    """QAT knobs plus the training-precision comparison.

    Attributes:
        precision: precision of the fine-tune (default bf16-mixed).
        compare_precision: the reference precision measured the same way.
        compare_steps: steps of the reference fine-tune (0: no comparison).
        probe_warmup: first steps left out of the throughput.
    """

    name: str = "mixed_precision"
    precision: str | None = "bf16-mixed"
    compare_precision: str = "32-true"
    compare_steps: int = 20
    probe_warmup: int = 2

    def __post_init__(self):
        super().__post_init__()
        check(self.compare_steps >= 0, "compare_steps", self.compare_steps, "an integer >= 0")
        check(
            self.compare_steps == 0 or self.compare_steps > self.probe_warmup,
            "probe_warmup",
            self.probe_warmup,
            f"fewer than compare_steps={self.compare_steps}",
        )


@dataclass(frozen=True)
class VocabPruneMethodConfig(MethodConfig):
    """Vocabulary pruning knobs.

    Attributes:
        keep_top_k: also keep the first ``k`` ordinary (non-bracketed) entries of the
            original vocabulary; for BERT's uncased vocab ``k=1000`` is about every single
            character, beyond that the most frequent words. ``k`` at or above the vocabulary
            size keeps it whole.
    """

    name: str = "vocab_prune"
    keep_top_k: int = 0

    def __post_init__(self):
        check(self.keep_top_k >= 0, "keep_top_k", self.keep_top_k, "an integer >= 0")


STAGE_METHODS = ("distill", "prune", "qat", "ptq", "mixed_precision", "vocab_prune")
# Stages that change the token ids: later stages' data, teachers and fresh students would
# still use the original ids. Vocabulary pruning is exact on the training data, so pruning
# last gives the model that pruning first and training on would.
LAST_ONLY = ("vocab_prune",)


@register_section("pipeline")
@dataclass(frozen=True)
class PipelineConfig:
    """Stages in order, and each stage method's knobs (its ``method`` group fields).

    Attributes:
        stages: method names, e.g. ``[distill, prune, qat]``.
        methods: ``{stage: {knob: value}}`` passed to that method's config schema.
        keep_zeros: re-apply earlier stages' zeros after every optimiser step of later ones.
    """

    stages: list[str] = field(default_factory=list)
    methods: dict[str, dict[str, Any]] = field(default_factory=dict)
    keep_zeros: bool = True

    def __post_init__(self):
        check(
            len(self.stages) >= 1,
            "stages",
            self.stages,
            "a non-empty list of methods, e.g. [distill,prune,qat]",
        )
        for stage in self.stages:
            check(
                stage in STAGE_METHODS,
                "stages",
                stage,
                f"compression methods: {', '.join(STAGE_METHODS)} (not pipeline or baseline)",
            )
        for stage in self.stages[:-1]:
            check(
                stage not in LAST_ONLY,
                "stages",
                self.stages,
                f"{stage} only as the last stage (it renumbers the token ids), e.g. "
                f"[{','.join([s for s in self.stages if s != stage] + [stage])}]",
            )
        for name in self.methods:
            check(
                name in self.stages,
                f"methods.{name}",
                self.methods[name],
                f"knobs of a listed stage ({', '.join(self.stages)})",
            )

    def describe(self) -> str:
        return "+".join(self.stages)

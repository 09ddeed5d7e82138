"""The ``prune`` config section (``conf/prune/*.yaml``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from nlpcompress.config.typed import check, check_kd, register_section


@register_section("prune")
@dataclass(frozen=True)
class PruneConfig:
    """What to prune, how much, and when.

    Attributes:
        name: the preset name, used in tags.
        kind: ``magnitude`` (unstructured ``|W|``), ``movement`` (learned scores, Sanh et al.
            2020), ``structured`` (attention heads + FFN neurons removed physically) or
            ``nm`` (N:M semi-structured mask).
        sparsity: target fraction of zeros in the prunable weights (magnitude, movement), in [0, 1).
        scope: ``global`` (one threshold over all prunable weights) or ``layer`` (the same
            sparsity in every matrix; for structured: the same fraction in every layer).
        schedule: ``one_shot`` (prune at ``start_step``) or ``cubic`` (Zhu & Gupta 2017, every
            ``frequency`` steps from ``start_step`` to ``end_step``).
        initial_sparsity: ``s_i`` of the cubic schedule.
        start_step: ``t0``, the first pruning step.
        end_step: the last pruning step; null = 70% of the training steps.
        frequency: ``dt``, steps between two prunes.
        heads_fraction: fraction of attention heads removed (structured).
        ffn_fraction: fraction of FFN neurons removed (structured).
        n: kept entries per group (N:M).
        m: group size (N:M).
        importance: structured importance, ``norm`` (L2 of the unit's weights) or ``taylor``
            (``sum |w * dL/dw|``).
        importance_batches: training batches for the Taylor gradients.
        include_embeddings: prune the word embeddings too (unstructured kinds).
        finetune: fine-tune during / after pruning (false: one-shot, no training).
        epochs: fine-tuning epochs; null uses ``trainer.max_epochs``.
        max_steps: step limit of the fine-tune; -1 uses ``trainer.max_steps``.
        rewind: lottery-ticket rewind: after pruning, reset the surviving weights to their
            values at the start (the fine-tuned baseline) and fine-tune again with the final mask.
        movement_mode: ``hard`` (TopK of the scores at the scheduled sparsity in every matrix)
            or ``soft`` (``sigmoid(S) > tau`` over all matrices, ``tau`` set at each prune step
            to meet the scheduled sparsity, with an L1 penalty on ``sigmoid(S)``).
        movement_lambda: final weight of soft movement's penalty; ``lambda_t = lambda * s_t / s``
            follows the schedule's sparsity ``s_t``, as in the authors' code.
        start_fraction: first prune step as a fraction of the training steps, when
            ``start_step`` is 0 (scores and weights train unpruned before it: the authors'
            initial warm-up).
        end_fraction: last prune step as a fraction of the training steps, when ``end_step``
            is null (the steps after it fine-tune at the final sparsity).
        start_from: ``baseline`` (prune the fine-tuned fp32 model) or ``pretrained`` (the
            paper's fine-pruning: prune while fine-tuning from the pretrained weights and a new
            head). Movement scores need the second: at a fine-tuned optimum the gradient is
            noise, and the weights it "moves" to zero are a coherent descent step of size
            ``|W|`` that destroys the model (see experiments/movement_pruning.md).
        distill: distil from the fp32 baseline (the teacher) while pruning:
            ``L = alpha T^2 KL(p_t^T || p_s^T) + (1 - alpha) CE`` (Sanh et al.'s best rows).
        distill_cache: read the teacher's logits from the on-disk teacher cache (one teacher
            pass over the training split, shared with ``method=distill`` and QAT with KD, built
            on a miss); false runs the teacher at every step, which is cheaper when the budget
            is a small part of an epoch and no cache exists yet.
        distill_temperature: ``T`` of that loss.
        distill_alpha: ``alpha`` of that loss.
        scores_learning_rate: learning rate of the movement scores (Sanh et al. use 1e-2).
        int8: store the surviving weights as int8 with a per-row scale (prune, then quantize);
            the evaluated model uses the same int8 values.
    """

    name: str = "magnitude"
    kind: Literal["magnitude", "movement", "structured", "nm"] = "magnitude"
    sparsity: float = 0.5
    scope: Literal["global", "layer"] = "global"
    schedule: Literal["one_shot", "cubic"] = "cubic"
    initial_sparsity: float = 0.0
    start_step: int = 0
    end_step: int | None = None
    frequency: int = 10
    heads_fraction: float = 0.5
    ffn_fraction: float = 0.5
    n: int = 2
    m: int = 4
    importance: Literal["norm", "taylor"] = "norm"
    importance_batches: int = 8
    include_embeddings: bool = False
    finetune: bool = True
    epochs: int | None = None
    max_steps: int = -1
    rewind: bool = False
    movement_mode: Literal["hard", "soft"] = "hard"
    movement_lambda: float = 1.0
    scores_learning_rate: float = 1e-2
    start_fraction: float = 0.0
    end_fraction: float = 0.7
    start_from: Literal["baseline", "pretrained"] = "baseline"
    distill: bool = False
    distill_cache: bool = True
    distill_temperature: float = 2.0
    distill_alpha: float = 0.9
    int8: bool = False

    def __post_init__(self):
        check(
            self.max_steps == -1 or self.max_steps > 0,
            "max_steps",
            self.max_steps,
            "-1 (the trainer's) or an integer > 0",
        )
        check(0.0 <= self.sparsity < 1.0, "sparsity", self.sparsity, "a fraction in [0, 1)")
        check(
            0.0 <= self.initial_sparsity <= self.sparsity,
            "initial_sparsity",
            self.initial_sparsity,
            f"a fraction in [0, sparsity={self.sparsity}]",
        )
        check(self.start_step >= 0, "start_step", self.start_step, "an integer >= 0")
        check(
            self.end_step is None or self.end_step >= self.start_step,
            "end_step",
            self.end_step,
            f"null or an integer >= start_step={self.start_step}",
        )
        check(self.frequency >= 1, "frequency", self.frequency, "an integer >= 1")
        check(
            0.0 <= self.heads_fraction < 1.0,
            "heads_fraction",
            self.heads_fraction,
            "a fraction in [0, 1)",
        )
        check(
            0.0 <= self.ffn_fraction < 1.0,
            "ffn_fraction",
            self.ffn_fraction,
            "a fraction in [0, 1)",
        )
        check(self.m >= 2, "m", self.m, "an integer >= 2")
        check(
            1 <= self.n < self.m,
            "n",
            self.n,
            f"an integer in [1, m={self.m}) (N:M keeps N < M of every M)",
        )
        check(
            self.importance_batches >= 1,
            "importance_batches",
            self.importance_batches,
            "an integer >= 1",
        )
        check(
            self.epochs is None or self.epochs >= 1,
            "epochs",
            self.epochs,
            "null or an integer >= 1",
        )
        check(
            0.0 <= self.start_fraction < self.end_fraction < 1.0,
            "start_fraction",
            self.start_fraction,
            f"a fraction in [0, end_fraction={self.end_fraction}) (and end_fraction < 1)",
        )
        check_kd(self.distill_temperature, self.distill_alpha)
        check(
            not self.distill or self.kind != "structured" or self.finetune,
            "distill",
            self.distill,
            "false when there is no fine-tuning (prune.finetune=false)",
        )
        check(self.movement_lambda >= 0, "movement_lambda", self.movement_lambda, "a number >= 0")
        check(
            0 < self.scores_learning_rate < 10,
            "scores_learning_rate",
            self.scores_learning_rate,
            "a number in (0, 10)",
        )
        check(
            not (
                self.kind == "movement"
                and self.movement_mode == "hard"
                and self.schedule == "one_shot"
            ),
            "schedule",
            self.schedule,
            "cubic for hard movement pruning (scores start equal, so a one-shot TopK would be arbitrary)",
        )
        check(
            not (self.kind == "movement" and not self.finetune),
            "finetune",
            self.finetune,
            "true for movement pruning (the scores are learned during fine-tuning)",
        )
        check(
            not self.rewind or self.kind in ("magnitude", "movement"),
            "rewind",
            self.rewind,
            "false unless kind is magnitude or movement",
        )

    def describe(self) -> str:
        """Short run-name part, e.g. ``magnitude-s0.9`` or ``structured-h0.5-f0.5``."""
        if self.kind == "structured":
            return f"structured-h{self.heads_fraction:g}-f{self.ffn_fraction:g}"
        if self.kind == "nm":
            return f"nm{self.n}of{self.m}"
        return f"{self.kind}-s{self.sparsity:g}" + ("-int8" if self.int8 else "")

    @property
    def target_sparsity(self) -> float:
        """The sparsity the masks aim at (N:M: ``1 - n / m``)."""
        return 1.0 - self.n / self.m if self.kind == "nm" else self.sparsity

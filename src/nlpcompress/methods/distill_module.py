"""Lightning wiring: train a student against a frozen teacher with :class:`DistillObjective`."""

from __future__ import annotations

import torch
from torch import nn

from nlpcompress.config.schema import TrainerConfig
from nlpcompress.distill.cache import TeacherCache
from nlpcompress.distill.objective import DistillObjective, Outputs
from nlpcompress.distill.outputs import run_model
from nlpcompress.models.io import logits_of, model_inputs
from nlpcompress.training.module import ClassifierModule, linear_warmup_decay


class DistillationModule(ClassifierModule):
    """The student is ``self.model``; the teacher is frozen and kept out of the module tree.

    The teacher is not a registered submodule, so neither the optimiser nor checkpoints
    see it; it stays in eval mode with ``requires_grad=False``. The objective (with its
    learned projections) is a submodule and trains with the student.

    Args:
        student: the model being trained.
        teacher: the fine-tuned teacher, or None when the objective needs none (alpha = 0,
            no intermediate terms).
        objective: the loss.
        cfg: optimisation knobs.
        num_labels: classes.
        cache: teacher outputs by example index, or None to run the teacher each step.
        intermediate_fraction: TinyBERT's / MiniLM's two stages: for the first fraction of
            the training steps only the intermediate terms are trained, then only the
            prediction-layer (logit) KD, each stage with its own warm-up and decay of the
            learning rate. 0: one stage with every term (joint).
        intermediate_lr_factor: the first stage's peak learning rate is this times
            ``cfg.learning_rate`` (TinyBERT's reference code sets each stage's own rate):
            ``lr(t) = f lr lambda(t)`` for ``t < switch``, ``lr lambda(t - switch)`` after, with
            :func:`linear_warmup_decay` ``lambda`` per stage.

    Attributes:
        teacher_calls: teacher forward passes during training, per epoch.
    """

    def __init__(
        self,
        student: nn.Module,
        teacher: nn.Module | None,
        objective: DistillObjective,
        cfg: TrainerConfig,
        num_labels: int,
        cache: TeacherCache | None = None,
        intermediate_fraction: float = 0.0,
        intermediate_lr_factor: float = 1.0,
    ):
        super().__init__(student, cfg, num_labels)
        self.intermediate_fraction = intermediate_fraction
        self.intermediate_lr_factor = intermediate_lr_factor
        self.switch_step = 0
        self.objective = objective
        object.__setattr__(self, "teacher", teacher)
        object.__setattr__(self, "cache", cache)
        self.teacher_calls: list[int] = []
        if teacher is not None:
            teacher.eval()
            for p in teacher.parameters():
                p.requires_grad_(False)
        w = objective.weights
        self._need = dict(
            hidden=w.hidden_weight > 0,
            embeddings=w.embedding_weight > 0,
            attentions=w.attention_weight > 0,
            values=w.value_weight > 0,
        )

    @property
    def phase(self) -> str:
        """``intermediate`` before the switch step of a two-stage run, else ``prediction``;
        ``joint`` for a one-stage run."""
        if self.intermediate_fraction <= 0 or not self.objective.weights.intermediate:
            return "joint"
        return "intermediate" if self.global_step < self.switch_step else "prediction"

    def _needs(self) -> dict[str, bool]:
        if self.phase == "prediction":
            return dict.fromkeys(self._need, False)
        return self._need

    def configure_optimizers(self):
        setup = super().configure_optimizers()
        if self.intermediate_fraction <= 0 or not self.objective.weights.intermediate:
            return setup
        total = max(1, int(self.trainer.estimated_stepping_batches))
        self.switch_step = max(1, int(self.intermediate_fraction * total))
        warmup = self.cfg.warmup_ratio
        switch = self.switch_step
        first = self.intermediate_lr_factor

        def two_stages(step: int) -> float:
            if step < switch:
                return first * linear_warmup_decay(step, int(warmup * switch), switch)
            rest = total - switch
            return linear_warmup_decay(step - switch, int(warmup * rest), rest)

        optimizer = setup["optimizer"]
        schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, two_stages)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return logits_of(self.model(**model_inputs(batch, self.model)))

    def trainable_parameters(self) -> list[tuple[str, nn.Parameter]]:
        """Student and projection parameters; never the teacher's."""
        teacher_ids = (
            {id(p) for p in self.teacher.parameters()} if self.teacher is not None else set()
        )
        params = [
            (n, p)
            for n, p in self.named_parameters()
            if p.requires_grad and id(p) not in teacher_ids
        ]
        return params

    def on_train_epoch_start(self) -> None:
        self.teacher_calls.append(0)
        if self.teacher is not None:
            self.teacher.eval()

    def teacher_outputs(self, batch: dict[str, torch.Tensor]) -> Outputs | None:
        """From the cache when it holds everything needed, else one no-grad teacher pass."""
        if not self.objective.weights.needs_teacher:
            return None
        layers = self.objective.layer_map
        need = self._needs()
        if (
            self.cache is not None
            and not need["attentions"]
            and not need["values"]
            and self.cache.covers(layers if need["hidden"] else (), need["embeddings"])
        ):
            return self.cache.lookup(batch)
        if self.teacher is None:
            raise RuntimeError(
                "the objective needs teacher outputs that are neither cached nor computable"
            )
        if self.teacher_calls:
            self.teacher_calls[-1] += 1
        with torch.no_grad():
            return run_model(self.teacher, batch, layers=layers, **need)

    def compute_loss(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        need = self._needs()
        student = (
            run_model(self.model, batch, layers=None, **need)
            if any(need.values())
            else Outputs(logits=self(batch))
        )
        loss, parts = self.objective(
            student,
            self.teacher_outputs(batch),
            batch["labels"],
            batch["attention_mask"],
            phase=self.phase,
        )
        n = batch["labels"].shape[0]
        for name, value in parts.items():
            self.log(f"train/loss_{name}", value, on_step=True, on_epoch=False, batch_size=n)
        return loss

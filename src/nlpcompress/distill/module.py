"""Lightning wiring: train a student against a frozen teacher with :class:`DistillObjective`."""

from __future__ import annotations

import torch
from torch import nn

from nlpcompress.config.schema import TrainerConfig
from nlpcompress.data.datamodule import model_inputs
from nlpcompress.distill.cache import TeacherCache
from nlpcompress.distill.objective import DistillObjective, Outputs
from nlpcompress.distill.outputs import run_model
from nlpcompress.methods.base import logits_of
from nlpcompress.training.module import ClassifierModule


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
    ):
        super().__init__(student, cfg, num_labels)
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
        )

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
        if (
            self.cache is not None
            and not self._need["attentions"]
            and self.cache.covers(layers if self._need["hidden"] else (), self._need["embeddings"])
        ):
            return self.cache.lookup(batch)
        if self.teacher is None:
            raise RuntimeError(
                "the objective needs teacher outputs that are neither cached nor computable"
            )
        if self.teacher_calls:
            self.teacher_calls[-1] += 1
        with torch.no_grad():
            return run_model(self.teacher, batch, layers=layers, **self._need)

    def compute_loss(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        student = (
            run_model(self.model, batch, layers=None, **self._need)
            if any(self._need.values())
            else Outputs(logits=self(batch))
        )
        loss, parts = self.objective(
            student, self.teacher_outputs(batch), batch["labels"], batch["attention_mask"]
        )
        n = batch["labels"].shape[0]
        for name, value in parts.items():
            self.log(f"train/loss_{name}", value, on_step=True, on_epoch=False, batch_size=n)
        return loss

"""Fine-tuning while pruning: wires masks, scores and the schedule into
:class:`~nlpcompress.training.module.ClassifierModule`. The pruning maths lives in
:mod:`nlpcompress.prune` (:mod:`~nlpcompress.prune.masking`, :mod:`~nlpcompress.prune.movement`)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from nlpcompress.config.schema import TrainerConfig
from nlpcompress.distill.cache import TeacherCache
from nlpcompress.distill.losses import kd_loss
from nlpcompress.prune.collapse import layer_token_cosines
from nlpcompress.prune.masking import current_masks, mask_flip_rate, update_masks
from nlpcompress.prune.movement import MovementMask, masked_modules, movement_penalty
from nlpcompress.prune.schedule import SparsitySchedule
from nlpcompress.training.module import ClassifierModule, linear_warmup_decay
from nlpcompress.training.teacher_kd import frozen_teacher_outputs


class PruningModule(ClassifierModule):
    """Fine-tunes with masks in the forward pass, recomputed on the schedule's prune steps.

    Args:
        model: the classifier, its target weights already parametrized (:func:`attach_masks`).
        cfg: trainer knobs.
        num_labels: classes.
        targets: module name -> module whose weight is masked.
        masks: module name -> its mask parametrization.
        kind: ``magnitude``, ``movement`` or ``nm``; None keeps the masks fixed (rewind).
        schedule: when and to which sparsity the masks are recomputed.
        scope: ``global`` or ``layer``.
        n, m: the N:M pattern.
        movement_lambda: soft movement's final penalty weight ``lambda``; at step ``t`` the
            penalty is ``lambda * (s_t / s_final) * mean sigmoid(S)``.
        scores_lr: learning rate of the movement scores.
        teacher: the fp32 model to distil from while pruning (frozen), or None.
        temperature, alpha: ``T`` and ``alpha`` of :func:`~nlpcompress.distill.losses.kd_loss`.
        cache: the teacher's logits by example index, read instead of running the teacher each
            step (the same numbers: the teacher is frozen and in eval mode), or None.
        probe_batch: a fixed batch on which ``prune/token_cosine`` (the last layer's mean token
            cosine, :func:`~nlpcompress.prune.collapse.token_cosine`) is logged on the steps
            Lightning logs, so a collapse shows when it happens; None: not logged.
    """

    def __init__(
        self,
        model: nn.Module,
        cfg: TrainerConfig,
        num_labels: int,
        targets: dict[str, nn.Module],
        masks: dict[str, nn.Module],
        kind: str | None,
        schedule: SparsitySchedule | None,
        scope: str = "global",
        n: int = 2,
        m: int = 4,
        movement_lambda: float = 0.0,
        scores_lr: float = 1e-2,
        teacher: nn.Module | None = None,
        temperature: float = 2.0,
        alpha: float = 0.9,
        cache: TeacherCache | None = None,
        probe_batch: dict[str, torch.Tensor] | None = None,
    ):
        super().__init__(model, cfg, num_labels)
        self.targets, self.masks, self.kind, self.schedule = targets, masks, kind, schedule
        self.scope, self.n, self.m = scope, n, m
        self.movement_lambda, self.scores_lr = movement_lambda, scores_lr
        # Kept out of the module tree: the teacher is neither optimised nor checkpointed.
        self._teacher = [teacher.eval().requires_grad_(False)] if teacher is not None else []
        self.temperature, self.alpha = temperature, alpha
        self.cache = cache  # not an nn.Module: neither optimised nor checkpointed
        self.teacher_calls = 0
        self.current_sparsity = 0.0
        self.prune_events: list[tuple[int, float]] = []
        self._masks_before: dict[str, torch.Tensor] | None = None
        self.probe_batch = probe_batch

    def on_train_batch_start(self, batch, batch_idx):
        step = self.global_step
        if self.kind is None or self.schedule is None:
            return
        if self.schedule.is_prune_step(step):
            sparsity = self.schedule.sparsity_at(step)
            update_masks(self.masks, self.targets, self.kind, sparsity, self.scope, self.n, self.m)
            self.current_sparsity = sparsity
            self.prune_events.append((step, sparsity))
            self.log("prune/target_sparsity", sparsity, on_step=True, on_epoch=False)
        if self.kind == "movement":
            self._log_mask_flips(step)
        if self.probe_batch is not None and step % self._log_every() == 0:
            batch = {
                k: v.to(self.device) if torch.is_tensor(v) else v
                for k, v in self.probe_batch.items()
            }
            cosine = layer_token_cosines(self.model, batch)[-1]
            self.log("prune/token_cosine", cosine, on_step=True, on_epoch=False)

    def _log_every(self) -> int:
        return max(1, getattr(self.trainer, "log_every_n_steps", 1))

    def _log_mask_flips(self, step: int) -> None:
        """``prune/mask_flip_rate``: the share of mask entries that changed since the previous
        step (:func:`~nlpcompress.prune.masking.mask_flip_rate`; on a prune step it includes the new
        cut), on the steps Lightning logs."""
        every = self._log_every()
        if self._masks_before is not None:
            rate = mask_flip_rate(self._masks_before, current_masks(self.masks))
            self.log("prune/mask_flip_rate", rate, on_step=True, on_epoch=False)
            self._masks_before = None
        if (step + 1) % every == 0:
            self._masks_before = current_masks(self.masks)

    def compute_loss(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        logits = self(batch)
        if self._teacher:
            teacher_logits = self._teacher_logits(batch)
            loss = kd_loss(logits, teacher_logits, batch["labels"], self.temperature, self.alpha)
        else:
            loss = F.cross_entropy(logits, batch["labels"])
        if self.kind == "movement" and self.movement_lambda > 0 and self.schedule is not None:
            weight = self.movement_lambda * self.current_sparsity / max(self.schedule.final, 1e-8)
            loss = loss + weight * movement_penalty(self.model)
        return loss

    @property
    def distills(self) -> bool:
        """Whether the loss distils from a teacher."""
        return bool(self._teacher)

    def _teacher_logits(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """From the cache when there is one, else one no-grad teacher pass (counted)."""
        self.teacher_calls += int(self.cache is None)
        return frozen_teacher_outputs(self._teacher[0], self.cache, batch).logits

    def _scores(self) -> list[nn.Parameter]:
        return [p.scores for _, _, p in masked_modules(self.model) if isinstance(p, MovementMask)]

    def trainable_parameters(self) -> list[tuple[str, nn.Parameter]]:
        return [(n, p) for n, p in super().trainable_parameters() if not n.endswith(".scores")]

    def configure_optimizers(self):
        setup = super().configure_optimizers()
        scores = self._scores()
        if not scores:
            return setup
        optimizer = setup["optimizer"]
        optimizer.add_param_group({"params": scores, "lr": self.scores_lr, "weight_decay": 0.0})
        total = max(1, int(self.trainer.estimated_stepping_batches))
        warmup = int(self.cfg.warmup_ratio * total)
        schedule = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda s: linear_warmup_decay(s, warmup, total)
        )
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}

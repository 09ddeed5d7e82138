"""Fine-tuning while pruning: wires masks, scores and the schedule into the lead's
:class:`~nlpcompress.training.module.ClassifierModule`. No pruning maths lives here."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from nlpcompress.config.schema import TrainerConfig
from nlpcompress.data.datamodule import model_inputs
from nlpcompress.distill.losses import kd_loss
from nlpcompress.methods.base import logits_of
from nlpcompress.prune.masks import magnitude_masks, nm_mask
from nlpcompress.prune.movement import (
    FixedMask,
    MovementMask,
    attach,
    global_sparsities,
    masked_modules,
    movement_penalty,
)
from nlpcompress.prune.schedule import SparsitySchedule
from nlpcompress.training.module import ClassifierModule, linear_warmup_decay


def attach_masks(
    targets: dict[str, nn.Module], kind: str, movement_mode: str = "hard"
) -> dict[str, nn.Module]:
    """Parametrize every target's ``weight`` with a mask (all ones at first)."""
    out = {}
    for name, module in targets.items():
        shape = module.weight.shape
        out[name] = attach(
            module,
            MovementMask(shape, movement_mode) if kind == "movement" else FixedMask(shape),
        )
    return out


def update_masks(
    masks: dict[str, nn.Module],
    targets: dict[str, nn.Module],
    kind: str,
    sparsity: float,
    scope: str,
    n: int = 2,
    m: int = 4,
) -> None:
    """Recompute the masks at ``sparsity`` (a prune step of the schedule).

    * magnitude: ``M = 1[|W * M_old| > t]`` over the *effective* weights, so a pruned
      weight stays pruned (Zhu & Gupta);
    * nm: N:M of ``|W|``;
    * movement: hard with ``scope=layer`` gives every matrix the sparsity ``s`` (TopK per
      matrix, as the paper); soft movement (and hard with ``scope=global``) gives each matrix
      the sparsity it has under one threshold on all the scores
      (:func:`~nlpcompress.prune.movement.global_sparsities`).
    """
    with torch.no_grad():
        if kind == "magnitude":
            new = magnitude_masks({k: targets[k].weight for k in masks}, sparsity, scope)
            for k, p in masks.items():
                p.mask.copy_(new[k])
        elif kind == "nm":
            for k, p in masks.items():
                p.mask.copy_(nm_mask(targets[k].parametrizations.weight.original, n, m))
        elif kind == "movement":
            soft = any(p.mode == "soft" for p in masks.values())
            if scope == "layer" and not soft:
                for p in masks.values():
                    p.sparsity = sparsity
                return
            per_matrix = global_sparsities({k: p.scores for k, p in masks.items()}, sparsity)
            for k, p in masks.items():
                p.sparsity = per_matrix[k]


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
    ):
        super().__init__(model, cfg, num_labels)
        self.targets, self.masks, self.kind, self.schedule = targets, masks, kind, schedule
        self.scope, self.n, self.m = scope, n, m
        self.movement_lambda, self.scores_lr = movement_lambda, scores_lr
        # Kept out of the module tree: the teacher is neither optimised nor checkpointed.
        self._teacher = [teacher.eval().requires_grad_(False)] if teacher is not None else []
        self.temperature, self.alpha = temperature, alpha
        self.current_sparsity = 0.0
        self.prune_events: list[tuple[int, float]] = []

    def on_train_batch_start(self, batch, batch_idx):
        step = self.global_step
        if self.kind is None or self.schedule is None or not self.schedule.is_prune_step(step):
            return
        sparsity = self.schedule.sparsity_at(step)
        update_masks(self.masks, self.targets, self.kind, sparsity, self.scope, self.n, self.m)
        self.current_sparsity = sparsity
        self.prune_events.append((step, sparsity))
        self.log("prune/target_sparsity", sparsity, on_step=True, on_epoch=False)

    def compute_loss(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        logits = self(batch)
        if self._teacher:
            with torch.no_grad():
                teacher_logits = logits_of(self._teacher[0](**model_inputs(batch, self.model)))
            loss = kd_loss(logits, teacher_logits, batch["labels"], self.temperature, self.alpha)
        else:
            loss = F.cross_entropy(logits, batch["labels"])
        if self.kind == "movement" and self.movement_lambda > 0 and self.schedule is not None:
            weight = self.movement_lambda * self.current_sparsity / max(self.schedule.final, 1e-8)
            loss = loss + weight * movement_penalty(self.model)
        return loss

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

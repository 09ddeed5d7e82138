"""Fine-tuning while pruning: wires masks, scores and the schedule into the lead's
:class:`~nlpcompress.training.module.ClassifierModule`. No pruning maths lives here."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from nlpcompress.config.schema import TrainerConfig
from nlpcompress.prune.masks import magnitude_masks, nm_mask, topk_mask
from nlpcompress.prune.movement import (
    FixedMask,
    MovementMask,
    attach,
    masked_modules,
    movement_penalty,
)
from nlpcompress.prune.schedule import SparsitySchedule
from nlpcompress.training.module import ClassifierModule, linear_warmup_decay


def attach_masks(
    targets: dict[str, nn.Module], kind: str, movement_mode: str = "hard", threshold: float = 0.5
) -> dict[str, nn.Module]:
    """Parametrize every target's ``weight`` with a mask (all ones at first)."""
    out = {}
    for name, module in targets.items():
        shape = module.weight.shape
        out[name] = attach(
            module,
            MovementMask(shape, movement_mode, threshold)
            if kind == "movement"
            else FixedMask(shape),
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
    * movement (hard): per-matrix TopK sparsities; with ``scope=global`` each matrix gets
      the sparsity it has under one global TopK of all the scores.
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
            if scope == "layer":
                for p in masks.values():
                    p.sparsity = sparsity
                return
            names = list(masks)
            flat = torch.cat([masks[k].scores.detach().reshape(-1) for k in names])
            keep = topk_mask(flat, sparsity)
            start = 0
            for k in names:
                size = masks[k].scores.numel()
                masks[k].sparsity = 1.0 - float(keep[start : start + size].mean())
                start += size


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
        movement_lambda: soft movement's penalty weight.
        scores_lr: learning rate of the movement scores.
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
    ):
        super().__init__(model, cfg, num_labels)
        self.targets, self.masks, self.kind, self.schedule = targets, masks, kind, schedule
        self.scope, self.n, self.m = scope, n, m
        self.movement_lambda, self.scores_lr = movement_lambda, scores_lr
        self.prune_events: list[tuple[int, float]] = []

    def on_train_batch_start(self, batch, batch_idx):
        step = self.global_step
        if self.kind is None or self.schedule is None or not self.schedule.is_prune_step(step):
            return
        sparsity = self.schedule.sparsity_at(step)
        update_masks(self.masks, self.targets, self.kind, sparsity, self.scope, self.n, self.m)
        self.prune_events.append((step, sparsity))
        self.log("prune/target_sparsity", sparsity, on_step=True, on_epoch=False)

    def compute_loss(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        loss = F.cross_entropy(self(batch), batch["labels"])
        if self.kind == "movement" and self.movement_lambda > 0:
            loss = loss + self.movement_lambda * movement_penalty(self.model)
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

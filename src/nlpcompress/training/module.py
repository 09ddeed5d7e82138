"""The LightningModule every training method builds on.

Subclasses change *what* is optimised by overriding :meth:`ClassifierModule.compute_loss`
(QAT, movement pruning, distillation) and keep the optimiser, schedule and metrics.
"""

from __future__ import annotations

import lightning as L
import torch
import torch.nn.functional as F
from torch import nn
from torchmetrics.classification import MulticlassAccuracy, MulticlassF1Score

from nlpcompress.config.schema import TrainerConfig
from nlpcompress.models.io import logits_of, model_inputs


def linear_warmup_decay(step: int, warmup_steps: int, total_steps: int) -> float:
    """LR multiplier: ``step / warmup`` while warming up, then linear decay to 0 at ``total``.

    lambda(t) = t / w for t < w; max(0, (T - t) / (T - w)) otherwise.
    """
    if warmup_steps > 0 and step < warmup_steps:
        return step / warmup_steps
    return max(0.0, (total_steps - step) / max(1, total_steps - warmup_steps))


class ClassifierModule(L.LightningModule):
    """Fine-tunes a sequence classifier with cross-entropy.

    AdamW (no decay on biases and LayerNorm), linear warm-up then linear decay over the
    trainer's estimated steps; gradient clipping is set on the Trainer. Logs
    ``train/loss``, ``val/acc``, ``val/f1`` (macro) and ``test/acc``, ``test/f1``.

    Args:
        model: the classifier; ``model(**inputs)`` returns logits or an output with ``.logits``.
        cfg: optimisation knobs.
        num_labels: classes, for the metrics.
    """

    def __init__(self, model: nn.Module, cfg: TrainerConfig, num_labels: int):
        super().__init__()
        self.model, self.cfg, self.num_labels = model, cfg, num_labels
        self.metrics = nn.ModuleDict(
            {
                f"{split}_{name}": metric
                for split in ("val", "test")
                for name, metric in (
                    ("acc", MulticlassAccuracy(num_labels, average="micro")),
                    ("f1", MulticlassF1Score(num_labels, average="macro")),
                )
            }
        )

    def on_fit_start(self) -> None:
        # from_pretrained returns modules in eval mode; Lightning keeps modes as it finds them.
        self.train()

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return logits_of(self.model(**model_inputs(batch, self.model)))

    def compute_loss(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """The training objective; override in subclasses."""
        return F.cross_entropy(self(batch), batch["labels"])

    def training_step(self, batch, batch_idx):
        loss = self.compute_loss(batch)
        self.log(
            "train/loss",
            loss,
            prog_bar=True,
            on_step=True,
            on_epoch=False,
            batch_size=batch["labels"].shape[0],
        )
        return loss

    def _eval_step(self, batch, split: str):
        logits = self(batch)
        preds = logits.argmax(-1)
        for name in ("acc", "f1"):
            metric = self.metrics[f"{split}_{name}"]
            metric.update(preds, batch["labels"])
            self.log(
                f"{split}/{name}", metric, on_step=False, on_epoch=True, prog_bar=(name == "acc")
            )

    def validation_step(self, batch, batch_idx):
        self._eval_step(batch, "val")

    def test_step(self, batch, batch_idx):
        self._eval_step(batch, "test")

    def trainable_parameters(self) -> list[tuple[str, nn.Parameter]]:
        """Parameters the optimiser sees (override to exclude e.g. a teacher)."""
        return [(n, p) for n, p in self.named_parameters() if p.requires_grad]

    def configure_optimizers(self):
        decay, no_decay = [], []
        for name, param in self.trainable_parameters():
            (
                no_decay
                if param.ndim < 2 or "LayerNorm" in name or "norm" in name.lower()
                else decay
            ).append(param)
        optimizer = torch.optim.AdamW(
            [
                {"params": decay, "weight_decay": self.cfg.weight_decay},
                {"params": no_decay, "weight_decay": 0.0},
            ],
            lr=self.cfg.learning_rate,
        )
        total = max(1, int(self.trainer.estimated_stepping_batches))
        warmup = int(self.cfg.warmup_ratio * total)
        schedule = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda s: linear_warmup_decay(s, warmup, total)
        )
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}

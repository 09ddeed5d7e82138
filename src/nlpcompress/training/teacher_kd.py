"""Fine-tuning a compressed copy of a model while distilling from its fp32 original.

BinaryBERT (Bai et al., 2021) and BiT (Liu et al., 2022) train the low-bit model against the
full-precision one it came from: the same architecture, so every layer has its counterpart.
The objective per batch is

.. math::
    L = \\underbrace{\\alpha T^2 \\mathrm{KL}(p_t^T \\| p_s^T) + (1-\\alpha) \\mathrm{CE}(z_s, y)}
        _{\\text{prediction}}
        + \\beta \\frac{1}{|\\mathcal{L}|} \\sum_{l \\in \\mathcal{L}} \\mathrm{MSE}(h_s^l, h_t^l)

(:func:`~nlpcompress.distill.losses.kd_loss` and
:func:`~nlpcompress.distill.losses.hidden_mse` over real tokens), with ``L`` the transformer
layers, ``h^l`` their outputs, ``beta`` the hidden weight. ``alpha = 1, T = 1`` is BinaryBERT's
prediction loss; ``beta = 0`` is logit-only KD.
"""

from __future__ import annotations

import torch
from torch import nn

from nlpcompress.config.schema import TrainerConfig
from nlpcompress.distill.cache import TeacherCache
from nlpcompress.distill.losses import hidden_mse, kd_loss
from nlpcompress.distill.objective import Outputs
from nlpcompress.distill.outputs import run_model
from nlpcompress.training.module import ClassifierModule


def frozen_teacher_outputs(
    teacher: nn.Module,
    cache: TeacherCache | None,
    batch: dict[str, torch.Tensor],
    hidden: bool = False,
) -> Outputs:
    """A frozen teacher's outputs for ``batch``: looked up in ``cache`` by example index when
    there is one (no teacher pass), else one no-grad pass of ``teacher`` (logits, plus every
    layer's hidden states when ``hidden``)."""
    if cache is not None:
        return cache.lookup(batch)
    with torch.no_grad():
        return run_model(teacher, batch, hidden=hidden)


class TeacherKDModule(ClassifierModule):
    """:class:`ClassifierModule` whose loss distils from a frozen teacher of the same shape.

    Args:
        model: the student (e.g. the fake-quantized copy of the teacher).
        cfg: optimisation knobs.
        num_labels: classes.
        teacher: the fp32 model (frozen, kept out of the module tree: neither optimised nor
            checkpointed).
        temperature: ``T``.
        alpha: weight of the soft logit term against cross-entropy.
        hidden_weight: ``beta``; 0 skips the hidden states (and their cost).
        cache: the teacher's outputs by example index (logits, and every layer's hidden states
            when ``hidden_weight > 0``), or None to run the teacher each step.
    """

    def __init__(
        self,
        model: nn.Module,
        cfg: TrainerConfig,
        num_labels: int,
        teacher: nn.Module,
        temperature: float = 1.0,
        alpha: float = 1.0,
        hidden_weight: float = 1.0,
        cache: TeacherCache | None = None,
    ):
        super().__init__(model, cfg, num_labels)
        self._teacher = [teacher.eval().requires_grad_(False)]
        self.temperature, self.alpha, self.hidden_weight = temperature, alpha, hidden_weight
        self.cache = cache  # not an nn.Module: neither optimised nor checkpointed
        self.teacher_calls = 0

    def teacher_outputs(self, batch: dict[str, torch.Tensor]) -> Outputs:
        """From the cache when there is one, else one no-grad teacher pass (counted)."""
        self.teacher_calls += int(self.cache is None)
        return frozen_teacher_outputs(
            self._teacher[0], self.cache, batch, hidden=self.hidden_weight > 0
        )

    def compute_loss(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        hidden = self.hidden_weight > 0
        student = run_model(self.model, batch, hidden=hidden)
        teacher = self.teacher_outputs(batch)
        loss = kd_loss(
            student.logits, teacher.logits, batch["labels"], self.temperature, self.alpha
        )
        if hidden:
            mask = batch["attention_mask"]
            terms = [hidden_mse(h, teacher.hidden[i], mask) for i, h in student.hidden.items()]
            rep = torch.stack(terms).mean()
            self.log("train/kd_hidden", rep, on_step=True, on_epoch=False)
            loss = loss + self.hidden_weight * rep
        return loss

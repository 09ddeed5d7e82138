"""The full distillation objective: logit KD plus weighted intermediate-layer terms.

.. math::
    L = L_{KD}(z_s, z_t, y; T, \\alpha)
        + w_h \\frac{1}{|M|} \\sum_{i} \\mathrm{MSE}(W_i h^s_i, h^t_{M(i)})
        + w_a \\frac{1}{|M|} \\sum_{i} \\ell_{att}(A^s_i, A^t_{M(i)})
        + w_e \\, \\mathrm{MSE}(W_e e^s, e^t)
        + w_v \\frac{1}{|M|} \\sum_{i} \\mathrm{KL}(VR^t_{M(i)} \\| VR^s_i)

``M`` is the layer map (student layer ``i`` <- teacher layer ``M(i)``), ``W_i``/``W_e``
learned projections (only when widths differ), ``ell_att`` either TinyBERT's MSE on scores
or MiniLM's KL on distributions, and ``VR`` MiniLM's value relation
``softmax(V V^T / sqrt(d_k))``. MiniLM transfers the last layer only (``relation_layers=last``).

Two-stage training (TinyBERT, MiniLM) uses ``phase``: ``intermediate`` keeps only the
intermediate terms, ``prediction`` only ``L_KD``; ``joint`` (default) sums them all.

Outputs are passed as :class:`Outputs` so that teacher values may come from a cache that
holds only the mapped layers.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from nlpcompress.distill import losses
from nlpcompress.distill.config import LossWeights


@dataclass
class Outputs:
    """What a model produced for one batch, by layer index.

    Attributes:
        logits: ``(B, C)``.
        hidden: layer index -> ``(B, L, H)`` output of that transformer layer.
        embeddings: ``(B, L, H)`` output of the embedding layer, or None.
        attentions: layer index -> ``(B, A, L, L)`` pre-softmax attention scores.
        values: layer index -> ``(B, A, L, d_k)`` self-attention value vectors.
    """

    logits: torch.Tensor | None = None
    hidden: dict[int, torch.Tensor] = field(default_factory=dict)
    embeddings: torch.Tensor | None = None
    attentions: dict[int, torch.Tensor] = field(default_factory=dict)
    values: dict[int, torch.Tensor] = field(default_factory=dict)


class DistillObjective(nn.Module):
    """Combines the terms; owns the learned projections (train them with the student).

    Args:
        weights: loss weights and temperature.
        layer_map: ``layer_map[i]`` is the teacher layer student layer ``i`` learns from.
        student_width: student hidden size (0 for a student without hidden states).
        teacher_width: teacher hidden size.
    """

    def __init__(
        self,
        weights: LossWeights,
        layer_map: list[int],
        student_width: int = 0,
        teacher_width: int = 0,
    ):
        super().__init__()
        self.weights = weights
        self.layer_map = list(layer_map)
        project = student_width != teacher_width and student_width > 0
        self.hidden_proj = (
            nn.ModuleList(nn.Linear(student_width, teacher_width) for _ in self.layer_map)
            if project and weights.hidden_weight > 0
            else None
        )
        self.embedding_proj = (
            nn.Linear(student_width, teacher_width)
            if project and weights.embedding_weight > 0
            else None
        )

    def forward(
        self,
        student: Outputs,
        teacher: Outputs | None,
        labels: torch.Tensor | None,
        mask: torch.Tensor | None = None,
        phase: str = "joint",
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Total loss and its detached parts (``kd``, ``hidden``, ``attention``, ...).

        Args:
            labels: gold labels; None is allowed in the ``intermediate`` phase only (general
                distillation on unlabelled text).
            phase: ``joint`` (all terms), ``intermediate`` (intermediate terms only) or
                ``prediction`` (the logit term only).
        """
        w = self.weights
        t_logits = teacher.logits if teacher is not None else None
        if phase == "intermediate":
            known = [labels, mask, student.logits, student.embeddings, *student.hidden.values()]
            device = next(t for t in known if t is not None).device
            total = torch.zeros((), device=device)
            parts = {}
        else:
            total = losses.kd_loss(student.logits, t_logits, labels, w.temperature, w.alpha)
            parts = {"kd": total.detach()}
        if phase == "prediction":
            return total, parts
        pairs = list(enumerate(self.layer_map))
        relation_pairs = pairs[-1:] if w.relation_layers == "last" else pairs
        if w.hidden_weight > 0:
            terms = [
                losses.hidden_mse(
                    student.hidden[i],
                    teacher.hidden[t],
                    mask,
                    self.hidden_proj[i] if self.hidden_proj is not None else None,
                )
                for i, t in enumerate(self.layer_map)
            ]
            hidden = torch.stack(terms).mean()
            total = total + w.hidden_weight * hidden
            parts["hidden"] = hidden.detach()
        if w.attention_weight > 0:
            attention = _mean_over(
                relation_pairs, self._attention, student.attentions, teacher.attentions, mask
            )
            total = total + w.attention_weight * attention
            parts["attention"] = attention.detach()
        if w.value_weight > 0:
            value = _mean_over(
                relation_pairs, losses.value_relation_kl, student.values, teacher.values, mask
            )
            total = total + w.value_weight * value
            parts["value"] = value.detach()
        if w.embedding_weight > 0:
            emb = losses.embedding_mse(
                student.embeddings, teacher.embeddings, mask, self.embedding_proj
            )
            total = total + w.embedding_weight * emb
            parts["embedding"] = emb.detach()
        return total, parts

    def _attention(
        self, s: torch.Tensor, t: torch.Tensor, mask: torch.Tensor | None
    ) -> torch.Tensor:
        if self.weights.attention_loss == "kl":
            return losses.attention_kl(s.softmax(-1), t.softmax(-1), mask)
        return losses.attention_mse(s, t, mask)


def _mean_over(pairs, loss_fn, student: dict, teacher: dict, mask) -> torch.Tensor:
    """``(1/|pairs|) sum_{(i, t)} loss_fn(student[i], teacher[t], mask)``."""
    return torch.stack([loss_fn(student[i], teacher[t], mask) for i, t in pairs]).mean()

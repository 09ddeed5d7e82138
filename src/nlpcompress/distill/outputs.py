"""Run a model and collect what the objective needs as :class:`Outputs`."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import torch
from torch import nn

from nlpcompress.distill.attention import attention_scores, captured_values
from nlpcompress.distill.objective import Outputs
from nlpcompress.models.io import logits_of, model_inputs


def run_model(
    model: nn.Module,
    batch: Mapping[str, torch.Tensor],
    *,
    hidden: bool = False,
    embeddings: bool = False,
    attentions: bool = False,
    values: bool = False,
    layers: Iterable[int] | None = None,
) -> Outputs:
    """Forward ``model`` and keep logits plus the requested intermediate tensors.

    Args:
        model: a Hugging Face classifier (eager attention) or any module returning logits.
        batch: a data-module batch.
        hidden: keep transformer-layer outputs (``hidden_states[i + 1]`` for layer ``i``).
        embeddings: keep the embedding output (``hidden_states[0]``).
        attentions: keep pre-softmax attention scores per layer.
        values: keep the self-attention value vectors per layer (``(B, A, L, d_k)``).
        layers: which layer indices to keep (all when None).
    """
    inputs = model_inputs(batch, model)
    if not (hidden or embeddings or attentions or values):
        return Outputs(logits=logits_of(model(**inputs)))
    kwargs = dict(output_hidden_states=hidden or embeddings, output_attentions=attentions)
    captured: list[torch.Tensor] = []
    if attentions or values:
        with attention_scores(model), captured_values() as captured:
            out = model(**inputs, **kwargs)
    else:
        out = model(**inputs, **kwargs)
    keep = set(layers) if layers is not None else None
    result = Outputs(logits=out.logits)
    if hidden:
        result.hidden = {
            i: h for i, h in enumerate(out.hidden_states[1:]) if keep is None or i in keep
        }
    if embeddings:
        result.embeddings = out.hidden_states[0]
    if attentions:
        result.attentions = {
            i: a for i, a in enumerate(out.attentions) if keep is None or i in keep
        }
    if values:
        result.values = {i: v for i, v in enumerate(captured) if keep is None or i in keep}
    return result

"""Structured pruning of BERT: importance of attention heads and FFN neurons, and their
physical removal (the model becomes a smaller dense model).

Per layer, head ``h`` owns rows ``[h*d, (h+1)*d)`` of ``W_q, W_k, W_v`` (``d`` the head
size) and the same columns of the attention output ``W_o``; FFN neuron ``j`` owns row
``j`` of ``W_in`` and column ``j`` of ``W_out``. With ``E(w)`` an entry-wise importance:

* ``norm``: ``I_u = sqrt(sum_{w in u} w^2)`` (the L2 norm of the unit's weights);
* ``taylor``: ``I_u = sum_{w in u} |w * dL/dw|`` (first-order Taylor estimate of the loss
  change when the unit is removed; Molchanov et al., 2017/2019), gradients summed over
  a few batches.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
from torch import nn
from transformers.pytorch_utils import prune_linear_layer

from nlpcompress.prune.bert import encoder_layers


def _entry_scores(
    linear: nn.Linear, kind: str, grads: dict[int, torch.Tensor] | None
) -> torch.Tensor:
    w = linear.weight.detach()
    if kind == "norm":
        return w.pow(2)
    if kind == "taylor":
        if grads is None or id(linear.weight) not in grads:
            raise ValueError("taylor importance needs gradients: use taylor_gradients() first")
        return (w * grads[id(linear.weight)]).abs()
    raise ValueError(f"importance must be norm or taylor, got {kind!r}")


def head_importance(
    model: nn.Module, kind: str = "norm", grads: dict[int, torch.Tensor] | None = None
) -> list[torch.Tensor]:
    """Importance of each attention head, one tensor ``(num_heads,)`` per layer.

    ``I_h = sqrt(||W_q[h]||^2 + ||W_k[h]||^2 + ||W_v[h]||^2 + ||W_o[:, h]||^2)`` for
    ``norm``; the same blocks summed with ``|w * dL/dw|`` for ``taylor``.
    """
    out = []
    for layer in encoder_layers(model):
        att = layer.attention.self
        heads, d = att.num_attention_heads, att.attention_head_size
        total = torch.zeros(heads)
        for lin in (att.query, att.key, att.value):
            total += _entry_scores(lin, kind, grads).reshape(heads, d, -1).sum(dim=(1, 2))
        total += (
            _entry_scores(layer.attention.output.dense, kind, grads)
            .reshape(-1, heads, d)
            .sum(dim=(0, 2))
        )
        out.append(total.sqrt() if kind == "norm" else total)
    return out


def neuron_importance(
    model: nn.Module, kind: str = "norm", grads: dict[int, torch.Tensor] | None = None
) -> list[torch.Tensor]:
    """Importance of each FFN neuron, one tensor ``(intermediate,)`` per layer.

    ``I_j = sqrt(||W_in[j, :]||^2 + ||W_out[:, j]||^2)`` for ``norm``; the same entries
    summed with ``|w * dL/dw|`` for ``taylor``.
    """
    out = []
    for layer in encoder_layers(model):
        total = _entry_scores(layer.intermediate.dense, kind, grads).sum(dim=1)
        total = total + _entry_scores(layer.output.dense, kind, grads).sum(dim=0)
        out.append(total.sqrt() if kind == "norm" else total)
    return out


def taylor_gradients(
    model: nn.Module,
    batches: Iterable[dict[str, torch.Tensor]],
    loss_fn: Callable[[nn.Module, dict[str, torch.Tensor]], torch.Tensor],
) -> dict[int, torch.Tensor]:
    """Accumulate ``G = sum_b |dL_b/dw|`` for every encoder weight, so that the Taylor
    importance of an entry is ``|w| * G = sum_b |w * dL_b/dw|``.

    Args:
        model: the classifier (gradients are cleared afterwards).
        batches: a few training batches.
        loss_fn: ``loss_fn(model, batch) -> scalar loss``.
    """
    weights = [p for n, p in model.named_parameters() if p.dim() == 2 and "encoder.layer" in n]
    acc = {id(p): torch.zeros_like(p) for p in weights}
    was_training = model.training
    model.eval()  # no dropout: the importance of the model as it will be used
    for batch in batches:
        model.zero_grad(set_to_none=True)
        loss_fn(model, batch).backward()
        for p in weights:
            if p.grad is not None:
                acc[id(p)] += p.grad.detach().abs()
    model.zero_grad(set_to_none=True)
    model.train(was_training)
    return acc


def select_units(
    importance: list[torch.Tensor], fraction: float, scope: str = "layer"
) -> list[list[int]]:
    """Which units to remove in each layer: the lowest-importance ones.

    * ``layer``: ``round(fraction * n_l)`` units in every layer.
    * ``global``: ``round(fraction * sum_l n_l)`` units ranked across layers, never the
      most important unit of a layer (so no layer loses all its units).

    Raises:
        ValueError: the selection would remove every unit of a layer.
    """
    if scope == "layer":
        out = []
        for i, imp in enumerate(importance):
            count = int(round(fraction * imp.numel()))
            if count >= imp.numel():
                raise ValueError(f"layer {i}: removing {count} of {imp.numel()} units leaves none")
            out.append(sorted(torch.argsort(imp)[:count].tolist()))
        return out
    if scope != "global":
        raise ValueError(f"scope must be layer or global, got {scope!r}")
    total = sum(imp.numel() for imp in importance)
    count = int(round(fraction * total))
    candidates = []
    for i, imp in enumerate(importance):
        best = int(torch.argmax(imp))
        candidates += [(float(v), i, j) for j, v in enumerate(imp.tolist()) if j != best]
    if count > len(candidates):
        raise ValueError(f"removing {count} of {total} units would leave a layer empty")
    chosen = sorted(candidates)[:count]
    out = [[] for _ in importance]
    for _, i, j in chosen:
        out[i].append(j)
    return [sorted(units) for units in out]


def remove_heads(model: nn.Module, heads: list[list[int]]) -> nn.Module:
    """Physically remove attention heads (in place): ``heads[l]`` lists layer ``l``'s heads.

    Q, K, V keep the rows of the kept heads (``dim=0``), the attention output keeps the
    matching columns (``dim=1``); ``num_attention_heads`` and ``all_head_size`` shrink.
    """
    for layer, drop in zip(encoder_layers(model), heads, strict=True):
        att = layer.attention.self
        if not drop:
            continue
        if len(set(drop)) >= att.num_attention_heads:
            raise ValueError("cannot remove every head of a layer")
        d = att.attention_head_size
        keep = [h for h in range(att.num_attention_heads) if h not in set(drop)]
        index = torch.cat([torch.arange(h * d, (h + 1) * d) for h in keep])
        att.query = prune_linear_layer(att.query, index, dim=0)
        att.key = prune_linear_layer(att.key, index, dim=0)
        att.value = prune_linear_layer(att.value, index, dim=0)
        layer.attention.output.dense = prune_linear_layer(
            layer.attention.output.dense, index, dim=1
        )
        att.num_attention_heads = len(keep)
        att.all_head_size = len(keep) * d
    return model


def remove_neurons(model: nn.Module, neurons: list[list[int]]) -> nn.Module:
    """Physically remove FFN neurons (in place): ``W_in`` rows (``dim=0``) and ``W_out``
    columns (``dim=1``) of the listed neurons."""
    for layer, drop in zip(encoder_layers(model), neurons, strict=True):
        if not drop:
            continue
        size = layer.intermediate.dense.out_features
        if len(set(drop)) >= size:
            raise ValueError("cannot remove every FFN neuron of a layer")
        index = torch.tensor([j for j in range(size) if j not in set(drop)])
        layer.intermediate.dense = prune_linear_layer(layer.intermediate.dense, index, dim=0)
        layer.output.dense = prune_linear_layer(layer.output.dense, index, dim=1)
    return model


def layer_shapes(model: nn.Module) -> tuple[list[int], list[int]]:
    """``(heads per layer, FFN width per layer)``: what a pruned model's builder needs."""
    layers = encoder_layers(model)
    return (
        [layer.attention.self.num_attention_heads for layer in layers],
        [layer.intermediate.dense.out_features for layer in layers],
    )


def resize(model: nn.Module, heads: list[int], ffn: list[int]) -> nn.Module:
    """Shrink a freshly built model to ``heads[l]`` heads and ``ffn[l]`` FFN neurons per
    layer (keeps the first units; the weights are then loaded from a state dict)."""
    layers = encoder_layers(model)
    remove_heads(
        model,
        [
            list(range(h, layer.attention.self.num_attention_heads))
            for h, layer in zip(heads, layers, strict=True)
        ],
    )
    remove_neurons(
        model,
        [
            list(range(f, layer.intermediate.dense.out_features))
            for f, layer in zip(ffn, layers, strict=True)
        ],
    )
    return model


def mask_heads_and_neurons(
    model: nn.Module, heads: list[list[int]], neurons: list[list[int]]
) -> nn.Module:
    """Zero the output columns of the listed heads and the ``W_out`` columns of the listed
    neurons (in place): the masked equivalent of :func:`remove_heads` + :func:`remove_neurons`."""
    with torch.no_grad():
        for layer, hs, ns in zip(encoder_layers(model), heads, neurons, strict=True):
            d = layer.attention.self.attention_head_size
            for h in hs:
                layer.attention.output.dense.weight[:, h * d : (h + 1) * d] = 0
            for j in ns:
                layer.output.dense.weight[:, j] = 0
    return model

"""Per-layer sensitivity and bit allocation under an average-bits budget.

Sensitivity of layer ``l`` at ``b`` bits: quantize only ``l`` to ``b`` bits (every other layer
fp32) and measure, on fixed batches, the accuracy drop in points and the mean KL divergence
``KL(p_fp32 || p_quant)`` of the predicted class distributions (a finer signal that breaks the
ties of the accuracy drop on few batches).

Allocation (greedy): start with every layer at the widest candidate; while the
parameter-weighted average ``sum_l n_l b_l / sum_l n_l`` exceeds the budget, lower by one
candidate step the layer whose step costs the least sensitivity per bit saved
(``(d acc_drop, d KL) / (n_l * (b - b'))``, compared in that order).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn


@dataclass
class LayerSensitivity:
    name: str
    params: int
    acc_drop: dict[int, float] = field(default_factory=dict)
    kl: dict[int, float] = field(default_factory=dict)


@torch.no_grad()
def measure_sensitivity(
    model: nn.Module,
    layers: list[str],
    candidate_bits: list[int],
    quantize_weight: Callable[[str, torch.Tensor, int], torch.Tensor],
    predict: Callable[[nn.Module], tuple[torch.Tensor, torch.Tensor]],
) -> list[LayerSensitivity]:
    """Sensitivity of each layer at each candidate width.

    Args:
        model: the fp32 model (weights restored after each probe).
        layers: names of the Linear layers to probe.
        candidate_bits: widths to try; the widest is assumed near-lossless and probed too.
        quantize_weight: ``(name, weight, bits) -> dequantized weight``.
        predict: ``model -> (logits, labels)`` on fixed batches.
    """
    ref_logits, labels = predict(model)
    ref_logp = F.log_softmax(ref_logits.float(), -1)
    ref_acc = float((ref_logits.argmax(-1) == labels).float().mean())
    out = []
    for name in layers:
        weight = model.get_submodule(name).weight
        original = weight.detach().clone()
        row = LayerSensitivity(name, weight.numel())
        for bits in candidate_bits:
            weight.copy_(quantize_weight(name, original, bits))
            logits, _ = predict(model)
            logp = F.log_softmax(logits.float(), -1)
            row.acc_drop[bits] = 100.0 * (
                ref_acc - float((logits.argmax(-1) == labels).float().mean())
            )
            row.kl[bits] = float(F.kl_div(logp, ref_logp, log_target=True, reduction="batchmean"))
            weight.copy_(original)
        out.append(row)
    return out


def allocate_bits(
    rows: list[LayerSensitivity], candidate_bits: list[int], budget: float
) -> dict[str, int]:
    """Greedy allocation of one width per layer with parameter-weighted mean bits <= ``budget``.

    Raises:
        ValueError: the budget is below the narrowest candidate.
    """
    widths = sorted(set(candidate_bits), reverse=True)
    if budget < widths[-1]:
        raise ValueError(f"budget {budget} bits is below the narrowest candidate {widths[-1]}")
    chosen = {r.name: widths[0] for r in rows}
    total = sum(r.params for r in rows)
    by_name = {r.name: r for r in rows}

    def average() -> float:
        return sum(by_name[n].params * b for n, b in chosen.items()) / total

    while average() > budget + 1e-9:
        best, best_key = None, None
        for name, bits in chosen.items():
            i = widths.index(bits)
            if i + 1 == len(widths):
                continue
            lower, r = widths[i + 1], by_name[name]
            saved = r.params * (bits - lower)
            key = (
                (r.acc_drop[lower] - r.acc_drop.get(bits, 0.0)) / saved,
                (r.kl[lower] - r.kl.get(bits, 0.0)) / saved,
            )
            if best_key is None or key < best_key:
                best, best_key = (name, lower), key
        chosen[best[0]] = best[1]
    return chosen


def allocation_table(
    rows: list[LayerSensitivity], chosen: dict[str, int], candidate_bits: list[int]
) -> str:
    """CSV text: layer, params, acc drop and KL at each width, chosen bits."""
    widths = sorted(set(candidate_bits))
    head = (
        ["layer", "params"]
        + [f"acc_drop_{b}bit" for b in widths]
        + [f"kl_{b}bit" for b in widths]
        + ["bits"]
    )
    lines = [",".join(head)]
    for r in rows:
        cells = (
            [r.name, str(r.params)]
            + [f"{r.acc_drop[b]:.3f}" for b in widths]
            + [f"{r.kl[b]:.6f}" for b in widths]
        )
        lines.append(",".join(cells + [str(chosen[r.name])]))
    return "\n".join(lines) + "\n"

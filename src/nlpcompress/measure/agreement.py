"""How far a compressed model's outputs moved from the fp32 model's, on the same batches.

For reference logits ``z`` and compressed logits ``z'`` over all examples ``i``:

    logit_rel_error = sqrt(sum_i ||z'_i - z_i||^2) / sqrt(sum_i ||z_i||^2)
    agreement       = mean_i [argmax z'_i == argmax z_i]

Accuracy alone cannot tell a compression that did nothing from one that works on easy data;
these two can (int8 weights move the logits by a few percent, 1-bit weights by tens).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch

Predictor = Callable[[dict[str, torch.Tensor]], torch.Tensor]


@torch.no_grad()
def output_agreement(
    reference: Predictor, candidate: Predictor, batches: Iterable[dict[str, torch.Tensor]]
) -> dict[str, float]:
    """``{"agreement", "logit_rel_error"}`` of ``candidate`` against ``reference``."""
    diff = norm = 0.0
    same = total = 0
    for batch in batches:
        z, zq = reference(batch).float(), candidate(batch).float()
        diff += float(((zq - z) ** 2).sum())
        norm += float((z**2).sum())
        same += int((zq.argmax(-1) == z.argmax(-1)).sum())
        total += z.shape[0]
    if total == 0:
        raise ValueError("output_agreement: no batches")
    return {"agreement": same / total, "logit_rel_error": (diff / max(norm, 1e-30)) ** 0.5}

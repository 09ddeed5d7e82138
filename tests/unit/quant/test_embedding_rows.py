"""QAT embeddings fake-quantize only the looked-up rows: same values and gradients as the
whole-table fake quantization, for every weight form."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from nlpcompress.quant.modules import QuantEmbedding, WeightSpec

SPECS = [
    WeightSpec("int", 8, True, "per_channel"),
    WeightSpec("int", 4, False, "per_group", group_size=4),
    WeightSpec("int", 4, True, "per_tensor"),
    WeightSpec("int", 3, True, "per_channel", lsq=True),
    WeightSpec("int", 3, True, "per_tensor", lsq=True),
    WeightSpec("binary", 1),
    WeightSpec("ternary", 2),
    WeightSpec("fixed_point", 8),
]


def _reference(qe: QuantEmbedding, ids: torch.Tensor) -> torch.Tensor:
    """The old forward: the whole table fake-quantized, then looked up."""
    return F.embedding(ids, qe.weight_quantizer(qe.weight), qe.padding_idx)


@pytest.mark.parametrize(
    "spec", SPECS, ids=lambda s: f"{s.form}{s.bits}-{s.granularity}-lsq{s.lsq}"
)
def test_row_forward_matches_whole_table(spec):
    torch.manual_seed(0)
    ids = torch.tensor([[3, 1, 0, 3], [7, 0, 0, 2]])
    grads = []
    outs = []
    for path in ("rows", "table"):
        torch.manual_seed(0)
        qe = QuantEmbedding(nn.Embedding(10, 8, padding_idx=0), spec).train()
        weight_out = torch.randn(2, 4, 8, generator=torch.Generator().manual_seed(1))
        out = qe(ids) if path == "rows" else _reference(qe, ids)
        (out * weight_out).sum().backward()
        outs.append(out.detach())
        grads.append(
            [qe.weight.grad.clone()]
            + ([qe.weight_quantizer.scale.grad.clone()] if spec.lsq else [])
        )
    torch.testing.assert_close(outs[0], outs[1])
    for a, b in zip(grads[0], grads[1], strict=True):
        torch.testing.assert_close(a, b)
    assert grads[0][0][0].abs().sum() == 0  # padding row: no gradient
    assert grads[0][0][5].abs().sum() == 0  # a row not looked up: no gradient


def test_eval_path_is_the_stored_table():
    qe = QuantEmbedding(nn.Embedding(10, 8), WeightSpec("int", 4, True, "per_channel")).eval()
    ids = torch.tensor([[1, 2, 3]])
    torch.testing.assert_close(qe(ids), _reference(qe, ids))

"""Output agreement against fp32: the formula on fixed logits."""

from __future__ import annotations

import pytest
import torch

from nlpcompress.measure.agreement import output_agreement


def test_relative_error_and_agreement_on_fixed_logits():
    ref = {0: torch.tensor([[3.0, 4.0], [1.0, 0.0]]), 1: torch.tensor([[0.0, 2.0]])}
    cand = {0: torch.tensor([[3.0, 4.0], [0.0, 1.0]]), 1: torch.tensor([[0.0, 2.0]])}
    batches = [{"id": 0}, {"id": 1}]
    out = output_agreement(lambda b: ref[b["id"]], lambda b: cand[b["id"]], batches)
    # one of three rows flips; ||diff||^2 = 1 + 1 = 2, ||z||^2 = 25 + 1 + 4 = 30
    assert out["agreement"] == pytest.approx(2 / 3)
    assert out["logit_rel_error"] == pytest.approx((2 / 30) ** 0.5)


def test_identical_outputs_agree_fully_and_no_batches_is_an_error():
    z = torch.randn(5, 3, generator=torch.Generator().manual_seed(0))
    out = output_agreement(lambda b: z, lambda b: z.clone(), [{}])
    assert out == {"agreement": 1.0, "logit_rel_error": 0.0}
    with pytest.raises(ValueError, match="no batches"):
        output_agreement(lambda b: z, lambda b: z, [])

"""Sensitivity-based bit allocation on fixed numbers and a toy model."""

import pytest
import torch
from torch import nn

from nlpcompress.quant.quantizers import dequantize, quantize_weight
from nlpcompress.quant.sensitivity import (
    LayerSensitivity,
    allocate_bits,
    allocation_table,
    measure_sensitivity,
)


def test_greedy_lowers_the_least_sensitive_layers_first():
    rows = [
        LayerSensitivity("a", 100, {2: 10.0, 4: 1.0, 8: 0.0}, {2: 1.0, 4: 0.1, 8: 0.0}),
        LayerSensitivity("b", 100, {2: 0.5, 4: 0.0, 8: 0.0}, {2: 0.05, 4: 0.01, 8: 0.0}),
        LayerSensitivity("c", 200, {2: 0.0, 4: 0.0, 8: 0.0}, {2: 0.2, 4: 0.02, 8: 0.0}),
    ]
    chosen = allocate_bits(rows, [2, 4, 8], budget=4.0)
    avg = (100 * chosen["a"] + 100 * chosen["b"] + 200 * chosen["c"]) / 400
    assert avg <= 4.0
    assert chosen == {"a": 8, "b": 4, "c": 2}  # 8*100 + 4*100 + 2*200 = 1600 = 4.0 * 400
    assert allocate_bits(rows, [2, 4, 8], budget=8.0) == {"a": 8, "b": 8, "c": 8}
    with pytest.raises(ValueError):
        allocate_bits(rows, [2, 4, 8], budget=1.5)
    table = allocation_table(rows, chosen, [2, 4, 8])
    assert table.splitlines()[0].startswith("layer,params,acc_drop_2bit")
    assert table.splitlines()[1].endswith(",8")


def test_measure_sensitivity_restores_weights_and_ranks_layers():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 8), nn.Linear(8, 3))
    with torch.no_grad():
        model[1].weight.mul_(10)  # the head matters more
    x = torch.randn(64, 8)
    before = [p.clone() for p in model.parameters()]

    def predict(m):
        return m(x), m(x).argmax(-1)

    def q(name, w, bits):
        codes, s, z = quantize_weight(w, bits, True, "per_tensor")
        return dequantize(codes, s, z).reshape(w.shape)

    rows = measure_sensitivity(model, ["0", "1"], [2, 8], q, predict)
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))
    assert rows[0].kl[8] < rows[0].kl[2] and rows[1].kl[8] < rows[1].kl[2]
    assert rows[0].acc_drop[8] <= rows[0].acc_drop[2]

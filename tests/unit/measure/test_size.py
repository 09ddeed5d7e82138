"""size/bytes is the files' bytes; params, non-zeros and bits are counted from what is stored."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from nlpcompress.measure.size import count_params, layer_records, size_metrics, write_layer_csv
from nlpcompress.storage.format import EncodedTensor, encode_dense, write_artifact


def test_size_bytes_equals_files_on_disk_and_counts(tmp_path):
    w = torch.arange(12, dtype=torch.float32).reshape(3, 4)  # one zero
    b = torch.zeros(3)
    art = write_artifact(
        tmp_path / "m",
        {"encoder.layer.0.w": encode_dense(w), "head.b": encode_dense(b)},
        {"builder": "none"},
    )
    m = size_metrics(art, fp32_bytes=art.bytes * 2)
    on_disk = (tmp_path / "m.safetensors").stat().st_size + (tmp_path / "m.json").stat().st_size
    assert m["size/bytes"] == on_disk
    assert m["size/params"] == 15
    assert m["size/nonzero_params"] == 11
    assert m["size/avg_bits"] == pytest.approx(32.0)
    assert m["size/ratio_vs_fp32"] == pytest.approx(0.5)
    assert m["size/encoder_bytes"] == 12 * 4


def test_avg_bits_counts_every_stored_part(tmp_path):
    data = torch.ones(8, dtype=torch.bfloat16)  # 8 x 16 bits
    scale = torch.ones(1, dtype=torch.float32)  # plus one 32-bit side value
    enc = EncodedTensor("dense", (8,), {"data": data, "scale": scale}, {"dtype": "torch.bfloat16"})
    art = write_artifact(tmp_path / "q", {"w": enc}, {"builder": "none"})
    m = size_metrics(art, None)
    assert m["size/params"] == 8
    assert m["size/avg_bits"] == pytest.approx((8 * 16 + 32) / 8)


def test_layer_records_and_csv(tmp_path):
    w = torch.tensor([[0.0, 1.0], [2.0, 0.0]])
    art = write_artifact(
        tmp_path / "m", {"w": encode_dense(w, torch.bfloat16)}, {"builder": "none"}
    )
    (row,) = layer_records(art)
    assert (
        row.shape == (2, 2)
        and row.stored_bits == 16.0
        and row.sparsity == 0.5
        and row.encoding == "dense"
    )
    text = write_layer_csv([row], tmp_path / "layers.csv").read_text().splitlines()
    assert text[0] == "name,shape,stored_bits,sparsity,encoding"
    assert text[1] == "w,2x2,16.000,0.5000,dense"


def test_count_params_of_live_model():
    lin = nn.Linear(3, 2)
    with torch.no_grad():
        lin.weight.zero_()
        lin.weight[0, 0] = 1.0
        lin.bias.fill_(0.5)
    assert count_params(lin) == (8, 3)

import copy

import pytest
import torch

from nlpcompress.prune.bert import prunable_linears
from nlpcompress.prune.masks import magnitude_masks
from nlpcompress.prune.storage import (
    decode_bitmask,
    decode_csr,
    dense_encoder_bytes,
    encode_bitmask,
    encode_csr,
    encode_model,
    encode_sparse,
    encoder_bytes,
    export_pruned,
    pack_bits,
    unpack_bits,
)
from nlpcompress.prune.structured import remove_heads, remove_neurons
from nlpcompress.storage.format import load_model


def _sparse(shape, sparsity, seed=0):
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(*shape, generator=g)
    return w * magnitude_masks({"w": w}, sparsity, "layer")["w"]


def test_bits_roundtrip():
    m = torch.rand(13, 7) > 0.5
    assert torch.equal(unpack_bits(pack_bits(m), m.numel()).reshape(13, 7), m)
    assert pack_bits(m).numel() == 12


@pytest.mark.parametrize(
    "encode,decode", [(encode_bitmask, decode_bitmask), (encode_csr, decode_csr)]
)
def test_sparse_encodings_roundtrip_exactly(encode, decode):
    w = _sparse((48, 40), 0.8)
    assert torch.equal(decode(encode(w)).reshape(w.shape), w)


def test_stored_bytes_follow_the_formulas():
    w = _sparse((64, 128), 0.9)  # n = 8192, z = 819
    z = int((w != 0).sum())
    assert encode_bitmask(w).stored_bytes == 8192 // 8 + 4 * z
    assert encode_csr(w).stored_bytes == 4 * 65 + (2 + 4) * z
    assert encode_sparse(w).stored_bytes == min(8192 * 4, 8192 // 8 + 4 * z, 4 * 65 + 6 * z)
    assert encode_sparse(_sparse((64, 128), 0.99)).encoding == "sparse_csr"
    assert encode_sparse(_sparse((64, 128), 0.5)).encoding == "sparse_bitmask"
    assert encode_sparse(torch.randn(64, 128)).encoding == "dense"


def test_int8_values_are_packed_and_close():
    w = _sparse((32, 64), 0.75)
    enc = encode_sparse(w, int8=True)
    assert enc.parts["values"].dtype == torch.int8
    decoded = decode_bitmask(enc) if enc.encoding == "sparse_bitmask" else decode_csr(enc)
    scale = w.abs().amax(dim=1, keepdim=True) / 127
    assert ((decoded - w).abs() <= scale / 2 + 1e-7).all()
    assert torch.equal(decoded == 0, w == 0)


def _predict(model, batch):
    with torch.no_grad():
        return model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits


def test_sparse_export_roundtrips_to_identical_predictions(tiny_bert, tiny_batch, tmp_path):
    model = copy.deepcopy(tiny_bert)
    linears = prunable_linears(model)
    masks = magnitude_masks({n: m.weight for n, m in linears.items()}, 0.9, "global")
    with torch.no_grad():
        for n, m in linears.items():
            m.weight.mul_(masks[n])
    tensors = encode_model(model)
    art = export_pruned(model, tmp_path / "m", tensors)
    loaded = load_model(tmp_path / "m")
    assert torch.equal(_predict(loaded, tiny_batch), _predict(model, tiny_batch))
    # weights: at most n/8 + 4z bytes each (bitmask); biases and LayerNorms dense fp32
    weight_bound = sum(
        m.weight.numel() // 8 + 4 * int((m.weight != 0).sum()) for m in linears.values()
    )
    other = sum(
        4 * t.numel()
        for n, t in model.state_dict().items()
        if n.startswith("bert.encoder.") and t.dim() == 1
    )
    assert encoder_bytes(model, tensors) <= weight_bound + other
    assert encoder_bytes(model, tensors) < 0.2 * dense_encoder_bytes(model)
    dense_art = export_pruned(tiny_bert, tmp_path / "d")
    assert art.bytes < dense_art.bytes


def test_structured_export_roundtrips(tiny_bert, tiny_batch, tmp_path):
    model = remove_neurons(
        remove_heads(copy.deepcopy(tiny_bert), [[1], [0, 3]]), [[1, 2, 3], list(range(32))]
    )
    export_pruned(model, tmp_path / "s")
    loaded = load_model(tmp_path / "s")
    assert loaded.bert.encoder.layer[1].attention.self.num_attention_heads == 2
    assert loaded.bert.encoder.layer[1].intermediate.dense.out_features == 32
    assert torch.equal(_predict(loaded, tiny_batch), _predict(model, tiny_batch))

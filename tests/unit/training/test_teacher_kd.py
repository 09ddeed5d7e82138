"""KD from the fp32 original while compressing: the loss is the documented formula."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F

from nlpcompress.config.schema import TrainerConfig
from nlpcompress.training.teacher_kd import TeacherKDModule
from tests.unit.distill.conftest import make_batch, teacher_and_perturbed_copy


@pytest.fixture
def pair():
    return teacher_and_perturbed_copy()


def _batch():
    batch = make_batch([5, 3, 7], pad_to=8)
    batch["labels"] = torch.tensor([0, 1, 1])
    return batch


def test_loss_is_soft_kl_plus_mean_hidden_mse_over_real_tokens(pair):
    teacher, student = pair
    module = TeacherKDModule(student, TrainerConfig(), 2, teacher, 2.0, 0.7, 0.5)
    batch = _batch()
    inputs = {k: batch[k] for k in ("input_ids", "attention_mask", "token_type_ids")}
    s = student(**inputs, output_hidden_states=True)
    with torch.no_grad():
        t = teacher(**inputs, output_hidden_states=True)
    T, a = 2.0, 0.7
    kl = F.kl_div(
        F.log_softmax(s.logits / T, -1), F.softmax(t.logits / T, -1), reduction="batchmean"
    )
    pred = a * T**2 * kl + (1 - a) * F.cross_entropy(s.logits, batch["labels"])
    m = batch["attention_mask"].bool()
    mse = [
        ((hs - ht)[m] ** 2).mean()
        for hs, ht in zip(s.hidden_states[1:], t.hidden_states[1:], strict=True)
    ]
    expected = pred + 0.5 * torch.stack(mse).mean()
    torch.testing.assert_close(module.compute_loss(batch), expected, rtol=1e-5, atol=1e-6)


def test_hidden_weight_zero_is_logit_kd_and_the_teacher_gets_no_gradient(pair):
    teacher, student = pair
    module = TeacherKDModule(student, TrainerConfig(), 2, teacher, 1.0, 1.0, 0.0)
    loss = module.compute_loss(_batch())
    loss.backward()
    assert all(p.grad is None for p in teacher.parameters())
    assert any(p.grad is not None for p in student.parameters())
    assert "_teacher" not in dict(module.named_children())
    assert not any(k.startswith("_teacher") for k in module.state_dict())


def test_identical_student_and_teacher_have_zero_hidden_loss(pair):
    teacher, _ = pair
    module = TeacherKDModule(copy.deepcopy(teacher), TrainerConfig(), 2, teacher, 1.0, 1.0, 1.0)
    batch = _batch()
    loss = module.compute_loss(batch)
    assert float(loss) == pytest.approx(0.0, abs=1e-6)  # KL(p||p) = 0 and MSE(h, h) = 0


def test_cached_teacher_outputs_give_the_same_loss_without_a_teacher_pass(pair):
    from nlpcompress.distill.cache import compute_teacher_cache

    teacher, student = pair
    batch = _batch()
    cache = compute_teacher_cache(teacher, [batch], size=3, layers=[0, 1])
    live = TeacherKDModule(student, TrainerConfig(), 2, teacher, 2.0, 0.7, 0.5)
    cached = TeacherKDModule(student, TrainerConfig(), 2, teacher, 2.0, 0.7, 0.5, cache=cache)
    # hidden states are cached in float16: equal to ~1e-3 relative
    torch.testing.assert_close(
        cached.compute_loss(batch), live.compute_loss(batch), rtol=2e-3, atol=1e-5
    )
    assert (cached.teacher_calls, live.teacher_calls) == (0, 1)

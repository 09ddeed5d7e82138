"""KD while pruning (``prune.distill``): the loss is the documented KD formula, and the cached
teacher logits give the same loss as a live teacher pass without running the teacher."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from nlpcompress.config.schema import TrainerConfig
from nlpcompress.distill.cache import compute_teacher_cache
from nlpcompress.methods.prune_module import PruningModule
from tests.unit.distill.conftest import make_batch, teacher_and_perturbed_copy


@pytest.fixture
def pair():
    return teacher_and_perturbed_copy()


def _module(student, teacher, cache=None) -> PruningModule:
    return PruningModule(
        student, TrainerConfig(), 2, {}, {}, None, None,
        teacher=teacher, temperature=2.0, alpha=0.9, cache=cache,
    )  # fmt: skip


def test_kd_loss_while_pruning_is_soft_kl_plus_hard_ce(pair):
    teacher, student = pair
    batch = make_batch([5, 3, 7], pad_to=8)
    inputs = {k: batch[k] for k in ("input_ids", "attention_mask", "token_type_ids")}
    s = student(**inputs).logits
    with torch.no_grad():
        t = teacher(**inputs).logits
    T, a = 2.0, 0.9
    kl = F.kl_div(F.log_softmax(s / T, -1), F.softmax(t / T, -1), reduction="batchmean")
    expected = a * T**2 * kl + (1 - a) * F.cross_entropy(s, batch["labels"])
    torch.testing.assert_close(_module(student, teacher).compute_loss(batch), expected)


def test_cached_teacher_logits_give_the_live_loss_without_a_teacher_pass(pair):
    teacher, student = pair
    batch = make_batch([5, 3, 7], pad_to=8)
    cache = compute_teacher_cache(teacher, [batch], size=3, layers=[])
    live, cached = _module(student, teacher), _module(student, teacher, cache)
    torch.testing.assert_close(cached.compute_loss(batch), live.compute_loss(batch))
    assert (cached.teacher_calls, live.teacher_calls) == (0, 1)
    assert cached.distills and not _module(student, None).distills


def test_distill_cache_false_runs_the_teacher_each_step_and_distill_false_has_no_teacher(pair):
    from types import SimpleNamespace

    from nlpcompress.methods.prune import _kd_teacher
    from nlpcompress.prune.config import PruneConfig

    teacher, _ = pair
    ctx = SimpleNamespace(baseline=SimpleNamespace(model=teacher, key="k"))
    live = _kd_teacher(ctx, PruneConfig(kind="structured", distill=True, distill_cache=False))
    assert live["cache"] is None and live["teacher"] is not teacher  # a frozen copy
    assert not live["teacher"].training
    assert _kd_teacher(ctx, PruneConfig(kind="structured")) == {"teacher": None, "cache": None}

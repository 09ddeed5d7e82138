"""General distillation (TinyBERT's first phase): the loss, the batches and the cache."""

from __future__ import annotations

import pytest
import torch

from nlpcompress.config.errors import ConfigError
from nlpcompress.config.schema import ModelConfig
from nlpcompress.distill.config import GeneralDistillConfig, StudentConfig
from nlpcompress.distill.general import GD_WEIGHTS, corpus_batches, general_key
from nlpcompress.distill.losses import attention_mse, embedding_mse, hidden_mse
from nlpcompress.distill.objective import DistillObjective
from nlpcompress.distill.outputs import run_model
from nlpcompress.training.general_distill import general_distilled, train_general
from tests.unit.distill.conftest import tiny_bert


def corpus(n: int = 40, vocab: int = 50, seed: int = 3) -> list[list[int]]:
    g = torch.Generator().manual_seed(seed)
    return [
        torch.randint(
            1, vocab, (int(torch.randint(3, 9, (1,), generator=g)),), generator=g
        ).tolist()
        for _ in range(n)
    ]


def student_and_objective(seed: int = 5):
    student = tiny_bert(layers=2, hidden=8, heads=4, seed=seed)
    return student, DistillObjective(GD_WEIGHTS, [1, 3], 8, 16)


def gd_loss(student, teacher, objective, batch) -> float:
    with torch.no_grad():
        t = run_model(teacher, batch, hidden=True, embeddings=True, attentions=True)
        s = run_model(student, batch, hidden=True, embeddings=True, attentions=True)
        return float(objective(s, t, None, batch["attention_mask"], phase="intermediate")[0])


def test_corpus_batches_pad_each_batch_to_its_longest_sentence_and_cover_the_corpus():
    ids = [[5, 6], [7], [8, 9, 10], [11]]
    stream = corpus_batches(ids, pad_id=0, batch_size=2, seed=0)
    first, second = next(stream), next(stream)
    seen = []
    for b in (first, second):
        width = int(b["attention_mask"].sum(1).max())
        assert b["input_ids"].shape[1] == width
        for row, m in zip(b["input_ids"], b["attention_mask"], strict=True):
            seen.append(row[m.bool()].tolist())
            assert (row[~m.bool()] == 0).all()
    assert sorted(seen) == sorted(ids)


def test_the_general_loss_is_tinyberts_sum_of_hidden_attention_and_embedding_mse():
    teacher = tiny_bert(layers=4, seed=0)
    student, objective = student_and_objective()
    batch = next(corpus_batches(corpus(), 0, 8, 0))
    mask = batch["attention_mask"]
    t = run_model(teacher, batch, hidden=True, embeddings=True, attentions=True)
    s = run_model(student, batch, hidden=True, embeddings=True, attentions=True)
    total, parts = objective(s, t, None, mask, phase="intermediate")
    hidden = (
        hidden_mse(s.hidden[0], t.hidden[1], mask, objective.hidden_proj[0])
        + hidden_mse(s.hidden[1], t.hidden[3], mask, objective.hidden_proj[1])
    ) / 2
    attention = (
        attention_mse(s.attentions[0], t.attentions[1], mask)
        + attention_mse(s.attentions[1], t.attentions[3], mask)
    ) / 2
    embedding = embedding_mse(s.embeddings, t.embeddings, mask, objective.embedding_proj)
    assert set(parts) == {"hidden", "attention", "embedding"}
    assert float(total) == pytest.approx(float(hidden + attention + embedding), rel=1e-6)


def test_general_distillation_lowers_the_loss_on_held_out_sentences():
    teacher = tiny_bert(layers=4, seed=0)
    student, objective = student_and_objective()
    held_out = next(corpus_batches(corpus(seed=9), 0, 16, 0))
    before = gd_loss(student, teacher, objective, held_out)
    gd = GeneralDistillConfig(steps=60, learning_rate=1e-2)
    metrics = train_general(student, teacher, objective, corpus_batches(corpus(), 0, 8, 0), gd)
    after = gd_loss(student.eval(), teacher, objective, held_out)
    assert after < 0.7 * before
    assert metrics["general/steps"] == 60
    assert {"general/hidden_loss_last50", "general/attention_loss_last50"} <= set(metrics)


def distilled(tmp_path, teacher, calls, student_seed=11, caller_seed=0, key="k1", steps=5):
    """``general_distilled`` into a run's student built with ``student_seed``."""

    def make_teacher():
        calls.append("teacher")
        return teacher

    def make_student():
        # like build_classifier: the random init draws from the global generator
        return tiny_bert(layers=2, hidden=8, heads=4, seed=int(torch.randint(10**6, (1,))))

    student, objective = student_and_objective(seed=student_seed)
    torch.manual_seed(caller_seed)
    caller_state = torch.get_rng_state()
    result = general_distilled(
        student,
        objective,
        make_student,
        lambda: DistillObjective(GD_WEIGHTS, [1, 3], 8, 16),
        make_teacher,
        GeneralDistillConfig(steps=steps, learning_rate=1e-2, seed=3),
        lambda: calls.append("corpus") or corpus(),
        0,
        key,
        tmp_path,
    )
    # a miss leaves the caller's generator where a hit does: exactly where it was
    assert torch.equal(torch.get_rng_state(), caller_state)
    return result, student, objective


def same_weights(a, b) -> bool:
    return all(
        torch.equal(x, y)
        for x, y in zip(a.state_dict().values(), b.state_dict().values(), strict=True)
    )


def test_the_general_student_is_cached_with_its_projections_and_reused(tmp_path):
    teacher, calls = tiny_bert(layers=4, seed=0), []
    first, student, objective = distilled(tmp_path, teacher, calls, student_seed=11)
    second, again, again_objective = distilled(tmp_path, teacher, calls, student_seed=12)
    assert (first.from_cache, second.from_cache) == (False, True)
    # the teacher was built and the corpus read for the first call only
    assert calls == ["corpus", "teacher"]
    assert same_weights(student, again) and same_weights(objective, again_objective)
    assert not same_weights(student, student_and_objective(seed=11)[0])  # it was trained
    assert second.metrics == first.metrics


def test_the_general_student_depends_on_its_recipe_not_on_the_callers_random_state(tmp_path):
    teacher = tiny_bert(layers=4, seed=0)
    _, one, _ = distilled(tmp_path / "a", teacher, [], caller_seed=1)
    # built afresh by another job of the sweep, whose generator is elsewhere
    _, two, _ = distilled(tmp_path / "b", teacher, [], caller_seed=2)
    assert same_weights(one, two)


def test_the_cache_key_changes_with_the_recipe_and_the_corpus_but_not_the_corpus_path():
    args = ({"name": "s"}, {"name": "t"}, GeneralDistillConfig(steps=10), "c1", [1, 3], 64)
    base = general_key(*args)
    assert general_key(*args) == base
    assert general_key(args[0], args[1], GeneralDistillConfig(steps=20), *args[3:]) != base
    assert general_key(*args[:3], "c2", *args[4:]) != base
    moved = GeneralDistillConfig(steps=10, corpus="/elsewhere/train.tsv")
    assert general_key(args[0], args[1], moved, *args[3:]) == base


def test_general_distillation_is_refused_for_a_student_that_is_not_a_random_bert():
    with pytest.raises(ConfigError, match="general_distill.steps"):
        StudentConfig(
            name="s",
            init="teacher_layers",
            layers=[0],
            general_distill=GeneralDistillConfig(steps=5),
        )
    with pytest.raises(ConfigError, match="embedding_init"):
        StudentConfig(
            name="s",
            init="random",
            model=ModelConfig(name="m", source="random"),
            embedding_init="teacher_pca",
            general_distill=GeneralDistillConfig(steps=5),
        )
    with pytest.raises(ConfigError, match="learning_rate"):
        GeneralDistillConfig(learning_rate=0)

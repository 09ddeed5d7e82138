"""Distillation end to end through the real CLI on tiny models, MLflow under tmp_path."""

from __future__ import annotations

import pytest
import torch
from mlflow.tracking import MlflowClient

from nlpcompress.storage.format import load_model
from tests.conftest import TINY

pytestmark = pytest.mark.integration
# Two epochs of the tiny data (162 examples, batch 8 -> 21 steps an epoch).
TWO_EPOCHS = ["method.max_epochs=2", "method.max_steps=42"]


def _finished(res):
    assert res.returncode == 0, res.stderr[-3000:]
    run = res.runs[0]
    assert run.info.status == "FINISHED"
    return run


def _finished_by_form(res):
    """The runs of a multirun over ``distill=...``, by form, all FINISHED."""
    assert res.returncode == 0, res.stderr[-3000:]
    runs = {r.data.params["distill.name"]: r for r in res.runs}
    assert {r.info.status for r in runs.values()} == {"FINISHED"}
    return runs


def _load_artifact(res, run, tmp_path):
    folder = MlflowClient(res.tracking_uri).download_artifacts(
        run.info.run_id, "model", str(tmp_path / "dl")
    )
    return load_model(f"{folder}/model")


def test_logit_kd_end_to_end_with_teacher_cache(run_cli, tmp_path):
    res = run_cli([*TINY, "method=distill", "pair=tiny_bert_to_1layer", *TWO_EPOCHS])
    run = _finished(res)
    m, tags = run.data.metrics, run.data.tags
    assert m["distill/steps"] == 42
    # the 1-layer student learns the keyword rule from the teacher: measured 1.00 for both on
    # seeds 42 and 1; 5 points is three of the 60 test examples
    assert m["fp32/test/acc"] >= 0.90
    assert m["test/acc"] >= max(0.85, m["fp32/test/acc"] - 0.05)
    # teacher outputs come from the cache: no teacher pass in either epoch
    assert m["distill/teacher_cache_used"] == 1
    assert (
        m["distill/teacher_forward_calls"] == 0
        and m["distill/teacher_forward_calls_last_epoch"] == 0
    )
    assert m["test/acc_retention_vs_teacher"] == pytest.approx(m["test/acc"] / m["fp32/test/acc"])
    assert m["speed/speedup_vs_teacher"] == pytest.approx(m["speed/speedup_vs_fp32"])
    assert m["distill/param_ratio"] < 1 and "train/loss_kd" in m and "time/distill_train_s" in m
    assert (
        tags["teacher"] == "tiny_bert"
        and tags["student"] == "tiny_1layer"
        and tags["pair"] == "tiny_bert_to_1layer"
    )
    assert tags["distill.teacher_cache"] == "logits"
    student = _load_artifact(res, run, tmp_path)
    assert student.config.num_hidden_layers == 1
    assert m["size/params"] == sum(p.numel() for p in student.parameters())

    no_cache = _finished(
        run_cli(
            [
                *TINY,
                "method=distill",
                "pair=tiny_bert_to_1layer",
                *TWO_EPOCHS,
                "distill.cache_teacher=false",
            ]
        )
    )
    nm = no_cache.data.metrics
    assert nm["distill/teacher_cache_used"] == 0
    assert (
        nm["distill/teacher_forward_calls"] == 42
        and nm["distill/teacher_forward_calls_last_epoch"] == 21
    )


def test_intermediate_minilm_and_hidden_distillation_into_a_narrower_student(run_cli):
    # one process, three jobs (each CLI process pays seconds of imports)
    res = run_cli(
        [
            *TINY,
            "method=distill",
            "pair=tiny_bert_to_narrow",
            "distill=intermediate,minilm,hidden",
            # the narrow student starts from the teacher's embeddings projected by PCA
            "+pair.student.embedding_init=teacher_pca",
        ],
        multirun=True,
    )
    runs = _finished_by_form(res)
    assert {r.data.params["pair.student.embedding_init"] for r in runs.values()} == {"teacher_pca"}

    # TinyBERT's two stages: attention maps are not cached, so the teacher runs every step of
    # the intermediate stage; the prediction stage reads its logits from the cache
    m = runs["intermediate"].data.metrics
    for part in ("kd", "hidden", "attention", "embedding"):
        assert f"train/loss_{part}" in m, part
    steps = m["distill/steps"]
    assert steps > 0
    assert m["distill/teacher_forward_calls"] == pytest.approx(steps // 2, abs=1)
    assert runs["intermediate"].data.tags["distill.layer_map"] == "1"

    # MiniLM: attention distributions and value relations, then logit KD
    m = runs["minilm"].data.metrics
    for part in ("kd", "attention", "value"):
        assert f"train/loss_{part}" in m, part
    assert "train/loss_hidden" not in m
    assert 0 < m["distill/teacher_forward_calls"] < m["distill/steps"]

    # hidden states come from the cache: no teacher pass during training
    m = runs["hidden"].data.metrics
    assert "train/loss_hidden" in m and "train/loss_embedding" in m
    assert m["distill/teacher_forward_calls"] == 0
    assert runs["hidden"].data.tags["distill.teacher_cache"] == "logits+hidden[1]+embeddings"


def test_general_distillation_runs_once_and_every_task_form_starts_from_it(run_cli):
    res = run_cli(
        [
            *TINY,
            "method=distill",
            "pair=tiny_bert_to_narrow",
            "distill=logit,intermediate",
            "pair.student.general_distill.steps=6",
        ],
        multirun=True,
    )
    runs = _finished_by_form(res)
    tags = {name: r.data.tags for name, r in runs.items()}
    # one general student (same key) for both forms: trained at most once (the test cache may
    # hold it from an earlier session), read by the other job with the metrics it was built with
    assert tags["logit"]["distill.general_key"] == tags["intermediate"]["distill.general_key"]
    assert [t["distill.general_cache"] for t in tags.values()].count("hit") >= 1
    train_s = {r.data.metrics["general/train_s"] for r in runs.values()}
    assert len(train_s) == 1 and train_s.pop() > 0
    for r in runs.values():
        m = r.data.metrics
        assert m["general/steps"] == 6
        assert m["general/sentences"] == 162  # the tiny training split, labels unused
        assert m["general/hidden_loss_last50"] > 0


def test_bilstm_student_no_kd_control_and_stored_format(run_cli, tmp_path):
    res = run_cli(
        [
            *TINY,
            "method=distill",
            "pair=minilm6_to_bilstm",
            "model=tiny_bert",
            "pair.teacher=tiny_bert",
            "pair.student.embedding_dim=128",
            "pair.student.hidden_size=32",
            "pair.student.mlp_hidden=32",
            "method.learning_rate=1e-3",
            "distill.alpha=0",
        ]
    )
    run = _finished(res)
    m = run.data.metrics
    # alpha = 0 and no intermediate term: plain fine-tuning, the teacher is never needed
    assert m["distill/teacher_cache_used"] == 0 and m["distill/teacher_forward_calls"] == 0
    student = _load_artifact(res, run, tmp_path)
    assert type(student).__name__ == "BiLSTMClassifier"
    ids = torch.randint(1, 100, (2, 9))
    assert student(ids, torch.ones_like(ids)).shape == (2, 2)


def test_bad_layer_map_fails_before_any_work(run_cli):
    res = run_cli(
        [
            *TINY,
            "method=distill",
            "pair=tiny_bert_to_narrow",
            "distill=intermediate",
            "pair.layer_map=[5]",
        ]
    )
    assert res.returncode == 2
    assert "pair.layer_map=[5]" in res.stderr and "allowed" in res.stderr
    assert not [r for r in res.runs if r.info.status == "FINISHED"]


def test_general_distillation_reads_a_corpus_file_and_refuses_a_missing_one(run_cli, tmp_path):
    args = [
        *TINY,
        "method=distill",
        "pair=tiny_bert_to_narrow",
        "pair.student.general_distill.steps=3",
    ]
    missing = run_cli([*args, f"pair.student.general_distill.corpus={tmp_path}/nowhere.tsv"])
    assert missing.returncode != 0
    assert "pair.student.general_distill.corpus" in missing.stderr
    assert "nowhere.tsv" in missing.stderr
    assert not [r for r in missing.runs if r.info.status == "FINISHED"]

    corpus = tmp_path / "unlabelled.tsv"
    lines = [f"good film number {i}" for i in range(30)] + ["   "]  # the blank line is skipped
    corpus.write_text("sentence\n" + "\n".join(lines) + "\n", encoding="utf-8")
    run = _finished(run_cli([*args, f"pair.student.general_distill.corpus={corpus}"]))
    assert run.data.metrics["general/sentences"] == 30

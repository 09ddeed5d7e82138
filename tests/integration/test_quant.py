"""Quantization end to end through the real CLI on tiny_bert + tiny data, MLflow under tmp_path."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tests.conftest import TINY

pytestmark = pytest.mark.integration


def _model_stem(res, run) -> Path:
    from mlflow.tracking import MlflowClient

    folder = MlflowClient(res.tracking_uri).download_artifacts(run.info.run_id, "model")
    return Path(folder) / "model"


def test_ptq_int8_end_to_end_and_binary_ptq_moves_the_outputs_far_more(run_cli):
    # one process, two jobs: the imports are paid once
    res = run_cli([*TINY, "method=ptq", "quant=int8,binary"], multirun=True)
    assert res.returncode == 0, res.stderr[-3000:]
    runs = {r.data.params["quant.form"]: r for r in res.runs}
    run, binary = runs["int"], runs["binary"]
    m, tags = run.data.metrics, run.data.tags
    b = binary.data.metrics
    # Binary PTQ does not fall in accuracy on this easy keyword rule (seen 1.00 and 0.88), but
    # its outputs move far from fp32's, int8's barely (seed 42: 0.0016 vs 0.74 relative logit
    # error): a quantizer that silently did nothing would fail here
    assert m["quant/val_logit_rel_error_vs_fp32"] < 0.02
    assert m["quant/val_agreement_vs_fp32"] >= 0.95
    assert b["quant/val_logit_rel_error_vs_fp32"] > 0.3
    assert b["quant/val_logit_rel_error_vs_fp32"] > 50 * m["quant/val_logit_rel_error_vs_fp32"]
    assert b["quant/avg_linear_bits"] == 1.0
    assert run.info.status == "FINISHED"
    assert run.info.run_name == "ptq-int8-w8e8"
    # int8 codes for every Linear and embedding: about a quarter of fp32 (+ per-row scales)
    assert 0.24 < m["size/ratio_vs_fp32"] < 0.30
    assert 8.0 <= m["size/avg_bits"] < 8.8
    assert m["quant/avg_linear_bits"] == 8.0
    assert tags["materialized"] == "true" and tags["int8_kernel"] == "true"
    assert "test/acc_drop_vs_fp32" in m and "stored_form/test/acc" in m
    # measured 1.00 for fp32 and for int8 (also int4 and int2) on seeds 42 and 1: 60 test rows,
    # one example is 1.7 points, so "within 3 points" allows one flipped example
    assert m["fp32/test/acc"] >= 0.90
    assert m["test/acc"] >= m["fp32/test/acc"] - 0.03
    assert m["stored_form/test/acc"] >= m["fp32/test/acc"] - 0.03

    from nlpcompress.storage.format import read_artifact

    tensors, meta = read_artifact(_model_stem(res, run))
    assert meta["builder"] == "hf_quantized_classifier"
    word = tensors["bert.embeddings.word_embeddings.weight"]
    assert word.encoding == "packed_int" and word.attrs["bits"] == 8
    assert tensors["classifier.weight"].encoding == "dense"


def test_qat_int4_end_to_end_round_trip(run_cli):
    res = run_cli([*TINY, "method=qat", "quant=int4", "quant.group_size=32", "method.max_steps=4"])
    assert res.returncode == 0, res.stderr[-3000:]
    (run,) = res.runs
    m, tags = run.data.metrics, run.data.tags
    assert tags["materialized"] == "false"
    assert 0.12 < m["size/ratio_vs_fp32"] < 0.16
    assert m["time/qat_train_s"] > 0
    stem = _model_stem(res, run)
    from nlpcompress.storage.format import load_model, read_artifact

    tensors, _ = read_artifact(stem)
    q = tensors["bert.encoder.layer.0.intermediate.dense.weight"]
    assert q.attrs["bits"] == 4 and q.attrs["groups"] == [256, 4, 32]
    # the stored form decodes to at most 2^4 levels per group
    w = (
        load_model(stem)
        .bert.encoder.layer[0]
        .intermediate.dense.weight.detach()
        .reshape(256, 4, 32)
    )
    assert max(len(torch.unique(g)) for g in w.reshape(-1, 32)) <= 16


def test_binary_qat_is_smallest_and_distils_from_the_fp32_baseline(run_cli):
    # one process, two jobs: plain binary QAT and binary QAT with KD from the fp32 baseline
    res = run_cli(
        [*TINY, "method=qat", "quant=binary", "method.max_steps=3", "method.distill=false,true"],
        multirun=True,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    runs = {r.data.params["method.distill"]: r for r in res.runs}
    run, kd = runs["False"], runs["True"]
    m = run.data.metrics
    assert m["quant/avg_linear_bits"] == 1.0
    assert m["size/ratio_vs_fp32"] < 0.15  # tiny_bert is embedding-heavy: 4-bit embeddings dominate
    from nlpcompress.storage.format import load_model

    w = load_model(_model_stem(res, run)).bert.encoder.layer[1].output.dense.weight.detach()
    assert all(len(torch.unique(row.abs())) == 1 for row in w)  # exactly +/- alpha per row

    from mlflow.tracking import MlflowClient

    hidden = MlflowClient(res.tracking_uri).get_metric_history(kd.info.run_id, "train/kd_hidden")
    assert len(hidden) >= 1 and all(h.value > 0 for h in hidden)
    assert kd.data.metrics["quant/avg_linear_bits"] == 1.0
    # the teacher's logits and hidden states come from the training-split cache: no teacher pass
    assert kd.data.metrics["distill/teacher_cache_used"] == 1.0
    assert kd.data.metrics["distill/teacher_forward_calls"] == 0.0
    no_kd = MlflowClient(res.tracking_uri).get_metric_history(run.info.run_id, "train/kd_hidden")
    assert not no_kd


def test_split_binary_qat_trains_ternary_then_splits(run_cli):
    # BinaryBERT: ternary QAT with KD, ternary weight splitting, then QAT of the two binary planes
    res = run_cli(
        [
            *TINY,
            "method=qat",
            "quant=split_binary",
            "method.ternary_max_steps=2",
            "method.max_steps=2",
            "method.distill=true",
        ]
    )
    assert res.returncode == 0, res.stderr[-3000:]
    (run,) = res.runs
    m = run.data.metrics
    assert m["tws/split_layers"] == 13.0  # tiny_bert: 2 layers x 6 Linear + the pooler
    assert m["tws/split_max_weight_change"] < 1e-5
    assert 0.0 <= m["tws/ternary_val_acc"] <= 1.0 and 0.0 <= m["tws/ternary_test_acc"] <= 1.0
    assert 0.0 <= m["tws/plane_sign_flip_rate"] < 0.5
    assert m["quant/avg_linear_bits"] == 2.0
    assert m["distill/teacher_forward_calls"] == 0.0
    from mlflow.tracking import MlflowClient

    client = MlflowClient(res.tracking_uri)
    # the ternary stage's curves have their own names: the two fits never share a step
    assert client.get_metric_history(run.info.run_id, "ternary/train/loss")
    assert client.get_metric_history(run.info.run_id, "train/loss")
    from nlpcompress.storage.format import load_model

    w = load_model(_model_stem(res, run)).bert.encoder.layer[1].output.dense.weight.detach()
    # alpha_1 sign(W_1) + alpha_2 sign(W_2): at most four levels per row
    assert all(len(torch.unique(row)) <= 4 for row in w)


def test_bits_sweep_sizes_shrink(run_cli):
    res = run_cli([*TINY, "method=ptq", "quant.bits=2,4,8"], multirun=True)
    assert res.returncode == 0, res.stderr[-3000:]
    runs = {r.data.params["quant.bits"]: r for r in res.runs if r.info.status == "FINISHED"}
    assert set(runs) == {"2", "4", "8"}
    sizes = [runs[b].data.metrics["size/encoder_bytes"] for b in ("2", "4", "8")]
    assert sizes[0] < sizes[1] < sizes[2]
    totals = [runs[b].data.metrics["size/bytes"] for b in ("2", "4", "8")]
    assert totals[0] < totals[1] < totals[2]


@pytest.mark.parametrize(
    "override, key",
    [
        ("quant.bits=9", "quant.bits"),
        ("quant.group_size=48", "quant.group_size"),
        ("quant.granularity=per_row", "quant.granularity"),
        ("++quant.policy={nothing*:4}", "quant.policy"),  # ++: add keys to the empty dict
        ("quant.act_bits=8 quant.calib_batches=0", "quant.calib_batches"),
        ("method.ternary_max_steps=5", "method.ternary_max_steps"),  # quant=int4: no ternary stage
    ],
)
def test_bad_quant_config_fails_before_work(run_cli, override, key):
    extra = override.split()
    if "group_size" in override:
        extra.append("quant.granularity=per_group")
    res = run_cli([*TINY, "method=qat", *extra])
    assert res.returncode == 2, res.stderr[-2000:]
    assert key in res.stderr and "allowed" in res.stderr
    assert not [r for r in res.runs if r.info.status == "FINISHED"]


def test_mixed_precision_allocates_and_compares_training(run_cli):
    res = run_cli(
        [
            *TINY,
            "method=mixed_precision",
            "method.compare_steps=4",
            "method.probe_warmup=1",
            "quant.budget_bits=3",
            "quant.sensitivity_batches=1",
        ]
    )
    assert res.returncode == 0, res.stderr[-3000:]
    (run,) = res.runs
    m = run.data.metrics
    assert m["quant/allocated_avg_bits"] <= 3.0 and m["quant/avg_linear_bits"] == pytest.approx(
        m["quant/allocated_avg_bits"]
    )
    for key in (
        "train/throughput_samples_s",
        "train_fp32/throughput_samples_s",
        "train/peak_mem_mb",
        "train_fp32/peak_mem_mb",
        "train/throughput_speedup_vs_fp32",
    ):
        assert key in m and m[key] > 0, key
    assert run.data.tags["train_precision"] == "bf16-mixed"
    from mlflow.tracking import MlflowClient

    folder = MlflowClient(res.tracking_uri).download_artifacts(
        run.info.run_id, "bit_allocation.csv"
    )
    lines = Path(folder).read_text().splitlines()
    assert (
        lines[0].startswith("layer,params") and len(lines) == 1 + 2 * 6 + 1
    )  # 2 layers x 6 Linear + pooler

"""Pruning end to end through the real CLI on tiny_bert + tiny data, MLflow under tmp_path."""

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


def test_magnitude_prune_end_to_end(run_cli):
    res = run_cli(
        [*TINY, "method=prune", "prune=magnitude", "prune.sparsity=0.6", "prune.frequency=2"]
    )
    assert res.returncode == 0, res.stderr[-3000:]
    (run,) = res.runs
    m = run.data.metrics
    assert run.info.status == "FINISHED"
    assert m["sparsity/actual"] == pytest.approx(0.6, abs=0.005)
    # bitmask storage: 1/32 of the dense bytes for the mask + 40% of the values, plus dense biases
    assert 0.40 < m["size/encoder_ratio_vs_fp32"] < 0.45
    assert m["size/ratio_vs_fp32"] < 1.0
    assert m["prune/prune_events"] >= 3  # gradual: several prune steps
    # gradual: no prune step removes more than half of what is kept (one-shot would be 0.6)
    assert 0.0 < m["prune/peak_cut_rate"] < 0.5
    # the collapse check ran on the pruned model and on the fp32 baseline
    assert -1.0 <= m["prune/token_cosine"] <= 1.0
    assert -1.0 <= m["prune/token_cosine_fp32"] <= 1.0
    # magnitude cuts the smallest weights: far below the mean |W| of the matrices
    assert m["prune/pruned_weight_ratio"] < 0.5
    assert "test/acc_drop_vs_fp32" in m
    assert run.data.tags["materialized"] == "false"
    assert run.info.run_name == "prune-magnitude-s0.6"

    from nlpcompress.storage.format import load_model, read_artifact

    stem = _model_stem(res, run)
    tensors, meta = read_artifact(stem)
    assert meta["builder"] == "pruned_bert"
    assert tensors["bert.encoder.layer.0.attention.self.query.weight"].encoding == "sparse_bitmask"
    model = load_model(stem)
    weights = [model.bert.encoder.layer[i].intermediate.dense.weight for i in range(2)]
    assert sum(int((w == 0).sum()) for w in weights) > 0.3 * sum(w.numel() for w in weights)


def test_sparsity_sweep_lands_two_runs_with_sizes_in_order(run_cli):
    res = run_cli([*TINY, "method=prune", "prune.sparsity=0.5,0.9"], multirun=True)
    assert res.returncode == 0, res.stderr[-3000:]
    runs = {r.data.params["prune.sparsity"]: r for r in res.runs if r.info.status == "FINISHED"}
    assert set(runs) == {"0.5", "0.9"}
    half, tenth = runs["0.5"].data.metrics, runs["0.9"].data.metrics
    assert half["sparsity/actual"] == pytest.approx(0.5, abs=0.005)
    assert tenth["sparsity/actual"] == pytest.approx(0.9, abs=0.005)
    assert tenth["size/bytes"] < half["size/bytes"]
    # encoder bytes ~ n/8 + 4 z: 0.5 -> ~0.53 of dense, 0.9 -> ~0.13 (+ dense biases/LayerNorms)
    assert tenth["size/encoder_bytes"] < 0.3 * half["size/encoder_bytes"]
    assert tenth["size/encoder_ratio_vs_fp32"] < 0.15
    # 50% magnitude pruning with its fine-tune keeps the keyword rule: measured 1.00 (fp32 1.00)
    # on seeds 42 and 1; 5 points is three of the 60 test examples
    assert half["fp32/test/acc"] >= 0.90
    assert half["test/acc"] >= half["fp32/test/acc"] - 0.05


def test_structured_prune_is_a_smaller_dense_model_on_onnxruntime(run_cli):
    res = run_cli([*TINY, "method=prune", "prune=structured", "deploy=onnxruntime"])
    assert res.returncode == 0, res.stderr[-3000:]
    (run,) = res.runs
    m = run.data.metrics
    assert run.data.tags["materialized"] == "true"
    assert m["prune/heads_kept"] == 4  # 2 layers x (4 - 2)
    assert m["prune/ffn_kept"] == 256  # 2 layers x (256 - 128)
    assert m["size/encoder_ratio_vs_fp32"] == pytest.approx(0.5, abs=0.02)

    from nlpcompress.storage.format import load_model

    model = load_model(_model_stem(res, run))
    assert [layer.attention.self.num_attention_heads for layer in model.bert.encoder.layer] == [
        2,
        2,
    ]
    ids = torch.randint(5, 1000, (2, 12))
    assert model(input_ids=ids, attention_mask=torch.ones_like(ids)).logits.shape == (2, 2)


@pytest.mark.parametrize(
    "preset,extra",
    [("movement", ["prune.sparsity=0.8", "prune.frequency=2"]), ("nm", ["prune.int8=true"])],
)
def test_movement_and_nm_run(run_cli, preset, extra):
    res = run_cli([*TINY, "method=prune", f"prune={preset}", *extra])
    assert res.returncode == 0, res.stderr[-3000:]
    (run,) = res.runs
    m = run.data.metrics
    assert m["sparsity/actual"] == pytest.approx(0.8 if preset == "movement" else 0.5, abs=0.005)
    assert run.data.tags["materialized"] == "false"
    if preset == "movement":  # the share of the mask that changed since the previous step
        assert 0.0 <= m["prune/mask_flip_rate"] <= 1.0


def test_bad_prune_config_exits_2_before_work(run_cli):
    res = run_cli([*TINY, "method=prune", "prune=nm", "prune.n=4"])
    assert res.returncode == 2
    assert "prune.n=4" in res.stderr and "allowed" in res.stderr
    assert not res.runs


def test_soft_movement_with_kd_from_the_teacher_from_pretrained(run_cli):
    res = run_cli(
        [
            *TINY,
            "method=prune",
            "prune=movement_soft",
            "prune.sparsity=0.8",
            "prune.distill=true",
            "prune.start_from=pretrained",
        ]
    )
    assert res.returncode == 0, res.stderr[-3000:]
    (run,) = res.runs
    m = run.data.metrics
    # one threshold over all matrices meets the target, with uneven per-matrix sparsity
    assert m["sparsity/actual"] == pytest.approx(0.8, abs=0.01)
    assert m["sparsity/max_matrix"] > m["sparsity/min_matrix"]
    assert m["sparsity/max_matrix"] < 1.0
    assert 0.0 < m["prune/pruned_weight_ratio"] < 10.0
    # the teacher's logits come from the on-disk cache: no training step runs the teacher
    assert m["distill/teacher_cache_used"] == 1.0
    assert m["distill/teacher_forward_calls"] == 0.0
    from mlflow.tracking import MlflowClient

    client = MlflowClient(res.tracking_uri)
    names = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"prune_layers.csv", "prune_layers.png"} <= names
    # the collapse check is a curve during training, its summary the final model's value
    curve = client.get_metric_history(run.info.run_id, "prune/token_cosine")
    assert len({point.step for point in curve}) >= 2
    assert m["prune/token_cosine"] == max(curve, key=lambda point: point.step).value


def test_lottery_rewind_keeps_the_final_mask_and_checks_the_rewound_model(run_cli):
    res = run_cli(
        [*TINY, "method=prune", "prune=magnitude", "prune.sparsity=0.5", "prune.rewind=true"]
    )
    assert res.returncode == 0, res.stderr[-3000:]
    (run,) = res.runs
    m = run.data.metrics
    # the rewound model is fine-tuned again under the fixed final mask: the target still holds
    assert m["sparsity/actual"] == pytest.approx(0.5, abs=0.005)
    assert -1.0 <= m["prune/token_cosine"] <= 1.0

"""Rank detection before any process group exists, and per-run isolation of the DDP state."""

from __future__ import annotations

import os
import sys

import pytest

from nlpcompress.training import distributed as dist_mod
from nlpcompress.training.distributed import RUN_ID_ENV, global_rank, is_global_zero, isolated_run

RANK_VARS = ("RANK", "SLURM_PROCID", "JSM_NAMESPACE_RANK", "NODE_RANK", "LOCAL_RANK", "WORLD_SIZE")


@pytest.fixture
def clean_env(monkeypatch):
    for var in (*RANK_VARS, RUN_ID_ENV, "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.setenv(var, "")  # registers the original value (or absence) for restoring
        monkeypatch.delenv(var)
    return monkeypatch


@pytest.mark.parametrize(
    ("env", "rank"),
    [
        ({}, 0),
        ({"LOCAL_RANK": "0", "NODE_RANK": "0"}, 0),
        ({"LOCAL_RANK": "1"}, 1),
        ({"LOCAL_RANK": "0", "NODE_RANK": "1"}, 1),  # the first process of node 1 is not rank 0
        ({"RANK": "3", "LOCAL_RANK": "0"}, 3),  # torchrun's global rank wins
        ({"SLURM_PROCID": "0", "LOCAL_RANK": "0"}, 0),
        ({"SLURM_PROCID": "2"}, 2),
    ],
)
def test_global_rank_from_launcher_env(clean_env, env, rank):
    for key, value in env.items():
        clean_env.setenv(key, value)
    assert global_rank() == rank
    assert is_global_zero() == (rank == 0)


def test_isolated_run_restores_argv_and_launcher_env(clean_env):
    argv = list(sys.argv)
    clean_env.setenv("MASTER_PORT", "1234")
    with isolated_run(["model=tiny_bert", "seed=2"]):
        assert sys.argv[1:] == ["model=tiny_bert", "seed=2"]
        # What Lightning's ddp launcher leaves behind in the launching process:
        os.environ.update(
            {"LOCAL_RANK": "0", "NODE_RANK": "0", "WORLD_SIZE": "2", "MASTER_PORT": "999"}
        )
        os.environ[RUN_ID_ENV] = "abc"
    assert sys.argv == argv
    assert os.environ["MASTER_PORT"] == "1234"
    for var in ("LOCAL_RANK", "NODE_RANK", "WORLD_SIZE", RUN_ID_ENV):
        assert var not in os.environ


def test_tracker_on_rank_one_writes_nothing_and_joins_rank_zero_run(clean_env, tmp_path):
    from mlflow.tracking import MlflowClient

    from nlpcompress.tracking.run import RunTracker

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    zero = RunTracker(uri, "exp", str(tmp_path / "artifacts"))
    run_id = zero.start("rank0", {"a": "1"})
    assert os.environ[RUN_ID_ENV] == run_id  # inherited by re-executed ranks
    clean_env.setenv("LOCAL_RANK", "1")
    one = RunTracker(uri, "exp", str(tmp_path / "artifacts"))
    assert not one.active
    assert one.start("rank1", {"b": "2"}) == run_id
    one.log_metrics({"x": 1.0})
    one.set_tags({"t": "v"})
    one.finish("FAILED")
    runs = MlflowClient(uri).search_runs([zero.experiment_id])
    assert [r.info.run_id for r in runs] == [run_id]
    assert "x" not in runs[0].data.metrics and "t" not in runs[0].data.tags
    assert runs[0].info.status == "RUNNING"


def test_barrier_and_world_size_without_process_group(clean_env):
    dist_mod.barrier()  # a no-op, does not raise
    assert dist_mod.world_size() == 1

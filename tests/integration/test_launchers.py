"""Sweeps through cluster launchers: every job of a tiny sweep lands in MLflow as its own run."""

from __future__ import annotations

import importlib.util

import pytest

from tests.conftest import TINY

pytestmark = pytest.mark.integration

SWEEP = [*TINY, "method=baseline", "measure.enabled=false", "seed=1,2"]


def _require(module: str, why: str) -> None:
    if importlib.util.find_spec(module) is None:
        pytest.skip(why)


def _assert_two_finished_runs(res) -> None:
    assert res.returncode == 0, res.stderr[-3000:]
    assert sorted(r.info.status for r in res.runs) == ["FINISHED", "FINISHED"], res.stderr[-3000:]
    assert {r.data.params["seed"] for r in res.runs} == {"1", "2"}
    for run in res.runs:
        assert 0.0 <= run.data.metrics["test/acc"] <= 1.0


def test_submitit_local_sweep(run_cli):
    """``submitit_local`` runs each job as a submitit job, as ``submitit_slurm`` does on SLURM."""
    _require(
        "hydra_plugins.hydra_submitit_launcher",
        "hydra-submitit-launcher is not installed: pip install -e '.[submitit]'",
    )
    res = run_cli(
        [*SWEEP, "hydra/launcher=submitit_local", "hydra.launcher.timeout_min=10"], multirun=True
    )
    _assert_two_finished_runs(res)
    assert "Submitit 'local' sweep" in res.stdout + res.stderr


def test_ray_local_sweep(run_cli):
    """``hydra/launcher=ray`` starts a local Ray instance and runs the jobs as Ray tasks."""
    _require(
        "hydra_plugins.hydra_ray_launcher",
        "hydra-ray-launcher is not installed: it requires cloudpickle<3 while the pinned joblib==1.6.0 "
        "requires cloudpickle>=3, so it is not in the pinned extras; `make install` installs it "
        "with --no-deps (it works with cloudpickle 3)",
    )
    res = run_cli(
        [
            *SWEEP,
            "hydra/launcher=ray",
            "+hydra.launcher.ray.init.num_cpus=2",
            "+hydra.launcher.ray.init.include_dashboard=false",
        ],
        multirun=True,
        env={"RAY_AUTH_MODE": "disabled"},
    )
    _assert_two_finished_runs(res)
    assert "Ray Launcher is launching 2 jobs" in res.stdout + res.stderr

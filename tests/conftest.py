"""Shared fixtures: compose the real configs, run the real CLI with MLflow under tmp_path."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import OmegaConf

from tests import mlflow_template
from tests.cli_fork import run_forked

ROOT = Path(__file__).resolve().parents[1]
# Tests never reach a hub: hub-only presets must fail fast and clearly, not retry for minutes.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
# Under pytest-xdist (`make test`: one worker per core) the workers keep torch's default threads.
# One thread per worker was slower on 2 AVX2 cores (1223 s against 991 s for the suite): the
# MiniLM fine-tune, the longest test, then runs on one core while the other worker has finished.
# Runs append their store to a user-level index (tracking/stores.py): keep the tests' stores out of it.
os.environ.setdefault(
    "NLPCOMPRESS_STORE_INDEX",
    str(Path(tempfile.gettempdir()) / f"nlpcompress-test-stores-{os.getpid()}.txt"),
)
CONF = ROOT / "conf"
# New SQLite stores start as a copy of one migrated empty store (tests/mlflow_template.py):
# ~3 s of Alembic migrations saved per store, and nearly every integration test makes one.


def shared_test_cache() -> Path:
    """The tokenization/baseline cache shared by the tests (``NLPCOMPRESS_TEST_CACHE``)."""
    return Path(os.environ.get("NLPCOMPRESS_TEST_CACHE", str(ROOT / "outputs" / "test-cache")))


template = mlflow_template.ensure_template(mlflow_template.template_path(shared_test_cache()))
os.environ.setdefault(mlflow_template.ENV, str(template))
mlflow_template.install()


def pytest_collection_modifyitems(config, items):
    """The ``slow`` tests (the real MiniLM fine-tune, minutes) first, the rest in their order.

    Under pytest-xdist the longest test then starts at once on one worker while the other works
    through the short ones, instead of starting late and running alone at the end. The sort is
    stable and the same in every worker, as xdist requires.
    """
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


TINY = ["model=tiny_bert", "data=tiny", "debug=fast"]


@dataclass
class CliResult:
    returncode: int
    stdout: str
    stderr: str
    runs: list  # mlflow.entities.Run, newest first
    tracking_uri: str


def mlflow_runs(tracking_uri: str, experiment: str = "nlpcompress") -> list:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri)
    exp = client.get_experiment_by_name(experiment)
    if exp is None:
        return []
    return client.search_runs(
        [exp.experiment_id], order_by=["attributes.start_time DESC"], max_results=500
    )


def run_cli_process(
    overrides: list[str],
    out_dir: Path,
    multirun: bool = False,
    timeout: int = 900,
    experiment: str = "nlpcompress",
    env: dict | None = None,
    cache_dir: str | Path | None = None,
    fresh: bool = False,
) -> CliResult:
    """Run ``python -m nlpcompress`` in its own process with outputs under ``out_dir``.

    The process is forked from a per-worker server that has the heavy imports done
    (:mod:`tests.cli_fork`), unless ``fresh``, an ``env`` is given (read at import time), or
    the overrides start processes from ``sys.argv`` (launchers, DDP): those get a new
    interpreter.

    The tokenization and baseline caches are shared across tests (``NLPCOMPRESS_TEST_CACHE``,
    default ``outputs/test-cache``) so a baseline is fine-tuned once per session.
    """
    cache = cache_dir or shared_test_cache()
    args = (
        [sys.executable, "-m", "nlpcompress"]
        + (["-m"] if multirun else [])
        + [
            f"paths.output_dir={out_dir}",
            f"paths.cache_dir={cache}",
            f"logger.experiment_name={experiment}",
            *overrides,
        ]
    )
    full_env = {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        "TOKENIZERS_PARALLELISM": "false",
        **(env or {}),
    }
    full_env.pop("MLFLOW_TRACKING_URI", None)
    if fresh or env or _starts_processes(overrides):
        done = subprocess.run(
            args, cwd=ROOT, capture_output=True, text=True, timeout=timeout, env=full_env
        )
    else:  # the same command in a child of a worker that has the imports done (cli_fork.py)
        done = run_forked(args[3:], full_env, ROOT, timeout)
    uri = f"sqlite:///{Path(out_dir).resolve() / 'mlflow' / 'mlflow.db'}"
    runs = mlflow_runs(uri, experiment) if (Path(out_dir) / "mlflow" / "mlflow.db").exists() else []
    return CliResult(done.returncode, done.stdout, done.stderr, runs, uri)


def _starts_processes(overrides: list[str]) -> bool:
    """Launchers and DDP re-run ``sys.argv`` or pickle the task: give them a new interpreter."""
    return any(
        o.startswith(("hydra/launcher", "trainer=ddp", "trainer=cpu_ddp", "trainer.devices"))
        for o in overrides
    )


@pytest.fixture
def run_cli(tmp_path):
    """``run_cli(overrides, multirun=False)`` -> :class:`CliResult` (MLflow under tmp_path)."""

    def _run(overrides: list[str], multirun: bool = False, **kwargs) -> CliResult:
        return run_cli_process(overrides, tmp_path / "out", multirun=multirun, **kwargs)

    return _run


def compose_config(overrides: list[str]):
    """The resolved config mapping for ``overrides`` (as the CLI would build it)."""
    from nlpcompress.cli import PROJECT_ROOT  # noqa: F401  (registers the resolver)

    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(config_name="config", overrides=overrides, return_hydra_config=False)
    cfg_dict = OmegaConf.to_container(cfg, resolve=False)
    cfg_dict["paths"]["run_dir"] = "/tmp/nlpcompress-test-run"
    return OmegaConf.to_container(OmegaConf.create(cfg_dict), resolve=True)


@pytest.fixture
def compose_cfg():
    return compose_config

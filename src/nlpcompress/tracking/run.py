"""One MLflow run: params, tags, metrics, artifacts, and a Lightning logger writing into it.

The store is the embedded sqlite database under ``outputs/mlflow`` unless
``logger.tracking_uri`` or ``MLFLOW_TRACKING_URI`` names another (a team server).
Calls are retried on sqlite's "database is locked", so parallel sweep jobs lose nothing.
"""

from __future__ import annotations

import functools
import os
import platform
import random
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from filelock import FileLock
from lightning.pytorch.loggers import MLFlowLogger
from mlflow.entities import Metric, Param, RunTag
from mlflow.tracking import MlflowClient

from nlpcompress.config.schema import DataConfig
from nlpcompress.tracking.conventions import (
    EXPERIMENT_KIND_TAG,
    MODEL_TRAINING_KIND,
    review_view_tags,
)
from nlpcompress.tracking.datasets import dataset_inputs
from nlpcompress.tracking.preflight import store_source
from nlpcompress.training.distributed import RUN_ID_ENV, is_global_zero

MAX_PARAM_CHARS = 6000


def resolve_tracking_uri(configured: str | None, mlflow_dir: str | Path) -> str:
    """``logger.tracking_uri`` > ``MLFLOW_TRACKING_URI`` > embedded sqlite under ``mlflow_dir``."""
    key, uri = store_source(configured, mlflow_dir)
    if key == "paths.mlflow_dir":
        Path(mlflow_dir).resolve().mkdir(parents=True, exist_ok=True)
    return uri


def retry_locked(fn):
    """Retry a store call while sqlite says the database is locked (parallel jobs)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        for attempt in range(30):
            try:
                return fn(*args, **kwargs)
            except Exception as err:  # MlflowException / OperationalError wrap the sqlite error
                if "locked" not in str(err).lower() or attempt == 29:
                    raise
                time.sleep(0.2 + random.random() * 0.5)
        return None

    return wrapper


def flatten(mapping: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in mapping.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            out.update(flatten(value, f"{name}."))
        else:
            out[name] = value
    return out


def git_commit(root: str | Path) -> str:
    """``HEAD``'s short sha, ``-dirty`` when tracked files changed, ``unknown`` outside git."""

    def git(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=5)

    try:
        sha = git("rev-parse", "--short=12", "HEAD")
        if sha.returncode != 0:
            return "unknown"
        dirty = git("status", "--porcelain", "--untracked-files=no").stdout.strip()
        return sha.stdout.strip() + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


# The CPU features that decide which kernels are fast here (measure/backend_choice.py chooses
# by timing; these say why): AVX2 only, AVX-512, VNNI int8 dot products, AMX tiles.
KERNEL_FLAGS = (
    "avx2",
    "avx512f",
    "avx512_vnni",
    "avx_vnni",
    "avx512_bf16",
    "amx_tile",
    "amx_int8",
    "amx_bf16",
)


def cpu_flags(cpuinfo: str | None = None) -> str:
    """The :data:`KERNEL_FLAGS` this CPU has, space-separated (``"none"`` if none or unknown)."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text()
        except OSError:
            cpuinfo = ""
    flags: set[str] = set()
    for line in cpuinfo.splitlines():
        if line.startswith("flags"):
            flags = set(line.split(":", 1)[1].split())
            break
    return " ".join(f for f in KERNEL_FLAGS if f in flags) or "none"


def _rank_zero_write(fn):
    """DDP: only global rank 0 writes to the run; the other ranks' calls do nothing."""

    @functools.wraps(fn)
    def wrapper(self, *args, **kwargs):
        return fn(self, *args, **kwargs) if self.active else None

    return wrapper


class _IntoRunLogger(MLFlowLogger):
    """Lightning's MLflow logger writing into an existing run, leaving its status to us;
    ``key_prefix`` is put before every metric name (``baseline/train/loss``)."""

    def __init__(self, *args, key_prefix: str = "", on_step=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.key_prefix, self.on_step = key_prefix, on_step

    def log_metrics(self, metrics, step=None) -> None:
        if step is not None and self.on_step is not None:
            self.on_step(int(step))
        super().log_metrics({f"{self.key_prefix}{k}": v for k, v in metrics.items()}, step)

    def finalize(self, status: str = "success") -> None:
        pass


class RunTracker:
    """An MLflow run.

    Args:
        tracking_uri: resolved URI (see :func:`resolve_tracking_uri`).
        experiment_name: MLflow experiment (created with ``artifact_root`` if new).
        artifact_root: artifact folder for experiments created on the embedded store.
    """

    def __init__(self, tracking_uri: str, experiment_name: str, artifact_root: str | None = None):
        self.tracking_uri, self.experiment_name = tracking_uri, experiment_name
        self.run_id: str | None = None
        # the last step a training curve of this run reached (see log_metrics)
        self.last_step = 0
        # DDP ranks > 0 (re-executed by Lightning, or started by SLURM/torchrun) track nothing.
        self.active = is_global_zero()
        if tracking_uri.startswith("sqlite:///"):
            # Parallel jobs must not create the schema concurrently (alembic migrations race).
            db = Path(tracking_uri.removeprefix("sqlite:///"))
            with FileLock(str(db) + ".init.lock"):
                self.client = MlflowClient(tracking_uri)
                self.experiment_id = self._experiment(artifact_root)
        else:
            self.client = MlflowClient(tracking_uri)
            self.experiment_id = self._experiment(artifact_root)

    @retry_locked
    def _experiment(self, artifact_root: str | None) -> str:
        """The experiment's id, created if new; tagged to open in the UI's "Model training" view
        and to hold the review view of its run list (``tracking.conventions.review_view_tags``)."""
        ui_tags = {EXPERIMENT_KIND_TAG: MODEL_TRAINING_KIND, **review_view_tags()}
        exp = self.client.get_experiment_by_name(self.experiment_name)
        if exp is not None:
            if EXPERIMENT_KIND_TAG in exp.tags:  # a view kind someone chose is kept
                del ui_tags[EXPERIMENT_KIND_TAG]
            for key, value in ui_tags.items():
                if self.active and exp.tags.get(key) != value:
                    self.client.set_experiment_tag(exp.experiment_id, key, value)
            return exp.experiment_id
        location = None
        if artifact_root and self.tracking_uri.startswith("sqlite:"):
            location = Path(artifact_root).resolve().as_uri()
        try:
            return self.client.create_experiment(
                self.experiment_name,
                artifact_location=location,
                tags=ui_tags,
            )
        except Exception:  # created meanwhile by a parallel job
            return self.client.get_experiment_by_name(self.experiment_name).experiment_id

    @retry_locked
    def start(self, run_name: str, tags: Mapping[str, str]) -> str:
        if not self.active:  # a DDP rank > 0 joins rank 0's run (read-only), if it knows it
            self.run_id = os.environ.get(RUN_ID_ENV)
            return self.run_id
        run = self.client.create_run(
            self.experiment_id, run_name=run_name, tags={k: str(v) for k, v in tags.items()}
        )
        self.run_id = run.info.run_id
        os.environ[RUN_ID_ENV] = self.run_id  # inherited by the ranks Lightning's ddp re-executes
        return self.run_id

    @_rank_zero_write
    @retry_locked
    def log_params(self, params: Mapping[str, Any]) -> None:
        items = [Param(k, str(v)[:MAX_PARAM_CHARS]) for k, v in flatten(params).items()]
        for i in range(0, len(items), 100):
            self.client.log_batch(self.run_id, params=items[i : i + 100])

    @_rank_zero_write
    @retry_locked
    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        """Log summary metrics, by default at the last step a training curve reached.

        MLflow's value of a metric is the one at its largest step. ``val/acc`` is both a curve
        (every validation of a fit) and a summary (the kept checkpoint's, logged after the
        fit): logged at step 0, the summary lost to the fit's last validation whenever the
        best checkpoint was not the last one (seen: 81.08 shown for a run whose kept
        checkpoint scored 82.80).
        """
        step = self.last_step if step is None else step
        now = int(time.time() * 1000)
        items = [Metric(k, float(v), now, step) for k, v in metrics.items() if v is not None]
        for i in range(0, len(items), 500):
            self.client.log_batch(self.run_id, metrics=items[i : i + 500])

    @_rank_zero_write
    @retry_locked
    def set_tags(self, tags: Mapping[str, Any]) -> None:
        self.client.log_batch(self.run_id, tags=[RunTag(k, str(v)) for k, v in tags.items()])

    @_rank_zero_write
    @retry_locked
    def log_dataset(
        self,
        data: DataConfig,
        split_sizes: Mapping[str, int],
        num_labels: int,
        digest: str | None,
    ) -> None:
        """The run's data as MLflow dataset inputs, one per split (see :mod:`.datasets`)."""
        self.client.log_inputs(
            self.run_id, datasets=dataset_inputs(data, split_sizes, num_labels, digest)
        )

    @_rank_zero_write
    @retry_locked
    def log_artifact(self, path: str | Path, artifact_path: str | None = None) -> None:
        self.client.log_artifact(self.run_id, str(path), artifact_path)

    @_rank_zero_write
    @retry_locked
    def log_text(self, text: str, file_name: str) -> None:
        self.client.log_text(self.run_id, text, file_name)

    @_rank_zero_write
    @retry_locked
    def finish(self, status: str = "FINISHED") -> None:
        self.client.set_terminated(self.run_id, status)

    def lightning_logger(self, prefix: str = "") -> MLFlowLogger:
        """A Lightning logger whose training curves land in this run (names after ``prefix``)."""
        return _IntoRunLogger(
            experiment_name=self.experiment_name,
            tracking_uri=self.tracking_uri,
            run_id=self.run_id,
            key_prefix=prefix,
            on_step=self._saw_step,
        )

    def _saw_step(self, step: int) -> None:
        self.last_step = max(self.last_step, step)

    def finished_run_with_hash(self, config_hash: str) -> str | None:
        """The id of a FINISHED run of this experiment with the same config hash, if any."""
        runs = self.client.search_runs(
            [self.experiment_id],
            filter_string=f"tags.config_hash = '{config_hash}' and attributes.status = 'FINISHED'",
            max_results=1,
        )
        return runs[0].info.run_id if runs else None

"""Which process of a multi-process (DDP) job this is, and the little the others need.

Lightning's ``ddp`` strategy re-executes the command line for ranks 1..N-1 (``LOCAL_RANK``
set); SLURM and torchrun start every rank themselves (``SLURM_PROCID``, ``RANK``). Every rank
runs the same program so that each ``trainer.fit`` is joined by all of them, but only global
rank 0 has side effects: it creates the MLflow run, writes caches and exports, evaluates and
measures. The others log nothing (Lightning's loggers are rank-zero only too), read what rank 0
wrote after a :func:`barrier`, and stop after the method's training.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

# Rank 0 puts its MLflow run id here; ranks that Lightning re-executes inherit it.
RUN_ID_ENV = "NLPCOMPRESS_MLFLOW_RUN_ID"
# Set by Lightning's subprocess launcher in the launching process; undone after each run.
_LAUNCH_ENV = ("MASTER_ADDR", "MASTER_PORT", "NODE_RANK", "LOCAL_RANK", "WORLD_SIZE", RUN_ID_ENV)


def global_rank() -> int:
    """This process's global rank from the launcher's environment (0 when not distributed).

    Readable before any process group exists: ``RANK`` (torchrun), ``SLURM_PROCID``,
    ``JSM_NAMESPACE_RANK`` (LSF); else Lightning's ``NODE_RANK``/``LOCAL_RANK``, where any
    non-zero value means "not rank 0" (the exact number needs devices per node; 1 stands in).
    """
    for var in ("RANK", "SLURM_PROCID", "JSM_NAMESPACE_RANK"):
        if os.environ.get(var, "").strip():
            return int(os.environ[var])
    node, local = (
        int(os.environ.get("NODE_RANK", 0) or 0),
        int(os.environ.get("LOCAL_RANK", 0) or 0),
    )
    return 0 if node == 0 and local == 0 else max(1, local)


def is_global_zero() -> bool:
    """True in the process that tracks, writes and measures (always, without DDP)."""
    return global_rank() == 0


def world_size() -> int:
    """Processes in this job's process group (1 when not distributed)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_world_size()
    return int(os.environ.get("WORLD_SIZE", 1) or 1)


def barrier() -> None:
    """Wait for every rank (a no-op without a process group)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()


@contextmanager
def isolated_run(job_overrides: list[str] | None) -> Iterator[None]:
    """One run's distributed state, undone afterwards so the next job of a sweep starts clean.

    Args:
        job_overrides: in a multirun, this job's overrides: ``sys.argv`` becomes them for the
            run's duration, so that Lightning's ``ddp`` launcher re-executes this job (a single
            run) for the other ranks rather than the whole sweep.
    """
    saved_env = {k: os.environ.get(k) for k in _LAUNCH_ENV}
    saved_argv = list(sys.argv)
    if job_overrides is not None:
        sys.argv = [sys.argv[0], *job_overrides]
    try:
        yield
    finally:
        sys.argv = saved_argv
        if is_global_zero():
            # Not imported when the run stopped early (a bad config): then no group exists.
            dist = sys.modules.get("torch.distributed")
            if dist is not None and dist.is_available() and dist.is_initialized():
                dist.destroy_process_group()
            for key, value in saved_env.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value

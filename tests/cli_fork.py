"""Run ``python -m nlpcompress`` in a child forked from a process that already imported the stack.

Each CLI process pays seconds of imports (torch, Lightning, transformers, MLflow: ~8 s on the
2-core AVX2 machine when idle, more when busy). A fork server per test worker imports them once;
every run is a fresh child forked from it, so runs still share no Python state (globals, seeds,
MLflow's active run, logging handlers) with each other or with the test process, and their
stdout/stderr are the child's own file descriptors, as with a subprocess.

The server only imports modules (no torch op has run, so no OpenMP pool exists when it forks).
Runs that start processes of their own from ``sys.argv`` (DDP, the launchers) or need another
environment at import time use a real subprocess instead (``tests.conftest.run_cli_process``).
"""

from __future__ import annotations

import multiprocessing as mp
import os
import sys
from dataclasses import dataclass
from pathlib import Path

PRELOAD = [
    "torch",
    "lightning",
    "transformers",
    "mlflow",
    "onnxruntime",
    "datasets",
    "nlpcompress.cli",
    "nlpcompress.runner",
]
_CONTEXT: mp.context.ForkServerContext | None = None


@dataclass
class ForkedRun:
    returncode: int
    stdout: str
    stderr: str


def _context() -> mp.context.ForkServerContext:
    global _CONTEXT
    if _CONTEXT is None:
        ctx = mp.get_context("forkserver")
        ctx.set_forkserver_preload(PRELOAD)
        _CONTEXT = ctx
    return _CONTEXT


def _child(argv: list[str], env: dict[str, str], cwd: str, out: str, err: str) -> None:
    import logging
    import runpy
    import traceback

    os.chdir(cwd)
    os.environ.clear()
    os.environ.update(env)
    from tests.mlflow_template import install

    install()  # new SQLite stores from the migrated template, as in the test process
    for fd, path in ((1, out), (2, err)):
        target = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(target, fd)
        os.close(target)
    sys.argv = ["nlpcompress", *argv]
    code = 0
    try:
        runpy.run_module("nlpcompress", run_name="__main__", alter_sys=True)
    except SystemExit as stop:
        if isinstance(stop.code, int):
            code = stop.code
        elif stop.code is not None:
            print(stop.code, file=sys.stderr)
            code = 1
    except BaseException:
        traceback.print_exc()
        code = 1
    finally:
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
    os._exit(code)


def run_forked(argv: list[str], env: dict[str, str], cwd: Path, timeout: float) -> ForkedRun:
    """``nlpcompress <argv>`` in a forked child; raises TimeoutError after ``timeout`` s."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="nlpcompress-cli-") as tmp:
        out, err = os.path.join(tmp, "stdout"), os.path.join(tmp, "stderr")
        proc = _context().Process(target=_child, args=(argv, env, str(cwd), out, err))
        proc.start()
        proc.join(timeout)
        if proc.is_alive():
            proc.kill()
            proc.join()
            raise TimeoutError(f"nlpcompress {' '.join(argv)} ran past {timeout} s")
        read = lambda p: Path(p).read_text(errors="replace") if os.path.exists(p) else ""  # noqa: E731
        code = proc.exitcode if proc.exitcode is not None else 1
        # a child killed by a signal has a negative exitcode; a shell would say 128 + signal
        return ForkedRun(code if code >= 0 else 128 - code, read(out), read(err))

"""A run's life outside the happy path: interrupted runs end KILLED, dead runs are reaped,
and two identical jobs never run at once.

* :func:`interrupts_raise` turns SIGTERM into :class:`Interrupted` (Ctrl-C already raises
  ``KeyboardInterrupt``), so the job's handler can close the run as ``KILLED`` with what was
  logged so far, instead of Lightning swallowing the signal and the process exiting 0.
* Every run is tagged with ``host`` and ``pid``; :func:`reap_dead_runs` marks RUNNING runs of
  the same config hash whose process on this host is gone (SIGKILL, power loss) as KILLED.
* With ``exit_deadline_s``, a job that is still alive that long after its SIGTERM (its cleanup
  stuck, e.g. on a lock the interrupted code held) prints every thread's stack and exits 143
  anyway; its run, left RUNNING, is reaped by the next sweep.
* :func:`job_lock` serialises "already FINISHED?" and the run itself per
  (store, experiment, config hash): a second identical sweep waits, then skips.
"""

from __future__ import annotations

import faulthandler
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock

from nlpcompress.config.hashing import stable_hash

INTERRUPT_EXIT = {signal.SIGINT: 130, signal.SIGTERM: 143}


class Interrupted(BaseException):
    """The job was asked to stop (SIGTERM); ``exit_code`` is the shell's ``128 + signal``."""

    def __init__(self, signum: int):
        super().__init__(f"interrupted by {signal.Signals(signum).name}")
        self.exit_code = INTERRUPT_EXIT.get(signum, 128 + signum)


_received: list[int] = []


def _raise_interrupted(signum, frame):
    _received.append(signum)
    raise Interrupted(signum)


def _exit_after_deadline(deadline_s: float, armed: threading.Event) -> None:
    """Wait for a received signal (the handler takes no lock: it appends to ``_received``);
    ``deadline_s`` later, if the process still runs, dump the stacks and ``os._exit``."""
    while armed.is_set() and not _received:
        time.sleep(0.2)
    if not _received:
        return
    time.sleep(deadline_s)
    code = Interrupted(_received[0]).exit_code
    sys.stderr.write(
        f"nlpcompress: still running {deadline_s:g} s after the interrupt; stacks follow, "
        f"exiting {code} (the run stays RUNNING until the next sweep reaps it)\n"
    )
    faulthandler.dump_traceback(all_threads=True)
    sys.stderr.flush()
    os._exit(code)


@contextmanager
def interrupts_raise(exit_deadline_s: float | None = None) -> Iterator[None]:
    """Within the block, SIGTERM raises :class:`Interrupted` in the main thread.

    With ``exit_deadline_s``, a daemon thread ends the process (exit 143, stacks on stderr)
    when it still runs that many seconds after the signal, inside the block or after it: the
    exception lands between any two bytecodes, and cleanup that waits on a lock the interrupted
    code held would otherwise wait forever. Without a signal it stops when the block ends.

    Lightning chains the handler it finds when it installs its own, so the exception still
    reaches us from inside ``Trainer.fit``. When the signal lands while Python runs a
    finaliser (``__del__``, a GC callback) the exception raised there is printed and dropped;
    Lightning has then set its own flag and stops the fit with ``SIGTERMException``, a
    ``SystemExit`` with code None (exit 0). A ``SystemExit`` after a received SIGTERM is
    therefore turned into :class:`Interrupted` too, so the exit code is 143 either way.
    """
    try:
        previous = signal.signal(signal.SIGTERM, _raise_interrupted)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    _received.clear()
    armed = threading.Event()
    if exit_deadline_s is not None:
        armed.set()
        threading.Thread(
            target=_exit_after_deadline,
            args=(exit_deadline_s, armed),
            name="nlpcompress-exit-deadline",
            daemon=True,
        ).start()
    try:
        yield
    except SystemExit as exc:
        if _received:
            raise Interrupted(_received[-1]) from exc
        raise
    finally:
        armed.clear()
        signal.signal(signal.SIGTERM, previous)


def process_tags() -> dict[str, str]:
    """``host`` and ``pid`` of this process, recorded on every run."""
    return {"host": socket.gethostname(), "pid": str(os.getpid())}


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists on this machine (zombies count as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        return state != "Z"
    except (OSError, IndexError):
        return True


def reap_dead_runs(client, experiment_id: str, config_hash: str) -> list[str]:
    """Mark RUNNING runs of ``config_hash`` whose process on this host is gone as KILLED.

    Runs started on another host (or without the tags) are left alone: their process cannot
    be checked from here.

    Returns:
        The ids of the runs marked KILLED.
    """
    host = socket.gethostname()
    runs = client.search_runs(
        [experiment_id],
        filter_string=f"tags.config_hash = '{config_hash}' and attributes.status = 'RUNNING'",
        max_results=100,
    )
    reaped = []
    for run in runs:
        tags = run.data.tags
        if tags.get("host") != host or not tags.get("pid", "").isdigit():
            continue
        if int(tags["pid"]) == os.getpid() or pid_alive(int(tags["pid"])):
            continue
        client.set_tag(run.info.run_id, "error", "process gone while RUNNING (killed); reaped")
        client.set_terminated(run.info.run_id, "KILLED")
        reaped.append(run.info.run_id)
    return reaped


@contextmanager
def job_lock(lock_dir: str | Path, tracking_uri: str, experiment: str, config_hash: str):
    """A file lock per (store, experiment, config hash), held around check + run."""
    folder = Path(lock_dir)
    folder.mkdir(parents=True, exist_ok=True)
    key = stable_hash([tracking_uri, experiment, config_hash])
    with FileLock(str(folder / f"job-{key}.lock")):
        yield

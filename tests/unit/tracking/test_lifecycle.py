"""SIGTERM inside a job always ends in :class:`Interrupted` (exit 143), never in exit 0."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from nlpcompress.tracking.lifecycle import Interrupted, interrupts_raise, pid_alive


def test_sigterm_raises_interrupted_with_exit_143():
    with pytest.raises(Interrupted) as caught, interrupts_raise():
        os.kill(os.getpid(), signal.SIGTERM)
        for _ in range(10**7):  # the handler runs between bytecodes
            pass
    assert caught.value.exit_code == 143
    assert signal.getsignal(signal.SIGTERM) is not None


def test_a_dropped_interrupt_then_lightnings_sigterm_exit_is_still_interrupted():
    """The handler's exception can be swallowed (signal inside a finaliser); Lightning then
    raises ``SIGTERMException`` (``SystemExit(None)``) at its next step check."""
    from lightning.pytorch.utilities.exceptions import SIGTERMException

    with pytest.raises(Interrupted) as caught, interrupts_raise():
        # raised inside a finaliser: printed as "Exception ignored in ..." and lost
        with contextlib.suppress(Interrupted):
            signal.getsignal(signal.SIGTERM)(signal.SIGTERM, None)
        raise SIGTERMException
    assert caught.value.exit_code == 143


def test_a_plain_exit_without_a_signal_is_left_alone():
    with pytest.raises(SystemExit) as caught, interrupts_raise():
        sys.exit(3)
    assert caught.value.code == 3


def test_pid_alive():
    assert pid_alive(os.getpid())
    assert not pid_alive(2**22 + 12345)


STUCK_AFTER_SIGTERM = """
import os, signal, sys, time
from nlpcompress.tracking.lifecycle import Interrupted, interrupts_raise
try:
    with interrupts_raise(exit_deadline_s=1.0):
        print("ready", flush=True)
        while True:
            time.sleep(0.05)
except Interrupted:
    time.sleep(60)  # cleanup stuck (a lock the interrupted code held)
sys.exit(0)
"""


def test_a_job_stuck_after_sigterm_exits_143_at_the_deadline_with_its_stacks():
    proc = subprocess.Popen(
        [sys.executable, "-c", STUCK_AFTER_SIGTERM],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout.readline().strip() == "ready"
    start = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 143
    assert 1.0 <= time.monotonic() - start < 20
    assert "still running 1 s after the interrupt" in err
    assert "in <module>" in err  # faulthandler's dump of the main thread


def test_without_a_signal_the_deadline_thread_ends_with_the_block():
    with interrupts_raise(exit_deadline_s=0.1):
        assert any(t.name == "nlpcompress-exit-deadline" for t in threading.enumerate())
    time.sleep(0.5)
    assert not any(t.name == "nlpcompress-exit-deadline" for t in threading.enumerate())

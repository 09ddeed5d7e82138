"""SIGTERM inside a job always ends in :class:`Interrupted` (exit 143), never in exit 0."""

from __future__ import annotations

import contextlib
import os
import signal
import sys

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

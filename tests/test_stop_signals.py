"""The signals that stop a command and the streams a stopped command can no longer write to."""

from __future__ import annotations

import os
import signal

import pytest

from hwnas.predictors.stop_signals import (
    interrupts_held,
    signals_handled,
    terminate_as_interrupt,
    terminating_signals,
)


def test_a_signal_pending_while_handlers_are_swapped_leaves_none_swapped(monkeypatch):
    """`signal.signal` first runs the handlers of pending signals: a SIGTERM turned into
    KeyboardInterrupt there, while SIGINT was already ignored, left Ctrl-C ignored for the
    rest of the process (two signal tests of the full suite failed after it)."""
    swap = signal.signal

    def terminate(signum, frame):
        raise KeyboardInterrupt

    def pending_sigterm_first(signum, handler):
        if signum == signal.SIGTERM:
            signal.raise_signal(signal.SIGTERM)  # arrives as CPython checks before the swap
        return swap(signum, handler)

    sigint, sigterm = signal.getsignal(signal.SIGINT), swap(signal.SIGTERM, terminate)
    try:
        monkeypatch.setattr(signal, "signal", pending_sigterm_first)
        with (
            pytest.raises(KeyboardInterrupt),
            signals_handled(signal.SIG_IGN, signal.SIGINT, signal.SIGTERM),
        ):
            pytest.fail("the body ran though the SIGTERM handler raised")
        monkeypatch.undo()
        assert signal.getsignal(signal.SIGINT) is sigint
        assert signal.getsignal(signal.SIGTERM) is terminate
    finally:
        swap(signal.SIGTERM, sigterm)


def test_a_sighup_that_nohup_ignores_stays_ignored(hangup_as_in_a_terminal: None) -> None:
    """`nohup hwnas search ...` asks the search to outlive its terminal: the SIGHUP a closed
    terminal sends must not stop it, as it stops a search started from a shell."""
    assert terminating_signals() == (signal.SIGTERM, signal.SIGHUP)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)  # as nohup leaves it
    assert terminating_signals() == (signal.SIGTERM,)
    with terminate_as_interrupt():
        os.kill(os.getpid(), signal.SIGHUP)  # ignored: the block goes on
        assert signal.getsignal(signal.SIGHUP) == signal.SIG_IGN
    signal.signal(signal.SIGHUP, signal.SIG_DFL)


def test_a_ctrl_c_that_a_script_ignores_stays_ignored() -> None:
    """A shell starts a script's background command (`hwnas search a.yaml &`) with SIGINT
    ignored: the Ctrl-C meant for the script stopped such a search, where `build`, `export`
    and every other Python program went on (Python leaves an ignored SIGINT ignored)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # as a shell's `&` leaves it
    try:
        for block in (terminate_as_interrupt, interrupts_held):
            with block():
                os.kill(os.getpid(), signal.SIGINT)  # ignored: the block goes on
                assert signal.getsignal(signal.SIGINT) == signal.SIG_IGN
    except KeyboardInterrupt:  # as a failure, not as a Ctrl-C that stops the whole suite
        pytest.fail(f"{block.__name__} stopped on an ignored SIGINT")
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)

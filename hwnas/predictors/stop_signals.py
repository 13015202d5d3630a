"""The signals that stop a command (Ctrl-C, SIGTERM, SIGHUP), turned into KeyboardInterrupt
(`terminate_as_interrupt`) or held back while work writes what must not be cut
(`interrupts_held`), and the standard streams a stopped command can no longer write to. Here,
in the lowest package that every stoppable work may import (a latency profile, a search, the
CLI), and light (the standard library only): `hwnas.cli` sets its handlers before any
command's module is imported."""

from __future__ import annotations

import _thread
import contextlib
import errno
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from types import FrameType
from typing import Any

#: the names of Python's import machinery (frozen, later renamed by `importlib`): a frame of
#: it on the stack is a module being imported
_IMPORT_MACHINERY = frozenset({"_frozen_importlib", "importlib._bootstrap"})


def terminating_signals() -> tuple[signal.Signals, ...]:
    """The signals besides Ctrl-C's that stop a command as Ctrl-C does, resumably: SIGTERM
    (`timeout`, `kill`, a batch scheduler) and SIGHUP (the terminal or ssh connection
    closed: it ended a search outright, its claims left to go stale), except a SIGHUP that
    is ignored (`nohup`: the user asked the command to outlive its terminal)."""
    hangup = getattr(signal, "SIGHUP", None)  # none on Windows
    if hangup is None or signal.getsignal(hangup) == signal.SIG_IGN:
        return (signal.SIGTERM,)
    return signal.SIGTERM, hangup


def stopping_signals() -> tuple[signal.Signals, ...]:
    """Ctrl-C's SIGINT and the `terminating_signals`, less a SIGINT that is ignored: a shell
    starts a script's background command (`hwnas search a.yaml &`) so, and the Ctrl-C meant
    for the script stopped such a search, where every other Python program goes on."""
    ignored = signal.getsignal(signal.SIGINT) == signal.SIG_IGN
    return (*(() if ignored else (signal.SIGINT,)), *terminating_signals())


def noting_interrupt(received: list[int]) -> Callable[[int, Any], None]:
    """A signal handler that notes the signal in `received` and raises KeyboardInterrupt, as
    Ctrl-C does. After a SIGHUP, what is still written to a terminal that hung up goes
    nowhere first (`terminal_gone`). A signal that lands while a module is being imported
    (one whose import began after the handler was made) takes effect once that import has
    ended: interrupted, torch, scipy or ONNX stayed half initialised, and every later search
    of the process (a notebook's) failed in them ("partially initialized module 'torch'")
    until it restarted; the first search of a process imports them for seconds."""
    begun = _imports_on(sys._getframe(1))  # the block itself runs inside these
    deferred: list[int] = []

    def interrupt(signum: int, frame: FrameType | None) -> None:
        if signum == getattr(signal, "SIGHUP", None):
            terminal_gone()
        if _importing(frame, begun):
            if not deferred:  # one is delivered: later ones go with it, as Ctrl-C's do
                deferred.append(signum)
                _thread.start_new_thread(_deliver_after_imports, (signum, begun, deferred))
            return
        received.append(signum)
        raise KeyboardInterrupt

    return interrupt


def _imports_on(frame: FrameType | None) -> list[FrameType]:
    """The frames of the import machinery on `frame`'s stack."""
    found = []
    while frame is not None:
        if frame.f_globals.get("__name__") in _IMPORT_MACHINERY:
            found.append(frame)
        frame = frame.f_back
    return found


def _importing(frame: FrameType | None, begun: list[FrameType]) -> bool:
    """Whether `frame` runs inside an import other than those `begun`."""
    return any(f not in begun for f in _imports_on(frame))


def _deliver_after_imports(signum: int, begun: list[FrameType], deferred: list[int]) -> None:
    """Send `signum` to the main thread again once it imports nothing more than `begun`: as a
    signal, which also ends a wait the main thread is in, where the system has one. Run in a
    thread of `_thread`'s own: `threading.Thread.start` takes a lock that the interrupted
    import may hold."""
    main = threading.main_thread().ident
    while _importing(sys._current_frames().get(main), begun):
        time.sleep(0.02)
    deferred.clear()
    if hasattr(signal, "pthread_kill") and main is not None:
        signal.pthread_kill(main, signum)
    else:  # Windows
        _thread.interrupt_main(signum)


@contextlib.contextmanager
def signals_handled(handler: Any, *signals: signal.Signals) -> Iterator[None]:
    """`signals` handled by `handler` (`signal.SIG_IGN` ignores them) in the body, their
    handlers restored afterwards. On the main thread only, where Python delivers signals and
    may set handlers; elsewhere the body runs as it is."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    # each handler is restored on its own, as soon as it is set: `signal.signal` first runs
    # the handlers of signals already pending, and one that raises there (a SIGTERM handler
    # turning the signal into KeyboardInterrupt) left the signals set before it swapped for
    # the rest of the process (Ctrl-C ignored for good)
    with contextlib.ExitStack() as restore:
        for s in signals:
            before = signal.signal(s, handler)  # None: a handler set outside Python
            restore.callback(signal.signal, s, signal.SIG_DFL if before is None else before)
        yield


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP (`signum`) arrived: stop like Ctrl-C (claims given back, a
    resumable run)."""

    def __init__(self, signum: int = signal.SIGTERM):
        super().__init__()
        self.signum = signum


@contextlib.contextmanager
def interrupts_held() -> Iterator[None]:
    """Hold Ctrl-C, SIGTERM and SIGHUP back while the block writes claims or results, and deliver
    them after it: an interrupt inside the storage's transaction left a claim that nothing
    gave back (read as a live evaluation), or ended in the database library's own error
    instead of a resumable stop."""
    held: list[int] = []

    def hold(signum, frame):
        held.append(signum)

    try:
        with signals_handled(hold, *stopping_signals()):
            yield
    finally:
        if held:
            signal.raise_signal(held[0])


@contextlib.contextmanager
def terminate_as_interrupt(received: list[int] | None = None) -> Iterator[None]:
    """Turn Ctrl-C, SIGTERM and SIGHUP (see `terminating_signals`) into KeyboardInterrupt
    (`Terminated` for the last two) while the block runs, and note each in `received`. Installed
    again after Ray started, which sets a handler of its own; Ray turns the interrupt of a blocking
    call into a plain KeyboardInterrupt, so the signal is remembered and the interrupt raised again
    as `Terminated` on the way out. The note also outlives an interrupt Python drops: one raised
    inside a `__del__` or a weakref callback (run at any moment: SQLAlchemy's, Ray's object refs) is
    printed as "Exception ignored in ... KeyboardInterrupt:" and lost, and the run went on to its
    end; the run loop checks `received` every round."""
    received = [] if received is None else received
    try:
        with signals_handled(noting_interrupt(received), *stopping_signals()):
            yield
    except KeyboardInterrupt:
        if terminated := [s for s in received if s != signal.SIGINT]:
            raise Terminated(terminated[0]) from None
        raise


def reader_gone() -> None:
    """Send what is still written to stdout and stderr nowhere: their reader is gone (the
    `tee` of `hwnas search ... 2>&1 | tee log`, stopped by the same Ctrl-C), and the exit
    code, not a failed write, must say how the command ended (130, and the run kept)."""
    _send_nowhere([sys.stdout, sys.stderr])


def terminal_gone() -> None:
    """Send what is still written to stdout or stderr nowhere where it is a terminal that hung
    up (its window or ssh connection closed): every write there fails (EIO), the progress
    display's and the stop message's included, and a search stopped by the hangup ended as a
    failed command (status 1), not as a stopped one (129, the run kept). Streams written
    elsewhere (a log file) keep what they are told."""
    hung_up = []
    for stream in (sys.stdout, sys.stderr):
        try:
            os.write(stream.fileno(), b"")  # a terminal that hung up refuses even this
        except OSError as e:  # io.UnsupportedOperation (no file) too
            if e.errno == errno.EIO:
                hung_up.append(stream)
        except (AttributeError, ValueError):  # replaced by an object without a file, closed
            pass
    _send_nowhere(hung_up)


def _send_nowhere(streams: list[Any]) -> None:
    """Point the file descriptors of `streams` at the null device."""
    if not streams:
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        for stream in streams:
            os.dup2(devnull, stream.fileno())
    finally:
        os.close(devnull)

"""Shared test fixtures."""

from __future__ import annotations

import shutil
import signal
import tempfile
from pathlib import Path

import optuna
import pytest
import torch


@pytest.fixture(autouse=True)
def stops_as_in_a_terminal():
    """Each test starts with Ctrl-C raising KeyboardInterrupt and SIGHUP ending the process,
    as for a command a shell starts in a terminal, and must end so: a suite started as a
    background job of a script (`make test &`, where the shell ignores SIGINT for it)
    inherited SIGINT ignored, one under `nohup` SIGHUP, and the tests of those signals
    failed; a test that leaves a handler swapped fails here instead of a later test that
    sends its signal. The inherited handlers are restored afterwards."""
    as_in_a_terminal = {signal.SIGINT: signal.default_int_handler, signal.SIGHUP: signal.SIG_DFL}
    inherited = {s: signal.signal(s, handler) for s, handler in as_in_a_terminal.items()}
    yield
    left = {s: signal.signal(s, handler) for s, handler in inherited.items()}
    assert left == as_in_a_terminal, f"the test left the signals handled by {left!r}"


@pytest.fixture(autouse=True)
def optuna_verbosity_as_found():
    """Each test must leave Optuna's verbosity (process-wide) as it found it: one that set
    WARNING and left it changed what every later test in its worker saw of Optuna's logging,
    and hid from them a run that left the verbosity changed (a notebook's own studies losing
    their INFO lines)."""
    before = optuna.logging.get_verbosity()
    yield
    left = optuna.logging.get_verbosity()
    assert left == before, f"the test left Optuna's verbosity at {left}, not {before}"


@pytest.fixture(scope="module")
def one_torch_thread():
    """Run a module's small models on one intra-op thread: on a busy 2-core machine, extra
    threads only spin. Restores the previous setting afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def ray_temp_dir():
    """A folder for the session files of the Ray runtimes a module starts, removed afterwards:
    by default each start leaves a session folder in /tmp/ray. Short, unlike `tmp_path`: Ray's
    sockets live in it and a socket path has at most 107 characters."""
    path = Path(tempfile.mkdtemp(prefix="hwnas-ray-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)

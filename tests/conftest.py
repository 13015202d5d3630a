"""Shared test fixtures."""

from __future__ import annotations

import shutil
import signal
import tempfile
import time
from pathlib import Path

import optuna
import pytest
import torch


@pytest.fixture(autouse=True)
def ctrl_c_as_in_a_terminal():
    """Each test starts with Ctrl-C raising KeyboardInterrupt, as in a terminal, and must end
    so: a suite started as a background job of a script (`make test &`, where the shell
    ignores SIGINT for it) inherited SIGINT ignored, and the tests of Ctrl-C failed; a test
    that leaves the handler swapped fails here instead of a later test that sends Ctrl-C.
    The inherited handler is restored afterwards. SIGHUP is left as the suite found it (so
    `nohup make test` outlives its terminal), and must be so after each test."""
    inherited = signal.signal(signal.SIGINT, signal.default_int_handler)
    hangup = signal.getsignal(signal.SIGHUP)
    yield
    left = signal.signal(signal.SIGINT, inherited)
    assert left is signal.default_int_handler, f"the test left SIGINT handled by {left!r}"
    left = signal.getsignal(signal.SIGHUP)
    assert left == hangup, f"the test left SIGHUP handled by {left!r}"


@pytest.fixture
def hangup_as_in_a_terminal():
    """SIGHUP ending the process, as for a command a shell starts in a terminal (a suite run
    under `nohup` inherits it ignored, and hwnas rightly leaves an ignored SIGHUP ignored),
    for the tests of SIGHUP and the commands they start; restored afterwards."""
    found = signal.signal(signal.SIGHUP, signal.SIG_DFL)
    yield
    signal.signal(signal.SIGHUP, found)


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


def _removed(path: Path) -> None:
    """Remove `path`, again while a Ray process that outlived its runtime's shutdown still
    writes its logs there (a single removal left the folder behind)."""
    for _ in range(300):  # 30 s at most
        shutil.rmtree(path, ignore_errors=True)
        if not path.exists():
            return
        time.sleep(0.1)


@pytest.fixture(scope="session", autouse=True)
def rays_session_folders_removed():
    """Every Ray the suite starts without a folder of its own (the embedded Ray of a search,
    in this process or in a child process, which inherits the variable) keeps its session
    files under a folder of this suite's, removed afterwards: in Ray's default, /tmp/ray, each
    start left a session folder (six in a run of the suite)."""
    path = Path(tempfile.mkdtemp(prefix="hwnas-ray-"))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RAY_TMPDIR", str(path))
        yield
    _removed(path)


@pytest.fixture(scope="module")
def ray_temp_dir():
    """A folder for the session files of the Ray runtimes a module starts, removed afterwards.
    Short, unlike `tmp_path`: Ray's sockets live in it and a socket path has at most 107
    characters."""
    path = Path(tempfile.mkdtemp(prefix="hwnas-ray-"))
    yield path
    _removed(path)

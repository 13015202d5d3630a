"""Shared test fixtures."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest
import torch


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

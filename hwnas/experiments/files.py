"""Writing files and folders so that a failure leaves nothing half done: a file is written
whole (renamed into place, `hwnas.predictors.whole_files.written_whole`, used here as well),
and the folders a failed command made are removed again (`removed_if_left_empty`, there too).
"""

from __future__ import annotations

import io
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from hwnas.experiments.config import ExperimentError
from hwnas.predictors.whole_files import (
    file_in_the_way,
    name_too_long,
    removed_if_left_empty,
    written_whole,
)

if TYPE_CHECKING:
    import torch


def write_whole(path: Path, text: str) -> None:
    """Write `text` to `path` whole (`written_whole`)."""
    with written_whole(path) as partial:
        partial.write_text(text, encoding="utf-8")


def write_weights(model: torch.nn.Module, path: Path) -> None:
    """`model`'s state_dict written to `path` as `torch.save` writes it, made in memory first:
    a write that fails (a full disk) is then the OS's `OSError` saying why, where torch's own
    file writer said only "[enforce fail at inline_container.cc:672] . unexpected pos"."""
    import torch

    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    path.write_bytes(buffer.getbuffer())


def holds_weights(path: Path) -> bool:
    """Whether `path` is a regular file holding a state_dict (`torch.save` of tensors, as
    `write_weights` writes): what `hwnas train --force` may write over."""
    import torch

    if not path.is_file():  # a device, a pipe: renamed over, /dev/null became a file
        return False
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # noqa: BLE001 - torch's reader fails in many ways on what is no archive
        return False  # ("list index out of range" for a short text file)
    return isinstance(state, dict) and all(isinstance(v, torch.Tensor) for v in state.values())


@contextmanager
def folder_for(folder: Path, label: str) -> Iterator[Path]:
    """`folder`, made as `make_folder` makes it, for a body that fills it, and removed again
    if the body fails before writing anything (`removed_if_left_empty`)."""
    with removed_if_left_empty(folder):
        make_folder(folder, label)
        yield folder


def check_writable(folder: Path, label: str) -> None:
    """Raise "`label` is not writable: CAUSE" where `folder` cannot take a new file's first
    4 KiB (read-only media, another user's folder, a full disk): for a long job that writes
    only at its end, said at its start (`hwnas train` found out once the training was done,
    and its weights were lost). The probe is a file of its own (O_EXCL, an unguessable name,
    gone when closed): a probe of a fixed name was written through a link planted under it
    in a folder others can write."""
    try:
        with tempfile.TemporaryFile(dir=folder, prefix=".write-probe-") as f:
            f.write(b"0" * 4096)
            f.flush()
            os.fsync(f.fileno())
    except OSError as e:
        raise ExperimentError(f"{label} is not writable: {e.strerror or e}") from None


def make_folder(folder: Path, label: str) -> None:
    """Make `folder` and its parents, or raise an error that starts with `label` and names
    the file standing where a folder must be (the OS says only "File exists"), or a name in
    it, or the whole path, longer than the system takes (it said only "File name too
    long")."""
    if problem := name_too_long(folder):
        raise ExperimentError(f"{label}: {problem}")
    if (blocking := file_in_the_way(folder)) is not None:
        raise ExperimentError(f"{label}: {blocking} is a file, not a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ExperimentError(f"{label}: cannot make folder {folder}: {e.strerror or e}") from None

"""Files written whole: a temporary file beside the target, renamed over it once written, so
a reader meanwhile, a kill or a full disk meets the old file or the new one, never half of
one; and the folders made for a write that failed are removed again. It lives here, the
lowest package that writes files (profiles, predictors); the run loop, exports and
retraining use it too (`hwnas.experiments.files`)."""

from __future__ import annotations

import errno
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

#: the longest file name (in bytes) where the file system does not say: most take 255
NAME_MAX = 255
PATH_MAX = 4096  # the bytes of a path, its ending NUL included, where the system cannot say
#: the OS errors of a write that found no room: a full disk, a full quota, a file-size limit
NO_ROOM = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
#: the OS errors of a write to a file or folder this process may not write: another user's,
#: read-only
NOT_WRITABLE = (errno.EACCES, errno.EPERM, errno.EROFS)


@contextmanager
def written_whole(path: Path) -> Iterator[Path]:
    """A new, empty temporary file beside `path` for the body to write, renamed over `path`
    once the body ends; a failed body leaves `path` as it was and no temporary file. Its name
    is this writer's own (drivers that start together each rename a whole file of their
    own), and it is created exclusively: a link planted under a fixed name (`p.json.tmp`) was
    written through. A temporary file that cannot be made (a folder of another user's, or
    read-only) is the OS's error naming `path`: the temporary name, which the user never
    gave, is all the OS named ("Permission denied: 'model.onnx.4711.1eea8e67.tmp'")."""
    partial = path.with_name(_partial_name(path))
    try:
        partial.touch(exist_ok=False)
    except OSError as e:
        # nothing was made: removing it anyway failed on read-only media (EROFS, not ENOENT)
        raise OSError(e.errno, e.strerror, str(path)) from None
    try:
        yield partial
        partial.replace(path)
    finally:
        partial.unlink(missing_ok=True)


@contextmanager
def removed_if_left_empty(folder: Path) -> Iterator[None]:
    """For a body that makes `folder` and fills it: when the body fails or is interrupted,
    the folders of its path that did not exist before and were left empty are removed again,
    so a command that wrote nothing leaves nothing behind (an empty run directory would look
    like a run to resume; `latency fit -o new/p.json` whose write failed left `new/`)."""
    # deepest first; os.path.exists: a name too long for the OS is none, for the body to name
    made = [p for p in (folder, *folder.parents) if not os.path.exists(p)]
    try:
        yield
    except BaseException:
        for path in made:
            try:
                path.rmdir()  # only an empty folder goes
            except OSError:
                break
        raise


def append_whole(path: Path | str, data: bytes) -> None:
    """Append `data` (whole records) to the file at `path` and sync it, or, when that fails or
    is interrupted (a full disk, a file-size limit), cut the file back to what it held
    before: what was written of `data` is no whole record, and a journal or profile ending in
    half a one was refused, or read with a warning, by the next run."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
    try:
        before = os.fstat(fd).st_size
        try:
            rest = memoryview(data)
            while rest:
                rest = rest[os.write(fd, rest) :]
            os.fsync(fd)
        except BaseException:
            with suppress(OSError):
                os.ftruncate(fd, before)
            raise
    finally:
        os.close(fd)


def _partial_name(path: Path) -> str:
    """The temporary file's name: `path`'s name, this process's ID and a random part, the
    name cut short where all of it would be longer than the folder's file names may be (a
    `latency fit -o` name of 240 bytes, which fits, was refused as "File name too long")."""
    own = f".{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp"
    room = name_max(path.parent) - len(os.fsencode(own))
    name = path.name
    while len(os.fsencode(name)) > room:  # by whole characters: a name cut mid-character
        name = name[:-1]  # would not be one a user could read back
    return name + own


def name_max(folder: Path, limit: str = "PC_NAME_MAX", default: int = NAME_MAX) -> int:
    """The longest file name, in bytes, that the existing `folder` may hold (`default` where
    the system cannot say, or says -1, "no limit": taken as it was, it refused every name);
    with `limit` "PC_PATH_MAX", the bytes a path in it may have, its ending NUL included."""
    try:
        most = os.pathconf(folder, limit)
    except (AttributeError, OSError, ValueError):  # no pathconf (Windows), or it cannot say
        return default
    return most if most > 0 else default


def not_regular(path: Path) -> str | None:
    """Why `path` cannot be read or written as a file where it exists as a device or a pipe
    (a link to `/dev/zero`, a named pipe), or None: a read of one for what it holds never
    ended, and rows written into one were lost."""
    if path.exists() and not path.is_file():
        return "not a regular file (a device or a pipe)"
    return None


def file_in_the_way(folder: Path) -> Path | None:
    """The file (not a folder) standing at `folder` or one of its parents, where a folder
    must be to make it, or None: making it there, the OS said only "File exists" (or "Not a
    directory"), naming neither the file nor the path given."""
    return next((p for p in (folder, *folder.parents) if p.exists() and not p.is_dir()), None)


def name_too_long(path: Path) -> str | None:
    """Why `path` cannot be made for a name in it of more bytes than its folder takes
    (`name_max` of the deepest folder of it that exists), or None: the OS said only "File
    name too long", and of a file hwnas names after the one given (a profile's lock) it
    named a name the user never gave. `.` (an empty path given, too) has no names: it ended in
    "max() arg is an empty sequence" (`hwnas train CONFIG -o .`). So for a path of short
    names longer as a whole than a path may be (`PATH_MAX`, its ending NUL included)."""
    folder = next((p for p in path.parents if os.path.isdir(p)), Path("."))
    limit = name_max(folder)
    size, name = max(((len(os.fsencode(part)), part) for part in path.parts), default=(0, ""))
    if size > limit:
        return f"{name!r} is {size} bytes, more than the {limit} a file name may have here"
    most = name_max(folder, "PC_PATH_MAX", PATH_MAX) - 1
    if (size := len(os.fsencode(path))) > most:
        return f"the path is {size} bytes, more than the {most} a path may have here"
    return None

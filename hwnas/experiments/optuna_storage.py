"""Opening a run's Optuna storage (a SQLite file in the run directory, a journal file, or a
database server's URL) and saying its errors: naming the storage and what the database said,
where Optuna's own messages name neither.
"""

from __future__ import annotations

import errno
import json
import os
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager, suppress
from pathlib import Path
from typing import Any

import optuna
from optuna.exceptions import StorageInternalError
from optuna.storages.journal import JournalFileBackend, JournalFileSymlinkLock, JournalStorage

from hwnas.experiments.config import ExperimentError, StorageConfig, hide_password
from hwnas.experiments.records import DamagedRecord
from hwnas.experiments.shown import some_of
from hwnas.predictors.whole_files import NO_ROOM, NOT_WRITABLE, append_whole

SQLITE_TIMEOUT_S = 60  # how long a SQLite write waits for another process's lock
STORAGE_CREATE_TRIES = 4  # opening a new database that other drivers are creating too
#: seconds after which a journal's lock whose file saw no write is taken for one a killed
#: driver left behind, and broken (Optuna's default)
JOURNAL_LOCK_GRACE_S = 30
DEFAULT_DATABASE = "study.db"  # the SQLite file of a run without `storage`


def open_optuna_storage(
    config: StorageConfig, run_dir: Path, create: bool = True
) -> optuna.storages.BaseStorage:
    """The Optuna storage a run uses: SQLite in the run dir, a journal file, or an RDB URL.
    With `create=False` (reading results) a missing study.db or journal file is an error
    instead of a new, empty storage."""
    file = storage_file(config, run_dir)
    if not create:
        check_stored(file)
    if config.journal:
        return _open_journal(file, create)
    if file is not None:  # a driver too: it would write Optuna's tables into another's file
        _check_optuna_tables(file, create)
    # file is set when url is not
    url = _sqlite_url(file, not create, config.url) if file is not None else config.url
    sqlite = url.startswith("sqlite")
    if create and file is not None:
        _create_as_umask_allows(file)
    try:
        storage = _rdb_storage(url, _engine_kwargs(sqlite, create))
    except Exception as e:  # noqa: BLE001 - SQLAlchemy raises many kinds; say which URL failed
        raise ExperimentError(
            f"{storage_name(config, run_dir)}: cannot open {hide_password(url)!r}: "
            f"{first_line(e)}{_open_advice(e, file if create else None)}"
        ) from None
    if sqlite and create:
        _write_ahead_log(storage.engine)
    return storage


#: the end of the advice for a storage this process cannot write (once the cause is mended)
AGAIN = "then run the search again (the stored results are kept)"


def _open_advice(e: Exception, file: Path | None) -> str:
    """What to do where a storage could not be opened to write: install the URL's database
    driver (the user's: psycopg2 for postgresql://, ...), or make writable the folder of a
    SQLite `file` where it is not (SQLite writes its -wal and -shm files beside the database:
    a shared database in a read-only folder said only "unable to open database file")."""
    if isinstance(e, ImportError):
        return " (the driver SQLAlchemy uses for this URL: install it)"
    if file is not None and not os.access(file.parent, os.W_OK):
        return (
            "; its folder is not writable here, and SQLite writes its -wal and -shm files "
            f"beside the database: make it writable, {AGAIN}"
        )
    return ""


def _engine_kwargs(sqlite: bool, create: bool) -> dict[str, Any]:
    """How SQLAlchemy connects: SQLite waiting for another process's lock; a reader (not
    `create`) without a pool, so it holds no connection between its reads. Pooled, each
    `load` kept its connections (descriptors of study.db and its -wal file, or a database
    server's connections) until the garbage collector found the storage, or for as long as
    the results were kept: a notebook loading run after run ran out of descriptors."""
    from sqlalchemy.pool import NullPool

    kwargs: dict[str, Any] = {"connect_args": {"timeout": SQLITE_TIMEOUT_S}} if sqlite else {}
    return kwargs if create else {**kwargs, "poolclass": NullPool}


def _create_as_umask_allows(file: Path) -> None:
    """Create a missing SQLite file with the modes the umask allows (0o666 less the umask), as
    every other file of a run is: SQLite makes its files 0o644 at most, so a group sharing its
    runs (umask 002) got a study.db, and -wal and -shm beside it (SQLite gives those the
    database's modes), that the group's other drivers could not write. SQLite takes an empty
    file for a new database; what stops the creation is left to SQLite to say."""
    if not file.exists():
        with suppress(OSError):
            os.close(os.open(file, os.O_WRONLY | os.O_CREAT, 0o666))


def studies_held(storage: optuna.storages.BaseStorage) -> str:
    """For an error saying a storage has no study of the run's name: the studies it holds
    instead, if any (one copied with `optuna.copy_study(..., to_study_name=...)` or made by
    another run), since a run reads only the study its experiment names; a shared database's
    first few."""
    names = [repr(s.study_name) for s in storage.get_all_studies()]
    if not names:
        return ""
    return f"; it holds {some_of(names)}, and a run reads only the study its experiment names"


def check_stored(file: Path | None, why: str = "the run has no stored results") -> None:
    """Refuse a storage file that is missing or empty (opening it would make a new, empty
    storage: reading would write it, and a driver would start the run over), or that this
    process cannot read (another user's, readable by its owner only: SQLite said only "unable
    to open database file"). The file is not opened to find out: closing a descriptor of
    it lets go of the locks SQLite holds on it for this process's connections."""
    if file is None:
        return
    if not file.is_file():
        raise ExperimentError(f"{file}: not found ({why})")
    if file.stat().st_size == 0:
        raise ExperimentError(f"{file}: empty ({why})")
    if not os.access(file, os.R_OK):
        raise ExperimentError(f"{file}: cannot read: {os.strerror(errno.EACCES)}")


def _check_optuna_tables(file: Path, create: bool) -> None:
    """Refuse a SQLite file without Optuna's tables that holds others (another program's
    database) or, to read results (not `create`), none at all: opening it as a storage would
    write Optuna's tables into it. A file SQLite cannot read is left to the storage, which
    says what is wrong with it."""
    try:
        with closing(sqlite3.connect(f"file:{file.resolve()}?mode=ro", uri=True)) as db:
            tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
    except sqlite3.Error:
        return
    if "studies" not in tables and (tables or not create):
        raise ExperimentError(
            f"{file}: a SQLite database without Optuna's tables (another program's?), not a "
            "run's stored results"
        )


def _rdb_storage(url: str, engine_kwargs: dict[str, Any]) -> optuna.storages.RDBStorage:
    """Optuna's RDB storage. Drivers that start on a new database at once race to create its
    tables and stamp its schema version (`table ... already exists`, a UNIQUE constraint):
    the losers try again once the winner is done."""
    from sqlalchemy.exc import IntegrityError, OperationalError

    for attempt in range(1, STORAGE_CREATE_TRIES):
        try:
            return optuna.storages.RDBStorage(url, engine_kwargs=engine_kwargs)
        except (IntegrityError, OperationalError) as e:
            if isinstance(e, OperationalError) and "already exists" not in str(e):
                raise
            time.sleep(0.2 * attempt)
    return optuna.storages.RDBStorage(url, engine_kwargs=engine_kwargs)  # the last try


def _sqlite_url(file: Path, read_only: bool, url: str | None = None) -> str:
    """The URL of a run's SQLite file: `url` (`storage.url`) where given, else the run
    directory's file. Reading a run whose file is in a directory this process cannot write
    (another user's run or shared database, read-only media) must not write: SQLite would
    create its write-ahead index beside the file (and, unable to, not open it at all).
    Without a `-wal` file no driver is writing."""
    path = file.resolve()
    if not read_only or os.access(path.parent, os.W_OK):
        return url or f"sqlite:///{path}"
    mode = "mode=ro" if path.with_name(f"{path.name}-wal").exists() else "immutable=1"
    return f"sqlite:///file:{path}?{mode}&uri=true"


def storage_file(config: StorageConfig, run_dir: Path) -> Path | None:
    """The file a run's storage lives in (None for a server database)."""
    if config.url:
        if config.url.startswith("sqlite:////"):
            return Path(config.url.removeprefix("sqlite:///").split("?")[0])
        return None
    return run_dir / (config.journal or DEFAULT_DATABASE)


def storage_name(config: StorageConfig, run_dir: Path) -> str:
    """How errors name a run's storage: its file, or `storage.url`."""
    file = storage_file(config, run_dir)
    return str(file) if file is not None else "storage.url"


@contextmanager
def storage_errors(config: StorageConfig, run_dir: Path, advice: str) -> Iterator[None]:
    """Optuna's storage errors as an `ExperimentError` naming the storage and what the
    database said (Optuna's own message, "An exception is raised during the commit", names
    neither), then `advice`, or, for a damaged SQLite file, that it needs a copy."""
    try:
        yield
    except (StorageInternalError, DamagedRecord) as e:
        cause = first_line(e)
        if isinstance(e, DamagedRecord):
            advice = (
                "hwnas wrote no such record: the storage was edited or damaged; restore it "
                "from a copy"
            )
        elif "malformed" in cause or "not a database" in cause:
            advice = "the file is damaged (hwnas cannot repair it): restore it from a copy"
        # running again meets the same refusal (a journal's is the OS's "Permission denied")
        elif "readonly database" in cause or _caused_by(e, NOT_WRITABLE):
            # a storage.url database is not in the run folder: a copied run leaves it behind
            elsewhere = "" if config.url else " (or copy the run to a writable place)"
            advice = f"the file is read-only here: make it writable{elsewhere}, {AGAIN}"
        elif "disk is full" in cause or _caused_by(e, NO_ROOM):
            advice = f"free some space, {AGAIN}"
        message = f"{storage_name(config, run_dir)}: {cause}"
        raise ExperimentError(f"{message}; {advice}" if advice else message) from e


def _caused_by(e: BaseException, errnos: tuple[int, ...]) -> bool:
    """Whether `e` was caused by an OS error of one of `errnos`."""
    root = deepest_cause(e)
    return isinstance(root, OSError) and root.errno in errnos


def first_line(e: BaseException) -> str:
    """The first line of the deepest cause of `e`: what the database said (Optuna wraps
    every SQLAlchemy error in one generic message, and SQLAlchemy appends the SQL)."""
    e = deepest_cause(e)
    return (str(e).splitlines() or [type(e).__name__])[0]


def deepest_cause(e: BaseException) -> BaseException:
    """The exception at the end of `e`'s chain of causes (`raise ... from`)."""
    while e.__cause__ is not None:
        e = e.__cause__
    return e


def _open_journal(file: Path, create: bool) -> optuna.storages.BaseStorage:
    """A journal file storage; a driver (`create`) first checks, under the journal's lock,
    that the file does not end in a cut-off record: Optuna skips one when reading, but the
    next record appended would be glued to it, and the whole journal become unreadable."""
    if file.is_dir():
        raise ExperimentError(f"storage.journal: {file} is a folder; name a file in it")
    if create:  # a journal in a subfolder of the run directory
        file.parent.mkdir(parents=True, exist_ok=True)
    # the lock is a link to the journal, by absolute path: a relative one (a relative run_dir)
    # dangles, and Optuna, unable to see the age of the journal through it, then spins
    # forever (all of a core) on the lock a driver killed while appending left behind
    path = os.path.abspath(file)
    lock = JournalFileSymlinkLock(path, grace_period=JOURNAL_LOCK_GRACE_S)
    backend = _JournalFile(path, lock_obj=lock)
    if create:
        lock.acquire()
        try:
            text = file.read_bytes()
        finally:
            _let_go(lock)
        whole = text.rfind(b"\n") + 1  # the bytes up to the end of the last whole record
        if whole < len(text):
            raise ExperimentError(
                f"{file}: its last record is cut off (a write was interrupted, or the file was "
                "truncated); nothing was written. The records before it are whole: to go on, "
                f"cut it off with `truncate -s {whole} {file}`"
            )
    try:
        return JournalStorage(backend)
    # a record that is not JSON (a json.JSONDecodeError is a ValueError), or JSON that is no
    # journal record (Optuna's replay raised a bare KeyError 'op_code', naming no file)
    except (ValueError, LookupError, TypeError, AssertionError) as e:
        raise ExperimentError(
            f"{file}: not a readable Optuna journal ({type(e).__name__}: {e}); restore it "
            "from a copy"
        ) from None


class _JournalFile(JournalFileBackend):
    """Optuna's journal file, whose failed appends (a full disk, a file-size limit) are
    storage errors, which `storage_errors` says with the journal's name (the OS's bare
    "[Errno 28] No space left on device" named no file), and leave the journal as it was.
    Optuna's own append left the part of its records that fitted, and the search run again
    once there was room was refused: its journal's last record was cut off."""

    def append_logs(self, logs: list[dict[str, Any]]) -> None:
        text = "".join(json.dumps(log, separators=(",", ":")) + "\n" for log in logs)
        try:
            self._lock.acquire()
            try:
                append_whole(self._file_path, text.encode("utf-8"))
            finally:
                _let_go(self._lock)
        except OSError as e:
            raise StorageInternalError(f"cannot append to the journal: {e}") from e


def _let_go(lock: JournalFileSymlinkLock) -> None:
    """Release the journal's `lock`, which another driver may have broken meanwhile: one
    waiting for it takes a lock held with the journal unwritten for `JOURNAL_LOCK_GRACE_S` for
    one a killed driver left, and breaks it, so a driver paused while it held the lock (Ctrl-Z,
    a suspended machine, a stalled network file system) finds it gone. Optuna's release then
    raised RuntimeError "did not possess lock": the search ended on it though its records
    were appended, and it replaced the error of an append that failed."""
    with suppress(RuntimeError):
        lock.release()


def _write_ahead_log(engine: Any) -> None:
    """SQLite in WAL mode with normal sync: ~4x faster commits (one per stored metric), still
    safe against a killed process; readers never block the driver. Set by a driver only: the
    mode is stored in the file, and a read command must not write a database that Optuna's
    own tools made (`optuna.copy_study`, another Optuna install sharing it)."""
    import sqlalchemy

    @sqlalchemy.event.listens_for(engine, "connect")
    def _pragmas(connection, _record) -> None:
        _once_unlocked(lambda: connection.execute("PRAGMA journal_mode=WAL"))
        connection.execute("PRAGMA synchronous=NORMAL")

    engine.dispose()


def _once_unlocked(statement: Callable[[], Any], limit_s: float = SQLITE_TIMEOUT_S) -> Any:
    """`statement()`, tried again while SQLite says "database is locked", up to `limit_s`.
    Switching a new file to WAL while another driver writes to it (creating the tables) is
    refused at once, without waiting SQLite's timeout (waiting could deadlock), and ended
    the second of two drivers started together."""
    deadline = time.monotonic() + limit_s
    while True:
        try:
            return statement()
        except sqlite3.OperationalError as e:
            if "locked" not in str(e) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)

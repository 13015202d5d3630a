"""Run storage: one Optuna study is one run; every evaluated candidate is one Optuna trial.

A trial's params are the `Arch`'s choices (categorical distributions over the space's values),
its user attributes are all the metrics plus `hwnas_key`, `hwnas_arch`, `hwnas_outcome` and
`hwnas_reason`, and its values are the objectives, so `optuna-dashboard` and Optuna's plots work
on any run.

Before a candidate is evaluated the driver *claims* it: a RUNNING trial naming the candidate's
key and the driver. Claims are ordered by trial number, which the storage assigns atomically,
so every driver sharing a study agrees which claim of a key wins (the lowest live one) and
whether a claim still fits in the requested number of evaluations. A driver writes a heartbeat
into the study; the RUNNING claims of a driver that stopped beating (or whose process is gone)
are marked stale and their candidates evaluated again, once, by whoever claims them next.
"""

from __future__ import annotations

import atexit
import errno
import hashlib
import json
import math
import os
import shutil
import socket
import sqlite3
import tempfile
import threading
import time
import uuid
import warnings
from collections import ChainMap, Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, MutableMapping, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any

import optuna
import yaml
from optuna.distributions import CategoricalDistribution
from optuna.exceptions import StorageInternalError, UpdateFinishedTrialError
from optuna.storages.journal import JournalFileBackend, JournalFileSymlinkLock, JournalStorage
from optuna.trial import FrozenTrial, TrialState

from hwnas.evaluators.datasets import load_dataset, npz_digest
from hwnas.evaluators.metrics import Metrics
from hwnas.experiments.config import (
    ExperimentConfig,
    ExperimentError,
    StorageConfig,
    load_experiment,
)
from hwnas.predictors.fingerprint import package_version
from hwnas.spaces import Arch, SearchSpace

MIN_FREE_BYTES = 64 * 2**20
SQLITE_TIMEOUT_S = 60  # how long a SQLite write waits for another process's lock
STORAGE_CREATE_TRIES = 4  # opening a new database that other drivers are creating too
#: seconds after which a journal's lock whose file saw no write is taken for one a killed
#: driver left behind, and broken (Optuna's default)
JOURNAL_LOCK_GRACE_S = 30
SNAPSHOT = "experiment.yaml"  # the experiment a run directory was started from
SPACE_SNAPSHOT = "space.yaml"  # the space YAML it was started with (what its archs mean)
DEFAULT_DATABASE = "study.db"  # the SQLite file of a run without `storage`
KEY, ARCH, OUTCOME, REASON, DRIVER, ORIGIN = (
    "hwnas_key",
    "hwnas_arch",
    "hwnas_outcome",
    "hwnas_reason",
    "hwnas_driver",
    "hwnas_origin",  # what the searcher said of where the arch came from (`Searcher.origin`)
)
#: outcomes of a trial; only "ok" and "failed" are evaluations, the rest are bookkeeping
EVALUATED = ("ok", "failed")
DATASET_DIGEST = "hwnas_dataset_digest"  # study attribute: the .npz arrays' digest
#: study attribute: the per-channel standardisation of the .npz (mean and std lists), which
#: export passes on even when the file has changed or gone since
DATASET_SCALING = "hwnas_dataset_standardisation"
LATENCY_DIGESTS = "hwnas_latency_digests"  # study attribute: {latency file: its sha256}
SPACE_SOURCE = "hwnas_space_source"  # study attribute: the space YAML text the run started with
VERSIONS = "hwnas_versions"  # study attribute: {package: version} of the run's first start
#: the packages whose version can change what a run proposes or scores: hwnas's defaults,
#: torch's training and weights, measured latencies, Optuna's NSGA-II, the surrogates
RUN_PACKAGES = ("hwnas", "torch", "onnxruntime", "optuna", "scikit-learn", "numpy")
RUNNING, STALE, DUPLICATE, SURPLUS, INTERRUPTED = (
    "running",
    "stale",
    "duplicate",
    "surplus",
    "interrupted",
)

optuna.logging.set_verbosity(optuna.logging.WARNING)


def check_run_dir(run_dir: Path, min_free_bytes: int = MIN_FREE_BYTES) -> None:
    """Fail now, not after an hour of work, when the run directory cannot take the results."""
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        probe = run_dir / f".write-probe-{os.getpid()}"
        with open(probe, "wb") as f:
            f.write(b"0" * 4096)
            f.flush()
            os.fsync(f.fileno())
        probe.unlink()
    except OSError as e:
        raise ExperimentError(f"run directory {run_dir} is not writable: {e.strerror}") from None
    free = shutil.disk_usage(run_dir).free
    if free < min_free_bytes:
        raise ExperimentError(
            f"run directory {run_dir} has only {free / 2**20:.0f} MiB free "
            f"(need at least {min_free_bytes / 2**20:.0f} MiB)"
        )


def check_new_run_dir(config: ExperimentConfig, run_dir: Path) -> None:
    """A new run goes into a new or empty folder: one that already holds other files (the
    current directory, a folder of runs, a project) would mix the run's files into them.
    What a start of this same run may have left (its storage, snapshots being written) is
    no obstacle: several drivers may start one run at once."""
    if (run_dir / SNAPSHOT).is_file() or not run_dir.is_dir():
        return
    storage = storage_file(config.storage, run_dir)
    ours = [SNAPSHOT, SPACE_SNAPSHOT, *([storage.name] if storage else [])]
    others = sorted(
        p.name
        for p in run_dir.iterdir()
        if not p.name.startswith(".") and not any(p.name.startswith(n) for n in ours)
    )
    if others:
        shown = ", ".join(others[:3]) + (f" and {len(others) - 3} more" if len(others) > 3 else "")
        raise ExperimentError(
            f"run_dir {run_dir} holds files that are not this run's ({shown}): a new run "
            "needs a new or empty folder; give another run_dir"
        )


def _same_yaml(a: str, b: str) -> bool:
    """Whether two YAML texts say the same (comments, layout and quoting aside)."""
    try:
        return yaml.safe_load(a) == yaml.safe_load(b)
    except yaml.YAMLError:
        return a == b


def space_source(space: SearchSpace) -> str:
    """The YAML text `space` was read from (for a built-in, the packaged file)."""
    return Path(space.source).read_text(encoding="utf-8")


def space_copy(run_dir: Path, study: optuna.Study) -> Path | None:
    """The run's copy of the space YAML it ran in; a missing one is written again from the
    text its storage recorded at the start (the file the experiment names may have changed
    since), and an edited one is passed over for that text (it would describe and export
    other networks than the evaluated ones). None for a run started before either was kept."""
    copy = run_dir / SPACE_SNAPSHOT
    if (stored := study.user_attrs.get(SPACE_SOURCE)) is None:
        return copy if copy.is_file() else None
    if copy.is_file():
        if _same_yaml(copy.read_text(encoding="utf-8", errors="replace"), stored):
            return copy
        private = _private_space(stored)
        warnings.warn(
            f"{copy}: edited since the run started; the space the run's storage recorded, the "
            f"one it ran in, is used (through {private} while this command runs)",
            stacklevel=2,
        )
        return private
    try:
        write_whole(copy, stored)
    except OSError as e:  # a read-only run (archived, another user's): read it all the same
        private = _private_space(stored)
        warnings.warn(
            f"{copy} is missing and cannot be written again ({e.strerror}): the space is read "
            f"from the run's storage, through {private} while this command runs",
            stacklevel=2,
        )
        return private
    warnings.warn(f"{copy} was missing: written again from the run's storage", stacklevel=2)
    return copy


def _private_space(text: str) -> Path:
    """A space YAML holding `text` in a folder of its own, removed when the process ends."""
    private = Path(tempfile.mkdtemp(prefix="hwnas-space-")) / SPACE_SNAPSHOT
    atexit.register(shutil.rmtree, private.parent, ignore_errors=True)
    private.write_text(text, encoding="utf-8")
    return private


def write_whole(path: Path, text: str) -> None:
    """Write `text` to `path` through a temporary file renamed over it: a kill or a full disk
    never leaves a half-written file. The temporary name is this writer's own: drivers that
    start together each rename a whole file of their own."""
    partial = path.with_name(f"{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        partial.write_text(text, encoding="utf-8")
        partial.replace(path)
    finally:
        partial.unlink(missing_ok=True)


@contextmanager
def removed_if_left_empty(folder: Path) -> Iterator[None]:
    """For a body that makes `folder` and fills it: when the body fails or is interrupted,
    the folders of its path that did not exist before and were left empty are removed again,
    so a command that wrote nothing leaves nothing behind (an empty run directory would look
    like a run to resume)."""
    made = [p for p in (folder, *folder.parents) if not p.exists()]  # deepest first
    try:
        yield
    except BaseException:
        for path in made:
            try:
                path.rmdir()  # only an empty folder goes
            except OSError:
                break
        raise


@contextmanager
def folder_for(folder: Path, label: str) -> Iterator[Path]:
    """`folder`, made as `make_folder` makes it, for a body that fills it, and removed again
    if the body fails before writing anything (`removed_if_left_empty`)."""
    with removed_if_left_empty(folder):
        make_folder(folder, label)
        yield folder


def make_folder(folder: Path, label: str) -> None:
    """Make `folder` and its parents, or raise an error that starts with `label` and names
    the file standing where a folder must be (the OS says only "File exists")."""
    blocking = next((p for p in (folder, *folder.parents) if p.exists() and not p.is_dir()), None)
    if blocking is not None:
        raise ExperimentError(f"{label}: {blocking} is a file, not a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ExperimentError(f"{label}: cannot make folder {folder}: {e.strerror or e}") from None


def _latency_files(config: ExperimentConfig) -> list[Path]:
    """The files the experiment's latency section reads (absolute): a predictor, or a profile's
    table and metadata."""
    latency = config.with_absolute_inputs(Path.cwd()).latency
    if latency is None:
        return []
    if latency.predictor:
        return [Path(latency.predictor)]
    table = Path(str(latency.profile))
    return [table, table.with_suffix(".json")]


def load_snapshot(run_dir: Path) -> ExperimentConfig:
    """The run's copy of its experiment (`SNAPSHOT`); one that cannot be read is said to be
    replaceable: a search with the experiment file writes it again, and the run's storage keeps
    what the run recorded."""
    try:
        return load_experiment(run_dir / SNAPSHOT)
    except ExperimentError as e:
        raise ExperimentError(
            f"{e} (the run's copy of its experiment: if it was damaged, delete it and run "
            "`hwnas search` with the experiment file, which writes it again; nothing stored is "
            "evaluated again)"
        ) from None


def check_same_storage(config: ExperimentConfig, run_dir: Path) -> None:
    """Refuse to continue a run under another name or storage: a new, empty study would
    start there and the run directory would stop pointing at the stored results."""
    if not (run_dir / SNAPSHOT).is_file():
        return
    before = load_snapshot(run_dir)
    where = {
        "name": (before.name, config.name),
        "storage": (
            (before.storage.journal, before.storage.url),
            (config.storage.journal, config.storage.url),
        ),
    }
    changed = [field for field, (old, new) in where.items() if old != new]
    if changed:
        raise ExperimentError(
            f"run {run_dir} was started with other settings of {' and '.join(changed)}, and its "
            "results are stored under those: change them back, or use a new run_dir for a "
            "different experiment"
        )


def package_versions() -> dict[str, str]:
    """The installed version of each of `RUN_PACKAGES` ("absent" where one is not)."""
    return {p: package_version(p) for p in RUN_PACKAGES}


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
    if not create and file is not None:
        _check_optuna_tables(file)
    url = config.url or _sqlite_url(file, read_only=not create)  # file is set when url is not
    sqlite = url.startswith("sqlite")
    try:
        storage = _rdb_storage(
            url, {"connect_args": {"timeout": SQLITE_TIMEOUT_S}} if sqlite else {}
        )
    except Exception as e:  # noqa: BLE001 - SQLAlchemy raises many kinds; say which URL failed
        raise ExperimentError(
            f"{storage_name(config, run_dir)}: cannot open {url!r}: {first_line(e)}"
        ) from None
    if sqlite:
        _write_ahead_log(storage.engine)
    return storage


def check_stored(file: Path | None, why: str = "the run has no stored results") -> None:
    """Refuse a storage file that is missing or empty (opening it would make a new, empty
    storage: reading would write it, and a driver would start the run over)."""
    if file is not None and not file.is_file():
        raise ExperimentError(f"{file}: not found ({why})")
    if file is not None and file.stat().st_size == 0:
        raise ExperimentError(f"{file}: empty ({why})")


def _check_optuna_tables(file: Path) -> None:
    """Refuse a SQLite file that holds tables but not Optuna's (another program's database):
    opening it as a storage would write Optuna's tables into it. A file SQLite cannot read
    is left to the storage, which says what is wrong with it."""
    try:
        with closing(sqlite3.connect(f"file:{file.resolve()}?mode=ro", uri=True)) as db:
            tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
    except sqlite3.Error:
        return
    if tables and "studies" not in tables:
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


def _sqlite_url(file: Path, read_only: bool) -> str:
    """The URL of a run directory's SQLite file. Reading a run in a directory this process
    cannot write (another user's run, read-only media) must not write: SQLite would create
    its write-ahead index beside the file. Without a `-wal` file no driver is writing."""
    path = file.resolve()
    if not read_only or os.access(path.parent, os.W_OK):
        return f"sqlite:///{path}"
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
        elif "readonly database" in cause:  # running again meets the same refusal
            advice = (
                "the file is read-only here: make it writable (or copy the run to a writable "
                "place), then run the search again (the stored results are kept)"
            )
        elif "disk is full" in cause or _disk_full(e):
            advice = "free some space, then run the search again (the stored results are kept)"
        message = f"{storage_name(config, run_dir)}: {cause}"
        raise ExperimentError(f"{message}; {advice}" if advice else message) from e


#: the OS errors of a write that found no room: a full disk, a full quota, a file-size limit
NO_ROOM = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


def _disk_full(e: BaseException) -> bool:
    """Whether `e` was caused by a write that found no room (`NO_ROOM`)."""
    root = deepest_cause(e)
    return isinstance(root, OSError) and root.errno in NO_ROOM


class DamagedRecord(ValueError):
    """A stored record hwnas did not write: not JSON, or an architecture that is unreadable
    or not the one its key names (`storage_errors` names the storage)."""


def read_trials(study: optuna.Study) -> list[FrozenTrial]:
    """All of a study's trials; a stored value that is not JSON is a `DamagedRecord` (Optuna
    let the decoder's bare "Unterminated string starting at ..." through)."""
    try:
        return study.get_trials(deepcopy=False)
    except json.JSONDecodeError as e:
        raise DamagedRecord(f"a stored value is not JSON ({e})") from None


def stored_arch(trial: FrozenTrial) -> Arch:
    """The architecture a trial stores, checked against the key stored with it: a
    `DamagedRecord` naming the trial where the two disagree or the record is unreadable."""
    try:
        arch = Arch.from_json(trial.user_attrs[ARCH])
    except (KeyError, TypeError, ValueError) as e:
        raise DamagedRecord(f"trial {trial.number}: its architecture is unreadable ({e})") from None
    if (key := trial.user_attrs.get(KEY)) is not None and key != arch.key:
        raise DamagedRecord(
            f"trial {trial.number}: its stored key {key} is not its architecture's ({arch.key})"
        )
    return arch


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
            lock.release()
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
    storage errors, which `storage_errors` says with the journal's name: the OS's bare
    "[Errno 28] No space left on device" named no file."""

    def append_logs(self, logs: list[dict[str, Any]]) -> None:
        try:
            super().append_logs(logs)
        except OSError as e:
            raise StorageInternalError(f"cannot append to the journal: {e}") from e


def _write_ahead_log(engine: Any) -> None:
    """SQLite in WAL mode with normal sync: ~4x faster commits (one per stored metric), still
    safe against a killed process; readers never block the driver."""
    import sqlalchemy

    @sqlalchemy.event.listens_for(engine, "connect")
    def _pragmas(connection, _record) -> None:
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=NORMAL")

    engine.dispose()


class ClaimLost(RuntimeError):
    """Another driver took this claim as stale (this driver looked dead to it)."""


@dataclass(frozen=True)
class Claim:
    """A claimed candidate: the trial that will hold its evaluation."""

    arch: Arch
    trial_id: int
    number: int


@dataclass(frozen=True)
class ClaimOutcome:
    """What became of an attempted claim: `won`, or the reason it was dropped."""

    claim: Claim
    won: bool
    why: str = ""
    metrics: Metrics | None = None  # the stored result when the key was already evaluated


def grace_of(config: ExperimentConfig) -> float:
    """Seconds without a heartbeat after which a driver is taken for dead."""
    return config.storage.grace_s or max(30.0, 4 * config.storage.heartbeat_s)


def dead_drivers(study: optuna.Study, grace_s: float) -> set[str]:
    """The drivers of `study` that stopped, whose process on this host is gone, or that were
    silent for `grace_s`: their RUNNING claims will never be finished."""
    dead, now, host = set(), time.time(), socket.gethostname()
    for name, beat in study.user_attrs.items():
        if not name.startswith("hwnas_driver:"):
            continue
        gone = beat["host"] == host and not _pid_alive(beat["pid"])
        if beat.get("stopped") or gone or now - beat["time"] > grace_s:
            dead.add(name.removeprefix("hwnas_driver:"))
    return dead


def outcome_of(trial: FrozenTrial) -> str:
    """What a trial is: an evaluation ("ok", "failed"), a live or dead claim ("running",
    "stale", "interrupted"), or a dropped claim ("duplicate", "surplus"). A trial whose result
    is being written (the outcome is set but the state not yet) still counts as running."""
    outcome = trial.user_attrs.get(OUTCOME, "")
    if outcome in EVALUATED and not trial.state.is_finished():
        return RUNNING
    return outcome


def trial_metrics(trial: FrozenTrial) -> Metrics | None:
    """The `Metrics` stored on an evaluated trial (None for claims that were never finished)."""
    outcome = outcome_of(trial)
    if outcome not in EVALUATED:
        return None
    values = {
        k: v
        for k, v in trial.user_attrs.items()
        if not k.startswith("hwnas_") and isinstance(v, int | float)
    }
    status = "ok" if outcome == "ok" else "failed"
    return Metrics(values, status=status, reason=trial.user_attrs.get(REASON, ""))


#: the study attribute holding the experiment a run was started with
EXPERIMENT = "hwnas_experiment"
#: the settings that make a run's results what they are: none may change while it runs
FIXED_SETTINGS = (
    "space",
    "objectives",
    "constraints",
    "searcher",
    "evaluator",
    "latency",
    "seed",
    "dataset",
    "benchmark",
)


def experiment_changes(stored: dict[str, Any], config: ExperimentConfig) -> tuple[list[str], str]:
    """The `FIXED_SETTINGS` in which `config` differs from a run's stored experiment, and the
    differences in words (`searcher.settings.x: 8, now 10`)."""
    # a run started before input paths were stored absolute holds them as written
    old, new = (
        c.with_absolute_inputs(Path.cwd()).effective_data()
        for c in (ExperimentConfig.model_validate(stored), config)
    )
    changed = [f for f in FIXED_SETTINGS if old.get(f) != new.get(f)]
    details = "; ".join(d for f in changed for d in _differences(old.get(f), new.get(f), f))
    return changed, details


def _differences(old: Any, new: Any, path: str) -> list[str]:
    """Where two experiment values differ, and how: `searcher.settings.x: 8, now 10`."""
    if isinstance(old, dict) and isinstance(new, dict):
        keys = sorted(old.keys() | new.keys(), key=str)
        found = [_differences(old.get(k), new.get(k), f"{path}.{k}") for k in keys]
        return [d for part in found for d in part]
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        found = [_differences(a, b, f"{path}[{i}]") for i, (a, b) in enumerate(zip(old, new))]
        return [d for part in found for d in part]
    if old == new:
        return []
    return [f"{path}: {_shown(old, path)}, now {_shown(new, path)}"]


def _shown(value: Any, path: str) -> str:
    """A stored value in words; a setting left out (or written at its default, which is
    compared as left out) is the default."""
    if value is None:
        return "the default" if ".settings." in path else "unset"
    return repr(value)


class StudyMemo(MutableMapping[str, Any]):
    """A `Searcher.memo` kept in the study's user attributes, so every driver of a run (on any
    machine that shares its storage) and every later resume sees what one of them kept."""

    prefix = "hwnas_memo:"

    def __init__(self, study: optuna.Study):
        self.study = study

    def __getitem__(self, key: str) -> Any:
        return self.study.user_attrs[self.prefix + key]

    def __setitem__(self, key: str, value: Any) -> None:
        self.study.set_user_attr(self.prefix + key, value)

    def __delitem__(self, key: str) -> None:
        raise TypeError("a run's memo keeps what it was given")

    def __iter__(self) -> Iterator[str]:
        keys = [k for k in self.study.user_attrs if k.startswith(self.prefix)]
        return (k.removeprefix(self.prefix) for k in keys)

    def __len__(self) -> int:
        return sum(1 for _ in self)


@dataclass
class _Settled:
    """The finished trials that lead a run's trials (a finished trial never changes): how
    many, their outcomes, and the first evaluation of each key among them. The run loop reads
    every trial once per round; counting and judging claims from these plus the trials after
    them, instead of from all, keeps a round's work from growing with the run (it made long
    runs quadratic: a third of a tabular evaluation's time at 3000 trials)."""

    size: int = 0
    counts: Counter[str] = field(default_factory=Counter)
    evaluated: dict[str, FrozenTrial] = field(default_factory=dict)

    def rest(self, trials: list[FrozenTrial]) -> list[FrozenTrial]:
        """The trials after the settled ones, settling first the finished ones that lead
        them. `trials` are all of the run's, in number order (as `RunStore.trials` reads them),
        so the i-th has number i."""
        if self.size and (len(trials) < self.size or trials[self.size - 1].number != self.size - 1):
            raise ValueError("not all of the run's trials in number order")
        while self.size < len(trials) and trials[self.size].state.is_finished():
            trial = trials[self.size]
            outcome = outcome_of(trial)
            self.counts[outcome] += 1
            if outcome in EVALUATED:
                self.evaluated.setdefault(trial.user_attrs[KEY], trial)
            self.size += 1
        return trials[self.size :]


class RunStore:
    """The Optuna study of one run, with claim / finish / heartbeat for the run loop."""

    def __init__(
        self, config: ExperimentConfig, run_dir: Path, space: SearchSpace, existing: bool = False
    ):
        """`existing`: the run was started before (its experiment.yaml is there), so its
        storage and study must be too; a new, empty one would start the run over."""
        self.config, self.run_dir, self.space = config, run_dir, space
        file = storage_file(config.storage, run_dir)
        gone = (
            f"the run in {run_dir} was started, but its stored results are not there: restore "
            "the file (with its -wal file, if any) or start the experiment in a new run_dir; "
            f"or, if that {SNAPSHOT} is your experiment file and no run's copy, move it out of "
            "run_dir, where hwnas keeps each run's copy under that name"
        )
        if existing:
            check_stored(file, gone)
        self.storage = open_optuna_storage(config.storage, run_dir)
        directions = ["maximize" if d == "max" else "minimize" for _, d in config.objective_pairs]
        try:
            self.study = (
                optuna.load_study(storage=self.storage, study_name=config.name)
                if existing
                else optuna.create_study(
                    storage=self.storage,
                    study_name=config.name,
                    directions=directions,
                    load_if_exists=True,
                )
            )
        except KeyError:  # Optuna's "Record does not exist": no study of that name there
            self.close()
            where = storage_name(config.storage, run_dir)
            raise ExperimentError(f"{where}: no study {config.name!r} ({gone})") from None
        self.study_id = self.study._study_id
        self.driver = uuid.uuid4().hex[:12]
        self.started = time.time()  # orders the drivers' streams (`stream`)
        self.grace_s = grace_of(config)
        self._distributions = {
            name: CategoricalDistribution(values) for name, values in space.choice_values().items()
        }
        self._settled = _Settled()

    def close(self) -> None:
        """Let go of the database (its connections hold the files open)."""
        if isinstance(self.storage, optuna.storages.RDBStorage):
            self.storage.engine.dispose()

    def memo(self) -> StudyMemo:
        """Where the run's searcher keeps costly work between processes (`Searcher.memo`)."""
        return StudyMemo(self.study)

    # -- the run's identity ----------------------------------------------------------------
    def check_same_experiment(self) -> None:
        """Refuse to continue a run with a different space, objectives, searcher, evaluator,
        latency source, seed, dataset or benchmark: its stored results would mix two
        experiments."""
        # read back: a driver starting on the same new study at the same moment may have
        # written its own experiment last, and then this one must not go on
        stored = self._recorded(EXPERIMENT, self.config.to_data())
        changed, details = experiment_changes(stored, self.config)
        if changed:
            what, advice = (  # a shared database finds a run's study by its name alone
                (f"study {self.config.name!r} in storage.url", "give it another name")
                if self.config.storage.url
                else (f"run {self.run_dir}", "use a new run_dir")
            )
            if not self.config.storage.url and not any(
                outcome_of(t) in EVALUATED for t in read_trials(self.study)
            ):  # a first start that failed (a diverged supernet, say): nothing would be lost
                advice = f"it holds no evaluations: remove {self.run_dir}, or {advice},"
            raise ExperimentError(
                f"{what} was started with other settings of {', '.join(changed)} "
                f"({details}); {advice} for a different experiment"
            )
        self._check_same_space()
        self._check_same_data()
        self._check_same_latency()
        self._warn_other_versions()

    def _recorded(self, attr: str, value: Any) -> Any:
        """What the run recorded as `attr` (a study attribute), recording `value` first where
        it has none yet (a new run, or one started before hwnas recorded it)."""
        if attr not in self.study.user_attrs:
            self.study.set_user_attr(attr, value)
        return self.study.user_attrs[attr]

    def _warn_other_versions(self) -> None:
        """Say where the run was started with other versions of hwnas or of the packages its
        results depend on (a run started before versions were recorded is taken to have had
        these): a changed default or library may make the resumed part search or score
        differently from the stored one. Not refused: most upgrades change neither."""
        now = package_versions()
        then = self._recorded(VERSIONS, now)
        other = [f"{p} {then[p]} (now {v})" for p, v in now.items() if then.get(p, v) != v]
        if other:
            warnings.warn(
                f"run {self.run_dir} was started with {', '.join(other)}: the resumed part may "
                "search or score differently (other defaults or library behaviour); use a new "
                "run_dir to keep one set of versions",
                stacklevel=2,
            )

    def _check_same_data(self) -> None:
        """Refuse to continue after the arrays of a `.npz` dataset changed (edited, relabelled,
        or another file under the same name): the stored results were scored on the data as
        it was (a run started before the digest was stored is taken to have had the current
        arrays)."""
        path = self.config.dataset
        if not path or not path.lower().endswith(".npz") or not Path(path).is_file():
            return  # a built-in, or a missing file the evaluator reports
        digest = npz_digest(path)
        if self._recorded(DATASET_DIGEST, digest) != digest:
            raise ExperimentError(
                f"run {self.run_dir}: the dataset file {path} changed since the run started (its "
                "arrays differ: new results would mix two datasets); restore it, or use a new "
                "run_dir for the new data"
            )
        if DATASET_SCALING not in self.study.user_attrs:
            scaling = load_dataset(path).standardisation
            self._recorded(DATASET_SCALING, {"mean": list(scaling.mean), "std": list(scaling.std)})

    def _check_same_latency(self) -> None:
        """Refuse to continue after the latency predictor or profile file changed (refitted,
        re-measured, another pass added): the stored latencies came from the files as they
        were, and new ones would be another model's (a run started before the digests were
        stored is taken to have had the current files)."""
        files = [f for f in _latency_files(self.config) if f.is_file()]
        digests = {str(f): hashlib.sha256(f.read_bytes()).hexdigest() for f in files}
        stored = self._recorded(LATENCY_DIGESTS, digests)
        if changed := [f for f, digest in digests.items() if stored.get(f, digest) != digest]:
            raise ExperimentError(
                f"run {self.run_dir}: the latency file {changed[0]} changed since the run "
                "started (new latencies would come from another model than the stored ones); "
                "restore it, or use a new run_dir for the new one"
            )

    def _check_same_space(self) -> None:
        """Refuse to continue after the space's YAML changed: the stored architectures were
        proposed and evaluated in the space as it was (a run started before the YAML was
        stored is taken to have had the current one). Comments and layout are no change."""
        source = space_source(self.space)
        if not _same_yaml(self._recorded(SPACE_SOURCE, source), source):
            raise ExperimentError(
                f"run {self.run_dir}: the space file {self.space.source} changed since the run "
                f"started ({SPACE_SNAPSHOT} in the run holds the one it started with); use a "
                "new run_dir for the changed space"
            )

    # -- liveness --------------------------------------------------------------------------
    def heartbeat(self, stopped: bool = False) -> None:
        beat = {"host": socket.gethostname(), "pid": os.getpid(), "time": time.time()}
        beat |= {"started": self.started, "stopped": stopped}  # started: orders the streams
        self.study.set_user_attr(f"hwnas_driver:{self.driver}", beat)

    @contextmanager
    def beating(self) -> Iterator[None]:
        """Heartbeats from a background thread while the block runs (an evaluation in this
        process may block the run loop for long); a final `stopped` beat when it ends."""
        done = threading.Event()

        def beat() -> None:
            while not done.wait(self.config.storage.heartbeat_s):
                try:
                    self.heartbeat()
                except Exception as e:  # noqa: BLE001 - a storage hiccup: beat again next time,
                    # or peers would soon take this live driver's claims for stale ones
                    warnings.warn(f"heartbeat not stored ({e}); trying again", stacklevel=1)

        self.heartbeat()
        thread = threading.Thread(target=beat, name="hwnas-heartbeat", daemon=True)
        thread.start()
        try:
            yield
        finally:
            done.set()
            thread.join()
            self.heartbeat(stopped=True)

    def stream(self) -> int:
        """This driver's place among the drivers alive, in the order they started (0 when
        alone): its searcher's proposal stream, so drivers sharing a run propose different
        candidates. By start, not by the random driver id: a driver joining later never
        takes stream 0 from one already running, which goes on proposing what a lone run
        would (a beat written by an hwnas without `started` sorts first)."""
        prefix = "hwnas_driver:"
        beats = {
            name.removeprefix(prefix): beat
            for name, beat in self.study.user_attrs.items()
            if name.startswith(prefix)
        }
        dead = self._dead_drivers()
        alive = {d: beat.get("started", 0.0) for d, beat in beats.items() if d not in dead}
        alive[self.driver] = self.started
        return sorted(alive, key=lambda d: (alive[d], d)).index(self.driver)

    def _dead_drivers(self) -> set[str]:
        return dead_drivers(self.study, self.grace_s) - {self.driver}

    def fail_stale(self) -> list[Arch]:
        """Mark RUNNING claims of dead drivers stale; their archs, to evaluate again."""
        dead = self._dead_drivers()
        stale = []
        for t in self.trials():
            if t.state == TrialState.RUNNING and t.user_attrs.get(DRIVER) in dead:
                why = "its driver stopped before the evaluation ended"
                if self._close(t._trial_id, STALE, why):
                    stale.append(stored_arch(t))
        return stale

    # -- trials ----------------------------------------------------------------------------
    def trials(self) -> list[FrozenTrial]:
        return read_trials(self.study)

    def evaluated(self, trials: list[FrozenTrial] | None = None) -> Mapping[str, FrozenTrial]:
        """The first evaluated trial of every key (ok or failed evaluation), of `trials` (all
        of the run's, as one read of the storage) when given, else of a new read. A read-only
        view over the settled ones and those after them: the run loop asks each round, and a
        copy of every settled evaluation would grow with the run."""
        trials = self.trials() if trials is None else trials
        later: dict[str, FrozenTrial] = {}
        for t in self._settled.rest(trials):
            if outcome_of(t) in EVALUATED:
                later.setdefault(t.user_attrs[KEY], t)
        return ChainMap(MappingProxyType(self._settled.evaluated), later)

    def counts(self, trials: list[FrozenTrial] | None = None) -> dict[str, int]:
        """Trials by outcome, of `trials` (all of the run's, as one read of the storage) when
        given, else of a new read."""
        trials = self.trials() if trials is None else trials
        counts = self._settled.counts + Counter(map(outcome_of, self._settled.rest(trials)))
        return {o: counts[o] for o in (*EVALUATED, RUNNING, STALE, DUPLICATE, SURPLUS, INTERRUPTED)}

    def history(self) -> list[tuple[Arch, Metrics | None]]:
        """Every candidate any driver claimed, in claim order, with its result (None while not
        evaluated): what `Searcher.restore` rebuilds its state from."""
        first: dict[str, Arch] = {}
        results: dict[str, Metrics] = {}
        for t in sorted(self.trials(), key=lambda t: t.number):
            key = t.user_attrs.get(KEY)
            if key is None or outcome_of(t) in (DUPLICATE, SURPLUS):
                continue
            first.setdefault(key, stored_arch(t))
            metrics = trial_metrics(t)
            if metrics is not None:
                results[key] = metrics
        return [(arch, results.get(key)) for key, arch in first.items()]

    def claim(
        self,
        archs: Sequence[Arch],
        limit: int | None,
        origin: Callable[[Arch], dict[str, float | int]] = lambda arch: {},
    ) -> list[ClaimOutcome]:
        """Claim `archs` for evaluation by this driver; `limit` caps the run's evaluations;
        `origin(arch)` (the searcher's note of where it came from) is stored with each claim.

        A claim wins when no evaluation of its key exists, no live claim of its key has a lower
        trial number, and the evaluations plus live claims before it leave room under `limit`.
        """
        claims: list[Claim] = []
        try:
            for a in archs:  # one by one: an interrupt keeps those already created
                claims.append(self._create_claim(a, origin(a)))
            trials = sorted(self.trials(), key=lambda t: t.number)
            outcomes = []
            for c in claims:
                why, metrics = self._judge(c, trials, limit)
                if why:
                    self._close(c.trial_id, SURPLUS if why == SURPLUS else DUPLICATE, why)
                outcomes.append(ClaimOutcome(c, not why, why, metrics))
        except BaseException:  # Ctrl-C midway: no claim of this call is left RUNNING
            self.release(claims)
            raise
        return outcomes

    def origins(self, trials: list[FrozenTrial] | None = None) -> dict[str, dict]:
        """The origin each key's claims stored (`Searcher.origin`), of `trials` when given."""
        trials = self.trials() if trials is None else trials
        return {t.user_attrs[KEY]: t.user_attrs[ORIGIN] for t in trials if ORIGIN in t.user_attrs}

    def running_keys(self, trials: list[FrozenTrial] | None = None) -> set[str]:
        """Keys with a live (RUNNING) claim of any driver, of `trials` (all of the run's) when
        given; a live claim is never among the settled trials."""
        trials = self.trials() if trials is None else trials
        return {t.user_attrs[KEY] for t in self._settled.rest(trials) if outcome_of(t) == RUNNING}

    def _judge(
        self, claim: Claim, trials: list[FrozenTrial], limit: int | None
    ) -> tuple[str, Metrics | None]:
        """Why `claim` loses (and the stored result of its key, when evaluated before), or ""
        when it wins; see `claim`. The settled trials all come before a live claim."""
        before, rest = 0, self._settled.rest(trials)
        if claim.number >= self._settled.size:
            if (first := self._settled.evaluated.get(claim.arch.key)) is not None:
                return "evaluated before", trial_metrics(first)
            before = sum(self._settled.counts[o] for o in (*EVALUATED, RUNNING))
            trials = rest
        for t in trials:
            outcome = outcome_of(t)
            same = t.user_attrs.get(KEY) == claim.arch.key and t.number != claim.number
            if same and outcome in EVALUATED:
                return "evaluated before", trial_metrics(t)
            if t.number >= claim.number:
                continue
            if same and outcome == RUNNING:
                return "claimed by another evaluation", None
            before += outcome in (*EVALUATED, RUNNING)
        if limit is not None and before >= limit:
            return SURPLUS, None
        return "", None

    def _create_claim(self, arch: Arch, origin: dict[str, float | int] | None = None) -> Claim:
        params = {k: v for k, v in arch.items() if k in self._distributions}
        template = FrozenTrial(
            number=0,
            state=TrialState.RUNNING,
            value=None,
            datetime_start=datetime.now(tz=UTC),
            datetime_complete=None,
            params=params,
            distributions={k: self._distributions[k] for k in params},
            user_attrs={
                KEY: arch.key,
                ARCH: arch.to_json(),
                OUTCOME: RUNNING,
                DRIVER: self.driver,
                **({ORIGIN: origin} if origin else {}),
            },
            system_attrs={},
            intermediate_values={},
            trial_id=0,
        )
        trial_id = self.storage.create_new_trial(self.study_id, template_trial=template)
        return Claim(arch, trial_id, self.storage.get_trial_number_from_id(trial_id))

    def finish(self, claim: Claim, metrics: Metrics) -> Metrics:
        """Store an evaluation on its claim (raises `ClaimLost` when another driver closed the
        claim meanwhile); a missing or NaN objective or constraint metric makes it failed."""
        bad = [m for m in self.config.needed_metrics if not math.isfinite(metrics.get(m, math.nan))]
        if metrics.ok and bad:
            metrics = Metrics.failed(f"metrics {bad} missing or not finite", metrics)
        try:
            self._write_result(claim.trial_id, metrics)
        except UpdateFinishedTrialError:
            raise ClaimLost(f"trial {claim.number} was closed by another driver") from None
        return metrics

    def _write_result(self, trial_id: int, metrics: Metrics) -> None:
        for name, value in metrics.items():
            self.storage.set_trial_user_attr(trial_id, name, value)
        if metrics.ok and self.config.constraints:
            violation = [metrics[m] - bound for m, bound in self.config.constraint_pairs]
            self.storage.set_trial_system_attr(trial_id, "constraints", violation)
        self.storage.set_trial_user_attr(trial_id, REASON, metrics.reason)
        self.storage.set_trial_user_attr(trial_id, OUTCOME, metrics.status)
        if metrics.ok:
            values = [metrics[m] for m, _ in self.config.objective_pairs]
            self.storage.set_trial_state_values(trial_id, TrialState.COMPLETE, values)
        else:
            self.storage.set_trial_state_values(trial_id, TrialState.FAIL)

    def release(self, claims: Iterable[Claim], why: str = "the driver was interrupted") -> None:
        """Give claims back unevaluated (Ctrl-C): a resumed run evaluates them again."""
        for c in claims:
            self._close(c.trial_id, INTERRUPTED, why)

    def _close(self, trial_id: int, outcome: str, reason: str) -> bool:
        """End a claim unevaluated; False when another driver already closed it."""
        try:
            self.storage.set_trial_user_attr(trial_id, REASON, reason)
            self.storage.set_trial_user_attr(trial_id, OUTCOME, outcome)
            self.storage.set_trial_state_values(trial_id, TrialState.FAIL)
        except UpdateFinishedTrialError:
            return False
        return True


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return not _is_zombie(pid)


def _is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1].startswith("Z")
    except (OSError, IndexError):
        return False

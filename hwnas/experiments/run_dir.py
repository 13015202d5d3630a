"""The run directory: the files hwnas keeps in it beside the stored results (the copies of
the experiment and of the space the run was started with), and the checks that a folder can
take a run and that a run is continued as it was started.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path

import optuna
import yaml

from hwnas.experiments.config import ExperimentConfig, ExperimentError, load_experiment
from hwnas.experiments.files import check_writable, write_whole
from hwnas.experiments.optuna_storage import storage_file
from hwnas.experiments.records import SPACE_SOURCE
from hwnas.experiments.shown import some_of
from hwnas.spaces.callers import warn_at_caller
from hwnas.spaces.yaml_files import YamlLoader

MIN_FREE_BYTES = 64 * 2**20
SNAPSHOT = "experiment.yaml"  # the experiment a run directory was started from
SPACE_SNAPSHOT = "space.yaml"  # the space YAML it was started with (what its archs mean)


def check_run_dir(run_dir: Path, min_free_bytes: int = MIN_FREE_BYTES) -> None:
    """Fail now, not after an hour of work, when the run directory cannot take the results."""
    label = f"run directory {run_dir}"
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ExperimentError(f"{label} is not writable: {e.strerror}") from None
    check_writable(run_dir, label)
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
    no obstacle: several drivers may start one run at once. Nor may it go inside another
    run's folder: an experiment searched from inside a run's folder reads its relative
    `run_dir` from there, and started a fresh run nested in the old one (a run's own
    `experiment.yaml`, the likely one, is refused before: `check_not_a_runs_copy`); a folder
    that holds this run's storage already is no such start (a run nested by an earlier
    hwnas, whose `experiment.yaml` is gone since, goes on)."""
    if (run_dir / SNAPSHOT).is_file():
        return
    storage = storage_file(config.storage, run_dir)
    stored = storage is not None and storage.is_relative_to(run_dir) and storage.is_file()
    if not stored and (around := _enclosing_run(run_dir)) is not None:
        read_from = ""  # an absolute run_dir is read from nowhere: only a new run's advice
        if not run_dir.is_absolute():
            read_from = (
                f": a relative run_dir is read from the current directory ({Path.cwd()}); to go "
                "on with that run, search from the directory it was started in"
            )
        raise ExperimentError(
            f"run_dir {run_dir} is inside the run {around}{read_from}; for a new run, give a "
            "run_dir outside it"
        )
    if not run_dir.is_dir():
        return
    ours = [SNAPSHOT, SPACE_SNAPSHOT, *([storage.name] if storage else [])]
    others = sorted(
        p.name
        for p in run_dir.iterdir()
        if not p.name.startswith(".") and not any(p.name.startswith(n) for n in ours)
    )
    if others:
        raise ExperimentError(
            f"run_dir {run_dir} holds files that are not this run's ({some_of(others)}): a new run "
            "needs a new or empty folder; give another run_dir"
        )


def check_not_a_runs_copy(config: ExperimentConfig, run_dir: Path) -> None:
    """Refuse the copy of its experiment a run keeps (`SNAPSHOT`) where its `run_dir` holds no
    run: read from another directory than the run was started in, a relative `run_dir` names
    another folder (and a moved run's copy names its old one). `hwnas search
    proj/runs/demo/experiment.yaml` run outside `proj` started a fresh run in ./runs/demo and
    evaluated everything again (with --resume it said only that runs/demo held no run)."""
    copy = Path(config.source)
    if copy.name != SNAPSHOT or not holds_run(folder := copy.parent.resolve()):
        return
    where = "" if run_dir.is_absolute() else f" (read from the current directory: {Path.cwd()})"
    started_in = _started_in(folder, run_dir)
    go_on = f"search from {started_in}" if started_in else f"give run_dir: {folder} in a copy of it"
    raise ExperimentError(
        f"{copy} is the run {folder}'s copy of its experiment, but its run_dir {run_dir}{where} "
        f"is another folder, which holds no run; to go on with that run, {go_on}; "
        "for a new run, copy the file out of the run's folder and give it a run_dir of its own"
    )


def _started_in(folder: Path, run_dir: Path) -> Path | None:
    """The directory a run in `folder` was started in with the relative `run_dir`, if the run
    is still where that put it."""
    parts = run_dir.parts
    if run_dir.is_absolute() or folder.parts[-len(parts) :] != parts:
        return None
    return Path(*folder.parts[: -len(parts)])


def _enclosing_run(run_dir: Path) -> Path | None:
    """The run folder `run_dir` lies in, if any."""
    return next((f for f in run_dir.resolve().parents if holds_run(f)), None)


def holds_run(folder: Path) -> bool:
    """Whether `folder` is a run's: it has a run's copies of its experiment and space and the
    storage file that experiment names (a project folder with files of those names of its own
    has no such storage)."""
    if not ((folder / SNAPSHOT).is_file() and (folder / SPACE_SNAPSHOT).is_file()):
        return False
    try:
        storage = storage_file(load_experiment(folder / SNAPSHOT, stored=True).storage, folder)
    except ExperimentError:
        return False
    return storage is not None and storage.parent == folder and storage.is_file()


def same_yaml(a: str, b: str) -> bool:
    """Whether two YAML texts say the same (comments, layout and quoting aside), as hwnas
    reads a space file (YAML 1.2 numbers, bounded in size: a stored text comes from a run
    directory, which may not be the user's own)."""
    try:
        return yaml.load(a, YamlLoader) == yaml.load(b, YamlLoader)
    except yaml.YAMLError:
        return a == b


def space_source(path: str | Path) -> str:
    """The YAML text of the space file at `path` (a space's `source`: for a built-in, the
    packaged file), without the byte-order mark some editors put first (kept, an exported
    config held the text as one line of escapes)."""
    return Path(path).read_text(encoding="utf-8-sig")


def write_copies(run_dir: Path, experiment: str, space: str) -> None:
    """Write the run's copies of its experiment (`SNAPSHOT`, the text `experiment`) and of
    its space (`SPACE_SNAPSHOT`, `space`) into `run_dir`, each whole; one that cannot be
    written is an `ExperimentError` naming it: a full disk was the OS's bare "[Errno 28] No
    space left on device", naming no file."""
    for name, what, text in (
        (SNAPSHOT, "experiment", experiment),
        (SPACE_SNAPSHOT, "space", space),
    ):
        try:
            write_whole(run_dir / name, text)
        except OSError as e:
            raise ExperimentError(
                f"{run_dir / name}: cannot write the run's copy of its {what}: {e.strerror or e}"
            ) from None


def space_copy(run_dir: Path, study: optuna.Study) -> Path | None:
    """The run's copy of the space YAML it ran in; a missing one is written again from the
    text its storage recorded at the start (the file the experiment names may have changed
    since), and an edited one is passed over for that text (it would describe and export
    other networks than the evaluated ones). None for a run started before either was kept."""
    copy = run_dir / SPACE_SNAPSHOT
    if (stored := study.user_attrs.get(SPACE_SOURCE)) is None:
        return copy if copy.is_file() else None
    if copy.is_file():
        if same_yaml(copy.read_text(encoding="utf-8", errors="replace"), stored):
            return copy
        private = _private_space(stored)
        warn_at_caller(
            f"{copy}: edited since the run started; the space the run's storage recorded, the "
            f"one it ran in, is used (through {private} while this command runs)"
        )
        return private
    try:
        write_whole(copy, stored)
    except OSError as e:  # a read-only run (archived, another user's): read it all the same
        private = _private_space(stored)
        warn_at_caller(
            f"{copy} is missing and cannot be written again ({e.strerror}): the space is read "
            f"from the run's storage, through {private} while this command runs"
        )
        return private
    warn_at_caller(f"{copy} was missing: written again from the run's storage")
    return copy


#: the private copies made so far, by their text: one per text for the whole process
_PRIVATE_SPACES: dict[str, Path] = {}


def _private_space(text: str) -> Path:
    """A space YAML holding `text` in a folder of its own, removed when the process ends; one
    per text, however often a run is read (a notebook polling `load(run)` for hours made a
    folder per read, each kept until the process ended). One that cannot be written is an
    `ExperimentError` naming it (the OS named none: "[Errno 27] File too large")."""
    private = _PRIVATE_SPACES.get(text)
    if private is None or not private.is_file():
        private = Path(tempfile.mkdtemp(prefix="hwnas-space-")) / SPACE_SNAPSHOT
        atexit.register(shutil.rmtree, private.parent, ignore_errors=True)
        try:
            private.write_text(text, encoding="utf-8")
        except OSError as e:
            raise ExperimentError(
                f"{private}: cannot write a copy of the run's space: {e.strerror or e}"
            ) from None
        _PRIVATE_SPACES[text] = private
    return private


def load_snapshot(run_dir: Path) -> ExperimentConfig:
    """The run's copy of its experiment (`SNAPSHOT`); one that cannot be read is said to be
    replaceable: a search with the experiment file writes it again, and the run's storage keeps
    what the run recorded."""
    try:
        return load_experiment(run_dir / SNAPSHOT, stored=True)
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
        "storage": (before.storage.place, config.storage.place),
    }
    changed = [field for field, (old, new) in where.items() if old != new]
    if changed:
        raise ExperimentError(
            f"run {run_dir} was started with other settings of {' and '.join(changed)}, and its "
            "results are stored under those: change them back, or use a new run_dir for a "
            "different experiment"
        )

"""The checks that a continued run is still the experiment it was started as.

A run's study records what its results depend on when it starts (the experiment's settings,
the space's YAML, the digests of a `.npz` dataset and of the latency files, the package
versions); a driver that continues the run compares them with its own and refuses to mix
two experiments in one storage (or, for package versions, warns). Input files are known by
content: one named by another path that holds what the run recorded (a project folder moved
or copied) is the same input, and the run records its new path.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import platform
import sys
import warnings
from pathlib import Path
from typing import Any, NamedTuple

import optuna

from hwnas.evaluators.datasets import load_dataset, npz_digest, npz_retyped
from hwnas.evaluators.tabular import benchmark_files, table_digest
from hwnas.experiments.changes import experiment_changes
from hwnas.experiments.config import (
    ExperimentConfig,
    ExperimentError,
    input_files,
    stored_experiment,
)
from hwnas.experiments.records import (
    BENCHMARK_DIGESTS,
    DATASET_DIGEST,
    DATASET_SCALING,
    EVALUATED,
    EXPERIMENT,
    LATENCY_DIGESTS,
    SPACE_SOURCE,
    VERSIONS,
    outcome_of,
    read_trials,
)
from hwnas.experiments.run_dir import SPACE_SNAPSHOT, same_yaml, space_source
from hwnas.experiments.shown import counted
from hwnas.predictors.fingerprint import package_version
from hwnas.predictors.printable import one_line
from hwnas.spaces import SearchSpace
from hwnas.spaces.callers import warn_at_caller

#: the packages whose version can change what a run proposes or scores: hwnas's defaults,
#: torch's training and weights, measured latencies, Optuna's NSGA-II, the surrogates
RUN_PACKAGES = ("hwnas", "torch", "onnxruntime", "optuna", "scikit-learn", "numpy")
#: the versions' entry for hwnas's code (`source_digest`), and what a run started by an hwnas
#: that did not record it has there
SOURCE, UNRECORDED = "hwnas source", "unrecorded (an earlier hwnas)"


def package_versions() -> dict[str, str]:
    """The installed version of each of `RUN_PACKAGES` ("absent" where one is not), Python's
    (from 3.12 on `sum()` adds floats otherwise, and a result may differ in its last digits)
    and the digest of hwnas's code (`source_digest`)."""
    versions = {p: package_version(p) for p in RUN_PACKAGES}
    return versions | {"python": platform.python_version(), SOURCE: source_digest()}


@functools.cache
def source_digest() -> str:
    """The digest of hwnas's own code and built-in spaces: its version number stays through
    a series of changes (0.1.0 through all of its development), where another default (of
    training, say) makes a resumed run score its new candidates otherwise than its stored
    ones."""
    return code_digest(Path(__file__).resolve().parents[1])


def code_digest(root: Path) -> str:
    """A digest of the `.py` and `.yaml` files under `root`, by relative path and content
    (line endings as `\\n`: a Windows checkout of the same code is the same code)."""
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.suffix in (".py", ".yaml")):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(path.read_bytes().replace(b"\r\n", b"\n") + b"\0")
    return digest.hexdigest()[:12]


def check_same_experiment(
    study: optuna.Study, config: ExperimentConfig, run_dir: Path, space: SearchSpace
) -> list[Move]:
    """Refuse to continue a run with a different space, objectives, searcher, evaluator,
    latency source, seed, dataset or benchmark: its stored results would mix two
    experiments. A new run records what it is started with. Returns the input files read
    at other paths than the run recorded, their content the same, for `record_moves` to
    record once the run goes on (a complete one keeps its record, as its copy of its
    experiment keeps the old paths)."""
    what = run_named(config, run_dir)
    # a shared database finds a run's study by its name alone
    advice = "give it another name" if config.storage.url else "use a new run_dir"
    _check_made_by_hwnas(study, config, what, advice)
    # read back: a driver starting on the same new study at the same moment may have
    # written its own experiment last, and then this one must not go on
    stored = _recorded(study, EXPERIMENT, config.record_data())
    relocated = _relocated_inputs(study, stored, config)
    moves = [m for m in relocated if m.same]
    changed, details = experiment_changes(_with_moves(stored, moves), config)
    if changed:
        if not config.storage.url and not any(
            outcome_of(t) in EVALUATED for t in read_trials(study)
        ):  # a first start that failed (a diverged supernet, say): nothing would be lost
            advice = f"it holds no evaluations: remove {run_dir}, or {advice},"
        if other := [m.new for m in relocated if not m.same and m.recorded]:  # not a move
            details += f"; {', '.join(other)}: not the content the run recorded"
        if unknown := [m for m in relocated if not m.recorded]:  # an earlier hwnas's run
            details += "; " + "; ".join(
                f"{m.new}: the run (started by an earlier hwnas) recorded nothing of its "
                f"content to know it by elsewhere; it resumes with the file at {m.old}"
                for m in unknown
            )
        raise ExperimentError(
            f"{what} was started with other settings of {', '.join(changed)} "
            f"({details}); {advice} for a different experiment"
        )
    _check_same_space(study, space, run_dir)
    _check_same_data(study, config.dataset, run_dir)
    moved = {m.digests[0] for m in moves if m.digests}  # compared as a whole already
    if LATENCY_DIGESTS not in moved:
        _check_same_latency(study, config, run_dir)
    if BENCHMARK_DIGESTS not in moved:
        _check_same_benchmark(study, config, run_dir)
    _warn_other_versions(study, run_dir)
    _name_objectives(study, config)
    return moves


class Move(NamedTuple):
    """An input file the run recorded at `old` and now reads at `new`, and whether with the
    content the run recorded (`same`; never where the run, of an earlier hwnas, `recorded`
    none); `digests` is its digest record keyed by the new paths (`attr`, `{path: digest}`),
    where the run keeps one by path."""

    field: str
    loc: tuple[str, ...]
    old: str
    new: str
    same: bool
    recorded: bool
    digests: tuple[str, dict[str, str]] | None


def with_moved_inputs(
    study: optuna.Study, stored: dict[str, Any], config: ExperimentConfig
) -> dict[str, Any]:
    """The run's recorded experiment `stored` with the input files `config` names at other
    paths, their content what the run recorded, at those paths (`_relocated_inputs`): what a
    read of the run compares its copy of its experiment with, which a shared database's
    study continued from another project folder left naming its own files."""
    return _with_moves(stored, [m for m in _relocated_inputs(study, stored, config) if m.same])


def _relocated_inputs(
    study: optuna.Study, stored: dict[str, Any], config: ExperimentConfig
) -> list[Move]:
    """The input files `config` names by other paths than the run recorded, each the same
    input where its content is what the run recorded: a project moved or copied to another
    folder (inputs are stored by absolute path), or a table found through another
    `$HWNAS_BENCHDATA`. One whose content the run did not record (a run of an earlier
    hwnas), or that differs, is a change."""
    data = config.to_data()
    if all(stored.get(f) == data.get(f) for f in ("space", "dataset", "benchmark", "latency")):
        return []
    before = stored_experiment(stored).with_absolute_inputs(Path.cwd())
    recorded = {field: value for field, _, value in input_files(before, used_only=False)}
    relocated = []
    for field, loc, new in input_files(config, used_only=False):
        old = recorded.get(field)
        if old and old != new and Path(new).is_file():
            relocated.append(Move(field, loc, old, new, *_recorded_content(study, field, config)))
    return relocated


def _recorded_content(
    study: optuna.Study, field: str, config: ExperimentConfig
) -> tuple[bool, bool, tuple[str, dict[str, str]] | None]:
    """Whether the input file of `field` now holds the content the run recorded for it,
    whether the run recorded any (an earlier hwnas's did not), and its digest record keyed
    by its current paths where the run keeps one by path."""
    attrs = study.user_attrs
    if field == "space":
        recorded = SPACE_SOURCE in attrs
        same = recorded and same_yaml(attrs[SPACE_SOURCE], space_source(config.space.name))
        return same, recorded, None
    if field == "dataset":
        npz = str(config.dataset).lower().endswith(".npz")
        recorded = DATASET_DIGEST in attrs
        return npz and attrs.get(DATASET_DIGEST) == npz_digest(str(config.dataset)), recorded, None
    attr, digests = (
        (BENCHMARK_DIGESTS, _benchmark_digests(config))
        if field == "benchmark"
        else (LATENCY_DIGESTS, _latency_digests(config))
    )
    then = attrs.get(attr) or {}
    same = bool(then) and sorted(then.values()) == sorted(digests.values())
    return same, bool(then), (attr, digests)


def _with_moves(stored: dict[str, Any], moves: list[Move]) -> dict[str, Any]:
    """The recorded experiment with each moved input at its new path."""
    data = copy.deepcopy(stored)
    for move in moves:
        *outer, last = move.loc
        place = data
        for key in outer:
            place = place[key]
        place[last] = move.new
    return data


def run_named(config: ExperimentConfig, run_dir: Path) -> str:
    """How messages name a run: by its folder, or, in a shared database (`storage.url`), by
    its study, which several run folders may continue."""
    return f"study {config.name!r} in storage.url" if config.storage.url else f"run {run_dir}"


def record_moves(study: optuna.Study, moves: list[Move], what: str) -> None:
    """Record the moved inputs' new paths (the experiment, and digests kept by path, so a
    later change to a moved file is found), and say so of the run `what` (`run_named`): it is
    the same experiment."""
    if not moves:
        return
    study.set_user_attr(EXPERIMENT, _with_moves(study.user_attrs[EXPERIMENT], moves))
    for attr, digests in dict(m.digests for m in moves if m.digests).items():
        study.set_user_attr(attr, digests)
    moved = "; ".join(f"{m.field} {m.old} -> {m.new}" for m in moves)
    print(
        one_line(
            f"hwnas: note: {what} reads inputs at other paths than it started with, "
            f"their content the same ({moved}): it goes on and records the new paths"
        ),
        file=sys.stderr,
    )


def _check_made_by_hwnas(
    study: optuna.Study, config: ExperimentConfig, what: str, advice: str
) -> None:
    """Refuse a study hwnas did not make (another program's Optuna study of the experiment's
    name in a shared database): the run would record its experiment there, mix its trials
    with the study's own and write over its metric names. hwnas records the experiment
    before its first claim, so a study without that record and without trials, in the
    experiment's directions, is a start of this run stopped before it (or another driver's
    start at this moment), and goes on."""
    if EXPERIMENT in study.user_attrs:
        return
    theirs = [d.name.lower() for d in study.directions]
    trials = len(read_trials(study))
    if trials or theirs != config.study_directions:
        raise ExperimentError(
            f"{what} is not an hwnas run's (no experiment recorded; {counted(trials, 'trial')}, "
            f"directions {', '.join(theirs)}): another program's study? {advice} for "
            "this experiment"
        )


def _name_objectives(study: optuna.Study, config: ExperimentConfig) -> None:
    """Store the objectives' metric names in the study, so optuna-dashboard and Optuna's
    plots label their axes `accuracy`, `latency_ms`, ... rather than "Objective 0", "Objective
    1"; once the run is known to be this experiment, so a refused one is left as it was. A run
    started by an hwnas that did not name them gets them when it is resumed."""
    names = [metric for metric, _ in config.objective_pairs]
    with warnings.catch_warnings():  # experimental in Optuna 5, stable enough to label
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        if study.metric_names != names:
            study.set_metric_names(names)


def _recorded(study: optuna.Study, attr: str, value: Any) -> Any:
    """What the run recorded as `attr` (a study attribute), recording `value` first where
    it has none yet (a new run, or one started before hwnas recorded it)."""
    if attr not in study.user_attrs:
        study.set_user_attr(attr, value)
    return study.user_attrs[attr]


def _warn_other_versions(study: optuna.Study, run_dir: Path) -> None:
    """Say where the run was started with other versions of hwnas or of the packages its
    results depend on (one a run's record lacks is taken to be as now, except hwnas's code:
    an hwnas that did not record it is an earlier one): a changed default or library may
    make the resumed part search or score differently from the stored one. Not refused:
    most upgrades change neither."""
    now = package_versions()
    then = {SOURCE: UNRECORDED} | _started_with(study, now)
    other = [f"{p} {then[p]} (now {v})" for p, v in now.items() if then.get(p, v) != v]
    if other:
        warn_at_caller(
            f"run {run_dir} was started with {', '.join(other)}: the resumed part may "
            "search or score differently (other defaults or library behaviour); use a new "
            "run_dir to keep one set of versions"
        )


def _started_with(study: optuna.Study, now: dict[str, str]) -> dict[str, str]:
    """The versions the run was started with: `now` for a new run (recorded), none known
    for one whose trials an hwnas that recorded no versions stored (left unrecorded: a record
    of today's would claim they made its stored results)."""
    if VERSIONS not in study.user_attrs and read_trials(study):
        return {}
    return _recorded(study, VERSIONS, now)


def _check_same_data(study: optuna.Study, path: str | None, run_dir: Path) -> None:
    """Refuse to continue after the arrays of a `.npz` dataset changed (edited, relabelled,
    or another file under the same name): the stored results were scored on the data as
    it was (a run started before the digest was stored is taken to have had the current
    arrays)."""
    if not path or not path.lower().endswith(".npz") or not Path(path).is_file():
        return  # a built-in, or a missing file the evaluator reports
    digest = npz_digest(path)
    if (recorded := _recorded(study, DATASET_DIGEST, digest)) != digest:
        if retyped := npz_retyped(path, recorded):
            raise ExperimentError(
                f"run {run_dir}: the dataset file {path} changed since the run started "
                f"({retyped}): save them in the run's types again, or use a new run_dir for "
                "the new file"
            )
        raise ExperimentError(
            f"run {run_dir}: the dataset file {path} changed since the run started (its "
            "arrays differ: new results would mix two datasets); restore it, or use a new "
            "run_dir for the new data"
        )
    if DATASET_SCALING not in study.user_attrs:
        scaling = load_dataset(path).standardisation
        _recorded(study, DATASET_SCALING, {"mean": list(scaling.mean), "std": list(scaling.std)})


def _check_same_latency(study: optuna.Study, config: ExperimentConfig, run_dir: Path) -> None:
    """Refuse to continue after the latency predictor or profile file changed (refitted,
    re-measured, another pass added): the stored latencies came from the files as they
    were, and new ones would be another model's (a run started before the digests were
    stored is taken to have had the current files)."""
    why = "new latencies would come from another model than the stored ones"
    digests = _latency_digests(config)
    _check_same_files(study, LATENCY_DIGESTS, digests, run_dir, "latency file", why)


def _latency_digests(config: ExperimentConfig) -> dict[str, str]:
    """The sha256 of each latency file the experiment reads, by path."""
    files = [f for f in _latency_files(config) if f.is_file()]
    return {str(f): hashlib.sha256(f.read_bytes()).hexdigest() for f in files}


def _check_same_benchmark(study: optuna.Study, config: ExperimentConfig, run_dir: Path) -> None:
    """Refuse to continue after the tabular evaluator's tables changed (a table of your own
    edited or regenerated with other numbers) or one of them is gone (the device latencies
    beside the accuracy table, whose columns new results would lack): the stored results
    were looked up in them as they were (a run started before their digests were stored is
    taken to have had the current tables)."""
    if "tabular" not in config.evaluator.names or not config.benchmark:
        return
    why = "new results would be looked up in other numbers than the stored ones"
    digests = _benchmark_digests(config)
    _check_same_files(study, BENCHMARK_DIGESTS, digests, run_dir, "benchmark table", why)


def _benchmark_digests(config: ExperimentConfig) -> dict[str, str]:
    """The digest of each table the tabular evaluator reads (`table_digest`), by path."""
    latency = config.evaluator.settings.get("tabular", {}).get("latency", True)
    files = [f for f in benchmark_files(config.benchmark, latency) if f.is_file()]
    return {str(f): table_digest(f) for f in files}


def _check_same_files(
    study: optuna.Study,
    attr: str,
    digests: dict[str, str],
    run_dir: Path,
    what: str,
    why: str,
) -> None:
    """Refuse to continue when one of the files the run recorded (as `attr`, by path) has
    another digest now, or is gone; a file the record lacks is taken to be as it was."""
    stored = _recorded(study, attr, digests)
    if changed := [f for f, digest in digests.items() if stored.get(f, digest) != digest]:
        raise ExperimentError(
            f"run {run_dir}: the {what} {changed[0]} changed since the run started ({why}); "
            "restore it, or use a new run_dir for the new one"
        )
    if gone := [f for f in stored if f not in digests and not Path(f).is_file()]:
        raise ExperimentError(
            f"run {run_dir}: the {what} {gone[0]} is gone since the run started ({why}); "
            "restore it, or use a new run_dir without it"
        )


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


def _check_same_space(study: optuna.Study, space: SearchSpace, run_dir: Path) -> None:
    """Refuse to continue after the space's YAML changed: the stored architectures were
    proposed and evaluated in the space as it was (a run started before the YAML was
    stored is taken to have had the current one). Comments and layout are no change."""
    source = space_source(space.source)
    if not same_yaml(_recorded(study, SPACE_SOURCE, source), source):
        raise ExperimentError(
            f"run {run_dir}: the space file {space.source} changed since the run "
            f"started ({SPACE_SNAPSHOT} in the run holds the one it started with); use a "
            "new run_dir for the changed space"
        )

"""Reading a run: the trials as a DataFrame, the Pareto front, hypervolume, and plots.

`load(run_dir)` works on any run directory, finished, interrupted or still running, because a
run is just an Optuna study plus the experiment file it was started from.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import optuna
import pandas as pd

from hwnas.experiments.changes import experiment_changes
from hwnas.experiments.config import (
    ExperimentConfig,
    ExperimentError,
    load_experiment,
    stored_experiment,
)
from hwnas.experiments.optuna_storage import (
    DEFAULT_DATABASE,
    open_optuna_storage,
    storage_errors,
    studies_held,
)
from hwnas.experiments.records import (
    ARCH,
    DRIVER,
    EVALUATED,
    EXPERIMENT,
    INTERRUPTED,
    KEY,
    ORIGIN,
    OUTCOME,
    REASON,
    RUNNING,
    STALE,
    VERSIONS,
    check_study_attrs,
    load_study,
    outcome_of,
    read_trials,
    stored_arch,
    supersede,
)
from hwnas.experiments.run_dir import SNAPSHOT, holds_run, load_snapshot, space_copy
from hwnas.experiments.run_identity import with_moved_inputs
from hwnas.experiments.storage import StudyMemo
from hwnas.predictors.whole_files import name_too_long
from hwnas.search import Objective
from hwnas.search.pareto import add_to_front, hypervolume, pareto_mask
from hwnas.search.sweep import latency_targets, memo_searches
from hwnas.spaces import Arch, SearchSpace
from hwnas.spaces.callers import warn_at_caller
from hwnas.spaces.errors import did_you_mean, whole_number
from hwnas.spaces.reprs import facts_repr

if TYPE_CHECKING:  # plotly is imported by the figures alone
    import plotly.graph_objects as go

INFO_COLUMNS = ["number", "key", "status", "reason", "feasible", "finished_s"]
ORIGIN_PREFIX = "origin_"  # columns of what the searcher noted of a proposal's origin
#: names no metric may have: the columns above, and the fields `hwnas pareto --json` writes
#: beside the metrics of a front member
OWN_NAMES = (*INFO_COLUMNS, "trial", "arch", "origin")

Objectives = Sequence[tuple[str, str]]
#: what the public methods take as `objectives` (`objectives_of` reads them): pairs, or
#: "metric:max" strings as the CLI's, or one pair alone
GivenObjectives = Objectives | Sequence[str]


def _row(trial: optuna.trial.FrozenTrial, start: datetime, arch: Arch) -> dict:
    """One evaluation (which stores `arch`) as a row of `RunResults.trials`."""
    metrics = {k: v for k, v in trial.user_attrs.items() if not k.startswith("hwnas_")}
    return {
        "number": trial.number,
        "key": trial.user_attrs[KEY],
        "status": trial.user_attrs[OUTCOME],
        "reason": trial.user_attrs.get(REASON, ""),
        "finished_s": (_utc(trial.datetime_complete) - start).total_seconds(),
        **{ORIGIN_PREFIX + k: v for k, v in trial.user_attrs.get(ORIGIN, {}).items()},
        **dict(arch),
        **metrics,
    }


def _utc(local: datetime) -> datetime:
    """A trial's time as Optuna gives it (naive, in this machine's time zone) in UTC: naive
    local times subtract wrongly across a clock change (every result after the autumn's lost
    an hour). Within the hour the autumn's change repeats they stay ambiguous (Optuna drops
    which of the two it was): read as the first."""
    return local.astimezone(UTC)


def _a_file_for_a_run(path: Path) -> str:
    """What to say of a file given where a run directory belongs; an experiment file (the
    likely mix-up: `hwnas status exp.yaml`) names the run directory it writes, and a run's own
    copy of its experiment that run's folder (its relative run_dir, read from the current
    directory, named another folder from anywhere but the one the run was started in)."""
    if path.name == SNAPSHOT and holds_run(path.parent):
        said = f"{path} is a run's copy of its experiment, not a run directory"
        return f"{said}: the run is {path.parent}"
    try:
        run_dir = load_experiment(path).run_dir
    except ExperimentError:
        return f"{path} is a file, not a run directory"
    return f"{path} is an experiment file, not a run directory: its run is in {run_dir}"


def _not_a_run(run_dir: Path) -> str:
    """What to say of a folder without a run's experiment.yaml; one whose SQLite storage is
    there lost its copy of the experiment, which a search writes again."""
    said = f"{run_dir} is not a run directory (no {SNAPSHOT})"
    if (run_dir / DEFAULT_DATABASE).is_file():
        said += (
            f", but it holds a run's {DEFAULT_DATABASE}: if its {SNAPSHOT} was deleted, "
            "`hwnas search` with the run's experiment file writes it again"
        )
    return said


def load(run_dir: str | Path) -> RunResults:
    """The results of the run in `run_dir` (written by `hwnas search`), as stored when they
    are first read: load a live run again for the evaluations finished since."""
    return RunResults(run_dir)


def parse_objectives(
    specs: Sequence[str], known: Objectives, metrics: Sequence[str] | None = None
) -> list[tuple[str, str]]:
    """`["accuracy:max", "latency_ms"]` as (metric, direction) pairs; a bare metric takes its
    direction from the run's objectives (`known`), so it must be one of them. `metrics`,
    when given, are the run's: a metric not among them (a typo) is refused first."""
    directions = dict(known)
    out = []
    for spec in specs:
        metric, colon, direction = spec.partition(":")
        if metrics is not None and metric not in metrics:
            raise ExperimentError(
                f"objective {spec!r}: no metric {metric!r} in this run"
                f"{did_you_mean(metric, metrics)}; it has {', '.join(metrics)}"
            )
        if not colon and metric not in directions:
            raise ExperimentError(
                f"objective {spec!r}: not one of the run's objectives, so give its direction: "
                f"{metric}:min or {metric}:max"
            )
        direction = direction if colon else directions[metric]
        if direction not in ("min", "max"):
            raise ExperimentError(f"objective {spec!r}: say metric:min or metric:max")
        if metric in dict(out):
            raise ExperimentError(f"objective {spec!r}: {metric} is given twice")
        out.append((metric, direction))
    return out


#: the costs shown beside every point (where the evaluations have them)
COSTS = ("params", "macs", "size_bytes")


class RunResults:
    """One run's evaluations (see `trials`) with the run's objectives and constraints;
    `RunResults(run_dir)`, the folder as text or a path, is `load(run_dir)`.

    Methods taking `objectives` default to the run's and accept (metric, "min" or "max")
    pairs or the CLI's "metric:max" strings."""

    def __init__(self, run_dir: str | Path):
        run_dir = Path(run_dir)  # as `load` takes it: text ("runs/demo") failed on `.exists`
        if problem := name_too_long(run_dir):  # `.exists` gave the OS's bare error
            raise ExperimentError(f"{run_dir}: no such run directory ({problem})")
        if not run_dir.exists():
            raise ExperimentError(f"{run_dir}: no such run directory")
        if run_dir.is_file():
            raise ExperimentError(_a_file_for_a_run(run_dir))
        if not (run_dir / SNAPSHOT).is_file():
            raise ExperimentError(_not_a_run(run_dir))
        self.run_dir = run_dir  # as given, to name the run
        # the folder its files are read from whatever the current directory is later (a
        # notebook's %cd, an unpickled copy in another process): a relative one read the
        # space of another folder of that name, and wrote the space's copy there
        self._folder = run_dir.absolute()
        self._config = load_snapshot(run_dir)
        self._config = self._as_recorded(self._config)  # opens `study`: refused here if gone
        self._archs: dict[int, Arch] = {}  # by trial number, see `_arch_of`
        # fronts and progress by objectives, made once from `trials` (itself read once): a
        # report asked for the same front four times and the same progress twice
        self._fronts: dict[tuple, pd.DataFrame] = {}
        self._progress: dict[tuple, pd.DataFrame] = {}

    @facts_repr
    def __repr__(self) -> list[str]:
        """Its run folder, name, objectives and evaluations, once `trials` has read them
        (showing it reads nothing: a large run's trials take a while)."""
        objectives = ", ".join(f"{metric}:{direction}" for metric, direction in self.objectives)
        read = self.__dict__.get("_trials")  # the cached_property's value, where read
        count = "(evaluations not read yet)" if read is None else f"evaluations={len(read)}"
        return [str(self.run_dir), f"name={self._config.name!r}", f"[{objectives}]", count]

    @property
    def config(self) -> ExperimentConfig:
        """The run's experiment, as the run's storage recorded it where its file was edited
        since. The caller's own copy at each read, as `trials` is: a notebook's change to its
        lists and dicts (`config.objectives.append(...)`, `config.searcher.settings[...]`)
        changed the run's objectives, fronts and exports made after it."""
        return self._config.model_copy(deep=True)

    @property
    def objectives(self) -> list[tuple[str, str]]:
        """The run's objectives, (metric, direction) pairs: a new list at each read, as
        `trials` is a new frame, so a notebook's `objectives.append(...)` for a view of its
        own leaves the run's (the default of every method) as it was."""
        return self._config.objective_pairs

    @property
    def constraints(self) -> list[tuple[str, float]]:
        """The run's constraints, (metric, bound) pairs meaning metric <= bound: a new list at
        each read, as `objectives` is."""
        return self._config.constraint_pairs

    @cached_property
    def study(self) -> optuna.Study:
        """The run's Optuna study, opened as a reader (a missing storage file is refused, not
        made anew); an unpickled `RunResults` opens it again only when it reads more."""
        storage = open_optuna_storage(self._config.storage, self._folder, create=False)
        try:
            with self._reading():
                study = load_study(storage, self._config.name)
                check_study_attrs(study)
        except KeyError:
            name, held = self._config.name, studies_held(storage)
            raise ExperimentError(
                f"{self.run_dir}: no study {name!r} in its storage{held}"
            ) from None
        return study

    def __getstate__(self) -> dict[str, Any]:
        """What was read, without the open storage: Optuna's SQLite storage, unpickled,
        connected at once and created its tables, so unpickling results whose study.db had
        gone wrote an empty one into the run folder (or failed in SQLAlchemy's words where the
        folder had moved), even when everything asked of them had been read."""
        state = self.__dict__.copy()
        state.pop("study", None)
        return state

    def _as_recorded(self, config: ExperimentConfig) -> ExperimentConfig:
        """`config` (the run folder's experiment.yaml) with the settings that made the results
        as the run's storage recorded them where the file was edited since (another
        objective there would show a front the run never searched for)."""
        if (stored := self.study.user_attrs.get(EXPERIMENT)) is None:
            return config
        stored = with_moved_inputs(self.study, stored, config)
        changed, details = experiment_changes(stored, config)
        if not changed:
            return config
        warn_at_caller(
            f"{self.run_dir / SNAPSHOT}: edited since the run started ({details}); the "
            "settings the run's storage recorded, those it ran with, are used"
        )
        recorded, data = stored_experiment(stored).to_data(), config.to_data()
        for f in changed:  # a setting left out is absent from the data
            data.pop(f, None)
            if f in recorded:
                data[f] = recorded[f]
        return stored_experiment(data)

    def _reading(self):
        """Storage errors while reading, naming the storage (a damaged file, a lost server)."""
        return storage_errors(self._config.storage, self.run_dir, advice="")

    @property
    def stored_trials(self) -> list[optuna.trial.FrozenTrial]:
        """Every trial of the study (Optuna's, claims and enqueued ones too), read once: the
        caller's own copies, as Optuna's `study.trials` are (a change to one, or to the list,
        changed the `trials`, `arch` and fronts read after it)."""
        return copy.deepcopy(self._stored_trials)

    @cached_property
    def _stored_trials(self) -> list[optuna.trial.FrozenTrial]:
        """`stored_trials` as read once: `trials`, `arch`, `no_evaluation` and `hwnas status`
        answer from one moment of a live run (`arch` read earlier than `trials` knew none of
        the evaluations finished in between, and the figures of those failed)."""
        with self._reading():
            return read_trials(self.study)

    @cached_property
    def space(self) -> SearchSpace:
        """The space as the run used it: the run's copy of its YAML (a run started before
        runs kept one reads the file its experiment names)."""
        from hwnas.experiments.components import make_space

        with self._reading():
            return make_space(self._config, space_copy(self._folder, self.study))

    @property
    def trials(self) -> pd.DataFrame:
        """One row per evaluation in finishing order (a failure evaluated again since, by
        `hwnas search --retry-failed`, is left out: see `retried`): number, key, status,
        reason, feasible, finished_s (seconds since the run's first trial started), the
        searcher's notes of where each proposal came from as `origin_*` columns (the
        differentiable searcher's `origin_latency_target_ms`, `origin_derived_rank`), one
        column per choice and one per metric. The caller's own copy, as `pareto()`'s is: a
        notebook's change to it (a metric rescaled in place) changed the fronts, hypervolumes
        and figures made after it."""
        return self._trials.copy()

    @cached_property
    def _trials(self) -> pd.DataFrame:
        """`trials` as read once, which the fronts, progress and figures are made of."""
        stored = self._stored_trials
        done = [t for t in stored if _evaluated(t) and t.number not in self._retried]
        done.sort(key=lambda t: (_utc(t.datetime_complete), t.number))
        if not done:
            return pd.DataFrame(columns=INFO_COLUMNS)
        start = min(_utc(t.datetime_start) for t in stored if t.datetime_start)  # enqueued: None
        with self._reading():  # an unreadable architecture names the storage
            rows = [_row(t, start, self._arch_of(t)) for t in done]
        df = pd.DataFrame(rows)
        df.insert(4, "feasible", self._feasible(df))
        self._warn_unstorable(df)
        info = [c for c in INFO_COLUMNS if c in df.columns]
        origin = [c for c in df.columns if c.startswith(ORIGIN_PREFIX)]
        choices = [c for c in self.space.choice_values() if c in df.columns]
        metrics = sorted(set(df.columns) - set(info) - set(origin) - set(choices))
        return df[info + origin + choices + metrics].reset_index(drop=True)

    def claims(self, dead_drivers: Iterable[str]) -> tuple[int, int]:
        """Of the trials `trials` was made of (one moment of the run: read again, an
        evaluation stored in between was neither evaluated nor in flight), how many claims
        the running drivers hold, and how many the `dead_drivers` (their ids) left that are
        owed: neither evaluated since nor being evaluated again (then it counts as in
        flight). Read without copying the trials (`hwnas status` of a run of 10 000 spent
        0.8 s of its 10 copying them)."""
        dead = set(dead_drivers)
        trials = self._stored_trials
        running = [t for t in trials if outcome_of(t) == RUNNING]
        orphaned = [t for t in running if t.user_attrs.get(DRIVER) in dead]
        live = {t.user_attrs.get(KEY) for t in running if t.user_attrs.get(DRIVER) not in dead}
        # claims a stopped driver left (given back, or still marked running): owed until evaluated
        left = orphaned + [t for t in trials if outcome_of(t) in (STALE, INTERRUPTED)]
        owed = {t.user_attrs.get(KEY) for t in left} - set(self._trials["key"]) - live - {None}
        return len(running) - len(orphaned), len(owed)

    @property
    def retried(self) -> list[int]:
        """The trial numbers of the failed evaluations whose architectures were evaluated again
        since (`hwnas search --retry-failed`): kept in the storage as history, left out of
        `trials` (the retry's row is the architecture's result there), counted neither as
        failed nor as evaluations."""
        return sorted(self._retried)

    @cached_property
    def _retried(self) -> set[int]:
        latest: dict[str, optuna.trial.FrozenTrial] = {}
        superseded = (supersede(t, latest) for t in self._stored_trials if _evaluated(t))
        return {t.number for t in superseded if t is not None}

    @property
    def versions(self) -> dict[str, str]:
        """The versions of hwnas and of the packages its results depend on when the run
        started (a driver resuming it with others warns); empty for a run started before
        hwnas recorded them."""
        return dict(self.study.user_attrs.get(VERSIONS, {}))

    def supernet_searches(self) -> pd.DataFrame:
        """One row per supernet search the run's differentiable searcher finished (none for
        other searchers), in target order: `target_ms` (NaN without a target), `derived` (how
        many architectures it proposed) and `wall_time_s`, its training time, which
        `trials.finished_s` leaves out (a search runs before its architectures are claimed)."""
        columns = ["target_ms", "derived", "wall_time_s"]
        if self._config.searcher.name != "differentiable":
            return pd.DataFrame(columns=columns)
        with self._reading():
            searches = memo_searches(StudyMemo(self.study))
        rows = [(s["target_ms"], len(s["derived"]), s["wall_time_s"]) for s in searches]
        return pd.DataFrame(rows, columns=columns).astype({"target_ms": float})

    def targets_not_searched(self) -> list[float]:
        """The latency targets of the differentiable searcher's sweep that no finished
        supernet search has, in the experiment's order: a sweep stopped (by `evaluations`,
        say) before its last targets; raising `evaluations` and resuming searches them.
        Empty for other searchers."""
        if self._config.searcher.name != "differentiable":
            return []
        settings, latency = self._config.searcher.settings, self._config.latency
        one = settings.get("latency_target_ms", latency.target_ms if latency else None)
        searched = set(self.supernet_searches()["target_ms"])
        targets = latency_targets(one, settings.get("latency_targets_ms"))
        return [t for t in targets if t is not None and t not in searched]

    def derived_all_evaluated(self) -> bool:
        """Whether the differentiable searcher has nothing left to propose: every latency target
        of its sweep was searched and every architecture the searches derived was evaluated, so
        a run short of its `evaluations` cannot reach them (its resume ends `exhausted`). False
        for other searchers, and before the first search has finished."""
        if self._config.searcher.name != "differentiable" or self.targets_not_searched():
            return False
        with self._reading():
            searches = memo_searches(StudyMemo(self.study))
        derived = {self.space.arch(d["choices"]).key for s in searches for d in s["derived"]}
        return bool(derived) and derived <= set(self._trials["key"])

    def _warn_unstorable(self, df: pd.DataFrame) -> None:
        """Say which successes hold a missing or infinite objective or constraint value, which
        a run never stores (it records such an evaluation as failed): the storage was edited
        or damaged. They are left out of fronts and hypervolumes (see `_usable`)."""
        ok = df[df["status"] == "ok"]
        needed = dict.fromkeys([m for m, _ in self.objectives + self.constraints])
        bad = {m: ok.loc[~np.isfinite(ok[m]), "number"].tolist() for m in needed if m in ok}
        if bad := {m: numbers for m, numbers in bad.items() if numbers}:
            which = "; ".join(f"{m} in trials {numbers[:5]}" for m, numbers in bad.items())
            warn_at_caller(
                f"{self.run_dir}: successful evaluations with a missing or infinite value, "
                f"which a run never stores ({which}; storage edited or damaged?): left out of "
                "fronts and hypervolumes"
            )

    def _feasible(self, df: pd.DataFrame) -> pd.Series:
        ok = df["status"] == "ok"
        for _, _, kept in self.bounds_kept(df):
            ok &= kept
        return ok

    def bounds_kept(self, df: pd.DataFrame) -> list[tuple[str, float, pd.Series]]:
        """Per constraint, its metric, its bound and which rows of `df` (trials) keep it: a
        row without the metric's value (none given, or not a number) keeps none."""
        return [
            (metric, bound, df.get(metric, pd.Series(np.nan, index=df.index)) <= bound)
            for metric, bound in self.constraints
        ]

    def arch(self, number: int) -> Arch:
        """The `Arch` of the evaluation with this trial number."""
        trial = self._by_number.get(_trial_number(number))
        if trial is None or ARCH not in trial.user_attrs:
            raise ExperimentError(f"{self.run_dir}: no evaluated trial number {number}")
        with self._reading():
            return self._arch_of(trial)

    def _arch_of(self, trial: optuna.trial.FrozenTrial) -> Arch:
        """The architecture `trial` stores, read (and checked against its key) once: a front
        table, a report's hover texts and an export ask again for architectures `trials`
        read, and each read parsed the JSON and hashed the choices again (a report of
        5000 evaluations read every one twice)."""
        if (arch := self._archs.get(trial.number)) is None:
            arch = self._archs[trial.number] = stored_arch(trial)
        return arch

    def no_evaluation(self, number: int) -> str:
        """Why trial `number` has no row in `trials`: there is no such trial, or it is a claim
        that was never evaluated (given back, or left by a stopped driver), whose architecture
        may have been evaluated under another number since."""
        claim = self._by_number.get(_trial_number(number))
        if claim is None:
            return f"no evaluation with trial number {number}"
        again = self._trials.loc[self._trials["key"] == claim.user_attrs.get(KEY), "number"]
        since = f"evaluated as trial {int(again.iloc[0])}" if len(again) else "not evaluated since"
        if claim.number in self._retried:  # `again` has the retry: a failure replaces none
            return (
                f"trial {number} failed ({claim.user_attrs.get(REASON, '')}) and its "
                f"architecture was evaluated again since (--retry-failed), as trial "
                f"{int(again.iloc[0])}"
            )
        return (
            f"trial {number} is a claim that was not evaluated ({outcome_of(claim)}); its "
            f"architecture was {since}"
        )

    @cached_property
    def _by_number(self) -> dict[int, optuna.trial.FrozenTrial]:
        return {t.number: t for t in self._stored_trials}

    def describe(self, arch: Arch) -> str:
        """The architecture in one line (the cell string for NAS-Bench-201)."""
        return describe_arch(self.space, arch)

    # -- fronts ----------------------------------------------------------------------------
    def objectives_of(self, objectives: GivenObjectives | None = None) -> list[tuple[str, str]]:
        """`objectives` as checked (metric, direction) pairs: pairs, a searcher's `Objective`s
        (a mapping is refused: its directions would be dropped), or "metric:max" strings
        as the CLI takes them (a bare metric keeps its direction in the run), or one pair
        alone (`("accuracy", "max")`, not read as two metrics); a direction other than min or
        max is refused, not taken for min."""
        if isinstance(objectives, Mapping):  # its keys alone would be read: bare metrics
            raise ExperimentError(
                f"objectives: (metric, direction) pairs, not a mapping ({objectives!r}): "
                "list(objectives.items()) gives them"
            )
        alone = isinstance(objectives, str | Objective) or _is_pair(objectives)
        if alone or objectives is None:
            given = [objectives] if alone else self.objectives
        elif not isinstance(objectives, Iterable):  # a number: not Python's "has no len()"
            raise ExperimentError(
                "objectives: a list of (metric, 'min'|'max') pairs or 'metric:max' strings, "
                f"not {objectives!r}"
            )
        elif not (given := list(objectives)):
            raise ExperimentError("objectives: give at least one, or None for the run's own")
        specs = [_as_spec(i, o) for i, o in enumerate(given)]
        # failed evaluations store no objective values: with no successful one, a front is
        # empty rather than a view of metrics the run does not have (successes that break a
        # constraint have them all, and a misspelt metric among them is named)
        metrics = self.metrics() if self._trials["status"].eq("ok").any() else None
        return parse_objectives(specs, self.objectives, metrics)

    def metrics(self) -> list[str]:
        """The numeric result columns (not the trial's number, key, status, origin or
        choices)."""
        fixed = set(INFO_COLUMNS) | set(self.origin_columns()) | set(self.space.choice_values())
        return [c for c in self._trials.columns if c not in fixed]

    def origin_columns(self) -> list[str]:
        """The `origin_*` columns: what the searcher noted of where proposals came from."""
        return [c for c in self._trials.columns if c.startswith(ORIGIN_PREFIX)]

    def shown_origins(self, front: pd.DataFrame) -> list[str]:
        """The `origin_*` columns shown beside `front` (`hwnas pareto`'s table, the report's):
        those with a value for any of its members."""
        return [c for c in self.origin_columns() if front[c].notna().any()]

    def origin(self, row: pd.Series) -> dict[str, float | int]:
        """The searcher's note on one row's proposal, by field name (empty when it has none)."""
        values = {c.removeprefix(ORIGIN_PREFIX): float(row[c]) for c in self.origin_columns()}
        return {k: int(v) if v.is_integer() else v for k, v in values.items() if not np.isnan(v)}

    def losses(self, df: pd.DataFrame, objectives: Objectives) -> np.ndarray:
        """The objective columns of `df` as values to minimise."""
        cols = [df[m].to_numpy(float) * (-1 if d == "max" else 1) for m, d in objectives]
        return np.stack(cols, axis=1) if cols else np.zeros((len(df), 0))

    def _feasible_ok(self) -> pd.Series:
        df = self._trials
        return df["status"].eq("ok") & df["feasible"].astype(bool)

    def _usable(self, objectives: list[tuple[str, str]]) -> pd.Series:
        """Which evaluations a front on `objectives` is made of: the successful, feasible ones
        with a finite value of each (a view on a metric that not every evaluation reports,
        such as a second evaluator's, leaves out those without it: NaN would dominate or be
        dominated by nothing; an infinity, which a run never stores for its own objectives but
        an edited file or another evaluator's metric may hold, would make the hypervolume and
        its reference point infinite)."""
        usable = self._feasible_ok()
        for metric, _ in objectives:
            usable &= np.isfinite(self._trials[metric]) if metric in self._trials else False
        return usable

    def shown_metrics(self, objectives: Objectives) -> list[str]:
        """The metrics shown beside a view's points (`hwnas pareto`'s table and JSON, the
        figures' hover texts), each once, those the evaluations have: the view's objectives,
        then the run's (a view of other metrics left out what the run searched for), its
        constrained metrics (why a point is infeasible) and the costs."""
        shown = [m for m, _ in [*objectives, *self.objectives, *self.constraints]]
        shown += list(COSTS)
        return [m for m in dict.fromkeys(shown) if m in self._trials.columns]

    def candidates(self, objectives: GivenObjectives | None = None) -> pd.DataFrame:
        """The successful, feasible evaluations with a value of every objective (the run's,
        whose every success has them, or those given): those a front is made of."""
        return self._trials[self._usable(self.objectives_of(objectives))]

    def pareto(self, objectives: GivenObjectives | None = None) -> pd.DataFrame:
        """The feasible non-dominated evaluations, best in the first objective first; members
        equal in it (a front of three or more objectives has such) by the next objective, and
        so on, then by trial number."""
        objectives = self.objectives_of(objectives)
        if (front := self._fronts.get(tuple(objectives))) is None:
            front = self._fronts[tuple(objectives)] = self._front(objectives)
        return front.copy()  # the caller's own: a change to it never reaches the next caller

    def _front(self, objectives: list[tuple[str, str]]) -> pd.DataFrame:
        df = self.candidates(objectives)
        if df.empty:
            return df
        front = df[pareto_mask(self.losses(df, objectives))]
        # by every objective in turn: sorted by the first alone, members equal in it came in
        # no set order, and `export --top K` could take the worse of two equal-sized networks
        metrics = [m for m, _ in objectives] + ["number"]
        ascending = [d == "min" for _, d in objectives] + [True]
        return front.sort_values(metrics, ascending=ascending, kind="stable")

    def reference_point(self, objectives: GivenObjectives | None = None) -> np.ndarray:
        """The worst feasible value of each objective, pushed 10% of its range further (as a
        loss), so every front point adds volume."""
        objectives = self.objectives_of(objectives)
        candidates = self.candidates(objectives)
        if candidates.empty:
            raise ExperimentError("no feasible successful evaluations to take a reference from")
        losses = self.losses(candidates, objectives)
        lo, hi = losses.min(axis=0), losses.max(axis=0)
        return hi + 0.1 * np.where(hi > lo, hi - lo, np.maximum(np.abs(hi), 1.0))

    def hypervolume(
        self, objectives: GivenObjectives | None = None, reference: Sequence[float] | None = None
    ) -> float:
        """Hypervolume of the feasible front, in the objectives' units (maximised objectives
        negated); the reference point is given as losses or taken from the data. Against a
        given reference, a run without a feasible success yet (a live one's first seconds)
        has 0, as in `progress`."""
        objectives = self.objectives_of(objectives)
        ref, candidates = self._reference(objectives, reference), self.candidates(objectives)
        if candidates.empty:  # failed evaluations may lack the objective columns
            return 0.0
        return hypervolume(self.losses(candidates, objectives), ref)

    def _reference(self, objectives: Objectives, reference: Sequence[float] | None) -> np.ndarray:
        if reference is None:
            return self.reference_point(objectives)
        try:
            ref = np.asarray(reference, float)
        except (TypeError, ValueError, OverflowError):  # an int past a float's range
            ref = None
        if ref is None or ref.shape != (len(objectives),) or not np.isfinite(ref).all():
            raise ExperimentError(
                f"reference needs {len(objectives)} finite numbers (losses: maximised "
                f"objectives negated), got {reference!r}"
            )
        return ref

    def progress(
        self, objectives: GivenObjectives | None = None, reference: Sequence[float] | None = None
    ) -> pd.DataFrame:
        """After each evaluation: elapsed seconds, hypervolume so far and the best value so far
        of each objective (feasible successful evaluations only; while there is none, a
        hypervolume of 0 and no best values)."""
        objectives = self.objectives_of(objectives)
        if reference is not None:
            return self._measure_progress(objectives, reference)
        if (progress := self._progress.get(tuple(objectives))) is None:
            progress = self._progress[tuple(objectives)] = self._measure_progress(objectives)
        return progress.copy()

    def _measure_progress(
        self, objectives: list[tuple[str, str]], reference: Sequence[float] | None = None
    ) -> pd.DataFrame:
        df, usable = self._trials, self._usable(objectives)
        if usable.any():
            ref, losses = self._reference(objectives, reference), self.losses(df, objectives)
        else:  # failed evaluations may lack the objective columns; nothing to measure yet
            ref, losses = None, np.zeros((len(df), len(objectives)))
        # the front and its hypervolume are kept up to date one evaluation at a time (the
        # hypervolume computed again only when the front changed): recomputing both from every
        # evaluation so far took minutes on a run of tens of thousands
        rows, front, volume = [], np.empty((0, len(objectives))), 0.0
        best = np.full(len(objectives), np.nan)
        for i, (use, point, finished) in enumerate(zip(usable, losses, df["finished_s"])):
            if use:
                grown = add_to_front(front, point)
                if grown.shape != front.shape or not np.array_equal(grown, front):
                    front, volume = grown, hypervolume(grown, ref)
                best = np.fmin(best, point)
            row = {"evaluation": i + 1, "finished_s": finished, "hypervolume": volume}
            for j, (metric, direction) in enumerate(objectives):
                row[f"best_{metric}"] = -best[j] if direction == "max" else best[j]
            rows.append(row)
        columns = ["evaluation", "finished_s", "hypervolume", *(f"best_{m}" for m, _ in objectives)]
        return pd.DataFrame(rows, columns=columns)

    # -- figures (plotly) ------------------------------------------------------------------
    def figures(self, objectives: GivenObjectives | None = None) -> dict[str, go.Figure]:
        """Every figure of `hwnas.experiments.plots` for this run, by title."""
        from hwnas.experiments import plots

        return plots.all_figures(self, self.objectives_of(objectives))


def _evaluated(trial: optuna.trial.FrozenTrial) -> bool:
    return outcome_of(trial) in EVALUATED and trial.datetime_complete is not None


def describe_arch(space: SearchSpace, arch: Arch) -> str:
    """An architecture of `space` in one line: the space's standard string where it has one
    (the NAS-Bench-201 cell string), else `describe_blocks`."""
    try:
        return space.to_string(arch)
    except NotImplementedError:
        return describe_blocks(arch)


def describe_blocks(arch: Arch) -> str:
    """`s0 d2 w32: conv k5 d1 e4 int8 | ...; s1 ...` for MetaFormer-style choices; other
    spaces as `name=value` pairs."""
    stages: dict[str, dict[str, object]] = {}
    for name, value in arch.items():
        stage, _, rest = name.partition(".")
        stages.setdefault(stage, {})[rest] = value
    if not all(s.startswith("s") and s[1:].isdigit() for s in stages):
        return " ".join(f"{k}={v}" for k, v in arch.items())
    parts = []
    for stage in sorted(stages, key=lambda s: int(s[1:])):
        c = stages[stage]
        blocks = []
        for j in range(int(c.get("depth", 0))):
            b = {k.split(".", 1)[1]: v for k, v in c.items() if k.startswith(f"b{j}.")}
            knobs = [str(b.get("mixer", "?"))]
            knobs += [f"k{b['kernel']}"] if "kernel" in b else []
            knobs += [f"d{b['dilation']}"] if "dilation" in b else []
            knobs += [f"e{b['expansion']:g}"] if "expansion" in b else []
            knobs += [str(b["precision"])] if "precision" in b else []
            blocks.append(" ".join(knobs))
        parts.append(f"{stage} w{c.get('width', '?')}: " + " | ".join(blocks))
    return "; ".join(parts)


def _trial_number(number: Any) -> int:
    """`number` as a trial number, or an ExperimentError: text, a float (2.7 was read as
    trial 2) or a bool is refused rather than converted."""
    if not whole_number(number):
        raise ExperimentError(f"a trial number is an integer, not {number!r}")
    return int(number)


def _as_spec(i: int, objective: Any) -> str:
    """One objective as the CLI's "metric:direction" (a bare metric keeps its direction in
    the run): from that string, a (metric, direction) pair or an `Objective`."""
    if isinstance(objective, Objective):
        objective = (objective.metric, objective.direction)
    if isinstance(objective, str):
        return objective
    if isinstance(objective, Sequence) and all(isinstance(part, str) for part in objective):
        return ":".join(objective)
    raise ExperimentError(
        f"objectives[{i}]: a (metric, 'min'|'max') pair or 'metric:max', not {objective!r}"
    )


def _is_pair(objectives: Any) -> bool:
    """One (metric, direction) pair given without its list."""
    return (
        isinstance(objectives, tuple)
        and len(objectives) == 2
        and all(isinstance(part, str) for part in objectives)
        and objectives[1] in ("min", "max")
    )

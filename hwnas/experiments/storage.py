"""`RunStore`: a run's Optuna study as the run loop uses it: claims, results, heartbeats,
and the check that a continued run is still the experiment it was started as.

Before a candidate is evaluated the driver *claims* it: a RUNNING trial naming the candidate's
key and the driver. Claims are ordered by trial number, which the storage assigns atomically,
so every driver sharing a study agrees which claim of a key wins (the lowest live one) and
whether a claim still fits in the requested number of evaluations. A driver writes a heartbeat
into the study; the RUNNING claims of a driver that stopped beating (or whose process is gone)
are marked stale and their candidates evaluated again, once, by whoever claims them next.
"""

from __future__ import annotations

import math
import os
import socket
import threading
import time
import uuid
import warnings
from collections import ChainMap, Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, MutableMapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any

import optuna
from optuna.distributions import CategoricalDistribution
from optuna.exceptions import UpdateFinishedTrialError
from optuna.trial import FrozenTrial, TrialState

from hwnas.evaluators.metrics import Metrics
from hwnas.experiments.config import ExperimentConfig, ExperimentError
from hwnas.experiments.optuna_storage import (
    check_stored,
    first_line,
    open_optuna_storage,
    storage_file,
    storage_name,
    studies_held,
)
from hwnas.experiments.records import (
    ARCH,
    DRIVER,
    DUPLICATE,
    EVALUATED,
    INTERRUPTED,
    KEY,
    ORIGIN,
    OUTCOME,
    REASON,
    RETRIED,
    RUNNING,
    STALE,
    SURPLUS,
    check_study_attrs,
    load_study,
    not_finite_reason,
    outcome_of,
    read_trials,
    stored_arch,
    supersede,
    trial_metrics,
)
from hwnas.experiments.run_dir import SNAPSHOT
from hwnas.experiments.run_identity import (
    Move,
    check_same_experiment,
    record_moves,
    run_named,
)
from hwnas.search.nsga2 import optuna_quiet
from hwnas.spaces import Arch, SearchSpace
from hwnas.spaces.callers import HwnasWarning, warn_at_caller

BEAT_PREFIX = f"{DRIVER}:"  # a study attribute per driver: BEAT_PREFIX + its id -> its heartbeat


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


def driver_beats(study: optuna.Study) -> dict[str, dict[str, Any]]:
    """The last heartbeat of each driver that ran `study`, by driver id."""
    attrs = study.user_attrs.items()
    return {n.removeprefix(BEAT_PREFIX): beat for n, beat in attrs if n.startswith(BEAT_PREFIX)}


def ahead_s(beat: Mapping[str, Any]) -> float:
    """How far a heartbeat's time lies in the future of this machine's clock (0 when it does
    not): a beat is stamped before it is stored, so only clocks that disagree put it there."""
    return max(0.0, beat["time"] - time.time())


def dead_drivers(beats: Mapping[str, Mapping[str, Any]], grace_s: float) -> set[str]:
    """The drivers among `beats` (`driver_beats`) that stopped, whose process on this host is
    gone, or that were silent for `grace_s`: their RUNNING claims will never be finished."""
    dead, now, host = set(), time.time(), socket.gethostname()
    for driver, beat in beats.items():
        gone = beat["host"] == host and not _process_alive(driver, beat)
        if beat.get("stopped") or gone or now - beat["time"] > grace_s:
            dead.add(driver)
    return dead


#: the drivers whose heartbeats this process writes (their ids): the only live ones with its pid
_DRIVERS_HERE: set[str] = set()


def _process_alive(driver: str, beat: Mapping[str, Any]) -> bool:
    """Whether the process on this host that wrote `driver`'s `beat` still runs. A beat with
    this process's own pid from a driver it did not start came from an earlier process with
    that pid: a container restarted after its driver was killed (out of memory, `docker
    kill`) runs the new driver at the old one's pid (often 1), and that beat looked alive for
    `grace_s`, so the resumed run waited on the old claims and proposed as a second driver,
    not as the run it continues."""
    if beat["pid"] == os.getpid():
        return driver in _DRIVERS_HERE
    return _pid_alive(beat["pid"])


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
    many, their outcomes (`_tally`), and the latest evaluation of each key among them. The run
    loop reads every trial once per round; counting and judging claims from these plus the
    trials after them, instead of from all, keeps a round's work from growing with the run (it
    made long runs quadratic: a third of a tabular evaluation's time at 3000 trials)."""

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
            _tally([trials[self.size]], self.counts, self.evaluated)
            self.size += 1
        return trials[self.size :]


def _tally(
    trials: Iterable[FrozenTrial], counts: Counter[str], latest: MutableMapping[str, FrozenTrial]
) -> None:
    """Count `trials` (in number order, after those `counts` and `latest` hold) by outcome,
    each evaluation made its key's latest in `latest`; a failed evaluation one supersedes
    (`supersede`: evaluated again since) moves from `failed` to `retried`."""
    for t in trials:
        outcome = outcome_of(t)
        counts[outcome] += 1
        if outcome in EVALUATED and supersede(t, latest) is not None:
            counts["failed"] -= 1
            counts[RETRIED] += 1


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
        if not existing:
            self._check_no_other_study()
        try:
            with optuna_quiet():
                self.study = (
                    load_study(self.storage, config.name)
                    if existing
                    else optuna.create_study(
                        storage=self.storage,
                        study_name=config.name,
                        directions=config.study_directions,
                        load_if_exists=True,
                    )
                )
        except KeyError:  # Optuna's "Record does not exist": no study of that name there
            held = studies_held(self.storage)
            self.close()
            where = storage_name(config.storage, run_dir)
            raise ExperimentError(f"{where}: no study {config.name!r}{held} ({gone})") from None
        check_study_attrs(self.study)
        self.study_id = self.study._study_id
        self.driver = uuid.uuid4().hex[:12]
        self.started = time.time()  # orders the drivers' streams (`stream`)
        self.grace_s = grace_of(config)
        self._said_skewed: set[str] = set()  # the peers whose clock was warned of
        self._beat_times: dict[str, float] = {}  # each peer's heartbeat time last read
        self._distributions = {
            name: CategoricalDistribution(values) for name, values in space.choice_values().items()
        }
        self._settled = _Settled()

    def _check_no_other_study(self) -> None:
        """Refuse to start a run in a run directory whose own storage holds another run's
        study (its `experiment.yaml` deleted, then the experiment renamed): the new study
        would hide the stored results from every command that reads the run. A shared
        database (`storage.url`) holds many runs' studies."""
        if self.config.storage.url:
            return
        others = [s.study_name for s in self.storage.get_all_studies()]
        if others and self.config.name not in others:
            self.close()
            raise ExperimentError(
                f"{self.name} holds the results of study {others[0]!r}, not {self.config.name!r} "
                f"(the run's {SNAPSHOT} is missing): to continue that run, give the "
                f"experiment name: {others[0]}; for another experiment, use a new run_dir"
            )

    @property
    def name(self) -> str:
        """How messages name the run's storage: its file, or `storage.url`."""
        return storage_name(self.config.storage, self.run_dir)

    def close(self) -> None:
        """Let go of the database (its connections hold the files open)."""
        if isinstance(self.storage, optuna.storages.RDBStorage):
            self.storage.engine.dispose()

    def memo(self) -> StudyMemo:
        """Where the run's searcher keeps costly work between processes (`Searcher.memo`)."""
        return StudyMemo(self.study)

    def check_same_experiment(self) -> list[Move]:
        """Refuse to continue a run that is not the experiment it was started as
        (`run_identity.check_same_experiment`); the inputs it reads at other paths, their
        content the same, for `record_moves`."""
        return check_same_experiment(self.study, self.config, self.run_dir, self.space)

    def record_moves(self, moves: list[Move]) -> None:
        """Record the new paths of inputs read at other paths (`run_identity.record_moves`)."""
        record_moves(self.study, moves, run_named(self.config, self.run_dir))

    # -- liveness --------------------------------------------------------------------------
    def heartbeat(self, stopped: bool = False) -> None:
        beat = {"host": socket.gethostname(), "pid": os.getpid(), "time": time.time()}
        beat |= {"started": self.started, "stopped": stopped}  # started: orders the streams
        _DRIVERS_HERE.add(self.driver)
        self.study.set_user_attr(BEAT_PREFIX + self.driver, beat)

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
                    # or peers would soon take this live driver's claims for stale ones; what
                    # the database said ("database is locked"), not Optuna's generic message
                    message = f"heartbeat not stored ({first_line(e)}); trying again"
                    warnings.warn(message, HwnasWarning, stacklevel=1)

        def stop() -> None:
            done.set()
            thread.join()
            self.heartbeat(stopped=True)

        self.heartbeat()
        thread = threading.Thread(target=beat, name="hwnas-heartbeat", daemon=True)
        thread.start()
        undone = f"{self.name}: this driver's last heartbeat was not stored"
        effect = "drivers on other machines take it for stopped only after storage.grace_s"
        with cleaned_up(stop, undone, effect):
            yield

    def stream(self) -> int:
        """This driver's place among the drivers alive, in the order they started (0 when
        alone): its searcher's proposal stream, so drivers sharing a run propose different
        candidates. By start, not by the random driver id: a driver joining later never
        takes stream 0 from one already running, which goes on proposing what a lone run
        would (a beat written by an hwnas without `started` sorts first)."""
        beats = driver_beats(self.study)
        dead = self._dead_drivers(beats)
        alive = {d: beat.get("started", 0.0) for d, beat in beats.items() if d not in dead}
        alive[self.driver] = self.started
        return sorted(alive, key=lambda d: (alive[d], d)).index(self.driver)

    def _dead_drivers(self, beats: Mapping[str, Mapping[str, Any]] | None = None) -> set[str]:
        """The other drivers that are dead (`dead_drivers`), from `beats` when given (read
        once from the storage), warning of clocks that disagree meanwhile."""
        beats = driver_beats(self.study) if beats is None else beats
        self._say_clocks_off(beats)
        return dead_drivers(beats, self.grace_s) - {self.driver}

    def _say_clocks_off(self, beats: Mapping[str, Mapping[str, Any]]) -> None:
        """Warn, once a peer, of a running driver whose machine's clock disagrees with this
        one's: liveness compares the clocks, so the driver whose clock is behind looks silent
        to the other, which takes its live claims for stale and evaluates them again."""
        for driver, beat in beats.items():
            off = self._clock_off(driver, beat)
            if off is None or driver in self._said_skewed:
                continue
            self._said_skewed.add(driver)
            warn_at_caller(
                f"the driver on {beat['host']} (pid {beat['pid']}) stamps its heartbeats {off}: "
                "drivers sharing a run need clocks that agree well within storage.grace_s "
                f"({self.grace_s:g} s), or the one whose clock is behind looks dead to the "
                "other, which takes its claims for stale and evaluates them again; "
                "synchronise the clocks (NTP)"
            )

    def _clock_off(self, driver: str, beat: Mapping[str, Any]) -> str | None:
        """How far a running peer's heartbeat shows its clock is off this machine's, or None:
        more than a heartbeat in this machine's future (a beat is stamped before it is
        stored), or new since the last look yet already older than `grace_s` (a paused
        driver's new beat is new, a dead one writes none; one stored that late, from a
        database locked that long, reads the same). None for a peer on this machine, which
        shares its clock (paused between stamping a beat and storing it, it stores one that
        old)."""
        before, self._beat_times[driver] = self._beat_times.get(driver), beat["time"]
        off = beat["time"] - time.time()
        if beat.get("stopped") or driver == self.driver or beat["host"] == socket.gethostname():
            return None
        if off > self.config.storage.heartbeat_s:
            return f"{off:.0f} s ahead of this machine's clock"
        if before not in (None, beat["time"]) and -off > self.grace_s:
            return f"{-off:.0f} s behind this machine's clock (or stores them that late)"
        return None

    def fail_stale(self) -> list[Arch]:
        """Mark RUNNING claims of dead drivers stale; their archs, to evaluate again. Only the
        state is written (a claim ended still saying `running` reads as stale, `outcome_of`):
        a driver taken for dead may be alive (paused past grace_s, a clock behind) and storing
        its result meanwhile, and an outcome written here landed over its own, so a stored
        evaluation read as a stale claim (evaluated again) and a failure lost its reason."""
        dead = self._dead_drivers()
        left = [t for t in self.trials() if t.state == TrialState.RUNNING]
        return [
            stored_arch(t)
            for t in left
            if t.user_attrs.get(DRIVER) in dead and self._end(t._trial_id)
        ]

    # -- trials ----------------------------------------------------------------------------
    def trials(self) -> list[FrozenTrial]:
        """All of the run's trials, in number order (as Optuna's storages give them)."""
        return read_trials(self.study)

    def evaluated(self, trials: list[FrozenTrial] | None = None) -> Mapping[str, FrozenTrial]:
        """The latest evaluated trial of every key (ok or failed evaluation: a key's result,
        which a retry of a failure replaces), of `trials` (all of the run's, as one read of
        the storage) when given, else of a new read. A read-only view over the settled ones
        and those after them: the run loop asks each round, and a copy of every settled
        evaluation would grow with the run."""
        trials = self.trials() if trials is None else trials
        later: dict[str, FrozenTrial] = {}
        for t in self._settled.rest(trials):
            if outcome_of(t) in EVALUATED:
                later[t.user_attrs[KEY]] = t
        return ChainMap(later, MappingProxyType(self._settled.evaluated))

    def counts(self, trials: list[FrozenTrial] | None = None) -> dict[str, int]:
        """Trials by outcome, of `trials` (all of the run's, as one read of the storage) when
        given, else of a new read; a failed evaluation evaluated again since counts as
        `retried`, not `failed` (`_tally`), so `ok` plus `failed` are the run's evaluations."""
        trials = self.trials() if trials is None else trials
        rest = self._settled.rest(trials)  # settles first: then the counts are copied
        counts = Counter(self._settled.counts)
        _tally(rest, counts, ChainMap({}, self._settled.evaluated))
        outcomes = (*EVALUATED, RETRIED, RUNNING, STALE, DUPLICATE, SURPLUS, INTERRUPTED)
        return {o: counts[o] for o in outcomes}

    def history(self, trials: list[FrozenTrial] | None = None) -> list[tuple[Arch, Metrics | None]]:
        """Every candidate any driver claimed, in claim order, with its latest result (None
        while not evaluated; a retry's once it is stored): what `Searcher.restore` rebuilds
        its state from; of `trials` (all of the run's, as one read of the storage) when given,
        else of a new read."""
        first: dict[str, Arch] = {}
        results: dict[str, Metrics] = {}
        for t in self.trials() if trials is None else trials:  # in number order: claim order
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
        retry: Mapping[str, int] = MappingProxyType({}),
    ) -> list[ClaimOutcome]:
        """Claim `archs` for evaluation by this driver; `limit` caps the run's evaluations;
        `origin(arch)` (the searcher's note of where it came from) is stored with each claim;
        `retry` maps the keys to evaluate again (`--retry-failed`) to the trial number of the
        failed evaluation each replaces.

        A claim wins when no evaluation of its key exists, no live claim of its key has a lower
        trial number, and the evaluations plus live claims before it leave room under `limit`.
        A retry claim wins when no evaluation of its key came after the failed one it
        replaces and no live claim of its key has a lower number, whatever `limit`: it adds no
        evaluation to the count (its result supersedes the failure, `supersede`).
        """
        claims: list[Claim] = []
        try:
            for a in archs:  # one by one: an interrupt keeps those already created
                claims.append(self._create_claim(a, origin(a)))
            # in number order already: sorting them again looked at every trial of the run at
            # each claim (a tenth of a journal run's time at 4000 evaluations)
            trials = self.trials()
            outcomes = []
            for c in claims:
                why, metrics = self._judge(c, trials, limit, retry.get(c.arch.key))
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
        self, claim: Claim, trials: list[FrozenTrial], limit: int | None, retried: int | None
    ) -> tuple[str, Metrics | None]:
        """Why `claim` loses (and the latest stored result of its key, when evaluated before),
        or "" when it wins; `retried`: for a retry claim, the number of the failed evaluation
        it replaces; see `claim`. The settled trials all come before a live claim, unless
        another driver ended it meanwhile (taken for stale)."""
        rest = self._settled.rest(trials)
        counts, latest = Counter(self._settled.counts), ChainMap({}, self._settled.evaluated)
        if claim.number < self._settled.size:
            counts, latest, rest = Counter(), {}, trials
        key = claim.arch.key
        _tally([t for t in rest if t.number < claim.number], counts, latest)
        mine = [latest[key]] if key in latest else []
        mine += [t for t in rest if t.number > claim.number and self._evaluates(t, key)]
        if mine and (retried is None or mine[-1].number > retried):
            return "evaluated before", trial_metrics(mine[-1])
        if any(t.number < claim.number and self._claims(t, key) for t in rest):
            return "claimed by another evaluation", None
        before = sum(counts[o] for o in (*EVALUATED, RUNNING))
        if retried is None and limit is not None and before >= limit:
            return SURPLUS, None
        return "", None

    @staticmethod
    def _evaluates(trial: FrozenTrial, key: str) -> bool:
        """Whether `trial` is an evaluation of `key`."""
        return trial.user_attrs.get(KEY) == key and outcome_of(trial) in EVALUATED

    @staticmethod
    def _claims(trial: FrozenTrial, key: str) -> bool:
        """Whether `trial` is a live claim of `key`."""
        return trial.user_attrs.get(KEY) == key and outcome_of(trial) == RUNNING

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
        claim before the result was stored); a missing or NaN objective or constraint metric
        makes it failed."""
        bad = [m for m in self.config.needed_metrics if not math.isfinite(metrics.get(m, math.nan))]
        if metrics.ok and bad:
            metrics = Metrics.failed(not_finite_reason(bad), metrics)
        try:
            self._write_result(claim.trial_id, metrics)
        except UpdateFinishedTrialError:
            raise ClaimLost(f"trial {claim.number} was closed by another driver") from None
        return metrics

    def _write_result(self, trial_id: int, metrics: Metrics) -> None:
        """The metrics, then the outcome, which makes them an evaluation (`outcome_of` reads a
        finished trial by its outcome), then the state. A driver that took this one for dead
        may end the claim before the state write: the result is stored all the same (read as
        evaluated by every driver, whose claim of the candidate takes it), so that write's
        refusal is no lost claim."""
        for name, value in metrics.items():
            self.storage.set_trial_user_attr(trial_id, name, value)
        if metrics.ok and self.config.constraints:
            violation = [metrics[m] - bound for m, bound in self.config.constraint_pairs]
            self.storage.set_trial_system_attr(trial_id, "constraints", violation)
        self.storage.set_trial_user_attr(trial_id, REASON, metrics.reason)
        self.storage.set_trial_user_attr(trial_id, OUTCOME, metrics.status)
        values = [metrics[m] for m, _ in self.config.objective_pairs] if metrics.ok else None
        with suppress(UpdateFinishedTrialError):
            self.storage.set_trial_state_values(
                trial_id, TrialState.COMPLETE if metrics.ok else TrialState.FAIL, values
            )

    def release(self, claims: Iterable[Claim], why: str = "the driver was interrupted") -> None:
        """Give claims back unevaluated (Ctrl-C): a resumed run evaluates them again."""
        for c in claims:
            self._close(c.trial_id, INTERRUPTED, why)

    def _close(self, trial_id: int, outcome: str, reason: str) -> bool:
        """End a claim unevaluated; False when another driver already closed it."""
        try:
            self.storage.set_trial_user_attr(trial_id, REASON, reason)
            self.storage.set_trial_user_attr(trial_id, OUTCOME, outcome)
        except UpdateFinishedTrialError:
            return False
        return self._end(trial_id)

    def _end(self, trial_id: int) -> bool:
        """Put a claim in the state FAIL; False when another driver already ended it."""
        try:
            self.storage.set_trial_state_values(trial_id, TrialState.FAIL)
        except UpdateFinishedTrialError:
            return False
        return True


@contextmanager
def cleaned_up(cleanup: Callable[[], object], undone: str, effect: str) -> Iterator[None]:
    """Run the block, then `cleanup()` (storage writes that end it) however the block ends.
    Where the block raised, a cleanup that fails too is a warning (what it left `undone`, why,
    and the `effect`) and the block's exception goes on: raised in its place, a storage that
    failed as the claims of a Ctrl-C were given back (a full disk, a journal made read-only)
    ended the search as that storage error (status 1), not as the resumable stop it is (a
    lost Ray cluster or a searcher's error as that storage error too). An `ExperimentError`
    of the cleanup (a result Ray finished by a Ctrl-C lacking a metric the objectives name)
    goes on in its place: the experiment needs fixing, which resuming would only meet again."""
    try:
        yield
    except BaseException:
        try:
            cleanup()
        except ExperimentError:
            raise
        except Exception as e:  # noqa: BLE001 - any failure of it: the block's error comes first
            warn_at_caller(f"{undone} ({first_line(e)}); {effect}")
        raise
    cleanup()


def _pid_alive(pid: int) -> bool:
    """Whether process `pid` of this machine still runs (a zombie does not)."""
    if os.name == "nt":
        return _windows_pid_alive(pid)
    try:
        os.kill(pid, 0)  # signal 0: the checks without a signal (not so on Windows)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return not _is_zombie(pid)


#: OpenProcess's right to read a process's exit code (no _winapi constant names it)
_QUERY_LIMITED_INFORMATION = 0x1000


def _windows_pid_alive(pid: int) -> bool:
    """`_pid_alive` on Windows, where `os.kill(pid, 0)` sends a Ctrl-C (signal 0 is
    CTRL_C_EVENT there) or fails with WinError 87: `hwnas search` and `hwnas status`,
    which check the run's drivers on this machine, interrupted or failed.
    A process that ended with exit code 259 (STILL_ACTIVE) reads as running."""
    import _winapi

    try:
        handle = _winapi.OpenProcess(_QUERY_LIMITED_INFORMATION, False, pid)
    except PermissionError:  # another user's process
        return True
    except OSError:  # no such process
        return False
    try:
        return _winapi.GetExitCodeProcess(handle) == _winapi.STILL_ACTIVE
    finally:
        _winapi.CloseHandle(handle)


def _is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1].startswith("Z")
    except (OSError, IndexError):
        return False

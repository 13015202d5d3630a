"""The run loop: ask the searcher, claim in storage, evaluate on the executor, store, tell.

The loop keeps `executor.max_in_flight` evaluations busy, stops at the requested number of
evaluations (counted over every driver sharing the study) or at the time limit, and can always
be resumed: on start it rebuilds the searcher from the stored trials (`Searcher.restore`) and
evaluates again the candidates a stopped driver left unfinished. Ctrl-C (or SIGTERM, as from
`timeout` or a batch scheduler, or SIGHUP, as from a closed terminal) gives the in-flight claims
back and leaves a resumable run; a failed evaluation is a result like any other. An evaluation that
succeeds without a metric the objectives or constraints name stops the run at once: no candidate
would ever have it.
"""

from __future__ import annotations

import shlex
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path

import yaml
from optuna.trial import FrozenTrial

from hwnas.evaluators.executors import ClusterLost
from hwnas.evaluators.metrics import Metrics
from hwnas.evaluators.ray_runtime import address_form_problem
from hwnas.experiments.components import (
    check_executor,
    check_scored_metrics,
    latency_predictor,
    latency_source,
    make_evaluator,
    make_executor,
    make_searcher,
    make_space,
)
from hwnas.experiments.config import (
    ExperimentConfig,
    ExperimentError,
    check_inputs_found,
    check_new_run,
    load_experiment,
)
from hwnas.experiments.files import removed_if_left_empty
from hwnas.experiments.optuna_storage import storage_errors
from hwnas.experiments.progress import SearchProgress
from hwnas.experiments.records import (
    EVALUATED,
    EXPERIMENT,
    KEY,
    RETRIED,
    RUNNING,
    SURPLUS,
    outcome_of,
    stored_arch,
    trial_metrics,
)
from hwnas.experiments.results import load
from hwnas.experiments.run_dir import (
    SNAPSHOT,
    check_new_run_dir,
    check_not_a_runs_copy,
    check_run_dir,
    check_same_storage,
    space_source,
    write_copies,
)
from hwnas.experiments.shown import bound_text, counted, metric_text
from hwnas.experiments.storage import Claim, ClaimLost, RunStore, cleaned_up
from hwnas.predictors.stop_signals import interrupts_held, terminate_as_interrupt
from hwnas.predictors.whole_files import name_too_long
from hwnas.spaces import Arch
from hwnas.spaces.callers import warn_at_caller
from hwnas.spaces.yaml_files import ReadableDumper

ALREADY_COMPLETE = "already complete"  # the run had its evaluations: nothing was started
EXHAUSTED = "exhausted"  # the searcher proposed no more candidates
# after a locked or unreachable database
STORED_RESULTS_KEPT = "the stored results are kept: run the search again to go on"


@dataclass(frozen=True)
class RunSummary:
    """How a `run_experiment` call ended."""

    run_dir: Path
    evaluated: int  # evaluations in the store (every driver), ok and failed
    failed: int
    by_this_driver: int
    # "evaluations", "time limit", EXHAUSTED or ALREADY_COMPLETE (an interrupt raises)
    stopped_by: str
    # every architecture of the space was evaluated: a run `exhausted` short of that has
    # searches (the differentiable searcher's) that derived no more
    space_exhausted: bool = False
    # failed evaluations evaluated again since (`retry_failed`), counted in neither of the above
    retried: int = 0


def run_experiment(
    config: ExperimentConfig | str | Path,
    *,
    address: str | None = None,
    resume: bool = False,
    progress: bool = True,
    retry_failed: bool = False,
    note_nothing_feasible: bool = True,
) -> RunSummary:
    """Run (or continue) the search `config` (or the experiment file it names) describes; see
    the module docstring. An existing run in its `run_dir` is continued; `resume=True` requires
    one (an `ExperimentError` where there is none). `retry_failed` first evaluates again, once
    each, every architecture whose latest evaluation in the run failed (a killed worker, a
    timeout: failures by chance), then searches on as usual: a retry is a new trial of the
    architecture, whose result replaces the failure's (which stays stored, counted as `retried`,
    neither as failed nor toward `evaluations`). `address` evaluates on that Ray cluster
    (`auto`, `host:port`, `ray://...`; `local`: an embedded one) whatever the experiment's
    `executor.kind` says (an empty one is refused, as `hwnas search --address ""` is);
    `progress` shows the live progress display. Ctrl-C raises `KeyboardInterrupt` (SIGTERM and
    SIGHUP: `Terminated`, a subclass of it) and a lost Ray cluster `ClusterLost`, each once the
    evaluations in flight are given back: the run can be resumed. A run whose every successful
    evaluation broke a constraint ends with a note saying so on stderr (`say_nothing_feasible`),
    but with `note_nothing_feasible=False`, for a caller that says it itself (`hwnas search`,
    after its summary line)."""
    received: list[int] = []  # Ctrl-C, SIGTERM, SIGHUP, kept in case a callback swallows one
    with terminate_as_interrupt(received):
        return _run_experiment(
            config, address, resume, progress, received, retry_failed, note_nothing_feasible
        )


def address_problem(address: str | None) -> str | None:
    """Why `address` names no Ray cluster to run on, or None: an empty one (an unset shell
    variable, say) is a mistake, not "no address" (which ran the search on this machine),
    and one of no Ray address's form (`address_form_problem`) is refused before anything,
    for a complete run too (which connects to none: a typo was taken unsaid)."""
    if address is None:
        return None
    if not (isinstance(address, str) and address.strip()):
        return f"{address!r}: give auto, local, host:port or ray://host:port, or leave it out"
    return address_form_problem(address)


def _run_experiment(
    config: ExperimentConfig | str | Path,
    address: str | None,
    resume: bool,
    progress: bool,
    received: list[int],
    retry_failed: bool,
    note_nothing_feasible: bool,
) -> RunSummary:
    if problem := address_problem(address):
        raise ExperimentError(f"address: {problem}")
    if isinstance(config, str | Path):
        config = load_experiment(config)
    if not isinstance(config, ExperimentConfig):
        raise TypeError(f"config must be an ExperimentConfig or an experiment file, not {config!r}")
    config = config.with_absolute_inputs(Path.cwd())
    summary = _search(config, address, resume, progress, received, retry_failed)
    if note_nothing_feasible:
        say_nothing_feasible(config, summary)
    return summary


def _search(
    config: ExperimentConfig,
    address: str | None,
    resume: bool,
    progress: bool,
    received: list[int],
    retry_failed: bool,
) -> RunSummary:
    """Check and build every part of the run of `config` (its inputs absolute), then store and
    search it."""
    run_dir = Path(config.run_dir)
    if problem := name_too_long(run_dir):  # `.is_file` gave the OS's bare error
        raise ExperimentError(f"run_dir {run_dir}: {problem}")
    if not (run_dir / SNAPSHOT).is_file():  # a new run
        check_not_a_runs_copy(config, run_dir)
        if resume:
            raise ExperimentError(
                f"no run to resume in {run_dir} (no {SNAPSHOT}); leave out --resume "
                "(resume=True in Python) to start it"
            )
        check_new_run(config)
    check_inputs_found(config)
    space = make_space(config)  # every part is built (and checked) before anything is written
    check_executor(config, address)
    predictor = latency_predictor(config, space)
    if predictor is not None and progress:
        _say_latency_device(config, predictor)
    _say_latency_gaps(config, space, predictor)
    _say_test_split_selects(config)
    _say_maximised_metric_capped(config)
    _say_left_out(space)
    searcher = make_searcher(config, space, progress, predictor)
    evaluator = make_evaluator(config, space, predictor)
    check_scored_metrics(config, evaluator)
    store = None
    try:
        with storage_errors(config.storage, run_dir, STORED_RESULTS_KEPT):
            # a folder this start made is removed again if it fails before storing anything (a
            # refused shared-database run, say)
            with removed_if_left_empty(run_dir):
                check_new_run_dir(config, run_dir)
                check_run_dir(run_dir)
                check_same_storage(config, run_dir)
                existing = (run_dir / SNAPSHOT).is_file()
                # a new run's executor (which may start Ray and refuse its resources) is made
                # before the run directory gets a storage; an existing run is checked first: a
                # complete one needs none
                executor = None if existing else make_executor(config, evaluator, address)
                with _closed_on_error(executor):
                    store = RunStore(config, run_dir, space, existing)
                    moves = store.check_same_experiment()
                    if not existing:
                        _say_joined(config, store)
                    searcher.memo = store.memo()
                    if existing and (ended := _nothing_to_start(config, store, retry_failed)):
                        return ended  # the stored experiment stays the one that made the run
                    store.record_moves(moves)  # as the run's copy of its experiment does next
                    # as hwnas reads it back: plain safe_dump left text such as a name
                    # `1e5` unquoted, which the run then read as a number and refused
                    snapshot = yaml.dump(config.to_data(), Dumper=ReadableDumper, sort_keys=False)
                    write_copies(run_dir, snapshot, space_source(space.source))
            executor = executor or make_executor(config, evaluator, address)
            loop = _Loop(config, store, searcher, executor, received, retry_failed)
            return loop.run(progress)
    finally:
        if store is not None:
            store.close()


def say_nothing_feasible(config: ExperimentConfig, summary: RunSummary) -> None:
    """Say when every successful evaluation broke a constraint, naming each with the least
    value its metric reached: a run's end (`hwnas search`'s line counted them as any others)
    left it to `hwnas status` or `pareto` to tell that it has nothing feasible (no front, no
    best) to export, and in Python said nothing at all."""
    if not config.constraint_pairs or summary.evaluated == summary.failed:
        return  # every evaluation failed (an error), or none was made
    results = load(summary.run_dir)
    if not results.candidates().empty:
        return
    ok = results.trials[results.trials["status"] == "ok"]
    constraints = results.constraints
    bounds = ", ".join(
        f"{m} <= {bound_text(b)} (least: {metric_text(ok[m].min())})" for m, b in constraints
    )
    # absolute: no run directory named like an option (-x) for the command to take for one
    status = f"hwnas status {shlex.quote(str(summary.run_dir.absolute()))}"
    print(
        f"hwnas: note: no successful evaluation met the constraint{'s' * (len(constraints) > 1)} "
        f"{bounds}: nothing is feasible; details: {status}",
        file=sys.stderr,
    )


def _say_joined(config: ExperimentConfig, store: RunStore) -> None:
    """Say when a new run directory starts on a shared database's study (`storage.url`) that
    already holds evaluations: a run is found there by its name alone, so this run continues
    them (another run directory's, or those of a run directory deleted since) rather than
    searching anew, and it counts them toward its `evaluations`."""
    counts = store.counts()
    if not config.storage.url or not (done := counts["ok"] + counts["failed"]):
        return
    started_in = store.study.user_attrs[EXPERIMENT].get("run_dir")
    print(
        f"hwnas: note: study {config.name!r} in storage.url holds {counted(done, 'evaluation')} "
        f"already (started in run_dir {started_in}): this run continues it; give the "
        "experiment another name to search anew",
        file=sys.stderr,
    )


def _nothing_to_start(
    config: ExperimentConfig, store: RunStore, retry_failed: bool = False
) -> RunSummary | None:
    """The summary of a run with nothing to evaluate: it has its `evaluations`, or every
    architecture of its space was evaluated (a resume found that only after its executor,
    perhaps an embedded Ray, had started), and no failure is to be evaluated again."""
    summary = _summary(config, store, stopped_by="", by_this_driver=0)
    if retry_failed and summary.failed:
        return None
    if config.evaluations is not None and summary.evaluated >= config.evaluations:
        return replace(summary, stopped_by=ALREADY_COMPLETE)
    if summary.space_exhausted:
        return replace(summary, stopped_by=EXHAUSTED)
    return None


def _summary(
    config: ExperimentConfig, store: RunStore, stopped_by: str, by_this_driver: int
) -> RunSummary:
    """The run's summary as its storage holds it now (one read): its evaluations, failed and
    retried ones, and whether they cover the space, which tells a run whose searcher ran out
    on the space apart from a differentiable searcher's last derived architectures."""
    trials = store.trials()
    counts = store.counts(trials)
    return RunSummary(
        Path(config.run_dir),
        counts["ok"] + counts["failed"],
        counts["failed"],
        by_this_driver,
        stopped_by,
        len(store.evaluated(trials)) >= store.space.cardinality,
        counts[RETRIED],
    )


@contextmanager
def _closed_on_error(executor) -> Iterator[None]:
    """Close `executor` (and a Ray it started) if the run is refused before its loop."""
    try:
        yield
    except BaseException:
        if executor is not None:
            executor.close()
        raise


def _say_latency_device(config: ExperimentConfig, predictor) -> None:
    """Say which device the latency source predicts: a profile measured on another machine
    predicts that machine, not this one; and, where the latency evaluator measures instead,
    that only the searcher uses it (a line on stderr, above the live display)."""
    from hwnas.predictors.fingerprint import describe_device

    source = config.latency.predictor or config.latency.profile
    device = (
        describe_device(predictor.measured_on)
        if predictor.measured_on
        else (
            "a device it does not record (no measured_on: an earlier hwnas saved none; "
            "hwnas latency fit of its profile records it, as does setting it before saving)"
        )
    )
    line = f"latency: {source} predicts latencies on {device}"
    if (scored := latency_source(config)) and not scored.startswith("predicted"):
        line += f"; the searcher uses it, while latency_ms is {scored}"
    print(line, file=sys.stderr)


def _say_latency_gaps(config: ExperimentConfig, space, predictor) -> None:
    """Say at the start what of the space the latency profile or predictor cannot price: the
    candidates that use it will fail, and the user may rather profile it (or drop it from the
    space). The differentiable searcher proposes only what its supernet's table priced (it
    refuses a profile lacking any of its choices), so its runs have no such candidates. Where
    the latency evaluator measures, they do not fail: only the predictor searcher uses the
    table then, and it proposes them only as uniform samples (its surrogates' pool keeps
    candidates the table prices)."""
    if config.latency is None or config.searcher.name == "differentiable":
        return
    if (latency_source(config) or "predicted").startswith("predicted"):
        effect = "candidates that use them will fail"
    elif config.searcher.name == "predictor":
        effect = (
            "the predictor searcher, which uses the table while latency_ms is measured, "
            "proposes candidates that use them only as uniform samples"
        )
    else:
        return
    from hwnas.predictors.profile import read_profile

    gap = None
    if config.latency.profile:
        gap = read_profile(config.latency.profile).unpriced(space)
    else:
        gaps = []
        if unpriced := predictor.unpriced_precisions():
            gaps.append(
                f"its measurements (a table, or the networks it was fitted on) have no "
                f"{', '.join(unpriced)} blocks, which space {space.name!r} also offers"
            )
        if missing := predictor.unpriced_parts():
            gaps.append(
                f"its table lacks {len(missing)} parts of space {space.name!r} (changed since "
                f"it was profiled?), e.g. {', '.join(missing[:3])}"
            )
        gap = f"{config.latency.predictor}: {'; '.join(gaps)}" if gaps else None
    if gap:  # a profile is completed by measuring into it, a predictor by fitting it again
        changed = "measured into" if config.latency.profile else "fitted again"
        warn_at_caller(
            f"latency: {gap}; {effect} (the run keeps the file as it is: {changed}, it "
            "stops the run from resuming; a run with the completed file needs a new run_dir)"
        )


def _say_left_out(space) -> None:
    """Say at the start which options of the space's file the experiment's input override
    leaves out (no stage fits them there), so a search never trying them is no surprise."""
    for line in getattr(space, "left_out", []):
        print(f"hwnas: note: space: left out at input {space.input_shape}: {line}", file=sys.stderr)


def _say_test_split_selects(config: ExperimentConfig) -> None:
    """Say at the start when an objective or constraint is a test-split metric: selecting on
    the test split makes its numbers no unbiased estimate any more (`accuracy` is the
    validation split's)."""
    chosen = [m for m, _ in (*config.objective_pairs, *config.constraint_pairs)]
    if tested := [m for m in chosen if m.startswith("test_")]:
        warn_at_caller(
            f"objectives: {', '.join(tested)} selects on the test split, which then no longer "
            "estimates accuracy on unseen data; select on accuracy (validation)"
        )


def _say_maximised_metric_capped(config: ExperimentConfig) -> None:
    """Say at the start when a constraint caps a metric an objective maximises: a constraint
    is an upper bound only, and `{metric: accuracy, max: 80}` written for "at least 80" kept
    the search below 80 without a word."""
    maximised = {m for m, d in config.objective_pairs if d == "max"}
    for metric, bound in config.constraint_pairs:
        if metric in maximised:
            warn_at_caller(
                f"constraints: {metric} <= {bound_text(bound)} caps a metric the objectives "
                f"maximise: a constraint is an upper bound only (there is no lower one), so "
                f"the search keeps {metric} at most {bound_text(bound)}; to want it higher, "
                "leave it to the objective"
            )


class _Loop:
    def __init__(
        self,
        config: ExperimentConfig,
        store: RunStore,
        searcher,
        executor,
        received: list[int],
        retry_failed: bool = False,
    ):
        self.config, self.store, self.searcher, self.executor = config, store, searcher, executor
        self.retry_failed = retry_failed
        #: the stop signals that arrived (see `terminate_as_interrupt`): one is acted on at
        #: the next round even where Python dropped its KeyboardInterrupt
        self.received = received
        self.limit = config.evaluations
        self.in_flight: dict[str, Claim] = {}
        self.waiting: dict[str, Arch] = {}  # asked by us, being evaluated by another driver
        self.rerun: list[Arch] = []
        #: `retry_failed`: the failed evaluations to replace, by key (their trial numbers), and
        #: those of their architectures not claimed yet (claimed before any other candidate)
        self.retrying: dict[str, int] = {}
        self.retry: list[Arch] = []
        self.origins: dict[str, dict] = {}  # of the candidates' earlier claims, by key
        self.by_me = 0
        self.claim_lost = False  # whether a result was dropped as another driver closed its claim
        self.exhausted = False
        self.stopped_by: str | None = None  # what ended the run; None when interrupted
        self.shown: set[int] = set()  # trial numbers of the evaluations the display has
        self.learned: set[int] = set()  # trial numbers the searcher has been kept in step with
        #: the leading trials (in number order) that are finished and were shown and learned:
        #: no later round looks at them again (looking at every trial each round made long
        #: runs quadratic)
        self.looked = 0

    def run(self, show: bool) -> RunSummary:
        store = self.store
        store.fail_stale()
        trials = store.trials()
        if history := store.history(trials):
            self.searcher.restore(self._queue_retries(history, trials))
        # restored with every trial of this read: `_learn_from_others` need not parse them again
        self.learned = {t.number for t in trials}
        self.searcher.stream = store.stream()
        live, self.origins = store.running_keys(trials), store.origins(trials)
        self.rerun = [a for a, m in history if m is None and a.key not in live]
        self.waiting = {a.key: a for a, m in history if m is None and a.key in live}
        display = SearchProgress(
            self.config.objective_pairs, self.config.constraint_pairs, self.limit, enabled=show
        )
        self._show(trials, display.add_known)
        undone = f"{store.name}: the claims of the evaluations in flight were not given back"
        unkept = f"{store.name}: the evaluations finished by the interrupt were not all stored"
        effect = "a resumed run evaluates them again"
        with store.beating(), cleaned_up(self._give_back, undone, effect):
            try:
                with self.executor, display, terminate_as_interrupt(self.received):
                    try:
                        self.stopped_by = self._loop(display)
                    except KeyboardInterrupt:  # keep what finished while the searcher worked
                        with cleaned_up(partial(self._keep_finished, display), unkept, effect):
                            raise
                    self._show(store.trials(), display.result)  # the last line: the run's end
            except ClusterLost:
                self.stopped_by = "the Ray cluster was lost"
                raise
        return _summary(self.config, store, self.stopped_by, self.by_me)

    def _queue_retries(
        self, history: list[tuple[Arch, Metrics | None]], trials: list[FrozenTrial]
    ) -> list[tuple[Arch, Metrics | None]]:
        """With `retry_failed`, queue every architecture whose latest evaluation failed to
        be evaluated again, noting which failure each replaces; `history` with those pending
        for the searcher, which is told their new results as they come (told the failure,
        it could learn no other)."""
        if not self.retry_failed:
            return history
        evaluated = self.store.evaluated(trials)
        self.retrying = {k: t.number for k, t in evaluated.items() if outcome_of(t) == "failed"}
        self.retry = [arch for arch, _ in history if arch.key in self.retrying]
        return [(arch, None if arch.key in self.retrying else m) for arch, m in history]

    def _give_back(self) -> None:
        """Give the claims in flight back as the run ends: a resumed run evaluates their
        candidates."""
        if self.in_flight:
            why = f"the driver stopped ({self.stopped_by or 'interrupted'})"
            with interrupts_held():  # a second Ctrl-C must not leave claims behind
                self.store.release(self.in_flight.values(), why)

    def _loop(self, display: SearchProgress) -> str:
        time_limit = self.config.time_limit_s
        deadline = time.monotonic() + time_limit if time_limit else None
        display.deadline = deadline  # the time limit bounds the time left it shows
        beat_every, last_check = self.config.storage.heartbeat_s, time.monotonic()
        while True:
            if self.received:  # a Ctrl-C whose KeyboardInterrupt a callback swallowed
                raise KeyboardInterrupt
            if time.monotonic() - last_check >= beat_every:
                if stale := self.store.fail_stale():
                    self._queue_stale(stale)
                self.searcher.stream = self.store.stream()  # drivers came or went
                last_check = time.monotonic()
            trials = self.store.trials()  # one read of the storage per round
            done, running = self._global_counts(trials, display)
            self._settle_waiting(trials)
            # a retry replaces a counted failure: a run at its limit retries them all the same
            if self.limit is not None and done >= self.limit and not (self.in_flight or self.retry):
                return "evaluations"
            # after the count: a last evaluation that ran past the limit completed the run,
            # which said "stopped by time limit" and told to resume, as if evaluations were left
            if self._past(deadline, display):
                return "time limit"
            self._launch(done, running)
            display.set_in_flight(len(self.in_flight))
            if not self.in_flight:
                idle = not (self.rerun or self.retry or self.waiting or running)
                if self.exhausted and idle:
                    return EXHAUSTED
                time.sleep(min(0.5, beat_every))  # other drivers are evaluating; wait
                continue
            if self._past(deadline, display):  # a proposal (a supernet search) ran past it
                return "time limit"
            for arch, metrics in self.executor.results(timeout=0.5):
                self._finish(arch, metrics, display)
            display.set_in_flight(len(self.in_flight))

    def _past(self, deadline: float | None, display: SearchProgress) -> bool:
        """Whether the time limit has come; if so, the evaluations complete by then are kept
        and the rest cancelled (their claims given back as the run ends). Asked before each
        proposal and again before an evaluation starts: the local executor, which cannot stop
        one, trained a candidate whose proposal had run past the limit, and results Ray had
        finished but not yet handed over were thrown away."""
        if deadline is None or time.monotonic() < deadline:
            return False
        self._keep_finished(display)
        self.executor.cancel()
        return True

    def _keep_finished(self, display: SearchProgress) -> None:
        """Store the evaluations the executor finished that no `results` call took yet (Ray's,
        while the searcher proposed): a stopping driver keeps them rather than giving their
        claims back to be evaluated again."""
        for arch, metrics in self.executor.finished():
            self._finish(arch, metrics, display)

    def _queue_stale(self, stale: list[Arch]) -> None:
        """Queue the candidates of claims just marked stale for evaluation, except those that
        need none: a claim awaited as a peer's is rerun by `_settle_waiting` now it has ended,
        one already queued (given back earlier) is rerun as queued, and one this driver has in
        flight or evaluated (a peer's stray claim of it) has its result; queued again, each
        was claimed in vain, stored as a `duplicate`."""
        skip = {*self.waiting, *self.in_flight, *(a.key for a in self.rerun)}
        skip.update(self.store.evaluated())
        for arch in stale:
            if arch.key not in skip:
                skip.add(arch.key)
                self.rerun.append(arch)
        self.origins = self.store.origins()

    def _global_counts(self, trials: list[FrozenTrial], display: SearchProgress) -> tuple[int, int]:
        """Evaluations and live claims of every driver; shows the new evaluations and keeps
        the searcher in step with the other drivers."""
        fresh = trials[self.looked :]
        self._show(fresh, display.result)
        self._learn_from_others(fresh)
        self.looked += next(
            (i for i, t in enumerate(fresh) if not t.state.is_finished()), len(fresh)
        )
        counts = self.store.counts(trials)
        return counts["ok"] + counts["failed"], counts[RUNNING]

    def _learn_from_others(self, trials: list[FrozenTrial]) -> None:
        """Tell the searcher what other drivers evaluated, and mark their live claims pending
        (awaited like our own candidates they evaluate), so drivers sharing a run search as one
        searcher with more workers: without this, drivers of one seed proposed the same
        candidates, and the one behind evaluated none."""
        for t in trials:
            if t.number in self.learned:
                continue
            self.learned.add(t.number)
            outcome, key = outcome_of(t), t.user_attrs.get(KEY)
            if key is None or key in self.in_flight:  # our own: told when it is stored
                continue
            arch = stored_arch(t)
            if outcome in EVALUATED:
                self._tell(arch, trial_metrics(t))
            elif outcome == RUNNING and not self.searcher.seen(arch):
                self.searcher.pending(arch)
                self.waiting[key] = arch

    def _show(self, trials: list[FrozenTrial], show: Callable[[Metrics, str], None]) -> None:
        """Give the display the evaluations it has not had yet, whichever driver stored them."""
        for t in trials:
            if t.number not in self.shown and (metrics := trial_metrics(t)) is not None:
                self.shown.add(t.number)
                show(metrics, t.user_attrs[KEY])

    def _launch(self, done: int, running: int) -> None:
        """Claim and submit candidates while a slot is free and the limit leaves room; the
        failures to evaluate again first, whatever the limit (each replaces a counted one)."""
        free = max(0, self.config.executor.max_in_flight - len(self.in_flight))
        retries, self.retry = self.retry[:free], self.retry[free:]
        room = free - len(retries)
        if self.limit is not None:  # the retries claimed now count as live claims, as
            # `claim` counts them: candidates asked beside them lost as surplus
            room = min(room, self.limit - done - running - len(retries))
        if room <= 0 and not retries:
            return
        candidates, self.rerun = self.rerun[: max(room, 0)], self.rerun[max(room, 0) :]
        if len(candidates) < room and not self.exhausted:
            asked = self.searcher.ask(room - len(candidates))
            self.exhausted = len(asked) < room - len(candidates)
            candidates += asked
        candidates = retries + candidates
        with interrupts_held():  # claimed is in flight: a Ctrl-C from here on gives it back
            outcomes = self.store.claim(candidates, self.limit, self._origin, self.retrying)
            self.in_flight.update({o.claim.arch.key: o.claim for o in outcomes if o.won})
        for outcome in outcomes:
            arch = outcome.claim.arch
            if outcome.won:
                self.executor.submit(arch, self.config.evaluator.budget)
            elif outcome.metrics is not None:
                self._tell(arch, outcome.metrics)
            elif outcome.why == SURPLUS:
                self.rerun.insert(0, arch)
            else:
                self.waiting[arch.key] = arch

    def _settle_waiting(self, trials: list[FrozenTrial]) -> None:
        """Tell the searcher about its candidates that another driver has now evaluated, and
        evaluate those the other driver gave back unevaluated (stopped, or interrupted); of a
        failure to evaluate again, only an evaluation after it is its result."""
        if not self.waiting:
            return
        evaluated, running = self.store.evaluated(trials), self.store.running_keys(trials)
        for key, arch in list(self.waiting.items()):
            latest = evaluated.get(key)
            if latest is not None and latest.number > self.retrying.get(key, -1):
                self._tell(arch, trial_metrics(latest))
            elif key not in running:
                del self.waiting[key]
                (self.retry if key in self.retrying else self.rerun).append(arch)

    def _finish(self, arch: Arch, metrics: Metrics, display: SearchProgress) -> None:
        claim = self.in_flight[arch.key]  # kept until stored: a Ctrl-C meanwhile gives it back
        missing = [m for m in self.config.needed_metrics if metrics.ok and m not in metrics]
        try:
            # a result half written would read as a live claim; and a Ctrl-C held meanwhile
            # is delivered once the display counts it: the last line of a run interrupted
            # there said one evaluation fewer, and one more in flight, than it had
            with interrupts_held():
                stored = self.store.finish(claim, metrics)
                del self.in_flight[arch.key]
                self.by_me += 1
                self.shown.add(claim.number)
                display.set_in_flight(len(self.in_flight))
                display.result(stored, arch.key)
        except ClaimLost as lost:  # another driver evaluates it again; learn its result there
            self._say_claim_lost(lost)
            del self.in_flight[arch.key]
            self.waiting[arch.key] = arch
            return
        if missing:  # stored as failed; no other candidate would have the metric either
            raise ExperimentError(
                f"objectives/constraints: the evaluator returns no {missing} (it returns "
                f"{sorted(metrics)}); fix the experiment and start a new run_dir"
            )
        self._tell(arch, stored)

    def _say_claim_lost(self, lost: ClaimLost) -> None:
        """Say, once a run, why a result is dropped: another driver took this one for dead
        (silent for longer than `storage.grace_s`), so its own count comes out lower."""
        if not self.claim_lost:
            self.claim_lost = True
            print(
                f"hwnas: note: storage: {lost} while this one evaluated it: it took this driver "
                "for dead (paused for longer than storage.grace_s, or the machines' clocks "
                "disagree); the result here is dropped and the candidate evaluated again, by "
                "that driver or, once it has stopped, by this one (said once)",
                file=sys.stderr,
            )

    def _origin(self, arch: Arch) -> dict[str, float | int]:
        """Where `arch` came from: the searcher's note, or for a candidate evaluated again
        (given back, or left by a stopped driver) the one its earlier claim stored, which a
        restored searcher may lack (the differentiable one rebuilds its searches when asked)."""
        return self.searcher.origin(arch) or self.origins.get(arch.key, {})

    def _tell(self, arch: Arch, metrics: Metrics) -> None:
        self.waiting.pop(arch.key, None)
        if not self.searcher.told(arch):  # a dead driver's stray claim of an evaluated key
            self.searcher.tell(arch, metrics)

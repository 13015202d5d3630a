"""The `Searcher` ask/tell protocol: objectives, constraints, trials, feasibility and fronts.

A searcher decides what to evaluate next and nothing else. It is asynchronous-friendly:
`ask(n)` may be called while earlier candidates are still being evaluated (they count as
seen, so no architecture is ever proposed twice), and results are `tell`-ed in any order.

Reproducibility and resuming: a searcher keeps no random state between calls. Each `ask`
draws from a generator derived from `(seed, number of architectures asked so far)`, and
everything else it uses is a function of its trials ordered by ask index (which results
arrived, not when). `restore(history)` therefore rebuilds the exact state from the stored
trials in ask order, and the next `ask` proposes what the uninterrupted searcher would have.
So a run that evaluates one candidate at a time proposes the same sequence however often it
is interrupted and resumed. With several in flight, which results are in at each `ask`, and
how many candidates one `ask` requests, depend on timing: such a run is not repeatable.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, MutableMapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from hwnas.evaluators.metrics import Metrics
from hwnas.search.pareto import pareto_mask
from hwnas.spaces import Arch, SearchSpace, SpaceError
from hwnas.spaces.errors import finite_number, whole_number
from hwnas.spaces.yaml_files import quoted_number

Direction = Literal["min", "max"]


@dataclass(frozen=True)
class Objective:
    """One metric to optimise; `sign` turns it into a quantity to minimise."""

    metric: str
    direction: Direction = "min"

    @property
    def sign(self) -> float:
        """+1 for "min", -1 for "max": the factor that turns the objective into a loss."""
        return 1.0 if self.direction == "min" else -1.0


@dataclass(frozen=True)
class Constraint:
    """`metric <= bound`."""

    metric: str
    bound: float


@dataclass
class Trial:
    """One proposed architecture: its ask index and, once finished, its metrics."""

    index: int
    arch: Arch
    metrics: Metrics | None = None

    @property
    def finished(self) -> bool:
        """Whether the trial has been told its result (ok or failed)."""
        return self.metrics is not None

    @property
    def ok(self) -> bool:
        """Whether the trial has been told a successful result."""
        return self.metrics is not None and self.metrics.ok


def parse_objectives(objectives: Any) -> tuple[Objective, ...]:
    """`[(metric, "min"|"max"), ...]` (or one such pair) as `Objective`s, with clear errors."""
    if isinstance(objectives, tuple) and len(objectives) == 2 and isinstance(objectives[1], str):
        objectives = [objectives]
    if isinstance(objectives, str | bytes) or not isinstance(objectives, Iterable):
        raise ValueError(f"objectives must be a list of (metric, 'min'|'max'), not {objectives!r}")
    parsed = []
    for i, item in enumerate(objectives):
        if isinstance(item, Objective):
            item = (item.metric, item.direction)
        if not (isinstance(item, Sequence) and len(item) == 2 and isinstance(item[0], str)):
            raise ValueError(f"objectives[{i}]: expected (metric, 'min'|'max'), got {item!r}")
        metric, direction = item
        _check_metric_name(f"objectives[{i}]", metric)
        if direction not in ("min", "max"):
            raise ValueError(
                f"objectives[{i}] ({metric}): direction must be 'min' or 'max', not {direction!r}"
            )
        parsed.append(Objective(metric, direction))
    if not parsed:
        raise ValueError("objectives: at least one (metric, 'min'|'max') is needed")
    _check_named_once("objectives", [o.metric for o in parsed])
    return tuple(parsed)


def parse_constraints(constraints: Any) -> tuple[Constraint, ...]:
    """`[(metric, bound), ...]` (or a `{metric: bound}` mapping) meaning `metric <= bound`."""
    if isinstance(constraints, Mapping):
        constraints = list(constraints.items())
    if isinstance(constraints, str | bytes) or not isinstance(constraints, Iterable):
        raise ValueError(f"constraints must be a list of (metric, bound), not {constraints!r}")
    parsed = []
    for i, item in enumerate(constraints):
        if isinstance(item, Constraint):
            item = (item.metric, item.bound)
        if not (isinstance(item, Sequence) and len(item) == 2 and isinstance(item[0], str)):
            raise ValueError(f"constraints[{i}]: expected (metric, bound), got {item!r}")
        _check_metric_name(f"constraints[{i}]", item[0])
        bound = _bound(item[1])
        if bound is None:
            raise ValueError(f"constraints[{i}] ({item[0]}): bound {item[1]!r} is not a number")
        if not math.isfinite(bound):
            raise ValueError(f"constraints[{i}] ({item[0]}): bound must be finite")
        parsed.append(Constraint(item[0], bound))
    _check_named_once("constraints", [c.metric for c in parsed])
    return tuple(parsed)


def _bound(value: Any) -> float | None:
    """A constraint's bound as a float (infinite where too large for one), or None where it
    is no number: text that reads as none, or a bool (True was taken for a bound of 1, as an
    experiment file's `max: yes` is not)."""
    if isinstance(value, bool | np.bool_):
        return None
    try:
        return float(value)
    except OverflowError:  # an int past float's range: no finite bound
        return math.inf
    except (TypeError, ValueError):
        return None


def _check_metric_name(field: str, metric: str) -> None:
    """Refuse an empty metric name: taken, it was named only when the first result lacked
    it, as a missing metric ''."""
    if not metric.strip():
        raise ValueError(f"{field}: the metric name is empty")


def _check_named_once(field: str, names: list[str]) -> None:
    """Refuse a metric listed twice: an objective would count double, and a second bound on
    one metric would be dropped where constraint values are keyed by metric (NSGA-II)."""
    if len(set(names)) != len(names):
        raise ValueError(f"{field}: metric named twice in {names}")


MAX_SEED = 2**32 - 1  # what every seeded library takes (numpy's legacy RandomState the least)


def integer_setting(name: str, value: Any, minimum: int = 1, maximum: int | None = None) -> int:
    """`value` as an int, or a ValueError naming the setting (a float or bool is refused)."""
    if not whole_number(value) or value < minimum:
        raise ValueError(
            f"{name} must be an integer >= {minimum}, not {value!r}{quoted_number(value)}"
        )
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} must be an integer <= {maximum}, not {value!r}")
    return int(value)


def number_setting(name: str, value: Any, low: float, high: float = math.inf) -> float:
    """`value` as a finite float in [low, high], or a ValueError naming the setting (an
    infinite `beta`, say, would turn every score into NaN)."""
    if not finite_number(value):
        raise ValueError(f"{name} must be a finite number, not {value!r}{quoted_number(value)}")
    if not low <= value <= high:
        raise ValueError(f"{name} must be in [{low}, {high}], not {value!r}")
    return float(value)


def mapping_setting(name: str, value: Any, holds: str) -> dict[str, Any]:
    """`value` (None: empty) as a dict, or a ValueError naming the setting and what its
    entries are (`holds`): a number or list there failed as "'int' object has no attribute
    'items'", naming neither the setting nor the file."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ValueError(f"{name} must be a mapping of {holds}, not {value!r}")
    return dict(value)


def _check_arch(method: str, arch: Any) -> None:
    if not isinstance(arch, Arch):
        raise TypeError(
            f"{method} takes an Arch, not a {type(arch).__name__} (space.arch(choices) makes "
            "one from a mapping of choices)"
        )


STREAM_TAG = 0x5EED  # marks a stream in `Searcher.entropy`, apart from the counters


def derive_rng(*entropy: int) -> np.random.Generator:
    """A generator that depends only on these integers (seed, counters, ...)."""
    return np.random.default_rng([int(e) for e in entropy])


#: what every searcher's constructor is given before its settings (`get_searcher`'s arguments)
PASSED = ("space", "objectives", "constraints", "seed")


class Searcher(ABC):
    """Base of every searcher: bookkeeping of trials, objectives and constraints.

    Subclasses implement `_propose(n)`, returning `n` distinct architectures not yet seen,
    drawing randomness only from `self.rng_for_ask()` (or generators derived like it) and
    reading only `self.trials`, so that `restore` is exact.
    """

    name = "searcher"
    multi_objective = True  # whether more than one objective is supported
    #: Where a searcher may keep costly work between processes: a mapping from string keys
    #: to JSON-able data (the differentiable searcher keeps its finished supernet searches
    #: there, so a resumed run does not train them again), or None to keep nothing.
    #: `hwnas.experiments` gives every searcher one kept in the run's storage.
    memo: MutableMapping[str, Any] | None = None
    #: Which of several drivers sharing a run this searcher proposes for: each stream draws
    #: other candidates from the same seed and trials (drivers of one seed would otherwise
    #: propose the same ones, and the slower would evaluate none). Stream 0 proposes what a
    #: lone searcher does. `hwnas.experiments` sets it from the drivers alive.
    stream: int = 0

    def __init__(
        self,
        space: SearchSpace,
        objectives: Any,
        constraints: Any = (),
        seed: int = 0,
    ):
        if not isinstance(space, SearchSpace):  # a str failed later, as an AttributeError
            raise TypeError(
                f"{type(self).__name__}: space must be a SearchSpace, not {space!r} "
                "(get_searcher takes a space's name or file)"
            )
        self.space = space
        self.objectives = parse_objectives(objectives)
        self.constraints = parse_constraints(constraints)
        if len(self.objectives) > 1 and not self.multi_objective:
            raise ValueError(
                f"searcher {self.name!r} optimises one objective; got "
                f"{[o.metric for o in self.objectives]} (use 'nsga2' or 'predictor')"
            )
        self.seed = integer_setting("seed", seed, minimum=0, maximum=MAX_SEED)
        self.trials: list[Trial] = []
        self._by_key: dict[str, Trial] = {}

    # -- the protocol ----------------------------------------------------------------------
    def ask(self, n: int = 1) -> list[Arch]:
        """`n` new architectures to evaluate; fewer only when the searcher has no more: the
        space is exhausted, or (the differentiable searcher) every latency target's derived
        architectures were asked."""
        n = min(integer_setting("ask(n): n", n), self.space.cardinality - len(self.trials))
        archs = self._checked_proposals(list(self._propose(n)) if n > 0 else [], n)
        for arch in archs:
            self._register(arch)
        return archs

    def tell(self, arch: Arch, metrics: Metrics | Mapping[str, float] | None) -> None:
        """The result of evaluating `arch` (asked before, or an outside result to learn from).

        `None` or a failed `Metrics` marks a failed evaluation. An ok result whose objective or
        constraint values are missing raises a `KeyError` naming them (a configuration
        error); non-finite values turn the result into a failure (for example a diverged
        training). An `arch` told already is a `ValueError`, one of another space a
        `SpaceError`.
        """
        _check_arch("tell", arch)
        trial = self._by_key.get(arch.key)
        if trial is not None and trial.finished:
            raise ValueError(f"arch {arch.key} was already told")
        checked = self._checked(metrics)  # before registering: a bad result leaves no trace
        self._finish(trial or self._register(self.space.validate(arch)), checked)

    def restore(self, history: Iterable[tuple[Arch, Metrics | None]]) -> None:
        """Rebuild the state of a searcher from its stored trials, in ask order.

        `history` yields `(arch, metrics)` for every architecture asked (and any told from
        outside), in the order they were asked; `metrics` is `None` for an evaluation still in
        flight (it stays pending: it is not proposed again and may be told later). Call it on a
        fresh searcher with the same space, objectives, constraints, seed and settings; the
        next `ask` then proposes what the uninterrupted searcher would.
        """
        if self.trials:
            raise RuntimeError("restore() needs a fresh searcher (this one has trials)")
        # registered as `pending` and `tell` do, unchecked again: validating each architecture
        # twice (a conv1d one takes 0.1 ms) doubled the time of a resume's restore
        for arch, metrics in self._checked_history(list(history)):
            trial = self._register(arch)
            if metrics is None:
                self._restored_pending(trial)
            else:
                self._finish(trial, metrics)

    def _checked_history(self, items: list[Any]) -> list[tuple[Arch, Metrics | None]]:
        """`restore`'s `items`, every one checked before any is registered (a pair, an
        architecture of this space asked once, metrics `tell` takes), so a refused history
        leaves the searcher fresh: one of another space's architecture or of metrics lacking
        an objective partway left those before it registered, and a retry was refused as
        needing a fresh searcher."""
        for i, item in enumerate(items):
            if not (isinstance(item, Sequence) and len(item) == 2):  # a dict, not its .values()
                raise TypeError(
                    f"restore: history[{i}] is {type(item).__name__} {item!r:.60}, not an "
                    "(arch, metrics or None) pair"
                )
        keys: set[str] = set()
        checked = []
        for arch, metrics in items:
            _check_arch("restore", arch)
            if arch.key in keys:
                raise ValueError(f"restore: arch {arch.key} appears twice in the history")
            keys.add(arch.key)
            result = None if metrics is None else self._checked(metrics)
            checked.append((self.space.validate(arch), result))
        return checked

    def pending(self, arch: Arch) -> None:
        """`arch` is being evaluated elsewhere (another driver asked it): it counts as asked,
        so it is never proposed again, and its result may be told later."""
        if arch.key in self._by_key:
            raise ValueError(f"pending: arch {arch.key} was already asked or told")
        self._restored_pending(self._register(self.space.validate(arch)))

    def origin(self, arch: Arch) -> dict[str, float | int]:
        """Where this searcher's proposal `arch` came from, as named numbers a run stores with
        its evaluation (the differentiable searcher: the latency target of the supernet search
        that derived it). Empty for searchers whose proposals need no such note."""
        return {}

    # -- results ---------------------------------------------------------------------------
    def best(self) -> Trial | None:
        """The best feasible successful trial (single objective), or `None` if there is none."""
        if len(self.objectives) > 1:
            raise ValueError("best() needs a single objective; use pareto_front()")
        done = self.feasible_trials()
        return min(done, key=lambda t: self.loss(t.metrics)[0]) if done else None

    def pareto_front(self) -> list[Trial]:
        """The non-dominated feasible successful trials, in ask order."""
        done = self.feasible_trials()
        if not done:
            return []
        mask = pareto_mask(np.stack([self.loss(t.metrics) for t in done]))
        return [t for t, keep in zip(done, mask) if keep]

    def feasible_trials(self) -> list[Trial]:
        """The trials told as ok that meet every constraint."""
        return [t for t in self.trials if t.ok and self.is_feasible(t.metrics)]

    # -- helpers for subclasses ------------------------------------------------------------
    def loss(self, metrics: Mapping[str, float]) -> np.ndarray:
        """The objective values as a vector to minimise."""
        return np.array([o.sign * metrics[o.metric] for o in self.objectives], dtype=float)

    def constraint_excess(self, metrics: Mapping[str, float]) -> list[float]:
        """Per constraint, `(metric - bound) / |bound|` (<= 0 when met): relative, so that
        constraints in different units weigh alike."""
        return [(metrics[c.metric] - c.bound) / max(abs(c.bound), 1e-12) for c in self.constraints]

    def violation(self, metrics: Mapping[str, float]) -> float:
        """Total relative amount by which the constraints are exceeded (0 when feasible),
        added by `math.fsum`: Python 3.12's `sum()` rounds otherwise than 3.11's, and the
        violation breaks ties among infeasible candidates."""
        return math.fsum(max(0.0, e) for e in self.constraint_excess(metrics))

    def is_feasible(self, metrics: Mapping[str, float]) -> bool:
        """Whether `metrics` meet every constraint (`metric <= bound`, the bound included)."""
        return all(metrics[c.metric] <= c.bound for c in self.constraints)

    def told(self, arch: Arch) -> bool:
        """Whether `arch` has a result already (ok or failed)."""
        trial = self._by_key.get(arch.key)
        return trial is not None and trial.finished

    def seen(self, arch: Arch) -> bool:
        """Whether `arch` was already asked or told (pending included)."""
        return arch.key in self._by_key

    def rng_for_ask(self, *extra: int) -> np.random.Generator:
        """The generator for the next proposal: a function of the seed, the ask count (and
        the stream)."""
        return derive_rng(*self.entropy(len(self.trials), *extra))

    def entropy(self, *counters: int) -> tuple[int, ...]:
        """What a proposal's generator is seeded with: the seed, `counters`, and the stream
        unless it is 0."""
        return (self.seed, *counters, *((STREAM_TAG, self.stream) if self.stream else ()))

    def sample_unseen(
        self, rng: np.random.Generator, exclude: AbstractSet[str] = frozenset()
    ) -> Arch:
        """A uniform sample of the space that was neither seen nor is in `exclude`.

        Draws until one is new: at least 10 000 times, and in a nearly exhausted space 20
        times the draws one new architecture takes on average (missing it then has odds of
        e^-20), so the last unseen architectures are found too.
        """
        unseen = self.space.cardinality - len(self.trials) - len(exclude)
        tries = max(10_000, 20 * -(-self.space.cardinality // max(unseen, 1)))
        for _ in range(tries):
            arch = self.space.sample(rng)
            if not self.seen(arch) and arch.key not in exclude:
                return arch
        raise RuntimeError(
            f"no unseen architecture found in {tries} samples ({unseen} should be left)"
        )

    @abstractmethod
    def _propose(self, n: int) -> list[Arch]:
        """`n` distinct architectures, none seen before."""

    def _told(self, trial: Trial) -> None:
        """Hook: a trial just finished (subclasses update their own state)."""
        return None

    def _restored_pending(self, trial: Trial) -> None:
        """Hook: a trial in flight elsewhere was registered (`pending`, also from `restore`);
        subclasses update their own state."""
        return None

    # -- internals -------------------------------------------------------------------------
    def _checked_proposals(self, archs: list[Any], n: int) -> list[Arch]:
        """`_propose(n)`'s answer, or an error naming the searcher's class where it breaks the
        contract: a searcher of your own returning dicts of choices failed later with
        "'dict' object has no attribute 'key'", one returning another space's architectures
        had them evaluated, one returning more than `n` had them all taken, and one repeating
        an architecture had the copies before the repeat registered."""
        owner = f"{type(self).__name__}._propose({n})"
        if len(archs) > n:
            raise RuntimeError(f"{owner} returned {len(archs)} architectures, more than asked")
        for arch in archs:
            try:
                self.space.validate(arch)
            except SpaceError as e:
                raise SpaceError(f"{owner} proposed what the space refuses: {e}") from None
        seen: set[str] = set()  # checked before any is registered: none of a refused answer is
        for key in (a.key for a in archs):
            if key in self._by_key or key in seen:
                raise RuntimeError(f"{owner} proposed arch {key} twice")
            seen.add(key)
        return archs

    def _register(self, arch: Arch) -> Trial:
        """A new trial of `arch`, which none has (its callers check: `ask` through
        `_checked_proposals`, `tell` and `pending` by key)."""
        trial = Trial(len(self.trials), arch)
        self.trials.append(trial)
        self._by_key[arch.key] = trial
        return trial

    def _finish(self, trial: Trial, metrics: Metrics) -> None:
        """Record the checked `metrics` of `trial` (`tell`, `restore`)."""
        trial.metrics = metrics
        self._told(trial)

    def _checked(self, metrics: Metrics | Mapping[str, float] | None) -> Metrics:
        if metrics is None:
            return Metrics.failed("no result")
        if not isinstance(metrics, Metrics):
            metrics = Metrics(metrics)
        if not metrics.ok:
            return metrics
        needed = list(
            dict.fromkeys(
                [o.metric for o in self.objectives] + [c.metric for c in self.constraints]
            )
        )
        missing = [m for m in needed if m not in metrics]
        if missing:
            raise KeyError(
                f"metrics lack {missing} needed by the objectives/constraints; "
                f"they have {sorted(metrics)}"
            )
        bad = [m for m in needed if not math.isfinite(metrics[m])]
        if bad:
            return Metrics.failed(f"non-finite {bad}", dict(metrics))
        return metrics

    def __repr__(self) -> str:
        objectives = ", ".join(f"{o.metric}:{o.direction}" for o in self.objectives)
        return f"<{type(self).__name__} [{objectives}] trials={len(self.trials)}>"

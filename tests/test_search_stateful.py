"""A stateful property test (hypothesis) of the black-box searchers' ask/tell protocol.

tests/test_search.py checks fixed scenarios; here a state machine drives each searcher on the
NAS-Bench-201 table through any interleaving of asks, results (ok, failed, `None`, non-finite,
lacking an objective), outside results, `pending` claims and second tells, and after every
step checks what `hwnas.search.base` promises: no architecture is proposed or registered
twice, a result is told once, a refused result leaves no trace, `best()` and
`pareto_front()` are those of the feasible successful results. A twin searcher, rebuilt by
`restore` from the live one's trials at any step and then given the same calls, must
propose what the live one proposes at every later ask ("restore rebuilds the exact state").

Kept reproducible in CI (derandomized, no example database) and fast (small populations, a
small predictor: about 40 s on 2 busy cores).
"""

from __future__ import annotations

import math

import hypothesis.strategies as st
import numpy as np
import pytest
from benchdata import needs_nb201
from hypothesis import HealthCheck, settings
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from hwnas.evaluators.metrics import Metrics
from hwnas.evaluators.tabular import TabularEvaluator
from hwnas.search import dominates, get_searcher
from hwnas.spaces import get_space

pytestmark = needs_nb201

ACCURACY = ("accuracy", "max")
LATENCY = ("hw_fpga_latency_ms", "min")
FAST_FPGA = [("hw_fpga_latency_ms", 4.0)]  # about 3 in 5 NB201 cells meet it
SMALL = {
    "random": {},
    "evolution": {"population_size": 6, "tournament_size": 3},
    "nsga2": {"population_size": 4},
    "predictor": {
        "initial": 4,
        "candidates": 30,
        "parents": 5,
        "surrogate": "extra_trees",
        "ensemble_size": 4,
    },
}
#: (searcher, objectives, constraints): every black-box searcher with one objective and with
#: two where it takes them, with and without a bound, each pairing once (all four for each
#: searcher took twice the time and caught no planted bug more)
CASES = [
    ("random", [ACCURACY], ()),
    ("random", [ACCURACY, LATENCY], FAST_FPGA),
    ("evolution", [ACCURACY], ()),
    ("evolution", [ACCURACY], FAST_FPGA),
    ("nsga2", [ACCURACY], FAST_FPGA),
    ("nsga2", [ACCURACY, LATENCY], ()),
    ("predictor", [ACCURACY], ()),
    ("predictor", [ACCURACY, LATENCY], FAST_FPGA),
]
RUNS = settings(
    max_examples=40,
    stateful_step_count=60,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
#: what an evaluation may end in, an ok result most often (so the searchers' guided phases are
#: reached); "lacking" is a result without an objective, which `tell` refuses
OUTCOMES = st.sampled_from(["ok"] * 4 + ["failed", "none", "non-finite", "lacking"])


@pytest.fixture(scope="module")
def evaluator():
    return TabularEvaluator(get_space("nasbench201"), cost=False)


class SearcherMachine(RuleBasedStateMachine):
    """One searcher (`make`, set by the test) and a twin that is restored from it at any step;
    the model of what was registered lives in `results` (key -> told metrics, None while
    pending), in registration order."""

    make = None  # () -> a fresh searcher of the case
    evaluator = None

    def __init__(self):
        super().__init__()
        self.live, self.twin = self.make(), self.make()
        self.space = self.live.space
        self.archs = {}  # key -> Arch, in registration (= ask) order
        self.results = {}  # key -> the Metrics the searcher keeps, None while pending

    # -- the calls, made on both searchers ---------------------------------------------------
    def both(self, call, *args):
        """`call` on the live searcher and on the twin, which must answer alike."""
        answers = [getattr(one, call)(*args) for one in (self.live, self.twin)]
        assert answers[0] == answers[1], f"{call}{args}: the restored twin answered otherwise"
        return answers[0]

    def register(self, arch):
        """`arch` asked or claimed: pending until told."""
        assert arch.key not in self.archs, f"arch {arch.key} registered twice"
        self.archs[arch.key] = arch
        self.results[arch.key] = None

    def result(self, arch, outcome):
        """What to tell for `arch`, and the metrics the searcher keeps (None: refused)."""
        if outcome == "none":
            return None, Metrics.failed("no result")
        if outcome == "failed":
            failed = Metrics.failed("boom")
            return failed, failed
        values = dict(self.evaluator.evaluate(arch))
        if outcome == "lacking":
            del values[self.live.objectives[-1].metric]
            return Metrics(values), None
        if outcome == "non-finite":
            values[self.live.objectives[0].metric] = math.nan
            return Metrics(values), Metrics.failed("non-finite")
        return Metrics(values), Metrics(values)

    def tell(self, arch, outcome):
        told, kept = self.result(arch, outcome)
        if kept is None:
            for one in (self.live, self.twin):
                with pytest.raises(KeyError, match="lack"):
                    one.tell(arch, told)
            return
        self.both("tell", arch, told)
        if arch.key not in self.archs:
            self.register(arch)
        self.results[arch.key] = kept

    def outside(self, seed):
        return self.space.sample(np.random.default_rng(seed))

    def in_flight(self):
        return [k for k, m in self.results.items() if m is None]

    def told(self):
        return [k for k, m in self.results.items() if m is not None]

    # -- rules -------------------------------------------------------------------------------
    @rule(n=st.integers(1, 3))
    def ask(self, n):
        asked = self.both("ask", n)
        assert len(asked) == n
        for arch in asked:
            self.register(arch)

    @precondition(lambda self: self.in_flight())
    @rule(data=st.data())
    def tell_asked(self, data):
        some = st.lists(st.sampled_from(self.in_flight()), min_size=1, max_size=3, unique=True)
        for key in data.draw(some, label="in flight, told"):
            self.tell(self.archs[key], data.draw(OUTCOMES, label=key))

    @rule(seed=st.integers(0, 2**32 - 1), outcome=OUTCOMES)
    def tell_outside(self, seed, outcome):
        arch = self.outside(seed)
        if self.results.get(arch.key, None) is None:  # unseen, or pending: told now
            self.tell(arch, outcome)

    @rule(seed=st.integers(0, 2**32 - 1))
    def pending(self, seed):
        arch = self.outside(seed)
        if arch.key in self.archs:
            for one in (self.live, self.twin):
                with pytest.raises(ValueError, match="already asked or told"):
                    one.pending(arch)
            return
        self.both("pending", arch)
        self.register(arch)

    @precondition(lambda self: self.told())
    @rule(data=st.data(), outcome=st.sampled_from(["ok", "failed", "none"]))
    def tell_again(self, data, outcome):
        arch = self.archs[data.draw(st.sampled_from(self.told()), label="told")]
        told, _ = self.result(arch, outcome)
        for one in (self.live, self.twin):
            with pytest.raises(ValueError, match="already told"):
                one.tell(arch, told)

    @rule()
    def restore(self):
        """The twin is rebuilt from the live trials, as a resumed run rebuilds its searcher."""
        self.twin = self.make()
        self.twin.restore([(t.arch, t.metrics) for t in self.live.trials])

    # -- invariants --------------------------------------------------------------------------
    @invariant()
    def trials_are_the_registered_archs_once_each(self):
        for one in (self.live, self.twin):
            assert [t.arch.key for t in one.trials] == list(self.archs)
            assert [t.index for t in one.trials] == list(range(len(self.archs)))
            assert len(one.trials) <= self.space.cardinality
            for t in one.trials:
                kept = self.results[t.arch.key]
                assert t.finished == (kept is not None)
                if kept is not None:
                    assert t.metrics.ok == kept.ok
                    assert not kept.ok or dict(t.metrics) == dict(kept)

    @invariant()
    def best_and_front_are_those_of_the_feasible_results(self):
        feasible = [
            k
            for k, m in self.results.items()
            if m is not None and m.ok and all(m[c.metric] <= c.bound for c in self.live.constraints)
        ]
        losses = {
            k: np.array([o.sign * self.results[k][o.metric] for o in self.live.objectives])
            for k in feasible
        }
        front = [k for k in feasible if not any(dominates(losses[j], losses[k]) for j in feasible)]
        for one in (self.live, self.twin):
            assert [t.arch.key for t in one.pareto_front()] == front
            assert [t.arch.key for t in one.feasible_trials()] == feasible
            if len(one.objectives) == 1:
                best = one.best()
                first = min(feasible, key=lambda k: losses[k][0], default=None)
                assert (best and best.arch.key) == first


@pytest.mark.parametrize(
    "name,objectives,constraints",
    CASES,
    ids=[f"{n}-{len(o)}obj{'-bound' if c else ''}" for n, o, c in CASES],
)
def test_the_ask_tell_protocol_holds_in_any_interleaving(name, objectives, constraints, evaluator):
    def make():
        return get_searcher(name, evaluator.space, objectives, constraints, seed=7, **SMALL[name])

    machine = type(
        f"{name}Machine", (SearcherMachine,), {"make": staticmethod(make), "evaluator": evaluator}
    )
    run_state_machine_as_test(machine, settings=RUNS)

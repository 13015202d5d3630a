"""Black-box searchers on the NAS-Bench-201 table: protocol, constraints, restore, quality."""

from __future__ import annotations

import copy
import itertools
import math
import pickle
import re
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from benchdata import needs_nb201
from reproducible import python312_sum

from hwnas.evaluators.executors import LocalExecutor
from hwnas.evaluators.metrics import Metrics
from hwnas.evaluators.tabular import TabularEvaluator
from hwnas.search import (
    NAMES,
    dominates,
    get_searcher,
    hypervolume,
    pareto_mask,
    searcher_class,
    surrogates,
)
from hwnas.search.predictor import measures_cost
from hwnas.search.surrogates import Ensemble, GaussianCopula, GaussianProcess
from hwnas.spaces import SpaceError, get_space
from hwnas.spaces.nasbench201 import EDGES

pytestmark = needs_nb201
BLACK_BOX = ["random", "evolution", "nsga2", "predictor"]
ACCURACY = [("accuracy", "max")]
FAST = {"predictor": {"candidates": 100}}  # fewer candidates scored: a faster test
BUDGET = {"predictor": 40}  # the surrogate learns fast; the others are cheap to run longer


@pytest.fixture(scope="module")
def space():
    return get_space("nasbench201")


@pytest.fixture(scope="module")
def evaluator(space):
    return TabularEvaluator(space, cost=False)


def make(name, space, objectives=ACCURACY, constraints=(), seed=0, **settings):
    return get_searcher(
        name, space, objectives, constraints, seed=seed, **FAST.get(name, {}), **settings
    )


def run(searcher, evaluator, budget, batch=1):
    while len(searcher.trials) < budget:
        for arch in searcher.ask(min(batch, budget - len(searcher.trials))):
            searcher.tell(arch, evaluator.evaluate(arch))
    return searcher


def assert_proposes_alike(searcher, restored, evaluator, batch, rounds=3):
    """`restored` asks what `searcher` asks, round after round, each told the same results."""
    for _ in range(rounds):
        expected, got = searcher.ask(batch), restored.ask(batch)
        assert [a.key for a in got] == [a.key for a in expected]
        for arch in expected:
            searcher.tell(arch, evaluator.evaluate(arch))
            restored.tell(arch, evaluator.evaluate(arch))


def asynchronous_history(searcher, evaluator, rounds, rng):
    """Ask in batches while earlier candidates are in flight; tell in a shuffled order."""
    pending = []
    for _ in range(rounds):
        pending += searcher.ask(3)
        rng.shuffle(pending)
        for arch in pending[:2]:
            result = evaluator.evaluate(arch) if rng.random() > 0.1 else Metrics.failed("boom")
            searcher.tell(arch, result)
        pending = pending[2:]
    return pending


def test_get_searcher_errors(space):
    with pytest.raises(ValueError, match="unknown searcher 'annealing'"):
        get_searcher("annealing", space, ACCURACY)
    with pytest.raises(ValueError, match=r"objectives\[0\].*direction .*, not 'up'"):
        get_searcher("random", space, [("accuracy", "up")])
    with pytest.raises(ValueError, match="at least one"):
        get_searcher("random", space, [])
    with pytest.raises(ValueError, match=r"constraints\[0\].*not a number"):
        get_searcher("random", space, ACCURACY, [("latency_ms", "fast")])
    with pytest.raises(ValueError, match="one objective"):
        get_searcher("evolution", space, [("accuracy", "max"), ("latency_ms", "min")])
    with pytest.raises(ValueError, match="tournament_size"):
        get_searcher("evolution", space, ACCURACY, tournament_size=0)
    with pytest.raises(
        ValueError, match="searcher .random. has no setting .population_size.; it takes no settings"
    ):
        get_searcher("random", space, ACCURACY, population_size=3)
    # NSGA-II keys constraint values by metric: a second bound would silently be dropped
    with pytest.raises(ValueError, match=r"constraints: metric named twice.*latency_ms"):
        get_searcher("nsga2", space, ACCURACY, [("latency_ms", 6.0), ("latency_ms", 3.0)])
    assert "differentiable" in NAMES


@pytest.mark.parametrize("name", ["random", "evolution", "nsga2", "predictor", "differentiable"])
def test_a_searcher_class_given_a_space_name_says_to_use_get_searcher(name):
    """`get_searcher` takes a space's name; the classes, given one, failed later (random,
    evolution, predictor: at `ask`) or at once, each with an AttributeError of a str."""
    if name == "differentiable":
        from hwnas.search.differentiable import DifferentiableSearcher as cls
    else:
        cls = searcher_class(name)
    with pytest.raises(TypeError, match=r"space must be a SearchSpace, not 'conv1d' \(get_sea"):
        cls("conv1d", ACCURACY)


def test_an_empty_metric_name_is_refused_at_once(space):
    """Taken, `("", "max")` was refused only at the first `tell`, as a missing metric ''."""
    with pytest.raises(ValueError, match=r"objectives\[1\]: the metric name is empty"):
        get_searcher("random", space, [*ACCURACY, ("", "max")])
    with pytest.raises(ValueError, match=r"constraints\[0\]: the metric name is empty"):
        get_searcher("random", space, ACCURACY, [(" ", 3.0)])


@pytest.mark.parametrize(
    "bound", [math.nan, math.inf, -math.inf, pytest.param(10**400, id="an int past float")]
)
def test_a_constraint_bound_that_is_no_finite_number_is_refused(bound, space):
    """Taken, a NaN bound met by nothing left every trial infeasible (best() None) and an
    infinite one made every relative excess NaN (a mutant dropping the check survived); an
    int past float's range was Python's bare OverflowError, naming no constraint."""
    with pytest.raises(ValueError, match=r"constraints\[1\] \(latency_ms\): bound must be fin"):
        get_searcher("random", space, ACCURACY, [("accuracy", 99.0), ("latency_ms", bound)])


@pytest.mark.parametrize("bound", [True, False, "five"])
def test_a_constraint_bound_that_is_no_number_is_refused(bound, space):
    """True was taken for a bound of 1 and False for 0, where an experiment file's
    `max: yes` is refused."""
    with pytest.raises(ValueError, match=r"constraints\[0\] \(latency_ms\): bound .* is not a n"):
        get_searcher("random", space, ACCURACY, [("latency_ms", bound)])


def test_ask_takes_any_integer_and_refuses_the_rest(space):
    searcher = make("random", space)
    assert len(searcher.ask(np.int64(2))) == 2  # a count computed with numpy
    for n in (0, -1, 1.0, True):
        with pytest.raises(ValueError, match=r"ask\(n\): n must be an integer >= 1"):
            searcher.ask(n)


@pytest.mark.parametrize(
    ("name", "setting", "value", "message"),
    [
        ("evolution", "population_size", 2.5, "population_size must be an integer >= 1"),
        ("evolution", "mutation_tries", -1, "mutation_tries must be an integer >= 1"),
        ("nsga2", "population_size", 1, "population_size must be an integer >= 2"),
        ("nsga2", "crossover_prob", 1.5, r"crossover_prob must be in \[0, 1\]"),
        ("nsga2", "max_tries", -5, "max_tries must be an integer >= 1"),
        ("predictor", "initial", 2.5, "initial must be an integer >= 0"),
        ("predictor", "parents", "20", "parents must be an integer >= 1"),
        ("predictor", "beta", -3, "beta must be in"),
        ("predictor", "reference", {"accuracy": "high"}, "reference\\['accuracy'\\] must be a"),
    ],
)
def test_bad_settings_are_refused_by_name(name, setting, value, message, space):
    with pytest.raises(ValueError, match=message):
        get_searcher(name, space, ACCURACY, **{setting: value})


def test_a_bad_result_for_an_unasked_arch_leaves_no_trace(space):
    searcher = make("random", space)
    arch = space.sample(0)
    with pytest.raises(KeyError, match="accuracy"):
        searcher.tell(arch, Metrics({"acc": 1.0}))
    assert not searcher.seen(arch) and searcher.trials == []
    bounded = get_searcher("random", space, ACCURACY, constraints=[("accuracy", 99.0)])
    with pytest.raises(KeyError, match=r"metrics lack \['accuracy'\] needed"):  # once
        bounded.tell(arch, Metrics({"acc": 1.0}))


def test_the_last_unseen_architectures_are_found(space):
    archs = list(space.enumerate())
    for seed in range(6):  # 10 000 uniform draws miss the last one about every other time
        searcher = make("random", space, seed=seed)
        searcher.restore((a, Metrics({"accuracy": 1.0})) for a in archs[:-1])
        assert searcher.ask(2) == archs[-1:]
        assert searcher.ask(1) == []


@pytest.mark.parametrize("name", BLACK_BOX)
def test_no_duplicates_with_candidates_in_flight(name, space, evaluator):
    searcher = make(name, space)
    pending = asynchronous_history(searcher, evaluator, 12, np.random.default_rng(1))
    keys = [t.arch.key for t in searcher.trials]
    assert len(keys) == len(set(keys)) == 36
    assert {a.key for a in pending} == {t.arch.key for t in searcher.trials if not t.finished}
    with pytest.raises(ValueError, match="already told"):
        done = next(t for t in searcher.trials if t.finished)
        searcher.tell(done.arch, evaluator.evaluate(done.arch))


def test_pending_refuses_an_arch_asked_or_told(space, evaluator):
    """`pending` claims an architecture for another driver once: one asked here, claimed
    already, or told is refused, and no second trial of it is registered (a mutant refusing
    only told ones survived the search tests)."""
    searcher = make("random", space)
    asked, told = searcher.ask(2)
    searcher.tell(told, evaluator.evaluate(told))
    claimed = space.sample(np.random.default_rng(5))
    searcher.pending(claimed)
    for arch in (asked, told, claimed):
        with pytest.raises(ValueError, match="already asked or told"):
            searcher.pending(arch)
    assert len(searcher.trials) == 3


def test_nsga2_tells_its_study_every_result_failed_ones_as_failed(space, evaluator):
    """Every study trial a proposal holds ends complete or failed: a failed evaluation is
    told to that trial (a mutant adding a new failed trial instead left it running)."""
    searcher = make("nsga2", space)
    for i, arch in enumerate(searcher.ask(12)):
        searcher.tell(arch, Metrics.failed("boom") if i % 3 == 0 else evaluator.evaluate(arch))
    states = [t.state.name for t in searcher.study.trials]
    assert "RUNNING" not in states and states.count("COMPLETE") == 8


@pytest.fixture(scope="module")
def pruned_evaluator():
    return TabularEvaluator(get_space("nasbench201-pruned"), cost=False)


@pytest.mark.parametrize("pruned", [False, True], ids=["all-cells", "no-dead-ops"])
@pytest.mark.parametrize("name", BLACK_BOX)
def test_restore_continues_the_same_search(name, pruned, evaluator, pruned_evaluator):
    """Also where the space's canonical form is not the choices drawn (the pruned NB201 space
    turns dead ops into `none`): the restored searcher must see what the live one saw."""
    evaluator = pruned_evaluator if pruned else evaluator
    space = evaluator.space
    objectives = ACCURACY if name != "nsga2" else [*ACCURACY, ("hw_fpga_latency_ms", "min")]
    searcher = make(
        name,
        space,
        objectives,
        seed=3,
        **({"population_size": 8} if name in ("nsga2", "evolution") else {}),
    )
    pending = asynchronous_history(searcher, evaluator, 12, np.random.default_rng(2))
    history = [(t.arch, t.metrics) for t in searcher.trials]
    assert any(m is None for _, m in history) and any(
        m is not None and not m.ok for _, m in history
    )
    restored = make(
        name,
        space,
        objectives,
        seed=3,
        **({"population_size": 8} if name in ("nsga2", "evolution") else {}),
    )
    restored.restore(history)
    for arch in pending:  # evaluations in flight at the restore finish (a resumed run's reruns)
        searcher.tell(arch, evaluator.evaluate(arch))
        restored.tell(arch, evaluator.evaluate(arch))
    assert_proposes_alike(searcher, restored, evaluator, batch=4)


@pytest.mark.parametrize("name", BLACK_BOX)
def test_streams_of_one_seed_propose_apart_and_learn_what_others_evaluate(name, space, evaluator):
    """Two drivers of a run: the same seed and trials, other streams, other candidates; what
    one evaluates is told to the other, and what it has in flight is pending there."""
    objectives = ACCURACY if name != "nsga2" else [*ACCURACY, ("hw_fpga_latency_ms", "min")]
    first, second = make(name, space, objectives), make(name, space, objectives)
    second.stream = 1
    for _ in range(4):
        mine, theirs = first.ask(3), second.ask(3)
        assert not {a.key for a in mine} & {a.key for a in theirs}
        in_flight = theirs.pop()  # still being evaluated by the second driver
        first.pending(in_flight)
        for arch in mine:
            first.tell(arch, evaluator.evaluate(arch))
            second.tell(arch, evaluator.evaluate(arch))  # an outside result there
        for arch in theirs:
            second.tell(arch, evaluator.evaluate(arch))
            first.tell(arch, evaluator.evaluate(arch))
        second.tell(in_flight, evaluator.evaluate(in_flight))
        first.tell(in_flight, evaluator.evaluate(in_flight))
    assert {t.arch.key for t in first.trials} == {t.arch.key for t in second.trials}
    alone = make(name, space, objectives)  # stream 0 proposes what a lone searcher does
    alone.restore([(t.arch, t.metrics) for t in first.trials])
    assert [a.key for a in alone.ask(3)] == [a.key for a in first.ask(3)]


@pytest.mark.parametrize("name", BLACK_BOX)
def test_a_pickled_or_deep_copied_searcher_goes_on_with_the_same_search(name, space, evaluator):
    """A searcher sent to another process (multiprocessing pickles it) or copied goes on as
    the original does, and telling the copy leaves the original as it was (nsga2's Optuna
    sampler held a lock: `cannot pickle '_thread.lock' object`)."""
    objectives = [*ACCURACY, ("hw_fpga_latency_ms", "min")] if name != "evolution" else ACCURACY
    searcher = run(make(name, space, objectives, seed=1), evaluator, 10, batch=3)
    in_flight = searcher.ask(2)
    pickled, copied = pickle.loads(pickle.dumps(searcher)), copy.deepcopy(searcher)
    for arch in in_flight:
        copied.tell(arch, evaluator.evaluate(arch))
    assert sum(not t.finished for t in searcher.trials) == 2  # the copy's results are its own
    for arch, one in itertools.product(in_flight, (searcher, pickled)):
        one.tell(arch, evaluator.evaluate(arch))

    def proposals(one):  # two rounds of asks, each told before the next
        return [
            [t.arch.key for t in run(one, evaluator, len(one.trials) + 3, batch=3).trials[-3:]]
            for _ in range(2)
        ]

    assert proposals(pickled) == proposals(copied) == proposals(searcher)


def test_nsga2_proposes_while_one_parent_is_in(space, evaluator):
    objectives = [*ACCURACY, ("hw_fpga_latency_ms", "min")]
    for seed in range(5):  # the rest of generation 0 in flight: nothing to cross yet
        searcher = make("nsga2", space, objectives, seed=seed)
        first = searcher.ask(10)
        searcher.tell(first[0], evaluator.evaluate(first[0]))
        assert len(searcher.ask(1)) == 1
    searcher = make("nsga2", space, objectives, population_size=4)  # the rest failed
    first = searcher.ask(4)
    searcher.tell(first[0], evaluator.evaluate(first[0]))
    for arch in first[1:]:
        searcher.tell(arch, Metrics.failed("out of memory"))
    assert len({a.key for a in searcher.ask(4)}) == 4


def test_nsga2_restores_a_run_of_hundreds_of_generations(space, evaluator):
    objectives = [*ACCURACY, ("hw_fpga_latency_ms", "min")]
    history = [(a, evaluator.evaluate(a)) for a in list(space.enumerate())[:6000]]
    searcher = make("nsga2", space, objectives)  # 600 generations of parents to rebuild
    searcher.restore(history)
    (arch,) = searcher.ask(1)
    assert not any(arch == a for a, _ in history)


def test_nsga2_reads_the_trials_once_to_rebuild_every_generation(space, evaluator):
    """The first ask after a restore rebuilds the parents of every generation from one read
    of the trials, not one per generation (quadratic in the run's length)."""
    objectives = [*ACCURACY, ("hw_fpga_latency_ms", "min")]
    history = [(a, evaluator.evaluate(a)) for a in list(space.enumerate())[:400]]
    searcher = make("nsga2", space, objectives, population_size=10)  # 40 generations
    searcher.restore(history)
    reads, read = [], searcher.study._get_trials
    searcher.study._get_trials = lambda *args, **kwargs: reads.append(1) or read(*args, **kwargs)
    searcher.ask(1)
    assert len(reads) == 1


def test_predictor_takes_a_constraint_on_an_objective_metric(space, evaluator):
    objectives = [*ACCURACY, ("hw_fpga_latency_ms", "min")]
    constraints = [("hw_fpga_latency_ms", 4.0)]  # as examples/conv2d_mnist5k_latency.yaml
    known = evaluator.predictor("hw_fpga_latency_ms")
    for settings in ({}, {"latency_predictor": known}):
        searcher = make("predictor", space, objectives, constraints, **settings)
        run(searcher, evaluator, 20, batch=5)  # 10 guided proposals after the initial 10
        front = searcher.pareto_front()
        assert front and all(t.metrics["hw_fpga_latency_ms"] <= 4.0 for t in front)
        assert any(t.metrics["hw_fpga_latency_ms"] > 4.0 for t in searcher.trials if t.ok)
    assert searcher.predictors == {"hw_fpga_latency_ms": known}


def test_predictor_guides_a_search_of_three_objectives(space, evaluator):
    """Three objectives take the general hypervolume improvement (two have a sweep of their
    own), which no search in the tests reached: its guided asks are new cells."""
    objectives = [*ACCURACY, ("hw_fpga_latency_ms", "min"), ("hw_eyeriss_latency_ms", "min")]
    searcher = make("predictor", space, objectives, initial=10)
    run(searcher, evaluator, 20, batch=5)  # 10 uniform samples, then 2 guided asks of 5
    keys = [t.arch.key for t in searcher.trials]
    assert len(set(keys)) == 20 and all(t.ok for t in searcher.trials)
    front = searcher.pareto_front()
    assert front and all(len(searcher.loss(t.metrics)) == 3 for t in front)


def test_predictor_fits_its_surrogates_on_one_blas_thread(space, evaluator, monkeypatch):
    """Its MLPs' matrices are small: a second BLAS thread only waits for a core, and beside
    running evaluations (the other core busy) each ask took about 3x longer. The caller's
    setting comes back."""
    from sklearn.neural_network import MLPRegressor
    from threadpoolctl import threadpool_info, threadpool_limits

    threads, fit = [], MLPRegressor.fit

    def recording_fit(self, *args, **kwargs):
        threads.extend(p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas")
        return fit(self, *args, **kwargs)

    monkeypatch.setattr(MLPRegressor, "fit", recording_fit)
    searcher = make("predictor", space, [("accuracy", "max"), ("hw_fpga_latency_ms", "min")])
    with threadpool_limits(limits=2, user_api="blas"):
        run(searcher, evaluator, 12, batch=6)  # one fit: 5 MLPs per metric, after 10 random
        after = [p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"]
    assert len(threads) >= 10 and set(threads) == {1}
    assert set(after) == {2}


def test_predictor_guides_from_the_initial_count_on(space, evaluator, monkeypatch):
    from hwnas.search.predictor import PredictorSearcher

    guided, select = [], PredictorSearcher._select

    def counting_select(self, pool, done, n, rng):
        guided.append((len(self.trials), n, len(pool)))
        return select(self, pool, done, n, rng)

    monkeypatch.setattr(PredictorSearcher, "_select", counting_select)
    run(make("predictor", space, initial=10), evaluator, 16, batch=4)
    # uniform samples for the first 10 only; then pools of `candidates` (100), not one more
    assert guided == [(8, 2, 100), (12, 4, 100)]
    guided.clear()  # without initial samples: guided from 2 results, the fewest fitted on
    run(make("predictor", space, initial=0), evaluator, 4)
    assert guided == [(2, 1, 100), (3, 1, 100)]


def test_predictor_tops_up_a_batch_larger_than_its_candidate_pool(space, evaluator):
    """A pool smaller than the batch (a nearly exhausted space; here 2 candidates for 5) is
    picked whole and the rest drawn uniformly: a mutant asking the acquisition for the whole
    batch survived (with several objectives its greedy pick ran out of points)."""
    objectives = [*ACCURACY, ("hw_fpga_latency_ms", "min")]
    searcher = get_searcher("predictor", space, objectives, candidates=2, surrogate="extra_trees")
    run(searcher, evaluator, 10, batch=10)
    batch = searcher.ask(5)
    assert len({a.key for a in batch}) == 5
    assert not {a.key for a in batch} & {t.arch.key for t in searcher.trials if t.ok}


def test_predictor_candidates_are_one_to_three_changes_from_a_parent(space, evaluator):
    """With `explore` 0 every candidate mutates a parent in 1 to 3 choices; with 1 they are
    uniform samples, mostly farther (mutants sampling where they should mutate, or making at
    most 2 changes, survived)."""
    searcher = run(make("predictor", space, parents=1, explore=0.0), evaluator, 5)
    (parent,) = [t.arch for t in searcher._parents(searcher.trials)]

    def changes(pool):
        return [sum(a[edge] != parent[edge] for edge in EDGES) for a in pool]

    near = changes(searcher._candidates(searcher.trials, np.random.default_rng(0), set()))
    assert len(near) == 100 and set(near) == {1, 2, 3}
    searcher.explore = 1.0
    far = changes(searcher._candidates(searcher.trials, np.random.default_rng(0), set()))
    assert np.mean(np.array(far) > 3) > 0.5


def test_predictor_surrogates_are_seeded_by_the_seed_and_the_number_of_results(space, evaluator):
    """Each refit draws its surrogates' random state from the seed and the number of results
    (mutants leaving out either survived: every seed of a benchmark fitted alike, or every
    refit of a run)."""
    searchers = [run(make("predictor", space, seed=s), evaluator, 12) for s in (0, 1)]
    seeds = [
        searcher._models(searcher.trials[:n])["accuracy"][1].seed
        for searcher in searchers
        for n in (11, 12)
    ]
    assert len(set(seeds)) == 4
    assert searchers[0]._models(searchers[0].trials[:11])["accuracy"][1].seed == seeds[0]


@pytest.mark.parametrize("kind", ["gradient_boosting", "extra_trees", "random_forest", "gp"])
def test_a_surrogate_draws_its_randomness_from_its_seed(kind, monkeypatch):
    """The same seed fits the same model, another seed another one (mutants seeding a forest,
    or a Gaussian process's sample of results for its kernel, with 0 survived)."""
    monkeypatch.setattr(surrogates, "HYPERPARAMETER_SAMPLE", 20)
    rng = np.random.default_rng(0)
    x = rng.random((40, 3))
    y = np.sin(3 * x).sum(axis=1) + rng.normal(0, 0.1, 40)

    def predicted(seed):
        if kind == "gp":
            model = surrogates.make_surrogate("gaussian_process", None, seed)
        else:
            model = surrogates.make_surrogate(kind, 5, seed)
        return model.fit(x, y).predict(x + 0.05)[0]

    assert np.array_equal(predicted(0), predicted(0))
    assert not np.allclose(predicted(0), predicted(1))


def test_a_gaussian_process_weighs_every_input_alike_whatever_its_unit():
    """Its inputs are scaled to [0, 1]: a column in other units (a known model's latency in
    ms beside one-hot columns) predicts alike (a mutant fitting unscaled inputs survived)."""
    rng = np.random.default_rng(0)
    x, new = rng.random((30, 3)), rng.random((5, 3))
    y = x @ np.array([1.0, -1.0, 0.5])
    unit, offset = np.array([1.0, 1.0, 1000.0]), np.array([0.0, 0.0, 5.0])
    scaled = GaussianProcess(0).fit(x * unit + offset, y).predict(new * unit + offset)
    plain = GaussianProcess(0).fit(x, y).predict(new)
    assert np.allclose(scaled, plain, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("name", BLACK_BOX)
def test_failed_evaluations_are_handled(name, space, evaluator):
    searcher = make(name, space)
    for i in range(30):
        (arch,) = searcher.ask(1)
        if i % 3 == 0:  # `None` is a failed result too
            searcher.tell(arch, Metrics.failed("out of memory") if i % 2 else None)
        elif i % 3 == 1:
            searcher.tell(arch, Metrics({"accuracy": float("nan")}))
        else:
            searcher.tell(arch, evaluator.evaluate(arch))
    assert sum(t.ok for t in searcher.trials) == 10
    best = searcher.best()
    assert best.ok and best.metrics["accuracy"] == max(
        t.metrics["accuracy"] for t in searcher.trials if t.ok
    )
    with pytest.raises(KeyError, match="accuracy"):
        searcher.tell(searcher.ask(1)[0], Metrics({"acc": 1.0}))
    failed = searcher.trials[0].arch  # a failure is a result: it is not told again
    with pytest.raises(ValueError, match="already told"):
        searcher.tell(failed, evaluator.evaluate(failed))


@pytest.mark.parametrize("name", ["evolution", "predictor", "nsga2"])
def test_constraints_are_honoured(name, space, evaluator):
    constraints = [("hw_fpga_latency_ms", 4.0)]
    best, share, filtered = {}, {}, []
    # the predictor's margin needs more seeds; in batches of 15 it refits less often (a 0.75
    # point margin over random at 60 evaluations, against 0.3 at 40 in batches of 5)
    seeds, budget, batch = (10, 60, 15) if name == "predictor" else (3, BUDGET.get(name, 150), 5)
    for n in (name, "random"):
        for seed in range(seeds):
            searcher = make(n, space, constraints=constraints, seed=seed)
            run(searcher, evaluator, budget, batch=batch)
            assert searcher.best().metrics["hw_fpga_latency_ms"] <= 4.0
            front = searcher.pareto_front()
            assert front and all(t.metrics["hw_fpga_latency_ms"] <= 4.0 for t in front)
            best.setdefault(n, []).append(searcher.best().metrics["accuracy"])
            top = max(t.metrics["accuracy"] for t in searcher.trials if t.ok)
            filtered.append(top > best[n][-1])  # an infeasible trial was better
            feasible = [t.metrics["hw_fpga_latency_ms"] <= 4.0 for t in searcher.trials]
            share.setdefault(n, []).append(np.mean(feasible))
    assert any(filtered)  # so best() and pareto_front() above had something to leave out
    if name == "predictor":  # it ranks by accuracy x P(feasible): a better feasible result,
        assert np.mean(best[name]) > np.mean(best["random"])
        # with about random's share of the budget feasible (without P(feasible): half of it)
        assert np.mean(share[name]) > np.mean(share["random"]) - 0.1
    else:  # evolution and NSGA-II prefer feasible parents: more of the budget is feasible
        assert np.mean(share[name]) > np.mean(share["random"])


@pytest.mark.parametrize("name", ["evolution", "predictor"])
def test_single_objective_beats_random(name, space, evaluator):
    def mean_best(n):
        return np.mean(
            [
                run(make(n, space, seed=s), evaluator, BUDGET.get(name, 80), 5)
                .best()
                .metrics["accuracy"]
                for s in range(3)
            ]
        )

    assert mean_best(name) > mean_best("random")


@pytest.mark.parametrize(
    ("name", "settings"),
    [("nsga2", {}), ("predictor", {}), ("predictor", {"surrogate": "gaussian_process"})],
)
def test_multi_objective_beats_random(name, settings, space, evaluator):
    objectives = [("accuracy", "max"), ("hw_fpga_latency_ms", "min")]

    def mean_hypervolume(n):
        volumes = []
        for seed in range(3):
            budget = BUDGET.get(name, 150)
            searcher = make(n, space, objectives, seed=seed, **(settings if n == name else {}))
            run(searcher, evaluator, budget, batch=10)
            front = np.array(
                [
                    [100 - t.metrics["accuracy"], t.metrics["hw_fpga_latency_ms"]]
                    for t in searcher.pareto_front()
                ]
            )
            volumes.append(hypervolume(front, np.array([15.0, 8.0])))
        return np.mean(volumes)

    assert mean_hypervolume(name) > mean_hypervolume("random")


def test_pareto_helpers():
    points = np.array([[1.0, 5.0], [2.0, 2.0], [3.0, 3.0], [2.0, 2.0], [5.0, 1.0]])
    assert pareto_mask(points).tolist() == [True, True, False, True, True]
    assert hypervolume(points, np.array([6.0, 6.0])) == pytest.approx(5 + 12 + 1)
    assert hypervolume(np.array([[7.0, 1.0]]), np.array([6.0, 6.0])) == 0.0
    assert dominates(np.array([1.0, 2.0]), np.array([1.0, 3.0]))
    assert not dominates(np.array([1.0, 2.0]), np.array([1.0, 2.0]))  # equal: neither
    assert not dominates(np.array([1.0, 3.0]), np.array([2.0, 2.0]))  # a trade-off


def test_pareto_helpers_refuse_nan_and_points_of_other_shapes():
    # NaN compares false with everything: such a point was in every front, dominated
    # nothing and was left out of a hypervolume; one value was broadcast against three
    with pytest.raises(ValueError, match="pareto_mask: points holds NaN"):
        pareto_mask(np.array([[np.nan, 1.0], [2.0, 2.0], [1.0, 3.0]]))
    with pytest.raises(ValueError, match="hypervolume: points holds NaN"):
        hypervolume(np.array([[np.nan, 1.0], [0.5, 0.5]]), np.array([2.0, 2.0]))
    with pytest.raises(ValueError, match="hypervolume: ref holds NaN"):
        hypervolume(np.ones((1, 2)), np.array([np.nan, 2.0]))
    with pytest.raises(ValueError, match="dominates: b holds NaN"):
        dominates(np.array([1.0, 1.0]), np.array([np.nan, 2.0]))
    with pytest.raises(
        ValueError, match="dominates: a and b need the same objectives, not 1 and 3"
    ):
        dominates(np.array([0.0]), np.array([1.0, 2.0, 3.0]))
    with pytest.raises(ValueError, match=r"pareto_mask: points must be n x d, not shape \(3,\)"):
        pareto_mask(np.array([1.0, 2.0, 3.0]))
    with pytest.raises(ValueError, match="pareto_mask: points must be numbers of one shape"):
        pareto_mask([[1.0, 2.0], [3.0]])
    assert pareto_mask(np.empty((0, 2))).tolist() == [] and hypervolume([], [1.0, 1.0]) == 0.0


@pytest.mark.parametrize("objectives", [1, 2, 3])
def test_a_front_kept_point_by_point_is_the_front_of_all_points(objectives):
    from hwnas.search.pareto import add_to_front

    rng = np.random.default_rng(objectives)
    points = rng.integers(0, 30, size=(300, objectives)).astype(float)  # ties, duplicates
    front = np.empty((0, objectives))
    for i, point in enumerate(points):
        front = add_to_front(front, point)
        expected = points[: i + 1][pareto_mask(points[: i + 1])]
        assert sorted(map(tuple, front)) == sorted(map(tuple, expected))
    assert len(front) > 1


def test_hypervolume_refuses_points_and_reference_of_different_dimensions():
    points = np.array([[0.0, 0.0, 0.0], [1.0, 1.0, 1.0]])  # once read as three 2-D points
    with pytest.raises(ValueError, match=r"one value per objective \(3\), not shape \(2,\)"):
        hypervolume(points, np.array([2.0, 2.0]))
    assert hypervolume(np.array([1.0, 1.0]), np.array([2.0, 2.0])) == 1.0  # one point


def test_hypervolume_in_three_dimensions_counts_the_covered_cells():
    rng = np.random.default_rng(0)
    points = rng.integers(0, 5, size=(8, 3)).astype(float)  # on a lattice: the volume is
    cells = np.stack(np.meshgrid(*[np.arange(5.0)] * 3), axis=-1).reshape(-1, 3)  # exact
    covered = [np.any(np.all(points <= c, axis=1)) for c in cells]
    assert hypervolume(points, np.full(3, 5.0)) == sum(covered)


def test_the_search_package_imports_where_optuna_moved_its_private_hypervolume():
    """hwnas.search imported `compute_hypervolume` from Optuna's private `optuna._hypervolume`
    at import (Optuna 4 turned it from the class `WFG` into that function): a later Optuna
    that moves or renames it stopped every import of hwnas.search (the searchers, a run's
    results, the CLI's search). Only hypervolumes of three or more objectives need it."""
    code = (
        "import optuna._hypervolume as h; del h.compute_hypervolume\n"
        "from hwnas.search import hypervolume\n"
        "import hwnas.experiments.results\n"
        "print(hypervolume([[1.0, 2.0], [2.0, 1.0]], [3.0, 3.0]))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["3.0"]


def test_hypervolume_improvements_match_the_added_hypervolume():
    from hwnas.search.pareto import hypervolume_improvements

    rng = np.random.default_rng(2)
    for size, d in itertools.product((0, 1, 6), (2, 3)):  # 3: the general case, one by one
        ref = np.full(d, 1.0)
        front = rng.random((size, d))
        points = rng.random((40, d)) * 1.2  # some outside the box, some dominated
        base = hypervolume(front, ref)
        added = [hypervolume(np.vstack([front, p]), ref) - base for p in points]
        assert hypervolume_improvements(points, front, ref) == pytest.approx(added, abs=1e-12)
        assert np.count_nonzero(added) not in (0, len(points))


def test_reference_must_bound_every_objective(space):
    objectives = [("accuracy", "max"), ("hw_fpga_latency_ms", "min")]
    with pytest.raises(ValueError, match="reference: give a bound for every objective"):
        get_searcher("predictor", space, objectives, reference={"accuracy": 85.0})


def test_reference_with_one_objective_is_refused(space):
    """It bounds a hypervolume; with one objective it was accepted and did nothing."""
    with pytest.raises(ValueError, match="^reference: bounds the hypervolume of several"):
        get_searcher("predictor", space, [("accuracy", "max")], reference={"accuracy": 90.0})


def test_a_reference_beyond_every_observed_value_leaves_room_beyond_them():
    """The copula clamped it to the worst observed values: the observed points at the edge of
    the range left the front, and a better point as slow as the slowest scored nothing."""
    from hwnas.search.predictor import hypervolume_improvements
    from hwnas.search.surrogates import GaussianCopula

    accuracy, latency = (
        GaussianCopula(np.array([50.0, 60, 70])),
        GaussianCopula(np.array([1.0, 2, 3])),
    )
    assert np.all(np.diff(latency(np.array([0.0, 1, 1.5, 3, 10]))) > 0)  # monotone throughout
    assert latency(2.0) == latency.scores[1]  # the observed values keep their normal scores
    observed = np.column_stack(
        [-accuracy(np.array([50.0, 60, 70])), latency(np.array([1.0, 2, 3]))]
    )
    ref = np.array([-accuracy(0.0), latency(10.0)])
    assert np.all(ref > observed.max(axis=0))
    more_accurate_as_slow = np.array([[-accuracy(70.0) - 0.5, latency(3.0)]])
    assert hypervolume_improvements(more_accurate_as_slow, observed, ref)[0] > 0


def test_a_bound_beyond_a_metric_observed_at_one_value_lies_beyond_it():
    """Every value observed alike (a metric constant so far): the copula mapped any bound onto
    that value's score, so a bound every result exceeds looked met, since the surrogates,
    fitted on one value, predict its score without spread."""
    from hwnas.search.predictor import probability_at_most
    from hwnas.search.surrogates import GaussianCopula

    same = GaussianCopula(np.array([5.0, 5.0, 5.0]))
    assert np.all(np.diff(same(np.array([3.0, 4.0, 5.0, 6.0]))) > 0)
    predicted = same(np.array([5.0]))  # what a tree ensemble predicts, with zero spread
    assert probability_at_most(predicted, np.zeros(1), same(4.0)) == 0.0
    assert probability_at_most(predicted, np.zeros(1), same(6.0)) == 1.0


def test_greedy_hypervolume_picks_with_nothing_feasible_seen_or_predicted():
    """Crashed (a minimum over an empty front): a tight constraint on a known, exact model
    gives every candidate feasibility 0 before any feasible result is in."""
    from hwnas.search.predictor import greedy_hypervolume

    points = np.array([[0.0, 1.0], [1.0, 0.0], [0.5, 0.4]])
    picks = greedy_hypervolume(points, np.zeros(3), np.empty((0, 2)), 2)
    assert picks == [2, 0]  # the smallest losses first, then the next, each once


def test_greedy_hypervolume_ignores_points_outside_the_reference():
    from hwnas.search.predictor import greedy_hypervolume

    observed = np.array([[2.0, 2.0]])
    points = np.array([[0.0, 3.0], [1.95, 1.95]])
    feasible = np.ones(len(points))
    # in the default box (the points' range plus 10 %) the far corner [0, 3] adds the most
    assert greedy_hypervolume(points, feasible, observed, 1) == [0]
    # in a box ending at latency 2.5 it is worth nothing, and the small step is the pick
    assert greedy_hypervolume(points, feasible, observed, 1, np.array([4.0, 2.5])) == [1]


def test_greedy_hypervolume_falls_back_to_a_likely_feasible_point():
    """When no point improves the front, the pick was the nearest to it, even one certain to
    violate a constraint (feasibility 0, as an exact latency model gives it) beside a feasible
    one; with nothing likely feasible, the likeliest is picked."""
    from hwnas.search.predictor import greedy_hypervolume

    observed, ref = np.array([[0.0, 0.0]]), np.array([2.0, 2.0])
    points = np.array([[0.1, 0.1], [0.5, 0.5], [0.9, 0.9]])  # all dominated
    assert greedy_hypervolume(points, np.array([0.0, 1.0, 1.0]), observed, 2, ref) == [1, 2]
    assert greedy_hypervolume(points, np.array([0.0, 0.2, 0.3]), observed, 1, ref) == [2]
    # improving the front only where certainly infeasible improves nothing
    points[0] = [-0.1, 0.1]
    assert greedy_hypervolume(points, np.array([0.0, 1.0, 1.0]), observed, 1, ref) == [1]


class FixedValues:
    """A known model: one exact value per architecture."""

    def __init__(self, values):
        self.values = values

    def predict(self, archs):
        return np.array([self.values[a.key] for a in archs])


def test_a_candidate_known_to_be_at_its_bound_meets_the_constraint(space):
    """`metric <= bound`: a known model taken as exact that predicts the bound itself meets it
    for certain, but the normal CDF of a zero spread gave it odds of 1/2, halving its score."""
    archs = [space.sample(seed) for seed in range(4)]
    accuracy = dict(zip([a.key for a in archs], [50.0, 60.0, 90.0, 80.0]))
    latency = dict(zip([a.key for a in archs], [1.0, 1.0, 4.0, 3.0]))
    searcher = make(
        "predictor",
        space,
        constraints=[("latency", 4.0)],
        known_models="replace",
        predictors={"accuracy": FixedValues(accuracy), "latency": FixedValues(latency)},
    )
    for arch in archs[:2]:
        searcher.tell(arch, {"accuracy": accuracy[arch.key], "latency": latency[arch.key]})
    done = list(searcher.trials)
    pick = searcher._select(archs[2:], done, 1, np.random.default_rng(0))
    assert pick == [archs[2]]  # 90 % at the bound, not 80 % below it


def test_the_best_observed_value_is_that_of_the_feasible_trials(space):
    """Expected improvement is over the best feasible result, and the front the hypervolume
    grows is the feasible one (a mutant taking infeasible trials in too survived)."""
    searcher = make("predictor", space, constraints=[("latency_ms", 4.0)])
    for arch, (accuracy, latency) in zip(searcher.ask(3), [(90.0, 5.0), (80.0, 3.0), (70.0, 4.0)]):
        searcher.tell(arch, Metrics({"accuracy": accuracy, "latency_ms": latency}))
    scale = GaussianCopula(np.array([90.0, 80.0, 70.0]))
    observed = searcher._observed_losses(searcher.trials, [scale])
    assert observed[:, 0].tolist() == [-scale(80.0), -scale(70.0)]


def test_a_reference_decides_what_the_predictor_picks(space):
    """Without `reference` the box reaches past every candidate, and the far corner adds the
    most; bounded at 2.5 ms it adds nothing, and the small step is the pick (a mutant ignoring
    `reference` in the acquisition survived)."""
    archs = [space.sample(seed) for seed in range(5)]
    values = [(80.0, 2.0), (70.0, 1.0), (99.0, 3.0), (85.0, 1.9), (60.0, 10.0)]
    accuracy = {a.key: v[0] for a, v in zip(archs, values)}
    latency = {a.key: v[1] for a, v in zip(archs, values)}
    objectives = [*ACCURACY, ("latency_ms", "min")]
    for reference, expected in [
        (None, archs[2]),
        ({"accuracy": 60.0, "latency_ms": 2.5}, archs[3]),
    ]:
        searcher = make(
            "predictor",
            space,
            objectives,
            known_models="replace",
            predictors={"accuracy": FixedValues(accuracy), "latency_ms": FixedValues(latency)},
            reference=reference,
        )
        for arch in archs[:2]:
            searcher.tell(arch, {"accuracy": accuracy[arch.key], "latency_ms": latency[arch.key]})
        pick = searcher._select(archs[2:], list(searcher.trials), 1, np.random.default_rng(0))
        assert pick == [expected], reference


def knowing_fpga_latency(space, objectives, model, use: str):
    """A predictor searcher (a forest surrogate) given `model` as the known
    `hw_fpga_latency_ms`, used as `known_models` says."""
    return make(
        "predictor",
        space,
        objectives,
        predictors={"hw_fpga_latency_ms": model},
        known_models=use,
        surrogate="extra_trees",
    )


def test_a_known_model_as_a_feature_still_learns_its_metric_from_the_told_values(space, evaluator):
    """`feature`: the metric is learned from what was measured where the model is off (here by
    100 ms); `replace` takes the model as exact (a mutant replacing in both survived)."""
    objectives = [*ACCURACY, ("hw_fpga_latency_ms", "min")]
    exact = evaluator.predictor("hw_fpga_latency_ms")

    class Off:
        def predict(self, archs):
            return np.asarray(exact.predict(archs)) + 100.0

    for use in ("feature", "replace"):
        searcher = knowing_fpga_latency(space, objectives, Off(), use)
        run(searcher, evaluator, 10, batch=10)
        archs = [t.arch for t in searcher.trials]
        models = searcher._models(list(searcher.trials))
        mean = searcher._predict(models, archs)[0][:, 1]
        scale, _ = models["hw_fpga_latency_ms"]
        told = scale(np.array([t.metrics["hw_fpga_latency_ms"] for t in searcher.trials]))
        if use == "feature":
            assert np.all((told.min() <= mean) & (mean <= told.max()))
        else:
            assert mean == pytest.approx(Off().predict(archs))


def test_predictor_surrogate_defaults_follow_the_number_of_objectives(space):
    single = get_searcher("predictor", space, ACCURACY)
    multi = get_searcher("predictor", space, [("accuracy", "max"), ("hw_fpga_latency_ms", "min")])
    assert (single.surrogate, single.ensemble_size) == ("gradient_boosting", 3)
    assert (multi.surrogate, multi.ensemble_size) == ("mlp_then_gaussian_process", 5)
    with pytest.raises(ValueError, match="ensemble_size must be an integer >= 2"):
        get_searcher("predictor", space, ACCURACY, ensemble_size=0)
    with pytest.raises(ValueError, match="surrogate: unknown 'svm'"):
        get_searcher("predictor", space, ACCURACY, surrogate="svm")
    for given in (0, "", [], ["gp"]):  # taken for the default, or "unhashable type: 'list'"
        with pytest.raises(ValueError, match=re.escape(f"surrogate: unknown {given!r}")):
            get_searcher("predictor", space, ACCURACY, surrogate=given)
    with pytest.raises(ValueError, match="ensemble_size: the gaussian_process surrogate is no"):
        get_searcher("predictor", space, ACCURACY, surrogate="gaussian_process", ensemble_size=5)


def test_mlp_then_gaussian_process_switches_at_a_hundred_results(space, evaluator):
    """The default with several objectives: MLPs searched better below about 50 results, the
    Gaussian process from about 100 (docs/benchmarks.md)."""
    objectives = [("accuracy", "max"), ("hw_fpga_latency_ms", "min")]
    searcher = run(make("predictor", space, objectives, initial=100), evaluator, 100, batch=50)
    done = [t for t in searcher.trials if t.ok]
    early = searcher._models(done[:99])["accuracy"][1]
    assert isinstance(early, Ensemble) and (early.kind, len(early.members)) == ("mlp", 5)
    assert isinstance(searcher._models(done)["accuracy"][1], GaussianProcess)
    mlps = make(
        "predictor", space, objectives, surrogate="mlp_then_gaussian_process", ensemble_size=3
    )
    assert len(mlps._models(done[:50])["accuracy"][1].members) == 3


def test_a_restored_multi_objective_predictor_asks_alike_past_the_switch(
    space, evaluator, monkeypatch
):
    """Past 100 results the default fits Gaussian processes, on a sampled kernel fit beyond
    300 (here 105, to be reached in few asks): a searcher rebuilt from the stored trials
    still asks what the uninterrupted one does."""
    monkeypatch.setattr(surrogates, "HYPERPARAMETER_SAMPLE", 105)
    objectives = [("accuracy", "max"), ("hw_fpga_latency_ms", "min")]
    searcher = run(make("predictor", space, objectives, initial=100), evaluator, 110, batch=10)
    restored = make("predictor", space, objectives, initial=100)
    restored.restore([(t.arch, t.metrics) for t in searcher.trials])
    assert_proposes_alike(searcher, restored, evaluator, batch=5, rounds=2)


def test_gaussian_process_fits_its_hyperparameters_on_a_sample_of_many_results(
    space, evaluator, monkeypatch
):
    """Beyond 300 results the kernel is fitted on 300 of them (the likelihood costs the cube
    of the results), the process is conditioned on all, and it predicts as the full fit."""
    rng = np.random.default_rng(0)
    cells = [space.sample(rng) for _ in range(700)]
    x = np.stack([space.encode(space.live(a)) for a in cells])
    y = np.array([evaluator.evaluate(a)["accuracy"] for a in cells])
    y = GaussianCopula(y)(y)
    sampled = GaussianProcess(0).fit(x[:400], y[:400])
    assert sampled.model.X_train_.shape[0] == 400 and sampled.model.optimizer is None
    monkeypatch.setattr(surrogates, "HYPERPARAMETER_SAMPLE", 400)
    full = GaussianProcess(0).fit(x[:400], y[:400])
    assert full.model.optimizer is not None and full.model.kernel_ != sampled.model.kernel_
    errors = [np.sqrt(np.mean((g.predict(x[400:])[0] - y[400:]) ** 2)) for g in (sampled, full)]
    assert errors[0] < 1.05 * errors[1]


def test_a_gaussian_process_whose_kernel_sample_is_all_ties_fits_on_all_results(monkeypatch):
    """A metric that is nearly always one value (a rare 0/1 outcome): a sample that missed
    every other value fitted a kernel of no amplitude, so the process predicted no spread
    anywhere, near the value it had missed too."""
    monkeypatch.setattr(surrogates, "HYPERPARAMETER_SAMPLE", 50)
    rng = np.random.default_rng(0)
    x = rng.random((60, 3))
    sample = np.random.default_rng(0).choice(60, 50, replace=False)
    odd = next(i for i in range(60) if i not in sample)
    y = np.where(np.arange(60) == odd, 1.0, 0.0)
    process = GaussianProcess(0).fit(x, y)
    assert process.model.optimizer is not None  # the kernel fitted on all 60
    assert process.predict(x[[odd]] + 0.01)[0][0] > 0.5  # near the value the sample missed
    assert (process.predict(x[:3] + 0.3)[1] > 0.05).all()  # unsure away from the results


# the Gaussian process weighs the appended column like one of the encoding's 130: it gains less
# (seed 0: MLPs 0.82 against 0.60 without, the GP 0.76 against 0.70; seeds 1-3 gain more)
@pytest.mark.parametrize(
    ("surrogate", "floor", "margin"), [("mlp", 0.8, 0.15), ("gaussian_process", 0.6, 0.03)]
)
def test_predictor_uses_a_known_latency_model(surrogate, floor, margin, space, evaluator):
    from scipy.stats import spearmanr

    objectives = [("accuracy", "max"), ("hw_fpga_latency_ms", "min")]
    known = {"hw_fpga_latency_ms": evaluator.predictor("hw_fpga_latency_ms")}
    rng = np.random.default_rng(0)
    unseen = [space.sample(rng) for _ in range(200)]
    exact = np.array(known["hw_fpga_latency_ms"].predict(unseen))

    def predicted_latency(**settings):
        # 20 uniform cells, the same with and without the model: fitted on the same data
        searcher = make("predictor", space, objectives, surrogate=surrogate, initial=20, **settings)
        run(searcher, evaluator, 20, batch=10)
        models = searcher._models([t for t in searcher.trials if t.ok])
        scale, _ = models["hw_fpga_latency_ms"]
        return scale(exact), searcher._predict(models, unseen)[0][:, 1]

    # as a feature (the default) the learned latency ranks unseen cells better than without
    with_model, without_model = predicted_latency(predictors=known), predicted_latency()
    assert spearmanr(*with_model)[0] > max(floor, spearmanr(*without_model)[0] + margin)
    # replacing the surrogate, the known model's value is taken as it is
    assert predicted_latency(predictors=known, known_models="replace")[1] == pytest.approx(exact)
    with pytest.raises(ValueError, match="known_models: 'exact' is not one of"):
        make("predictor", space, objectives, predictors=known, known_models="exact")
    with pytest.raises(ValueError, match="predictors: 'params' is no objective"):
        make("predictor", space, objectives, predictors={"params": known["hw_fpga_latency_ms"]})


def test_predictor_models_accuracy_on_the_live_cell_and_latency_on_every_op(space, evaluator):
    """Twins that differ only in dead ops compute one function (the same accuracy up to
    training noise) while fpga runs their every op: the accuracy surrogate reading the whole
    cell told them apart, and searched the full NAS-Bench-201 space worse."""
    objectives = [("accuracy", "max"), ("hw_fpga_latency_ms", "min")]
    searcher = run(make("predictor", space, objectives), evaluator, 30, batch=10)
    ops = {**dict.fromkeys(EDGES, "nor_conv_3x3"), "3<-1": "none", "3<-2": "none"}
    dead, twin = space.arch(ops), space.arch({**dict.fromkeys(EDGES, "none"), "3<-0": ops["3<-0"]})
    assert space.live(dead) == twin
    models = searcher._models([t for t in searcher.trials if t.ok])
    mean = searcher._predict(models, [dead, twin])[0]
    assert mean[0, 0] == mean[1, 0]  # accuracy: one network
    assert mean[0, 1] > mean[1, 1]  # latency: five more convolutions run
    assert [measures_cost(m) for m in ("accuracy", "test_accuracy", "loss")] == [False] * 3
    costs = ("latency_ms", "lat_pixel2_ms", "train_time_s", "params", "macs", "size_bytes")
    assert all(measures_cost(m) for m in costs)
    # the latency predictor's metric is a cost, whatever its name; another known model's not
    objectives = [("accuracy", "max"), ("speed", "min")]
    known = {"accuracy": evaluator.predictor("hw_fpga_latency_ms")}
    timed = make(
        "predictor",
        space,
        objectives,
        latency_predictor=known["accuracy"],
        latency_metric="speed",
        predictors=known,
    )
    x = timed._features([dead, twin], None)
    width = (x.shape[1] - 2) // 2
    assert list(timed._columns("speed", x)) == [*range(width), 2 * width, 2 * width + 1]
    assert list(timed._columns("accuracy", x))[:width] == list(range(width, 2 * width))


def test_a_latency_predictor_without_a_latency_to_predict_says_what_to_do(space, evaluator):
    """With no latency objective or constraint the searcher asked to "name the metric the
    latency predictor predicts" among an empty list: there was none to name."""
    with pytest.raises(ValueError, match="no objective or constraint is a latency for it"):
        make(
            "predictor",
            space,
            [("accuracy", "max")],
            latency_predictor=evaluator.predictor("hw_fpga_latency_ms"),
        )


def test_known_models_replace_without_known_models_is_said_to_change_nothing(space):
    """`known_models: replace` in an experiment without a latency predictor ran silently as
    if set: there is no known model whose predictions it could take as exact."""
    with pytest.warns(UserWarning, match="known_models: 'replace' .* it changes nothing"):
        make("predictor", space, [("accuracy", "max")], known_models="replace")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        make("predictor", space, [("accuracy", "max")])  # the default says nothing


def test_a_known_model_that_gives_non_finite_values_is_named(space, evaluator):
    """scikit-learn refused its NaN inputs without saying whose (`feature`), and `replace`
    took the NaN as exact."""
    objectives = [("accuracy", "max"), ("hw_fpga_latency_ms", "min")]
    exact = evaluator.predictor("hw_fpga_latency_ms")

    class SometimesNaN:
        def predict(self, archs):
            return [math.nan if i == 3 else v for i, v in enumerate(exact.predict(archs))]

    for use in ("feature", "replace"):
        searcher = knowing_fpga_latency(space, objectives, SometimesNaN(), use)
        with pytest.raises(ValueError, match=r"predictors\['hw_fpga_latency_ms'\]: predict gave"):
            run(searcher, evaluator, 20, batch=10)


def test_a_known_model_that_gives_no_numbers_is_named(space, evaluator):
    """Text from a model of one's own ended the search in numpy's "could not convert string
    to float: 'fast'", and an int past a float's range in its bare "int too large to convert
    to float", naming neither the model nor its metric."""

    class Text:
        def predict(self, archs):
            return ["fast"] * len(archs)

    class Huge:
        def predict(self, archs):
            return [10**400] * len(archs)

    for model, why in ((Text(), "could not convert"), (Huge(), "int too large")):
        searcher = make(
            "predictor",
            space,
            [("accuracy", "max"), ("hw_fpga_latency_ms", "min")],
            predictors={"hw_fpga_latency_ms": model},
            surrogate="extra_trees",
        )
        said = rf"^predictors\['hw_fpga_latency_ms'\]: predict gave no numbers \({why}"
        with pytest.raises(ValueError, match=said):
            run(searcher, evaluator, 20, batch=10)


def test_settings_and_arguments_no_search_could_use_are_refused(space):
    """An infinite beta made every score NaN (the first candidates of the pool were picked);
    a tournament larger than the population was cut to it without a word; a dict told as an
    architecture failed on `.key`."""
    with pytest.raises(ValueError, match="beta must be a finite number, not inf"):
        make("predictor", space, [("accuracy", "max")], beta=math.inf)
    with pytest.raises(ValueError, match="beta must be a finite number, not 1000"):
        make("predictor", space, [("accuracy", "max")], beta=10**400)  # no bare OverflowError
    with pytest.raises(ValueError, match="tournament_size must be an integer <= 5, not 50"):
        make("evolution", space, population_size=5, tournament_size=50)
    searcher = make("random", space)
    (arch,) = searcher.ask(1)
    with pytest.raises(TypeError, match=r"tell takes an Arch, not a dict \(space.arch\(choices\)"):
        searcher.tell(dict(arch), Metrics({"accuracy": 1.0}))
    with pytest.raises(TypeError, match=r"restore takes an Arch, not a dict"):
        make("random", space).restore([(dict(arch), Metrics({"accuracy": 1.0}))])


def test_ctrl_c_while_an_mlp_surrogate_trains_stops_the_search():
    """scikit-learn's MLP swallows KeyboardInterrupt (it stops training and warns), so a
    predictor searcher ignored Ctrl-C and SIGTERM while it refit; the interrupt goes through."""
    import signal
    import threading

    from sklearn.neural_network import MLPRegressor

    from hwnas.search.surrogates import fit_interruptibly

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(1000, 50)), rng.normal(size=1000)
    model = MLPRegressor(hidden_layer_sizes=(256, 256), max_iter=2000, tol=0, random_state=0)
    stop = threading.Event()

    def ctrl_c_mid_training() -> None:
        # once an epoch is done the MLP is in its training loop, where it catches Ctrl-C (a
        # fixed 0.5 s delay landed before fit on a loaded machine: no n_iter_, and no MLP)
        while getattr(model, "n_iter_", 0) < 1:
            if stop.wait(0.01):
                return
        signal.raise_signal(signal.SIGINT)

    interrupter = threading.Thread(target=ctrl_c_mid_training, daemon=True)
    interrupter.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            fit_interruptibly(model, x, y)
    finally:
        stop.set()
        interrupter.join()
    assert 1 <= model.n_iter_ < 2000  # stopped in its training, not after it


class LastFirstExecutor(LocalExecutor):
    """Evaluates what was submitted last first: results come back in another order than
    asked, as they do from Ray's workers."""

    def results(self, timeout=None):
        self._queue.rotate(1)
        return super().results(timeout)


@pytest.mark.parametrize("executor", ["LocalExecutor", "LastFirstExecutor"])
def test_the_guides_own_loop_example_runs(executor, monkeypatch, tmp_path):
    """docs/guide.md's ask/tell loop with an evaluator of one's own runs as pasted, and its
    restored searcher goes on with the same search also when results come back out of ask
    order (the loop first stored them as they came, which restore cannot replay)."""
    guide = (Path(__file__).resolve().parents[1] / "docs" / "guide.md").read_text()
    section = guide.split("### Your own loop and evaluator in Python")[1]
    code = section.split("```python\n")[1].split("```")[0]
    assert "with LocalExecutor(DepthAndSize()) as executor:" in code
    code = code.replace("with LocalExecutor(", f"with {executor}(")
    monkeypatch.chdir(tmp_path)
    exec(compile(code, "guide.md", "exec"), {"LastFirstExecutor": LastFirstExecutor})


def test_a_result_at_its_bound_meets_the_constraint(space):
    """Constraints mean `metric <= bound`: a result exactly at its bound is feasible (with
    `<` it was left out of best() and the front, and no test noticed)."""
    searcher = make("random", space, constraints=[("latency_ms", 4.0)])
    at, over = searcher.ask(2)
    searcher.tell(at, Metrics({"accuracy": 50.0, "latency_ms": 4.0}))
    searcher.tell(over, Metrics({"accuracy": 90.0, "latency_ms": 4.001}))
    assert searcher.best().arch == at
    assert [t.arch for t in searcher.pareto_front()] == [at]


def test_the_pareto_front_is_the_non_dominated_trials_in_ask_order(space):
    """Checked only for feasibility before: the dominated trials passed for a front."""
    objectives = [("accuracy", "max"), ("latency_ms", "min")]
    searcher = make("random", space, objectives)
    archs = searcher.ask(5)
    values = [(70.0, 2.0), (80.0, 3.0), (75.0, 3.5), (90.0, 5.0), (70.0, 2.0)]
    for arch, (accuracy, latency) in zip(archs, values, strict=True):
        searcher.tell(arch, Metrics({"accuracy": accuracy, "latency_ms": latency}))
    assert [t.arch for t in searcher.pareto_front()] == [archs[0], archs[1], archs[3], archs[4]]


@pytest.mark.parametrize("name", BLACK_BOX)
def test_the_seed_decides_the_proposals(name, space):
    """The same seed proposes the same; another seed, other architectures (a searcher that
    ignored its seed made every seed of a benchmark one run)."""
    first = [a.key for a in make(name, space, seed=0).ask(5)]
    assert [a.key for a in make(name, space, seed=0).ask(5)] == first
    assert [a.key for a in make(name, space, seed=1).ask(5)] != first


def test_nsga2_restore_keeps_the_constraint_values(space, evaluator):
    """The restore test has no constraints: a restored study without the trials' constraint
    values chose other parents than the live one."""
    objectives = [*ACCURACY, ("hw_fpga_latency_ms", "min")]
    constraints = [("hw_fpga_latency_ms", 3.0)]
    searcher = make("nsga2", space, objectives, constraints, seed=1, population_size=6)
    run(searcher, evaluator, 30, batch=3)
    restored = make("nsga2", space, objectives, constraints, seed=1, population_size=6)
    restored.restore((t.arch, t.metrics) for t in searcher.trials)
    assert_proposes_alike(searcher, restored, evaluator, batch=3)


def test_restore_refuses_a_history_of_other_items_before_telling_any(space, evaluator):
    """A dict of stored pairs (not its `.values()`), or bare archs, ended in Python's "too
    many values to unpack" after the first items were told, so a retry with the right
    history then needed a new searcher."""
    searcher = make("random", space, seed=1)
    run(searcher, evaluator, 4, batch=2)
    stored = {t.arch.key: (t.arch, t.metrics) for t in searcher.trials}
    fresh = make("random", space, seed=1)
    for wrong, given in ((stored, "str"), ([t.arch for t in searcher.trials], "Arch")):
        with pytest.raises(TypeError, match=rf"restore: history\[0\] is {given} .*, not an"):
            fresh.restore(wrong)
    fresh.restore(stored.values())  # the same searcher, nothing told by the refused calls
    assert_proposes_alike(searcher, fresh, evaluator, batch=2)


@pytest.mark.parametrize("name", BLACK_BOX)
def test_a_refused_restore_leaves_the_searcher_fresh(name, space, evaluator):
    """A history with a damaged record partway (another space's architecture, metrics
    lacking the objective, an architecture asked twice) is refused with none of it restored:
    the records before it were told, and a retry with the right history was refused as
    needing a fresh searcher."""
    searcher = make(name, space, seed=1)
    run(searcher, evaluator, 4, batch=2)
    history = [(t.arch, t.metrics) for t in searcher.trials]
    other = get_space("conv1d").sample(np.random.default_rng(0))
    fresh = make(name, space, seed=1)
    with pytest.raises(SpaceError, match="arch is from space 'conv1d'"):
        fresh.restore([*history[:2], (other, history[2][1]), *history[2:]])
    with pytest.raises(KeyError, match=r"metrics lack \['accuracy'\]"):
        fresh.restore([*history[:3], (history[3][0], {"latency_ms": 1.0})])
    with pytest.raises(ValueError, match=f"^restore: arch {history[1][0].key} appears twice"):
        fresh.restore([*history, history[1]])  # its first record was told, then refused
    fresh.restore(history)
    assert_proposes_alike(searcher, fresh, evaluator, batch=2)


def test_evolution_population_is_the_youngest_successful_trials(space, evaluator):
    """Aging evolution: the oldest trials leave the population (failed ones never join)."""
    searcher = make("evolution", space, population_size=4)
    for i, arch in enumerate(searcher.ask(10)):
        searcher.tell(arch, Metrics.failed("boom") if i == 8 else evaluator.evaluate(arch))
    assert [t.index for t in searcher.population()] == [5, 6, 7, 9]


def one_step_from(arch, members):
    """Whether `arch` differs from one of `members` in exactly one choice (a mutation of it)."""
    return any(sum(arch[k] != m[k] for k in m) == 1 for m in members)


def test_evolution_tournaments_prefer_feasible_then_the_smaller_violation(space):
    """Feasible trials beat infeasible ones and rank by the objective, however much slack
    they leave; among infeasible ones the smaller violation wins however good its objective
    (mutants ranking them by feasibility then accuracy, or counting slack as a negative
    violation, survived the evolution tests)."""
    searcher = make("evolution", space, constraints=[("latency_ms", 4.0)])
    values = [(95.0, 6.0), (50.0, 3.0), (90.0, 5.0), (70.0, 4.0)]
    for arch, (accuracy, latency) in zip(searcher.ask(4), values, strict=True):
        searcher.tell(arch, Metrics({"accuracy": accuracy, "latency_ms": latency}))
    assert [t.index for t in sorted(searcher.trials, key=searcher.rank)] == [3, 1, 2, 0]


def test_evolution_tournaments_between_equal_violations_prefer_the_better_objective(space):
    """Equal violations are common where latencies take few values (a table's): the better
    objective wins between them, whichever the tournament drew first (it was unspecified)."""
    searcher = make("evolution", space, constraints=[("latency_ms", 4.0)])
    values = [(60.0, 5.0), (90.0, 5.0), (80.0, 5.0)]
    for arch, (accuracy, latency) in zip(searcher.ask(3), values, strict=True):
        searcher.tell(arch, Metrics({"accuracy": accuracy, "latency_ms": latency}))
    assert [t.index for t in sorted(searcher.trials, key=searcher.rank)] == [1, 2, 0]


def test_evolution_tournament_of_the_whole_population_mutates_its_best(space, evaluator):
    """A tournament the size of the population is won by its best member every time (a
    mutant holding tournaments of one fewer survived the evolution tests)."""
    searcher = run(make("evolution", space, population_size=5, tournament_size=5), evaluator, 5)
    best = searcher.best().arch
    children = [searcher.ask(1)[0] for _ in range(20)]  # not told: the population stays
    assert all(one_step_from(child, [best]) for child in children)


def test_evolution_mutates_from_the_population_size_on_within_one_ask(space, evaluator):
    """Uniform samples only until `population_size` were asked, counting those of the same
    `ask` (a mutant counting only the trials before the ask sampled the whole batch)."""
    searcher = run(make("evolution", space, population_size=4), evaluator, 3)
    members = [t.arch for t in searcher.trials]
    first, *children = searcher.ask(3)
    assert not one_step_from(first, members)  # the 4th ask: still a uniform sample
    assert all(one_step_from(child, members) for child in children)


@pytest.mark.parametrize("odds", [1.0, 0.5])
def test_greedy_hypervolume_spreads_one_batch_along_the_front(odds):
    """Each pick likely feasible (odds >= 0.5, a mutant asking > 0.5 survived) joins the
    front: the point next to the first pick adds nothing after it."""
    from hwnas.search.predictor import greedy_hypervolume

    points = np.array([[0.0, 1.0], [0.01, 1.0], [1.0, 0.5]])
    feasible = np.full(3, odds)
    picks = greedy_hypervolume(points, feasible, np.empty((0, 2)), 2, np.array([2.0, 2.0]))
    assert picks == [0, 2]


def test_greedy_hypervolume_falls_back_to_the_point_nearest_any_of_the_front():
    """Nearness to the front is to its nearest point (a mutant measuring to the farthest
    survived), and once the likely feasible points are picked the likeliest of the others
    come next, each once (a mutant weighing the picked ones too picked the first again)."""
    from hwnas.search.predictor import greedy_hypervolume

    observed, ref = np.array([[0.0, 1.0], [1.0, 0.0]]), np.array([2.0, 2.0])
    points = np.array([[0.5, 1.2], [0.05, 1.05]])  # both dominated; the second hugs [0, 1]
    assert greedy_hypervolume(points, np.ones(2), observed, 1, ref) == [1]
    points = np.array([[0.1, 1.1], [0.5, 1.5], [0.9, 1.9]])
    assert greedy_hypervolume(points, np.array([1.0, 0.2, 0.3]), observed, 3, ref) == [0, 2, 1]


def test_expected_improvement_is_the_mean_gain_below_the_best_value():
    """Below the smallest observed loss (mutants taking the largest, or dividing by a zero
    spread into NaN, survived), and without one, larger for the smaller means."""
    from hwnas.search.predictor import expected_improvement

    mu, certain = np.array([1.0, 2.0, 3.0]), np.zeros(3)
    gains = expected_improvement(mu, certain, np.array([2.0, 5.0]))
    assert gains == pytest.approx([1.0, 0.0, 0.0], abs=1e-8)
    unsure = expected_improvement(mu, np.ones(3), np.array([2.0, 5.0]))
    assert np.all(np.diff(unsure) < 0) and unsure[2] < 0.1
    assert np.all(np.diff(expected_improvement(mu, np.ones(3), np.empty(0))) < 0)


def test_a_copula_extrapolates_at_the_slope_across_the_observed_range():
    """Beyond the observed values the scores go on at the slope from the lowest to the
    highest (a mutant at one score per unit survived: for params counted in millions a bound
    just past the largest network lay a million scores beyond it)."""
    for unit in (1.0, 1e6):
        copula = GaussianCopula(np.array([1.0, 2.0, 3.0]) * unit)
        span = copula(3.0 * unit) - copula(1.0 * unit)
        assert copula(5.0 * unit) - copula(3.0 * unit) == pytest.approx(span)
        assert copula(1.0 * unit) - copula(0.0) == pytest.approx(span / 2)


def test_hypervolume_improvements_ignore_a_front_beyond_the_box():
    """Front points outside the box below `ref` cover none of it (a mutant keeping them in
    the sweep survived: its step beyond the box counted as free room)."""
    from hwnas.search.pareto import hypervolume_improvements

    ref, point = np.array([1.0, 1.0]), np.array([[0.2, 0.2]])
    for outside in ([0.5, 1.5], [1.5, 0.5]):
        front = np.array([outside])
        assert hypervolume_improvements(point, front, ref) == pytest.approx([0.64])


def test_hypervolume_of_two_objectives_in_a_box_that_is_no_square():
    """The tests' references were all squares: a sweep reading the wrong bound passed."""
    points = np.array([[1.0, 1.0], [2.0, 0.5]])
    assert hypervolume(points, np.array([3.0, 2.0])) == pytest.approx(2.0 + 0.5)


def test_evolution_tournaments_draw_from_the_whole_population(space, evaluator):
    """Tournaments of 2 out of 10: the children come from many members (a mutant whose
    contenders were always the first two members survived the evolution tests)."""
    searcher = make("evolution", space, population_size=10, tournament_size=2)
    run(searcher, evaluator, 10)
    members = [t.arch for t in searcher.population()]
    parents = set()
    for _ in range(30):
        (child,) = searcher.ask(1)  # not told: the population stays the same
        parents |= {i for i, m in enumerate(members) if sum(child[k] != m[k] for k in m) == 1}
    assert len(parents) > 2, parents


def test_sample_unseen_skips_what_it_is_told_to_exclude(space):
    """`exclude` holds the batch being built (not yet seen): ignored, a searcher could
    propose one architecture twice in a batch."""
    searcher = make("random", space)
    first = space.sample(np.random.default_rng(0))
    assert searcher.sample_unseen(np.random.default_rng(0)) == first
    assert searcher.sample_unseen(np.random.default_rng(0), {first.key}) != first


def test_a_reference_bounds_a_maximised_objective_from_below(space):
    """Accuracy >= 85 in the box: its bound is signed like the accuracy it compares with (a
    mutant dropping the sign put every point outside the box, unnoticed)."""
    from hwnas.search.surrogates import GaussianCopula

    objectives = [("accuracy", "max"), ("hw_fpga_latency_ms", "min")]
    reference = {"accuracy": 85.0, "hw_fpga_latency_ms": 5.0}
    searcher = get_searcher("predictor", space, objectives, reference=reference)
    accuracy = GaussianCopula(np.array([80.0, 90, 95]))
    latency = GaussianCopula(np.array([1.0, 3, 9]))
    ref = searcher._reference_losses([accuracy, latency])
    inside, too_poor, too_slow = [
        np.array([-accuracy(a), latency(t)]) for a, t in [(90.0, 3.0), (80.0, 3.0), (90.0, 9.0)]
    ]
    assert np.all(inside < ref)
    assert too_poor[0] > ref[0] and too_slow[1] > ref[1]


def test_predictor_mutates_feasible_trials_before_better_infeasible_ones(space):
    """Its parents are the best feasible trials (one objective), or the Pareto layers of the
    feasible ones first (several): mutants ranking by the objectives first, or taking the
    front of all trials, bred from the infeasible ones a constraint was set to exclude."""
    rng = np.random.default_rng(0)
    archs = [space.sample(rng) for _ in range(5)]
    # (accuracy, latency, params); params <= 1 is the constraint: the first two exceed it
    results = [(95.0, 1.0, 2.0), (94.0, 1.5, 2.0), (80.0, 3.0, 0.5), (70.0, 4.0, 0.5)]
    results.append((60.0, 2.0, 0.5))  # on the feasible front, beside the 80
    two = [*ACCURACY, ("hw_fpga_latency_ms", "min")]
    # several objectives: feasible layers, then infeasible ones, until `parents` are chosen
    cases = [(ACCURACY, 2, [2, 3]), (two, 2, [2, 4]), (two, 5, [2, 4, 3, 0, 1])]
    for objectives, parents, expected in cases:
        searcher = make("predictor", space, objectives, [("params", 1.0)], parents=parents)
        for arch, (accuracy, latency, params) in zip(archs, results, strict=True):
            metrics = {"accuracy": accuracy, "hw_fpga_latency_ms": latency, "params": params}
            searcher.tell(arch, Metrics(metrics))
        assert [t.index for t in searcher._parents(searcher.trials)] == expected, objectives


def test_nsga2_draws_a_repeated_proposal_again_from_another_stream(space, evaluator):
    """A proposal already seen is discarded and drawn again, each try reseeded apart: a
    mutant reseeding every try alike drew the same duplicate all 100 tries, then fell back to
    a uniform sample (20 of 100 proposals, and 2000 discarded study trials, 10x slower)."""
    objectives = [*ACCURACY, ("hw_fpga_latency_ms", "min")]
    searcher = run(make("nsga2", space, objectives), evaluator, 100, batch=10)
    assert len(searcher.study.get_trials(deepcopy=False)) < 2 * len(searcher.trials)


def test_a_constraint_violation_is_the_same_whatever_sum_this_python_has(space, monkeypatch):
    """The violation ranks infeasible candidates; Python 3.12's `sum()` compensates rounding
    where 3.11's does not, so excesses of 0.1, 0.2 and 0.3 added up to 0.6 on one and to
    0.6000000000000001 on the other (a tie broken otherwise on another Python)."""
    from hwnas.search import base

    limits = [("a", 10.0), ("b", 10.0), ("c", 10.0)]
    searcher = get_searcher("random", space, ACCURACY, limits)
    metrics = {"accuracy": 50.0, "a": 11.0, "b": 12.0, "c": 13.0}  # 0.1, 0.2, 0.3 over
    added = {}
    for adding in (sum, python312_sum):
        monkeypatch.setattr(base, "sum", adding, raising=False)
        added[adding] = searcher.violation(metrics)
    assert added[sum] == added[python312_sum] == pytest.approx(0.6)

"""Black-box searchers on the MetaFormer spaces, whose canonical form is not always the choices
drawn (a kernel is snapped to one the mixer has, blocks beyond a stage's depth are dropped).
The metrics are the architectures' analytic costs: real values with a trade-off, no table."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from hwnas.evaluators.metrics import Metrics
from hwnas.search import Searcher, get_searcher, nsga2
from hwnas.spaces import SpaceError, get_space

OBJECTIVES = [("params", "min"), ("macs", "max")]  # a front: small networks that compute a lot


def cost(space, arch) -> Metrics:
    c = space.cost(arch)
    return Metrics({"params": float(c.params), "macs": float(c.macs)})


@pytest.mark.parametrize(
    ("name", "space_name"),
    [("random", "conv1d"), ("nsga2", "conv1d"), ("nsga2", "conv2d"), ("predictor", "conv1d")],
)
def test_a_restored_searcher_proposes_what_the_live_one_does(name, space_name):
    space = get_space(space_name)
    settings = {"nsga2": {"population_size": 6}, "predictor": {"candidates": 50}}.get(name, {})
    # the predictor refits its surrogates at each ask: 16 trials (past its 10 initial ones)
    # and 2 guided asks after the restore check it at a third of the cost
    before, after = (4, 2) if name == "predictor" else (6, 4)
    for seed in range(4 if name == "nsga2" else 1):
        live = get_searcher(name, space, OBJECTIVES, seed=seed, **settings)
        for _ in range(before):
            for arch in live.ask(4):
                live.tell(arch, cost(space, arch))
        restored = get_searcher(name, space, OBJECTIVES, seed=seed, **settings)
        restored.restore([(t.arch, t.metrics) for t in live.trials])
        for _ in range(after):
            expected = live.ask(4)
            assert [a.key for a in restored.ask(4)] == [a.key for a in expected], seed
            for arch in expected:
                live.tell(arch, cost(space, arch))
                restored.tell(arch, cost(space, arch))


def test_nsga2_children_inherit_every_choice_of_a_metaformer_space():
    """Without crossover, a child is a parent with a choice or so drawn anew (Optuna's
    mutation, 1 / the number of choices each): it differs from an earlier trial in a few
    choices. Optuna crosses and mutates only the choices every parent holds, and blocks past a
    stage's smallest depth, kernels and dilations were missing from some, so those were drawn
    anew in every child: 6 to 15 choices away from every trial on conv1d."""
    space = get_space("conv1d")
    searcher = get_searcher("nsga2", space, OBJECTIVES, seed=0, crossover_prob=0)
    for _ in range(8):
        for arch in searcher.ask(10):
            searcher.tell(arch, cost(space, arch))
    trials = [t.arch for t in searcher.trials]

    def apart(a, b) -> int:
        return sum(a.get(name) != b.get(name) for name in a.keys() | b.keys())

    nearest = [min(apart(child, t) for t in trials[:i]) for i, child in enumerate(trials) if i]
    later = sorted(nearest[19:])  # past the first two generations
    assert later[len(later) // 2] <= 3, nearest  # the median child


def test_nsga2_drops_discarded_duplicates_from_its_study_and_proposes_the_same(
    tmp_path, monkeypatch
):
    """Near the exhaustion of a small space most proposals are duplicates: the study, rebuilt
    without them (and with the trials in flight), stays small, and the search is the one the
    uncompacted study makes."""
    data = yaml.safe_load((Path(__file__).parent / "data" / "exhaustible_space.yaml").read_text())
    path = tmp_path / "small.yaml"
    path.write_text(yaml.safe_dump({**data, "stages": data["stages"][:1]}))
    space = get_space(path)
    assert space.cardinality == 72
    runs, largest = {}, {}
    for compact_after in (10**9, 0):
        monkeypatch.setattr(nsga2, "COMPACT_AFTER", compact_after)
        searcher = get_searcher("nsga2", space, OBJECTIVES, seed=1, population_size=6)
        largest[compact_after], in_flight = 0, []
        while batch := searcher.ask(4):  # one batch stays in flight while the next is asked
            study_size = len(searcher.study.get_trials(deepcopy=False))
            largest[compact_after] = max(largest[compact_after], study_size)
            for arch in in_flight:
                searcher.tell(arch, cost(space, arch))
            in_flight = batch
        runs[compact_after] = searcher
    assert [t.arch.key for t in runs[0].trials] == [t.arch.key for t in runs[10**9].trials]
    assert len(runs[0].trials) == 72
    # compacted: the 72 trials and at most one batch's discarded tries (4 x (100 + 1))
    assert largest[0] <= 72 + 4 * 101 < largest[10**9]


@pytest.mark.parametrize("name", ["random", "evolution", "nsga2", "predictor"])
def test_batches_across_each_phase_use_up_the_space_once_each(name, tmp_path):
    """Asks of 25 in a space of 72: a batch draws uniform samples (the first generation, the
    young population, the initial samples) and guided proposals after them, which must avoid
    the samples of their own batch (mutants forgetting the batch, in NSGA-II's draws or the
    predictor's candidate pool, proposed an architecture twice unnoticed)."""
    data = yaml.safe_load((Path(__file__).parent / "data" / "exhaustible_space.yaml").read_text())
    path = tmp_path / "small.yaml"
    path.write_text(yaml.safe_dump({**data, "stages": data["stages"][:1]}))
    space = get_space(path)
    settings = {
        "evolution": {"population_size": 10},
        "nsga2": {"population_size": 6},
        "predictor": {"initial": 20, "candidates": 50},
    }.get(name, {})
    objectives = OBJECTIVES[:1] if name == "evolution" else OBJECTIVES
    searcher = get_searcher(name, space, objectives, seed=0, **settings)
    asked = searcher.ask(2)
    for arch in asked:
        searcher.tell(arch, cost(space, arch))
    while batch := searcher.ask(25):
        asked += batch
        for arch in batch:
            searcher.tell(arch, cost(space, arch))
    assert len({a.key for a in asked}) == len(asked) == space.cardinality == 72


def test_the_predictor_learns_from_measured_candidates_its_latency_table_cannot_price(tmp_path):
    """A run that measures latency while the predictor searcher uses a table without w4a8
    evaluates w4a8 candidates (its uniform samples) successfully: their features took the
    table's price and raised, ending the search (and each resume) at its first guided ask.
    They take the measured latency instead."""
    from hwnas.predictors import LUTPredictor, PredictorError
    from hwnas.search.predictor import _can_predict

    data = Path(__file__).parent / "data"
    path = tmp_path / "tiny2d.yaml"
    path.write_text((data / "tiny2d.yaml").read_text().replace("[fp32, int8]", "[fp32, w4a8]"))
    space = get_space(path)
    table = LUTPredictor.from_profile(data / "tiny2d_ort.csv", space)  # measured fp32, int8

    def measured(arch) -> Metrics:  # the costs stand in for a training and a measurement
        c = space.cost(arch)
        return Metrics({"accuracy": c.params / 100.0, "latency_ms": c.macs / 1e6})

    searcher = get_searcher(
        "predictor",
        space,
        [("accuracy", "max")],
        [("latency_ms", 0.1)],
        latency_predictor=table,
        initial=4,
        candidates=30,
    )
    for arch in searcher.ask(4):
        searcher.tell(arch, measured(arch))
    unpriced = [t.arch for t in searcher.trials if "w4a8" in t.arch.values()]
    assert unpriced, "no uniform sample with a w4a8 block: the test checks nothing"
    with pytest.raises(PredictorError):
        table.predict(unpriced)
    for _ in range(2):  # guided asks: the surrogates are fitted on every trial
        asked = searcher.ask(3)
        assert len({a.key for a in asked}) == 3
        for arch in asked:
            searcher.tell(arch, measured(arch))
    assert searcher.best() is not None
    # the priced ones keep the table's price (a mutant giving every trial its measured latency
    # survived), so the feature means one thing for trials and for candidates alike
    archs, told = [t.arch for t in searcher.trials], [t.metrics for t in searcher.trials]
    priced = [_can_predict(table, a) for a in archs]
    assert 0 < sum(priced) < len(archs)
    expected = [
        table.predict([a])[0] if p else m["latency_ms"] for a, p, m in zip(archs, priced, told)
    ]
    assert searcher._known("latency_ms", archs, told).tolist() == pytest.approx(expected)
    assert expected != pytest.approx([m["latency_ms"] for m in told])


class Uniform(Searcher):
    """A searcher of one's own, as the `Searcher` docstring says to write one: `_propose`
    draws from `rng_for_ask`, so `restore` makes it propose what it would have."""

    def _propose(self, n):
        rng, batch = self.rng_for_ask(), []
        while len(batch) < n:
            batch.append(self.sample_unseen(rng, {a.key for a in batch}))
        return batch


def test_a_searcher_of_ones_own_draws_anew_at_each_ask_with_nothing_told():
    """`rng_for_ask` is a function of the asks, not of the results: an asynchronous run asks
    again before any result is back (seeded by the finished count, both asks' generators
    were alike, and a searcher drawing plainly from it proposed its first draw again)."""

    class Plain(Uniform):
        def _propose(self, n):
            rng = self.rng_for_ask()
            return [self.space.sample(rng) for _ in range(n)]

    searcher = Plain(get_space("conv1d"), OBJECTIVES, seed=3)
    first, second = searcher.ask(1), searcher.ask(1)
    assert first != second and len(searcher.trials) == 2


def test_a_searcher_of_ones_own_is_restored_and_its_broken_proposals_named():
    """A subclass's `_propose` answer is checked by `ask`, naming the class: dicts of
    choices failed later with "'dict' object has no attribute 'key'", another space's
    architectures were registered and sent to the evaluator, and more than asked were all
    taken."""
    space, other = get_space("conv1d"), get_space("conv2d")
    live = Uniform(space, OBJECTIVES, seed=3)
    for arch in live.ask(5):
        live.tell(arch, cost(space, arch))
    restored = Uniform(space, OBJECTIVES, seed=3)
    restored.restore([(t.arch, t.metrics) for t in live.trials])
    assert restored.ask(3) == live.ask(3)

    class Dicts(Uniform):
        def _propose(self, n):
            return [dict(a) for a in super()._propose(n)]

    class Elsewhere(Uniform):
        def _propose(self, n):
            return [other.sample(i) for i in range(n)]

    class More(Uniform):
        def _propose(self, n):
            return super()._propose(n + 1)

    class Repeats(Uniform):  # the second copy was refused after the first was registered
        def _propose(self, n):
            return super()._propose(1) * n

    for cls, said in [
        (Dicts, r"Dicts\._propose\(2\) proposed .*takes an Arch, not a dict"),
        (Elsewhere, r"Elsewhere\._propose\(2\) proposed .*from space 'conv2d'"),
        (More, r"More\._propose\(2\) returned 3 architectures, more than asked"),
        (Repeats, r"Repeats\._propose\(2\) proposed arch [0-9a-f]+ twice"),
    ]:
        searcher = cls(space, OBJECTIVES)
        with pytest.raises((SpaceError, RuntimeError), match=said):
            searcher.ask(2)
        assert searcher.trials == []  # nothing of the refused answer registered

    class Again(Uniform):  # proposes its first architecture once more
        def _propose(self, n):
            return [self.trials[0].arch] if self.trials else super()._propose(n)

    searcher = Again(space, OBJECTIVES)
    searcher.ask(1)
    with pytest.raises(RuntimeError, match=r"Again\._propose\(1\) proposed arch [0-9a-f]+ twice"):
        searcher.ask(1)
    assert len(searcher.trials) == 1

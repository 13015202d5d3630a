"""Variants of the nsga2 searcher tried against the HV target, none kept.

    cd benchmarks && ../.venv/bin/python search_nsga2_variants.py --variant box \
        --first-seed 100 --seeds 20 --latency hw_eyeriss_latency_ms hw_raspi4_latency_ms

Each variant replaces one piece of the searcher in this process only; the default nsga2 on
the same seeds is `search_multi.py --searchers nsga2 --jobs 1` with the same `--latency` and
`--first-seed`.

- `box`: the HV protocol's box as two extra NSGA-II constraints. Points outside it (accuracy
  below 100 - 15, latency above the column's 95th percentile) add nothing to the
  hypervolume; with their relative excess over both bounds as constraints they lose every
  comparison with points inside.
- `hv-truncation`: the elite selection fills the population front by front as NSGA-II does,
  but cuts the front that does not fit by dropping, one at a time, the point of least
  exclusive hypervolume contribution (SMS-EMOA's rule) instead of the most crowded.
- `space-mutation`: NSGA-II's selection and crossover as Optuna does them, but the child's
  mutation is one `space.mutate` (one edge to another op, growing a path in the pruned
  space) instead of redrawing each choice with probability 1/6, which leaves about a third
  of the children unmutated and cannot grow a pruned cell.
- `whole-front`: the elite selection keeps the whole first front when it outgrows the
  population (the parents of the next generation are then every non-dominated point found),
  instead of cutting it to `population_size` by crowding distance.
- `naive`: not NSGA-II; the benchdata README's "naive multi-objective evolution" as we read
  it (SEMO): 10 uniform samples, then each proposal is one `space.mutate` of a uniformly drawn
  member of the Pareto front of everything evaluated so far, asked in batches of 10.
- `pareto-local-search`: not NSGA-II; Pareto local search as SEMO's exhaustive sibling: each
  front member in turn (drawn uniformly among those not yet explored) has all its unseen
  neighbours evaluated, asked in batches of 10.
- `motpe`: not NSGA-II either; Optuna's multi-objective TPE (multivariate, constant liar for
  the batches of 10, 10 random starts) through `space.suggest`. A proposal already evaluated
  is told its stored result and asked again, one repeated within its batch is told failed.
"""

from __future__ import annotations

import argparse

import numpy as np
import optuna
from optuna.samplers.nsgaii._elite_population_selection_strategy import (
    NSGAIIElitePopulationSelectionStrategy,
    _rank_population,
)
from optuna.study import StudyDirection
from optuna.study._constrained_optimization import _is_constrained_optimization
from optuna.trial import TrialState
from search_common import error_latency_points, hv_ratio_setup, search, tabular

from hwnas.search.nsga2 import AskOrderNSGAIISampler, NSGA2Searcher
from hwnas.search.pareto import pareto_mask

BUDGETS = (100, 300)
BOX: dict[str, float | str] = {}  # the box of the latency column being searched
SPACE_NAME = ["nasbench201"]  # the space searched (--space)


def _box_excess(metrics) -> dict[str, float]:
    accuracy_min, latency_max = BOX["accuracy"], BOX["latency"]
    return {
        "box:accuracy": (accuracy_min - metrics["accuracy"]) / accuracy_min,
        "box:latency": (metrics[BOX["metric"]] - latency_max) / latency_max,
    }


def _told_with_box(self, trial) -> None:
    """`NSGA2Searcher._told` for a searcher without constraints of its own, plus the box."""
    optuna_trial = self._optuna_trials.pop(trial.arch.key, None)
    if optuna_trial is None:
        self._add_finished(trial)
        return
    if not trial.metrics.ok:
        self.study.tell(optuna_trial, state=TrialState.FAIL)
        return
    for name, excess in _box_excess(trial.metrics).items():
        optuna_trial.set_constraint(name, excess)
    self.study.tell(optuna_trial, [trial.metrics[o.metric] for o in self.objectives])
    self.sampler.result_arrived(trial.index // self.population_size, self._choices(trial))


def hv_contributions(points: np.ndarray) -> np.ndarray:
    """Exclusive 2-D hypervolume of each point of a non-dominated set (both minimised), in
    units of the set's span, against a reference 10 % of the span beyond its worst corner."""
    order = np.argsort(points[:, 0])
    p = points[order]
    span = p.max(0) - p.min(0) + 1e-12
    ref = p.max(0) + 0.1 * span
    right = np.append(p[1:, 0], ref[0])
    up = np.insert(p[:-1, 1], 0, ref[1])
    contributions = np.empty(len(p))
    contributions[order] = (right - p[:, 0]) / span[0] * (up - p[:, 1]) / span[1]
    return contributions


class HVTruncation(NSGAIIElitePopulationSelectionStrategy):
    def __call__(self, study, population):
        ranks = _rank_population(
            population, study.directions, is_constrained=_is_constrained_optimization(population)
        )
        sign = np.array([-1.0 if d == StudyDirection.MAXIMIZE else 1.0 for d in study.directions])
        elite: list = []
        for front in ranks:
            front = list(front)
            while len(elite) + len(front) > self._population_size:
                points = np.array([t.values for t in front]) * sign
                front.pop(int(np.argmin(hv_contributions(points))))
            elite.extend(front)
            if len(elite) == self._population_size:
                break
        return elite


class WholeFront(NSGAIIElitePopulationSelectionStrategy):
    def __call__(self, study, population):
        constrained = _is_constrained_optimization(population)
        first = _rank_population(population, study.directions, is_constrained=constrained)[0]
        if len(first) >= self._population_size:
            return list(first)
        return super().__call__(study, population)


def _use_elite_selection(strategy) -> None:
    init = AskOrderNSGAIISampler.__init__

    def with_strategy(self, **settings):
        init(self, **settings)
        self._elite_population_selection_strategy = strategy(
            population_size=settings["population_size"]
        )

    AskOrderNSGAIISampler.__init__ = with_strategy


class SpaceMutation:
    """Optuna's child (crossover or a copy of a parent, no per-choice redraw), then one
    `space.mutate` drawn from the sampler's reseeded stream."""

    def __init__(self, space, strategy):
        self.space, self.strategy = space, strategy
        strategy._mutation_prob = 0.0

    def __call__(self, study, search_space, parents):
        child = self.strategy(study, search_space, parents)
        rng = np.random.default_rng(self.strategy._rng.rng.randint(2**31))
        mutated = self.space.mutate(self.space.canonical(child), rng)
        return {name: value for name, value in mutated.items() if name in search_space}


def _use_space_mutation() -> None:
    new_study = NSGA2Searcher._new_study

    def with_space_mutation(self):
        new_study(self)
        strategy = self.sampler._child_generation_strategy
        self.sampler._child_generation_strategy = SpaceMutation(self.space, strategy)

    NSGA2Searcher._new_study = with_space_mutation


def _unseen(space, seen: set, rng, parents=()):
    """The first of 200 mutations of uniformly drawn `parents` not in `seen`, else a uniform
    sample not in `seen`. Once every neighbour of the front is evaluated, mutation gives
    nothing new: on fpga SEMO got there in some seeds and, before this fallback, evaluated
    duplicates."""
    for _ in range(200 if parents else 0):
        arch = space.mutate(parents[rng.integers(len(parents))], rng)
        if arch.key not in seen:
            return arch
    while (arch := space.sample(rng)).key in seen:
        pass
    return arch


def _neighbourhood(space, front, explored: set, seen: set, rng) -> list:
    """The unseen neighbours (what 200 draws of `space.mutate` give: all 24 in nearly every
    case) of a uniformly drawn front member not yet explored, the first such that has any."""
    unexplored = [a for a in front if a.key not in explored]
    while unexplored:
        parent = unexplored.pop(rng.integers(len(unexplored)))
        explored.add(parent.key)
        draws = {m.key: m for m in (space.mutate(parent, rng) for _ in range(200))}
        fresh = [m for key, m in draws.items() if key not in seen]
        if fresh:
            return fresh
    return []


def naive_evolution(latency: str, seed: int, budget: int, batch: int = 10):
    """SEMO on the table: mutations of uniformly drawn front members, never a duplicate."""
    return _front_evolution(latency, seed, budget, batch, whole_neighbourhood=False)


def pareto_local_search(latency: str, seed: int, budget: int, batch: int = 10):
    """PLS on the table: every unseen neighbour of each front member, one member at a time."""
    return _front_evolution(latency, seed, budget, batch, whole_neighbourhood=True)


def _front_evolution(latency, seed, budget, batch, whole_neighbourhood, initial=10):
    """Evolution from the Pareto front of everything evaluated, in batches of `batch` after
    `initial` uniform samples: each proposal a mutation of a uniformly drawn front member
    (SEMO), or with `whole_neighbourhood` the queued neighbours of one front member after
    another (Pareto local search); uniform samples when neither gives anything new."""
    evaluator = tabular(SPACE_NAME[0])
    space, rng = evaluator.space, np.random.default_rng(seed)
    archs, results, queue, explored = [], [], [], set()
    while len(results) < budget:
        points = error_latency_points(results, latency) if results else np.empty((0, 2))
        front = [archs[i] for i in np.flatnonzero(pareto_mask(points))]
        seen = {a.key for a in archs}
        for _ in range(min(batch, budget - len(results))):
            if len(archs) < initial:
                arch = _unseen(space, seen, rng)
            elif whole_neighbourhood:
                queue = queue or _neighbourhood(space, front, explored, seen, rng)
                arch = queue.pop(0) if queue else _unseen(space, seen, rng)
            else:
                arch = _unseen(space, seen, rng, front)
            seen.add(arch.key)
            archs.append(arch)
        results += [evaluator.evaluate(a) for a in archs[len(results) :]]
    return results


def motpe(latency: str, seed: int, budget: int, batch: int = 10):
    """Optuna's multi-objective TPE on the table, never evaluating an architecture twice."""
    evaluator = tabular(SPACE_NAME[0])
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # no "study created" line per seed
    sampler = optuna.samplers.TPESampler(
        seed=seed, multivariate=True, constant_liar=True, n_startup_trials=10
    )
    study = optuna.create_study(directions=["maximize", "minimize"], sampler=sampler)
    evaluated, results = {}, []

    def told(trial, metrics) -> None:
        study.tell(trial, [metrics["accuracy"], metrics[latency]])

    while len(results) < budget:
        proposals = {}
        while len(proposals) < min(batch, budget - len(results)):
            trial = study.ask()
            arch = evaluator.space.suggest(trial)
            if arch.key in evaluated:
                told(trial, evaluated[arch.key])
            elif arch.key in proposals:
                study.tell(trial, state=TrialState.FAIL)
            else:
                proposals[arch.key] = (trial, arch)
        for key, (trial, arch) in proposals.items():
            evaluated[key] = evaluator.evaluate(arch)
            results.append(evaluated[key])
            told(trial, evaluated[key])
    return results


ALTERNATIVES = {  # searchers other than NSGA-II
    "naive": naive_evolution,
    "pareto-local-search": pareto_local_search,
    "motpe": motpe,
}


def ratios(latency: str, seed: int, variant: str) -> list[float]:
    normalised_hv, total, ref = hv_ratio_setup(latency)
    BOX.update(accuracy=100 - ref[0], latency=ref[1], metric=latency)
    objectives = [("accuracy", "max"), (latency, "min")]
    if variant in ALTERNATIVES:
        results = ALTERNATIVES[variant](latency, seed, max(BUDGETS))
    else:
        results = search(
            "nsga2", objectives, seed=seed, budget=max(BUDGETS), batch=10, space=SPACE_NAME[0]
        )
    points = error_latency_points(results, latency)
    return [normalised_hv(points[:b]) / total for b in BUDGETS]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--variant",
        choices=["box", "hv-truncation", "space-mutation", "whole-front", *ALTERNATIVES],
        required=True,
    )
    parser.add_argument("--space", default="nasbench201")
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--first-seed", type=int, default=100)
    parser.add_argument(
        "--latency", nargs="+", default=["hw_eyeriss_latency_ms", "hw_raspi4_latency_ms"]
    )
    args = parser.parse_args()
    SPACE_NAME[0] = args.space
    if args.variant == "box":
        NSGA2Searcher._told = _told_with_box
    elif args.variant == "hv-truncation":
        _use_elite_selection(HVTruncation)
    elif args.variant == "whole-front":
        _use_elite_selection(WholeFront)
    elif args.variant == "space-mutation":
        _use_space_mutation()
    for latency in args.latency:
        seeds = range(args.first_seed, args.first_seed + args.seeds)
        r = np.array([ratios(latency, s, args.variant) for s in seeds])
        cells = ", ".join(f"@{b}: {r[:, i].mean():.3f}" for i, b in enumerate(BUDGETS))
        error = r[:, -1].std() / np.sqrt(len(r))
        print(f"{latency} {args.variant}, HV ratio {cells} (± {error:.3f})", flush=True)


if __name__ == "__main__":
    main()

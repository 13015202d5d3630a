"""Searchers: what to evaluate next, through one ask/tell protocol (`Searcher`)."""

from __future__ import annotations

from typing import Any

from hwnas.search.base import PASSED, Constraint, Objective, Searcher, Trial
from hwnas.search.evolution import EvolutionSearcher
from hwnas.search.nsga2 import NSGA2Searcher
from hwnas.search.pareto import dominates, hypervolume, pareto_mask
from hwnas.search.predictor import PredictorSearcher
from hwnas.search.random import RandomSearcher
from hwnas.spaces import SearchSpace, as_space
from hwnas.spaces.errors import check_setting_names, did_you_mean

SEARCHERS: dict[str, type[Searcher]] = {
    "random": RandomSearcher,
    "evolution": EvolutionSearcher,
    "nsga2": NSGA2Searcher,
    "predictor": PredictorSearcher,
}
NAMES = (*SEARCHERS, "differentiable")


def get_searcher(
    name: str,
    space: SearchSpace | str,
    objectives: Any,
    constraints: Any = (),
    seed: int = 0,
    **settings: Any,
) -> Searcher:
    """A searcher by name (`random`, `evolution`, `nsga2`, `predictor`, `differentiable`).

    `objectives` are `[(metric, "min"|"max"), ...]`, `constraints` `[(metric, bound), ...]`
    meaning `metric <= bound`; `settings` go to the searcher's constructor. `space` may be
    named (a built-in or a space file).
    """
    space = as_space(space)
    if name == "differentiable":  # imported lazily: it pulls in the supernet and training
        from hwnas.search.differentiable import DifferentiableSearcher

        searcher_class: type[Searcher] = DifferentiableSearcher
    elif name in SEARCHERS:
        searcher_class = SEARCHERS[name]
        check_setting_names(f"searcher {name!r}", settings, searcher_class.__init__, passed=PASSED)
    else:
        raise ValueError(
            f"unknown searcher {name!r}{did_you_mean(name, NAMES)}; "
            f"choose one of {', '.join(NAMES)}"
        )
    return searcher_class(space, objectives, constraints, seed, **settings)


__all__ = [
    "NAMES",
    "SEARCHERS",
    "Constraint",
    "EvolutionSearcher",
    "NSGA2Searcher",
    "Objective",
    "PredictorSearcher",
    "RandomSearcher",
    "Searcher",
    "Trial",
    "dominates",
    "get_searcher",
    "hypervolume",
    "pareto_mask",
]

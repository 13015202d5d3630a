"""Searchers: what to evaluate next, through one ask/tell protocol (`Searcher`)."""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from hwnas.search.base import PASSED, Constraint, Objective, Searcher, Trial
from hwnas.search.pareto import dominates, hypervolume, pareto_mask
from hwnas.spaces import SearchSpace, as_space
from hwnas.spaces.errors import check_setting_names, did_you_mean

if TYPE_CHECKING:  # what `__getattr__` imports on first use, for type checkers to see
    from hwnas.search.evolution import EvolutionSearcher
    from hwnas.search.nsga2 import NSGA2Searcher
    from hwnas.search.predictor import PredictorSearcher
    from hwnas.search.random import RandomSearcher

#: black-box searcher name -> "module:class", imported on first use, as the evaluators are:
#: the predictor searcher's module pulls in scikit-learn and scipy (1.7 s here), which
#: reading a run or a Pareto front (`hwnas status`, `pareto`, `export`) does not need
SEARCHERS = {
    "random": "hwnas.search.random:RandomSearcher",
    "evolution": "hwnas.search.evolution:EvolutionSearcher",
    "nsga2": "hwnas.search.nsga2:NSGA2Searcher",
    "predictor": "hwnas.search.predictor:PredictorSearcher",
}
NAMES = (*SEARCHERS, "differentiable")


def searcher_class(name: str) -> type[Searcher]:
    """The class of the black-box searcher `name` (a KeyError for any other name)."""
    module, cls = SEARCHERS[name].split(":")
    return getattr(import_module(module), cls)


def __getattr__(name: str) -> type[Searcher]:
    """The searcher classes by class name (`from hwnas.search import PredictorSearcher`)."""
    key = next((k for k, path in SEARCHERS.items() if path.endswith(f":{name}")), None)
    if key is None:
        raise AttributeError(f"module 'hwnas.search' has no attribute {name!r}")
    return searcher_class(key)


def __dir__() -> list[str]:
    """The module's names with the searcher classes resolved on first use (tab completion,
    `help()`)."""
    return sorted({*globals(), *(path.split(":")[1] for path in SEARCHERS.values())})


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

        cls: type[Searcher] = DifferentiableSearcher
    elif name in SEARCHERS:
        cls = searcher_class(name)
        check_setting_names(f"searcher {name!r}", settings, cls.__init__, passed=PASSED)
    else:
        raise ValueError(
            f"unknown searcher {name!r}{did_you_mean(name, NAMES)}; "
            f"choose one of {', '.join(NAMES)}"
        )
    return cls(space, objectives, constraints, seed, **settings)


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
    "searcher_class",
    "hypervolume",
    "pareto_mask",
]

"""Searchers: what to evaluate next, through one ask/tell protocol (`Searcher`)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from importlib import import_module
from typing import Any

from hwnas.search.base import PASSED, Constraint, Objective, Searcher, Trial
from hwnas.search.pareto import dominates, hypervolume, pareto_mask
from hwnas.spaces import SearchSpace, as_space
from hwnas.spaces.errors import check_setting_names, did_you_mean

#: the black-box searchers: name (also their module's) -> class
_CLASSES = {
    "random": "RandomSearcher",
    "evolution": "EvolutionSearcher",
    "nsga2": "NSGA2Searcher",
    "predictor": "PredictorSearcher",
}


class _Searchers(Mapping[str, type[Searcher]]):
    """The black-box searchers by name, each module imported on first use: the predictor
    searcher's pulls in scikit-learn and scipy (1.7 s here), which reading a run or a
    Pareto front (`hwnas status`, `pareto`, `export`) does not need."""

    def __getitem__(self, name: str) -> type[Searcher]:
        class_name = _CLASSES[name]  # a KeyError for any other name, as a dict's
        return getattr(import_module(f"hwnas.search.{name}"), class_name)

    def __iter__(self) -> Iterator[str]:
        return iter(_CLASSES)

    def __len__(self) -> int:
        return len(_CLASSES)


SEARCHERS: Mapping[str, type[Searcher]] = _Searchers()
NAMES = (*SEARCHERS, "differentiable")


def __getattr__(name: str) -> type[Searcher]:
    """The searcher classes by class name (`from hwnas.search import PredictorSearcher`)."""
    key = next((k for k, cls in _CLASSES.items() if cls == name), None)
    if key is None:
        raise AttributeError(f"module 'hwnas.search' has no attribute {name!r}")
    return SEARCHERS[key]


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

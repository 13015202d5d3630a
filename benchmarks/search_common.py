"""Shared pieces of the search benchmarks: the NB201 table, a search loop, the HV protocol.

Protocol (../shared/benchdata/README.md): searchers see `accuracy` =
cifar10valid_valid_acc_200ep; the reported result is `test_accuracy` = cifar10_test_200ep of
the architecture a searcher returns (its best by validation).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from hwnas.evaluators.tabular import TabularEvaluator, load_nb201
from hwnas.search import get_searcher, hypervolume
from hwnas.spaces import get_space

SPACE = get_space("nasbench201")
EVALUATOR = TabularEvaluator(SPACE, cost=False)
# the library's NB201 spaces: all 15625 cells, or only those without dead ops
SPACES = ("nasbench201", "nasbench201-pruned")


@lru_cache
def tabular(space: str) -> TabularEvaluator:
    """The table's evaluator for one of `SPACES`."""
    return EVALUATOR if space == SPACE.name else TabularEvaluator(get_space(space), cost=False)


def searched(
    name, objectives, constraints=(), seed=0, budget=100, batch=1, space=SPACE.name, **settings
):
    """A searcher run on the table for `budget` evaluations, asked in batches of `batch`;
    its `trials` hold them in ask order."""
    evaluator = tabular(space)
    searcher = get_searcher(name, evaluator.space, objectives, constraints, seed=seed, **settings)
    while len(searcher.trials) < budget:
        for arch in searcher.ask(min(batch, budget - len(searcher.trials))):
            searcher.tell(arch, evaluator.evaluate(arch))
    return searcher


def search(*args, **kwargs):
    """Run a searcher on the table (`searched`); the metrics of every evaluation in ask order."""
    return [t.metrics for t in searched(*args, **kwargs).trials]


def error_latency_points(metrics, latency: str) -> np.ndarray:
    """(error, latency) of each evaluation, the plane the HV protocol scores."""
    return np.array([[100 - m["accuracy"], m[latency]] for m in metrics])


def hv_ratio_setup(latency: str):
    """The normalised HV function, the hypervolume of all 15625 rows and the reference point
    (error, latency) of the README's protocol."""
    table = load_nb201(latency=latency.startswith("lat_"))  # the 24-device columns
    points = np.stack([100 - table["cifar10valid_valid_acc_200ep"], table[latency]], axis=1)
    low = points.min(axis=0)
    ref = np.array([15.0, np.percentile(table[latency], 95)])
    scale = ref - low

    def normalised_hv(p: np.ndarray) -> float:
        return hypervolume((p - low) / scale, np.ones(2))

    return normalised_hv, normalised_hv(points), ref

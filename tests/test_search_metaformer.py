"""Black-box searchers on the MetaFormer spaces, whose canonical form is not always the choices
drawn (a kernel is snapped to one the mixer has, blocks beyond a stage's depth are dropped).
The metrics are the architectures' analytic costs: real values with a trade-off, no table."""

from __future__ import annotations

import pytest

from hwnas.evaluators.metrics import Metrics
from hwnas.search import get_searcher
from hwnas.spaces import get_space

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
    for seed in range(4 if name == "nsga2" else 1):
        live = get_searcher(name, space, OBJECTIVES, seed=seed, **settings)
        for _ in range(6):
            for arch in live.ask(4):
                live.tell(arch, cost(space, arch))
        restored = get_searcher(name, space, OBJECTIVES, seed=seed, **settings)
        restored.restore([(t.arch, t.metrics) for t in live.trials])
        for _ in range(4):
            expected = live.ask(4)
            assert [a.key for a in restored.ask(4)] == [a.key for a in expected], seed
            for arch in expected:
                live.tell(arch, cost(space, arch))
                restored.tell(arch, cost(space, arch))

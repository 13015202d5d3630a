"""The `Evaluator` protocol: turn an `Arch` into `Metrics`, nothing else.

An evaluator never decides what to try next (that is a searcher's job); it must be picklable
so executors can ship it to Ray workers once. It may say which metrics a successful
evaluation returns (`metric_names`, as every built-in one does): a run then refuses an
objective or constraint it cannot score before anything is evaluated.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from hwnas.evaluators.metrics import Metrics
from hwnas.spaces import Arch, SearchSpace


@runtime_checkable
class Evaluator(Protocol):
    """What executors run: any picklable object with the `space` it scores and
    `evaluate(arch, budget=None) -> Metrics` (see the module docstring)."""

    space: SearchSpace

    def evaluate(self, arch: Arch, budget: float | None = None) -> Metrics:
        """Score one architecture; failures come back as `Metrics.failed(reason)`."""
        ...

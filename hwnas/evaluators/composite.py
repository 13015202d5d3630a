"""`CompositeEvaluator`: several evaluators as one, their metrics merged into one `Metrics`.

So one call returns, say, training accuracy, predicted latency and the analytic costs. Every
part runs even when an earlier one failed (a failed training still has a latency); the merged
result is failed if any part failed, with the first failure's reason.
"""

from __future__ import annotations

from collections.abc import Sequence

from hwnas.evaluators.base import Evaluator
from hwnas.evaluators.metrics import Metrics
from hwnas.spaces import Arch


class CompositeEvaluator:
    def __init__(self, parts: Sequence[Evaluator]):
        if not parts:
            raise ValueError("a composite evaluator needs at least one part")
        spaces = {id(p.space) for p in parts}
        if len(spaces) > 1:
            names = [f"{type(p).__name__}: {p.space!r}" for p in parts]
            raise ValueError(f"all parts must evaluate the same space object, got {names}")
        self.parts = list(parts)
        self.space = parts[0].space

    def evaluate(self, arch: Arch, budget: float | None = None) -> Metrics:
        result = Metrics()
        for part in self.parts:
            result = result.merged(part.evaluate(arch, budget))
        return result

"""`CompositeEvaluator`: several evaluators as one, their metrics merged into one `Metrics`.

So one call returns, say, training accuracy, predicted latency and the analytic costs. Every
part runs even when an earlier one failed or raised (a failed training still has a latency);
the merged result is failed if any part failed, with the first failure's reason. The one
exception: a `latency` part that predicts (runs nothing) is asked first, and where it cannot
price the candidate (a table without its int8 blocks) that failure is the result at once:
training it first wasted the whole training of every such candidate. Its metrics still merge
in the parts' order, so a candidate it prices is reported exactly as before. Two parts
reporting one metric with different values (a trained and a table `accuracy`) fail it too,
naming the metric: the merged value would silently be the last part's.
"""

from __future__ import annotations

from collections.abc import Sequence

from hwnas.evaluators.base import Evaluator
from hwnas.evaluators.executors import safe_evaluate
from hwnas.evaluators.latency import LatencyEvaluator
from hwnas.evaluators.metrics import Metrics, same_value
from hwnas.spaces import Arch
from hwnas.spaces.reprs import facts_repr, named


class CompositeEvaluator:
    """Several evaluators of one space object as one: `evaluate` runs every part and merges
    their metrics (what `get_evaluator([...], space)` returns for a list of names)."""

    def __init__(self, parts: Sequence[Evaluator]):
        if not parts:
            raise ValueError("a composite evaluator needs at least one part")
        spaces = {id(p.space) for p in parts}
        if len(spaces) > 1:
            names = [f"{type(p).__name__}: {p.space!r}" for p in parts]
            raise ValueError(
                f"all parts must evaluate the same space object, got {names}: make them with "
                "one (each get_space or named space is a new object)"
            )
        self.parts = list(parts)
        self.space = parts[0].space

    @facts_repr
    def __repr__(self) -> list[str]:
        """Its space and the kinds of its parts."""
        parts = ", ".join(type(part).__name__ for part in self.parts)
        return [*named(space=self.space.name), f"parts=[{parts}]"]

    @property
    def metric_names(self) -> tuple[str, ...] | None:
        """Every part's metrics; None when a part does not say which it returns."""
        names = [getattr(part, "metric_names", None) for part in self.parts]
        if any(n is None for n in names):
            return None
        return tuple(dict.fromkeys(m for part in names for m in part))

    def evaluate(self, arch: Arch, budget: float | None = None) -> Metrics:
        """Every part's metrics merged; a part's failure fails the whole, as do two parts
        reporting one metric with different values (which would be the right one?). A
        predicted latency comes first: where it fails, that is the result, the rest unrun."""
        predicted = {
            i: safe_evaluate(part, arch, budget)
            for i, part in enumerate(self.parts)
            if _predicts_latency(part)
        }
        if unpriced := next((m for m in predicted.values() if not m.ok), None):
            return unpriced  # the candidate fails whatever the others say: train nothing
        result = Metrics()
        owners: dict[str, str] = {}  # metric -> the part that reported it first
        for i, part in enumerate(self.parts):
            metrics = predicted[i] if i in predicted else safe_evaluate(part, arch, budget)
            name = type(part).__name__
            clash = sorted(
                k for k in metrics if k in result and not same_value(result[k], metrics[k])
            )
            if clash:
                first = " and ".join(sorted({owners[k] for k in clash}))
                reason = f"{first} and {name} both report {clash} with different values"
                metrics = metrics.merged(Metrics.failed(reason))
            for key in metrics:
                owners.setdefault(key, name)
            result = result.merged(metrics)
        return result


def _predicts_latency(part: Evaluator) -> bool:
    """Whether `part` predicts latency instead of measuring it: it runs nothing, so it is
    asked before the other parts (a measuring one keeps its place)."""
    return isinstance(part, LatencyEvaluator) and part.predictor is not None

"""How an evaluation fails: one-line reasons, and failed `Metrics` that still carry the costs.

A failed evaluation is a result, not a crash: the searcher is told, the run goes on.
"""

from __future__ import annotations

import sys
import traceback
from collections.abc import Callable, Mapping
from pathlib import Path

from hwnas.evaluators.metrics import Metrics
from hwnas.spaces import Arch, SearchSpace


class EvaluationFailed(Exception):
    """An evaluation stopped for a reason of its own (diverged, out of its time limit)."""


COST_METRICS = ("params", "macs", "size_bytes")


def cost_metrics(space: SearchSpace, arch: Arch) -> dict[str, float]:
    """params, macs and size_bytes of `arch`: the analytic costs every evaluator reports."""
    cost = space.cost(arch)
    return {name: getattr(cost, name) for name in COST_METRICS}


def failure_reason(error: BaseException) -> str:
    """A one-line reason: the failure's own message, `out of memory: ...`, or `Type: message`
    (`Type with no message, raised at FILE:LINE in FUNCTION` for one without a message, and
    `(from ...)` the reason of the failure it was raised from, if any)."""
    if isinstance(error, EvaluationFailed):
        return str(error)
    if isinstance(error, MemoryError) or _torch_out_of_memory(error):
        return f"out of memory: {error}".strip().rstrip(":")
    if not str(error).strip():
        cause = error.__cause__ or (None if error.__suppress_context__ else error.__context__)
        source = f" (from {failure_reason(cause)})" if cause is not None else ""
        return f"{type(error).__name__} with no message{_raised_at(error)}{source}"
    return f"{type(error).__name__}: {error}"


def _raised_at(error: BaseException) -> str:
    """`, raised at FILE:LINE in FUNCTION` (the innermost frame of `error`'s traceback), or ''
    without one: the one clue to a failure without a message, such as a bare `assert` in an
    evaluator (its reason was `AssertionError: `)."""
    frames = traceback.extract_tb(error.__traceback__)
    if not frames:
        return ""
    where = frames[-1]
    return f", raised at {Path(where.filename).name}:{where.lineno} in {where.name}"


def _torch_out_of_memory(error: BaseException) -> bool:
    """Whether `error` is one of torch's out-of-memory errors (only raised once torch is
    imported: reading results never imports it)."""
    torch = sys.modules.get("torch")
    if torch is None:
        return False
    # a GPU's is its own type; the CPU allocator's is a RuntimeError saying so
    cpu = isinstance(error, RuntimeError) and "DefaultCPUAllocator: can't allocate" in str(error)
    return cpu or isinstance(error, torch.OutOfMemoryError)


def failed_metrics(space: SearchSpace, arch: Arch, reason: str) -> Metrics:
    """`Metrics.failed(reason)` with the analytic costs when they can be computed."""
    try:
        costs = cost_metrics(space, arch)
    except Exception:  # an arch the space rejects has no costs; the reason says why it failed
        costs = {}
    return Metrics.failed(reason, costs)


def scored_with_costs(
    space: SearchSpace,
    arch: Arch,
    score: Callable[[Mapping[str, float]], Mapping[str, float]],
    threads: int | None = None,
) -> Metrics:
    """`arch`'s analytic costs plus the metrics `score(costs)` measures: what every evaluator
    returns. A failure anywhere is the candidate's result (failed `Metrics` with the costs
    computed by then), never a crash of the caller. `threads`, when given, is torch's thread
    count for the call; `score` runs at torch's defaults (`torch_defaults`); the process's own
    settings are restored after it.
    """
    # torch: only when evaluating
    from hwnas.predictors.torch_state import torch_defaults, torch_threads

    costs: dict[str, float] = {}
    try:
        costs = cost_metrics(space, arch)
        with torch_threads(threads), torch_defaults():
            return Metrics({**costs, **score(costs)})
    except Exception as e:  # every failure is a result, never a crash of the caller
        return Metrics.failed(failure_reason(e), costs)

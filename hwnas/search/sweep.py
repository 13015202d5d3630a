"""The differentiable searcher's sweep of latency targets: the targets, checked, and the
finished searches a run keeps. In a module without torch, so that reading a run
(`RunResults.supernet_searches` and `targets_not_searched`, `hwnas status`) does not import
the supernet's libraries (they were 2 of the 3.5 s of `hwnas status` of such a run)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from hwnas.search.base import number_setting

#: the start of the keys under which a run's memo keeps each finished supernet search
MEMO_PREFIX = "supernet:"


def latency_target(name: str, value: Any) -> float:
    """A latency target in ms, checked: a positive, finite number."""
    ms = number_setting(name, value, -math.inf)
    if not 0 < ms < math.inf:
        raise ValueError(f"{name} must be > 0 ms and finite, not {value!r}")
    return ms


def latency_targets(one: Any, sweep: Any) -> list[float | None]:
    """The targets of the searches, in order: `latency_target_ms`, the list
    `latency_targets_ms` (distinct: a repeated target repeats a whole search that proposes
    nothing new), or one search without a target."""
    if one is not None and sweep is not None:
        raise ValueError("give latency_target_ms or latency_targets_ms, not both")
    if sweep is None:
        return [None if one is None else latency_target("latency_target_ms", one)]
    if isinstance(sweep, str) or not isinstance(sweep, Sequence | np.ndarray) or not len(sweep):
        raise ValueError(
            f"latency_targets_ms: give a non-empty list of targets in ms, not {sweep!r}"
        )
    targets = [latency_target(f"latency_targets_ms[{i}]", t) for i, t in enumerate(sweep)]
    repeated = sorted({t for t in targets if targets.count(t) > 1})
    if repeated:
        raise ValueError(f"latency_targets_ms: {repeated} given more than once")
    return targets


def memo_searches(memo: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The finished supernet searches a `memo` keeps (a run's: its study), as
    `result_to_data` wrote them, in target order: what a run's supernet training cost, which
    its evaluations' times leave out (the searches run before their architectures are asked)."""
    keys = [k for k in memo if k.startswith(MEMO_PREFIX)]
    return [memo[k] for k in sorted(keys, key=lambda k: int(k.split(":")[2]))]

"""How an experiment differs from the one a run was started with: the settings that make a
run's results what they are (`FIXED_SETTINGS`), and where and how they changed, in words, for
the errors that refuse to continue the run with them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hwnas.experiments.config import ExperimentConfig, stored_experiment

#: the settings that make a run's results what they are: none may change while it runs
FIXED_SETTINGS = (
    "space",
    "objectives",
    "constraints",
    "searcher",
    "evaluator",
    "latency",
    "seed",
    "dataset",
    "benchmark",
)


def experiment_changes(stored: dict[str, Any], config: ExperimentConfig) -> tuple[list[str], str]:
    """The `FIXED_SETTINGS` in which `config` differs from a run's stored experiment, and the
    differences in words (`searcher.settings.x: 8, now 10`)."""
    data = config.to_data()
    if all(stored.get(f) == data.get(f) for f in FIXED_SETTINGS):
        # written alike: no defaults to fill in, for which the searcher's and evaluators'
        # modules (torch with them) were imported by every read of a training run
        return [], ""
    # a run started before input paths were stored absolute holds them as written
    old, new = (
        c.with_absolute_inputs(Path.cwd()).effective_data()
        for c in (stored_experiment(stored), config)
    )
    changed = [f for f in FIXED_SETTINGS if old.get(f) != new.get(f)]
    details = "; ".join(d for f in changed for d in _differences(old.get(f), new.get(f), f))
    return changed, details


def _differences(old: Any, new: Any, path: str) -> list[str]:
    """Where two experiment values differ, and how: `searcher.settings.x: 8, now 10`."""
    if isinstance(old, dict) and isinstance(new, dict):
        keys = sorted(old.keys() | new.keys(), key=str)
        found = [_differences(old.get(k), new.get(k), f"{path}.{k}") for k in keys]
        return [d for part in found for d in part]
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        found = [_differences(a, b, f"{path}[{i}]") for i, (a, b) in enumerate(zip(old, new))]
        return [d for part in found for d in part]
    if old == new:
        return []
    return [f"{path}: {_shown(old, path)}, now {_shown(new, path)}"]


def _shown(value: Any, path: str) -> str:
    """A stored value in words; a setting left out (or written at its default, which is
    compared as left out) is the default."""
    if value is None:
        return "the default" if ".settings." in path else "unset"
    return repr(value)

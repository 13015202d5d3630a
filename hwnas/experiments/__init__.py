"""Experiments: one YAML file to run a search, resume it, read its results and export winners.

`run_experiment(load_experiment(path))` runs a search (`parse_experiment(text)` takes the
YAML as a string); `load(run_dir)` reads one;
`export_run` and `build` export and rebuild the winners (`inference_model` gives a rebuilt
model the form its exported ONNX holds). Running and exporting import torch when first
used, so reading a run's results does not.
"""

from importlib import import_module
from typing import TYPE_CHECKING, Any

from hwnas.experiments.config import (
    ExperimentConfig,
    ExperimentError,
    load_experiment,
    parse_experiment,
)
from hwnas.experiments.results import RunResults, load

if TYPE_CHECKING:  # what `__getattr__` imports on first use, for type checkers to see
    from hwnas.experiments.export import build, export_run, inference_model
    from hwnas.experiments.run import RunSummary, run_experiment

#: public names that need torch -> the module that defines them
_MODEL_NAMES = {
    "build": "export",
    "export_run": "export",
    "inference_model": "export",
    "RunSummary": "run",
    "run_experiment": "run",
}


def __getattr__(name: str) -> Any:
    if name in _MODEL_NAMES:
        return getattr(import_module(f"hwnas.experiments.{_MODEL_NAMES[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    """The module's names with those resolved on first use (tab completion, `help()`)."""
    return sorted({*globals(), *_MODEL_NAMES})


__all__ = [
    "ExperimentConfig",
    "ExperimentError",
    "RunResults",
    "RunSummary",
    "build",
    "export_run",
    "inference_model",
    "load",
    "load_experiment",
    "parse_experiment",
    "run_experiment",
]

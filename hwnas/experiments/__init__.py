"""Experiments: one YAML file to run a search, resume it, read its results and export winners.

`run_experiment(load_experiment(path))` runs a search (`parse_experiment(text)` takes the
YAML as a string); `load(run_dir)` reads one;
`export_run` and `build` export and rebuild the winners (`inference_model` gives a rebuilt
model the form its exported ONNX holds).
"""

from hwnas.experiments.config import (
    ExperimentConfig,
    ExperimentError,
    load_experiment,
    parse_experiment,
)
from hwnas.experiments.export import build, export_run, inference_model
from hwnas.experiments.results import RunResults, load
from hwnas.experiments.run import RunSummary, run_experiment

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

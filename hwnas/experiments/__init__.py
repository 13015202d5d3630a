"""Experiments: one YAML file to run a search, resume it, read its results and export winners.

`run_experiment(load_experiment(path))` runs a search; `load(run_dir)` reads one;
`export_run` and `build` export and rebuild the winners.
"""

from hwnas.experiments.config import ExperimentConfig, ExperimentError, load_experiment
from hwnas.experiments.export import build, export_run
from hwnas.experiments.results import RunResults, load
from hwnas.experiments.run import RunSummary, run_experiment

__all__ = [
    "ExperimentConfig",
    "ExperimentError",
    "RunResults",
    "RunSummary",
    "build",
    "export_run",
    "load",
    "load_experiment",
    "run_experiment",
]

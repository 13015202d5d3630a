"""Training an exported architecture as its run trained candidates (`hwnas train`).

A search keeps no trained weights: it records accuracies. An exported config records the
run's training recipe (`training`: the `train` evaluator's settings, its seed, the budget as
epochs) and its dataset (`data`, with the `.npz` digest), so the winner can be trained again
the same way, to the accuracy the run recorded. Whatever departs from the run's training (no
recipe, other epochs, another dataset, the run's `.npz` changed since) is said, so the two
accuracies are never set side by side as if comparable.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from tqdm import tqdm

from hwnas.evaluators import typed_settings
from hwnas.evaluators.datasets import (
    Dataset,
    DatasetError,
    Standardisation,
    builtin_identity,
    load_dataset,
    npz_digest,
    npz_retyped,
)
from hwnas.evaluators.train import TrainEvaluator, setting_text
from hwnas.experiments.config import ExperimentError
from hwnas.experiments.export import config_arch, config_space, read_config
from hwnas.experiments.files import make_folder, write_weights, written_whole
from hwnas.experiments.run_identity import SOURCE, UNRECORDED, package_versions
from hwnas.predictors.backends import torch_device
from hwnas.spaces import Arch, SearchSpace
from hwnas.spaces.errors import check_setting_names, real_number

#: the versions the run records (`run.versions`) that a training's numbers depend on: torch's
#: kernels, numpy's (data splits, generated datasets), Python's float sums, hwnas's defaults
TRAINING_VERSIONS = ("torch", "numpy", "python", SOURCE)


@dataclass
class Retraining:
    """One training of an exported architecture, set up from its config (`retraining`):
    `departures` names what differs from how the run trained its candidates."""

    config: dict[str, Any]
    arch: Arch
    dataset: str
    evaluator: TrainEvaluator
    departures: list[str] = field(default_factory=list)

    def run(self, progress: bool = False) -> tuple[nn.Module, dict[str, float]]:
        """The trained model and its metrics (validation and test accuracy, epochs, time);
        `progress` shows a bar of the training steps on a terminal."""
        with tqdm(
            desc="train", unit="step", leave=False, disable=None if progress else True
        ) as bar:

            def advance(step: int, total: int) -> None:
                bar.total = total
                bar.update(step - bar.n)

            return self.evaluator.train(self.arch, progress=advance)

    def new_standardisation(self) -> Standardisation | None:
        """The standardisation the trained weights take where it is not the one the config's
        `data` records (another dataset's inputs, scaled by their own statistics; the run's
        relabelled, whose validation split is drawn otherwise), else None: the run's arrays
        re-saved with other types scale as the run's did."""
        scaling = self.evaluator.dataset.standardisation
        recorded = (self.config.get("data") or {}).get("standardisation")
        if scaling is None or "dataset" not in self.departures:
            return None
        return None if same_standardisation(scaling, recorded) else scaling

    def recorded(self, accuracy: float | None = None) -> str:
        """The run's validation accuracy in words, to set beside this training's (`accuracy`,
        once trained): the same number where nothing departs from the run's recipe, on a
        machine like the run's with its versions (on CUDA a near one), said to differ where
        it does. Where this training's is not the run's all the same, it says why (before,
        another CPU's number was set beside the run's as if it had to be equal)."""
        recorded = (self.config.get("metrics") or {}).get("val_accuracy")
        if recorded is None:
            return ""
        said = f"the run recorded {recorded:.2f} %"
        if self.departures:
            return f"{said} with its own {' and '.join(self.departures)}: not comparable"
        if torch_device(self.evaluator.device).type == "cuda":  # seen on an H200: 0.35 points
            return f"{said}; training on CUDA is not bit-reproducible: expect near it, not equal"
        if accuracy is None or accuracy == recorded:
            return said
        return f"{said}; not equal, as {self._trained_otherwise()}: expect near it"

    def _trained_otherwise(self) -> str:
        """Why a training here with the run's recipe and seed scores otherwise than the run's
        did: the versions the run started with where they differ from these (torch's kernels,
        numpy's data, Python's sums, hwnas's defaults; a record without hwnas's code digest,
        or none, is an earlier hwnas's, as a resume takes it), else the machine: the kernels torch
        picks for the CPU's vector instructions (AVX-512, AVX2, none) and, for a recipe of
        `threads: null`, its thread count add in another order (one conv1d candidate, a quarter
        epoch: 45.125 %, 45.625 %, 45.75 %)."""
        run, now = self.config.get("run"), package_versions()
        then = run.get("versions") if isinstance(run, dict) else None
        then = {SOURCE: UNRECORDED} | (then if isinstance(then, dict) else {})
        changed = [p for p in TRAINING_VERSIONS if then.get(p, now[p]) != now[p]]
        if changed:
            other = ", ".join(f"{p} {then[p]} (here {now[p]})" for p in changed)
            return f"the run started with {other}"
        threads = self.evaluator.threads
        count = " or thread count (its threads: null)" if threads is None else ""
        return (
            f"likely trained on another machine{count} than the run's, which adds in another order "
            f"(torch here: {torch.backends.cpu.get_cpu_capability()} CPU kernels, "
            f"{threads or torch.get_num_threads()} thread(s))"
        )


def retraining(
    config: str | Path | dict, dataset: str | None = None, epochs: float | None = None
) -> Retraining:
    """The training of `config`'s architecture as its run trained candidates, on the run's
    dataset unless `dataset` is given, for the run's epochs unless `epochs` is."""
    if problem := epochs_problem(epochs):
        raise ExperimentError(f"epochs {problem}")
    data = read_config(config)
    source = str(config) if not isinstance(config, dict) else "config"
    space = config_space(data, source)
    arch = config_arch(data, space, source)
    recipe, departures = _recipe(data, source, epochs)
    dataset, the_runs = _dataset(data, dataset)
    train_data = dataset_for(dataset, space)
    try:
        evaluator = TrainEvaluator(space, train_data, **recipe)
    except ValueError as e:  # a recipe an earlier hwnas took (label_smoothing 1, say)
        raise ExperimentError(f"{source}: training: {e}") from None
    departures += [] if the_runs else ["dataset"]
    return Retraining(data, arch, dataset, evaluator, departures)


def epochs_problem(epochs: Any) -> str | None:
    """Why `epochs` is no number of epochs to train for (> 0 and finite; None: the run's), or
    None; `retraining` and `hwnas train --epochs` refuse it with this, naming their argument
    (checked with the recipe, it was blamed on the config's `training`, True trained one
    epoch and "2" failed with Python's TypeError)."""
    if epochs is None or (real_number(epochs) and 0 < epochs < math.inf):
        return None
    return f"must be > 0 and finite, not {setting_text(epochs)}"


def earlier_export(config: dict, what: str) -> str | None:
    """Why `config` records no `what` (`training` recipe or `data`set) where its run trained
    the architecture (its `train` evaluator recorded a validation accuracy): an earlier hwnas
    exported it without; None where the run trained nothing (and had no recipe to record)."""
    if "val_accuracy" not in (config.get("metrics") or {}):
        return None
    return f"an earlier hwnas exported the config without its run's {what}"


def same_standardisation(scaling: Standardisation, recorded: Any) -> bool:
    """Whether `scaling` is the standardisation a config's `data.standardisation` records
    (`recorded`; none, or a record edited into no mapping, is not the same)."""
    now = {"mean": list(scaling.mean), "std": list(scaling.std)}
    return isinstance(recorded, dict) and {k: recorded.get(k) for k in now} == now


def dataset_for(name: str, space: SearchSpace, *, inputs_only: bool = False) -> Dataset:
    """Dataset `name` loaded as a run loads it, for the model of an exported config: its
    input shape and classes are fixed by the architecture, so one that does not fit asks for
    another dataset (not, as for an experiment, for a space that fits the data). With
    `inputs_only` (calibration, which reads the inputs alone) its labels may be of any
    classes: a file of other classes was refused for its class count."""
    data = load_dataset(name)
    if inputs_only:
        if data.input_shape == tuple(space.input_shape):
            return data
        raise ExperimentError(
            f"dataset {name}: inputs {data.input_shape}, where the config's model takes "
            f"{space.input_shape}: give a dataset of those inputs (calibration reads only its "
            "inputs, of any classes)"
        )
    try:
        return data.check_fits(space)
    except DatasetError:
        raise ExperimentError(
            f"dataset {name}: inputs {data.input_shape} in {data.num_classes} classes, where "
            f"the config's model takes {space.input_shape} in {space.num_classes}: give a "
            "dataset of those"
        ) from None


def save_weights(model: nn.Module, path: Path) -> None:
    """`model`'s state_dict in `path` (folder made), through a temporary file renamed over
    it: a kill or a full disk never leaves half-written weights. A write that fails is an
    `ExperimentError` naming `path` and the cause (`write_weights`)."""
    make_folder(path.parent, f"{path}")
    try:
        with written_whole(path) as partial:
            write_weights(model, partial)
    except OSError as e:
        raise ExperimentError(f"{path}: cannot write the weights: {e.strerror or e}") from None


def _recipe(data: dict, source: str, epochs: float | None) -> tuple[dict, list[str]]:
    """The train evaluator's settings, and what in them departs from the run's training. The
    run's `time_limit_s` is left out: a search's limit per candidate, no part of how it
    trains."""
    recipe = dict(data.get("training") or {})
    check_setting_names(f"{source}: training", recipe, TrainEvaluator, passed=("space", "dataset"))
    try:
        recipe = typed_settings("training", TrainEvaluator, recipe)
    except ValueError as e:
        raise ExperimentError(f"{source}: {e}") from None
    recipe.pop("time_limit_s", None)
    departures = [] if data.get("training") else ["recipe"]
    if not data.get("training") and isinstance(data.get("weights_seed"), int):
        recipe["seed"] = data["weights_seed"]  # from the initial weights the export wrote
    if epochs is not None:
        recipe = {k: v for k, v in recipe.items() if k != "steps"} | {"epochs": epochs}
        departures.append("epochs")
    return recipe, departures


def _dataset(data: dict, given: str | None) -> tuple[str, bool]:
    """The dataset to train on (`given`, else the run's) and whether it is the run's as the
    run saw it: a `.npz` with the arrays the config's digest records, by any path (moved or
    copied, the same arrays split and scale alike), or with their values in other types
    (`npz_retyped`: cast to float32 inputs and int64 labels as every dataset is, they are the
    run's arrays), else by a path to the run's file. The run's `.npz` changed since (even
    only retyped) is refused unless given; one no longer there asks for `--dataset`. An
    empty `given` is refused: it trained on the run's dataset as if none were given."""
    if given is not None and not str(given).strip():  # an unset shell variable, say
        raise ExperimentError("--dataset: empty: name a dataset (or an .npz), or leave it out")
    recorded = data.get("data") or {}
    run_dataset, digest = recorded.get("dataset"), recorded.get("digest")
    dataset = given or run_dataset
    if not dataset:
        why = earlier_export(data, "dataset") or "its run trained nothing on data"
        raise ExperimentError(f"--dataset: the config records no dataset ({why}): name one")
    if not run_dataset or not str(dataset).lower().endswith(".npz"):
        same = bool(run_dataset) and builtin_identity(dataset) == builtin_identity(run_dataset)
        return dataset, same
    if given is None and not Path(dataset).exists():
        raise ExperimentError(
            f"{dataset}: the run's dataset is no longer there (moved or deleted): give "
            "--dataset with where it is now"
        )
    same_file = Path(dataset).resolve() == Path(run_dataset).resolve()
    if digest is None:
        return dataset, same_file
    if npz_digest(dataset) == digest:
        return dataset, True
    retyped = npz_retyped(dataset, digest)
    if same_file and given is None:
        other = "" if retyped else "the model trained on them would not be the run's; "
        raise ExperimentError(
            f"{dataset}: its arrays changed since the run (they lack the digest the config's "
            f"data records{f'; {retyped}' if retyped else ''}): {other}give --dataset with "
            "this file to train on it as it is now"
        )
    return dataset, retyped is not None

"""The parts an experiment file names, built from it: space, evaluator, executor, searcher.

Only names and settings are translated here; every part is the real one from its package
(`hwnas.spaces`, `hwnas.evaluators`, `hwnas.search`, `hwnas.predictors`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from hwnas.experiments.config import (
    DATA_USERS,
    ExperimentConfig,
    settings_as_run,
    space_file_hint,
)
from hwnas.spaces import SearchSpace, SpaceError, get_space
from hwnas.spaces.errors import did_you_mean


def make_space(config: ExperimentConfig, source: Path | None = None) -> SearchSpace:
    """The experiment's space, read from `source` (a run's copy of its YAML) when given."""
    s = config.space
    try:
        return get_space(source or s.name, input_shape=s.input, num_classes=s.classes)
    except SpaceError as e:
        hint = "" if source else space_file_hint(config)
        raise config.error_in("space", SpaceError(f"{e}{hint}")) from None


def evaluator_settings(
    config: ExperimentConfig, space: SearchSpace, predictor: Any = None
) -> dict[str, dict[str, Any]]:
    """Each evaluator's settings, with the experiment-wide dataset and benchmark (named only
    at the top level), and the latency predictor (`predictor`, else loaded from the
    experiment's `latency`) and seed where that evaluator takes them and the file did not."""
    settings = {n: dict(config.evaluator.settings.get(n, {})) for n in config.evaluator.names}
    for name, own in settings.items():
        if name in DATA_USERS:
            own["dataset"] = config.dataset
            own["seed"] = _evaluator_seed(config, name)
        if name == "tabular" and config.benchmark:
            own["path"] = config.benchmark
        if name == "latency" and config.latency and "predictor" not in own:
            own["predictor"] = predictor or latency_predictor(config, space)
    return settings


def training_recipe(config: ExperimentConfig) -> dict[str, Any] | None:
    """The `train` evaluator's settings as the run trained its candidates (its seed, and the
    evaluator's budget as epochs), which an exported config records so `hwnas train` can
    train the winner as the search did; None for a run that trained nothing."""
    if "train" not in config.evaluator.names:
        return None
    recipe = {  # an earlier hwnas's run may store text it trained with as a number
        **settings_as_run("train", config.evaluator.settings.get("train", {})),
        "seed": _evaluator_seed(config, "train"),
    }
    if config.evaluator.budget is not None:
        recipe["epochs"] = config.evaluator.budget
    return recipe


def _evaluator_seed(config: ExperimentConfig, name: str) -> int:
    """The seed evaluator `name` is given: its own `seed` setting, else the run's."""
    return config.evaluator.settings.get(name, {}).get("seed", config.seed)


def weights_seed(config: ExperimentConfig) -> int:
    """The seed the run's candidates were built with before training or scoring (the `train`
    and `zero_cost` evaluators seed torch with it): the first such evaluator's, else the
    run's, so an export can hand out the same initial weights."""
    users = [name for name in DATA_USERS if name in config.evaluator.names]
    return _evaluator_seed(config, users[0]) if users else config.seed


def check_scored_metrics(config: ExperimentConfig, evaluator) -> None:
    """Refuse an objective or constraint metric the evaluator never returns (a typo, or
    `accuracy` from a zero-cost evaluator) before anything is evaluated; an evaluator that
    does not list its metrics is checked on its first result instead."""
    names = getattr(evaluator, "metric_names", None)
    if names is None:
        return
    _check_own_columns(config, names, evaluator.space)
    named = [("objectives", i, o.metric) for i, o in enumerate(config.objectives)]
    named += [("constraints", i, c.metric) for i, c in enumerate(config.constraints)]
    for section, i, metric in named:
        if metric not in names:
            raise config.located(
                (section, i, "metric"),
                f"{section}[{i}].metric: the evaluator returns no {metric!r}"
                f"{did_you_mean(metric, names)}; it returns {', '.join(names)}",
            )


def _check_own_columns(config: ExperimentConfig, names: Sequence[str], space) -> None:
    """Refuse metric names (a tabular evaluator's `metrics` are the user's) that a run's
    results use for their own columns, fields or stored records: a metric `status` or `key`
    took their place, so every evaluation read as neither ok nor failed and the front was
    empty; one named `trial` replaced the trial number in `hwnas pareto --json`; one named
    `hwnas_*` was dropped from the results or overwrote the stored architecture."""
    from hwnas.experiments.results import ORIGIN_PREFIX, OWN_NAMES

    own = {*OWN_NAMES, *space.choice_values()}
    taken = [m for m in names if m in own or m.startswith((ORIGIN_PREFIX, "hwnas_"))]
    if taken:
        raise config.located(
            ("evaluator",),
            f"evaluator: metrics named {', '.join(taken)}: the run's results use these names "
            f"for their own ({', '.join(OWN_NAMES)}, the space's choices, "
            f"{ORIGIN_PREFIX}* and hwnas_*); give the metrics other names (a run started "
            "with them by an earlier hwnas: in a new run_dir)",
        )


def latency_source(config: ExperimentConfig, precisions: Iterable[str] = ()) -> str | None:
    """Where the `latency` evaluator's `latency_ms` comes from, in words (None when the run
    has no latency evaluator): a prediction and a measurement can differ by far, and both
    are stored under the one name. Either also says how the backend ran the block
    `precisions` given (those of the architectures reported) where that is not as named: a
    w4a8 block timed as int8 was shown as `w4a8` beside a latency that was int8's (for a
    prediction, the backend its profile was measured on, where its file says). A prediction
    names the machine and settings its measurements were made on, as a measurement does: an
    exported config said only the file's name."""
    from hwnas.evaluators.latency import MEASURE_DEFAULTS
    from hwnas.predictors.fingerprint import auto_clock, describe_device
    from hwnas.predictors.precision_notes import (
        measured_backend,
        measured_device,
        precision_caveats,
    )

    if "latency" not in config.evaluator.names:
        return None
    own = {**MEASURE_DEFAULTS, **config.evaluator.settings.get("latency", {})}
    section = config.latency and (config.latency.predictor or config.latency.profile)
    if source := own.get("predictor", section):
        device = measured_device(source)
        backend = device["backend"] if device else measured_backend(source)
        caveats = precision_caveats(backend, precisions) if backend else None
        on = describe_device(device) if device else backend if caveats else None
        predicted = f"predicted from {source}" + (f" (measured on {on})" if on else "")
        return f"{predicted}: {caveats}" if caveats else predicted
    clock = own.get("clock", "auto")
    if clock == "auto":  # thread and wall time differ (a review saw 17 %): say which it was
        clock = auto_clock(own["backend"], own["threads"])
    measured = (
        f"measured by each evaluation on its own machine ({own['backend']}, precision "
        f"{own['precision']}, {own['threads']} thread(s), batch {own['batch_size']}, "
        f"{clock} clock)"
    )
    timed = precisions if own["precision"] == "mixed" else [own["precision"]]
    caveats = precision_caveats(own["backend"], timed)
    return f"{measured}; {caveats}" if caveats else measured


def block_precisions(trials: pd.DataFrame) -> set[str]:
    """The block precisions the evaluated architectures of `trials` use."""
    columns = [c for c in trials.columns if c.endswith(".precision")]
    return {str(p) for p in trials[columns].stack().dropna()} if columns else set()


#: load per core above which a machine had more work than cores: measurements run slow
BUSY_LOAD = 1.0


def measuring_load(trials: pd.DataFrame) -> str | None:
    """The load the run's latencies were measured at, in words (None when none was measured):
    on a busy machine a measured latency runs slow (2.5x was seen at about 3.5 processes per
    core), so numbers measured at very different loads do not compare."""
    # to the digits shown: a load of 1.004 read "1.00 ... more work than cores"
    load = trials.get("load_per_core", pd.Series(dtype=float)).dropna().round(2)
    if load.empty:
        return None
    low, high = f"{load.min():.2f}", f"{load.max():.2f}"
    at = low if low == high else f"{low}-{high}"  # one value: not a range `1.95-1.95`
    said = f"measured at {at} load per core (1-minute average)"
    if load.max() > BUSY_LOAD:
        said += (
            f"; {int((load > BUSY_LOAD).sum())} of {len(load)} on a machine with more work than "
            "cores, where measured latencies run slow (2.5x seen): compare only those measured "
            "at similar load"
        )
    return said


def accuracy_source(config: ExperimentConfig) -> str | None:
    """What `accuracy` is, in words (None when no evaluator reports it): the split the
    search ranks by is not the one a paper's test accuracy comes from."""
    names = config.evaluator.names
    if "train" in names:
        chosen = [m for m, _ in (*config.objective_pairs, *config.constraint_pairs)]
        test = (
            "which this search selected on (an objective or constraint), so it no longer "
            "estimates accuracy on unseen data"
            if "test_accuracy" in chosen
            else "which the search never ranks by"
        )
        return (
            f"on the validation split of {config.dataset}, after training (%); test_accuracy "
            f"is on its test split, {test}"
        )
    if "tabular" in names:
        from hwnas.evaluators.tabular import DEFAULT_METRICS

        columns = config.evaluator.settings.get("tabular", {}).get("metrics") or DEFAULT_METRICS
        return f"the table's {columns['accuracy']}" if "accuracy" in columns else None
    return None


def metric_notes(
    config: ExperimentConfig, trials: pd.DataFrame, metrics: Sequence[str]
) -> list[str]:
    """What a reader of these metrics must know, as `metric: note` lines: which split
    `accuracy` is, where `latency_ms` came from and, when it was measured, at what load."""
    notes = []
    if "accuracy" in metrics:
        notes.append(("accuracy", accuracy_source(config)))
    if "latency_ms" in metrics:
        source = latency_source(config, block_precisions(trials))
        notes += [("latency_ms", source), ("latency_ms", measuring_load(trials))]
    return [f"{metric}: {note}" for metric, note in notes if note]


def make_evaluator(config: ExperimentConfig, space: SearchSpace, predictor: Any = None):
    from hwnas.evaluators import get_evaluator

    names, settings = config.evaluator.names, evaluator_settings(config, space, predictor)
    try:
        if len(names) == 1:
            return get_evaluator(names[0], space, **settings[names[0]])
        return get_evaluator(names, space, **settings)
    except (TypeError, ValueError, FileNotFoundError) as e:
        raise config.error_in("evaluator", e) from None


def check_executor(config: ExperimentConfig, address: str | None = None) -> None:
    """Refuse Ray-only executor settings for the local executor (but at their defaults, which
    change nothing: a run's copy of its experiment, `to_data`, holds them so), and a
    CUDA device for the evaluators when they run on this machine and it has none (checked
    before any work: building the executor may start Ray), and an `address` of no Ray
    address's form, as `--address` is (a complete run, which builds no executor, took a
    typo unsaid); each at its line of the file, as a parse error. Only here, not on parsing:
    a run's stored experiment, which `hwnas status` reads back, stays readable."""
    from hwnas.evaluators.ray_runtime import address_form_problem

    ex = config.executor
    if ex.address is not None and (problem := address_form_problem(ex.address)):
        raise config.located(("executor", "address"), f"executor.address: {problem}")
    if not (address or ex.address):
        _check_local_devices(config)
    ray_only = sorted(
        name
        for name in {"resources", "max_in_flight", "timeout_s", "max_retries"} & ex.model_fields_set
        if getattr(ex, name) != type(ex).model_fields[name].default
    )
    if ex.kind == "local" and not address and ray_only:
        verb = "needs" if len(ray_only) == 1 else "need"
        raise config.located(
            ("executor", ray_only[0]),
            f"executor: {', '.join(ray_only)} {verb} kind: ray (the local executor "
            "runs one evaluation at a time in this process and cannot stop or retry it)",
        )


def _check_local_devices(config: ExperimentConfig) -> None:
    """Every evaluation would fail on a device this machine lacks (a training device such as
    `cuda` or `mps`, or the latency evaluator's `torch-cuda` backend); a cluster's workers
    (an address) may have it, so only evaluations run here are checked."""
    found = _device_settings(config)
    if not found:
        return  # before importing torch (a second or two), which a tabular run never needs
    from hwnas.predictors.backends import device_problem

    for field, value, device, instead in found:
        if why := device_problem(device):
            raise config.located(
                ("evaluator", "settings", *field.split(".")),
                f"evaluator.settings.{field}: {value!r}, but the evaluations run on this "
                f"machine, where torch cannot use {device} ({why}); use {instead}, or a Ray "
                "cluster whose workers have it (--address)",
            )


def _device_settings(config: ExperimentConfig) -> list[tuple[str, str, Any, str]]:
    """(setting, value, the torch device it runs the evaluations on, the values to use
    instead) of each evaluator setting that picks a device other than the CPU."""
    settings, found = config.evaluator.settings, []
    devices = {name: settings.get(name, {}).get("device") for name in DATA_USERS}
    backend = settings.get("latency", {}).get("backend")
    cuda_backend = "latency" in config.evaluator.names and backend == "torch-cuda"
    if not cuda_backend and all(device is None for device in devices.values()):
        return found  # no device picked: nothing for torch to parse
    from hwnas.predictors.backends import torch_device

    for name, device in devices.items():
        if device is None:
            continue  # the default: CUDA where present, else the CPU
        try:
            parsed = torch_device(device)
        except ValueError:
            continue  # not a device name at all: the evaluator says so
        if parsed.type != "cpu":
            found.append((f"{name}.device", device, parsed, "cpu"))
    if cuda_backend:
        cuda = torch_device("cuda")
        found.append(("latency.backend", backend, cuda, "onnxruntime-cpu or torch-cpu"))
    return found


def make_executor(config: ExperimentConfig, evaluator, address: str | None = None):
    """`LocalExecutor` or `RayExecutor` (an embedded Ray unless an address is given)."""
    from hwnas.evaluators import LocalExecutor, RayExecutor

    ex = config.executor
    if ex.kind == "local" and not address:
        return LocalExecutor(evaluator)
    try:
        return RayExecutor(
            evaluator,
            address=address or ex.address,
            max_in_flight=ex.max_in_flight,
            resources=ex.resources,
            timeout_s=ex.timeout_s,
            max_retries=ex.max_retries,
        )
    except ValueError as e:  # resources the cluster lacks, a bad setting
        raise config.error_in("executor", e) from None


def latency_predictor(config: ExperimentConfig, space: SearchSpace):
    """The configured latency predictor: a fitted predictor file, or a LUT from a profile."""
    if config.latency is None:
        return None
    from hwnas.predictors import LUTPredictor, load_predictor

    try:
        if config.latency.predictor:
            return load_predictor(Path(config.latency.predictor), space=space)
        return LUTPredictor.from_profile(Path(config.latency.profile), space)
    except (OSError, ValueError, RuntimeError) as e:  # the predictors' errors name the file
        raise config.error_in("latency", e) from None


def _same_dataset(a: str, b: str) -> bool:
    """Whether two dataset names are one dataset: the same built-in, or the same file."""
    return a == b or Path(a).is_file() and Path(b).is_file() and Path(a).samefile(b)


def make_searcher(
    config: ExperimentConfig, space: SearchSpace, progress: bool = True, predictor: Any = None
):
    """The configured searcher; the differentiable one also gets the dataset (and shows its
    supernet training when `progress`), and it and the predictor-guided one get the latency
    predictor (`predictor`, else a LUT from a profile or a fitted file, as the experiment's
    `latency` says)."""
    from hwnas.search import get_searcher

    settings = dict(config.searcher.settings)
    name = config.searcher.name
    given: dict[str, tuple[str, ...]] = {}  # settings from other fields of the file: where
    if name == "differentiable":
        settings.setdefault("progress", progress)
        own = settings.setdefault("dataset", config.dataset)
        if own is None:
            raise config.located(
                ("searcher",),
                "dataset: the differentiable searcher trains its supernet on the experiment's "
                "dataset; name one (dataset: mnist1d, a .npz file, ...)",
            )
        if config.dataset is not None and not _same_dataset(own, config.dataset):
            raise config.located(
                ("searcher", "settings", "dataset"),
                f"searcher.settings.dataset: {own!r} is not the experiment's dataset "
                f"{config.dataset!r}: the supernet would train on other data than the "
                "evaluators score; drop the setting",
            )
        given["dataset"] = ("dataset",)
    if name in ("differentiable", "predictor") and config.latency:
        settings.setdefault("latency_predictor", predictor or latency_predictor(config, space))
        given["latency_predictor"] = ("latency",)
    if name == "differentiable" and config.latency and config.latency.target_ms:
        settings.setdefault("latency_target_ms", config.latency.target_ms)
        given["latency_target_ms"] = ("latency", "target_ms")
    try:
        return get_searcher(
            config.searcher.name,
            space,
            config.objective_pairs,
            constraints=config.constraint_pairs,
            seed=config.seed,
            **settings,
        )
    except (TypeError, ValueError) as e:
        raise config.error_in("searcher", e, given) from None

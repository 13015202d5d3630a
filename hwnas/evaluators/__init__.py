"""Evaluators turn an `Arch` into `Metrics`; executors run many evaluations at once.

`get_evaluator(name, space, **settings)` with `train`, `zero_cost`, `tabular` or `latency`, or
a list of names for one evaluator that merges them all (`get_evaluator(["train", "latency"],
space, train={...}, latency={...})`). `LocalExecutor` runs evaluations in-process and
`RayExecutor` on an embedded or existing Ray cluster, with one interface.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from importlib import import_module
from numbers import Real
from typing import Any, get_type_hints

from pydantic import ConfigDict, PydanticSchemaGenerationError, TypeAdapter, ValidationError
from pydantic_core import SchemaError

from hwnas.evaluators.base import Evaluator
from hwnas.evaluators.composite import CompositeEvaluator
from hwnas.evaluators.datasets import Dataset, DatasetError, dataset_names, load_dataset
from hwnas.evaluators.executors import ClusterLost, Executor, LocalExecutor, RayExecutor
from hwnas.evaluators.metrics import Metrics
from hwnas.spaces import SearchSpace, as_space
from hwnas.spaces.errors import check_setting_names, did_you_mean
from hwnas.spaces.yaml_files import quoted_number

#: evaluator name -> "module:class", imported on first use (the tabular one needs pandas data).
EVALUATORS = {
    "train": "hwnas.evaluators.train:TrainEvaluator",
    "zero_cost": "hwnas.evaluators.zero_cost:ZeroCostEvaluator",
    "latency": "hwnas.evaluators.latency:LatencyEvaluator",
    "tabular": "hwnas.evaluators.tabular:TabularEvaluator",
}


def check_evaluator_name(name: str) -> None:
    """Refuse an evaluator name hwnas does not have, naming the closest one."""
    if name not in EVALUATORS:
        raise ValueError(
            f"unknown evaluator {name!r}{did_you_mean(name, list(EVALUATORS))}; "
            f"choose from {sorted(EVALUATORS)}"
        )


def evaluator_class(name: str) -> type:
    """The class of the evaluator `name` (imported on first use)."""
    check_evaluator_name(name)
    module, cls = EVALUATORS[name].split(":")
    return getattr(import_module(module), cls)


def typed_settings(owner: str, cls: type, settings: Mapping[str, Any]) -> dict[str, Any]:
    """`settings` checked against the type hints of `cls`'s constructor (pydantic, lax: 3 is
    a float, `"two"` or `"nope"` for a bool are not), so that a mistyped setting is named,
    as `owner.setting`, instead of failing deep inside the constructor. Text read as a number
    or truth value is refused: `epochs: "3"` is text in a file, as everywhere in it."""
    checked = dict(settings)
    for key, value in settings.items():
        if (adapter := _adapter(cls, key)) is None:
            continue  # not a parameter, or a type pydantic cannot check (a protocol): the
            # constructor checks it
        try:
            checked[key] = adapter.validate_python(value)
        except ValidationError as e:
            raise ValueError(f"{owner}.{key}: {e.errors()[0]['msg']}, not {value!r}") from None
        if isinstance(value, bool) and checked[key] is not value:
            # lax pydantic reads true as 1 or 1.0 (epochs: true would train one epoch)
            raise ValueError(f"{owner}.{key}: a number, not {value!r}")
        if isinstance(value, str) and isinstance(checked[key], Real):  # a bool is one too
            raise ValueError(f"{owner}.{key}: {_text_for(checked[key], value)}")
    return checked


def read_as_run(cls: type, settings: Mapping[str, Any]) -> dict[str, Any]:
    """`settings` of evaluator `cls` as a run started by an earlier hwnas ran them: text its
    lax check read as a number or truth value (`epochs: "3"` trained 3.0 epochs) is that
    value. Its resume with `epochs: 3`, as a file must write it now, is the same experiment,
    and its export records the number `hwnas train` takes (`typed_settings` refuses text)."""
    read = dict(settings)
    for key, value in settings.items():
        if isinstance(value, str) and (adapter := _adapter(cls, key)) is not None:
            try:
                number = adapter.validate_python(value)
            except ValidationError:
                continue  # text the run refused, or took as text
            if isinstance(number, Real):
                read[key] = number
    return read


def _adapter(cls: type, key: str) -> TypeAdapter | None:
    """The lax check of `cls`'s constructor parameter `key`; None where it has no such
    parameter or pydantic cannot check its type (a protocol)."""
    try:
        hint = get_type_hints(cls.__init__)[key]
        return TypeAdapter(hint, config=ConfigDict(arbitrary_types_allowed=True))
    except (KeyError, SchemaError, PydanticSchemaGenerationError):
        return None


def _text_for(wanted: Real, text: str) -> str:
    """What to say of `text` where lax pydantic read it as the number or truth value
    `wanted`."""
    if isinstance(wanted, bool):
        return f"true or false, not the text {text!r}"
    return f"a number, not the text {text!r}{quoted_number(text)}"


def _build(name: str, space: SearchSpace, settings: Mapping[str, Any]) -> Evaluator:
    """The evaluator `name`, its settings' names and types checked first (`typed_settings`)."""
    cls = evaluator_class(name)
    check_setting_names(f"evaluator {name!r}", settings, cls.__init__, passed=["space"])
    checked = typed_settings(name, cls, settings)
    try:
        return cls(space, **checked)
    except ValueError as e:
        if type(e) is not ValueError:  # a DatasetError, say, names its own subject
            raise
        raise ValueError(f"{name}: {e}") from None  # which of composed evaluators refused


def get_evaluator(
    name: str | Sequence[str], space: SearchSpace | str, **settings: Any
) -> Evaluator:
    """One evaluator by name (settings are its keyword arguments), or a `CompositeEvaluator`
    for a list of names (settings keyed by evaluator name, each a mapping of its arguments).
    `space` may be named (a built-in or a space file)."""
    space = as_space(space)
    if isinstance(name, str):
        return _build(name, space, settings)
    if isinstance(name, Mapping):  # list() would take its keys and drop the settings
        raise TypeError(
            "get_evaluator takes the evaluators' names, not a mapping of their settings: "
            f"get_evaluator({list(name)!r}, space, " + ", ".join(f"{n}={{...}}" for n in name) + ")"
        )
    names = list(name)
    if repeated := sorted({n for n in names if names.count(n) > 1}):
        raise ValueError(f"evaluators {repeated} are named twice: each reports its metrics once")
    if unknown := sorted(set(settings) - set(names)):
        raise ValueError(f"settings for {unknown} but the evaluators are {names}")
    parts = []
    for part in names:
        part_settings = settings.get(part) or {}
        if not isinstance(part_settings, Mapping):
            raise ValueError(f"settings for {part!r} must be a mapping, not {part_settings!r}")
        parts.append(_build(part, space, part_settings))
    return CompositeEvaluator(parts)


__all__ = [
    "EVALUATORS",
    "ClusterLost",
    "CompositeEvaluator",
    "Dataset",
    "DatasetError",
    "Evaluator",
    "Executor",
    "LocalExecutor",
    "Metrics",
    "RayExecutor",
    "dataset_names",
    "evaluator_class",
    "get_evaluator",
    "load_dataset",
    "read_as_run",
    "typed_settings",
]

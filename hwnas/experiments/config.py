"""The experiment file: one YAML document that says what to search, how, and where to store it.

Parsing is safe (a safe YAML loader: tags that would construct Python objects are rejected)
and strict (unknown and repeated keys are errors). Every error is an `ExperimentError` naming
the file, the field and, when the YAML says where it is, the line. Loading a file never writes
anything.
"""

from __future__ import annotations

import inspect
import math
import os
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import fields
from pathlib import Path, PurePosixPath
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    StrictFloat,
    StrictInt,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from hwnas.spaces import builtin_spaces
from hwnas.spaces.errors import check_setting_names
from hwnas.spaces.spec import NAME_PATTERN, at_line, field_path, refuse_booleans, validation_problem
from hwnas.spaces.yaml_files import YamlLoader, read_text, yaml_problem

LATENCY_USERS = ("predictor", "differentiable")  # searchers that take the `latency` section
DATA_USERS = ("train", "zero_cost")  # evaluators that run candidates on the `dataset`
STORED = "stored"  # the validation context's flag of a run's own copy (`parse_experiment`)


class ExperimentError(ValueError):
    """A problem with an experiment file or run directory, named in one line."""


class _Strict(BaseModel):
    """A section of the file. Its numbers are StrictInt or StrictFloat (an int is a float's
    number too): a number in quotes (`max: "3"`) is text, refused as in a space file."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    _no_booleans = field_validator("*", mode="before")(refuse_booleans)  # no field is one


def inside_run_dir(path: str, field: str) -> str:
    """`path` unchanged if it is a relative path that stays inside the run directory."""
    no_nul(path, field)
    parts = PurePosixPath(path.replace("\\", "/"))
    if parts.is_absolute() or Path(path).is_absolute() or ".." in parts.parts or not path:
        raise ValueError(f"{field} must be a relative path inside the run directory, not {path!r}")
    return path


def no_nul(path: str | Path, field: str) -> None:
    """Refuse a path with a NUL character, which no file system takes: the OS's "embedded
    null byte" came from deep inside a run's start, naming no field."""
    if "\0" in str(path):
        raise ExperimentError(f"{field} must not contain a NUL character (\\0), got {path!r}")


#: what a path's unknown `~` or `~user` is, in the experiment's and the command line's errors
UNKNOWN_HOME = "a home folder unknown here (no such user, or no $HOME)"


def unknown_home(path: str) -> str | None:
    """The `~` or `~user` that `path` starts with where that home folder is unknown here (a
    user this machine lacks; no $HOME and no passwd entry, as a container run as a bare
    uid), else None: hwnas makes such a path absolute as a shell does."""
    if not path.startswith("~"):
        return None
    try:
        Path(path).expanduser()
    except RuntimeError:
        return PurePosixPath(path.replace("\\", "/")).parts[0]
    return None


def known_home(path: str, field: str) -> None:
    """Refuse a path whose `~` or `~user` is unknown here (`unknown_home`): Python's "Could
    not determine home directory" came from a run's start, naming no field."""
    if (home := unknown_home(path)) is not None:
        raise ExperimentError(f"{field} starts with {home!r}, {UNKNOWN_HOME}, got {path!r}")


def _path_without_nul(v: str | None, info: ValidationInfo) -> str | None:
    """An input file's path (or a built-in's name) as `no_nul` and `known_home` take it, named
    by its field."""
    if v is not None:
        no_nul(v, info.field_name or "path")
        known_home(v, info.field_name or "path")
    return v


class SpaceConfig(_Strict):
    """A built-in space name or a space YAML path, with optional input and class overrides."""

    name: str
    # strict, as in a space file: "8" or 8.0 is no size
    input: list[StrictInt] | None = Field(None, description="input shape without batch")
    classes: StrictInt | None = Field(None, ge=2)

    @field_validator("name")
    @classmethod
    def _no_nul(cls, v: str) -> str:
        no_nul(v, "space")  # "embedded null byte" was all a space file of one said
        known_home(v, "space")
        return v

    @field_validator("input")
    @classmethod
    def _positive(cls, v: list[int] | None) -> list[int] | None:
        if v is not None and (not v or any(d <= 0 for d in v)):
            raise ValueError(f"input must be a non-empty list of positive sizes, got {v}")
        return v


def check_settings_of(
    owner: str,
    target: Callable[..., Any] | None,
    settings: dict[str, Any],
    given: Mapping[str, str],
) -> None:
    """Refuse a setting `target` (a searcher's or evaluator's class) has no parameter for,
    suggesting the closest one, when the file is read: not as a TypeError once the run
    starts. The arguments hwnas passes itself (`given`, each with the top-level field it
    comes from) are not settings; a `target` of None (one not imported to read a file) names
    its unknown settings itself."""
    if passed := sorted(set(settings) & set(given)):
        raise ValueError(
            f"{owner}: {passed[0]!r} is not one of its settings: hwnas passes the experiment's "
            f"own ({given[passed[0]]}: at the top level of the file)"
        )
    if target is not None:
        check_setting_names(owner, settings, target, passed=given)


def check_finite(value: Any, path: str = "") -> None:
    """Refuse .inf and .nan anywhere in settings: no setting means them (an infinite epoch
    count passes "> 0" and fails every candidate), and the run's stored copy of the
    experiment (JSON) cannot hold them."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{path}: must be a finite number, not {value}")
    if isinstance(value, dict):
        for key, inner in value.items():
            check_finite(inner, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for i, inner in enumerate(value):
            check_finite(inner, f"{path}[{i}]")


def without_defaults(defaults: dict[str, Any], settings: dict[str, Any]) -> dict:
    """`settings` less those equal to their `defaults`: writing a default out is no change
    of the experiment."""
    return {k: v for k, v in settings.items() if k not in defaults or defaults[k] != v}


def parameter_defaults(target: Callable[..., Any]) -> dict[str, Any]:
    """The default of each of `target`'s parameters that has one (a tuple as the list a
    file writes)."""
    params = inspect.signature(target).parameters.values()
    return {
        p.name: list(p.default) if isinstance(p.default, tuple) else p.default
        for p in params
        if p.default is not p.empty
    }


def searcher_defaults(
    name: str, settings: dict[str, Any] | None = None, objectives: int = 1
) -> dict[str, Any]:
    """The value each setting of the searcher `name` takes when left out (none for an
    unknown name): its constructor's default, or what stands behind a `None` there, given
    the other `settings` and the number of `objectives` (evolution's tournament size, the
    predictor searcher's surrogate and ensemble size); the differentiable searcher's include
    its supernet settings (imported here: it needs torch)."""
    from hwnas.search import SEARCHERS, searcher_class

    settings = settings or {}
    if name == "differentiable":
        from hwnas.search.differentiable import DifferentiableSearcher, SupernetSettings

        supernet = {f.name: f.default for f in fields(SupernetSettings)}
        return {**parameter_defaults(DifferentiableSearcher.__init__), **supernet}
    if name not in SEARCHERS:
        return {}
    defaults = parameter_defaults(searcher_class(name).__init__)
    if name == "evolution":
        from hwnas.search.evolution import default_tournament_size

        population = settings.get("population_size", defaults["population_size"])
        if isinstance(population, int):  # else refused when the searcher is made
            defaults["tournament_size"] = default_tournament_size(population)
    elif name == "predictor":
        from hwnas.search.surrogates import DEFAULT_ENSEMBLE_SIZE, DEFAULT_SURROGATE

        defaults["surrogate"] = DEFAULT_SURROGATE[objectives > 1]
        surrogate = settings.get("surrogate", defaults["surrogate"])
        if isinstance(surrogate, str):
            defaults["ensemble_size"] = DEFAULT_ENSEMBLE_SIZE.get(surrogate)
    return defaults


def settings_as_run(name: str, settings: dict[str, Any]) -> dict[str, Any]:
    """The evaluator `name`'s `settings` as its run ran them (`read_as_run`: an earlier
    hwnas's run may store `epochs: '3'`, which trained 3.0 epochs), for comparing them and
    for the training recipe an export records."""
    from hwnas.evaluators import evaluator_class, read_as_run

    return read_as_run(evaluator_class(name), settings)


def evaluator_defaults(name: str, seed: int, latency_section: bool) -> dict[str, Any]:
    """The value each setting of the evaluator `name` takes when an experiment leaves it
    out: its constructor's default, or what stands behind a `None` there (train's epochs,
    tabular's metrics), the measurement's defaults the latency evaluator passes on, and what
    hwnas gives it: the run's `seed`, and the `latency` section's predictor (with one, no
    written `predictor` is a default: `null` measures instead)."""
    from hwnas.evaluators import evaluator_class

    defaults = parameter_defaults(evaluator_class(name))
    if "seed" in defaults:
        defaults["seed"] = seed
    if name == "train":
        from hwnas.evaluators.train import DEFAULT_EPOCHS

        defaults["epochs"] = DEFAULT_EPOCHS
    elif name == "tabular":
        from hwnas.evaluators.tabular import DEFAULT_METRICS

        defaults["metrics"] = dict(DEFAULT_METRICS)
    elif name == "latency":
        from hwnas.predictors import measure_latency

        defaults = {**parameter_defaults(measure_latency), **defaults}
        if latency_section:
            del defaults["predictor"]
    return defaults


class EvaluatorConfig(_Strict):
    """One evaluator name or several (composed), their settings by name, and the budget."""

    name: str | list[str]
    settings: dict[str, dict[str, Any]] = Field(default_factory=dict)
    budget: StrictFloat | None = Field(None, gt=0)

    @property
    def names(self) -> list[str]:
        return [self.name] if isinstance(self.name, str) else list(self.name)

    @field_validator("name")
    @classmethod
    def _known_names(cls, v: str | list[str]) -> str | list[str]:
        from hwnas.evaluators import check_evaluator_name

        for name in [v] if isinstance(v, str) else v:
            check_evaluator_name(name)
        return v

    @field_validator("settings")
    @classmethod
    def _known_settings(
        cls, v: dict[str, dict[str, Any]], info: ValidationInfo
    ) -> dict[str, dict[str, Any]]:
        from hwnas.evaluators import evaluator_class

        check_finite(v)

        if "name" not in info.data:  # the name itself was refused, and said so
            return v
        given = info.data["name"]
        names = [given] if isinstance(given, str) else list(given)
        unknown = set(v) - set(names)
        if unknown:
            raise ValueError(
                f"settings for evaluators not in name: {sorted(unknown)} (name is {names})"
            )
        if (info.context or {}).get(STORED):  # checked when the run started; torch unneeded
            return v
        for name, settings in v.items():
            given = _passed_to_evaluator(name)
            check_settings_of(f"evaluator {name!r}", evaluator_class(name), settings, given)
        return v


def _passed_to_evaluator(name: str) -> dict[str, str]:
    """What hwnas gives evaluator `name` itself, by argument, each from a top-level field of
    the file: the run records and checks those (the data users' dataset, the table)."""
    passed = {"space": "space"}
    if name in DATA_USERS:
        passed["dataset"] = "dataset"
    if name == "tabular":
        passed["path"] = "benchmark"
    return passed


def _named_metric(metric: str) -> str:
    """Refuse an empty metric name as the file is read, at its own line (the searcher
    refused it only when the run started, at the `objectives:` line)."""
    if not metric.strip():
        raise ValueError("the metric name is empty")
    return metric


class Objective(_Strict):
    metric: str
    direction: Literal["min", "max"]

    _named = field_validator("metric")(_named_metric)


class Constraint(_Strict):
    """`metric <= max`."""

    metric: str
    max: StrictFloat

    _named = field_validator("metric")(_named_metric)


class SearcherConfig(_Strict):
    name: Literal["random", "evolution", "nsga2", "predictor", "differentiable"]
    settings: dict[str, Any] = Field(default_factory=dict)

    @field_validator("settings")
    @classmethod
    def _known_settings(cls, v: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        check_finite(v)
        from hwnas.search import SEARCHERS, searcher_class
        from hwnas.search.base import PASSED

        name = info.data.get("name")
        if (info.context or {}).get(STORED):  # checked when the run started; the predictor
            return v  # searcher's scikit-learn and scipy unneeded to read it
        # the differentiable searcher (torch, not imported to read a file) checks the rest
        target = searcher_class(name) if name in SEARCHERS else None
        check_settings_of(f"searcher {name!r}", target, v, {n: n for n in PASSED})
        return v


class ExecutorConfig(_Strict):
    kind: Literal["local", "ray"] = "local"
    address: str | None = None
    # strict, as max_in_flight: `num_gpus: yes` was 1 GPU, lax parsing reading true as 1.0
    resources: dict[str, StrictFloat] | None = None
    max_in_flight: StrictInt = Field(1, ge=1)
    timeout_s: StrictFloat | None = Field(None, gt=0)
    max_retries: StrictInt = Field(2, ge=0)


#: the password of a database URL, as SQLAlchemy finds it (`dialect://user:password@...`)
_URL_PASSWORD = re.compile(r"^([\w+]+://[^:/]*:)[^@]*@")


def hide_password(url: str) -> str:
    """`url` with its password shown as `***`, as SQLAlchemy's
    `render_as_string(hide_password=True)` shows it: what hwnas prints (errors) or records
    beyond the experiment file (the run's storage) must not give the database away to whoever
    reads them."""
    return _URL_PASSWORD.sub(r"\1***@", url)


def _in_memory_sqlite(url: str) -> bool:
    """Whether `url` names an in-memory SQLite database (`sqlite://`, `sqlite:///:memory:`,
    a `mode=memory` URI): the search's connections would each find an empty one."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except ArgumentError:
        return False  # not a URL: SQLAlchemy's own error names it when the run opens it
    database = parsed.database or ""
    return parsed.get_backend_name() == "sqlite" and (
        database in ("", ":memory:") or parsed.query.get("mode") == "memory"
    )


class StorageConfig(_Strict):
    """Where the Optuna study lives: default a SQLite file in the run directory; or an Optuna
    journal file (relative to the run directory); or any Optuna RDB URL (shared storage)."""

    journal: str | None = None
    url: str | None = None
    heartbeat_s: StrictFloat = Field(5.0, gt=0, description="how often a driver says it is alive")
    grace_s: StrictFloat | None = Field(None, gt=0, description="silence after which it is dead")

    @field_validator("journal")
    @classmethod
    def _journal_inside(cls, v: str | None) -> str | None:
        if v is None:
            return v
        from hwnas.experiments.optuna_storage import DEFAULT_DATABASE
        from hwnas.experiments.run_dir import SNAPSHOT, SPACE_SNAPSHOT

        name = str(PurePosixPath(inside_run_dir(v, "journal").replace("\\", "/")))
        if name == ".":
            raise ValueError(f"journal must name a file in the run directory, not {v!r}")
        if name in (own := (SNAPSHOT, SPACE_SNAPSHOT, DEFAULT_DATABASE)):
            raise ValueError(
                f"journal: {v!r} is one of the files hwnas keeps in the run directory "
                f"{list(own)}; name another file, such as study.log"
            )
        return v

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        """The fields as `repr` and `str` show them (a notebook's output, a log), the URL's
        password hidden (`hide_password`), as SQLAlchemy's own URLs show theirs."""
        for name, value in super().__repr_args__():
            yield name, hide_password(value) if name == "url" and value else value

    @property
    def place(self) -> tuple[str | None, str | None]:
        """Which storage this is: its journal file, or its database URL without the password
        (a password changed, as one is rotated, still names the same database)."""
        return self.journal, self.url and hide_password(self.url)

    @model_validator(mode="after")
    def _one_kind(self) -> StorageConfig:
        if self.journal and self.url:
            raise ValueError("give either journal or url, not both")
        if self.url and _in_memory_sqlite(self.url):
            raise ValueError(
                f"url: {self.url!r} is an in-memory SQLite database, which each connection "
                "opens empty and which is gone when it closes: nothing of the run would be "
                "kept; give a file (sqlite:////abs/path.db) or leave url out (study.db in "
                "the run)"
            )
        if (
            self.url
            and self.url.startswith("sqlite:///")
            and not self.url.startswith("sqlite:////")
        ):
            raise ValueError(
                "url: a relative SQLite path depends on the directory hwnas runs in; give an "
                "absolute one (sqlite:////abs/path.db) or leave url out (study.db in the run)"
            )
        if self.grace_s is not None and self.grace_s < 2 * self.heartbeat_s:
            raise ValueError(
                f"grace_s ({self.grace_s}) must be at least twice heartbeat_s "
                f"({self.heartbeat_s}), or live drivers are taken for dead"
            )
        return self


class LatencyConfig(_Strict):
    """A fitted latency predictor file or a measured profile (one of them)."""

    predictor: str | None = None
    profile: str | None = None
    target_ms: StrictFloat | None = Field(None, gt=0)

    _no_nul = field_validator("predictor", "profile")(_path_without_nul)

    @model_validator(mode="after")
    def _one_source(self) -> LatencyConfig:
        if bool(self.predictor) == bool(self.profile):
            raise ValueError("give exactly one of predictor or profile")
        return self


class ExperimentConfig(_Strict):
    """Everything one search needs; see `examples/*.yaml` and docs/guide.md."""

    name: str = Field("hwnas", pattern=NAME_PATTERN)
    space: SpaceConfig
    dataset: str | None = None
    benchmark: str | None = None
    evaluator: EvaluatorConfig
    objectives: list[Objective] = Field(min_length=1)
    constraints: list[Constraint] = Field(default_factory=list)
    searcher: SearcherConfig
    evaluations: StrictInt | None = Field(None, ge=1)
    time_limit_s: StrictFloat | None = Field(None, gt=0)
    executor: ExecutorConfig = Field(default_factory=ExecutorConfig)
    storage: StorageConfig = Field(default_factory=StorageConfig)
    latency: LatencyConfig | None = None
    seed: StrictInt = Field(0, ge=0, le=2**32 - 1)  # the searchers' MAX_SEED (numpy's RandomState)
    run_dir: str

    _no_nul = field_validator("dataset", "benchmark")(_path_without_nul)

    @field_validator("space", mode="before")
    @classmethod
    def _space_name(cls, v: Any) -> Any:
        return {"name": v} if isinstance(v, str) else v

    @field_validator("searcher", mode="before")
    @classmethod
    def _searcher_name(cls, v: Any) -> Any:
        return {"name": v} if isinstance(v, str) else v

    @field_validator("evaluator", mode="before")
    @classmethod
    def _evaluator_name(cls, v: Any) -> Any:
        return {"name": v} if isinstance(v, str | list) else v

    @field_validator("run_dir")
    @classmethod
    def _no_parent(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("run_dir is empty; name the folder that keeps the run")
        no_nul(v, "run_dir")
        known_home(v, "run_dir")
        if ".." in PurePosixPath(v.replace("\\", "/")).parts:
            raise ValueError(f"run_dir must not contain '..', got {v!r}")
        # as a shell has it, as the input files are read: not a folder named '~' here
        return str(Path(v).expanduser()) if v.startswith("~") else v

    @model_validator(mode="after")
    def _consistent(self) -> ExperimentConfig:
        if self.evaluations is None and self.time_limit_s is None:
            raise ValueError("set evaluations, time_limit_s or both")
        # as the file is read, at its own line (a repeated constraint was refused only when
        # the searcher was built, as the searcher's error)
        for field, items in (("objectives", self.objectives), ("constraints", self.constraints)):
            names = [item.metric for item in items]
            if len(set(names)) != len(names):
                raise ValueError(f"{field} repeat a metric: {names}")
        if self.executor.address and self.executor.kind != "ray":
            raise ValueError("executor.address needs executor.kind: ray")
        uses_latency = "latency" in self.evaluator.names or self.searcher.name in LATENCY_USERS
        if self.latency and not uses_latency:
            raise ValueError(
                "latency is set but nothing uses it: add the `latency` evaluator or use the "
                f"{' or '.join(LATENCY_USERS)} searcher"
            )
        if self.benchmark and "tabular" not in self.evaluator.names:
            raise ValueError("benchmark is set but nothing uses it: it is the tabular evaluator's")
        train = self.evaluator.settings.get("train", {})
        if self.evaluator.budget is not None and (
            given := [k for k in ("epochs", "steps") if k in train]
        ):
            raise ValueError(
                f"evaluator.budget and evaluator.settings.train.{given[0]}: give one of them "
                "(the budget is the epochs of every training, in place of either)"
            )
        if self.latency and self.latency.target_ms is not None:
            self._one_latency_target()
        self._one_named_dataset()
        return self

    def _one_named_dataset(self) -> None:
        """The evaluators that run candidates on data take the top-level `dataset`, which the
        run records (export passes on its standardisation) and checks for changes on resume;
        no silent default (a dataset in their settings is refused with the settings)."""
        for name in [n for n in self.evaluator.names if n in DATA_USERS]:
            if self.dataset is None:
                raise ValueError(
                    f"dataset: the {name} evaluator runs candidates on data; name it "
                    "(dataset: mnist1d, digits, a .npz file, ...)"
                )

    def _one_latency_target(self) -> None:
        """`latency.target_ms` steers the differentiable searcher only, and must not compete
        with a target in its settings (which one would win is not obvious)."""
        if self.searcher.name != "differentiable":
            raise ValueError(
                "latency.target_ms is a target for the differentiable searcher, not "
                f"{self.searcher.name}; use a constraint ({{metric: latency_ms, max: ...}})"
            )
        for setting in ("latency_target_ms", "latency_targets_ms"):
            if setting in self.searcher.settings:
                raise ValueError(
                    f"latency.target_ms and searcher.settings.{setting}: give one of them"
                )

    @property
    def objective_pairs(self) -> list[tuple[str, str]]:
        """The objectives as `(metric, "min"|"max")`, as `get_searcher` takes them."""
        return [(o.metric, o.direction) for o in self.objectives]

    @property
    def study_directions(self) -> list[str]:
        """The objectives' directions as an Optuna study holds them (`maximize`, `minimize`)."""
        return ["maximize" if o.direction == "max" else "minimize" for o in self.objectives]

    @property
    def constraint_pairs(self) -> list[tuple[str, float]]:
        """The constraints as `(metric, bound)`, meaning `metric <= bound`."""
        return [(c.metric, c.max) for c in self.constraints]

    @property
    def needed_metrics(self) -> list[str]:
        """The metrics every successful evaluation must have (objectives, constraints)."""
        return list(dict.fromkeys(m for m, _ in self.objective_pairs + self.constraint_pairs))

    # the file it was read from and its YAML (with lines), for errors found after parsing
    _source: str = PrivateAttr("")
    _yaml: Any = PrivateAttr(None)

    @property
    def source(self) -> str:
        """The experiment file it was read from, as given ("" for one made in Python)."""
        return self._source

    def located(self, loc: tuple[str, ...], message: str) -> ExperimentError:
        """`message` after the file and the line of field `loc`, as a parse error has them
        (an experiment made in Python has neither)."""
        if not self._source:
            return ExperimentError(message)
        data = self._yaml if isinstance(self._yaml, dict) else {}
        return ExperimentError(f"{self._source}: {at_line(data, loc)}{message}")

    def error_in(
        self, section: str, problem: Exception, given: dict[str, tuple[str, ...]] | None = None
    ) -> ExperimentError:
        """`problem` found in building `section` (its evaluator, searcher...) after the file
        parsed, placed at what the message starts by naming (see `_named_field`); `given`
        places the settings hwnas passed from elsewhere in the file (the searcher's
        `latency_predictor` from the `latency` section). A dataset that cannot be loaded or
        does not fit the space is the top-level `dataset`'s problem, whoever loaded it."""
        from hwnas.evaluators.datasets import DatasetError

        if isinstance(problem, DatasetError) and self.dataset is not None:
            return self.located(("dataset",), f"dataset: {problem}")
        data = self._yaml if isinstance(self._yaml, dict) else {}
        loc = _named_field(data, section, str(problem), given or {})
        return self.located(loc, f"{section}: {problem}")

    def to_data(self) -> dict[str, Any]:
        """Plain JSON-able data that `ExperimentConfig.model_validate` reads back (the local
        executor's Ray-only settings at their defaults included: `check_executor` accepts
        them, so the run's copy of its experiment resumes the run)."""
        return self.model_dump(mode="json", exclude_none=True)

    def record_data(self) -> dict[str, Any]:
        """`to_data` as the run's storage records it, the storage URL's password hidden
        (`hide_password`): every reader of a shared database sees the record (optuna-dashboard
        shows it), and only the settings that make the results are compared with it."""
        data = self.to_data()
        if self.storage.url:
            data["storage"]["url"] = hide_password(self.storage.url)
        return data

    def effective_data(self) -> dict[str, Any]:
        """`to_data` without searcher and evaluator settings that restate a default: what
        decides whether two experiments are the same."""
        data = self.to_data()
        given = (self.seed, self.latency is not None)  # what hwnas gives the evaluators
        settings = self.searcher.settings
        defaults = searcher_defaults(self.searcher.name, settings, len(self.objectives))
        searcher = data["searcher"]["settings"] = without_defaults(defaults, settings)
        searcher.pop("progress", None)  # the differentiable searcher's display, not its search
        data["evaluator"]["settings"] = {  # an evaluator left with none: not written
            name: left
            for name, settings in self.evaluator.settings.items()
            if (
                left := without_defaults(
                    evaluator_defaults(name, *given), settings_as_run(name, settings)
                )
            )
        }
        return data

    def with_absolute_inputs(self, base: Path) -> ExperimentConfig:
        """This experiment with its input files (a space YAML, a `.npz` dataset, the
        benchmark table, a latency predictor or profile) named by absolute paths when they
        are files relative to `base`, so that the run directory's copy of the experiment
        reads the same files whichever directory `hwnas status`, `pareto` or `export` runs in.
        Names of built-ins, absolute paths (`~/` expanded) and missing files stay as written
        (a run refuses a missing one, saying where it looked: `check_inputs_found`). An unset
        `benchmark` of the tabular evaluator becomes the table it finds ($HWNAS_BENCHDATA, else
        the default folder), which can differ between a run's start and its resume: named, it
        is recorded and checked like any input."""

        def absolute(value: str) -> str:
            if (home := Path(value).expanduser()).is_absolute():  # ~/data.npz as a shell has it
                return str(home)
            path = base / value
            return str(path.resolve()) if path.is_file() else value

        config = self
        for _, loc, value in input_files(self, used_only=False):
            config = _with_value(config, loc, absolute(value))
        return config.model_copy(update={"benchmark": config.benchmark or self._found_benchmark()})

    def _found_benchmark(self) -> str | None:
        """The table the tabular evaluator reads when no `benchmark` is given, if any."""
        if "tabular" not in self.evaluator.names:
            return None
        from hwnas.evaluators.tabular import ACCURACY_TABLE, benchdata_dir

        table = benchdata_dir(must_exist=False) / ACCURACY_TABLE
        return str(table.resolve()) if table.is_file() else None


def _schema_loc(loc: tuple[Any, ...]) -> tuple[Any, ...]:
    """Drop pydantic's union-member tags (`str`, `list[str]`, ...) from an error location."""
    return tuple(p for p in loc if isinstance(p, int) or "[" not in p and p not in {"str"})


def uses_dataset(config: ExperimentConfig) -> bool:
    """Whether the search ran candidates on the experiment's `dataset` (an evaluator trained
    or scored them on it, or the differentiable searcher trained its supernet there)."""
    return config.searcher.name == "differentiable" or any(
        n in DATA_USERS for n in config.evaluator.names
    )


def input_files(
    config: ExperimentConfig, used_only: bool = True
) -> list[tuple[str, tuple[str, ...], str]]:
    """The input files an experiment names: each field's name, its place in the file and its
    value, where that is a file's name (a suffix; built-ins' names have none). With
    `used_only`, without a `dataset` nothing uses (of a run stored before that was refused:
    it is never read)."""
    latency = config.latency
    dataset = config.dataset if uses_dataset(config) or not used_only else None
    named = [
        ("space", ("space", "name"), config.space.name),
        ("dataset", ("dataset",), dataset),
        ("benchmark", ("benchmark",), config.benchmark),
        ("latency.predictor", ("latency", "predictor"), latency and latency.predictor),
        ("latency.profile", ("latency", "profile"), latency and latency.profile),
    ]
    return [(field, loc, value) for field, loc, value in named if value and Path(value).suffix]


def _with_value(model: BaseModel, loc: tuple[str, ...], value: Any) -> Any:
    """A copy of `model` with the field at `loc` (its attribute names, outermost first) set
    to `value`."""
    head, *rest = loc
    field = _with_value(getattr(model, head), tuple(rest), value) if rest else value
    return model.model_copy(update={head: field})


def check_inputs_found(config: ExperimentConfig) -> None:
    """Refuse an input file named by a relative path that is not there, saying where it was
    looked for: relative paths are read from the current directory, not the experiment
    file's folder, and `hwnas search ../proj/exp.yaml` said only "data/d.npz does not
    exist", as the file names it. A missing absolute path, and one that cannot be looked at
    (a folder on the way not searchable), are left to the reader's message."""
    here = Path.cwd()
    for field, loc, value in input_files(config):
        path = Path(value)
        if path.expanduser().is_absolute() or not _missing(path):
            continue
        raise config.located(
            loc,
            f"{field}: {value}: no such file {(here / path).resolve()}: a relative path is "
            f"read from the current directory {here}{_not_the_experiments_folder(config, path)}",
        )


def _missing(path: Path) -> bool:
    """Whether no file or folder is at `path`."""
    try:
        path.stat()
    except FileNotFoundError:
        return True
    except OSError:  # there may be one: the reader says what is wrong
        return False
    return False


def _not_the_experiments_folder(config: ExperimentConfig, path: Path) -> str:
    """That the experiment file's folder, where it is not the current directory, is not
    where the relative input `path` is read from, with the path to give where it holds it."""
    here = Path.cwd()
    folder = Path(config.source).resolve().parent if config.source else here
    if folder == here:
        return ""
    there = _in_experiments_folder(config, path)
    has_it = f" (which has it: {os.path.relpath(there, here)} from here)" if there else ""
    return f", not the experiment file's folder{has_it}"


def space_file_hint(config: ExperimentConfig) -> str:
    """Where the experiment's `space`, a name without suffix that is neither a built-in nor
    a file here, is a space file (NAME.yaml or .yml) in the experiment file's folder: the
    file, and that relative paths are read from the current directory. Named with its
    suffix, the file was hinted so (`check_inputs_found`), as the current directory's is
    by `get_space`; without, it was only an "unknown space"."""
    name = config.space.name
    files = [Path(f"{name}{suffix}") for suffix in (".yaml", ".yml")]
    if Path(name).suffix or name in builtin_spaces() or any(p.exists() for p in files):
        return ""
    there = next(filter(None, (_in_experiments_folder(config, file) for file in files)), None)
    if there is None:
        return ""
    return (
        f" (did you mean the file {os.path.relpath(there)}? A relative path is read from the "
        f"current directory {Path.cwd()}, not the experiment file's folder)"
    )


def _in_experiments_folder(config: ExperimentConfig, path: Path) -> Path | None:
    """The relative `path` in the experiment file's folder, where something is there (None
    for an experiment made in Python, which has no file)."""
    if not config.source:
        return None
    there = Path(config.source).resolve().parent / path
    return there if os.path.exists(there) else None  # False for a folder not searchable


def check_new_run(config: ExperimentConfig) -> None:
    """What a new run refuses, though runs stored before it was refused stay readable (and
    resumable): a `dataset` nothing uses (export would pass on its standardisation as the
    model's), an `evaluator.budget` without the `train` evaluator (the only one that spends
    it, as epochs: the others ignored it without a word), and a searcher's
    `latency_predictor` or `dataset` in place of the experiment's `latency` section or
    `dataset` (the run records, checks on resume and reports those, so a source given only
    to the searcher would go unrecorded), or beside its `latency` section (the run would
    report the section's predictor as the latency source), and a `storage.journal` starting
    with `~` (a home folder in every other path of an experiment, but the journal is a file
    in the run directory: `journal: ~/j.log` made a folder named `~` there)."""
    if (journal := config.storage.journal) and journal.startswith("~"):
        raise config.located(
            ("storage", "journal"),
            f"storage.journal: {journal!r} starts with '~', but the journal is a file inside "
            "the run directory, not in a home folder; name it as one, such as study.log",
        )
    if config.dataset is not None and not uses_dataset(config):
        raise config.located(
            ("dataset",),
            f"dataset: no part of this experiment uses data (evaluator "
            f"{'+'.join(config.evaluator.names)}, searcher {config.searcher.name}); drop it",
        )
    if config.evaluator.budget is not None and "train" not in config.evaluator.names:
        names = config.evaluator.names
        raise config.located(
            ("evaluator", "budget"),
            "evaluator.budget: only the train evaluator spends a budget (its epochs); "
            f"{'+'.join(names)} {'ignores' if len(names) == 1 else 'ignore'} it; drop it",
        )
    settings = config.searcher.settings
    if config.latency and "latency_predictor" in settings:
        raise config.located(
            ("searcher", "settings", "latency_predictor"),
            "latency and searcher.settings.latency_predictor: give one of them (the searcher "
            "gets the `latency` section's predictor, which the run reports)",
        )
    for setting, present, section in (
        (
            "latency_predictor",
            config.latency,
            "`latency` section (latency: {profile: FILE} or {predictor: FILE})",
        ),
        ("dataset", config.dataset, "`dataset` (dataset: mnist1d, a .npz file, ...)"),
    ):
        if setting in settings and present is None:
            raise config.located(
                ("searcher", "settings", setting),
                f"searcher.settings.{setting}: give it as the experiment's {section}: the "
                "searcher gets it from there, and the run records it, checks it on resume and "
                "reports it",
            )


#: the name a problem's message starts with (`train.steps: ...`, `latency is set but ...`),
#: less the index of a list's item (`latency_targets_ms[1] must be > 0`: the list's line)
_NAMED = re.compile(r"([\w.-]+)(?:\[\d+\])*:? ")


#: a setting refused by its name (`check_setting_names`, `check_settings_of`): `searcher
#: 'nsga2' has no setting 'populaton' ...`, `evaluator 'tabular': 'path' is not one of ...`
_REFUSED_SETTING = re.compile(
    r"[\w ]*?(?:'(?P<owner>[^']+)')?(?::| has no settings?) '(?P<key>[^']+)'"
)


def _refused_setting(node: Any, message: str) -> list[str]:
    """The keys under `node`, a section's settings, of the setting `message` refuses by name
    (the first, where it names several): for its own line, not the `settings:` line. An
    evaluator's settings lie under its name, a searcher's directly."""
    refused = _REFUSED_SETTING.match(message)
    if not (refused and isinstance(node, dict)):
        return []
    owner, key = refused["owner"], refused["key"]
    if key in node:
        return [key]
    inner = node.get(owner)
    return [owner, key] if isinstance(inner, dict) and key in inner else []


def _named_field(
    data: dict[str, Any], section: str, message: str, given: dict[str, tuple[str, ...]]
) -> tuple[str, ...]:
    """The field of the file a problem of `section` lies in: the deepest of its settings the
    message starts by naming (`train: epochs must be > 0`: evaluator.settings.train.epochs),
    else a setting hwnas was `given` from another field, or a top-level field it names
    (`dataset 'digits': ...`, which the evaluator is given), else the section's settings or
    the section."""
    loc, node = (section,), data.get(section)
    if isinstance(node, dict) and isinstance(node.get("settings"), dict):
        loc, node = (section, "settings"), node["settings"]
    if refused := _refused_setting(node, message):
        return (*loc, *refused)
    named = _NAMED.match(message)
    if named and not _key_path(node, named[1]):
        if named[1] in given:
            return given[named[1]]
        if named[1] in data:
            return (named[1],)
    while named and (path := _key_path(node, named[1])):
        for key in path:
            loc, node = (*loc, key), node[key]
        message = message[named.end() :]
        named = _NAMED.match(message)
    return loc


def _deepened(data: dict[str, Any], loc: tuple[Any, ...], message: str) -> tuple[Any, ...]:
    """`loc` with the key under it that `message` refuses (`_refused_setting`) or starts by
    naming (`x: must be a finite number` of `searcher.settings`), for the line of that key
    rather than its mapping's."""
    node: Any = data
    for part in loc:
        node = node.get(part) if isinstance(node, dict) else None
    if refused := _refused_setting(node, message):
        return (*loc, *refused)
    named = _NAMED.match(message)
    return (*loc, *_key_path(node, named[1])) if named else loc


def _first_named(data: dict[str, Any], message: str) -> tuple[str, ...]:
    """The field of `data` that a check across fields names first (`executor.address needs
    executor.kind: ray`), where its line is; empty when it names none the file holds."""
    named = _NAMED.match(message)
    return tuple(_key_path(data, named[1])) if named else ()


def _key_path(node: Any, name: str) -> list[str]:
    """The keys under `node` that `name` reaches: `name` itself, or a dotted name part by
    part (`train.steps: Input should be a valid integer`, an evaluator's typed setting)."""
    if isinstance(node, dict) and name in node:
        return [name]
    path = []
    for part in name.split("."):
        if not (isinstance(node, dict) and part in node):
            break
        path, node = [*path, part], node[part]
    return path


def parse_experiment(
    text: str, source: str = "<experiment>", *, stored: bool = False
) -> ExperimentConfig:
    """Validate experiment YAML text; errors name `source`, the field and the line. `stored`
    is for a run's own copy (`run_dir.SNAPSHOT`), whose evaluator and searcher settings were
    checked against their classes when the run started: checking them again imported those
    modules, and with them torch or scikit-learn (2 of the 3.6 s of `hwnas status` of a
    training run)."""
    if not isinstance(text, str):  # yaml's reader failed on `.read`, naming no argument
        raise TypeError(
            f"text must be an experiment's YAML text (load_experiment reads a file), not "
            f"{text!r:.80}"
        )
    try:
        data = yaml.load(text, Loader=YamlLoader)  # safe; a repeated key is an error
    except yaml.YAMLError as e:
        raise ExperimentError(f"{source}:{yaml_problem(e)}") from None
    if not isinstance(data, dict):
        raise ExperimentError(f"{source}: expected a mapping of fields at the top level")
    try:
        config = ExperimentConfig.model_validate(data, context={STORED: stored})
    except ValidationError as err:
        lines = []
        for e in err.errors():
            loc = _schema_loc(e["loc"])
            msg = validation_problem({**e, "loc": loc}, ExperimentConfig)
            if not loc and (named := _first_named(data, msg)):  # a check across fields
                lines.append(f"{source}: {at_line(data, named)}{msg}")
            else:
                line = at_line(data, _deepened(data, loc, msg))
                lines.append(f"{source}: {line}{field_path(loc)}: {msg}")
        raise ExperimentError("; ".join(dict.fromkeys(lines))) from None
    config._source, config._yaml = source, data
    return config


def stored_experiment(data: dict[str, Any]) -> ExperimentConfig:
    """A run's recorded experiment (`to_data()`, as its storage holds it) validated again, as
    `parse_experiment(stored=True)` validates a run's own copy."""
    return ExperimentConfig.model_validate(data, context={STORED: True})


def load_experiment(path: str | Path, *, stored: bool = False) -> ExperimentConfig:
    """Read and validate an experiment YAML file (nothing is written); `stored` as for
    `parse_experiment`."""
    no_nul(path, "experiment file")
    path = Path(path)
    return parse_experiment(read_text(path, ExperimentError), str(path), stored=stored)

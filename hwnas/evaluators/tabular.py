"""The tabular evaluator: NAS-Bench-201 results looked up in published tables (a lookup takes
microseconds; the latency columns are in milliseconds).

Searchers are benchmarked against real, external numbers this way: `nb201.csv.gz` holds the
trained accuracies of all 15625 cells and `nb201_latency_24devices.csv.gz` their measured
latency on 24 devices (see `../shared/benchdata/README.md`). Rows are found by the official
`arch_idx` (`space.index(arch)`), so no string matching happens per evaluation.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import fields
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
from pandas.api.types import is_numeric_dtype as is_numeric

from hwnas.evaluators.failures import failure_reason
from hwnas.evaluators.metrics import Metrics
from hwnas.spaces import Arch, Cost, NasBench201Space, SearchSpace, SpaceError
from hwnas.spaces.nasbench201 import NasBench201Spec
from hwnas.spaces.reprs import facts_repr, named

ACCURACY_TABLE = "nb201.csv.gz"
LATENCY_TABLE = "nb201_latency_24devices.csv.gz"

#: Metric name -> column of `nb201.csv.gz`. The search sees the validation accuracy (the
#: protocol of the NAS-Bench-201 paper); the test accuracy is what benchmarks report.
DEFAULT_METRICS: dict[str, str] = {
    "accuracy": "cifar10valid_valid_acc_200ep",
    "test_accuracy": "cifar10_test_200ep",
    "train_time_s": "cifar10valid_train_time_s_200ep",
}


def benchdata_dir(must_exist: bool = True) -> Path:
    """The benchmark data folder: `$HWNAS_BENCHDATA`, else `../shared/benchdata` beside the repo.

    With `must_exist`, a missing folder raises `FileNotFoundError` saying how to point at it;
    an installed hwnas (no repository around it) has only `$HWNAS_BENCHDATA`, and says so
    rather than naming a folder inside its Python installation.
    """
    env = os.environ.get("HWNAS_BENCHDATA")
    root = Path(__file__).resolve().parents[2]
    path = Path(env) if env else root.parent / "shared" / "benchdata"
    if must_exist and not path.is_dir():
        hint = "set HWNAS_BENCHDATA to the folder holding nb201.csv.gz"
        if env:
            raise FileNotFoundError(
                f"benchmark data folder {path} (from HWNAS_BENCHDATA) does not exist; {hint}"
            )
        if not (root / "setup.cfg").is_file():
            raise FileNotFoundError(
                f"no benchmark data folder: {hint} (hwnas is installed in {root}, not run "
                "from its repository, so there is no ../shared/benchdata beside it)"
            )
        raise FileNotFoundError(
            f"benchmark data folder {path} (the default, beside the repository) does not "
            f"exist; {hint}"
        )
    return path


def _load_table(path: Path) -> pd.DataFrame:
    """One NB201 table indexed by `arch_idx`, checked to cover every cell exactly once; read
    again once the file has changed (a notebook that edits its table and searches again)."""
    if not path.is_file():
        raise FileNotFoundError(f"NAS-Bench-201 table {path} does not exist")
    stat = path.stat()
    return _read_table(path, stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=4)
def _read_table(path: Path, mtime_ns: int, size: int) -> pd.DataFrame:
    """`_load_table`'s read of `path` as it was at `mtime_ns` with `size` bytes."""
    table = pd.read_csv(path)
    if "arch_idx" not in table.columns:
        raise ValueError(f"{path}: has no 'arch_idx' column")
    table = table.set_index("arch_idx").sort_index()
    if not table.index.equals(pd.RangeIndex(15625)):
        raise ValueError(f"{path}: arch_idx must cover 0..15624 exactly once")
    if "arch_str" in table.columns:
        _check_cell_strings(table["arch_str"], path)
    return table


def _check_cell_strings(strings: pd.Series, path: Path) -> None:
    """Refuses a table whose `arch_str` is not the official cell of its `arch_idx`: rows are
    looked up by index, so a table numbered in another order (its own enumeration, sorted
    strings) would give every cell another cell's numbers."""
    official = pd.Series(_official_strings(), index=strings.index)
    wrong = strings.astype(str).str.strip() != official
    if wrong.any():
        i = int(wrong.idxmax())
        raise ValueError(
            f"{path}: arch_str of arch_idx {i} is {strings[i]!r}, not the official cell {i} "
            f"{official[i]!r} ({int(wrong.sum())} rows disagree); rows are found by arch_idx, "
            "which must be NAS-Bench-201's index of the row's cell"
        )


@lru_cache(maxsize=1)
def _official_strings() -> tuple[str, ...]:
    """The cell string of every `arch_idx`, listed once (0.2 s) for every table read."""
    space = _published_space()
    return tuple(space.to_string(a) for a in space.enumerate())


def _published_space() -> NasBench201Space:
    """The space of the published NAS-Bench-201 networks, the ones the tables hold."""
    return NasBench201Space(NasBench201Spec(name="nasbench201"))


def benchmark_files(path: str | Path | None = None, latency: bool = True) -> list[Path]:
    """The tables `load_nb201(path, latency)` reads: the accuracy table, then the 24-device
    latency table when `latency` and that file sits beside it."""
    path = Path(path) if path is not None else benchdata_dir()
    accuracy_path = path / ACCURACY_TABLE if path.is_dir() else path
    latency_path = accuracy_path.parent / LATENCY_TABLE
    return [accuracy_path, *([latency_path] if latency and latency_path.is_file() else [])]


def table_digest(path: Path) -> str:
    """A digest of the table `path` as read (its columns and values): the same numbers written
    again (recompressed, reformatted) keep it, and any change to them does not."""
    table = _load_table(path)
    digest = hashlib.sha256(json.dumps([str(c) for c in table.columns]).encode())
    digest.update(pd.util.hash_pandas_object(table).to_numpy().tobytes())
    return digest.hexdigest()


def load_nb201(path: str | Path | None = None, latency: bool = True) -> pd.DataFrame:
    """The NB201 accuracy table (indexed by `arch_idx`), joined with the 24-device latency table
    as `lat_<device>_ms` columns when `latency` and that file sits beside it. A negative
    latency, HW-NAS-Bench's mark of a cell with no valid measurement (-1), is read as missing:
    taken as a number, it was the fastest network on that device."""
    accuracy_path, *latency_paths = benchmark_files(path, latency)
    table = _load_table(accuracy_path).copy()  # the caller's own: changing it spares the cache
    for latency_path in latency_paths:
        devices = _load_table(latency_path).drop(columns="arch_str")
        # compared as numbers: a text column of one's own is refused later, as a metric
        devices = devices.mask(devices.apply(pd.to_numeric, errors="coerce") < 0)
        table = table.join(devices.rename(columns=lambda d: f"lat_{d}_ms"))
    return table


class TabularEvaluator:
    """Looks NAS-Bench-201 cells up in the published tables.

    Returns `accuracy` (validation, what a searcher optimises), `test_accuracy`, `train_time_s`
    (or whatever `metrics` maps names to), every `hw_*_latency_ms` column and, when `latency`
    is true, every device of the 24-device table as `lat_<device>_ms`, plus `params`, `macs`,
    `size_bytes`, `activations` from `space.cost` when `cost` is true (the first cell of a
    process imports torch and counts the few distinct parts, 2-3 s, then under a millisecond
    per new cell; benchmarks that need speed turn it off).
    `budget` is ignored: the table holds final 200-epoch results.
    """

    def __init__(
        self,
        space: SearchSpace,
        path: str | Path | None = None,
        metrics: Mapping[str, str] | None = None,
        *,
        latency: bool = True,
        cost: bool = True,
    ):
        if not isinstance(space, NasBench201Space):
            raise TypeError(
                f"the tabular evaluator needs a nasbench201 space, not {space.name!r} "
                f"({type(space).__name__})"
            )
        published = _published_space()
        changed = [
            f"{name} {mine} (the table's: {theirs})"
            for name, mine, theirs in (
                ("input", space.input_shape, published.input_shape),
                ("classes", space.num_classes, published.num_classes),
                ("channels", space.spec.channels, published.spec.channels),
                ("cells_per_stage", space.spec.cells_per_stage, published.spec.cells_per_stage),
            )
            if mine != theirs
        ]
        if changed:
            raise ValueError(
                f"space {space.name!r}: the table holds the published NAS-Bench-201 networks "
                f"(CIFAR-10), not these: {'; '.join(changed)}"
            )
        self.space, self.cost = space, cost
        table = load_nb201(path, latency=latency)
        self.metrics = dict(DEFAULT_METRICS if metrics is None else metrics)
        unknown = sorted(c for c in self.metrics.values() if c not in table.columns)
        if unknown:
            raise ValueError(
                f"metrics: unknown table columns {unknown}; available: {list(table.columns)}"
            )
        if cost and (clash := sorted(set(self.metrics) & {f.name for f in fields(Cost)})):
            raise ValueError(
                f"metrics: {clash} are also the analytic costs this evaluator reports; "
                "rename them or set cost=False"
            )
        text = [f"{m}: {c!r}" for m, c in self.metrics.items() if not is_numeric(table[c])]
        if text:
            raise ValueError(f"metrics: table columns that are not numbers: {'; '.join(text)}")
        extra = [c for c in table.columns if c.startswith(("hw_", "lat_"))]
        columns = {**self.metrics, **{c: c for c in extra if c not in self.metrics}}
        self.names = list(columns)
        self._values = table[list(columns.values())].to_numpy(dtype=np.float64)

    @facts_repr
    def __repr__(self) -> list[str]:
        """Its space and the metrics it reads from the table's columns."""
        return named(space=self.space.name, metrics=list(self.metrics))

    @property
    def metric_names(self) -> tuple[str, ...]:
        """The metrics of a successful evaluation (checked against objectives at start)."""
        return (*self.names, *([f.name for f in fields(Cost)] if self.cost else []))

    def evaluate(self, arch: Arch, budget: float | None = None) -> Metrics:
        """The table row of `arch` as metrics (plus its analytic cost); failed `Metrics` for an
        arch the space rejects (from another space, an unknown operation)."""
        try:
            index = self.space.index(arch)
            costs = self.space.cost(arch).as_dict() if self.cost else {}
        except SpaceError as e:
            return Metrics.failed(failure_reason(e))
        return Metrics({**dict(zip(self.names, self._values[index].tolist())), **costs})

    def predictor(self, metric: str) -> TableColumn:
        """The table's `metric` as a model with `predict(archs)`: a measured latency column
        handed to a searcher as its known latency model, as a fitted predictor would be."""
        if metric not in self.names:
            raise ValueError(f"metric: {metric!r} is not in the table; available: {self.names}")
        return TableColumn(self, self.names.index(metric))


class TableColumn:
    """One column of a tabular evaluator's table, looked up by architecture."""

    def __init__(self, evaluator: TabularEvaluator, column: int):
        self.evaluator, self.column = evaluator, column

    def predict(self, archs: Sequence[Arch]) -> np.ndarray:
        rows = [self.evaluator.space.index(a) for a in archs]
        return self.evaluator._values[rows, self.column]

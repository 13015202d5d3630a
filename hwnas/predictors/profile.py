"""Device profiles: tables of real latency measurements of a space on one backend, and
reading them.

A profile is a CSV file (one row per measurement, with the device fingerprint) plus a JSON
metadata file beside it (`name.csv` + `name.json`); never a pickle. It holds what the
predictors need: every distinct part of the space's networks (see `hwnas.predictors.parts`),
at every precision profiled, for a lookup table; and whole random architectures, for learned
predictors and for checking how additive latency is (`hwnas.predictors.profile_plan` says which
rows a profile of a space holds; `hwnas.predictors.profiling` measures them).

A model measured in several passes has a row per pass (row ids `...|pass2`, ...); its latency
is the lowest over its passes (`Profile.ok`).
"""

from __future__ import annotations

import csv
import io
import json
import re
import shlex
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from hwnas.predictors.base import (
    is_predictor_data,
    other_definition_note,
    space_definition,
    space_from_reference,
    unreadable_format,
)
from hwnas.predictors.fingerprint import (
    ADDED_FIELDS,
    DEVICE_FIELDS,
    describe_device,
    row_device,
)
from hwnas.predictors.measure import best_round_ms
from hwnas.predictors.parts import block_copies_problem
from hwnas.predictors.precision_notes import INT8_QUANTIZER, INT8_TIMED
from hwnas.predictors.profile_plan import PASS_SUFFIX, planned_jobs
from hwnas.predictors.whole_files import name_too_long, not_regular
from hwnas.spaces import Arch, SearchSpace, builtin_spaces, get_space
from hwnas.spaces.callers import warn_at_caller
from hwnas.spaces.reprs import facts_repr, named
from hwnas.spaces.space import LIBRARY
from hwnas.spaces.yaml_files import json_or_none, read_text, saved_as_wide_unicode

FORMAT_VERSION = 1
#: why a profile table that holds no UTF-8 text (nor UTF-16 or 32) is refused
NOT_UTF8_TABLE = "not a profile table: not UTF-8 text"
MEASUREMENT_COLUMNS = [
    "median_ms",
    "iqr_ms",
    "mean_ms",
    "min_ms",
    "round_medians_ms",
    "variation",
    "outliers",
    "backend",
    "precision",
    "measured_precision",
    "batch_size",
    "threads",
    "warmup",
    "runs",
    "rounds",
    "clock",
]
FINGERPRINT_COLUMNS = [
    "fp_backend",
    "fp_cpu",
    "fp_cores",
    "fp_gpu",
    "fp_os",
    "fp_python",
    "fp_torch_version",
    "fp_onnxruntime_version",
    "fp_onnx_version",
    "fp_numpy_version",
    "fp_threads",
    "fp_batch_size",
    "fp_precision",
]
COLUMNS = [
    "row_id",
    "kind",
    "part_id",
    "stage",
    "width",
    "cin",
    "input_shape",
    "arch_key",
    "arch",
    "status",
    "error",
    "measured_at",
    "copies",
    *MEASUREMENT_COLUMNS,
    *FINGERPRINT_COLUMNS,
]


class ProfileError(ValueError):
    """A profile file that cannot be used (missing, malformed, other settings)."""


def metadata_path(path: Path) -> Path:
    return Path(path).with_suffix(".json")


def table_beside(path: Path) -> Path | None:
    """The profile table named as `path` (a metadata file, say) but for its extension, `.csv`
    or `.CSV` (`--out p.CSV`), or None where there is none."""
    return next(
        (t for t in (path.with_suffix(".csv"), path.with_suffix(".CSV")) if t.is_file()), None
    )


def model_ids(row_ids: pd.Series) -> pd.Series:
    """The model (and precision) each row id measured: the id without its pass suffix."""
    return row_ids.str.replace(rf"{re.escape(PASS_SUFFIX)}\d+$", "", regex=True)


@dataclass
class Profile:
    """A loaded profile: `meta` (settings, space, fingerprint) and `rows` (a DataFrame)."""

    path: Path
    meta: dict[str, Any]
    rows: pd.DataFrame

    @facts_repr
    def __repr__(self) -> list[str]:
        """Its file, space, backend and row count (a dataclass's repr printed its whole
        metadata and table)."""
        meta, rows = self.meta, len(self.rows)
        return [str(self.path), *named(space=meta["space"], backend=meta["backend"], rows=rows)]

    @property
    def ok(self) -> pd.DataFrame:
        """Successful measurements, one row per model and precision (its first successful
        one, in measurement order), with `row_id` the model's without the pass suffix (a
        part measured only in a later pass is that part), `latency_ms` the lowest over the
        passes and `passes` how many passes measured it."""
        ok = self.rows[self.rows["status"] == "ok"]
        model = model_ids(ok["row_id"])
        by_model = ok.groupby(model)["latency_ms"]
        first = ~model.duplicated()
        return ok[first].assign(
            row_id=model[first],
            latency_ms=by_model.transform("min")[first],
            passes=by_model.transform("size")[first],
        )

    def parts(self) -> pd.DataFrame:
        """Measured parts (blocks, stem, downsamples, head, overheads)."""
        return self.ok[self.ok["kind"] != "arch"]

    def archs(self) -> pd.DataFrame:
        """Measured whole architectures, in measurement order."""
        return self.ok[self.ok["kind"] == "arch"]

    def failed_archs_note(self) -> str:
        """How many whole architectures failed to measure in every pass, and how to measure
        them again ("" where none did): what a fit short of networks says."""
        rows = self.rows[(self.rows["kind"] == "arch") & (self.rows["status"] != "ok")]
        models = model_ids(rows["row_id"])
        failed = rows[~models.isin(set(self.archs()["row_id"])) & ~models.duplicated()]
        return f"{len(failed)} {_failed_advice(failed)}" if len(failed) else ""

    def arch_records(
        self, space: SearchSpace, than: str = "the space given"
    ) -> tuple[list[Arch], np.ndarray]:
        """The measured whole architectures of `space` and their latencies (ms); a
        `ProfileError` naming the row of an arch cell that is not one of them (and, where the
        profile records another definition of the space, saying so: `than` names where
        `space` comes from)."""
        rows = self.archs()
        if rows.empty:  # a table of parts only may lack the `arch` column
            return [], np.zeros(0)
        archs = []
        for row_id, text in zip(rows["row_id"], rows["arch"], strict=True):
            try:
                archs.append(space.validate(Arch.from_json(text)))
            except ValueError as e:  # not JSON, not an arch record, not of this space
                recorded = self.meta.get("space_definition")
                note = other_definition_note(space, recorded, than)
                raise ProfileError(f"{self.path}: row {row_id!r}: arch: {e}{note}") from None
        return archs, rows["latency_ms"].to_numpy(dtype=float)

    def measured_on(self) -> dict[str, str] | None:
        """The device and settings of its measurements (`fingerprint.device_of`); None for a
        profile without successful rows or fingerprints; a `ProfileError` where its rows were
        measured on several devices (their latencies are not one device's)."""
        ok = self.rows[self.rows["status"] == "ok"]
        columns = [f"fp_{f}" for f in DEVICE_FIELDS if f"fp_{f}" in ok.columns]
        if ok.empty or not columns:
            return None
        columns += ["clock"] if "clock" in ok.columns else []  # older profiles have none
        distinct = ok[columns].astype(str).drop_duplicates()
        devices = [row_device(row) for _, row in distinct.iterrows()]
        if len(devices) > 1:
            raise ProfileError(
                f"{self.path}: its rows were measured on {len(devices)} devices "
                f"({'; '.join(describe_device(d) for d in devices[:3])}); a profile must hold "
                "one device's latencies"
            )
        return devices[0]

    def space_reference(self) -> dict[str, Any]:
        """The space the profile measured, as `base.space_reference` describes one (an older
        profile has no digest or definition of it)."""
        meta = self.meta
        return {
            "name": meta["space"],
            "version": meta["space_version"],
            "source": meta.get("space_source"),
            "input_shape": meta.get("input_shape"),
            "num_classes": meta.get("num_classes"),
            "digest": meta.get("space_digest"),
            "definition": meta.get("space_definition"),
        }

    @property
    def int8_quantizer(self) -> int | None:
        """The int8 quantization its int8 and w4a8 rows were measured with
        (`precision_notes.INT8_QUANTIZER`); None where it records none (an earlier hwnas)."""
        found = self.meta.get("int8_quantizer")
        return found if type(found) is int else None  # not a bool, nor a text

    def measure_again(self) -> str:
        """The command that measures the profile again into a new one (its settings beyond
        space, precisions and networks are in its metadata)."""
        meta = self.meta
        source = str(meta.get("space_source") or meta["space"])
        space = _space_option(meta["space"], source, meta.get("space_definition"))
        options = {"--precision": ",".join(meta.get("precisions") or [])}
        options |= {"--samples": meta.get("samples"), "--seed": meta.get("seed")}
        given = [f"{k} {shlex.quote(str(v))}" for k, v in options.items() if v not in ("", None)]
        archs_only = ["--archs-only"] if meta.get("archs_only") else []
        return (
            f"`hwnas latency profile --space {shlex.quote(space)} {' '.join(given + archs_only)}"
            f" --out NEW.csv`, with the other settings of {metadata_path(self.path).name}"
        )

    def space(self) -> SearchSpace:
        """The profile's space (`base.space_from_reference`; its YAML file is also looked for
        beside the profile, for a copied one), at the profile's input shape and classes."""
        where = str(metadata_path(self.path))  # what records the space
        return space_from_reference(self.space_reference(), where, self.path.parent)

    def expected_parts(self, space: SearchSpace) -> list[str]:
        """The row ids of every part the profiler measures for a lookup table of `space` at
        the profile's precisions (none for an archs-only profile)."""
        if self.meta.get("archs_only"):
            return []
        return table_parts(space, self.precisions(space))

    def check_parts(self, space: SearchSpace) -> None:
        """Refuse a profile that lacks parts a lookup table of `space` needs (an interrupted
        or `--limit`ed run, failed measurements): the table could not price every network."""
        expected = self.expected_parts(space)
        if not expected:
            raise ProfileError(
                f"{self.path}: the profile has no parts for a lookup table (an archs-only "
                "profile, or a space without MetaFormer parts)"
            )
        measured = set(self.parts()["row_id"])
        missing = [row_id for row_id in expected if row_id not in measured]
        if not missing:
            return
        failed = self.rows[(self.rows["status"] != "ok") & self.rows["row_id"].isin(missing)]
        advice = []
        if len(missing) > len(failed):
            advice.append(  # the space may have grown since (another width): name it
                f"`hwnas latency profile --space {shlex.quote(_space_option(*_named(space)))} "
                f"--out {shlex.quote(str(self.path))}` "
                "with the profile's other settings resumes it and measures them"
            )
        if len(failed):
            advice.append(f"{len(failed)} of them {_failed_advice(failed)}")
        raise ProfileError(
            f"{self.path}: {len(missing)} of the {len(expected)} parts a lookup table of space "
            f"{space.name!r} needs at precisions {', '.join(self.precisions(space))} are not "
            f"in the profile (e.g. {', '.join(missing[:3])}); {'; '.join(advice)}"
        )

    def unpriced(self, space: SearchSpace) -> str | None:
        """What of `space` this profile's table cannot price, in one line, or None: parts
        missing at the profiled precisions (a space edited since, an unfinished profile), or
        precisions of the space it did not measure. A search with it fails the candidates
        that use them, so it is said before the search starts."""
        try:
            self.check_parts(space)
        except ProfileError as e:
            return str(e)
        profiled = self.precisions(space)
        if unmeasured := [p for p in space.precisions if p not in profiled]:
            return (
                f"{self.path}: measured at {', '.join(profiled)} only, not at "
                f"{', '.join(unmeasured)}, which space {space.name!r} also offers"
            )
        return None

    def precisions(self, space: SearchSpace) -> list[str]:
        """The precisions profiled (those of the space where an older profile omits them)."""
        return self.meta.get("precisions") or space.precisions


def table_parts(space: SearchSpace, precisions: Sequence[str]) -> list[str]:
    """The row ids of every part a lookup table of `space` at `precisions` holds (a block at
    those of them its stage allows, any other part at fp32): what a profile measures for a
    table, and what a table must hold to price every network of the space (`check_parts`
    of a profile, `LUTPredictor.unpriced_parts` of a table, alike)."""
    jobs = planned_jobs(space, precisions, samples=0, seed=0, archs_only=False)
    return [job.row_id(p) for job in jobs for p in job.precisions]


def _failed_advice(failed: pd.DataFrame) -> str:
    """The rest of a sentence on the `failed` rows: the first one's error, and what to do."""
    first = failed.iloc[0]
    return (
        f"failed to measure (first: {first['row_id']}: {first['error'][:160]}): fix the cause, "
        "then re-run the same `hwnas latency profile` command with --retry-failed"
    )


def _named(space: SearchSpace) -> tuple[str, str, dict[str, Any]]:
    """A space's name, the file it was read from (its name where none) and its definition."""
    return space.name, getattr(space, "source", space.name), space_definition(space)


def _space_option(name: str, source: str, definition: Any) -> str:
    """The `--space` a user gives for the space `name` read from `source` (whose definition
    a profile records as `definition`): a built-in space's name, else its file. The resume
    advice named the built-in file inside the installed package; and one recorded by another
    checkout or install of hwnas (`source` absolute, its `NAME.yaml` elsewhere) is this
    hwnas's built-in where its definition is the built-in's, or where it records none (a file
    of before 12-01) and that file is not on this machine: the advice named a path that
    could not be given (`/work/main/...` for a profile shipped in `benchmarks/data`)."""
    if name not in builtin_spaces() or Path(source).name != f"{name}.yaml":
        return source
    if source == str(LIBRARY / f"{name}.yaml"):  # this hwnas's (a profile may record none)
        return name
    if definition is None:
        return source if Path(source).is_file() else name
    return name if definition == space_definition(get_space(name)) else source


#: the files `warn_older_int8` warned of in this process: once a file
_OLDER_INT8_SAID: set[Path] = set()


def older_int8(quantizer: int | None, precisions: Iterable[str]) -> list[str]:
    """The int8 and w4a8 of `precisions` (those of a file's latencies) where its int8
    quantization (`quantizer`, None where it records none) is older than this hwnas's
    (`INT8_QUANTIZER`): some of its int8 convolutions then ran as float kernels. Else none."""
    return [] if (quantizer or 0) >= INT8_QUANTIZER else sorted(set(precisions) & set(INT8_TIMED))


def warn_older_int8(path: Path, timed: list[str], again: str) -> None:
    """Warn, once a file in a process, that the latencies of the profile or predictor at
    `path` at `timed` (`older_int8`) are to be measured again, as `again` says."""
    if path.resolve() in _OLDER_INT8_SAID:
        return
    _OLDER_INT8_SAID.add(path.resolve())
    warn_at_caller(
        f"{path}: its {' and '.join(timed)} latencies were measured by an hwnas before "
        "2026-12-07, whose int8 quantization left some int8 convolutions of the untrained "
        "networks it timed as float kernels (int8 mbconv and lkconv blocks 1.6-2.9x slow); "
        f"measure them again: {again}"
    )


def read_profile(path: str | Path) -> Profile:
    """Load a profile (CSV rows + JSON metadata); a clear `ProfileError` when unusable (a
    table or metadata file past what any profile holds, a device, too: `read_text`). A table
    that is a device or a pipe is refused unread, as a predictor file is: a profile is a
    file with its metadata beside it, and a name longer than the system takes is named
    (`name_too_long`; `is_dir` gave the OS's bare "File name too long")."""
    path = Path(path)
    if problem := name_too_long(path):
        raise ProfileError(f"{path}: {problem}")
    if path.is_dir():  # before its metadata's name: "." or "" has none
        raise ProfileError(f"{path}: is a folder, not a profile (a .csv file)")
    if problem := not_regular(path):  # was "profile not found"
        raise ProfileError(f"{path}: {problem}; nothing read")
    if not path.is_file():
        where = "" if path.is_absolute() else f" (read from the current directory: {Path.cwd()})"
        raise ProfileError(f"{path}: profile not found{where}")
    if path.suffix.lower() == ".json" and (table := table_beside(path)):
        raise ProfileError(  # was read as the table: "not a profile table, columns missing"
            f"{path}: the metadata file of the profile {table}; give the profile's .csv"
        )
    meta_file = metadata_path(path)
    if not meta_file.exists():
        if path.suffix.lower() != ".csv":  # a space file given by mistake: profiles are .csv
            raise ProfileError(f"{path}: not a profile (a .csv written by `hwnas latency profile`)")
        raise ProfileError(f"{path}: its metadata file {meta_file.name} is missing")
    meta = read_metadata(path)
    raw = read_text(path, ProfileError, NOT_UTF8_TABLE).encode()
    data = complete_rows(raw)
    try:
        rows = pd.read_csv(
            io.BytesIO(data),
            dtype={c: str for c in ("arch_key", "error", "median_ms", "round_medians_ms")},
            keep_default_na=False,
        )
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as e:
        raise ProfileError(f"{path}: not a profile table: {e}") from None
    if missing := _missing_columns(rows):
        raise ProfileError(f"{path}: not a profile table, columns missing: {missing}")
    rows.index = _record_lines(path, data)  # errors below name the line
    if len(data) < len(raw):
        line = data.count(b"\n") + 1
        warn_at_caller(
            f"{path}: line {line} is cut short (a run killed while writing it, "
            "one still writing it, or an edit): left out; resuming the profile measures it again"
        )
    _check_labels(path, rows)
    _refuse_rows(path, rows, rows["row_id"].duplicated(), "row_id", "measured twice")
    ok = rows["status"] == "ok"
    median = rows["median_ms"].map(_positive_ms)
    _check_positive(path, rows, ok, "median_ms", median)
    latency = median
    if "round_medians_ms" in rows.columns:  # absent from a hand-made table
        latency = rows["round_medians_ms"].map(_best_round_ms)
        _check_positive(path, rows, ok, "round_medians_ms", latency)
    rows["median_ms"] = pd.to_numeric(rows["median_ms"], errors="coerce")
    rows["latency_ms"] = latency.where(ok, np.nan)
    profile = Profile(path, meta, rows.reset_index(drop=True))
    if timed := older_int8(profile.int8_quantizer, block_precisions(rows[ok])):
        warn_older_int8(path, timed, profile.measure_again())
    return profile


def undecodable_table(path: Path) -> ProfileError:
    """The error for a profile table that holds no UTF-8 text, naming it, in the words
    `read_profile` says it in (a resume said the codec's "can't decode byte 0xe9 in position
    487"): one saved as UTF-16 or UTF-32 (a spreadsheet's "Unicode text") is said to be, as a
    space file is."""
    return ProfileError(f"{path}: {saved_as_wide_unicode(path) or NOT_UTF8_TABLE}")


def block_precisions(rows: pd.DataFrame) -> set[str]:
    """The block precisions `rows` of a profile were measured at (a whole network's joined
    by '+': a mixed-precision network names its blocks' mix)."""
    if "precision" not in rows.columns:  # a hand-made table
        return set()
    return {p for joined in rows["precision"].astype(str) for p in joined.split("+")}


def _missing_columns(rows: pd.DataFrame) -> list[str]:
    """The columns a profile table lacks: those every table has, then those its rows need:
    `arch` for whole networks (fitting and scoring read it), `error` for failed rows (a fit
    refusing them quotes it). Without them a fit failed on a bare KeyError. A table with
    device fingerprints has all of them (with one dropped, its device read as another)."""
    required = ["row_id", "kind", "status", "median_ms"]
    if any(c.startswith("fp_") for c in rows.columns):
        required += [f"fp_{f}" for f in DEVICE_FIELDS if f not in ADDED_FIELDS]
    if "rounds" in rows.columns:  # hwnas writes each round's median beside their count
        required.append("round_medians_ms")  # renamed, it would fall back to median_ms
    if missing := [c for c in required if c not in rows.columns]:
        return missing
    needed = {"arch": rows["kind"] == "arch", "error": rows["status"] != "ok"}
    return [c for c, by in needed.items() if c not in rows.columns and by.any()]


def _record_lines(path: Path, data: bytes) -> list[int]:
    """The line each row of a profile table starts on. A row with more or fewer fields than
    the header is refused, naming its line: pandas pads a row cut short with empty fields,
    which then read as a row measured on another device."""
    reader = csv.reader(io.StringIO(data.decode(errors="replace"), newline=""))
    try:
        header, lines = next(reader, []), []
        start = reader.line_num + 1
        for record in reader:
            if record and len(record) != len(header):
                raise ProfileError(
                    f"{path}: line {start}: {len(record)} fields where the header has "
                    f"{len(header)} (a row cut short, or edited by hand)"
                )
            if record:  # pandas skips blank lines
                lines.append(start)
            start = reader.line_num + 1
    except csv.Error as e:
        raise ProfileError(f"{path}: line {reader.line_num}: not a profile table: {e}") from None
    return lines


#: the values a profile row's `kind` and `status` may have
ROW_LABELS = {
    "kind": ("block", "stem", "downsample", "head", "overhead", "arch"),
    "status": ("ok", "failed"),
}


def _check_labels(path: Path, rows: pd.DataFrame) -> None:
    """Refuse a row whose kind or status is none this hwnas writes (a typo would otherwise
    drop it from the table without a word)."""
    for field, allowed in ROW_LABELS.items():
        _refuse_rows(path, rows, ~rows[field].isin(allowed), field, f"not one of {allowed}")


def _check_positive(path: Path, rows: pd.DataFrame, ok: pd.Series, field: str, values) -> None:
    """Refuse an ok row whose `field` did not parse (`values` NaN) to positive milliseconds."""
    _refuse_rows(path, rows, ok & values.isna(), field, "not a positive number of ms")


def _refuse_rows(path: Path, rows: pd.DataFrame, bad: pd.Series, field: str, why: str) -> None:
    """A `ProfileError` naming the file, the first `bad` row and its `field` and value."""
    if bad.any():
        first = bad.idxmax()  # the line it starts on (`_record_lines`)
        raise ProfileError(
            f"{path}: line {first}: row {rows.at[first, 'row_id']!r}: {field} "
            f"{rows.at[first, field]!r} is {why} ({bad.sum()} such rows)"
        )


def _positive_ms(text: str) -> float:
    """A written latency as a float, NaN unless it is a finite positive number."""
    try:
        value = float(text)
    except ValueError:
        return np.nan
    return value if np.isfinite(value) and value > 0 else np.nan


def round_medians(text: str) -> list[float]:
    """A row's round medians (ms) from their ';'-joined text, NaN where one is not a finite
    positive number."""
    return [_positive_ms(v) for v in str(text).split(";")]


def _best_round_ms(text: str) -> float:
    """A row's latency from its ';'-joined round medians (`Measurement.latency_ms`), NaN
    unless every one is a finite positive number."""
    values = round_medians(text)
    return np.nan if np.isnan(values).any() else best_round_ms(values)


def read_metadata(path: Path) -> dict[str, Any]:
    """A profile's JSON metadata, checked to be a mapping that names its space (a predictor
    file given where a profile belongs is said to be one); a byte-order mark first (a file
    an editor saved again on Windows, which JSON refuses) is skipped, as in the table."""
    meta_file = metadata_path(path)
    text = read_text(meta_file, ProfileError, "not valid JSON: not UTF-8 text")
    try:
        meta = json.loads(text)
    except (ValueError, RecursionError) as e:  # not JSON, nested past reason
        raise ProfileError(f"{meta_file}: not valid JSON: {e}") from None
    if is_predictor_data(meta):
        raise ProfileError(
            f"{meta_file}: a {meta['kind']} predictor file, not a profile; give it as a "
            "predictor (`predictor:` in an experiment's latency section, the predictor "
            "argument of `hwnas latency eval`)"
        )
    if not _is_metadata(meta):
        raise ProfileError(
            f"{meta_file}: not profile metadata (a mapping with space and space_version)"
        )
    if problem := unreadable_format(meta, FORMAT_VERSION):
        raise ProfileError(f"{meta_file}: {problem}")
    if problem := block_copies_problem(meta.get("block_copies", 1)):
        raise ProfileError(f"{meta_file}: {problem}")
    return meta


def _is_metadata(data: Any) -> bool:
    """Whether JSON `data` is a profile's metadata: a mapping that names its space."""
    return isinstance(data, dict) and {"space", "space_version"} <= set(data)


def is_profile_metadata(path: str | Path) -> bool:
    """Whether `path` is a file holding a profile's metadata (whatever its name or format
    version, with a byte-order mark too): writing over it would leave that profile
    unusable."""
    return _is_metadata(json_or_none(Path(path)))


def complete_rows(data: bytes) -> bytes:
    """A profile table's bytes without a last line left half-written by a killed run (or
    still being written). hwnas ends every row with a newline, but an editor may drop the
    last one: a last line holding every column of the header is a whole row, and kept (cut
    inside its last field, fp_precision, it lost nothing a latency is read from)."""
    end = data.rfind(b"\n") + 1
    if end == 0 or end == len(data):
        return data[:end]
    header, tail = data[: data.find(b"\n")].rstrip(b"\r"), data[end:]
    try:
        columns = next(csv.reader([header.decode(errors="replace")]), [])
        fields = next(csv.reader([tail.decode(errors="replace")]), [])
    except csv.Error:  # not CSV (a stray carriage return): read_profile says so
        return data[:end]
    return data + b"\n" if len(fields) == len(columns) else data[:end]

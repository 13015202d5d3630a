"""Device profiles: tables of real latency measurements of a space on one backend.

A profile is a CSV file (one row per measurement, with the device fingerprint) plus a JSON
metadata file beside it (`name.csv` + `name.json`); never a pickle. It holds what the
predictors need: every distinct part of the space's networks (see `hwnas.predictors.parts`),
at every precision profiled, for a lookup table; and whole random architectures, for learned
predictors and for checking how additive latency is.

Rows are appended and flushed one at a time and each has a unique `row_id`, so an interrupted
run resumes where it stopped: rows already present are skipped, a half-written last line is
dropped, and the finished file has no duplicate or missing rows. A row that failed to measure
is kept with its error and skipped too, unless the run is asked to retry failed rows (they
are then dropped from the file first, and measured again).

With `passes` > 1 every part and architecture is measured again in later passes over the
whole list (row ids `...|pass2`, ...), minutes after the first: a disturbance of the machine
that lasts seconds (another process, the VM's host) slows down all the consecutive rounds of
one measurement alike, but rarely the same model in two passes. A profile's latency of a
model is the lowest over its passes (`Profile.ok`); a profile can be resumed with more passes
to firm up an existing one.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shlex
import sys
import time
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from itertools import groupby
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm import tqdm

from hwnas.predictors.backends import BackendError, get_backend
from hwnas.predictors.base import (
    is_predictor_data,
    space_from_reference,
    space_reference,
    unreadable_format,
)
from hwnas.predictors.defaults import BLOCK_COPIES, DEFAULT_ROUNDS, DEFAULT_RUNS, DEFAULT_WARMUP
from hwnas.predictors.fingerprint import (
    ADDED_FIELDS,
    DEVICE_FIELDS,
    LIBRARIES,
    describe_device,
    device_differences,
    device_fingerprint,
    device_of,
)
from hwnas.predictors.measure import (
    Measurement,
    best_round_ms,
    check_settings,
    measure_latencies,
)
from hwnas.predictors.parts import Part, block_copies_problem, build_part, metaformer_parts
from hwnas.spaces import Arch, SearchSpace, reparameterize, set_fake_quant
from hwnas.spaces.blocks import PRECISIONS
from hwnas.spaces.metaformer import MetaFormerSpace
from hwnas.spaces.space import LIBRARY

FORMAT_VERSION = 1
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
#: metadata fields that must match for a run to resume (append to) an existing profile
RESUME_FIELDS = (
    "space",
    "space_version",
    "input_shape",
    "backend",
    "precisions",
    "samples",
    "seed",
    "archs_only",
    "threads",
    "batch_size",
    "warmup",
    "runs",
    "rounds",
    "clock",
    "block_copies",
)
PASS_SUFFIX = "|pass"


class ProfileError(ValueError):
    """A profile file that cannot be used (missing, malformed, other settings)."""


def metadata_path(path: Path) -> Path:
    return Path(path).with_suffix(".json")


@dataclass
class Profile:
    """A loaded profile: `meta` (settings, space, fingerprint) and `rows` (a DataFrame)."""

    path: Path
    meta: dict[str, Any]
    rows: pd.DataFrame

    @property
    def ok(self) -> pd.DataFrame:
        """Successful measurements, one row per model and precision (its first successful
        one, in measurement order), with `row_id` the model's without the pass suffix (a
        part measured only in a later pass is that part), `latency_ms` the lowest over the
        passes and `passes` how many passes measured it."""
        ok = self.rows[self.rows["status"] == "ok"]
        model = ok["row_id"].str.replace(rf"{re.escape(PASS_SUFFIX)}\d+$", "", regex=True)
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

    def arch_records(self, space: SearchSpace) -> tuple[list[Arch], np.ndarray]:
        """The measured whole architectures of `space` and their latencies (ms); a
        `ProfileError` naming the row of an arch cell that is not one of them."""
        rows = self.archs()
        if rows.empty:  # a table of parts only may lack the `arch` column
            return [], np.zeros(0)
        archs = []
        for row_id, text in zip(rows["row_id"], rows["arch"], strict=True):
            try:
                archs.append(space.validate(Arch.from_json(text)))
            except ValueError as e:  # not JSON, not an arch record, not of this space
                raise ProfileError(f"{self.path}: row {row_id!r}: arch: {e}") from None
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
        devices = [
            device_of({c.removeprefix("fp_"): v for c, v in row.items()})
            for _, row in distinct.iterrows()
        ]
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
        jobs = _jobs(space, self._precisions(space), samples=0, seed=0, archs_only=False)
        return [job.row_id(p) for job in jobs for p in job.precisions]

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
                f"`hwnas latency profile --space {shlex.quote(_space_option(space))} "
                f"--out {shlex.quote(str(self.path))}` "
                "with the profile's other settings resumes it and measures them"
            )
        if len(failed):
            first = failed.iloc[0]
            advice.append(
                f"{len(failed)} of them failed to measure (first: {first['row_id']}: "
                f"{first['error'][:160]}): fix the cause, then re-run the same `hwnas latency "
                "profile` command with --retry-failed"
            )
        raise ProfileError(
            f"{self.path}: {len(missing)} of the {len(expected)} parts a lookup table of space "
            f"{space.name!r} needs at precisions {', '.join(self._precisions(space))} are not "
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
        profiled = self._precisions(space)
        if unmeasured := [p for p in space.precisions if p not in profiled]:
            return (
                f"{self.path}: measured at {', '.join(profiled)} only, not at "
                f"{', '.join(unmeasured)}, which space {space.name!r} also offers"
            )
        return None

    def _precisions(self, space: SearchSpace) -> list[str]:
        """The precisions profiled (those of the space where an older profile omits them)."""
        return self.meta.get("precisions") or space.precisions


def _space_option(space: SearchSpace) -> str:
    """The `--space` a user gives for `space`: a built-in space's name, else its file (the
    resume advice named the built-in file inside the installed package)."""
    source = getattr(space, "source", space.name)
    return space.name if source == str(LIBRARY / f"{space.name}.yaml") else source


def read_profile(path: str | Path) -> Profile:
    """Load a profile (CSV rows + JSON metadata); a clear `ProfileError` when unusable."""
    path = Path(path)
    meta_file = metadata_path(path)
    if path.is_dir():
        raise ProfileError(f"{path}: is a folder, not a profile (a .csv file)")
    if not path.is_file():
        raise ProfileError(f"{path}: profile not found")
    if not meta_file.is_file():
        if path.suffix != ".csv":  # a space file given by mistake: profiles are written as .csv
            raise ProfileError(f"{path}: not a profile (a .csv written by `hwnas latency profile`)")
        raise ProfileError(f"{path}: its metadata file {meta_file.name} is missing")
    meta = _read_metadata(path)
    data = _complete_rows(raw := path.read_bytes())
    try:
        rows = pd.read_csv(
            io.BytesIO(data),
            dtype={c: str for c in ("arch_key", "error", "median_ms", "round_medians_ms")},
            keep_default_na=False,
        )
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
        raise ProfileError(f"{path}: not a profile table: {e}") from None
    if missing := _missing_columns(rows):
        raise ProfileError(f"{path}: not a profile table, columns missing: {missing}")
    rows.index = _record_lines(path, data)  # errors below name the line
    if len(data) < len(raw):
        line = data.count(b"\n") + 1
        warnings.warn(
            f"{path}: line {line} is cut short (a run killed while writing it, "
            "one still writing it, or an edit): left out; resuming the profile measures it again",
            stacklevel=2,
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
    return Profile(path, meta, rows.reset_index(drop=True))


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


def _best_round_ms(text: str) -> float:
    """A row's latency from its ';'-joined round medians (`Measurement.latency_ms`), NaN
    unless every one is a finite positive number."""
    values = [_positive_ms(v) for v in text.split(";")]
    return np.nan if np.isnan(values).any() else best_round_ms(values)


def _read_metadata(path: Path) -> dict[str, Any]:
    """A profile's JSON metadata, checked to be a mapping that names its space (a predictor
    file given where a profile belongs is said to be one)."""
    meta_file = metadata_path(path)
    try:
        meta = json.loads(meta_file.read_text(encoding="utf-8"))
    except (ValueError, RecursionError) as e:  # not JSON, not text, nested past reason
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
    version): writing over it would leave that profile unusable."""
    try:
        return _is_metadata(json.loads(Path(path).read_text(encoding="utf-8")))
    except (OSError, ValueError, RecursionError):
        return False


def _truncate_partial_line(path: Path) -> None:
    """Drop a last line left half-written by a killed run, or end a whole one that lacks
    its newline (`_complete_rows`), so rows appended next start on a line of their own."""
    data = path.read_bytes()
    if (complete := _complete_rows(data)) != data:
        path.write_bytes(complete)


def _complete_rows(data: bytes) -> bytes:
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


def sample_archs(space: SearchSpace, n: int, seed: int, precisions: Sequence[str]) -> list[Arch]:
    """`n` distinct random architectures (deterministic in `seed`), with each block's
    precision drawn from `precisions` (the ones being profiled) that its stage allows (a block
    whose stage allows none of them keeps its sampled precision)."""
    rng = np.random.default_rng(seed)
    allowed = space.choice_values()
    out: dict[str, Arch] = {}
    attempts = 0
    while len(out) < n and attempts < 100 * n:
        attempts += 1
        arch = space.sample(rng)
        changes = {}
        for k in (k for k in arch if k.endswith(".precision")):
            usable = [p for p in precisions if p in allowed[k]]
            if usable:
                changes[k] = usable[rng.integers(len(usable))]
        arch = space.validate(arch.replace(**changes)) if changes else arch
        out.setdefault(arch.key, arch)
    return list(out.values())


@dataclass(frozen=True)
class _Job:
    """One model to export and measure at some precisions, giving one row per precision."""

    kind: str
    part_id: str
    input_shape: tuple[int, ...]
    precisions: tuple[str, ...]
    part: Part | None = None
    arch: Arch | None = None

    def row_id(self, precision: str, measured_pass: int = 1) -> str:
        suffix = f"{PASS_SUFFIX}{measured_pass}" if measured_pass > 1 else ""
        return f"{self.part_id}|{precision}{suffix}"


def _jobs(space, precisions, samples, seed, archs_only) -> Iterator[_Job]:
    if isinstance(space, MetaFormerSpace) and not archs_only:
        stage_precisions = [plan.precisions for plan in space.plans]
        for part in metaformer_parts(space):
            per = ("fp32",)
            if part.kind == "block":  # the precisions its stage allows, of those profiled
                per = tuple(p for p in precisions if p in stage_precisions[part.stage])
                if not per:
                    continue
            yield _Job(part.kind, part.id, part.input_shape, tuple(per), part=part)
    for arch in sample_archs(space, samples, seed, precisions):
        yield _Job("arch", f"arch|{arch.key}", tuple(space.input_shape), ("mixed",), arch=arch)


def _float_model(space: SearchSpace, job: _Job, copies: int):
    if job.arch is not None:
        model = space.build(job.arch)
    else:
        model = build_part(space, job.part, copies if job.kind == "block" else 1)
    model = model.eval()
    reparameterize(model)
    set_fake_quant(model, False)
    return model


def _per_copy(m: Measurement, copies: int) -> Measurement:
    """A chain's measurement as the latency of one of its `copies` blocks."""
    if copies == 1:
        return m
    return replace(
        m,
        median_ms=m.median_ms / copies,
        iqr_ms=m.iqr_ms / copies,
        mean_ms=m.mean_ms / copies,
        min_ms=m.min_ms / copies,
        round_medians_ms=tuple(r / copies for r in m.round_medians_ms),
    )


def _row(
    job: _Job, precision: str, measured_pass: int, m: Measurement | None, error: str = ""
) -> dict[str, Any]:
    part = job.part
    row: dict[str, Any] = dict.fromkeys(COLUMNS, "")
    row.update(
        row_id=job.row_id(precision, measured_pass),
        kind=job.kind,
        part_id=job.part_id,
        stage=part.stage if part else "",
        width=part.width if part else "",
        cin=part.cin if part and part.kind == "downsample" else "",
        input_shape="x".join(str(s) for s in job.input_shape),
        arch_key=job.arch.key if job.arch else "",
        arch=job.arch.to_json() if job.arch else "",
        status="ok" if m is not None else "failed",
        error=error,
        measured_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    )
    if m is not None:
        row.update(m.as_row())
    else:
        row.update(precision=precision)
    return row


def _check_columns(path: Path) -> None:
    """Refuse to append to a profile whose columns are not this version's."""
    with path.open(encoding="utf-8", newline="") as f:
        header = next(csv.reader(f), [])
    if header != COLUMNS:
        raise ProfileError(
            f"{path}: written by another hwnas version (its columns differ); "
            "resume it with that version or start a new profile (another --out)"
        )


class _Appender:
    """Appends rows to the CSV, one flushed line each, writing the header once."""

    def __init__(self, path: Path):
        fresh = not path.exists() or path.stat().st_size == 0
        if not fresh:
            _check_columns(path)
        self._file = path.open("a", encoding="utf-8", newline="")
        self._writer = csv.DictWriter(self._file, fieldnames=COLUMNS, extrasaction="raise")
        if fresh:
            self._writer.writeheader()
            self._file.flush()

    def write(self, row: dict[str, Any]) -> None:
        self._writer.writerow(row)
        self._file.flush()

    def close(self) -> None:
        self._file.close()


def _write_metadata(path: Path, meta: dict[str, Any]) -> None:
    """Write the metadata file whole (a temporary file renamed over it), making its folder;
    a `ProfileError` naming the profile `path` where that cannot be written."""
    target = metadata_path(path)
    temporary = target.with_suffix(".json.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary.write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
        temporary.replace(target)
    except OSError as e:
        raise ProfileError(f"{path}: cannot write the profile there: {e.strerror}") from None


def _resume(out: Path, meta: dict[str, Any], retry_failed: bool) -> set[str]:
    """The row ids of the profile `out` that a run with `meta` resumes (none for a new one,
    or one whose metadata was written but no row yet), raising `meta["passes"]` to the
    profile's; a `ProfileError`, deleting nothing, where `out` or its metadata file exists
    but is not such a profile's. `retry_failed` drops its failed rows, to measure them again."""
    if not metadata_path(out).exists():
        if out.exists():
            raise ProfileError(
                f"{out}: exists without its metadata file {metadata_path(out).name}, so it "
                "cannot be resumed; move it away or give another --out (nothing was deleted)"
            )
        return set()
    old = _check_resume(out, meta)
    meta["passes"] = max(meta["passes"], old.get("passes", 1))
    if not out.exists() or out.stat().st_size == 0:
        return set()
    _check_columns(out)
    _truncate_partial_line(out)
    existing = read_profile(out)
    here = device_fingerprint(meta["backend"], "", meta["batch_size"], meta["threads"])
    _check_same_device(existing, device_of({**here, "clock": meta["clock"]}))
    _warn_other_versions(existing, here)
    rows = existing.rows
    if retry_failed and (rows["status"] == "failed").any():
        _drop_failed_rows(out)
        rows = rows[rows["status"] != "failed"]
    return set(rows["row_id"])


def _warn_other_versions(profile: Profile, here: dict[str, Any]) -> None:
    """Say where a profile being resumed was measured with other library versions than this
    machine has (an upgraded runtime may time the same network differently); not refused,
    as a patch release seldom changes a latency."""
    ok = profile.rows[profile.rows["status"] == "ok"]
    other = []
    for lib in LIBRARIES:
        column, now = f"fp_{lib}_version", str(here[f"{lib}_version"])
        if then := set(ok[column].astype(str)) - {now} if column in ok.columns else set():
            other.append(f"{lib} {', '.join(sorted(then))} (now {now})")
    if other:
        warnings.warn(  # from build_profile's caller
            f"{profile.path}: rows measured with {'; '.join(other)}: the rows measured now "
            "may time differently; give another --out to keep one set of versions",
            stacklevel=4,
        )


def _check_resume(path: Path, meta: dict[str, Any]) -> dict[str, Any]:
    """The existing profile's metadata, if a run with `meta` may resume it; a `ProfileError`
    naming the metadata file where it is not (another file, another profile's settings)."""
    meta_file = metadata_path(path)
    try:
        old = _read_metadata(path)
    except ProfileError as e:
        raise ProfileError(
            f"{e}; a profile {path.name} cannot be written beside it: move {meta_file.name} "
            "away or give another --out (nothing was deleted)"
        ) from None
    # more samples extend the profile: `sample_archs` draws the same first ones for any count
    more = meta["samples"] > old.get("samples", 0)
    diff = [f for f in RESUME_FIELDS if old.get(f) != meta.get(f) and not (f == "samples" and more)]
    if old.get("space_digest", meta["space_digest"]) != meta["space_digest"]:
        diff.append("space_digest")  # the space's YAML changed (an older profile has none)
    if diff:
        shown = ", ".join(f"{f}: {old.get(f)!r} != {meta.get(f)!r}" for f in diff)
        raise ProfileError(
            f"{meta_file}: the metadata of a profile with other settings ({shown}); use "
            "another --out, or the same settings to resume it (nothing was deleted)"
        )
    return old


def _drop_failed_rows(path: Path) -> None:
    """Rewrite the profile table without its failed rows (a temporary file renamed over
    it), so that the resumed run measures them again."""
    with path.open(encoding="utf-8", newline="") as f:
        rows = [row for row in csv.DictReader(f) if row["status"] != "failed"]
    temporary = path.with_suffix(".csv.tmp")
    with temporary.open("w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    temporary.replace(path)


def _check_same_device(profile: Profile, here: dict[str, str]) -> None:
    """Refuse to resume a profile that another machine measured: its rows and this
    machine's would mix two devices' latencies."""
    there = profile.measured_on()
    if there is not None and device_differences(there, here):
        raise ProfileError(
            f"{profile.path}: measured on {describe_device(there)}, but this machine is "
            f"{describe_device(here)} ({'; '.join(device_differences(there, here))}); a profile "
            "holds one device's latencies: give another --out to profile this machine"
        )


def build_profile(
    space: SearchSpace,
    out: str | Path,
    *,
    backend: str = "onnxruntime-cpu",
    precisions: Sequence[str] | None = None,
    samples: int = 100,
    seed: int = 0,
    archs_only: bool = False,
    threads: int = 1,
    batch_size: int = 1,
    warmup: int = DEFAULT_WARMUP,
    runs: int = DEFAULT_RUNS,
    rounds: int = DEFAULT_ROUNDS,
    clock: str = "auto",
    block_copies: int = BLOCK_COPIES,
    passes: int = 1,
    limit: int | None = None,
    retry_failed: bool = False,
    progress: bool = True,
) -> Profile:
    """Measure `space` on `backend` into the profile `out` (a .csv path; its .json beside it),
    resuming it if it exists with the same settings. `precisions` defaults to those of the
    space; `samples` whole random architectures (seeded) are measured after the parts;
    blocks are timed as chains of `block_copies` copies (see `hwnas.predictors.parts`);
    `passes` measures everything that many times, one pass after the other (see the module
    docstring); `limit` stops after that many new rows (for a partial run); `retry_failed`
    measures again the rows of the profile that failed to measure. Returns the profile."""
    out = Path(out)
    _check_arguments(out, samples, archs_only, block_copies, passes, limit)
    precisions = _check_precisions(space, precisions or space.precisions)
    settings = dict(  # of every measurement
        backend=backend,
        batch_size=batch_size,
        threads=threads,
        warmup=warmup,
        runs=runs,
        rounds=rounds,
        clock=clock,
    )
    _check_runtime(space, settings, precisions)
    meta = {
        **_space_metadata(space),
        **settings,  # backend, batch_size, threads, warmup, runs, rounds, clock
        "precisions": list(precisions),
        "samples": samples,
        "seed": seed,
        "archs_only": archs_only,
        "block_copies": block_copies,
        "passes": passes,
    }
    done = _resume(out, meta, retry_failed)
    _write_metadata(out, meta)
    jobs = list(_jobs(space, precisions, samples, seed, archs_only))
    todo = _todo(jobs, passes, done, limit)
    left = _rows(_todo(jobs, passes, done, None)) - _rows(todo)
    if progress and done:
        tqdm.write(f"{out}: resuming, {len(done)} rows measured before", file=sys.stderr)
    _measure_todo(space, out, todo, settings, block_copies, passes, progress)
    if progress and left:
        tqdm.write(
            f"{out}: stopped by the limit with {left} rows left to measure; the same command "
            "without it goes on",
            file=sys.stderr,
        )
    return read_profile(out)


def _check_arguments(
    out: Path, samples: int, archs_only: bool, block_copies: int, passes: int, limit: int | None
) -> None:
    """Refuse a profile path or count that cannot work, before anything is measured."""
    if out.suffix != ".csv":
        raise ProfileError(f"{out}: a profile is written as CSV; give a path ending in .csv")
    if out.is_dir():
        raise ProfileError(f"{out}: is a folder; give the profile's file path (.csv)")
    if samples < 0:
        raise ProfileError(f"samples must be >= 0, got {samples}")
    if archs_only and samples == 0:
        raise ProfileError("an archs-only profile of 0 samples measures nothing; give samples")
    if problem := block_copies_problem(block_copies):
        raise ProfileError(problem)
    if passes < 1:
        raise ProfileError(f"passes must be >= 1, got {passes}")
    if limit is not None and limit < 0:
        raise ProfileError(f"limit must be >= 0 or None, got {limit}")


def _check_runtime(space: SearchSpace, settings: dict, precisions: Sequence[str]) -> None:
    """Check the backend, the measuring settings (`settings["clock"]` becomes the clock
    `auto` resolves to) and that the backend times every precision, before anything is
    written: a typo must not leave a profile that blocks a rerun. Warns when more threads
    are asked than this process has cores."""
    try:
        runtime = get_backend(settings["backend"])
        runtime.check_available()
        settings["clock"] = check_settings(space.input_shape, **settings)
    except (ValueError, BackendError) as e:
        raise ProfileError(str(e)) from None
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    if cores and settings["threads"] > cores:
        warnings.warn(
            f"threads: {settings['threads']} is more than the {cores} cores this process may "
            "use: the threads would compete for them and the latencies vary from run to run",
            stacklevel=3,
        )
    for precision in precisions:  # not row by row: one failure marked a batch's every row
        try:
            runtime.check_precision(precision)
        except BackendError as e:
            raise ProfileError(f"{e}; give --precision with those it times") from None


def _space_metadata(space: SearchSpace) -> dict:
    """What a profile records of the space it measured, so it can be read (and the space
    rebuilt) without the space's file."""
    reference = space_reference(space)
    return {
        "format_version": FORMAT_VERSION,
        "space": space.name,
        "space_version": space.version,
        "space_source": reference["source"],  # absolute: read from anywhere
        "space_digest": reference["digest"],
        "space_definition": reference["definition"],  # the space without its YAML file
        "input_shape": list(space.input_shape),
        "num_classes": space.num_classes,
    }


def _measure_todo(
    space: SearchSpace,
    out: Path,
    todo: list[tuple[int, _Job, list[str]]],
    settings: dict,
    block_copies: int,
    passes: int,
    progress: bool,
) -> None:
    """Measure the planned rows, appending each to the profile as it is measured."""
    writer = _Appender(out)
    bar = tqdm(
        total=_rows(todo),
        desc=f"profile {space.name} on {settings['backend']}",
        unit="row",
        disable=not progress,
    )
    try:
        for measured_pass, job, wanted in todo:  # the bar names the model being measured
            bar.set_postfix_str(f"pass {measured_pass}/{passes} {job.part_id[:40]}")
            for row in _measure_job(space, job, wanted, measured_pass, settings, block_copies):
                writer.write(row)
            bar.update(len(wanted))
    finally:  # an interrupted run ends its progress line and keeps every row written
        bar.close()
        writer.close()


def _rows(todo: list[tuple[int, _Job, list[str]]]) -> int:
    """How many rows `_todo`'s plan measures."""
    return sum(len(wanted) for *_, wanted in todo)


def _todo(
    jobs: Sequence[_Job], passes: int, done: set[str], limit: int | None
) -> list[tuple[int, _Job, list[str]]]:
    """What is left to measure, in order: (pass, job, its precisions whose rows are not in
    `done`), at most `limit` rows in all (None: no limit)."""
    rows = [
        (measured_pass, job, precision)
        for measured_pass in range(1, passes + 1)
        for job in jobs
        for precision in job.precisions
        if job.row_id(precision, measured_pass) not in done
    ][:limit]
    grouped = groupby(rows, key=lambda row: row[:2])
    return [(k, job, [precision for *_, precision in group]) for (k, job), group in grouped]


def _measure_job(
    space, job: _Job, precisions: Sequence[str], measured_pass: int, settings, copies
) -> list[dict]:
    copies = copies if job.kind == "block" else 1
    try:
        model = _float_model(space, job, copies)
        found = measure_latencies(model, job.input_shape, precisions, **settings)
    except BackendError as e:
        error = " ".join(str(e).split())[:500]  # one line: a row cut inside it is found
        return [_row(job, p, measured_pass, None, error) | {"copies": copies} for p in precisions]
    return [
        _row(job, p, measured_pass, _per_copy(m, copies)) | {"copies": copies}
        for p, m in zip(precisions, found)
    ]


def _check_precisions(space: SearchSpace, precisions: Sequence[str]) -> tuple[str, ...]:
    """`precisions`, refused where one is unknown or not a precision of the space (no block
    of the space could be profiled at it)."""
    unknown = [p for p in precisions if p not in PRECISIONS]
    if unknown:
        raise ProfileError(f"unknown precisions {unknown}; choose from {list(PRECISIONS)}")
    own = space.precisions
    foreign = [p for p in precisions if p not in own]
    if foreign:
        raise ProfileError(
            f"--precision {', '.join(foreign)}: not a precision of space {space.name!r} "
            f"({', '.join(own)})"
        )
    return tuple(dict.fromkeys(precisions))  # each once: a repeat would time every part twice

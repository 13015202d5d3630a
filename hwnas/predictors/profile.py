"""Device profiles: tables of real latency measurements of a space on one backend.

A profile is a CSV file (one row per measurement, with the device fingerprint) plus a JSON
metadata file beside it (`name.csv` + `name.json`); never a pickle. It holds what the
predictors need: every distinct part of the space's networks (see `hwnas.predictors.parts`),
at every precision profiled, for a lookup table; and whole random architectures, for learned
predictors and for checking how additive latency is.

Rows are appended and flushed one at a time and each has a unique `row_id`, so an interrupted
run resumes where it stopped: rows already present are skipped, a half-written last line is
dropped, and the finished file has no duplicate or missing rows.

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
import re
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm import tqdm

from hwnas.predictors.backends import BackendError, get_backend
from hwnas.predictors.base import space_reference, unreadable_format
from hwnas.predictors.fingerprint import (
    DEVICE_FIELDS,
    describe_device,
    device_differences,
    device_fingerprint,
    device_of,
)
from hwnas.predictors.measure import (
    DEFAULT_ROUNDS,
    DEFAULT_RUNS,
    DEFAULT_WARMUP,
    Measurement,
    best_round_ms,
    measure_latencies,
    resolve_clock,
)
from hwnas.predictors.parts import BLOCK_COPIES, Part, build_part, metaformer_parts
from hwnas.spaces import Arch, SearchSpace, reparameterize, set_fake_quant
from hwnas.spaces.metaformer import MetaFormerSpace
from hwnas.spaces.quant import PRECISIONS

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
        """Successful measurements, one row per model and precision (the first pass's, in
        measurement order), with `latency_ms` the lowest over the passes and `passes` how
        many passes measured it."""
        ok = self.rows[self.rows["status"] == "ok"]
        model = ok["row_id"].str.replace(rf"{re.escape(PASS_SUFFIX)}\d+$", "", regex=True)
        by_model = ok.groupby(model)["latency_ms"]
        first = ~model.duplicated()
        return ok[first].assign(
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
        rows = self.archs()
        archs = [space.validate(Arch.from_json(text)) for text in rows["arch"]]
        return archs, rows["latency_ms"].to_numpy(dtype=float)

    def measured_on(self) -> dict[str, str] | None:
        """The device and settings of its measurements (`fingerprint.device_of`); None for a
        profile without successful rows or fingerprints; a `ProfileError` where its rows were
        measured on several devices (their latencies are not one device's)."""
        ok = self.rows[self.rows["status"] == "ok"]
        columns = [f"fp_{f}" for f in DEVICE_FIELDS if f"fp_{f}" in ok.columns]
        if ok.empty or not columns:
            return None
        distinct = ok[columns].astype(str).drop_duplicates()
        devices = [device_of({c[3:]: v for c, v in row.items()}) for _, row in distinct.iterrows()]
        if len(devices) > 1:
            raise ProfileError(
                f"{self.path}: its rows were measured on {len(devices)} devices "
                f"({'; '.join(describe_device(d) for d in devices[:3])}); a profile must hold "
                "one device's latencies"
            )
        return devices[0]

    def space_reference(self) -> dict[str, Any]:
        """The space the profile measured, as `base.space_reference` describes one."""
        meta = self.meta
        return {
            "name": meta["space"],
            "version": meta["space_version"],
            "input_shape": meta.get("input_shape"),
            "num_classes": meta.get("num_classes"),
        }

    def space(self) -> SearchSpace:
        """The profile's space: from its YAML file where it was, or beside the profile (a
        relative path from another directory, a copied profile), else the built-in space of
        that name; at the profile's input shape and classes."""
        from hwnas.spaces import get_space

        source = Path(self.meta.get("space_source") or self.meta["space"])
        found = [f for f in (source, self.path.parent / source.name) if f.is_file()]
        return get_space(
            found[0] if found else self.meta["space"],
            input_shape=self.meta.get("input_shape"),
            num_classes=self.meta.get("num_classes"),
        )


def read_profile(path: str | Path) -> Profile:
    """Load a profile (CSV rows + JSON metadata); a clear `ProfileError` when unusable."""
    path = Path(path)
    meta_file = metadata_path(path)
    if not path.is_file():
        raise ProfileError(f"{path}: profile not found")
    if not meta_file.is_file():
        raise ProfileError(f"{path}: its metadata file {meta_file.name} is missing")
    meta = _read_metadata(path)
    data = path.read_bytes()
    complete = data[: data.rfind(b"\n") + 1]  # a row still being written is not read
    try:
        rows = pd.read_csv(
            io.BytesIO(complete), dtype={"arch_key": str, "error": str}, keep_default_na=False
        )
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as e:
        raise ProfileError(f"{path}: not a profile table: {e}") from None
    missing = [c for c in ("row_id", "kind", "status", "median_ms") if c not in rows.columns]
    if missing:
        raise ProfileError(f"{path}: not a profile table, columns missing: {missing}")
    written = rows["median_ms"].astype(str)
    rows["median_ms"] = pd.to_numeric(rows["median_ms"], errors="coerce")
    rows["latency_ms"] = [_latency(r) for r in rows.itertuples()]
    bad = (rows["status"] == "ok") & ~(rows["latency_ms"] > 0)  # not a number, or <= 0
    if bad.any():
        first = bad.idxmax()
        raise ProfileError(
            f"{path}: row {rows.at[first, 'row_id']} is ok but its latency "
            f"({written[first]!r}) is not a positive number ({bad.sum()} such rows)"
        )
    return Profile(path, meta, rows)


def _read_metadata(path: Path) -> dict[str, Any]:
    """A profile's JSON metadata, checked to be a mapping that names its space."""
    meta_file = metadata_path(path)
    try:
        meta = json.loads(meta_file.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ProfileError(f"{meta_file}: not valid JSON: {e}") from None
    if not isinstance(meta, dict) or not {"space", "space_version"} <= set(meta):
        raise ProfileError(f"{meta_file}: not profile metadata (a mapping with space, version)")
    if problem := unreadable_format(meta, FORMAT_VERSION):
        raise ProfileError(f"{meta_file}: {problem}")
    return meta


def _latency(row: Any) -> float:
    """A row's latency (`Measurement.latency_ms`): its best round median where the rounds are
    recorded, else its overall median."""
    rounds = str(getattr(row, "round_medians_ms", "") or "")
    try:
        return best_round_ms([float(v) for v in rounds.split(";")])
    except ValueError:  # failed row, or a table without round medians
        return float(row.median_ms)


def _truncate_partial_line(path: Path) -> None:
    """Drop a last line left half-written by a killed run (rows always end with a newline)."""
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        path.write_bytes(data[: data.rfind(b"\n") + 1])


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


class _Appender:
    """Appends rows to the CSV, one flushed line each, writing the header once."""

    def __init__(self, path: Path):
        fresh = not path.exists() or path.stat().st_size == 0
        if not fresh:
            with path.open(newline="") as f:
                header = next(csv.reader(f), [])
            if header != COLUMNS:
                raise ProfileError(
                    f"{path}: written by another hwnas version (its columns differ); "
                    "resume it with that version or start a new profile (another --out)"
                )
        self._file = path.open("a", newline="")
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
    """Write the metadata file whole (a temporary file renamed over it)."""
    target = metadata_path(path)
    temporary = target.with_suffix(".json.tmp")
    temporary.write_text(json.dumps(meta, indent=2) + "\n")
    temporary.replace(target)


def _check_resume(path: Path, meta: dict[str, Any]) -> dict[str, Any]:
    """The existing profile's metadata, if a run with `meta` may resume it."""
    old = _read_metadata(path)
    diff = [f for f in RESUME_FIELDS if old.get(f) != meta.get(f)]
    if diff:
        shown = ", ".join(f"{f}: {old.get(f)!r} != {meta.get(f)!r}" for f in diff)
        raise ProfileError(
            f"{path}: exists with other settings ({shown}); use another --out or the same "
            "settings to resume it"
        )
    return old


def _check_same_device(profile: Profile, here: dict[str, str]) -> None:
    """Refuse to resume a profile that another machine measured: its rows and this
    machine's would mix two devices' latencies."""
    there = profile.measured_on()
    if there is not None and there != here:
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
    progress: bool = True,
) -> Profile:
    """Measure `space` on `backend` into the profile `out` (a .csv path; its .json beside it),
    resuming it if it exists with the same settings. `precisions` defaults to those of the
    space; `samples` whole random architectures (seeded) are measured after the parts;
    blocks are timed as chains of `block_copies` copies (see `hwnas.predictors.parts`);
    `passes` measures everything that many times, one pass after the other (see the module
    docstring); `limit` stops after that many new rows (for a partial run). Returns the
    profile."""
    out = Path(out)
    if out.suffix != ".csv":
        raise ProfileError(f"{out}: a profile is written as CSV; give a path ending in .csv")
    if samples < 0:
        raise ProfileError(f"samples must be >= 0, got {samples}")
    if block_copies < 1:
        raise ProfileError(f"block_copies must be >= 1, got {block_copies}")
    if passes < 1:
        raise ProfileError(f"passes must be >= 1, got {passes}")
    try:  # before anything is written: a typo must not leave a profile that blocks a rerun
        get_backend(backend).check_available()
    except (ValueError, BackendError) as e:
        raise ProfileError(str(e)) from None
    precisions = tuple(precisions or _space_precisions(space))
    unknown = [p for p in precisions if p not in PRECISIONS]
    if unknown:
        raise ProfileError(f"unknown precisions {unknown}; choose from {list(PRECISIONS)}")
    meta = {
        "format_version": FORMAT_VERSION,
        "space": space.name,
        "space_version": space.version,
        "space_source": space_reference(space)["source"],  # absolute: read from anywhere
        "input_shape": list(space.input_shape),
        "num_classes": space.num_classes,
        "backend": backend,
        "precisions": list(precisions),
        "samples": samples,
        "seed": seed,
        "archs_only": archs_only,
        "threads": threads,
        "batch_size": batch_size,
        "warmup": warmup,
        "runs": runs,
        "rounds": rounds,
        "clock": resolve_clock(clock, backend, threads),
        "block_copies": block_copies,
        "passes": passes,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.exists() and not metadata_path(out).exists():
        raise ProfileError(
            f"{out}: exists without its metadata file {metadata_path(out).name}, so it cannot "
            "be resumed; move it away or give another --out (nothing was deleted)"
        )
    if out.exists():
        old = _check_resume(out, meta)
        _truncate_partial_line(out)
        existing = read_profile(out)
        _check_same_device(
            existing, device_of(device_fingerprint(backend, "", batch_size, threads))
        )
        done = set(existing.rows["row_id"])
        meta["passes"] = max(passes, old.get("passes", 1))
    else:
        done = set()
    _write_metadata(out, meta)
    jobs = list(_jobs(space, precisions, samples, seed, archs_only))
    todo = [
        (k, job)
        for k in range(1, passes + 1)
        for job in jobs
        if any(job.row_id(p, k) not in done for p in job.precisions)
    ]
    writer = _Appender(out)
    written = 0
    settings = dict(
        backend=backend,
        batch_size=batch_size,
        threads=threads,
        warmup=warmup,
        runs=runs,
        rounds=rounds,
        clock=meta["clock"],
    )
    try:
        bar = tqdm(todo, desc=f"profile {space.name} on {backend}", disable=not progress)
        for measured_pass, job in bar:
            wanted = [p for p in job.precisions if job.row_id(p, measured_pass) not in done]
            if limit is not None:
                wanted = wanted[: max(0, limit - written)]
            if not wanted:
                break
            rows = _measure_job(space, job, wanted, measured_pass, settings, block_copies)
            for row in rows:
                writer.write(row)
                written += 1
            bar.set_postfix_str(f"pass {measured_pass}/{passes} {job.part_id[:40]}")
    finally:
        writer.close()
    return read_profile(out)


def _measure_job(
    space, job: _Job, precisions: Sequence[str], measured_pass: int, settings, copies
) -> list[dict]:
    copies = copies if job.kind == "block" else 1
    try:
        model = _float_model(space, job, copies)
        found = measure_latencies(model, job.input_shape, precisions, **settings)
    except BackendError as e:
        error = str(e)[:500]
        return [_row(job, p, measured_pass, None, error) | {"copies": copies} for p in precisions]
    return [
        _row(job, p, measured_pass, _per_copy(m, copies)) | {"copies": copies}
        for p, m in zip(precisions, found)
    ]


def _space_precisions(space: SearchSpace) -> list[str]:
    values = {v for k, vs in space.choice_values().items() if k.endswith(".precision") for v in vs}
    return [p for p in PRECISIONS if p in values] or ["fp32"]

"""Measuring a device profile (`build_profile`): the parts and sampled architectures of a
space timed on one backend, written row by row into the profile's table (its format and reading
are `hwnas.predictors.profile`'s).

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
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import replace
from itertools import groupby
from pathlib import Path
from typing import IO, Any

from tqdm import tqdm

from hwnas.predictors.backends import Backend, BackendError, get_backend
from hwnas.predictors.base import changed_fields, space_reference
from hwnas.predictors.defaults import BLOCK_COPIES, DEFAULT_ROUNDS, DEFAULT_RUNS, DEFAULT_WARMUP
from hwnas.predictors.fingerprint import (
    LIBRARIES,
    describe_device,
    device_differences,
    device_fingerprint,
    device_of,
)
from hwnas.predictors.measure import Measurement, check_settings, measure_latencies
from hwnas.predictors.parts import block_copies_problem, build_part
from hwnas.predictors.precision_notes import INT8_QUANTIZER
from hwnas.predictors.printable import one_line
from hwnas.predictors.profile import (
    COLUMNS,
    FORMAT_VERSION,
    Profile,
    ProfileError,
    complete_rows,
    metadata_path,
    model_ids,
    read_metadata,
    read_profile,
    undecodable_table,
)
from hwnas.predictors.profile_plan import Job, planned_jobs
from hwnas.predictors.repeatability import unrepeatable_warning
from hwnas.predictors.whole_files import (
    append_whole,
    file_in_the_way,
    name_too_long,
    not_regular,
    removed_if_left_empty,
    written_whole,
)
from hwnas.spaces import SearchSpace, as_space, reparameterize, set_fake_quant
from hwnas.spaces.blocks import PRECISIONS
from hwnas.spaces.callers import warn_at_caller
from hwnas.spaces.errors import whole_number
from hwnas.spaces.metaformer import MetaFormerSpace
from hwnas.spaces.yaml_files import MAX_TEXT_CHARS

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


def _truncate_partial_line(path: Path) -> None:
    """Drop a last line left half-written by a killed run, or end a whole one that lacks
    its newline (`complete_rows`), so rows appended next start on a line of their own."""
    data = path.read_bytes()
    if (complete := complete_rows(data)) != data:
        path.write_bytes(complete)


def _float_model(space: SearchSpace, job: Job, copies: int):
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
    job: Job, precision: str, measured_pass: int, m: Measurement | None, error: str = ""
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


#: the most bytes of a profile table that a resume reads: one past them holds more characters
#: than `read_profile` reads (`MAX_TEXT_CHARS`, of at most 4 bytes each, a byte-order mark aside)
_MAX_TABLE_BYTES = 4 * (MAX_TEXT_CHARS + 1)


def _check_size(path: Path) -> None:
    """Refuse to resume a table larger than any profile, before its header and rows are
    read: a huge one (a profile extended by `truncate`) was read whole until memory ran
    out, by the look for a half-written last line (`_truncate_partial_line`)."""
    if (size := path.stat().st_size) > _MAX_TABLE_BYTES:
        raise ProfileError(
            f"{path}: {size:,} bytes, more than any profile holds, so it cannot be resumed; "
            "move it away or give another --out (nothing was deleted)"
        )


def _check_columns(path: Path) -> None:
    """Refuse to append to a profile whose columns are not this version's. The byte-order
    mark of a table saved by a spreadsheet ("CSV UTF-8") is no column: read_profile, which
    fits and scores it, passes over it, but the resume refused it as another version's."""
    try:
        with path.open(encoding="utf-8-sig", newline="") as f:
            header = next(csv.reader(f), [])
    except UnicodeDecodeError:  # the bare codec error, naming no file, ended a resume
        raise undecodable_table(path) from None
    if header != COLUMNS:
        raise ProfileError(
            f"{path}: written by another hwnas version (its columns differ); "
            "resume it with that version or start a new profile (another --out)"
        )


class _Appender:
    """Appends rows to the CSV, each line whole and synced as it is measured (`append_whole`),
    writing the header once. A write that fails (a full disk, a file-size limit) is a
    `ProfileError` naming the profile, and leaves the table as it was: it was the OS's bare
    "[Errno 28] No space left on device", and the closing of a buffered file, which tried the
    write again, raised it a second time."""

    def __init__(self, path: Path):
        fresh = not path.exists() or path.stat().st_size == 0
        if not fresh:
            _check_columns(path)
        self._path = path
        self._line = io.StringIO()
        self._writer = csv.DictWriter(self._line, fieldnames=COLUMNS, extrasaction="raise")
        if fresh:
            self._writer.writeheader()
            self._append()

    def write(self, row: dict[str, Any]) -> None:
        self._writer.writerow(row)
        self._append()

    def _append(self) -> None:
        """Append the line the CSV writer made."""
        line = self._line.getvalue().encode("utf-8")
        self._line.seek(0)
        self._line.truncate()
        try:
            append_whole(self._path, line)
        except OSError as e:
            raise ProfileError(
                f"{self._path}: cannot write to the profile: {e.strerror or e}; the rows "
                "measured before are kept, and the same command run again goes on from them"
            ) from None


def _write_metadata(path: Path, meta: dict[str, Any]) -> None:
    """Write the metadata file whole (a temporary file renamed over it), making its folder;
    a `ProfileError` naming the profile `path` where that cannot be written."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with written_whole(metadata_path(path)) as partial:
            partial.write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    except OSError as e:
        raise ProfileError(f"{path}: cannot write the profile there: {e.strerror}") from None


def _resume(out: Path, space: SearchSpace, meta: dict[str, Any], retry_failed: bool) -> set[str]:
    """The row ids of the profile `out` that a run of `space` with `meta` resumes (none for a
    new one, or one whose metadata was written but no row yet), raising `meta["passes"]` to
    the profile's and taking its order of `meta["precisions"]`; a `ProfileError`, deleting
    nothing, where `out` or its metadata file exists but is not such a profile's, or holds
    networks that are not of `space`. `retry_failed` drops its failed rows, to measure them
    again."""
    if not metadata_path(out).exists():
        if out.exists():
            raise ProfileError(
                f"{out}: exists without its metadata file {metadata_path(out).name}, so it "
                "cannot be resumed; move it away or give another --out (nothing was deleted)"
            )
        return set()
    old = _check_resume(out, meta)
    meta["passes"] = max(meta["passes"], old.get("passes", 1))
    # the profile's own order of its precisions: it draws the sampled networks' precisions
    meta["precisions"] = old.get("precisions", meta["precisions"])
    if not out.exists() or out.stat().st_size == 0:
        return set()
    _check_size(out)
    # its rows' int8 quantization: an older one's are still said of (`warn_older_int8`); an
    # earlier hwnas's file records none, and gains no null, so that a resume measuring nothing
    # leaves it as it was (a run pricing with the profile refuses it changed, by its digest)
    if "int8_quantizer" in old:
        meta["int8_quantizer"] = old["int8_quantizer"]
    else:
        del meta["int8_quantizer"]
    _check_columns(out)
    _truncate_partial_line(out)
    existing = read_profile(out)
    here = device_fingerprint(meta["backend"], "", meta["batch_size"], meta["threads"])
    _check_same_device(existing, device_of({**here, "clock": meta["clock"]}))
    _warn_other_versions(existing, here)
    _check_networks_of(existing, space)
    _warn_networks_drawn_anew(existing, space, meta)
    if "space_digest" not in old:
        warn_at_caller(
            f"{out}: an earlier hwnas started this profile and recorded no digest of its "
            f"space: its rows are taken to be of space {meta['space']!r} as it is now (where "
            "its YAML's stem, stages or blocks changed since, give another --out)"
        )
    rows = existing.rows
    if retry_failed and (rows["status"] == "failed").any():
        _drop_failed_rows(out)
        rows = rows[rows["status"] != "failed"]
    return set(rows["row_id"])


def _check_networks_of(profile: Profile, space: SearchSpace) -> None:
    """Refuse to resume a profile whose measured networks are not all of `space` (its YAML
    dropped a mixer, kernel or width they use since): its metadata would then record the
    edited space, and every fit of its networks failed on them."""
    try:
        profile.arch_records(space, than="the space given now")
    except ProfileError as e:
        raise ProfileError(
            f"{e}; so it cannot be resumed with this space: give another --out (nothing was "
            "deleted)"
        ) from None


def _warn_networks_drawn_anew(profile: Profile, space: SearchSpace, meta: dict[str, Any]) -> None:
    """Say where a profile is resumed with a space whose choices changed since it was
    started (a mixer or width added), so that its seeded draw of `samples` networks is
    another: the resume measures the new draw beside the networks measured before, which
    doubled the profile's networks without a word."""
    jobs = planned_jobs(space, meta["precisions"], meta["samples"], meta["seed"], True)
    drawn = {job.row_id(precision) for job in jobs for precision in job.precisions}
    rows = profile.rows
    before = set(model_ids(rows[rows["kind"] == "arch"]["row_id"]))
    if not (before - drawn and drawn - before):  # none of another draw, or none to measure
        return
    fields = changed_fields(space, profile.meta.get("space_definition"))
    changed = f" (they differ in {', '.join(fields)})" if fields else ""
    warn_at_caller(
        f"{profile.path}: {len(before - drawn)} of its {len(before)} networks are not among "
        f"the {len(drawn)} that space {space.name!r} draws now: its choices changed since the "
        f"profile was started{changed}; the resume measures the new draw's "
        f"{len(drawn - before)} beside them (give another --out to keep to one draw)"
    )


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
        warn_at_caller(
            f"{profile.path}: rows measured with {'; '.join(other)}: the rows measured now "
            "may time differently; give another --out to keep one set of versions"
        )


def _check_resume(path: Path, meta: dict[str, Any]) -> dict[str, Any]:
    """The existing profile's metadata, if a run with `meta` may resume it; a `ProfileError`
    naming the metadata file where it is not (another file, another profile's settings)."""
    meta_file = metadata_path(path)
    try:
        old = read_metadata(path)
    except ProfileError as e:
        raise ProfileError(
            f"{e}; a profile {path.name} cannot be written beside it: move {meta_file.name} "
            "away or give another --out (nothing was deleted)"
        ) from None
    # more samples extend the profile: `sample_archs` draws the same first ones for any count
    more = meta["samples"] > old.get("samples", 0)
    diff = [
        f
        for f in RESUME_FIELDS
        if _differs(f, old.get(f), meta.get(f)) and not (f == "samples" and more)
    ]
    if old.get("space_digest", meta["space_digest"]) != meta["space_digest"]:
        diff.append("space_digest")  # the space's YAML changed (an older profile has none)
    if diff:
        shown = ", ".join(f"{f}: {old.get(f)!r} != {meta.get(f)!r}" for f in diff)
        raise ProfileError(
            f"{meta_file}: the metadata of a profile with other settings ({shown}); use "
            "another --out, or the same settings to resume it (nothing was deleted)"
        )
    return old


def _differs(field: str, old: Any, new: Any) -> bool:
    """Whether the profile's setting `field`, `old`, differs from a run's `new`: precisions
    as a set (`--precision int8 --precision fp32` was refused on a profile of fp32 and int8;
    the resume then keeps the profile's order, `_resume`)."""
    if field == "precisions" and isinstance(old, list):
        return set(old) != set(new)
    return old != new


def _drop_failed_rows(path: Path) -> None:
    """Rewrite the profile table without its failed rows (a temporary file renamed over
    it), so that the resumed run measures them again."""
    with path.open(encoding="utf-8-sig", newline="") as f:  # a byte-order mark: no column
        rows = [row for row in csv.DictReader(f) if row["status"] != "failed"]
    with written_whole(path) as partial, partial.open("w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)


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
    space: SearchSpace | str | Path,
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
    """Measure `space` (or the built-in space or space file it names) on `backend` into the
    profile `out` (a .csv path; its .json beside it), resuming it if it exists with the same
    settings. `precisions` defaults to those of the
    space; `samples` whole random architectures (seeded) are measured after the parts;
    blocks are timed as chains of `block_copies` copies (see `hwnas.predictors.parts`);
    `passes` measures everything that many times, one pass after the other (see the module
    docstring); `limit` stops after that many new rows (at least one; for a partial run);
    `retry_failed` measures again the rows of the profile that failed to measure. Returns the
    profile."""
    out, space = Path(out), as_space(space)
    _check_arguments(out, space, samples, seed, archs_only, block_copies, passes, limit)
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
    _check_runtime(space, settings, precisions, samples)
    meta = {
        **_space_metadata(space),
        **settings,  # backend, batch_size, threads, warmup, runs, rounds, clock
        "precisions": list(precisions),
        "samples": int(samples),  # numpy's integers, accepted, are no JSON
        "seed": int(seed),
        "archs_only": archs_only,
        "block_copies": int(block_copies),
        "passes": int(passes),
        "int8_quantizer": INT8_QUANTIZER,
    }
    with _only_writer(out):
        done = _resume(out, space, meta, retry_failed)
        _write_metadata(out, meta)
        jobs = list(planned_jobs(space, meta["precisions"], samples, seed, archs_only))
        todo = _todo(jobs, passes, done, limit)
        left = _rows(_todo(jobs, passes, done, None)) - _rows(todo)
        if progress and done:
            said = f"{out}: resuming, {len(done)} rows measured before"
            tqdm.write(one_line(said), file=sys.stderr)
        _measure_todo(space, out, todo, settings, block_copies, passes, progress)
    if progress and left:
        said = f"{out}: stopped by the limit with {left} rows left to measure; the same command"
        tqdm.write(one_line(f"{said} without it goes on"), file=sys.stderr)
    profile = read_profile(out)
    if note := unrepeatable_warning(profile):
        warn_at_caller(note)
    return profile


@contextmanager
def _only_writer(out: Path) -> Iterator[None]:
    """Hold an exclusive lock on the profile `out` (on a `.lock` file beside it, kept: the
    table and metadata are renamed over, and a removed lock file could be locked twice) for
    the body, or refuse with a `ProfileError` while another run holds it: two runs writing
    one profile at once each measured every row, and the table's duplicate rows then
    stopped the profile from being read or resumed. A table this process cannot append to
    (another user's, or read-only) is refused here too, before the run rewrites its metadata:
    it met the OS's bare "[Errno 13] Permission denied" at its first row. A run that made
    the profile's folder and fails having written nothing there removes its lock, still held,
    and the folders it made (`removed_if_left_empty`): they were left holding the lock alone.
    A lock in a folder that was there before is kept."""
    lock = _lock_path(out)
    made = not out.parent.exists()
    with removed_if_left_empty(out.parent):
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
            if out.is_file():
                out.open("ab").close()  # opened to append, nothing written
            f = lock.open("a")
        except OSError as e:
            raise ProfileError(f"{out}: cannot write the profile there: {e.strerror}") from None
        with f:
            if not _locked(f):
                raise ProfileError(
                    f"{out}: another `hwnas latency profile` run is writing this profile (it "
                    f"holds {lock.name}); wait for it to end, or give another --out"
                )
            try:
                yield  # the lock goes with the file's closing, also when the process is killed
            except BaseException:
                if made and list(out.parent.iterdir()) == [lock]:
                    with suppress(OSError):  # Windows removes no open file: the folder stays
                        lock.unlink()
                raise


def _lock_path(out: Path) -> Path:
    """The lock file of the profile `out`: the longest name a profile makes beside it."""
    return out.with_name(f"{out.name}.lock")


def _locked(f: IO) -> bool:
    """Lock the open file `f` for this process without waiting; False when another process
    holds it. `flock` where there is `fcntl`; on Windows, which has none (`hwnas latency
    profile` failed there with "No module named 'fcntl'"), msvcrt's lock on its first byte."""
    try:
        import fcntl
    except ImportError:
        import msvcrt

        f.seek(0)
        try:
            msvcrt.locking(f.fileno(), msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _check_arguments(
    out: Path,
    space: SearchSpace,
    samples: int,
    seed: int,
    archs_only: bool,
    block_copies: int,
    passes: int,
    limit: int | None,
) -> None:
    """Refuse a profile path, count or seed that cannot work, before anything is measured.
    The counts are whole numbers, as the CLI's options are: `samples=2.5` measured 3 networks
    and recorded 2.5, and `samples=True` one. No samples of a space without parts (cells
    measured whole) measured nothing and wrote an empty profile."""
    if out.suffix.lower() != ".csv":
        raise ProfileError(f"{out}: a profile is written as CSV; give a path ending in .csv")
    if problem := name_too_long(_lock_path(out)):  # is_dir gave the OS's bare error
        raise ProfileError(
            f"{out}: {problem} (a profile keeps NAME.csv.lock beside it); give a shorter path"
        )
    if out.is_dir():
        raise ProfileError(f"{out}: is a folder; give the profile's file path (.csv)")
    if problem := not_regular(out):  # a link to a device: rows were written into it
        raise ProfileError(
            f"{out}: {problem}; give the profile's file path (.csv); nothing written"
        )
    if (blocking := file_in_the_way(out.parent)) is not None:
        raise ProfileError(f"{out}: {blocking} is a file, not a folder")
    for name, value, least in (("samples", samples, 0), ("seed", seed, 0), ("passes", passes, 1)):
        _check_count(name, value, least)
    if samples == 0 and (archs_only or not isinstance(space, MetaFormerSpace)):
        what = "an archs-only profile" if archs_only else f"a profile of {space.name}"
        whole = "" if archs_only else " (its networks have no parts: they are measured whole)"
        raise ProfileError(f"{what} of 0 samples measures nothing{whole}; give samples")
    if problem := block_copies_problem(block_copies):
        raise ProfileError(problem)
    if limit is not None:  # 0 wrote an empty profile, which no predictor can be fitted from
        _check_count("limit", limit, 1, " or None")


def _check_count(name: str, value: Any, least: int, or_else: str = "") -> None:
    """Refuse `value` unless it is an integer (numpy's too; not a bool) >= `least`."""
    if not whole_number(value) or value < least:
        raise ProfileError(f"{name} must be an integer >= {least}{or_else}, got {value!r}")


def _check_runtime(
    space: SearchSpace, settings: dict, precisions: Sequence[str], samples: int
) -> None:
    """Check the backend, the measuring settings (`settings["clock"]` becomes the clock
    `auto` resolves to, the counts Python ints: numpy's, taken, are no JSON) and that the
    backend times every precision and `samples` networks (`_check_timed`), before anything
    is written: a typo must not leave a profile that blocks a rerun. Warns when more threads
    are asked than this process has cores."""
    try:
        runtime = get_backend(settings["backend"])
        runtime.check_available()
        settings["clock"] = check_settings(space.input_shape, **settings)
    except (ValueError, BackendError) as e:
        raise ProfileError(str(e)) from None
    settings.update({name: int(value) for name, value in settings.items() if whole_number(value)})
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    if cores and settings["threads"] > cores:
        warn_at_caller(
            f"threads: {settings['threads']} is more than the {cores} cores this process may "
            "use: the threads would compete for them and the latencies vary from run to run"
        )
    _check_timed(runtime, precisions, samples)


def _check_timed(runtime: Backend, precisions: Sequence[str], samples: int) -> None:
    """Check that `runtime` times the parts at each of `precisions` and, where `samples`
    networks are measured, those networks: their stem, downsamples and head stay fp32 beside
    blocks at the others, which eager torch cannot run (it runs a model at one precision).
    Checked up front, not row by row: one failure marked a batch's every row."""
    for precision in precisions:
        try:
            runtime.check_precision(precision)
        except BackendError as e:
            raise ProfileError(f"{e}; give --precision with those it times") from None
        if not samples:
            continue
        try:
            runtime.check_precision({"stem": "fp32", "blocks": precision})
        except BackendError as e:
            raise ProfileError(
                f"{e}: the sampled networks keep their stem, downsamples and head at fp32 "
                f"beside {precision} blocks; give --samples 0 to time only the parts at "
                f"{precision}, or profile the networks at --precision fp32"
            ) from None


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
    todo: list[tuple[int, Job, list[str]]],
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
        # None: on a terminal only; in a log each redraw stays (765 of them for 426 rows)
        disable=None if progress else True,
    )
    try:
        for measured_pass, job, wanted in todo:  # the bar names the model being measured
            bar.set_postfix_str(f"pass {measured_pass}/{passes} {job.part_id[:40]}")
            for row in _measure_job(space, job, wanted, measured_pass, settings, block_copies):
                writer.write(row)
            bar.update(len(wanted))
    finally:  # an interrupted run ends its progress line and keeps every row written
        bar.close()


def _rows(todo: list[tuple[int, Job, list[str]]]) -> int:
    """How many rows `_todo`'s plan measures."""
    return sum(len(wanted) for *_, wanted in todo)


def _todo(
    jobs: Sequence[Job], passes: int, done: set[str], limit: int | None
) -> list[tuple[int, Job, list[str]]]:
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
    space, job: Job, precisions: Sequence[str], measured_pass: int, settings, copies
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
        raise ProfileError(
            f"--precision {', '.join(unknown)}: unknown; choose from {', '.join(PRECISIONS)}"
        )
    own = space.precisions
    foreign = [p for p in precisions if p not in own]
    if foreign:
        raise ProfileError(
            f"--precision {', '.join(foreign)}: not a precision of space {space.name!r} "
            f"({', '.join(own)})"
        )
    return tuple(dict.fromkeys(precisions))  # each once: a repeat would time every part twice

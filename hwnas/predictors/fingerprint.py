"""Device fingerprints: what a latency number was measured on, stored with every measurement.

A latency is only meaningful for the device, runtime and settings that produced it, so every
measurement and profile row carries the CPU model and core count (or the GPU name), the
runtime and library versions, the thread count, the batch size and the precision.
Profiles and the predictors fitted from them keep the part of it that says which device and
settings their latencies are for (`DEVICE_FIELDS`), so a user can see what a predictor
predicts, and two devices' measurements are never mixed in one profile or predictor.
"""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Mapping
from functools import lru_cache
from importlib import metadata
from typing import Any

LIBRARIES = ("torch", "onnxruntime", "onnx", "numpy")
#: the fingerprint fields that say which device and settings a latency is for; the clock
#: (`measure.resolve_clock`, a profile's setting kept in its rows) is one too: a review
#: measured networks about 17 % slower on the wall clock than on the thread clock
DEVICE_FIELDS = ("backend", "cpu", "cores", "gpu", "threads", "batch_size", "clock")
#: device fields that records written before they were kept lack (never a difference)
ADDED_FIELDS = ("clock",)


@lru_cache(maxsize=1)
def cpu_model() -> str:
    """The CPU's model name (from /proc/cpuinfo on Linux, else `platform.processor()`)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def thread_clock_ticks() -> bool:
    """Whether the thread clock advances only at scheduler ticks: Windows's GetThreadTimes
    (15.6 ms by default; the 100 ns `resolution` Python reports is its unit, not its step),
    where a run of 1 ms read 0 or 15.6 ms."""
    return time.get_clock_info("thread_time").implementation == "GetThreadTimes()"


def auto_clock(backend: str, threads: int) -> str:
    """The clock `auto` times with: the thread's CPU time with one thread on a CPU backend
    (immune to other processes taking the CPU) where that clock is fine-grained, else
    wall-clock time. Here, not in `measure`, so that the read commands, which import no
    model library, name the clock a run's latencies were measured on."""
    one_thread = threads == 1 and backend != "torch-cuda"
    return "thread" if one_thread and not thread_clock_ticks() else "wall"


def package_version(package: str) -> str:
    """The installed version of `package` ("absent" where it is not installed)."""
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "absent"


def _cuda_device_name() -> str:
    import torch  # only a CUDA measurement asks it; reading a run's versions does not

    return torch.cuda.get_device_name()


def device_fingerprint(
    backend: str, precision: str, batch_size: int, threads: int
) -> dict[str, Any]:
    """A flat, JSON-able description of the device and settings of one measurement."""
    gpu = _cuda_device_name() if backend == "torch-cuda" else ""
    return {
        "backend": backend,
        "cpu": cpu_model(),
        "cores": os.cpu_count() or 0,
        "gpu": gpu,
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        **{f"{lib}_version": package_version(lib) for lib in LIBRARIES},
        "threads": threads,
        "batch_size": batch_size,
        "precision": precision,
    }


def device_of(fingerprint: Mapping[str, Any]) -> dict[str, str]:
    """The `DEVICE_FIELDS` of a fingerprint, as strings (equal devices give equal dicts)."""
    return {f: str(fingerprint.get(f, "")) for f in DEVICE_FIELDS}


def row_device(row: Mapping[str, Any]) -> dict[str, str]:
    """The device (`device_of`) of one profile row: its `fp_*` fingerprint columns and the
    clock it was timed on (an older profile's rows have none)."""
    fields = {k.removeprefix("fp_"): v for k, v in row.items() if k.startswith("fp_")}
    return device_of({**fields, "clock": row.get("clock") or ""})


def describe_device(device: Mapping[str, str] | None) -> str:
    """One line for a device of `device_of`, e.g. 'AMD EPYC (2 cores), onnxruntime-cpu,
    1 thread(s), batch 1'."""
    if not device:
        return "not recorded"
    gpu = f", {device['gpu']}" if device.get("gpu") else ""
    clock = f", {device['clock']} clock" if device.get("clock") else ""
    return (
        f"{device['cpu']} ({device['cores']} cores){gpu}, {device['backend']}, "
        f"{device['threads']} thread(s), batch {device['batch_size']}{clock}"
    )


def device_differences(first: Mapping[str, str], second: Mapping[str, str]) -> list[str]:
    """'field: first != second' for every device field in which two devices differ."""
    return [
        f"{f}: {first.get(f)!r} != {second.get(f)!r}"
        for f in DEVICE_FIELDS
        if first.get(f) != second.get(f)
        and not (f in ADDED_FIELDS and not (first.get(f) and second.get(f)))
    ]

"""Device fingerprints: what a latency number was measured on, stored with every measurement.

A latency is only meaningful for the device, runtime and settings that produced it, so every
measurement and profile row carries the CPU model and core count (or the GPU name), the
runtime and library versions, the thread count, the batch size and the precision.
"""

from __future__ import annotations

import os
import platform
from functools import lru_cache
from importlib import metadata
from typing import Any

import torch

LIBRARIES = ("torch", "onnxruntime", "onnx", "numpy")


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


def _version(lib: str) -> str:
    try:
        return metadata.version(lib)
    except metadata.PackageNotFoundError:
        return "absent"


def device_fingerprint(
    backend: str, precision: str, batch_size: int, threads: int
) -> dict[str, Any]:
    """A flat, JSON-able description of the device and settings of one measurement."""
    gpu = torch.cuda.get_device_name() if backend == "torch-cuda" else ""
    return {
        "backend": backend,
        "cpu": cpu_model(),
        "cores": os.cpu_count() or 0,
        "gpu": gpu,
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        **{f"{lib}_version": _version(lib) for lib in LIBRARIES},
        "threads": threads,
        "batch_size": batch_size,
        "precision": precision,
    }

"""How a latency backend really runs a block precision, where that is not what the precision's
name says. Kept apart from the backends (which import torch) because the read commands
(`status`, `pareto`) print it beside a measured latency and import no model library."""

from __future__ import annotations

import csv
from collections.abc import Iterable
from pathlib import Path

from hwnas.predictors.fingerprint import device_of, row_device
from hwnas.spaces.yaml_files import json_or_none

#: backend name -> precision -> how the backend times a block at that precision
PRECISION_NOTES: dict[str, dict[str, str]] = {
    "onnxruntime-cpu": {
        "w4a8": "timed as int8 (ONNX Runtime has no 4-bit CPU kernel)",
        "fp16": "timed as a float16 graph whose convolutions and matrix products run in "
        "float32 on x86 CPUs (no float16 kernels there)",
    },
    # the torch backends run what they time, or refuse it
}
#: the revision of the int8 quantization (`onnx_precision.quantize_int8`) that times int8
#: and w4a8 blocks, recorded as `int8_quantizer` by a profile and the predictors fitted on
#: it: 2 since each convolution quantizes a bias of its own (`_own_initializers`,
#: 2026-12-07). Without it (an earlier hwnas's file) some int8 convolutions of the untrained
#: networks measured ran as float kernels, too slow
INT8_QUANTIZER = 2
#: the precisions timed with that quantization
INT8_TIMED = ("int8", "w4a8")


def precision_caveats(backend: str, precisions: Iterable[str]) -> str | None:
    """How `backend` times the blocks at `precisions` where that is not what their names say,
    in words (None when it times each as named): a w4a8 block's latency on ONNX Runtime's CPU
    provider is an int8 one, which a reader of a w4a8 winner's latency must know."""
    notes = PRECISION_NOTES.get(backend, {})
    said = [f"{p} blocks {notes[p]}" for p in sorted(set(precisions)) if p in notes]
    return "; ".join(said) or None


def measured_backend(source: str | Path) -> str | None:
    """The backend whose measurements a latency profile (`.csv`, its settings in the `.json`
    beside it) or a saved predictor (`.json`) holds; None where the file does not say (gone,
    unreadable, of another format): a predicted latency carries the caveats of the
    measurements it was fitted on."""
    path = Path(source)
    data = json_or_none(path.with_suffix(".json"))
    if not isinstance(data, dict):
        return None
    found = data.get("backend") if path.suffix.lower() == ".csv" else data.get("measured_on")
    if isinstance(found, dict):  # a predictor's device
        found = found.get("backend")
    return found if isinstance(found, str) else None


def measured_device(source: str | Path) -> dict[str, str] | None:
    """The device and settings (`fingerprint.device_of`) whose measurements a latency profile
    (`.csv`: its first successful row) or a saved predictor (`.json`: where it was measured)
    holds; None where the file does not say (gone, unreadable, older): a predicted latency
    said only the file it came from, where a measured one names its machine and settings."""
    path = Path(source)
    if path.suffix.lower() == ".csv":
        try:
            return _profile_device(path)
        except (OSError, ValueError, csv.Error):
            return None
    data = json_or_none(path)
    found = data.get("measured_on") if isinstance(data, dict) else None
    return device_of(found) if isinstance(found, dict) and found.get("cpu") else None


def _profile_device(path: Path) -> dict[str, str] | None:
    """`measured_device` of a profile, read row by row (a read command imports no pandas
    for it), as `Profile.measured_on` reads it."""
    with path.open(newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            if row.get("status") == "ok" and row.get("fp_cpu"):
                return row_device(row)
    return None

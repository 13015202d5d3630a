"""`LatencyPredictor`: the interface every latency predictor implements, and its data files.

A predictor maps architectures of one space to latencies in milliseconds for the device its
data was measured on (`measured_on`, whichever machine asks it). It is saved as data (JSON:
its kind, its space, its settings, the measurements it was built from and their device),
never as a pickle, and a loaded predictor is rebuilt (refit deterministically) from that
data, so files survive library upgrades.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from hwnas.spaces import Arch, SearchSpace, get_space

FORMAT_VERSION = 1


class PredictorError(ValueError):
    """A predictor that cannot be built, loaded or asked about an architecture."""


def unreadable_format(data: dict[str, Any], newest: int) -> str | None:
    """Why a data file's `format_version` is not one this hwnas reads (a newer hwnas wrote
    it, or it is not a number), or None when it is readable (absent means the first)."""
    version = data.get("format_version", newest)
    if isinstance(version, int) and version <= newest:
        return None
    return (
        f"format_version {version!r} is not one this hwnas reads (up to {newest}); a newer "
        "hwnas wrote it?"
    )


def space_reference(space: SearchSpace) -> dict[str, Any]:
    """What identifies `space` in a data file: name, version, YAML source, input, classes."""
    source = str(getattr(space, "source", space.name))
    if Path(source).is_file():
        source = str(Path(source).resolve())
    return {
        "name": space.name,
        "version": space.version,
        "source": source,
        "input_shape": list(space.input_shape),
        "num_classes": space.num_classes,
    }


def space_from_reference(ref: dict[str, Any]) -> SearchSpace:
    """The space a data file names (its YAML source, else the built-in of that name)."""
    kwargs = {"input_shape": ref.get("input_shape"), "num_classes": ref.get("num_classes")}
    source = ref.get("source") or ref["name"]
    if not Path(source).is_file():
        source = ref["name"]
    return get_space(source, **kwargs)


def check_space(space: SearchSpace, ref: dict[str, Any], where: str) -> None:
    """Refuse a predictor or profile of another space, or of this space at another input
    shape or number of classes: its measurements would not be this space's latencies."""
    if (space.name, space.version) != (ref.get("name"), ref.get("version")):
        raise PredictorError(
            f"{where} is for space {ref.get('name')!r} v{ref.get('version')}, "
            f"not {space.name!r} v{space.version}"
        )
    mine = space_reference(space)
    for field in ("input_shape", "num_classes"):
        if ref.get(field) is not None and ref[field] != mine[field]:
            raise PredictorError(
                f"{where} was measured with {field} {ref[field]}, but the space has "
                f"{mine[field]}; profile the space at that {field}"
            )


class LatencyPredictor(ABC):
    """Predicts latency (ms) of architectures of `space` on one device."""

    kind: ClassVar[str]
    #: the device and settings its latencies are for (`fingerprint.device_of` of the profile
    #: it was built from), whichever machine asks it; None where not recorded
    measured_on: dict[str, str] | None = None

    def __init__(self, space: SearchSpace):
        self.space = space

    @abstractmethod
    def fit(self, archs: Sequence[Arch], latencies: Sequence[float]) -> LatencyPredictor:
        """Learn from measured whole-architecture latencies (ms); returns self."""

    @abstractmethod
    def predict(self, archs: Sequence[Arch]) -> np.ndarray:
        """Predicted latency in ms, one per architecture."""

    @abstractmethod
    def to_data(self) -> dict[str, Any]:
        """Everything needed to rebuild this predictor, as JSON-able data."""

    @classmethod
    @abstractmethod
    def from_data(cls, data: dict[str, Any], space: SearchSpace) -> LatencyPredictor:
        """Rebuild (and refit) a predictor from `to_data()` output."""

    def save(self, path: str | Path) -> Path:
        """Write the predictor as a JSON data file."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        record = {
            "format_version": FORMAT_VERSION,
            "kind": self.kind,
            "space": space_reference(self.space),
            "measured_on": self.measured_on,
            **self.to_data(),
        }
        path.write_text(json.dumps(record) + "\n")
        return path


def check_training_data(archs: Sequence[Arch], latencies: Sequence[float]) -> np.ndarray:
    y = np.asarray(latencies, dtype=float)
    if len(archs) != len(y):
        raise PredictorError(f"{len(archs)} architectures but {len(y)} latencies")
    if len(y) == 0:
        raise PredictorError("no training data: give at least one measured architecture")
    if not np.all(np.isfinite(y)) or np.any(y <= 0):
        raise PredictorError("latencies must be finite and positive (ms)")
    return y

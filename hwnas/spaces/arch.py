"""`Arch`: the immutable, hashable, JSON-able record of one architecture's choices.

An `Arch` is what every other part of hwnas passes around: searchers propose them, evaluators
score them, storage keeps them as Optuna trial params. Its `key` is a content hash (not
Python's randomised `hash`), so the same network has the same key in every process and run.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

Choice = int | float | str


def _check_value(name: str, value: Any) -> Choice:
    if isinstance(value, np.generic):  # numpy scalars from samplers and arrays
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise TypeError(f"choice {name!r} must be an int, float or str, not {type(value).__name__}")
    return value


class Arch(Mapping[str, Choice]):
    """A frozen mapping of choice names to values, tagged with its space's name and version."""

    __slots__ = ("_choices", "_key", "space", "version")

    def __init__(self, space: str, version: int, choices: Mapping[str, Choice]):
        self.space = str(space)
        self.version = int(version)
        self._choices = {str(k): _check_value(k, v) for k, v in sorted(choices.items())}
        self._key = hashlib.sha256(self._canonical_json().encode()).hexdigest()[:16]

    def _canonical_json(self) -> str:
        payload = {"space": self.space, "version": self.version, "choices": self._choices}
        return json.dumps(payload, sort_keys=True, separators=(",", ":"))

    @property
    def key(self) -> str:
        """Stable 16-hex-digit content hash: equal choices give equal keys in every process."""
        return self._key

    @property
    def choices(self) -> dict[str, Choice]:
        return dict(self._choices)

    def to_json(self) -> str:
        return self._canonical_json()

    def to_dict(self) -> dict[str, Any]:
        return {"space": self.space, "version": self.version, "choices": self.choices}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Arch:
        missing = {"space", "version", "choices"} - set(data)
        if missing:
            raise ValueError(f"arch record is missing {sorted(missing)}")
        return cls(data["space"], data["version"], data["choices"])

    @classmethod
    def from_json(cls, text: str) -> Arch:
        return cls.from_dict(json.loads(text))

    def replace(self, **changes: Choice) -> Arch:
        return Arch(self.space, self.version, {**self._choices, **changes})

    def __getitem__(self, name: str) -> Choice:
        return self._choices[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._choices)

    def __len__(self) -> int:
        return len(self._choices)

    def __hash__(self) -> int:
        return hash(self._key)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Arch):
            return self._key == other._key
        return NotImplemented

    def __repr__(self) -> str:
        return f"Arch({self.space!r}, key={self._key})"

    def __reduce__(self):
        return (Arch, (self.space, self.version, self._choices))

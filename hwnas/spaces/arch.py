"""`Arch`: the immutable, hashable, JSON-able record of one architecture's choices.

An `Arch` is what every other part of hwnas passes around: searchers propose them, evaluators
score them, storage keeps them as Optuna trial params. Its `key` is a content hash (not
Python's randomised `hash`), so the same network has the same key in every process and run.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

from hwnas.spaces.errors import whole_number

Choice = int | float | str


def _check_value(name: str, value: Any) -> Choice:
    if isinstance(value, np.generic):  # numpy scalars from samplers and arrays
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise TypeError(f"choice {name!r} must be an int, float or str, not {type(value).__name__}")
    if isinstance(value, float) and not math.isfinite(value):  # its JSON would be none
        raise ValueError(f"choice {name!r} must be a finite number, not {value!r}")
    return value


class Arch(Mapping[str, Choice]):
    """A frozen mapping of choice names to values, tagged with its space's name and version.

    Its attributes cannot be set after construction: the key is computed once, so a changed
    space, version or choice would leave equality and hashing describing another network."""

    __slots__ = ("_choices", "_key", "space", "version")

    def __init__(self, space: str, version: int, choices: Mapping[str, Choice]):
        if not isinstance(space, str):  # str() made 123 the space "123", unsaid
            raise TypeError(f"space must be a space's name (text), not {space!r}")
        if not whole_number(version):  # int("3") took text, int(2.7) cut a fraction unsaid
            raise TypeError(f"version must be an integer, not {version!r}")
        init = object.__setattr__
        init(self, "space", str(space))
        init(self, "version", int(version))
        init(self, "_choices", {str(k): _check_value(k, v) for k, v in sorted(choices.items())})
        init(self, "_key", hashlib.sha256(self._canonical_json().encode()).hexdigest()[:16])

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"Arch is immutable: cannot set {name!r}; use arch.replace(...)")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"Arch is immutable: cannot delete {name!r}")

    def _canonical_json(self) -> str:
        payload = {"space": self.space, "version": self.version, "choices": self._choices}
        return json.dumps(payload, sort_keys=True, separators=(",", ":"))

    @property
    def key(self) -> str:
        """Stable 16-hex-digit content hash: equal choices give equal keys in every process."""
        return self._key

    @property
    def choices(self) -> dict[str, Choice]:
        """A copy of the choices, name -> value (the arch itself stays immutable)."""
        return dict(self._choices)

    def to_json(self) -> str:
        """The canonical JSON record (space, version, choices) that `from_json` reads."""
        return self._canonical_json()

    def to_dict(self) -> dict[str, Any]:
        """A plain record (space, version, choices) that `from_dict` reads back."""
        return {"space": self.space, "version": self.version, "choices": self.choices}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Arch:
        """The `Arch` of a `to_dict()` record; a `ValueError` naming the field if it is bad."""
        if not isinstance(data, Mapping):
            raise ValueError(f"arch record must be a mapping, not {type(data).__name__}")
        missing = {"space", "version", "choices"} - set(data)
        if missing:
            raise ValueError(f"arch record is missing {sorted(missing)}")
        space, version, choices = data["space"], data["version"], data["choices"]
        if not isinstance(space, str):
            raise ValueError(f"arch record: space must be a name, not {space!r}")
        if not isinstance(choices, Mapping):
            raise ValueError(f"arch record: choices must be a mapping, not {choices!r}")
        named = [name for name in choices if not isinstance(name, str)]
        if named:
            raise ValueError(f"arch record: choice names must be text, not {named[0]!r}")
        try:
            return cls(space, version, choices)
        except (TypeError, ValueError) as e:  # a version, or a choice value, Arch refuses
            raise ValueError(f"arch record: {e}") from None

    @classmethod
    def from_json(cls, text: str) -> Arch:
        """The `Arch` of a `to_json` record; a `ValueError` if it is none (JSON nested past
        Python's recursion limit too: a profile's cell or a stored record may be anything)."""
        try:
            record = json.loads(text)
        except RecursionError:
            raise ValueError("arch record: nested too deeply to be one") from None
        return cls.from_dict(record)

    def replace(self, **changes: Choice) -> Arch:
        """This arch with some choices changed (not checked against its space:
        `space.validate` does that)."""
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

"""`Metrics`: what an evaluation returns, a flat mapping of floats plus a status."""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

OK, FAILED = "ok", "failed"


def same_value(a: float, b: float) -> bool:
    """Equal, counting two NaNs as the same value (a metric that is NaN in both)."""
    return a == b or (math.isnan(a) and math.isnan(b))


def _number(name: str, value: Any) -> float:
    if isinstance(value, str | bytes):  # float("90") would pass a result read as text
        raise TypeError(f"metric {name!r}: {value!r} is text, not a number")
    if isinstance(value, bool | np.bool_):  # float(True) would pass a check's answer as 1.0
        raise TypeError(f"metric {name!r}: {value!r} is a truth value, not a number")
    if _complex(value):
        raise TypeError(f"metric {name!r}: {value!r} is complex, not a real number")
    try:
        return float(value)
    except (TypeError, ValueError) as e:
        raise type(e)(f"metric {name!r}: {value!r} is not a number") from None
    except (OverflowError, RuntimeError) as e:  # an int past 1e308; a torch tensor of several
        raise type(e)(f"metric {name!r}: {e}") from None  # (their repr: too long to show)


def _complex(value: Any) -> bool:
    """Whether `value` is a complex number: Python's, numpy's or a torch tensor's, whose
    `float()` kept the real part (numpy's, a one-value tensor's) or called the value an
    overflow (a torch scalar's with an imaginary part)."""
    is_complex = getattr(value, "is_complex", None)  # torch tensors, without importing torch
    return isinstance(value, complex | np.complexfloating) or (
        callable(is_complex) and is_complex()
    )


class Metrics(Mapping[str, float]):
    """Flat float metrics (`accuracy`, `latency_ms`, `params`, ...) with `status` and `reason`.

    A failed evaluation is still a `Metrics` (status `failed`, the reason in words, and any
    values known before the failure, such as the analytic costs), so a searcher can be told
    about it and a run never stops because one candidate broke.
    """

    __slots__ = ("_reason", "_status", "_values")

    def __init__(
        self, values: Mapping[str, Any] | None = None, *, status: str = OK, reason: str = ""
    ):
        if status not in (OK, FAILED):
            raise ValueError(f"status must be {OK!r} or {FAILED!r}, not {status!r}")
        if values is not None and not isinstance(values, Mapping):  # a score told alone
            raise TypeError(
                f"Metrics takes a mapping {{metric: number}}, not a {type(values).__name__} "
                f"({values!r})"
            )
        if not isinstance(reason, str):  # it is stored and written out as text (JSON)
            raise TypeError(
                f"reason must be text, not a {type(reason).__name__} (str(error) for an "
                "exception's message)"
            )
        self._values = {str(k): _number(str(k), v) for k, v in (values or {}).items()}
        self._status, self._reason = status, reason

    @property
    def status(self) -> str:
        """`ok` or `failed`. Read-only, as the values are: a searcher keeps the `Metrics` it
        is told, and `m.status = "bogus"` after `tell` left that trial neither ok nor failed
        (its best became None), unchecked by the constructor."""
        return self._status

    @property
    def reason(self) -> str:
        """Why the evaluation failed, in words ('' when it succeeded); read-only, as `status`."""
        return self._reason

    @classmethod
    def failed(cls, reason: str, values: Mapping[str, Any] | None = None) -> Metrics:
        """A failed evaluation with its `reason`, keeping any `values` measured before it."""
        return cls(values, status=FAILED, reason=reason)

    @property
    def ok(self) -> bool:
        """Whether the evaluation succeeded."""
        return self.status == OK

    def merged(self, other: Mapping[str, Any]) -> Metrics:
        """These metrics with `other`'s values added (a failure in either wins)."""
        status, reason = self.status, self.reason
        if isinstance(other, Metrics) and not other.ok and self.ok:
            status, reason = other.status, other.reason
        return Metrics({**self._values, **dict(other)}, status=status, reason=reason)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready record (values, status, reason) that `from_dict` reads back."""
        return {"values": dict(self._values), "status": self.status, "reason": self.reason}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Metrics:
        """The `Metrics` of a `to_dict` record (missing parts take their defaults)."""
        return cls(
            data.get("values", {}), status=data.get("status", OK), reason=data.get("reason", "")
        )

    def __getitem__(self, key: str) -> float:
        return self._values[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Metrics):
            return NotImplemented
        same = self._values.keys() == other._values.keys() and all(
            same_value(v, other._values[k]) for k, v in self._values.items()
        )
        return same and (self.status, self.reason) == (other.status, other.reason)

    def __repr__(self) -> str:
        tail = f", reason={self.reason!r}" if self.reason else ""
        return f"Metrics({self._values}, status={self.status!r}{tail})"

    def __reduce__(self):
        return (Metrics, (self._values,), {"status": self.status, "reason": self.reason})

    def __setstate__(self, state):
        self._status, self._reason = state["status"], state["reason"]

"""Warnings about what a caller asked of hwnas, shown at the caller's line, and their one
category, `HwnasWarning`."""

import sys
import warnings
from types import FrameType

#: modules whose frames only pass hwnas's calls on to hwnas (a `cached_property`'s getter, a
#: context manager's generator): never the line that called hwnas
_PASSING_ON = frozenset({"functools", "contextlib"})


class HwnasWarning(UserWarning):
    """The category of every warning hwnas itself issues, so a program or notebook can filter
    hwnas's warnings alone (`warnings.filterwarnings("ignore", category=HwnasWarning)`),
    leaving torch's, Optuna's and Ray's as they are. A `UserWarning`, so filters on that
    keep matching hwnas's warnings."""


def warn_at_caller(message: str) -> None:
    """Warn (an `HwnasWarning`) at the first line outside hwnas's library that led here: the
    line of a program or notebook that called hwnas's public API, whichever of hwnas's own
    functions the call went through (a factory such as `get_evaluator`, a run's loop), so
    Python shows that line and `warnings.filterwarnings(module=...)` matches the caller's
    module. No fixed `stacklevel` can: the same constructor is called directly and through
    a factory. The command line (`hwnas.cli`) is such a caller: its warnings stay hwnas's
    (`hwnas: warning: ...`). Python 3.12's `skip_file_prefixes` does much the same, but
    hwnas runs on 3.11 too."""
    frame, level = sys._getframe(1), 2  # the caller of this function, at stacklevel 2
    while frame.f_back is not None and _passes_on(frame):
        frame, level = frame.f_back, level + 1
    warnings.warn(message, HwnasWarning, stacklevel=level)


def _passes_on(frame: FrameType) -> bool:
    """Whether `frame` runs hwnas's library or only passes a call on (`_PASSING_ON`): by
    module name, as Python's warnings name the module, so code hwnas generates (a
    dataclass's `__init__`) counts as hwnas's."""
    module = str(frame.f_globals.get("__name__", ""))
    package = module.split(".")[:2]
    return (package[0] == "hwnas" and package[1:] != ["cli"]) or module in _PASSING_ON

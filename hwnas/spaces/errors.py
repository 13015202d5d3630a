"""The one error type of `hwnas.spaces` (a bad space file, a bad choice or an invalid Arch),
the hint every unknown-name error of hwnas gives, and what its count settings take for a
whole number."""

import difflib
import inspect
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from numbers import Integral, Real


class SpaceError(ValueError):
    """Raised for an invalid search-space spec or architecture; the message names the field
    (and the file, when the spec came from one). `field` is the spec field's path where the
    error is about one (`stages[1].width`)."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


def whole_number(value: object) -> bool:
    """Whether `value` is a whole number, numpy's included, and not a truth value: Python
    takes True for 1, but `threads=True` or `steps: yes` is no count. A plain int is
    answered first: the check against the ABC `Integral` is slow, and every `Arch` made
    checks its version."""
    return type(value) is int or (isinstance(value, Integral) and not isinstance(value, bool))


def real_number(value: object) -> bool:
    """Whether `value` is a real number, numpy's included, and not a truth value (nor text
    such as "10"): `epochs=True` is no number of epochs."""
    return isinstance(value, Real) and not isinstance(value, bool)


def finite_number(value: object) -> bool:
    """Whether `value` is a real number (as `real_number`) that a float holds, finite: an int
    past 1e308 is none (`math.isfinite` raised a bare OverflowError, naming no setting)."""
    try:
        return real_number(value) and math.isfinite(value)  # type: ignore[arg-type]
    except OverflowError:
        return False


def did_you_mean(word: str, choices: Sequence[str] | Mapping[str, str]) -> str:
    """` (did you mean 'x'?)` for the choice closest to a misspelt `word` (case aside:
    `CONV1D` is `conv1d` in capitals), or nothing. `choices` may map the ways a name is
    written (other tools' names for it) to the name to suggest."""
    pairs = choices.items() if isinstance(choices, Mapping) else ((c, c) for c in choices)
    by_lower = {str(c).lower(): name for c, name in pairs}
    close = difflib.get_close_matches(str(word).lower(), list(by_lower), n=1)
    return f" (did you mean {by_lower[close[0]]!r}?)" if close else ""


def check_setting_names(
    owner: str,
    settings: Iterable[str],
    function: Callable | None = None,
    *,
    passed: Iterable[str] = (),
    known: Iterable[str] = (),
) -> None:
    """Refuse a setting `owner` has no use for, naming the closest known one (a misspelt
    setting would otherwise end in Python's TypeError about a keyword argument). The known
    ones are `known` and the parameters of `function` (a constructor), less those hwnas
    `passed` itself. A function that takes `**settings`, with nothing in `known` for them,
    checks them itself."""
    params = inspect.signature(function).parameters if function else {}
    extra = list(known)
    if any(p.kind is p.VAR_KEYWORD for p in params.values()) and not extra:
        return
    keywords = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    own = [n for n, p in params.items() if p.kind in keywords and n not in {"self", *passed}]
    names = list(dict.fromkeys([*own, *extra]))
    # every unknown one at once: a file with two typos is not sent back twice
    if unknown := [f"{key!r}{did_you_mean(key, names)}" for key in settings if key not in names]:
        listed = f"its settings: {', '.join(names)}" if names else "it takes no settings"
        plural = "s" if len(unknown) > 1 else ""
        raise ValueError(f"{owner} has no setting{plural} {', '.join(unknown)}; {listed}")

"""The one error type of `hwnas.spaces` (a bad space file, a bad choice or an invalid Arch),
and the hint every unknown-name error of hwnas gives."""

import difflib
from collections.abc import Sequence


class SpaceError(ValueError):
    """Raised for an invalid search-space spec or architecture; the message names the field
    (and the file, when the spec came from one). `field` is the spec field's path where the
    error is about one (`stages[1].width`)."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


def did_you_mean(word: str, choices: Sequence[str]) -> str:
    """` (did you mean 'x'?)` for the choice closest to a misspelt `word`, or nothing."""
    close = difflib.get_close_matches(str(word), list(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""

"""Numbers as hwnas writes them for people: the front table, the live line, the figures'
hover texts and `hwnas train`'s report agree on one form, and none of them rounds a value to
a whole number it is not."""

from __future__ import annotations

import math

#: significant digits a metric is shown with, unless more are needed (see `metric_text`)
METRIC_DIGITS = 4


def metric_text(value: float) -> str:
    """A metric: a whole number (a count of parameters or bytes, a whole percentage) with
    thousands separators, any other to `METRIC_DIGITS` significant digits, or to as many more
    as it takes not to read as a whole number (an accuracy of 99.9996 % is not shown as 100,
    185 306.5 parameters not as 1.853e+05)."""
    value = float(value)
    if not math.isfinite(value):
        return str(value)
    if value == int(value):
        return f"{int(value):,}"
    for digits in range(METRIC_DIGITS, 18):
        text = f"{value:.{digits}g}"
        if float(text) != int(float(text)):
            return text
    return repr(value)


def seconds_text(seconds: float) -> str:
    """A duration: whole seconds from 10 s on, two significant digits below (a training of
    0.4 s is not 'in 0 s')."""
    return f"{seconds:.0f} s" if seconds >= 10 else f"{seconds:.2g} s"

"""Numbers as hwnas writes them for people: the front table, the live line, the figures'
hover texts, `hwnas latency eval`'s scores and `hwnas train`'s time agree on one form, and
none of them rounds a value to a whole number it is not."""

from __future__ import annotations

import math
from collections.abc import Sequence

#: significant digits a metric is shown with, unless more are needed (see `metric_text`)
METRIC_DIGITS = 4

#: from here on a float holds whole numbers only, and not every one: its last digits are noise
EXACT_WHOLE = 2.0**53


def metric_text(value: float) -> str:
    """A metric: a whole number (a count of parameters or bytes, a whole percentage) with
    thousands separators, any other to `METRIC_DIGITS` significant digits, or to as many more
    as it takes not to read as a whole number (an accuracy of 99.9996 % is not shown as 100,
    185 306.5 parameters not as 1.853e+05). Beyond `EXACT_WHOLE`, `METRIC_DIGITS` digits and
    an exponent (1e300 was written as 301 digits, most of them the float's rounding error)."""
    value = float(value)
    if not math.isfinite(value) or abs(value) >= EXACT_WHOLE:
        return f"{value:.{METRIC_DIGITS}g}"
    if value == int(value):
        return f"{int(value):,}"
    for digits in range(METRIC_DIGITS, 17):
        text = f"{value:.{digits}g}"
        if float(text) != int(float(text)):
            return text
    return f"{value:.17g}"  # 17 digits tell every float apart


#: the units of hwnas's metrics whose names say none (`latency_ms` and `size_bytes` do): its
#: evaluators (training, the tables) report accuracy in percent
UNITS = {"accuracy": "%", "test_accuracy": "%"}


def bound_text(value: float) -> str:
    """A constraint's bound as the experiment file gives it: a whole number with thousands
    separators, as `metric_text` shows the metric, any other with every digit it holds (the
    shortest text that reads back as the same float). Rounded, it read as another bound than
    the one the trials were judged by: `params <= 1.23457e+06` for a bound of 1234567 made a
    network of 1234568 parameters look feasible."""
    value = float(value)
    if math.isfinite(value) and value == int(value) and abs(value) < EXACT_WHOLE:
        return f"{int(value):,}"
    return repr(value)


def origin_text(value: float) -> str:
    """A searcher's note of where a proposal came from (an `origin_*` value, such as the
    latency target of the search that derived it): blank where it noted none (NaN)."""
    return metric_text(value) if math.isfinite(value) else ""


def counted(count: int, noun: str) -> str:
    """`count` with `noun`, plural (an s added) unless it is one: "1 evaluation", not
    "1 evaluations"."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


def some_of(names: Sequence[str], most: int = 3) -> str:
    """The first `most` of `names`, with how many more there are: an error naming what a
    folder or a shared database holds stays one readable line however much it holds."""
    more = f" and {len(names) - most} more" if len(names) > most else ""
    return ", ".join(names[:most]) + more


def seconds_text(seconds: float) -> str:
    """A duration: whole seconds from 10 s on, two significant digits below (a training of
    0.4 s is not 'in 0 s')."""
    return f"{seconds:.0f} s" if seconds >= 10 else f"{seconds:.2g} s"


def hypervolume_text(
    objectives: Sequence[tuple[str, str]], volume: float, reference: Sequence[float]
) -> str:
    """A hypervolume with the objectives and the reference point it was taken against
    (`hwnas status`, `hwnas pareto` and its report): a number without them cannot be compared
    with another run's, nor a view's with the run's own."""
    named = ", ".join(f"{m} {d}" for m, d in objectives)
    point = ", ".join(f"{v:.6g}" for v in reference)
    return (
        f"hypervolume ({named}): {volume:.6g} (reference point, as losses: {point}; taken "
        "from the feasible evaluations, it moves as they come in)"
    )

"""The live display of a running search: done / failed / in flight, best so far, Pareto front
size, elapsed and estimated time left (rich)."""

from __future__ import annotations

import importlib.util
import math
import shutil
import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from hwnas.evaluators.metrics import Metrics
from hwnas.experiments.shown import metric_text
from hwnas.predictors.rich_parts import (
    BarColumn,
    Column,
    Console,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Table,
    Task,
    TextColumn,
    TimeElapsedColumn,
    cell_len,
)
from hwnas.predictors.stop_signals import reader_gone
from hwnas.search.pareto import add_to_front

#: the line's width when stderr is not a terminal (a log file, a pipe): rich would cut it at 80
LOG_WIDTH = 200
#: the ETA's rate is that of this driver's latest results, this many: evaluations that get
#: slower as a run goes on (a surrogate refitted on more results, larger candidates late in a
#: search) made the rate since the start promise too early an end
RATE_WINDOW = 20
#: the fewest columns the bar or the info text is drawn in (narrower, it is left out)
MIN_PART = 4


def _whole(width: int) -> Column:
    """A column a narrow terminal leaves whole: the bar and the info text give way first (at
    80 columns the count and the elapsed time were cut to '120/…' and '0:00:…')."""
    return Column(no_wrap=True, min_width=width)


def _stderr_console() -> Console:
    """The console the display writes to: stderr. In a Jupyter kernel without ipywidgets,
    which rich's live display there needs, stderr as a plain stream: rich's own showed a
    warning to install ipywidgets and an empty output, not even the run's last line."""
    console = Console(stderr=True)
    if console.is_jupyter and importlib.util.find_spec("ipywidgets") is None:
        console = Console(stderr=True, force_jupyter=False)
    if not console.is_terminal:
        console.width = LOG_WIDTH
    elif console.width < 1:  # COLUMNS=0, passed over as `hwnas pareto` does: rich drew nothing
        console.width = shutil.get_terminal_size().columns
    return console


class _FittedProgress(Progress):
    """rich's Progress, its line laid out to the console's width: the count whole, then the
    elapsed time and the 'search' label as they fit, the info text in the room left (cut at
    its end; its width in the terminal's cells, two for a CJK character) and the bar in the
    rest. rich shrank every column alike where the line was too wide, and at 50 columns and
    under cut the count of a total under 10 to nothing."""

    def __init__(self, *columns: ProgressColumn, console: Console, **settings: Any) -> None:
        self._line_console = console  # Progress's own is set after its first render
        super().__init__(*columns, console=console, **settings)

    def make_tasks_table(self, tasks: Iterable[Task]) -> Table:
        tasks = [task for task in tasks if task.visible]
        label, bar, count, elapsed, info = self.columns
        kept = {count: count.get_table_column().copy()}
        room = self._line_console.width - kept[count].min_width
        for column in (elapsed, label):  # the order they stay in
            if (width := column.get_table_column().min_width + 1) <= room:
                kept[column], room = column.get_table_column().copy(), room - width
        text = max((cell_len(task.fields["info"]) for task in tasks), default=0)
        if room > MIN_PART:
            kept[info] = info.get_table_column().copy()
            kept[info].max_width = room - 1
            room -= min(text, room - 1) + 1
        if room > MIN_PART:
            kept[bar] = Column(width=room - 1)
        shown = [column for column in self.columns if column in kept]
        table = Table.grid(*_spaced([kept[column] for column in shown], _gap), padding=0)
        for task in tasks:
            table.add_row(*_spaced([column(task) for column in shown], str))
        return table


def _gap() -> Column:
    """A column of one space, between two of the line's, in a grid without padding: rich 13.8
    measured a grid's padding of (0, 1) as if the first column had a left one and the last a
    right one, drawing neither, so the line laid out to the width came out too wide and was
    cut (at 10 columns 'search  3/'; at any width the info text's last character)."""
    return Column(width=1, no_wrap=True)


def _spaced(items: list, gap: Callable[[], Any]) -> list:
    """`items` with a new `gap()` between each two."""
    return [item for each in items for item in (gap(), each)][1:]


class SearchProgress:
    """Tracks results as they arrive (every driver's) and renders one live line (a no-op when
    `enabled` is off; when stderr is not a terminal, only the last state, as one whole line).
    Best so far and the front count feasible successful evaluations only; with constraints
    it counts the successes that broke one, so a bound none meets shows from the first
    results, not only in the run's closing note."""

    def __init__(
        self,
        objectives: list[tuple[str, str]],
        constraints: list[tuple[str, float]],
        total: int | None,
        enabled: bool = True,
    ):
        self.objectives, self.constraints, self.total = objectives, constraints, total
        #: when the run's time limit stops it (`time.monotonic()`; None: no limit): the ETA
        #: is no later
        self.deadline: float | None = None
        self.done, self.failed, self.in_flight, self.infeasible = 0, 0, 0, 0
        self._failed_keys: set[str] = set()  # the architectures whose latest result failed
        # the start, then the times of the latest results
        self._latest = deque([time.monotonic()], maxlen=RATE_WINDOW + 1)
        self._front = np.empty((0, len(objectives)))  # the feasible results' front, minimised
        console = _stderr_console()
        count = 2 * len(str(total)) + 1 if total else len("0/?")
        self._progress = _FittedProgress(
            TextColumn("[bold]search", table_column=_whole(len("search"))),
            BarColumn(bar_width=None),
            MofNCompleteColumn(table_column=_whole(count)),
            TimeElapsedColumn(table_column=_whole(len("0:00:00"))),
            TextColumn(
                "{task.fields[info]}", table_column=Column(ratio=3, no_wrap=True, overflow="crop")
            ),
            console=console,
            disable=not enabled,
        )
        self._task = self._progress.add_task("search", total=total, completed=0, info="")

    def __enter__(self) -> SearchProgress:
        if not self._progress.disable:  # rich 13.8 (15 no longer) wrote a blank line on
            self._progress.__enter__()  # stopping a disabled one, stderr being no terminal
        return self

    def __exit__(self, *exc) -> None:
        if self._progress.disable:
            return
        try:
            self._render()
            self._progress.__exit__(*exc)
        except SystemExit as e:  # rich's answer to a reader gone: it silenced stdout only
            if not isinstance(e.__context__, BrokenPipeError):
                raise
            reader_gone()  # the search's own ending (a Ctrl-C, say) goes on, not exit 1

    def add_known(self, metrics: Metrics, key: str = "") -> None:
        """A result (of the architecture with `key`) stored before this driver started (not
        part of the rate the ETA uses)."""
        self._count(metrics, key)

    def result(self, metrics: Metrics, key: str = "") -> None:
        """A result (of the architecture with `key`) stored while this driver runs (by it or
        by another driver)."""
        self._count(metrics, key)
        self._latest.append(time.monotonic())
        self._render()

    def _count(self, metrics: Metrics, key: str) -> None:
        """Count a result; one of an architecture whose latest result failed (a retry,
        `--retry-failed`) replaces that failure, as the run counts it."""
        if key in self._failed_keys:
            self.done, self.failed = self.done - 1, self.failed - 1
        self.done += 1
        self.failed += not metrics.ok
        if key:
            (self._failed_keys.discard if metrics.ok else self._failed_keys.add)(key)
        self._add_point(metrics)

    def set_in_flight(self, n: int) -> None:
        if n != self.in_flight:
            self.in_flight = n
            self._render()

    def _add_point(self, metrics: Metrics) -> None:
        feasible = all(metrics.get(m, math.inf) <= bound for m, bound in self.constraints)
        self.infeasible += metrics.ok and not feasible
        if metrics.ok and feasible and all(m in metrics for m, _ in self.objectives):
            point = [metrics[m] * (-1 if d == "max" else 1) for m, d in self.objectives]
            self._front = add_to_front(self._front, point)

    def summary(self) -> str:
        parts = [f"done {self.done}", f"failed {self.failed}", f"in flight {self.in_flight}"]
        if self.constraints:
            parts.append(f"infeasible {self.infeasible}")
        if len(self._front):
            if len(self.objectives) == 1:
                metric, d = self.objectives[0]
                best = self._front[:, 0].min() * (-1 if d == "max" else 1)
                parts.append(f"best {metric} {metric_text(best)}")
            else:
                parts.append(f"front {len(self._front)}")
        return " | ".join(parts) + self._eta()

    def _eta(self) -> str:
        """Time left at the rate of the latest results (since the first of them, so a stall
        lengthens it), from the start while fewer have come; at most the time to the run's
        time limit, which stops it first (none once that has passed: the run is ending)."""
        results, now = len(self._latest) - 1, time.monotonic()
        if not self.total or results <= 0 or self.done >= self.total:
            return ""
        left = (now - self._latest[0]) / results * (self.total - self.done)
        if self.deadline is not None:
            left = min(left, self.deadline - now)
        return f" | eta {hours_minutes_seconds(left)}" if left > 0 else ""

    def _render(self) -> None:
        self._progress.update(self._task, completed=self.done, info=self.summary())


def hours_minutes_seconds(seconds: float) -> str:
    """`seconds` as H:MM:SS, the hours counting on past a day (83:15:00, not 11:15:00)."""
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes // 60}:{minutes % 60:02d}:{secs:02d}"

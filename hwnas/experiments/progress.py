"""The live display of a running search: done / failed / in flight, best so far, Pareto front
size, elapsed and estimated time left (rich)."""

from __future__ import annotations

import math
import time

import numpy as np
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from hwnas.evaluators.metrics import Metrics
from hwnas.search.pareto import pareto_mask


class SearchProgress:
    """Tracks results as they arrive and renders one live line (a no-op when `enabled` is off).
    Best so far and the front count feasible successful evaluations only."""

    def __init__(
        self,
        objectives: list[tuple[str, str]],
        constraints: list[tuple[str, float]],
        total: int | None,
        done: int,
        failed: int,
        enabled: bool = True,
    ):
        self.objectives, self.constraints, self.total = objectives, constraints, total
        self.done, self.failed, self.in_flight = done, failed, 0
        self.started, self.done_at_start = time.monotonic(), done
        self._points: list[list[float]] = []
        self._progress = Progress(
            TextColumn("[bold]search"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.fields[info]}"),
            console=Console(stderr=True),
            disable=not enabled,
        )
        self._task = self._progress.add_task("search", total=total, completed=done, info="")

    def __enter__(self) -> SearchProgress:
        self._progress.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self._render()
        self._progress.__exit__(*exc)

    def add_known(self, metrics: Metrics) -> None:
        """A result stored before this driver started (for best-so-far and the front)."""
        self._add_point(metrics)

    def result(self, metrics: Metrics) -> None:
        self.done += 1
        self.failed += not metrics.ok
        self._add_point(metrics)
        self._render()

    def set_in_flight(self, n: int) -> None:
        if n != self.in_flight:
            self.in_flight = n
            self._render()

    def _add_point(self, metrics: Metrics) -> None:
        feasible = all(metrics.get(m, math.inf) <= bound for m, bound in self.constraints)
        if metrics.ok and feasible and all(m in metrics for m, _ in self.objectives):
            self._points.append(
                [metrics[m] * (-1 if d == "max" else 1) for m, d in self.objectives]
            )

    def summary(self) -> str:
        parts = [f"done {self.done}", f"failed {self.failed}", f"in flight {self.in_flight}"]
        if self._points:
            points = np.asarray(self._points)
            if len(self.objectives) == 1:
                metric, d = self.objectives[0]
                parts.append(f"best {metric} {points[:, 0].min() * (-1 if d == 'max' else 1):.4g}")
            else:
                parts.append(f"front {int(pareto_mask(points).sum())}")
        return " | ".join(parts) + self._eta()

    def _eta(self) -> str:
        new = self.done - self.done_at_start
        if not self.total or new <= 0 or self.done >= self.total:
            return ""
        left = (time.monotonic() - self.started) / new * (self.total - self.done)
        return f" | eta {time.strftime('%H:%M:%S', time.gmtime(left))}"

    def _render(self) -> None:
        self._progress.update(self._task, completed=self.done, info=self.summary())

"""What the commands that read a run share: the run directory argument, `--objectives` and
the front it views, and what `search`, `status` and `pareto` each say of a run in the same
words. It adds no command."""

from __future__ import annotations

import math

import typer

from hwnas.cli import AS_PATH, say

#: the run directory `status`, `pareto` and `export` read
RunArgument = typer.Argument(..., help="run directory", **AS_PATH)

ObjectivesOption = typer.Option(
    None,
    "--objectives",
    help="objectives as metric:min|max, comma separated or repeated; a bare metric that is "
    "one of the run's objectives keeps the run's direction (default: the run's objectives)",
)


def targets_text(targets: list[float]) -> str:
    """Latency targets in words: `latency targets 0.3 ms, 0.4 ms`."""
    return f"latency target{'s' * (len(targets) > 1)} {', '.join(f'{t:g} ms' for t in targets)}"


def objectives_asked(results, specs: list[str] | None) -> list[tuple[str, str]]:
    """The objectives `--objectives` asks a view for (`metric:min|max`, or a bare objective of
    the run), else the run's own; an option given but empty is an error, not the default."""
    from hwnas.experiments import ExperimentError

    if not specs:
        return results.objectives
    flat = [s.strip() for spec in specs for s in spec.split(",") if s.strip()]
    if not flat:  # an empty value (an unset shell variable, say) is a mistake, not the default
        raise ExperimentError(f"--objectives: give metric:min|max, not {','.join(specs)!r}")
    return results.objectives_of(flat)


def note_lacking(results, objs: list[tuple[str, str]]) -> None:
    """Say how many feasible evaluations a view leaves out for lacking one of its metrics
    (the run's own objectives are in every successful evaluation)."""
    from hwnas.experiments.shown import counted

    everything, view = results.candidates(), results.candidates(objs)
    if left := len(everything) - len(view):
        lacking = [m for m, _ in objs if not everything[m].map(math.isfinite).all()]
        say(
            f"hwnas: note: {left} of {counted(len(everything), 'feasible evaluation')} "
            f"{'has' if left == 1 else 'have'} no finite {' or '.join(lacking)} value: left "
            "out of this front"
        )


def none_feasible(total: int, broke: int) -> str:
    """That a run has no feasible success, and of how many evaluations (`total`), with those
    that succeeded but broke a constraint (`broke`): why its front is empty (a run whose
    every success did showed only `ok N` in `status`, and nothing in `pareto`). No "yet":
    it was said of finished runs too, which more time does not change."""
    why = f"; {broke} succeeded but broke a constraint" if broke else ""
    return f"no feasible successful evaluation (of {total}{why})"


def broke_constraints(df) -> int:
    """How many of the evaluations `df` succeeded but broke a constraint."""
    return int((df["status"].eq("ok") & ~df["feasible"].astype(bool)).sum())


def say_hypervolume(objs: list[tuple[str, str]], hv: float, reference: list[float]) -> None:
    """The hypervolume with the objectives and the reference point (`hypervolume_text`)."""
    from hwnas.experiments.shown import hypervolume_text

    typer.echo(hypervolume_text(objs, hv, reference))


def json_number(value: float) -> int | float | None:
    """A metric as JSON: counts (params, bytes) as integers, a missing value as null (NaN is
    no JSON)."""
    value = float(value)
    if not math.isfinite(value):
        return None
    return int(value) if value == int(value) else value

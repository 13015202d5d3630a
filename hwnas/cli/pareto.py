"""`hwnas pareto`: the Pareto front of a run as a table (or JSON), its hypervolume, and an
HTML report. A command on the root app."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import typer

from hwnas.cli import AS_PATH, examples, say
from hwnas.cli.runs import (
    ObjectivesOption,
    RunArgument,
    broke_constraints,
    json_number,
    none_feasible,
    note_lacking,
    objectives_asked,
    say_hypervolume,
)
from hwnas.predictors.printable import one_line

app = typer.Typer()


@app.command(
    epilog=examples(
        "hwnas pareto runs/demo",
        "hwnas pareto runs/demo --objectives accuracy,params:min",
        "hwnas pareto runs/demo --html runs/demo/front.html",
        "hwnas pareto runs/demo --json",
    )
)
def pareto(
    run: Path = RunArgument,
    objectives: list[str] = ObjectivesOption,
    html: Path = typer.Option(
        None,
        "--html",
        help="write an interactive plotly report to this .html file (folder made)",
        **AS_PATH,
    ),
    as_json: bool = typer.Option(False, "--json", help="print the front as JSON"),
) -> None:
    """The Pareto front of a run as a table (or JSON), its hypervolume, and an HTML report."""
    from hwnas.experiments import load

    results = load(run)
    objs = objectives_asked(results, objectives)
    note_lacking(results, objs)
    if results.candidates(objs).empty:  # nothing to rank: none evaluated, failed, infeasible
        if html is not None and _plottable(results, objs):  # infeasible points, greyed
            _write_report(results, objs, html)
        if as_json:
            empty = {"objectives": objs, "hypervolume": None, "reference": None, "front": []}
            typer.echo(json.dumps(empty, indent=2))
        else:
            df = results.trials
            typer.echo(one_line(f"{run}: {none_feasible(len(df), broke_constraints(df))}"))
        if html is not None and _plottable(results, objs):
            typer.echo(one_line(f"wrote {html} (infeasible points only: no front)"), err=as_json)
        elif html is not None:
            say(f"hwnas: note: nothing to plot, {html} not written")
        return
    front = results.pareto(objs)
    metrics = results.shown_metrics(objs)
    hv = results.hypervolume(objs) if len(objs) > 1 and not front.empty else None
    if html is not None:  # first: when the report cannot be written, no front is printed
        _write_report(results, objs, html)
    if as_json:
        rows = [
            {
                "trial": int(r["number"]),
                "key": r["key"],
                "arch": results.describe(results.arch(int(r["number"]))),
                **{m: json_number(r[m]) for m in metrics},
                **({"origin": origin} if (origin := results.origin(r)) else {}),
            }
            for _, r in front.iterrows()
        ]
        reference = None if hv is None else [json_number(v) for v in results.reference_point(objs)]
        summary = {"objectives": objs, "hypervolume": None if hv is None else json_number(hv)}
        typer.echo(json.dumps({**summary, "reference": reference, "front": rows}, indent=2))
    else:
        _print_front(results, front, metrics, objs, hv)
    if html is not None:
        typer.echo(one_line(f"wrote {html}"), err=as_json)  # with --json, stdout is the JSON alone


def _plottable(results, objs: list[tuple[str, str]]) -> bool:
    """`plots.plottable`, imported only for a report: plotly took a tenth of a second or
    more of every `hwnas pareto` that draws nothing."""
    from hwnas.experiments.plots import plottable

    return plottable(results, objs)


def _write_report(results, objs, html: Path) -> None:
    """The HTML report of `pareto --html` (its folder made, as `export -o` makes its own);
    a failure is an error naming the option and the path."""
    from hwnas.experiments import ExperimentError
    from hwnas.experiments.plots import write_report

    try:
        write_report(results, objs, html, label=f"--html {html}")
    except OSError as e:
        raise ExperimentError(
            f"--html {html}: cannot write the report: {e.strerror or e}"
        ) from None


#: the front table is drawn at least this wide: at 20 columns rich gave most columns no room,
#: and the trial numbers and metrics vanished (a narrow terminal wraps the lines instead)
MIN_TABLE_WIDTH = 80
#: the least room the front table's architecture column takes (or its longest text, where
#: shorter): narrower (80 columns, a few metrics), rich folded each architecture into five or
#: more short lines, cut inside its words (a NAS-Bench-201 cell string is one word), so the
#: architectures are listed under the table instead, one a line
MIN_ARCHITECTURE_WIDTH = 40


def _print_front(results, front, metrics, objs, hv) -> None:
    from hwnas.experiments.shown import counted, metric_text, origin_text
    from hwnas.predictors.rich_parts import Console

    title = f"Pareto front of {results.run_dir}: {len(front)} of "
    title += counted(len(results.trials), "evaluation")
    origin = results.shown_origins(front)
    headers, rows, archs = ["trial", *metrics, *origin], [], []
    for _, r in front.iterrows():
        values = [metric_text(r[m]) for m in metrics]
        values += [origin_text(r[c]) for c in origin]
        rows.append([str(int(r["number"])), *values])
        archs.append(results.describe(results.arch(int(r["number"]))))
    # COLUMNS, else the terminal's width; 160 when piped, where rich would assume 80. A
    # COLUMNS of 0 or no number is passed over: rich printed no table at all for 0
    width = shutil.get_terminal_size((160, 24)).columns
    console = Console(width=max(width, MIN_TABLE_WIDTH))
    apart = not _architectures_fit(console, _front_table(headers, rows), archs)
    if apart:  # the title as a line of its own: over the narrower table, rich wrapped it
        table = _front_table(headers, rows)
        typer.echo(title)
    else:
        table = _front_table([*headers, "architecture"], [[*r, a] for r, a in zip(rows, archs)])
        table.title = title
    with console.capture() as table_text:
        console.print(table)
    # through click, as every other line: rich wrote to an ASCII stdout (PYTHONIOENCODING)
    # as it is, and a run folder named `résultats` in the title stopped it with an error
    typer.echo(table_text.get(), nl=False)
    for row, arch in zip(rows, archs) if apart else ():
        typer.echo(f"trial {row[0]}: {arch}")
    if hv is not None:
        say_hypervolume(objs, hv, results.reference_point(objs))
    _say_metric_notes(results, metrics)


def _front_table(headers: list[str], rows: list[list[str]]):
    """The front table of these columns and rows (rich's)."""
    from hwnas.predictors.rich_parts import Table

    table = Table()
    for header in headers:
        table.add_column(header, overflow="fold")
    for row in rows:
        table.add_row(*row)
    return table


def _architectures_fit(console, others, archs: list[str]) -> bool:
    """Whether the architectures `archs` keep room enough in a column beside the table
    `others` (the front's other columns) on `console`: `MIN_ARCHITECTURE_WIDTH`, or their
    longest text where shorter, and never less than their longest word (rich folds a word
    that does not fit, mid-word)."""
    room = console.width - console.measure(others).maximum - 3  # a border, a space each side
    words = [len(word) for arch in archs for word in arch.split()]
    longest = max((len(arch) for arch in archs), default=0)
    return room >= max(min(MIN_ARCHITECTURE_WIDTH, longest), *words, 0)


def _say_metric_notes(results, metrics) -> None:
    """Which split accuracy is, where latency_ms came from and the load it was measured at."""
    from hwnas.experiments.components import metric_notes

    for note in metric_notes(results.config, results.trials, metrics):
        typer.echo(note)

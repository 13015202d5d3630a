"""Plotly figures of a run: Pareto fronts (2D, 3D), hypervolume and best-so-far over
evaluations and time, which choices win along the front, and parallel coordinates."""

from __future__ import annotations

import math
import numbers
from collections import Counter
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from hwnas.experiments.components import metric_notes
from hwnas.experiments.config import ExperimentError
from hwnas.experiments.files import folder_for, write_whole
from hwnas.experiments.results import COSTS
from hwnas.experiments.shown import (
    UNITS,
    bound_text,
    counted,
    hypervolume_text,
    metric_text,
    origin_text,
)

if TYPE_CHECKING:
    from hwnas.experiments.results import Objectives, RunResults

#: block choice kinds whose frequencies along the front are shown (NB201 edges show "op")
CHOICE_KINDS = ("mixer", "kernel", "dilation", "precision", "expansion", "op")
#: plotly's default figure height, and the least height of each row of a progress figure
#: (four objectives and the hypervolume shared plotly's 450 px, 70 px a row once titled)
PLOTLY_HEIGHT_PX, PROGRESS_ROW_PX = 450, 150
#: what the figures that show feasible evaluations alone, and the report, say without any
#: (no "yet": a finished run's report says it too)
NONE_FEASIBLE = "No feasible successful evaluation"
#: an axis is logarithmic where its largest value is more than this many times its smallest
#: (two decades) and none is <= 0 (see `axis_type`)
LOG_SPAN = 100.0


def _text(name: Any) -> str:
    """A name (metric, choice, key, architecture) as plotly text: plotly reads hover texts,
    titles and labels as HTML, so a metric named `acc<b>x` showed a bold `x`; `<`, `>` and
    `&` are escaped (quotes not: plotly shows `&quot;` as written)."""
    return escape(str(name), quote=False)


def _metric_text(metric: str, direction: str = "", prefix: str = "") -> str:
    """A metric's axis, row or dimension title: its name as the experiment file gives it
    (after `prefix`, as `best_`) with, where the name says none, its unit (`UNITS`) and, for
    an objective, the direction it is optimised in: `accuracy (%, max)`, `latency_ms (min)`,
    `params`. The bare name left which way is better to the figure's title (the progress and
    parallel figures said it nowhere), and `accuracy` named no unit."""
    said = ", ".join(word for word in (UNITS.get(metric, ""), direction) if word)
    return _text(prefix + metric) + (f" ({said})" if said else "")


def axis_type(values: Any) -> str:
    """How an axis showing `values` (a metric's) is scaled: "log" where they are all positive
    and the largest is more than `LOG_SPAN` (two decades) times the smallest, "linear"
    otherwise (a value <= 0 has no place on a log axis). NaN and infinities, which no figure
    draws, are not counted. On a linear axis, NAS-Bench-201's Pixel 3 latencies (0.005 to
    29 ms) crushed the front's fastest points against it. Every figure scales each axis
    that shows a metric by this rule, applied to the same values (`_metric_scale`)."""
    shown = np.asarray(values, dtype=float)
    shown = shown[np.isfinite(shown)]
    spans = shown.size > 0 and shown.min() > 0 and shown.max() > LOG_SPAN * shown.min()
    return "log" if spans else "linear"


def _metric_scale(results: RunResults, metric: str) -> str:
    """`axis_type` of `metric`'s values over every successful evaluation (those the Pareto
    figures draw, infeasible ones greyed; none where no success has it), the scale of each
    axis, row and dimension that shows it: each figure decided from the values it drew, and
    the parallel coordinates (feasible evaluations alone) drew linear a metric whose
    infeasible values made it logarithmic in the Pareto figures. Within a log axis's span
    every value is positive, so a figure drawing fewer of them loses none to its scale."""
    return axis_type(_succeeded(results).get(metric, ()))


def _not_shown(df: pd.DataFrame, metrics: list[str]) -> str:
    """A title's second line saying how many rows of `df` (evaluations a figure draws) lack a
    finite value of one of `metrics`, its axes ("" where none does): plotly leaves such a
    point out unsaid, so a view of a metric that some evaluations lack (a table's missing
    entry, a second evaluator's) showed fewer points than the run counted."""
    finite = np.isfinite(df[metrics].to_numpy(dtype=float))
    if not (missing := int((~finite.all(axis=1)).sum())):
        return ""
    lacking = " or ".join(_text(m) for m, given in zip(metrics, finite.all(axis=0)) if not given)
    return f"<br><sup>{counted(missing, 'evaluation')} without a finite {lacking} not shown</sup>"


def _hover(results: RunResults, df: pd.DataFrame, objectives: Objectives) -> list[str]:
    """Per point: trial, key, architecture, `RunResults.shown_metrics` and the bounds it
    breaks. Read column by column: a pandas row per point (`iterrows`) took a second of a
    5000-evaluation report."""
    shown = results.shown_metrics(objectives)
    columns = [df["number"].tolist(), df["key"].tolist(), *(df[m].tolist() for m in shown)]
    texts = []
    for (number, key, *row), broken in zip(zip(*columns), _broken_bounds(results, df)):
        arch = _text(results.describe(results.arch(int(number))))
        values = "<br>".join(f"{_text(m)}: {metric_text(value)}" for m, value in zip(shown, row))
        texts.append(f"#{int(number)} {_text(key)}<br>{arch}<br>{values}{broken}")
    return texts


def _broken_bounds(results: RunResults, df: pd.DataFrame) -> list[str]:
    """Per point, a hover line naming the constraints it breaks ("" where it keeps them): a
    grey point's hover showed its values alone, not that it was infeasible nor why."""
    broken: list[list[str]] = [[] for _ in range(len(df))]
    for metric, bound, kept in results.bounds_kept(df):
        given = df[metric].notna() if metric in df else pd.Series(False, index=df.index)
        for reasons, keeps, known in zip(broken, kept, given):
            if not keeps:  # a metric the evaluation did not give: unknown
                why = f"&gt; {bound_text(bound)}" if known else "unknown"
                reasons.append(f"{_text(metric)} {why}")
    return [f"<br>infeasible: {', '.join(b)}" if b else "" for b in broken]


def _succeeded(results: RunResults) -> pd.DataFrame:
    """The successful evaluations: every point a Pareto figure draws (or leaves out, lacking
    a value)."""
    df = results.trials
    return df[df["status"] == "ok"]


def _ok_points(results: RunResults) -> dict[str, pd.DataFrame]:
    ok = _succeeded(results)
    return {"feasible": ok[ok["feasible"].astype(bool)], "infeasible": ok[~ok["feasible"]]}


def _at_least(results: RunResults, objectives: Objectives, least: int, figure: str) -> Objectives:
    """`objectives` checked by the run (pairs or "metric:max" strings), at least `least`."""
    objectives = results.objectives_of(objectives)
    if len(objectives) < least:
        raise ExperimentError(f"{figure} needs {least} objectives, got {objectives}")
    return objectives


def pareto_2d(results: RunResults, objectives: Objectives) -> go.Figure:
    """Every successful evaluation on the first two objectives, infeasible greyed; the front
    as a line, or with more objectives, its members (the front of them all, which is no
    staircase in two of them) marked. A trace without points is left out, as in `pareto_3d`:
    a run with no infeasible evaluation listed an "infeasible" in the legend beside nothing."""
    objectives = _at_least(results, objectives, 2, "pareto_2d")
    (x, dx), (y, dy) = objectives[:2]
    fig = go.Figure()
    styles = {"feasible": dict(color="#1f77b4"), "infeasible": dict(color="#bbbbbb", symbol="x")}
    for label, df in _ok_points(results).items():
        if df.empty:
            continue
        fig.add_scatter(
            x=df[x],
            y=df[y],
            mode="markers",
            name=label,
            marker=styles[label],
            text=_hover(results, df, objectives),
            hoverinfo="text",
        )
    # the front of every objective, as `pareto` lists it: that of the two axes alone left
    # members of a front of three or four objectives unmarked beside the report's table
    front = results.pareto(objectives).sort_values(x)
    # the staircase bounds the region the front dominates: its steps run along x first when
    # x is minimised (each point covers larger x), along y first when x is maximised
    if not front.empty:
        fig.add_scatter(
            x=front[x],
            y=front[y],
            mode="lines+markers" if len(objectives) == 2 else "markers",
            name="Pareto front",
            line=dict(shape="hv" if dx == "min" else "vh", color="#d62728"),
            marker=dict(size=10, color="#d62728"),
            text=_hover(results, front, objectives),
            hoverinfo="text",
        )
    ok, x_text, y_text = _succeeded(results), _metric_text(x, dx), _metric_text(y, dy)
    title = f"Pareto front: {x_text} vs {y_text}{_of_all(objectives, 2)}{_not_shown(ok, [x, y])}"
    fig.update_layout(title=title, xaxis=_axis(results, x, x_text), yaxis=_axis(results, y, y_text))
    return fig


def pareto_3d(results: RunResults, objectives: Objectives) -> go.Figure:
    """The first three objectives in 3D; the front's members (of every objective, as
    `pareto` lists them) larger and red, infeasible greyed."""
    objectives = _at_least(results, objectives, 3, "pareto_3d")
    x, y, z = (m for m, _ in objectives[:3])
    fig = go.Figure()
    front_keys = set(results.pareto(objectives)["key"])
    for label, df in _ok_points(results).items():
        on_front = df["key"].isin(front_keys)
        for part, name in ((df[~on_front], label), (df[on_front], "Pareto front")):
            if part.empty:
                continue
            color = "#d62728" if name == "Pareto front" else "#1f77b4"
            color = "#bbbbbb" if label == "infeasible" else color
            fig.add_scatter3d(
                x=part[x],
                y=part[y],
                z=part[z],
                mode="markers",
                name=name,
                marker=dict(size=6 if name == "Pareto front" else 3, color=color),
                text=_hover(results, part, objectives),
                hoverinfo="text",
            )
    ok, texts = _succeeded(results), [_metric_text(m, d) for m, d in objectives[:3]]
    axes = {f"{a}axis": _axis(results, m, text) for a, text, m in zip("xyz", texts, (x, y, z))}
    title = f"Pareto front: {', '.join(texts)}{_of_all(objectives, 3)}{_not_shown(ok, [x, y, z])}"
    fig.update_layout(title=title, scene=axes)
    return fig


def _axis(results: RunResults, metric: str, title: str) -> dict[str, str]:
    """A Pareto figure's axis of `metric`: its title, and its scale (`_metric_scale`)."""
    return dict(title=title, type=_metric_scale(results, metric))


def _of_all(objectives: Objectives, axes: int) -> str:
    """What a title adds where the figure's axes show fewer objectives than its front has."""
    return f" (front of all {len(objectives)} objectives)" if len(objectives) > axes else ""


def progress_figure(results: RunResults, objectives: Objectives, over: str) -> go.Figure:
    """Hypervolume and best value so far of each objective, over `over`: "evaluations" or
    "time" (seconds); the hypervolume's row scaled by `axis_type`, each objective's as its
    metric is in every figure (`_metric_scale`)."""
    if over not in ("evaluations", "time"):
        raise ExperimentError(f"over must be 'evaluations' or 'time', not {over!r}")
    objectives = _at_least(results, objectives, 1, "progress_figure")
    progress = results.progress(objectives)
    x = "evaluation" if over == "evaluations" else "finished_s"
    rows = ["hypervolume"] * (len(objectives) > 1) + [f"best_{m}" for m, _ in objectives]
    scales = [axis_type(progress["hypervolume"])] * (len(objectives) > 1)
    scales += [_metric_scale(results, m) for m, _ in objectives]
    titles = ["hypervolume"] * (len(objectives) > 1)
    titles += [_metric_text(m, d, prefix="best_") for m, d in objectives]
    fig = make_subplots(rows=len(rows), cols=1, shared_xaxes=True, subplot_titles=titles)
    for i, (column, title, scale) in enumerate(zip(rows, titles, scales), start=1):
        fig.add_scatter(
            x=progress[x],
            y=progress[column],
            mode="lines" if len(progress) > 1 else "markers",  # one point makes no line
            line_shape="hv",
            name=title,
            row=i,
            col=1,
        )
        fig.update_yaxes(type=scale, row=i, col=1)
    fig.update_xaxes(title_text="evaluations" if x == "evaluation" else "seconds", row=len(rows))
    fig.update_layout(title=f"Search progress over {over}", showlegend=False)
    if len(rows) * PROGRESS_ROW_PX > PLOTLY_HEIGHT_PX:  # plotly's height left rows of 70 px
        fig.update_layout(height=len(rows) * PROGRESS_ROW_PX)
    return _noted_if_empty(fig, results.candidates(objectives).empty)


def choice_frequencies(results: RunResults, objectives: Objectives) -> go.Figure:
    """How often each value of each block choice kind appears along the front (all blocks of
    all front architectures), against the same count over all feasible evaluations (so
    named: failed and infeasible ones are not counted, nor, as the title says, those
    without a finite value of an objective)."""
    objectives = _at_least(results, objectives, 1, "choice_frequencies")
    front, everything = results.pareto(objectives), results.candidates(objectives)
    kinds, unit = [k for k in CHOICE_KINDS if _kind_columns(everything, k)], "blocks"
    if not kinds:  # a space whose choices are not per block: NB201 edges and the like
        kinds, unit = ["op"], "cell edges"
    fig = make_subplots(rows=1, cols=len(kinds), subplot_titles=kinds)
    for i, kind in enumerate(kinds, start=1):
        for label, df, color in (
            ("all feasible", everything, "#bbbbbb"),
            ("front", front, "#d62728"),
        ):
            counts = _count(df, kind)
            total = sum(counts.values()) or 1
            values = sorted(counts, key=_numbers_first)
            fig.add_bar(
                x=[_text(v) for v in values],
                y=[counts[v] / total for v in values],
                name=label,
                marker_color=color,
                showlegend=i == 1,
                row=1,
                col=i,
            )
    title = f"Choices along the Pareto front (share of {unit})"
    fig.update_layout(title=title + _feasible_not_shown(results, objectives), barmode="group")
    return _noted_if_empty(fig, everything.empty)


def _feasible_not_shown(results: RunResults, objectives: Objectives) -> str:
    """`_not_shown` of the feasible successes, which the choices and parallel figures draw
    where they have a finite value of each objective: the choices' shares left out the
    others unsaid."""
    return _not_shown(_ok_points(results)["feasible"], [m for m, _ in objectives])


def _noted_if_empty(fig: go.Figure, empty: bool) -> go.Figure:
    """`fig`, with a note across it where no evaluation is feasible (`empty`): the choices
    and parallel coordinates were drawn empty and the progress a flat zero, with no word
    why."""
    if empty:
        fig.add_annotation(
            text=NONE_FEASIBLE,
            xref="paper",
            yref="paper",
            x=0.5,
            y=0.5,
            showarrow=False,
            font=dict(size=16),
        )
    return fig


def _kind_columns(df: pd.DataFrame, kind: str) -> list[str]:
    return [c for c in df.columns if c.endswith(f".{kind}")]


def _count(df: pd.DataFrame, kind: str) -> Counter:
    """How often each value of `kind` appears. Blocks beyond a stage's depth leave NaN, which
    makes that column's kernels floats: 7.0 counts (and is labelled) as 7, as in a full one."""
    columns = _kind_columns(df, kind) or [c for c in df.columns if "<-" in c]
    return Counter(_as_choice(v) for c in columns for v in df[c].dropna())


def _as_choice(value: Any) -> Any:
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real) and float(value).is_integer():
        return int(value)
    return value


def _numbers_first(value: Any) -> tuple:
    """Numbers in numeric order (3, 5, 11, not 11, 3, 5), then names alphabetically."""
    if isinstance(value, numbers.Real):
        return (0, float(value), "")
    return (1, 0.0, str(value))


def parallel_coordinates(results: RunResults, objectives: Objectives) -> go.Figure:
    """Objectives, costs and the numeric stage choices of every feasible evaluation."""
    objectives = _at_least(results, objectives, 1, "parallel_coordinates")
    df = results.candidates(objectives)
    metrics = [m for m, _ in objectives] + [m for m in COSTS if m in df.columns]
    choices = [c for c in df.columns if c.endswith((".depth", ".width"))]
    columns = list(dict.fromkeys(metrics + choices))
    first, title = objectives[0][0], "Parallel coordinates (feasible evaluations)"
    fig = px.parallel_coordinates(
        df,
        dimensions=columns,
        color=first,
        labels={c: _metric_text(c, dict(objectives).get(c, "")) for c in columns},
        title=title + _feasible_not_shown(results, objectives),
    )
    trace = fig.data[0]
    for dimension, column in zip(trace.dimensions, columns):  # px keeps their order
        logged = column in metrics and _metric_scale(results, column) == "log"
        if logged and np.isfinite(df[column]).any():  # no feasible value: nothing to scale
            logs, ticks = _log_scale(df[column])
            dimension.update(values=logs, range=[ticks["tickvals"][0], ticks["tickvals"][-1]])
            dimension.update(ticks)
            if column == first:  # the lines' colours show it too
                trace.line.color = logs
                fig.update_coloraxes(colorbar=ticks)
    return _noted_if_empty(fig, df.empty)


def _log_scale(values: pd.Series) -> tuple[np.ndarray, dict[str, list]]:
    """`values` (a metric's, which `axis_type` draws on a log scale) as log10, and ticks at
    each power of ten they reach, named with the value each stands for: plotly's parallel
    coordinates have no log axis, so the log scale of their dimensions is drawn by hand. At
    least one decade: the feasible values of a metric scaled by every success's
    (`_metric_scale`) may be a single power of ten, a range of nothing."""
    logs = np.log10(values.to_numpy(dtype=float))
    drawn = logs[np.isfinite(logs)]
    low = math.floor(drawn.min())
    decades = list(range(low, max(math.ceil(drawn.max()), low + 1) + 1))
    return logs, dict(tickvals=decades, ticktext=[metric_text(10.0**k) for k in decades])


def plottable(results: RunResults, objectives: Objectives) -> bool:
    """Whether a successful evaluation has a finite value of every objective, feasible or not:
    the figures grey infeasible points, so a run whose constraints none meets yet still shows
    how far off it is. Finite, as the figures draw (`_not_shown`): a view whose successes
    had only infinite values was drawn as figures without a point, and `pareto --html` wrote
    them as a report of "infeasible points only"."""
    ok, metrics = _succeeded(results), [m for m, _ in objectives]
    if not set(metrics) <= set(ok.columns):
        return False
    return bool(np.isfinite(ok[metrics].to_numpy(dtype=float)).all(axis=1).any())


def all_figures(results: RunResults, objectives: Objectives) -> dict[str, go.Figure]:
    """Every figure that applies to these objectives, by title ({} while no successful
    evaluation has finite values of them: `plottable`)."""
    figures: dict[str, go.Figure] = {}
    if not plottable(results, objectives):
        return figures
    if len(objectives) >= 2:
        figures["pareto_2d"] = pareto_2d(results, objectives)
    if len(objectives) >= 3:
        figures["pareto_3d"] = pareto_3d(results, objectives)
    figures["progress_evaluations"] = progress_figure(results, objectives, "evaluations")
    figures["progress_time"] = progress_figure(results, objectives, "time")
    figures["choices"] = choice_frequencies(results, objectives)
    figures["parallel"] = parallel_coordinates(results, objectives)
    return figures


def write_report(
    results: RunResults, objectives: Objectives, path: Path, label: str | None = None
) -> Path:
    """All figures in one self-contained HTML file (plotly.js embedded: works offline), in a
    folder made when missing; `label` starts the errors. The name must end in .html (or
    .htm): a report written over `study.db` or `experiment.yaml` lost the run. The file is
    written whole (`write_whole`): a browser reloading a report that `hwnas pareto --html`
    rewrites while a search runs read half of one, and a failed write (a full disk) left
    the previous report cut off. A link is followed: the file it names is the one written
    (renamed over, the link was made a file, and the page it led to was no longer updated),
    and its name too must end in .html (a `report.html` linked to `study.db` lost the run)."""
    target = path.resolve()  # what is written: a link's target (checked too)
    for named in dict.fromkeys([path, target]):
        if named.suffix.lower() not in (".html", ".htm"):
            raise ExperimentError(
                f"{label or f'report {path}'}: a report's file name ends in .html, "
                f"not {named.suffix or 'nothing'!s}"
                + (f" ({path} links to {named})" if named != path else "")
                + " (nothing written)"
            )
    figures = all_figures(results, objectives)
    parts = [  # ids by figure: plotly's random ones made every report of the same run differ
        fig.to_html(full_html=False, include_plotlyjs=i == 0, div_id=f"hwnas-{name}")
        for i, (name, fig) in enumerate(figures.items())
    ]
    title = f"hwnas run {results.config.name}: {counted(len(results.trials), 'evaluation')}"
    page = (  # the doctype: without one, browsers lay the page out in quirks mode
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{title}</title></head>"
        f"<body><h1>{title}</h1>{_counts(results, objectives)}"
        f"{front_summary(results, objectives)}{''.join(parts)}"
        "</body></html>"
    )
    with folder_for(path.parent, label or f"report {path}"):
        write_whole(target, _as_utf8(page))
    return path


def _as_utf8(text: str) -> str:
    """`text` as UTF-8 can hold it: a file name's bytes that Python kept as lone surrogates
    (`os.fsdecode` of a name that is no UTF-8, such as a Latin-1 folder `donn\\xe9es`, or any
    non-ASCII name under a C locale without UTF-8 mode) become their characters again, and
    bytes that are no UTF-8 the replacement character, as a terminal shows them: a run whose
    dataset lay in such a folder named it in the report's notes, and writing the report
    failed with "surrogates not allowed"."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _counts(results: RunResults, objectives: Objectives) -> str:
    """How many evaluations succeeded, were feasible and failed: the figures grey infeasible
    ones and leave failed ones out, which the report said nowhere (its title counted them
    all, and a run of mostly failed evaluations looked like a short one). One objective has
    no Pareto figure to grey them in."""
    trials = results.trials
    ok = int(trials["status"].eq("ok").sum())
    feasible = int(trials["feasible"].astype(bool).sum())  # successful and within bounds
    greyed = ", grey in the Pareto figures" if len(objectives) >= 2 else ""
    return (
        f"<p>Of the {counted(len(trials), 'evaluation')}, {ok} succeeded ({feasible} feasible, "
        f"{ok - feasible} infeasible: off the front{greyed}) and "
        f"{len(trials) - ok} failed (no values to plot: <code>hwnas status</code> says why).</p>"
    )


def front_summary(results: RunResults, objectives: Objectives) -> str:
    """The front as an HTML table (trial, `RunResults.shown_metrics` written as `metric_text`
    writes them, the searcher's `shown_origins`, and architecture) with its hypervolume and
    reference point, and where `latency_ms` came from (measured where and how, or predicted
    from which file), as `hwnas pareto` prints them; a line when nothing is feasible."""
    if results.candidates(objectives).empty:
        return f"<p>{NONE_FEASIBLE}.</p>"
    front = results.pareto(objectives)
    shown = results.shown_metrics(objectives)
    table = pd.DataFrame(
        {
            "trial": front["number"],
            # as printed and hovered: pandas wrote an accuracy of 89.244 as 89.244000
            **{m: front[m].map(metric_text) for m in shown},
            **{c: front[c].map(origin_text) for c in results.shown_origins(front)},
            "architecture": [results.describe(results.arch(int(n))) for n in front["number"]],
        }
    )
    html = f"<h2>Pareto front: {counted(len(front), 'member')}</h2>{table.to_html(index=False)}"
    if len(objectives) > 1:  # named: the report said which objectives nowhere else
        hv, reference = results.hypervolume(objectives), results.reference_point(objectives)
        html += f"<p>{escape(hypervolume_text(objectives, hv, reference))}</p>"
    for note in metric_notes(results.config, results.trials, shown):
        html += f"<p>{escape(note)}</p>"  # which split, a prediction or a measurement, ...
    return html

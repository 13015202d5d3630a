"""`hwnas status`: what a run holds at one moment, as text or one JSON object: its
evaluations, running drivers, failure reasons, objectives, constraints and front. A command
on the root app."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import typer

from hwnas.cli import examples
from hwnas.cli.runs import (
    RunArgument,
    broke_constraints,
    json_number,
    none_feasible,
    say_hypervolume,
    targets_text,
)
from hwnas.predictors.printable import one_line

app = typer.Typer()

#: trial numbers `status` gives of each frequent failure reason (the first ones)
FAILED_TRIALS_SHOWN = 5
#: a number in a failure reason (a timeout's seconds, the memory an allocation asked for, a
#: trial number in a path): reasons alike but for their numbers are one cause to `status`
REASON_NUMBER = re.compile(r"\d+(?:\.\d+)?")


def _say_drivers(drivers: list[dict]) -> None:
    """Which drivers are running the search now (one may be busy without anything in
    flight: training the differentiable searcher's supernet, say), from their heartbeats."""
    shown = [f"{d['host']} pid {d['pid']} ({_last_heard(d)})" for d in drivers]
    typer.echo(
        f"drivers: {len(drivers)} running now: {', '.join(shown)}"
        if drivers
        else "drivers: none running now"
    )


def _last_heard(driver: dict) -> str:
    """When a driver's heartbeat was written, by this machine's clock; one written in its
    future says the two machines' clocks disagree (which makes live drivers look dead)."""
    if (ahead := driver["clock_ahead_s"]) >= 1:
        return f"its heartbeat {ahead:.0f} s ahead of this machine's clock: the clocks disagree"
    return f"heard from {driver['heard_s_ago']:.0f} s ago"


@app.command(
    epilog=examples(
        "hwnas status runs/demo",
        "hwnas status runs/demo --json",
    )
)
def status(
    run: Path = RunArgument,
    as_json: bool = typer.Option(False, "--json", help="print the status as one JSON object"),
) -> None:
    """Counts of evaluations, the objectives, best values and hypervolume of a run.

    The most frequent failure reasons come with their first trial numbers (export --trial N)."""
    facts = _status_facts(run)
    if as_json:  # NaN is no JSON: a missing number is null
        typer.echo(json.dumps(_strict_json(facts), indent=2, allow_nan=False))
    else:
        _say_status(facts)


def _status_facts(run: Path) -> dict:
    """What `status` says of a run, as plain data (`--json` prints it as it is, the text is
    written from it, so the two cannot disagree): every count of one moment of the run."""
    from hwnas.experiments import load
    from hwnas.experiments.components import metric_notes
    from hwnas.experiments.storage import dead_drivers, driver_beats, grace_of

    results = load(run)
    df = results.trials  # read first: every count below is of the moment it was read
    beats = driver_beats(results.study)
    dead = dead_drivers(beats, grace_of(results.config))
    in_flight, owed = results.claims(dead)
    statuses = Counter(df["status"])  # ok and failed as in every line of status, from one read
    return {
        "run": str(run),
        "study": results.config.name,
        "space": results.config.space.name,
        "versions": results.versions,
        "evaluations": {
            "total": len(df),
            "target": results.config.evaluations,
            "ok": statuses["ok"],
            "failed": statuses["failed"],
            "retried": len(results.retried),
            "in_flight": in_flight,
            "owed": owed,
        },
        "cannot_reach_target": _cannot_reach_target(results),
        "drivers": [_driver_facts(b) for name, b in beats.items() if name not in dead],
        "failures": _failure_facts(df.loc[df["status"] == "failed"]),
        "failure_groups": _failure_groups(df.loc[df["status"] == "failed"]),
        "objectives": results.objectives,
        # of the constrained metrics too: a latency_ms bound alone said nowhere whether it
        # held a prediction or a measurement (and at what load)
        "metric_notes": metric_notes(results.config, df, results.config.needed_metrics),
        "constraints": [(m, float(b)) for m, b in results.constraints],
        "supernet": _supernet_facts(results),
        "broke_constraints": broke_constraints(df),
        **_front_facts(results),
        "elapsed_s": float(df["finished_s"].max()) if len(df) else None,
    }


def _driver_facts(beat: dict) -> dict:
    """A running driver from its heartbeat: where it runs and when it was heard from, by
    this machine's clock (a heartbeat ahead of it says the two clocks disagree)."""
    import time

    from hwnas.experiments.storage import ahead_s

    heard = max(0.0, time.time() - beat["time"])
    return {
        "host": beat["host"],
        "pid": beat["pid"],
        "heard_s_ago": heard,
        "clock_ahead_s": ahead_s(beat),
    }


def _cannot_reach_target(results) -> dict | None:
    """Why the searcher has no architecture left to reach the target with, if it has none:
    the space's all evaluated, or every one the differentiable searcher's supernet searches
    derived (None while the target is reached, or can be). A run with no target (a time
    limit alone) is told it too: it has nothing left to evaluate, which `status` left unsaid."""
    df, target = results.trials, results.config.evaluations
    if target and len(df) >= target:
        return None
    if df["key"].nunique() >= results.space.cardinality:
        return {"why": "space_exhausted", "space_cardinality": results.space.cardinality}
    if results.derived_all_evaluated():
        return {"why": "derived_all_evaluated"}
    return None


def _failure_facts(failed) -> list[dict]:
    """Every reason of the `failed` rows, most frequent first, with its count and first trial
    numbers (what `hwnas export --trial N` takes to look at one)."""
    facts = []
    for reason, count in failed["reason"].value_counts().items():
        numbers = sorted(int(n) for n in failed.loc[failed["reason"] == reason, "number"])
        facts.append(
            {"reason": reason, "count": int(count), "trials": numbers[:FAILED_TRIALS_SHOWN]}
        )
    return facts


def _failure_groups(failed) -> list[dict]:
    """The reasons of the `failed` rows grouped where they are alike but for their numbers
    (`REASON_NUMBER`; counted apart, one cause read as many reasons of one failure each),
    most frequent first: each with its count, first trial numbers, how many distinct
    `reasons` it holds and, as its `reason`, the latest of them (a real text, no masked one)."""
    failed = failed.sort_values("number")
    groups = []
    for _, group in failed.groupby(failed["reason"].map(_masked), sort=False):
        groups.append(
            {
                "reason": group["reason"].iloc[-1],
                "count": len(group),
                "trials": [int(n) for n in group["number"].iloc[:FAILED_TRIALS_SHOWN]],
                "reasons": group["reason"].nunique(),
            }
        )
    return sorted(groups, key=lambda g: -g["count"])  # stable: ties by their first trial


def _masked(reason: str) -> str:
    """`reason` with each of its numbers masked: equal for reasons alike but for them."""
    return REASON_NUMBER.sub("#", reason)


def _supernet_facts(results) -> dict | None:
    """The differentiable searcher's supernet searches: how many, their latency targets,
    their training time (which the elapsed time leaves out), and the targets of its sweep not
    searched yet; None where there were none."""
    searches = results.supernet_searches()
    if searches.empty:
        return None
    return {
        "searches": len(searches),
        "targets_ms": [float(t) for t in searches["target_ms"].dropna()],
        "trained_s": float(searches["wall_time_s"].sum()),
        "targets_not_searched": [float(t) for t in results.targets_not_searched()],
    }


def _front_facts(results) -> dict:
    """How many evaluations are feasible and on the Pareto front, the front's best value of
    each objective and, with several objectives, its hypervolume and reference point."""
    feasible, objectives = len(results.candidates()), results.objectives
    if not feasible:
        return {"feasible": 0, "front": 0, "best": {}, "hypervolume": None, "reference": None}
    front = results.pareto()
    several = len(objectives) > 1
    return {
        "feasible": feasible,
        "front": len(front),
        "best": {m: float(front[m].max() if d == "max" else front[m].min()) for m, d in objectives},
        "hypervolume": float(results.hypervolume()) if several else None,
        "reference": [float(v) for v in results.reference_point()] if several else None,
    }


def _strict_json(value):
    """`value` (dicts, lists, tuples, numbers) with each float as `json_number` gives it:
    counts as integers, a non-finite number as null."""
    if isinstance(value, dict):
        return {k: _strict_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_strict_json(v) for v in value]
    return json_number(value) if isinstance(value, float) else value


def _say_status(facts: dict) -> None:
    """The text of `status`, line by line, from `_status_facts`."""
    _say_run(facts)
    _say_evaluations(facts)
    _say_drivers(facts["drivers"])
    _say_failures(facts["failure_groups"])
    _say_objectives_and_constraints(facts)
    _say_supernet_searches(facts)
    if not facts["feasible"]:
        total = facts["evaluations"]["total"]
        typer.echo(none_feasible(total, facts["broke_constraints"]))
        return
    _say_front(facts)
    _say_elapsed(facts["elapsed_s"])


def _say_run(facts: dict) -> None:
    """The run's folder, study and space, and the versions it was started with."""
    typer.echo(one_line(f"run {facts['run']} (study {facts['study']!r}, space {facts['space']})"))
    if versions := facts["versions"]:
        typer.echo("started with " + ", ".join(f"{p} {v}" for p, v in versions.items()))


def _say_evaluations(facts: dict) -> None:
    """How many evaluations of the target there are, ok, failed, in flight and owed, and when
    the searcher has no architecture left to reach the target with."""
    counts = facts["evaluations"]
    target = counts["target"]
    retried = f", retried {counts['retried']}" if counts["retried"] else ""
    typer.echo(
        f"evaluations: {counts['total']}{f' of {target}' if target else ''} "
        f"(ok {counts['ok']}, failed {counts['failed']}{retried}, "
        f"in flight {counts['in_flight']}, left by a stopped driver "
        f"and not evaluated since {counts['owed']})"
    )
    if (short := facts["cannot_reach_target"]) is None:
        return
    short_of = f"the run cannot reach {target}" if target else "a resume evaluates nothing more"
    if short["why"] == "space_exhausted":
        typer.echo(
            f"every architecture of the space ({short['space_cardinality']}) was evaluated: "
            f"{short_of}"
        )
    else:
        typer.echo(
            f"every architecture the supernet searches derived was evaluated: {short_of} (a "
            "new run, in another run_dir, with a higher derive_count or more latency targets "
            "gets more)"
        )


def _say_objectives_and_constraints(facts: dict) -> None:
    """The run's objectives with the notes on their metrics and the constrained ones, then
    its constraints."""
    from hwnas.experiments.shown import bound_text

    objectives = ", ".join(f"{m} ({d})" for m, d in facts["objectives"])
    typer.echo(f"objectives: {objectives}")
    for note in facts["metric_notes"]:
        typer.echo(note)
    if constraints := facts["constraints"]:
        typer.echo("constraints: " + ", ".join(f"{m} <= {bound_text(b)}" for m, b in constraints))


def _say_front(facts: dict) -> None:
    """How many evaluations are feasible and on the Pareto front, the front's best value of
    each objective and, with several objectives, its hypervolume."""
    from hwnas.experiments.shown import metric_text

    typer.echo(f"feasible: {facts['feasible']}; Pareto front: {facts['front']}")
    for metric, best in facts["best"].items():
        # a whole number (parameters, bytes) as the front table writes it: 1,531,546, not
        # 1.53155e+06
        shown = metric_text(best) if float(best).is_integer() else f"{best:.6g}"
        typer.echo(f"best {metric}: {shown}")
    if facts["hypervolume"] is not None:
        say_hypervolume(facts["objectives"], facts["hypervolume"], facts["reference"])


def _say_elapsed(elapsed_s: float | None) -> None:
    """The time from the first claim to the last result of the evaluations, if any."""
    if elapsed_s is not None:
        typer.echo(
            f"elapsed: {elapsed_s:.1f} s from the first claim to the last result "
            "(pauses between runs included)"
        )


def _say_failures(groups: list[dict]) -> None:
    """The three most frequent failure reasons alike but for their numbers
    (`_failure_groups`), each with its first trial numbers and, for several reasons, the
    latest of them, then a count of the rest."""
    for group in groups[:3]:
        count, numbers = group["count"], group["trials"]
        shown = ", ".join(str(n) for n in numbers)
        more = ", ..." if count > len(numbers) else ""
        alike = (
            f" (the latest of {group['reasons']} reasons that differ only in their numbers)"
            if group["reasons"] > 1
            else ""
        )
        typer.echo(
            f"failed x{count} (trial{'s' * (count > 1)} {shown}{more}): {group['reason']}{alike}"
        )
    if len(groups) > 3:  # every failure is counted somewhere
        typer.echo(
            f"failed x{sum(g['count'] for g in groups[3:])}: "
            f"{sum(g['reasons'] for g in groups[3:])} other reasons (all of them: the reason "
            "column of load(run).trials)"
        )


def _say_supernet_searches(facts: dict) -> None:
    """The differentiable searcher's training time, which the elapsed time leaves out, and
    the targets of its sweep not searched yet."""
    if (supernet := facts["supernet"]) is None:
        return
    count, targets = supernet["searches"], supernet["targets_ms"]
    which = f" ({targets_text(targets)})" if targets else ""
    whose = "its" if count == 1 else "their"
    typer.echo(
        f"supernet: {count} search{'es' * (count > 1)}{which} trained for "
        f"{supernet['trained_s']:.1f} s before {whose} architectures were claimed "
        "(not in the elapsed time)"
    )
    if left := supernet["targets_not_searched"]:
        target = facts["evaluations"]["target"]  # else stopped by its time limit, or going on
        reached = target is not None and facts["evaluations"]["total"] >= target
        them = "them" if len(left) > 1 else "it"
        how = (
            f"raise `evaluations` and resume to search {them}"
            if reached
            else f"the run searches {them} as it goes on or is resumed"
        )
        typer.echo(f"supernet: {targets_text(left)} not searched yet ({how})")

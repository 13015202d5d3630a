"""`hwnas search / status / pareto / export / build`: run a search from an experiment file,
inspect it, and export and rebuild its winners. These commands sit directly on the root app."""

from __future__ import annotations

import json
import math
import os
import re
import shlex
import shutil
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Literal, NoReturn

import typer

from hwnas.cli import (
    AS_PATH,
    DEMO_WINNER,
    examples,
    home_expanded,
    say,
    shell_path,
    stopped,
    stopped_word,
)
from hwnas.predictors.printable import one_line

if TYPE_CHECKING:  # numpy: the CLI imports it only for the commands that need it
    from hwnas.evaluators.datasets import Standardisation

app = typer.Typer()

#: `export --format`, refused by click as a usage error naming the option; the same as
#: `hwnas.experiments.export.Format`, which the CLI does not import (pandas) for its help
ExportFormat = Literal["json", "yaml", "onnx", "torch"]
#: trial numbers `status` gives of each frequent failure reason (the first ones)
FAILED_TRIALS_SHOWN = 5
#: a number in a failure reason (a timeout's seconds, the memory an allocation asked for, a
#: trial number in a path): reasons alike but for their numbers are one cause to `status`
REASON_NUMBER = re.compile(r"\d+(?:\.\d+)?")

#: the run directory `status`, `pareto` and `export` read
RunArgument = typer.Argument(..., help="run directory", **AS_PATH)
#: the exported config `train` and `build` take
ConfigArgument = typer.Argument(
    ..., help="exported architecture config (.json or .yaml)", **AS_PATH
)

ObjectivesOption = typer.Option(
    None,
    "--objectives",
    help="objectives as metric:min|max, comma separated or repeated; a bare metric that is "
    "one of the run's objectives keeps the run's direction (default: the run's objectives)",
)


@app.command(
    epilog=examples(
        "hwnas search examples/demo.yaml",
        "hwnas search examples/demo.yaml --resume --quiet",
        "hwnas search examples/demo.yaml --retry-failed",
    )
)
def search(
    experiment: Path = typer.Argument(..., help="experiment YAML file (see examples/)", **AS_PATH),
    address: str = typer.Option(
        None,
        "--address",
        help="run the evaluations on this Ray cluster (auto, host:port, ray://...; local: an "
        "embedded one), whatever the experiment's executor.kind says",
    ),
    resume: bool = typer.Option(
        False,
        "--resume",
        help="only continue the run in its run_dir, never start one (without it, a run "
        "already there is continued too)",
    ),
    quiet: bool = typer.Option(False, "--quiet", help="no live progress display"),
    retry_failed: bool = typer.Option(
        False,
        "--retry-failed",
        help="first evaluate again, once each, the architectures whose latest evaluation "
        "failed (by chance: a killed worker, a timeout), then search on; a retry's result "
        "replaces the failure in the run's count",
    ),
) -> None:
    """Run (or continue) a search; Ctrl-C stops it and leaves a resumable run."""
    from hwnas.evaluators import ClusterLost
    from hwnas.experiments import load_experiment, run_experiment
    from hwnas.experiments.run import EXHAUSTED, address_problem, say_nothing_feasible
    from hwnas.experiments.run_dir import SNAPSHOT
    from hwnas.experiments.shown import counted

    if problem := address_problem(address):  # a usage error, as run_experiment's own check
        raise typer.BadParameter(problem, param_hint="--address")
    config = load_experiment(experiment)
    on_cluster = f" --address {shlex.quote(address)}" if address else ""
    start_with = f"hwnas search {shell_path(experiment)}{on_cluster}"
    # a stopped --retry-failed goes on retrying: a plain resume left its failures failed
    retrying = " --retry-failed" if retry_failed else ""
    resume_with = f"hwnas search {shell_path(experiment)} --resume{retrying}{on_cluster}"
    try:
        summary = run_experiment(  # its note of nothing feasible follows the summary line
            config,
            address=address,
            resume=resume,
            progress=not quiet,
            retry_failed=retry_failed,
            note_nothing_feasible=False,
        )
    except ClusterLost as e:
        again = f"once the cluster at {address} is up again, " if address else ""
        say(
            f"hwnas: error: {e}; the evaluations in flight were given back: {again}resume "
            f"with: {resume_with}"
        )
        _exit_past_a_lost_ray(1)
    except KeyboardInterrupt as e:
        why = stopped_word(e)
        if (Path(config.run_dir) / SNAPSHOT).is_file():
            raise stopped(f"hwnas: {why}; resume with: {resume_with}", e) from None
        raise stopped(
            f"hwnas: {why} before the run was stored; start it with: {start_with}", e
        ) from None
    _say_summary(summary, experiment)
    if summary.stopped_by == EXHAUSTED:
        _note_exhausted(config, summary.space_exhausted)
    elif not (
        config.searcher.name == "differentiable"
        and _note_targets_not_searched(summary, experiment, resume_with)
    ):
        _note_time_limit(summary, config, resume_with)
    say_nothing_feasible(config, summary)
    why = f"why: hwnas status {shell_path(summary.run_dir)}"
    if summary.evaluated and summary.failed == summary.evaluated:
        raise RuntimeError(f"every evaluation failed; {why}")
    if summary.failed:  # the count alone named no way to the reasons
        say(
            f"hwnas: note: {counted(summary.failed, 'evaluation')} failed; {why}; "
            f"{_retry_advice(summary.run_dir, start_with)}"
        )


def _retry_advice(run_dir: Path, start_with: str) -> str:
    """What `--retry-failed` does for the run's failures: it evaluates again those that
    failed by chance (a killed worker, a timeout), but those `fails_again` tells apart (a
    NaN in a benchmark table, a part the latency table lacks) fail again, which the note
    advising a retry for every failure did not say."""
    from hwnas.experiments import load
    from hwnas.experiments.records import fails_again

    df = load(run_dir).trials
    ways = df.loc[df["status"] == "failed", "reason"].map(fails_again)
    alike = int(ways.notna().sum())
    retry = f"failed by chance (a killed worker, a timeout), {start_with} --retry-failed evaluates"
    if not alike:
        return f"where they {retry} them again"
    same = " or ".join(sorted(set(ways.dropna())))
    if alike == len(ways):
        return f"each ended {same}, which evaluating it again (--retry-failed) repeats"
    return (
        f"{alike} of them ended {same}, which evaluating them again repeats; where the others "
        f"{retry} them again"
    )


def _say_summary(summary, experiment: Path) -> None:
    """The run's one line: its evaluations and what stopped it (or that it was complete
    before this search, with what lets it go on)."""
    from hwnas.experiments.run import ALREADY_COMPLETE
    from hwnas.experiments.shown import counted

    if summary.stopped_by == ALREADY_COMPLETE:
        typer.echo(
            one_line(
                f"run {summary.run_dir} is already complete: "
                f"{counted(summary.evaluated, 'evaluation')} "
                f"({summary.failed} failed); raise `evaluations` above {summary.evaluated} in "
                f"{experiment} to go on"
            )
        )
    else:
        retried = f", {summary.retried} retried" if summary.retried else ""
        typer.echo(
            one_line(
                f"run {summary.run_dir}: {counted(summary.evaluated, 'evaluation')} "
                f"({summary.failed} failed{retried}, {summary.by_this_driver} by this driver); "
                f"stopped by {summary.stopped_by}"
            )
        )


def _note_exhausted(config, space_exhausted: bool) -> None:
    """Why the searcher had no more candidates to propose: every architecture of the space
    was evaluated, whatever the searcher, or else (the differentiable searcher, the one that
    stops short of the space) its searches derived no more, and how a new run gets more."""
    why = "every architecture of the space was evaluated"
    if not space_exhausted:
        targeted = bool(config.latency and config.latency.target_ms) or bool(
            {"latency_target_ms", "latency_targets_ms"} & config.searcher.settings.keys()
        )
        searches, more = (
            ("each latency target", "more latency targets")
            if targeted
            else ("its one search (no latency target)", "latency targets")
        )
        why = (
            f"{searches} gave the architectures it derived (up to derive_count, fewer where "
            f"its picks coincide); for more, start a new run (another run_dir) with a higher "
            f"derive_count or {more}"
        )
    say(f"hwnas: note: the searcher had no more candidates to propose: {why}")


def _note_time_limit(summary, config, resume_with: str) -> None:
    """How a run its time limit stopped goes on: the end line said only "stopped by time
    limit", with no resume command (a Ctrl-C's has one), though the limit counts per
    invocation and the candidates in flight were given back for a resume to evaluate."""
    if summary.stopped_by != "time limit":
        return
    say(
        f"hwnas: note: the time limit ({config.time_limit_s:g} s, per invocation) stopped the "
        f"run; any candidates in flight were given back: resume to go on: {resume_with}"
    )


def _note_targets_not_searched(summary, experiment: Path, resume_with: str) -> bool:
    """Say the latency targets of a differentiable sweep the run stopped before, and what
    searches them: more `evaluations`, or a resume where its time limit stopped it; whether
    there were any."""
    from hwnas.experiments import load
    from hwnas.experiments.run import ALREADY_COMPLETE

    if not (left := load(summary.run_dir).targets_not_searched()):
        return False
    them = "them" if len(left) > 1 else "it"
    # stopped by its time limit (per invocation), a resume alone searches them
    how = (
        f"raise `evaluations` in {experiment} and resume to search {them}"
        if summary.stopped_by in ("evaluations", ALREADY_COMPLETE)
        else f"resume to search {them}: {resume_with}"
    )
    say(f"hwnas: note: {_targets_text(left)} not searched before the run stopped: {how}")
    return True


def _exit_past_a_lost_ray(code: int) -> NoReturn:
    """Exit with `code`. Ray's core worker, its cluster gone, crashes the interpreter's exit
    (a segmentation fault after the message, status 139): the process leaves without its
    exit handlers then; the run's results are stored and its storage closed by now."""
    ray = sys.modules.get("ray")
    if ray is not None and ray.is_initialized():
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    raise typer.Exit(code)


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
    in_flight, owed = _claims_in_flight_and_owed(results, dead)
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
        "broke_constraints": _broke_constraints(df),
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
    """`value` (dicts, lists, tuples, numbers) with each float as `_json_number` gives it:
    counts as integers, a non-finite number as null."""
    if isinstance(value, dict):
        return {k: _strict_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_strict_json(v) for v in value]
    return _json_number(value) if isinstance(value, float) else value


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
        typer.echo(_none_feasible(total, facts["broke_constraints"]))
        return
    _say_front(facts)
    _say_elapsed(facts["elapsed_s"])


def _claims_in_flight_and_owed(results, dead: set[str]) -> tuple[int, int]:
    """Of the trials `results.trials` was made of (one moment of the run: read again, an
    evaluation stored in between was neither evaluated nor in flight), how many claims the
    running drivers hold, and how many a `dead` driver left that are owed: neither evaluated
    since nor being evaluated again (then it counts as in flight)."""
    from hwnas.experiments.records import DRIVER, INTERRUPTED, KEY, RUNNING, STALE, outcome_of

    trials = results.stored_trials
    running = [t for t in trials if outcome_of(t) == RUNNING]
    orphaned = [t for t in running if t.user_attrs.get(DRIVER) in dead]
    live = {t.user_attrs.get(KEY) for t in running if t.user_attrs.get(DRIVER) not in dead}
    # claims a stopped driver left (given back, or still marked running): owed until evaluated
    left = orphaned + [t for t in trials if outcome_of(t) in (STALE, INTERRUPTED)]
    owed = {t.user_attrs.get(KEY) for t in left} - set(results.trials["key"]) - live - {None}
    return len(running) - len(orphaned), len(owed)


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
        _say_hypervolume(facts["objectives"], facts["hypervolume"], facts["reference"])


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
    which = f" ({_targets_text(targets)})" if targets else ""
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
        typer.echo(f"supernet: {_targets_text(left)} not searched yet ({how})")


def _targets_text(targets: list[float]) -> str:
    """Latency targets in words: `latency targets 0.3 ms, 0.4 ms`."""
    return f"latency target{'s' * (len(targets) > 1)} {', '.join(f'{t:g} ms' for t in targets)}"


def _objectives(results, specs: list[str] | None) -> list[tuple[str, str]]:
    from hwnas.experiments import ExperimentError

    if not specs:
        return results.objectives
    flat = [s.strip() for spec in specs for s in spec.split(",") if s.strip()]
    if not flat:  # an empty value (an unset shell variable, say) is a mistake, not the default
        raise ExperimentError(f"--objectives: give metric:min|max, not {','.join(specs)!r}")
    return results.objectives_of(flat)


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
    objs = _objectives(results, objectives)
    _note_lacking(results, objs)
    if results.candidates(objs).empty:  # nothing to rank: none evaluated, failed, infeasible
        if html is not None and _plottable(results, objs):  # infeasible points, greyed
            _write_report(results, objs, html)
        if as_json:
            empty = {"objectives": objs, "hypervolume": None, "reference": None, "front": []}
            typer.echo(json.dumps(empty, indent=2))
        else:
            df = results.trials
            typer.echo(one_line(f"{run}: {_none_feasible(len(df), _broke_constraints(df))}"))
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
                **{m: _json_number(r[m]) for m in metrics},
                **({"origin": origin} if (origin := results.origin(r)) else {}),
            }
            for _, r in front.iterrows()
        ]
        reference = None if hv is None else [_json_number(v) for v in results.reference_point(objs)]
        summary = {"objectives": objs, "hypervolume": None if hv is None else _json_number(hv)}
        typer.echo(json.dumps({**summary, "reference": reference, "front": rows}, indent=2))
    else:
        _print_front(results, front, metrics, objs, hv)
    if html is not None:
        typer.echo(one_line(f"wrote {html}"), err=as_json)  # with --json, stdout is the JSON alone


def _note_lacking(results, objs: list[tuple[str, str]]) -> None:
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
        _say_hypervolume(objs, hv, results.reference_point(objs))
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


def _none_feasible(total: int, broke: int) -> str:
    """That a run has no feasible success, and of how many evaluations (`total`), with those
    that succeeded but broke a constraint (`broke`): why its front is empty (a run whose
    every success did showed only `ok N` in `status`, and nothing in `pareto`). No "yet":
    it was said of finished runs too, which more time does not change."""
    why = f"; {broke} succeeded but broke a constraint" if broke else ""
    return f"no feasible successful evaluation (of {total}{why})"


def _broke_constraints(df) -> int:
    """How many of the evaluations `df` succeeded but broke a constraint."""
    return int((df["status"].eq("ok") & ~df["feasible"].astype(bool)).sum())


def _say_metric_notes(results, metrics) -> None:
    """Which split accuracy is, where latency_ms came from and the load it was measured at."""
    from hwnas.experiments.components import metric_notes

    for note in metric_notes(results.config, results.trials, metrics):
        typer.echo(note)


def _say_hypervolume(objs: list[tuple[str, str]], hv: float, reference: list[float]) -> None:
    """The hypervolume with the objectives and the reference point (`hypervolume_text`)."""
    from hwnas.experiments.shown import hypervolume_text

    typer.echo(hypervolume_text(objs, hv, reference))


def _json_number(value: float) -> int | float | None:
    """A metric as JSON: counts (params, bytes) as integers, a missing value as null (NaN is
    no JSON)."""
    value = float(value)
    if not math.isfinite(value):
        return None
    return int(value) if value == int(value) else value


@app.command(
    epilog=examples(
        "hwnas export runs/demo --top 1 --format onnx -o runs/demo/winner",
        "hwnas export runs/demo --trial 3 --format yaml",
    )
)
def export(
    run: Path = RunArgument,
    top: int = typer.Option(
        None,
        "--top",
        min=1,
        help="export the K front members best in the first objective, then the next (default 1), "
        "of the run's front or that of --objectives",
    ),
    trial: int = typer.Option(
        None,
        "--trial",
        min=0,
        help="export this trial number: any evaluated one, failed or infeasible too (hwnas "
        "status names the failed trials)",
    ),
    objectives: list[str] = ObjectivesOption,
    fmt: ExportFormat = typer.Option(
        "json",
        "--format",
        case_sensitive=False,
        help="json or yaml: the configs; torch adds initial weights (.pt), onnx the ONNX model too",
    ),
    out: Path = typer.Option(
        None,
        "-o",
        "--out",
        help="output folder (made; default RUN/export)",
        **AS_PATH,
    ),
    force: bool = typer.Option(
        False, "--force", help="replace existing files of the same name that differ"
    ),
) -> None:
    """Export winning architectures as self-contained configs (plus ONNX or torch weights)."""
    from hwnas.experiments import export_run, load
    from hwnas.experiments.export import read_config
    from hwnas.experiments.shown import counted

    results = load(run)
    out = out or run / "export"
    objs = _objectives(results, objectives) if objectives else None
    if objs is not None and trial is None:
        _note_lacking(results, objs)
    before = _stamps(out)
    written = export_run(
        results,
        out,
        top=top,
        trial=trial,
        fmt=fmt,
        overwrite=force,
        progress=True,
        objectives=objs,
    )
    if trial is not None:
        _note_unusable(results, trial)
    elif top is not None and len(written) < top:
        only = counted(len(written), "member")
        say(f"hwnas: note: the Pareto front has only {only}")
    after = _stamps(out)
    if written and (note := read_config(written[0]).get("data", {}).get("note")):
        say(f"hwnas: warning: no input standardisation in the export: {note}")
    for path in written:
        _say_exported(path, before, after)
    if fmt in ("onnx", "torch") and written:
        _note_initial_weights(fmt)


def _say_exported(
    path: Path, before: dict[str, tuple[int, int]], after: dict[str, tuple[int, int]]
) -> None:
    """One exported config's line: wrote or unchanged (its files' stamps `before` and `after`
    the export), with the weights and ONNX file written beside it and how closely ONNX
    Runtime's outputs match torch's."""
    from hwnas.experiments.export import read_config

    data = read_config(path)
    files = [path.name, data.get("weights"), data.get("onnx", {}).get("file")]
    same = all(before.get(name) == after.get(name) for name in files if name)
    extra = f" + {data['weights']}" if "weights" in data else ""
    if "onnx" in data:
        onnx = data["onnx"]
        diff = onnx["max_abs_diff"]
        extra += f" + {onnx['file']} (ONNX Runtime matches torch, max diff {diff:.2g})"
    typer.echo(one_line(f"{'unchanged' if same else 'wrote'} {path}{extra}"))


def _note_initial_weights(fmt: str) -> None:
    """Say that a torch or onnx export's weights are untrained (the search keeps none), and
    for onnx, that its file is the float form, not the deployable one `hwnas build` writes."""
    say(
        "hwnas: note: the weights are the initial ones (the search keeps no trained "
        "weights; built with the run's seed, `weights_seed` in the config): train the "
        "exported model before deploying it"
        + (
            "; the ONNX file is its float inference form (`hwnas build CONFIG --weights "
            "TRAINED --onnx FILE --calibration DATASET` writes it at its blocks' precisions)"
            if fmt == "onnx"
            else ""
        )
    )


def _stamps(folder: Path) -> dict[str, tuple[int, int]]:
    """Each file of `folder` by name: its inode and modification time. Export leaves a file
    it would write again with the same content as it is, so an equal stamp after an export
    means the file is unchanged. A folder the OS cannot name (too long) has none: the export
    names the problem."""
    if not os.path.isdir(folder):
        return {}
    return {p.name: (s.st_ino, s.st_mtime_ns) for p in folder.iterdir() for s in [p.lstat()]}


def _note_unusable(results, trial: int) -> None:
    """Say on stderr when an exported trial failed or breaks the run's constraints."""
    from hwnas.experiments.shown import bound_text

    row = results.trials.set_index("number").loc[trial]
    if row["status"] != "ok":
        why = f"the evaluation of trial {trial} {row['status']} ({row['reason']})"
    elif not row["feasible"]:
        broken = [
            f"{m} <= {bound_text(b)}"
            for m, b in results.constraints
            if not row.get(m, math.nan) <= b
        ]
        why = f"trial {trial} is infeasible (breaks {', '.join(broken)})"
    else:
        return
    say(f"hwnas: note: {why}; its architecture is exported anyway")


def _positive_epochs(epochs: float | None) -> float | None:
    """`train --epochs`, refused as a usage error naming the option (exit 2) before the config
    is read: the training's own check named its `epochs` setting, not the option."""
    from hwnas.experiments.retrain import epochs_problem  # torch: only with --epochs given

    if problem := epochs_problem(epochs):
        raise typer.BadParameter(problem)
    return epochs


@app.command(
    epilog=examples(
        f"hwnas train {DEMO_WINNER}.json",
        f"hwnas train {DEMO_WINNER}.json --epochs 5 -o winner5.pt",
    )
)
def train(
    config: Path = ConfigArgument,
    dataset: str = typer.Option(
        None,
        "--dataset",
        help="dataset to train on (a name or an .npz); default: the run's, which the config "
        "records",
        callback=home_expanded,
    ),
    epochs: float = typer.Option(
        None,
        "--epochs",
        callback=_positive_epochs,
        help="passes over the training split, > 0 (a fraction trains the nearest whole number of "
        "batches, at least one: 0.3 may train 0.32, 0.05 train 0.04); default: as the run "
        "trained its candidates (the config's `training`), else 10",
    ),
    out: Path = typer.Option(
        None,
        "--out",
        "-o",
        help="file for the trained weights (a state_dict; folder made); default: beside the "
        "config, named as it is with .trained.pt for its .json or .yaml (trial2-x.json: "
        "trial2-x.trained.pt)",
        **AS_PATH,
    ),
    force: bool = typer.Option(False, "--force", help="write over an existing weights file"),
) -> None:
    """Train an exported architecture as its run trained candidates; save the weights.

    The search keeps no trained weights: this trains them with the config's recipe."""
    from hwnas.experiments.files import check_writable, folder_for
    from hwnas.experiments.retrain import earlier_export, retraining, save_weights
    from hwnas.experiments.shown import counted, seconds_text

    training = retraining(config, dataset, epochs)
    out = _weights_file(out, config, Path(str(training.dataset)), force)
    evaluator, recipe = training.evaluator, training.config.get("training")
    length = counted(evaluator.steps, "step") if evaluator.steps else _epochs(evaluator.epochs)
    recipe_from = "the run's recipe" if recipe else "the train evaluator's defaults"
    recipe_from += ", epochs from --epochs" if epochs is not None else ""
    if not recipe:
        why = earlier_export(training.config, "recipe") or "the run trained no candidate"
        recipe_from += f"; {why}"
    # the weights' folder made, and found writable, before the training (removed again if
    # it ends without weights)
    with folder_for(out.parent, f"{out}"):
        check_writable(out.parent, f"{out}: its folder {out.parent}")
        say(
            f"training arch {training.arch.key} on {training.dataset}, {length} ({recipe_from}) ..."
        )
        model, metrics = training.run(progress=True)
        save_weights(model, out)
    recorded = f" ({said})" if (said := training.recorded(metrics["val_accuracy"])) else ""
    trained = (
        f"trained {_epochs(metrics['epochs'])} in {seconds_text(metrics['train_time_s'])}: "
        f"validation accuracy {metrics['val_accuracy']:.2f} %{recorded}, test accuracy "
        f"{metrics['test_accuracy']:.2f} %; wrote {out}"
    )
    typer.echo(
        f"{one_line(trained)}\n"
        f"deploy it: hwnas build {shell_path(config)} --weights {shell_path(out)} --onnx "
        f"FILE.onnx --calibration {shell_path(training.dataset)}"
    )
    if (scaling := training.new_standardisation()) is not None:
        say(
            f"hwnas: note: these weights take inputs standardised as {training.dataset}'s are "
            f"({_scaling_text(scaling.mean, scaling.std)}), {_against_recorded(training.config)}"
        )


def _scaling_text(mean: Sequence[float], std: Sequence[float]) -> str:
    """A per-channel standardisation in words, as `train` and `build` notes give it."""
    return f"mean {[round(m, 6) for m in mean]}, std {[round(v, 6) for v in std]}"


def _against_recorded(config: dict) -> str:
    """How `hwnas train`'s note sets the weights' standardisation against the config's: the
    one it records, or none (a run without data, or an earlier hwnas's export), which the
    note said it departed from as if the config named one."""
    from hwnas.experiments.retrain import earlier_export

    if (config.get("data") or {}).get("standardisation") is not None:
        return "not as the config's data.standardisation says"
    why = earlier_export(config, "standardisation")
    return "which the config does not record" + (f" ({why})" if why else "")


def _weights_file(out: Path | None, config: Path, dataset: Path, force: bool) -> Path:
    """The file `hwnas train` saves its weights to (`-o`, default beside the config), refused
    before the training where the save at its end would fail or overwrite what it must not:
    a name too long, a folder, the config or the dataset itself, (without `--force`) an
    existing file, or (with it) one holding no weights: `--force` wrote over a run's
    `study.db`, a profile, or `/dev/null` itself (renamed over)."""
    from hwnas.experiments import ExperimentError
    from hwnas.experiments.files import holds_weights
    from hwnas.predictors.whole_files import name_too_long

    given, out = out, out or config.with_name(f"{config.stem}.trained.pt")
    if problem := name_too_long(out):
        named = "" if given else " (the config's name with .trained.pt)"
        raise ExperimentError(f"{out}{named}: {problem}; give a shorter -o")
    if out.is_dir():
        raise ExperimentError(f"{out}: is a folder; give the weights file's path (-o FILE.pt)")
    inputs = [config, dataset]  # a dataset's name is no file there
    if out.exists() and any(p.exists() and out.samefile(p) for p in inputs):
        raise ExperimentError(
            f"{out}: is what this trains from (the config or the dataset), "
            "even with --force; give the weights another -o"
        )
    if out.exists() and not force:
        raise ExperimentError(f"{out}: exists (trained weights?); give another -o, or --force")
    if out.exists() and not holds_weights(out):  # a run's study.db, a profile, /dev/null
        raise ExperimentError(
            f"{out}: exists and holds no weights (a state_dict saved by torch.save), which "
            "alone --force writes over; give the weights another -o"
        )
    return out


def _epochs(count: float) -> str:
    return f"{count:.3g} epoch{'' if count == 1 else 's'}"


@app.command(
    epilog=examples(
        f"hwnas build {DEMO_WINNER}.json",
        f"hwnas build {DEMO_WINNER}.json \\",
        f"    --weights {DEMO_WINNER}.trained.pt \\",
        "    --onnx runs/demo/winner/winner.onnx --calibration mnist1d",
    )
)
def build(
    config: Path = ConfigArgument,
    weights: Path = typer.Option(
        None,
        "--weights",
        help="state_dict saved with torch.save; default: the file the config names beside it "
        "(an onnx or torch export's initial weights), else freshly initialised ones",
        **AS_PATH,
    ),
    onnx: Path = typer.Option(
        None,
        "--onnx",
        help="also write the model to this .onnx file (folder made) with its blocks at their "
        "precisions, as the search timed them (int8 quantized, fp16 in float16)",
        **AS_PATH,
    ),
    calibration: str = typer.Option(
        None,
        "--calibration",
        help="with --onnx: dataset (a name or an .npz) of which 256 training inputs, drawn "
        "at random (seeded), calibrate the int8 activation ranges; without it, random inputs "
        "(right for timing, not for accuracy)",
        callback=home_expanded,
    ),
) -> None:
    """Rebuild the torch model of an exported config and check it runs.

    --onnx also writes the deployable ONNX model, its blocks at their precisions."""
    import torch

    from hwnas.experiments.export import build as build_model
    from hwnas.experiments.export import config_space, read_config

    if calibration is not None and onnx is None:
        raise typer.BadParameter(
            "needs --onnx (it calibrates that file)", param_hint="--calibration"
        )
    if calibration is not None and not calibration.strip():  # as train's --dataset: unset
        raise typer.BadParameter(  # shell variable, said "unknown dataset ''"
            "empty: name a dataset (or an .npz), or leave it out", param_hint="--calibration"
        )
    data = read_config(config)
    model = build_model(config, weights).eval()
    space = config_space(data, str(config))
    shape, key = space.input_shape, space.arch(data["choices"]).key  # a config may lack its key
    weights_said, untrained = _weights_built(config, data, weights, model)
    with torch.no_grad():
        out = model(torch.zeros(1, *shape))
    params = sum(p.numel() for p in model.parameters())
    typer.echo(
        one_line(
            f"built {data['space']['name']} v{data['space']['version']} arch {key}: "
            f"{params:,} parameters, input (batch, {', '.join(map(str, shape))}) -> "
            f"output (batch, {out.shape[1]}); {weights_said}"
        )
    )
    if onnx is not None:
        _write_deployed_onnx(model, space, onnx, calibration, data)
        if untrained:
            say(
                f"hwnas: note: {onnx} holds untrained weights (the search keeps no trained "
                f"ones): train them first (hwnas train {shell_path(config)}), then build "
                "with --weights and the file it writes"
            )


def _weights_built(config: Path, data: dict, weights: Path | None, model) -> tuple[str, bool]:
    """What `build` says of the weights `model` was built with, and whether they are
    untrained: freshly initialised (the config names no file), or the initial ones that a
    torch or onnx export wrote, by default or named with --weights (they said only
    `weights trial7-KEY.pt`, as trained ones do, and `--onnx` wrote the deployable model
    of an untrained network without a word)."""
    from hwnas.experiments.export import holds_initial_weights, weights_file

    loaded = weights_file(config, data, weights)
    if loaded is None:
        return "initial weights, untrained (the config names no file)", True
    if holds_initial_weights(model, data, str(config)):
        return f"weights {loaded} (the export's initial ones: untrained)", True
    return f"weights {loaded}", False


def _write_deployed_onnx(model, space, path: Path, calibration: str | None, config: dict) -> None:
    """`hwnas build --onnx`: the model as ONNX at its blocks' precisions, calibrated on the
    training inputs of the dataset named, drawn at random (standardised as a run's are: by
    its own statistics, which a note sets against the config's where they differ)."""
    from hwnas.experiments.export import (
        COMPARED_INPUTS,
        calibration_inputs,
        export_deployed_onnx,
    )
    from hwnas.experiments.retrain import dataset_for
    from hwnas.predictors.onnx_precision import layer_precisions

    inputs = scaling = None
    if calibration is not None:
        dataset = dataset_for(calibration, space, inputs_only=True)
        inputs, scaling = calibration_inputs(dataset.x_train), dataset.standardisation
    diff = export_deployed_onnx(model, space.input_shape, path, inputs)
    quantized = {"int8", "w4a8"} & set(layer_precisions(model).values())
    source = f"{len(inputs)} training inputs of {calibration}" if inputs is not None else None
    calibrated = f"int8 activation ranges calibrated on {source or 'random inputs'}; "
    compared = "random inputs, not data"
    if inputs is not None:
        of = "those inputs" if quantized else source
        compared = f"the first {min(COMPARED_INPUTS, len(inputs))} of {of}"
    typer.echo(
        one_line(
            f"wrote {path}: {calibrated if quantized else 'no int8 blocks; '}ONNX Runtime's "
            f"output differs from the float model's by up to {diff:.3g} on {compared}"
        )
    )
    if quantized and inputs is None:
        say(
            "hwnas: note: calibrated on random inputs, as the search timed it: give "
            "--calibration with the run's dataset for a model to deploy"
        )
    if quantized and scaling is not None:
        _note_calibration_scaling(calibration, scaling, config)


def _note_calibration_scaling(calibration: str, scaling: Standardisation, config: dict) -> None:
    """Say where `--calibration`'s dataset, standardised by its own statistics (`scaling`),
    was not at the scaling the config records for the run's inputs: the int8 ranges fit the
    weights of `hwnas train --dataset` on it, not those trained on the run's data, whose
    deployed inputs get the config's scaling (the ranges and the inputs then differ)."""
    from hwnas.experiments.retrain import same_standardisation

    data = config.get("data")
    recorded = data.get("standardisation") if isinstance(data, dict) else None
    values = [recorded.get(k) for k in ("mean", "std")] if isinstance(recorded, dict) else []
    # lists of numbers, as export writes them: a record edited otherwise is set against nothing
    numbers = len(values) == 2 and all(
        isinstance(v, list) and all(isinstance(n, int | float) for n in v) for v in values
    )
    if not numbers or same_standardisation(scaling, recorded):
        return
    said = _scaling_text(recorded["mean"], recorded["std"])
    say(
        f"hwnas: note: the int8 ranges were calibrated on {calibration}'s inputs standardised "
        f"by its own statistics ({_scaling_text(scaling.mean, scaling.std)}), not by the "
        f"config's data.standardisation ({said}): right for weights trained on it (hwnas "
        f"train --dataset {shell_path(calibration)}); weights trained on the run's data take "
        "inputs scaled as the config says, which these ranges were not calibrated at "
        "(calibrate on the run's dataset, or in Python: docs/guide.md, section 6)"
    )

"""`hwnas search`: run (or continue) a search from an experiment file, then say how it ended
and how it goes on. A command on the root app, as those of `status`, `pareto` and `deploy`
are."""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path
from typing import NoReturn

import typer

from hwnas.cli import AS_PATH, examples, say, shell_path, stopped, stopped_word
from hwnas.cli.runs import targets_text
from hwnas.predictors.printable import one_line

app = typer.Typer()


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
    say(f"hwnas: note: {targets_text(left)} not searched before the run stopped: {how}")
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

"""The run loop on real storage with the NAS-Bench-201 table: a run, its results, a driver
killed with SIGKILL and resumed, two drivers on one journal, and failed evaluations."""

from __future__ import annotations

import gc
import math
import os
import pickle
import re
import select
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import types
import warnings
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing, suppress
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import pytest
import yaml
from benchdata import BENCHDATA, needs_nb201
from optuna.exceptions import StorageInternalError

import hwnas.experiments.run as run_module
from hwnas.evaluators.metrics import Metrics
from hwnas.evaluators.tabular import TabularEvaluator
from hwnas.experiments import load, optuna_storage, plots, run_experiment
from hwnas.experiments import results as results_module
from hwnas.experiments import storage as storage_module
from hwnas.experiments.components import make_searcher, make_space
from hwnas.experiments.config import ExperimentConfig, ExperimentError, parse_experiment
from hwnas.experiments.records import (
    EXPERIMENT,
    INTERRUPTED,
    KEY,
    STALE,
    SURPLUS,
    DamagedRecord,
    check_study_attrs,
    outcome_of,
    read_trials,
    stored_arch,
    trial_metrics,
)
from hwnas.experiments.run import _Loop
from hwnas.experiments.run_dir import check_run_dir, same_yaml
from hwnas.experiments.shown import metric_text, seconds_text
from hwnas.experiments.storage import Claim, RunStore
from hwnas.search import Objective
from hwnas.search.nsga2 import optuna_quiet
from hwnas.search.pareto import add_to_front, hypervolume, pareto_mask
from hwnas.spaces import Arch, SearchSpace

pytestmark = needs_nb201


def nb201_experiment(run_dir: Path, evaluations: int, **extra: str) -> str:
    """An NB201 tabular experiment (cost off: microseconds per evaluation) as YAML text."""
    lines = [
        "name: nb",
        "space: nasbench201",
        "evaluator: {name: tabular, settings: {tabular: {cost: false, latency: false}}}",
        "objectives: [{metric: accuracy, direction: max}, "
        "{metric: hw_fpga_latency_ms, direction: min}]",
        "constraints: [{metric: hw_fpga_latency_ms, max: 4.0}]",
        "searcher: {name: nsga2, settings: {population_size: 8}}",
        f"evaluations: {evaluations}",
        "storage: {journal: study.log, heartbeat_s: 0.5}",
        f"run_dir: {run_dir}",
        *(f"{k}: {v}" for k, v in extra.items()),
    ]
    return "\n".join(lines) + "\n"


def interrupted_at_call(n: int, method):
    """`method` (taking an arch or a claim first) raising KeyboardInterrupt at its n-th call,
    as a Ctrl-C landing there would; what it was called with is in `.archs`."""
    archs = []

    def wrapper(self, arch, *args, **kwargs):
        archs.append(arch)
        if len(archs) == n:
            raise KeyboardInterrupt
        return method(self, arch, *args, **kwargs)

    wrapper.archs = archs
    return wrapper


def evaluated_keys(run_dir: Path) -> list[str]:
    return list(load(run_dir).trials["key"])


def test_run_then_results(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    summary = run_experiment(parse_experiment(nb201_experiment(run_dir, 24)), progress=False)
    assert (summary.evaluated, summary.stopped_by) == (24, "evaluations")

    results = load(run_dir)
    df = results.trials
    assert len(df) == 24 and df["key"].is_unique and set(df["status"]) == {"ok"}
    assert {"1<-0", "3<-2", "accuracy", "hw_fpga_latency_ms", "feasible"} <= set(df.columns)
    assert list(df["feasible"]) == list(df["hw_fpga_latency_ms"] <= 4.0)

    front = results.pareto()
    feasible = df[df["feasible"]]
    assert len(front) >= 1 and set(front["key"]) <= set(feasible["key"])
    for _, p in front.iterrows():  # nothing feasible dominates a front member
        better = (feasible["accuracy"] >= p["accuracy"]) & (
            feasible["hw_fpga_latency_ms"] <= p["hw_fpga_latency_ms"]
        )
        strictly = (feasible["accuracy"] > p["accuracy"]) | (
            feasible["hw_fpga_latency_ms"] < p["hw_fpga_latency_ms"]
        )
        assert not (better & strictly).any()
    assert list(front["accuracy"]) == sorted(front["accuracy"], reverse=True)  # best first
    losses = results.losses(feasible, results.objectives)  # -accuracy, latency
    lo, hi = losses.min(axis=0), losses.max(axis=0)
    np.testing.assert_allclose(results.reference_point(), hi + 0.1 * (hi - lo))  # past the worst

    ref = [-50.0, 5.0]  # losses: -accuracy, latency
    pts = front.sort_values("hw_fpga_latency_ms")[["accuracy", "hw_fpga_latency_ms"]].to_numpy()
    area, best_acc = 0.0, 50.0  # exact 2D staircase by hand
    for i, (acc, lat) in enumerate(pts):
        right = pts[i + 1][1] if i + 1 < len(pts) else ref[1]
        best_acc = max(best_acc, acc)
        area += (right - lat) * (best_acc - 50.0)
    assert results.hypervolume(reference=ref) == pytest.approx(area)
    # 10**400: numpy's bare "int too large to convert to float"
    for bad in ([0], [math.nan, 5.0], [-50.0, math.inf], {"accuracy": -50.0}, [-50, 10**400]):
        with pytest.raises(ExperimentError, match=r"reference needs 2 finite numbers .* got "):
            results.hypervolume(reference=bad)  # not a hypervolume of 0 or inf
        with pytest.raises(ExperimentError, match="reference needs 2 finite"):
            results.progress(reference=bad)
    with pytest.raises(ExperimentError, match="objectives: give at least one"):
        results.pareto([])  # not quietly the run's own objectives
    number = int(front["number"].iloc[0])
    assert results.arch(np.int64(number)) == results.arch(number)
    with pytest.raises(ExperimentError, match="a trial number is an integer, not '3'"):
        results.arch("3")
    for bad in ("x", 2.5, None):  # 2.5 was read as trial 2, the others were Python's errors
        with pytest.raises(ExperimentError, match=f"a trial number is an integer, not {bad!r}"):
            results.no_evaluation(bad)
    with pytest.raises(ExperimentError, match=r"objectives: a list of .* not 0$"):
        results.pareto(0)  # was "object of type 'int' has no len()"
    as_strings = ["accuracy:max", "hw_fpga_latency_ms"]  # as the CLI takes them
    assert results.hypervolume(as_strings, reference=ref) == pytest.approx(area)
    best = results.pareto([("accuracy", "max")])
    assert len(best) == 1 and best["accuracy"].iloc[0] == feasible["accuracy"].max()
    alone = results.pareto(("accuracy", "max"))  # one pair without its list: not two metrics
    assert alone["number"].tolist() == best["number"].tolist()
    for misspelt in ("MAX", "up", "maximize"):  # once taken for min: the worst arch as front
        with pytest.raises(ExperimentError, match=f"'accuracy:{misspelt}': say metric:min"):
            results.pareto([("accuracy", misspelt)])
    # a mapping's directions were ignored (its keys read as bare metrics: the run's min for
    # latency); a searcher's Objectives and a direction that is no text were a TypeError
    with pytest.raises(ExperimentError, match="not a mapping .* list\\(objectives.items"):
        results.pareto({"accuracy": "max", "hw_fpga_latency_ms": "max"})
    with pytest.raises(ExperimentError, match=r"objectives\[0\]: a \(metric, 'min'\|'max'\) pair"):
        results.pareto([("accuracy", 1)])
    searched = [Objective("accuracy", "max"), Objective("hw_fpga_latency_ms", "min")]
    assert results.pareto(searched)["number"].tolist() == front["number"].tolist()
    assert results.pareto(searched[0])["number"].tolist() == best["number"].tolist()

    progress = results.progress()
    assert len(progress) == 24 and np.all(np.diff(progress["hypervolume"]) >= -1e-9)
    last = progress.iloc[-1]  # the best so far, in the objectives' own units
    assert last["best_accuracy"] == feasible["accuracy"].max()
    assert last["best_hw_fpga_latency_ms"] == feasible["hw_fpga_latency_ms"].min()
    figures = results.figures()
    assert {"pareto_2d", "progress_evaluations", "progress_time", "choices", "parallel"} <= set(
        figures
    )
    hover = " ".join(figures["pareto_2d"].data[-1].text)
    assert "|" in hover and "~0|" in hover  # the NB201 cell string of each front member
    as_strings = plots.pareto_2d(results, ["accuracy:max", "hw_fpga_latency_ms:min"])
    assert as_strings.to_dict() == figures["pareto_2d"].to_dict()  # as the docstring allows
    with pytest.raises(ExperimentError, match="pareto_3d needs 3 objectives"):
        plots.pareto_3d(results, results.objectives)
    three = [*results.objectives, ("test_accuracy", "max")]  # which corner is best, as in 2D
    title = plots.pareto_3d(results, three).layout.title.text
    said = "accuracy (%, max), hw_fpga_latency_ms (min), test_accuracy (%, max)"
    assert title == f"Pareto front: {said}"
    with pytest.raises(ExperimentError, match=r"no metric 'acuracy' .*did you mean 'accuracy'"):
        plots.parallel_coordinates(results, [("acuracy", "max")])
    with pytest.raises(ExperimentError, match="over must be 'evaluations' or 'time'"):
        plots.progress_figure(results, results.objectives, "seconds")

    optuna_study = optuna.load_study(study_name="nb", storage=results.study._storage)
    assert len(optuna_study.best_trials) >= 1  # a plain Optuna study: dashboard and plots work
    assert optuna_study.metric_names == ["accuracy", "hw_fpga_latency_ms"]  # the axes' labels
    best = {t.user_attrs[KEY] for t in optuna_study.best_trials}  # Optuna's constrained front
    assert best and best <= set(feasible["key"])
    for t in optuna_study.trials:  # as Optuna's samplers and dashboard read feasibility
        assert t.system_attrs["constraints"] == [t.user_attrs["hw_fpga_latency_ms"] - 4.0]


def test_a_value_at_a_constraints_bound_is_feasible(tmp_path: Path) -> None:
    """A constraint is `metric <= max`: a candidate exactly at the bound meets it. The random
    searcher proposes the same candidates whatever the bound, so a second run can set its
    bound to a latency the first one met."""

    def random_search(run_dir: Path, bound: float) -> None:
        text = nb201_experiment(run_dir, 8).replace("max: 4.0", f"max: {bound!r}")
        text = text.replace("{name: nsga2, settings: {population_size: 8}}", "random")
        run_experiment(parse_experiment(text), progress=False)

    random_search(tmp_path / "first", 4.0)
    latencies = sorted(load(tmp_path / "first").trials["hw_fpga_latency_ms"])
    bound = latencies[len(latencies) // 2]
    random_search(tmp_path / "second", bound)
    df = load(tmp_path / "second").trials
    assert sorted(df["hw_fpga_latency_ms"]) == latencies
    at_bound = df["hw_fpga_latency_ms"] == bound
    assert at_bound.any() and df.loc[at_bound, "feasible"].all()
    assert list(df["feasible"]) == list(df["hw_fpga_latency_ms"] <= bound)


def test_progress_measures_only_the_front_as_it_changes(tmp_path: Path, monkeypatch) -> None:
    """`progress` gives the hypervolume only the front, once per change: recomputing it
    from every evaluation so far after each one was quadratic (minutes at 50 000)."""
    run_dir = tmp_path / "run"
    run_experiment(parse_experiment(nb201_experiment(run_dir, 40)), progress=False)
    results = load(run_dir)
    given = []

    def counted(points, ref):
        given.append(np.asarray(points, dtype=float))
        return hypervolume(points, ref)

    monkeypatch.setattr(results_module, "hypervolume", counted)
    progress = results.progress()
    losses = results.losses(results.trials, results.objectives)
    usable = results.candidates().index
    assert 0 < len(given) <= len(usable)
    for before, points in zip([None, *given], given):  # a front, and only once it changed
        assert pareto_mask(points).all()
        assert before is None or before.shape != points.shape or (before != points).any()
    ref = results.reference_point()
    for i, volume in enumerate(progress["hypervolume"]):  # as measured from every point so far
        seen = losses[[j for j in usable if j <= i]]
        assert volume == pytest.approx(hypervolume(seen, ref) if len(seen) else 0.0)


def test_progress_counts_the_first_evaluation(tmp_path: Path) -> None:
    """The first evaluation (all feasible here) is the best so far after one, and has a
    hypervolume of its own: progress begins with it, not with nothing."""
    run_dir = tmp_path / "run"
    text = nb201_experiment(run_dir, 4).replace("max: 4.0", "max: 1000.0")
    run_experiment(parse_experiment(text), progress=False)
    results = load(run_dir)
    first, progress = results.trials.iloc[0], results.progress()
    assert progress.loc[0, "best_accuracy"] == first["accuracy"]
    assert progress.loc[0, "best_hw_fpga_latency_ms"] == first["hw_fpga_latency_ms"]
    assert progress.loc[0, "hypervolume"] > 0


def test_each_stored_architecture_is_read_once(tmp_path: Path, monkeypatch) -> None:
    """The rows, a front's architectures, a report's hover texts and an export read the
    same stored architectures: each was parsed and hashed again every time (a report of
    5000 evaluations read each twice)."""
    run_dir = tmp_path / "run"
    run_experiment(parse_experiment(nb201_experiment(run_dir, 24)), progress=False)
    results = load(run_dir)
    read = Counter()

    def counted(trial):
        read[trial.number] += 1
        return stored_arch(trial)

    monkeypatch.setattr(results_module, "stored_arch", counted)
    numbers = list(results.trials["number"])
    archs = [results.arch(n) for n in numbers]
    plots.write_report(results, results.objectives, tmp_path / "report.html")
    assert [a.key for a in archs] == list(results.trials["key"])
    assert read == Counter(numbers)


def test_the_runs_copy_of_its_experiment_reads_back_as_written(tmp_path: Path) -> None:
    """The run's experiment.yaml is read as YAML 1.2 (as every experiment file): a name such
    as `1e5`, quoted in the user's file, was written back plain by safe_dump (YAML 1.1 wants a
    dot in a float), so `status`, `pareto` and a resume of the run read a number and refused
    it ("name: Input should be a valid string")."""
    text = nb201_experiment(tmp_path / "run", 2).replace("name: nb\n", "name: '1e5'\n")
    run_experiment(parse_experiment(text), progress=False)
    assert load(tmp_path / "run").config.name == "1e5"


@pytest.mark.parametrize("name", ["status", "key", "trial", "1<-0", "hwnas_arch", "origin_x"])
def test_a_metric_named_as_a_column_of_the_results_is_refused(tmp_path: Path, name: str) -> None:
    """A table's metric named `status` took the place of the evaluations' status in the
    results (each read as neither ok nor failed: an empty front, `ok 0, failed 0`), `trial`
    the trial number in `hwnas pareto --json`, `hwnas_arch` the stored architecture: such
    names are refused before the run starts."""
    metrics = f"metrics: {{accuracy: cifar10valid_valid_acc_200ep, '{name}': cifar10_test_200ep}}"
    text = nb201_experiment(tmp_path / "run", 2).replace(
        "latency: false", f"latency: false, {metrics}"
    )
    with pytest.raises(ExperimentError, match=f"evaluator: metrics named {re.escape(name)}: ") as e:
        run_experiment(parse_experiment(text), progress=False)
    assert not (tmp_path / "run").exists()
    # renamed, a run of an earlier hwnas is another experiment: it resumes nowhere but anew
    assert str(e.value).endswith("(a run started with them by an earlier hwnas: in a new run_dir)")


def test_loaded_results_are_one_moment_of_a_run_that_goes_on(tmp_path: Path) -> None:
    """A notebook's `load` of a live run: an architecture asked for before the trials were
    read, and evaluations finished in between, left the figures unable to find the
    architectures of the newer trials."""
    run_dir = tmp_path / "run"
    run_experiment(parse_experiment(nb201_experiment(run_dir, 6)), progress=False)
    results = load(run_dir)
    first = results.arch(0)
    run_experiment(parse_experiment(nb201_experiment(run_dir, 12)), progress=False)
    assert len(results.trials) == 6 and results.arch(0) == first
    assert "pareto_2d" in results.figures()
    assert len(load(run_dir).trials) == 12


def test_a_change_to_the_trials_frame_read_reaches_no_later_answer(tmp_path: Path) -> None:
    """A notebook rescaling `results.trials["accuracy"] *= 100` in place changed the run's
    results: the trials frame read was the one the fronts and hypervolumes are made of, so
    the next front showed the rescaled numbers and the hypervolume grew a hundredfold (fronts
    made before the change kept the old ones)."""
    run_dir = tmp_path / "run"
    run_experiment(parse_experiment(nb201_experiment(run_dir, 12)), progress=False)
    results, fresh = load(run_dir), load(run_dir)
    df = results.trials
    df["accuracy"] *= 100
    del df["feasible"]
    assert results.trials.equals(fresh.trials)
    assert results.pareto().equals(fresh.pareto())
    assert results.hypervolume() == fresh.hypervolume()
    assert results.progress().equals(fresh.progress())


def test_a_view_made_from_the_runs_objectives_leaves_the_run_its_own(tmp_path: Path) -> None:
    """`view = results.objectives; view.append(...)` for a front of three objectives made
    that the run's own: every later default front, hypervolume and figure used it."""
    run_dir = tmp_path / "run"
    run_experiment(parse_experiment(nb201_experiment(run_dir, 12)), progress=False)
    results, fresh = load(run_dir), load(run_dir)
    view = results.objectives
    view.append(("test_accuracy", "max"))
    results.constraints.clear()
    assert results.objectives == fresh.objectives and len(results.objectives) == 2
    assert results.constraints == fresh.constraints == [("hw_fpga_latency_ms", 4.0)]
    assert results.hypervolume() == fresh.hypervolume()


def test_a_change_to_the_config_or_stored_trials_read_reaches_no_later_answer(
    tmp_path: Path,
) -> None:
    """`results.config` and `results.stored_trials` were the run's own: a notebook's
    `config.objectives.pop()` made every later default front and hypervolume one of a single
    objective, and emptying the trials read (or one trial's attributes) emptied `trials`."""
    run_dir = tmp_path / "run"
    run_experiment(parse_experiment(nb201_experiment(run_dir, 12)), progress=False)
    results, fresh = load(run_dir), load(run_dir)
    config = results.config
    config.objectives.pop()
    config.constraints.clear()
    config.searcher.settings["population_size"] = 2
    assert results.config == fresh.config
    assert results.objectives == fresh.objectives and results.constraints == fresh.constraints
    stored = results.stored_trials
    stored[0].user_attrs.clear()
    stored.clear()
    assert len(results.stored_trials) == len(fresh.stored_trials) > 0
    assert results.trials.equals(fresh.trials)
    assert results.hypervolume() == fresh.hypervolume()


def test_unpickled_results_answer_from_what_was_read_and_never_make_a_storage(
    tmp_path: Path,
) -> None:
    """Results sent to another process (multiprocessing pickles them): Optuna's SQLite
    storage, unpickled, connected at once and created its tables, so with the run's study.db
    gone unpickling wrote an empty one into the run folder, and with the folder moved it
    failed in SQLAlchemy's words, though the trials had been read."""
    run_dir = tmp_path / "run"
    text = nb201_experiment(run_dir, 4).replace("journal: study.log, ", "")
    run_experiment(parse_experiment(text), progress=False)
    results = load(run_dir)
    trials, versions = results.trials, results.versions
    pickled = pickle.dumps(results)
    for file in run_dir.glob("study.db*"):
        file.rename(tmp_path / file.name)
    unpickled = pickle.loads(pickled)
    assert unpickled.trials.equals(trials) and not (run_dir / "study.db").exists()
    with pytest.raises(ExperimentError, match=f"{run_dir / 'study.db'}: not found"):
        _ = unpickled.versions  # more to read: the storage is opened as `load` opens it
    for file in tmp_path.glob("study.db*"):
        file.rename(run_dir / file.name)
    assert pickle.loads(pickled).versions == versions


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="lists descriptors by /proc")
def test_loaded_results_hold_no_descriptor_of_their_storage_between_reads(
    tmp_path: Path,
) -> None:
    """A notebook loading run after run: each `load` of a SQLite run kept its connections'
    descriptors of study.db and its -wal file until the garbage collector found the storage
    (or for as long as the results were kept), so a loop over a few hundred runs ran out of
    descriptors. Reads after the first still work."""
    run_dir = tmp_path / "run"
    run_experiment(parse_experiment(_lut_experiment(run_dir)), progress=False)
    gc.disable()
    try:
        kept = [load(run_dir) for _ in range(3)]
        assert [len(results.trials) for results in kept] == [4, 4, 4]
        assert _descriptors_in(run_dir) == []
        assert kept[0].versions and kept[0].study.user_attrs  # read later, opened again
        assert _descriptors_in(run_dir) == []
    finally:
        gc.enable()


def _descriptors_in(folder: Path) -> list[str]:
    """The files in `folder` this process holds open."""
    held = []
    for fd in os.listdir("/proc/self/fd"):
        with suppress(OSError):  # the listing's own descriptor, closed since
            held.append(os.readlink(f"/proc/self/fd/{fd}"))
    return [file for file in held if file.startswith(str(folder))]


def test_a_report_written_over_is_whole_or_as_it_was(tmp_path: Path) -> None:
    """`hwnas pareto --html r.html` again while a search runs, over the report a browser
    shows: the file was truncated, then written, so a reload meanwhile read half of it, and
    a write that failed (a full disk; here a process's file-size limit) left it cut off."""
    run_dir, report = tmp_path / "run", tmp_path / "report.html"
    run_experiment(parse_experiment(nb201_experiment(run_dir, 4)), progress=False)
    results = load(run_dir)
    plots.write_report(results, results.objectives, report)
    before = report.read_bytes()
    script = (
        "import resource, signal, sys\n"
        "from pathlib import Path\n"
        "from hwnas.experiments import load, plots\n"
        "results = load(sys.argv[1])\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"  # a write past it fails instead
        "resource.setrlimit(resource.RLIMIT_FSIZE, (100_000, 100_000))\n"
        "plots.write_report(results, results.objectives, Path(sys.argv[2]))\n"
    )
    failed = subprocess.run(
        [sys.executable, "-c", script, str(run_dir), str(report)], capture_output=True
    )
    assert failed.returncode != 0 and b"File too large" in failed.stderr
    assert report.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.html", "run"]  # no temp left


def test_a_report_written_through_a_link_updates_the_file_it_names(tmp_path: Path) -> None:
    """`report.html` a link to the page a web server shows: written whole, the report was
    renamed over the link, which became a file of its own, and the page was never updated."""
    run_dir, served = tmp_path / "run", tmp_path / "www" / "nas.html"
    run_experiment(parse_experiment(nb201_experiment(run_dir, 4)), progress=False)
    served.parent.mkdir()
    served.write_text("the old page")
    link = tmp_path / "report.html"
    link.symlink_to(served)
    results = load(run_dir)
    plots.write_report(results, results.objectives, link)
    assert link.is_symlink() and link.resolve() == served
    assert "4 evaluations" in served.read_text()
    assert sorted(p.name for p in served.parent.iterdir()) == ["nas.html"]  # no temp left


def test_a_report_named_html_that_links_to_the_run_is_refused(tmp_path: Path) -> None:
    """`report.html` a link to the run's `study.db` (or any file not named .html): written
    through the link, the report replaced the run's results."""
    run_dir = tmp_path / "run"
    run_experiment(parse_experiment(nb201_experiment(run_dir, 4)), progress=False)
    study = run_dir / "study.log"
    before = study.read_bytes()
    link = tmp_path / "report.html"
    link.symlink_to(study)
    results = load(run_dir)
    with pytest.raises(ExperimentError, match=r"ends in \.html, not \.log \(.*links to"):
        plots.write_report(results, results.objectives, link)
    assert study.read_bytes() == before and link.is_symlink()


def test_the_choices_figure_names_what_the_front_is_set_against(tmp_path: Path) -> None:
    """The grey bars count the feasible successful evaluations only, but were named "all":
    of a run with infeasible evaluations, read as shares over every evaluation."""
    run_dir = tmp_path / "run"
    run_experiment(parse_experiment(nb201_experiment(run_dir, 24)), progress=False)
    results = load(run_dir)
    assert not results.trials["feasible"].all()  # some break the latency constraint
    bars = {t.name: dict(zip(t.x, t.y)) for t in results.figures()["choices"].data}
    assert set(bars) == {"all feasible", "front"}
    ops = Counter(results.candidates()[[c for c in results.trials if "<-" in c]].stack())
    assert bars["all feasible"] == {op: n / ops.total() for op, n in ops.items()}


def test_a_misspelt_metric_is_named_while_no_evaluation_is_feasible(tmp_path: Path) -> None:
    """Successes that all break a constraint have every metric: a view naming one the run
    lacks is refused, not an empty front and no figures."""
    run_dir = tmp_path / "run"
    text = nb201_experiment(run_dir, 4).replace("max: 4.0", "max: 0.01")
    run_experiment(parse_experiment(text), progress=False)
    results = load(run_dir)
    assert results.pareto().empty and "pareto_2d" in results.figures()
    view = ["acuracy:max", "hw_fpga_latency_ms"]
    with pytest.raises(ExperimentError, match="no metric 'acuracy' .*did you mean 'accuracy'"):
        results.pareto(view)
    with pytest.raises(ExperimentError, match="no metric 'acuracy'"):
        results.figures(view)


def test_run_experiment_says_when_nothing_is_feasible(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """`hwnas search` ended a run whose every success broke a constraint with a note saying
    so; `run_experiment` ended it without a word, its summary counting them as any others."""
    run_dir = tmp_path / "run"
    text = nb201_experiment(run_dir, 4).replace("max: 4.0", "max: 0.01")
    summary = run_experiment(parse_experiment(text), progress=False)
    assert (summary.evaluated, summary.failed) == (4, 0)
    least = metric_text(load(run_dir).trials["hw_fpga_latency_ms"].min())
    assert capsys.readouterr().err.splitlines()[-1] == (
        f"hwnas: note: no successful evaluation met the constraint hw_fpga_latency_ms <= 0.01 "
        f"(least: {least}): nothing is feasible; details: hwnas status {run_dir}"
    )
    met = nb201_experiment(tmp_path / "met", 4).replace("max: 4.0", "max: 100")
    run_experiment(parse_experiment(met), progress=False)
    assert "nothing is feasible" not in capsys.readouterr().err


def test_hover_texts_build_no_pandas_row_per_point(tmp_path: Path, monkeypatch) -> None:
    """A report's hover texts read the points' columns: a pandas row per point (`iterrows`)
    took a second of a 5000-evaluation report. The Series they make do not grow with the
    points; the texts are those of each row."""
    run_dir = tmp_path / "run"
    run_experiment(parse_experiment(nb201_experiment(run_dir, 16)), progress=False)
    results = load(run_dir)
    df = results.trials[results.trials["status"] == "ok"]
    made = []
    series_init = pd.Series.__init__

    def counted(self, *args, **kwargs):
        made.append(1)
        series_init(self, *args, **kwargs)

    monkeypatch.setattr(pd.Series, "__init__", counted)
    texts = plots._hover(results, df, results.objectives)
    all_points = len(made)
    plots._hover(results, df.head(2), results.objectives)
    assert len(made) - all_points == all_points
    monkeypatch.undo()
    row = df.iloc[-1]
    number = int(row["number"])
    assert texts[-1] == (
        f"#{number} {row['key']}<br>{results.describe(results.arch(number))}<br>"
        f"accuracy: {metric_text(row['accuracy'])}<br>"
        f"hw_fpga_latency_ms: {metric_text(row['hw_fpga_latency_ms'])}"
    )


def test_hover_texts_show_counts_as_the_front_table_does(tmp_path: Path) -> None:
    """A network's parameter count in a figure's hover text is the whole number the front
    table prints (185,306), not '1.853e+05'."""
    run_dir = tmp_path / "run"
    text = nb201_experiment(run_dir, 4).replace("cost: false", "cost: true")
    run_experiment(parse_experiment(text), progress=False)
    results = load(run_dir)
    df = results.trials[results.trials["status"] == "ok"]
    texts = plots._hover(results, df, results.objectives)
    for hover, params in zip(texts, df["params"], strict=True):
        assert f"<br>params: {int(params):,}<br>" in hover and "e+" not in hover


def test_a_report_ranks_the_front_and_measures_progress_once(tmp_path: Path, monkeypatch) -> None:
    """A report's figures and its front table asked `pareto` four times and `progress` twice
    for the same objectives, each ranking every evaluation again (seconds at 5000); each
    caller still gets a front of its own to change."""
    run_dir = tmp_path / "run"
    run_experiment(parse_experiment(nb201_experiment(run_dir, 16)), progress=False)
    results = load(run_dir)
    ranked, measured = [], []

    def counted_mask(points):
        ranked.append(len(points))
        return pareto_mask(points)

    def counted_add(front, point):
        measured.append(1)
        return add_to_front(front, point)

    monkeypatch.setattr(results_module, "pareto_mask", counted_mask)
    monkeypatch.setattr(results_module, "add_to_front", counted_add)
    plots.write_report(results, results.objectives, tmp_path / "report.html")
    front = results.pareto()
    assert ranked == [len(results.candidates())]
    assert len(measured) == len(results.candidates())
    front["accuracy"] = 0.0
    assert (results.pareto()["accuracy"] > 0).all()
    assert results.progress().equals(results.progress())


DRIVER = """
import sys
from hwnas.experiments import run_experiment
from hwnas.experiments.config import load_experiment
run_experiment(load_experiment(sys.argv[1]), progress=False)
"""


def start_driver(exp: Path) -> subprocess.Popen:
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    return subprocess.Popen(
        [sys.executable, "-c", DRIVER, str(exp)], env=env, stderr=subprocess.PIPE, text=True
    )


def trials_of(run_dir: Path) -> list[optuna.trial.FrozenTrial]:
    """The trials of the run's journal, or of its default SQLite file when it has no journal."""
    from optuna.storages.journal import JournalFileBackend, JournalStorage

    log, db = run_dir / "study.log", run_dir / "study.db"
    if log.exists():
        storage = JournalStorage(JournalFileBackend(str(log)))
    elif db.exists():
        storage = f"sqlite:///{db}"
    else:
        return []
    try:
        return optuna.load_study(study_name="nb", storage=storage).get_trials(deepcopy=False)
    except KeyError:
        return []


def digits_training_experiment(run_dir: Path, evaluations: int) -> str:
    """NB201 cells trained for real on 8x8 digits for a few steps: about a second each, so a
    SIGKILL lands mid-run however fast the machine is. The macro network is cut to one cell
    per stage at 8 channels (its space file is written beside the run folder): the full one
    takes 4 s an evaluation and tests nothing more."""
    space = run_dir.parent / "nb201-small.yaml"
    space.write_text(
        "name: nb201-small\nkind: nasbench201\ninput: {channels: 1, height: 8, width: 8}\n"
        "channels: 8\ncells_per_stage: 1\n"
    )
    return (
        "\n".join(
            [
                "name: nb",
                f"space: {{name: {space}}}",
                "dataset: digits",
                "evaluator: {name: train, settings: {train: {steps: 15, batch_size: 32}}}",
                "objectives: [{metric: accuracy, direction: max},"
                " {metric: params, direction: min}]",
                "searcher: {name: nsga2, settings: {population_size: 8}}",
                f"evaluations: {evaluations}",
                "storage: {journal: study.log, heartbeat_s: 0.5}",
                f"run_dir: {run_dir}",
            ]
        )
        + "\n"
    )


def test_sigkill_then_resume_gives_exactly_the_requested_evaluations(tmp_path: Path) -> None:
    run_dir, exp = tmp_path / "run", tmp_path / "exp.yaml"
    requested = 12
    exp.write_text(digits_training_experiment(run_dir, requested))
    driver = start_driver(exp)
    deadline = time.monotonic() + 300  # a cap for slow machines, not a timing check
    while time.monotonic() < deadline and driver.poll() is None:
        done = [t for t in trials_of(run_dir) if outcome_of(t) == "ok"]
        if len(done) >= 3:
            break
        time.sleep(0.2)
    assert driver.poll() is None, driver.stderr.read()
    driver.send_signal(signal.SIGKILL)
    driver.wait()
    before = {t.user_attrs[KEY]: t.values for t in trials_of(run_dir) if t.values}
    in_flight = {t.user_attrs[KEY] for t in trials_of(run_dir) if outcome_of(t) == "running"}
    assert 3 <= len(before) < requested

    summary = run_experiment(parse_experiment(exp.read_text()), resume=True, progress=False)
    assert summary.evaluated == requested and summary.stopped_by == "evaluations"
    keys = evaluated_keys(run_dir)
    assert len(keys) == requested == len(set(keys))  # exactly the requested, no duplicates
    after = {t.user_attrs[KEY]: t.values for t in trials_of(run_dir) if t.values}
    assert all(after[k] == v for k, v in before.items())  # nothing lost or redone
    stale = {t.user_attrs[KEY] for t in trials_of(run_dir) if outcome_of(t) == STALE}
    assert stale == in_flight  # the killed driver's in-flight candidates were marked stale ...
    assert stale <= set(keys)  # ... and evaluated again, once


def test_hwnas_leaves_optunas_verbosity_as_it_was_and_says_no_study_created(
    tmp_path: Path,
) -> None:
    """Importing hwnas set Optuna's verbosity to WARNING for the whole process: a notebook's
    own Optuna studies lost their INFO lines ("Trial 3 finished with value ..."). A run
    quiets only the creation of its own study."""
    code = (
        "import sys, optuna\n"
        "from hwnas.experiments import parse_experiment, run_experiment\n"
        "print(optuna.logging.get_verbosity())\n"
        "run_experiment(parse_experiment(sys.stdin.read()), progress=False)\n"
        "print(optuna.logging.get_verbosity())\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        input=nb201_experiment(tmp_path / "run", 4),
        env={**os.environ, "HWNAS_BENCHDATA": str(BENCHDATA)},
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.split() == [str(optuna.logging.INFO)] * 2
    assert "A new study created" not in done.stderr


def test_runs_quieting_optuna_at_once_in_two_threads_leave_its_verbosity_as_it_was() -> None:
    """Optuna's verbosity is process-wide: two runs of a notebook or a service creating their
    studies at once each restored the verbosity it found, the second one the first's WARNING,
    so the user's own studies lost their INFO lines for good; and a study created after the
    first restored INFO logged "A new study created"."""
    first_in, second_in, first_out = threading.Event(), threading.Event(), threading.Event()
    inside_second = []

    def first() -> None:
        with optuna_quiet():
            first_in.set()
            second_in.wait(60)
        first_out.set()

    def second() -> None:
        first_in.wait(60)
        with optuna_quiet():
            second_in.set()
            first_out.wait(60)
            inside_second.append(optuna.logging.get_verbosity())

    before = optuna.logging.get_verbosity()
    threads = [threading.Thread(target=body) for body in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert inside_second == [optuna.logging.WARNING]
    assert optuna.logging.get_verbosity() == before


def processes_naming(text: str) -> list[str]:
    """The command lines of this machine's processes that contain `text`."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            line = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:  # ended meanwhile
            continue
        if text in line:
            found.append(line)
    return found


@pytest.mark.parametrize(
    ("signum", "code", "word"),
    [(signal.SIGTERM, 143, "terminated"), (signal.SIGHUP, 129, "hung up")],
)
def test_sigterm_or_sighup_stops_like_ctrl_c_with_ray(
    signum: int,
    code: int,
    word: str,
    tmp_path: Path,
    ray_temp_dir: Path,
    hangup_as_in_a_terminal: None,
) -> None:
    """`timeout` or a batch scheduler sends SIGTERM, a closed terminal or a `kill -HUP` SIGHUP:
    the claims are given back, the exit code is 128 + the signal's number, the resume command
    is printed and the embedded Ray is shut down (Ray's own SIGTERM handler would abort
    instead; SIGHUP ended the driver outright, its claims left live and its Ray running)."""
    run_dir, exp = tmp_path / "run", tmp_path / "exp.yaml"
    ray = "executor: {kind: ray, max_in_flight: 2, resources: {num_cpus: 1}}\n"
    exp.write_text(digits_training_experiment(run_dir, 40) + ray)
    env = {
        **os.environ,
        "RAY_USAGE_STATS_ENABLED": "0",
        "RAY_AUTH_MODE": "disabled",
        "RAY_TMPDIR": str(ray_temp_dir),
    }
    cli = "from hwnas.cli import main; main()"
    driver = subprocess.Popen(
        [sys.executable, "-c", cli, "search", str(exp), "--quiet"],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 300  # a cap for slow machines, not a timing check
    while time.monotonic() < deadline and driver.poll() is None:
        if sum(outcome_of(t) == "ok" for t in trials_of(run_dir)) >= 2:
            break
        time.sleep(0.2)
    assert driver.poll() is None, driver.stderr.read()
    driver.send_signal(signum)
    exit_code = driver.wait(timeout=120)
    said = driver.stderr.read()
    assert exit_code == code, said
    assert f"hwnas: {word}; resume with: hwnas search {exp} --resume" in said
    assert "Started a local Ray instance" not in said  # --quiet: no notes of Ray's either
    outcomes = [outcome_of(t) for t in trials_of(run_dir)]
    assert "running" not in outcomes and outcomes.count("ok") >= 2
    deadline = time.monotonic() + 60  # Ray's processes end as it shuts down, not at once
    while processes_naming(str(ray_temp_dir)) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not processes_naming(str(ray_temp_dir))


def test_a_closed_terminal_stops_the_search_resumably(
    tmp_path: Path, hangup_as_in_a_terminal: None
) -> None:
    """The terminal (or the ssh connection) of a search closed: SIGHUP ended it outright, its
    claims left live, and once the search stopped on it, every write to the terminal that had
    hung up failed (EIO), the stop message's too, and it ended as a failed command (1). Now
    it stops as on Ctrl-C, with status 129. The search runs on a pseudo-terminal that is its
    controlling terminal, as a login shell's command does, and the test closes it."""
    import pty

    run_dir, exp = tmp_path / "run", tmp_path / "exp.yaml"
    exp.write_text(digits_training_experiment(run_dir, 40))
    terminal, its_end = pty.openpty()
    cli = (
        "import fcntl, termios\n"
        "fcntl.ioctl(0, termios.TIOCSCTTY, 0)\n"  # a new session's leader: its terminal
        "from hwnas.cli import main; main()"
    )
    driver = subprocess.Popen(
        [sys.executable, "-c", cli, "search", str(exp)],
        stdin=its_end,
        stdout=its_end,
        stderr=its_end,
        start_new_session=True,
    )
    os.close(its_end)
    shown = []
    deadline = time.monotonic() + 300  # a cap for slow machines, not a timing check
    while time.monotonic() < deadline and driver.poll() is None:
        if select.select([terminal], [], [], 0.2)[0]:
            shown.append(os.read(terminal, 65536))  # a full terminal would block the search
        if sum(outcome_of(t) == "ok" for t in trials_of(run_dir)) >= 2:
            break
    assert driver.poll() is None, b"".join(shown).decode(errors="replace")
    os.close(terminal)  # the terminal hangs up: SIGHUP to the search
    assert driver.wait(timeout=120) == 129
    outcomes = [outcome_of(t) for t in trials_of(run_dir)]
    assert "running" not in outcomes and outcomes.count("ok") >= 2


def test_sigterm_while_ray_starts_stops_like_ctrl_c(tmp_path: Path, ray_temp_dir: Path) -> None:
    """`ray.init` sets a SIGTERM handler of its own (`sys.exit(15)`) for the seconds Ray takes
    to start: a SIGTERM then ended the search with status 15 and no word. Here it is sent as
    soon as Ray's GCS starts (`python -m sigterm_in_ray_init ARGS` is `hwnas ARGS`)."""
    run_dir, exp = tmp_path / "run", tmp_path / "exp.yaml"
    ray = "executor: {kind: ray, max_in_flight: 1, resources: {num_cpus: 1}}\n"
    exp.write_text(digits_training_experiment(run_dir, 4) + ray)
    (tmp_path / "sigterm_in_ray_init.py").write_text(
        "import os, runpy, signal, subprocess, threading, time\n"
        "def sigterm_once_ray_starts():\n"
        "    ps = ['ps', '--ppid', str(os.getpid()), '-o', 'comm=']\n"
        "    while 'gcs_server' not in subprocess.run(ps, capture_output=True, text=True).stdout:\n"
        "        time.sleep(0.005)\n"
        "    os.kill(os.getpid(), signal.SIGTERM)\n"
        "threading.Thread(target=sigterm_once_ray_starts, daemon=True).start()\n"
        "runpy.run_module('hwnas', run_name='__main__', alter_sys=True)\n"
    )
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "disabled"}
    done = subprocess.run(
        [sys.executable, "-m", "sigterm_in_ray_init", "search", str(exp), "--quiet"],
        cwd=tmp_path,
        env={**env, "RAY_TMPDIR": str(ray_temp_dir)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 143, done.stderr
    assert f"hwnas: terminated before the run was stored; start it with: hwnas search {exp}" in (
        done.stderr
    )


#: a process that gets Ctrl-C as the module `argv[1]` starts importing in its first search
#: (`argv[2]`), then searches again (`argv[3]`), as a notebook's kernel may
CTRL_C_IN_AN_IMPORT = """
import importlib.abc, signal, sys
from hwnas.experiments import run_experiment

class CtrlCInImport(importlib.abc.MetaPathFinder):
    sent = False

    def find_spec(self, name, path, target=None):
        if name == sys.argv[1] and not self.sent:
            self.sent = True
            signal.raise_signal(signal.SIGINT)
        return None

sys.meta_path.insert(0, CtrlCInImport())
try:
    run_experiment(sys.argv[2], progress=False)
except KeyboardInterrupt:
    print("first: interrupted", flush=True)
summary = run_experiment(sys.argv[3], progress=False)
print("second:", summary.evaluated, summary.failed)
"""


def test_ctrl_c_in_a_first_import_stops_the_search_and_the_next_one_runs(tmp_path: Path) -> None:
    """The first search of a process imports torch, scikit-learn, Optuna's storage and ONNX
    for seconds: a Ctrl-C inside such an import left the library half initialised, and every
    later search of the process (a notebook's) failed in it ("partially initialized module
    'torch' has no attribute 'cuda'") until the kernel restarted. Here Ctrl-C arrives inside
    torch's import (as it looks for `torch.nn`, its C part loaded): it stops the first search
    once the import is done, and the second one runs."""
    first, second = tmp_path / "first.yaml", tmp_path / "second.yaml"
    first.write_text(digits_training_experiment(tmp_path / "run1", 2))
    second.write_text(digits_training_experiment(tmp_path / "run2", 2))
    done = subprocess.run(
        [sys.executable, "-c", CTRL_C_IN_AN_IMPORT, "torch.nn", str(first), str(second)],
        env={**os.environ, "RAY_USAGE_STATS_ENABLED": "0"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["first: interrupted", "second: 2 0"], done.stderr


def test_a_resume_reads_each_stored_architecture_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The searcher is rebuilt from the stored architectures; the first round of the loop then
    parsed them all again, to tell it the evaluations it had just been given (a third of a
    second at 5000 trials), from another read of the storage."""
    run_dir = tmp_path / "run"
    config = parse_experiment(nb201_experiment(run_dir, 20))
    run_experiment(config, progress=False)
    parsed = []

    def counted(trial):
        parsed.append(trial.number)
        return stored_arch(trial)

    monkeypatch.setattr(storage_module, "stored_arch", counted)
    monkeypatch.setattr(run_module, "stored_arch", counted)
    summary = run_experiment(config.model_copy(update={"evaluations": 25}), progress=False)
    assert summary.evaluated == 25 and summary.by_this_driver == 5
    assert sorted(parsed) == list(range(25))  # each once, the five new ones included


def test_a_refused_resume_leaves_the_objective_names_the_study_holds(tmp_path: Path) -> None:
    """The study's metric names label Optuna's plots; they were written as the study was
    opened, before the check that refuses another experiment's objectives had run."""
    from optuna.storages.journal import JournalFileBackend, JournalStorage

    run_dir = tmp_path / "run"
    text = nb201_experiment(run_dir, 4)
    run_experiment(parse_experiment(text), progress=False)
    objective = "metric: hw_fpga_latency_ms, direction"
    other = text.replace(objective, objective.replace("fpga", "pixel3"))
    with pytest.raises(ExperimentError, match="started with other settings of objectives"):
        run_experiment(parse_experiment(other), progress=False)
    storage = JournalStorage(JournalFileBackend(str(run_dir / "study.log")))
    names = optuna.load_study(study_name="nb", storage=storage).metric_names
    assert names == ["accuracy", "hw_fpga_latency_ms"]


def test_another_name_storage_or_benchmark_on_an_existing_run_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The default table is recorded as the one found at the start: naming it is no change
    (nor is writing out a setting's default), nor is a copy of it found elsewhere (through
    another $HWNAS_BENCHDATA: the run goes on with the copy), while a table with other numbers
    (named, or found so) is."""
    run_dir = tmp_path / "run"
    text = nb201_experiment(run_dir, 4)
    run_experiment(parse_experiment(text), progress=False)
    elsewhere = tmp_path / "benchdata"
    elsewhere.mkdir()
    table, column = pd.read_csv(BENCHDATA / "nb201.csv.gz"), "cifar10valid_valid_acc_200ep"
    table.assign(**{column: table[column] - 1}).to_csv(elsewhere / "nb201.csv.gz", index=False)
    changes = {
        "storage": text.replace("journal: study.log", "journal: other.log"),
        "name": text.replace("name: nb", "name: nb2"),
        "benchmark": text + f"benchmark: {elsewhere / 'nb201.csv.gz'}\n",
    }
    for field, changed in changes.items():
        with pytest.raises(ExperimentError, match=f"started with other settings of {field}"):
            run_experiment(parse_experiment(changed), progress=False)
    named = text + f"benchmark: {(BENCHDATA / 'nb201.csv.gz').resolve()}\n"
    named = named.replace("population_size: 8}", "population_size: 8, crossover_prob: 0.5}")
    assert run_experiment(parse_experiment(named), progress=False).evaluated == 4  # defaults
    monkeypatch.setenv("HWNAS_BENCHDATA", str(elsewhere))
    with pytest.raises(
        ExperimentError, match=f"benchmark: '{BENCHDATA.resolve()}.*, now '{elsewhere}"
    ):
        run_experiment(parse_experiment(text), progress=False)
    assert len(load(run_dir).trials) == 4 and not (run_dir / "other.log").exists()
    (elsewhere / "nb201.csv.gz").write_bytes((BENCHDATA / "nb201.csv.gz").read_bytes())
    five = parse_experiment(text.replace("evaluations: 4", "evaluations: 5"))
    assert run_experiment(five, progress=False).evaluated == 5
    assert load(run_dir).config.benchmark == str(elsewhere / "nb201.csv.gz")


def test_a_run_refuses_its_device_latency_table_gone(tmp_path: Path) -> None:
    """A run of the tabular evaluator with `latency: true` reads the 24-device table beside
    the accuracy table: once that was deleted, a resume went on, its new results without the
    devices' columns the stored ones have."""
    folder = tmp_path / "benchdata"
    folder.mkdir()
    for name in ("nb201.csv.gz", "nb201_latency_24devices.csv.gz"):
        shutil.copy(BENCHDATA / name, folder)
    run_dir = tmp_path / "run"
    text = nb201_experiment(run_dir, 2, benchmark=str(folder / "nb201.csv.gz"))
    run_experiment(
        parse_experiment(text.replace("latency: false", "latency: true")), progress=False
    )
    (folder / "nb201_latency_24devices.csv.gz").unlink()
    more = text.replace("latency: false", "latency: true").replace(
        "evaluations: 2", "evaluations: 3"
    )
    gone = folder / "nb201_latency_24devices.csv.gz"
    with pytest.raises(ExperimentError, match=f"the benchmark table {gone} is gone since the run"):
        run_experiment(parse_experiment(more), progress=False)
    assert len(load(run_dir).trials) == 2


def test_a_run_refuses_a_benchmark_table_whose_numbers_changed(tmp_path: Path) -> None:
    """A table of one's own edited in place was read as it was now: a resumed run mixed two
    tables' accuracies in one front. The same numbers written again are no change."""
    table = tmp_path / "table.csv"
    original = pd.read_csv(BENCHDATA / "nb201.csv.gz")
    original.to_csv(table, index=False)
    run_dir = tmp_path / "run"
    text = nb201_experiment(run_dir, 4, benchmark=str(table))
    run_experiment(parse_experiment(text), progress=False)
    original.to_csv(table, index=False, lineterminator="\r\n")  # other bytes, same numbers
    five = parse_experiment(text.replace("evaluations: 4", "evaluations: 5"))
    assert run_experiment(five, progress=False).evaluated == 5
    column = "cifar10valid_valid_acc_200ep"
    original.assign(**{column: original[column] - 50}).to_csv(table, index=False)
    more = parse_experiment(text.replace("evaluations: 4", "evaluations: 8"))
    refused = f"run {run_dir}: the benchmark table {table} changed since the run started"
    with pytest.raises(ExperimentError, match=refused):
        run_experiment(more, progress=False)
    assert len(load(run_dir).trials) == 5
    original.to_csv(table, index=False)  # the numbers it started with: the run goes on
    assert run_experiment(more, progress=False).evaluated == 8


def test_two_drivers_starting_a_new_run_with_different_experiments_do_not_both_go_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_dir = tmp_path / "run"
    mine = parse_experiment(nb201_experiment(run_dir, 4))
    theirs = parse_experiment(nb201_experiment(run_dir, 4, seed="7"))
    check_run_dir(run_dir)
    store = RunStore(mine, run_dir, make_space(mine))
    set_user_attr = optuna.Study.set_user_attr

    def the_other_driver_writes_last(study, key, value):
        set_user_attr(study, key, value)
        if key == "hwnas_experiment" and value["seed"] == 0:
            set_user_attr(study, key, theirs.to_data())

    monkeypatch.setattr(optuna.Study, "set_user_attr", the_other_driver_writes_last)
    with pytest.raises(ExperimentError, match="started with other settings of seed"):
        store.check_same_experiment()


@pytest.fixture
def new_york_time():
    """This process on New York time (a POSIX rule: no time zone files needed), whose clocks
    went back from 2:00 EDT to 1:00 EST on 1 November 2026 (6:00 UTC)."""
    before = os.environ.get("TZ")
    os.environ["TZ"] = "EST5EDT,M3.2.0,M11.1.0"
    time.tzset()
    yield
    if before is None:
        del os.environ["TZ"]
    else:
        os.environ["TZ"] = before
    time.tzset()


def test_finished_s_counts_real_seconds_across_a_clock_change(
    tmp_path: Path, new_york_time: None
) -> None:
    """Optuna gives a trial's times as naive local times: subtracted as they are, every
    result after the autumn's clock change lost an hour of finished_s. Stored times (naive
    UTC in study.db) put the trials either side of the change (none in the repeated hour,
    which Optuna's naive times leave ambiguous)."""
    run_dir = tmp_path / "run"
    text = nb201_experiment(run_dir, 4).replace("journal: study.log, ", "")
    assert run_experiment(parse_experiment(text), progress=False).evaluated == 4
    utc = ["04:50", "05:00", "05:40", "07:10", "08:00"]  # 01:00, 01:40 EDT; 02:10, 03:00 EST
    with closing(sqlite3.connect(run_dir / "study.db")) as db, db:
        for number, (start, end) in enumerate(zip(utc, utc[1:])):
            db.execute(
                "UPDATE trials SET datetime_start = ?, datetime_complete = ? WHERE number = ?",
                (f"2026-11-01 {start}:00.000000", f"2026-11-01 {end}:00.000000", number),
            )
    df = load(run_dir).trials
    assert list(df["number"]) == [0, 1, 2, 3]  # in finishing order
    assert list(df["finished_s"]) == [600.0, 3000.0, 8400.0, 11400.0]  # not 4800, 7800


def test_a_trial_enqueued_with_optunas_own_tools_does_not_break_the_results(
    tmp_path: Path,
) -> None:
    """A trial enqueued (WAITING) has no start: `load(run).trials`, and so `hwnas status`,
    ended in "'NoneType' object has no attribute 'astimezone'"."""
    run_dir = tmp_path / "run"
    text = nb201_experiment(run_dir, 4).replace("journal: study.log, ", "")
    run_experiment(parse_experiment(text), progress=False)
    storage = f"sqlite:///{run_dir / 'study.db'}"
    optuna.load_study(study_name="nb", storage=storage).enqueue_trial({})
    df = load(run_dir).trials
    assert len(df) == 4 and (df["finished_s"] >= 0).all(), df


def test_ray_settings_with_the_local_executor_are_refused(tmp_path: Path) -> None:
    """At the setting's line, as a parse error (the file and line were not named)."""
    text = nb201_experiment(tmp_path / "run", 4) + "executor: {kind: local, timeout_s: 5}\n"
    line = len(text.splitlines())
    said = f"exp.yaml: line {line}: executor: timeout_s needs kind: ray"
    with pytest.raises(ExperimentError, match=re.escape(said)):
        run_experiment(parse_experiment(text, "exp.yaml"), progress=False)
    assert not (tmp_path / "run").exists()  # refused before anything was written
    # at their defaults they change nothing: hwnas writes them so into a run's copy of its
    # experiment, which was refused when searched with to resume the run
    written = text.replace("timeout_s: 5", "max_in_flight: 1, max_retries: 2")
    assert run_experiment(parse_experiment(written), progress=False).evaluated == 4
    other = text.replace("timeout_s: 5", "max_in_flight: 1, max_retries: 3")
    with pytest.raises(ExperimentError, match="executor: max_retries needs kind: ray"):
        run_experiment(parse_experiment(other), progress=False)


@pytest.mark.parametrize("address", ["", "  "])
def test_an_empty_address_is_refused_as_hwnas_search_refuses_it(
    tmp_path: Path, address: str
) -> None:
    """`run_experiment(config, address=os.environ.get("RAY_HEAD", ""))` with the variable
    unset ran the search on this machine ("" taken for no address), where `hwnas search
    --address ""` is refused: both refuse it before anything is written."""
    config = parse_experiment(nb201_experiment(tmp_path / "run", 4))
    said = f"address: {address!r}: give auto, local, host:port or ray://host:port, or leave it out"
    with pytest.raises(ExperimentError, match=re.escape(said)):
        run_experiment(config, address=address, progress=False)
    assert not (tmp_path / "run").exists()


def _wait_for_another_driver(store: RunStore) -> None:
    """Until a driver other than `store`'s beats: it has read the run's claims (it restores
    them before its first heartbeat)."""
    deadline = time.monotonic() + 120  # a cap for slow machines, not a timing check
    while not any(
        name.startswith("hwnas_driver:") and not name.endswith(store.driver)
        for name in store.study.user_attrs
    ):
        assert time.monotonic() < deadline, "the other driver never started"
        time.sleep(0.05)


def test_a_driver_joining_later_never_takes_the_first_drivers_stream(tmp_path: Path) -> None:
    """Streams follow the order the drivers started, not their random ids: the first driver
    keeps stream 0 (a lone run's proposals) when a second one, whose id sorts first, joins."""
    run_dir = tmp_path / "run"
    config = parse_experiment(nb201_experiment(run_dir, 4))
    space = make_space(config)
    check_run_dir(run_dir)
    first = RunStore(config, run_dir, space)
    first.check_same_experiment()
    first.driver = "f" * 12
    first.heartbeat()
    assert first.stream() == 0
    second = RunStore(config, run_dir, space, existing=True)
    second.driver = "0" * 12  # sorts before the first driver's id
    second.heartbeat()
    assert (first.stream(), second.stream()) == (0, 1)
    first.heartbeat(stopped=True)  # the first stops: the second proposes as a lone run
    assert second.stream() == 0


@pytest.fixture
def beating_store(tmp_path: Path) -> Iterator[RunStore]:
    """The storage of a new NB201 run (heartbeat_s 0.5, grace_s 30) with this driver's first
    heartbeat."""
    run_dir = tmp_path / "run"
    config = parse_experiment(nb201_experiment(run_dir, 4))
    check_run_dir(run_dir)
    store = RunStore(config, run_dir, make_space(config))
    try:
        store.check_same_experiment()
        store.heartbeat()
        yield store
    finally:
        store.close()


def test_a_peer_whose_clock_disagrees_is_warned_of_once(beating_store: RunStore) -> None:
    """Liveness compares heartbeats stamped by each driver's own clock: of two drivers whose
    machines' clocks disagree by more than grace_s, the one ahead silently takes the other's
    live claims for stale and evaluates them again. Each says so, once a peer: the one behind
    sees beats in its future; the one ahead sees new beats already older than grace_s."""
    mine = beating_store

    def beat(driver: str, off_s: float, stopped: bool = False) -> None:
        now = time.time()
        state = {"host": driver, "pid": 1, "started": mine.started - 1, "stopped": stopped}
        mine.study.set_user_attr(f"hwnas_driver:{driver}", state | {"time": now + off_s})

    beat("ahead", 60)
    said = r"the driver on ahead \(pid 1\) stamps its heartbeats 60 s ahead of this"
    with pytest.warns(UserWarning, match=said + r".* storage.grace_s \(30 s\)"):
        assert mine.fail_stale() == [] and mine.stream() == 1  # alive, started first
    beat("behind", -60)  # dead, or alive with a clock behind: no telling yet
    beat("gone", 60, stopped=True)  # a stopped peer takes no claims
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # and the one ahead was said already
        mine.fail_stale()
        mine.fail_stale()  # "behind" wrote no new beat: a dead driver
    beat("behind", -60)  # a new beat, already older than grace_s: alive, clock behind
    said = r"the driver on behind \(pid 1\) stamps its heartbeats 60 s behind this"
    with pytest.warns(UserWarning, match=said):
        mine.fail_stale()


def test_a_peer_on_this_machine_is_never_warned_of_for_its_clock(
    beating_store: RunStore,
) -> None:
    """Drivers on one machine share its clock. A peer paused (`kill -STOP`) past grace_s
    between stamping a heartbeat and storing it stores a beat already that old when it wakes:
    two drivers on one machine were told to synchronise their clocks (NTP)."""
    here = {"host": socket.gethostname(), "pid": os.getppid(), "stopped": False}  # alive
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for _ in range(2):  # a beat new since the last look, stamped 60 s ago
            beat = here | {"time": time.time() - 60}
            beating_store.study.set_user_attr("hwnas_driver:paused", beat)
            beating_store.fail_stale()


def test_drivers_on_windows_are_checked_without_a_signal(monkeypatch) -> None:
    """On Windows `os.kill(pid, 0)` checks nothing: signal 0 is CTRL_C_EVENT there, so
    `hwnas search` and `hwnas status`, which check the run's drivers on this machine, sent a
    Ctrl-C (to their own process group) or failed with WinError 87. There the process's exit
    code is read instead (Windows's `_winapi` simulated: pid 1 is another user's, pid 2 has
    ended, pid 3 runs, others are gone), and every handle opened is closed."""

    def no_signal(pid: int, sig: int) -> None:
        raise AssertionError(f"os.kill({pid}, {sig}) on Windows sends a Ctrl-C")

    handles: list[int] = []

    def open_process(access: int, inherit: bool, pid: int) -> int:
        if pid == 1:
            raise PermissionError(13, "Access is denied")
        if pid not in (2, 3):
            raise OSError(22, "The parameter is incorrect")
        handles.append(pid)
        return pid

    winapi = types.ModuleType("_winapi")
    winapi.STILL_ACTIVE = 259
    winapi.OpenProcess = open_process
    winapi.GetExitCodeProcess = lambda handle: 0 if handle == 2 else winapi.STILL_ACTIVE
    winapi.CloseHandle = handles.remove
    pids = {"running": 3, "other user": 1, "ended": 2, "gone": 2**22 + 1}
    here, now = socket.gethostname(), time.time()
    beats = {d: {"host": here, "pid": pid, "time": now} for d, pid in pids.items()}
    with monkeypatch.context() as windows:  # undone before pytest reports (its paths)
        windows.setitem(sys.modules, "_winapi", winapi)
        windows.setattr(os, "name", "nt")
        windows.setattr(os, "kill", no_signal)
        dead = storage_module.dead_drivers(beats, 30.0)
    assert dead == {"ended", "gone"} and handles == []


def test_a_killed_drivers_beat_with_this_pid_is_dead_in_a_restarted_container(
    beating_store: RunStore,
) -> None:
    """A container restarted after its driver was killed (out of memory, `docker kill`) runs
    the resumed driver at the killed one's pid (1, for an entrypoint) on the same host name.
    The killed driver's last beat then looked alive for grace_s: the resumed run waited on
    its claim and proposed from stream 1, another sequence than the run it continues."""
    mine = beating_store
    killed = RunStore(mine.config, mine.run_dir, mine.space, existing=True)
    try:
        killed.heartbeat()  # stamped with this host and, as in a restarted container, this pid
        storage_module._DRIVERS_HERE.remove(killed.driver)  # as written by an earlier process
        claim = killed.claim([mine.space.sample(0)], limit=None)[0].claim
    finally:
        killed.close()  # killed: no stopped beat, the claim left RUNNING
    assert mine.stream() == 0
    assert mine.fail_stale() == [claim.arch]


def test_the_history_a_searcher_restores_from_keeps_failed_results(tmp_path: Path) -> None:
    """A failed evaluation is restored as failed, not as pending (which a resumed searcher
    would wait on, and a resumed run evaluate again); one not yet finished is pending."""
    run_dir = tmp_path / "run"
    config = parse_experiment(nb201_experiment(run_dir, 4))
    space = make_space(config)
    check_run_dir(run_dir)
    store = RunStore(config, run_dir, space)
    try:
        store.check_same_experiment()
        archs = [space.sample(i) for i in range(3)]
        ok, failed, pending = (o.claim for o in store.claim(archs, limit=None))
        good = store.finish(ok, Metrics({"accuracy": 90.0, "hw_fpga_latency_ms": 3.0}))
        bad = store.finish(failed, Metrics.failed("diverged: loss is nan"))
        assert good.ok and bad.reason == "diverged: loss is nan"
        history = [(archs[0], good), (archs[1], bad), (archs[2], None)]
        assert store.history() == history and pending.arch == archs[2]
    finally:
        store.close()


def test_claims_a_live_peer_gives_back_are_evaluated(tmp_path: Path) -> None:
    """Driver B holds the claims A's searcher asks for; B evaluates some and gives the rest
    back (it was stopped): A evaluates those, rather than leaving them asked forever."""
    run_dir = tmp_path / "run"
    config = parse_experiment(nb201_experiment(run_dir, 4, time_limit_s="120"))
    space = make_space(config)
    check_run_dir(run_dir)
    peer = RunStore(config, run_dir, space)
    peer.check_same_experiment()
    asked = make_searcher(config, space).ask(4)  # what A's searcher (same seed) asks first
    result = {}
    with peer.beating():
        claims = [o.claim for o in peer.claim(asked, config.evaluations)]
        driver = threading.Thread(
            target=lambda: result.update(a=run_experiment(config, progress=False))
        )
        driver.start()
        _wait_for_another_driver(peer)  # A has read B's 4 live claims: it waits on them
        evaluator = TabularEvaluator(space, cost=False, latency=False)
        for c in claims[:2]:
            peer.finish(c, evaluator.evaluate(c.arch))
        peer.release(claims[2:])
    driver.join(timeout=150)
    assert result["a"].stopped_by == "evaluations" and result["a"].by_this_driver == 2
    assert set(evaluated_keys(run_dir)) == {a.key for a in asked}


def test_a_claim_ended_with_optunas_own_tools_is_evaluated_again(tmp_path: Path) -> None:
    """A RUNNING claim a killed driver left, marked FAIL by Optuna's documented clean-up
    (`study.tell(n, state=FAIL)`, the dashboard's Fail button), keeps `hwnas_outcome:
    running`: it counted as in flight forever, and the resumed run waited on it at its last
    evaluation (here until its time limit) instead of evaluating its candidate again."""
    run_dir = tmp_path / "run"
    config = parse_experiment(nb201_experiment(run_dir, 4, time_limit_s="30"))
    space = make_space(config)
    check_run_dir(run_dir)
    store = RunStore(config, run_dir, space)
    try:
        store.check_same_experiment()
        store.heartbeat()
        claim = store.claim([space.sample(0)], config.evaluations)[0].claim
        store.heartbeat(stopped=True)  # the driver is gone, its claim left RUNNING
        study = optuna.load_study(study_name="nb", storage=store.storage)
        study.tell(claim.number, state=optuna.trial.TrialState.FAIL)
        assert store.counts()["running"] == 0 and store.counts()[STALE] == 1
    finally:
        store.close()
    summary = run_experiment(config, progress=False)  # continues the run (no experiment.yaml)
    assert (summary.evaluated, summary.stopped_by) == (4, "evaluations")
    assert claim.arch.key in evaluated_keys(run_dir)  # its candidate evaluated again


STORAGES = {"journal": "{journal: study.log, heartbeat_s: 0.5}", "sqlite": "{heartbeat_s: 0.5}"}


def two_stores(
    run_dir: Path, evaluations: int, storage: str
) -> tuple[ExperimentConfig, SearchSpace, RunStore, RunStore]:
    """The config and space of a new NB201 run of `evaluations` in `run_dir` on `storage` (a
    key of STORAGES), and the stores of two drivers of it (the first made it)."""
    text = nb201_experiment(run_dir, evaluations).replace(STORAGES["journal"], STORAGES[storage])
    config = parse_experiment(text)
    space = make_space(config)
    check_run_dir(run_dir)
    first = RunStore(config, run_dir, space)
    first.check_same_experiment()
    return config, space, first, RunStore(config, run_dir, space, existing=True)


@pytest.fixture(params=STORAGES)
def two_drivers(request, tmp_path: Path) -> Iterator[tuple[RunStore, RunStore, Claim]]:
    """Drivers A and B of one NB201 run on real storage (a journal file, SQLite): A holds a
    claim and looks dead to B (its heartbeat 100 s old, from another host) though it is
    alive, as a driver paused past grace_s or with its clock behind does."""
    _, space, a, b = two_stores(tmp_path / "run", 4, request.param)
    try:
        claim = a.claim([space.sample(0)], limit=None)[0].claim
        beat = {"host": "elsewhere", "pid": 1, "time": time.time() - 100, "started": 0.0}
        a.study.set_user_attr(storage_module.BEAT_PREFIX + a.driver, beat | {"stopped": False})
        yield a, b, claim
    finally:
        a.close()
        b.close()


def paused_before_state_write(store: RunStore) -> tuple[threading.Event, threading.Event]:
    """Make `store`'s trial state writes wait, as a driver paused just before one would: the
    event set when one is reached, and the event that lets it go on."""
    reached, go = threading.Event(), threading.Event()
    write = store.storage.set_trial_state_values

    def paused(*args, **kwargs):
        reached.set()
        assert go.wait(60)
        return write(*args, **kwargs)

    store.storage.set_trial_state_values = paused
    return reached, go


@pytest.mark.parametrize(
    "result",
    [Metrics({"accuracy": 90.0, "hw_fpga_latency_ms": 3.0}), Metrics.failed("diverged")],
    ids=["ok", "failed"],
)
def test_a_result_stored_as_a_peer_takes_its_driver_for_dead_is_kept(
    two_drivers: tuple[RunStore, RunStore, Claim], result: Metrics
) -> None:
    """A stores its result while B marks A's claim stale, A's state write landing first. B
    wrote the outcome `stale` (and its reason) before its state write, over A's: the
    evaluation A had stored read as a stale claim (a COMPLETE trial hwnas ignored, its
    candidate evaluated again), while A counted it and B left it to A."""
    a, b, claim = two_drivers
    a_paused, a_go = paused_before_state_write(a)
    b_paused, b_go = paused_before_state_write(b)
    with ThreadPoolExecutor(2) as pool:
        finished = pool.submit(a.finish, claim, result)
        assert a_paused.wait(60)  # A wrote its metrics and outcome
        stale = pool.submit(b.fail_stale)
        assert b_paused.wait(60)  # B took A for dead
        a_go.set()
        stored = finished.result(60)  # A's state write lands first ...
        b_go.set()
        assert stale.result(60) == []  # ... so B's is refused
    [trial] = [t for t in b.trials() if t.number == claim.number]
    assert outcome_of(trial) == result.status and trial_metrics(trial) == stored == result


def test_claims_given_back_after_a_peer_ended_one_are_all_released_and_it_stays_stale(
    two_drivers: tuple[RunStore, RunStore, Claim],
) -> None:
    """A stops (Ctrl-C) after B took it for dead and ended one of its claims: giving that one
    back is refused by the storage (a finished trial). That refusal must neither escape,
    which would end the stop in Optuna's error with A's later claims still live, nor turn
    the stale claim into an interrupted one."""
    a, b, claim = two_drivers
    assert b.fail_stale() == [claim.arch]
    later = a.claim([a.space.sample(1)], limit=None)[0].claim
    a.release([claim, later])
    outcomes = {t.number: outcome_of(t) for t in b.trials()}
    assert outcomes == {claim.number: STALE, later.number: INTERRUPTED}


def test_a_result_stored_before_a_peer_ended_its_claim_is_kept(
    two_drivers: tuple[RunStore, RunStore, Claim],
) -> None:
    """B ends A's claim as stale after A stored its result (its metrics, then its outcome) but
    before A's state write: A dropped the result as lost ("closed by another driver", to be
    evaluated again) though the study holds it whole and every driver counts it. A keeps it
    now, and B's claim of the candidate takes that result instead of evaluating it again."""
    a, b, claim = two_drivers
    result = Metrics({"accuracy": 90.0, "hw_fpga_latency_ms": 3.0})
    a_paused, a_go = paused_before_state_write(a)
    with ThreadPoolExecutor(1) as pool:
        finished = pool.submit(a.finish, claim, result)
        assert a_paused.wait(60)  # A wrote its metrics and outcome
        assert b.fail_stale() == [claim.arch]  # B ends the claim first
        a_go.set()
        assert finished.result(60) == result  # A's state write is refused: stored all the same
    again = b.claim([claim.arch], limit=None)[0]
    assert (again.won, again.why, again.metrics) == (False, "evaluated before", result)


def test_a_result_of_a_claim_another_driver_closed_is_dropped_with_a_note(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    """A peer that took this driver for dead (paused past grace_s) closed two of its claims
    while it evaluated them: their results here were dropped without a word, leaving only a
    lower count of this driver's evaluations to puzzle over. Said once; the candidates are
    evaluated again."""
    run_dir = tmp_path / "run"
    config = parse_experiment(nb201_experiment(run_dir, 6))
    finish = _Loop._finish

    def finish_after_a_peer_closed_it(self, arch, metrics, display):
        claim = self.in_flight[arch.key]
        if claim.number in (1, 2):
            peer = RunStore(config, run_dir, self.searcher.space)
            peer._close(claim.trial_id, STALE, "its driver stopped before the evaluation ended")
            peer.close()
        finish(self, arch, metrics, display)

    monkeypatch.setattr(_Loop, "_finish", finish_after_a_peer_closed_it)
    summary = run_experiment(config, progress=False)
    err = capsys.readouterr().err
    said = "hwnas: note: storage: trial 1 was closed by another driver while this one evaluated it"
    assert err.count(said) == 1 and "trial 2 was closed" not in err, err
    assert (summary.evaluated, summary.by_this_driver) == (6, 6)
    assert len(set(evaluated_keys(run_dir))) == 6


def test_a_peer_that_stops_mid_run_leaving_a_claim_has_it_evaluated_once_by_a_running_driver(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A peer claims a candidate while this driver runs, then stops without evaluating it:
    this driver, which awaits the claim as a peer's, marks it stale at its next check and
    evaluates the candidate, once. It queued the candidate twice (from the check, and again as
    an awaited claim now ended), and the second copy was stored as a `duplicate` claim."""
    run_dir = tmp_path / "run"
    text = nb201_experiment(run_dir, 30, time_limit_s=60)
    config = parse_experiment(text.replace("heartbeat_s: 0.5", "heartbeat_s: 0.05"))
    finish, left = _Loop._finish, []

    def finish_then_a_peer_claims_and_stops(self, arch, metrics, display):
        finish(self, arch, metrics, display)
        if not left:
            peer = RunStore(config, run_dir, self.searcher.space)
            peer.heartbeat()
            left.append(self.searcher.sample_unseen(np.random.default_rng(0), set(self.in_flight)))
            peer._create_claim(left[0])
            peer.heartbeat(stopped=True)
            peer.close()

    monkeypatch.setattr(_Loop, "_finish", finish_then_a_peer_claims_and_stops)
    summary = run_experiment(config, progress=False)
    assert summary.stopped_by == "evaluations" and summary.evaluated == summary.by_this_driver == 30
    keys = evaluated_keys(run_dir)
    assert len(set(keys)) == 30 and left[0].key in keys
    claims = [outcome_of(t) for t in trials_of(run_dir) if t.user_attrs.get(KEY) == left[0].key]
    assert claims == [STALE, "ok"]
    assert len(trials_of(run_dir)) == 31  # no other claim was made in vain


def a_peer_claims_then_stops(config, run_dir: Path, space, arch) -> None:
    """A second driver claims `arch` in the run and stops without evaluating it, leaving
    its claim live; then waits until the running driver's next stale check is due."""
    peer = RunStore(config, run_dir, space, existing=True)
    peer.heartbeat()
    peer._create_claim(arch)
    peer.heartbeat(stopped=True)
    peer.close()
    time.sleep(2 * config.storage.heartbeat_s)


def test_a_queued_candidate_whose_peer_claim_goes_stale_is_claimed_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A resumed driver queues the candidates its run gave back; a peer claims one of them
    while it is still queued (this driver evaluates one at a time) and stops: marked stale at
    the next check, the candidate was queued a second time, and that copy's claim was stored
    as a wasted `duplicate`."""
    run_dir = tmp_path / "run"
    text = nb201_experiment(run_dir, 12, time_limit_s=60)
    config = parse_experiment(text.replace("heartbeat_s: 0.5", "heartbeat_s: 0.05"))
    run_experiment(config.model_copy(update={"evaluations": 2}), progress=False)
    store = RunStore(config, run_dir, make_space(config), existing=True)
    seen = set(evaluated_keys(run_dir))  # three others, given back (as by a Ctrl-C)
    fresh = {a.key: a for a in map(store.space.sample, range(20)) if a.key not in seen}
    store.release([o.claim for o in store.claim(list(fresh.values())[:3], limit=None)])
    store.close()
    finish, left = _Loop._finish, []

    def finish_then_a_peer_claims_a_queued_one_and_stops(self, arch, metrics, display):
        finish(self, arch, metrics, display)
        if not left and self.rerun:
            left.append(self.rerun[-1])
            a_peer_claims_then_stops(config, run_dir, self.searcher.space, left[0])

    monkeypatch.setattr(_Loop, "_finish", finish_then_a_peer_claims_a_queued_one_and_stops)
    summary = run_experiment(config, progress=False)
    assert left and summary.stopped_by == "evaluations" and summary.evaluated == 12
    claims = [outcome_of(t) for t in trials_of(run_dir) if t.user_attrs.get(KEY) == left[0].key]
    assert claims == [INTERRUPTED, STALE, "ok"]
    assert len(trials_of(run_dir)) == 12 + 3 + 1  # no other claim was made in vain


@pytest.mark.parametrize("whose", ["evaluated", "in flight"])
def test_a_dead_peers_stray_claim_of_a_key_this_driver_has_is_not_claimed_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, whose: str
) -> None:
    """A peer (taken for dead, or killed between creating a claim and judging it) left a live
    claim of a key this driver has evaluated or has in flight: marked stale at the next check,
    the candidate was queued again, and its claim was stored as a wasted `duplicate`."""
    run_dir = tmp_path / "run"
    text = nb201_experiment(run_dir, 30, time_limit_s=60)
    config = parse_experiment(text.replace("heartbeat_s: 0.5", "heartbeat_s: 0.05"))
    launch, left = _Loop._launch, []

    def launch_then_a_peer_claims_ours_and_stops(self, done, running):
        launch(self, done, running)
        if not left and done >= 5:
            ours = self.store.history()[0][0] if whose == "evaluated" else None
            left.append(ours or next(iter(self.in_flight.values())).arch)
            a_peer_claims_then_stops(config, run_dir, self.searcher.space, left[0])

    monkeypatch.setattr(_Loop, "_launch", launch_then_a_peer_claims_ours_and_stops)
    summary = run_experiment(config, progress=False)
    assert left and summary.stopped_by == "evaluations" and summary.evaluated == 30
    claims = [outcome_of(t) for t in trials_of(run_dir) if t.user_attrs.get(KEY) == left[0].key]
    assert sorted(claims) == sorted([STALE, "ok"])
    assert len(trials_of(run_dir)) == 31  # no other claim was made in vain


def test_a_dead_peers_stray_claim_of_an_evaluated_key_is_not_told_twice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_dir = tmp_path / "run"
    config = parse_experiment(nb201_experiment(run_dir, 30))
    finish, finished = _Loop._finish, []

    def finish_then_a_peer_claims_it_and_dies(self, arch, metrics, display):
        finish(self, arch, metrics, display)
        finished.append(arch)
        if len(finished) == 5:  # killed between creating the claim and judging it
            peer = RunStore(config, run_dir, self.searcher.space)
            peer.heartbeat()
            peer._create_claim(arch)
            peer.heartbeat(stopped=True)
            self.rerun.extend(self.store.fail_stale())

    monkeypatch.setattr(_Loop, "_finish", finish_then_a_peer_claims_it_and_dies)
    summary = run_experiment(config, progress=False)
    assert summary.evaluated == 30 and len(set(evaluated_keys(run_dir))) == 30


def test_a_failed_heartbeat_is_retried_not_the_end_of_heartbeats(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_dir = tmp_path / "run"
    config = parse_experiment(nb201_experiment(run_dir, 4))  # heartbeat_s 0.5
    check_run_dir(run_dir)
    store = RunStore(config, run_dir, make_space(config))
    beat, calls = RunStore.heartbeat, []

    def flaky_heartbeat(self, stopped=False):
        calls.append(stopped)
        if len(calls) == 2:  # the first beat of the thread hits a locked storage, which
            # Optuna says in a generic message naming neither the storage nor the cause
            commit = "An exception is raised during the commit. This typically happens..."
            raise StorageInternalError(commit) from sqlite3.OperationalError("database is locked")
        beat(self, stopped)

    monkeypatch.setattr(RunStore, "heartbeat", flaky_heartbeat)
    locked = "heartbeat not stored \\(database is locked\\)"
    with pytest.warns(UserWarning, match=locked), store.beating():
        deadline = time.monotonic() + 60  # a cap for slow machines, not a timing check
        while len(calls) < 4 and time.monotonic() < deadline:
            time.sleep(0.1)
    assert len(calls) >= 5 and calls[-1] is True  # beats went on, then the final one


class _InterruptsWhenCollected:
    """Ctrl-C arriving while Python runs a finalizer (a `__del__` or weakref callback, as
    SQLAlchemy's and Ray's are): Python prints the KeyboardInterrupt and drops it."""

    def __del__(self) -> None:
        signal.raise_signal(signal.SIGINT)


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")  # the drop
def test_a_ctrl_c_python_drops_in_a_finalizer_still_stops_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Such a Ctrl-C was lost: the run went on to its end and exited 0."""
    run_dir = tmp_path / "run"
    config = parse_experiment(nb201_experiment(run_dir, 12, executor="{kind: local}"))
    evaluate, calls = TabularEvaluator.evaluate, []

    def evaluate_then_collect(self, arch, budget=None):
        calls.append(arch)
        if len(calls) == 3:
            _InterruptsWhenCollected()  # collected at once: its interrupt is dropped
        return evaluate(self, arch, budget)

    monkeypatch.setattr(TabularEvaluator, "evaluate", evaluate_then_collect)
    with pytest.raises(KeyboardInterrupt):
        run_experiment(config, progress=False)
    assert 3 <= len(load(run_dir).trials) < 12  # stopped at the next round, results kept
    monkeypatch.setattr(TabularEvaluator, "evaluate", evaluate)
    assert run_experiment(config, resume=True, progress=False).evaluated == 12


def test_a_run_interrupted_while_it_stores_a_result_ends_on_the_stored_count(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    """A Ctrl-C landing while a result is stored is held until it is stored, then delivered:
    the display never counted that result, and the run's last line said 'done 4 | ... | in
    flight 1' of a run that had stored 5 with none in flight."""
    run_dir = tmp_path / "run"
    config = parse_experiment(nb201_experiment(run_dir, 12, executor="{kind: local}"))
    finish, stored = RunStore.finish, []

    def finish_during_a_ctrl_c(self, claim, metrics):
        stored.append(finish(self, claim, metrics))
        if len(stored) == 5:
            signal.raise_signal(signal.SIGINT)  # held until the result is stored
        return stored[-1]

    monkeypatch.setattr(RunStore, "finish", finish_during_a_ctrl_c)
    with pytest.raises(KeyboardInterrupt):
        run_experiment(config, progress=True)
    (line,) = capsys.readouterr().err.splitlines()  # stderr is no terminal: the last state
    assert len(load(run_dir).trials) == 5
    assert " 5/12 " in line and "done 5 | failed 0 | in flight 0" in line


def test_ctrl_c_while_claiming_leaves_no_claim_running(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_dir = tmp_path / "run"
    config = parse_experiment(nb201_experiment(run_dir, 10))
    space = make_space(config)
    check_run_dir(run_dir)
    store = RunStore(config, run_dir, space)
    monkeypatch.setattr(RunStore, "_judge", interrupted_at_call(2, RunStore._judge))
    asked = make_searcher(config, space).ask(8)
    with pytest.raises(KeyboardInterrupt):
        store.claim(asked[:4], config.evaluations)
    outcomes = [outcome_of(t) for t in store.trials()]
    assert len(outcomes) == 4 and "running" not in outcomes

    # the third claim of the call is never made
    monkeypatch.setattr(RunStore, "_create_claim", interrupted_at_call(3, RunStore._create_claim))
    with pytest.raises(KeyboardInterrupt):
        store.claim(asked[4:], config.evaluations)
    outcomes = [outcome_of(t) for t in store.trials()]
    assert len(outcomes) == 6 and "running" not in outcomes


def test_claims_past_the_evaluation_limit_lose(tmp_path: Path) -> None:
    """The limit counts evaluations and live claims: at exactly `limit` of them, a further
    claim loses (as when two drivers both ask for the last places), live or settled."""
    run_dir = tmp_path / "run"
    config = parse_experiment(nb201_experiment(run_dir, 3))
    space = make_space(config)
    check_run_dir(run_dir)
    store = RunStore(config, run_dir, space)
    asked = make_searcher(config, space).ask(7)
    first = store.claim(asked[:5], config.evaluations)
    assert [o.won for o in first] == [True, True, True, False, False]
    assert {o.why for o in first[3:]} == {SURPLUS}
    evaluator = TabularEvaluator(space, cost=False, latency=False)
    for o in first[:3]:
        store.finish(o.claim, evaluator.evaluate(o.claim.arch))
    assert not any(o.won for o in store.claim(asked[5:], config.evaluations))


@pytest.mark.parametrize("storage", ["journal", "sqlite"])
def test_two_drivers_share_one_storage_without_duplicates(tmp_path: Path, storage: str) -> None:
    """Two drivers (same seed: they propose the same archs) on evaluations of about a second
    each, so both are at work at once however fast the machine is; on a journal and on the
    default SQLite file, the two kinds of storage the issue names (only the journal was run)."""
    run_dir, exp = tmp_path / "run", tmp_path / "exp.yaml"
    text = digits_training_experiment(run_dir, 16)
    exp.write_text(text if storage == "journal" else text.replace("journal: study.log, ", ""))
    drivers = [start_driver(exp) for _ in range(2)]
    for d in drivers:
        assert d.wait(timeout=300) == 0, d.stderr.read()
    trials = trials_of(run_dir)
    keys = evaluated_keys(run_dir)
    assert len(keys) == 16 and len(set(keys)) == 16
    assert not [t for t in trials if outcome_of(t) == "running"]
    by_driver = Counter(t.user_attrs["hwnas_driver"] for t in trials if outcome_of(t) == "ok")
    assert len(by_driver) == 2, by_driver  # both evaluated some: the work was shared


def test_a_driver_that_joins_a_run_of_fast_evaluations_shares_the_work(tmp_path: Path) -> None:
    """Table lookups take microseconds. A second driver (same seed) that joined once the
    first had results used to propose only what the first had already claimed, since its
    searcher never heard of the other's newer claims, and evaluated nothing. The joiner's own
    start-up takes seconds, in which the first runs through hundreds of lookups (up to 770 of
    800 in a loaded full suite, which failed the test): 1500 leave the joiner hundreds."""
    run_dir, exp = tmp_path / "run", tmp_path / "exp.yaml"
    exp.write_text(nb201_experiment(run_dir, 1500))
    first = start_driver(exp)
    deadline = time.monotonic() + 120
    while sum(outcome_of(t) == "ok" for t in trials_of(run_dir)) < 20:
        assert time.monotonic() < deadline and first.poll() is None, "the first driver stopped"
        time.sleep(0.1)
    second = start_driver(exp)
    for d in (first, second):
        assert d.wait(timeout=300) == 0, d.stderr.read()
    keys = evaluated_keys(run_dir)
    assert len(keys) == 1500 and len(set(keys)) == 1500
    trials = trials_of(run_dir)
    by_driver = Counter(t.user_attrs["hwnas_driver"] for t in trials if outcome_of(t) == "ok")
    assert len(by_driver) == 2 and min(by_driver.values()) >= 50, by_driver


def test_a_metric_no_evaluation_returns_stops_the_run_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An objective the evaluator never returns is a configuration error: refused before
    anything runs when the evaluator lists its metrics; otherwise the first result is stored
    as failed with the reason and the run stops, instead of spending its budget."""
    from hwnas.evaluators.tabular import TabularEvaluator

    run_dir = tmp_path / "run"
    text = nb201_experiment(run_dir, 6).replace("hw_fpga_latency_ms", "hw_fpga_latency_sm")
    with pytest.raises(
        ExperimentError,
        # the file and line of the first objective or constraint naming it (they had neither)
        match="^nb.yaml: line 4: objectives\\[1\\].metric: the evaluator returns no "
        "'hw_fpga_latency_sm' \\(did you mean 'hw_fpga_latency_ms'\\?\\); it returns accuracy, "
        "test_accuracy",
    ):
        run_experiment(parse_experiment(text, "nb.yaml"), progress=False)
    assert not run_dir.exists()

    monkeypatch.setattr(TabularEvaluator, "metric_names", None)  # as an evaluator of one's own
    text = nb201_experiment(run_dir, 6).replace("hw_fpga_latency_ms", "no_such_latency_ms")
    with pytest.raises(ExperimentError, match=r"returns no \['no_such_latency_ms'\]"):
        run_experiment(parse_experiment(text), progress=False)
    df = load(run_dir).trials
    assert len(df) == 1 and set(df["status"]) == {"failed"}
    assert df["reason"].str.contains("no_such_latency_ms").all()


def test_a_journal_cut_off_mid_record_is_refused_not_glued_to(tmp_path: Path) -> None:
    """A journal whose last record was cut off (a full disk, a crash) is read without it;
    a driver refuses to append to it, which would make the whole journal unreadable."""
    run_dir = tmp_path / "run"
    run_experiment(parse_experiment(nb201_experiment(run_dir, 4)), progress=False)
    log = run_dir / "study.log"
    whole = log.stat().st_size
    with open(log, "ab") as f:
        f.write(b'{"op_code":5,"worker_id":"w","trial_id":3,"us')  # a record cut off
    cut = log.read_bytes()
    more = parse_experiment(nb201_experiment(run_dir, 6))
    with pytest.raises(ExperimentError, match=f"cut off .* `truncate -s {whole} {log}`"):
        run_experiment(more, progress=False)
    assert log.read_bytes() == cut and len(evaluated_keys(run_dir)) == 4
    os.truncate(log, whole)  # as the error says
    assert run_experiment(more, progress=False).evaluated == 6


def test_a_journal_lock_left_by_a_killed_driver_is_broken_on_resume(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A driver killed (SIGKILL, the OOM killer) while appending to its journal leaves the
    journal's lock behind. With a relative run_dir the lock's link dangled: the resumed run
    spun on it forever at 100% CPU instead of breaking it after the grace period."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(optuna_storage, "JOURNAL_LOCK_GRACE_S", 3)
    run_dir = Path("run")  # relative, as in the examples
    run_experiment(parse_experiment(nb201_experiment(run_dir, 3)), progress=False)
    killed_holding_the_lock = (  # the driver dies as it would release its first lock
        "import os, sys\n"
        "from optuna.storages.journal import JournalFileSymlinkLock\n"
        "from hwnas.experiments import run_experiment\n"
        "from hwnas.experiments.config import parse_experiment\n"
        "JournalFileSymlinkLock.release = lambda self: os.kill(os.getpid(), 9)\n"
        "run_experiment(parse_experiment(sys.stdin.read()), progress=False)\n"
    )
    more = nb201_experiment(run_dir, 5)
    code = subprocess.run(
        [sys.executable, "-c", killed_holding_the_lock], input=more, text=True, check=False
    ).returncode
    lock = run_dir / "study.log.lock"
    assert code == -signal.SIGKILL and lock.is_symlink()
    resumed: list = []
    driver = threading.Thread(
        target=lambda: resumed.append(run_experiment(parse_experiment(more), progress=False)),
        daemon=True,
    )
    driver.start()
    driver.join(timeout=120)  # a guard against the hang, not a measure of speed
    try:
        assert not driver.is_alive() and resumed[0].evaluated == 5
    finally:
        lock.unlink(missing_ok=True)  # lets a hung driver go on (and end) after a failure
        driver.join()
    assert len(set(evaluated_keys(run_dir))) == 5 and not lock.is_symlink()


def test_a_journal_lock_left_long_ago_is_broken_after_the_grace_the_guide_says(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The guide said the next driver breaks a killed driver's journal lock "once the journal
    has gone 30 s unwritten", as if a lock left an hour ago were broken at once; Optuna
    counts the grace from when the waiting driver first sees the journal, so it waits the
    whole grace however long ago the kill was (31 s for a journal an hour old, measured by
    the timeclaims review), which the guide now says, with the grace hwnas gives Optuna."""
    grace_s = optuna_storage.JOURNAL_LOCK_GRACE_S
    monkeypatch.setattr(optuna_storage, "JOURNAL_LOCK_GRACE_S", 3)
    run_dir = tmp_path / "run"
    run_experiment(parse_experiment(nb201_experiment(run_dir, 3)), progress=False)
    journal, lock = run_dir / "study.log", run_dir / "study.log.lock"
    lock.symlink_to(journal)  # left by a driver killed while appending
    an_hour_ago = time.time() - 3600
    os.utime(journal, (an_hour_ago, an_hour_ago))
    assert run_experiment(parse_experiment(nb201_experiment(run_dir, 4)), progress=False)
    assert not lock.is_symlink()
    guide = (Path(__file__).resolve().parents[1] / "docs" / "guide.md").read_text()
    said = f"breaks it once it has waited {grace_s} s for it with the journal unwritten, however"
    assert said in " ".join(guide.split())


def test_an_append_whose_journal_lock_another_driver_broke_is_stored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A driver paused while it held the journal's lock (Ctrl-Z, a suspended machine) for
    longer than the grace period finds it broken by another driver (as Optuna's lock breaks a
    lock it takes for a killed driver's): its records were appended, but the lock's release
    raised "did not possess lock", and the search ended as "hwnas: error: Error: did not
    possess lock". Here the other driver breaks it during an append of the run loop's."""
    from optuna.storages.journal import JournalFileSymlinkLock

    run_dir = tmp_path / "run"
    append_whole, broken = optuna_storage.append_whole, []

    def broken_meanwhile(path, data: bytes) -> None:
        if not broken and threading.current_thread() is threading.main_thread():
            broken.append(path)
            JournalFileSymlinkLock(str(path)).release()  # the other driver's forced release
        append_whole(path, data)

    monkeypatch.setattr(optuna_storage, "append_whole", broken_meanwhile)
    config = parse_experiment(nb201_experiment(run_dir, 4))
    assert run_experiment(config, progress=False).evaluated == 4
    assert broken and not (run_dir / "study.log.lock").is_symlink()
    assert len(set(evaluated_keys(run_dir))) == 4


def test_a_full_disk_under_a_journal_is_an_error_naming_it_and_loses_nothing(
    tmp_path: Path,
) -> None:
    """A journal append that finds no room (here a file-size limit, as `ulimit -f` sets,
    which Python reports as a write error) was the OS's bare "[Errno 27] File too large",
    naming no file; the results stored before it are all kept. The failed append left the
    part of its record that fitted at the journal's end, and the search run again once
    there was room, as the error says, was refused: "its last record is cut off"."""
    import resource

    run_dir = tmp_path / "run"
    run_experiment(parse_experiment(nb201_experiment(run_dir, 4)), progress=False)
    before = set(evaluated_keys(run_dir))
    exp = tmp_path / "more.yaml"
    exp.write_text(nb201_experiment(run_dir, 40))
    room = (run_dir / "study.log").stat().st_size + 20_000  # a few more evaluations' records

    def limited() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (room, room))

    cli = "from hwnas.cli import main; main()"
    driver = subprocess.run(
        [sys.executable, "-c", cli, "search", str(exp), "--quiet"],
        preexec_fn=limited,
        capture_output=True,
        text=True,
        check=False,
    )
    log = run_dir / "study.log"
    assert driver.returncode == 1, driver.stderr
    assert f"hwnas: error: {log}: [Errno 27] File too large; free some space" in driver.stderr
    assert "Traceback" not in driver.stderr
    assert before < set(evaluated_keys(run_dir))  # the ones stored before it, and more
    assert log.read_bytes().endswith(b"\n")  # no record cut off
    assert run_experiment(parse_experiment(exp.read_text()), progress=False).evaluated == 40


#: `hwnas ARGS` (`argv[2:]`) where the disk gets full (here a file-size limit of `argv[1]`
#: bytes) once a new run's storage is made, before its copies of experiment and space
FULL_AFTER_STORAGE = """
import resource, sys
from hwnas.cli import main
from hwnas.experiments.storage import RunStore

record_moves = RunStore.record_moves

def full_after(self, moves):
    record_moves(self, moves)
    resource.setrlimit(resource.RLIMIT_FSIZE, (int(sys.argv[1]), int(sys.argv[1])))

RunStore.record_moves = full_after
main(sys.argv[2:])
"""


def test_a_run_copy_that_cannot_be_written_is_named(tmp_path: Path) -> None:
    """A new run's copy of its experiment (or space) written into its run directory where
    there is no room (a full disk; here a file-size limit) ended on the OS's bare "[Errno 27]
    File too large", naming no file. The same command run again, with room, goes on."""
    run_dir = tmp_path / "run"
    exp = tmp_path / "exp.yaml"
    exp.write_text(nb201_experiment(run_dir, 4))
    driver = subprocess.run(
        [sys.executable, "-c", FULL_AFTER_STORAGE, "100", "search", str(exp), "--quiet"],
        capture_output=True,
        text=True,
    )
    copy = run_dir / "experiment.yaml"
    said = f"hwnas: error: {copy}: cannot write the run's copy of its experiment: File too large"
    assert driver.returncode == 1 and said in driver.stderr, driver.stderr
    assert not copy.exists()
    assert run_experiment(parse_experiment(exp.read_text()), progress=False).evaluated == 4


def test_a_private_space_copy_that_cannot_be_written_is_named(tmp_path: Path) -> None:
    """The private copy of the stored space that a read of an edited run makes, written
    where there is no room (a full disk; here a file-size limit), ended on the OS's bare
    "[Errno 27] File too large", naming no file."""
    import resource

    run_dir = tmp_path / "run"
    run_experiment(parse_experiment(nb201_experiment(run_dir, 4)), progress=False)
    copy = run_dir / "space.yaml"
    copy.write_text(copy.read_text().replace("channels: 16", "channels: 8"))
    temp = tmp_path / "temp"
    temp.mkdir()

    def limited() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (100, 100))

    status = subprocess.run(
        [sys.executable, "-c", "from hwnas.cli import main; main()", "status", str(run_dir)],
        preexec_fn=limited,
        env={**os.environ, "TMPDIR": str(temp)},
        capture_output=True,
        text=True,
    )
    private = re.escape(f"{temp}/hwnas-space-") + r"\w+/space\.yaml"
    said = f"hwnas: error: {private}: cannot write a copy of the run's space: File too large"
    assert status.returncode == 1 and re.search(said, status.stderr), status.stderr
    assert os.listdir(temp) == []  # removed as the process ended


#: the start of a script running `hwnas ARGS` (`argv[2:]`) whose `full_then_ctrl_c()` makes
#: the journal (`argv[1]`) full, as a disk that filled up meanwhile does (here a file-size
#: limit at its size), then sends Ctrl-C
FULL = """
import resource, signal, sys
from pathlib import Path
from hwnas.cli import main

def full_then_ctrl_c():
    size = Path(sys.argv[1]).stat().st_size
    resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))
    signal.raise_signal(signal.SIGINT)
"""

#: its third evaluation finds the journal full, then gets Ctrl-C
FULL_THEN_CTRL_C = (
    FULL
    + """
from hwnas.evaluators.tabular import TabularEvaluator

evaluate, calls = TabularEvaluator.evaluate, []

def third_full_then_ctrl_c(self, arch, *args, **kwargs):
    calls.append(arch)
    if len(calls) == 3:
        full_then_ctrl_c()
    return evaluate(self, arch, *args, **kwargs)

TabularEvaluator.evaluate = third_full_then_ctrl_c
main(sys.argv[2:])
"""
)

#: Ray finishes its first two evaluations, which nothing has taken yet, as the journal gets
#: full and Ctrl-C arrives (here as the second is handed to Ray)
RAY_FINISHED_FULL_THEN_CTRL_C = (
    FULL
    + """
import ray
from hwnas.evaluators import RayExecutor

submit = RayExecutor.submit

def finished_full_then_ctrl_c(self, *args, **kwargs):
    submit(self, *args, **kwargs)
    if len(self._running) == 2:
        ray.wait([task.completed() for task in self._running], num_returns=2)
        full_then_ctrl_c()

RayExecutor.submit = finished_full_then_ctrl_c
main(sys.argv[2:])
"""
)


def test_ctrl_c_as_the_storage_fails_stops_resumably_and_warns_of_what_was_not_stored(
    tmp_path: Path,
) -> None:
    """Ctrl-C while the journal's disk is full: giving the claims back and storing the last
    heartbeat failed too, and that storage error replaced the interrupt, so the search ended
    as "hwnas: error: ... File too large" (status 1), not as the resumable stop it is. Now
    the interrupt goes on, and what was not stored is a warning; the resume evaluates the
    claim left live."""
    run_dir, exp = tmp_path / "run", tmp_path / "exp.yaml"
    exp.write_text(nb201_experiment(run_dir, 6))
    log = run_dir / "study.log"
    args = [str(log), "search", str(exp), "--quiet"]
    driver = subprocess.run(
        [sys.executable, "-c", FULL_THEN_CTRL_C, *args], capture_output=True, text=True
    )
    assert driver.returncode == 130, driver.stderr
    assert f"hwnas: interrupted; resume with: hwnas search {exp} --resume" in driver.stderr
    not_stored = [
        f"hwnas: warning: {log}: the claims of the evaluations in flight were not given back "
        "([Errno 27] File too large); a resumed run evaluates them again",
        f"hwnas: warning: {log}: this driver's last heartbeat was not stored ([Errno 27] File "
        "too large)",
    ]
    assert all(line in driver.stderr for line in not_stored), driver.stderr
    assert "Traceback" not in driver.stderr
    assert [outcome_of(t) for t in trials_of(run_dir)] == ["ok", "ok", "running"]
    resumed = run_experiment(parse_experiment(exp.read_text()), resume=True, progress=False)
    assert resumed.evaluated == 6 and len(set(evaluated_keys(run_dir))) == 6


def test_ctrl_c_as_the_storage_fails_with_results_ray_finished_stops_resumably(
    tmp_path: Path, ray_temp_dir: Path
) -> None:
    """Ctrl-C while the journal's disk is full, with evaluations Ray finished that the driver
    had not taken yet: storing them (as a stopping driver does) failed, and that storage error
    replaced the interrupt, so the search ended as "hwnas: error: ... File too large" (status
    1). Now it stops resumably, a warning says they were not stored, and the resume (here
    without Ray) evaluates them again."""
    run_dir, exp = tmp_path / "run", tmp_path / "exp.yaml"
    text = _lut_experiment(run_dir, "nb", "storage: {journal: study.log}\n")
    exp.write_text(text + "executor: {kind: ray, max_in_flight: 2, resources: {num_cpus: 1}}\n")
    log = run_dir / "study.log"
    args = [str(log), "search", str(exp), "--quiet"]
    env = {
        **os.environ,
        "RAY_USAGE_STATS_ENABLED": "0",
        "RAY_AUTH_MODE": "disabled",
        "RAY_TMPDIR": str(ray_temp_dir),
    }
    driver = subprocess.run(
        [sys.executable, "-c", RAY_FINISHED_FULL_THEN_CTRL_C, *args],
        capture_output=True,
        text=True,
        env=env,
    )
    assert driver.returncode == 130, driver.stderr
    assert f"hwnas: interrupted; resume with: hwnas search {exp} --resume" in driver.stderr
    not_stored = (
        f"hwnas: warning: {log}: the evaluations finished by the interrupt were not all stored "
        "([Errno 27] File too large); a resumed run evaluates them again"
    )
    assert not_stored in driver.stderr and "Traceback" not in driver.stderr, driver.stderr
    assert [outcome_of(t) for t in trials_of(run_dir)] == ["running", "running"]
    resumed = run_experiment(parse_experiment(text), resume=True, progress=False)
    assert resumed.evaluated == 4 and len(set(evaluated_keys(run_dir))) == 4


@pytest.mark.parametrize("record", ['{"a": 1}', '{"op_code": 99}', "[1, 2]"])
def test_a_journal_of_json_that_is_no_journal_record_is_an_error_naming_it(
    tmp_path: Path, record: str
) -> None:
    """JSON lines that are no journal records (a file replaced, a record edited) were Optuna's
    bare KeyError 'op_code', 'Should not reach.' or a TypeError, naming no file."""
    run_dir = tmp_path / "run"
    text = nb201_experiment(run_dir, 3)
    run_experiment(parse_experiment(text), progress=False)
    log = run_dir / "study.log"
    log.write_text(f"{record}\n{log.read_text()}")
    damaged = log.read_bytes()
    config = parse_experiment(text)
    for read in (lambda: load(run_dir), lambda: run_experiment(config, progress=False)):
        with pytest.raises(ExperimentError, match=f"{log}: not a readable Optuna journal"):
            read()
    assert log.read_bytes() == damaged


def test_a_journal_in_a_subfolder_is_made_and_one_that_is_a_folder_is_named(tmp_path: Path):
    """Were the OS's bare "No such file or directory" and "Is a directory"."""
    run_dir = tmp_path / "run"
    text = nb201_experiment(run_dir, 3).replace("journal: study.log", "journal: logs/study.log")
    assert run_experiment(parse_experiment(text), progress=False).evaluated == 3
    assert (run_dir / "logs" / "study.log").is_file() and len(evaluated_keys(run_dir)) == 3
    folder = tmp_path / "other"
    (folder / "logs").mkdir(parents=True)
    text = nb201_experiment(folder, 3).replace("journal: study.log", "journal: logs")
    with pytest.raises(ExperimentError, match=f"storage.journal: {folder / 'logs'} is a folder"):
        run_experiment(parse_experiment(text), progress=False)


def test_an_experiment_file_kept_in_its_own_run_dir_is_said_to_be_one(tmp_path: Path):
    """Was only 'the run was started, but its stored results are not there' for a run that
    never started: the file has the name of a run's copy of its experiment."""
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    own = run_dir / "experiment.yaml"
    own.write_text(nb201_experiment(run_dir, 3))
    with pytest.raises(ExperimentError, match="if that experiment.yaml is your experiment file"):
        run_experiment(own, progress=False)
    assert sorted(p.name for p in run_dir.iterdir()) == ["experiment.yaml"]  # nothing written


def test_a_locked_sqlite_storage_is_a_clear_error_and_loses_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sqlite3

    run_dir = tmp_path / "run"
    text = nb201_experiment(run_dir, 4).replace("journal: study.log, ", "")
    run_experiment(parse_experiment(text), progress=False)
    monkeypatch.setattr(optuna_storage, "SQLITE_TIMEOUT_S", 1)  # wait 1 s for the lock, not 60
    other = sqlite3.connect(run_dir / "study.db", isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")  # another process holds a write transaction
    more = parse_experiment(text.replace("evaluations: 4", "evaluations: 6"))
    try:
        with pytest.raises(ExperimentError) as error:
            run_experiment(more, progress=False)
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert str(error.value) == (
        f"{run_dir / 'study.db'}: database is locked; the stored "
        "results are kept: run the search again to go on"
    )
    assert len(evaluated_keys(run_dir)) == 4
    assert run_experiment(more, progress=False).evaluated == 6


def test_the_display_counts_every_drivers_evaluations(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    """A peer stores evaluations while this driver runs: the live line counts them, and its
    last state is the run's (stderr is not a terminal here: one whole line at the end)."""
    run_dir = tmp_path / "run"
    config = parse_experiment(nb201_experiment(run_dir, 10))
    finish = _Loop._finish

    def finish_then_a_peer_evaluates_five(self, arch, metrics, display):
        finish(self, arch, metrics, display)
        if self.by_me == 1:
            peer = RunStore(config, run_dir, self.searcher.space)
            evaluator = TabularEvaluator(self.searcher.space, cost=False, latency=False)
            others = make_searcher(config.model_copy(update={"seed": 7}), self.searcher.space)
            for outcome in peer.claim(others.ask(5), config.evaluations):
                peer.finish(outcome.claim, evaluator.evaluate(outcome.claim.arch))

    monkeypatch.setattr(_Loop, "_finish", finish_then_a_peer_evaluates_five)
    summary = run_experiment(config, progress=True)
    assert summary.evaluated == 10 and summary.by_this_driver == 5
    err = capsys.readouterr().err
    trials = load(run_dir).trials
    broke = int((trials["status"].eq("ok") & ~trials["feasible"].astype(bool)).sum())
    assert f"done 10 | failed 0 | in flight 0 | infeasible {broke} | front" in err
    assert " 10/10 " in err


def test_drivers_writing_the_snapshot_at_once_each_write_a_whole_file(tmp_path: Path) -> None:
    from hwnas.experiments.files import write_whole

    path, errors = tmp_path / "experiment.yaml", []

    def write(text: str) -> None:
        for _ in range(200):
            try:
                write_whole(path, text)
            except OSError as e:
                errors.append(e)

    texts = [f"name: driver{i}\n" * 5000 for i in range(2)]
    writers = [threading.Thread(target=write, args=(t,)) for t in texts]
    for w in writers:
        w.start()
    for w in writers:
        w.join()
    assert not errors and path.read_text() in texts
    assert [p.name for p in tmp_path.iterdir()] == ["experiment.yaml"]  # no temporary left


def test_a_storage_url_whose_database_driver_is_missing_says_to_install_it(
    tmp_path: Path,
) -> None:
    """A postgresql:// URL without its driver installed said only "No module named
    'psycopg'", leaving the user to work out that it is the database's driver."""
    from hwnas.experiments.config import StorageConfig
    from hwnas.experiments.optuna_storage import open_optuna_storage

    url = "postgresql://user@localhost/hwnas"
    said = (
        rf"^storage.url: cannot open '{re.escape(url)}': No module named '\w+' \(the driver "
        r"SQLAlchemy uses for this URL: install it\)$"
    )
    with pytest.raises(ExperimentError, match=said):
        open_optuna_storage(StorageConfig(url=url), tmp_path)


def test_a_storage_url_that_cannot_be_opened_is_said_without_its_password(
    tmp_path: Path,
) -> None:
    """The error of a database URL that could not be opened printed it whole, password and
    all, into the terminal, logs and the issues users paste it into; it is shown as
    SQLAlchemy shows it, the password as ***."""
    from hwnas.experiments.config import StorageConfig
    from hwnas.experiments.optuna_storage import open_optuna_storage

    url = "postgresql://alice:s3cret-pw@localhost:5432/hwnas"
    with pytest.raises(ExperimentError) as caught:
        open_optuna_storage(StorageConfig(url=url), tmp_path)
    assert "s3cret-pw" not in str(caught.value)
    assert "cannot open 'postgresql://alice:***@localhost:5432/hwnas'" in str(caught.value)


def test_the_experiment_a_run_records_in_its_storage_hides_the_urls_password(
    tmp_path: Path,
) -> None:
    """A run recorded its experiment in its study with `storage.url` whole: every reader of
    the shared database (optuna-dashboard shows a study's attributes) got its password."""
    from hwnas.experiments.run_identity import check_same_experiment

    url = "postgresql://alice:s3cret-pw@db.example:5432/hwnas"
    text = nb201_experiment(tmp_path / "run", 4).replace(
        "storage: {journal: study.log, heartbeat_s: 0.5}", f"storage: {{url: '{url}'}}"
    )
    config = parse_experiment(text)
    study = optuna.create_study(
        storage=f"sqlite:///{tmp_path / 'other.db'}", directions=["maximize", "minimize"]
    )
    check_same_experiment(study, config, tmp_path / "run", make_space(config))
    recorded = study.user_attrs[EXPERIMENT]["storage"]["url"]
    assert recorded == "postgresql://alice:***@db.example:5432/hwnas"
    check_same_experiment(study, config, tmp_path / "run", make_space(config))  # the same run


def test_a_run_continues_with_its_databases_password_changed(tmp_path: Path) -> None:
    """A run on a database whose password was changed (rotated) was refused as "started with
    other settings of storage", its copy of the experiment holding the old password: it is
    the same database. Another database still is refused."""
    from hwnas.experiments.run_dir import SNAPSHOT, check_same_storage

    def experiment(url: str):
        return parse_experiment(
            nb201_experiment(tmp_path, 4).replace(
                "storage: {journal: study.log, heartbeat_s: 0.5}", f"storage: {{url: '{url}'}}"
            )
        )

    started = experiment("postgresql://alice:old-pw@db.example/hwnas")
    (tmp_path / SNAPSHOT).write_text(yaml.safe_dump(started.to_data()), encoding="utf-8")
    check_same_storage(experiment("postgresql://alice:new-pw@db.example/hwnas"), tmp_path)
    with pytest.raises(ExperimentError, match="started with other settings of storage"):
        check_same_storage(experiment("postgresql://alice:old-pw@other.example/hwnas"), tmp_path)


def test_drivers_starting_a_new_sqlite_run_at_once_all_open_it(tmp_path: Path) -> None:
    """Drivers started together (a job array, say) race to create the tables of the run's
    new study.db: none of them fails for it."""
    from hwnas.experiments.config import StorageConfig
    from hwnas.experiments.optuna_storage import open_optuna_storage

    errors = []

    def open_storage(run_dir: Path) -> None:
        try:
            open_optuna_storage(StorageConfig(), run_dir)
        except ExperimentError as e:
            errors.append(e)

    for attempt in range(5):
        run_dir = tmp_path / str(attempt)
        run_dir.mkdir()
        drivers = [threading.Thread(target=open_storage, args=(run_dir,)) for _ in range(4)]
        for d in drivers:
            d.start()
        for d in drivers:
            d.join()
    assert not errors, errors[0]


def test_a_driver_opening_a_new_sqlite_run_another_writes_waits_for_it(tmp_path: Path) -> None:
    """SQLite refuses at once (not after its timeout) to switch a file to WAL while another
    connection writes to it, as a driver creating the run's tables does: the second of two
    drivers started together ended with "database is locked"."""
    import sqlalchemy

    from hwnas.experiments.optuna_storage import _write_ahead_log

    file = tmp_path / "study.db"
    writer = sqlite3.connect(file, isolation_level=None, check_same_thread=False)
    writer.execute("CREATE TABLE t (x)")
    writer.execute("BEGIN IMMEDIATE")  # the other driver's write, not yet committed
    writer.execute("INSERT INTO t VALUES (1)")
    threading.Timer(0.5, lambda: writer.execute("COMMIT")).start()
    engine = sqlalchemy.create_engine(f"sqlite:///{file}", connect_args={"timeout": 60})
    _write_ahead_log(engine)
    with engine.connect() as connection:
        mode = connection.exec_driver_sql("PRAGMA journal_mode").scalar()
    engine.dispose()
    writer.close()
    assert mode == "wal"


def test_the_latency_gap_warning_is_for_searchers_that_can_propose_unpriced_blocks():
    """The differentiable example's fp32 profile cannot price the int8 blocks of `conv1d`,
    but its searcher proposes only fp32 ones: a warning there would be wrong. Nor do those
    candidates fail where the latency evaluator measures them: a warning saying so was wrong."""
    from hwnas.experiments.components import latency_predictor
    from hwnas.experiments.config import load_experiment
    from hwnas.experiments.run import _say_latency_gaps

    root = Path(__file__).resolve().parents[1]
    example = load_experiment(root / "examples" / "differentiable.yaml").with_absolute_inputs(root)
    space = make_space(example)
    table = latency_predictor(example, space)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # none
        _say_latency_gaps(example, space, table)
    evolving = example.model_copy(
        update={
            "searcher": example.searcher.model_copy(update={"name": "evolution", "settings": {}})
        }
    )
    with pytest.warns(UserWarning, match="not at fp16, int8, w4a8, which space 'conv1d' also"):
        _say_latency_gaps(evolving, space, table)

    # where the latency evaluator measures, the candidates do not fail: only the predictor
    # searcher uses the table, and it cannot price them
    settings = {**example.evaluator.settings, "latency": {"predictor": None}}
    measuring = evolving.model_copy(
        update={"evaluator": example.evaluator.model_copy(update={"settings": settings})}
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # none
        _say_latency_gaps(measuring, space, table)
    guided = measuring.searcher.model_copy(update={"name": "predictor"})
    with pytest.warns(UserWarning) as said:
        _say_latency_gaps(measuring.model_copy(update={"searcher": guided}), space, table)
    err = str(said[0].message)
    assert "not at fp16, int8, w4a8, which space 'conv1d' also offers; the predictor " in err
    assert "proposes candidates that use them only as uniform samples" in err
    assert "will fail" not in err


def test_a_candidate_evaluated_again_keeps_the_origin_its_first_claim_stored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A restored searcher may not know where a given-back candidate came from (the
    differentiable one rebuilds its searches only when asked): the resumed run's claim
    carries the note the interrupted claim stored."""
    from hwnas.search.nsga2 import NSGA2Searcher

    run_dir = tmp_path / "run"
    text = nb201_experiment(run_dir, 4)
    monkeypatch.setattr(NSGA2Searcher, "origin", lambda self, arch: {"derived_rank": 7})
    evaluate = TabularEvaluator.evaluate
    interrupted = interrupted_at_call(3, evaluate)
    monkeypatch.setattr(TabularEvaluator, "evaluate", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_experiment(parse_experiment(text), progress=False)
    monkeypatch.setattr(NSGA2Searcher, "origin", lambda self, arch: {})  # a restored searcher
    monkeypatch.setattr(TabularEvaluator, "evaluate", evaluate)
    assert run_experiment(parse_experiment(text), progress=False).evaluated == 4
    trials = load(run_dir).trials.set_index("key")
    assert trials.loc[interrupted.archs[2].key, "origin_derived_rank"] == 7  # on the resume


def test_an_interrupt_keeps_what_ray_finished_while_the_searcher_proposed(
    tmp_path: Path, ray_temp_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The differentiable searcher trains a supernet inside `ask` for minutes, while Ray
    finishes evaluations nobody collects: a Ctrl-C then stores them instead of giving them
    back to be evaluated again."""
    import ray

    from hwnas.experiments import run as run_module

    data = Path(__file__).resolve().parent / "data"
    run_dir = tmp_path / "run"
    text = (
        f"name: lat\nspace: {data / 'tiny2d.yaml'}\nevaluator: latency\n"
        f"latency: {{profile: {data / 'tiny2d_ort.csv'}}}\n"
        "objectives: [{metric: latency_ms, direction: min}]\n"
        "executor: {kind: ray, max_in_flight: 2, resources: {num_cpus: 1}}\n"
        f"searcher: random\nevaluations: 40\nrun_dir: {run_dir}\n"
    )
    monkeypatch.setenv("RAY_TMPDIR", str(ray_temp_dir))
    monkeypatch.setenv("RAY_USAGE_STATS_ENABLED", "0")
    executors, make_executor, make_searcher = [], run_module.make_executor, run_module.make_searcher
    told_before = []

    def kept(*args, **kwargs):
        executors.append(make_executor(*args, **kwargs))
        return executors[-1]

    def working_when_interrupted(*args, **kwargs):
        searcher = make_searcher(*args, **kwargs)
        ask = searcher.ask

        def ask_then_interrupted(n: int):
            running, told = list(executors[0]._running), sum(t.finished for t in searcher.trials)
            if not told or not running:  # the first ask, or both came back in one round
                return ask(n)
            assert len(running) == 1  # the other evaluation of the round, finishing meanwhile
            assert len(ray.wait(running, timeout=120)[0]) == 1
            told_before.append(told)
            raise KeyboardInterrupt

        searcher.ask = ask_then_interrupted
        return searcher

    monkeypatch.setattr(run_module, "make_executor", kept)
    monkeypatch.setattr(run_module, "make_searcher", working_when_interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_experiment(parse_experiment(text), progress=False)
    statuses = Counter(load(run_dir).trials["status"])
    # the told ones and the one finished during the ask (before: that one was given back)
    assert statuses == {"ok": told_before[0] + 1}, statuses


def test_a_result_ray_finished_by_a_ctrl_c_lacking_a_metric_is_the_error_said(
    tmp_path: Path, ray_temp_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A result Ray finished by a Ctrl-C, stored as the driver stops, that lacks a metric the
    objectives name (an evaluator that lists no metrics): the error saying so goes on, not
    the interrupt with a warning that the results were not stored; a resumed run would only
    meet it again."""
    import ray

    from hwnas.evaluators import RayExecutor
    from hwnas.evaluators.latency import LatencyEvaluator

    run_dir, submit = tmp_path / "run", RayExecutor.submit
    text = _lut_experiment(run_dir).replace("latency_ms, direction", "no_such_ms, direction")

    def ctrl_c_once_finished(self, *args, **kwargs):
        submit(self, *args, **kwargs)
        if len(self._running) == 2:
            ray.wait([task.completed() for task in self._running], num_returns=2)
            raise KeyboardInterrupt

    monkeypatch.setenv("RAY_TMPDIR", str(ray_temp_dir))
    monkeypatch.setenv("RAY_USAGE_STATS_ENABLED", "0")
    monkeypatch.setattr(LatencyEvaluator, "metric_names", None)  # as an evaluator of one's own
    monkeypatch.setattr(RayExecutor, "submit", ctrl_c_once_finished)
    ray_executor = "executor: {kind: ray, max_in_flight: 2, resources: {num_cpus: 1}}\n"
    with pytest.raises(ExperimentError, match=r"returns no \['no_such_ms'\]"):
        run_experiment(parse_experiment(text + ray_executor), progress=False)
    assert list(load(run_dir).trials["status"]) == ["failed"]


def _lut_experiment(run_dir: Path, name: str = "lat", storage: str = "") -> str:
    """The tiny 2D space priced by its real LUT: milliseconds per evaluation, no benchdata."""
    data = Path(__file__).resolve().parent / "data"
    return (
        f"name: {name}\nspace: {data / 'tiny2d.yaml'}\nevaluator: latency\n"
        f"latency: {{profile: {data / 'tiny2d_ort.csv'}}}\n"
        "objectives: [{metric: latency_ms, direction: min}]\n"
        f"searcher: random\nevaluations: 4\nrun_dir: {run_dir}\n{storage}"
    )


@pytest.mark.parametrize(
    ("name", "wrong", "right"),
    [
        ("hwnas_experiment", [1], {"name": "nb"}),
        ("hwnas_space_source", 3, "name: s"),
        ("hwnas_versions", 3, {"hwnas": "1"}),
        ("hwnas_latency_digests", ["a"], {"p.csv": "a"}),
        ("hwnas_benchmark_digests", "a", {"t.pkl": "a"}),
        ("hwnas_dataset_digest", {"a": 1}, "a"),
        ("hwnas_dataset_standardisation", [0.5], {"mean": [0.5]}),
        ("hwnas_driver:1234abcd", "alive", {"beat": 1.0}),  # a heartbeat, by its names' prefix
    ],
)
def test_every_study_attribute_hwnas_reads_is_checked_for_its_type(
    name: str, wrong: object, right: object
) -> None:
    """Each attribute hwnas writes is read back as the type it wrote (a digest table as a
    dict, a space's text as text): one of another type, edited by hand, is a damaged record
    when the study is opened, where later reads ended in Python's bare error. One of its
    type, or an attribute hwnas does not write, is no damage."""
    study = optuna.create_study()
    study.set_user_attr("someone_elses", [1])
    study.set_user_attr(name, right)
    check_study_attrs(study)
    study.set_user_attr(name, wrong)
    with pytest.raises(DamagedRecord, match=f"^the study's {re.escape(name)} is "):
        check_study_attrs(study)


@pytest.mark.parametrize("journal", [False, True])
def test_a_run_whose_stored_results_are_gone_is_not_started_over(
    tmp_path: Path, journal: bool
) -> None:
    """Its experiment.yaml says it was started: a missing or empty storage file, or one
    without its study, is refused (before, `--resume` quietly evaluated everything again
    into a new, empty study)."""
    run_dir = tmp_path / "run"
    storage = "storage: {journal: study.log}\n" if journal else ""
    text = _lut_experiment(run_dir, storage=storage)
    assert run_experiment(parse_experiment(text), progress=False).evaluated == 4
    stored = run_dir / ("study.log" if journal else "study.db")
    for companion in run_dir.glob("study.db-*"):
        companion.unlink()  # SQLite's write-ahead files, checkpointed when the run closed
    kept = stored.rename(tmp_path / stored.name)
    for resume in (True, False):
        with pytest.raises(ExperimentError, match=f"{stored}: not found \\(the run in .* was"):
            run_experiment(parse_experiment(text), resume=resume, progress=False)
    assert not stored.exists()  # nothing made in its place
    stored.touch()
    with pytest.raises(ExperimentError, match=f"{stored}: empty \\(the run in"):
        run_experiment(parse_experiment(text), resume=True, progress=False)
    other = tmp_path / "other"  # a storage file with another run's study in it
    run_experiment(parse_experiment(_lut_experiment(other, "lat2", storage)), progress=False)
    for file in other.glob(f"{stored.name}*"):  # with its write-ahead files, if any
        file.replace(run_dir / file.name)
    # such as a copy renamed by optuna.copy_study(..., to_study_name=...): name what it holds
    held = "; it holds 'lat2', and a run reads only the study its experiment names"
    with pytest.raises(ExperimentError, match=f"{stored}: no study 'lat'{held} \\(the run in"):
        run_experiment(parse_experiment(text), resume=True, progress=False)
    with pytest.raises(ExperimentError, match=f"{run_dir}: no study 'lat' in its storage{held}$"):
        load(run_dir)
    for file in run_dir.glob(f"{stored.name}*"):
        file.unlink()
    kept.replace(stored)  # restored: the run goes on
    assert run_experiment(parse_experiment(text), resume=True, progress=False).stopped_by == (
        "already complete"
    )


def test_a_shared_database_names_the_study_that_clashes_and_leaves_no_folder(
    tmp_path: Path,
) -> None:
    """In a storage.url shared by run folders a run's study is found by name: another
    experiment of the same name is told to take another name (a new run_dir would not
    help), and the folder its refused start made is removed again."""
    url = f"storage: {{url: 'sqlite:///{tmp_path / 'shared.db'}'}}\n"
    first = _lut_experiment(tmp_path / "a", "shared", url)
    run_experiment(parse_experiment(first), progress=False)
    second = _lut_experiment(tmp_path / "b", "shared", url) + "seed: 1\n"
    with pytest.raises(
        ExperimentError,
        match=r"study 'shared' in storage.url was started with other settings of seed .*; "
        "give it another name for a different experiment",
    ):
        run_experiment(parse_experiment(second), progress=False)
    assert not (tmp_path / "b").exists()
    renamed = second.replace("name: shared", "name: shared2")
    assert run_experiment(parse_experiment(renamed), progress=False).evaluated == 4


def test_a_new_run_dir_on_a_shared_databases_study_with_evaluations_says_it_continues_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A shared database (storage.url) finds a run's study by its name alone: a run started
    in another run_dir (or again after its run_dir was deleted) with the experiment's name
    continues the study's evaluations, and says so (before, silently: "4 evaluations, 0 by
    this driver")."""
    url = f"storage: {{url: 'sqlite:///{tmp_path / 'team.db'}'}}\n"
    run_experiment(parse_experiment(_lut_experiment(tmp_path / "a", "shared", url)))
    assert "hwnas: note" not in capsys.readouterr().err
    second = parse_experiment(_lut_experiment(tmp_path / "b", "shared", url))
    assert run_experiment(second, progress=False).by_this_driver == 0
    assert (
        "hwnas: note: study 'shared' in storage.url holds 4 evaluations already (started in "
        f"run_dir {tmp_path / 'a'}): this run continues it; give the experiment another name"
    ) in capsys.readouterr().err


def test_a_shared_database_refuses_another_programs_study_of_the_runs_name(
    tmp_path: Path,
) -> None:
    """An Optuna study of the experiment's name that hwnas did not make (no experiment
    recorded) is refused, left as it was: before, the run recorded itself there and stored
    its trials beside the study's own (with a warning of an "earlier hwnas"), or, where the
    study had another number of objectives, failed with Optuna's bare error. An empty one in
    the experiment's direction is a start stopped before its record, and goes on."""
    url = f"sqlite:///{tmp_path / 'team.db'}"
    with optuna_quiet():
        theirs = optuna.create_study(study_name="theirs", storage=url)
        theirs.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=2)
        optuna.create_study(study_name="other_way", storage=url, direction="maximize")
        optuna.create_study(study_name="stopped", storage=url)
    storage = f"storage: {{url: '{url}'}}\n"
    for name, held in (("theirs", "2 trials, directions minimize"), ("other_way", "0 trials")):
        with pytest.raises(
            ExperimentError,
            match=rf"^study '{name}' in storage.url is not an hwnas run's \(no experiment "
            rf"recorded; {held}.*give it another name",
        ):
            run_experiment(
                parse_experiment(_lut_experiment(tmp_path / name, name, storage)), progress=False
            )
        assert not (tmp_path / name).exists()
    theirs = optuna.load_study(study_name="theirs", storage=url)
    assert (len(theirs.trials), theirs.user_attrs, theirs.metric_names) == (2, {}, None)
    text = _lut_experiment(tmp_path / "stopped", "stopped", storage)
    assert run_experiment(parse_experiment(text), progress=False).evaluated == 4


def test_a_round_reads_only_the_trials_after_the_finished_ones(tmp_path, monkeypatch) -> None:
    """Counting a run's trials and judging a claim look again only at the trials after the
    leading finished ones: the run loop does both every round, and looking at every trial
    made long runs quadratic."""
    run_dir = tmp_path / "run"
    config = parse_experiment(nb201_experiment(run_dir, 30))
    run_experiment(config, progress=False)
    space = make_space(config)
    store = RunStore(config, run_dir, space, existing=True)
    try:
        counts, evaluated = store.counts(), store.evaluated()
        assert (counts["ok"] + counts["failed"], len(evaluated)) == (30, 30)
        read = []
        monkeypatch.setattr(
            storage_module, "outcome_of", lambda t: read.append(t.number) or outcome_of(t)
        )
        trials = store.trials()
        assert store.counts(trials) == counts and store.evaluated(trials).keys() == evaluated.keys()
        assert store.running_keys(trials) == set() and read == []
        rng = np.random.default_rng(0)
        new = next(a for a in iter(lambda: space.sample(rng), None) if a.key not in evaluated)
        earlier = next(iter(evaluated.values()))
        won, lost = store.claim([new, stored_arch(earlier)], limit=None)
        assert won.won and (lost.won, lost.why) == (False, "evaluated before")
        # the new claims, and the evaluation whose result the second one takes
        assert set(read) <= {won.claim.number, lost.claim.number, earlier.number}
        store.release([won.claim])
        assert store.counts()["interrupted"] == 1
    finally:
        store.close()


def test_a_claim_goes_through_only_the_trials_after_the_finished_ones(
    tmp_path, monkeypatch
) -> None:
    """A claim reads the run's trials as the storage gives them, in number order: it sorted
    them again, going through every trial of the run at each claim (a tenth of a journal
    run's time at 4000 evaluations, and growing with the run)."""
    run_dir = tmp_path / "run"
    config = parse_experiment(nb201_experiment(run_dir, 30))
    run_experiment(config, progress=False)
    space = make_space(config)
    store = RunStore(config, run_dir, space, existing=True)

    class Trials(list):  # notes each pass through all of the run's trials
        def __iter__(self):
            passes.append(len(self))
            return super().__iter__()

    passes: list[int] = []
    monkeypatch.setattr(store, "trials", lambda: Trials(read_trials(store.study)))
    try:
        store.counts()  # the 30 evaluations settled, as after the run loop's first round
        passes.clear()
        rng = np.random.default_rng(0)
        evaluated = store.evaluated()
        new = next(a for a in iter(lambda: space.sample(rng), None) if a.key not in evaluated)
        (outcome,) = store.claim([new], limit=None)
        assert outcome.won and outcome.claim.number == 30
        assert passes == []
        store.release([outcome.claim])
    finally:
        store.close()


def test_each_round_looks_only_at_the_trials_not_yet_finished(tmp_path, monkeypatch) -> None:
    """A round of the run loop shows and learns from the trials after the leading finished
    ones only: looking at every trial each round made long runs quadratic."""
    looked_at = []
    learn = _Loop._learn_from_others

    def counted(self, trials):
        looked_at.append(len(trials))
        return learn(self, trials)

    monkeypatch.setattr(_Loop, "_learn_from_others", counted)
    run_dir = tmp_path / "run"
    summary = run_experiment(parse_experiment(nb201_experiment(run_dir, 30)), progress=False)
    assert summary.evaluated == 30 and load(run_dir).trials["key"].is_unique
    assert len(looked_at) >= 30 and max(looked_at) <= 2  # the claim in flight, one finished


def test_a_space_text_is_compared_as_a_space_file_is_read() -> None:
    """The resume check compared the stored space text with PyYAML's YAML 1.1 reader, not the
    one spaces are read with: 016 read as octal 14 (a change where hwnas reads 16 both times),
    and a stored value containing itself (a run directory that is not the user's own) ended
    in a RecursionError instead of a plain text comparison."""
    assert same_yaml("widths: [016]", "widths: [16]")
    assert same_yaml("a: 1  # a comment", "a:   1") and not same_yaml("a: 1", "a: 2")
    hostile = "widths: &a [*a]\n"
    assert same_yaml(hostile, hostile) and not same_yaml(hostile, "widths: [16]\n")


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (93.68, "93.68"),
        (12.345678, "12.35"),  # four significant digits
        (99.9996, "99.9996"),  # not '100': no whole number it is not
        (1.99999, "1.99999"),
        (185306.0, "185,306"),  # a count
        (185306.5, "185306.5"),  # not '1.853e+05' (a whole number in disguise)
        (7, "7"),
        (0.000123456, "0.0001235"),
        (float("nan"), "nan"),
        (float("-inf"), "-inf"),
        (2.0**53 - 1, "9,007,199,254,740,991"),  # the largest whole number a float is sure of
        (1e300, "1e+300"),  # not its 301 digits, most of them the float's rounding error
        (-1.2345678901234567e22, "-1.235e+22"),
    ],
)
def test_metric_text_never_rounds_to_a_whole_number_it_is_not(value: float, shown: str) -> None:
    assert metric_text(value) == shown


@pytest.mark.parametrize(
    ("seconds", "shown"), [(0.42, "0.42 s"), (3.14159, "3.1 s"), (125.6, "126 s")]
)
def test_seconds_text_keeps_short_times_from_reading_zero(seconds: float, shown: str) -> None:
    """`hwnas train` said a training of under half a second took '0 s'."""
    assert seconds_text(seconds) == shown


def test_a_storage_without_the_runs_study_names_the_first_few_it_holds(tmp_path: Path) -> None:
    """A shared database's every study was listed in one error line, however many the
    team's database held."""
    storage = optuna.storages.RDBStorage(f"sqlite:///{tmp_path / 'team.db'}")
    for name in ("a", "b", "c", "d", "e"):
        optuna.create_study(storage=storage, study_name=name)
    assert optuna_storage.studies_held(storage) == (
        "; it holds 'a', 'b', 'c' and 2 more, and a run reads only the study its experiment names"
    )
    storage.engine.dispose()


def failing_calls(monkeypatch: pytest.MonkeyPatch, fails) -> list[Arch]:
    """The tabular evaluator failing where `fails(arch, call)` says (call: the 1-based count
    of evaluations so far), as a killed worker or a timeout fails a candidate by chance; the
    architectures it was asked to evaluate, in order."""
    evaluate, calls = TabularEvaluator.evaluate, []

    def flaky(self, arch, budget=None):
        calls.append(arch)
        if fails(arch, len(calls)):
            return Metrics.failed("the worker was killed")
        return evaluate(self, arch, budget)

    monkeypatch.setattr(TabularEvaluator, "evaluate", flaky)
    return calls


def searchers_made(monkeypatch: pytest.MonkeyPatch) -> list:
    """The searchers the run loop makes from here on (the real ones, kept to look at)."""
    made, make = [], run_module.make_searcher
    monkeypatch.setattr(run_module, "make_searcher", lambda *a: made.append(make(*a)) or made[-1])
    return made


@pytest.mark.parametrize("storage", STORAGES)
def test_retry_failed_evaluates_each_failure_again_once_and_its_result_replaces_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture, storage: str
) -> None:
    """A failed candidate was never evaluated again in its run (neither a resume nor more
    `evaluations` retried it): `retry_failed` does, before searching on, and the retry's
    result is the architecture's (in the count, the display, the results, the front and the
    history a searcher is rebuilt from), the failure kept in the storage as history."""
    run_dir = tmp_path / "run"
    text = nb201_experiment(run_dir, 12, executor="{kind: local}")
    config = parse_experiment(text.replace(STORAGES["journal"], STORAGES[storage]))
    failing_calls(monkeypatch, lambda arch, call: call in (2, 5, 7))
    first = run_experiment(config, progress=False)
    assert (first.evaluated, first.failed, first.retried) == (12, 3, 0)
    failed = load(run_dir).trials.query("status == 'failed'")
    calls, searchers = (
        failing_calls(monkeypatch, lambda arch, call: False),
        searchers_made(monkeypatch),
    )
    capsys.readouterr()
    again = run_experiment(config, progress=True, retry_failed=True)
    (line,) = capsys.readouterr().err.splitlines()  # stderr is no terminal: the last state
    assert " 12/12 " in line and "done 12 | failed 0 | in flight 0" in line
    assert (again.evaluated, again.failed, again.retried, again.by_this_driver) == (12, 0, 3, 3)
    assert again.stopped_by == "evaluations"  # a retry spends none of the evaluations
    assert [a.key for a in calls] == list(failed["key"])  # each once, in claim order
    results = load(run_dir)
    assert results.retried == list(failed["number"])
    assert len(results.trials) == 12 and results.trials["key"].is_unique
    assert results.trials["status"].eq("ok").all()
    assert results.pareto()["key"].is_unique
    store = RunStore(config, run_dir, make_space(config), existing=True)
    try:
        counts = store.counts()
        assert (counts["ok"], counts["failed"], counts["retried"]) == (12, 0, 3)
        latest = dict((a.key, m) for a, m in store.history())
        assert all(latest[key].ok for key in failed["key"])
        assert all(store.evaluated()[key].number > n for key, n in failed[["key", "number"]].values)
    finally:
        store.close()
    # the searcher of the retrying run was told each retry's result, not left with the failure
    (searcher,) = searchers
    assert all(searcher._by_key[key].metrics.ok for key in failed["key"])
    # with no failure left, a retry has nothing to do: the complete run starts nothing
    done = run_experiment(config, progress=False, retry_failed=True)
    assert (done.stopped_by, done.retried, len(calls)) == ("already complete", 3, 3)


def test_a_retry_that_fails_again_stays_failed_and_the_search_goes_on_to_its_evaluations(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One retry per invocation: a candidate that fails again stays failed (a plain resume
    leaves it so), and with `evaluations` raised the run then searches on up to them."""
    run_dir = tmp_path / "run"
    failing_calls(monkeypatch, lambda arch, call: call in (1, 3))
    run_experiment(parse_experiment(nb201_experiment(run_dir, 8)), progress=False)
    first = load(run_dir).trials.query("status == 'failed'").sort_values("number")
    broken, mended = first["key"]
    calls = failing_calls(monkeypatch, lambda arch, call: arch.key == broken)
    config = parse_experiment(nb201_experiment(run_dir, 12))
    summary = run_experiment(config, progress=False, retry_failed=True)
    assert (summary.evaluated, summary.failed, summary.retried) == (12, 1, 2)
    assert [a.key for a in calls[:2]] == [broken, mended] and len(calls) == 6
    trials = load(run_dir).trials
    assert len(trials) == 12 and trials["key"].is_unique
    assert list(trials.query("status == 'failed'")["key"]) == [broken]
    evaluations = [t for t in trials_of(run_dir) if outcome_of(t) in ("ok", "failed")]
    assert [outcome_of(t) for t in evaluations if t.user_attrs[KEY] == broken] == ["failed"] * 2
    assert run_experiment(config, progress=False).stopped_by == "already complete"
    assert len(calls) == 6  # a resume without retry_failed retries nothing


@pytest.mark.parametrize("storage", STORAGES)
def test_only_a_retry_claim_evaluates_a_failed_key_again_and_the_lowest_live_one_wins(
    tmp_path: Path, storage: str
) -> None:
    """A proposal of a failed key stays a duplicate; of two drivers retrying it at once the
    lower live claim wins; a retry wins at the run's limit (it replaces a counted failure),
    and once stored it is the key's result (counted once, in `evaluated` and the history)
    and no second retry of that failure wins: judged and counted behind a peer's live claim
    (nothing settled) and once all is settled, by the drivers and by one that starts then."""
    run_dir = tmp_path / "run"
    config, space, mine, peer = two_stores(run_dir, 2, storage)
    try:
        (held,) = peer.claim([space.sample(2)], limit=None)  # live: none after it settles
        good, bad = (o.claim for o in mine.claim([space.sample(0), space.sample(1)], limit=3))
        ok = mine.finish(good, Metrics({"accuracy": 90.0, "hw_fpga_latency_ms": 3.0}))
        mine.finish(bad, Metrics.failed("the worker was killed"))
        retry = {bad.arch.key: bad.number}
        (proposed,) = mine.claim([bad.arch], limit=None)
        assert (proposed.won, proposed.why) == (False, "evaluated before")
        assert not proposed.metrics.ok
        (won,) = mine.claim([bad.arch], limit=3, retry=retry)
        (lost,) = peer.claim([bad.arch], limit=3, retry=retry)
        assert won.won and (lost.won, lost.why) == (False, "claimed by another evaluation")
        counts = mine.counts()
        assert (counts["ok"], counts["failed"], counts["running"]) == (1, 1, 2)
        result = Metrics({"accuracy": 80.0, "hw_fpga_latency_ms": 2.0})
        mine.finish(won.claim, result)

        def the_retry_is_the_result(store: RunStore, running: int) -> None:
            counts = store.counts()
            assert (counts["ok"], counts["failed"], counts["retried"]) == (2, 0, 1)
            assert counts["running"] == running
            assert store.evaluated()[bad.arch.key].number == won.claim.number
            history = [(held.claim.arch, None), (good.arch, ok), (bad.arch, result)]
            assert store.history()[:3] == history  # then the new one, once claimed

        for store in (mine, peer):
            the_retry_is_the_result(store, running=1)
        (late,) = peer.claim([bad.arch], limit=3, retry=retry)
        assert (late.won, late.why, late.metrics) == (False, "evaluated before", result)
        new = space.sample(3)  # 2 evaluations (not 3) and the live claim before it
        assert mine.claim([new], limit=3)[0].why == SURPLUS
        (taken,) = mine.claim([new], limit=4)
        assert taken.won
        peer.release([held.claim])
        mine.release([taken.claim])
        fresh = RunStore(config, run_dir, space, existing=True)
        for store in (mine, peer, fresh):  # all settled now
            the_retry_is_the_result(store, running=0)
        fresh.close()
    finally:
        mine.close()
        peer.close()


def test_retries_claimed_beside_new_candidates_leave_the_limit_no_surplus(
    tmp_path: Path, ray_temp_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With slots for several evaluations (Ray's `max_in_flight`), the retries were claimed
    beside new candidates the limit had no room for once the retries' live claims counted:
    those were claimed in vain, stored as surplus, and asked again in reversed order."""
    run_dir = tmp_path / "run"
    failing_calls(monkeypatch, lambda arch, call: call in (1, 2))
    run_experiment(parse_experiment(nb201_experiment(run_dir, 12)), progress=False)
    monkeypatch.setenv("RAY_TMPDIR", str(ray_temp_dir))
    monkeypatch.setenv("RAY_USAGE_STATS_ENABLED", "0")
    ray = "{kind: ray, max_in_flight: 4, resources: {num_cpus: 0.5}}"
    config = parse_experiment(nb201_experiment(run_dir, 14, executor=ray))
    summary = run_experiment(config, progress=False, retry_failed=True)
    assert (summary.evaluated, summary.failed, summary.retried) == (14, 0, 2)
    assert SURPLUS not in {outcome_of(t) for t in trials_of(run_dir)}

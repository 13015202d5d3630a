"""Export -> build round trip on a real conv1d run (zero-cost evaluator on MNIST-1D): the
rebuilt model is the exported one, and the ONNX file runs in ONNX Runtime like torch."""

from __future__ import annotations

import json
import math
import os
import re
import resource
import shutil
import sqlite3
import stat
import subprocess
import sys
import tempfile
from contextlib import closing
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
import yaml
from benchdata import needs_nb201
from cli_runner import cli_on_read_only
from cli_runner import hwnas as hwnas_cli
from reproducible import REPRODUCIBLE_DEVICE

import hwnas
from hwnas.evaluators import load_dataset
from hwnas.experiments import (
    ExperimentError,
    RunResults,
    export_run,
    load,
    load_experiment,
    plots,
    run_experiment,
)
from hwnas.experiments.config import parse_experiment
from hwnas.experiments.export import (
    arch_config,
    build,
    export_deployed_onnx,
    export_onnx_checked,
    read_config,
)
from hwnas.experiments.shown import metric_text
from hwnas.spaces import get_space

EXPERIMENT = """\
name: zc
space: conv1d
dataset: mnist1d
evaluator: {{name: zero_cost, settings: {{zero_cost: {{proxies: [synflow], batch_size: 16}}}}}}
objectives: [{{metric: zc_synflow, direction: max}}, {{metric: size_bytes, direction: min}}]
searcher: random
evaluations: 3
run_dir: {run_dir}
"""


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run_dir = tmp_path_factory.mktemp("zc") / "run"
    experiment = run_dir.parent / "zc.yaml"
    experiment.write_text(EXPERIMENT.format(run_dir=run_dir))
    summary = run_experiment(str(experiment), progress=False)  # a file's name will do
    assert summary.evaluated == 3 and summary.failed == 0
    return run_dir


def test_export_records_the_standardisation_the_inputs_got(run_dir: Path, tmp_path: Path) -> None:
    (config,) = export_run(load(run_dir), tmp_path, top=1)
    data = json.loads(config.read_text())["data"]
    assert data["dataset"] == "mnist1d"
    mean, std = (np.array(data["standardisation"][k]).reshape(1, -1, 1) for k in ("mean", "std"))
    raw, scaled = load_dataset("mnist1d", normalize=False), load_dataset("mnist1d")
    assert np.allclose((raw.x_test - mean) / std, scaled.x_test, atol=1e-5)  # what deploying needs


@pytest.mark.parametrize(("own_seed", "expected"), [(None, 5), (7, 7)])
def test_exported_weights_are_those_the_run_built_its_candidate_with(
    tmp_path: Path, own_seed: int | None, expected: int
) -> None:
    """The run's seed (or the evaluator's own) seeds every candidate's weights; exported
    weights made with seed 0 instead could not reproduce the run's accuracy from its recipe."""
    proxies = "{proxies: [synflow], batch_size: 16"
    settings = proxies + (f", seed: {own_seed}}}" if own_seed is not None else "}")
    experiment = parse_experiment(
        EXPERIMENT.format(run_dir=tmp_path / "run")
        .replace(proxies + "}", settings)
        .replace("evaluations: 3", "evaluations: 1\nseed: 5")
    )
    assert run_experiment(experiment, progress=False).failed == 0
    results = load(tmp_path / "run")
    (config,) = export_run(results, tmp_path / "out", top=1, fmt="torch")
    data = read_config(config)
    assert data["weights_seed"] == expected
    torch.manual_seed(expected)
    started = results.space.build(results.arch(0)).state_dict()
    exported = torch.load(tmp_path / "out" / data["weights"], weights_only=True)
    assert all(torch.equal(exported[k], v) for k, v in started.items())


def test_torch_export_then_build_gives_the_same_model(run_dir: Path, tmp_path: Path) -> None:
    results = load(run_dir)
    (config,) = export_run(results, tmp_path, top=1, fmt="torch")
    data = read_config(config)
    front = results.pareto()
    assert data["key"] == front["key"].iloc[0]
    assert data["space"]["name"] == "conv1d" and "stages:" in data["space"]["source"]
    assert data["metrics"]["size_bytes"] == front["size_bytes"].iloc[0]

    original = results.space.build(results.arch(int(front["number"].iloc[0])))
    original.load_state_dict(torch.load(tmp_path / data["weights"], weights_only=True))
    rebuilt = hwnas.build(config)
    x = torch.randn(4, *results.space.input_shape)
    with torch.no_grad():
        assert torch.equal(original.eval()(x), rebuilt.eval()(x))
    assert type(rebuilt).__name__ == type(original).__name__
    state = torch.load(tmp_path / data["weights"], weights_only=True)
    older = tmp_path / "older.pt"  # saved before quantized layers kept their input ranges
    kept = {k: v for k, v in state.items() if not k.endswith(".activation_range")}
    assert len(kept) < len(state)
    torch.save(kept, older)
    loaded = hwnas.build(config, weights=older).state_dict()
    assert all(torch.equal(loaded[k], v) for k, v in kept.items())


def test_a_torch_export_leaves_the_callers_torch_random_numbers(
    run_dir: Path, tmp_path: Path
) -> None:
    """The exported weights are built after seeding torch with the run's seed; the caller's
    generator was left reseeded (a notebook's next `torch.rand` the same after every export)."""
    torch.manual_seed(7)
    export_run(load(run_dir), tmp_path, top=1, fmt="torch")
    drawn = torch.rand(4)
    torch.manual_seed(7)
    assert torch.equal(drawn, torch.rand(4))


def test_a_numpy_seed_is_exported_as_the_integer_it_holds(run_dir: Path, tmp_path: Path) -> None:
    """A seed numpy gave (`np.int64`) seeds the weights as its int: the export failed with
    "Object of type int64 is not JSON serializable" writing the config's `weights_seed`."""
    (config,) = export_run(load(run_dir), tmp_path, top=1, fmt="torch", seed=np.int64(3))
    assert json.loads(config.read_text())["weights_seed"] == 3


def test_numpy_integers_choose_what_to_export_as_the_integers_they_hold(
    run_dir: Path, tmp_path: Path
) -> None:
    """top and trial take a numpy integer as the other counts of the API do: np.int64(1)
    was refused as "top must be an integer >= 1"."""
    results = load(run_dir)
    for choice in ({"top": 1}, {"trial": 1}):
        numpy_choice = {name: np.int64(value) for name, value in choice.items()}
        (plain,) = export_run(results, tmp_path / "plain", **choice)
        (numpy,) = export_run(results, tmp_path / "numpy", **numpy_choice)
        assert numpy.name == plain.name and numpy.read_text() == plain.read_text()


def test_build_writes_no_scratch_file(
    run_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A deployed model is built where nothing may be writable (a container with a read-only
    root and no /tmp): `hwnas.build` wrote the config's space to a temporary file to read it
    back, and failed with "No such file or directory" where no temporary folder could be made."""
    (config,) = export_run(load(run_dir), tmp_path, top=1, fmt="torch")
    expected = hwnas.build(config).state_dict()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "no temporary folder"))
    rebuilt = hwnas.build(config).state_dict()
    assert rebuilt.keys() == expected.keys()
    assert all(torch.equal(rebuilt[k], v) for k, v in expected.items())


def test_onnx_export_matches_torch_in_onnx_runtime(run_dir: Path, tmp_path: Path) -> None:
    (config,) = export_run(load(run_dir), tmp_path, trial=1, fmt="onnx")
    data = json.loads(config.read_text())
    assert data["run"]["trial"] == 1
    session = ort.InferenceSession(str(tmp_path / data["onnx"]["file"]))
    model = hwnas.inference_model(hwnas.build(config))  # eval, merged, no fake quant
    x = np.random.default_rng(1).standard_normal((3, *data["space"]["input"])).astype(np.float32)
    (got,) = session.run(None, {session.get_inputs()[0].name: x})
    with torch.no_grad():
        want = model(torch.from_numpy(x)).numpy()
    assert got.shape == (3, 10)
    np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-4)


def test_export_under_a_float64_default_dtype_writes_the_float32_model(
    run_dir: Path, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """A notebook's `torch.set_default_dtype(torch.float64)` made the exported weights
    float64 and the ONNX export fail; the caller's dtype stays set."""
    (expected,) = export_run(load(run_dir), tmp_path / "a", trial=1, fmt="onnx")
    request.addfinalizer(lambda: torch.set_default_dtype(torch.float32))
    torch.set_default_dtype(torch.float64)
    (config,) = export_run(load(run_dir), tmp_path / "b", trial=1, fmt="onnx")
    assert torch.get_default_dtype() == torch.float64
    weights = [
        torch.load(c.with_name(json.loads(c.read_text())["weights"]), weights_only=True)
        for c in (expected, config)
    ]
    assert {t.dtype for t in weights[1].values() if t.is_floating_point()} == {torch.float32}
    assert all(torch.equal(weights[0][k], v) for k, v in weights[1].items())
    assert (tmp_path / "b" / json.loads(config.read_text())["onnx"]["file"]).is_file()


def test_export_takes_a_run_folder_too(run_dir: Path, tmp_path: Path) -> None:
    (by_folder,) = export_run(str(run_dir), tmp_path / "a", top=1)
    (by_results,) = export_run(load(run_dir), tmp_path / "b", top=1)
    assert by_folder.read_text() == by_results.read_text()
    with pytest.raises(TypeError, match="config must be an ExperimentConfig or an experiment"):
        run_experiment({"name": "x"})


def test_export_takes_a_run_or_its_folder_and_nothing_else(tmp_path: Path) -> None:
    """None failed on `.pareto` with an AttributeError naming no argument; nothing is made."""
    with pytest.raises(TypeError, match=r"^results must be a RunResults or a run folder's path"):
        export_run(None, tmp_path / "out")  # type: ignore[arg-type]
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("choice", "error"),
    [
        ({"fmt": "onxx"}, "format must be json, yaml, onnx or torch, not 'onxx'"),
        ({"top": 0}, "top must be an integer >= 1, not 0"),
        ({"top": -1}, "top must be an integer >= 1, not -1"),
        ({"trial": 1.5}, "trial must be an integer >= 0, not 1.5"),
        ({"top": 2, "trial": 0}, "give top or trial (--top or --trial), not both"),
        # torch's "Overflow when unpacking long long"; the others were written as the
        # config's weights_seed, which hwnas train refused or did not take
        *(
            (
                {"fmt": "torch", "seed": seed},
                f"seed must be an integer in [0, 2**64 - 1], not {seed!r}",
            )
            for seed in (2**64, -1, 1.5, "1", True)
        ),
    ],
)
def test_export_refuses_a_bad_choice_of_what_to_export(
    choice: dict, error: str, run_dir: Path, tmp_path: Path
) -> None:
    """Not a quiet JSON-only export for a misspelt format, nor front.head(-1)."""
    with pytest.raises(ExperimentError, match=re.escape(error)):
        export_run(load(run_dir), tmp_path / "out", **choice)
    assert not (tmp_path / "out").exists()


def test_yaml_export_and_bad_configs(run_dir: Path, tmp_path: Path) -> None:
    (config,) = export_run(load(run_dir), tmp_path, top=1, fmt="yaml")
    data = yaml.safe_load(config.read_text())
    text = config.read_text()  # the space's source reads as in its own file, not one line
    assert "  source: |\n" in text and "\n    name: conv1d\n" in text
    assert hwnas.build(config)(torch.zeros(1, *data["space"]["input"])).shape == (1, 10)

    tampered = tmp_path / "tampered.json"
    tampered.write_text(json.dumps({**data, "key": "0" * 16}))
    with pytest.raises(ExperimentError, match=f"{tampered}: choices give key .* config says 0000"):
        hwnas.build(tampered)
    name, value = next((k, v) for k, v in data["choices"].items() if k.endswith("kernel"))
    tampered.write_text(json.dumps({**data, "choices": {**data["choices"], name: value + 1}}))
    with pytest.raises(ExperimentError, match=f"{tampered}: choices: .*{name.rsplit('.', 1)[0]}"):
        hwnas.build(tampered)  # an even kernel: not in the space
    hostile = tmp_path / "hostile.yaml"
    hostile.write_text("format: !!python/object/apply:os.system [echo hi]\n")
    with pytest.raises(ExperimentError, match="hostile.yaml: line 1: not valid YAML: could") as e:
        hwnas.build(hostile)
    assert "\n" not in str(e.value)  # one line, not YAML's caret drawing
    binary = tmp_path / "model.onnx"
    binary.write_bytes(b"\x08\x07\xcd\xff\xfe")
    with pytest.raises(ExperimentError, match="model.onnx: not an hwnas architecture config"):
        hwnas.build(binary)
    with pytest.raises(ExperimentError, match=r"\(format hwnas-arch/1\): format 'hwnas-arch/2'"):
        hwnas.build({**data, "format": "hwnas-arch/2"})
    listing = tmp_path / "list.yaml"
    listing.write_text("- 1\n")
    with pytest.raises(ExperimentError, match="list.yaml: .*: it holds a list, not a mapping"):
        hwnas.build(listing)
    with pytest.raises(ExperimentError, match=r"config: give a path .*, not the text itself"):
        hwnas.build(json.dumps(data))  # the text, not its file
    with pytest.raises(ExperimentError, match="no evaluation with trial number 99"):
        export_run(load(run_dir), tmp_path, trial=99)


# -- what a finished run gives a user: fronts, figures, exports, rebuilds ------------------
DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture(scope="module")
def failed_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny 2D space at w4a8 only, scored by a latency table that measured fp32 and int8:
    every evaluation fails (and stores no latency)."""
    tmp = tmp_path_factory.mktemp("failed")
    space = tmp / "tiny2d.yaml"
    space.write_text((DATA / "tiny2d.yaml").read_text().replace("[fp32, int8]", "[w4a8]"))
    experiment = (
        f"name: lat\nspace: {space}\nevaluator: latency\n"
        f"latency: {{profile: {DATA / 'tiny2d_ort.csv'}}}\n"
        "objectives: [{metric: latency_ms, direction: min}, {metric: size_bytes, direction: min}]\n"
        f"searcher: random\nevaluations: 3\nrun_dir: {tmp / 'run'}\n"
    )
    with pytest.warns(UserWarning, match="latency: .*not at w4a8, .*candidates that use them"):
        summary = run_experiment(parse_experiment(experiment), progress=False)
    assert summary.evaluated == summary.failed == 3
    return tmp / "run"


#: the NAS-Bench-201 runs' objectives: accuracy against the FPGA latency
NB201_OBJECTIVES = (
    "objectives: [{metric: accuracy, direction: max}, {metric: hw_fpga_latency_ms, direction: "
    "min}]\n"
)


def nb201_search(
    run_dir: Path,
    evaluations: int,
    objectives: str = NB201_OBJECTIVES,
    extra: str = "",
    cost: bool = False,
):
    """A random search (seed 0) of the NAS-Bench-201 table into `run_dir`; its summary."""
    experiment = (
        "name: nb\nspace: nasbench201\n"
        f"evaluator: {{name: tabular, settings: {{tabular: {{cost: {str(cost).lower()}, "
        f"latency: false}}}}}}\n{objectives}{extra}"
        f"searcher: random\nevaluations: {evaluations}\nseed: 0\nrun_dir: {run_dir}\n"
    )
    return run_experiment(parse_experiment(experiment), progress=False)


@pytest.fixture(scope="module")
def nb201_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """NAS-Bench-201 from its table: accuracy (max) vs FPGA latency (min), constrained on the
    Pixel 3 latency (neither an objective nor a cost), so some points are infeasible."""
    run_dir = tmp_path_factory.mktemp("nb201") / "run"
    constraint = "constraints: [{metric: hw_pixel3_latency_ms, max: 12.0}]\n"
    summary = nb201_search(run_dir, 30, extra=constraint)
    assert summary.evaluated == 30 and summary.failed == 0
    return run_dir


def test_a_run_without_a_successful_evaluation_has_an_empty_front(
    failed_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    results = load(failed_run)
    assert results.pareto().empty and results.figures() == {}
    progress = results.progress()
    assert len(progress) == 3 and (progress["hypervolume"] == 0).all()
    assert progress["best_latency_ms"].isna().all()
    assert results.hypervolume(reference=[5.0, 1e6]) == 0.0  # was a KeyError: 'latency_ms'
    with pytest.raises(ExperimentError, match="no feasible successful evaluations to take"):
        results.hypervolume()  # nothing to take a reference from
    with pytest.raises(
        ExperimentError,
        match=r"no feasible successful evaluation to export; trial \(--trial N\) exports any",
    ):
        export_run(results, tmp_path / "out")
    html = tmp_path / "report.html"
    assert hwnas_cli("pareto", str(failed_run), "--html", str(html)) == 0
    assert f"{html} not written" in capsys.readouterr().err and not html.exists()


def staircase_corners(fig) -> list[tuple[float, float]]:
    """The corners plotly draws between consecutive points of the front line."""
    front = fig.data[-1]
    assert front.name == "Pareto front"
    xs, ys = list(front.x), list(front.y)
    if front.line.shape == "hv":
        return [(xs[i + 1], ys[i]) for i in range(len(xs) - 1)]
    assert front.line.shape == "vh"
    return [(xs[i], ys[i + 1]) for i in range(len(xs) - 1)]


@needs_nb201
@pytest.mark.parametrize("flip", [False, True])
def test_the_front_staircase_bounds_what_the_front_dominates(nb201_run: Path, flip: bool) -> None:
    results = load(nb201_run)
    objectives = results.objectives[::-1] if flip else results.objectives
    front = results.pareto(objectives)
    assert len(front) >= 3
    losses = results.losses(front, objectives)
    sign = np.array([-1 if d == "max" else 1 for _, d in objectives])
    for corner in staircase_corners(results.figures(objectives)["pareto_2d"]):
        # every corner of the attainment curve is weakly dominated by a front point
        assert np.any(np.all(losses <= np.array(corner) * sign, axis=1)), corner


@needs_nb201
def test_the_figures_of_four_objectives_mark_the_front_of_all_four(nb201_run: Path) -> None:
    """The 2D and 3D figures plot two and three of four objectives, but their front is the
    one the table lists and export takes (the figures marked the front of their axes alone,
    leaving members of the run's front unmarked)."""
    results = load(nb201_run)
    view = [*results.objectives, ("hw_pixel3_latency_ms", "min"), ("test_accuracy", "max")]
    front = set(results.pareto(view)["number"])
    assert len(front) > len(results.pareto(view[:3])) > len(results.pareto(view[:2]))
    figures = results.figures(view)
    for name in ("pareto_2d", "pareto_3d"):
        (marked,) = [t for t in figures[name].data if t.name == "Pareto front"]
        assert {int(text.split()[0][1:]) for text in marked.text} == front, name
    assert figures["pareto_2d"].data[-1].mode == "markers"  # no staircase: not a 2D front
    assert figures["pareto_3d"].layout.title.text.endswith("(front of all 4 objectives)")
    assert results.figures()["pareto_2d"].data[-1].mode == "lines+markers"


@needs_nb201
def test_front_members_equal_in_the_first_objective_rank_by_the_next(tmp_path: Path) -> None:
    """Three objectives, the first (params) shared by front members that trade the other two:
    the front is best first by params, then by accuracy, and `--top` takes the better one."""
    objectives = (
        "objectives: [{metric: params, direction: min}, {metric: accuracy, direction: max}, "
        "{metric: hw_fpga_latency_ms, direction: min}]\n"
    )
    nb201_search(tmp_path / "run", 30, objectives, cost=True)
    results = load(tmp_path / "run")
    front = results.pareto()
    columns = ["params", "accuracy", "hw_fpga_latency_ms", "number"]
    ranked = [(p, -a, f, n) for p, a, f, n in front[columns].itertuples(index=False)]
    assert ranked == sorted(ranked)
    smallest_tie = front[front["params"].duplicated(keep=False)]["params"].min()
    tied = front[front["params"] == smallest_tie]
    assert len(tied) >= 2  # the case in question: front members of one size
    better = int(tied.loc[tied["accuracy"].idxmax(), "number"])
    top = int((front["params"] < smallest_tie).sum()) + 1  # the first of the tied ones
    written = export_run(results, tmp_path / "out", top=top)
    assert written[-1].name.startswith(f"trial{better}-")


@needs_nb201
def test_export_takes_the_front_of_a_view_of_other_objectives(
    nb201_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """`hwnas pareto --objectives` shows a front of other objectives, but export had no way
    to take its members (only `--trial N`, one at a time)."""
    view = ["accuracy", "hw_pixel3_latency_ms:min"]
    front = load(nb201_run).pareto(view)
    assert list(front["number"][:2]) != list(load(nb201_run).pareto()["number"][:2])
    out = tmp_path / "out"
    args = ["export", str(nb201_run), "--top", "2", "-o", str(out)]
    assert hwnas_cli(*args, "--objectives", ",".join(view)) == 0
    written = sorted(p.name.split("-")[0] for p in out.glob("*.json"))
    assert written == sorted(f"trial{n}" for n in front["number"][:2])
    again = export_run(nb201_run, tmp_path / "api", top=2, objectives=view)
    assert [p.name.split("-")[0] for p in again] == [f"trial{n}" for n in front["number"][:2]]
    assert hwnas_cli(*args[:2], "--trial", "0", "--objectives", view[0]) == 1
    assert "give objectives with top, not with trial" in capsys.readouterr().err


@needs_nb201
def test_a_report_written_again_from_the_same_results_is_the_same_file(
    nb201_run: Path, tmp_path: Path
) -> None:
    """Each figure's element had a random id, so two reports of unchanged results differed
    (a report kept under version control, or compared, changed every time)."""
    first, again = tmp_path / "a.html", tmp_path / "b.html"
    assert hwnas_cli("pareto", str(nb201_run), "--html", str(first)) == 0
    assert hwnas_cli("pareto", str(nb201_run), "--html", str(again)) == 0
    assert first.read_bytes() == again.read_bytes()
    assert 'id="hwnas-pareto_2d"' in first.read_text(encoding="utf-8")


@needs_nb201
def test_the_report_declares_itself_an_html5_page(nb201_run: Path, tmp_path: Path) -> None:
    """The report began with `<html>`: without a doctype, browsers lay it out in quirks mode
    and validators refuse it."""
    report = tmp_path / "report.html"
    assert hwnas_cli("pareto", str(nb201_run), "--html", str(report)) == 0
    assert report.read_text(encoding="utf-8").startswith("<!DOCTYPE html><html>")


@needs_nb201
def test_the_progress_of_a_single_evaluation_is_drawn(tmp_path: Path) -> None:
    """Progress is drawn as lines, and one point makes no line: a run of one evaluation had
    empty progress figures."""
    nb201_search(tmp_path / "run", 1)
    results = load(tmp_path / "run")
    for over in ("evaluations", "time"):
        fig = results.figures()[f"progress_{over}"]
        assert [len(t.x) for t in fig.data] == [1, 1, 1]
        assert all("markers" in t.mode for t in fig.data)
    report = tmp_path / "report.html"  # counted as one: it said '1 evaluations', '1 members'
    assert hwnas_cli("pareto", str(tmp_path / "run"), "--html", str(report)) == 0
    text = report.read_text(encoding="utf-8")
    assert "<h1>hwnas run nb: 1 evaluation</h1><p>Of the 1 evaluation, 1 succeeded" in text
    assert "<h2>Pareto front: 1 member</h2>" in text


@needs_nb201
def test_infeasible_points_say_why_on_hover(nb201_run: Path) -> None:
    """A grey point's hover showed its values alone: it now names the bound it breaks."""
    results = load(nb201_run)
    fig = results.figures()["pareto_2d"]
    (infeasible,) = [t for t in fig.data if t.name == "infeasible"]
    assert len(infeasible.text) == (~results.trials["feasible"]).sum() > 0
    assert all("hw_pixel3_latency_ms: " in text for text in infeasible.text)
    assert all(t.endswith("<br>infeasible: hw_pixel3_latency_ms &gt; 12") for t in infeasible.text)
    others = [text for trace in fig.data if trace.name != "infeasible" for text in trace.text]
    assert others and not any("infeasible" in text for text in others)
    assert fig.layout.xaxis.title.text == "accuracy (%, max)"
    unknown = results.trials.head(2).assign(hw_pixel3_latency_ms=[float("nan"), 1.0])
    assert plots._broken_bounds(results, unknown) == [  # no value: not "> 12"
        "<br>infeasible: hw_pixel3_latency_ms unknown",
        "",
    ]


@needs_nb201
def test_the_figures_say_which_way_each_objective_is_optimised(nb201_run: Path) -> None:
    """Axes, progress rows and parallel dimensions named an objective alone (`accuracy`):
    which way is better was in the Pareto figures' titles only. Each now says it, as
    `accuracy (%, max)`."""
    results = load(nb201_run)
    view = ["accuracy:max", "hw_fpga_latency_ms:min", "hw_pixel3_latency_ms:min"]
    figures = results.figures(view)
    said = ["accuracy (%, max)", "hw_fpga_latency_ms (min)", "hw_pixel3_latency_ms (min)"]
    pareto = figures["pareto_2d"].layout
    assert [pareto.xaxis.title.text, pareto.yaxis.title.text] == said[:2]
    assert pareto.title.text == f"Pareto front: {said[0]} vs {said[1]} (front of all 3 objectives)"
    scene = figures["pareto_3d"].layout.scene
    assert [scene.xaxis.title.text, scene.yaxis.title.text, scene.zaxis.title.text] == said
    for over in ("evaluations", "time"):
        rows = [a.text for a in figures[f"progress_{over}"].layout.annotations]
        assert rows == ["hypervolume", *(f"best_{s}" for s in said)]
    assert [d.label for d in figures["parallel"].data[0].dimensions] == said


@pytest.mark.parametrize(
    ("values", "scale"),
    [
        ([0.005, 1.0, 29.0], "log"),  # NAS-Bench-201's Pixel 3 latencies, in ms
        ([1.0, 100.0], "linear"),  # two decades: no more
        ([1.0, 101.0, float("nan"), float("inf")], "log"),  # neither is drawn
        ([0.0, 0.01, 10.0], "linear"),  # a log axis has no place for 0
        ([-1.0, 0.01, 10.0], "linear"),
        ([float("nan")], "linear"),
    ],
)
def test_an_axis_is_logarithmic_where_its_values_span_over_two_decades(
    values: list[float], scale: str
) -> None:
    assert plots.axis_type(values) == scale


@needs_nb201
def test_a_metric_spanning_decades_is_drawn_on_log_axes(nb201_run: Path, tmp_path: Path) -> None:
    """NAS-Bench-201's Pixel 3 latencies span 0.005 to 29 ms: on linear axes, the front's
    fastest points lay crushed against the axis. Each axis of such a metric, in every figure,
    is logarithmic; accuracy's and the FPGA latency's (2 to 7 ms) stay linear."""
    results = load(nb201_run)
    view = ["accuracy:max", "hw_pixel3_latency_ms:min", "hw_fpga_latency_ms:min"]
    pixel3 = results.trials["hw_pixel3_latency_ms"]
    assert pixel3.min() < 0.01 and pixel3.max() > 20  # the case in question
    figures = results.figures(view)
    pareto = figures["pareto_2d"].layout
    assert (pareto.xaxis.type, pareto.yaxis.type) == ("linear", "log")
    scene = figures["pareto_3d"].layout.scene
    assert [scene.xaxis.type, scene.yaxis.type, scene.zaxis.type] == ["linear", "log", "linear"]
    progress = figures["progress_evaluations"].layout  # rows: hypervolume, then each best
    assert [progress[f"yaxis{i}"].type for i in (2, 3, 4)] == ["linear", "log", "linear"]
    parallel = figures["parallel"].data[0]  # no log axis in plotly's: log10, ticks named
    pixel3_label = "hw_pixel3_latency_ms (min)"
    drawn = [d for d in parallel.dimensions if d.label == pixel3_label]
    (dimension,) = drawn
    feasible = results.candidates(view)["hw_pixel3_latency_ms"]
    assert np.allclose(10 ** np.asarray(dimension.values, dtype=float), feasible)
    assert list(dimension.ticktext) == ["0.001", "0.01", "0.1", "1", "10", "100"]
    assert list(dimension.tickvals) == [-3, -2, -1, 0, 1, 2]
    fpga = [d for d in parallel.dimensions if d.label == "hw_fpga_latency_ms (min)"]
    assert fpga[0].ticktext is None  # linear: as plotly draws it
    # a log metric first: the lines' colours, which show it, are its log10 too
    first = results.figures(view[1::-1])["parallel"]
    (dimension,) = [d for d in first.data[0].dimensions if d.label == pixel3_label]
    assert np.array_equal(first.data[0].line.color, dimension.values)
    assert list(first.layout.coloraxis.colorbar.ticktext) == list(dimension.ticktext)
    report = tmp_path / "report.html"
    assert (
        hwnas_cli(
            "pareto", str(nb201_run), "--objectives", ",".join(view[:2]), "--html", str(report)
        )
        == 0
    )
    axis = '"yaxis":{"title":{"text":"hw_pixel3_latency_ms (min)"},"type":"log"}'
    assert axis in report.read_text()


@needs_nb201
def test_the_figures_escape_names_that_plotly_reads_as_html(tmp_path: Path) -> None:
    """A metric named `acc<b>x` made the rest of its axis title, hover lines and labels bold:
    plotly reads them as HTML, so names are escaped (and shown as written)."""
    name = "acc<b>x & y"
    objectives = f"objectives: [{{metric: '{name}', direction: max}}]\n"
    metrics = f"{{'{name}': cifar10valid_valid_acc_200ep}}"
    experiment = (
        "name: nb\nspace: nasbench201\nevaluator: {name: tabular, settings: {tabular: "
        f"{{metrics: {metrics}, latency: false}}}}}}\n{objectives}"
        "searcher: random\nevaluations: 3\nseed: 0\n"
        f"run_dir: {tmp_path / 'run'}\n"
    )
    run_experiment(parse_experiment(experiment), progress=False)
    results = load(tmp_path / "run")
    shown, view = "acc&lt;b&gt;x &amp; y", [name, "hw_fpga_latency_ms:min"]
    figures = results.figures(view)
    pareto = figures["pareto_2d"]
    assert pareto.layout.xaxis.title.text == f"{shown} (max)" and shown in pareto.layout.title.text
    assert all(f"<br>{shown}: " in text for trace in pareto.data for text in trace.text)
    progress = figures["progress_evaluations"]
    assert f"best_{shown} (max)" in [a.text for a in progress.layout.annotations]
    assert [d.label for d in figures["parallel"].data[0].dimensions][0] == f"{shown} (max)"
    assert name not in json.dumps(pareto.to_plotly_json(), default=str)


@needs_nb201
def test_progress_rows_keep_their_height_with_many_objectives(nb201_run: Path) -> None:
    """Hypervolume and a best-so-far row per objective shared plotly's 450 px: with three
    objectives, four rows of about 70 px once titled. Two objectives keep plotly's height."""
    results = load(nb201_run)
    three = ["accuracy:max", "hw_fpga_latency_ms:min", "hw_pixel3_latency_ms:min"]
    for view, rows, height in ((three, 4, 600), (three[:2], 3, None)):
        progress = results.figures(view)["progress_evaluations"]
        assert len(progress.data) == rows and progress.layout.height == height


@needs_nb201
def test_the_pareto_figure_leaves_out_traces_without_points(tmp_path: Path) -> None:
    """A run with no infeasible evaluation listed "infeasible" in the 2D figure's legend
    beside no point (and one with nothing feasible, "feasible" and "Pareto front")."""
    nb201_search(tmp_path / "run", 3)
    fig = load(tmp_path / "run").figures()["pareto_2d"]
    assert [t.name for t in fig.data] == ["feasible", "Pareto front"]
    constraint = "constraints: [{metric: hw_pixel3_latency_ms, max: 0.1}]\n"
    nb201_search(tmp_path / "none", 3, extra=constraint)
    fig = load(tmp_path / "none").figures()["pareto_2d"]
    assert [(t.name, len(t.x)) for t in fig.data] == [("infeasible", 3)]


@needs_nb201
def test_figures_without_a_feasible_evaluation_say_so(tmp_path: Path) -> None:
    """Where every successful evaluation breaks a constraint, the choices and parallel
    coordinates were drawn empty and the progress a flat zero, with no word why."""
    constraint = "constraints: [{metric: hw_pixel3_latency_ms, max: 0.1}]\n"
    nb201_search(tmp_path / "run", 3, extra=constraint)
    results = load(tmp_path / "run")
    assert not results.trials["feasible"].any() and results.trials["status"].eq("ok").all()
    figures = results.figures()
    empty = ["progress_evaluations", "progress_time", "choices", "parallel"]
    assert list(figures) == ["pareto_2d", *empty]  # as for a run with a front
    for name in empty:
        notes = [a.text for a in figures[name].layout.annotations]
        assert "No feasible successful evaluation" in notes, name
    assert not figures["pareto_2d"].layout.annotations  # its infeasible points are drawn


@needs_nb201
def test_the_reports_front_table_shows_the_constrained_metric(
    nb201_run: Path, tmp_path: Path
) -> None:
    """The report's front table had the objectives alone: the constrained Pixel 3 latency,
    which `hwnas pareto` prints beside them, was missing from it."""
    html = tmp_path / "report.html"
    assert hwnas_cli("pareto", str(nb201_run), "--html", str(html)) == 0
    header = re.search(r"<thead>.*?</thead>", html.read_text(), re.S).group()
    metrics = ["accuracy", "hw_fpga_latency_ms", "hw_pixel3_latency_ms"]
    results = load(nb201_run)
    assert results.shown_metrics(results.objectives) == metrics  # as the printed table
    assert re.findall(r"<th>(\w+)</th>", header) == ["trial", *metrics, "architecture"]


@needs_nb201
def test_the_reports_front_table_writes_numbers_as_the_printed_one(
    nb201_run: Path, tmp_path: Path
) -> None:
    """Its cells were pandas' own, unlike the printed table's and the hover texts': an
    accuracy of 89.244 as 89.244000 (89.24 there), a latency of 3.83056 ms in full (3.831)."""
    html = tmp_path / "report.html"
    assert hwnas_cli("pareto", str(nb201_run), "--html", str(html)) == 0
    results = load(nb201_run)
    metrics = results.shown_metrics(results.objectives)
    cells = [
        re.findall(r"<td>(.*?)</td>", row)
        for row in re.findall(r"<tr>(.*?)</tr>", html.read_text(), re.S)
    ]
    front = results.pareto()
    assert cells == [
        [
            str(n),
            *(metric_text(front.loc[i, m]) for m in metrics),
            results.describe(results.arch(n)),
        ]
        for i, n in zip(front.index, front["number"])
    ]


@needs_nb201
def test_the_reports_hypervolume_names_its_objectives_as_printed(
    nb201_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """The report's hypervolume named no objectives (nor did the rest of the report, a
    view's included), where `hwnas pareto` prints them with it: a number without them cannot
    be compared with another."""
    html, view = tmp_path / "report.html", "hw_pixel3_latency_ms:min,accuracy"
    assert hwnas_cli("pareto", str(nb201_run), "--objectives", view, "--html", str(html)) == 0
    (line,) = [x for x in capsys.readouterr().out.splitlines() if x.startswith("hypervolume")]
    assert line.startswith("hypervolume (hw_pixel3_latency_ms min, accuracy max): ")
    assert f"<p>{line}</p>" in html.read_text()


@needs_nb201
def test_the_report_says_how_many_evaluations_were_infeasible_or_failed(
    nb201_run: Path, tmp_path: Path
) -> None:
    """The report counted every evaluation in its title and said nowhere that the figures
    grey the infeasible ones and leave the failed ones out; of one objective, it spoke of
    Pareto figures it has none of."""
    html = tmp_path / "report.html"
    assert hwnas_cli("pareto", str(nb201_run), "--html", str(html)) == 0
    infeasible = int((~load(nb201_run).trials["feasible"]).sum())
    assert 0 < infeasible < 30
    assert (
        f"<p>Of the 30 evaluations, 30 succeeded ({30 - infeasible} feasible, {infeasible} "
        "infeasible: off the front, grey in the Pareto figures) and 0 failed (no values to "
        "plot: <code>hwnas status</code> says why).</p>"
    ) in html.read_text()
    one_objective = tmp_path / "one.html"
    view = ["--objectives", "accuracy:max"]
    assert hwnas_cli("pareto", str(nb201_run), *view, "--html", str(one_objective)) == 0
    text = one_objective.read_text()  # no Pareto figure to grey them in
    assert f"{infeasible} infeasible: off the front) and 0 failed" in text
    assert "pareto_2d" not in text


def test_a_report_names_a_dataset_in_a_folder_whose_name_is_no_utf8(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run whose .npz lay in a folder named in Latin-1 (`donn\\xe9es`, which Python reads
    as `donn\\udce9es`) named it in the report's accuracy note, and writing the report failed
    with "surrogates not allowed"; the report is UTF-8, the byte shown as a terminal shows it."""
    folder = Path(os.fsdecode(bytes(tmp_path) + b"/donn\xe9es \xe6\x97\xa5"))
    folder.mkdir()
    monkeypatch.chdir(folder)
    rng = np.random.default_rng(0)
    y = np.arange(60) % 2
    x = (rng.standard_normal((60, 1, 16)) + y[:, None, None]).astype(np.float32)
    np.savez("d.npz", x_train=x[:40], y_train=y[:40], x_test=x[40:], y_test=y[40:])
    Path("exp.yaml").write_text(
        "name: npz\nspace: {name: conv1d, input: [1, 16], classes: 2}\ndataset: d.npz\n"
        "evaluator: {name: train, settings: {train: {steps: 1, batch_size: 16}}}\n"
        "objectives: [{metric: accuracy, direction: max}]\nsearcher: random\n"
        "evaluations: 1\nrun_dir: run\n"
    )
    with pytest.warns(UserWarning, match="the validation split has 8 samples"):  # the note's
        run_experiment("exp.yaml", progress=False)
    report = tmp_path / "report.html"
    assert hwnas_cli("pareto", "run", "--html", str(report)) == 0
    assert f"validation split of {tmp_path}/donn\ufffdes \u65e5/d.npz" in report.read_text("utf-8")


@needs_nb201
def test_export_notes_a_short_front_and_an_infeasible_trial(
    nb201_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    results = load(nb201_run)
    size = len(results.pareto())
    assert hwnas_cli("export", str(nb201_run), "--top", "25", "-o", str(tmp_path)) == 0
    out, err = capsys.readouterr()
    assert out.count("wrote ") == size and f"front has only {size} members" in err
    infeasible = int(results.trials.loc[~results.trials["feasible"], "number"].iloc[0])
    assert hwnas_cli("export", str(nb201_run), "--trial", str(infeasible), "-o", str(tmp_path)) == 0
    err = capsys.readouterr().err
    assert f"trial {infeasible} is infeasible (breaks hw_pixel3_latency_ms <= 12)" in err

    again = ("export", str(nb201_run), "--trial", str(infeasible), "-o", str(tmp_path))
    assert hwnas_cli(*again, "--format", "yaml") == 0  # another file name: nothing in the way
    assert hwnas_cli(*again, "--format", "torch") == 1  # its .json would lose nothing silently
    assert "exists with other content" in capsys.readouterr().err
    assert hwnas_cli(*again, "--format", "torch", "--force") == 0


@needs_nb201
def test_status_gives_its_lines_in_order(nb201_run: Path, capsys: pytest.CaptureFixture) -> None:
    """A finished run's status, line by line on stdout: the counts, the drivers, the
    objectives and the metric notes, the constraints, the front's size, the best values, the
    hypervolume and the elapsed time (the versions and the time vary from machine to machine)."""
    capsys.readouterr()
    assert hwnas_cli("status", str(nb201_run)) == 0
    out, err = capsys.readouterr()
    assert err == ""  # all of it on stdout
    lines = out.splitlines()
    assert lines[1].startswith("started with hwnas ")
    assert re.fullmatch(
        r"elapsed: \d+\.\d s from the first claim to the last result "
        r"\(pauses between runs included\)",
        lines[-1],
    ), lines[-1]
    assert lines[:1] + lines[2:-1] == [
        f"run {nb201_run} (study 'nb', space nasbench201)",
        "evaluations: 30 of 30 (ok 30, failed 0, in flight 0, left by a stopped driver and not "
        "evaluated since 0)",
        "drivers: none running now",
        "objectives: accuracy (max), hw_fpga_latency_ms (min)",
        "accuracy: the table's cifar10valid_valid_acc_200ep",
        "constraints: hw_pixel3_latency_ms <= 12",
        "feasible: 19; Pareto front: 5",
        "best accuracy: 89.244",
        "best hw_fpga_latency_ms: 1.95216",
        "hypervolume (accuracy max, hw_fpga_latency_ms min): 197.516 (reference point, as "
        "losses: -1.7588, 4.26832; taken from the feasible evaluations, it moves as they come in)",
    ]


def test_status_of_a_run_without_a_feasible_success_ends_saying_so(
    failed_run: Path, capsys: pytest.CaptureFixture
) -> None:
    """The failures come after the drivers, and the line that no evaluation is feasible ends
    the status: no front, best values or elapsed time."""
    capsys.readouterr()
    assert hwnas_cli("status", str(failed_run)) == 0
    lines = capsys.readouterr().out.splitlines()
    failures = [line for line in lines if line.startswith("failed x")]
    assert failures and all(
        re.match(r"failed x\d \(trials? [\d, ]+\): Predictor", f) for f in failures
    )
    assert [line for line in lines if not line.startswith(("started with ", "failed x"))] == [
        f"run {failed_run} (study 'lat', space {failed_run.parent / 'tiny2d.yaml'})",
        "evaluations: 3 of 3 (ok 0, failed 3, in flight 0, left by a stopped driver and not "
        "evaluated since 0)",
        "drivers: none running now",
        "objectives: latency_ms (min), size_bytes (min)",
        f"latency_ms: predicted from {DATA / 'tiny2d_ort.csv'} (measured on Intel(R) Xeon(R) "
        "Processor (2 cores), onnxruntime-cpu, 1 thread(s), batch 1): w4a8 blocks timed as "
        "int8 (ONNX Runtime has no 4-bit CPU kernel)",
        "no feasible successful evaluation (of 3)",
    ]
    assert lines.index(failures[0]) == 4 and lines.index(failures[-1]) == 3 + len(failures)


@needs_nb201
def test_status_and_export_give_a_constraint_bound_unrounded(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """`status` and export's infeasible note printed bounds to 6 digits: 12.3456789 as
    12.3457 and 1234567 as 1.23457e+06, other bounds than the trials were judged by; and
    status's best value of a whole-numbered objective too (1.53155e+06 parameters)."""
    bounds = "[{metric: hw_pixel3_latency_ms, max: 12.3456789}, {metric: params, max: 1234567}]"
    run_dir = tmp_path / "run"
    nb201_search(run_dir, 12, extra=f"constraints: {bounds}\n", cost=True)
    shown = "hw_pixel3_latency_ms <= 12.3456789, params <= 1,234,567"
    assert hwnas_cli("status", str(run_dir)) == 0
    assert f"constraints: {shown}\n" in capsys.readouterr().out
    objectives = "objectives: [{metric: size_bytes, direction: max}]\n"
    nb201_search(tmp_path / "bytes", 4, objectives=objectives, cost=True)
    largest = load(tmp_path / "bytes").trials["size_bytes"].max()
    assert hwnas_cli("status", str(tmp_path / "bytes")) == 0  # whole, as the front table's
    assert f"best size_bytes: {largest:,.0f}\n" in capsys.readouterr().out
    trials = load(run_dir).trials
    infeasible = int(trials.loc[trials["hw_pixel3_latency_ms"] > 12.3456789, "number"].iloc[0])
    export = ("export", str(run_dir), "--trial", str(infeasible), "-o", str(tmp_path / "out"))
    assert hwnas_cli(*export) == 0
    assert "(breaks hw_pixel3_latency_ms <= 12.3456789" in capsys.readouterr().err


def test_export_never_silently_replaces_a_changed_file(run_dir: Path, tmp_path: Path) -> None:
    results = load(run_dir)
    (config,) = export_run(results, tmp_path, top=1, fmt="torch")
    weights = tmp_path / json.loads(config.read_text())["weights"]
    assert export_run(results, tmp_path, top=1, fmt="torch") == [config]  # same files: a no-op

    trained = {
        k: v + 1 if v.is_floating_point() else v
        for k, v in hwnas.build(config).state_dict().items()
    }
    torch.save(trained, weights)  # the user trained the exported model in place
    kept = weights.read_bytes()
    with pytest.raises(ExperimentError, match=f"{weights.name}: exists with other content"):
        export_run(results, tmp_path, top=1, fmt="torch")
    with pytest.raises(ExperimentError, match=f"{config.name}: exists with other content"):
        export_run(results, tmp_path, top=1, fmt="json")  # would drop the weights reference
    assert weights.read_bytes() == kept and "weights" in json.loads(config.read_text())
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([config.name, weights.name])

    export_run(results, tmp_path, top=1, fmt="torch", overwrite=True)
    assert weights.read_bytes() != kept


def test_export_refuses_a_folder_named_as_one_of_its_files_before_moving_any(
    run_dir: Path, tmp_path: Path
) -> None:
    """With `--force` the config was moved in, then the move of the weights over a folder of
    their name failed with the OS's "Is a directory": half an export."""
    (config,) = export_run(load(run_dir), tmp_path / "probe", top=1, fmt="torch")
    weights = json.loads(config.read_text())["weights"]
    (tmp_path / "out" / weights).mkdir(parents=True)
    with pytest.raises(ExperimentError, match=f"{weights}: a folder .* where the export writes"):
        export_run(load(run_dir), tmp_path / "out", top=1, fmt="torch", overwrite=True)
    assert [p.name for p in (tmp_path / "out").iterdir()] == [weights]  # nothing moved in


def test_export_again_says_unchanged_and_leaves_the_files_as_they_are(
    run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    export = ("export", str(run_dir), "--format", "torch", "-o", str(tmp_path))
    assert hwnas_cli(*export) == 0
    first = capsys.readouterr().out
    assert first.startswith(f"wrote {tmp_path}") and ".pt" in first
    files = sorted(tmp_path.iterdir())
    stamps = [(f.stat().st_ino, f.stat().st_mtime_ns) for f in files]

    assert hwnas_cli(*export) == 0
    assert capsys.readouterr().out == first.replace("wrote ", "unchanged ", 1)
    assert sorted(tmp_path.iterdir()) == files
    assert [(f.stat().st_ino, f.stat().st_mtime_ns) for f in files] == stamps

    (weights,) = tmp_path.glob("*.pt")
    torch.save({}, weights)  # changed since: only --force writes it, and says so
    assert hwnas_cli(*export, "--force") == 0
    assert capsys.readouterr().out == first


def test_build_of_a_loaded_config_needs_the_weights_it_names(
    run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    (config,) = export_run(load(run_dir), tmp_path, top=1, fmt="torch")
    data = json.loads(config.read_text())
    assert hwnas_cli("build", str(config)) == 0  # says which weights it loaded
    loaded = f"; weights {tmp_path / data['weights']} (the export's initial ones: untrained)"
    assert capsys.readouterr().out.strip().endswith(loaded)
    edited = tmp_path / "edited.json"  # by hand, without its key: build works it out
    edited.write_text(json.dumps({k: v for k, v in data.items() if k != "key"}))
    assert hwnas_cli("build", str(edited), "--weights", str(tmp_path / data["weights"])) == 0
    assert f" arch {data['key']}: " in capsys.readouterr().out
    with pytest.raises(ExperimentError, match=f"names weights '{data['weights']}'.*weights=PATH"):
        hwnas.build(data)  # a mapping has no folder: never a silently fresh model
    edited.write_text(json.dumps({**data, "weights": 5}))  # not a TypeError of paths
    with pytest.raises(ExperimentError, match="edited.json: weights: a file name beside it, not 5"):
        hwnas.build(edited)
    from_file = hwnas.build(config).state_dict()
    from_data = hwnas.build(data, weights=tmp_path / data["weights"]).state_dict()
    assert from_file.keys() == from_data.keys()
    assert all(torch.equal(from_file[k], v) for k, v in from_data.items())


def test_build_names_the_bad_file_or_field(run_dir: Path, tmp_path: Path) -> None:
    results = load(run_dir)
    (first,) = export_run(results, tmp_path, top=1, fmt="torch")
    best = int(results.pareto()["number"].iloc[0])
    another = next(int(n) for n in results.trials["number"] if n != best)
    (second,) = export_run(results, tmp_path, trial=another, fmt="torch")
    other = tmp_path / json.loads(second.read_text())["weights"]
    with pytest.raises(ExperimentError, match=f"{other}: weights of another architecture"):
        hwnas.build(first, weights=other)
    with pytest.raises(ExperimentError, match=f"{first}: not a state_dict"):
        hwnas.build(first, weights=first)
    weights = (tmp_path / json.loads(first.read_text())["weights"]).read_bytes()
    (cut := tmp_path / "cut.pt").write_bytes(weights[: len(weights) // 2])  # a copy cut short
    why = f"{cut}: not a state_dict .*torch: PytorchStreamReader failed reading zip archive"
    with pytest.raises(ExperimentError, match=why):  # torch's word of why was dropped
        hwnas.build(first, weights=cut)
    cut.write_bytes(weights[:8192])  # torch's reader: the OS's bare "Invalid argument"
    with pytest.raises(ExperimentError, match=f"{cut}: not a state_dict .*cut short or damaged"):
        hwnas.build(first, weights=cut)
    state = torch.load(tmp_path / json.loads(first.read_text())["weights"], weights_only=True)
    name = next(k for k, v in state.items() if v.is_floating_point())
    for value in (math.nan, math.inf):  # a diverged training's: they built a model of NaN
        state[name].view(-1)[0] = value
        torch.save(state, diverged := tmp_path / "diverged.pt")
        why = f"{diverged}: NaN or infinite values in 1 weight tensor "
        with pytest.raises(ExperimentError, match=why):
            hwnas.build(first, weights=diverged)

    data = json.loads(first.read_text())
    del data["space"]["version"]
    with pytest.raises(ExperimentError, match="config: space.version: missing"):
        hwnas.build(data)
    data = json.loads(first.read_text())
    data["space"]["source"] = "name: conv1d\nversion: 1\n"
    with pytest.raises(ExperimentError, match="^config: space.source: .*stem"):
        hwnas.build(data)
    data = json.loads(first.read_text())
    data["space"]["name"] = str(tmp_path / "planted")  # a name must not choose a file to write
    with pytest.raises(ExperimentError, match="config says"):
        hwnas.build(data)
    assert not (tmp_path / "planted.yaml").exists()


def test_a_config_of_aliases_of_aliases_or_nested_past_reason_is_named(tmp_path: Path) -> None:
    """A config file a user was sent is read with the bounds of every hwnas YAML file: one
    choice of 10^5 values in a few lines of aliases put them all in the error message (each
    level 10x more: a 1 KB file filled memory), and thousands of brackets of JSON ended in
    Python's recursion limit, naming no file."""
    space = get_space("conv1d")
    data = arch_config(space, space.sample(0))
    text = yaml.safe_dump(data, sort_keys=False)
    name = next(iter(data["choices"]))
    bomb = "[&a [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]" + "".join(
        f", &{b} [{', '.join([f'*{a}'] * 10)}]" for a, b in zip("abcd", "bcde")
    )
    line = f"  {name}: {data['choices'][name]}\n"
    assert line in text
    bombed = tmp_path / "bombed.yaml"
    bombed.write_text(text.replace(line, f"  {name}: {bomb}]\n"))
    with pytest.raises(ExperimentError, match="bombed.yaml: line .*: this value holds more than"):
        hwnas.build(bombed)
    deep = tmp_path / "deep.json"
    deep.write_text(json.dumps({**data, "metrics": {"x": "[" * 10**5 + "]" * 10**5}}))
    deep.write_text(deep.read_text().replace('"[', "[").replace(']"', "]"))
    with pytest.raises(ExperimentError, match="deep.json: not valid json: .*recursion"):
        hwnas.build(deep)


def test_a_config_with_a_repeated_key_or_an_unreadable_tag_is_named(tmp_path: Path) -> None:
    """A hand-edited config that names a choice twice rebuilt the last silently (YAML and
    JSON both keep it), which may not be the one its reader sees; and `!!float x` ended in
    PyYAML's ValueError, naming no file."""
    space = get_space("conv1d")
    data = arch_config(space, space.sample(0))
    name, value = next(iter(data["choices"].items()))
    text = yaml.safe_dump(data, sort_keys=False)
    line = f"  {name}: {value}\n"
    repeated = tmp_path / "repeated.yaml"
    repeated.write_text(text.replace(line, line + line))
    with pytest.raises(ExperimentError, match=f"repeated.yaml: line .*duplicate key '{name}'"):
        hwnas.build(repeated)
    as_json = tmp_path / "repeated.json"
    as_json.write_text(json.dumps(data).replace('"choices": {', f'"choices": {{"{name}": 0, '))
    with pytest.raises(ExperimentError, match=f"repeated.json: .*duplicate key '{name}'"):
        hwnas.build(as_json)
    tagged = tmp_path / "tagged.yaml"
    tagged.write_text(text.replace(line, f"  {name}: !!float x\n"))
    with pytest.raises(ExperimentError, match="tagged.yaml: line .*cannot read 'x' as !!float"):
        hwnas.build(tagged)
    assert hwnas.build(data) is not None  # the config as exported still builds


def test_weights_saved_from_the_inference_form_are_named_so(tmp_path: Path) -> None:
    """`inference_model` adds the merged large-kernel convolutions to a model's state_dict:
    weights saved after it were refused as "weights of another architecture"."""
    space = get_space("conv2d")
    arch = next(a for a in map(space.sample, range(50)) if "lkconv" in a.values())
    config = arch_config(space, arch)
    saved = tmp_path / "deployed.pt"
    torch.save(hwnas.inference_model(hwnas.build(config)).state_dict(), saved)
    with pytest.raises(
        ExperimentError,
        match=r"deployed.pt: weights of the model's inference form \(.* e\.g\. 'stages\..*"
        r"\.merged\.\w+'\): save the state_dict before inference_model",
    ):
        hwnas.build(config, weights=saved)


def test_an_exported_yaml_quotes_text_a_yaml_12_reader_takes_for_a_number() -> None:
    """SafeDumper quotes what YAML 1.1 would read as another type: an architecture key such
    as 94763504507919e0 (hex digits) stayed plain, which YAML 1.2 readers (hwnas's own space
    and experiment reader among them) read as the number 9.476e13."""
    from hwnas.experiments.export import ReadableDumper
    from hwnas.spaces.yaml_files import YamlLoader

    data = {"key": "94763504507919e0", "octal": "016", "plain": "conv1d", "text": "a\nb\n"}
    text = yaml.dump(data, Dumper=ReadableDumper, sort_keys=False)
    assert yaml.load(text, YamlLoader) == data and yaml.safe_load(text) == data
    assert "plain: conv1d\n" in text and "text: |\n" in text  # quoted only where needed


def test_2d_quantized_and_nb201_archs_rebuild_exactly() -> None:
    rng = np.random.default_rng(0)
    for name, override in (("conv2d", {"precision": "int8", "mixer": "fft"}), ("nasbench201", {})):
        space = get_space(name)
        choices = dict(space.sample(rng))
        for choice in choices:
            kind = choice.rsplit(".", 1)[-1]
            choices[choice] = override.get(kind, choices[choice])
        arch = space.arch(choices)
        torch.manual_seed(0)
        original = space.build(arch)
        rebuilt = hwnas.build(arch_config(space, arch))
        rebuilt.load_state_dict(original.state_dict())
        x = torch.randn(2, *space.input_shape)
        with torch.no_grad():
            assert torch.equal(original.eval()(x), rebuilt.eval()(x))
        count = sum(p.numel() for p in original.parameters())
        assert sum(p.numel() for p in rebuilt.parameters()) == count


def test_a_config_rebuilds_the_model_with_its_spaces_classes() -> None:
    """A space built for 3 classes exports them: the rebuilt model has 3 logits, and the
    weights of the searched one load into it."""
    space = get_space("conv1d", num_classes=3)
    arch = space.sample(0)
    config = arch_config(space, arch)
    assert config["space"]["classes"] == 3
    rebuilt = hwnas.build(config)
    rebuilt.load_state_dict(space.build(arch).state_dict())
    with torch.no_grad():
        assert rebuilt.eval()(torch.randn(2, *space.input_shape)).shape == (2, 3)


def test_an_fft_mixer_exports_to_onnx_and_runs_in_onnx_runtime(tmp_path: Path) -> None:
    """FFT mixers take the dynamo exporter, which needs onnxscript (0.6 brings the API torch
    2.13 calls), and their inverse real DFT needs onnxruntime 1.27 (older ones refuse the
    node, or fail on the 2-D one); no other test exports an FFT model."""
    space = get_space("conv2d")
    choices = dict(space.sample(np.random.default_rng(0)))
    for choice in choices:
        kind = choice.rsplit(".", 1)[-1]
        choices[choice] = {"precision": "int8", "mixer": "fft"}.get(kind, choices[choice])
    model = space.build(space.arch(choices))
    assert export_onnx_checked(model, space.input_shape, tmp_path / "fft.onnx") < 1e-4
    # the dynamo exporter recorded every node's Python stack: hundreds of absolute paths of
    # this machine (the user's home, the environment) in a file made to be shared
    assert str(Path(hwnas.__file__).parent).encode() not in (tmp_path / "fft.onnx").read_bytes()


def _config_at(space, precision: str) -> dict:
    """The config of one conv1d architecture with every block at `precision`."""
    arch = space.sample(3)
    return arch_config(space, arch.replace(**{k: precision for k in arch if "precision" in k}))


def _input_scale(path: Path) -> float:
    """The scale of the first QuantizeLinear of an ONNX file (the first quantized input)."""
    graph = onnx.load(path)
    constants = {i.name: onnx.numpy_helper.to_array(i) for i in graph.graph.initializer}
    node = next(n for n in graph.graph.node if n.op_type == "QuantizeLinear")
    return float(constants[node.input[1]])


def test_a_retraining_on_cuda_sets_the_recorded_accuracy_beside_it_as_near_not_equal() -> None:
    """On an H200 the same seed's training differed by 0.35 points: CUDA's kernels are not
    deterministic, so `hwnas train` there must not present the run's accuracy as the one to
    reproduce exactly. (The device is only named here; nothing is trained.)"""
    from hwnas.experiments.retrain import retraining

    space = get_space("conv1d")
    config = {**_config_at(space, "fp32"), "metrics": {"val_accuracy": 88.625}}
    config["data"] = {"dataset": "mnist1d"}  # the run's own: nothing departs from its recipe
    said = {}
    for device in ("cpu", "cuda"):
        recipe = {"epochs": 2, "seed": 0, "device": device}
        said[device] = retraining({**config, "training": recipe}).recorded()
    assert said["cpu"] == "the run recorded 88.62 %"
    assert said["cuda"] == (
        "the run recorded 88.62 %; training on CUDA is not bit-reproducible: expect near it, "
        "not equal"
    )


def test_train_says_why_its_accuracy_is_not_the_one_the_run_recorded(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """Trained with the run's recipe and seed on another CPU (another vector instruction set:
    under ATEN_CPU_CAPABILITY=default, avx2 and avx512 one candidate scored 45.75 %, 45.625 %
    and 45.125 %) or with another torch, `hwnas train` set its number beside the run's as if
    the two had to be equal; it now says they are not, and why: the versions the run started
    with where they differ (a record without hwnas's code digest: an earlier hwnas), else the
    machine. (The run's number is edited here, as another machine would have recorded it.)"""
    from hwnas.experiments.retrain import retraining
    from hwnas.experiments.run_identity import SOURCE, UNRECORDED, package_versions

    config, data = _trained_and_exported(
        tmp_path,
        "space: conv1d\ndataset: mnist1d\nseed: 3\nevaluator: {name: train, budget: 0.25, "
        f"settings: {{train: {{batch_size: 32, device: {REPRODUCIBLE_DEVICE}}}}}}}\n",
    )
    data["metrics"]["val_accuracy"] += 0.125  # recorded on another machine
    config.write_text(json.dumps(data))
    recorded = f"the run recorded {data['metrics']['val_accuracy']:.2f} %"
    assert hwnas_cli("train", str(config)) == 0
    said = capsys.readouterr().out
    capability = torch.backends.cpu.get_cpu_capability()
    assert (
        f"({recorded}; not equal, as likely trained on another machine than the run's, which "
        f"adds in another order (torch here: {capability} CPU kernels, 1 thread(s)): expect "
        "near it)"
    ) in said
    ours = float(re.search(r"validation accuracy ([0-9.]+) %", said).group(1))
    assert retraining(config).recorded(data["metrics"]["val_accuracy"]) == recorded  # equal
    data["training"]["threads"] = None  # torch's own count, which depends on the machine
    assert retraining(data).recorded(ours) == (
        f"{recorded}; not equal, as likely trained on another machine or thread count (its "
        f"threads: null) than the run's, which adds in another order (torch here: {capability} CPU "
        f"kernels, {torch.get_num_threads()} thread(s)): expect near it"
    )
    data["run"]["versions"] |= {"torch": "2.12.0", "scikit-learn": "0.1"}  # sklearn: not used
    assert retraining(data).recorded(ours) == (
        f"{recorded}; not equal, as the run started with torch 2.12.0 (here "
        f"{torch.__version__}): expect near it"
    )
    # an export of a run started before the versions recorded hwnas's code: an earlier hwnas
    for versions in ({p: v for p, v in package_versions().items() if p != SOURCE}, None):
        data["run"]["versions"] = versions
        assert retraining(data).recorded(ours) == (
            f"{recorded}; not equal, as the run started with {SOURCE} {UNRECORDED} (here "
            f"{package_versions()[SOURCE]}): expect near it"
        )


def test_the_deployed_onnx_runs_int8_blocks_quantized_with_ranges_from_the_calibration(
    tmp_path: Path,
) -> None:
    """`export_deployed_onnx` writes the model at its blocks' precisions (w4a8 as int8) and
    calibrates int8 activation ranges on the inputs given: ten times larger inputs give a
    scale several times larger."""
    torch.manual_seed(0)  # the configs name no weights: fresh ones, the same in any test order
    space = get_space("conv1d")
    inputs = load_dataset("mnist1d").x_train[:64]
    for factor, name in ((1, "int8.onnx"), (10, "int8x10.onnx")):
        model = hwnas.build(_config_at(space, "int8"))
        diff = export_deployed_onnx(model, space.input_shape, tmp_path / name, inputs * factor)
        assert 0 < diff < 0.1  # int8 rounding, but the same network
    # the first quantized activation follows the fp32 stem (conv, batch norm): about 9x
    assert _input_scale(tmp_path / "int8x10.onnx") > 5 * _input_scale(tmp_path / "int8.onnx")
    w4a8 = export_deployed_onnx(
        hwnas.build(_config_at(space, "w4a8")), space.input_shape, tmp_path / "w4a8.onnx"
    )
    assert 0 < w4a8 < 0.1 and _input_scale(tmp_path / "w4a8.onnx") > 0
    session = ort.InferenceSession(str(tmp_path / "w4a8.onnx"))
    (logits,) = session.run(None, {"x": inputs[:5]})  # any batch size
    assert logits.shape == (5, 10)
    with pytest.raises(ExperimentError, match=r"calibration: inputs of shape \(4, 40\)"):
        export_deployed_onnx(model, space.input_shape, tmp_path / "x.onnx", inputs[:4, 0])
    nan = inputs.copy()
    nan[3, 0, 5] = np.nan  # refused by name, not ONNX Runtime's bare "scale issue"
    for bad, why in ((inputs[:0], "no inputs"), (nan, "inputs with NaN or infinite values")):
        with pytest.raises(ExperimentError, match=f"calibration: {why}"):
            export_deployed_onnx(model, space.input_shape, tmp_path / "x.onnx", bad)
    assert not (tmp_path / "x.onnx").exists()
    shape = _config_at(space, "int8")["space"]["input"]  # a list, as a config holds it
    assert 0 < export_deployed_onnx(model, shape, tmp_path / "x.onnx", inputs) < 0.1


def test_build_calibrates_on_inputs_drawn_from_the_whole_training_split(tmp_path: Path) -> None:
    """The int8 ranges were calibrated on the first 256 training inputs: of a file sorted
    by class, its first classes only (here quiet ones, so loud inputs of later classes were
    clipped). The draw is seeded: sorted or shuffled, the file calibrates alike."""
    space = get_space("conv1d")
    (tmp_path / "int8.json").write_text(json.dumps(_config_at(space, "int8")))
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(10), 100)  # sorted by class
    x = rng.standard_normal((1000, 1, 40)) * np.where(y < 5, 0.1, 10.0)[:, None, None]
    shuffled = rng.permutation(1000)
    scales = []
    for name, order in (("sorted", np.arange(1000)), ("shuffled", shuffled)):
        arrays = {"x_train": x[order].astype(np.float32), "y_train": y[order]}
        held = {"x_val": x[::50], "y_val": y[::50], "x_test": x[1::50], "y_test": y[1::50]}
        np.savez(tmp_path / f"{name}.npz", **arrays, **held)  # its own val: kept in order
        out = tmp_path / f"{name}.onnx"
        args = ("build", str(tmp_path / "int8.json"), "--onnx", str(out))
        assert hwnas_cli(*args, "--calibration", str(tmp_path / f"{name}.npz")) == 0
        scales.append(_input_scale(out))
    assert scales[0] > 0.5 * scales[1]  # the first 256 sorted: about 0.1 of the shuffled


def test_build_calibrates_on_a_dataset_of_other_classes(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """Calibration reads a dataset's inputs alone (to set the int8 activation ranges), so a
    file of the model's inputs with labels of other classes (here 3, where the model has 10
    outputs: unlabelled field recordings given class 0..2) calibrates it: it was refused for
    its class count. Its inputs must still be the model's."""
    space = get_space("conv1d")
    (tmp_path / "int8.json").write_text(json.dumps(_config_at(space, "int8")))
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((600, 1, 40)).astype(np.float32), np.arange(600) % 3
    three = tmp_path / "three.npz"
    np.savez(three, x_train=x, y_train=y, x_test=x[:30], y_test=y[:30])
    out = tmp_path / "three.onnx"
    build = ("build", str(tmp_path / "int8.json"), "--onnx", str(out), "--calibration")
    assert hwnas_cli(*build, str(three)) == 0
    assert f"calibrated on 256 training inputs of {three}" in capsys.readouterr().out
    assert _input_scale(out) > 0
    wide = tmp_path / "wide.npz"
    x = np.concatenate([x, x], axis=2)
    np.savez(wide, x_train=x, y_train=y, x_test=x[:30], y_test=y[:30])
    assert hwnas_cli(*build, str(wide)) == 1
    assert (
        f"dataset {wide}: inputs (1, 80), where the config's model takes (1, 40): give a "
        "dataset of those inputs (calibration reads only its inputs, of any classes)"
    ) in capsys.readouterr().err
    assert hwnas_cli(*build, " ") == 2  # an unset shell variable: "unknown dataset ' '"
    assert "Invalid value for --calibration: empty: name a dataset" in capsys.readouterr().err


def test_build_notes_a_calibration_dataset_standardised_otherwise_than_the_config(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """`--calibration` standardises its dataset by the dataset's own statistics: for another
    file than the run's (here its inputs at another gain and offset) that is not the config's
    `data.standardisation`, which weights trained on the run's data take. The ranges were so
    calibrated without a word; a note now gives both scalings where they differ and int8
    ranges were calibrated (the run's own dataset, the demo's way, has none; the file written
    is unchanged)."""
    from hwnas.experiments.export import data_record

    space, out = get_space("conv1d"), str(tmp_path / "x.onnx")
    for precision in ("int8", "fp32"):
        config = _config_at(space, precision) | {"data": data_record("mnist1d")}
        (tmp_path / f"{precision}.json").write_text(json.dumps(config))
    raw = load_dataset("mnist1d", normalize=False)
    splits = {f"{a}_{s}": getattr(raw, f"{a}_{s}") for a in "xy" for s in ("train", "val", "test")}
    field = tmp_path / "field.npz"
    np.savez(field, **splits | {k: 3 * v + 5 for k, v in splits.items() if k[0] == "x"})
    build = ("build", str(tmp_path / "int8.json"), "--onnx", out, "--calibration")
    assert hwnas_cli(*build, "mnist1d") == 0
    assert "standardised by its own" not in capsys.readouterr().err
    assert hwnas_cli(*build, str(field)) == 0
    said = capsys.readouterr().err
    assert (
        f"hwnas: note: the int8 ranges were calibrated on {field}'s inputs standardised by its "
        "own statistics (mean [5.005685], std [2.999859]), not by the config's "
        "data.standardisation (mean [0.001895], std [0.999953]): right for weights trained on "
        f"it (hwnas train --dataset {field}); weights trained on the run's data take inputs "
        "scaled as the config says"
    ) in said
    fp32 = ("build", str(tmp_path / "fp32.json"), "--onnx", out, "--calibration", str(field))
    assert hwnas_cli(*fp32) == 0
    assert "standardised by its own" not in capsys.readouterr().err  # no ranges calibrated


def test_build_and_train_print_a_file_name_with_a_newline_on_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """Files named with a newline and a terminal's escape: `build`'s 'built ... weights
    FILE' and 'wrote FILE', `train`'s 'wrote FILE' and `latency fit`'s 'FILE: ... predictor'
    printed them raw (a second line reading
    as a message of hwnas's), and the calibration note's `hwnas train --dataset` quoted the
    file in plain quotes, which its escaped newline turned into another file. Each line is
    one line now, and the commands to paste name the files."""
    from hwnas.cli import shell_path
    from hwnas.experiments.export import data_record
    from hwnas.predictors.printable import one_line

    forging = "\nhwnas: note: all is well\x1b[31m"
    config = tmp_path / "int8.json"
    config.write_text(
        json.dumps(_config_at(get_space("conv1d"), "int8") | {"data": data_record("mnist1d")})
    )
    raw = load_dataset("mnist1d", normalize=False)
    splits = {f"{a}_{s}": getattr(raw, f"{a}_{s}") for a in "xy" for s in ("train", "val", "test")}
    field = tmp_path / f"field{forging}.npz"  # other statistics: the calibration note
    np.savez(field, **splits | {k: 3 * v + 5 for k, v in splits.items() if k[0] == "x"})
    weights, onnx_file = tmp_path / f"w{forging}.pt", tmp_path / f"m{forging}.onnx"
    assert hwnas_cli("train", str(config), "--epochs", "0.05", "-o", str(weights)) == 0
    trained = capsys.readouterr()
    built = ("build", str(config), "--weights", str(weights), "--onnx", str(onnx_file))
    assert hwnas_cli(*built, "--calibration", str(field)) == 0
    said = capsys.readouterr()
    for out in (trained.out, said.out):
        assert len(out.splitlines()) == 2 and out.isascii() and "\x1b" not in out
    assert all(text.startswith("hwnas: ") for text in said.err.splitlines())
    assert f"wrote {one_line(str(weights))}\ndeploy it: hwnas build " in trained.out
    assert f"weights {one_line(str(weights))}\nwrote {one_line(str(onnx_file))}: " in said.out
    assert f"(hwnas train --dataset {shell_path(field)}); " in said.err
    predictor = tmp_path / f"p{forging}.json"  # `hwnas latency fit`'s line too
    assert hwnas_cli("latency", "fit", str(DATA / "tiny2d_ort.csv"), "-o", str(predictor)) == 0
    assert capsys.readouterr().out.startswith(f"{one_line(str(predictor))}: lut predictor ")


def test_the_guides_python_for_build_calibration_writes_the_file_the_cli_writes(
    tmp_path: Path,
) -> None:
    """docs/guide.md gives `calibration_inputs(load_dataset(NAME).x_train)` as the inputs
    `hwnas build --onnx --calibration NAME` calibrates on: the same file, byte for byte (the
    first 256 inputs, which a notebook takes by hand, calibrate another)."""
    from hwnas.experiments.export import calibration_inputs

    config = tmp_path / "int8.json"
    config.write_text(json.dumps(_config_at(get_space("conv1d"), "int8")))
    weights = tmp_path / "w.pt"
    torch.save(build(config).state_dict(), weights)
    args = ("build", str(config), "--weights", str(weights), "--calibration", "mnist1d")
    assert hwnas_cli(*args, "--onnx", str(tmp_path / "cli.onnx")) == 0
    x_train, shape = load_dataset("mnist1d").x_train, get_space("conv1d").input_shape
    for name, inputs in (("python", calibration_inputs(x_train)), ("first", x_train[:256])):
        export_deployed_onnx(build(config, weights), shape, tmp_path / f"{name}.onnx", inputs)
    cli = (tmp_path / "cli.onnx").read_bytes()
    assert cli == (tmp_path / "python.onnx").read_bytes() != (tmp_path / "first.onnx").read_bytes()


def test_the_guides_python_for_timing_an_exported_model_runs_as_pasted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    """docs/guide.md's Python for timing an exported model (no command does) runs as a user
    pastes it, with the settings a search's `latency` section times candidates at."""
    from hwnas.evaluators.latency import MEASURE_DEFAULTS

    guide = (Path(__file__).parents[1] / "docs" / "guide.md").read_text(encoding="utf-8")
    section = guide.split("To time an exported model as a search times a candidate")[1]
    code = section.split("```python\n")[1].split("```")[0]
    space = get_space("conv1d")
    assert list(space.input_shape) == [1, 40]  # the shape the code names
    monkeypatch.chdir(tmp_path)
    config = Path("trial7-d3fb662e91bc9c11.json")
    config.write_text(json.dumps(_config_at(space, "int8")))
    torch.save(build(config).state_dict(), "trained.pt")
    names: dict = {}
    exec(compile(code, "guide.md", "exec"), names)
    m = names["m"]
    settings = {k: v for k, v in MEASURE_DEFAULTS.items() if k != "precision"}
    assert {k: getattr(m, k) for k in settings} == settings
    assert MEASURE_DEFAULTS["precision"] == "mixed" and m.precision == "fp32+int8"  # its blocks'
    assert capsys.readouterr().out.startswith(f"{m.latency_ms:.4f} ms ({m.clock} clock")


def test_build_writes_the_deployed_onnx_calibrated_on_a_dataset(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    space = get_space("conv1d")
    for precision in ("int8", "fp32"):
        (tmp_path / f"{precision}.json").write_text(json.dumps(_config_at(space, precision)))
    out = tmp_path / "deploy" / "int8.onnx"  # its folder is made
    assert (
        hwnas_cli(
            "build", str(tmp_path / "int8.json"), "--onnx", str(out), "--calibration", "mnist1d"
        )
        == 0
    )
    said = capsys.readouterr()
    assert "calibrated on 256 training inputs of mnist1d" in said.out
    assert said.err.startswith(f"hwnas: note: {out} holds untrained weights")  # the one note
    assert said.err.count("note:") == 1
    assert "QuantizeLinear" in {n.op_type for n in onnx.load(out).graph.node}
    # the difference is said to be on the inputs it was measured on: random ones fit their
    # own random calibration and understate the difference on data; it names how many
    assert "float model's by up to" in said.out and "on the first 64 of those inputs" in said.out
    assert hwnas_cli("build", str(tmp_path / "int8.json"), "--onnx", str(out)) == 0
    said = capsys.readouterr()
    assert "on random inputs, not data" in said.out
    assert "give --calibration with the run's dataset" in said.err
    assert hwnas_cli("build", str(tmp_path / "fp32.json"), "--onnx", str(out)) == 0
    assert "no int8 blocks" in capsys.readouterr().out
    # nothing calibrated: the inputs compared on are named, not "those"
    args = ("build", str(tmp_path / "fp32.json"), "--onnx", str(out), "--calibration", "mnist1d")
    assert hwnas_cli(*args) == 0
    said = capsys.readouterr().out
    assert "no int8 blocks" in said and "on the first 64 of 256 training inputs of mnist1d" in said
    assert "QuantizeLinear" not in {n.op_type for n in onnx.load(out).graph.node}
    assert hwnas_cli("build", str(tmp_path / "int8.json"), "--calibration", "mnist1d") == 2
    assert "needs --onnx" in capsys.readouterr().err
    assert (
        hwnas_cli(
            "build", str(tmp_path / "int8.json"), "--onnx", str(out), "--calibration", "digits"
        )
        == 1
    )
    wrong = "dataset digits: inputs (1, 8, 8), where the config's model takes (1, 40)"
    assert wrong in capsys.readouterr().err  # another dataset, not another space, is the fix
    assert hwnas_cli("train", str(tmp_path / "int8.json"), "--dataset", "digits") == 1
    wrong = "dataset digits: inputs (1, 8, 8) in 10 classes, where the config's model takes (1, 40)"
    assert wrong in capsys.readouterr().err


def test_build_says_when_its_weights_are_the_exports_untrained_ones(
    run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """`hwnas build` of a torch or onnx export's config loads the initial weights the export
    wrote beside it: it said only `weights trial0-KEY.pt`, as of trained ones, and `--onnx`
    wrote the deployable model of an untrained network without a word. Weights that differ
    from them (trained since) are not called untrained."""
    (config,) = export_run(load(run_dir), tmp_path, top=1, fmt="torch")
    initial = tmp_path / read_config(config)["weights"]
    deployed = tmp_path / "deployed.onnx"
    for named in ((), ("--weights", str(initial))):  # by default, or named
        assert hwnas_cli("build", str(config), *named, "--onnx", str(deployed)) == 0
        said = capsys.readouterr()
        assert f"; weights {initial} (the export's initial ones: untrained)\n" in said.out
        assert f"hwnas: note: {deployed} holds untrained weights" in said.err
        assert f"train them first (hwnas train {config})" in said.err
    model = build(config)
    with torch.no_grad():  # one step away from the initial weights, as any training is
        next(model.parameters()).add_(0.01)
    changed = tmp_path / "changed.pt"
    torch.save(model.state_dict(), changed)
    assert hwnas_cli("build", str(config), "--weights", str(changed), "--onnx", str(deployed)) == 0
    said = capsys.readouterr()
    assert f"; weights {changed}\n" in said.out and "untrained" not in said.out + said.err


def test_build_never_writes_the_onnx_file_over_its_weights_or_config(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """--onnx names a new .onnx file: a slip that names the weights (or the config) the model
    is built from is refused before anything is written, and they are left as they were."""
    space = get_space("conv1d")
    config, weights = tmp_path / "a.json", tmp_path / "a.pt"
    config.write_text(json.dumps(_config_at(space, "int8")))
    torch.save(hwnas.build(config).state_dict(), weights)
    kept = {f: f.read_bytes() for f in (config, weights)}
    args = ("build", str(config), "--weights", str(weights), "--onnx")
    for target in (weights, config):
        assert hwnas_cli(*args, str(target)) == 1
        said = capsys.readouterr().err
        assert f"{target}: an ONNX model's file name ends in .onnx, not {target.suffix}" in said
    assert {f: f.read_bytes() for f in kept} == kept
    assert sorted(tmp_path.iterdir()) == sorted(kept)


def test_build_names_an_onnx_file_name_too_long_writing_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """`build --onnx` of a name longer than a file name may be ended, once the model was
    exported, in the OS's bare "File name too long" of its temporary file's rename."""
    config = tmp_path / "a.json"
    config.write_text(json.dumps(_config_at(get_space("conv1d"), "fp32")))
    onnx = tmp_path / f"{'m' * 300}.onnx"
    assert hwnas_cli("build", str(config), "--onnx", str(onnx)) == 1
    said = f"'{onnx.name}' is 305 bytes, more than the 255 a file name may have here"
    assert f"hwnas: error: {onnx}: {said} (nothing written)" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == [config]


def test_a_dataset_file_named_too_long_is_named_by_train_and_build(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """`train --dataset` and `build --calibration` of an .npz whose name is longer than a
    file name may be ended in the OS's bare "File name too long"."""
    config = tmp_path / "a.json"
    config.write_text(json.dumps(_config_at(get_space("conv1d"), "fp32")))
    npz = tmp_path / f"{'d' * 300}.npz"
    said = f"dataset file {npz}: '{npz.name}' is 304 bytes, more than the 255 a file name may"
    onnx = str(tmp_path / "m.onnx")
    for args in (("train", "--dataset"), ("build", "--onnx", onnx, "--calibration")):
        assert hwnas_cli(args[0], str(config), *args[1:], str(npz)) == 1
        assert said in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == [config]


def _trained_and_exported(tmp_path: Path, settings: str) -> tuple[Path, dict]:
    """The exported config (file and data) of a one-evaluation run of the experiment whose
    space, dataset, seed and evaluator lines are `settings`, ranked by accuracy."""
    experiment = tmp_path / "t.yaml"
    experiment.write_text(
        f"name: t\n{settings}objectives: [{{metric: accuracy, direction: max}}]\n"
        f"searcher: random\nevaluations: 1\nrun_dir: {tmp_path / 'run'}\n"
    )
    assert run_experiment(str(experiment), progress=False).failed == 0
    (config,) = export_run(tmp_path / "run", tmp_path / "out", top=1)
    return config, json.loads(config.read_text())


def test_train_reproduces_the_recorded_accuracy_and_build_deploys_the_weights(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """An exported config records how the run trained its candidates; `hwnas train` trains
    it that way (the same accuracy as recorded) and saves weights `build --onnx` deploys."""
    config, data = _trained_and_exported(
        tmp_path,
        "space: conv1d\ndataset: mnist1d\nseed: 3\nevaluator: {name: train, budget: 0.25, "
        f"settings: {{train: {{batch_size: 32, device: {REPRODUCIBLE_DEVICE}}}}}}}\n",
    )
    assert data["training"] == {"batch_size": 32, "device": "cpu", "seed": 3, "epochs": 0.25}
    assert hwnas_cli("train", str(config)) == 0
    said = capsys.readouterr()
    recorded = data["metrics"]["val_accuracy"]
    assert f"validation accuracy {recorded:.2f} % (the run recorded {recorded:.2f} %)" in said.out
    assert "0.25 epochs (the run's recipe)" in said.err
    weights = config.with_name(f"{config.stem}.trained.pt")
    deployed = tmp_path / "deployed.onnx"
    args = ("build", str(config), "--weights", str(weights), "--onnx", str(deployed))
    assert hwnas_cli(*args, "--calibration", "mnist1d") == 0
    x, y = load_dataset("mnist1d").split("val")
    session = ort.InferenceSession(str(deployed))
    (logits,) = session.run(None, {"x": x})
    # int8 / w4a8 blocks really quantized: close to the recorded accuracy, not equal to it
    assert abs(100 * float((logits.argmax(1) == y).mean()) - recorded) < 3
    assert hwnas_cli("train", str(config)) == 1  # the weights are not silently replaced
    assert f"{weights}: exists (trained weights?); give another -o" in capsys.readouterr().err
    before = config.read_bytes()  # --force never writes the weights over the config itself
    assert hwnas_cli("train", str(config), "-o", str(config), "--force") == 1
    assert "is what this trains from (the config or the dataset)" in capsys.readouterr().err
    assert config.read_bytes() == before
    data["training"]["epoch"] = 1  # a hand-edited recipe is named
    config.write_text(json.dumps(data))
    assert hwnas_cli("train", str(config), "--force") == 1
    assert "training has no setting 'epoch' (did you mean 'epochs'?)" in capsys.readouterr().err
    bare = tmp_path / "bare.json"  # a config of no run: no dataset, no recipe
    bare.write_text(json.dumps(arch_config(get_space("conv1d"), get_space("conv1d").sample(0))))
    assert hwnas_cli("train", str(bare)) == 1
    assert "--dataset: the config records no dataset" in capsys.readouterr().err


def test_train_of_a_config_an_earlier_hwnas_exported_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """Configs exported before hwnas recorded the run's dataset (`data`) and then its recipe
    (`training`) hold the accuracy the run trained for: `hwnas train` said their run
    "trained no candidate" or "trained nothing on data"; it says an earlier hwnas exported
    them without, and the accuracies are still said not to be comparable."""
    space = get_space("conv1d")
    recorded = {"accuracy": 40.375, "val_accuracy": 40.375, "epochs": 1.0, "steps": 25.0}
    config = tmp_path / "earlier.json"  # the fields a run's export had at the end of November
    earlier = {**arch_config(space, space.sample(1), recorded), "run": {"name": "d", "trial": 1}}
    config.write_text(json.dumps(earlier))
    assert hwnas_cli("train", str(config)) == 1
    without = "an earlier hwnas exported the config without its run's"
    assert f"--dataset: the config records no dataset ({without} dataset)" in (
        capsys.readouterr().err
    )
    weights = str(tmp_path / "w0.pt")  # its scaling is the named dataset's: none is recorded
    assert (
        hwnas_cli("train", str(config), "--dataset", "mnist1d", "--epochs", "0.05", "-o", weights)
        == 0
    )
    said = capsys.readouterr().err
    assert "these weights take inputs standardised as mnist1d's are (mean [" in said
    assert f"which the config does not record ({without} standardisation)\n" in said
    assert "not as the config's data.standardisation says" not in said
    config.write_text(json.dumps({**earlier, "data": {"dataset": "mnist1d"}}))  # early December
    assert hwnas_cli("train", str(config), "--epochs", "0.05", "-o", str(tmp_path / "w.pt")) == 0
    said = capsys.readouterr()
    assert f"(the train evaluator's defaults, epochs from --epochs; {without} recipe)" in said.err
    assert "(the run recorded 40.38 % with its own recipe and epochs: not comparable)" in said.out


def _sampled_config(path: Path) -> Path:
    """`path`, written as the config of a sampled conv1d architecture that `hwnas train`
    trains on mnist1d."""
    space = get_space("conv1d")
    path.write_text(
        json.dumps({**arch_config(space, space.sample(0)), "data": {"dataset": "mnist1d"}})
    )
    return path


def test_train_refuses_a_folder_as_its_weights_file_before_training(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """`-o FOLDER --force` trained to the end, then the rename over the folder failed with
    the OS's "Is a directory" naming a temporary file, and the trained weights were lost."""
    config = _sampled_config(tmp_path / "c.json")
    folder = tmp_path / "weights"
    folder.mkdir()
    (folder / "kept.pt").write_bytes(b"mine")
    args = ("train", str(config), "--epochs", "0.05", "-o", str(folder), "--force")
    assert hwnas_cli(*args) == 1
    said = capsys.readouterr()
    assert f"hwnas: error: {folder}: is a folder; give the weights file's path" in said.err
    assert "training arch" not in said.err  # refused before any training
    assert [p.name for p in folder.iterdir()] == ["kept.pt"]


def test_train_refuses_the_current_folder_as_its_weights_file(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`-o .` ended in "max() arg is an empty sequence": a path of no names, whose longest
    name was sought (`-o ''`, which was `.` too, is a usage error now)."""
    config = _sampled_config(tmp_path / "c.json")
    monkeypatch.chdir(tmp_path)
    assert hwnas_cli("train", str(config), "--epochs", "0.05", "-o", ".") == 1
    assert "hwnas: error: .: is a folder; give the weights file's path" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.json"]


def test_train_force_writes_over_weights_alone(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """`--force` ("write over an existing weights file") wrote the weights over anything: a
    run's study.db, a profile, a pipe (renamed over: as root, `-o /dev/null` made /dev/null a
    file). Weights, and only they, are written over."""
    config = _sampled_config(tmp_path / "c.json")
    (db := tmp_path / "study.db").write_bytes(b"SQLite format 3\x00" + bytes(100))
    (profile := tmp_path / "p.csv").write_text("row_id,kind\n")
    os.mkfifo(pipe := tmp_path / "pipe")
    for kept in (db, profile, pipe):
        assert hwnas_cli("train", str(config), "--epochs", "0.05", "-o", str(kept), "--force") == 1
        said = f"hwnas: error: {kept}: exists and holds no weights (a state_dict saved by torch"
        assert said in capsys.readouterr().err
    assert db.read_bytes()[:16] == b"SQLite format 3\x00" and profile.read_text() == "row_id,kind\n"
    assert stat.S_ISFIFO(pipe.stat().st_mode)
    weights = tmp_path / "w.pt"
    for force in ((), ("--force",)):
        assert hwnas_cli("train", str(config), "--epochs", "0.05", "-o", str(weights), *force) == 0


def test_force_takes_a_state_dict_alone_for_weights(tmp_path: Path) -> None:
    """What `hwnas train --force` writes over: a state_dict, as `write_weights` saves it;
    a training checkpoint (weights beside an epoch count and an optimizer), a list of tensors
    or a tensor alone, which torch reads too, are some other program's files."""
    from hwnas.experiments.files import holds_weights

    saved = tmp_path / "saved.pt"
    torch.save({"w": torch.zeros(2), "n": torch.tensor(3)}, saved)
    assert holds_weights(saved)
    for other in ({"model": {"w": torch.zeros(2)}, "epoch": 3}, [torch.zeros(2)], torch.zeros(2)):
        torch.save(other, saved)
        assert not holds_weights(saved), other


def test_train_refuses_a_weights_folder_it_cannot_write_before_training(tmp_path: Path) -> None:
    """`hwnas train -o` into a folder it cannot write (read-only media, another user's)
    trained to the end, then failed to save, and the trained weights were lost. Needs a real
    read-only mount (root ignores file modes)."""
    config = _sampled_config(tmp_path / "c.json")
    folder = tmp_path / "weights"
    folder.mkdir()
    done = cli_on_read_only(folder, f"train {config} --epochs 0.05 -o {folder / 'w.pt'}")
    assert done.returncode == 1, done.stderr
    said = f"hwnas: error: {folder / 'w.pt'}: its folder {folder} is not writable: Read-only file"
    assert said in done.stderr
    assert "training arch" not in done.stderr  # refused before any training


def test_train_names_a_default_weights_file_too_long_for_its_folder_before_training(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """A config of a 254-byte name, which fits, makes a default weights file of 260 bytes,
    which does not: the OS's bare "[Errno 36] File name too long" named a file the user
    never gave; now the error says it is the default and to give -o."""
    config = _sampled_config(tmp_path / f"{'c' * 249}.json")
    assert hwnas_cli("train", str(config), "--epochs", "0.05") == 1
    said = capsys.readouterr().err
    assert (
        f".trained.pt (the config's name with .trained.pt): '{'c' * 249}.trained.pt' is 260" in said
    )
    assert "give a shorter -o" in said and "training arch" not in said
    assert [p.name for p in tmp_path.iterdir()] == [config.name]


@pytest.mark.filterwarnings("ignore:dataset .* the validation split has 24 samples")
def test_train_says_when_its_accuracy_is_not_the_runs_and_refuses_a_changed_npz(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The run's accuracy is reproduced from another folder with the .npz given by a relative
    path; --epochs over a `steps` recipe, or another dataset, is said not comparable; the
    run's .npz relabelled since is refused unless named (re-saved in other types, it is said
    so); trained on other arrays, weights are
    said to take other standardised inputs only where they do; the run's time limit per
    candidate does not stop a final training; a copy of the run's .npz is the run's data."""
    from hwnas.experiments.retrain import retraining

    rng = np.random.default_rng(0)
    y = np.arange(160) % 4
    x = (rng.standard_normal((160, 1, 16)) + y[:, None, None] + 5).astype(np.float32)
    npz = tmp_path / "data" / "sig.npz"
    npz.parent.mkdir()
    np.savez(npz, x_train=x[:120], y_train=y[:120], x_test=x[120:], y_test=y[120:])
    config, data = _trained_and_exported(
        tmp_path,
        "space: {name: conv1d, input: [1, 16], classes: 4}\n"
        f"dataset: {npz}\nseed: 3\nevaluator: {{name: train, settings: {{train: "
        "{steps: 4, batch_size: 32, seed: 7, time_limit_s: 600, "
        f"device: {REPRODUCIBLE_DEVICE}}}}}}}\n",
    )
    assert data["training"]["steps"] == 4 and data["training"]["seed"] == 7
    data["training"]["time_limit_s"] = 1e-6  # would stop the training at its first step
    config.write_text(json.dumps(data))
    recorded = f"{data['metrics']['val_accuracy']:.2f} %"
    monkeypatch.chdir(tmp_path / "out")
    assert hwnas_cli("train", config.name, "--dataset", "../data/sig.npz", "-o", "a.pt") == 0
    assert f"accuracy {recorded} (the run recorded {recorded})" in capsys.readouterr().out
    shutil.copy(npz, tmp_path / "moved.npz")  # the same arrays elsewhere are the run's data
    assert retraining(config, dataset=str(tmp_path / "moved.npz")).departures == []
    assert hwnas_cli("train", config.name, "--epochs", "0.5", "-o", "b.pt") == 0
    said = capsys.readouterr()
    assert "0.5 epochs (the run's recipe, epochs from --epochs)" in said.err
    assert f"(the run recorded {recorded} with its own epochs: not comparable)" in said.out
    np.savez(npz, x_train=x[:120], y_train=(y[:120] + 1) % 4, x_test=x[120:], y_test=y[120:])
    assert hwnas_cli("train", config.name, "-o", "c.pt") == 1
    assert f"{npz}: its arrays changed since the run" in capsys.readouterr().err
    assert not (tmp_path / "out" / "c.pt").exists()
    assert hwnas_cli("train", config.name, "--dataset", str(npz), "-o", "c.pt") == 0
    said = capsys.readouterr()
    assert f"(the run recorded {recorded} with its own dataset: not comparable)" in said.out
    assert "these weights take inputs standardised as" in said.err  # other splits drawn
    # the labels saved as int32: other arrays, but split and scaled as the run's were
    np.savez(npz, x_train=x[:120], y_train=y[:120].astype(np.int32), x_test=x[120:], y_test=y[120:])
    assert hwnas_cli("train", config.name, "-o", "e.pt") == 1  # the run's file: said how
    assert (
        f"{npz}: its arrays changed since the run (they lack the digest the config's data "
        "records; the same values in other types: y_train is int32 where the run read int64): "
        "give --dataset with this file"  # its model would be the run's: not said otherwise
    ) in capsys.readouterr().err
    assert hwnas_cli("train", config.name, "--dataset", str(npz), "-o", "e.pt") == 0
    said = capsys.readouterr()
    assert "standardised as" not in said.err and "not comparable" not in said.out
    np.savez(npz, x_train=x[:120], y_train=(y[:120] + 1) % 4, x_test=x[120:], y_test=y[120:])
    data["data"]["standardisation"] = "edited"  # by hand: the note, not an AttributeError
    config.write_text(json.dumps(data))
    assert retraining(config, dataset=str(npz)).new_standardisation() is not None
    npz.unlink()  # moved away: the error says where to give its new place
    assert hwnas_cli("train", config.name, "-o", "d.pt") == 1
    assert f"{npz}: the run's dataset is no longer there (moved or deleted): give --dataset" in (
        capsys.readouterr().err
    )


@pytest.mark.filterwarnings("ignore:dataset .* the validation split has 24 samples")
def test_train_on_the_runs_values_saved_in_other_types_is_the_runs_training(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """`--dataset` with the run's .npz saved again with float32 inputs and int32 labels (the
    run read float64 and int64) trains the very model the run's file does, as every dataset
    is cast to float32 inputs and int64 labels before it is split and standardised; the
    run's accuracy was said to be "not comparable" with its own dataset."""
    from hwnas.experiments.retrain import retraining

    rng = np.random.default_rng(0)
    y = np.arange(160) % 4
    x = (rng.standard_normal((160, 1, 16)) + y[:, None, None] + 5).astype(np.float32)
    split = {"x_train": x[:120], "y_train": y[:120], "x_test": x[120:], "y_test": y[120:]}
    npz, retyped = tmp_path / "sig.npz", tmp_path / "retyped.npz"
    np.savez(npz, **{k: a.astype(np.float64) if k[0] == "x" else a for k, a in split.items()})
    np.savez(retyped, **{k: a.astype(np.int32) if k[0] == "y" else a for k, a in split.items()})
    config, data = _trained_and_exported(
        tmp_path,
        "space: {name: conv1d, input: [1, 16], classes: 4}\n"
        f"dataset: {npz}\nseed: 3\nevaluator: {{name: train, settings: {{train: "
        f"{{steps: 4, batch_size: 32, device: {REPRODUCIBLE_DEVICE}}}}}}}\n",
    )
    runs, other = (retraining(config, dataset=str(path)) for path in (npz, retyped))
    assert runs.departures == other.departures == []
    datasets = runs.evaluator.dataset, other.evaluator.dataset
    assert datasets[0].standardisation == datasets[1].standardisation
    for name in ("x_train", "y_train", "x_val", "x_test"):
        assert np.array_equal(*(getattr(d, name) for d in datasets))
    (model, metrics), (other_model, other_metrics) = runs.run(), other.run()
    assert metrics | {"train_time_s": 0} == other_metrics | {"train_time_s": 0}
    weights, other_weights = model.state_dict(), other_model.state_dict()
    assert all(torch.equal(weights[k], other_weights[k]) for k in weights)
    recorded = f"{data['metrics']['val_accuracy']:.2f} %"
    assert hwnas_cli("train", str(config), "--dataset", str(retyped)) == 0
    assert f"accuracy {recorded} (the run recorded {recorded})" in capsys.readouterr().out


def test_train_takes_a_built_in_dataset_named_in_another_case_or_alias_for_the_runs() -> None:
    """`--dataset Digits` (or ucr:PigCentralVenousPressure for a run on ucr:PigCVP) trains on
    the run's very data, so its accuracy is not said to be another dataset's."""
    from hwnas.experiments.retrain import _dataset

    for run, given in (("digits", "Digits"), ("ucr:PigCVP", "UCR:PigCentralVenousPressure")):
        assert _dataset({"data": {"dataset": run}}, given) == (given, True)
    assert _dataset({"data": {"dataset": "digits"}}, "mnist1d") == ("mnist1d", False)
    assert _dataset({"data": {"dataset": "ucr:PigCVP"}}, "ucr:GunPoint")[1] is False


def _with_file_size_limit(script: str, limit: int, *args: object) -> str:
    """The stderr of `script` run (with `args`) in a Python process whose files may not grow
    past `limit` bytes (`ulimit -f`: what a full disk does to a write), which must fail."""

    def limited() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    failed = subprocess.run(
        [sys.executable, "-c", script, *map(str, args)],
        preexec_fn=limited,
        capture_output=True,
        text=True,
    )
    assert failed.returncode != 0, failed.stdout
    return failed.stderr


def test_saving_trained_weights_never_leaves_a_half_written_file(tmp_path: Path) -> None:
    """A save cut off (a full disk; here a file-size limit) leaves the weights that were
    there, and no partial file for the next `hwnas train` to take for finished weights. It
    is an error naming the file and the cause: torch's own writer said only "[enforce fail
    at inline_container.cc:672] . unexpected pos 832 vs 726", naming neither."""
    from hwnas.experiments import retrain

    weights = tmp_path / "w.trained.pt"
    retrain.save_weights(torch.nn.Linear(2, 2), weights)
    before = weights.read_bytes()
    script = (
        "import sys, torch\n"
        "from pathlib import Path\n"
        "from hwnas.experiments.retrain import save_weights\n"
        "save_weights(torch.nn.Linear(200, 200), Path(sys.argv[1]))\n"
    )
    err = _with_file_size_limit(script, 100_000, weights)
    assert f"ExperimentError: {weights}: cannot write the weights: File too large" in err
    assert weights.read_bytes() == before and list(tmp_path.iterdir()) == [weights]


def test_an_export_that_finds_no_room_names_its_folder_and_writes_nothing(
    run_dir: Path, tmp_path: Path
) -> None:
    """An export whose weights found no room (a full disk; here a file-size limit) failed
    with torch's "[enforce fail at inline_container.cc:672]", naming no file; one whose
    config found none, with the OS's bare "[Errno 27] File too large". Either is now an
    error naming the export folder, and the files an earlier export left are as they were."""
    out = tmp_path / "export"
    (config,) = export_run(load(run_dir), out, top=1)
    before = config.read_bytes()
    script = (
        "import sys\n"
        "from hwnas.cli import main\n"
        "main(['export', sys.argv[1], '--top', '1', '--format', sys.argv[2], '--force', "
        "'-o', sys.argv[3]])\n"
    )
    # the run's database is SQLite in WAL mode, whose first connection makes its 32 KB
    # shared-memory file (-shm), which the limit forbids: a driver still searching holds it,
    # as this connection does, so the export's own files are what find no room
    with closing(sqlite3.connect(run_dir / "study.db")) as driver:
        assert driver.execute("SELECT count(*) FROM studies").fetchone() == (1,)
        for fmt, room in (("torch", 4_000), ("json", 100)):
            err = _with_file_size_limit(script, room, run_dir, fmt, out)
            cause = f"hwnas: error: export folder {out}: cannot write the export: File too large"
            assert err.startswith(cause), err
            assert [p.name for p in out.iterdir()] == [config.name]
            assert config.read_bytes() == before


def test_a_deployed_onnx_that_finds_no_room_is_an_error_naming_it(tmp_path: Path) -> None:
    """`hwnas build --onnx` whose model found no room (a full disk; here a file-size limit)
    ended on the OS's bare "[Errno 27] File too large", naming no file; the file that was
    there is kept."""
    config, onnx_file = tmp_path / "c.json", tmp_path / "m.onnx"
    config.write_text(json.dumps(_config_at(get_space("conv1d"), "fp32")))
    onnx_file.write_bytes(b"the model deployed before")
    script = "import sys\nfrom hwnas.cli import main\nmain(sys.argv[1:])\n"
    err = _with_file_size_limit(script, 10_000, "build", config, "--onnx", onnx_file)
    assert err.strip().splitlines()[-1] == (
        f"hwnas: error: {onnx_file}: cannot write the model: File too large"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.json", "m.onnx"]
    assert onnx_file.read_bytes() == b"the model deployed before"


def test_an_export_or_deployed_onnx_into_a_folder_it_cannot_write_names_the_folder_or_file(
    run_dir: Path, tmp_path: Path
) -> None:
    """A folder of another user's (or a read-only one): the export said "[Errno 13]
    Permission denied: '.../.export-h295_2jx'", and `hwnas build --onnx` "...:
    '.../m.onnx.4711.1eea8e67.tmp'", each naming a temporary name the user never gave.
    Needs a real read-only mount (root ignores file modes)."""
    out = tmp_path / "out"
    out.mkdir()
    done = cli_on_read_only(out, f"export {run_dir} --top 1 -o {out}")
    assert done.returncode == 1
    assert done.stderr.strip() == (
        f"hwnas: error: export folder {out}: cannot write the export: Read-only file system "
        "(nothing was written)"
    )
    config = tmp_path / "c.json"
    config.write_text(json.dumps(_config_at(get_space("conv1d"), "fp32")))
    done = cli_on_read_only(out, f"build {config} --onnx {out / 'm.onnx'}")
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    assert last == f"hwnas: error: [Errno 30] Read-only file system: '{out / 'm.onnx'}'"


def test_onnx_files_named_in_no_utf8_are_written_and_checked(tmp_path: Path) -> None:
    """ONNX Runtime takes no path that is not UTF-8: `build --onnx` of such a name failed
    in its "incompatible constructor arguments", naming neither the file nor the option."""
    space = get_space("conv1d")
    for export in (export_onnx_checked, export_deployed_onnx):
        path = tmp_path / os.fsdecode(f"caf\xe9-{export.__name__}.onnx".encode("latin-1"))
        assert export(hwnas.build(_config_at(space, "fp32")), space.input_shape, path) < 1e-3
        assert onnx.load(path).graph.input[0].name == "x"


def test_an_interrupted_deployed_export_leaves_no_folder_and_a_config_without_recipe_keeps_its_seed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Ctrl-C while `build --onnx` writes into a folder it made takes the folder away
    again; a config whose run trained nothing (a zero-cost run's) trains from the initial
    weights its export wrote (`weights_seed`), not from seed 0."""
    from hwnas.experiments.retrain import retraining
    from hwnas.predictors import onnx_precision

    space = get_space("conv1d")

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(onnx_precision, "apply_precisions", interrupted)
    with pytest.raises(KeyboardInterrupt):
        export_deployed_onnx(
            hwnas.build(_config_at(space, "int8")), space.input_shape, tmp_path / "new" / "m.onnx"
        )
    assert list(tmp_path.iterdir()) == []
    training = retraining({**_config_at(space, "int8"), "weights_seed": 5}, dataset="mnist1d")
    assert training.evaluator.seed == 5 and training.departures == ["recipe", "dataset"]


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"metrics": "88.6"}, r"metrics: not a mapping"),
        ({"data": ["mnist1d"]}, r"data: not a mapping"),
        ({"training": 5}, r"training: not a mapping"),
        ({"run": "tr"}, r"run: not a mapping"),
        ({"metrics": {"val_accuracy": "high"}}, r"metrics\.val_accuracy: not a number"),
        ({"training": {"epochs": 1, "seed": "zero"}}, r"training\.seed: .*integer.*'zero'"),
        ({"training": {"epochs": [1]}}, r"training\.epochs: .*number.*\[1\]"),
        # taken by an earlier hwnas (a run of it exported so): said without the file
        ({"training": {"label_smoothing": 1}}, r"training: label_smoothing must be in \[0, 1\)"),
    ],
)
def test_retraining_a_hand_edited_config_names_the_field_it_breaks(
    change: dict, named: str
) -> None:
    """A config's `metrics`, `data`, `training` and `run` sections of the wrong type, a
    recorded accuracy that is not a number, or a training setting of the wrong type is named
    with its file before anything trains (they ended in Python's AttributeError or TypeError:
    `'str' object has no attribute 'get'`)."""
    from hwnas.experiments.retrain import retraining

    config = {**_config_at(get_space("conv1d"), "fp32"), "data": {"dataset": "mnist1d"}}
    with pytest.raises(ExperimentError, match=f"^config: {named}"):
        retraining({**config, **change}).recorded()


def test_retraining_names_the_config_whose_choices_are_not_its_spaces(tmp_path: Path) -> None:
    """`hwnas build` named the config; `hwnas train` said only "space 'conv1d': s0.width:
    1000000000 not in [...]", naming no file."""
    from hwnas.experiments.retrain import retraining

    config = {**_config_at(get_space("conv1d"), "fp32"), "data": {"dataset": "mnist1d"}}
    config["choices"] = {**config["choices"], "s0.width": 10**9}
    (file := tmp_path / "edited.json").write_text(json.dumps(config))
    said = f"^{re.escape(str(file))}: choices: space 'conv1d': s0.width: 1000000000 not in"
    with pytest.raises(ExperimentError, match=said):
        retraining(file)


def test_a_seed_beyond_torchs_is_refused_by_train_and_builds_no_untrained_claim() -> None:
    """A config's `training.seed` (or `weights_seed`, the seed a recipe-less one trains
    with) beyond torch's 64 bits ended `hwnas train` after it had started, and `hwnas build`,
    in torch's "Overflow when unpacking long long", naming no file."""
    from hwnas.experiments.export import holds_initial_weights
    from hwnas.experiments.retrain import retraining

    config = {**_config_at(get_space("conv1d"), "fp32"), "data": {"dataset": "mnist1d"}}
    said = re.escape("config: training: seed must be in [0, 2**64 - 1], not 1180591620717411303424")
    for change in ({"training": {"epochs": 1, "seed": 2**70}}, {"weights_seed": 2**70}):
        with pytest.raises(ExperimentError, match=f"^{said}"):
            retraining({**config, **change})
    model = hwnas.build(config)
    assert not holds_initial_weights(model, {**config, "weights_seed": 2**70}, "config")


@pytest.mark.parametrize("epochs", [0, -1, math.nan, math.inf, True, "2"])
def test_retraining_refuses_the_epochs_hwnas_train_refuses_naming_the_argument(epochs) -> None:
    """`hwnas train --epochs` takes a number > 0 and finite; `retraining(config,
    epochs=...)` blamed 0 or -1 on the config's `training` recipe, which was fine, trained
    one epoch for True, and failed with Python's TypeError for "2"."""
    from hwnas.experiments.retrain import retraining

    config = {**_config_at(get_space("conv1d"), "fp32"), "data": {"dataset": "mnist1d"}}
    said = f"epochs must be > 0 and finite, not {epochs!r}"
    with pytest.raises(ExperimentError, match=f"^{re.escape(said)}$"):
        retraining(config, epochs=epochs)


@pytest.mark.parametrize("dataset", ["", "  "])
def test_retraining_refuses_an_empty_dataset_rather_than_training_on_the_runs(dataset) -> None:
    """`hwnas train --dataset "$DATA"` with the variable unset trained on the run's dataset
    as if no --dataset were given; `retraining(config, dataset="")` the same."""
    from hwnas.experiments.retrain import retraining

    config = {**_config_at(get_space("conv1d"), "fp32"), "data": {"dataset": "mnist1d"}}
    with pytest.raises(ExperimentError, match=r"^--dataset: empty: name a dataset"):
        retraining(config, dataset=dataset)


def test_a_path_with_a_nul_is_named_by_its_argument(run_dir: Path, tmp_path: Path) -> None:
    """No file system takes a NUL: the Python API ended in the OS's bare "embedded null
    byte", naming neither the argument nor the path (the CLI cannot receive one)."""
    (config,) = export_run(load(run_dir), tmp_path / "out", top=1)
    calls = {
        "experiment file": lambda: load_experiment(str(tmp_path / "zc\0.yaml")),
        "config": lambda: read_config(str(config) + "\0"),
        "weights": lambda: build(config, weights=str(tmp_path / "w\0.pt")),
        "out_dir": lambda: export_run(load(run_dir), str(tmp_path / "o\0ut"), top=1),
    }
    for argument, call in calls.items():
        with pytest.raises(ExperimentError, match=rf"^{argument} must not contain a NUL"):
            call()


def test_a_hand_edited_config_reads_numbers_as_yaml_12_and_old_plain_keys_as_text(
    tmp_path: Path,
) -> None:
    """Configs were read as YAML 1.1, for older exports' plain keys (94763504507919e0, text
    there): a hand-edited `kernel: 011` rebuilt kernel 9 (octal), `batch_size: 010` trained
    batches of 8 and `epochs: 1:30` 90 epochs (base 60), silently. Numbers now read as in
    every other hwnas file, while what YAML 1.1 reads as text stays text."""
    space = get_space("conv1d")
    data = arch_config(space, space.sample(0))
    assert data["key"] == "94763504507919e0"  # an older export's key, written plain
    name = next(choice for choice in data["choices"] if choice.endswith(".kernel"))
    text = yaml.safe_dump(data, sort_keys=False)
    assert "\nkey: 94763504507919e0\n" in text
    line = f"  {name}: {data['choices'][name]}\n"
    edited = tmp_path / "edited.yaml"
    edited.write_text(
        text.replace(line, f"  {name}: 011\n")
        + "training: {epochs: 1:30, batch_size: 010, when: 2026-12-06}\n"
    )
    config = read_config(edited)
    assert config["key"] == "94763504507919e0"
    assert config["choices"][name] == 11
    assert config["training"] == {"epochs": "1:30", "batch_size": 10, "when": "2026-12-06"}
    with pytest.raises(ExperimentError, match="edited.yaml: choices: .* kernel 11 "):
        hwnas.build(edited)  # kernel 11 does not fit here: refused, never built as kernel 9


def test_a_json_config_with_a_byte_order_mark_or_in_capitals_reads(tmp_path: Path) -> None:
    """An editor that saves UTF-8 with a byte-order mark (Windows Notepad) made a config
    unreadable, 'not valid json: Unexpected UTF-8 BOM', where a YAML file with one reads; a
    `.JSON` file was read as YAML, where json's 1e-05 is text."""
    space = get_space("conv1d")
    data = arch_config(space, space.sample(0))
    marked = tmp_path / "marked.json"
    marked.write_text(json.dumps(data), encoding="utf-8-sig")
    assert marked.read_bytes().startswith(b"\xef\xbb\xbf")
    assert read_config(marked) == data
    data["metrics"] = {"loss": 1e-05}  # json writes 1e-05, text to a YAML 1.1 reader
    upper = tmp_path / "CONFIG.JSON"  # as some tools and systems name files
    upper.write_text(json.dumps(data))
    assert read_config(upper) == data


def test_a_config_given_as_text_is_told_to_be_given_as_its_file(tmp_path: Path) -> None:
    """The refusal of a config's text advised `yaml.safe_load(text)`, which reads YAML 1.1: a
    hand-edited `batch_size: 010` was 8 that way, where hwnas reads the file as YAML 1.2 (10)."""
    from hwnas.experiments.export import ReadableDumper

    space = get_space("conv1d")
    data = arch_config(space, space.sample(0)) | {"training": {"batch_size": 8}}
    text = yaml.dump(data, Dumper=ReadableDumper, sort_keys=False)
    text = text.replace("batch_size: 8", "batch_size: 010")
    with pytest.raises(ExperimentError) as error:
        read_config(text)
    assert "yaml.safe_load(text)" not in str(error.value)
    assert "YAML text as a .yaml file, which hwnas reads as YAML 1.2" in str(error.value)
    edited = tmp_path / "edited.yaml"
    edited.write_text(text)
    assert read_config(edited)["training"] == {"batch_size": 10}
    assert yaml.safe_load(text)["training"] == {"batch_size": 8}  # as the message says


def test_a_file_saved_as_utf_16_or_32_is_named_so(tmp_path: Path) -> None:
    """A space, experiment or config file saved as UTF-16 with its byte-order mark (Windows
    Notepad's "Unicode") was called "not a text (UTF-8) YAML file", or for a config "a binary
    file; give the .json or .yaml that `hwnas export` wrote": the error names the encoding and
    says to save it as UTF-8, also where it holds a no-break space (not `isprintable`). A
    binary file that begins with the same two bytes stays binary."""
    space = get_space("conv1d")
    config = yaml.safe_dump(arch_config(space, space.sample(0)))
    texts = {
        "space.yaml": (DATA / "tiny_space.yaml").read_text(),
        "exp.yaml": "name: t\nspace: conv1d\n",
        "config.yaml": config,
    }
    readers = {"space.yaml": get_space, "exp.yaml": load_experiment, "config.yaml": read_config}
    for encoding, name in (("utf-16", "UTF-16"), ("utf-32", "UTF-32")):
        for file, text in texts.items():
            path = tmp_path / file
            path.write_text(text, encoding=encoding)
            with pytest.raises(ValueError) as error:
                readers[file](path)
            assert str(error.value) == (
                f"{path}: text saved as {name}, not UTF-8: save it again as UTF-8"
            )
    spaced = tmp_path / "exp.yaml"  # a no-break space, pasted from a web page: still text
    spaced.write_text("name: t\u00a0# a comment\nspace: conv1d\n", encoding="utf-16")
    with pytest.raises(ExperimentError, match="text saved as UTF-16, not UTF-8"):
        load_experiment(spaced)
    binary = tmp_path / "model.yaml"
    binary.write_bytes(b"\xff\xfe\x01\x00\x00\x00\x07\x00")  # controls as UTF-16
    with pytest.raises(ExperimentError, match="model.yaml: not an hwnas architecture config"):
        read_config(binary)


@pytest.mark.parametrize("name", ["UTF-16", "UTF-32"])
def test_a_file_saved_as_big_endian_utf_16_or_32_is_named_so(tmp_path: Path, name: str) -> None:
    """Text saved big-endian with its byte-order mark (Notepad's "Unicode big endian") is
    named as the little-endian one is, not called a file that holds no UTF-8 text."""
    import codecs

    mark = getattr(codecs, f"BOM_{name.replace('-', '')}_BE")
    path = tmp_path / "exp.yaml"
    path.write_bytes(mark + "name: t\nspace: conv1d\n".encode(f"{name}-BE"))
    with pytest.raises(ExperimentError) as error:
        load_experiment(path)
    assert str(error.value) == f"{path}: text saved as {name}, not UTF-8: save it again as UTF-8"


def test_a_space_file_with_a_byte_order_mark_exports_its_text_as_a_block(tmp_path: Path) -> None:
    """The mark an editor put first was kept in the config's embedded space source, which the
    dumper then wrote as one double-quoted line of escapes instead of the file's lines."""
    from hwnas.experiments.export import ReadableDumper

    text = (DATA / "tiny_space.yaml").read_text()
    marked = tmp_path / "marked.yaml"
    marked.write_text(text, encoding="utf-8-sig")
    space = get_space(str(marked))
    data = arch_config(space, space.sample(0))
    assert data["space"]["source"] == text
    assert "  source: |" in yaml.dump(data, Dumper=ReadableDumper, sort_keys=False)


def test_an_onnx_export_names_its_files_and_says_its_weights_are_initial(
    run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """`hwnas export --format onnx` says, per config, the weights and ONNX file written with it
    and how closely ONNX Runtime matches torch, then that the weights are the initial ones and
    the ONNX file the float form (and how `hwnas build` writes the deployable one)."""
    assert hwnas_cli("export", str(run_dir), "--format", "onnx", "-o", str(tmp_path)) == 0
    out, err = capsys.readouterr()
    (config,) = tmp_path.glob("*.json")
    data = json.loads(config.read_text())
    onnx_file, diff = data["onnx"]["file"], data["onnx"]["max_abs_diff"]
    assert out == (
        f"wrote {config} + {data['weights']} + {onnx_file} (ONNX Runtime matches torch, max "
        f"diff {diff:.2g})\n"
    )
    assert (
        "hwnas: note: the weights are the initial ones (the search keeps no trained weights; "
        "built with the run's seed, `weights_seed` in the config): train the exported model "
        "before deploying it; the ONNX file is its float inference form (`hwnas build CONFIG "
        "--weights TRAINED --onnx FILE --calibration DATASET` writes it at its blocks' "
        "precisions)\n"
    ) in err


@pytest.mark.parametrize(
    ("change", "said"),
    [
        ({"choices": None}, "choices: missing or not a mapping"),
        ({"space": "conv1d"}, "space: missing or not a mapping"),
        ({"space": {"name": 1}}, "space.name: missing or not text"),
        ({"space": {"name": "conv1d", "version": "1"}}, "space.version: missing or not a number"),
        (
            {"space": {"name": "conv1d", "version": 1}},
            "space.source: missing or not the space's YAML text",
        ),
    ],
)
def test_a_config_missing_a_part_is_refused_naming_it(
    tmp_path: Path, change: dict, said: str
) -> None:
    """A config read from a file or given as data names the part it lacks, after the file's
    name (or `config` for data)."""
    space = get_space("conv1d")
    data = {**arch_config(space, space.sample(0)), **change}
    with pytest.raises(ExperimentError) as given:
        read_config(data)
    assert str(given.value) == f"config: {said}"
    path = tmp_path / "edited.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ExperimentError) as read:
        read_config(path)
    assert str(read.value) == f"{path}: {said}"


@needs_nb201
def test_a_notebook_shows_a_runs_results_in_one_line(nb201_run: Path) -> None:
    """Its folder, name and objectives, and its evaluations once read (it showed
    `<hwnas.experiments.results.RunResults object at 0x...>`); showing it reads none."""
    results = load(nb201_run)
    shown = f"<RunResults {nb201_run} name='nb' [accuracy:max, hw_fpga_latency_ms:min]"
    assert repr(results) == f"{shown} (evaluations not read yet)>"
    assert "_trials" not in vars(results) and "_stored_trials" not in vars(results)
    assert len(results.trials) == 30
    assert repr(results) == f"{shown} evaluations=30>"


@needs_nb201
def test_run_results_take_the_run_folder_as_text_as_load_does(
    nb201_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`RunResults("runs/demo")`, the class `hwnas.experiments` exports, failed with
    "'str' object has no attribute 'exists'" (only `load` took text): now it reads the run,
    or refuses a folder that is none, as `load` does."""
    monkeypatch.chdir(nb201_run.parent)
    results = RunResults(nb201_run.name)
    assert repr(results) == repr(load(nb201_run.name))
    assert results.run_dir == Path(nb201_run.name) and len(results.trials) == 30
    with pytest.raises(ExperimentError, match=f"^{tmp_path}/gone: no such run directory$"):
        RunResults(f"{tmp_path}/gone")


def test_a_run_folder_name_longer_than_a_file_name_may_be_is_no_run_named_so() -> None:
    """`load("x" * 5000)` ended in the OS's bare "[Errno 36] File name too long"."""
    said = "'" + "x" * 5000 + "' is 5000 bytes, more than the 255 a file name may have here"
    with pytest.raises(ExperimentError, match=rf"^x+: no such run directory \({said}\)$"):
        load("x" * 5000)


@pytest.mark.parametrize(("name", "shape"), [("conv1d", (1, 40)), ("conv2d", (3, 8, 8))])
def test_the_deployed_onnx_of_attention_blocks_computes_no_shapes(
    tmp_path: Path, name: str, shape: tuple[int, ...]
) -> None:
    """With its batch dynamic, the TorchScript exporter computed each attention reshape's
    target from the input's shape at run time (4 Shape, 4 Gather, 6 Unsqueeze and 2 Concat
    nodes per 2D block): the deployed file ran slower than the batch-1 graph the search
    timed. It now reshapes as that graph does, and still takes any batch."""
    space = get_space(name).with_input(shape)
    choices = dict(space.sample(np.random.default_rng(0)))
    fields = {"mixer": "attn", "precision": "fp32"}  # fp32: the file computes as torch
    choices.update(
        {k: fields[k.rsplit(".", 1)[1]] for k in choices if k.rsplit(".", 1)[1] in fields}
    )
    model = hwnas.build(arch_config(space, space.arch(choices)))
    export_deployed_onnx(model, space.input_shape, tmp_path / "attn.onnx")
    graph = onnx.load(tmp_path / "attn.onnx")
    ops = [n.op_type for n in graph.graph.node]
    assert ops.count("MatMul") >= 2 and not {"Shape", "Gather"} & set(ops)
    session = ort.InferenceSession(str(tmp_path / "attn.onnx"))
    for batch in (1, 5):
        x = np.random.default_rng(batch).standard_normal((batch, *shape), np.float32)
        (got,) = session.run(None, {"x": x})
        with torch.no_grad():
            np.testing.assert_allclose(got, model(torch.from_numpy(x)).numpy(), atol=1e-5)


def test_an_export_folder_or_run_dir_named_too_long_is_refused_naming_it(
    run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """`export -o` and a search's `run_dir` of a 300-byte name ended in the OS's bare
    "[Errno 36] File name too long" (of the run's `experiment.yaml`, a file never named);
    neither leaves a folder behind."""
    long = "b" * 300
    said = f"'{long}' is 300 bytes, more than the 255 a file name may have here"
    assert hwnas_cli("export", str(run_dir), "-o", str(tmp_path / long / "x")) == 1
    assert f"hwnas: error: export folder {tmp_path / long / 'x'}: {said}" in capsys.readouterr().err
    experiment = tmp_path / "zc.yaml"
    experiment.write_text(EXPERIMENT.format(run_dir=tmp_path / long))
    assert hwnas_cli("search", str(experiment)) == 1
    assert f"hwnas: error: run_dir {tmp_path / long}: {said}" in capsys.readouterr().err
    assert [p.name for p in tmp_path.iterdir()] == [experiment.name]

"""hwnas's warnings about what a caller asked point at the caller's line, whichever of
hwnas's own functions the call went through (`hwnas.spaces.callers.warn_at_caller`), and are
all of one category, `hwnas.HwnasWarning`."""

from __future__ import annotations

import ast
import os
import warnings
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
from benchdata import needs_nb201

import hwnas
from hwnas.evaluators import get_evaluator
from hwnas.evaluators.datasets import Dataset, load_dataset
from hwnas.experiments import load, parse_experiment, run_experiment
from hwnas.predictors import LUTPredictor, build_profile, get_predictor
from hwnas.search import get_searcher
from hwnas.spaces import get_space

DATA = Path(__file__).parent / "data"
pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _first(name: str, n: int) -> Dataset:
    """The built-in dataset `name` with only its first `n` training samples."""
    data = load_dataset(name)
    return replace(data, x_train=data.x_train[:n], y_train=data.y_train[:n])


def _train_on_few(tmp_path: Path) -> None:
    get_evaluator("train", get_space("conv1d", num_classes=10), dataset=_first("mnist1d", 40))


def _zero_cost_on_few(tmp_path: Path) -> None:
    space = get_space("conv1d", num_classes=10)
    get_evaluator("zero_cost", space, dataset=_first("mnist1d", 40), batch_size=32, batches=2)


def _unreachable_target(tmp_path: Path) -> None:
    """Warned at construction (below the fastest) and at `ask` (derived over the target)."""
    space = get_space(DATA / "tiny2d.yaml")
    searcher = get_searcher(
        "differentiable",
        space,
        [("accuracy", "max")],
        seed=0,
        dataset=_first("digits", 128),
        latency_predictor=LUTPredictor.from_profile(DATA / "tiny2d_ort.csv", space),
        latency_target_ms=1e-6,
        epochs=1,
        warmup_epochs=0,
        derive_samples=0,
        progress=False,
    )
    searcher.ask(1)


def _nb201_run(run_dir: Path) -> None:
    """A one-evaluation NAS-Bench-201 run selecting on the test split (warned at its start)."""
    text = (
        "space: nasbench201\n"
        "evaluator: {name: tabular, settings: {tabular: {cost: false, latency: false}}}\n"
        "objectives: [{metric: test_accuracy, direction: max}]\n"
        "searcher: {name: random}\nevaluations: 1\n"
        f"run_dir: {run_dir}\n"
    )
    run_experiment(parse_experiment(text), progress=False)


def _run_selecting_on_test(tmp_path: Path) -> None:
    _nb201_run(tmp_path / "run")


def _results_missing_their_space_copy(tmp_path: Path) -> None:
    """The copy written again when `RunResults.space` (a cached property) is first read."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the run's own start warnings
        _nb201_run(tmp_path / "run")
    (tmp_path / "run" / "space.yaml").unlink()
    assert load(tmp_path / "run").space.name == "nasbench201"


def _profile_with_too_many_threads(tmp_path: Path) -> None:
    threads = len(os.sched_getaffinity(0)) + 1
    space = get_space(DATA / "tiny_space.yaml")
    build_profile(space, tmp_path / "p.csv", samples=0, limit=1, progress=False, threads=threads)


def _learned_on_few_networks(tmp_path: Path) -> None:
    space = get_space(DATA / "tiny2d.yaml")
    archs = [space.sample(seed) for seed in range(8)]
    get_predictor("learned", space).fit(archs, [space.cost(a).macs / 1e6 + 0.1 for a in archs])


@pytest.mark.parametrize(
    "call, said",
    [
        (_train_on_few, ["fewer than batch_size"]),
        (_zero_cost_on_few, ["fewer than batch_size 32 x batches 2"]),
        (_unreachable_target, ["below the fastest", "is out of reach"]),
        pytest.param(_run_selecting_on_test, ["selects on the test split"], marks=needs_nb201),
        pytest.param(
            _results_missing_their_space_copy, ["was missing: written again"], marks=needs_nb201
        ),
        (_profile_with_too_many_threads, ["more than the"]),
        (_learned_on_few_networks, ["fitted on only 8 networks"]),
    ],
    ids=lambda v: v.__name__.strip("_") if callable(v) else None,
)
def test_a_warning_points_at_the_line_that_called_hwnas(
    call: Callable[[Path], None], said: list[str], tmp_path: Path
) -> None:
    """Through a factory (`get_evaluator`, `get_searcher`), a searcher's `ask`, a run's start
    or a cached property, the warning named hwnas's own file (`evaluators/__init__.py`, say):
    a notebook showed hwnas's line and `filterwarnings(module=...)` missed it."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        call(tmp_path)
    for words in said:
        warned = [w for w in caught if words in str(w.message)]
        assert warned, f"no warning saying {words!r}: {[str(w.message) for w in caught]}"
        assert {w.filename for w in warned} == {__file__}, words
        assert {w.category for w in warned} == {hwnas.HwnasWarning}, words


def test_a_filter_on_hwnas_warning_silences_hwnas_alone(tmp_path: Path) -> None:
    """Every warning of hwnas was a plain `UserWarning`: a notebook or a service could not
    silence hwnas's warnings without silencing every library's."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.filterwarnings("ignore", category=hwnas.HwnasWarning)
        _learned_on_few_networks(tmp_path)  # warns that it was fitted on only 8 networks
        warnings.warn("another library's warning", UserWarning, stacklevel=1)
    said = [str(w.message) for w in caught]
    assert "another library's warning" in said
    assert not [m for m in said if "fitted on only" in m], said


def _categories(source: str) -> list[str]:
    """The category each `warnings.warn(...)` call in `source` names, as written (`None`
    where it names none: a `UserWarning`)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and ast.unparse(node.func) == "warnings.warn":
            named = [k.value for k in node.keywords if k.arg == "category"]
            found.append(ast.unparse((node.args[1:] + named + [ast.Constant(None)])[0]))
    return found


def test_every_warning_hwnas_issues_is_an_hwnas_warning() -> None:
    """Those not issued through `warn_at_caller` too (a run's heartbeat thread's)."""
    files = sorted(Path(hwnas.__file__).parent.rglob("*.py"))
    categories = {f.name: _categories(f.read_text()) for f in files}
    categories = {name: found for name, found in categories.items() if found}
    assert sorted(categories) == ["callers.py", "storage.py"]  # the check sees them
    assert {c for found in categories.values() for c in found} == {"HwnasWarning"}, categories

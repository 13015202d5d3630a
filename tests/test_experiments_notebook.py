"""examples/pareto.ipynb executes headless (nbclient) and shows its figures."""

from __future__ import annotations

import warnings
from pathlib import Path

import nbformat
import pytest
from benchdata import needs_nb201
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]


@needs_nb201
def test_pareto_notebook_runs(tmp_path: Path) -> None:
    notebook = nbformat.read(ROOT / "examples" / "pareto.ipynb", as_version=4)
    client = NotebookClient(
        notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": tmp_path}}
    )
    client.execute()
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    plots = [o for o in outputs if "application/vnd.plotly.v1+json" in o.get("data", {})]
    assert len(plots) == 6  # 2D front, 2 progress, choices, parallel coordinates, 3D front
    assert (tmp_path / "runs" / "pareto-notebook" / "experiment.yaml").is_file()


@pytest.mark.parametrize("second", ["size_bytes", "params"])
def test_the_notebook_reads_a_metaformer_run_too(tmp_path: Path, second: str) -> None:
    """Its cells after the first (which makes the NB201 run) work on any run directory of two
    objectives, one of them the parameter count too (its third objective was `params` again:
    'params is given twice')."""
    from hwnas.experiments import run_experiment
    from hwnas.experiments.config import parse_experiment

    data, run_dir = ROOT / "tests" / "data", tmp_path / "run"
    run_experiment(
        parse_experiment(
            f"name: mf\nspace: {data / 'tiny2d.yaml'}\nevaluator: latency\n"
            f"latency: {{profile: {data / 'tiny2d_ort.csv'}}}\n"
            "objectives: [{metric: latency_ms, direction: min}, "
            f"{{metric: {second}, direction: min}}]\n"
            f"searcher: random\nevaluations: 8\nrun_dir: {run_dir}\n"
        ),
        progress=False,
    )
    _run_the_notebook_on(run_dir)


@needs_nb201
def test_the_notebook_reads_an_nb201_run_of_pixel3_latency(tmp_path: Path) -> None:
    """examples/nb201_multiobjective.yaml searching for Pixel 3 instead of the FPGA: its
    3-objective cell took the Pixel 3 latency (an objective already) or a cost the run has not
    (`cost: false`), and stopped with StopIteration; it takes the FPGA latency there."""
    from hwnas.experiments import run_experiment
    from hwnas.experiments.config import parse_experiment

    run_dir = tmp_path / "run"
    text = (ROOT / "examples" / "nb201_multiobjective.yaml").read_text()
    text = text.replace("metric: hw_fpga_latency_ms", "metric: hw_pixel3_latency_ms")
    text = text.replace("evaluations: 100", "evaluations: 8")
    config = parse_experiment(text.replace("run_dir: runs/nb201-fpga", f"run_dir: {run_dir}"))
    assert config.objective_pairs[1] == ("hw_pixel3_latency_ms", "min")
    run_experiment(config, progress=False)
    outputs = _run_the_notebook_on(run_dir)
    printed = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert "over ['accuracy', 'hw_pixel3_latency_ms', 'hw_fpga_latency_ms']" in printed


@pytest.mark.parametrize(
    ("precisions", "plots", "said"),
    [
        ("[fp32, int8]", 6, "None of the 3 evaluations is feasible and successful: no front"),
        ("[w4a8]", 0, "No successful evaluation with a finite value of each objective: nothing"),
    ],
)
def test_the_notebook_reads_a_run_without_a_front_saying_so(
    tmp_path: Path, precisions: str, plots: int, said: str
) -> None:
    """A run whose every evaluation breaks its constraint, or fails (the latency table has
    no w4a8 blocks): the front cell stopped on the hypervolume's missing reference point,
    and on a failed run the trials cell on its missing objectives and every figure cell
    with a KeyError (`figures()` is {}). They say there is no front, or nothing to plot."""
    from hwnas.experiments import run_experiment
    from hwnas.experiments.config import parse_experiment

    data, run_dir = ROOT / "tests" / "data", tmp_path / "run"
    space = tmp_path / "space.yaml"
    space.write_text((data / "tiny2d.yaml").read_text().replace("[fp32, int8]", precisions))
    experiment = parse_experiment(
        f"name: mf\nspace: {space}\nevaluator: latency\n"
        f"latency: {{profile: {data / 'tiny2d_ort.csv'}}}\n"
        "objectives: [{metric: latency_ms, direction: min}, {metric: size_bytes, direction: min}]\n"
        "constraints: [{metric: latency_ms, max: 0.000001}]\n"
        f"searcher: random\nevaluations: 3\nrun_dir: {run_dir}\n"
    )
    with warnings.catch_warnings():  # the table's warning of w4a8 blocks it has no time of
        warnings.simplefilter("ignore")
        run_experiment(experiment, progress=False)
    outputs = _run_the_notebook_on(run_dir, plots)
    assert said in "".join(o.get("text", "") for o in outputs if o.output_type == "stream")


def test_a_search_in_a_notebook_without_ipywidgets_shows_its_progress(tmp_path: Path) -> None:
    """`run_experiment` in a Jupyter kernel without ipywidgets (which rich's display there needs)
    shows its progress in the cell's stderr, to the run's last line: rich's own showed a warning
    to install ipywidgets and an empty output instead."""
    data = ROOT / "tests" / "data"
    text = (
        f"name: nb\nspace: {data / 'tiny2d.yaml'}\nevaluator: latency\n"
        f"latency: {{profile: {data / 'tiny2d_ort.csv'}}}\n"
        "objectives: [{metric: latency_ms, direction: min}]\n"
        f"searcher: random\nevaluations: 4\nrun_dir: {tmp_path / 'run'}\n"
    )
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        nbformat.v4.new_code_cell("import sys\nsys.modules['ipywidgets'] = None  # not installed"),
        nbformat.v4.new_code_cell(
            "from hwnas.experiments import parse_experiment, run_experiment\n"
            f"run_experiment(parse_experiment({text!r}))"
        ),
    ]
    NotebookClient(notebook, timeout=300, kernel_name="python3").execute()
    outputs = notebook.cells[1].outputs
    stderr = "".join(o.text for o in outputs if o.get("name") == "stderr")
    assert "done 4 | failed 0 | in flight 0 | best latency_ms" in stderr
    assert 'install "ipywidgets"' not in stderr
    assert not [o for o in outputs if o.output_type == "display_data"]


def _run_the_notebook_on(run_dir: Path, plots: int = 6) -> list:
    """The notebook's cells after the first (which makes its own run) on `run_dir`: no error,
    `plots` figures shown (every one); its code cells' outputs."""
    notebook = nbformat.read(ROOT / "examples" / "pareto.ipynb", as_version=4)
    first = next(c for c in notebook.cells if c.cell_type == "code")
    imports = "from pathlib import Path\nfrom hwnas.experiments import load\n"
    first.source = f"{imports}RUN_DIR = Path({str(run_dir)!r})"
    NotebookClient(notebook, timeout=300, kernel_name="python3").execute()
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    shown = [o for o in outputs if "application/vnd.plotly.v1+json" in o.get("data", {})]
    assert len(shown) == plots
    return outputs

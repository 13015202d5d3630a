"""Reading a large finished run: wall and CPU time of each read command in a fresh process.

    .venv/bin/python benchmarks/read_big_run.py [--evaluations 5000] [--storage sqlite|journal]
        [--repeats 3] [--run-dir DIR]

Builds a random-search run on the NAS-Bench-201 table (`HWNAS_BENCHDATA` or
../shared/benchdata; the `examples/nb201_multiobjective.yaml` settings, a lookup per
evaluation: a few minutes for 5000) in `--run-dir` (kept; a folder that holds a run already
is timed as it is, so that two versions of hwnas can be timed on the same run; give
`--storage` as it was made), or in a temporary folder. Then times `hwnas status`,
`hwnas pareto`, `hwnas pareto --html` (report.html beside the run), `hwnas export --top 5`
(into RUN/export, replacing what is there), and `load(run).trials` and
`optuna.load_study(...).get_trials()` (Optuna's own read, the floor under every command),
each in a fresh process `--repeats` times, printing every wall and CPU time (user + system)
and their medians. Each starts in the run's parent folder, so the hwnas imported is the
installed one or PYTHONPATH's. Wall time on a shared machine is noisy (the CPU time less so):
compare medians taken in the same machine state.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from long_run import experiment

from hwnas.experiments import parse_experiment, run_experiment

CLI = "from hwnas.cli import main; main()"
TRIALS = "import sys; from hwnas.experiments import load; load(sys.argv[1]).trials"
OPTUNA = (
    "import sys, optuna, yaml; from optuna.storages.journal import JournalFileBackend, "
    "JournalStorage; run = sys.argv[1]; name = yaml.safe_load(open(run + '/experiment.yaml'))"
    "['name']; log = run + '/study.log'; storage = JournalStorage(JournalFileBackend(log)) if "
    "sys.argv[2] == 'journal' else f'sqlite:///{run}/study.db'; "
    "optuna.load_study(study_name=name, storage=storage).get_trials()"
)


def build_run(run_dir: Path, evaluations: int, store: str) -> None:
    """A run of `evaluations` in `run_dir`, unless it holds a run already (taken as it is)."""
    if (run_dir / "experiment.yaml").is_file():
        print(f"run {run_dir}: reused as it is")
        return
    config = parse_experiment(experiment(run_dir, evaluations, store))
    start = time.perf_counter()
    summary = run_experiment(config, progress=False)
    print(f"run {run_dir}: {summary.evaluated} evaluations ({time.perf_counter() - start:.0f} s)")


def seconds(code: str, args: list[str], cwd: Path) -> tuple[float, float]:
    """Wall and CPU time (user + system) of `code` in a fresh process: the CPU time moves
    less with what else runs on the machine."""
    start, used = time.perf_counter(), resource.getrusage(resource.RUSAGE_CHILDREN)
    child = subprocess.Popen(
        [sys.executable, "-c", code, *args],
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    _, err = child.communicate()
    wall = time.perf_counter() - start
    if child.returncode:
        raise RuntimeError(f"{args}: exit {child.returncode}: {err.decode()[-500:]}")
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, usage.ru_utime + usage.ru_stime - used.ru_utime - used.ru_stime


def time_reads(run: Path, store: str, repeats: int) -> None:
    report = run.parent / "report.html"
    commands = {
        "hwnas status": (CLI, ["status", str(run)]),
        "hwnas pareto": (CLI, ["pareto", str(run)]),
        "hwnas pareto --html": (CLI, ["pareto", str(run), "--html", str(report)]),
        "hwnas export --top 5": (CLI, ["export", str(run), "--top", "5", "--force"]),
        "load(run).trials": (TRIALS, [str(run)]),
        "optuna get_trials()": (OPTUNA, [str(run), store]),
    }
    for name, (code, args) in commands.items():
        walls, cpus = [], []
        for _ in range(repeats):
            wall, cpu = seconds(code, args, run.parent)
            walls.append(wall)
            cpus.append(cpu)
        print(
            f"{name}: wall median {statistics.median(walls):.1f} s "
            f"({', '.join(f'{t:.1f}' for t in walls)}), CPU median "
            f"{statistics.median(cpus):.1f} s ({', '.join(f'{t:.1f}' for t in cpus)})",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--evaluations", type=int, default=5000)
    parser.add_argument("--storage", choices=["sqlite", "journal"], default="sqlite")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--run-dir", type=Path, help="where to build (or find) the run")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        run = (args.run_dir or Path(folder) / "run").resolve()
        build_run(run, args.evaluations, args.storage)
        time_reads(run, args.storage, args.repeats)


if __name__ == "__main__":
    main()

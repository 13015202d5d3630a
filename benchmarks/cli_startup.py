"""The CLI's own cost: repeated in-process calls, and `hwnas status` of a small finished run.

    .venv/bin/python benchmarks/cli_startup.py

First `main(["status", "--help"])` 200 times in one process (as a notebook or the tests call
it), printing the time of calls 1, 50, 100 and 200. Then a finished 8-evaluation run of the
tests' tiny 2D space scored by its committed latency profile (no training), and
`hwnas status RUN` in a fresh process (started in the run's folder, so that the hwnas it
imports is the installed one or PYTHONPATH's), `--repeats` times, printing each wall time.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from hwnas.cli import main

DATA = Path(__file__).resolve().parent.parent / "tests" / "data"


def call_seconds(args: list[str]) -> float:
    start = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):
        main(args)
    return time.perf_counter() - start


def finished_run(folder: Path) -> Path:
    space = folder / "tiny2d.yaml"
    space.write_text((DATA / "tiny2d.yaml").read_text().replace("[fp32, int8]", "[fp32]"))
    exp = folder / "exp.yaml"
    exp.write_text(
        f"name: lat\nspace: {space}\nevaluator: latency\n"
        f"latency: {{profile: {DATA / 'tiny2d_ort.csv'}}}\n"
        "objectives: [{metric: latency_ms, direction: min}]\n"
        f"searcher: random\nevaluations: 8\nrun_dir: {folder / 'run'}\n"
    )
    call_seconds(["search", str(exp), "--quiet"])
    return folder / "run"


def run_benchmark() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    times = [call_seconds(["status", "--help"]) for _ in range(200)]
    print("status --help in one process:", {n: round(times[n - 1], 3) for n in (1, 50, 100, 200)})
    with tempfile.TemporaryDirectory() as folder:
        run = finished_run(Path(folder))
        status = [sys.executable, "-c", "from hwnas.cli import main; main()", "status", str(run)]
        for _ in range(args.repeats):
            start = time.perf_counter()
            subprocess.run(status, check=True, capture_output=True, cwd=folder)
            print(f"hwnas status RUN (fresh process): {time.perf_counter() - start:.2f} s")


if __name__ == "__main__":
    run_benchmark()

"""The search loop's own cost over a long run: CPU time per evaluation early, midway and late.

    .venv/bin/python benchmarks/long_run.py [--evaluations 3000] [--storage journal|sqlite]

Random search on the NAS-Bench-201 table (a lookup per evaluation, so what is timed is the
loop: claims, stored results, counting the run's trials each round, the live display), one
evaluation at a time, in this process. After each stored result the process's CPU time and
resident memory are noted (a wrapper of `RunStore.finish`, this script's only patch), and the
CPU time per evaluation is printed for the first, middle and last `--chunk` evaluations: a
loop whose rounds look at every stored trial grows with the run. CPU time, not wall time,
so that other work on the machine matters less.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from hwnas.experiments import parse_experiment, run_experiment, storage


def resident_mb() -> float:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS")) / 1024


def experiment(run_dir: Path, evaluations: int, store: str) -> str:
    journal = "storage: {journal: study.log}\n" if store == "journal" else ""
    return (
        "name: long\nspace: nasbench201\n"
        "evaluator: {name: tabular, settings: {tabular: {cost: false, latency: false}}}\n"
        "objectives: [{metric: accuracy, direction: max}, "
        "{metric: hw_fpga_latency_ms, direction: min}]\n"
        f"searcher: random\nevaluations: {evaluations}\nexecutor: {{kind: local}}\nseed: 0\n"
        f"run_dir: {run_dir}\n{journal}"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--evaluations", type=int, default=3000)
    parser.add_argument("--storage", choices=["journal", "sqlite"], default="journal")
    parser.add_argument("--chunk", type=int, default=500)
    args = parser.parse_args()
    notes: list[tuple[float, float]] = []
    finish = storage.RunStore.finish

    def noted_finish(self, *a, **kw):
        result = finish(self, *a, **kw)
        notes.append((time.process_time(), resident_mb()))
        return result

    storage.RunStore.finish = noted_finish
    with tempfile.TemporaryDirectory() as folder:
        config = parse_experiment(experiment(Path(folder) / "run", args.evaluations, args.storage))
        run_experiment(config, progress=True)
    n, k = len(notes), min(args.chunk, len(notes) // 3)
    for name, start in (("first", 0), ("middle", n // 2 - k // 2), ("last", n - k)):
        cpu = (notes[start + k - 1][0] - notes[start][0]) / (k - 1) * 1000
        print(f"{name} {k} evaluations (from {start + 1}): {cpu:.1f} ms CPU per evaluation")
    first, last = notes[0][1], notes[-1][1]
    print(f"resident memory: {first:.0f} MB after the first evaluation, {last:.0f} MB at the end")


if __name__ == "__main__":
    main()

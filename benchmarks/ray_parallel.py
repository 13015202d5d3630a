"""Benchmark: parallel efficiency of RayExecutor on real training evaluations.

The same N random `conv1d` candidates are trained on `mnist1d` (TrainEvaluator, one torch
thread each) through one embedded Ray, first with one evaluation in flight, then with W; the
speed-up is the ratio of wall times. Workers are warmed up first (so process start-up is not
counted) and the 1-minute load average is sampled every 5 s: other processes on the machine
take cores away from the workers, and the load says how much.

    .venv/bin/python benchmarks/ray_parallel.py -n 32 --workers 2 --epochs 1 \
        --out docs/benchmarks/ray_parallel.json
"""

from __future__ import annotations

import argparse
import json
import os
import threading
import time

from hwnas.evaluators import RayExecutor
from hwnas.evaluators.train import TrainEvaluator
from hwnas.spaces import get_space


class LoadSampler(threading.Thread):
    """`os.getloadavg()[0]` every `period` seconds until stopped."""

    def __init__(self, period: float = 5.0):
        super().__init__(daemon=True)
        self.period, self.samples, self._stop_event = period, [], threading.Event()

    def run(self) -> None:
        while not self._stop_event.is_set():
            self.samples.append(round(os.getloadavg()[0], 2))
            self._stop_event.wait(self.period)

    def stop(self) -> list[float]:
        self._stop_event.set()
        self.join()
        return self.samples


def timed_run(executor: RayExecutor, archs, in_flight: int) -> dict:
    executor.max_in_flight = in_flight
    sampler = LoadSampler()
    sampler.start()
    start = time.perf_counter()
    results = {arch.key: metrics for arch, metrics in executor.run(archs)}
    wall = time.perf_counter() - start
    return {
        "in_flight": in_flight,
        "wall_s": wall,
        "failed": sum(not m.ok for m in results.values()),
        "accuracies": {k: m.get("accuracy") for k, m in results.items()},
        "load": sampler.stop(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=32, help="candidates")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--epochs", type=float, default=1.0, help="training budget")
    parser.add_argument("--out", help="write the results as JSON here")
    args = parser.parse_args()
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

    space = get_space("conv1d")
    evaluator = TrainEvaluator(space, "mnist1d", epochs=args.epochs, batch_size=128)
    archs = [space.sample(1000 + i) for i in range(args.n)]
    warmup = [space.sample(i) for i in range(2 * args.workers)]
    with RayExecutor(evaluator, num_cpus=args.workers) as executor:
        for _ in executor.run(warmup, budget=0.05):
            pass
        one = timed_run(executor, archs, 1)
        many = timed_run(executor, archs, args.workers)
    report = {
        "candidates": args.n,
        "epochs": args.epochs,
        "workers": args.workers,
        "one": one,
        "many": many,
        "speedup": one["wall_s"] / many["wall_s"],
        "same_accuracies": one["accuracies"] == many["accuracies"],
    }
    summary = {k: v for k, v in report.items() if k not in ("one", "many")}
    for name in ("one", "many"):
        run = report[name]
        summary[name] = {k: run[k] for k in ("in_flight", "wall_s", "failed", "load")}
    print(json.dumps(summary, indent=2))
    if args.out:
        with open(args.out, "w") as f:
            json.dump(report, f, indent=2)


if __name__ == "__main__":
    main()

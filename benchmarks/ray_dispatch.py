"""Benchmark: dispatch overhead of RayExecutor per evaluation, versus LocalExecutor.

A trivial evaluator (returns one number, no work) isolates what the executor itself costs.
Reported per executor over N evaluations (after a warm-up that starts the workers):
- round trip: submit one evaluation and wait for its result, one at a time (median, p90);
- throughput: wall time / N with every evaluation submitted at once (max_in_flight = workers).
The 1-minute load average before and after is recorded (other processes share the cores).

    .venv/bin/python benchmarks/ray_dispatch.py -n 1000 --out docs/benchmarks/ray_dispatch.json
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np

from hwnas.evaluators import LocalExecutor, Metrics, RayExecutor
from hwnas.spaces import get_space


class Trivial:
    """Does no work: what remains is the executor's overhead."""

    def __init__(self, space):
        self.space = space

    def evaluate(self, arch, budget=None):
        return Metrics({"accuracy": 1.0})


def round_trips_ms(executor, archs) -> np.ndarray:
    times = []
    for arch in archs:
        start = time.perf_counter()
        executor.submit(arch)
        while not executor.results():
            pass
        times.append((time.perf_counter() - start) * 1e3)
    return np.array(times)


def throughput_ms(executor, archs) -> float:
    start = time.perf_counter()
    count = sum(1 for _ in executor.run(archs))
    assert count == len(archs)
    return (time.perf_counter() - start) * 1e3 / len(archs)


def measure(executor, archs) -> dict[str, float]:
    round_trips_ms(executor, archs[:20])  # warm-up: workers started, evaluator fetched
    rt = round_trips_ms(executor, archs)
    return {
        "round_trip_median_ms": float(np.median(rt)),
        "round_trip_p90_ms": float(np.percentile(rt, 90)),
        "throughput_ms_per_eval": throughput_ms(executor, archs),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=1000, help="evaluations per measurement")
    parser.add_argument("--workers", type=int, default=2, help="CPUs of the embedded Ray")
    parser.add_argument("--out", help="write the results as JSON here")
    args = parser.parse_args()
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

    space = get_space("conv1d")
    archs = [space.sample(i) for i in range(args.n)]
    report = {"n": args.n, "workers": args.workers, "load_before": os.getloadavg()[0]}
    report["local"] = measure(LocalExecutor(Trivial(space)), archs)
    with RayExecutor(Trivial(space), num_cpus=args.workers) as executor:
        report["ray"] = measure(executor, archs)
    report["load_after"] = os.getloadavg()[0]
    print(json.dumps(report, indent=2))
    if args.out:
        with open(args.out, "w") as f:
            json.dump(report, f, indent=2)


if __name__ == "__main__":
    main()

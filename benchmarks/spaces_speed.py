"""How fast the search spaces are: sampling + validation, mutation, crossover, analytic cost,
and building a typical `conv2d` candidate.

    .venv/bin/python benchmarks/spaces_speed.py [--seconds 2] [--builds 200] [--json OUT]

Rates are operations per second of wall time on one torch thread; `cost` is measured cold
(the first call in the process), on fresh architectures (each arch new: its parts counted
or looked up) right away and after `--warmup` archs, and cached (an arch seen before);
`whole_network_count` is the generic path (count on the whole meta-built network) that the
part caches replace. Build time is the median over `--builds`
sampled candidates.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from collections.abc import Callable

import numpy as np
import torch
from tqdm import tqdm

from hwnas.spaces import SearchSpace, get_space

SPACES = ("conv1d", "conv2d", "nasbench201")


def rate(step: Callable[[], object], seconds: float) -> float:
    """Calls of `step` per second, over at least `seconds` of wall time."""
    calls, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        step()
        calls += 1
    return calls / elapsed


def space_rates(space: SearchSpace, seconds: float, warmup: int) -> dict[str, float]:
    rng = np.random.default_rng(0)
    pool = [space.sample(rng) for _ in range(500)]
    pick = iter(range(10**9))

    def pair():
        i = next(pick)
        return pool[i % 500], pool[(i * 7 + 1) % 500]

    start = time.perf_counter()
    space.cost(space.sample(rng))
    cold = time.perf_counter() - start
    fresh = rate(lambda: space.cost(space.sample(rng)), seconds)
    for _ in range(warmup):
        space.cost(space.sample(rng))
    warm = rate(lambda: space.cost(space.sample(rng)), seconds)
    for arch in pool:
        space.cost(arch)
    return {
        "sample_validate_per_s": rate(lambda: space.validate(space.sample(rng)), seconds),
        "mutate_per_s": rate(lambda: space.mutate(pair()[0], rng), seconds),
        "crossover_per_s": rate(lambda: space.crossover(*pair(), rng), seconds),
        "encode_per_s": rate(lambda: space.encode(pair()[0]), seconds),
        "cost_first_call_s": cold,
        "cost_fresh_per_s": fresh,
        f"cost_fresh_after_{warmup}_archs_per_s": warm,
        "cost_cached_per_s": rate(lambda: space.cost(pair()[0]), seconds),
        "whole_network_count_per_s": rate(
            lambda: SearchSpace._count_cost(space, space.sample(rng)), seconds
        ),
    }


def build_times(space: SearchSpace, builds: int) -> dict[str, float]:
    rng = np.random.default_rng(1)
    archs = [space.sample(rng) for _ in range(builds)]
    times = []
    for arch in tqdm(archs, desc="build conv2d", leave=False):
        start = time.perf_counter()
        space.build(arch)
        times.append(time.perf_counter() - start)
    params = [space.cost(a).params for a in archs]
    return {
        "build_median_ms": 1e3 * statistics.median(times),
        "build_p90_ms": 1e3 * float(np.percentile(times, 90)),
        "median_params": float(statistics.median(params)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="per measured rate")
    parser.add_argument("--builds", type=int, default=200, help="conv2d builds to time")
    parser.add_argument("--warmup", type=int, default=2000, help="archs costed before 'warm'")
    parser.add_argument("--json", help="also write the results to this JSON file")
    args = parser.parse_args()
    torch.set_num_threads(1)
    results = {
        "machine": {
            "cpu": platform.processor() or platform.machine(),
            "cores": os.cpu_count(),
            "load_avg_1m": os.getloadavg()[0],
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
        },
        "spaces": {},
    }
    for name in tqdm(SPACES, desc="spaces"):
        results["spaces"][name] = space_rates(get_space(name), args.seconds, args.warmup)
    results["conv2d_build"] = build_times(get_space("conv2d"), args.builds)
    results["machine"]["load_avg_1m_end"] = os.getloadavg()[0]

    print(json.dumps(results, indent=2))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()

"""hwnas's small model fits on one BLAS thread vs the library default, idle and beside work.

    .venv/bin/python benchmarks/blas_threads.py [--repeats 5] [--results 100 300]

Two fits run on one BLAS thread since 2026-12-03: the learned latency predictor's calibration
(fitted on the committed conv2d profile, as `hwnas latency fit --kind learned` and every load
of a saved predictor do) and the predictor searcher's surrogates (one multi-objective ask of
its default 5 MLPs per metric, accuracy vs FPGA latency on the NAS-Bench-201 table, after
`--results` uniformly drawn evaluated cells; skipped without ../shared/benchdata). Each is
timed `--repeats` times each way, first on an otherwise idle machine, then with one busy
process per other core (as when evaluations, profiling or training run beside it). "default"
lets OpenBLAS use its own thread count (hwnas's behaviour before); "one thread" is hwnas's now.
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

import hwnas.predictors.learned as learned
import hwnas.search.predictor as predictor
from hwnas.evaluators.tabular import TabularEvaluator, benchdata_dir
from hwnas.predictors import LUTPredictor
from hwnas.predictors.profile import read_profile
from hwnas.search import get_searcher
from hwnas.spaces import get_space

PROFILE = Path(__file__).parent / "data" / "conv2d_ort_fp32.csv"


def spin() -> None:
    while True:
        pass


def learned_fit() -> Callable[[], object]:
    space = get_space("conv2d")
    lut = LUTPredictor.from_profile(PROFILE, space)
    archs, y = read_profile(PROFILE).arch_records(space)
    return lambda: learned.LearnedPredictor(space, lut).fit(archs, y)


def searcher_ask(results: int) -> Callable[[], object]:
    """One ask of the multi-objective predictor searcher restored from `results` cells."""
    evaluator = TabularEvaluator(get_space("nasbench201"), cost=False)
    space, rng = evaluator.space, np.random.default_rng(0)
    cells = {a.key: a for a in (space.sample(rng) for _ in range(3 * results))}
    history = [(a, evaluator.evaluate(a)) for a in list(cells.values())[:results]]
    objectives = [("accuracy", "max"), ("hw_fpga_latency_ms", "min")]

    def ask() -> object:
        searcher = get_searcher("predictor", space, objectives)
        searcher.restore(history)
        return searcher.ask(1)

    return ask


def seconds(work: Callable[[], object], module, blas_default: bool, repeats: int) -> float:
    """The median time of `work`; `blas_default` lifts `module`'s one-thread limit."""
    limit = module.threadpool_limits
    if blas_default:
        module.threadpool_limits = lambda **_: contextlib.nullcontext()
    try:
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            work()
            times.append(time.perf_counter() - start)
    finally:
        module.threadpool_limits = limit
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--results", type=int, nargs="+", default=[100, 300])
    args = parser.parse_args()
    networks = len(read_profile(PROFILE).arch_records(get_space("conv2d"))[0])
    cases = [(f"learned predictor fit ({networks} networks)", learned_fit(), learned)]
    if (benchdata_dir(must_exist=False) / "nb201.csv.gz").is_file():
        cases += [
            (f"predictor searcher ask ({n} results)", searcher_ask(n), predictor)
            for n in args.results
        ]
    for busy in (0, (os.cpu_count() or 2) - 1):
        spinners = [multiprocessing.Process(target=spin, daemon=True) for _ in range(busy)]
        for p in spinners:
            p.start()
        try:
            for name, work, module in cases:
                default = seconds(work, module, True, args.repeats)
                one = seconds(work, module, False, args.repeats)
                print(f"busy cores {busy}, {name}: default {default:.2f} s, one thread {one:.2f} s")
        finally:
            for p in spinners:
                p.terminate()


if __name__ == "__main__":
    main()

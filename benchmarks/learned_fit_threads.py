"""Fitting the learned (calibration) predictor on one BLAS thread vs the library default.

    .venv/bin/python benchmarks/learned_fit_threads.py

Fits the learned predictor on the committed conv2d profile (its networks and parts) as
`hwnas latency fit --kind learned` and every load of a saved predictor do, `--repeats` times
each way, first on an otherwise idle machine, then with one busy process per other core (as
when profiling or training runs beside it). "default" lets OpenBLAS use its own thread count
(hwnas's behaviour before 2026-12-03); "one thread" is hwnas's calibration as it is now.
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import os
import statistics
import time
from pathlib import Path

import hwnas.predictors.learned as learned
from hwnas.predictors import LUTPredictor
from hwnas.predictors.profile import read_profile
from hwnas.spaces import get_space

PROFILE = Path(__file__).parent / "data" / "conv2d_ort_fp32.csv"


def spin() -> None:
    while True:
        pass


def fit_seconds(blas_default: bool, repeats: int) -> float:
    """The median time of one fit; `blas_default` lifts hwnas's one-thread limit."""
    space = get_space("conv2d")
    lut = LUTPredictor.from_profile(PROFILE, space)
    archs, y = read_profile(PROFILE).arch_records(space)
    limit = learned.threadpool_limits
    if blas_default:
        learned.threadpool_limits = lambda **_: contextlib.nullcontext()
    try:
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            learned.LearnedPredictor(space, lut).fit(archs, y)
            times.append(time.perf_counter() - start)
    finally:
        learned.threadpool_limits = limit
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    print(f"{len(read_profile(PROFILE).arch_records(get_space('conv2d'))[0])} networks")
    for busy in (0, (os.cpu_count() or 2) - 1):
        spinners = [multiprocessing.Process(target=spin, daemon=True) for _ in range(busy)]
        for p in spinners:
            p.start()
        try:
            default = fit_seconds(True, args.repeats)
            one = fit_seconds(False, args.repeats)
        finally:
            for p in spinners:
                p.terminate()
        print(f"busy cores {busy}: default {default:.2f} s, one thread {one:.2f} s per fit")


if __name__ == "__main__":
    main()

"""Does a Gaussian process predict as well with its kernel fitted on a sample of the results?

    cd benchmarks && ../.venv/bin/python gp_kernel_sample.py

The predictor searcher's GP fits its kernel's hyperparameters on at most
`HYPERPARAMETER_SAMPLE` results and conditions on all (hwnas/search/surrogates.py). This fits
one on `--train` random NB201 cells (live-cell encoding, normal scores of the metric, as the
searcher does) both ways, and prints the fit time (one BLAS thread) and the RMSE on
`--test` other cells, for accuracy and a latency column.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from search_common import tabular
from threadpoolctl import threadpool_limits

from hwnas.search import surrogates
from hwnas.search.surrogates import GaussianCopula, GaussianProcess


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--train", type=int, default=1000)
    parser.add_argument("--test", type=int, default=600)
    parser.add_argument("--metrics", nargs="+", default=["accuracy", "hw_pixel3_latency_ms"])
    args = parser.parse_args()
    evaluator = tabular("nasbench201")
    space = evaluator.space
    cells = list(space.enumerate())
    rng = np.random.default_rng(1)
    archs = [cells[i] for i in rng.permutation(len(cells))[: args.train + args.test]]
    metrics = [evaluator.evaluate(a) for a in archs]
    x = np.stack([space.encode(space.live(a)) for a in archs])
    train, test = slice(0, args.train), slice(args.train, None)
    sample = surrogates.HYPERPARAMETER_SAMPLE
    print("| metric | kernel fitted on | fit (s) | RMSE on held-out cells |")
    print("|---|---|---|---|")
    for metric in args.metrics:
        y = np.array([m[metric] for m in metrics])
        y = GaussianCopula(y[train])(y)
        for cap in (sample, args.train):
            surrogates.HYPERPARAMETER_SAMPLE = cap
            with threadpool_limits(limits=1, user_api="blas"):
                start = time.perf_counter()
                process = GaussianProcess(0).fit(x[train], y[train])
                seconds = time.perf_counter() - start
            rmse = np.sqrt(np.mean((process.predict(x[test])[0] - y[test]) ** 2))
            print(f"| {metric} | {min(cap, args.train)} results | {seconds:.2f} | {rmse:.3f} |")
    surrogates.HYPERPARAMETER_SAMPLE = sample


if __name__ == "__main__":
    main()

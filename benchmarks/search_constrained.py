"""Latency-constrained NB201 search: best test accuracy with hw_fpga_latency_ms <= 4.

    .venv/bin/python benchmarks/search_constrained.py --seeds 20 --jobs 2

The returned arch is the best feasible one by validation accuracy; the oracle is the best
test accuracy among the table's feasible rows chosen the same way (by validation).
"""

from __future__ import annotations

import argparse
import json

import numpy as np
from joblib import Parallel, delayed
from search_common import search

from hwnas.evaluators.tabular import load_nb201

METRIC, BOUND = "hw_fpga_latency_ms", 4.0


def returned_test(name: str, seed: int, budget: int, batch: int) -> float:
    results = search(
        name, [("accuracy", "max")], [(METRIC, BOUND)], seed=seed, budget=budget, batch=batch
    )
    feasible = [m for m in results if m[METRIC] <= BOUND]
    return max(feasible, key=lambda m: m["accuracy"])["test_accuracy"] if feasible else np.nan


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--budget", type=int, default=100)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--searchers", nargs="+", default=["random", "evolution", "predictor"])
    args = parser.parse_args()
    table = load_nb201(latency=False)
    feasible = table[table[METRIC] <= BOUND]
    by_valid = feasible.loc[feasible["cifar10valid_valid_acc_200ep"].idxmax()]
    print(
        f"oracle: best test {feasible['cifar10_test_200ep'].max():.2f}, "
        f"best-by-validation test {by_valid['cifar10_test_200ep']:.2f}, "
        f"{len(feasible)} feasible rows"
    )
    for name in args.searchers:
        r = np.array(
            Parallel(n_jobs=args.jobs)(
                delayed(returned_test)(name, s, args.budget, args.batch) for s in range(args.seeds)
            )
        )
        print(
            name,
            json.dumps(
                {
                    "mean": np.nanmean(r),
                    "std": np.nanstd(r),
                    "no_feasible_found": int(np.isnan(r).sum()),
                }
            ),
            flush=True,
        )


if __name__ == "__main__":
    main()

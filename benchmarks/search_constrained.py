"""Latency-constrained NB201 search: best test accuracy with hw_fpga_latency_ms <= 4.

    .venv/bin/python benchmarks/search_constrained.py --seeds 20 --jobs 2

The returned arch is the best feasible one by validation accuracy; the oracle is the best
test accuracy among the feasible rows of the searched space's cells chosen the same way (by
validation), printed with its validation accuracy.
`--known-latency` gives the predictor searcher the table's latency as a known model,
`--settings` passes other searcher settings (JSON).
"""

from __future__ import annotations

import argparse
import json

import numpy as np
from joblib import Parallel, delayed
from search_common import SPACES, search, tabular

from hwnas.evaluators.tabular import load_nb201
from hwnas.spaces import SearchSpace, get_space

METRIC, BOUND = "hw_fpga_latency_ms", 4.0


def returned(name: str, seed: int, args: argparse.Namespace) -> tuple[float, float, float]:
    """Test and validation accuracy of the returned arch (NaN when none is feasible) and the
    share of the evaluations that were feasible."""
    settings = dict(args.settings)
    if args.known_latency and name == "predictor":
        settings["predictors"] = {METRIC: tabular(args.space).predictor(METRIC)}
    results = search(
        name,
        [("accuracy", "max")],
        [(METRIC, BOUND)],
        seed=seed,
        budget=args.budget,
        batch=args.batch,
        space=args.space,
        **settings,
    )
    feasible = [m for m in results if m[METRIC] <= BOUND]
    share = len(feasible) / len(results)
    if not feasible:
        return np.nan, np.nan, share
    best = max(feasible, key=lambda m: m["accuracy"])
    return best["test_accuracy"], best["accuracy"], share


def holds(space: SearchSpace, cell: str) -> bool:
    """Whether the table's `cell` is one of `space`'s: the pruned space reads a cell with dead
    ops as its live twin, another cell."""
    return space.to_string(space.from_string(cell)) == cell


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--budget", type=int, default=100)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--searchers", nargs="+", default=["random", "evolution", "predictor"])
    parser.add_argument(
        "--known-latency", action="store_true", help="predictor is given the exact latency"
    )
    parser.add_argument("--settings", type=json.loads, default={}, help="searcher settings")
    parser.add_argument(
        "--space", choices=SPACES, default=SPACES[0], help="nasbench201-pruned: no dead ops"
    )
    args = parser.parse_args()
    table = load_nb201(latency=False)
    space = get_space(args.space)
    in_space = np.array([holds(space, cell) for cell in table["arch_str"]])
    feasible = table[(table[METRIC] <= BOUND).to_numpy() & in_space]
    by_valid = feasible.loc[feasible["cifar10valid_valid_acc_200ep"].idxmax()]
    print(
        f"oracle of {args.space}: best test {feasible['cifar10_test_200ep'].max():.2f}, "
        f"best-by-validation arch {by_valid.name} (test "
        f"{by_valid['cifar10_test_200ep']:.2f}, validation "
        f"{by_valid['cifar10valid_valid_acc_200ep']:.2f}), {len(feasible)} feasible rows"
    )
    for name in args.searchers:
        r = np.array(
            Parallel(n_jobs=args.jobs)(delayed(returned)(name, s, args) for s in range(args.seeds))
        )
        test, valid, share = r.T
        print(
            name,
            json.dumps(
                {
                    "mean": np.nanmean(test),
                    "std": np.nanstd(test),
                    "validation_mean": np.nanmean(valid),
                    "validation_per_seed": [round(v, 3) for v in valid.tolist()],
                    "feasible_share": np.mean(share),
                    "no_feasible_found": int(np.isnan(test).sum()),
                }
            ),
            flush=True,
        )


if __name__ == "__main__":
    main()

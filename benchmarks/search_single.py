"""Single-objective NB201 search: test accuracy of the returned arch at 50/100/150 queries.

.venv/bin/python benchmarks/search_single.py --seeds 20 --jobs 2

`--space nasbench201-pruned` searches only the cells without dead ops.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
from joblib import Parallel, delayed
from search_common import SPACES, search

BUDGETS = (50, 100, 150)
TARGET = 94.2


def curve(name: str, seed: int, space: str) -> list[float]:
    """Test accuracy of the best-by-validation arch after each query."""
    results = search(name, [("accuracy", "max")], seed=seed, budget=max(BUDGETS), space=space)
    best, out = None, []
    for m in results:
        if best is None or m["accuracy"] > best["accuracy"]:
            best = m
        out.append(best["test_accuracy"])
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--searchers", nargs="+", default=["random", "evolution", "predictor"])
    parser.add_argument("--space", choices=SPACES, default=SPACES[0])
    args = parser.parse_args()
    rows = {}
    for name in args.searchers:
        start = time.time()
        curves = np.array(
            Parallel(n_jobs=args.jobs)(
                delayed(curve)(name, s, args.space)
                for s in range(args.first_seed, args.first_seed + args.seeds)
            )
        )
        # queries until the returned arch first reaches TARGET (inf: not within the budget)
        reach = np.array(
            [np.argmax(c >= TARGET) + 1 if c.max() >= TARGET else np.inf for c in curves]
        )
        median = float(np.median(reach))
        rows[name] = {
            **{f"test@{b}": (curves[:, b - 1].mean(), curves[:, b - 1].std()) for b in BUDGETS},
            "reach_94.2_median": median if np.isfinite(median) else None,
            "reach_94.2_share": float(np.isfinite(reach).mean()),
            "seconds": time.time() - start,
        }
        print(name, json.dumps(rows[name]), flush=True)
    print(
        f"\n| searcher | {' | '.join(f'test acc @{b}' for b in BUDGETS)} | queries to "
        f"{TARGET} (median; seeds reaching it by {max(BUDGETS)}) |"
    )
    print("|---|" + "---|" * (len(BUDGETS) + 1))
    for name, r in rows.items():
        cells = " | ".join(f"{r[f'test@{b}'][0]:.2f} ± {r[f'test@{b}'][1]:.2f}" for b in BUDGETS)
        median = r["reach_94.2_median"]
        print(
            f"| {name} | {cells} | {median if median is not None else '>150'}; "
            f"{r['reach_94.2_share']:.0%} |"
        )


if __name__ == "__main__":
    main()

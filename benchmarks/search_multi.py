"""Multi-objective NB201 search: hypervolume ratio of accuracy vs a device's latency.

    .venv/bin/python benchmarks/search_multi.py --seeds 20 --jobs 2

Objectives `accuracy` (max) and the latency column (min), as the searchers see them; the HV
ratio follows ../shared/benchdata/README.md (normalise by the minimum over all rows,
ref = (15.0 error, 95th percentile latency), points outside the box count nothing). Searchers
ask in batches of `--batch` (as an asynchronous run with that many workers would).
`--reference` tells the `predictor` searcher the protocol's box (accuracy 85, the latency's
95th percentile) as its `reference` setting, so it spends no evaluations outside it.
`--known-latency` gives it the table's latency column as a known (exact) latency predictor
instead of learning latency from the evaluated architectures.
`--space nasbench201-pruned` searches only the cells without dead ops (the HV ratio is still
that of all 15625 rows; the script first prints the ratio of all the space's cells, its ceiling).
`--settings` passes other searcher settings (JSON), `--first-seed` moves the seeds (a settings
sweep on other seeds and latency columns than the reported ones).
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
from joblib import Parallel, delayed
from search_common import SPACES, error_latency_points, hv_ratio_setup, search, tabular

BUDGETS = (100, 300)  # evaluations at which the HV ratio is reported (--budgets)


def ratios(name: str, latency: str, seed: int, batch: int, args: argparse.Namespace) -> list[float]:
    normalised_hv, total, ref = hv_ratio_setup(latency)
    settings = dict(args.settings)
    if args.reference and name == "predictor":
        settings["reference"] = {"accuracy": 100 - ref[0], latency: ref[1]}
    if args.known_latency and name == "predictor":
        settings["predictors"] = {latency: tabular(args.space).predictor(latency)}
    results = search(
        name,
        [("accuracy", "max"), (latency, "min")],
        seed=seed,
        budget=max(args.budgets),
        batch=batch,
        space=args.space,
        **settings,
    )
    points = error_latency_points(results, latency)
    return [normalised_hv(points[:b]) / total for b in args.budgets]


def space_ceiling(space: str, latency: str) -> float:
    """The HV ratio of evaluating every cell of `space` (1.0 for all 15625)."""
    normalised_hv, total, _ = hv_ratio_setup(latency)
    evaluator = tabular(space)
    cells = list(evaluator.space.enumerate())
    metrics = [evaluator.evaluate(a) for a in cells]
    points = error_latency_points(metrics, latency)
    return normalised_hv(points) / total


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--batch", type=int, default=10)
    parser.add_argument("--reference", action="store_true", help="predictor knows the box")
    parser.add_argument(
        "--known-latency", action="store_true", help="predictor is given the exact latency"
    )
    parser.add_argument("--searchers", nargs="+", default=["random", "nsga2", "predictor"])
    parser.add_argument("--settings", type=json.loads, default={}, help="searcher settings")
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--budgets", type=int, nargs="+", default=list(BUDGETS))
    parser.add_argument("--space", choices=SPACES, default=SPACES[0])
    parser.add_argument(
        "--latency", nargs="+", default=["hw_fpga_latency_ms", "hw_pixel3_latency_ms"]
    )
    args = parser.parse_args()
    budgets = args.budgets = sorted(args.budgets)
    table = []
    for latency in args.latency:
        print(
            latency, f"all cells of {args.space}: HV ratio {space_ceiling(args.space, latency):.4f}"
        )
        for name in args.searchers:
            start = time.time()
            r = np.array(
                Parallel(n_jobs=args.jobs)(
                    delayed(ratios)(name, latency, s, args.batch, args)
                    for s in range(args.first_seed, args.first_seed + args.seeds)
                )
            )
            row = {f"hv@{b}": (r[:, i].mean(), r[:, i].std()) for i, b in enumerate(budgets)}
            print(latency, name, json.dumps(row), f"{time.time() - start:.0f}s", flush=True)
            table.append((latency, name, row))
    print("\n| latency | searcher | " + " | ".join(f"HV ratio @{b}" for b in budgets) + " |")
    print("|---|---|" + "---|" * len(budgets))
    for latency, name, row in table:
        cells = " | ".join(f"{row[f'hv@{b}'][0]:.3f} ± {row[f'hv@{b}'][1]:.3f}" for b in budgets)
        print(f"| {latency} | {name} | {cells} |")


if __name__ == "__main__":
    main()

"""The predictor searcher with its accuracy surrogate on the live cell (the default) or, as
before 2026-12-05, on the whole cell, and the share of cells with dead ops it evaluates.

    cd benchmarks && ../.venv/bin/python search_live_cell.py --variant whole \
        --first-seed 200 --seeds 20 --latency hw_fpga_latency_ms

`whole` makes every metric a cost (`measures_cost` true), so every surrogate reads the cell
as it is, in this process only; the seeds run one after another (joblib's workers would not
see the change). Prints the HV ratio at 100 / 300 (and the standard error at 300), and the
share of evaluated cells with dead ops, overall and among the evaluated front in the box.
"""

from __future__ import annotations

import argparse
import json

import numpy as np
from search_common import error_latency_points, hv_ratio_setup, searched

from hwnas.search import predictor as predictor_module
from hwnas.search.pareto import pareto_mask

BUDGETS = (100, 300)


def run(latency: str, seed: int, settings: dict) -> tuple[list[float], float, float]:
    """HV ratios at `BUDGETS`, and the shares of cells with dead ops (evaluated, front)."""
    normalised_hv, total, ref = hv_ratio_setup(latency)
    objectives = [("accuracy", "max"), (latency, "min")]
    searcher = searched(
        "predictor", objectives, seed=seed, budget=max(BUDGETS), batch=10, **settings
    )
    points = error_latency_points([t.metrics for t in searcher.trials], latency)
    dead = np.array([searcher.space.live(t.arch) != t.arch for t in searcher.trials])
    front = pareto_mask(points) & (points <= ref).all(axis=1)
    ratios = [normalised_hv(points[:b]) / total for b in BUDGETS]
    return ratios, float(dead.mean()), float(dead[front].mean())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--variant", choices=["live", "whole"], default="live")
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--settings", type=json.loads, default={}, help="searcher settings")
    parser.add_argument(
        "--latency", nargs="+", default=["hw_fpga_latency_ms", "hw_pixel3_latency_ms"]
    )
    args = parser.parse_args()
    if args.variant == "whole":
        predictor_module.measures_cost = lambda metric: True
    for latency in args.latency:
        seeds = range(args.first_seed, args.first_seed + args.seeds)
        rows = [run(latency, s, args.settings) for s in seeds]
        r = np.array([ratios for ratios, _, _ in rows])
        cells = ", ".join(f"@{b}: {r[:, i].mean():.3f}" for i, b in enumerate(BUDGETS))
        error = r[:, -1].std() / np.sqrt(len(r))
        dead = np.mean([d for _, d, _ in rows]), np.mean([f for _, _, f in rows])
        print(
            f"{latency} {args.variant}, HV ratio {cells} (± {error:.3f}); cells with dead ops: "
            f"{dead[0]:.1%} of the evaluated, {dead[1]:.1%} of the front in the box",
            flush=True,
        )


if __name__ == "__main__":
    main()

"""Where along the latency axis a multi-objective NB201 search falls short of the table's front.

    cd benchmarks && ../.venv/bin/python search_front_gaps.py --searcher nsga2 \
        --latency hw_pixel3_latency_ms --seeds 10

The protocol's box (error <= 15, latency from the table's minimum to its 95th percentile) is
cut into `--bins` equal latency bins. For each bin end, the best error reachable at that
latency or below is read off the table's front and off the searcher's evaluated set after
`--budget` evaluations (batches of 10, as `search_multi.py`), both capped at the box's
error bound of 15; the script prints each seed's
HV ratio and, per bin, the table's value and the mean gap over seeds (error points).
"""

from __future__ import annotations

import argparse

import numpy as np
from search_common import SPACES, error_latency_points, hv_ratio_setup, search, tabular


def best_error_up_to(points: np.ndarray, ends: np.ndarray, cap: float) -> np.ndarray:
    """The lowest error among `points` (error, latency) at latency below each of `ends`, at
    most `cap` (the box's error bound: a worse point adds no hypervolume)."""
    return np.array([points[points[:, 1] < end, 0].min(initial=cap) for end in ends])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--searcher", default="nsga2")
    parser.add_argument("--latency", default="hw_pixel3_latency_ms")
    parser.add_argument("--space", choices=SPACES, default=SPACES[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--budget", type=int, default=300)
    parser.add_argument("--bins", type=int, default=10)
    args = parser.parse_args()
    normalised_hv, total, ref = hv_ratio_setup(args.latency)
    evaluator = tabular(SPACES[0])
    table = error_latency_points(
        [evaluator.evaluate(a) for a in evaluator.space.enumerate()], args.latency
    )
    ends = np.linspace(table[:, 1].min(), ref[1], args.bins + 1)[1:]
    front = best_error_up_to(table, ends, ref[0])
    gaps = []
    for seed in range(args.seeds):
        results = search(
            args.searcher,
            [("accuracy", "max"), (args.latency, "min")],
            seed=seed,
            budget=args.budget,
            batch=10,
            space=args.space,
        )
        points = error_latency_points(results, args.latency)
        gaps.append(best_error_up_to(points, ends, ref[0]) - front)
        print(f"seed {seed}: HV ratio {normalised_hv(points) / total:.4f}", flush=True)
    print("bin end (ms)      ", np.round(ends, 2))
    print("table's best error", np.round(front, 2))
    print("mean gap (points) ", np.round(np.mean(gaps, axis=0), 3))


if __name__ == "__main__":
    main()

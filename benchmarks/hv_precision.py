"""How precise a search must be to reach a given NB201 hypervolume ratio (no search runs).

Two idealised evaluated sets, scored with the protocol of search_multi.py:
- `rank k at each latency`: at each distinct latency of the column, the architecture with the
  k-th lowest validation error (k = 1 is the whole front, ratio 1);
- `front + d`: every architecture of the table with its error raised by d points, i.e. a
  search that came within d points of the front everywhere.

    .venv/bin/python benchmarks/hv_precision.py
"""

from __future__ import annotations

import argparse

import numpy as np
from search_common import hv_ratio_setup

from hwnas.evaluators.tabular import load_nb201


def kth_best_per_latency(points: np.ndarray, k: int) -> np.ndarray:
    """The k-th best (or the worst, where fewer) error at each distinct latency."""
    latency = np.round(points[:, 1], 6)
    chosen = []
    for value in np.unique(latency):
        rows = np.flatnonzero(latency == value)
        rows = rows[np.argsort(points[rows, 0])]
        chosen.append(rows[min(k, len(rows)) - 1])
    return points[chosen]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--latency", nargs="+", default=["hw_fpga_latency_ms", "hw_pixel3_latency_ms"]
    )
    args = parser.parse_args()
    table = load_nb201(latency=False)
    print("| latency | distinct latencies | evaluated set | HV ratio |\n|---|---|---|---|")
    for column in args.latency:
        normalised_hv, total, _ = hv_ratio_setup(column)
        points = np.stack([100 - table["cifar10valid_valid_acc_200ep"], table[column]], axis=1)
        distinct = len(np.unique(np.round(points[:, 1], 6)))
        rows = [(f"rank {k} at each latency", kth_best_per_latency(points, k)) for k in (2, 3, 5)]
        rows += [(f"front + {d} error", points + [d, 0.0]) for d in (0.05, 0.1, 0.2, 0.3)]
        for label, chosen in rows:
            print(f"| {column} | {distinct} | {label} | {normalised_hv(chosen) / total:.4f} |")


if __name__ == "__main__":
    main()

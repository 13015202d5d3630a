"""Issue 5: does a zero-cost proxy as a surrogate input lift the predictor searcher's HV?

    cd benchmarks && ../.venv/bin/python search_zero_cost_feature.py --seeds 10 --jobs 2 \
        [--settings '{"surrogate": "gaussian_process"}']

Synflow (data-free: one forward and backward pass of the untrained cell network, seed 0) of
every NAS-Bench-201 cell is read from `data/nb201_synflow.csv.gz`, or computed with
`--compute` (about 38 CPU-minutes, the space's real `build`). Its standardised `log1p` is given
to the predictor searcher as a known model of `accuracy`, which the default
`known_models="feature"` appends to the encoding and does not trust. Prints the HV ratio at
100 and 300 evaluations (the protocol of `search_multi.py`, batches of 10) without and with it.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from joblib import Parallel, delayed
from search_common import SPACE
from search_multi import BUDGETS, ratios

from hwnas.evaluators.zero_cost import synflow

TABLE = Path(__file__).parent / "data" / "nb201_synflow.csv.gz"


def synflow_of(indices: list[int]) -> list[float]:
    torch.set_num_threads(1)
    archs = list(SPACE.enumerate())
    batch = (torch.zeros(1, *SPACE.input_shape), torch.zeros(1, dtype=torch.long))
    scores = []
    for i in indices:
        torch.manual_seed(0)
        scores.append(synflow(SPACE.build(archs[i]), batch))
    return scores


def compute_table(jobs: int) -> None:
    parts = [list(range(j, SPACE.cardinality, jobs)) for j in range(jobs)]
    scores = Parallel(n_jobs=jobs)(delayed(synflow_of)(p) for p in parts)
    rows = sorted(zip(sum(parts, []), sum(scores, []), strict=True))
    pd.DataFrame(rows, columns=["arch_idx", "synflow"]).to_csv(TABLE, index=False)


class SynflowFeature:
    """The standardised log1p synflow of each cell, as a known model's `predict`."""

    def __init__(self):
        values = np.log1p(pd.read_csv(TABLE).sort_values("arch_idx")["synflow"].to_numpy())
        self.z = (values - values.mean()) / values.std()

    def predict(self, archs) -> np.ndarray:
        return self.z[[SPACE.index(a) for a in archs]]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--settings", type=json.loads, default={}, help="searcher settings")
    parser.add_argument("--compute", action="store_true", help="compute the synflow table")
    parser.add_argument(
        "--latency", nargs="+", default=["hw_fpga_latency_ms", "hw_pixel3_latency_ms"]
    )
    args = parser.parse_args()
    if args.compute or not TABLE.is_file():
        compute_table(args.jobs)
    feature = {"predictors": {"accuracy": SynflowFeature()}}
    for latency in args.latency:
        for label, extra in (("without synflow", {}), ("with synflow", feature)):
            run = argparse.Namespace(
                settings={**args.settings, **extra}, reference=False, known_latency=False
            )
            r = np.array(
                Parallel(n_jobs=args.jobs)(
                    delayed(ratios)("predictor", latency, s, 10, run) for s in range(args.seeds)
                )
            )
            cells = " / ".join(f"{m:.3f}" for m in r.mean(axis=0))
            print(f"{latency} {label}: HV ratio @{' / @'.join(map(str, BUDGETS))}: {cells}")


if __name__ == "__main__":
    main()

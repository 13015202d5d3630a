"""NSGA-II with the HV protocol's box as two extra constraints: does it help? (Not kept.)

    cd benchmarks && ../.venv/bin/python search_nsga2_box.py --first-seed 100 --seeds 20 \
        --latency hw_eyeriss_latency_ms hw_raspi4_latency_ms

Points outside the box (accuracy below 100 - 15, latency above the column's 95th percentile)
add nothing to the hypervolume. Here each evaluation also reports its relative excess over
both bounds as NSGA-II constraints, so such points lose every comparison with points inside.
The searcher's `_told` is replaced in this process only; the default nsga2 on the same seeds
is `search_multi.py --searchers nsga2 --jobs 1` with the same `--latency` and `--first-seed`.
"""

from __future__ import annotations

import argparse

import numpy as np
from optuna.trial import TrialState
from search_common import hv_ratio_setup, search

from hwnas.search.nsga2 import NSGA2Searcher

BUDGETS = (100, 300)
BOX: dict[str, float | str] = {}  # the box of the latency column being searched


def _box_excess(metrics) -> dict[str, float]:
    accuracy_min, latency_max = BOX["accuracy"], BOX["latency"]
    return {
        "box:accuracy": (accuracy_min - metrics["accuracy"]) / accuracy_min,
        "box:latency": (metrics[BOX["metric"]] - latency_max) / latency_max,
    }


def _told_with_box(self, trial) -> None:
    """`NSGA2Searcher._told` for a searcher without constraints of its own, plus the box."""
    optuna_trial = self._optuna_trials.pop(trial.arch.key, None)
    if optuna_trial is None:
        self._add_finished(trial)
        return
    if not trial.metrics.ok:
        self.study.tell(optuna_trial, state=TrialState.FAIL)
        return
    for name, excess in _box_excess(trial.metrics).items():
        optuna_trial.set_constraint(name, excess)
    self.study.tell(optuna_trial, [trial.metrics[o.metric] for o in self.objectives])
    self.sampler.result_arrived(trial.index // self.population_size, self._choices(trial))


def ratios(latency: str, seed: int) -> list[float]:
    normalised_hv, total, ref = hv_ratio_setup(latency)
    BOX.update(accuracy=100 - ref[0], latency=ref[1], metric=latency)
    objectives = [("accuracy", "max"), (latency, "min")]
    results = search("nsga2", objectives, seed=seed, budget=max(BUDGETS), batch=10)
    points = np.array([[100 - m["accuracy"], m[latency]] for m in results])
    return [normalised_hv(points[:b]) / total for b in BUDGETS]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--first-seed", type=int, default=100)
    parser.add_argument(
        "--latency", nargs="+", default=["hw_eyeriss_latency_ms", "hw_raspi4_latency_ms"]
    )
    args = parser.parse_args()
    NSGA2Searcher._told = _told_with_box
    for latency in args.latency:
        seeds = range(args.first_seed, args.first_seed + args.seeds)
        r = np.array([ratios(latency, s) for s in seeds])
        cells = ", ".join(f"@{b}: {r[:, i].mean():.3f}" for i, b in enumerate(BUDGETS))
        print(f"{latency} nsga2 + box constraints, HV ratio {cells}", flush=True)


if __name__ == "__main__":
    main()

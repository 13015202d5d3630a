"""Do the black-box searchers search on the MetaFormer spaces, not only on NAS-Bench-201?

    cd benchmarks && ../.venv/bin/python search_metaformer.py --seeds 10

Three cheap tasks with real metrics, each 150 evaluations in batches of 10, default
settings, against random search on the same seeds:

- `conv1d-single`: conv1d with fp32 blocks, maximise `zc_naswot` (the zero_cost evaluator on
  mnist1d) under `latency_ms <= bound`, the latency from the LUT of the committed ONNX Runtime
  profile and the bound its 25 % quantile over 2000 uniform samples; the best feasible value.
- `conv1d-multi`: the same space and constraint, `zc_naswot` (max) against `params` (min); the
  hypervolume of the feasible points, both objectives normalised by the minimum and the 95th
  percentile of every feasible point of every searcher (one box).
- `conv2d-single`: conv2d, maximise MACs under `params <= bound` (the 25 % quantile over 300
  uniform samples), both analytic (`space.cost`); the best feasible value in millions.

Per searcher and budget: the mean over seeds ± its standard error, the seeds (of N) where
the searcher's value beats random search's at 150, and the share of feasible proposals.
`predictor+lut` gives the predictor the LUT as a known model (`predictors`, as an
experiment's `latency` section does).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from differentiable_search import with_precisions
from joblib import Parallel, delayed

from hwnas.evaluators import get_evaluator
from hwnas.evaluators.metrics import Metrics
from hwnas.predictors import LUTPredictor
from hwnas.search import get_searcher, hypervolume
from hwnas.spaces import get_space

PROFILE = Path(__file__).parent / "data/epyc/conv1d_ort_fp32.csv"
BUDGETS = (30, 50, 100, 150)
TASKS = {
    "conv1d-single": ("random", "evolution", "predictor", "predictor+lut", "nsga2"),
    "conv1d-multi": ("random", "predictor", "predictor+lut", "nsga2"),
    "conv2d-single": ("random", "evolution", "predictor", "nsga2"),
}
#: the task's objectives (metric, direction) and its constrained metric
SETUP = {
    "conv1d-single": ([("zc_naswot", "max")], "latency_ms"),
    "conv1d-multi": ([("zc_naswot", "max"), ("params", "min")], "latency_ms"),
    "conv2d-single": ([("macs", "max")], "params"),
}


def conv1d() -> tuple:
    space = with_precisions(get_space("conv1d"), ["fp32"])
    return space, LUTPredictor.from_profile(PROFILE, space)


def bound(task: str) -> float:
    """The constraint's bound: the 25 % quantile of the constrained metric over uniform
    samples."""
    if task.startswith("conv1d"):
        space, lut = conv1d()
        rng = np.random.default_rng(12345)
        return float(np.quantile(lut.predict([space.sample(rng) for _ in range(2000)]), 0.25))
    space, rng = get_space("conv2d"), np.random.default_rng(1)
    return float(np.quantile([space.cost(space.sample(rng)).params for _ in range(300)], 0.25))


def run(task: str, mode: str, seed: int, limit: float, batch: int) -> list[dict]:
    """Every evaluation's metrics in ask order."""
    torch.set_num_threads(1)
    objectives, constrained = SETUP[task]
    settings = {}
    if task.startswith("conv1d"):
        space, lut = conv1d()
        evaluator = get_evaluator("zero_cost", space, dataset="mnist1d", proxies=("naswot",))
        if mode == "predictor+lut":
            settings = {"predictors": {"latency_ms": lut}}
    else:
        space = get_space("conv2d")
    searcher = get_searcher(
        mode.split("+")[0], space, objectives, [(constrained, limit)], seed=seed, **settings
    )
    told: list[dict] = []
    while len(told) < max(BUDGETS):
        for arch in searcher.ask(min(batch, max(BUDGETS) - len(told))):
            if task.startswith("conv1d"):
                metrics = evaluator.evaluate(arch)
                metrics = Metrics(
                    {**metrics, "latency_ms": float(lut.predict([arch])[0])},
                    status=metrics.status,
                    reason=metrics.reason,
                )
            else:
                cost = space.cost(arch)
                metrics = Metrics({"macs": cost.macs / 1e6, "params": float(cost.params)})
            searcher.tell(arch, metrics)
            told.append(dict(metrics) if metrics.ok else {})
    return told


def feasible(told: list[dict], task: str, limit: float) -> list[dict]:
    constrained = SETUP[task][1]
    return [m for m in told if m and m[constrained] <= limit]


def scores(task: str, runs: dict, limit: float) -> dict[str, dict[int, list[float]]]:
    """Per searcher and budget, each seed's score: the best feasible value (one objective) or
    the feasible points' hypervolume in one box (two)."""
    objectives = SETUP[task][0]
    if len(objectives) == 1:
        metric = objectives[0][0]

        def best(told: list[dict]) -> float:
            return max((m[metric] for m in feasible(told, task, limit)), default=np.nan)

        return {mode: {b: [best(r[:b]) for r in rs] for b in BUDGETS} for mode, rs in runs.items()}

    def points(told: list[dict]) -> np.ndarray:
        """The feasible points as losses (a maximised objective negated)."""
        rows = [
            [-m[k] if d == "max" else m[k] for k, d in objectives]
            for m in feasible(told, task, limit)
        ]
        return np.array(rows, dtype=float).reshape(-1, len(objectives))

    every = np.vstack([points(r) for rs in runs.values() for r in rs])
    low, ref = every.min(axis=0), np.percentile(every, 95, axis=0)

    def hv(told: list[dict]) -> float:
        p = points(told)
        return hypervolume((p - low) / (ref - low), np.ones(len(objectives))) if len(p) else 0.0

    return {mode: {b: [hv(r[:b]) for r in rs] for b in BUDGETS} for mode, rs in runs.items()}


def table(task: str, runs: dict, limit: float) -> None:
    values = scores(task, runs, limit)
    print(f"\n{task} (bound {limit:.6g})")
    heads = " | ".join(f"@{b}" for b in BUDGETS)
    print(f"| searcher | {heads} | beats random @150 | feasible proposals |")
    print("|---|" + "---|" * (len(BUDGETS) + 2))
    for mode, by_budget in values.items():
        cells = [
            f"{np.mean(v):.4g} ± {np.std(v) / np.sqrt(len(v)):.2g}" for v in by_budget.values()
        ]
        last, base = by_budget[max(BUDGETS)], values["random"][max(BUDGETS)]
        wins = "-" if mode == "random" else f"{sum(a > b for a, b in zip(last, base))}/{len(last)}"
        share = np.mean([len(feasible(r, task, limit)) / len(r) for r in runs[mode]])
        print(f"| {mode} | {' | '.join(cells)} | {wins} | {100 * share:.0f} % |")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--batch", type=int, default=10)
    parser.add_argument("--tasks", nargs="+", default=list(TASKS), choices=list(TASKS))
    args = parser.parse_args()
    start = time.time()
    for task in args.tasks:
        limit = bound(task)
        runs = {
            mode: Parallel(n_jobs=args.jobs)(
                delayed(run)(task, mode, s, limit, args.batch) for s in range(args.seeds)
            )
            for mode in TASKS[task]
        }
        table(task, runs, limit)
        print(f"({time.time() - start:.0f} s so far)")


if __name__ == "__main__":
    main()

"""How the predictor searcher should use a known latency predictor, on a large space (conv1d).

    cd benchmarks && ../.venv/bin/python search_known_latency.py --seeds 10

On NAS-Bench-201 the multi-objective predictor searcher did better learning latency from the
evaluated architectures than taking the exact latency as given (docs/benchmarks.md). This asks
the same where latency is harder to learn: the `conv1d` space (fp32 blocks),
objectives a real zero-cost proxy on mnist1d (`zc_naswot`, max; no training, so the run is
cheap) and the latency of the committed ONNX Runtime profile's LUT (min). The searcher is
given the LUT (`predictors`, what an experiment with a latency config does) as a surrogate
input (`known_models="feature"`, the default) or as the exact latency (`"replace"`), or learns
latency from the told values alone (`learned`); random search is the baseline. Hypervolume:
both objectives normalised by the minimum and the 95th percentile of every point evaluated in
any run, so all modes share one box. `--surrogates` runs every predictor mode with each of
those surrogates (in the same box). `--modes nsga2 random` runs NSGA-II (default settings)
beside random search; `--merge FILE` adds the runs an earlier `--out` wrote, renamed
`<mode> [<file stem>]`, to the same box (to compare two versions of the code).
"""

from __future__ import annotations

import argparse
import json
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
MODES = ("feature", "replace", "learned", "random")
OTHER_SEARCHERS = ("nsga2", "random")  # a mode that is a searcher's name runs that searcher


def run(
    mode: str, seed: int, budget: int, batch: int, surrogate: str | None = None
) -> list[tuple[float, float]]:
    """(-naswot, latency) of every evaluation in ask order (NaN for failed ones)."""
    torch.set_num_threads(1)
    space = with_precisions(get_space("conv1d"), ["fp32"])
    lut = LUTPredictor.from_profile(PROFILE, space)
    evaluator = get_evaluator("zero_cost", space, dataset="mnist1d", proxies=("naswot",))
    settings = {"surrogate": surrogate} if surrogate else {}
    if mode in ("feature", "replace"):
        settings |= {"predictors": {"latency_ms": lut}, "known_models": mode}
    objectives = [("zc_naswot", "max"), ("latency_ms", "min")]
    name = mode if mode in OTHER_SEARCHERS else "predictor"
    searcher = get_searcher(name, space, objectives, seed=seed, **settings)
    points: list[tuple[float, float]] = []
    while len(points) < budget:
        for arch in searcher.ask(min(batch, budget - len(points))):
            metrics = evaluator.evaluate(arch)
            values = {**metrics, "latency_ms": float(lut.predict([arch])[0])}
            searcher.tell(arch, Metrics(values, status=metrics.status, reason=metrics.reason))
            points.append((-values.get("zc_naswot", np.nan), values["latency_ms"]))
    return points


def hv_table(runs: dict[str, list[list[tuple[float, float]]]]) -> dict[str, dict[int, tuple]]:
    """Mean and standard error of the normalised HV per mode and budget."""
    everything = np.array([p for mode in runs.values() for r in mode for p in r], dtype=float)
    everything = everything[np.isfinite(everything).all(axis=1)]
    low, ref = everything.min(axis=0), np.percentile(everything, 95, axis=0)
    table = {}
    for mode, mode_runs in runs.items():
        table[mode] = {}
        for b in BUDGETS:
            hv = []
            for r in mode_runs:
                p = np.array(r[:b], dtype=float)
                p = p[np.isfinite(p).all(axis=1)]
                hv.append(hypervolume((p - low) / (ref - low), np.ones(2)))
            table[mode][b] = (float(np.mean(hv)), float(np.std(hv) / np.sqrt(len(hv))))
    return table


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--batch", type=int, default=10)
    parser.add_argument("--out", type=Path, help="write every run's points here (JSON)")
    parser.add_argument("--surrogates", nargs="+", default=[None], help="predictor surrogates")
    parser.add_argument("--modes", nargs="+", default=MODES, choices=(*MODES, *OTHER_SEARCHERS))
    parser.add_argument("--merge", type=Path, nargs="*", default=[], help="earlier --out files")
    args = parser.parse_args()
    start = time.time()
    variants = [
        (mode, surrogate)
        for mode in args.modes
        for surrogate in ([None] if mode in OTHER_SEARCHERS else args.surrogates)
    ]
    runs = {
        f"{mode} ({surrogate})" if surrogate else mode: Parallel(n_jobs=args.jobs)(
            delayed(run)(mode, s, max(BUDGETS), args.batch, surrogate) for s in range(args.seeds)
        )
        for mode, surrogate in variants
    }
    if args.out:
        args.out.write_text(json.dumps(runs))
    for path in args.merge:
        runs |= {f"{mode} [{path.stem}]": r for mode, r in json.loads(path.read_text()).items()}
    table = hv_table(runs)
    print("| searcher / latency | " + " | ".join(f"HV @{b}" for b in BUDGETS) + " |")
    print("|---|" + "---|" * len(BUDGETS))
    for mode, row in table.items():
        cells = " | ".join(f"{m:.3f} ± {se:.3f}" for m, se in row.values())
        print(f"| {mode} | {cells} |")
    print(f"{time.time() - start:.0f} s")


if __name__ == "__main__":
    main()

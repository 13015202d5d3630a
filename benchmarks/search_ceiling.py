"""How good must the multi-objective predictor searcher's surrogates be for a given HV ratio?

    cd benchmarks && ../.venv/bin/python search_ceiling.py --seeds 20

The searcher (its candidate pool, mutants of the front, and its greedy hypervolume pick) is run
on NAS-Bench-201 with known models in place of learned surrogates (`known_models="replace"`):
a latency model (below), and the table's validation accuracy plus a fixed error per
architecture (normal, standard deviation `--errors` points; 0 is the exact accuracy).
`--latency-model` sets what the searcher knows of latency: the table's value (`exact`), what
the default surrogate learns from the evaluated cells (`learned`), or what a model trained on
about 12 500 of the table's cells predicts for the others (`cross-fitted`: a latency predictor
far better trained than any search's, but not exact where the latency is not a function of the
encoding, as on pixel3). So the HV ratio at 100 and 300 evaluations (the protocol of
search_multi.py) is what a surrogate with that error would reach, and it can be set beside the
real surrogates' error on the candidates that matter (`--measure`: the learned accuracy's RMSE
on the scored candidates whose true accuracy is above 88 %, at 100, 200 and 290 evaluations).
"""

from __future__ import annotations

import argparse
import json
import zlib

import numpy as np
from joblib import Parallel, delayed
from search_common import EVALUATOR, SPACE, error_latency_points, hv_ratio_setup, search
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.model_selection import KFold, cross_val_predict

from hwnas.search import get_searcher

BUDGETS = (100, 300)
OBJECTIVES = ("accuracy", "max")


class NoisyAccuracy:
    """The table's validation accuracy plus a fixed normal error per architecture."""

    def __init__(self, error: float):
        self.error, self.accuracy = error, EVALUATOR.predictor("accuracy")

    def predict(self, archs) -> np.ndarray:
        noise = [np.random.default_rng(zlib.crc32(a.key.encode())).standard_normal() for a in archs]
        return self.accuracy.predict(archs) + self.error * np.array(noise)


class CrossFittedLatency:
    """A latency column as a model trained on most of the table predicts it: every row's
    value comes from gradient boosting (on `space.encode`) fitted on the other 4 of 5 folds,
    about 12 500 measured cells, so no row is predicted by a model that saw it."""

    def __init__(self, latency: str):
        archs = list(SPACE.enumerate())  # arch_idx order, the table's row order
        x = np.stack([SPACE.encode(a) for a in archs])
        folds = KFold(5, shuffle=True, random_state=0)
        model = HistGradientBoostingRegressor(max_iter=500, random_state=0)
        measured = EVALUATOR.predictor(latency).predict(archs)
        self.predicted = cross_val_predict(model, x, measured, cv=folds)

    def predict(self, archs) -> np.ndarray:
        return self.predicted[[SPACE.index(a) for a in archs]]


def latency_model(latency: str, kind: str):
    """The known latency model of `--latency-model` (None: learned by the searcher)."""
    if kind == "learned":
        return None
    return EVALUATOR.predictor(latency) if kind == "exact" else CrossFittedLatency(latency)


def ratios(latency: str, seed: int, error: float, known_latency) -> list[float]:
    normalised_hv, total, _ = hv_ratio_setup(latency)
    known = {"accuracy": NoisyAccuracy(error)}
    if known_latency is not None:
        known[latency] = known_latency
    results = search(
        "predictor",
        [OBJECTIVES, (latency, "min")],
        seed=seed,
        budget=max(BUDGETS),
        batch=10,
        predictors=known,
        known_models="replace",
    )
    points = error_latency_points(results, latency)
    return [normalised_hv(points[:b]) / total for b in BUDGETS]


def surrogate_error(latency: str, seed: int, settings: dict) -> dict[int, float]:
    """RMSE (accuracy points) of the learned accuracy on the scored candidates above 88 %."""
    searcher = get_searcher(
        "predictor", SPACE, [OBJECTIVES, (latency, "min")], seed=seed, **settings
    )
    errors: dict[int, float] = {}
    while len(searcher.trials) < 300:
        done = [t for t in searcher.trials if t.ok]
        if len(done) in (100, 200, 290):
            rng = np.random.default_rng(seed)
            pool = searcher._candidates(done, rng, set())
            models = searcher._models(done)
            scale, _ = models["accuracy"]
            mean = searcher._predict(models, pool)[0][:, 0]
            predicted = np.interp(mean, scale.scores, scale.values)  # back to accuracy points
            true = np.array([EVALUATOR.evaluate(a)["accuracy"] for a in pool])
            top = true > 88
            errors[len(done)] = float(np.sqrt(np.mean((predicted[top] - true[top]) ** 2)))
        for arch in searcher.ask(10):
            searcher.tell(arch, EVALUATOR.evaluate(arch))
    return errors


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--errors", type=float, nargs="+", default=[0, 0.2, 0.4, 0.7, 1.0, 1.5])
    parser.add_argument(
        "--latency-model",
        choices=["exact", "learned", "cross-fitted"],
        default="exact",
        help="what the searcher knows of latency",
    )
    parser.add_argument(
        "--latency", nargs="+", default=["hw_fpga_latency_ms", "hw_pixel3_latency_ms"]
    )
    parser.add_argument(
        "--measure",
        type=json.loads,
        nargs="*",
        default=[],
        help="searcher settings (JSON) whose learned accuracy error to measure",
    )
    args = parser.parse_args()
    print("| latency (model) | accuracy error (sd, points) | HV ratio @100 | HV ratio @300 |")
    print("|---|---|---|---|")
    for latency in args.latency:
        known_latency = latency_model(latency, args.latency_model)
        for error in args.errors:
            r = np.array(
                Parallel(n_jobs=args.jobs)(
                    delayed(ratios)(latency, s, error, known_latency) for s in range(args.seeds)
                )
            )
            cells = " | ".join(f"{m:.3f}" for m in r.mean(axis=0))
            print(f"| {latency} ({args.latency_model}) | {error} | {cells} |", flush=True)
    for settings in args.measure:
        for latency in args.latency:
            rows = Parallel(n_jobs=args.jobs)(
                delayed(surrogate_error)(latency, s, settings) for s in range(args.seeds)
            )
            rmse = {n: round(float(np.mean([r[n] for r in rows])), 2) for n in rows[0]}
            print(latency, json.dumps(settings), "RMSE above 88 % at", rmse, flush=True)


if __name__ == "__main__":
    main()

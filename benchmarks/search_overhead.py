"""Searcher overhead: ask + tell time per candidate with 1000 stored trials.

    .venv/bin/python benchmarks/search_overhead.py

Each searcher is restored from the same 1000 evaluated random trials, then asks and is told
`--candidates` candidates one at a time (the differentiable searcher is separate: its ask
trains a supernet). Single objective (accuracy) and accuracy + fpga latency.
`--predictor-settings` (JSON) passes settings to the predictor searcher, e.g. its surrogate.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
from search_common import EVALUATOR, SPACE

from hwnas.search import get_searcher


def per_candidate(name, objectives, history, candidates: int, **settings) -> float:
    searcher = get_searcher(name, SPACE, objectives, seed=0, **settings)
    searcher.restore(history)
    start = time.perf_counter()
    for _ in range(candidates):
        (arch,) = searcher.ask(1)
        searcher.tell(arch, EVALUATOR.evaluate(arch))
    return (time.perf_counter() - start) / candidates * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=1000)
    parser.add_argument("--candidates", type=int, default=20)
    parser.add_argument("--predictor-settings", type=json.loads, default={})
    parser.add_argument("--searchers", nargs="+", help="only these searchers")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    archs = {}
    while len(archs) < args.trials:
        arch = SPACE.sample(rng)
        archs[arch.key] = arch
    history = [(a, EVALUATOR.evaluate(a)) for a in archs.values()]
    single = [("accuracy", "max")]
    multi = [("accuracy", "max"), ("hw_fpga_latency_ms", "min")]
    print(f"| searcher | objectives | ms per candidate (ask + tell) at {args.trials} trials |")
    print("|---|---|---|")
    for name, objectives in [
        ("random", single),
        ("evolution", single),
        ("predictor", single),
        ("random", multi),
        ("nsga2", multi),
        ("predictor", multi),
    ]:
        if args.searchers and name not in args.searchers:
            continue
        settings = args.predictor_settings if name == "predictor" else {}
        ms = per_candidate(name, objectives, history, args.candidates, **settings)
        print(f"| {name} | {len(objectives)} | {ms:.1f} |", flush=True)


if __name__ == "__main__":
    main()

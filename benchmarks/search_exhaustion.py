"""nsga2 to the exhaustion of a small space: time, Optuna study size and peak memory.

    .venv/bin/python benchmarks/search_exhaustion.py [--settings '{"max_tries": 1000}']

A 1152-architecture MetaFormer space (tests/data/exhaustible_space.yaml), objectives the
analytic cost (params min, MACs max), asked in batches of 10 until nothing is left. Near the
end most of NSGA-II's proposals are architectures already seen, each discarded and asked
again: this measures what that costs.
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from pathlib import Path

from hwnas.search import get_searcher
from hwnas.spaces import get_space

#: the tests' space of 1152 architectures (its cardinality is checked by brute force there)
SPACE_FILE = Path(__file__).parents[1] / "tests" / "data" / "exhaustible_space.yaml"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--settings", type=json.loads, default={}, help="nsga2 settings")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    space = get_space(SPACE_FILE)
    objectives = [("params", "min"), ("macs", "max")]
    searcher = get_searcher("nsga2", space, objectives, seed=args.seed, **args.settings)
    print(f"space of {space.cardinality} architectures; settings {args.settings}")
    start = last = time.perf_counter()
    largest_study = 0
    while batch := searcher.ask(10):
        largest_study = max(largest_study, len(searcher.study.get_trials(deepcopy=False)))
        for arch in batch:
            cost = space.cost(arch)
            searcher.tell(arch, {"params": cost.params, "macs": cost.macs})
        done = len(searcher.trials)
        if done % 200 == 0 or done == space.cardinality:
            now = time.perf_counter()
            print(f"{done:5d} evaluated: {now - last:5.1f} s since the last line", flush=True)
            last = now
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    print(
        f"total {time.perf_counter() - start:.1f} s; largest study {largest_study} trials; "
        f"peak memory {peak_mb} MB"
    )


if __name__ == "__main__":
    main()

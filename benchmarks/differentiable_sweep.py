"""What a latency sweep of the differentiable searcher costs, its warm-up shared or not.

`conv1d` on `mnist1d`, latency on this CPU's `onnxruntime-cpu` profile (a LUT). The searches
of a sweep share their warm-up epochs (trained once, then each search goes on from a copy).
This runs the sweep once that way (one `DifferentiableSearcher`), then each target's search
alone (a fresh `SupernetSearch` per target, which trains its own warm-up, as every search did
before the sharing), checks that both give the same derived architectures and training
histories, and reports the wall and CPU time of each search. One torch thread.

    .venv/bin/python benchmarks/differentiable_sweep.py --targets 0.10 0.14 0.18 0.22
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from hwnas.evaluators.datasets import load_dataset
from hwnas.predictors import LUTPredictor
from hwnas.search.differentiable import DifferentiableSearcher, SupernetSearch
from hwnas.spaces import get_space

ROOT = Path(__file__).resolve().parents[1]


def timed(run):
    """`run()`'s result, its wall time and this process's CPU time (s)."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = run()
    return result, time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default=str(ROOT / "benchmarks/data/conv1d_ort_fp32.csv"))
    parser.add_argument("--targets", type=float, nargs="+", default=[0.10, 0.14, 0.18, 0.22])
    parser.add_argument("--epochs", type=int, default=3, help="supernet epochs")
    parser.add_argument("--warmup-epochs", type=int, default=1)
    parser.add_argument("--derive-samples", type=int, default=32)
    parser.add_argument("--derive-count", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    torch.set_num_threads(1)
    space = get_space("conv1d")
    lut = LUTPredictor.from_profile(args.profile, space)
    precisions = list(json.loads(Path(args.profile).with_suffix(".json").read_text())["precisions"])
    settings = dict(
        epochs=args.epochs,
        warmup_epochs=args.warmup_epochs,
        derive_samples=args.derive_samples,
        derive_count=args.derive_count,
        precisions=precisions,
    )
    searcher = DifferentiableSearcher(
        space,
        seed=args.seed,
        dataset=load_dataset("mnist1d", seed=args.seed),
        latency_predictor=lut,
        latency_targets_ms=args.targets,
        progress=False,
        **settings,
    )
    shared = []
    for target in args.targets:
        result, wall, cpu = timed(lambda t=target: searcher.search.run(t))
        shared.append((result, wall, cpu))
    alone = []
    for target in args.targets:
        search = SupernetSearch(
            space,
            searcher.search.dataset,
            searcher.search.settings,
            lut,
            seed=args.seed,
            progress=False,
        )
        alone.append(timed(lambda s=search, t=target: s.run(t)))

    print(f"settings {settings} (precisions from {args.profile}), seed {args.seed}")
    print("| target (ms) | shared: wall s | shared: CPU s | alone: wall s | alone: CPU s | same |")
    print("|---|---|---|---|---|---|")
    totals = [0.0] * 4
    for target, (a, a_wall, a_cpu), (b, b_wall, b_cpu) in zip(args.targets, shared, alone):
        same = a.derived == b.derived and a.history == b.history
        print(f"| {target:g} | {a_wall:.1f} | {a_cpu:.1f} | {b_wall:.1f} | {b_cpu:.1f} | {same} |")
        totals = [x + y for x, y in zip(totals, (a_wall, a_cpu, b_wall, b_cpu))]
    print("| total | " + " | ".join(f"{x:.1f}" for x in totals) + " | |")


if __name__ == "__main__":
    main()

"""Differentiable (supernet) search vs random search with 10x the compute, on real training.

`conv1d` on `mnist1d`, latency on this CPU's `onnxruntime-cpu` profile (a LUT):

1. the differentiable searcher trains its supernet toward `--target-ms` and derives
   `--derive-count` archs (the best by supernet accuracy of the argmax and `--derive-samples`
   draws from the learned gates);
2. the derived archs are retrained from scratch (the `train` evaluator, `--train-epochs`); the
   best by validation accuracy is the result, and its latency is measured (ONNX Runtime, one
   thread, each block at its precision);
3. random search samples archs whose LUT latency is <= the target and trains each with the
   same evaluator (`--workers` at once on an embedded Ray) until its summed training time is
   `--compute-ratio` times the compute of steps 1 + 2 (search wall time + all retraining;
   `--max-random-s` caps it, and the ratio actually spent is reported); the best by
   validation accuracy is its result, and its latency is measured too.

Reported: test accuracies (derived vs best random, the gap in points), measured vs target
latency, the search's wall time. Every process uses one torch thread.

    .venv/bin/python benchmarks/differentiable_search.py --out docs/benchmarks/differentiable.json
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
import torch

from hwnas.evaluators import RayExecutor
from hwnas.evaluators.datasets import load_dataset
from hwnas.evaluators.train import TrainEvaluator
from hwnas.predictors import LUTPredictor, PredictorError, measure_latency
from hwnas.search.differentiable import DifferentiableSearcher
from hwnas.spaces import Arch, SearchSpace, get_space, reparameterize, set_fake_quant
from hwnas.spaces.metaformer import MetaFormerSpace

ROOT = Path(__file__).resolve().parents[1]


def with_precisions(space: MetaFormerSpace, precisions: list[str]) -> MetaFormerSpace:
    """The same space (name and version) with only these block precisions, so that random
    search samples only what the latency profile measured; its archs are `space`'s archs."""

    def keep(block):
        return block.model_copy(
            update={"precisions": [p for p in block.precisions if p in precisions]}
        )

    spec = space.spec
    stages = [
        st.model_copy(update={"block": keep(st.block)})
        if st.block is not None and st.block.precisions is not None
        else st
        for st in spec.stages
    ]
    return MetaFormerSpace(spec.model_copy(update={"block": keep(spec.block), "stages": stages}))


def measured_ms(space: SearchSpace, arch: Arch) -> float:
    """Median latency of the float inference model, each block at its own precision."""
    model = space.build(arch).eval()
    reparameterize(model)
    set_fake_quant(model, False)
    return measure_latency(model, space.input_shape, precision="mixed").latency_ms


def lut_ms(lut: LUTPredictor, arch: Arch) -> float | None:
    try:
        return float(lut.predict([arch])[0])
    except PredictorError:  # a precision the profile did not measure
        return None


def random_under_target(space, lut, target, rng, seen) -> tuple[Arch, float]:
    """A uniform sample of the space, not seen before, whose LUT latency is <= target."""
    while True:
        arch = space.sample(rng)
        latency = lut_ms(lut, arch)
        if arch.key not in seen and latency is not None and latency <= target:
            seen.add(arch.key)
            return arch, latency


def random_search(space, lut, target, evaluator, budget, workers, rng, exclude):
    """(arch, LUT ms, metrics) of random archs under the target, trained until their summed
    training time reaches `budget` seconds."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    spent, done, seen, latency = 0.0, [], {a.key for a in exclude}, {}
    with RayExecutor(evaluator, max_in_flight=workers, num_cpus=workers) as executor:
        while spent < budget or executor.in_flight:
            while spent < budget and executor.in_flight < workers:
                arch, ms = random_under_target(space, lut, target, rng, seen)
                latency[arch.key] = ms
                executor.submit(arch)
            for arch, metrics in executor.results():
                spent += metrics.get("train_time_s", 0.0)
                done.append((arch, latency[arch.key], metrics))
                print(
                    f"random {len(done)}: val {metrics.get('accuracy', float('nan')):.2f} "
                    f"test {metrics.get('test_accuracy', float('nan')):.2f} "
                    f"LUT {latency[arch.key]:.4f} ms ({spent:.0f}/{budget:.0f} s) {metrics.reason}"
                )
    return done


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default=str(ROOT / "benchmarks/data/conv1d_ort_fp32.csv"))
    parser.add_argument("--target-ms", type=float, default=None)
    parser.add_argument(
        "--target-quantile",
        type=float,
        default=0.25,
        help="without --target-ms: this quantile of the LUT latency of random archs",
    )
    parser.add_argument("--epochs", type=int, default=3, help="supernet epochs")
    parser.add_argument("--warmup-epochs", type=int, default=1)
    parser.add_argument("--latency-weight", type=float, default=1.0)
    parser.add_argument(
        "--derive-samples",
        type=int,
        default=0,
        help="also rank this many archs drawn from the gates by supernet accuracy",
    )
    parser.add_argument(
        "--derive-count", type=int, default=1, help="retrain this many of the ranked archs"
    )
    parser.add_argument(
        "--mixers", nargs="+", default=None, help="supernet candidate mixers (default: all)"
    )
    parser.add_argument("--arch-lr", type=float, default=0.1)
    parser.add_argument("--estimator", choices=["gumbel", "reinforce"], default="reinforce")
    parser.add_argument("--reinforce-samples", type=int, default=4)
    parser.add_argument(
        "--share-kernels", action="store_true", help="ops of one mixer share kernel weights"
    )
    parser.add_argument("--train-epochs", type=float, default=3, help="per-arch training budget")
    parser.add_argument("--compute-ratio", type=float, default=10.0)
    parser.add_argument("--max-random-s", type=float, default=None)
    parser.add_argument("--workers", type=int, default=2, help="random-search evaluations at once")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None, help="write the results as JSON here")
    args = parser.parse_args()

    torch.set_num_threads(1)
    space = get_space("conv1d")
    lut = LUTPredictor.from_profile(args.profile, space)
    precisions = list(json.loads(Path(args.profile).with_suffix(".json").read_text())["precisions"])
    sampled = with_precisions(space, precisions)  # what random search draws from
    data = load_dataset("mnist1d", seed=args.seed)
    rng = np.random.default_rng(args.seed)
    if args.target_ms is None:
        pool = [lut_ms(lut, sampled.sample(rng)) for _ in range(2000)]
        target = float(np.quantile([p for p in pool if p is not None], args.target_quantile))
    else:
        target = args.target_ms
    print(f"target {target:.4f} ms (LUT of {args.profile}; precisions {precisions})")

    start = time.perf_counter()
    searcher = DifferentiableSearcher(
        space,
        seed=args.seed,
        dataset=data,
        latency_predictor=lut,
        latency_target_ms=target,
        epochs=args.epochs,
        warmup_epochs=args.warmup_epochs,
        latency_weight=args.latency_weight,
        arch_lr=args.arch_lr,
        estimator=args.estimator,
        reinforce_samples=args.reinforce_samples,
        share_kernels=args.share_kernels,
        precisions=precisions,
        mixers=args.mixers,
        derive_samples=args.derive_samples,
        derive_count=args.derive_count,
    )
    searcher.ask(args.derive_count)
    search_s = time.perf_counter() - start
    result = searcher.results[0]
    print(f"search {search_s:.1f} s; E[latency] {result.expected_latency_ms:.4f} ms")

    evaluator = TrainEvaluator(space, data, epochs=args.train_epochs, seed=args.seed)
    candidates = []
    for d in result.derived:
        metrics = evaluator.evaluate(d.arch)
        candidates.append((d, metrics))
        print(f"derived (LUT {d.latency_ms:.4f} ms) {d.arch.to_json()}: {dict(metrics)}")
    chosen, derived_metrics = max(candidates, key=lambda c: c[1].get("accuracy", -1.0))
    derived, derived_ms = chosen.arch, measured_ms(space, chosen.arch)
    print(f"derived, best by validation: measured {derived_ms:.4f} ms")

    retrain_s = sum(m.get("train_time_s", 0.0) for _, m in candidates)
    derived_compute = search_s + retrain_s
    budget = args.compute_ratio * derived_compute
    if args.max_random_s is not None:
        budget = min(budget, args.max_random_s)
    derived_archs = [d.arch for d in result.derived]
    randoms = random_search(
        sampled, lut, target, evaluator, budget, args.workers, rng, derived_archs
    )
    spent = sum(r[2].get("train_time_s", 0.0) for r in randoms)
    ok = [r for r in randoms if r[2].ok]
    best_arch, best_lut, best = max(ok, key=lambda r: r[2]["accuracy"])
    best_ms = measured_ms(space, best_arch)

    gap = best["test_accuracy"] - derived_metrics["test_accuracy"]
    report = {
        "space": "conv1d",
        "dataset": "mnist1d",
        "profile": str(args.profile),
        "settings": vars(args),
        "target_ms": target,
        "search_wall_s": search_s,
        "retrain_s": retrain_s,
        "derived": {
            "arch": derived.to_dict(),
            "expected_latency_ms": result.expected_latency_ms,
            "supernet_accuracy": chosen.supernet_accuracy,
            "lut_ms": chosen.latency_ms,
            "measured_ms": derived_ms,
            "measured_over_target": derived_ms / target,
            "metrics": dict(derived_metrics),
            "history": result.history,
            "candidates": [
                {
                    "arch": d.arch.to_dict(),
                    "lut_ms": d.latency_ms,
                    "supernet_accuracy": d.supernet_accuracy,
                    "metrics": dict(m),
                }
                for d, m in candidates
            ],
        },
        "random": {
            "evaluated": len(randoms),
            "failed": len(randoms) - len(ok),
            "train_time_s": spent,
            "compute_ratio": spent / derived_compute,
            "best_arch": best_arch.to_dict(),
            "best_lut_ms": best_lut,
            "best_measured_ms": best_ms,
            "best_metrics": dict(best),
            "test_accuracies": [r[2].get("test_accuracy") for r in randoms],
        },
        "test_accuracy_gap_points": gap,
        "accuracy_within_1_point": gap <= 1.0,
        "latency_ok": derived_ms <= 1.1 * target,
    }
    print(json.dumps({k: v for k, v in report.items() if k not in ("derived", "random")}))
    print(
        f"derived test {derived_metrics['test_accuracy']:.2f} vs best random "
        f"{best['test_accuracy']:.2f} (of {len(randoms)}); measured {derived_ms:.4f} ms "
        f"vs target {target:.4f} ms; search {search_s:.0f} s"
    )
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=2, default=str))


if __name__ == "__main__":
    main()

"""What recomputing batch-norm statistics before scoring (`precise_bn`) changes.

    cd benchmarks && ../.venv/bin/python evaluators_precise_bn.py --archs 10

Trains `--archs` sampled `conv1d` candidates on MNIST-1D for `--epochs` (the README demo's
2 epochs, batch 128, lr 0.004) with and without `precise_bn`, and once more for
`--reference-epochs` as a longer-trained reference. Prints the mean validation accuracy of
each, the time, and how well each short ranking matches the reference's (Spearman).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from scipy.stats import spearmanr

from hwnas.evaluators.train import TrainEvaluator
from hwnas.spaces import get_space


def accuracies(space, archs, epochs: float, precise_bn: bool) -> tuple[np.ndarray, float]:
    evaluator = TrainEvaluator(
        space, "mnist1d", epochs=epochs, batch_size=128, lr=0.004, precise_bn=precise_bn
    )
    start = time.time()
    metrics = [evaluator.evaluate(a) for a in archs]
    return np.array([m["accuracy"] if m.ok else np.nan for m in metrics]), time.time() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--archs", type=int, default=10)
    parser.add_argument("--epochs", type=float, default=2)
    parser.add_argument("--reference-epochs", type=float, default=8)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    space = get_space("conv1d")
    rng = np.random.default_rng(args.seed)
    archs = [space.sample(rng) for _ in range(args.archs)]
    reference, seconds = accuracies(space, archs, args.reference_epochs, True)
    print(
        f"reference, {args.reference_epochs} epochs, precise_bn: "
        f"mean {np.nanmean(reference):.2f} ({seconds:.0f} s)"
    )
    for precise_bn in (False, True):
        acc, seconds = accuracies(space, archs, args.epochs, precise_bn)
        rho = spearmanr(acc, reference, nan_policy="omit")[0]
        print(
            f"{args.epochs} epochs, precise_bn {precise_bn}: mean {np.nanmean(acc):.2f}, "
            f"Spearman with the reference {rho:.3f} ({seconds:.0f} s)",
            flush=True,
        )


if __name__ == "__main__":
    main()

"""Benchmark: validation accuracy of conv1d candidates with every block at int8, trained on
MNIST-1D (2 epochs), to compare quantization rules across versions (run it with PYTHONPATH
at a worktree of another commit for the other side).

    .venv/bin/python benchmarks/evaluators_int8.py --candidates 6
"""

from __future__ import annotations

import argparse
import json
import warnings

import torch

from hwnas.evaluators import get_evaluator
from hwnas.spaces import get_space


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--candidates", type=int, default=6, help="architectures (seeds 0..N-1)")
    ap.add_argument("--epochs", type=float, default=2)
    args = ap.parse_args()
    warnings.simplefilter("ignore")  # the dataset's caveats, said once per evaluator
    torch.set_num_threads(1)
    space = get_space("conv1d")
    evaluator = get_evaluator(
        "train", space, dataset="mnist1d", epochs=args.epochs, batch_size=128, lr=0.004
    )
    accuracies = []
    for seed in range(args.candidates):
        drawn = space.sample(seed)
        arch = space.arch({k: "int8" if k.endswith("precision") else v for k, v in drawn.items()})
        metrics = evaluator.evaluate(arch)
        accuracies.append(round(metrics["accuracy"], 2) if metrics.ok else None)
    done = [a for a in accuracies if a is not None]
    print(json.dumps({"accuracy": accuracies, "mean": round(sum(done) / len(done), 2)}))


if __name__ == "__main__":
    main()

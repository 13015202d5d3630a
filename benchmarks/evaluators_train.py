"""Benchmark: the training evaluator's time per epoch and accuracy on a default candidate.

The default candidates are plain conv nets of the built-in spaces (every block a dense conv
mixer, MLP expansion 2, fp32): `conv1d` on `mnist1d` (1x40) and `conv2d` on `mnist5k`
(1x28x28). Each is trained by TrainEvaluator (AdamW + cosine, batch 128, one torch thread)
in this process; the 1-minute load average is recorded (other processes share the cores).

    .venv/bin/python benchmarks/evaluators_train.py --epochs-1d 15 --epochs-2d 3 \
        --out docs/benchmarks/evaluators_train.json
"""

from __future__ import annotations

import argparse
import json
import os

from hwnas.evaluators.train import TrainEvaluator
from hwnas.spaces import get_space


def plain_conv(space, depths, widths, kernel):
    """Every stage at `depths`/`widths`, every block a dense conv of `kernel`, fp32."""
    choices = {}
    for i, (depth, width) in enumerate(zip(depths, widths)):
        choices |= {f"s{i}.depth": depth, f"s{i}.width": width}
        for j in range(depth):
            block = {"mixer": "conv", "kernel": kernel, "dilation": 1, "expansion": 2.0}
            choices |= {f"s{i}.b{j}.{k}": v for k, v in block.items()}
            choices[f"s{i}.b{j}.precision"] = "fp32"
    return space.arch(choices)


CANDIDATES = {
    "conv1d/mnist1d": (("conv1d", None), "mnist1d", ((2, 2, 2), (32, 48, 64), 5)),
    "conv2d/mnist5k": (("conv2d", (1, 28, 28)), "mnist5k", ((2, 2, 2), (24, 48, 96), 3)),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs-1d", type=float, default=15)
    parser.add_argument("--epochs-2d", type=float, default=3)
    parser.add_argument("--out", help="write the results as JSON here")
    args = parser.parse_args()
    epochs = {"conv1d/mnist1d": args.epochs_1d, "conv2d/mnist5k": args.epochs_2d}
    report = {}
    for name, ((space_name, shape), dataset, arch_args) in CANDIDATES.items():
        space = get_space(space_name, input_shape=shape)
        arch = plain_conv(space, *arch_args)
        load_before = os.getloadavg()[0]
        evaluator = TrainEvaluator(space, dataset, epochs=epochs[name], batch_size=128)
        metrics = evaluator.evaluate(arch)
        report[name] = {
            "arch": arch.to_dict(),
            "status": metrics.status,
            "reason": metrics.reason,
            **dict(metrics),
            "time_per_epoch_s": metrics.get("train_time_s", float("nan")) / epochs[name],
            "load": [load_before, os.getloadavg()[0]],
        }
        shown = {k: v for k, v in report[name].items() if k != "arch"}
        print(name, json.dumps(shown, indent=2), flush=True)
    if args.out:
        with open(args.out, "w") as f:
            json.dump(report, f, indent=2)


if __name__ == "__main__":
    main()

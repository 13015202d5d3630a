"""What a deployed model scores against what the search recorded for it.

conv1d candidates on MNIST-1D, drawn at random with every block precision the space allows
(fp32, fp16, int8, w4a8 mixed), each trained as the `train` evaluator trains a candidate (the
accuracy a run records; `hwnas train` repeats it), then written as the ONNX file `hwnas build
--onnx` writes (`export_deployed_onnx`: int8 blocks static QDQ, w4a8 as int8, fp16 in float16)
with its int8 ranges calibrated on 256 training inputs drawn at random (`calibration_inputs`,
as `hwnas build --calibration` draws them), and once more on random
inputs (as the search timed it). Reports each file's validation accuracy under ONNX Runtime.

    .venv/bin/python benchmarks/deployed_accuracy.py --candidates 8 --epochs 4
"""

from __future__ import annotations

import argparse
import copy
import json
import tempfile
import warnings
from collections import Counter
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch

from hwnas.evaluators.train import TrainEvaluator
from hwnas.experiments.export import calibration_inputs, export_deployed_onnx
from hwnas.spaces import get_space


def onnx_accuracy(path: Path, x: np.ndarray, y: np.ndarray) -> float:
    """Validation accuracy (%) of an ONNX file under ONNX Runtime, in batches of 256."""
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    logits = [session.run(None, {"x": x[i : i + 256]})[0] for i in range(0, len(x), 256)]
    return 100.0 * float((np.concatenate(logits).argmax(1) == y).mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--candidates", type=int, default=8, help="architectures (seeds 0..N-1)")
    parser.add_argument("--epochs", type=float, default=4)
    args = parser.parse_args()
    warnings.simplefilter("ignore")  # the dataset's caveats
    torch.set_num_threads(1)
    space = get_space("conv1d")
    evaluator = TrainEvaluator(space, "mnist1d", epochs=args.epochs)
    data = evaluator.dataset
    x_val, y_val = data.split("val")
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        for seed in range(args.candidates):
            arch = space.sample(seed)
            model, metrics = evaluator.train(arch)
            row = {
                "seed": seed,
                "precisions": dict(Counter(v for k, v in arch.items() if "precision" in k)),
                "mixers": sorted({v for k, v in arch.items() if k.endswith(".mixer")}),
                "recorded": metrics["val_accuracy"],
            }
            for name, calibration in (
                ("calibrated", calibration_inputs(data.x_train)),
                ("random", None),
            ):
                path = Path(scratch) / f"{seed}-{name}.onnx"
                export_deployed_onnx(copy.deepcopy(model), space.input_shape, path, calibration)
                row[name] = onnx_accuracy(path, x_val, y_val)
            rows.append(row)
            print(json.dumps(row), flush=True)
    for name in ("calibrated", "random"):
        gaps = [abs(r[name] - r["recorded"]) for r in rows]
        print(f"{name}: |deployed - recorded| mean {np.mean(gaps):.2f}, max {max(gaps):.2f} points")


if __name__ == "__main__":
    main()

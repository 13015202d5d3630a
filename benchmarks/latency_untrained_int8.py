"""Benchmark: int8 latency of untrained networks, as the latency evaluator and profiles time
them, against the same networks with trained-like BatchNorm layers and briefly trained ones.

Each random architecture (every block int8) is measured at `int8` (the whole network),
`mixed` (the blocks int8, stem, downsamples and head fp32) and `fp32` (the control), in four
states: freshly built with the exporter's shared initializers quantized as they were before
2026-12-07 (`before`), freshly built (`fresh`), with its BatchNorm layers given seeded random
statistics and affine parameters (`bn`), and after `--train-steps` steps of the `train`
evaluator (`trained`; conv1d on mnist1d only). Beside each latency: the Conv nodes ONNX
Runtime left as float kernels between DequantizeLinear and QuantizeLinear (`unfused`).
`--parts` measures instead, as a profile does, one int8 block chain (8 copies) per mixer of
the second stage, before and after, per block.

    .venv/bin/python benchmarks/latency_untrained_int8.py --space conv1d -n 10 --train-steps 300
    .venv/bin/python benchmarks/latency_untrained_int8.py --space conv1d --parts
"""

from __future__ import annotations

import argparse
import contextlib
import json
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch
from torch import nn

from hwnas.evaluators.train import TrainEvaluator
from hwnas.predictors import measure_latency, onnx_precision
from hwnas.predictors.defaults import BLOCK_COPIES
from hwnas.predictors.onnx_export import export_onnx
from hwnas.predictors.parts import build_part, metaformer_parts
from hwnas.predictors.profile_plan import sample_archs
from hwnas.spaces import SearchSpace, get_space, reparameterize, set_fake_quant

PRECISIONS = ("int8", "mixed", "fp32")


@contextlib.contextmanager
def shared_initializers_kept() -> Iterator[None]:
    """Quantize as before the fix: the exporter's shared initializers left as they are."""
    own = onnx_precision._own_initializers
    onnx_precision._own_initializers = lambda graph: graph
    try:
        yield
    finally:
        onnx_precision._own_initializers = own


def trained_like_bn(model: nn.Module, seed: int) -> nn.Module:
    """Seeded random BatchNorm statistics and affine parameters of a trained net's scale."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                n = m.num_features
                m.weight.copy_(0.5 + torch.rand(n, generator=g))
                m.bias.copy_(0.1 * torch.randn(n, generator=g))
                m.running_mean.copy_(0.1 * torch.randn(n, generator=g))
                m.running_var.copy_(0.5 + torch.rand(n, generator=g))
    return model


def unfused_convs(model: nn.Module, input_shape: tuple[int, ...], precision: str) -> int:
    """Conv nodes of ONNX Runtime's optimized graph that read a DequantizeLinear output."""
    example = torch.randn(1, *input_shape)
    spec = onnx_precision.layer_precisions(model) if precision == "mixed" else precision
    graph = onnx_precision.apply_precisions(export_onnx(model, example), (1, *input_shape), spec)
    with tempfile.TemporaryDirectory() as tmp:
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.log_severity_level = 3
        options.optimized_model_filepath = str(Path(tmp) / "optimized.onnx")
        ort.InferenceSession(graph.SerializeToString(), options, providers=["CPUExecutionProvider"])
        nodes = onnx.load(options.optimized_model_filepath).graph.node
    dequantized = {o for n in nodes if n.op_type == "DequantizeLinear" for o in n.output}
    return sum(n.op_type == "Conv" and n.input[0] in dequantized for n in nodes)


def row(model: nn.Module, input_shape: tuple[int, ...]) -> dict[str, list[float]]:
    """precision -> [latency ms, unfused Convs]."""
    model = set_fake_quant(reparameterize(model.eval()), False)
    out = {}
    for precision in PRECISIONS:
        ms = measure_latency(model, input_shape, precision=precision).latency_ms
        out[precision] = [round(ms, 4), unfused_convs(model, input_shape, precision)]
    return out


def parts(space: SearchSpace, seed: int) -> None:
    """Per block of each mixer's int8 chain: [latency ms, unfused Convs], before and after."""
    mixers = set()
    for part in metaformer_parts(space):
        if part.kind != "block" or part.stage != 1 or part.block.mixer in mixers:
            continue
        mixers.add(part.block.mixer)
        torch.manual_seed(seed)
        chain = build_part(space, part, BLOCK_COPIES).eval()
        chain = set_fake_quant(reparameterize(chain), False)
        states = {}
        for state in ("before", "fresh"):
            with shared_initializers_kept() if state == "before" else contextlib.nullcontext():
                ms = measure_latency(chain, part.input_shape, precision="int8").latency_ms
                unfused = unfused_convs(chain, part.input_shape, "int8")
            states[state] = [round(ms / BLOCK_COPIES, 4), unfused]
        print(json.dumps({"part": part.id, **states}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--space", default="conv1d")
    ap.add_argument("-n", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--train-steps", type=int, default=0, help="0: no trained state")
    ap.add_argument("--parts", action="store_true", help="block chains, as a profile's")
    args = ap.parse_args()
    space = get_space(args.space)
    if args.parts:
        parts(space, args.seed)
        return
    trainer = None
    if args.train_steps:
        trainer = TrainEvaluator(space, "mnist1d", steps=args.train_steps, seed=args.seed)
    results = []
    for i, arch in enumerate(sample_archs(space, args.n, args.seed, ["int8"])):
        torch.manual_seed(args.seed + i)
        fresh = space.build(arch)
        states = {}
        with shared_initializers_kept():
            states["before"] = row(fresh, space.input_shape)
        states["fresh"] = row(fresh, space.input_shape)
        bn = trained_like_bn(space.build(arch), args.seed + i)
        states["bn"] = row(bn, space.input_shape)
        if trainer is not None:
            states["trained"] = row(trainer.train(arch)[0], space.input_shape)
        results.append(states)
        print(json.dumps({"arch": arch.key, **states}))
    summary = {}
    for state in results[0]:
        for precision in PRECISIONS:
            ratio = [r[state][precision][0] / r["fresh"][precision][0] for r in results]
            unfused = [r[state][precision][1] for r in results]
            summary[f"{state}/{precision}"] = {
                "median_ratio_to_fresh": round(float(np.median(ratio)), 3),
                "min_ratio": round(min(ratio), 3),
                "max_ratio": round(max(ratio), 3),
                "nets_with_unfused": sum(u > 0 for u in unfused),
                "unfused_total": sum(unfused),
            }
    print(json.dumps({"space": args.space, "n": len(results), "summary": summary}, indent=1))


if __name__ == "__main__":
    main()

"""Benchmark: the deployed ONNX graph (batch dynamic) vs the graph the search timed (batch 1).

For every mixer, 1D and 2D, a small network (stem, then 2 blocks of the mixer at 32 channels
and 2 at 64 after a stride-2 downsample) is exported both ways: as the latency evaluator
does (`export_onnx` with a batch-1 example) and as `hwnas build --onnx` does (a dynamic
batch); each graph at fp32 and with every block int8 (`apply_precisions`, random
calibration) is timed as `measure_latency` times (one thread, thread clock, the lowest of 5
round medians of 200 runs, the two graphs' rounds alternating). It prints one JSON line per
network and precision: the shape-computation nodes (Shape, Gather, Unsqueeze, Concat) of each
graph and both latencies.

    .venv/bin/python benchmarks/onnx_dynamic_batch.py
"""

from __future__ import annotations

import argparse
import json
import os
from collections import Counter

import numpy as np
import onnx
import onnxruntime as ort
import torch

from hwnas.predictors.backends import CLOCKS
from hwnas.predictors.measure import best_round_ms
from hwnas.predictors.onnx_export import INPUT_NAME, export_onnx
from hwnas.predictors.onnx_precision import apply_precisions, layer_precisions
from hwnas.spaces import reparameterize, set_fake_quant
from hwnas.spaces.blocks import MIXERS, BlockConfig, StageConfig
from hwnas.spaces.network import MetaFormerNet

SHAPE_OPS = ("Shape", "Gather", "Unsqueeze", "Concat")
INPUTS = {1: (1, 40), 2: (3, 8, 8)}


def network(mixer: str, dim: int, precision: str) -> torch.nn.Module:
    """Stem, 2 blocks of `mixer` at 32 channels, 2 at 64 (stride 2); inference form."""
    kernel = 7 if mixer in ("lkconv", "inception") else 3
    block = BlockConfig(mixer, kernel, 1, 2.0, precision)
    spatial = INPUTS[dim][1:]
    stages = [
        StageConfig(32, 1, spatial, (block, block)),
        StageConfig(64, 2, tuple(s // 2 for s in spatial), (block, block)),
    ]
    torch.manual_seed(0)
    model = MetaFormerNet(INPUTS[dim][0], 16, 3, 1, stages, 10).eval()
    return set_fake_quant(reparameterize(model), False)


def graphs(model: torch.nn.Module, dim: int, precision: str) -> dict[str, onnx.ModelProto]:
    """The search's timed graph (batch 1) and the deployed one (dynamic batch)."""
    shape = (1, *INPUTS[dim])
    blocks = precision if precision == "fp32" else layer_precisions(model)
    return {
        name: apply_precisions(
            export_onnx(model, torch.randn(batch, *INPUTS[dim]), dyn), shape, blocks
        )
        for name, batch, dyn in (("static", 1, False), ("dynamic", 3, True))
    }


def session(graph: onnx.ModelProto) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 3
    return ort.InferenceSession(
        graph.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )


def latencies(graphs_: dict[str, onnx.ModelProto], dim: int, runs: int, rounds: int):
    """Each graph's latency in ms (lowest round median), rounds alternating between graphs."""
    feed = {INPUT_NAME: np.random.default_rng(0).standard_normal((1, *INPUTS[dim]), np.float32)}
    sessions = {name: session(g) for name, g in graphs_.items()}
    now = CLOCKS["thread"]
    medians: dict[str, list[float]] = {name: [] for name in sessions}
    for s in sessions.values():
        for _ in range(20):
            s.run(None, feed)
    for _ in range(rounds):
        for name, s in sessions.items():
            times = []
            for _ in range(runs):
                start = now()
                s.run(None, feed)
                times.append((now() - start) / 1e6)
            medians[name].append(float(np.median(times)))
    return {name: round(best_round_ms(m), 4) for name, m in medians.items()}


def shape_nodes(graph: onnx.ModelProto) -> dict[str, int]:
    counts = Counter(n.op_type for n in graph.graph.node)
    return {op: counts[op] for op in SHAPE_OPS if counts[op]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mixers", nargs="*", default=list(MIXERS))
    ap.add_argument("--runs", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    for dim in (1, 2):
        for mixer in args.mixers:
            for precision in ("fp32", "int8"):
                model = network(mixer, dim, precision)
                both = graphs(model, dim, precision)
                ms = latencies(both, dim, args.runs, args.rounds)
                row = {"dim": dim, "mixer": mixer, "precision": precision}
                row |= {f"{n}_shape_nodes": shape_nodes(g) for n, g in both.items()}
                row |= {f"{n}_ms": v for n, v in ms.items()}
                row["dynamic_over_static"] = round(ms["dynamic"] / ms["static"], 3)
                print(json.dumps(row), flush=True)
    print(json.dumps({"loadavg_1min_at_end": round(os.getloadavg()[0], 2)}))


if __name__ == "__main__":
    main()

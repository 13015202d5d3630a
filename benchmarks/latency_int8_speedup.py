"""Benchmark: measured int8 (ONNX Runtime static QDQ) vs fp32 latency of random whole networks.

Each architecture of the space is measured with every block at fp32 and with every block at
int8 (stem, downsamples and head stay fp32, as built), from one export per network.

    .venv/bin/python benchmarks/latency_int8_speedup.py --space conv2d -n 8
"""

from __future__ import annotations

import argparse
import json
import os

import numpy as np

from hwnas.predictors.measure import measure_latencies
from hwnas.predictors.profile_plan import sample_archs
from hwnas.spaces import get_space, reparameterize, set_fake_quant


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--space", default="conv2d")
    ap.add_argument("-n", type=int, default=8)
    ap.add_argument("--seed", type=int, default=3)
    args = ap.parse_args()
    space = get_space(args.space)
    rows = []
    for arch in sample_archs(space, args.n, args.seed, ["int8"]):
        model = set_fake_quant(reparameterize(space.build(arch).eval()), False)
        fp32, int8 = measure_latencies(model, space.input_shape, ["fp32", "mixed"])
        rows.append((arch.key, fp32.latency_ms, int8.latency_ms))
        print(
            json.dumps({"arch": arch.key, "fp32_ms": fp32.latency_ms, "int8_ms": int8.latency_ms})
        )
    ratio = np.array([f / i for _, f, i in rows])
    print(
        json.dumps(
            {
                "space": args.space,
                "n": len(rows),
                "speedup_median": round(float(np.median(ratio)), 3),
                "speedup_min": round(float(ratio.min()), 3),
                "speedup_max": round(float(ratio.max()), 3),
                "loadavg_1min_at_end": round(os.getloadavg()[0], 2),
            }
        )
    )


if __name__ == "__main__":
    main()

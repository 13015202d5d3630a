"""The predictor searcher with Weisfeiler-Lehman graph features of the cell, tried against the
HV target and not kept (docs/benchmarks.md).

    cd benchmarks && ../.venv/bin/python search_wl_features.py --seeds 6 \
        --settings '{"surrogate": "gaussian_process"}'

NAS-BOWL's surrogate reads a cell as a graph of its ops and counts its WL subtree patterns.
Here, in this process only, `NasBench201Space.encode` returns the space's own encoding
followed by those counts: the op graph of the cell without its dead ops (one node per live
edge, plus the input and the output), each node's label extended `--iterations` times by the
sorted labels of the nodes feeding it, every label of every iteration counted. The default
searcher on the same seeds is `search_multi.py --searchers predictor --jobs 1` with the same
`--settings` and `--latency`.
"""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter

import numpy as np
import search_multi

from hwnas.spaces import Arch
from hwnas.spaces.nasbench201 import (
    EDGES,
    NasBench201Space,
    _source,
    _target,
    without_dead_ops,
)


def wl_labels(arch: Arch, iterations: int) -> Counter[str]:
    """The counts of the cell's WL subtree labels after 0 to `iterations` iterations."""
    ops = without_dead_ops(arch)
    live = [e for e in EDGES if ops[e] != "none"]
    labels = {"in": "in", "out": "out", **{e: ops[e] for e in live}}
    feeders = {
        "in": [],
        "out": [e for e in live if _target(e) == 3],
        **{
            e: ["in"] if _source(e) == 0 else [f for f in live if _target(f) == _source(e)]
            for e in live
        },
    }
    counts = Counter(labels.values())
    for _ in range(iterations):
        labels = {
            n: f"{labels[n]}({','.join(sorted(labels[f] for f in feeders[n]))})" for n in labels
        }
        counts.update(labels.values())
    return counts


def use_wl_features(space: NasBench201Space, iterations: int) -> int:
    """Make every NB201 space's encoding carry the WL counts; the number of WL labels."""
    vocabulary = sorted(set().union(*(wl_labels(a, iterations) for a in space.enumerate())))
    column = {label: i for i, label in enumerate(vocabulary)}
    own_encoding = NasBench201Space.encode

    def encode(self: NasBench201Space, arch: Arch) -> np.ndarray:
        counts = np.zeros(len(column), dtype=np.float32)
        for label, n in wl_labels(arch, iterations).items():
            counts[column[label]] = n
        return np.concatenate([own_encoding(self, arch), counts])

    NasBench201Space.encode = encode
    return len(vocabulary)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=6)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--batch", type=int, default=10)
    parser.add_argument("--iterations", type=int, default=2)
    parser.add_argument("--settings", type=json.loads, default={}, help="searcher settings")
    parser.add_argument("--latency", nargs="+", default=["hw_fpga_latency_ms"])
    args = parser.parse_args()
    print(
        "WL labels:",
        use_wl_features(search_multi.tabular(search_multi.SPACES[0]).space, args.iterations),
    )
    # what search_multi.ratios reads: the protocol's plain predictor on the full space
    args.reference, args.known_latency, args.space = False, False, search_multi.SPACES[0]
    for latency in args.latency:
        start = time.time()
        seeds = range(args.first_seed, args.first_seed + args.seeds)
        # one process: the patched encoding does not reach joblib's workers
        r = np.array(
            [search_multi.ratios("predictor", latency, s, args.batch, args) for s in seeds]
        )
        print(
            f"| {latency} | "
            + " | ".join(f"{m:.3f} ± {sd:.3f}" for m, sd in zip(r.mean(0), r.std(0)))
            + f" | {time.time() - start:.0f} s",
            flush=True,
        )


if __name__ == "__main__":
    main()

"""NAS-Bench-201 cells with dead ops and their twins without them (docs/benchmarks.md, "The
space without dead ops").

A dead op lies on no path from the cell's input to its output; `nasbench201-pruned` maps each
cell to its twin with those ops set to `none`. This prints how many cells have a twin, how far
the table's accuracies of twins differ (training noise if as large as for twins that compute
the same function), and how often the twin with dead ops is slower on each device. "Same
function" here: no dead convolution fed only zeros (its input node unreachable) whose output
reaches the cell's output, where its batch norm's shift would pass on.

    .venv/bin/python benchmarks/nb201_twins.py
"""

from __future__ import annotations

import numpy as np

from hwnas.evaluators.tabular import load_nb201
from hwnas.spaces import get_space
from hwnas.spaces.nasbench201 import live_nodes

LATENCIES = ("hw_fpga_latency_ms", "hw_eyeriss_latency_ms", "hw_pixel3_latency_ms")
LATENCIES += ("hw_raspi4_latency_ms",)
FULL = get_space("nasbench201")


def same_function(cell: str) -> bool:
    """Whether the cell computes what its twin does: no dead convolution fed only zeros
    reaches the output."""
    ops = dict(FULL.from_string(cell))
    fed, feeding = live_nodes(ops)
    return not any(
        op.startswith("nor_conv") and int(edge[-1]) not in fed and int(edge[0]) in feeding
        for edge, op in ops.items()
    )


def main() -> None:
    table = load_nb201(latency=False)
    pruned = get_space("nasbench201-pruned")
    pairs, exact = [], []
    for index, cell in table["arch_str"].items():
        twin = pruned.to_string(pruned.from_string(cell))
        if twin != cell:
            pairs.append((index, FULL.index(FULL.from_string(twin))))
            exact.append(same_function(cell))
    pairs, exact = np.array(pairs), np.array(exact)
    print(f"cells with a twin without dead ops: {len(pairs)} of {len(table)}")
    print(f"twins computing the same function: {int(exact.sum())}")
    for column in ("cifar10valid_valid_acc_200ep", "cifar10_test_200ep"):
        gap = table[column].to_numpy()[pairs[:, 0]] - table[column].to_numpy()[pairs[:, 1]]
        rms, rms_exact = np.sqrt(np.mean(gap**2)), np.sqrt(np.mean(gap[exact] ** 2))
        print(f"{column}: mean gap {gap.mean():.3f}, RMS {rms:.2f} (same function {rms_exact:.2f})")
    for column in LATENCIES:
        gap = table[column].to_numpy()[pairs[:, 0]] - table[column].to_numpy()[pairs[:, 1]]
        print(f"{column}: slower with dead ops in {np.mean(gap > 0):.0%}, by {gap.mean():.2f} ms")


if __name__ == "__main__":
    main()

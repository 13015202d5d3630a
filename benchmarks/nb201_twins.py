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

LATENCIES = ("hw_fpga_latency_ms", "hw_eyeriss_latency_ms", "hw_pixel3_latency_ms")
LATENCIES += ("hw_raspi4_latency_ms",)


def edges(cell: str) -> dict[tuple[int, int], str]:
    """(source node, target node) -> op of a cell string."""
    ops = {}
    for target, node in enumerate(cell.split("+"), start=1):
        for token in node.strip("|").split("|"):
            op, source = token.split("~")
            ops[(int(source), target)] = op
    return ops


def reachable(ops: dict[tuple[int, int], str], start: int, forward: bool) -> set[int]:
    """The nodes reached from `start` over ops other than `none` (backward: reaching it)."""
    seen = {start}
    grown = True
    while grown:
        grown = False
        for (i, j), op in ops.items():
            a, b = (i, j) if forward else (j, i)
            if op != "none" and a in seen and b not in seen:
                seen.add(b)
                grown = True
    return seen


def same_function(cell: str) -> bool:
    """Whether the cell computes what its twin does: no dead convolution fed only zeros
    reaches the output."""
    ops = edges(cell)
    fed, feeding = reachable(ops, 0, True), reachable(ops, 3, False)
    return not any(
        op.startswith("nor_conv") and i not in fed and j in feeding for (i, j), op in ops.items()
    )


def main() -> None:
    table = load_nb201(latency=False)
    full, pruned = get_space("nasbench201"), get_space("nasbench201-pruned")
    pairs, exact = [], []
    for index, cell in table["arch_str"].items():
        twin = pruned.to_string(pruned.from_string(cell))
        if twin != cell:
            pairs.append((index, full.index(full.from_string(twin))))
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

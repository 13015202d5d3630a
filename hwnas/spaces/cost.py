"""Analytic cost of a network: parameters, multiply-accumulates, size and activation traffic.

What a cost is (no torch); `hwnas.spaces.counting` counts one on a model.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from hwnas.spaces.blocks import WEIGHT_BYTES


@dataclass(frozen=True)
class Cost:
    """Per-sample cost. `macs` counts the multiply-accumulates of conv and linear layers and
    of attention's two products (not the FFT mixer's transforms and filter, nor pooling);
    `size_bytes` counts the weights of quantized layers at their block's precision (each
    tensor packed into whole bytes) and every other parameter (biases, norms, the FFT mixer's
    frequency filter, which stays fp32) as fp32, but not the quantization scales and zero
    points a deployed model stores beside them; `activations` counts elements read and
    written by the conv and linear layers (attention's through its qkv and output
    projections: its score matrix is not counted), a proxy for memory traffic."""

    params: int
    macs: int
    size_bytes: int
    activations: int

    def as_dict(self) -> dict[str, float]:
        """The counts as floats by field name, ready to merge into `Metrics`."""
        return {k: float(v) for k, v in asdict(self).items()}

    def __add__(self, other: Cost) -> Cost:
        """Costs of disjoint parts of a network add up to the cost of the whole."""
        return Cost(
            self.params + other.params,
            self.macs + other.macs,
            self.size_bytes + other.size_bytes,
            self.activations + other.activations,
        )


def weight_bytes(numel: int, precision: str) -> int:
    """Storage of one weight tensor at `precision`, packed into whole bytes."""
    return math.ceil(numel * WEIGHT_BYTES[precision])

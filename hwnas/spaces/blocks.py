"""What a MetaFormer block may be, by name: its token mixers, its precisions, its config.

Plain data and shape arithmetic, no torch: a space is read, validated and searched with these
alone, and torch is imported only where a model is built or counted (the modules `counting`,
`network`, `nasbench201_net` and the `mixers` and `quant` layers they use).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

#: mixer name -> (uses kernel, uses dilation)
MIXERS: dict[str, tuple[bool, bool]] = {
    "conv": (True, True),
    "dwconv": (True, True),
    "mbconv": (True, True),
    "lkconv": (True, True),
    "inception": (True, False),
    "pool": (True, False),
    "attn": (False, False),
    "fft": (False, False),
    "identity": (False, False),
}

#: mixers with a branch of fixed extent beside their kernel (inception's 3-wide square one):
#: like the kernel, it must fit the feature map, or it mostly sees padding
FIXED_BRANCH: dict[str, int] = {"inception": 3}

#: precision name -> (weight bits, activation bits); None means a float format.
PRECISIONS: dict[str, tuple[int | None, int | None]] = {
    "fp32": (None, None),
    "fp16": (None, None),
    "int8": (8, 8),
    "w4a8": (4, 8),
}
#: storage bytes per weight element at each precision.
WEIGHT_BYTES: dict[str, float] = {"fp32": 4.0, "fp16": 2.0, "int8": 1.0, "w4a8": 0.5}


@dataclass(frozen=True)
class BlockConfig:
    mixer: str
    kernel: int | None
    dilation: int | None
    expansion: float
    precision: str


@dataclass(frozen=True)
class StageConfig:
    width: int
    stride: int
    spatial: tuple[int, ...]  # feature-map size inside the stage
    blocks: tuple[BlockConfig, ...]


def mlp_width(channels: int, expansion: float) -> int:
    """The hidden width of a block's MLP."""
    return max(1, round(channels * expansion))


def receptive_field(kernel: int, dilation: int) -> int:
    """Effective extent of a dilated kernel: dilation * (kernel - 1) + 1."""
    return dilation * (kernel - 1) + 1


def extent(mixer: str, kernel: int, dilation: int) -> int:
    """How far the widest branch of a mixer reaches: its dilated kernel, or a fixed branch."""
    return max(receptive_field(kernel, dilation), FIXED_BRANCH.get(mixer, 1))


def tokens(spatial: Sequence[int]) -> int:
    """The number of positions of a feature map (what attention's cost grows with)."""
    return math.prod(spatial)

"""The MetaFormer network: stem -> stages of blocks -> head, built from plain per-block configs.

Every block is `x + mixer(norm(x))` then `x + mlp(norm(x))`, so any token mixer plugs in. The
stem, the downsampling layers and the classifier stay fp32; each block runs at its own
precision (see `hwnas.spaces.quant`). `block_cost` counts one block's cost, once per
structure, for `MetaFormerSpace.cost`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from functools import lru_cache

import torch
from torch import nn

from hwnas.spaces.blocks import BlockConfig, StageConfig, mlp_width
from hwnas.spaces.cost import Cost, weight_bytes
from hwnas.spaces.counting import count_cost
from hwnas.spaces.mixers import LKConvMixer, build_mixer, conv, norm
from hwnas.spaces.quant import QUANTIZED_LAYERS, QLinear


class MetaFormerBlock(nn.Module):
    def __init__(self, dim: int, channels: int, cfg: BlockConfig, spatial: Sequence[int]):
        super().__init__()
        self.mixer = build_mixer(
            cfg.mixer, dim, channels, cfg.kernel or 1, cfg.dilation or 1, cfg.precision, spatial
        )
        self.norm1 = norm(dim, channels) if self.mixer is not None else None
        hidden = mlp_width(channels, cfg.expansion)
        self.norm2 = norm(dim, channels)
        self.mlp = nn.Sequential(
            conv(dim, channels, hidden, 1, precision=cfg.precision),
            nn.GELU(),
            conv(dim, hidden, channels, 1, precision=cfg.precision),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.mixer is not None:
            x = x + self.mixer(self.norm1(x))
        return x + self.mlp(self.norm2(x))


def stem(dim: int, cin: int, width: int, kernel: int, stride: int) -> nn.Module:
    """The input conv (padding kernel // 2, also for an even kernel), norm and GELU."""
    c = conv(dim, cin, width, kernel, stride=stride, padding=kernel // 2)
    return nn.Sequential(c, norm(dim, width), nn.GELU())


def downsample(dim: int, cin: int, cout: int, stride: int) -> nn.Module:
    """Patch-merging conv (kernel = stride) between stages, or a 1x1 conv for a width change."""
    if stride > 1:
        return nn.Sequential(
            conv(dim, cin, cout, stride, stride=stride, padding=0), norm(dim, cout)
        )
    if cin != cout:
        return nn.Sequential(conv(dim, cin, cout, 1), norm(dim, cout))
    return nn.Identity()


class MetaFormerNet(nn.Module):
    def __init__(
        self,
        in_channels: int,
        stem_width: int,
        stem_kernel: int,
        stem_stride: int,
        stages: Sequence[StageConfig],
        num_classes: int,
    ):
        super().__init__()
        dim = len(stages[0].spatial)
        self.spatial_dims = tuple(range(2, 2 + dim))
        self.stem = stem(dim, in_channels, stem_width, stem_kernel, stem_stride)
        layers, cin = [], stem_width
        for st in stages:
            blocks = [MetaFormerBlock(dim, st.width, b, st.spatial) for b in st.blocks]
            layers.append(nn.Sequential(downsample(dim, cin, st.width, st.stride), *blocks))
            cin = st.width
        self.stages = nn.Sequential(*layers)
        self.head_norm = norm(dim, cin)
        self.head = QLinear(cin, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.head_norm(self.stages(self.stem(x)))
        return self.head(x.mean(dim=self.spatial_dims))


def reparameterize(model: nn.Module) -> nn.Module:
    """Merge train-time branches (large-kernel + small-kernel) into their inference form."""
    for m in model.modules():
        if isinstance(m, LKConvMixer):
            m.reparameterize()
    return model


@lru_cache(maxsize=65536)
def block_cost(dim: int, width: int, block: BlockConfig, spatial: tuple[int, ...]) -> Cost:
    """Counted once per structure (at fp32): every layer of a block has the block's precision,
    which changes only the bytes of its weights."""
    cost, weights = _block_structure(dim, width, replace(block, precision="fp32"), spatial)
    size = sum(weight_bytes(n, block.precision) - weight_bytes(n, "fp32") for n in weights)
    return replace(cost, size_bytes=cost.size_bytes + size)


@lru_cache(maxsize=16384)
def _block_structure(
    dim: int, width: int, block: BlockConfig, spatial: tuple[int, ...]
) -> tuple[Cost, tuple[int, ...]]:
    """A block's cost and the sizes of its quantizable weights."""
    with torch.device("meta"):
        model = MetaFormerBlock(dim, width, block, spatial)
    weights = tuple(m.weight.numel() for m in model.modules() if isinstance(m, QUANTIZED_LAYERS))
    return count_cost(model, (width, *spatial), throwaway=True), weights

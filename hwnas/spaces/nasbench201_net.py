"""The NAS-Bench-201 network: the cell's edge ops, the cell, the residual reductions between
stages, and the counted costs of its parts (torch: imported when a cell is built or counted).
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import TYPE_CHECKING

import torch
from torch import nn

from hwnas.spaces.arch import Arch
from hwnas.spaces.cost import Cost
from hwnas.spaces.counting import meta_cost
from hwnas.spaces.mixers import conv
from hwnas.spaces.nasbench201 import EDGES

if TYPE_CHECKING:
    from hwnas.spaces.nasbench201 import NasBench201Space


class ReLUConvBN(nn.Sequential):
    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1):
        super().__init__(
            nn.ReLU(), conv(2, cin, cout, kernel, stride=stride, bias=False), nn.BatchNorm2d(cout)
        )


def _edge_op(op: str, channels: int) -> nn.Module | None:
    if op == "none":
        return None
    if op == "skip_connect":
        return nn.Identity()
    if op == "avg_pool_3x3":
        return nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)
    return ReLUConvBN(channels, channels, 1 if op == "nor_conv_1x1" else 3)


class Cell(nn.Module):
    def __init__(self, ops: Mapping[str, str], channels: int):
        super().__init__()
        self.edges = nn.ModuleDict()
        for edge in EDGES:
            op = _edge_op(ops[edge], channels)
            if op is not None:
                self.edges[edge.replace("<-", "_")] = op

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nodes = [x]
        for j in (1, 2, 3):
            inputs = [
                self.edges[f"{j}_{i}"](nodes[i]) for i in range(j) if f"{j}_{i}" in self.edges
            ]
            nodes.append(sum(inputs[1:], inputs[0]) if inputs else torch.zeros_like(x))
        return nodes[3]


class ResidualReduction(nn.Module):
    """NB201's basic residual block between stages (stride 2, channels doubled)."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.conv_a = ReLUConvBN(cin, cout, 3, stride=2)
        self.conv_b = ReLUConvBN(cout, cout, 3)
        # ceil_mode: same as NB201 on even sizes, and matches conv_a on odd ones
        self.shortcut = nn.Sequential(
            nn.AvgPool2d(2, 2, ceil_mode=True), conv(2, cin, cout, 1, bias=False)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.shortcut(x) + self.conv_b(self.conv_a(x))


class NasBench201Net(nn.Module):
    def __init__(
        self, ops: Mapping[str, str], in_channels: int, channels: int, cells: int, num_classes: int
    ):
        super().__init__()
        layers: list[nn.Module] = [
            conv(2, in_channels, channels, 3, bias=False),
            nn.BatchNorm2d(channels),
        ]
        c = channels
        for stage in range(3):
            if stage:
                layers.append(ResidualReduction(c, 2 * c))
                c *= 2
            layers += [Cell(ops, c) for _ in range(cells)]
        layers += [nn.BatchNorm2d(c), nn.ReLU()]
        self.features = nn.Sequential(*layers)
        self.classifier = conv(2, c, num_classes, 1)  # a linear layer on the pooled features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x).mean(dim=(2, 3), keepdim=True)
        return self.classifier(x).flatten(1)


@lru_cache(maxsize=256)
def frame_cost(space: NasBench201Space) -> Cost:
    empty = Arch(space.name, space.version, dict.fromkeys(EDGES, "none"))
    return meta_cost(lambda: space.build(empty), space.input_shape)


@lru_cache(maxsize=256)
def edge_cost(op: str, shape: tuple[int, int, int]) -> Cost:
    if op == "none":
        return Cost(0, 0, 0, 0)
    return meta_cost(lambda: _edge_op(op, shape[0]), shape)

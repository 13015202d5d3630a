"""The separately measurable parts of a MetaFormer network, and the ids that name them.

A network of a MetaFormer space is: stem -> per stage (downsample, blocks) -> head. A lookup
table measures each distinct part once at the input shape it sees in the network: every
block configuration per stage and width, the stem, every downsample (per stage, input width
and output width) and the head per last-stage width. `overhead` parts are pass-through models
at each of those input shapes: the runtime's fixed cost per call, which a sum of separately
timed parts would otherwise count once per part instead of once per network.

Blocks are timed as a chain of `defaults.BLOCK_COPIES` independent copies (latency / copies):
a block timed alone keeps its weights in the core's cache from one run to the next, which it
does not inside a network, where the other layers evict them (the large late-stage blocks
are memory-bound at batch 1); a chain of copies with their own weights sees that traffic.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from torch import nn

from hwnas.spaces.blocks import BlockConfig
from hwnas.spaces.errors import whole_number
from hwnas.spaces.metaformer import MetaFormerSpace
from hwnas.spaces.mixers import norm
from hwnas.spaces.network import MetaFormerBlock, downsample, stem
from hwnas.spaces.quant import QLinear


def block_copies_problem(value: Any) -> str | None:
    """Why `value` cannot be a `block_copies` (an integer >= 1: a chain's latency is divided
    by it), or None."""
    if not whole_number(value) or value < 1:
        return f"block_copies must be an integer >= 1, not {value!r}"
    return None


@dataclass(frozen=True)
class Part:
    """One measurable part: `kind` is block, stem, downsample, head or overhead."""

    kind: str
    input_shape: tuple[int, ...]  # without batch
    stage: int = -1
    width: int = 0  # block/head: channels; downsample: output channels
    cin: int = 0  # downsample: input channels
    block: BlockConfig | None = None  # blocks, at precision fp32 (precision is measured apart)

    @property
    def id(self) -> str:
        """A stable name without precision (the profile adds the precision)."""
        if self.kind == "block":
            b = self.block
            return (
                f"block|s{self.stage}|w{self.width}|{b.mixer}|k{b.kernel}|d{b.dilation}"
                f"|e{b.expansion:g}"
            )
        if self.kind == "downsample":
            return f"downsample|s{self.stage}|{self.cin}->{self.width}"
        if self.kind == "head":
            return f"head|w{self.width}"
        if self.kind == "overhead":
            return "overhead|" + "x".join(str(s) for s in self.input_shape)
        return self.kind


def block_id(stage: int, width: int, block: BlockConfig) -> str:
    return Part("block", (), stage, width, block=block).id


def downsample_id(stage: int, cin: int, cout: int) -> str:
    return Part("downsample", (), stage, cout, cin).id


def head_id(width: int) -> str:
    return Part("head", (), width=width).id


def overhead_id(shape: tuple[int, ...]) -> str:
    return Part("overhead", tuple(shape)).id


class _GlobalMean(nn.Module):
    def __init__(self, dims: tuple[int, ...]):
        super().__init__()
        self.dims = dims

    def forward(self, x):
        return x.mean(dim=self.dims)


class _PassThrough(nn.Module):
    def forward(self, x):
        return x.clone()


def stage_inputs(space: MetaFormerSpace) -> list[tuple[tuple[int, ...], list[int]]]:
    """Per stage: the spatial size entering it (before its downsample) and the widths that may
    enter it (the stem width, then the previous stage's widths)."""
    stem = space.spec.stem
    spatial = tuple(
        (s + 2 * (stem.kernel // 2) - stem.kernel) // stem.stride + 1 for s in space.input_shape[1:]
    )
    out, widths = [], [stem.width]
    for plan in space.plans:
        out.append((spatial, widths))
        spatial, widths = plan.spatial, list(plan.widths)
    return out


def downsample_needed(stride: int, cin: int, cout: int) -> bool:
    return stride > 1 or cin != cout


def metaformer_parts(space: MetaFormerSpace) -> Iterator[Part]:
    """Every part a lookup table of `space` needs, blocks first (what searchers need most)."""
    yield from _block_parts(space)
    yield Part("stem", tuple(space.input_shape))
    yield from _downsample_parts(space)
    yield from _head_parts(space)
    for shape in _overhead_shapes(space):
        yield Part("overhead", shape)


def _block_parts(space: MetaFormerSpace) -> Iterator[Part]:
    """Per stage and width, every block option at every expansion, at fp32."""
    for i, plan in enumerate(space.plans):
        for width in plan.widths:
            for o in plan.options:
                for e in plan.expansions:
                    block = BlockConfig(o.mixer, o.kernel, o.dilation, e, "fp32")
                    yield Part("block", (width, *plan.spatial), i, width, block=block)


def _downsample_parts(space: MetaFormerSpace) -> Iterator[Part]:
    """Per stage, a downsample from each width that may enter it to each of its widths, where
    one is needed (a stride, or another width)."""
    for i, (spatial, widths) in enumerate(stage_inputs(space)):
        plan = space.plans[i]
        for cin in widths:
            for cout in plan.widths:
                if downsample_needed(plan.stride, cin, cout):
                    yield Part("downsample", (cin, *spatial), i, cout, cin)


def _head_parts(space: MetaFormerSpace) -> Iterator[Part]:
    """The head at each width of the last stage."""
    for width in space.plans[-1].widths:
        yield Part("head", (width, *space.plans[-1].spatial), width=width)


def _overhead_shapes(space: MetaFormerSpace) -> list[tuple[int, ...]]:
    """Every distinct input shape of a part, once, in the order the network meets them: its
    input, then per stage the shapes entering it (before its downsample) and inside it."""
    shapes = dict.fromkeys([tuple(space.input_shape)])
    for i, (spatial, widths) in enumerate(stage_inputs(space)):
        shapes.update(dict.fromkeys((w, *spatial) for w in widths))
        shapes.update(dict.fromkeys((w, *space.plans[i].spatial) for w in space.plans[i].widths))
    return list(shapes)


def build_part(space: MetaFormerSpace, part: Part, copies: int = 1) -> nn.Module:
    """The torch module of one part, as it appears inside a network; a block as a chain of
    `copies` independent copies (same shape in and out), see `defaults.BLOCK_COPIES`."""
    dim = len(space.input_shape) - 1
    if part.kind == "block":
        spatial = space.plans[part.stage].spatial
        return nn.Sequential(
            *(MetaFormerBlock(dim, part.width, part.block, spatial) for _ in range(copies))
        )
    if part.kind == "stem":
        s = space.spec.stem
        return stem(dim, space.input_shape[0], s.width, s.kernel, s.stride)
    if part.kind == "downsample":
        return downsample(dim, part.cin, part.width, space.plans[part.stage].stride)
    if part.kind == "head":
        dims = tuple(range(2, 2 + dim))
        head = QLinear(part.width, space.num_classes)
        return nn.Sequential(norm(dim, part.width), _GlobalMean(dims), head)
    if part.kind == "overhead":
        return _PassThrough()
    raise ValueError(f"unknown part kind {part.kind!r}")

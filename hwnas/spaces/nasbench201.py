"""The NAS-Bench-201 cell space: 6 edges x 5 ops (15625 cells); its macro network is built
in `hwnas.spaces.nasbench201_net` (torch), imported when one is built or counted.

Choices are the edges `"j<-i"` of the 4-node cell. `enumerate()` yields the cells in the
official `arch_idx` order (all cells in op order, then `random.seed(88); random.shuffle`, as
the NAS-Bench-201 release generated them), so tables keyed by index line up.

With `dead_ops: prune` the space holds only the cells whose every op lies on a path of ops from
the cell's input to its output: an op that is not (cut off from the output, or fed nothing)
is `none` in them. Such an op never sees the input; removing it leaves the cell's function
as it was, except where a convolution was fed only zeros: its batch norm's shift, a learned
bias that no input changes, then passes through the ops after it. The table's accuracies of
a cell and its twin without dead ops differ only as much as retrained twins do, while
hardware that runs dead ops (HW-NAS-Bench's FPGA and Eyeriss latencies count them) runs the
twin faster, so the searchers never spend an evaluation on the slower one (docs/benchmarks.md).
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator, Mapping, Sequence
from functools import cached_property, lru_cache
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from hwnas.spaces.arch import Arch, Choice
from hwnas.spaces.cost import Cost
from hwnas.spaces.errors import SpaceError
from hwnas.spaces.space import RngLike, SearchSpace, as_rng
from hwnas.spaces.spec import (
    MAX_CHANNELS,
    MAX_DEPTH,
    MAX_LENGTH,
    NAME_PATTERN,
    format_validation_error,
    whole_overrides,
)

if TYPE_CHECKING:
    from torch import nn

OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
EDGES = ("1<-0", "2<-0", "2<-1", "3<-0", "3<-1", "3<-2")
# the cell's input-to-output paths, as edge sequences; a path carries data unless an edge is none
PATHS = (("3<-0",), ("1<-0", "3<-1"), ("2<-0", "3<-2"), ("1<-0", "2<-1", "3<-2"))
LIVE_OPS = OPS[1:]


def without_dead_ops(ops: Mapping[str, str]) -> dict[str, str]:
    """The cell with `none` in place of each op on no path of ops from its input to its
    output. Such an op never sees the input: it is cut off from the output, or fed only
    zeros, which a skip or a pool passes on and a convolution turns into its batch norm's
    shift, a learned bias that no input changes."""
    fed, feeding = live_nodes(ops)
    return {
        e: op if _source(e) in fed and _target(e) in feeding else "none" for e, op in ops.items()
    }


def live_nodes(ops: Mapping[str, str]) -> tuple[set[int], set[int]]:
    """The nodes a path of ops from the input reaches, and those with a path to the output."""
    fed, feeding = {0}, {3}
    for j in (1, 2, 3):
        if any(ops[f"{j}<-{i}"] != "none" for i in fed if i < j):
            fed.add(j)
    for i in (2, 1, 0):
        if any(ops[f"{j}<-{i}"] != "none" for j in feeding if j > i):
            feeding.add(i)
    return fed, feeding


def _edges_to_a_path(ops: Mapping[str, str], edge: str) -> list[str]:
    """The `none` edges whose ops would put `edge` on a path from the input to the output:
    the one from the input into its source if nothing feeds that node, and the one from its
    target to the output if that node reaches no output."""
    fed, feeding = live_nodes(ops)
    source, target = _source(edge), _target(edge)
    return [f"{source}<-0"] * (source not in fed) + [f"3<-{target}"] * (target not in feeding)


def _source(edge: str) -> int:
    return int(edge.partition("<-")[2])


def _target(edge: str) -> int:
    return int(edge.partition("<-")[0])


class NasBench201Input(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)
    channels: int = Field(3, ge=1, le=MAX_CHANNELS)
    height: int = Field(32, ge=1, le=MAX_LENGTH)
    width: int = Field(32, ge=1, le=MAX_LENGTH)


class NasBench201Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)
    name: str = Field(pattern=NAME_PATTERN)
    version: int = Field(1, ge=1)
    kind: Literal["nasbench201"] = "nasbench201"
    description: str = ""
    input: NasBench201Input = NasBench201Input()
    classes: int = Field(10, ge=2, le=MAX_CHANNELS)
    channels: int = Field(16, ge=1, le=MAX_CHANNELS // 4)  # doubled in each of 2 reductions
    cells_per_stage: int = Field(5, ge=1, le=MAX_DEPTH)
    # keep: all 15625 cells, as published; prune: only the cells without dead ops (module doc)
    dead_ops: Literal["keep", "prune"] = "keep"


class NasBench201Space(SearchSpace):
    """The NAS-Bench-201 cell space: one op per edge of the 6-edge cell, optionally only the
    cells without dead ops (`dead_ops: prune`); see the module docstring."""

    def __init__(self, spec: NasBench201Spec, source: str = "<spec>"):
        self.spec, self.source = spec, source
        self.name, self.version = spec.name, spec.version
        self.input_shape = (spec.input.channels, spec.input.height, spec.input.width)
        self.num_classes = spec.classes

    @classmethod
    def from_data(
        cls,
        data: dict[str, Any],
        source: str,
        *,
        input_shape: Sequence[int] | None = None,
        num_classes: int | None = None,
    ) -> NasBench201Space:
        """The space a `kind: nasbench201` file's `data` describes (`source` names the file in
        errors), with its input shape (channels, height, width) or classes overridden."""
        input_shape, num_classes = whole_overrides(input_shape, num_classes)
        merged = dict(data)
        if input_shape is not None:
            if len(input_shape) != 3:
                raise SpaceError(
                    f"{source}: input: override {tuple(input_shape)} must be (channels, height, "
                    f"width)"
                )
            merged["input"] = dict(zip(("channels", "height", "width"), input_shape))
        if num_classes is not None:
            merged["classes"] = num_classes
        try:
            spec = NasBench201Spec.model_validate(merged)
        except ValidationError as e:
            raise SpaceError(format_validation_error(e, source, data, NasBench201Spec)) from None
        return cls(spec, source)

    def with_input(
        self, input_shape: Sequence[int] | None = None, num_classes: int | None = None
    ) -> NasBench201Space:
        """The same space for another input shape (without batch) or number of classes; the
        space itself where they are its own (a new one missed the caches kept per space, as
        `build(arch, input_shape=space.input_shape)` made one each time)."""
        input_shape, num_classes = whole_overrides(input_shape, num_classes)
        if input_shape in (None, self.input_shape) and num_classes in (None, self.num_classes):
            return self
        return NasBench201Space.from_data(
            self.spec.model_dump(), self.source, input_shape=input_shape, num_classes=num_classes
        )

    def choice_values(self) -> dict[str, list[Choice]]:
        return {e: list(OPS) for e in EDGES}

    def canonical(self, choices: Mapping[str, Choice]) -> Arch:
        unknown = sorted(set(choices) - set(EDGES))
        missing = [e for e in EDGES if e not in choices]
        if unknown or missing:
            raise SpaceError(f"space {self.name!r}: unknown edges {unknown}, missing {missing}")
        ops = {e: str(choices[e]) for e in EDGES}
        return Arch(self.name, self.version, self._pruned(ops) if self._prunes else ops)

    @property
    def _prunes(self) -> bool:
        return self.spec.dead_ops == "prune"

    @staticmethod
    def _pruned(ops: dict[str, str]) -> dict[str, str]:
        """`ops` without dead ops, if all its ops are known ones (`validate` names the rest)."""
        return without_dead_ops(ops) if all(op in OPS for op in ops.values()) else ops

    def validate(self, arch: Arch) -> Arch:
        self._check_space(arch)
        if set(arch) != set(EDGES):
            raise SpaceError(f"space {self.name!r}: arch must have exactly the edges {EDGES}")
        for e in EDGES:
            if arch[e] not in OPS:
                raise SpaceError(f"space {self.name!r}: {e}: {arch[e]!r} not in {list(OPS)}")
        if self._prunes:
            dead = [e for e, op in without_dead_ops(dict(arch)).items() if op != arch[e]]
            if dead:
                raise SpaceError(
                    f"space {self.name!r} (dead_ops: prune): the ops on {dead} lie on no path "
                    f"from the cell's input to its output; space.canonical(choices) gives the "
                    f"cell without them"
                )
        return arch

    def sample(self, rng: RngLike = None) -> Arch:
        """Uniform over the space's cells. With `dead_ops: prune` a cell is drawn from the list
        of cells without dead ops: drawing each edge's op and pruning would draw the small
        cells that many cells collapse into (the empty one about 1 in 46) far too often."""
        rng = as_rng(rng)
        if self._prunes:
            return self._arch(self._cells[rng.integers(len(self._cells))])
        return self.canonical({e: OPS[rng.integers(len(OPS))] for e in EDGES})

    def mutate(self, arch: Arch, rng: RngLike = None) -> Arch:
        """One edge set to another op. With `dead_ops: prune` a new op where it would be dead
        comes with random ops on the fewest `none` edges that put it on a path
        (`_edges_to_a_path`): pruned alone, it would leave the single-edge cells unable to grow.
        """
        rng = as_rng(rng)
        self.validate(arch)
        edge = EDGES[rng.integers(len(EDGES))]
        others = [op for op in OPS if op != arch[edge]]
        ops = {**arch, edge: others[rng.integers(len(others))]}
        if self._prunes and ops[edge] != "none":
            for path_edge in _edges_to_a_path(ops, edge):
                ops[path_edge] = LIVE_OPS[rng.integers(len(LIVE_OPS))]
        return self.canonical(ops)

    def crossover(self, a: Arch, b: Arch, rng: RngLike = None) -> Arch:
        rng = as_rng(rng)
        parents = (self.validate(a), self.validate(b))
        return self.canonical({e: parents[rng.integers(2)][e] for e in EDGES})

    def live(self, arch: Arch) -> Arch:
        """The cell with `none` for its dead ops (`without_dead_ops`): the twin that computes
        what `arch` computes, except where a convolution fed only zeros adds its batch norm's
        shift, which no input changes (a cell of this space in either `dead_ops` mode)."""
        self.validate(arch)
        return Arch(self.name, self.version, without_dead_ops(dict(arch)))

    def encode(self, arch: Arch) -> np.ndarray:
        """One-hot op per edge, then the path encoding of BANANAS (White et al., 2021): for
        each input-to-output path, a one-hot of its op sequence (all zero when a `none` edge
        cuts it). Paths say what the one-hot cannot (which ops feed which), and surrogates
        fitted on both rank NB201 cells better (docs/benchmarks.md)."""
        self.validate(arch)
        edges = [float(arch[e] == op) for e in EDGES for op in OPS]
        return np.concatenate(
            [np.asarray(edges, dtype=np.float32), *(_path_one_hot(arch, p) for p in PATHS)]
        )

    def suggest(self, trial: Any) -> Arch:
        return self.canonical({e: trial.suggest_categorical(e, list(OPS)) for e in EDGES})

    @property
    def cardinality(self) -> int:
        return len(self._cells)

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "kind": "nasbench201",
            "description": self.spec.description,
            "source": self.source,
            "input_shape": list(self.input_shape),
            "num_classes": self.num_classes,
            "channels": self.spec.channels,
            "cells_per_stage": self.spec.cells_per_stage,
            "edges": list(EDGES),
            "ops": list(OPS),
            "dead_ops": self.spec.dead_ops,
            "cardinality": str(self.cardinality),
            "log10_cardinality": round(self.log10_cardinality, 3),
        }

    def build(
        self,
        arch: Arch,
        *,
        input_shape: Sequence[int] | None = None,
        num_classes: int | None = None,
    ) -> nn.Module:
        from hwnas.spaces.nasbench201_net import NasBench201Net  # torch: imported to build

        self.validate(arch)
        space = self.with_input(input_shape, num_classes)
        return NasBench201Net(
            arch,
            space.input_shape[0],
            self.spec.channels,
            self.spec.cells_per_stage,
            space.num_classes,
        )

    @cached_property
    def _cell_shapes(self) -> list[tuple[int, int, int]]:
        """(channels, height, width) that the cells of each of the three stages see."""
        c, h, w = self.spec.channels, *self.input_shape[1:]
        shapes = [(c, h, w)]
        for _ in range(2):  # each reduction: 3x3 conv, stride 2, padding 1; channels doubled
            c, h, w = 2 * c, (h - 1) // 2 + 1, (w - 1) // 2 + 1
            shapes.append((c, h, w))
        return shapes

    def _count_cost(self, arch: Arch) -> Cost:
        """The frame's cost (the network with every edge `none`) plus each edge op's, each
        counted once and cached: equal to counting the whole network (costs are sums over
        layers) and, once the few distinct parts are counted, only look-ups."""
        from hwnas.spaces.nasbench201_net import edge_cost, frame_cost  # torch: to count

        cell = Cost(0, 0, 0, 0)
        for shape in self._cell_shapes:
            for edge in EDGES:
                cell += edge_cost(arch[edge], shape)
        total = frame_cost(self)
        for _ in range(self.spec.cells_per_stage):
            total += cell
        return total

    # -- the standard string form and index ------------------------------------------------
    def to_string(self, arch: Arch) -> str:
        """The cell string, `|op~0|+|op~0|op~1|+|op~0|op~1|op~2|`."""
        a = self.validate(arch)
        return "|{}~0|+|{}~0|{}~1|+|{}~0|{}~1|{}~2|".format(*(a[e] for e in EDGES))

    def from_string(self, text: str) -> Arch:
        """The canonical `Arch` of a cell string (a pruned space's twin for dead ops)."""
        if not isinstance(text, str):  # taken, it failed on `.strip`, naming no argument
            raise TypeError(f"text must be a NAS-Bench-201 cell string, not {text!r:.80}")
        nodes = text.strip().split("+")
        ops: dict[str, str] = {}
        for j, node in enumerate(nodes, start=1):
            for token in filter(None, node.strip("|").split("|")):
                op, _, src = token.partition("~")
                if f"{j}<-{src}" in ops:
                    raise SpaceError(
                        f"not a NAS-Bench-201 cell string: {text!r} (edge {j}<-{src} twice)"
                    )
                ops[f"{j}<-{src}"] = op
        if len(nodes) != 3 or set(ops) != set(EDGES):
            raise SpaceError(f"not a NAS-Bench-201 cell string: {text!r}")
        return self.validate(self.canonical(ops))

    @property
    def _cells(self) -> tuple[tuple[str, ...], ...]:
        """The space's cells in `arch_idx` order: all, or those without dead ops."""
        return _cells_in_order(self._prunes)

    def enumerate(self) -> Iterator[Arch]:
        """Every cell of the space, in the official NAS-Bench-201 `arch_idx` order."""
        for cell in self._cells:
            yield self._arch(cell)

    def _arch(self, cell: tuple[str, ...]) -> Arch:
        return Arch(self.name, self.version, dict(zip(EDGES, cell)))

    def index(self, arch: Arch) -> int:
        """The official NAS-Bench-201 `arch_idx` of a cell."""
        return _index_of()[tuple(self.validate(arch)[e] for e in EDGES)]


@lru_cache(maxsize=1)
def _official_order() -> tuple[tuple[str, ...], ...]:
    cells = list(itertools.product(OPS, repeat=len(EDGES)))
    random.Random(88).shuffle(cells)
    return tuple(cells)


@lru_cache(maxsize=1)
def _index_of() -> dict[tuple[str, ...], int]:
    return {cell: i for i, cell in enumerate(_official_order())}


@lru_cache(maxsize=2)
def _cells_in_order(prune: bool) -> tuple[tuple[str, ...], ...]:
    """All cells, or those without dead ops, in `arch_idx` order: the same for every space
    of this kind, so listed once per process (the pruned list took 0.7 s per space object)."""
    if not prune:
        return _official_order()
    return tuple(
        c for c in _official_order() if tuple(without_dead_ops(dict(zip(EDGES, c))).values()) == c
    )


def _path_one_hot(arch: Arch, path: tuple[str, ...]) -> np.ndarray:
    """One-hot of the op sequence along `path` over the live ops, zero if a `none` cuts it."""
    code = np.zeros(len(LIVE_OPS) ** len(path), dtype=np.float32)
    ops = [arch[e] for e in path]
    if "none" not in ops:
        index = 0
        for op in ops:
            index = index * len(LIVE_OPS) + LIVE_OPS.index(op)
        code[index] = 1.0
    return code

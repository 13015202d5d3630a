"""MetaFormer-style spaces (stem -> stages -> head) over mixer, kernel, dilation, width and
precision, for 1D and 2D inputs, declared in YAML (see `hwnas.spaces.spec`).

Choice names: `s{i}.depth`, `s{i}.width` per stage and `s{i}.b{j}.{mixer,kernel,dilation,
expansion,precision}` per block. Blocks beyond a stage's depth and kernel/dilation of mixers
that do not use them are canonicalised away. Per stage, the usable (mixer, kernel, dilation)
options are the listed ones whose receptive field (and inception's fixed 3-wide branch)
fits the feature map, and attention only where the number of positions is at most
`max_attention_tokens`. The models themselves are built in `hwnas.spaces.network` (torch),
imported when one is built or counted.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from functools import cached_property, lru_cache
from typing import TYPE_CHECKING, Any

import numpy as np

from hwnas.spaces.arch import Arch, Choice
from hwnas.spaces.blocks import (
    FIXED_BRANCH,
    MIXERS,
    PRECISIONS,
    BlockConfig,
    StageConfig,
    extent,
    mlp_width,
    receptive_field,
    tokens,
)
from hwnas.spaces.cost import Cost
from hwnas.spaces.errors import SpaceError
from hwnas.spaces.space import RngLike, SearchSpace, as_rng, decimal_digits
from hwnas.spaces.spec import (
    BlockSpec,
    MetaFormerSpec,
    StageSpec,
    at_line,
    field_loc,
    parse_metaformer,
    whole_overrides,
)

if TYPE_CHECKING:
    from hwnas.spaces.network import MetaFormerNet

MIXER_NAMES = list(MIXERS)
PRECISION_NAMES = list(PRECISIONS)
BLOCK_FIELDS = ("mixer", "kernel", "dilation", "expansion", "precision")
_FIELD_TYPES = {
    "depth": int,
    "width": int,
    "mixer": str,
    "kernel": int,
    "dilation": int,
    "expansion": float,
    "precision": str,
}


def _coerce(space: str, name: str, value: Any) -> Choice:
    """The value of choice `name` as its field's type (int, float or str); integral floats
    count as ints (JSON and Optuna may give 2.0), anything else is a SpaceError."""
    kind = _FIELD_TYPES[name.rsplit(".", 1)[1]]
    if isinstance(value, np.generic):
        value = value.item()
    ok = not isinstance(value, bool) and (
        (kind is str and isinstance(value, str))
        or (kind is float and isinstance(value, int | float))
        or (
            kind is int
            and (isinstance(value, int) or (isinstance(value, float) and value.is_integer()))
        )
    )
    if not ok:
        raise SpaceError(f"space {space!r}: {name}: {value!r} is not {kind.__name__}")
    return kind(value)


@dataclass(frozen=True)
class Option:
    """One usable (mixer, kernel, dilation) combination; None where the mixer has no such knob."""

    mixer: str
    kernel: int | None
    dilation: int | None


@dataclass(frozen=True)
class StagePlan:
    depths: tuple[int, ...]
    widths: tuple[int, ...]
    stride: int
    spatial: tuple[int, ...]
    options: tuple[Option, ...]
    expansions: tuple[float, ...]
    precisions: tuple[str, ...]

    @property
    def block_count(self) -> int:
        return len(self.options) * len(self.expansions) * len(self.precisions)

    @cached_property
    def mixers(self) -> list[str]:
        return list(dict.fromkeys(o.mixer for o in self.options))

    @cached_property
    def option_set(self) -> frozenset[Option]:
        return frozenset(self.options)

    def values(self, attr: str) -> list[Any]:
        return sorted({getattr(o, attr) for o in self.options} - {None})


def _block_attr(name: str) -> tuple[int, str, str] | None:
    """(stage, block, attr) of a block's kernel or dilation choice (`s1.b0.kernel`)."""
    m = re.fullmatch(r"(s(\d+)\.b\d+)\.(kernel|dilation)", name)
    return (int(m[2]), m[1], m[3]) if m else None


def _unused_by_mixer(name: str, choices: Mapping[str, Choice]) -> bool:
    """Whether `name` is a kernel or dilation choice of a block whose chosen mixer takes
    none: hand-written choices may carry one, and it is dropped like any unused field."""
    parts = _block_attr(name)
    mixer = choices.get(f"{parts[1]}.mixer") if parts else None
    if parts is None or mixer is None:
        return False
    uses = dict(zip(("kernel", "dilation"), MIXERS.get(str(mixer), (False, False))))
    return not uses[parts[2]]


def _conv_out(size: int, kernel: int, stride: int, padding: int) -> int:
    return (size + 2 * padding - kernel) // stride + 1


class MetaFormerSpace(SearchSpace):
    """A MetaFormer space. `check_unused` rejects listed kernels/dilations that fit no feature
    map (a spec error at the declared input); an input override merely drops them."""

    def __init__(self, spec: MetaFormerSpec, source: str = "<spec>", check_unused: bool = True):
        self.spec, self.source = spec, source
        self.name, self.version = spec.name, spec.version
        self.input_shape = spec.input.shape()
        self.num_classes = spec.classes
        #: options of the file that fit no stage at this input (an override's input), as
        #: "field: why" lines; a file at its own input refuses them instead
        self.left_out: list[str] = []
        self.plans = self._plan(check_unused)

    @classmethod
    def from_data(
        cls,
        data: dict[str, Any],
        source: str,
        *,
        input_shape: Sequence[int] | None = None,
        num_classes: int | None = None,
        check_unused: bool = True,
    ) -> MetaFormerSpace:
        """The space a `kind: metaformer` file's `data` describes (`source` names the file in
        errors, with the line of a wrong field), with its input shape or classes overridden;
        `check_unused` as the constructor's."""
        try:
            space = cls(parse_metaformer(data, source), source, check_unused)
        except SpaceError as e:
            has_line = str(e).startswith(f"{source}: line ")
            if has_line or not (e.field and (at := at_line(data, field_loc(e.field)))):
                raise
            raise SpaceError(str(e).replace(f"{source}: ", f"{source}: {at}", 1), e.field) from None
        return space.with_input(input_shape, num_classes)

    def with_input(
        self, input_shape: Sequence[int] | None = None, num_classes: int | None = None
    ) -> MetaFormerSpace:
        """The same space for another input shape (without batch) or number of classes."""
        input_shape, num_classes = whole_overrides(input_shape, num_classes)
        shape = self.input_shape if input_shape is None else input_shape
        classes = self.num_classes if num_classes is None else num_classes
        if shape == self.input_shape and classes == self.num_classes:
            return self
        if len(shape) != len(self.input_shape):
            raise SpaceError(
                f"{self.source}: input: override {shape} must have {len(self.input_shape)} "
                f"dimensions (channels + spatial) like {self.input_shape}"
            )
        names = ("channels", "length") if len(shape) == 2 else ("channels", "height", "width")
        data = self.spec.model_dump()
        data.update(input=dict(zip(names, shape)), classes=classes)
        try:
            return MetaFormerSpace(parse_metaformer(data, self.source), self.source, False)
        except SpaceError as e:  # the file is fine: the override is what does not fit it
            raise SpaceError(
                f"{e} (with the input overridden to {shape}, classes {classes})", e.field
            ) from None

    # -- planning: which options each stage really has ---------------------------------------
    def _plan(self, check_unused: bool) -> tuple[StagePlan, ...]:
        spec = self.spec
        if spec.stem.kernel > min(self.input_shape[1:]):
            raise self._spec_error(
                "stem.kernel",
                f"{spec.stem.kernel} is larger than the input {self.input_shape[1:]}: most of "
                "it would only ever see padding (as for a block's kernel, it must fit the map)",
            )
        spatial = after_stem = self._after_stem()
        plans, usable, listed = [], {}, {}
        for i, st in enumerate(spec.stages):
            spatial = tuple(s // st.stride for s in spatial)
            if min(spatial) < 1:
                raise self._spec_error(
                    f"stages[{i}].stride",
                    f"the feature map shrinks to nothing: the input {self.input_shape} is too "
                    f"small for the strides (each spatial size must be {self._smallest_input()} "
                    f"or more; the stem, stride {spec.stem.stride}, leaves {after_stem})",
                )
            own = st.block is not None and st.block.mixers is not None
            where = f"stages[{i}].block" if own else "block"
            block = self._block_spec(i)
            options = self._options(block, spatial, where, usable, listed)
            self._check_expansions(i, st, block)
            narrow = [w for w in st.width if w < len(spatial) + 1]  # inception: a branch each
            if narrow and any(o.mixer == "inception" for o in options):
                raise self._spec_error(
                    f"stages[{i}].width",
                    f"inception needs at least {len(spatial) + 1} channels (one per branch), "
                    f"not {narrow}; drop those widths or the mixer",
                )
            if not options:
                raise self._spec_error(
                    f"{where}.mixers",
                    f"none fits the feature map {spatial} of stages[{i}] (receptive field, or "
                    "inception's 3-wide branch, too large, or attention above "
                    f"max_attention_tokens={spec.max_attention_tokens})",
                )
            plans.append(
                StagePlan(
                    tuple(st.depth),
                    tuple(st.width),
                    st.stride,
                    spatial,
                    tuple(options),
                    tuple(block.expansions),
                    tuple(block.precisions),
                )
            )
        unused = self._unused(listed, usable)
        if check_unused and unused:
            raise self._spec_error(*unused[0])
        self.left_out = [f"{field}: {why}" for field, why in unused]
        return tuple(plans)

    def _after_stem(self) -> tuple[int, ...]:
        """The feature map the stem leaves, which the first stage's stride divides."""
        stem = self.spec.stem
        return tuple(
            _conv_out(s, stem.kernel, stem.stride, stem.kernel // 2) for s in self.input_shape[1:]
        )

    def _unused(self, listed: dict, usable: dict) -> list[tuple[str, str]]:
        """(field, why) of each listed kernel or dilation that fits no feature map it applies
        to, and of a listed attention mixer that fits none (`listed` / `usable` hold, per
        block spec, mixer and field, the values listed and those some stage can use; for
        attention the token counts of the maps it applies to)."""
        found = []
        for (where, mixer, field), values in listed.items():
            fits = usable.get((where, mixer, field), set())
            if field == "tokens" and not fits:
                found.append(
                    (
                        f"{where}.mixers.attn",
                        f"attention never fits: the feature maps it applies to have "
                        f"{sorted(values)} tokens, more than max_attention_tokens="
                        f"{self.spec.max_attention_tokens}; raise that, or drop attn",
                    )
                )
            if field != "tokens" and (unused := sorted(values - fits)):
                if field == "dilations" and listed[(where, mixer, "kernels")] == {1}:
                    why = "a 1-wide kernel is the same network at every dilation; drop them"
                elif mixer in FIXED_BRANCH:
                    why = f"the kernel, or the mixer's fixed {FIXED_BRANCH[mixer]}-wide branch, "
                    why += "is larger than every feature map it applies to"
                elif MIXERS[mixer][1]:  # the mixer dilates its kernel
                    why = "the receptive field dilation*(kernel-1)+1 is larger than every "
                    why += "feature map it applies to"
                else:
                    why = "the kernel is larger than every feature map it applies to"
                found.append((f"{where}.mixers.{mixer}.{field}", f"{unused} never fit: {why}"))
        return found

    def _block_spec(self, stage: int) -> BlockSpec:
        """What the blocks of `stage` may choose: its own block spec over the default."""
        own = self.spec.stages[stage].block
        return own.merged_over(self.spec.block) if own else self.spec.block

    def _smallest_input(self) -> int:
        """The smallest spatial size the stem and every stage's stride leave a pixel of: the
        stages' floored divisions are one by their product, so the stem must leave that many
        pixels (computed, not searched: a typo'd stride of millions must not hang)."""
        stem = self.spec.stem
        strides = math.prod(st.stride for st in self.spec.stages)
        return max(1, (strides - 1) * stem.stride + stem.kernel - 2 * (stem.kernel // 2))

    def _spec_error(self, field: str, problem: str) -> SpaceError:
        """An error in the spec's `field` (a path such as `stages[1].width`), which
        `from_data` places on its line of the file."""
        return SpaceError(f"{self.source}: {field}: {problem}", field=field)

    def _check_expansions(self, i: int, stage: StageSpec, block: BlockSpec) -> None:
        """Two expansions that give one MLP width at some stage width would be two keys for
        one network."""
        own = stage.block is not None and stage.block.expansions is not None
        where = f"stages[{i}].block" if own else "block"
        for width in stage.width:
            hidden: dict[int, list[float]] = {}
            for e in block.expansions:
                hidden.setdefault(mlp_width(width, e), []).append(e)
            same = next((es for es in hidden.values() if len(es) > 1), None)
            if same:
                raise self._spec_error(
                    f"{where}.expansions",
                    f"{same} give the same MLP width {mlp_width(width, same[0])} at width "
                    f"{width} of stages[{i}]; keep one",
                )

    def _options(self, block: BlockSpec, spatial, where, usable, listed) -> list[Option]:
        options = []
        for mixer in MIXER_NAMES:
            if mixer not in block.mixers:
                continue
            opts = block.mixers[mixer]
            uses_kernel, uses_dilation = MIXERS[mixer]
            if mixer == "attn":
                listed.setdefault((where, mixer, "tokens"), set()).add(tokens(spatial))
                if tokens(spatial) > self.spec.max_attention_tokens:
                    continue
                usable.setdefault((where, mixer, "tokens"), set()).add(tokens(spatial))
            if not uses_kernel:
                options.append(Option(mixer, None, None))
                continue
            dilations = (opts.dilations or [1]) if uses_dilation else [None]
            listed.setdefault((where, mixer, "kernels"), set()).update(opts.kernels)
            if uses_dilation:
                listed.setdefault((where, mixer, "dilations"), set()).update(dilations)
            for k in opts.kernels:
                # a 1-wide kernel computes the same at every dilation: it is one option
                for d in dilations[:1] if k == 1 else dilations:
                    if extent(mixer, k, d or 1) <= min(spatial):
                        options.append(Option(mixer, k, d))
                        usable.setdefault((where, mixer, "kernels"), set()).add(k)
                        usable.setdefault((where, mixer, "dilations"), set()).add(d)
        return options

    # -- canonical form and validation -------------------------------------------------------
    @cached_property
    def _choice_values(self) -> dict[str, tuple[Choice, ...]]:
        values: dict[str, tuple[Choice, ...]] = {}
        for i, p in enumerate(self.plans):
            values[f"s{i}.depth"] = p.depths
            values[f"s{i}.width"] = p.widths
            for j in range(max(p.depths)):
                b = f"s{i}.b{j}"
                values[f"{b}.mixer"] = tuple(p.mixers)
                for attr in ("kernel", "dilation"):
                    if p.values(attr):
                        values[f"{b}.{attr}"] = tuple(p.values(attr))
                values[f"{b}.expansion"] = p.expansions
                values[f"{b}.precision"] = p.precisions
        return values

    def choice_values(self) -> dict[str, list[Choice]]:
        return {name: list(values) for name, values in self._choice_values.items()}

    def canonical(self, choices: Mapping[str, Choice]) -> Arch:
        known = self._choice_values
        unknown = sorted(n for n in set(choices) - set(known) if not _unused_by_mixer(n, choices))
        if unknown:
            why = self._why(unknown, choices)
            raise SpaceError(f"space {self.name!r}: unknown choices {unknown}{why}")
        out: dict[str, Choice] = {}

        def take(name: str) -> Choice:
            if name not in choices:
                raise SpaceError(f"space {self.name!r}: {name}: missing")
            out[name] = _coerce(self.name, name, choices[name])
            return out[name]

        for i, p in enumerate(self.plans):
            depth = take(f"s{i}.depth")
            self._check_in(f"s{i}.depth", depth, p.depths)
            take(f"s{i}.width")
            for j in range(int(depth)):
                mixer = take(f"s{i}.b{j}.mixer")
                uses = MIXERS.get(str(mixer), (False, False))
                for attr, used in zip(("kernel", "dilation"), uses):
                    if used and f"s{i}.b{j}.{attr}" in known:
                        take(f"s{i}.b{j}.{attr}")
                take(f"s{i}.b{j}.expansion")
                take(f"s{i}.b{j}.precision")
        return Arch(self.name, self.version, out)

    def _why(self, unknown: Sequence[str], choices: Mapping[str, Choice]) -> str:
        """Why blocks of this space lack a kernel or dilation choice named for them: their
        stage lists the block's mixer, but at this input shape no listed kernel of it fits
        the feature map (an architecture of the space at a larger input)."""
        for name in unknown:
            parts = _block_attr(name)
            if parts is None or parts[0] >= len(self.plans):
                return ""
            stage, block, _ = parts
            mixer = choices.get(f"{block}.mixer")
            if mixer not in self._block_spec(stage).mixers or mixer in self.plans[stage].mixers:
                return ""
        return (
            f": at input_shape {tuple(self.input_shape)} no listed kernel of these blocks' "
            "mixers fits their feature maps; was the architecture made for a larger input?"
        )

    def validate(self, arch: Arch) -> Arch:
        self._check_space(arch)
        canon = self.canonical(arch)
        # a value the space lacks, named before the form; a choice the space lacks (a kernel
        # where no mixer takes one) is named by the form. In the space's order: a set's order
        # changes with the process's string hashing, and so did the value named first
        for name, allowed in self._choice_values.items():
            if name in arch:
                self._check_in(name, arch[name], allowed)
        if canon.key != arch.key:
            differ = [
                f"{k}: {arch.get(k, '(none)')!r}, canonical {canon.get(k, '(none)')!r}"
                for k in sorted(set(arch) | set(canon))
                if repr(arch.get(k)) != repr(canon.get(k))
            ]
            raise SpaceError(
                f"space {self.name!r}: arch {arch.key} is not in canonical form "
                f"({'; '.join(differ)}); build it with space.arch(choices)"
            )
        for i, p in enumerate(self.plans):
            for j in range(int(arch[f"s{i}.depth"])):
                self._validate_block(arch, i, j, p)
        return arch

    def _check_in(self, name: str, value: Choice, allowed: Sequence[Choice]) -> None:
        if value not in allowed:
            raise SpaceError(f"space {self.name!r}: {name}: {value!r} not in {list(allowed)}")

    def _validate_block(self, arch: Arch, i: int, j: int, plan: StagePlan) -> None:
        """The block's (mixer, kernel, dilation) is an option of its stage: each value alone
        is one of the space's (checked by `validate`), but not every pair fits every map."""
        b = f"s{i}.b{j}"
        option = Option(arch[f"{b}.mixer"], arch.get(f"{b}.kernel"), arch.get(f"{b}.dilation"))
        if option not in plan.option_set:
            if option.kernel is not None:
                rf = receptive_field(option.kernel, option.dilation or 1)
                if rf > min(plan.spatial):
                    raise SpaceError(
                        f"space {self.name!r}: {b}: receptive field {rf} of kernel "
                        f"{option.kernel} dilation {option.dilation or 1} exceeds the "
                        f"feature map {plan.spatial}"
                    )
            allowed = [(o.kernel, o.dilation) for o in plan.options if o.mixer == option.mixer]
            raise SpaceError(
                f"space {self.name!r}: {b}: (kernel, dilation) = "
                f"({option.kernel}, {option.dilation}) not allowed for {option.mixer}: {allowed}"
            )

    # -- structured view: stages of block configs --------------------------------------------
    def _stages(self, arch: Arch) -> list[tuple[int, list[BlockConfig]]]:
        stages = []
        for i in range(len(self.plans)):
            blocks = [
                BlockConfig(
                    arch[f"s{i}.b{j}.mixer"],
                    arch.get(f"s{i}.b{j}.kernel"),
                    arch.get(f"s{i}.b{j}.dilation"),
                    arch[f"s{i}.b{j}.expansion"],
                    arch[f"s{i}.b{j}.precision"],
                )
                for j in range(int(arch[f"s{i}.depth"]))
            ]
            stages.append((int(arch[f"s{i}.width"]), blocks))
        return stages

    def _compose(self, stages: Sequence[tuple[int, Sequence[BlockConfig]]]) -> Arch:
        choices: dict[str, Choice] = {}
        for i, (width, blocks) in enumerate(stages):
            choices[f"s{i}.depth"] = len(blocks)
            choices[f"s{i}.width"] = width
            for j, blk in enumerate(blocks):
                for attr in BLOCK_FIELDS:
                    if getattr(blk, attr) is not None:
                        choices[f"s{i}.b{j}.{attr}"] = getattr(blk, attr)
        return self.canonical(choices)

    # -- sampling and variation --------------------------------------------------------------
    def _random_block(self, plan: StagePlan, rng: np.random.Generator) -> BlockConfig:
        o = plan.options[rng.integers(len(plan.options))]
        return BlockConfig(
            o.mixer,
            o.kernel,
            o.dilation,
            plan.expansions[rng.integers(len(plan.expansions))],
            plan.precisions[rng.integers(len(plan.precisions))],
        )

    def sample(self, rng: RngLike = None) -> Arch:
        rng = as_rng(rng)
        stages = []
        for p in self.plans:
            weights = [len(p.widths) * p.block_count**d for d in p.depths]
            total = sum(weights)
            depth = p.depths[rng.choice(len(p.depths), p=[w / total for w in weights])]
            width = p.widths[rng.integers(len(p.widths))]
            stages.append((width, [self._random_block(p, rng) for _ in range(depth)]))
        return self._compose(stages)

    def _block_alternatives(
        self, plan: StagePlan, blk: BlockConfig, field: str
    ) -> list[list[BlockConfig]]:
        """Groups of valid blocks that differ from `blk` in `field` (one group per new value),
        the rest kept where the stage allows it: a new mixer keeps the kernel and dilation if
        it has that pair (a mixer without dilations counts as dilation 1: conv k5 d1 <-> pool
        k5), else the kernel if it has it, a new kernel keeps the dilation if the mixer pairs
        them (else any of that kernel's dilations), a new dilation keeps the kernel."""
        if field in ("expansion", "precision"):
            pool = plan.expansions if field == "expansion" else plan.precisions
            return [[replace(blk, **{field: v})] for v in pool if v != getattr(blk, field)]
        if field == "mixer":
            groups: dict[str, list[Option]] = {}
            for o in plan.options:
                if o.mixer != blk.mixer:
                    groups.setdefault(o.mixer, []).append(o)
            knobs = (blk.kernel, blk.dilation or 1)  # no dilation is dilation 1 (pool k5 ~ k5 d1)
            picked = [
                [o for o in opts if (o.kernel, o.dilation or 1) == knobs]
                or [o for o in opts if o.kernel == blk.kernel]
                or opts
                for opts in groups.values()
            ]
        else:
            keep = "dilation" if field == "kernel" else "kernel"
            by_value: dict[int, list[Option]] = {}
            for o in plan.options:
                if o.mixer == blk.mixer and getattr(o, field) != getattr(blk, field):
                    by_value.setdefault(getattr(o, field), []).append(o)
            picked = []
            for opts in by_value.values():
                kept = [o for o in opts if getattr(o, keep) == getattr(blk, keep)]
                picked.append(kept or (opts if field == "kernel" else []))
            picked = [g for g in picked if g]
        return [
            [replace(blk, mixer=o.mixer, kernel=o.kernel, dilation=o.dilation) for o in g]
            for g in picked
        ]

    def mutate(self, arch: Arch, rng: RngLike = None) -> Arch:
        rng = as_rng(rng)
        stages = self._stages(self.validate(arch))
        genes = []  # (stage, block index or None, field, alternatives)
        for i, ((width, blocks), p) in enumerate(zip(stages, self.plans)):
            genes.append((i, None, "depth", [d for d in p.depths if d != len(blocks)]))
            genes.append((i, None, "width", [w for w in p.widths if w != width]))
            for j, blk in enumerate(blocks):
                for field in ("mixer", "kernel", "dilation", "expansion", "precision"):
                    genes.append((i, j, field, self._block_alternatives(p, blk, field)))
        genes = [g for g in genes if g[3]]
        if not genes:
            return arch
        i, j, field, alternatives = genes[rng.integers(len(genes))]
        choice = alternatives[rng.integers(len(alternatives))]
        if j is not None:
            choice = choice[rng.integers(len(choice))]
        width, blocks = stages[i]
        blocks = list(blocks)
        if field == "depth":
            blocks = blocks[:choice] + [
                self._random_block(self.plans[i], rng) for _ in range(choice - len(blocks))
            ]
        elif field == "width":
            width = choice
        else:
            blocks[j] = choice
        stages[i] = (width, blocks)
        return self._compose(stages)

    def crossover(self, a: Arch, b: Arch, rng: RngLike = None) -> Arch:
        rng = as_rng(rng)
        parents = (self._stages(self.validate(a)), self._stages(self.validate(b)))
        stages = []
        for i in range(len(self.plans)):
            depth_from = parents[rng.integers(2)][i]
            width = parents[rng.integers(2)][i][0]
            blocks = []
            for j in range(len(depth_from[1])):
                pick = parents[rng.integers(2)][i][1]
                blocks.append(pick[j] if j < len(pick) else depth_from[1][j])
            stages.append((width, blocks))
        return self._compose(stages)

    def encode(self, arch: Arch) -> np.ndarray:
        stages = self._stages(self.validate(arch))
        parts: list[float] = []
        for (width, blocks), p in zip(stages, self.plans):
            parts += [len(blocks) / max(p.depths), width / max(p.widths)]
            max_k, max_d = max(p.values("kernel") or [1]), max(p.values("dilation") or [1])
            for j in range(max(p.depths)):
                if j >= len(blocks):
                    parts += [0.0] * (4 + len(MIXER_NAMES) + len(PRECISION_NAMES))
                    continue
                blk = blocks[j]
                parts += [
                    1.0,
                    (blk.kernel or 0) / max_k,
                    (blk.dilation or 0) / max_d,
                    blk.expansion / max(p.expansions),
                ]
                parts += [float(blk.mixer == m) for m in MIXER_NAMES]
                parts += [float(blk.precision == q) for q in PRECISION_NAMES]
        return np.asarray(parts, dtype=np.float32)

    def suggest(self, trial: Any) -> Arch:
        """Define-by-run: depth first, then each present block's mixer, then its kernel and
        dilation (from the stage's full lists, snapped to the nearest value the mixer allows,
        so every name keeps one distribution across trials), expansion and precision."""
        values = self.choice_values()
        stages = []
        for i, p in enumerate(self.plans):
            depth = trial.suggest_categorical(f"s{i}.depth", values[f"s{i}.depth"])
            width = trial.suggest_categorical(f"s{i}.width", values[f"s{i}.width"])
            blocks = []
            for j in range(depth):
                b = f"s{i}.b{j}"
                mixer = trial.suggest_categorical(f"{b}.mixer", values[f"{b}.mixer"])
                opts = [o for o in p.options if o.mixer == mixer]
                uses_kernel, uses_dilation = MIXERS[mixer]
                if uses_kernel:
                    k = trial.suggest_categorical(f"{b}.kernel", values[f"{b}.kernel"])
                    k = min({o.kernel for o in opts}, key=lambda v: (abs(v - k), v))
                    opts = [o for o in opts if o.kernel == k]
                if uses_dilation:
                    d = trial.suggest_categorical(f"{b}.dilation", values[f"{b}.dilation"])
                    opts = [min(opts, key=lambda o: (abs(o.dilation - d), o.dilation))]
                o = opts[0]
                blocks.append(
                    BlockConfig(
                        mixer,
                        o.kernel,
                        o.dilation,
                        trial.suggest_categorical(f"{b}.expansion", values[f"{b}.expansion"]),
                        trial.suggest_categorical(f"{b}.precision", values[f"{b}.precision"]),
                    )
                )
            stages.append((width, blocks))
        return self._compose(stages)

    @property
    def cardinality(self) -> int:
        return math.prod(
            sum(len(p.widths) * p.block_count**d for d in p.depths) for p in self.plans
        )

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "kind": "metaformer",
            "description": self.spec.description,
            "source": self.source,
            "input_shape": list(self.input_shape),
            "num_classes": self.num_classes,
            # the fixed parts that make the network too: what a file sets or leaves to defaults
            "stem": {**self.spec.stem.model_dump(), "feature_map": list(self._after_stem())},
            "max_attention_tokens": self.spec.max_attention_tokens,
            "cardinality": decimal_digits(self.cardinality),
            "log10_cardinality": round(self.log10_cardinality, 3),
            "stages": [
                {
                    "depth": list(p.depths),
                    "width": list(p.widths),
                    "stride": p.stride,
                    "feature_map": list(p.spatial),
                    "mixers": {
                        m: [[o.kernel, o.dilation] for o in p.options if o.mixer == m]
                        for m in p.mixers
                    },
                    "expansions": list(p.expansions),
                    "precisions": list(p.precisions),
                }
                for p in self.plans
            ],
            "left_out": list(self.left_out),
        }

    def build(
        self,
        arch: Arch,
        *,
        input_shape: Sequence[int] | None = None,
        num_classes: int | None = None,
    ) -> MetaFormerNet:
        space = self.with_input(input_shape, num_classes)
        return space._network(space._stages(space.validate(arch)))

    def _network(self, stages: Sequence[tuple[int, Sequence[BlockConfig]]]) -> MetaFormerNet:
        from hwnas.spaces.network import MetaFormerNet  # torch: imported to build

        configs = [
            StageConfig(width, p.stride, p.spatial, tuple(blocks))
            for (width, blocks), p in zip(stages, self.plans)
        ]
        stem = self.spec.stem
        return MetaFormerNet(
            self.input_shape[0], stem.width, stem.kernel, stem.stride, configs, self.num_classes
        )

    def _count_cost(self, arch: Arch) -> Cost:
        """The frame's cost (stem, downsamples, head: it depends only on the stage widths) plus
        each block's (its width, feature map and config), each part counted once and cached.
        Every counted quantity is a sum over layers, so this equals counting the whole network,
        and after a short warm-up a new arch costs only look-ups."""
        from hwnas.spaces.network import block_cost  # torch: imported to count

        stages = self._stages(arch)
        total = _frame_cost(self, tuple(width for width, _ in stages))
        dim = len(self.input_shape) - 1
        for (width, blocks), p in zip(stages, self.plans):
            for block in blocks:
                total += block_cost(dim, width, block, p.spatial)
        return total


@lru_cache(maxsize=4096)
def _frame_cost(space: MetaFormerSpace, widths: tuple[int, ...]) -> Cost:
    from hwnas.spaces.counting import meta_cost  # torch: imported to count

    return meta_cost(lambda: space._network([(w, ()) for w in widths]), space.input_shape)

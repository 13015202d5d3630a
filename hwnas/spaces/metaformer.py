"""MetaFormer-style spaces (stem -> stages -> head) over mixer, kernel, dilation, width and
precision, for 1D and 2D inputs, declared in YAML (see `hwnas.spaces.spec`).

Choice names: `s{i}.depth`, `s{i}.width` per stage and `s{i}.b{j}.{mixer,kernel,dilation,
expansion,precision}` per block. Blocks beyond a stage's depth and kernel/dilation of mixers
that do not use them are canonicalised away. Per stage, the usable (mixer, kernel, dilation)
options are the listed ones whose receptive field fits the feature map (and attention only
where the number of positions is at most `max_attention_tokens`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from hwnas.spaces.arch import Arch, Choice
from hwnas.spaces.errors import SpaceError
from hwnas.spaces.mixers import MIXERS, receptive_field, tokens
from hwnas.spaces.network import BlockConfig, MetaFormerNet, StageConfig
from hwnas.spaces.quant import PRECISIONS
from hwnas.spaces.space import RngLike, SearchSpace, as_rng
from hwnas.spaces.spec import BlockSpec, MetaFormerSpec, parse_metaformer

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

    @property
    def mixers(self) -> list[str]:
        return list(dict.fromkeys(o.mixer for o in self.options))

    def values(self, attr: str) -> list[Any]:
        return sorted({getattr(o, attr) for o in self.options} - {None})


def _conv_out(size: int, kernel: int, stride: int, padding: int) -> int:
    return (size + 2 * padding - kernel) // stride + 1


class MetaFormerSpace(SearchSpace):
    def __init__(self, spec: MetaFormerSpec, source: str = "<spec>"):
        self.spec, self.source = spec, source
        self.name, self.version = spec.name, spec.version
        self.input_shape = spec.input.shape()
        self.num_classes = spec.classes
        self.plans = self._plan()

    @classmethod
    def from_data(
        cls,
        data: dict[str, Any],
        source: str,
        *,
        input_shape: Sequence[int] | None = None,
        num_classes: int | None = None,
    ) -> MetaFormerSpace:
        return cls(parse_metaformer(data, source), source).with_input(input_shape, num_classes)

    def with_input(
        self, input_shape: Sequence[int] | None = None, num_classes: int | None = None
    ) -> MetaFormerSpace:
        """The same space for another input shape (without batch) or number of classes."""
        if input_shape is None and num_classes is None:
            return self
        inp = self.spec.input
        if input_shape is not None:
            shape = tuple(int(s) for s in input_shape)
            if len(shape) != len(self.input_shape):
                raise SpaceError(
                    f"{self.source}: input: override {shape} must have {len(self.input_shape)} "
                    f"dimensions (channels + spatial) like {self.input_shape}"
                )
            names = ("length",) if len(shape) == 2 else ("height", "width")
            inp = inp.model_copy(update={"channels": shape[0], **dict(zip(names, shape[1:]))})
        spec = self.spec.model_copy(
            update={"input": inp, "classes": num_classes or self.spec.classes}
        )
        return MetaFormerSpace(spec, self.source)

    # -- planning: which options each stage really has ---------------------------------------
    def _plan(self) -> tuple[StagePlan, ...]:
        spec, src = self.spec, self.source
        spatial = tuple(
            _conv_out(s, spec.stem.kernel, spec.stem.stride, spec.stem.kernel // 2)
            for s in self.input_shape[1:]
        )
        plans, usable, listed = [], {}, {}
        for i, st in enumerate(spec.stages):
            spatial = tuple(s // st.stride for s in spatial)
            if min(spatial) < 1:
                raise SpaceError(f"{src}: stages[{i}].stride: the feature map shrinks to nothing")
            own = st.block is not None and st.block.mixers is not None
            where = f"stages[{i}].block" if own else "block"
            block = st.block.merged_over(spec.block) if st.block else spec.block
            options = self._options(block, spatial, where, usable, listed)
            if not options:
                raise SpaceError(
                    f"{src}: stages[{i}]: no mixer fits its feature map {spatial} "
                    f"(max_attention_tokens={spec.max_attention_tokens})"
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
        for (where, mixer, field), values in listed.items():
            unused = sorted(values - usable.get((where, mixer, field), set()))
            if unused:
                raise SpaceError(
                    f"{src}: {where}.mixers.{mixer}.{field}: {unused} never fit: the receptive "
                    f"field dilation*(kernel-1)+1 is larger than every feature map it applies to"
                )
        return tuple(plans)

    def _options(self, block: BlockSpec, spatial, where, usable, listed) -> list[Option]:
        options = []
        for mixer in MIXER_NAMES:
            if mixer not in block.mixers:
                continue
            opts = block.mixers[mixer]
            uses_kernel, uses_dilation = MIXERS[mixer]
            if mixer == "attn" and tokens(spatial) > self.spec.max_attention_tokens:
                continue
            if not uses_kernel:
                options.append(Option(mixer, None, None))
                continue
            dilations = (opts.dilations or [1]) if uses_dilation else [None]
            listed.setdefault((where, mixer, "kernels"), set()).update(opts.kernels)
            if uses_dilation:
                listed.setdefault((where, mixer, "dilations"), set()).update(dilations)
            for k in opts.kernels:
                for d in dilations:
                    if receptive_field(k, d or 1) <= min(spatial):
                        options.append(Option(mixer, k, d))
                        usable.setdefault((where, mixer, "kernels"), set()).add(k)
                        usable.setdefault((where, mixer, "dilations"), set()).add(d)
        return options

    # -- canonical form and validation -------------------------------------------------------
    def choice_values(self) -> dict[str, list[Choice]]:
        values: dict[str, list[Choice]] = {}
        for i, p in enumerate(self.plans):
            values[f"s{i}.depth"] = list(p.depths)
            values[f"s{i}.width"] = list(p.widths)
            for j in range(max(p.depths)):
                b = f"s{i}.b{j}"
                values[f"{b}.mixer"] = p.mixers
                for attr in ("kernel", "dilation"):
                    if p.values(attr):
                        values[f"{b}.{attr}"] = p.values(attr)
                values[f"{b}.expansion"] = list(p.expansions)
                values[f"{b}.precision"] = list(p.precisions)
        return values

    def canonical(self, choices: Mapping[str, Choice]) -> Arch:
        known = self.choice_values()
        unknown = sorted(set(choices) - set(known))
        if unknown:
            raise SpaceError(f"space {self.name!r}: unknown choices {unknown}")
        out: dict[str, Choice] = {}

        def take(name: str) -> Choice:
            if name not in choices:
                raise SpaceError(f"space {self.name!r}: {name}: missing")
            kind = _FIELD_TYPES[name.rsplit(".", 1)[1]]
            try:
                out[name] = kind(choices[name])
            except (TypeError, ValueError):
                raise SpaceError(
                    f"space {self.name!r}: {name}: {choices[name]!r} is not {kind.__name__}"
                ) from None
            return out[name]

        for i in range(len(self.plans)):
            depth = take(f"s{i}.depth")
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

    def validate(self, arch: Arch) -> Arch:
        self._check_space(arch)
        if self.canonical(arch) != arch:
            raise SpaceError(f"space {self.name!r}: arch {arch.key} is not in canonical form")
        for i, p in enumerate(self.plans):
            depth, width = arch[f"s{i}.depth"], arch[f"s{i}.width"]
            self._check_in(f"s{i}.depth", depth, p.depths)
            self._check_in(f"s{i}.width", width, p.widths)
            for j in range(int(depth)):
                self._validate_block(arch, i, j, p)
        return arch

    def _check_in(self, name: str, value: Choice, allowed: Sequence[Choice]) -> None:
        if value not in allowed:
            raise SpaceError(f"space {self.name!r}: {name}: {value!r} not in {list(allowed)}")

    def _validate_block(self, arch: Arch, i: int, j: int, plan: StagePlan) -> None:
        b = f"s{i}.b{j}"
        option = Option(arch[f"{b}.mixer"], arch.get(f"{b}.kernel"), arch.get(f"{b}.dilation"))
        self._check_in(f"{b}.mixer", option.mixer, plan.mixers)
        if option not in plan.options:
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
        self._check_in(f"{b}.expansion", arch[f"{b}.expansion"], plan.expansions)
        self._check_in(f"{b}.precision", arch[f"{b}.precision"], plan.precisions)

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
        """Groups of valid blocks that differ from `blk` in `field`, the rest kept where the
        stage allows it (a new mixer keeps the kernel and dilation if it has them)."""
        if field in ("expansion", "precision"):
            pool = plan.expansions if field == "expansion" else plan.precisions
            return [[replace(blk, **{field: v})] for v in pool if v != getattr(blk, field)]
        if field == "mixer":
            groups: dict[str, list[Option]] = {}
            for o in plan.options:
                if o.mixer != blk.mixer:
                    groups.setdefault(o.mixer, []).append(o)
            same_knobs = ((blk.kernel, blk.dilation),)
            picked = [
                [o for o in opts if (o.kernel, o.dilation) in same_knobs] or opts
                for opts in groups.values()
            ]
        else:
            keep = "dilation" if field == "kernel" else "kernel"
            picked = [
                [o]
                for o in plan.options
                if o.mixer == blk.mixer
                and getattr(o, field) != getattr(blk, field)
                and (field == "kernel" or getattr(o, keep) == getattr(blk, keep))
            ]
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
            "source": self.source,
            "input_shape": list(self.input_shape),
            "num_classes": self.num_classes,
            "cardinality": str(self.cardinality),
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
        }

    def build(
        self,
        arch: Arch,
        *,
        input_shape: Sequence[int] | None = None,
        num_classes: int | None = None,
    ):
        space = self.with_input(input_shape, num_classes)
        stages = space._stages(space.validate(arch))
        configs = [
            StageConfig(width, p.stride, p.spatial, tuple(blocks))
            for (width, blocks), p in zip(stages, space.plans)
        ]
        stem = space.spec.stem
        return MetaFormerNet(
            space.input_shape[0], stem.width, stem.kernel, stem.stride, configs, space.num_classes
        )

"""A weight-sharing supernet over a MetaFormer space, for differentiable (FBNet/GDAS) search.

Every block slot (stage i, block j up to the stage's largest depth) holds one candidate token
mixer per (mixer, kernel, dilation) option of the stage, one MLP at the largest hidden size,
and Gumbel-softmax gates over the slot's choices:

- option (mixer, kernel, dilation): a mixture of the candidate ops. With `hard=True` (the
  default; GDAS / single-path style) a straight-through one-hot sample runs only the sampled op,
  so a step costs about one network; with `hard=False` every op runs (FBNet's soft mixture).
  With `share_kernels=True` the ops of one mixer share their weights (`share_kernel_weights`).
- expansion: a soft channel mask over the MLP hidden units (`round(width * expansion)` kept).
- precision: the same weights (and input activations) of every layer in the slot fake-quantized
  at each precision (`hwnas.spaces.quant`), mixed by the gate's weights (EdMIPS-style composite
  layer: one convolution on the mixed quantized weights).
- width, per stage: the stage runs at its largest width and a Gumbel-weighted channel mask keeps
  the first `width` channels. For three mixers that is not the network a narrower width builds:
  inception's branches sit on the last channels (conv1d's inception is the identity below a
  stage's largest width), attention keeps the widest block's heads and mbconv its hidden
  channels. One op per width, exact, searched worse (docs/benchmarks.md), so it stays.
- depth, per stage: slot j contributes `P(depth > j)` of its residual update, so a block beyond
  the sampled depth is the identity.

The expected latency under the gates' probabilities is the LUT expectation (FBNet): base
latency over the stage widths plus, per slot, P(present) x probs @ block latencies. It is
differentiable in the architecture logits. A search derives the argmax of every gate and,
given a latency target, then trades the least probability per millisecond saved until the
LUT latency of the discrete architecture meets the target (`SuperNet.fit_latency`).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import replace

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F
from torch.nn.utils import parametrize

from hwnas.predictors.lut import BlockLatencyModel, network_latency
from hwnas.spaces import Arch, SearchSpace, SpaceError
from hwnas.spaces.blocks import PRECISIONS, BlockConfig, StageConfig, mlp_width
from hwnas.spaces.metaformer import MetaFormerSpace, Option, StagePlan
from hwnas.spaces.mixers import build_mixer, conv, norm
from hwnas.spaces.network import MetaFormerNet
from hwnas.spaces.quant import (
    QUANTIZED_LAYERS,
    half_round_trip,
    quantize_activation,
    quantize_weight,
)


class ArchGate(nn.Module):
    """One categorical architecture choice: logits, a Gumbel-softmax sample and its argmax."""

    def __init__(self, values: Sequence):
        super().__init__()
        self.values = tuple(values)
        self.logits = nn.Parameter(torch.zeros(len(self.values)))
        # the last sample, used by forward (uniform until the first `sample`)
        uniform = torch.full((len(self.values),), 1.0 / len(self.values))
        self.register_buffer("weights", uniform, persistent=False)

    def sample(self, tau: float, hard: bool) -> torch.Tensor:
        self.weights = F.gumbel_softmax(self.logits, tau=tau, hard=hard)
        return self.weights

    def probs(self) -> torch.Tensor:
        return torch.softmax(self.logits, dim=0)


def fake_quantize(x: torch.Tensor, precision: str, *, weight: bool) -> torch.Tensor:
    """`x` rounded to `precision` as the space's quantized layers do (float formats by a cast)."""
    if precision == "fp32":
        return x
    if precision == "fp16":
        return half_round_trip(x)
    w_bits, a_bits = PRECISIONS[precision]
    return quantize_weight(x, w_bits) if weight else quantize_activation(x, a_bits)


class PrecisionMix(nn.Module):
    """Weight parametrization mixing one tensor fake-quantized at every precision of a gate.

    Registered on every quantizable layer of a slot (weights via `torch.nn.utils.parametrize`,
    inputs via a forward pre-hook); the gate is held outside the module tree so its logits stay
    owned by the slot.
    """

    def __init__(self, gate: ArchGate):
        super().__init__()
        self._gate = (gate,)

    def mix(self, x: torch.Tensor, *, weight: bool) -> torch.Tensor:
        gate, rounded, total = self._gate[0], {}, 0
        for w, p in zip(gate.weights, gate.values):
            key = p if p in ("fp32", "fp16") else PRECISIONS[p][0 if weight else 1]
            if key not in rounded:  # int8 and w4a8 round activations alike: do it once
                rounded[key] = fake_quantize(x, p, weight=weight)
            total = total + w * rounded[key]
        return total

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        return self.mix(w, weight=True)

    def input_hook(self, module: nn.Module, args: tuple) -> tuple:
        return (self.mix(args[0], weight=False), *args[1:])


def mix_precisions(module: nn.Module, gate: ArchGate) -> None:
    """Make every quantizable layer inside `module` a precision mixture under `gate` (or just
    set its precision when the gate has a single value)."""
    for layer in [m for m in module.modules() if isinstance(m, QUANTIZED_LAYERS)]:
        if len(gate.values) == 1:
            layer.precision = gate.values[0]
            continue
        layer.fake_quant = False  # the mixture does the rounding
        mix = PrecisionMix(gate)
        parametrize.register_parametrization(layer, "weight", mix, unsafe=True)
        layer.register_forward_pre_hook(mix.input_hook)


class CentreOf(nn.Module):
    """Parametrization that replaces a layer's own tensor with the centre (in every dimension
    where it is larger) of another layer's tensor, read before that layer's own
    parametrizations."""

    def __init__(self, source: nn.Module, name: str, shape: torch.Size):
        super().__init__()
        self._source = (source, name)  # referenced, not a child: its parameters stay its own
        self.shape = shape

    def forward(self, _own: torch.Tensor) -> torch.Tensor:
        source, name = self._source
        if parametrize.is_parametrized(source, name):
            full = source.parametrizations[name].original
        else:
            full = getattr(source, name)
        return full[
            tuple(slice((n - k) // 2, (n - k) // 2 + k) for n, k in zip(full.shape, self.shape))
        ]


def share_kernel_weights(ops: Sequence[nn.Module], mixers: Sequence[str]) -> None:
    """Let the ops of one mixer share their weights (Once-for-All's elastic kernel): every
    tensor of an op is the centre of the same tensor in the mixer's largest op, and dilations
    of one kernel size share it whole. Each weight is then trained whenever any op of its
    mixer is sampled, not only on its own op's share of the steps. Ops whose layers do not
    line up with the largest op's keep their own weights. (A sharing op's own tensors stay
    registered but unused: they get no gradient, so the optimizer skips them.)"""
    groups: dict[str, list[nn.Module]] = {}
    for op, mixer in zip(ops, mixers):
        groups.setdefault(mixer, []).append(op)
    for group in groups.values():
        largest = max(group, key=lambda op: sum(p.numel() for p in op.parameters()))
        full = dict(largest.named_parameters())
        for op in group:
            own = dict(op.named_parameters())
            if op is largest or not own or own.keys() != full.keys():
                continue
            if not all(_centred_within(p.shape, full[n].shape) for n, p in own.items()):
                continue
            for name, tensor in own.items():
                path, _, attr = name.rpartition(".")
                layer, source = op.get_submodule(path), largest.get_submodule(path)
                centre = CentreOf(source, attr, tensor.shape)
                parametrize.register_parametrization(layer, attr, centre, unsafe=True)


def _centred_within(small: torch.Size, large: torch.Size) -> bool:
    return len(small) == len(large) and all(
        k <= n and (n - k) % 2 == 0 for k, n in zip(small, large)
    )


def weighted_sum(weights: torch.Tensor, terms: Sequence[Callable[[], torch.Tensor]]):
    """sum_k weights[k] * terms[k](), running only the terms whose weight is not exactly zero
    (a hard Gumbel sample runs one op; its straight-through weight still carries the gradient)."""
    active = torch.nonzero(weights.detach()).flatten().tolist()
    return sum(weights[k] * terms[k]() for k in active)


def prefix_masks(sizes: Sequence[int], channels: int) -> torch.Tensor:
    """(len(sizes), channels) masks keeping the first `size` channels."""
    return (torch.arange(channels)[None, :] < torch.tensor(sizes)[:, None]).float()


def _channel_shape(mask: torch.Tensor, dim: int) -> torch.Tensor:
    return mask.reshape(1, -1, *([1] * dim))


Selection = dict[ArchGate, int]  # a discrete architecture: gate -> index of its value


class SuperBlock(nn.Module):
    """One block slot: a MetaFormer block whose mixer, MLP expansion and precision are gated."""

    def __init__(
        self, dim: int, plan: StagePlan, width_gate: ArchGate, hard: bool, share_kernels: bool
    ):
        super().__init__()
        self.dim, self.hard = dim, hard
        self.width_gate = (width_gate,)  # the stage's gate, referenced (not a child module)
        channels = max(plan.widths)
        self.option = ArchGate(plan.options)
        self.expansion = ArchGate(plan.expansions)
        self.precision = ArchGate(plan.precisions)
        self.ops = nn.ModuleList(
            build_mixer(
                o.mixer, dim, channels, o.kernel or 1, o.dilation or 1, "fp32", plan.spatial
            )
            or nn.Identity()
            for o in plan.options
        )
        if share_kernels:
            share_kernel_weights(self.ops, [o.mixer for o in plan.options])
        self.norm1, self.norm2 = norm(dim, channels), norm(dim, channels)
        hidden = [[mlp_width(w, e) for e in plan.expansions] for w in plan.widths]
        hidden_max = max(map(max, hidden))
        self.register_buffer(
            "hidden_masks", torch.stack([prefix_masks(row, hidden_max) for row in hidden])
        )  # (widths, expansions, hidden)
        self.fc1 = conv(dim, channels, hidden_max, 1)
        self.fc2 = conv(dim, hidden_max, channels, 1)
        for module in (*self.ops, self.fc1, self.fc2):
            mix_precisions(module, self.precision)

    def sample(self, tau: float) -> None:
        for gate in (self.option, self.expansion, self.precision):
            gate.sample(tau, self.hard)

    def _mixer_term(self, k: int, x: torch.Tensor) -> Callable[[], torch.Tensor]:
        op = self.ops[k]
        return (lambda: torch.zeros_like(x)) if isinstance(op, nn.Identity) else (lambda: op(x))

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """The block's residual update (output minus input) at the sampled choices."""
        h = self.norm1(x) * mask
        terms = [self._mixer_term(k, h) for k in range(len(self.ops))]
        y = x + weighted_sum(self.option.weights, terms) * mask
        width_w = self.width_gate[0].weights
        hidden_mask = torch.einsum("w,e,weh->h", width_w, self.expansion.weights, self.hidden_masks)
        z = F.gelu(self.fc1(self.norm2(y) * mask)) * _channel_shape(hidden_mask, self.dim)
        return y + self.fc2(z) * mask - x


class SuperStage(nn.Module):
    """Downsampling, then `max(depths)` block slots, with width and depth gates."""

    def __init__(
        self, dim: int, plan: StagePlan, downsample: nn.Module, hard: bool, share_kernels: bool
    ):
        super().__init__()
        self.dim, self.hard = dim, hard
        self.downsample = downsample
        self.width = ArchGate(plan.widths)
        self.depth = ArchGate(plan.depths)
        self.blocks = nn.ModuleList(
            SuperBlock(dim, plan, self.width, hard, share_kernels) for _ in range(max(plan.depths))
        )
        self.register_buffer("width_masks", prefix_masks(plan.widths, max(plan.widths)))
        # presence[d, j] = 1 when a stage of depth plan.depths[d] has block j
        self.register_buffer(
            "presence", prefix_masks(plan.depths, max(plan.depths))
        )  # (depths, slots)

    def sample(self, tau: float) -> None:
        self.width.sample(tau, self.hard)
        self.depth.sample(tau, self.hard)
        for block in self.blocks:
            block.sample(tau)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mask = _channel_shape(self.width.weights @ self.width_masks, self.dim)
        x = self.downsample(x) * mask
        present = self.depth.weights @ self.presence
        for j, block in enumerate(self.blocks):
            if present[j].detach() != 0:
                x = x + present[j] * block(x, mask)
        return x


def check_supernet_space(space: SearchSpace) -> None:
    """Refuse a space that is no MetaFormer space: a supernet holds the blocks of one."""
    if not isinstance(space, MetaFormerSpace):
        raise SpaceError(
            f"space {space.name!r}: the supernet needs a MetaFormer space (conv1d, conv2d or a "
            "space file of kind: metaformer)"
        )


class SuperNet(nn.Module):
    """The supernet of a MetaFormer space; stem, downsampling and head as `space.build` has them
    at every stage's largest width."""

    def __init__(
        self,
        space: MetaFormerSpace,
        *,
        mixers: Sequence[str] | None = None,
        precisions: Sequence[str] | None = None,
        hard: bool = True,
        share_kernels: bool = False,
    ):
        super().__init__()
        check_supernet_space(space)
        self.space = space
        known_names("mixers", mixers, [m for p in space.plans for m in p.mixers])
        known_names("precisions", precisions, [q for p in space.plans for q in p.precisions])
        self.plans = tuple(
            restrict_plan(p, i, mixers, precisions) for i, p in enumerate(space.plans)
        )
        frame = MetaFormerNet(
            space.input_shape[0],
            space.spec.stem.width,
            space.spec.stem.kernel,
            space.spec.stem.stride,
            [StageConfig(max(p.widths), p.stride, p.spatial, ()) for p in self.plans],
            space.num_classes,
        )  # stem, downsampling layers and head; the blocks are the slots below
        dim = len(space.input_shape) - 1
        self.spatial_dims = frame.spatial_dims
        self.stem, self.head_norm, self.head = frame.stem, frame.head_norm, frame.head
        self.stages = nn.ModuleList(
            SuperStage(dim, p, frame.stages[i][0], hard, share_kernels)
            for i, p in enumerate(self.plans)
        )
        self.tau = 1.0

    # -- parameters ------------------------------------------------------------------------
    def gates(self) -> list[ArchGate]:
        return [m for m in self.modules() if isinstance(m, ArchGate)]

    def arch_parameters(self) -> list[nn.Parameter]:
        return [g.logits for g in self.gates()]

    def weight_parameters(self) -> list[nn.Parameter]:
        arch = {id(p) for p in self.arch_parameters()}
        return [p for p in self.parameters() if id(p) not in arch]

    # -- forward ---------------------------------------------------------------------------
    def sample(self, tau: float | None = None) -> None:
        """Draw new Gumbel-softmax weights for every gate (at temperature `tau`)."""
        self.tau = self.tau if tau is None else tau
        for stage in self.stages:
            stage.sample(self.tau)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        for stage in self.stages:
            x = stage(x)
        last = self.stages[-1]
        features = self.head_norm(x).mean(dim=self.spatial_dims)
        return self.head(features * (last.width.weights @ last.width_masks))

    # -- latency and the discrete architecture ---------------------------------------------
    def expected_latency(
        self, table: LatencyTable, probs: Callable[[ArchGate], torch.Tensor] = ArchGate.probs
    ) -> torch.Tensor:
        """E[latency] (ms) when each gate picks its values with `probs(gate)` (by default its
        softmax probabilities): differentiable in the logits."""
        width_probs = [probs(s.width) for s in self.stages]
        total = table.base
        for p in reversed(width_probs):  # contract the last stage axis first
            total = total @ p
        for i, stage in enumerate(self.stages):
            present = probs(stage.depth) @ stage.presence
            for j, block in enumerate(stage.blocks):
                block_ms = torch.einsum(
                    "w,o,e,p,woep->",
                    width_probs[i],
                    probs(block.option),
                    probs(block.expansion),
                    probs(block.precision),
                    table.blocks[i],
                )
                total = total + present[j] * block_ms
        return total

    def selection_latency(self, table: LatencyTable, picks: Selection) -> float:
        """The LUT latency (ms) of a discrete selection (gate -> index of its value), added up
        as `hwnas.predictors.lut.lut_latency` adds it (`network_latency`), so a
        selection fitted to a target meets it to the last bit there too."""
        blocks = [
            table.blocks_ms[i][
                picks[stage.width], picks[b.option], picks[b.expansion], picks[b.precision]
            ]
            for i, stage in enumerate(self.stages)
            for b in stage.blocks[: stage.depth.values[picks[stage.depth]]]
        ]
        return network_latency(table.base_ms[tuple(picks[s.width] for s in self.stages)], blocks)

    def argmax_selection(self) -> Selection:
        return {g: int(torch.argmax(g.logits.detach())) for g in self.gates()}

    def sample_selection(self, generator: torch.Generator | None = None) -> Selection:
        """A selection drawn from the gates' probabilities (torch's global generator when
        none is given)."""
        return {
            g: int(torch.multinomial(g.probs().detach().cpu(), 1, generator=generator))
            for g in self.gates()
        }

    def log_prob(self, picks: Selection) -> torch.Tensor:
        """Log-probability of a selection under the gates, counting only the gates that shape
        the network (not those of block slots beyond the picked depth): differentiable in the
        logits."""
        gates: list[ArchGate] = []
        for stage in self.stages:
            depth = stage.depth.values[picks[stage.depth]]
            gates += [stage.width, stage.depth]
            gates += [g for b in stage.blocks[:depth] for g in (b.option, b.expansion, b.precision)]
        return sum(torch.log_softmax(g.logits, 0)[picks[g]] for g in gates)

    def use(self, picks: Selection) -> None:
        """Fix every gate to its picked value for the following forward passes."""
        for g in self.gates():
            g.weights = F.one_hot(torch.tensor(picks[g]), len(g.values)).to(g.logits)

    def fit_latency(self, picks: Selection, table: LatencyTable, target_ms: float) -> Selection:
        """Greedy most-probable selection under a latency bound: while the selection's LUT
        latency is above `target_ms`, change the one gate that loses the least log-probability
        per millisecond saved. (An argmax per gate can be far slower than the expectation the
        search brought to the target, when the probabilities are still spread.)"""
        log_probs = {g: torch.log_softmax(g.logits.detach(), dim=0) for g in picks}
        current = self.selection_latency(table, picks)
        while current > target_ms:
            best = None
            for gate, k in picks.items():
                for v in range(len(gate.values)):
                    saved = current - self.selection_latency(table, {**picks, gate: v})
                    if v == k or saved <= 1e-9:
                        continue
                    lost = float(log_probs[gate][k] - log_probs[gate][v])
                    key = (lost / saved, -saved)
                    if best is None or key < best[0]:
                        best = (key, gate, v, current - saved)
            if best is None:
                break  # nothing faster is left: the bound is below the fastest selection
            _, gate, v, current = best
            picks = {**picks, gate: v}
        return picks

    def arch_of(self, picks: Selection) -> Arch:
        choices: dict = {}
        for i, stage in enumerate(self.stages):
            depth = stage.depth.values[picks[stage.depth]]
            choices[f"s{i}.depth"] = depth
            choices[f"s{i}.width"] = stage.width.values[picks[stage.width]]
            for j, block in enumerate(stage.blocks[:depth]):
                option: Option = block.option.values[picks[block.option]]
                b = f"s{i}.b{j}"
                choices[f"{b}.mixer"] = option.mixer
                for attr in ("kernel", "dilation"):
                    if getattr(option, attr) is not None:
                        choices[f"{b}.{attr}"] = getattr(option, attr)
                choices[f"{b}.expansion"] = block.expansion.values[picks[block.expansion]]
                choices[f"{b}.precision"] = block.precision.values[picks[block.precision]]
        return self.space.arch(choices)


def known_names(setting: str, names: Sequence[str] | None, known: Sequence[str]) -> None:
    """Refuse names in a candidate restriction that no stage of the space has: a typo would
    otherwise silently leave that candidate out of the search."""
    unknown = [n for n in names or () if n not in known]
    if unknown:
        raise SpaceError(
            f"{setting}: {unknown} not in the space (it has {list(dict.fromkeys(known))})"
        )


def restrict_plan(
    plan: StagePlan,
    stage: int,
    mixers: Sequence[str] | None = None,
    precisions: Sequence[str] | None = None,
) -> StagePlan:
    """The stage's plan with only the options of `mixers` and only `precisions` (all when
    None): fewer candidate ops, or only what a latency table has measured."""
    options = tuple(o for o in plan.options if mixers is None or o.mixer in mixers)
    kept = tuple(p for p in plan.precisions if precisions is None or p in precisions)
    if not options:
        raise SpaceError(
            f"mixers: none of {list(mixers)} is usable in stage {stage} (it has {plan.mixers})"
        )
    if not kept:
        raise SpaceError(
            f"precisions: none of {list(precisions)} is allowed in stage {stage} "
            f"(it has {list(plan.precisions)})"
        )
    return replace(plan, options=options, precisions=kept)


class LatencyTable(nn.Module):
    """Block and base latencies (ms) of every supernet choice, looked up once from a predictor.

    `blocks[i]` is a (widths, options, expansions, precisions) tensor of stage i's block
    latencies; `base` has one axis per stage (its widths): stem + downsampling + head.
    """

    def __init__(self, supernet: SuperNet, predictor: BlockLatencyModel):
        super().__init__()
        plans = supernet.plans
        # float64 for lookups of discrete selections: the predictor's own values, so that a
        # derived architecture meets a target exactly as `lut_latency` prices it
        self.blocks_ms = [
            np.array(
                [
                    predictor.block_latency(i, w, BlockConfig(o.mixer, o.kernel, o.dilation, e, q))
                    for w, o, e, q in itertools.product(
                        p.widths, p.options, p.expansions, p.precisions
                    )
                ],
                dtype=float,
            ).reshape(len(p.widths), len(p.options), len(p.expansions), len(p.precisions))
            for i, p in enumerate(plans)
        ]
        combos = itertools.product(*(p.widths for p in plans))
        self.base_ms = np.array([predictor.base_latency(c) for c in combos], dtype=float).reshape(
            [len(p.widths) for p in plans]
        )
        if not all(np.isfinite(a).all() for a in (self.base_ms, *self.blocks_ms)):
            raise ValueError("latency predictor returned a non-finite latency")
        for i, block in enumerate(self.blocks_ms):
            self.register_buffer(f"block{i}", torch.tensor(block, dtype=torch.float32))
        self.register_buffer("base", torch.tensor(self.base_ms, dtype=torch.float32))
        self.stages = len(plans)

    @property
    def blocks(self) -> list[torch.Tensor]:
        return [getattr(self, f"block{i}") for i in range(self.stages)]

    def latency_range_ms(self, supernet: SuperNet) -> tuple[float, float]:
        """The least and the most latency (ms) any architecture of `supernet` has in this
        table: over every combination of stage widths, its base plus, per stage, the depth
        whose blocks, each at its fastest (slowest) choice, add least (most; a block may be
        priced below zero, when the LUT's per-block overhead share exceeds it). A target
        outside it is one no architecture is on."""
        return self._extreme_ms(supernet, slowest=False), self._extreme_ms(supernet, slowest=True)

    def _extreme_ms(self, supernet: SuperNet, slowest: bool) -> float:
        pick, each = (max, np.max) if slowest else (min, np.min)
        return float(
            pick(
                self.base_ms[widths]
                + sum(
                    pick(n * each(self.blocks_ms[i][w]) for n in stage.depth.values)
                    for i, (w, stage) in enumerate(zip(widths, supernet.stages))
                )
                for widths in itertools.product(*(range(n) for n in self.base_ms.shape))
            )
        )

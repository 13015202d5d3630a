"""Differentiable, latency-aware search (FBNet / GDAS style) on a weight-sharing supernet.

One search trains a `SuperNet` on a dataset: after `warmup_epochs` of weight updates alone
(uniformly sampled paths), every weight step on a training batch is followed by an
architecture step on a validation batch, minimising

    cross-entropy + latency_weight * latency_term(E[latency] / target)

where E[latency] is the LUT expectation over the Gumbel-softmax gates' probabilities (see
`hwnas.search.supernet`) and the latency term is `|log(E / target)|` ("log_ratio", pulls the
expectation onto the target from both sides) or `max(0, log(E / target))` ("hinge", only
penalises exceeding it). The Gumbel temperature anneals exponentially from `tau_start` to
`tau_end` over the architecture epochs (it shapes only the "gumbel" gradient: a hard sample is
a draw from the gates' probabilities at any temperature). The discrete architecture is the
argmax of every gate, then, with a target, the most probable changes per millisecond saved
until its LUT latency meets the target (`SuperNet.fit_latency`: the argmax of spread-out gates
is often far slower than the expectation the search brought to the target). With
`derive_samples=K`, K more architectures drawn from the gates (each fitted to the target the
same way) compete with it, ranked by their accuracy inside the trained supernet on the
validation split, and the best `derive_count` are proposed (FBNet also samples its final
candidates from the learned distribution and trains several).

The architecture gradient: "reinforce" (the default) is the score-function estimator over
`reinforce_samples` discrete paths per step, each judged by its validation cross-entropy
against the mean of the others (as TuNAS does); "gumbel" is the straight-through
Gumbel-softmax gradient of one sampled path (GDAS). The straight-through gradient only tells
whether to scale the sampled op's output up or down, which a trained block barely cares
about, so it let the latency term cut depth unopposed (docs/benchmarks.md, differentiable
section, run 6: the derived network's accuracy, mean over 8 seeds, rose from 85.0 to 92.7 %).

`share_kernels=True` lets the ops of one mixer share their weights (smaller kernels are the
centre of the largest, dilations share it whole), so each is trained on every step its mixer
is sampled. Each op otherwise trains on only its share of the steps, and the supernet then
over-rates large early kernels and dilations. Sharing moved the derived candidates toward
small, undilated kernels and lifted their mean retrained accuracy by 1-1.5 points over 16
seeds, but the derived network's 0.8 points are within the noise (docs/benchmarks.md), so it
is off by default until a full benchmark run confirms it.

`DifferentiableSearcher.ask` runs one search per latency target (`latency_targets_ms` sweeps a
front) lazily, as architectures are asked for, and returns the derived architectures, which
are then evaluated like any other candidate. The searches of a sweep share their warm-up
epochs (no target steers them): trained once, then each search goes on from a copy. Searches
are deterministic for a seed, so a searcher restored from its trials proposes the same next
architectures; with a `memo` (a run's storage gives one) each finished search is kept, and a
restored searcher takes it from there instead of training it again.
"""

from __future__ import annotations

import copy
import hashlib
import math
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch.nn import functional as F

from hwnas.evaluators.datasets import Dataset, resolve_dataset
from hwnas.predictors.backends import device_problem, torch_device
from hwnas.predictors.lut import BlockLatencyModel, lut_latency
from hwnas.predictors.torch_state import (
    THREADS_RULE,
    thread_count,
    torch_defaults,
    torch_seeded,
    torch_threads,
)
from hwnas.search.base import PASSED, Searcher
from hwnas.search.supernet import LatencyTable, Selection, SuperNet, check_supernet_space
from hwnas.search.sweep import MEMO_PREFIX, latency_target, latency_targets
from hwnas.spaces import Arch, SearchSpace
from hwnas.spaces.callers import warn_at_caller
from hwnas.spaces.errors import check_setting_names, finite_number
from hwnas.spaces.yaml_files import quoted_number

LatencyLoss = Literal["log_ratio", "hinge"]
#: how a finished search's key in a searcher's `memo` starts
Estimator = Literal["gumbel", "reinforce"]


@dataclass(frozen=True)
class SupernetSettings:
    """How one supernet search trains (see the module docstring)."""

    epochs: int = 10
    warmup_epochs: int = 2
    batch_size: int = 128
    weight_lr: float = 3e-3
    weight_decay: float = 0.01
    arch_lr: float = 0.1
    tau_start: float = 5.0
    tau_end: float = 0.5
    latency_weight: float = 1.0
    latency_loss: LatencyLoss = "log_ratio"
    hard: bool = True
    estimator: Estimator = "reinforce"
    reinforce_samples: int = 4  # discrete paths per architecture step ("reinforce")
    derive_samples: int = 0  # also rank this many sampled archs by supernet accuracy
    derive_count: int = 1  # propose this many of the ranked archs per target
    mixers: tuple[str, ...] | None = None  # candidate mixers (all of the space when None)
    precisions: tuple[str, ...] | None = None  # candidate precisions (all when None)
    share_kernels: bool = False  # ops of one mixer share their (centred) kernel weights

    def __post_init__(self) -> None:
        kinds = {  # numpy scalars too, stored as Python's (one memo key for 2 and int64(2))
            "int": ((int, np.integer), int),
            "float": ((int, float, np.integer, np.floating), float),
            "bool": ((bool, np.bool_), bool),
        }
        for f in fields(self):
            value, (kind, python) = getattr(self, f.name), kinds.get(f.type, (None, None))
            if not kind:
                continue
            is_bool = isinstance(value, bool | np.bool_)
            if is_bool != (f.type == "bool") or not isinstance(value, kind):
                raise ValueError(f"{f.name} must be {f.type}, not {value!r}{quoted_number(value)}")
            if f.type != "bool" and not finite_number(value):
                raise ValueError(f"{f.name} must be finite, not {value!r}")
            object.__setattr__(self, f.name, python(value))
        for name in ("mixers", "precisions"):
            names = getattr(self, name)
            if names is None:
                continue
            if isinstance(names, str) or not isinstance(names, Sequence) or not names:
                raise ValueError(f"{name} must be a non-empty list of names, not {names!r}")
            object.__setattr__(self, name, tuple(names))
        rules = {  # name: (ok, the rule)
            "epochs": (self.epochs >= 1, ">= 1"),
            "warmup_epochs": (
                0 <= self.warmup_epochs < self.epochs,
                f"0 to epochs - 1 (epochs is {self.epochs})",
            ),
            "batch_size": (self.batch_size >= 2, ">= 2"),  # batch norm needs two samples
            "weight_lr": (self.weight_lr > 0, "> 0"),
            "weight_decay": (self.weight_decay >= 0, ">= 0"),
            "arch_lr": (self.arch_lr > 0, "> 0"),
            "tau_start": (self.tau_start > 0, "> 0"),
            "tau_end": (0 < self.tau_end <= self.tau_start, "> 0 and at most tau_start"),
            "latency_weight": (self.latency_weight >= 0, ">= 0"),
            "derive_samples": (self.derive_samples >= 0, ">= 0"),
            "derive_count": (
                1 <= self.derive_count <= 1 + self.derive_samples,
                f"1 to 1 + derive_samples (derive_samples is {self.derive_samples})",
            ),
            "latency_loss": (self.latency_loss in ("log_ratio", "hinge"), "log_ratio or hinge"),
            "estimator": (self.estimator in ("gumbel", "reinforce"), "reinforce or gumbel"),
            "reinforce_samples": (self.reinforce_samples >= 2, ">= 2"),
        }
        bad = [  # every one, each first naming its setting (an experiment file's line)
            f"{name} must be {rule}, not {getattr(self, name)!r}"
            for name, (ok, rule) in rules.items()
            if not ok
        ]
        if bad:
            raise ValueError("; ".join(bad))


@dataclass(frozen=True)
class DerivedArch:
    """One architecture a search derived."""

    arch: Arch
    latency_ms: float | None  # its LUT latency
    supernet_accuracy: float | None  # inside the trained supernet, when candidates were ranked


@dataclass
class SearchResult:
    """What one supernet search found, and how it got there."""

    target_ms: float | None
    derived: list[DerivedArch]  # best first (by supernet accuracy when ranked)
    expected_latency_ms: float | None  # E[latency] under the final gate probabilities
    wall_time_s: float
    history: list[dict[str, float]] = field(default_factory=list)  # one record per epoch

    @property
    def arch(self) -> Arch:
        return self.derived[0].arch

    @property
    def arch_latency_ms(self) -> float | None:
        return self.derived[0].latency_ms

    @property
    def supernet_accuracy(self) -> float | None:
        return self.derived[0].supernet_accuracy


class BatchStream:
    """Endless shuffled full mini-batches of one split, as tensors on a device. An object,
    not a generator, so that a training in progress can be copied and go on twice."""

    def __init__(
        self,
        x: np.ndarray,
        y: np.ndarray,
        size: int,
        rng: np.random.Generator,
        device: torch.device,
    ):
        self.x, self.y, self.rng, self.device = x, y, rng, device
        self.starts = range(0, max(1, len(y) - size + 1), size)  # full batches only
        self.size, self.order, self.next = size, np.empty(0, dtype=np.int64), len(self.starts)

    def __next__(self) -> tuple[torch.Tensor, torch.Tensor]:
        if self.next == len(self.starts):  # a new pass, shuffled when first needed
            self.order, self.next = self.rng.permutation(len(self.y)), 0
        start = self.starts[self.next]
        idx = self.order[start : start + self.size]
        self.next += 1
        return (
            torch.from_numpy(self.x[idx]).to(self.device),
            torch.from_numpy(self.y[idx]).to(self.device),
        )


@dataclass
class Training:
    """A supernet's training in progress: everything its next epoch depends on, so that a
    copy taken after the warm-up goes on exactly as the original would."""

    net: SuperNet
    table: LatencyTable | None
    weight_opt: torch.optim.Optimizer
    schedule: torch.optim.lr_scheduler.LRScheduler
    train: BatchStream
    val: BatchStream  # shares the train stream's numpy generator
    history: list[dict[str, float]] = field(default_factory=list)  # one record per epoch
    rng_states: list[torch.Tensor] = field(default_factory=list)  # torch's, when copied


def _rescheduled(
    schedule: torch.optim.lr_scheduler.CosineAnnealingLR,
) -> torch.optim.lr_scheduler.CosineAnnealingLR:
    """A deep copy's `schedule` made anew on its optimiser, in the same state and at the same
    learning rates: a copied optimiser loses the mark torch's scheduler puts on its `step`,
    and the first step of a copy taken before any (no warm-up) warned that `optimizer.step()`
    had been overridden."""
    optimizer = schedule.optimizer
    rates = [group["lr"] for group in optimizer.param_groups]
    fresh = type(schedule)(optimizer, schedule.T_max, eta_min=schedule.eta_min)
    fresh.load_state_dict(schedule.state_dict())
    for group, rate in zip(optimizer.param_groups, rates, strict=True):
        group["lr"] = rate
    return fresh


def latency_term(expected: torch.Tensor, target: float, kind: LatencyLoss) -> torch.Tensor:
    """The latency penalty of an expected latency against its target (0 on target)."""
    log_ratio = torch.log(expected / target)
    return log_ratio.abs() if kind == "log_ratio" else F.relu(log_ratio)


def latency_model(source: Any, space: SearchSpace) -> BlockLatencyModel | None:
    """The block latency model of `latency_predictor`: None, one given (a `LUTPredictor`), or
    a lookup table loaded from a latency profile (.csv) or a saved `lut` predictor. A predictor
    without per-block latencies (a fitted `learned` or `transfer` one) is refused here."""
    from hwnas.predictors import LUTPredictor, load_predictor

    if isinstance(source, str | Path):
        name = source
        source = (
            LUTPredictor.from_profile(source, space)
            if Path(source).suffix.lower() == ".csv"
            else load_predictor(source, space)
        )
    else:
        name = "latency_predictor"
    if source is not None and not all(
        callable(getattr(source, m, None)) for m in ("block_latency", "base_latency")
    ):
        raise ValueError(
            f"{name}: the differentiable searcher needs a lookup-table (lut) predictor, not "
            f"{type(source).__name__} (it has no per-block latencies)"
        )
    return source


def search_device(device: str | None) -> torch.device:
    """The device the supernet trains on (CUDA when present, by default). A name torch cannot
    parse, or a device this machine lacks, is refused here rather than deep in the first
    search (the searcher trains in this process, so the device must be here)."""
    parsed = torch_device(device)
    if why := device_problem(parsed):
        raise ValueError(f"device {device!r}: {why}; use device: cpu")
    return parsed


class SupernetSearch:
    """One latency-aware supernet search on a dataset; `run(target_ms)` returns its result."""

    def __init__(
        self,
        space: SearchSpace,
        dataset: Dataset,
        settings: SupernetSettings,
        predictor: BlockLatencyModel | None = None,
        *,
        seed: int = 0,
        device: str | None = None,
        threads: int | None = 1,
        progress: bool = True,
    ):
        if not isinstance(progress, bool):  # "no" would be true
            raise ValueError(f"progress must be true or false, not {progress!r}")
        if threads is not None and not thread_count(threads):
            raise ValueError(f"threads must be {THREADS_RULE} or null, not {threads!r}")
        self.space, self.dataset, self.settings = space, dataset, settings
        self.predictor, self.seed, self.progress = predictor, seed, progress
        self.device, self.threads = search_device(device), threads
        for split in ("train", "val"):
            if (n := len(dataset.split(split)[1])) < 2:
                raise ValueError(
                    f"dataset {dataset.name!r}: the differentiable searcher trains on its "
                    f"{split} split, which {'has one sample' if n else 'is empty'} (batch "
                    "norm on batch statistics needs two or more)"
                )
        with torch_defaults(), torch_seeded(None, torch.device("cpu")):
            net, table = self._supernet()  # the candidates and latencies, checked up front
        self.fastest_ms, self.slowest_ms = (
            table.latency_range_ms(net) if table is not None else (None, None)
        )
        #: every latency (ms) the search prices its choices with, for the memo's fingerprint
        self.latencies_ms = [] if table is None else [table.base_ms, *table.blocks_ms]
        self._warm: Training | None = None  # the training after its warm-up, once trained

    def build(self) -> tuple[SuperNet, LatencyTable | None]:
        """A fresh supernet (seeded weights) and its latency table on the search device."""
        torch.manual_seed(self.seed)
        net, table = self._supernet()
        net.to(self.device)
        return net, table.to(self.device) if table is not None else None

    def _supernet(self) -> tuple[SuperNet, LatencyTable | None]:
        """A supernet of the settings' candidates and its latency table, on the CPU."""
        s = self.settings
        net = SuperNet(
            self.space,
            mixers=s.mixers,
            precisions=s.precisions,
            hard=s.hard,
            share_kernels=s.share_kernels,
        )
        table = None
        if self.predictor is not None:
            try:
                table = LatencyTable(net, self.predictor)
            except (KeyError, ValueError) as e:
                raise ValueError(
                    f"latency_predictor cannot price every supernet choice ({e}); restrict "
                    "the choices with the `precisions` / `mixers` settings"
                ) from e
        return net, table

    def run(self, target_ms: float | None = None) -> SearchResult:
        if target_ms is not None:
            latency_target("latency_target_ms", target_ms)
            if self.predictor is None:
                raise ValueError("a latency target needs a latency_predictor (a LUT)")
        start = time.perf_counter()
        # torch's defaults (float32, autograd on) whatever the caller's process holds
        with torch_threads(self.threads), torch_defaults(), torch_seeded(None, self.device):
            training = self._warmed_up(target_ms)
            self._train(
                training, target_ms, range(self.settings.warmup_epochs, self.settings.epochs)
            )
            net, table, history = training.net, training.table, training.history
            ranked = self._derive(net, table, target_ms)
        with torch.no_grad():
            expected = float(net.expected_latency(table)) if table is not None else None
        derived = [
            DerivedArch(
                arch,
                lut_latency(self.predictor, self.space, arch) if self.predictor else None,
                accuracy,
            )
            for arch, accuracy in ranked[: self.settings.derive_count]
        ]
        over = [d.latency_ms for d in derived if target_ms is not None and d.latency_ms > target_ms]
        if over:
            warn_at_caller(
                f"latency target {target_ms} ms is out of reach: {len(over)} of the "
                f"{len(derived)} derived architecture(s) exceed it (the fastest takes "
                f"{min(over):.4g} ms in the LUT, as fast as single changes get); proposed anyway"
            )
        result = SearchResult(target_ms, derived, expected, time.perf_counter() - start, history)
        if self.progress:
            report_derived(result)
        return result

    def _derive(self, net: SuperNet, table, target_ms) -> list[tuple[Arch, float | None]]:
        """The argmax architecture, and with `derive_samples` also that many drawn from the
        gates (each fitted to the target), ranked by their accuracy inside the supernet
        (validation split, batch-norm statistics of the batch), best first."""
        generator = torch.Generator().manual_seed(self.seed)
        draws = [net.sample_selection(generator) for _ in range(self.settings.derive_samples)]
        candidates = {}
        for picks in [net.argmax_selection(), *draws]:
            if table is not None and target_ms is not None:
                picks = net.fit_latency(picks, table, target_ms)
            candidates.setdefault(net.arch_of(picks), picks)
        if len(candidates) == 1:
            return [(next(iter(candidates)), None)]
        scored = [(arch, self._supernet_accuracy(net, picks)) for arch, picks in candidates.items()]
        return sorted(scored, key=lambda pair: -pair[1])  # stable: the argmax first of equals

    @torch.no_grad()
    def _supernet_accuracy(self, net: SuperNet, picks) -> float:
        net.use(picks)
        net.train()  # batch statistics: the shared running ones belong to no single path
        x, y = self.dataset.split("val")
        starts = list(range(0, len(y), 512))
        if len(starts) > 1 and len(y) - starts[-1] == 1:
            starts.pop()  # a lone last sample joins the chunk before: batch norm on batch
            # statistics cannot normalise one sample after a 1x1 feature map
        correct = 0
        for start, stop in zip(starts, [*starts[1:], len(y)]):
            xb = torch.from_numpy(x[start:stop]).to(self.device)
            yb = torch.from_numpy(y[start:stop]).to(self.device)
            correct += int((net(xb).argmax(1) == yb).sum())
        return 100.0 * correct / len(y)

    def _warmed_up(self, target_ms: float | None) -> Training:
        """The training after its warm-up epochs, which no target steers: the first search
        trains them, and each search goes on from a copy (weights, optimiser, schedule, batch
        order and random state), so a sweep trains its warm-up once and every search of it is
        the one it would be alone."""
        s = self.settings
        if self._warm is None:
            training = self._start()
            self._train(training, target_ms, range(s.warmup_epochs))
            training.rng_states = self._rng_states()
            for gate in training.net.gates():  # the last sample's: redrawn before it is used
                gate.weights = gate.weights.detach()  # (a tensor in a graph cannot be copied)
            self._warm = training
        elif self.progress and s.warmup_epochs:
            print(
                f"supernet ({target_text(target_ms)}): {s.warmup_epochs} warm-up epoch(s) taken "
                "from an earlier search of the sweep (weights only, no target steers them)",
                file=sys.stderr,
            )
        data = (self._warm.train.x, self._warm.train.y, self._warm.val.x, self._warm.val.y)
        training = copy.deepcopy(self._warm, {id(array): array for array in data})  # not the data
        training.schedule = _rescheduled(training.schedule)
        self._set_rng_states(training.rng_states)
        return training

    def _start(self) -> Training:
        """A fresh supernet (seeded weights), its weight optimiser and the batch streams."""
        s = self.settings
        net, table = self.build()
        weight_opt = torch.optim.AdamW(
            net.weight_parameters(), lr=s.weight_lr, weight_decay=s.weight_decay
        )
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(weight_opt, s.epochs * self._steps)
        rng = np.random.default_rng(self.seed)
        train, val = (
            BatchStream(*self.dataset.split(split), s.batch_size, rng, self.device)
            for split in ("train", "val")
        )
        return Training(net, table, weight_opt, schedule, train, val)

    def _rng_states(self) -> list[torch.Tensor]:
        """Torch's random states the supernet draws its paths from (the CPU's, the GPU's)."""
        cuda = [torch.cuda.get_rng_state(self.device)] if self.device.type == "cuda" else []
        return [torch.get_rng_state(), *cuda]

    def _set_rng_states(self, states: list[torch.Tensor]) -> None:
        torch.set_rng_state(states[0])
        if self.device.type == "cuda":
            torch.cuda.set_rng_state(states[1], self.device)

    @property
    def _steps(self) -> int:
        """Weight steps per epoch."""
        return max(1, len(self.dataset.y_train) // self.settings.batch_size)

    def _train(self, training: Training, target_ms: float | None, epochs: range) -> None:
        """Train `epochs` of the supernet: weight steps, and after the warm-up each followed
        by an architecture step. Appends one record per epoch to the training's history."""
        s, net, table, steps = self.settings, training.net, training.table, self._steps
        arch_opt = torch.optim.Adam(net.arch_parameters(), lr=s.arch_lr, betas=(0.5, 0.999))
        last_arch_step = max(1, (s.epochs - s.warmup_epochs) * steps - 1)  # runs at tau_end
        for epoch in epochs:
            totals: dict[str, float] = {}
            for step in range(steps):
                arch_step = max(0, (epoch - s.warmup_epochs) * steps + step)  # 0 in warm-up
                annealed = min(1.0, arch_step / last_arch_step)
                tau = s.tau_start * (s.tau_end / s.tau_start) ** annealed
                net.train()
                net.sample(tau)
                x, y = next(training.train)
                loss = F.cross_entropy(net(x), y)
                training.weight_opt.zero_grad(set_to_none=True)
                loss.backward()
                training.weight_opt.step()
                training.schedule.step()
                _add(totals, train_loss=_finite(loss, "train loss", epoch, s))
                if epoch >= s.warmup_epochs:
                    _add(
                        totals,
                        **self._arch_step(net, table, target_ms, arch_opt, next(training.val)),
                    )
            record = {"epoch": epoch + 1, "tau": tau, **{k: v / steps for k, v in totals.items()}}
            if table is not None:
                with torch.no_grad():
                    record["expected_latency_ms"] = float(net.expected_latency(table))
            training.history.append(record)
            if self.progress:
                report_epoch(record, s.epochs, target_ms)

    def _arch_step(self, net, table, target_ms, optimizer, batch) -> dict[str, float]:
        x, y = batch
        if self.settings.estimator == "reinforce":
            paths = [net.sample_selection() for _ in range(self.settings.reinforce_samples)]
            ce, loss = score_function(net, paths, x, y)
        else:
            net.sample()
            ce = loss = F.cross_entropy(net(x), y)
        out = {"arch_ce": _finite(ce, "architecture step's cross-entropy", None, self.settings)}
        if table is not None and target_ms is not None:
            expected = net.expected_latency(table)
            penalty = latency_term(expected, target_ms, self.settings.latency_loss)
            loss = loss + self.settings.latency_weight * penalty
            out["latency_term"] = _finite(penalty, "latency term", None, self.settings)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return out


class SupernetDiverged(RuntimeError):
    """The supernet's training went to NaN or infinity: its gates mean nothing, so no
    architecture is derived from them."""


def _finite(value: torch.Tensor, what: str, epoch: int | None, s: SupernetSettings) -> float:
    """`value` as a float, or SupernetDiverged naming it and the learning rates to lower."""
    number = value.item()
    if not math.isfinite(number):
        when = f" in epoch {epoch + 1}" if epoch is not None else ""
        raise SupernetDiverged(
            f"the supernet's training diverged{when} ({what} {number}): no architecture is "
            f"derived from it; lower weight_lr (now {s.weight_lr}) or arch_lr (now {s.arch_lr})"
        )
    return number


def score_function(
    net: SuperNet, paths: Sequence[Selection], x: torch.Tensor, y: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean cross-entropy of discrete `paths` (drawn from the gates) on a batch, and the
    REINFORCE surrogate whose gradient in the logits estimates that of the expected
    cross-entropy (each path's baseline: the mean of the others). Unlike the straight-through
    gradient, which only says whether to scale up the sampled op's output, it compares whole
    paths, so depth and width are judged by what they do to the loss."""
    losses, log_probs = [], []
    for picks in paths:
        net.use(picks)
        with torch.no_grad():
            losses.append(F.cross_entropy(net(x), y))
        log_probs.append(net.log_prob(picks))
    loss, log_prob = torch.stack(losses), torch.stack(log_probs)
    baseline = (loss.sum() - loss) / (len(loss) - 1)
    return loss.mean(), ((loss - baseline) * log_prob).mean()


def report_derived(result: SearchResult, reused: bool = False) -> None:
    """One line on stderr per finished search: what it derived, at what LUT latency (a
    prediction, not a measurement), and how long it took (or that it was kept from before)."""
    priced = [d.latency_ms for d in result.derived if d.latency_ms is not None]
    latency = f", LUT latency {', '.join(f'{ms:.4g}' for ms in priced)} ms" if priced else ""
    how = (
        "kept from an earlier run (not trained again)"
        if reused
        else f"in {result.wall_time_s:.0f} s"
    )
    print(
        f"supernet ({target_text(result.target_ms)}): derived {len(result.derived)} "
        f"architecture(s){latency} {how}",
        file=sys.stderr,
    )


def result_to_data(result: SearchResult) -> dict[str, Any]:
    """A search result as JSON-able data (architectures as their choices)."""
    return {
        "target_ms": result.target_ms,
        "derived": [
            {"choices": dict(d.arch), "latency_ms": d.latency_ms, "accuracy": d.supernet_accuracy}
            for d in result.derived
        ],
        "expected_latency_ms": result.expected_latency_ms,
        "wall_time_s": result.wall_time_s,
        "history": result.history,
    }


def result_from_data(data: dict[str, Any], space: SearchSpace) -> SearchResult:
    """The search result `result_to_data` wrote, its architectures checked against `space`."""
    derived = [
        DerivedArch(space.arch(d["choices"]), d["latency_ms"], d["accuracy"])
        for d in data["derived"]
    ]
    return SearchResult(
        data["target_ms"],
        derived,
        data["expected_latency_ms"],
        data["wall_time_s"],
        data["history"],
    )


def report_epoch(record: dict[str, float], epochs: int, target_ms: float | None) -> None:
    """One line on stderr per supernet epoch: whole lines, so they also show above a live
    display that holds the terminal (the experiment's), where a redrawn bar would not."""
    values = ", ".join(f"{k} {v:.4g}" for k, v in record.items() if k != "epoch")
    phase = "" if "arch_ce" in record else " (warm-up: weights only)"
    epoch = f"epoch {record['epoch']}/{epochs}{phase}"
    print(f"supernet ({target_text(target_ms)}) {epoch}: {values}", file=sys.stderr)


def target_text(target_ms: float | None) -> str:
    """How progress lines name a search: by its latency target."""
    return "no latency target" if target_ms is None else f"target {target_ms:g} ms"


def _add(totals: dict[str, float], **values: float) -> None:
    for k, v in values.items():
        totals[k] = totals.get(k, 0.0) + v


class DifferentiableSearcher(Searcher):
    """Supernet search as a `Searcher`: `ask` trains the supernet (one search per latency
    target, lazily) and returns the derived architectures; `tell` records their metrics.

    `dataset`: a dataset name (`digits`, `mnist1d`, ... see `hwnas.evaluators.datasets`), a
    `.npz` path or a `Dataset`. `latency_predictor`: anything with `block_latency(stage,
    width, block)` and `base_latency(widths)` in ms (a `LUTPredictor`, or the path of a profile
    .csv or a saved lut predictor to load one from). `latency_target_ms`
    (one target) or `latency_targets_ms` (a sweep, one search each). Each search derives up
    to `derive_count` architectures (fewer where its picks coincide), and proposes those no
    earlier search derived. Once every target's architectures have been asked, `ask`
    returns an empty list. Other settings are the fields of
    `SupernetSettings`; `device` defaults to CUDA when present. `threads` is torch's thread
    count while a supernet trains: 1 by default, as the `train` evaluator's, since these
    small networks train fastest on one thread of a shared CPU (null keeps torch's own).

    The supernet always minimises cross-entropy plus the latency term; `objectives` and
    `constraints` only rank and filter the evaluated architectures (`best`, `pareto_front`),
    and constraints draw a warning, since the search does not steer toward them (a latency
    bound is a `latency_target_ms`).
    """

    name = "differentiable"

    def __init__(
        self,
        space: SearchSpace,
        objectives: Any = (("accuracy", "max"),),
        constraints: Any = (),
        seed: int = 0,
        *,
        dataset: str | Path | Dataset | None = None,
        latency_predictor: BlockLatencyModel | str | Path | None = None,
        latency_target_ms: float | None = None,
        latency_targets_ms: Sequence[float] | None = None,
        device: str | None = None,
        threads: int | None = 1,
        progress: bool = True,
        **settings: Any,
    ):
        super().__init__(space, objectives, constraints, seed)
        check_supernet_space(space)  # first: its other settings and inputs mean nothing else
        if self.constraints:
            targeted = latency_target_ms is not None or latency_targets_ms is not None
            steer = (
                ""
                if targeted
                else "; steer latency with latency_target_ms or latency_targets_ms "
                "(latency.target_ms in an experiment)"
            )
            warn_at_caller(
                "constraints: the differentiable searcher does not steer toward them (they only "
                f"keep infeasible results off best() and the front){steer}"
            )
        check_setting_names(
            "differentiable searcher",
            settings,
            DifferentiableSearcher.__init__,
            passed=PASSED,
            known=SupernetSettings.__dataclass_fields__,
        )
        self.targets = latency_targets(latency_target_ms, latency_targets_ms)
        if any(t is not None for t in self.targets) and latency_predictor is None:
            raise ValueError(
                "latency targets need a latency_predictor (a LUT; in an experiment file, "
                "latency: {profile: PROFILE.csv})"
            )
        self._warn_unsteered_objectives()
        self.search = SupernetSearch(
            space,
            resolve_dataset(dataset, space),
            SupernetSettings(**settings),
            latency_model(latency_predictor, space),
            seed=seed,
            device=device,
            threads=threads,
            progress=progress,
        )
        fastest, slowest = self.search.fastest_ms, self.search.slowest_ms
        if below := [t for t in self.targets if t is not None and t < fastest]:
            warn_at_caller(
                f"latency targets {below} ms are below the fastest architecture the LUT prices "
                f"({fastest:.4g} ms): no search can meet them; each derives the fastest it can"
            )
        above = [t for t in self.targets if t is not None and t > slowest]
        if above and self.search.settings.latency_loss == "log_ratio":
            warn_at_caller(
                f"latency targets {above} ms are above the slowest architecture the LUT prices "
                f"({slowest:.4g} ms): the log_ratio latency loss pulls those searches toward "
                "the slowest networks; use latency_loss: hinge (it only penalises exceeding a "
                "target) or a lower target"
            )
        self.results: list[SearchResult] = []
        self._queued: list[Arch] = []  # derived by the last search, not yet proposed

    def _search(self, i: int) -> SearchResult:
        """The supernet search for the `i`-th target: kept in `memo` when there is one, and
        taken from there when an earlier process (a run now resumed) finished it."""
        target = self.targets[i]
        key = f"{MEMO_PREFIX}{self._fingerprint}:{i}:{target}"
        if self.memo is not None and (kept := self.memo.get(key)) is not None:
            result = result_from_data(kept, self.space)
            if self.search.progress:
                report_derived(result, reused=True)
            return result
        result = self.search.run(target)
        if self.memo is not None:
            self.memo[key] = result_to_data(result)
        return result

    @cached_property
    def _fingerprint(self) -> str:
        """What a search's result depends on besides its target: the seed, the settings, the
        space, the data and the latency table. A memo shared by other searchers (or a run's,
        whose experiment may not change) never hands back another search's result. A `.npz`
        dataset counts by its arrays, not its path: a run whose project was moved elsewhere
        finds its finished searches."""
        search, data = self.search, self.search.dataset
        named = "a .npz file" if data.name.lower().endswith(".npz") else data.name
        digest = hashlib.sha256()
        for part in (
            self.seed,
            sorted(asdict(search.settings).items()),
            # the whole declaration (an edited space keeps its name and version)
            self.space.spec.model_dump(mode="json", exclude={"description"}),
            tuple(self.space.input_shape),
            (named, data.num_classes),
        ):
            digest.update(repr(part).encode())
        # the latencies themselves: two tables from one profile path (another
        # subtract_overhead) or built in memory have the same source, not the same values
        for array in (data.x_train, data.y_train, data.x_val, data.y_val, *search.latencies_ms):
            digest.update(np.ascontiguousarray(array).tobytes())
        return digest.hexdigest()[:16]

    def _warn_unsteered_objectives(self) -> None:
        """Say which objectives the supernet does not optimise: it minimises cross-entropy
        (accuracy) and, toward a target, latency; any other objective only ranks results."""
        targeted = any(t is not None for t in self.targets)
        unsteered = [
            f"{o.metric} ({o.direction})"
            for o in self.objectives
            if not ("accuracy" in o.metric and o.direction == "max")
            and not ("loss" in o.metric and o.direction == "min")
            and not ("latency" in o.metric and o.direction == "min" and targeted)
        ]
        if unsteered:
            warn_at_caller(
                f"objectives {unsteered}: the differentiable searcher does not steer toward "
                "them (its supernet minimises cross-entropy, and latency only toward "
                "latency_target_ms / latency_targets_ms); they only rank the evaluated results"
            )

    def _propose(self, n: int) -> list[Arch]:
        proposed: list[Arch] = []
        try:
            while len(proposed) < n:
                if not self._queued:
                    if len(self.results) == len(self.targets):
                        break
                    result = self._search(len(self.results))
                    self.results.append(result)
                    self._queued = [d.arch for d in result.derived]
                arch = self._queued.pop(0)
                target = self.results[-1].target_ms
                first_by = self._first_derived_by(arch)[0].target_ms
                if not self.seen(arch) and arch not in proposed:
                    proposed.append(arch)
                elif first_by != target:  # not a resumed search finding its own again
                    warn_at_caller(
                        f"the supernet search with latency target {target} ms derived "
                        f"architecture {arch.key}, which the one with target {first_by} ms "
                        "derived too: nothing new from it"
                    )
        except BaseException:  # a later search failed or was interrupted (Ctrl-C)
            self._queued[:0] = proposed  # nothing was proposed: offer these first next time
            raise
        return proposed

    def _first_derived_by(self, arch: Arch) -> tuple[SearchResult, int] | tuple[None, None]:
        """The first search that derived `arch`, and its rank there (1: that search's pick)."""
        for result in self.results:
            for rank, derived in enumerate(result.derived, 1):
                if derived.arch == arch:
                    return result, rank
        return None, None

    def origin(self, arch: Arch) -> dict[str, float | int]:
        """The latency target of the search that first derived `arch` (absent for a search
        without one) and `arch`'s rank among that search's `derive_count` picks."""
        result, rank = self._first_derived_by(arch)
        if result is None:
            return {}
        target = {} if result.target_ms is None else {"latency_target_ms": result.target_ms}
        return {**target, "derived_rank": rank}

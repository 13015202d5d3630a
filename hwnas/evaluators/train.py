"""`TrainEvaluator`: train a candidate from scratch on a dataset and report its accuracy.

The model comes from `space.build` (fake quantization at each block's precision is on), so
the accuracy reflects the precisions the candidate will run at. Training is AdamW with a
linear warm-up and cosine decay, seeded weights and a seeded data order, one torch thread by
default: the same arch, seed and budget give the same metrics. Before scoring, batch-norm
statistics are recomputed with the final weights (`precise_bn`): the running averages that
training keeps trail weights that still move, which held a 2-epoch candidate's accuracy about
4 points down (docs/benchmarks.md). Divergence (NaN/inf loss), out of memory, exceptions and
the evaluator's own time limit come back as failed `Metrics`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from hwnas.evaluators.datasets import Dataset, resolve_dataset, validation_caveats
from hwnas.evaluators.failures import (
    COST_METRICS,
    EvaluationFailed,
    scored_with_costs,
)
from hwnas.evaluators.metrics import Metrics
from hwnas.predictors.backends import torch_device
from hwnas.predictors.torch_state import (
    THREADS_RULE,
    TORCH_SEED_RULE,
    thread_count,
    torch_defaults,
    torch_seed,
    torch_seeded,
    torch_threads,
)
from hwnas.spaces import Arch, SearchSpace
from hwnas.spaces.callers import warn_at_caller
from hwnas.spaces.errors import finite_number, real_number, whole_number
from hwnas.spaces.reprs import facts_repr, named

#: how many training samples `precise_bn` passes through the trained model at most
PRECISE_BN_SAMPLES = 4096
DEFAULT_EPOCHS = 10  # when neither epochs nor steps is given

#: what a trained candidate reports besides its costs (`accuracy` is the validation accuracy)
TRAINED_METRICS = (
    "accuracy",
    "val_accuracy",
    "test_accuracy",
    "val_loss",
    "loss",
    "train_time_s",
    "epochs",
    "steps",
)


#: the rule of an evaluator's `threads`: `None` keeps torch's own count
THREADS_OR_NONE = f"{THREADS_RULE} or None"


def check_settings(rules: Iterable[tuple[str, Any, bool, str]]) -> None:
    """Refuse the first `(setting, value, ok, rule)` that is not ok, naming it: a bad setting
    stops the evaluator being built instead of failing every candidate one by one."""
    for setting, value, ok, rule in rules:
        # inf passes "> 0", and an int past a float's range failed every candidate's optimizer
        finite = not real_number(value) or finite_number(value)
        if not ok or not finite:
            also = "" if finite else " and finite"
            raise ValueError(f"{setting} must be {rule}{also}, not {setting_text(value)}")


def setting_text(value: Any) -> str:
    """A setting's value as a message shows it: a float as written (a config reads
    `epochs: 0` as 0.0), anything else as Python writes it."""
    return f"{value:g}" if isinstance(value, float) else repr(value)


def _counting(value: Any) -> bool:
    """Whether `value` is a whole number > 0 (numpy's too), not a truth value."""
    return whole_number(value) and value > 0


@dataclass
class _Clock:
    limit_s: float | None
    start: float = 0.0

    def __post_init__(self) -> None:
        self.start = time.perf_counter()

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def check(self) -> None:
        if self.limit_s is not None and self.elapsed > self.limit_s:
            raise EvaluationFailed(
                f"timeout after {self.limit_s:g} s (the train evaluator's time_limit_s)"
            )


class TrainEvaluator:
    """Train each candidate from scratch for `epochs` (default 10) or `steps`, not both, and
    report val/test accuracy.

    `budget` in `evaluate` is epochs in place of `epochs` or `steps` (fractions allowed: 0.5
    trains half an epoch).
    `time_limit_s` bounds one evaluation (checked every step) but for the test split's scoring,
    which never fails a candidate; `threads` is torch's intra-op
    thread count during the evaluation. Reports `accuracy` (= `val_accuracy`) and
    `test_accuracy` in percent, like the NAS-Bench-201 tables, plus `loss` (training loss over
    the last epoch, label smoothing included), `val_loss` (without it), `train_time_s` (build,
    training and `precise_bn`), `epochs`, `steps` and the analytic costs.
    `precise_bn` recomputes batch-norm statistics on up to `PRECISE_BN_SAMPLES` training
    samples, drawn at random (seeded), before scoring (false: score with the running
    averages, as before 2026-12-02).
    """

    def __init__(
        self,
        space: SearchSpace,
        dataset: str | Path | Dataset | None = None,
        *,
        epochs: float | None = None,
        steps: int | None = None,
        batch_size: int = 64,
        lr: float = 3e-3,
        weight_decay: float = 0.05,
        warmup_fraction: float = 0.05,
        label_smoothing: float = 0.0,
        seed: int = 0,
        threads: int | None = 1,
        time_limit_s: float | None = None,
        device: str | None = None,
        precise_bn: bool = True,
    ):
        if epochs is not None and steps is not None:  # steps would win without a word
            raise ValueError(
                "epochs and steps: give one of them (epochs counts passes over the training "
                "split, steps the batches)"
            )
        epochs = DEFAULT_EPOCHS if epochs is None else epochs
        check_settings(
            [
                ("epochs", epochs, epochs > 0, "> 0"),
                # a fractional count trained whole epochs and reported the fraction
                ("steps", steps, steps is None or _counting(steps), "a whole number > 0"),
                ("batch_size", batch_size, _counting(batch_size), "a whole number > 0"),
                ("lr", lr, lr > 0, "> 0"),
                ("weight_decay", weight_decay, weight_decay >= 0, ">= 0"),
                ("warmup_fraction", warmup_fraction, 0 <= warmup_fraction <= 1, "in [0, 1]"),
                # at 1 the targets are uniform whatever the label: nothing is learnt
                ("label_smoothing", label_smoothing, 0 <= label_smoothing < 1, "in [0, 1)"),
                ("threads", threads, threads is None or thread_count(threads), THREADS_OR_NONE),
                ("time_limit_s", time_limit_s, time_limit_s is None or time_limit_s > 0, "> 0"),
                ("seed", seed, torch_seed(seed), TORCH_SEED_RULE),
                ("precise_bn", precise_bn, isinstance(precise_bn, bool), "true or false"),
            ]
        )
        torch_device(device)  # a name torch cannot parse is refused here
        self.space = space
        self.dataset = resolve_dataset(dataset, space)
        for caveat in validation_caveats(self.dataset):
            warn_at_caller(caveat)
        n = len(self.dataset.y_train)
        if n // max(1, math.ceil(n / batch_size)) < 2:  # the smallest batch of an epoch
            raise ValueError(
                f"batch_size {batch_size}: the {n} training samples of "
                f"{self.dataset.name!r} would give batches of one sample, on which batch norm "
                "cannot train (after a 1x1 feature map every candidate fails); use a "
                "batch_size that splits them into batches of 2 or more"
            )
        if steps is None and len(self.dataset.y_train) < batch_size:
            warn_at_caller(
                f"dataset {self.dataset.name!r}: its {len(self.dataset.y_train)} training "
                f"samples are fewer than batch_size {batch_size}, so each epoch is one step; "
                "lower batch_size or raise epochs"
            )
        self.epochs, self.steps, self.batch_size = epochs, steps, batch_size
        self.lr, self.weight_decay, self.warmup_fraction = lr, weight_decay, warmup_fraction
        self.label_smoothing, self.precise_bn = label_smoothing, precise_bn
        self.seed, self.threads, self.time_limit_s, self.device = (
            seed,
            threads,
            time_limit_s,
            device,
        )

    @facts_repr
    def __repr__(self) -> list[str]:
        """Its space, dataset and training length (and device, where one is asked for)."""
        return named(
            space=self.space.name,
            dataset=self.dataset.name,
            epochs=self.epochs if self.steps is None else None,
            steps=self.steps,
            device=self.device,
        )

    @property
    def metric_names(self) -> tuple[str, ...]:
        """The metrics of a successful evaluation (checked against objectives at start)."""
        return (*COST_METRICS, *TRAINED_METRICS)

    def evaluate(self, arch: Arch, budget: float | None = None) -> Metrics:
        return scored_with_costs(self.space, arch, lambda _: self.train(arch, budget)[1])

    def _total_steps(self, budget: float | None) -> int:
        per_epoch = math.ceil(len(self.dataset.y_train) / self.batch_size)
        if budget is not None:
            # an infinite budget failed every candidate as "cannot convert float infinity"
            if not finite_number(budget) or not budget > 0:
                raise ValueError(
                    f"budget must be a number of epochs > 0 and finite, not {budget!r}"
                )
            return max(1, round(budget * per_epoch))
        return self.steps if self.steps is not None else max(1, round(self.epochs * per_epoch))

    def train(
        self,
        arch: Arch,
        budget: float | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> tuple[nn.Module, dict[str, float]]:
        """The trained model of `arch` and its metrics (what `evaluate` scores, less the
        costs) on its `threads`: `hwnas train` keeps the model, which a search does not. The
        model is in eval mode, as it was scored: a forward pass in training mode would score
        with its batch's statistics and move the `precise_bn` ones (a conv1d candidate after
        an epoch of mnist1d: 65.875 %, then 65.5 % after one pass over the validation split in
        training mode, before 2026-12-06 the mode the model came back in).
        `progress(step, total)` is called after each training step (a progress bar's)."""
        device = torch_device(self.device)
        with torch_threads(self.threads), torch_defaults(), torch_seeded(self.seed, device):
            return self._train(arch, budget, progress)

    def _train(
        self, arch: Arch, budget: float | None, progress: Callable[[int, int], None] | None
    ) -> tuple[nn.Module, dict[str, float]]:
        clock = _Clock(self.time_limit_s)
        device = torch_device(self.device)
        model = self.space.build(arch).to(device)
        data = self.dataset
        total = self._total_steps(budget)
        optimizer = torch.optim.AdamW(
            model.parameters(), lr=self.lr, weight_decay=self.weight_decay
        )
        schedule = self._schedule(optimizer, total)
        order = np.random.default_rng(self.seed)
        n, step, losses = len(data.y_train), 0, []
        model.train()
        while step < total:
            for batch in np.array_split(order.permutation(n), math.ceil(n / self.batch_size)):
                if step == total:
                    break
                x = torch.from_numpy(data.x_train[batch]).to(device)
                y = torch.from_numpy(data.y_train[batch]).to(device)
                loss = F.cross_entropy(model(x), y, label_smoothing=self.label_smoothing)
                if not torch.isfinite(loss):
                    raise EvaluationFailed(f"diverged: loss is {loss.item()} at step {step}")
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                schedule.step()
                losses.append(loss.item())
                step += 1
                clock.check()
                if progress is not None:
                    progress(step, total)
        if self.precise_bn:
            # a seeded random draw in random order, as the training batches are: a file's
            # first samples may all be of one class, and sorted batches hide the variance
            # between classes from the statistics
            picks = order.permutation(n)[:PRECISE_BN_SAMPLES]
            recompute_batch_norm(model, data.x_train[picks], self.batch_size, device)
        train_time = clock.elapsed
        val_acc, val_loss = self._score(model, *data.split("val"), device, clock)
        if not math.isfinite(val_loss):
            raise EvaluationFailed(f"diverged: validation loss is {val_loss}")
        # the test split never fails a candidate (nor does the time limit while it is scored):
        # whether one is kept must not depend on it
        test_acc, _ = self._score(model, *data.split("test"), device, _Clock(None))
        per_epoch = math.ceil(n / self.batch_size)
        return (
            model,
            {  # TRAINED_METRICS
                "accuracy": val_acc,
                "val_accuracy": val_acc,
                "test_accuracy": test_acc,
                "val_loss": val_loss,
                "loss": float(np.mean(losses[-per_epoch:])),
                "train_time_s": train_time,
                "epochs": total / per_epoch,
                "steps": total,
            },
        )

    def _schedule(
        self, optimizer: torch.optim.Optimizer, total: int
    ) -> torch.optim.lr_scheduler.LRScheduler:
        """Linear warm-up over `warmup_fraction` of the steps, then cosine decay to zero."""
        warmup = max(1, round(self.warmup_fraction * total))
        return torch.optim.lr_scheduler.LambdaLR(
            optimizer,
            lambda s: min((s + 1) / warmup, 0.5 * (1 + math.cos(math.pi * s / total))),
        )

    @torch.no_grad()
    def _score(
        self, model: nn.Module, x: np.ndarray, y: np.ndarray, device: torch.device, clock: _Clock
    ) -> tuple[float, float]:
        """Accuracy in percent and mean loss on one split, in eval mode (the model is left
        in it), in batches of `batch_size`: what fits in training fits here (a fixed 512 took
        a 1x8192-sample candidate trained in batches of 8 from 1.6 to 9.6 GB)."""
        model.eval()
        correct, loss, size = 0, 0.0, self.batch_size
        for start in range(0, len(y), size):
            xb = torch.from_numpy(x[start : start + size]).to(device)
            yb = torch.from_numpy(y[start : start + size]).to(device)
            logits = model(xb)
            correct += int((logits.argmax(1) == yb).sum())
            loss += float(F.cross_entropy(logits, yb, reduction="sum"))
            clock.check()
        return 100.0 * correct / max(1, len(y)), loss / max(1, len(y))


@torch.no_grad()
def recompute_batch_norm(
    model: nn.Module, x: np.ndarray, batch_size: int, device: torch.device
) -> None:
    """Set every batch norm's running statistics to their average over `x` with the model's
    current weights (PreciseBN; Wu & Johnson, "Rethinking 'Batch' in BatchNorm", 2021)."""
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # a cumulative average over the batches below
    model.train()
    try:
        for batch in np.array_split(x, math.ceil(len(x) / batch_size)):  # as in training
            model(torch.from_numpy(batch).to(device))
    finally:
        for m, momentum in zip(norms, momenta, strict=True):
            m.momentum = momentum

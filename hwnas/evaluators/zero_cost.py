"""`ZeroCostEvaluator`: training-free proxies of a candidate's trainability, from a few batches.

Each proxy is computed on a freshly initialised (seeded) model and reported as `zc_<name>`:

- `synflow` (Tanaka et al. 2020): sum |theta * dR/dtheta| for R = sum of the output of the
  network with |weights| on an all-ones input (float64, eval-mode norms, no fake
  quantization: fp16 rounding would overflow); data-free.
- `naswot` (Mellor et al. 2021): log-determinant of the kernel of binary activation codes of
  the ReLU/GELU units over a batch (K = C C^T + (1-C)(1-C)^T).
- `jacob_cov` (Mellor et al. 2021, v1): -sum(log(lambda + k) + 1/(lambda + k)) over the
  eigenvalues of the correlation of input Jacobians across the batch (of fewer samples than the
  input has elements: each Jacobian is centred over the input's D elements, so D of them span
  D - 1 dimensions at most and a zero eigenvalue would add a constant -1/k to every score).
- `grad_norm` (Abdelfattah et al. 2021): the sum over layers of the Euclidean norm of each
  layer's loss gradient (their definition and code; not the one norm of all gradients).
- `snip` (Lee et al. 2019): sum |theta * dL/dtheta|.
- `params`: the parameter count, the baseline every proxy must beat.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from hwnas.evaluators.datasets import Dataset, resolve_dataset
from hwnas.evaluators.failures import (
    COST_METRICS,
    EvaluationFailed,
    scored_with_costs,
)
from hwnas.evaluators.metrics import Metrics
from hwnas.evaluators.train import THREADS_OR_NONE, check_settings
from hwnas.predictors.backends import torch_device
from hwnas.predictors.torch_state import (
    TORCH_SEED_RULE,
    thread_count,
    torch_seed,
    torch_seeded,
)
from hwnas.spaces import Arch, SearchSpace, set_fake_quant
from hwnas.spaces.callers import warn_at_caller
from hwnas.spaces.reprs import facts_repr, named

Batch = tuple[torch.Tensor, torch.Tensor]


def _weights(model: nn.Module) -> list[nn.Parameter]:
    """Weights of convolutions and linear layers (the tensors the proxies score)."""
    return [
        m.weight
        for m in model.modules()
        if isinstance(m, nn.Conv1d | nn.Conv2d | nn.Linear) and m.weight.requires_grad
    ]


def synflow(model: nn.Module, batch: Batch) -> float:
    net = set_fake_quant(copy.deepcopy(model).double().eval(), False)
    with torch.no_grad():
        for p in net.state_dict().values():
            p.abs_()
    net.zero_grad()
    ones = torch.ones((1, *batch[0].shape[1:]), dtype=torch.float64, device=batch[0].device)
    net(ones).sum().backward()
    with torch.no_grad():
        return float(sum((w * w.grad).abs().sum() for w in _weights(net) if w.grad is not None))


def _loss_grads(model: nn.Module, batch: Batch) -> list[tuple[torch.Tensor, torch.Tensor]]:
    model.zero_grad()
    F.cross_entropy(model(batch[0]), batch[1]).backward()
    return [(w, w.grad) for w in _weights(model) if w.grad is not None]


def grad_norm(model: nn.Module, batch: Batch) -> float:
    grads = _loss_grads(model, batch)
    with torch.no_grad():
        return float(sum(torch.linalg.vector_norm(g) for _, g in grads))


def snip(model: nn.Module, batch: Batch) -> float:
    grads = _loss_grads(model, batch)
    with torch.no_grad():
        return float(sum((w * g).abs().sum() for w, g in grads))


ACTIVATIONS = (nn.ReLU, nn.ReLU6, nn.GELU, nn.SiLU, nn.Hardswish, nn.LeakyReLU)


def naswot(model: nn.Module, batch: Batch) -> float:
    codes: list[torch.Tensor] = []

    def record(module, inputs, out):
        codes.append((out.detach().flatten(1) > 0).double())

    units = [m for m in model.modules() if isinstance(m, ACTIVATIONS)]
    if not units:
        raise ValueError("naswot needs ReLU-like activation modules, the model has none")
    hooks = [m.register_forward_hook(record) for m in units]
    try:
        with torch.no_grad():
            model(batch[0])
    finally:
        for h in hooks:
            h.remove()
    c = torch.cat(codes, dim=1)
    kernel = c @ c.T + (1 - c) @ (1 - c).T
    return float(torch.linalg.slogdet(kernel)[1])


def jacob_cov(model: nn.Module, batch: Batch) -> float:
    # fewer samples than input dimensions, else the correlation is singular by design
    x = batch[0][: batch[0][0].numel() - 1].clone().requires_grad_(True)
    model.zero_grad()
    model(x).sum().backward()
    jacobians = x.grad.flatten(1).double()
    corr = torch.nan_to_num(torch.corrcoef(jacobians))
    eigenvalues = torch.linalg.eigvalsh(corr)
    k = 1e-5
    return float(-torch.sum(torch.log(eigenvalues.clamp_min(0) + k) + 1.0 / (eigenvalues + k)))


PROXIES: dict[str, Callable[[nn.Module, Batch], float]] = {
    "synflow": synflow,
    "naswot": naswot,
    "jacob_cov": jacob_cov,
    "grad_norm": grad_norm,
    "snip": snip,
}


class ZeroCostEvaluator:
    """Score candidates without training: each proxy averaged over `batches` batches of
    `batch_size` training samples (a fixed, seeded selection), plus `zc_params`. A proxy that
    comes out NaN (overflow) or infinite fails the candidate, naming the proxy."""

    def __init__(
        self,
        space: SearchSpace,
        dataset: str | Path | Dataset | None = None,
        *,
        proxies: Sequence[str] = tuple(PROXIES),
        batch_size: int = 64,
        batches: int = 1,
        seed: int = 0,
        threads: int | None = 1,
        device: str | None = None,
    ):
        unknown = sorted(set(proxies) - set(PROXIES) - {"params"})
        if unknown:
            raise ValueError(f"proxies: unknown {unknown}; choose from {[*PROXIES, 'params']}")
        if "jacob_cov" in proxies and math.prod(space.input_shape) < 3:
            # one sample at most then: no correlation to score, and batch norm cannot train on it
            raise ValueError(
                "proxies: jacob_cov needs an input of 3 or more values (it correlates the input "
                "Jacobians of fewer samples than the input has values), but space "
                f"{space.name!r} has input {tuple(space.input_shape)}; leave it out of proxies"
            )
        self.space = space
        self.dataset = resolve_dataset(dataset, space)
        # one sample has no batch statistics, no kernel and no correlation to score, so every
        # batch needs two (the last may be short, and one batch may be all a small set has)
        n = len(self.dataset.y_train)
        most = (n - 2) // max(batch_size, 1) + 1
        check_settings(
            [
                ("batch_size", batch_size, batch_size >= 2, ">= 2"),
                (
                    "batches",
                    batches,
                    1 <= batches <= most,
                    f"in [1, {most}] (the {n} training samples of {self.dataset.name!r} in "
                    f"batches of {batch_size})",
                ),
                ("seed", seed, torch_seed(seed), TORCH_SEED_RULE),
                ("threads", threads, threads is None or thread_count(threads), THREADS_OR_NONE),
            ]
        )
        torch_device(device)  # a name torch cannot parse is refused here
        if n < batch_size * batches:  # proxy values depend on the batch size
            warn_at_caller(
                f"dataset {self.dataset.name!r}: its {n} training samples are fewer than "
                f"batch_size {batch_size} x batches {batches}, so the proxies score "
                f"{'a batch' if batches == 1 else 'batches'} of fewer samples"
            )
        self.proxies = [p for p in proxies if p != "params"]
        self.batch_size, self.batches, self.seed = batch_size, batches, seed
        self.threads, self.device = threads, device

    @facts_repr
    def __repr__(self) -> list[str]:
        """Its space, dataset and proxies (and device, where one is asked for)."""
        return named(
            space=self.space.name,
            dataset=self.dataset.name,
            proxies=self.proxies,
            device=self.device,
        )

    @property
    def metric_names(self) -> tuple[str, ...]:
        """The metrics of a successful evaluation (checked against objectives at start)."""
        return (*COST_METRICS, "zc_params", *(f"zc_{name}" for name in self.proxies))

    def _batches(self, device: torch.device) -> list[Batch]:
        n = len(self.dataset.y_train)
        picks = np.random.default_rng(self.seed).permutation(n)
        out = []
        for i in range(self.batches):
            idx = np.sort(picks[i * self.batch_size : (i + 1) * self.batch_size])
            x = torch.from_numpy(self.dataset.x_train[idx]).to(device)
            out.append((x, torch.from_numpy(self.dataset.y_train[idx]).to(device)))
        return out

    def evaluate(self, arch: Arch, budget: float | None = None) -> Metrics:
        """`budget` is ignored: proxies cost one forward/backward pass per batch."""
        return scored_with_costs(
            self.space, arch, lambda costs: self._scores(arch, costs), self.threads
        )

    def _scores(self, arch: Arch, costs: Mapping[str, float]) -> dict[str, float]:
        device = torch_device(self.device)
        batches = self._batches(device)
        scores = {"zc_params": costs["params"]}
        for name in self.proxies:
            with torch_seeded(self.seed, device):  # each proxy scores the same initial weights
                model = self.space.build(arch).to(device)
                score = float(np.mean([PROXIES[name](model, b) for b in batches]))
            # nan orders nothing, and an infinite score (naswot's -inf for a singular
            # kernel: inputs the network cannot tell apart) breaks fronts and hypervolumes
            if not math.isfinite(score):
                raise EvaluationFailed(f"zc_{name} is {score}")
            scores[f"zc_{name}"] = score
        return scores

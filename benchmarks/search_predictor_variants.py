"""What was tried for the predictor searcher's Gaussian-process phase with several
objectives (acquisitions, a kernel, picks against stalls), none kept.

    cd benchmarks && ../.venv/bin/python search_predictor_variants.py --variant mc-ehvi \
        --first-seed 0 --seeds 20 --latency hw_fpga_latency_ms hw_pixel3_latency_ms

Each seed runs twice in one process, with the default searcher and with the variant, which
replaces one piece of `PredictorSearcher` (or of its `GaussianProcess`) for the variant's
runs only, so the difference per seed is paired (same seeds, same first 100 results). The
protocol and settings are `search_multi.py`'s (batches of 10, HV ratio at 100 and 300, the
predictor learning both metrics). Every variant acts once the default surrogate is a
Gaussian process (100 results and more); below that the runs are the default's.

- `mc-ehvi`: Monte Carlo expected hypervolume improvement, as in qEHVI (Daulton et al. 2020)
  with independent draws: 64 draws of every candidate's losses from its posterior, common to
  the whole batch; a candidate's score is its improvement of each draw's front, averaged;
  each pick joins every draw's front with its own drawn point.
- `parego`: ParEGO (Knowles 2006): each pick draws Dirichlet weights and takes the Monte
  Carlo expected improvement of the augmented Chebyshev scalarisation (rho 0.05) on the
  observed range scaled to [0, 1].
- `bucb`: GP-BUCB (Desautels et al. 2014): the optimistic point's greedy hypervolume
  improvement as by default, but each pick conditions every objective's Gaussian process on
  a hallucinated result there, so the spread (and optimism) of candidates like it shrinks
  before the next pick of the batch (exact joint posterior of the pool, no refit).
- `linear-kernel`: the acquisition as by default, but the Gaussian processes' kernel gains a
  linear term (a constant times a dot product) beside the Matern: a Bayesian linear model of
  the encoding with a GP on what it leaves (fpga latency is linear in the ops; accuracy
  nearly additive).
- `anchor`: each batch's first pick is the candidate with the best optimistic value of the
  first objective alone (accuracy: mean + `beta` x std), the other picks the default's greedy
  hypervolume improvement with that point joined to the front: the stalled seeds end short
  of the front's most accurate end, where the single-objective searcher finds the table's
  best in about 30 queries.
- `gap`: each batch's first pick is the candidate whose optimistic point adds the most
  hypervolume inside the largest empty rectangle of the front's staircase (between two
  neighbouring front points, or beyond either end up to the box and the candidates' best
  optimistic value), the other picks the default's with it joined to the front.
- `stall-mutant`: while the last `STALL` results brought no new point to the front of
  everything evaluated, one pick of each batch is a single `space.mutate` of a uniformly
  drawn front member (as the naive evolution, SEMO, picks), the others the default's.
- `best-parents`: not a pick but the pool: the parents mutated into candidates are the
  default's Pareto layers plus the `parents` most accurate trials (best first objective; the
  single-objective searcher's parents), so more of the pool lies around the most accurate
  cells.
"""

from __future__ import annotations

import argparse
from types import SimpleNamespace

import numpy as np
from joblib import Parallel, delayed
from search_multi import ratios
from sklearn.gaussian_process.kernels import ConstantKernel, DotProduct

from hwnas.search.pareto import hypervolume_improvements, pareto_mask
from hwnas.search.predictor import (
    PredictorSearcher,
    closest_likely_feasible,
    default_box,
    greedy_hypervolume,
)
from hwnas.search.surrogates import GAUSSIAN_PROCESS_FROM, GaussianProcess

BUDGETS = (100, 300)
DRAWS = 64  # posterior draws of `mc-ehvi` and `parego`
RHO = 0.05  # augmentation of ParEGO's Chebyshev scalarisation
STALL = 30  # results without a new front point that make `stall-mutant` act
DEFAULT_SELECT = PredictorSearcher._select
DEFAULT_PICK = PredictorSearcher._pick_several
DEFAULT_KERNEL = GaussianProcess._kernel
DEFAULT_PARENTS = PredictorSearcher._parents


def _select_keeping_rng(self, pool, done, n, rng):
    """The default `_select`, leaving the ask's generator where `_pick_several` finds it."""
    self.variant_rng = rng
    return DEFAULT_SELECT(self, pool, done, n, rng)


def _gp_phase(observed: np.ndarray) -> bool:
    return len(observed) >= GAUSSIAN_PROCESS_FROM  # no constraints here: every result counts


def pick_mc_ehvi(self, loss_mean, loss_std, feasible, observed, n, ref):
    if not _gp_phase(observed):
        return DEFAULT_PICK(self, loss_mean, loss_std, feasible, observed, n, ref)
    optimistic = loss_mean - self.beta * loss_std
    front = observed[pareto_mask(observed)]
    ref = default_box(front, optimistic) if ref is None else ref
    draws = loss_mean[None] + loss_std[None] * self.variant_rng.standard_normal(
        (DRAWS, *loss_mean.shape)
    )
    fronts = [front] * DRAWS
    picked: list[int] = []
    for _ in range(n):
        score = np.zeros(len(loss_mean))
        for s in range(DRAWS):
            score += hypervolume_improvements(draws[s], fronts[s], ref)
        score = score / DRAWS * feasible
        score[picked] = -np.inf
        if np.max(score) <= 0:
            score = closest_likely_feasible(optimistic, feasible, front, picked)
            score[picked] = -np.inf
        best = int(np.argmax(score))
        picked.append(best)
        if feasible[best] >= 0.5:
            fronts = [np.vstack([f, draws[s, best]]) for s, f in enumerate(fronts)]
    return picked


def chebyshev(weights: np.ndarray, losses: np.ndarray) -> np.ndarray:
    """ParEGO's augmented Chebyshev scalarisation of `losses` (last axis: the objectives)."""
    return np.max(weights * losses, axis=-1) + RHO * np.sum(weights * losses, axis=-1)


def pick_parego(self, loss_mean, loss_std, feasible, observed, n, ref):
    if not _gp_phase(observed):
        return DEFAULT_PICK(self, loss_mean, loss_std, feasible, observed, n, ref)
    rng = self.variant_rng
    low, high = observed.min(axis=0), observed.max(axis=0)
    span = np.maximum(high - low, 1e-9)
    noise = rng.standard_normal((DRAWS, *loss_mean.shape))
    draws = (loss_mean[None] + loss_std[None] * noise - low) / span
    seen = (observed - low) / span
    picked: list[int] = []
    for _ in range(n):
        weights = rng.dirichlet(np.ones(loss_mean.shape[1]))
        best_seen = chebyshev(weights, seen).min()
        score = np.maximum(best_seen - chebyshev(weights, draws), 0).mean(axis=0) * feasible
        score[picked] = -np.inf
        picked.append(int(np.argmax(score)))
    return picked


def select_bucb(self, pool, done, n, rng):
    models = self._models(done)
    processes = [models[o.metric][1] for o in self.objectives]
    if self.constraints or not all(isinstance(p, GaussianProcess) for p in processes):
        return DEFAULT_SELECT(self, pool, done, n, rng)
    x = self._features(pool)
    means, covariances = [], []
    for o, process in zip(self.objectives, processes):
        inputs = process.scaler.transform(x[:, self._columns(o.metric, x)])
        mean, covariance = process.model.predict(inputs, return_cov=True)
        means.append(o.sign * mean)
        covariances.append(covariance)
    loss_mean = np.stack(means, axis=1)
    observed = self._observed_losses(done, [models[o.metric][0] for o in self.objectives])
    front = observed[pareto_mask(observed)]
    feasible = np.ones(len(pool))

    def optimistic():
        std = np.stack([np.sqrt(np.maximum(np.diag(c), 0)) for c in covariances], axis=1)
        return loss_mean - self.beta * std

    ref = default_box(front, optimistic())
    picked: list[int] = []
    for _ in range(n):
        points = optimistic()
        score = hypervolume_improvements(points, front, ref)
        if np.max(np.delete(score, picked)) <= 0:
            score = closest_likely_feasible(points, feasible, front, picked)
        score[picked] = -np.inf
        best = int(np.argmax(score))
        picked.append(best)
        front = np.vstack([front, points[best]])
        for j, c in enumerate(covariances):  # condition on a result at `best`
            column = c[:, best].copy()
            covariances[j] = c - np.outer(column, column) / max(c[best, best], 1e-12)
    return [pool[i] for i in picked]


def first_then_greedy(first, optimistic, feasible, observed, n, ref):
    """`first`, then the default's greedy picks with its optimistic point joined to the front
    (no constraints here: every candidate is feasible)."""
    rest = feasible.copy()
    rest[first] = 0  # neither a greedy pick nor the fallback's again
    observed = np.vstack([observed, optimistic[first]])  # without `ref`, the default's box
    return [first, *greedy_hypervolume(optimistic, rest, observed, n - 1, ref)]


def pick_anchor(self, loss_mean, loss_std, feasible, observed, n, ref):
    if not _gp_phase(observed) or n < 2:
        return DEFAULT_PICK(self, loss_mean, loss_std, feasible, observed, n, ref)
    optimistic = loss_mean - self.beta * loss_std
    anchor = int(np.argmin(optimistic[:, 0]))
    return first_then_greedy(anchor, optimistic, feasible, observed, n, ref)


def largest_gap(front: np.ndarray, optimistic: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """The corner (the reference point) of the largest empty rectangle of the two-objective
    staircase of `front` inside the box below `ref`, the ends bounded by the best optimistic
    values."""
    front = front[np.all(front < ref, axis=1)]
    low = np.minimum(front.min(axis=0), optimistic.min(axis=0))
    steps = np.vstack([[low[0], ref[1]], front[np.argsort(front[:, 0])], [ref[0], low[1]]])
    areas = np.diff(steps[:, 0]) * -np.diff(steps[:, 1])
    i = int(np.argmax(areas))
    return np.array([steps[i + 1, 0], steps[i, 1]])


def pick_gap(self, loss_mean, loss_std, feasible, observed, n, ref):
    if not _gp_phase(observed) or n < 2:
        return DEFAULT_PICK(self, loss_mean, loss_std, feasible, observed, n, ref)
    optimistic = loss_mean - self.beta * loss_std
    front = observed[pareto_mask(observed)]
    box = default_box(front, optimistic) if ref is None else ref
    if not np.any(np.all(front < box, axis=1)):
        return DEFAULT_PICK(self, loss_mean, loss_std, feasible, observed, n, ref)
    score = hypervolume_improvements(optimistic, front, largest_gap(front, optimistic, box))
    if np.max(score) <= 0:
        return DEFAULT_PICK(self, loss_mean, loss_std, feasible, observed, n, ref)
    return first_then_greedy(int(np.argmax(score)), optimistic, feasible, observed, n, ref)


def stalled(self, done) -> bool:
    """Whether none of the last `STALL` results joined the front of the results before it."""
    losses = np.stack([self.loss(t.metrics) for t in done])
    for i in range(len(losses) - 1, len(losses) - 1 - STALL, -1):
        earlier = losses[:i]
        if not np.any(np.all(earlier <= losses[i], axis=1)):
            return False
    return True


def select_stall_mutant(self, pool, done, n, rng):
    if len(done) < GAUSSIAN_PROCESS_FROM or n < 2 or not stalled(self, done):
        return DEFAULT_SELECT(self, pool, done, n, rng)
    batch = DEFAULT_SELECT(self, pool, done, n - 1, rng)
    losses = np.stack([self.loss(t.metrics) for t in done])
    front = [done[i].arch for i in np.flatnonzero(pareto_mask(losses))]
    exclude = {a.key for a in batch}
    for _ in range(200):
        arch = self.space.mutate(front[rng.integers(len(front))], rng)
        if not self.seen(arch) and arch.key not in exclude:
            return [*batch, arch]
    return [*batch, self.sample_unseen(rng, exclude)]


def parents_and_most_accurate(self, done):
    chosen = DEFAULT_PARENTS(self, done)
    if len(done) < GAUSSIAN_PROCESS_FROM:
        return chosen
    keys = {t.arch.key for t in chosen}
    order = np.argsort([self.loss(t.metrics)[0] for t in done], kind="stable")
    return chosen + [done[i] for i in order[: self.parents] if done[i].arch.key not in keys]


def linear_and_matern_kernel(self):
    return DEFAULT_KERNEL(self) + ConstantKernel(0.1, (1e-4, 1e2)) * DotProduct(1.0, (1e-3, 1e2))


DEFAULTS = {
    (PredictorSearcher, "_select"): DEFAULT_SELECT,
    (PredictorSearcher, "_pick_several"): DEFAULT_PICK,
    (GaussianProcess, "_kernel"): DEFAULT_KERNEL,
    (PredictorSearcher, "_parents"): DEFAULT_PARENTS,
}
VARIANTS = {  # what each variant replaces: (class, attribute) -> function
    "mc-ehvi": {
        (PredictorSearcher, "_select"): _select_keeping_rng,
        (PredictorSearcher, "_pick_several"): pick_mc_ehvi,
    },
    "parego": {
        (PredictorSearcher, "_select"): _select_keeping_rng,
        (PredictorSearcher, "_pick_several"): pick_parego,
    },
    "bucb": {(PredictorSearcher, "_select"): select_bucb},
    "linear-kernel": {(GaussianProcess, "_kernel"): linear_and_matern_kernel},
    "anchor": {(PredictorSearcher, "_pick_several"): pick_anchor},
    "gap": {(PredictorSearcher, "_pick_several"): pick_gap},
    "stall-mutant": {(PredictorSearcher, "_select"): select_stall_mutant},
    "best-parents": {(PredictorSearcher, "_parents"): parents_and_most_accurate},
}


def paired_ratios(variant: str, latency: str, seed: int) -> list[list[float]]:
    """HV ratios at `BUDGETS` of the default searcher, then of `variant`, on one seed."""
    args = SimpleNamespace(
        settings={}, reference=False, known_latency=False, space="nasbench201", budgets=BUDGETS
    )
    runs = [ratios("predictor", latency, seed, 10, args)]
    try:  # a worker process runs other seeds after this one: put the defaults back
        for (owner, name), method in VARIANTS[variant].items():
            setattr(owner, name, method)
        runs.append(ratios("predictor", latency, seed, 10, args))
    finally:
        for (owner, name), method in DEFAULTS.items():
            setattr(owner, name, method)
    return runs


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--variant", choices=list(VARIANTS), required=True)
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument(
        "--latency", nargs="+", default=["hw_fpga_latency_ms", "hw_pixel3_latency_ms"]
    )
    args = parser.parse_args()
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    for latency in args.latency:
        r = np.array(
            Parallel(n_jobs=args.jobs)(
                delayed(paired_ratios)(args.variant, latency, s) for s in seeds
            )
        )  # seeds x (default, variant) x budgets
        for i, b in enumerate(BUDGETS):
            default, variant, gain = r[:, 0, i], r[:, 1, i], r[:, 1, i] - r[:, 0, i]
            print(
                f"{latency} @{b}: default {default.mean():.4f}, {args.variant} "
                f"{variant.mean():.4f}, paired difference {gain.mean():+.4f} "
                f"± {gain.std() / np.sqrt(len(gain)):.4f} (standard error, {len(gain)} seeds)",
                flush=True,
            )
        print(
            f"{latency} {args.variant} per seed @{BUDGETS[-1]}:", np.round(r[:, 1, -1], 4).tolist()
        )


if __name__ == "__main__":
    main()

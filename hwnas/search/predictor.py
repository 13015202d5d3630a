"""Predictor-guided evolution (BANANAS / NPENAS style), single- and multi-objective.

Every `ask`: fit an ensemble surrogate (scikit-learn, on `space.encode`; of `space.live(arch)`
for metrics of what the network computes, see `measures_cost`) for each objective and
constraint metric that has no given predictor, generate many candidates by mutating the best
trials (the Pareto front when multi-objective) plus a few uniform samples, score them, and
propose only the most promising:
- single objective: expected improvement over the best feasible value, times the predicted
  probability of meeting the constraints;
- several objectives: hypervolume improvement of the optimistic prediction (mean - `beta` x
  std) over the current front, times the probability of feasibility, picked greedily with the
  picked points added to the front so one batch spreads along it. `reference` (objective
  bounds, as BoTorch's ref_point; several objectives only) says where a point stops being
  worth anything; without it the box is the observed range plus a margin.

The surrogate is a gradient-boosting ensemble of 3 for one objective; for several, an
ensemble of 5 MLPs (as in BANANAS) below 100 results and a Gaussian process from there on
(`mlp_then_gaussian_process`): on NAS-Bench-201 and on the conv1d space the MLPs searched
several objectives better up to about 50 evaluations and the Gaussian process from about 100
(docs/benchmarks.md). `surrogate` and `ensemble_size` override them (the models are
`hwnas.search.surrogates`).

Learned metrics are modelled on normal scores of their ranks (a Gaussian copula, as in HEBO):
accuracies are heavy-tailed (broken networks at 10 %), and ranks are what the search needs.
Acquisitions are computed on that scale (every map is monotone, so dominance is unchanged).
Known models (a fitted latency predictor: any object with `.predict(archs)`) are used, by
default (`known_models="feature"`), as inputs: their predictions are appended to the encoding
of every surrogate, and every metric is still learned from the told values. So the latency
surrogate starts from the device's predictor instead of the few latencies observed so far and
learns where measurements differ from it, and the accuracy surrogate can use latency as the
size signal it is. With `known_models="replace"` a known model's prediction is taken as exact
instead. On NAS-Bench-201 that searched worse (the exact latency draws the optimistic
acquisition to the fastest, poorest cells). On the large conv1d space the three ways tie from
100 evaluations on, and `replace` leads at 30 and 50 (docs/benchmarks.md). Surrogates are
refit when new results arrived, with a random state derived from the seed and the number of
results (see `base`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import fields
from typing import Any

import numpy as np
from scipy.stats import norm
from threadpoolctl import threadpool_limits

from hwnas.evaluators.metrics import Metrics
from hwnas.predictors.base import PredictorError
from hwnas.search.base import (
    Searcher,
    Trial,
    derive_rng,
    integer_setting,
    mapping_setting,
    number_setting,
)
from hwnas.search.pareto import hypervolume_improvements, pareto_mask
from hwnas.search.surrogates import (
    DEFAULT_ENSEMBLE_SIZE,
    DEFAULT_SURROGATE,
    SURROGATES,
    GaussianCopula,
    Identity,
    Surrogate,
    make_surrogate,
)
from hwnas.spaces import Arch, Cost, SearchSpace
from hwnas.spaces.callers import warn_at_caller

KNOWN_MODEL_USES = ("feature", "replace")
COST_FIELDS = tuple(f.name for f in fields(Cost))  # params, macs, size_bytes, activations


class PredictorSearcher(Searcher):
    """Predictor-guided evolution, one objective or several: surrogates refitted at every
    `ask` pick the most promising of many mutated candidates (see the module docstring)."""

    name = "predictor"

    def __init__(
        self,
        space: SearchSpace,
        objectives: Any,
        constraints: Any = (),
        seed: int = 0,
        *,
        predictors: Mapping[str, Any] | None = None,
        latency_predictor: Any = None,
        latency_metric: str | None = None,
        initial: int = 10,
        candidates: int = 300,
        parents: int = 20,
        explore: float = 0.1,
        surrogate: str | None = None,
        ensemble_size: int | None = None,
        beta: float = 1.0,
        reference: Mapping[str, float] | None = None,
        known_models: str = "feature",
    ):
        super().__init__(space, objectives, constraints, seed)
        self.predictors = mapping_setting("predictors", predictors, "metric: predictor")
        self._latency_model_metric = None  # the metric `latency_predictor` predicts
        if latency_predictor is not None:
            self._latency_model_metric = latency_metric or self._latency_metric()
            self.predictors[self._latency_model_metric] = latency_predictor
        metrics = self._modelled_metrics()
        for metric, model in self.predictors.items():
            if metric not in metrics:
                raise ValueError(f"predictors: {metric!r} is no objective or constraint metric")
            if not callable(getattr(model, "predict", None)):
                raise TypeError(f"predictors[{metric!r}] has no predict(archs) method")
        if surrogate is None:
            surrogate = DEFAULT_SURROGATE[len(self.objectives) > 1]
        elif not isinstance(surrogate, str) or surrogate not in SURROGATES:
            # 0, "" or [] were taken for the default; ["gp"] ended in "unhashable type"
            raise ValueError(f"surrogate: unknown {surrogate!r}; choose one of {SURROGATES}")
        if ensemble_size is None and surrogate in DEFAULT_ENSEMBLE_SIZE:
            ensemble_size = DEFAULT_ENSEMBLE_SIZE[surrogate]
        make_surrogate(surrogate, ensemble_size, seed)  # validates the settings early
        self.initial = integer_setting("initial", initial, minimum=0)
        self.candidates = integer_setting("candidates", candidates)
        self.parents = integer_setting("parents", parents)
        self.explore = number_setting("explore", explore, 0, 1)
        self.surrogate, self.ensemble_size = surrogate, ensemble_size
        if known_models not in KNOWN_MODEL_USES:
            raise ValueError(f"known_models: {known_models!r} is not one of {KNOWN_MODEL_USES}")
        self.beta, self.known_models = number_setting("beta", beta, 0), known_models
        if known_models == "replace" and not self.predictors:  # a setting that does nothing
            warn_at_caller(
                "known_models: 'replace' takes known models' predictions as exact, and there "
                "are none (no latency predictor, no predictors): it changes nothing"
            )
        self.reference = {
            m: number_setting(f"reference[{m!r}]", v, -math.inf)
            for m, v in mapping_setting("reference", reference, "metric: bound").items()
        }
        objective_metrics = [o.metric for o in self.objectives]
        if self.reference and len(objective_metrics) == 1:
            raise ValueError(
                "reference: bounds the hypervolume of several objectives; with one "
                "objective it would be ignored"
            )
        if self.reference and sorted(self.reference) != sorted(objective_metrics):
            raise ValueError(
                f"reference: give a bound for every objective {objective_metrics}, "
                f"got {sorted(self.reference)}"
            )
        self._fit: tuple[int, dict] = (-1, {})
        self._evaluated_features: dict[str, np.ndarray] = {}

    def _modelled_metrics(self) -> list[str]:
        """Objective metrics, then the other constraint metrics, each once."""
        names = [o.metric for o in self.objectives] + [c.metric for c in self.constraints]
        return list(dict.fromkeys(names))

    def _latency_metric(self) -> str:
        names = [m for m in self._modelled_metrics() if "latency" in m]
        if not names:  # "name the metric" among none left nothing to name
            raise ValueError(
                "latency_metric: a latency predictor is given, but no objective or constraint "
                "is a latency for it to predict: add one (such as latency_ms), or leave the "
                "predictor out"
            )
        if len(names) != 1:
            raise ValueError(
                "latency_metric: name the metric the latency predictor predicts "
                f"(objective/constraint metrics with 'latency' in the name: {names})"
            )
        return names[0]

    # -- proposing -------------------------------------------------------------------------
    def _propose(self, n: int) -> list[Arch]:
        rng = self.rng_for_ask()
        done = [t for t in self.trials if t.ok]
        batch: list[Arch] = []
        random_phase = len(done) < 2  # nothing to fit a surrogate on
        while len(batch) < n and (random_phase or len(self.trials) + len(batch) < self.initial):
            batch.append(self.sample_unseen(rng, {a.key for a in batch}))
        if len(batch) == n:
            return batch
        pool = self._priced(self._candidates(done, rng, {a.key for a in batch}))
        if pool:
            # the surrogates' matrices are small: a second BLAS thread only waits for a core,
            # and beside running evaluations it made each ask about 3x slower (2 cores)
            with threadpool_limits(limits=1, user_api="blas"):
                batch += self._select(pool, done, min(n - len(batch), len(pool)), rng)
        while len(batch) < n:  # a tiny pool (nearly exhausted space): top up uniformly
            batch.append(self.sample_unseen(rng, {a.key for a in batch}))
        return batch

    def _candidates(
        self, done: list[Trial], rng: np.random.Generator, exclude: set[str]
    ) -> list[Arch]:
        """Mutants (1 to 3 changes) of the best trials, and some uniform samples."""
        parents = self._parents(done)
        pool: dict[str, Arch] = {}
        for _ in range(20 * self.candidates):
            if len(pool) >= self.candidates:
                break
            if rng.random() < self.explore:
                arch = self.space.sample(rng)
            else:
                arch = parents[rng.integers(len(parents))].arch
                for _ in range(1 + (int(rng.geometric(0.6)) - 1) % 3):
                    arch = self.space.mutate(arch, rng)
            if not self.seen(arch) and arch.key not in exclude:
                pool[arch.key] = arch
        if not pool:
            arch = self.sample_unseen(rng, exclude)
            pool[arch.key] = arch
        return list(pool.values())

    def _priced(self, pool: list[Arch]) -> list[Arch]:
        """The candidates every known model can predict. A latency table that lacks a part
        (a precision or width the space gained after profiling) cannot price some: their
        evaluation fails with the same error, so they leave the pool instead of ending the
        search."""
        for model in self.predictors.values():
            try:
                model.predict(pool)
            except PredictorError:
                pool = [a for a in pool if _can_predict(model, a)]
        return pool

    def _parents(self, done: list[Trial]) -> list[Trial]:
        """The trials to mutate: the best feasible ones, or successive Pareto layers."""
        losses = np.stack([self.loss(t.metrics) for t in done])
        violation = np.array([self.violation(t.metrics) for t in done])
        if len(self.objectives) == 1:
            order = np.lexsort((losses[:, 0], violation))
            return [done[i] for i in order[: self.parents]]
        chosen: list[int] = []
        remaining = np.arange(len(done))
        while len(chosen) < self.parents and len(remaining):
            feasible = remaining[violation[remaining] == 0]
            layer = feasible if len(feasible) else remaining
            front = layer[pareto_mask(losses[layer])]
            chosen += front.tolist()
            remaining = np.setdiff1d(remaining, front)
        return [done[i] for i in chosen]

    # -- predicting ------------------------------------------------------------------------
    def _models(self, done: list[Trial]) -> dict[str, tuple[Any, Surrogate | None]]:
        """Per metric: its scale (copula or identity) and the surrogate fitted on that scale."""
        if self._fit[0] != len(done):
            x = self._cached_features(done)
            seed = int(derive_rng(self.seed, len(done)).integers(2**31))
            models: dict[str, tuple[Any, Surrogate | None]] = {}
            for m in self._modelled_metrics():
                if m in self.predictors and self.known_models == "replace":
                    models[m] = (Identity(), None)
                    continue
                y = np.array([t.metrics[m] for t in done])
                scale = GaussianCopula(y)
                surrogate = make_surrogate(self.surrogate, self.ensemble_size, seed, len(done))
                models[m] = (scale, surrogate.fit(x[:, self._columns(m, x)], scale(y)))
            self._fit = (len(done), models)
        return self._fit[1]

    def _predict(self, models, pool: list[Arch]) -> tuple[np.ndarray, np.ndarray]:
        """Mean and std (candidates x metrics) of every modelled metric, on its scale."""
        x = self._features(pool)
        means, stds = [], []
        for m, (_, model) in models.items():
            if model is None:
                means.append(self._known(m, pool))
                stds.append(np.zeros(len(pool)))
            else:
                mu, sigma = model.predict(x[:, self._columns(m, x)])
                means.append(mu)
                stds.append(sigma)
        return np.stack(means, axis=1), np.stack(stds, axis=1)

    def _features(self, archs: list[Arch], told: list[Metrics] | None = None) -> np.ndarray:
        """Surrogate inputs of every metric side by side (`_columns` says which one reads):
        the space's encoding of each arch, that of its live twin (`space.live`), then the
        known models' predictions when they are used as features (for evaluated archs, with
        their `told` metrics)."""
        encoded = [self.space.encode(a) for a in archs]
        twins = [self.space.live(a) for a in archs]
        live = [e if t == a else self.space.encode(t) for a, t, e in zip(archs, twins, encoded)]
        x = np.column_stack([np.stack(encoded), np.stack(live)])
        if self.known_models != "feature" or not self.predictors:
            return x
        known = [self._known(m, archs, told) for m in self.predictors]
        return np.column_stack([x, *known])

    def _columns(self, metric: str, x: np.ndarray) -> np.ndarray:
        """The columns of `_features` that `metric`'s surrogate reads: a cost of running the
        network (`measures_cost`, or the latency predictor's metric) reads the encoding of
        the arch as it is, every op counted;
        any other metric, what the network computes, reads its live twin's, so twins that
        differ only in dead ops are one network to it (on NAS-Bench-201 this lifted the HV
        ratio at 300 on fpga from 0.983 to 0.992 on the same 20 seeds; docs/benchmarks.md).
        Both read the known models' predictions."""
        known = len(self.predictors) if self.known_models == "feature" else 0
        width = (x.shape[1] - known) // 2
        cost = measures_cost(metric) or metric == self._latency_model_metric
        start = 0 if cost else width
        return np.r_[start : start + width, 2 * width : x.shape[1]]

    def _known(
        self, metric: str, archs: list[Arch], told: list[Metrics] | None = None
    ) -> np.ndarray:
        """What the known model of `metric` predicts for `archs`: finite numbers, or an error
        naming it (scikit-learn would refuse NaN inputs without saying whose, and a NaN taken
        as exact would silently rank nothing). Evaluated archs it cannot price (a latency
        table without a precision, while the run measures latency) take their `told` value
        of the metric instead: they succeeded, and their prediction raising ended the search."""
        model = self.predictors[metric]
        try:
            predicted = model.predict(archs)
        except PredictorError:
            if told is None:
                raise
            predicted = [_price(model, a, m[metric]) for a, m in zip(archs, told)]
        try:
            values = np.asarray(predicted, dtype=float)
        except (TypeError, ValueError, OverflowError) as e:  # numpy's words name no model
            raise ValueError(f"predictors[{metric!r}]: predict gave no numbers ({e})") from None
        if values.shape != (len(archs),) or not np.isfinite(values).all():
            bad = int((~np.isfinite(values)).sum()) if values.shape == (len(archs),) else None
            what = f"non-finite values for {bad} of" if bad is not None else "no value each for"
            raise ValueError(
                f"predictors[{metric!r}]: predict gave {what} {len(archs)} architectures"
            )
        return values

    def _cached_features(self, done: list[Trial]) -> np.ndarray:
        """Features of evaluated trials, cached (they are re-encoded at every refit)."""
        cache = self._evaluated_features
        new = [t for t in done if t.arch.key not in cache]
        if new:
            features = self._features([t.arch for t in new], [t.metrics for t in new])
            cache.update(zip([t.arch.key for t in new], features, strict=True))
        return np.stack([cache[t.arch.key] for t in done])

    # -- scoring ---------------------------------------------------------------------------
    def _select(
        self, pool: list[Arch], done: list[Trial], n: int, rng: np.random.Generator
    ) -> list[Arch]:
        models = self._models(done)
        mean, std = self._predict(models, pool)  # columns: the metrics of `models`, in order
        column = {metric: j for j, metric in enumerate(models)}
        scales = [models[o.metric][0] for o in self.objectives]
        signs = np.array([o.sign for o in self.objectives])
        feasible = np.ones(len(pool))
        for c in self.constraints:
            j = column[c.metric]
            bound = models[c.metric][0](c.bound)
            feasible *= probability_at_most(mean[:, j], std[:, j], bound)
        k = len(self.objectives)  # the objectives are the first k columns
        observed = self._observed_losses(done, scales)
        loss_mean, loss_std = mean[:, :k] * signs, std[:, :k]
        if k == 1:
            score = expected_improvement(loss_mean[:, 0], loss_std[:, 0], observed[:, 0])
            order = np.lexsort((np.arange(len(pool)), -score * feasible))
            return [pool[i] for i in order[:n]]
        ref = self._reference_losses(scales)
        return [
            pool[i] for i in self._pick_several(loss_mean, loss_std, feasible, observed, n, ref)
        ]

    def _observed_losses(self, done: list[Trial], scales: list[Callable[[Any], Any]]) -> np.ndarray:
        """The objectives of the feasible trials among `done` (one row each) on the scale the
        candidates are compared on: each objective's scale, signed so that all are minimised."""
        return np.array(
            [
                [o.sign * scale(t.metrics[o.metric]) for o, scale in zip(self.objectives, scales)]
                for t in done
                if self.is_feasible(t.metrics)
            ]
        ).reshape(-1, len(self.objectives))

    def _pick_several(
        self,
        loss_mean: np.ndarray,
        loss_std: np.ndarray,
        feasible: np.ndarray,
        observed: np.ndarray,
        n: int,
        ref: np.ndarray | None,
    ) -> list[int]:
        """Indices of the `n` candidates to evaluate when there are several objectives: the
        greedy hypervolume improvement of each one's optimistic point (mean - `beta` x std of
        its minimised losses). benchmarks/search_predictor_variants.py replaces this with the
        acquisitions tried against it."""
        optimistic = loss_mean - self.beta * loss_std
        return greedy_hypervolume(optimistic, feasible, observed, n, ref)

    def _reference_losses(self, scales: list[Callable[[Any], Any]]) -> np.ndarray | None:
        """The `reference` bounds on the scale the objectives are compared on (each
        objective's scale, signed so that all are minimised), or None without them."""
        if not self.reference:
            return None
        return np.array(
            [o.sign * scale(self.reference[o.metric]) for o, scale in zip(self.objectives, scales)]
        )


def measures_cost(metric: str) -> bool:
    """Whether the metric named `metric` is what running a network costs rather than what it
    computes: a latency or a time (a name with "latency" in it or ending in "_ms" or "_s"),
    or one of the space's `Cost` counts."""
    timed = "latency" in metric or metric.endswith(("_ms", "_s"))
    return timed or metric in COST_FIELDS


def probability_at_most(mean: np.ndarray, std: np.ndarray, bound: float) -> np.ndarray:
    """P(value <= bound) for normal predictions. One without spread (a known model taken as
    exact) is certain: it meets a bound it equals, which the normal CDF gave odds of 1/2."""
    spread = std > 0
    odds = norm.cdf((bound - mean) / np.where(spread, std, 1.0))
    return np.where(spread, odds, mean <= bound).astype(float)


def expected_improvement(mu: np.ndarray, sigma: np.ndarray, observed: np.ndarray) -> np.ndarray:
    """EI of minimising below the best observed value; without one, a ranking by the mean."""
    if len(observed) == 0:
        return np.exp(-(mu - mu.min()) / (np.ptp(mu) + 1e-12))
    gap = observed.min() - mu
    sigma = np.maximum(sigma, 1e-9)
    z = gap / sigma
    return gap * norm.cdf(z) + sigma * norm.pdf(z)


def greedy_hypervolume(
    points: np.ndarray,
    feasible: np.ndarray,
    observed: np.ndarray,
    n: int,
    ref: np.ndarray | None = None,
) -> list[int]:
    """Indices of `n` points picked one by one by hypervolume improvement (up to `ref`; by
    default the range of all points plus a margin) over the observed front times the
    probability of feasibility; each pick joins the front for the next. When no point
    improves, the pick is the one closest to the front among the likely feasible
    (`closest_likely_feasible`)."""
    front = observed[pareto_mask(observed)] if len(observed) else observed
    ref = default_box(front, points) if ref is None else ref
    picked: list[int] = []
    for _ in range(n):
        score = hypervolume_improvements(points, front, ref) * feasible
        if np.max(np.delete(score, picked)) <= 0:
            score = closest_likely_feasible(points, feasible, front, picked)
        score[picked] = -np.inf
        best = int(np.argmax(score))
        picked.append(best)
        if feasible[best] >= 0.5:
            front = np.vstack([front, points[best]])
    return picked


def default_box(front: np.ndarray, points: np.ndarray) -> np.ndarray:
    """The hypervolume's reference point without a `reference`: the worst losses of the
    front and the candidates, plus 10 % of their range."""
    everything = np.vstack([front, points])
    low, high = everything.min(axis=0), everything.max(axis=0)
    return high + 0.1 * np.maximum(high - low, 1e-9)


def closest_likely_feasible(
    points: np.ndarray, feasible: np.ndarray, front: np.ndarray, picked: list[int]
) -> np.ndarray:
    """Scores of the fallback pick, when no point improves the front: nearness to the front
    (L1; without a front, the smallest losses), among the points likely feasible (>= 0.5,
    the bar for joining the front), or when none of those is left, the likeliest ones; the
    others score -inf. Nearness alone picked a point certain to violate a constraint (an
    exact latency model's) over a feasible one."""
    if len(front):
        score = -np.abs(points[:, None, :] - front[None]).sum(-1).min(axis=1)
    else:  # nothing feasible seen yet either
        score = -points.sum(axis=1)
    left = np.delete(feasible, picked)
    score[feasible < min(0.5, left.max())] = -np.inf
    return score


def _price(model: Any, arch: Arch, told: float) -> float:
    """What `model` predicts for `arch`, or the `told` value where it cannot price it."""
    try:
        return float(np.asarray(model.predict([arch]), dtype=float)[0])
    except PredictorError:
        return told


def _can_predict(model: Any, arch: Arch) -> bool:
    try:
        model.predict([arch])
    except PredictorError:
        return False
    return True

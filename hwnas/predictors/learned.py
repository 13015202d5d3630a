"""`LearnedPredictor`: a scikit-learn regressor trained on whole-network measurements.

With a lookup table (the usual case) it calibrates the table. A network's latency is modelled
as the table's sum with one coefficient per part group (the base, and every stage x width x
mixer x precision, see `LUTPredictor.parts_of`): what a pure sum cannot see (a mixer that fuses with
its neighbours, or whose weights leave the cache inside a network, per-call overheads) shows
up as a group that costs more or less in a network than alone. The coefficients are fitted on
relative errors with a Huber loss (a network measured while the machine was busy must not pull
them) and an L2 penalty that shrinks them toward 1 (the plain sum), none below 0 (no block
makes a network faster), so a group that no training network used keeps its table value, and
the model stays a sum of measured parts that generalises to unseen combinations. A few
hundred measured networks suffice; gradient boosting on the log-ratio to the table, and a
squared loss, were less accurate on held-out networks (docs/benchmarks.md).

Without a table: gradient boosting on the space's encoding and analytic costs (log MACs,
params, size, activation traffic: a proxy for memory traffic) learns log latency directly.

Saved as data (the model, the training architectures and latencies, the hyperparameters and the
table); loading refits, which gives the same predictions. A file saved by a version with
another model is refit with this version's model and defaults.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from sklearn.ensemble import GradientBoostingRegressor
from sklearn.linear_model import HuberRegressor
from sklearn.model_selection import KFold
from threadpoolctl import threadpool_limits

from hwnas.predictors.base import (
    LatencyPredictor,
    PredictorError,
    arch_list,
    check_latencies_differ,
    check_training_data,
    distinct_archs,
)
from hwnas.predictors.lut import LUTPredictor
from hwnas.spaces import Arch, SearchSpace
from hwnas.spaces.callers import warn_at_caller
from hwnas.spaces.reprs import named

MIN_TRAINING_ARCHS = 5
# below this many networks boosting without a table ranks unseen ones poorly (held-out Kendall
# tau about 0.3 at 20 networks, 0.37-0.51 at 50, 0.48-0.75 at 100; calibrating a table 0.86-0.95
# from 10 on: docs/benchmarks.md, "learning curve")
FEW_NETWORKS_WITHOUT_TABLE = 100
# calibration groups: per stage, width, mixer and precision, or without the width
GROUPINGS = ("width", "mixer")
# Huber loss on relative errors (epsilon: where it turns linear, in robust standard deviations)
# plus alpha x the squared distance of the table's group coefficients from 1
CALIBRATION_HYPERPARAMETERS: dict[str, Any] = {"alpha": 0.1, "epsilon": 1.35}
BOOSTING_HYPERPARAMETERS: dict[str, Any] = {
    "n_estimators": 400,
    "learning_rate": 0.05,
    "max_depth": 3,
    "subsample": 0.8,
    "min_samples_leaf": 3,
    "random_state": 0,
}

#: the most of the boosting model's size settings (trees, depth) a predictor may ask for
MODEL_SIZE_LIMITS = {"n_estimators": 10_000, "max_depth": 32}


class LearnedPredictor(LatencyPredictor):
    """Latency learned from measured whole networks (`fit`): with a lookup table (`lut`), the
    table's sum calibrated per part group, since a plain sum misses what blocks cost together
    in a network (fusion, cache, per-call overhead); without one, gradient boosting on the
    networks' encoding and costs alone, which takes a few hundred of them."""

    kind = "learned"

    def __init__(
        self,
        space: SearchSpace,
        lut: LUTPredictor | None = None,
        hyperparameters: Mapping[str, Any] | None = None,
        source: str = "",
    ):
        super().__init__(space)
        self.source = source  # the profile it was fitted from, if any
        self.lut = lut
        self.measured_on = lut.measured_on if lut is not None else None
        self.int8_quantizer = lut.int8_quantizer if lut is not None else None
        self.model = "calibration" if lut is not None else "boosting"
        defaults = CALIBRATION_HYPERPARAMETERS if lut is not None else BOOSTING_HYPERPARAMETERS
        if hyperparameters is not None and not isinstance(hyperparameters, Mapping):
            raise PredictorError(  # 0 or [] was taken for none; text was split into letters
                "hyperparameters must be a mapping of the model's settings to values or None, "
                f"not {hyperparameters!r}"
            )
        unknown = sorted(set(hyperparameters or {}) - set(defaults))
        if unknown:
            raise PredictorError(
                f"hyperparameters {unknown} do not apply to the learned predictor's {self.model} "
                f"model; it takes {sorted(defaults)}"
            )
        self.hyperparameters = {**defaults, **(hyperparameters or {})}
        _check_model_size(self.hyperparameters)
        self._coefficients: dict[str, float] | None = None  # calibration (with a table)
        self.grouping = GROUPINGS[0]  # the calibration's groups, chosen by fit()
        self._model: GradientBoostingRegressor | None = None  # boosting (without one)
        self._fitted_range = (np.zeros(0), np.zeros(0))  # its features' least and most
        self._said_beyond = False  # whether it warned of networks beyond them (once a fit)
        self._train_archs: list[Arch] = []
        self._train_latencies: list[float] = []

    def _shown(self) -> list[str]:
        return named(model=self.model, fitted=len(self._train_archs))

    def unpriced_precisions(self) -> list[str]:
        """Those of its table; without one, those no network it was fitted on has: the
        boosting model never saw what they cost (fitted on fp32 networks, it priced their
        int8 twins about as fast, 45 % of them within +-10 % of their measured latency)."""
        if self.lut is not None:
            return self.lut.unpriced_precisions()
        seen = set().union(*map(_precisions, self._train_archs))
        return [p for p in self.space.precisions if p not in seen]

    def _check_priced(self, archs: Sequence[Arch]) -> None:
        """Refuse, naming it, a network with a precision the model cannot price."""
        unpriced = set(self.unpriced_precisions())
        for arch in archs:
            if found := sorted(_precisions(arch) & unpriced):
                raise PredictorError(
                    f"the learned predictor without a lookup table was fitted on no network "
                    f"with {', '.join(found)} blocks, so it cannot price {arch.key}: fit it "
                    "on networks measured with them too, or give it a table"
                )

    def _warn_beyond_fitted(self, features: np.ndarray) -> None:
        """Warn when a network lies outside the fitted ones in a feature of the boosting
        model: its trees are flat past their outermost splits, so it prices such a network
        much as the nearest fitted ones, far off at a space's edges (conv1d, fitted on 250
        sampled networks of 0.108-0.719 ms: a network of identity blocks measured 0.031 ms,
        predicted 0.151; one of conv blocks 0.045, predicted 0.143; of 150 held-out sampled
        networks, the 6 beyond were predicted with 27 % mean error, the others 15 %). Once a
        fit: Python's once-a-line record is cleared whenever warning filters change (the
        predictor searcher sets them around its surrogates' fits), and a search of 12
        evaluations by that searcher, which scores its candidates with it, warned 27 times."""
        low, high = self._fitted_range
        if not self._said_beyond and ((features < low) | (features > high)).any():
            self._said_beyond = True
            fitted = self._train_latencies
            warn_at_caller(
                "the learned predictor without a lookup table is asked about networks beyond "
                f"all {distinct_archs(self._train_archs)} it was fitted on "
                f"({min(fitted):.3g}-{max(fitted):.3g} ms): a choice none of them had at a "
                "block, or fewer or more MACs, parameters, bytes or activations than any. Its "
                "trees do not extrapolate, so it can price such networks far off (a space's "
                "smallest several times too slow); give it a table (a profile with parts, or "
                "--parts) or fit it on such networks too"
            )

    def unpriced_parts(self) -> list[str]:
        """Those of its table (without one, it predicts every network)."""
        return self.lut.unpriced_parts() if self.lut is not None else []

    @property
    def train_data(self) -> tuple[list[Arch], list[float]]:
        """The architectures and latencies (ms) it was fitted on."""
        return list(self._train_archs), list(self._train_latencies)

    def refitted(self, archs: Sequence[Arch], latencies: Sequence[float]) -> LearnedPredictor:
        refit = LearnedPredictor(self.space, self.lut, self.hyperparameters, self.source)
        refit.measured_on = self.measured_on
        return refit.fit(archs, latencies)

    @property
    def coefficients(self) -> dict[str, float]:
        """The fitted factor of every table group seen in training (1 = the plain sum)."""
        if self._coefficients is None:
            raise PredictorError("no calibrated table: fitted without a lookup table, or unfitted")
        return dict(self._coefficients)

    def features(self, archs: Sequence[Arch]) -> np.ndarray:
        """The boosting model's input (without a table): encoding and log analytic costs."""
        rows = []
        for arch in archs:
            cost = self.space.cost(arch)
            analytic = np.log1p([cost.macs, cost.params, cost.size_bytes, cost.activations])
            rows.append(np.concatenate([self.space.encode(arch), analytic]))
        return np.stack(rows).astype(float)

    def fit(self, archs: Sequence[Arch], latencies: Sequence[float]) -> LearnedPredictor:
        """Fit on measured whole networks; warns when, without a table, they are too few for
        its predictions to rank unseen networks (they are used anyway)."""
        self._fit(archs, latencies)
        if self.lut is None and (distinct := distinct_archs(self._train_archs)) < (
            FEW_NETWORKS_WITHOUT_TABLE
        ):
            warn_at_caller(
                f"the learned predictor without a lookup table is fitted on only "
                f"{distinct} networks: below about {FEW_NETWORKS_WITHOUT_TABLE} "
                "it ranks unseen networks poorly (held-out Kendall tau about 0.3 at 20 "
                "networks); give it a table (a profile with parts, or --parts) or measure more"
            )
        return self

    def _fit(self, archs: Sequence[Arch], latencies: Sequence[float]) -> None:
        y = check_training_data(archs, latencies)
        needed = self.minimum_networks()
        if (distinct := distinct_archs(archs)) < needed:  # one network measured 8 times is one
            raise PredictorError(
                f"the learned predictor {'' if self.lut else 'without a lookup table '}needs "
                f"at least {needed} different measured architectures, got {distinct}"
            )
        check_latencies_differ(y)
        archs = [self.space.validate(a) for a in archs]
        if self.lut is not None:
            self.grouping, self._coefficients = self._calibrate(archs, y)
        else:
            features = self.features(archs)
            model = GradientBoostingRegressor(**self.hyperparameters)
            self._model = model.fit(features, np.log(y))
            self._fitted_range = features.min(axis=0), features.max(axis=0)
            self._said_beyond = False
        self._train_archs, self._train_latencies = list(archs), [float(v) for v in y]

    def minimum_networks(self) -> int:
        """The fewest measured networks it can be fitted on: with a table, a few to calibrate
        it; without, the fewest from which boosting's trees can split at all (each tree sees
        a `subsample` of them and every leaf needs `min_samples_leaf`): below it every network
        would get the same prediction."""
        if self.lut is not None:
            return MIN_TRAINING_ARCHS
        leaf = self.hyperparameters.get("min_samples_leaf", 1)
        subsample = self.hyperparameters.get("subsample", 1.0)
        if not isinstance(leaf, int) or not isinstance(subsample, float | int) or subsample <= 0:
            return MIN_TRAINING_ARCHS  # scikit-learn names a bad value itself
        return max(MIN_TRAINING_ARCHS, math.ceil(2 * leaf / subsample))

    def _calibrate(self, archs: list[Arch], y: np.ndarray) -> tuple[str, dict[str, float]]:
        """The grouping (with or without the stage width) that predicts the training networks
        better in 5-fold cross-validation, and its group coefficients: per-width factors need
        a few hundred networks (fp32 conv2d: 94 % vs 92.5 % within +-10 % held out), and
        overfit a hundred (int8: 38 % vs 68 %).

        On one BLAS thread: the regressions' matrices are a few hundred by tens, and a second
        thread only waits for a core. With the other core of a 2-core machine busy, a fit on
        53 networks took 4.7 s instead of 1.0 s (docs/benchmarks.md); every load refits."""
        parts = [self.lut.parts_of(a) for a in archs]
        grouped = {name: [_regroup(p, name) for p in parts] for name in GROUPINGS}
        with threadpool_limits(limits=1, user_api="blas"):
            best = min(GROUPINGS, key=lambda g: _cv_error(grouped[g], y, self.hyperparameters))
            return best, _fit_groups(grouped[best], y, self.hyperparameters)

    def predict(self, archs: Sequence[Arch]) -> np.ndarray:
        if self._coefficients is None and self._model is None:
            raise PredictorError("the learned predictor is not fitted: call fit() first")
        archs = arch_list(archs)
        if not archs:
            return np.zeros(0)
        if self._model is not None:
            self._check_priced(archs)
            features = self.features(archs)
            self._warn_beyond_fitted(features)
            return np.exp(self._model.predict(features))
        return np.array(
            [
                _calibrated(_regroup(self.lut.parts_of(a), self.grouping), self._coefficients)
                for a in archs
            ]
        )

    def to_data(self) -> dict[str, Any]:
        if self._coefficients is None and self._model is None:
            raise PredictorError("the learned predictor is not fitted: nothing to save")
        return {
            "model": self.model,
            "hyperparameters": dict(self.hyperparameters),
            "source": self.source,
            "lut": self.lut.to_data() if self.lut is not None else None,
            "train": {
                "archs": [a.to_dict() for a in self._train_archs],
                "latencies_ms": list(self._train_latencies),
            },
        }

    @classmethod
    def from_data(cls, data: dict[str, Any], space: SearchSpace) -> LearnedPredictor:
        lut = LUTPredictor.from_data(data["lut"], space) if data.get("lut") else None
        # a file saved for another model (an older version boosted on top of the table) is
        # refit from its data with this version's defaults
        same_model = data.get("model", "boosting") == ("calibration" if lut else "boosting")
        hyperparameters = data["hyperparameters"] if same_model else None
        predictor = cls(space, lut, hyperparameters, data.get("source", ""))
        archs = [Arch.from_dict(a) for a in data["train"]["archs"]]
        predictor._fit(archs, data["train"]["latencies_ms"])  # warned of when it was fitted
        return predictor


def _precisions(arch: Arch) -> set[str]:
    """The precisions `arch` gives its blocks (fp32 in a space without that choice)."""
    return {str(v) for name, v in arch.items() if name.endswith(".precision")} or {"fp32"}


def _check_model_size(hyperparameters: Mapping[str, Any]) -> None:
    """Refuse a boosting model too large to fit in reasonable time: a predictor file is fitted
    again when loaded, and one asking for a billion trees hung its load."""
    for name, most in MODEL_SIZE_LIMITS.items():
        value = hyperparameters.get(name)
        if isinstance(value, int | float) and value > most:
            raise PredictorError(
                f"hyperparameters: {name} {value} is more than {most}; the default is "
                f"{BOOSTING_HYPERPARAMETERS[name]}"
            )


def _fit_groups(grouped, y: np.ndarray, hyperparameters) -> dict[str, float]:
    """A robust regression of the relative gap (y - sum) / y on the grouped latencies / y:
    its coefficients are each group's factor minus 1.

    No factor is negative: the group with the lowest factor below 0 (noisy networks, or a
    group in few of them beside others it always comes with) is fixed at 0 and the others
    refitted, until none is below. A negative factor made a block of that group lower the
    latency of any network it was added to (-0.13 on the 53 conv2d networks of the first
    runs), a way to "speed up" a network that a searcher finds and exploits."""
    groups = sorted({g for p in grouped for g in p})
    x = np.array([[p.get(g, 0.0) for g in groups] for p in grouped])
    delta = np.full(len(groups), -1.0)  # factor 0 where fixed
    free = np.ones(len(groups), dtype=bool)
    while free.any():
        columns = np.ascontiguousarray(x[:, free])  # rows added in x's order, to the last bit
        relative_gap = (y - columns.sum(axis=1)) / y
        huber = HuberRegressor(fit_intercept=False, max_iter=10_000, **hyperparameters)
        fitted = huber.fit(columns / y[:, None], relative_gap).coef_
        if fitted.min() >= -1.0:
            delta[free] = fitted
            break
        free[np.flatnonzero(free)[fitted.argmin()]] = False
    return {g: 1.0 + float(d) for g, d in zip(groups, delta)}


def _regroup(parts: Mapping[str, float], grouping: str) -> dict[str, float]:
    """Table groups (`base`, `s{stage}.w{width}.{mixer}.{precision}`) merged to `grouping`."""
    if grouping == "width":
        return dict(parts)
    merged: dict[str, float] = {}
    for group, value in parts.items():
        if group != "base":
            stage, _width, mixer_precision = group.split(".", 2)
            group = f"{stage}.{mixer_precision}"
        merged[group] = merged.get(group, 0.0) + value
    return merged


def _calibrated(grouped: Mapping[str, float], factor: Mapping[str, float]) -> float:
    """A network's latency from its grouped table latencies and the fitted factors (1 where
    a group was never seen). Added by `math.fsum`, which rounds once on any Python: `sum()`
    compensates rounding from Python 3.12 on, so 3.11 and 3.12 predicted otherwise."""
    return math.fsum(v * factor.get(g, 1.0) for g, v in grouped.items())


def _cv_error(grouped, y: np.ndarray, hyperparameters) -> float:
    """Mean absolute relative error of the calibration in 5-fold cross-validation."""
    errors = []
    for train, test in KFold(min(5, len(y)), shuffle=True, random_state=0).split(y):
        factor = _fit_groups([grouped[i] for i in train], y[train], hyperparameters)
        errors += [abs(_calibrated(grouped[i], factor) - y[i]) / y[i] for i in test]
    return float(np.mean(errors))

"""`LearnedPredictor`: gradient boosting on architecture features, trained on whole networks.

Features: the space's encoding, analytic costs (log MACs, params, size, activation traffic:
a proxy for memory traffic) and, when a lookup table is given, the table's base latency, its
per-stage block sums and its total. With a table the model learns the log-ratio of measured
latency to the table's sum (what a pure sum misses: fusion, per-call overhead, cache effects),
so a few hundred measured networks suffice; without one it learns log latency directly.

Saved as data (the training architectures and latencies, the hyperparameters and the table);
loading refits with the same seed, which gives the same predictions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from sklearn.ensemble import GradientBoostingRegressor

from hwnas.predictors.base import LatencyPredictor, PredictorError, check_training_data
from hwnas.predictors.lut import LUTPredictor
from hwnas.spaces import Arch, SearchSpace

MIN_TRAINING_ARCHS = 5
DEFAULT_HYPERPARAMETERS: dict[str, Any] = {
    "n_estimators": 400,
    "learning_rate": 0.05,
    "max_depth": 3,
    "subsample": 0.8,
    "min_samples_leaf": 3,
    "random_state": 0,
}


class LearnedPredictor(LatencyPredictor):
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
        self.hyperparameters = {**DEFAULT_HYPERPARAMETERS, **(hyperparameters or {})}
        self._model: GradientBoostingRegressor | None = None
        self._train_archs: list[Arch] = []
        self._train_latencies: list[float] = []

    @property
    def train_data(self) -> tuple[list[Arch], list[float]]:
        """The architectures and latencies (ms) it was fitted on."""
        return list(self._train_archs), list(self._train_latencies)

    def features(self, archs: Sequence[Arch]) -> np.ndarray:
        """One feature row per architecture (see the module docstring)."""
        return np.stack([self._features(a) for a in archs])

    def _features(self, arch: Arch) -> np.ndarray:
        cost = self.space.cost(arch)
        analytic = np.log1p([cost.macs, cost.params, cost.size_bytes, cost.activations])
        parts = [self.space.encode(arch), analytic]
        if self.lut is not None:
            base, blocks = self.lut.parts_of(arch)
            sums = [sum(stage) for stage in blocks]
            parts.append(np.array([base, *sums, base + sum(sums), float(len(sum(blocks, [])))]))
        return np.concatenate(parts).astype(float)

    def _baseline(self, archs: Sequence[Arch]) -> np.ndarray:
        if self.lut is None:
            return np.ones(len(archs))
        return np.maximum(self.lut.predict(archs), 1e-6)

    def fit(self, archs: Sequence[Arch], latencies: Sequence[float]) -> LearnedPredictor:
        y = check_training_data(archs, latencies)
        if len(y) < MIN_TRAINING_ARCHS:
            raise PredictorError(
                f"the learned predictor needs at least {MIN_TRAINING_ARCHS} measured "
                f"architectures, got {len(y)}"
            )
        archs = [self.space.validate(a) for a in archs]
        target = np.log(y / self._baseline(archs))
        model = GradientBoostingRegressor(**self.hyperparameters)
        model.fit(self.features(archs), target)
        self._model = model
        self._train_archs, self._train_latencies = list(archs), [float(v) for v in y]
        return self

    def predict(self, archs: Sequence[Arch]) -> np.ndarray:
        if self._model is None:
            raise PredictorError("the learned predictor is not fitted: call fit() first")
        archs = list(archs)
        if not archs:
            return np.zeros(0)
        return self._baseline(archs) * np.exp(self._model.predict(self.features(archs)))

    def to_data(self) -> dict[str, Any]:
        if self._model is None:
            raise PredictorError("the learned predictor is not fitted: nothing to save")
        return {
            "hyperparameters": self.hyperparameters,
            "source": self.source,
            "lut": self.lut.to_data() if self.lut is not None else None,
            "train": {
                "archs": [a.to_dict() for a in self._train_archs],
                "latencies_ms": self._train_latencies,
            },
        }

    @classmethod
    def from_data(cls, data: dict[str, Any], space: SearchSpace) -> LearnedPredictor:
        lut = LUTPredictor.from_data(data["lut"], space) if data.get("lut") else None
        predictor = cls(space, lut, data["hyperparameters"], data.get("source", ""))
        archs = [Arch.from_dict(a) for a in data["train"]["archs"]]
        return predictor.fit(archs, data["train"]["latencies_ms"])

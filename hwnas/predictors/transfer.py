"""Latency on a new device from a few measurements there, using other devices as prior knowledge.

HELP and NASFLAT meta-learn how devices relate; with a table of other devices' latencies for
the same architectures (`sources`), two small linear models fitted on the k target
measurements (k = 10..100) already do that, and robustly:

- `sources`: log target latency as a ridge regression on the (standardised) log latencies of
  the source devices — the new device as a reweighting of devices seen before.
- `additive` (needs the space): target latency in ms as a ridge regression on how often each
  choice value occurs in the architecture (for NAS-Bench-201, the number of edges carrying
  each op) — latency as a sum of per-operation costs, the FBNet/LUT view.

Their log predictions are averaged with weights proportional to 1 / (leave-one-out mean
squared log error on the k measurements) ** `weight_power`, so the model that explains this
device better dominates without a brittle hard choice. Everything is closed-form: no
randomness, identical results on every fit. Saved as data (settings, source table, training
rows) and refit on load.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from hwnas.predictors.base import (
    LatencyPredictor,
    PredictorError,
    arch_list,
    check_latencies_differ,
    check_training_data,
    distinct_archs,
)
from hwnas.spaces import Arch, SearchSpace
from hwnas.spaces.callers import warn_at_caller
from hwnas.spaces.errors import finite_number
from hwnas.spaces.reprs import named

#: below this many distinct measured architectures the predictions rank the target device's
#: networks unreliably: over 10 draws on HELP's six unseen devices, mean Spearman 0.61 from 2,
#: 0.76 from 3, 0.92 from 5 (single draws as low as -0.79, -0.80, 0.25), against 0.965
#: (worst 0.82) from 10 (docs/benchmarks.md, "Latency transfer to unseen devices")
FEW_MEASUREMENTS = 10


def _ridge(features: np.ndarray, target: np.ndarray, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """(coefficients with the unpenalised intercept first, leave-one-out predictions)."""
    design = np.c_[np.ones(len(features)), features]
    penalty = alpha * np.eye(design.shape[1])
    penalty[0, 0] = 0.0
    inverse = np.linalg.pinv(design.T @ design + penalty)
    coef = inverse @ design.T @ target
    leverage = np.einsum("ij,jk,ik->i", design, inverse, design)
    residual = target - design @ coef
    loo = target - residual / np.clip(1.0 - leverage, 1e-9, None)
    return coef, loo


def _apply(coef: np.ndarray, features: np.ndarray) -> np.ndarray:
    return coef[0] + features @ coef[1:]


def _check_sources(sources: pd.DataFrame) -> pd.DataFrame:
    if not isinstance(sources, pd.DataFrame):
        raise PredictorError(
            f"sources: expected a pandas DataFrame (rows = architecture keys, columns = "
            f"devices), got {type(sources).__name__}"
        )
    if sources.empty or sources.shape[1] == 0:
        raise PredictorError("sources: empty table; give at least one device column with rows")
    table = sources.copy()
    table.index = table.index.map(str)
    duplicated = table.index[table.index.duplicated()].unique().tolist()
    if duplicated:
        raise PredictorError(f"sources: duplicate architecture keys {duplicated[:5]}")
    for column in table.columns:
        values = pd.to_numeric(table[column], errors="coerce").to_numpy(dtype=float)
        if not np.all(np.isfinite(values)) or np.any(values <= 0):
            raise PredictorError(
                f"sources: column {column!r} must hold finite positive latencies (ms) "
                "for every architecture"
            )
        table[column] = values
    constant = [c for c in table.columns if np.ptp(table[c].to_numpy()) == 0]
    if constant:
        raise PredictorError(f"sources: columns {constant} are constant and carry no information")
    return table


class TransferPredictor(LatencyPredictor):
    """Latency (ms) on a target device from `sources` (latencies of the same architectures on
    other devices; index = `Arch.key`, one column per device) plus a few target measurements.

    `space` enables the `additive` model (and `fallback`: predicting architectures missing
    from `sources` with it alone). `sources_alpha`, `additive_alpha`: ridge penalties;
    `weight_power`: how sharply the better model (by leave-one-out error) is preferred.
    """

    kind = "transfer"

    def __init__(
        self,
        sources: pd.DataFrame,
        space: SearchSpace | None = None,
        *,
        sources_alpha: float = 1.0,
        additive_alpha: float = 0.1,
        weight_power: float = 1.0,
        fallback: bool = False,
    ):
        super().__init__(space)
        for name, value in (
            ("sources_alpha", sources_alpha),
            ("additive_alpha", additive_alpha),
            ("weight_power", weight_power),
        ):
            if not finite_number(value) or value < 0:
                raise PredictorError(f"{name}: must be a finite number >= 0, got {value!r}")
        if fallback and space is None:
            raise PredictorError("fallback: needs a space (it predicts from the architecture)")
        self.sources = _check_sources(sources)
        self.settings = {
            "sources_alpha": float(sources_alpha),
            "additive_alpha": float(additive_alpha),
            "weight_power": float(weight_power),
            "fallback": bool(fallback),
        }
        log = np.log(self.sources.to_numpy(dtype=float))
        self._log_sources = pd.DataFrame(
            (log - log.mean(axis=0)) / log.std(axis=0), index=self.sources.index
        )
        self._vocabulary = self._count_vocabulary(space) if space is not None else {}
        self._coefs: dict[str, np.ndarray] = {}
        self.member_weights: dict[str, float] = {}
        self._floor = 0.0
        self._train_archs: list[Arch] = []
        self._train_latencies: list[float] = []

    def _shown(self) -> list[str]:
        return named(source_devices=self.sources.shape[1], fitted=len(self._train_archs))

    # -- features ------------------------------------------------------------------------------
    @staticmethod
    def _count_group(name: str, value: Any) -> str:
        """Choices of the same kind share costs: `s0.b1.mixer` and `s2.b0.mixer` -> `mixer`."""
        kind = name.rsplit(".", 1)[-1] if "." in name else ""
        return f"{kind}={value}"

    def _count_vocabulary(self, space: SearchSpace) -> dict[str, int]:
        groups = sorted(
            {self._count_group(n, v) for n, values in space.choice_values().items() for v in values}
        )
        return {g: i for i, g in enumerate(groups)}

    def _counts(self, archs: Sequence[Arch]) -> np.ndarray:
        counts = np.zeros((len(archs), len(self._vocabulary)))
        for row, arch in enumerate(archs):
            self.space.validate(arch)
            for name, value in arch.items():
                counts[row, self._vocabulary[self._count_group(name, value)]] += 1
        return counts

    def _source_rows(self, archs: Sequence[Arch], what: str) -> np.ndarray:
        keys = [a.key for a in archs]
        missing = [k for k in keys if k not in self._log_sources.index]
        if missing:
            raise PredictorError(
                f"{what}: {len(missing)} architectures have no row in sources "
                f"(keys {missing[:5]}{' ...' if len(missing) > 5 else ''}; the sources' index "
                f"must hold each architecture's `Arch.key`, and it begins "
                f"{list(self._log_sources.index[:2])})"
            )
        return self._log_sources.loc[keys].to_numpy()

    # -- fit / predict -----------------------------------------------------------------------
    def fit(self, archs: Sequence[Arch], latencies: Sequence[float]) -> TransferPredictor:
        """Fit on the target device's measured architectures; warns when they are too few
        for its predictions to rank the device's networks (they are used anyway)."""
        self._fit(archs, latencies)
        distinct = distinct_archs(self._train_archs)
        if distinct < FEW_MEASUREMENTS:
            warn_at_caller(
                f"the transfer predictor is fitted on only {distinct} different measured "
                f"architectures: below about {FEW_MEASUREMENTS} its predictions may rank the "
                "target device's networks far from their measured order, even in reverse "
                "(mean Spearman 0.61 from 2, 0.92 from 5 on NAS-Bench-201's unseen devices); "
                "measure more"
            )
        return self

    def _fit(self, archs: Sequence[Arch], latencies: Sequence[float]) -> None:
        y = check_training_data(archs, latencies)
        archs = list(archs)
        if distinct_archs(archs) < 2:
            raise PredictorError(
                "the transfer predictor needs at least 2 different measured architectures "
                "(10 or more for good ranks); with one it predicts the same latency for all"
            )
        check_latencies_differ(y, "target latencies")
        self._warn_if_a_source_is_the_target(archs, y)
        log_y = np.log(y)
        self._floor = 0.1 * float(y.min())
        coefs, loo = {}, {}
        coefs["sources"], loo["sources"] = _ridge(
            self._source_rows(archs, "fit"), log_y, self.settings["sources_alpha"]
        )
        if self.space is not None:
            coefs["additive"], loo_ms = _ridge(
                self._counts(archs), y, self.settings["additive_alpha"]
            )
            loo["additive"] = np.log(np.maximum(loo_ms, self._floor))
        self._coefs = coefs
        self.member_weights = self._weights(loo, log_y)
        self._train_archs, self._train_latencies = archs, [float(v) for v in y]

    @property
    def train_data(self) -> tuple[list[Arch], list[float]]:
        """The target device's measured architectures and latencies (ms) it was fitted on."""
        return list(self._train_archs), list(self._train_latencies)

    def refitted(self, archs: Sequence[Arch], latencies: Sequence[float]) -> TransferPredictor:
        refit = TransferPredictor(self.sources, self.space, **self.settings).fit(archs, latencies)
        refit.measured_on = self.measured_on
        return refit

    def _warn_if_a_source_is_the_target(self, archs: Sequence[Arch], y: np.ndarray) -> None:
        """A source column equal to the measurements being fitted is the target device
        itself: the predictions copy it, and no score of them says how well latency
        transfers (a leak easy to make when sources and target come from one table)."""
        keys = [a.key for a in archs if a.key in self.sources.index]
        if len(keys) < len(archs):
            return  # fit names the missing keys
        for device in self.sources.columns:
            if np.allclose(self.sources.loc[keys, device].to_numpy(), y, rtol=1e-9, atol=0):
                warn_at_caller(
                    f"sources: column {device!r} holds exactly the latencies being fitted: "
                    "the target device is among the sources, so the predictions copy it; "
                    "leave it out of sources to predict a new device"
                )

    def _weights(self, loo: dict[str, np.ndarray], log_y: np.ndarray) -> dict[str, float]:
        if len(log_y) < 3:  # leave-one-out says nothing yet
            return {m: 1.0 / len(loo) for m in loo}
        errors = {m: max(float(np.mean((p - log_y) ** 2)), 1e-12) for m, p in loo.items()}
        raw = {m: e ** -self.settings["weight_power"] for m, e in errors.items()}
        total = sum(raw.values())
        return {m: w / total for m, w in raw.items()}

    def _member_log(self, member: str, archs: Sequence[Arch]) -> np.ndarray:
        if member == "sources":
            return _apply(self._coefs["sources"], self._source_rows(archs, "predict"))
        ms = _apply(self._coefs["additive"], self._counts(archs))
        return np.log(np.maximum(ms, self._floor))

    def predict(self, archs: Sequence[Arch]) -> np.ndarray:
        if not self._coefs:
            raise PredictorError("the transfer predictor is not fitted: call fit() first")
        archs = arch_list(archs)
        if not archs:
            return np.zeros(0)
        known = np.array([a.key in self._log_sources.index for a in archs])
        if known.all() or not self.settings["fallback"]:
            log = sum(w * self._member_log(m, archs) for m, w in self.member_weights.items())
            return np.exp(log)
        log = self._member_log("additive", archs)
        seen = [a for a, k in zip(archs, known) if k]
        if seen:
            log[known] = sum(w * self._member_log(m, seen) for m, w in self.member_weights.items())
        return np.exp(log)

    # -- data ----------------------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        if self.space is None:
            raise PredictorError("a transfer predictor needs a space to be saved and loaded")
        return super().save(path)

    def to_data(self) -> dict[str, Any]:
        if not self._coefs:
            raise PredictorError("the transfer predictor is not fitted: nothing to save")
        return {
            "settings": dict(self.settings),
            "sources": {
                "devices": [str(c) for c in self.sources.columns],
                "keys": self.sources.index.tolist(),
                "latencies_ms": self.sources.to_numpy(dtype=float).tolist(),
            },
            "train": {
                "archs": [a.to_dict() for a in self._train_archs],
                "latencies_ms": list(self._train_latencies),
            },
        }

    @classmethod
    def from_data(cls, data: dict[str, Any], space: SearchSpace | None) -> TransferPredictor:
        try:
            table = data["sources"]
            sources = pd.DataFrame(
                table["latencies_ms"], index=table["keys"], columns=table["devices"]
            )
            predictor = cls(sources, space, **data["settings"])
            archs = [Arch.from_dict(a) for a in data["train"]["archs"]]
            predictor._fit(archs, data["train"]["latencies_ms"])  # warned of when fitted
            return predictor
        except (KeyError, TypeError) as e:
            raise PredictorError(f"not a transfer predictor record (bad field {e})") from None

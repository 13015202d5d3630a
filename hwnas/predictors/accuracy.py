"""How close predicted latencies are to measured ones: errors and rank agreement.

Searchers need both: small relative errors (for latency constraints) and the right order
(for ranking candidates), so every predictor is scored with the same set of numbers.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import stats

from hwnas.predictors.base import PredictorError, flat_floats


def _as_vector(values: Sequence[float] | np.ndarray, name: str) -> np.ndarray:
    try:
        array = flat_floats(values)
    except (TypeError, OverflowError):
        raise PredictorError(f"{name}: latencies must be numbers, not {values!r:.80}") from None
    except ValueError as e:
        raise PredictorError(f"{name}: expected a flat sequence of latencies, got {e}") from None
    if not np.all(np.isfinite(array)):
        raise PredictorError(f"{name}: latencies must be finite numbers")
    return array


#: decimals a rank correlation keeps: scipy's float rounding (5 networks ranked perfectly
#: gave 0.9999999999999999, which `latency eval` printed with every digit) is no ranking
RANK_DECIMALS = 12


def _rank_correlation(test, measured: np.ndarray, predicted: np.ndarray) -> float:
    """NaN where ranks say nothing (fewer than two values, or a constant side): answered
    here, so scipy never meets the inputs it warns of (ConstantInputWarning), and any warning
    it does raise is the caller's to see (every warning was silenced around it)."""
    if len(measured) < 2 or np.ptp(measured) == 0 or np.ptp(predicted) == 0:
        return float("nan")
    return round(float(test(measured, predicted).statistic), RANK_DECIMALS)


def kendall_tau(first: np.ndarray, second: np.ndarray) -> float:
    """How alike two orders of the same items are: Kendall's tau-b (NaN where undefined)."""
    return _rank_correlation(stats.kendalltau, first, second)


def latency_accuracy(
    measured: Sequence[float] | np.ndarray, predicted: Sequence[float] | np.ndarray
) -> dict[str, float]:
    """Accuracy of `predicted` against `measured` latencies (same order, same unit).

    Keys: `rmse` (unit of the inputs), `mape` (percent), `within_5pct` / `within_10pct`
    (share 0..1 of predictions with |predicted - measured| / measured <= 0.05 / 0.10),
    `kendall_tau`, `spearman` (NaN when undefined), `n`.
    """
    y = _as_vector(measured, "measured")
    p = _as_vector(predicted, "predicted")
    if len(y) != len(p):
        raise PredictorError(f"measured has {len(y)} values but predicted has {len(p)}")
    if len(y) == 0:
        raise PredictorError("measured and predicted are empty: nothing to score")
    if np.any(y <= 0):
        raise PredictorError(
            "measured: latencies must be positive (relative errors divide by them)"
        )
    relative = np.abs(p - y) / y
    return {
        "rmse": float(np.sqrt(np.mean((p - y) ** 2))),
        "mape": float(100 * np.mean(relative)),
        "within_5pct": float(np.mean(relative <= 0.05 + 1e-12)),
        "within_10pct": float(np.mean(relative <= 0.10 + 1e-12)),
        "kendall_tau": kendall_tau(y, p),
        "spearman": _rank_correlation(stats.spearmanr, y, p),
        "n": len(y),
    }

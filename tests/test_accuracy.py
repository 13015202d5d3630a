"""Latency accuracy metrics against values computed by hand on a small table."""

import math
import warnings
from types import SimpleNamespace

import numpy as np
import pytest
from scipy import stats

from hwnas.predictors import PredictorError
from hwnas.predictors.accuracy import _rank_correlation, kendall_tau, latency_accuracy

# measured, predicted; relative errors 0.04, 0.09, 0.5, 0.05, 0.12; one swapped pair (3 <-> 4)
MEASURED = [1.0, 2.0, 3.0, 4.0, 5.0]
PREDICTED = [1.04, 2.18, 4.5, 3.8, 5.6]


def test_metrics_match_hand_computed_values():
    scores = latency_accuracy(MEASURED, PREDICTED)
    # squared errors 0.0016 + 0.0324 + 2.25 + 0.04 + 0.36 = 2.684
    assert scores["rmse"] == pytest.approx(math.sqrt(2.684 / 5))
    assert scores["mape"] == pytest.approx(100 * 0.80 / 5)  # 16 %
    assert scores["within_5pct"] == pytest.approx(2 / 5)  # 0.04 and exactly 0.05
    assert scores["within_10pct"] == pytest.approx(3 / 5)
    assert scores["kendall_tau"] == pytest.approx((9 - 1) / 10)  # 1 discordant pair of 10
    assert scores["spearman"] == pytest.approx(1 - 6 * 2 / (5 * 24))  # sum d^2 = 2
    assert scores["n"] == 5


def test_perfect_prediction_and_numpy_input():
    y = np.array([3.0, 1.0, 2.0])
    scores = latency_accuracy(y, y.copy())
    assert scores["rmse"] == 0 and scores["mape"] == 0
    assert scores["within_5pct"] == scores["within_10pct"] == 1.0
    assert scores["kendall_tau"] == pytest.approx(1.0) and scores["spearman"] == pytest.approx(1.0)


@pytest.mark.parametrize("count", [2, 5, 6, 8, 10])
def test_a_perfect_or_reversed_ranking_scores_exactly_one(count):
    """scipy's rank correlations of a perfect ranking came out as 0.9999999999999999 (or
    ...98) for some counts, which `hwnas latency eval` printed with 16 digits."""
    measured = np.arange(1.0, count + 1)
    for predicted, rank in ((measured * 1.01, 1.0), (measured[::-1], -1.0)):
        scores = latency_accuracy(measured, predicted)
        assert scores["kendall_tau"] == scores["spearman"] == rank


def test_rank_correlation_is_nan_when_undefined():
    single = latency_accuracy([2.0], [2.2])
    assert single["n"] == 1 and single["within_10pct"] == 1.0
    assert math.isnan(single["kendall_tau"]) and math.isnan(single["spearman"])
    assert math.isnan(latency_accuracy([1.0, 2.0], [1.5, 1.5])["spearman"])


def test_rank_correlations_pass_on_warnings_and_meet_no_constant_input():
    """Every warning around scipy's rank correlations was silenced, not only the one for a
    constant input (which the NaN answer keeps scipy from meeting): another one was lost."""

    def warning_test(measured, predicted):
        warnings.warn("a warning of the rank test", RuntimeWarning, stacklevel=2)
        return SimpleNamespace(statistic=0.5)

    with pytest.warns(RuntimeWarning, match="a warning of the rank test"):
        assert _rank_correlation(warning_test, np.array([1.0, 2.0]), np.array([2.0, 1.0])) == 0.5
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # scipy's ConstantInputWarning among them
        for constant in ([1.5, 1.5], [3.0, 3.0, 3.0]):
            varied = np.arange(1.0, len(constant) + 1)
            assert math.isnan(latency_accuracy(varied, constant)["spearman"])
            assert math.isnan(kendall_tau(np.array(constant), varied))
        assert latency_accuracy([1.0, 2.0], [2.0, 1.0])["spearman"] == -1.0
    with pytest.warns(stats.ConstantInputWarning):  # what the NaN answer spares the caller
        stats.spearmanr([1.5, 1.5], [1.0, 2.0])


@pytest.mark.parametrize(
    ("measured", "predicted", "message"),
    [
        ([1.0, 2.0], [1.0], "2 values but predicted has 1"),
        ([], [], "empty"),
        ([1.0, 0.0], [1.0, 1.0], "measured: latencies must be positive"),
        ([1.0, -2.0], [1.0, 1.0], "measured: latencies must be positive"),
        ([1.0, 2.0], [1.0, float("nan")], "predicted: latencies must be finite"),
        ([[1.0, 2.0]], [[1.0, 2.0]], "measured: expected a flat sequence"),
        # one number for them all: numpy's bare "len() of unsized object"
        (
            1.5,
            [1.5],
            r"measured: expected a flat sequence of latencies, got an array of shape \(\)",
        ),
        # numpy reads text as numbers: a CSV column of strings is data read wrongly
        (["1.0", "2.0"], [1.0, 2.5], "measured: latencies must be numbers"),
        ([1.0, 2.0], [True, True], "predicted: latencies must be numbers"),
        ([1.0, 2.0], ["fast", 2.5], "predicted: latencies must be numbers"),
        ([[1.0, 2.0], [3.0]], [1.0, 2.0], "measured: expected a flat sequence .* ragged rows"),
    ],
)
def test_bad_input_is_refused_with_a_clear_error(measured, predicted, message):
    with pytest.raises(PredictorError, match=message):
        latency_accuracy(measured, predicted)

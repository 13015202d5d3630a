"""The surrogate models of the predictor searcher (`hwnas.search.predictor`): what predicts a
metric of an encoded architecture, with a spread, from the results so far.

`make_surrogate` names them: an `Ensemble` (gradient boosting, MLPs, extra trees or a random
forest; the spread is its members' disagreement) or a `GaussianProcess` (the spread is its
posterior's), or "mlp_then_gaussian_process": MLPs below `GAUSSIAN_PROCESS_FROM` results and
a Gaussian process from there on. `GaussianCopula` maps a metric's values to the normal scores
of their ranks, the scale the surrogates learn on (`Identity` leaves a metric as it is).
Apart from the searcher because they are models, fitted and asked through `fit` and
`predict`, that know nothing of its candidates, objectives or acquisitions (the benchmarks
fit them on their own).
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy.stats import norm, rankdata
from sklearn.ensemble import ExtraTreesRegressor, GradientBoostingRegressor, RandomForestRegressor
from sklearn.exceptions import ConvergenceWarning
from sklearn.gaussian_process import GaussianProcessRegressor
from sklearn.gaussian_process.kernels import ConstantKernel, Kernel, Matern, WhiteKernel
from sklearn.neural_network import MLPRegressor
from sklearn.preprocessing import MinMaxScaler

from hwnas.search.base import integer_setting

ENSEMBLES = ("gradient_boosting", "extra_trees", "random_forest", "mlp")
SURROGATES = (*ENSEMBLES, "gaussian_process", "mlp_then_gaussian_process")
GAUSSIAN_PROCESS_FROM = 100  # results from which "mlp_then_gaussian_process" fits a GP
HYPERPARAMETER_SAMPLE = 300  # results a Gaussian process fits its hyperparameters on, at most
# by "several objectives?": boosting ranks single-objective candidates best; 5 MLPs drive the
# optimistic hypervolume acquisition better than a forest or boosting (NAS-Bench-201, four
# latency columns, docs/benchmarks.md), at a higher refit cost, and a GP better from 100 on
DEFAULT_SURROGATE = {False: "gradient_boosting", True: "mlp_then_gaussian_process"}
DEFAULT_ENSEMBLE_SIZE = {
    "gradient_boosting": 3,
    "mlp": 5,
    "mlp_then_gaussian_process": 5,
    "extra_trees": 50,
    "random_forest": 50,
}


class Ensemble:
    """Mean and spread of an ensemble's predictions: several models trained with different
    seeds (gradient boosting with subsampling, MLPs), or the trees of a forest."""

    def __init__(self, kind: str, size: int, seed: int):
        size = integer_setting("ensemble_size", size, minimum=2)  # a spread needs two
        self.kind, self.size, self.seed = kind, size, seed

    def fit(self, x: np.ndarray, y: np.ndarray) -> Ensemble:
        if self.kind in ("extra_trees", "random_forest"):
            forest = ExtraTreesRegressor if self.kind == "extra_trees" else RandomForestRegressor
            model = forest(n_estimators=self.size, bootstrap=True, random_state=self.seed)
            self.members = model.fit(x, y).estimators_
        else:
            self.members = [fit_interruptibly(self._member(i), x, y) for i in range(self.size)]
        return self

    def _member(self, i: int):
        if self.kind == "gradient_boosting":
            return GradientBoostingRegressor(
                n_estimators=50, subsample=0.8, random_state=self.seed + i
            )
        return MLPRegressor(hidden_layer_sizes=(64, 64), max_iter=500, random_state=self.seed + i)

    def predict(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        preds = np.stack([m.predict(x) for m in self.members])
        return preds.mean(axis=0), preds.std(axis=0)


def fit_interruptibly(model, x: np.ndarray, y: np.ndarray):
    """`model.fit(x, y)`, letting Ctrl-C (and SIGTERM, which a run turns into one) through:
    scikit-learn's MLP catches the interrupt, stops training early and only warns, so the
    search went on with a half-trained surrogate instead of stopping."""
    with warnings.catch_warnings():
        warnings.filterwarnings("error", "Training interrupted by user", UserWarning)
        try:
            return model.fit(x, y)
        except UserWarning as e:
            if "Training interrupted by user" in str(e):
                raise KeyboardInterrupt from None
            raise


class GaussianProcess:
    """A Gaussian process (Matern 5/2 kernel plus a noise term, hyperparameters by maximum
    likelihood) on inputs scaled to [0, 1], so appended known-model predictions weigh like
    the encoding's one-hot columns. Its spread is the posterior standard deviation. Beyond
    `HYPERPARAMETER_SAMPLE` results the hyperparameters are fitted on a seeded sample of that
    many, and the process conditioned on all: the likelihood's optimisation costs the cube of
    the results (2.7 s a metric at 1000, 0.36 s at 300), and three numbers are well estimated
    from a few hundred (predictions as good: benchmarks/gp_kernel_sample.py). A sample whose
    values all tie, while others differ, would give a kernel of no amplitude and a spread of
    nearly none everywhere: the kernel is then fitted on all results."""

    def __init__(self, seed: int):
        self.seed = seed

    def fit(self, x: np.ndarray, y: np.ndarray) -> GaussianProcess:
        self.scaler = MinMaxScaler().fit(x)
        x = self.scaler.transform(x)
        kernel = self._kernel()
        optimizer: str | None = "fmin_l_bfgs_b"
        if len(y) > HYPERPARAMETER_SAMPLE:
            rng = np.random.default_rng(self.seed)
            rows = np.sort(rng.choice(len(y), HYPERPARAMETER_SAMPLE, replace=False))
            if np.ptp(y[rows]) > 0:  # a sample of ties (a rare 0/1 metric) fits no kernel
                kernel = self._fitted(kernel, optimizer, x[rows], y[rows]).kernel_
                optimizer = None
        self.model = self._fitted(kernel, optimizer, x, y)
        return self

    def _kernel(self) -> Kernel:
        """The kernel whose hyperparameters are fitted: a Matern 5/2 times a constant, plus
        noise (benchmarks/search_predictor_variants.py replaces it with others tried)."""
        matern = ConstantKernel(1.0, (1e-3, 1e2)) * Matern(3.0, (1e-2, 1e3), nu=2.5)
        return matern + WhiteKernel(0.1, (1e-5, 1e1))

    def _fitted(self, kernel, optimizer: str | None, x: np.ndarray, y: np.ndarray):
        process = GaussianProcessRegressor(
            kernel, optimizer=optimizer, normalize_y=True, random_state=self.seed
        )
        with warnings.catch_warnings():  # a noise-free metric (a latency table) hits the bound
            warnings.simplefilter("ignore", ConvergenceWarning)
            return process.fit(x, y)

    def predict(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self.model.predict(self.scaler.transform(x), return_std=True)


Surrogate = Ensemble | GaussianProcess


def make_surrogate(kind: str, ensemble_size: int | None, seed: int, results: int = 0) -> Surrogate:
    """The surrogate named `kind` to fit on `results` evaluated trials (`ensemble_size` is
    for ensembles only): "mlp_then_gaussian_process" is an ensemble of MLPs below
    `GAUSSIAN_PROCESS_FROM` results and a Gaussian process from there on."""
    if kind == "mlp_then_gaussian_process":
        if results < GAUSSIAN_PROCESS_FROM:
            return Ensemble("mlp", ensemble_size, seed)
        return GaussianProcess(seed)
    if kind == "gaussian_process":
        if ensemble_size is not None:
            raise ValueError("ensemble_size: the gaussian_process surrogate is no ensemble")
        return GaussianProcess(seed)
    return Ensemble(kind, ensemble_size, seed)


class GaussianCopula:
    """Monotone map of a metric's values to the normal scores of their ranks among the
    observed values: linear in between, and outside at the slope across the whole range
    (one score per unit when every observed value is the same), so a bound or reference
    beyond every observed value still lies beyond their scores."""

    def __init__(self, observed: np.ndarray):
        scores = norm.ppf(rankdata(observed) / (len(observed) + 1))
        self.values, inverse = np.unique(observed, return_inverse=True)
        self.scores = np.bincount(inverse, scores) / np.bincount(inverse)
        spread = self.values[-1] - self.values[0]
        self.slope = (self.scores[-1] - self.scores[0]) / spread if spread > 0 else 1.0

    def __call__(self, values: np.ndarray | float) -> np.ndarray:
        values = np.asarray(values, dtype=float)
        low, high = self.values[0], self.values[-1]
        beyond = np.minimum(values - low, 0) + np.maximum(values - high, 0)
        return np.interp(values, self.values, self.scores) + self.slope * beyond


class Identity:
    def __call__(self, values):
        return np.asarray(values, dtype=float)

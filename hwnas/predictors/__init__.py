"""Latency predictors built from real measurements: measuring models on runtimes (ONNX Runtime,
PyTorch), device profiles, lookup-table, learned and transfer predictors, accuracy metrics.

Names are imported on first use, so importing one submodule (or the CLI) does not pull in
scikit-learn and ONNX Runtime.
"""

from importlib import import_module
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "BACKENDS": "backends",
    "BackendError": "backends",
    "LatencyPredictor": "base",
    "PredictorError": "base",
    "device_fingerprint": "fingerprint",
    "LearnedPredictor": "learned",
    "LUTPredictor": "lut",
    "Measurement": "measure",
    "MeasurementError": "measure",
    "measure_latency": "measure",
    "Profile": "profile",
    "ProfileError": "profile",
    "build_profile": "profiling",
    "read_profile": "profile",
    "KINDS": "registry",
    "get_predictor": "registry",
    "load_predictor": "registry",
    "TransferPredictor": "transfer",
    "latency_accuracy": "accuracy",
}
__all__ = sorted(_EXPORTS)

if TYPE_CHECKING:  # what `__getattr__` imports on first use, for type checkers to see
    from hwnas.predictors.accuracy import latency_accuracy as latency_accuracy
    from hwnas.predictors.backends import BACKENDS as BACKENDS
    from hwnas.predictors.backends import BackendError as BackendError
    from hwnas.predictors.base import LatencyPredictor as LatencyPredictor
    from hwnas.predictors.base import PredictorError as PredictorError
    from hwnas.predictors.fingerprint import device_fingerprint as device_fingerprint
    from hwnas.predictors.learned import LearnedPredictor as LearnedPredictor
    from hwnas.predictors.lut import LUTPredictor as LUTPredictor
    from hwnas.predictors.measure import Measurement as Measurement
    from hwnas.predictors.measure import MeasurementError as MeasurementError
    from hwnas.predictors.measure import measure_latency as measure_latency
    from hwnas.predictors.profile import Profile as Profile
    from hwnas.predictors.profile import ProfileError as ProfileError
    from hwnas.predictors.profile import read_profile as read_profile
    from hwnas.predictors.profiling import build_profile as build_profile
    from hwnas.predictors.registry import KINDS as KINDS
    from hwnas.predictors.registry import get_predictor as get_predictor
    from hwnas.predictors.registry import load_predictor as load_predictor
    from hwnas.predictors.transfer import TransferPredictor as TransferPredictor


def __getattr__(name: str) -> Any:
    """A public name, imported from its module on first use (then kept as an attribute)."""
    if name not in _EXPORTS:
        raise AttributeError(f"module 'hwnas.predictors' has no attribute {name!r}")
    value = getattr(import_module(f"hwnas.predictors.{_EXPORTS[name]}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    """The public names, those not imported yet included (tab completion, `help()`)."""
    return __all__

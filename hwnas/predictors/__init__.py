"""Latency predictors built from real measurements: measuring models on runtimes (ONNX Runtime,
PyTorch), device profiles, lookup-table, learned and transfer predictors, accuracy metrics.

Names are imported on first use, so importing one submodule (or the CLI) does not pull in
scikit-learn and ONNX Runtime.
"""

from importlib import import_module
from typing import Any

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

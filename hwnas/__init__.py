"""hwnas: hardware-aware neural architecture search for PyTorch.

Subpackages: `hwnas.spaces`, `hwnas.predictors`, `hwnas.evaluators`, `hwnas.search`,
`hwnas.experiments`; the `hwnas` command lives in `hwnas.cli`. `hwnas.build(config)` rebuilds
the torch model of an exported architecture config, and `hwnas.inference_model(model)` turns it
into the float form its exported ONNX holds; `hwnas.export_deployed_onnx` writes it as ONNX with
its blocks at their precisions (all three imported lazily, so `import hwnas.spaces` stays
light). `hwnas.HwnasWarning` is the category of every warning hwnas issues, for filtering
them alone.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

try:
    __version__ = version("hwnas")
except PackageNotFoundError:  # its source folder on the path, never installed: still usable
    __version__ = "unknown (not installed)"
if TYPE_CHECKING:  # what `__getattr__` imports on first use, for type checkers to see
    from hwnas.experiments.export import build, export_deployed_onnx, inference_model
    from hwnas.spaces.callers import HwnasWarning

__all__ = ["HwnasWarning", "__version__", "build", "export_deployed_onnx", "inference_model"]


def __getattr__(name: str) -> Any:
    """`build`, `export_deployed_onnx`, `inference_model` and `HwnasWarning`, imported on
    first use."""
    if name == "HwnasWarning":
        from hwnas.spaces.callers import HwnasWarning

        return HwnasWarning
    if name in ("build", "export_deployed_onnx", "inference_model"):
        from hwnas.experiments import export

        return getattr(export, name)
    raise AttributeError(f"module 'hwnas' has no attribute {name!r}")


def __dir__() -> list[str]:
    """The module's names with those resolved on first use (tab completion, `help()`)."""
    return sorted({*globals(), *__all__})

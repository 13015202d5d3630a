"""hwnas: hardware-aware neural architecture search for PyTorch.

Subpackages: `hwnas.spaces`, `hwnas.predictors`, `hwnas.evaluators`, `hwnas.search`,
`hwnas.experiments`; the `hwnas` command lives in `hwnas.cli`. `hwnas.build(config)` rebuilds
the torch model of an exported architecture config (imported lazily, so `import hwnas.spaces`
stays light).
"""

from __future__ import annotations

from importlib.metadata import version
from typing import Any

__version__ = version("hwnas")
__all__ = ["__version__", "build"]


def __getattr__(name: str) -> Any:
    if name == "build":
        from hwnas.experiments.export import build

        return build
    raise AttributeError(f"module 'hwnas' has no attribute {name!r}")

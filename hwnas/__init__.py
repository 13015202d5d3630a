"""hwnas: hardware-aware neural architecture search for PyTorch.

Subpackages: `hwnas.spaces`, `hwnas.predictors`, `hwnas.evaluators`, `hwnas.search`,
`hwnas.experiments`; the `hwnas` command lives in `hwnas.cli`. `hwnas.build(config)` rebuilds
the torch model of an exported architecture config (imported lazily, so `import hwnas.spaces`
stays light).
"""

from __future__ import annotations

from typing import Any

__all__ = ["build"]


def __getattr__(name: str) -> Any:
    if name == "build":
        from hwnas.experiments.export import build

        return build
    raise AttributeError(f"module 'hwnas' has no attribute {name!r}")

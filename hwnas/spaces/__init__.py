"""Search spaces: architectures as immutable choice records, and the models they build.

Reading, validating and searching a space needs no torch; the names that work on models
(`reparameterize`, `set_fake_quant`) import it when first used, so a command that only reads
stored results starts without it.
"""

from importlib import import_module
from typing import TYPE_CHECKING, Any

from hwnas.spaces.arch import Arch, Choice
from hwnas.spaces.blocks import MIXERS, PRECISIONS
from hwnas.spaces.cost import Cost
from hwnas.spaces.errors import SpaceError
from hwnas.spaces.metaformer import MetaFormerSpace
from hwnas.spaces.nasbench201 import NasBench201Space
from hwnas.spaces.space import (
    SearchSpace,
    as_space,
    builtin_spaces,
    get_space,
    space_from_data,
)

if TYPE_CHECKING:  # what `__getattr__` imports on first use, for type checkers to see
    from hwnas.spaces.network import reparameterize
    from hwnas.spaces.quant import set_fake_quant

#: public names that need torch -> the module that defines them
_MODEL_NAMES = {"reparameterize": "network", "set_fake_quant": "quant"}


def __getattr__(name: str) -> Any:
    if name in _MODEL_NAMES:
        return getattr(import_module(f"hwnas.spaces.{_MODEL_NAMES[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    """The module's names with those resolved on first use (tab completion, `help()`)."""
    return sorted({*globals(), *_MODEL_NAMES})


__all__ = [
    "MIXERS",
    "PRECISIONS",
    "Arch",
    "Choice",
    "Cost",
    "MetaFormerSpace",
    "NasBench201Space",
    "SearchSpace",
    "SpaceError",
    "builtin_spaces",
    "as_space",
    "get_space",
    "space_from_data",
    "reparameterize",
    "set_fake_quant",
]

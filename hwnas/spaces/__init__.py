"""Search spaces: architectures as immutable choice records, and the models they build."""

from hwnas.spaces.arch import Arch, Choice
from hwnas.spaces.cost import Cost
from hwnas.spaces.errors import SpaceError
from hwnas.spaces.metaformer import MetaFormerSpace
from hwnas.spaces.mixers import MIXERS
from hwnas.spaces.nasbench201 import NasBench201Space
from hwnas.spaces.network import reparameterize
from hwnas.spaces.quant import PRECISIONS, set_fake_quant
from hwnas.spaces.space import (
    SearchSpace,
    as_space,
    builtin_spaces,
    get_space,
    space_from_data,
)

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

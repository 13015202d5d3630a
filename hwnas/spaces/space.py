"""`SearchSpace`: the interface every space implements, and the registry `get_space`."""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from hwnas.spaces.arch import Arch, Choice
from hwnas.spaces.blocks import PRECISIONS
from hwnas.spaces.cost import Cost
from hwnas.spaces.errors import SpaceError, did_you_mean

if TYPE_CHECKING:
    from torch import nn

RngLike = np.random.Generator | int | None


def as_rng(rng: RngLike) -> np.random.Generator:
    """`rng` itself, or a numpy generator seeded with it (an int, or None for fresh entropy)."""
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is not None and (isinstance(rng, bool) or not isinstance(rng, int | np.integer)):
        raise TypeError(
            f"rng must be a numpy Generator, an int seed or None, not {type(rng).__name__}"
        )
    if rng is not None and rng < 0:
        raise ValueError(f"rng must be a seed >= 0 (or a numpy Generator or None), not {rng}")
    return np.random.default_rng(rng)


def decimal_digits(n: int) -> str:
    """The decimal digits of `n`, however many: `str(n)` refuses more than 4300 (Python's
    limit on turning an int into text), and a space's cardinality can have thousands (stages
    of up to 1024 blocks). `decimal` converts without that limit."""
    from decimal import Decimal

    return str(Decimal(n))


class SearchSpace(ABC):
    """A declarative space of architectures: sample, mutate, cross over, encode, build, cost.

    Spaces only describe and manipulate architectures; they never train or measure them.
    """

    name: str
    version: int
    input_shape: tuple[int, ...]  # without batch
    num_classes: int

    # -- choices ---------------------------------------------------------------------------
    @abstractmethod
    def canonical(self, choices: Mapping[str, Choice]) -> Arch:
        """The canonical `Arch` of these choices (unused choices dropped); not yet validated."""

    @abstractmethod
    def validate(self, arch: Arch) -> Arch:
        """Return `arch` if it belongs to this space, else raise `SpaceError` naming the field."""

    @abstractmethod
    def sample(self, rng: RngLike = None) -> Arch:
        """A uniformly random architecture of the space."""

    @abstractmethod
    def mutate(self, arch: Arch, rng: RngLike = None) -> Arch:
        """A valid architecture that differs from `arch` in one choice."""

    @abstractmethod
    def crossover(self, a: Arch, b: Arch, rng: RngLike = None) -> Arch:
        """A valid child mixing the choices of two parents."""

    @abstractmethod
    def encode(self, arch: Arch) -> np.ndarray:
        """A fixed-length float vector describing `arch`, for predictors."""

    def live(self, arch: Arch) -> Arch:
        """The architecture of this space whose network computes what `arch`'s does, without
        the ops that cannot change its output (NAS-Bench-201's dead ops); `arch` itself in a
        space without such ops. Predictors of what a network computes (its accuracy) read it,
        so twins that differ only in such ops are one network to them; what running it costs
        (its latency) still counts every op."""
        return self.validate(arch)

    @abstractmethod
    def suggest(self, trial: Any) -> Arch:
        """Sample an architecture through an Optuna trial (define-by-run, conditional)."""

    @abstractmethod
    def choice_values(self) -> dict[str, list[Choice]]:
        """Every choice name any architecture may have, with all the values it may take."""

    @property
    @abstractmethod
    def cardinality(self) -> int:
        """The exact number of distinct architectures."""

    @property
    def log10_cardinality(self) -> float:
        """log10 of the number of architectures (spaces too large to print as a count)."""
        return math.log10(self.cardinality)

    @property
    def precisions(self) -> list[str]:
        """The precisions its architectures may give their blocks, in `PRECISIONS` order (fp32
        alone for a space without a precision choice)."""
        choices = self.choice_values().items()
        given = {v for name, values in choices if name.endswith(".precision") for v in values}
        return [p for p in PRECISIONS if p in given] or ["fp32"]

    @abstractmethod
    def describe(self) -> dict[str, Any]:
        """A JSON-able summary of the choices, for `hwnas spaces show`."""

    # -- models ----------------------------------------------------------------------------
    @abstractmethod
    def build(
        self,
        arch: Arch,
        *,
        input_shape: Sequence[int] | None = None,
        num_classes: int | None = None,
    ) -> nn.Module:
        """The torch model of `arch` (fake quantization on, training mode)."""

    def cost(self, arch: Arch) -> Cost:
        """Params, MACs, size in bytes at the chosen precisions, activation traffic (cached)."""
        return _cached_cost(self, self.validate(arch))

    def _count_cost(self, arch: Arch) -> Cost:
        """The uncached cost of a validated `arch`: counted on its whole network."""
        from hwnas.spaces.counting import meta_cost  # torch: imported to count

        return meta_cost(lambda: self.build(arch), self.input_shape)

    def arch(self, choices: Mapping[str, Choice]) -> Arch:
        """The validated, canonical `Arch` for these choices."""
        return self.validate(self.canonical(choices))

    def to_string(self, arch: Arch) -> str:
        """The space's standard string form of `arch` (NAS-Bench-201's cell string)."""
        raise NotImplementedError(f"space {self.name!r} has no standard string form")

    def from_string(self, text: str) -> Arch:
        """The canonical `Arch` that `text`, in the space's standard string form, names."""
        raise NotImplementedError(f"space {self.name!r} has no standard string form")

    def _check_space(self, arch: Arch) -> None:
        if not isinstance(arch, Arch):  # a dict of choices has no space to check
            raise SpaceError(
                f"space {self.name!r} takes an Arch, not a {type(arch).__name__} "
                "(space.arch(choices) makes one from a mapping of choices)"
            )
        if arch.space != self.name or arch.version != self.version:
            raise SpaceError(
                f"arch is from space {arch.space!r} v{arch.version}, "
                f"not {self.name!r} v{self.version}"
            )

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} v{self.version}>"


@lru_cache(maxsize=65536)
def _cached_cost(space: SearchSpace, arch: Arch) -> Cost:
    return space._count_cost(arch)


LIBRARY = resources.files("hwnas.spaces") / "library"


def builtin_spaces() -> list[str]:
    """Names of the spaces shipped in `hwnas/spaces/library/`."""
    return sorted(
        p.name.removesuffix(".yaml") for p in LIBRARY.iterdir() if p.name.endswith(".yaml")
    )


def as_space(space: SearchSpace | str | Path) -> SearchSpace:
    """`space` itself, or the built-in space or space file it names (what `get_evaluator`,
    `get_searcher`, `get_predictor` and `build_profile` accept for their space; the classes
    and the other functions take a `SearchSpace`)."""
    if isinstance(space, SearchSpace):
        return space
    if isinstance(space, str | Path):
        return get_space(space)
    raise TypeError(
        f"space must be a SearchSpace, a built-in space's name or a space file, not {space!r}"
    )


def get_space(
    name_or_path: str | Path,
    *,
    input_shape: Sequence[int] | None = None,
    num_classes: int | None = None,
) -> SearchSpace:
    """A built-in space by name, or a space YAML file by path, optionally with another input
    shape (without batch) or number of classes."""
    from hwnas.spaces.yaml_files import read_yaml

    if not isinstance(name_or_path, str | Path):  # str() of a space is no name of one
        raise TypeError(
            f"get_space takes a space's name or a space file's path, not a "
            f"{type(name_or_path).__name__} (searchers and evaluators take a SearchSpace "
            "itself)"
        )
    text = str(name_or_path)
    if not text.strip():
        raise SpaceError("the space is empty: name a built-in space or a space YAML file")
    try:
        path = _space_file(text)
    except OSError as e:  # a name longer than a file name may be: the OS's bare error
        raise SpaceError(f"{text}: cannot read: {e.strerror}") from None
    data = read_yaml(path)
    if experiment_keys := sorted({"searcher", "evaluator", "objectives"} & data.keys()):
        raise SpaceError(
            f"{path}: an experiment file (it has {', '.join(experiment_keys)}), not a space "
            "file: run it with `hwnas search`; give the space its `space:` names here instead"
        )
    if str(data.get("format", "")).startswith("hwnas-arch/"):
        raise SpaceError(
            f"{path}: an exported architecture config, not a space file: `hwnas build` "
            "rebuilds its model; the space it came from is in it (space.source)"
        )
    return space_from_data(data, str(path), input_shape=input_shape, num_classes=num_classes)


def _space_file(text: str) -> Path:
    """The file of the built-in space or the space file that `text` names; a `SpaceError`
    where it names a folder or, without a suffix, no file."""
    if text in builtin_spaces():
        return Path(str(LIBRARY / f"{text}.yaml"))
    path = Path(text)
    if path.is_dir():
        inside = f"; the space a run started with is its {path / 'space.yaml'}"
        raise SpaceError(
            f"{path}: a folder, not a space file"
            + (inside if (path / "space.yaml").is_file() else "")
        )
    if not path.suffix and not path.is_file():
        files = [f for f in (path.with_suffix(".yaml"), path.with_suffix(".yml")) if f.is_file()]
        hint = f" (did you mean the file {files[0]}?)" if files else ""
        raise SpaceError(
            f"unknown space {text!r}{hint or did_you_mean(text, builtin_spaces())}; "
            f"built-in spaces: {', '.join(builtin_spaces())}"
        )
    return path


def space_from_data(
    data: dict[str, Any],
    source: str,
    *,
    input_shape: Sequence[int] | None = None,
    num_classes: int | None = None,
    recorded: bool = False,
) -> SearchSpace:
    """The space a parsed space file (or a definition stored elsewhere, as in a predictor
    file) declares; `source` names it in errors. A `recorded` definition (a profile's or a
    predictor's, `space_definition` of the space it was made with) may be of a space at an
    overridden input, whose options that fit no stage there were left out, not refused: it is
    rebuilt so (as a file at its own input it refused them, and such a file could not be read
    back)."""
    from hwnas.spaces.metaformer import MetaFormerSpace
    from hwnas.spaces.nasbench201 import NasBench201Space
    from hwnas.spaces.spec import at_line

    if not isinstance(data, Mapping):  # taken, it failed on `.get`, naming no argument
        raise TypeError(
            f"data must be a mapping of a space file's fields (its parsed YAML), not {data!r:.80}"
        )
    kind = data.get("kind", "metaformer")
    overrides = {"input_shape": input_shape, "num_classes": num_classes}
    if kind == "metaformer":
        return MetaFormerSpace.from_data(data, source, check_unused=not recorded, **overrides)
    if kind == "nasbench201":
        return NasBench201Space.from_data(data, source, **overrides)
    raise SpaceError(
        f"{source}: {at_line(data, ('kind',))}kind: unknown space kind {kind!r} (metaformer, "
        "nasbench201)"
    )

"""The YAML schema of a MetaFormer-style search space (stem -> stages -> head), validated.

Parsing is safe (`yaml.safe_load`: no tags that construct objects) and strict (unknown keys
are errors), and every error is a `SpaceError` naming the file and the offending field.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from hwnas.spaces.errors import SpaceError
from hwnas.spaces.mixers import MIXERS
from hwnas.spaces.quant import PRECISIONS


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=False)


def _positive_unique(values: list[Any], what: str) -> list[Any]:
    if not values:
        raise ValueError(f"{what} must list at least one value")
    if len(set(values)) != len(values):
        raise ValueError(f"{what} has duplicate values: {values}")
    if any(v <= 0 for v in values):
        raise ValueError(f"{what} must be positive: {values}")
    return sorted(values)


class MixerOptions(_Strict):
    """Allowed kernel sizes and dilations of one mixer (only for mixers that use them)."""

    kernels: list[int] | None = None
    dilations: list[int] | None = None

    @field_validator("kernels")
    @classmethod
    def _odd(cls, v: list[int] | None) -> list[int] | None:
        if v is None:
            return v
        v = _positive_unique(v, "kernels")
        even = [k for k in v if k % 2 == 0]
        if even:
            raise ValueError(f"kernels must be odd, got {even}")
        return v

    @field_validator("dilations")
    @classmethod
    def _dilations(cls, v: list[int] | None) -> list[int] | None:
        return v if v is None else _positive_unique(v, "dilations")


class BlockSpec(_Strict):
    """What every block of a stage may choose."""

    mixers: dict[str, MixerOptions] | None = None
    expansions: list[float] | None = None
    precisions: list[str] | None = None

    @field_validator("mixers")
    @classmethod
    def _known_mixers(cls, v: dict[str, MixerOptions] | None):
        if v is None:
            return v
        if not v:
            raise ValueError("mixers must name at least one mixer")
        for name, opts in v.items():
            if name not in MIXERS:
                raise ValueError(f"unknown mixer {name!r}; known: {', '.join(MIXERS)}")
            uses_kernel, uses_dilation = MIXERS[name]
            if opts.kernels is not None and not uses_kernel:
                raise ValueError(f"mixer {name!r} has no kernel; remove its kernels")
            if opts.dilations is not None and not uses_dilation:
                raise ValueError(f"mixer {name!r} has no dilation; remove its dilations")
            if uses_kernel and opts.kernels is None:
                raise ValueError(f"mixer {name!r} needs a kernels list")
        return v

    @field_validator("expansions")
    @classmethod
    def _expansions(cls, v):
        return v if v is None else _positive_unique(v, "expansions")

    @field_validator("precisions")
    @classmethod
    def _precisions(cls, v):
        if v is None:
            return v
        bad = [p for p in v if p not in PRECISIONS]
        if bad or not v:
            raise ValueError(f"unknown precisions {bad}; choose from {list(PRECISIONS)}")
        return v

    def merged_over(self, base: BlockSpec) -> BlockSpec:
        fields = {
            k: getattr(self, k) if getattr(self, k) is not None else getattr(base, k)
            for k in type(self).model_fields
        }
        return BlockSpec(**fields)


class StageSpec(_Strict):
    depth: list[int]
    width: list[int]
    stride: int = Field(1, ge=1)
    block: BlockSpec | None = None

    @field_validator("depth")
    @classmethod
    def _depth(cls, v):
        return _positive_unique(v, "depth")

    @field_validator("width")
    @classmethod
    def _width(cls, v):
        return _positive_unique(v, "width")


class InputSpec(_Strict):
    channels: int = Field(ge=1)
    length: int | None = Field(None, ge=1)
    height: int | None = Field(None, ge=1)
    width: int | None = Field(None, ge=1)

    def shape(self) -> tuple[int, ...]:
        if self.length is not None and self.height is None and self.width is None:
            return (self.channels, self.length)
        if self.length is None and self.height is not None and self.width is not None:
            return (self.channels, self.height, self.width)
        raise ValueError("input needs either length (1D) or height and width (2D)")


class StemSpec(_Strict):
    width: int = Field(ge=1)
    kernel: int = Field(3, ge=1)
    stride: int = Field(1, ge=1)


class MetaFormerSpec(_Strict):
    name: str
    version: int = Field(1, ge=1)
    kind: Literal["metaformer"] = "metaformer"
    description: str = ""
    input: InputSpec
    classes: int = Field(ge=2)
    stem: StemSpec
    block: BlockSpec
    stages: list[StageSpec] = Field(min_length=1)
    max_attention_tokens: int = Field(256, ge=1)

    @field_validator("block")
    @classmethod
    def _complete_default_block(cls, v: BlockSpec):
        missing = [k for k in type(v).model_fields if getattr(v, k) is None]
        if missing:
            raise ValueError(f"the default block must set {', '.join(missing)}")
        return v


def _field_path(loc: tuple[Any, ...]) -> str:
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or "(top level)"


def format_validation_error(err: ValidationError, source: str) -> str:
    """One line naming the file and, for each problem, the field and what is wrong."""
    problems = [
        f"{_field_path(e['loc'])}: {e['msg'].removeprefix('Value error, ')}" for e in err.errors()
    ]
    return f"{source}: " + "; ".join(problems)


def read_yaml(path: Path) -> dict[str, Any]:
    """Safely parse a YAML mapping; any problem is a SpaceError naming the file."""
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as e:
        raise SpaceError(f"{path}: cannot read: {e.strerror}") from None
    except UnicodeDecodeError:
        raise SpaceError(f"{path}: not a text (UTF-8) YAML file") from None
    except yaml.YAMLError as e:
        raise SpaceError(f"{path}: not valid YAML: {' '.join(str(e).split())}") from None
    if not isinstance(data, dict):
        raise SpaceError(f"{path}: expected a mapping at the top level")
    return data


def parse_metaformer(data: dict[str, Any], source: str) -> MetaFormerSpec:
    try:
        spec = MetaFormerSpec.model_validate(data)
        spec.input.shape()
    except ValidationError as e:
        raise SpaceError(format_validation_error(e, source)) from None
    except ValueError as e:
        raise SpaceError(f"{source}: input: {e}") from None
    return spec

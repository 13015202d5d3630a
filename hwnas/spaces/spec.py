"""The YAML schema of a MetaFormer-style search space (stem -> stages -> head), validated.

The file is read by `hwnas.spaces.yaml_files` (safe: no tags that construct objects; strict:
repeated keys are errors); the schema is strict too (unknown keys are errors), and every error
is a `SpaceError` naming the file, the offending field and, for schema errors, its line.
"""

from __future__ import annotations

import operator
import re
import types
from collections.abc import Mapping, Sequence
from typing import Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from hwnas.spaces.blocks import MIXERS, PRECISIONS
from hwnas.spaces.errors import SpaceError, did_you_mean
from hwnas.spaces.yaml_files import YamlMapping, quoted_number

# Bounds far beyond any network hwnas can build, so that a typo such as 1e12 is a spec error
# here rather than a hang (sampling weighs depths by options ** depth) or an allocation
# failure deep inside torch.
MAX_CHANNELS = 2**16  # input channels, stem and stage widths, classes
MAX_LENGTH = 2**24  # input sizes, kernels, dilations, strides
MAX_DEPTH = 1024  # blocks of one stage, cells of one stage
MAX_EXPANSION = 64.0  # MLP width / block width
#: a space's name: it names runs' and profiles' spaces, so no spaces, slashes or other marks
NAME_PATTERN = r"^[A-Za-z0-9_.-]+$"


def refuse_booleans(v: Any) -> Any:
    """`v`, unless it is `true`/`false` (or lists one) where a number or name belongs: lax
    parsing reads them as 1 and 0 (`width: [true]` would be a width of 1, `max: yes` a bound
    of 1). For models without boolean fields."""
    if isinstance(v, bool) or isinstance(v, list) and any(isinstance(x, bool) for x in v):
        # `name: on` read as a boolean: the file's author meant the text
        raise ValueError(
            f"must not be a boolean, got {v!r} (YAML reads an unquoted yes, no, on, off, "
            "true or false as one: quote it for the text)"
        )
    return v


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    _no_booleans = field_validator("*", mode="before")(refuse_booleans)  # no field is one


def _listed(values: list[Any], what: str) -> list[Any]:
    """`values` if it is a non-empty list without repeats (a repeat would count twice)."""
    if not values:
        raise ValueError(f"{what} must list at least one value")
    if len(set(values)) != len(values):
        raise ValueError(f"{what} has duplicate values: {values}")
    return values


def _positive_unique(values: list[Any], what: str, most: float = MAX_LENGTH) -> list[Any]:
    _listed(values, what)
    if any(not 0 < v <= most for v in values):  # also refuses nan
        raise ValueError(f"{what} must be positive and at most {most}: {values}")
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

    @field_validator("mixers", mode="before")
    @classmethod
    def _bare_mixers(cls, v: Any) -> Any:
        """A mixer named with nothing after it (`identity:`, read as null) has no options."""
        return {k: {} if o is None else o for k, o in v.items()} if isinstance(v, dict) else v

    @field_validator("mixers")
    @classmethod
    def _known_mixers(cls, v: dict[str, MixerOptions] | None):
        if v is None:
            return v
        if not v:
            raise ValueError("mixers must name at least one mixer")
        for name, opts in v.items():
            if name not in MIXERS:
                raise ValueError(
                    f"unknown mixer {name!r}{did_you_mean(name, list(MIXERS))}; "
                    f"known: {', '.join(MIXERS)}"
                )
            uses_kernel, uses_dilation = MIXERS[name]
            if opts.kernels is not None and not uses_kernel:
                raise ValueError(f"mixer {name!r} has no kernel; remove its kernels")
            if opts.dilations is not None and not uses_dilation:
                raise ValueError(f"mixer {name!r} has no dilation; remove its dilations")
            if uses_kernel and opts.kernels is None:
                raise ValueError(f"mixer {name!r} needs a kernels list")
            if name == "pool" and 1 in opts.kernels:
                raise ValueError("pool kernel 1 mixes nothing (avg_pool(x) - x = 0): use identity")
        return v

    @field_validator("expansions")
    @classmethod
    def _expansions(cls, v):
        return v if v is None else _positive_unique(v, "expansions", MAX_EXPANSION)

    @field_validator("precisions")
    @classmethod
    def _precisions(cls, v):
        if v is None:
            return v
        bad = [p for p in _listed(v, "precisions") if p not in PRECISIONS]
        if bad:
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
    stride: int = Field(1, ge=1, le=MAX_LENGTH)
    block: BlockSpec | None = None

    @field_validator("depth")
    @classmethod
    def _depth(cls, v):
        return _positive_unique(v, "depth", MAX_DEPTH)

    @field_validator("width")
    @classmethod
    def _width(cls, v):
        return _positive_unique(v, "width", MAX_CHANNELS)


class InputSpec(_Strict):
    channels: int = Field(ge=1, le=MAX_CHANNELS)
    length: int | None = Field(None, ge=1, le=MAX_LENGTH)
    height: int | None = Field(None, ge=1, le=MAX_LENGTH)
    width: int | None = Field(None, ge=1, le=MAX_LENGTH)

    def shape(self) -> tuple[int, ...]:
        if self.length is not None and self.height is None and self.width is None:
            return (self.channels, self.length)
        if self.length is None and self.height is not None and self.width is not None:
            return (self.channels, self.height, self.width)
        raise ValueError("input needs either length (1D) or height and width (2D)")


class StemSpec(_Strict):
    width: int = Field(ge=1, le=MAX_CHANNELS)
    kernel: int = Field(3, ge=1, le=MAX_LENGTH)
    stride: int = Field(1, ge=1, le=MAX_LENGTH)

    @field_validator("kernel")
    @classmethod
    def _odd(cls, v: int) -> int:
        """An even kernel padded by kernel // 2 grows the map by one (length 32 -> 33),
        silently changing which blocks fit the stages."""
        if v % 2 == 0:
            raise ValueError(f"kernel must be odd, got {v}")
        return v


class MetaFormerSpec(_Strict):
    name: str = Field(pattern=NAME_PATTERN)
    version: int = Field(1, ge=1)
    kind: Literal["metaformer"] = "metaformer"
    description: str = ""
    input: InputSpec
    classes: int = Field(ge=2, le=MAX_CHANNELS)
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


def field_path(loc: tuple[Any, ...]) -> str:
    """A pydantic error location as the user writes the field: `stages[1].width`."""
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or "(top level)"


def field_loc(path: str) -> tuple[Any, ...]:
    """A field path as `field_path` writes it (`stages[1].width`) as a location tuple."""
    return tuple(
        int(part) if part.isdigit() else part for part in re.split(r"[.\[\]]+", path) if part
    )


def line_of(data: Any, loc: tuple[Any, ...]) -> int | None:
    """The line of the deepest part of field path `loc` found in `data`, where its mappings
    were read with `YamlLoader` (plain dicts, such as overrides, have no lines). A missing
    field is placed at the key of the mapping that lacks it (no line at the top level)."""
    line = None
    for part in loc:
        if isinstance(data, YamlMapping):
            if part not in data:
                break
            line = data.key_lines.get(part, data.line)
            data = data[part]
        elif isinstance(data, list) and isinstance(part, int) and 0 <= part < len(data):
            data = data[part]
        else:
            break
    return line


def at_line(data: Any, loc: tuple[Any, ...]) -> str:
    """`line N: ` for field `loc` of `data` (see `line_of`), or nothing where it has no line:
    the prefix every spec and experiment error puts before the field it names."""
    line = line_of(data, loc)
    return f"line {line}: " if line else ""


def problem_text(message: str) -> str:
    """A pydantic error message in a file's terms: without its "Value error, " prefix and
    without the names of hwnas's schema classes ("a valid dictionary or instance of
    InputSpec" is a mapping)."""
    message = message.removeprefix("Value error, ")
    return re.sub(
        r"a valid dictionary( or instance of \w+)?", "a mapping (key: value lines)", message
    )


def _model_at(model: type[BaseModel], loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The schema model whose mapping sits at field path `loc` of `model` (through optional
    fields, list items and mapping values), or None where no model does."""
    kind: Any = model
    for part in (*loc, None):
        if get_origin(kind) in (Union, types.UnionType):  # an optional field: `X | None`
            kind = next((a for a in get_args(kind) if a is not type(None)), None)
        if part is None:
            break
        if isinstance(kind, type) and issubclass(kind, BaseModel):
            field = kind.model_fields.get(part)
            kind = field.annotation if field else None
        elif get_origin(kind) in (list, dict):
            kind = get_args(kind)[-1]  # a list's item, a mapping's value
        else:
            return None
    return kind if isinstance(kind, type) and issubclass(kind, BaseModel) else None


def validation_problem(e: Mapping[str, Any], model: type[BaseModel] | None) -> str:
    """What pydantic error `e` says is wrong, in a file's terms; an unknown key names the keys
    `model` (the validated schema) knows in its place, and the closest one (a typo such as
    `widht` is otherwise only "not permitted")."""
    known = _model_at(model, e["loc"][:-1]) if model and e["type"] == "extra_forbidden" else None
    if known is None:
        number = e["type"] in ("int_type", "float_type")  # a strict field's: text refused
        return problem_text(e["msg"]) + (quoted_number(e.get("input")) if number else "")
    key, names = str(e["loc"][-1]), list(known.model_fields)
    return f"unknown key{did_you_mean(key, names)}; the keys here: {', '.join(names)}"


def format_validation_error(
    err: ValidationError, source: str, data: Any = None, model: type[BaseModel] | None = None
) -> str:
    """One line naming the file and, for each problem, its line (when `data` came from
    `read_yaml`), the field and what is wrong (for an unknown key, the keys `model`, the
    schema that was validated, takes there)."""
    problems = [
        f"{at_line(data, e['loc'])}{field_path(e['loc'])}: {validation_problem(e, model)}"
        for e in err.errors()
    ]
    return f"{source}: " + "; ".join(problems)


def whole_overrides(
    input_shape: Sequence[Any] | None, num_classes: Any
) -> tuple[tuple[int, ...] | None, int | None]:
    """An input shape and class count given in code as Python ints, refusing fractions: space
    files take numbers strictly, but shapes from code often hold numpy integers."""
    try:
        shape = None if input_shape is None else tuple(map(_whole, input_shape))
        classes = None if num_classes is None else _whole(num_classes)
    except TypeError:
        raise SpaceError(
            f"input/classes overrides must be whole numbers, not {input_shape!r} / {num_classes!r}"
        ) from None
    return shape, classes


def _whole(value: Any) -> int:
    """`value` as an int; a bool is refused (True is no count, though Python takes it for 1)."""
    if isinstance(value, bool):
        raise TypeError("a bool is not a whole number")
    return operator.index(value)


def parse_metaformer(data: dict[str, Any], source: str) -> MetaFormerSpec:
    try:
        spec = MetaFormerSpec.model_validate(data)
        spec.input.shape()
    except ValidationError as e:
        raise SpaceError(format_validation_error(e, source, data, MetaFormerSpec)) from None
    except ValueError as e:
        at = at_line(data, ("input",))
        raise SpaceError(f"{source}: {at}input: {e}", field="input") from None
    return spec

"""The YAML schema of a MetaFormer-style search space (stem -> stages -> head), validated.

Parsing is safe (a `yaml.SafeLoader`: no tags that construct objects) and strict (unknown and
repeated keys are errors), and every error is a `SpaceError` naming the file, the offending
field and, for schema errors, its line.
"""

from __future__ import annotations

import codecs
import json
import operator
import re
import types
from collections.abc import Hashable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from hwnas.spaces.blocks import MIXERS, PRECISIONS
from hwnas.spaces.errors import SpaceError, did_you_mean

# Bounds far beyond any network hwnas can build, so that a typo such as 1e12 is a spec error
# here rather than a hang (sampling weighs depths by options ** depth) or an allocation
# failure deep inside torch.
MAX_CHANNELS = 2**16  # input channels, stem and stage widths, classes
MAX_LENGTH = 2**24  # input sizes, kernels, dilations, strides
MAX_DEPTH = 1024  # blocks of one stage, cells of one stage
MAX_EXPANSION = 64.0  # MLP width / block width
#: a space's name: it names runs' and profiles' spaces, so no spaces, slashes or other marks
NAME_PATTERN = r"^[A-Za-z0-9_.-]+$"
# Bounds on a YAML file's values far beyond any experiment or space: a file of a few lines whose
# aliases repeat aliases ("billion laughs"), or of thousands of brackets, otherwise took minutes,
# all memory (its values in one error message) or Python's recursion limit to check.
MAX_YAML_VALUES = 100_000  # each alias (*name) counted with every value it repeats
MAX_YAML_NESTING = 64  # levels of mappings and lists, aliases followed


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


class YamlMapping(dict):
    """A YAML mapping that remembers its line and each key's, for error messages."""

    line: int = 0
    key_lines: dict[Any, int]


class BoundedLoader(yaml.SafeLoader):
    """`yaml.SafeLoader` that refuses documents beyond `MAX_YAML_VALUES` or
    `MAX_YAML_NESTING` and repeated keys, and names the line of a value its tag cannot read
    (YAML 1.1 as PyYAML reads it otherwise; the loaders below read YAML 1.2)."""

    _nesting = 0

    def __init__(self, stream: Any):
        super().__init__(stream)
        self._key_lines: dict[yaml.MappingNode, dict[Any, int]] = {}

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        """The next node, refused beyond `MAX_YAML_NESTING` before PyYAML's composer, which
        recurses per level, reaches Python's recursion limit."""
        if self._nesting >= MAX_YAML_NESTING:
            raise yaml.composer.ComposerError(
                problem=f"nested more than {MAX_YAML_NESTING} levels deep",
                problem_mark=self.peek_event().start_mark,
            )
        self._nesting += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self._nesting -= 1

    def compose_document(self) -> yaml.Node:
        node = super().compose_document()
        check_expansion(node)
        return node

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep)
        except (ValueError, TypeError, AttributeError):  # `!!float x`: the tag's own reader
            tag = node.tag.rpartition(":")[2]  # failed, naming no line (or as PyYAML's
            raise yaml.constructor.ConstructorError(  # timestamp reader does, with None)
                problem=f"cannot read {node.value!r} as !!{tag}", problem_mark=node.start_mark
            ) from None

    def flatten_mapping(self, node: yaml.MappingNode) -> None:
        """Put the entries `<<: *anchor` merges into `node` (before its own), once its own
        keys are checked: a mapping is refused when a key repeats (plain YAML silently keeps
        the last). PyYAML flattens every mapping it constructs or merges."""
        self.key_lines(node)
        super().flatten_mapping(node)

    def key_lines(self, node: yaml.MappingNode) -> dict[Any, int]:
        """The line of each of `node`'s own keys, a repeated one refused, naming both lines.
        Read once, before `flatten_mapping` puts merged entries into `node`: a merged mapping
        is flattened where it is merged, which can be before it is constructed, and there a
        key it overrides is in its entries twice."""
        if node in self._key_lines:
            return self._key_lines[node]
        lines: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue  # `<<: *anchor` entries are overridden by the mapping's own keys
            if key_node.tag == "tag:yaml.org,2002:value":
                key_node.tag = "tag:yaml.org,2002:str"  # a plain `=` key, text as PyYAML has it
            key = self.construct_object(key_node)
            if isinstance(key, Hashable):  # unhashable keys: construct_mapping refuses them
                if key in lines:
                    raise yaml.constructor.ConstructorError(
                        problem=f"duplicate key {key!r} (first on line {lines[key]})",
                        problem_mark=key_node.start_mark,
                    )
                lines[key] = key_node.start_mark.line + 1
        self._key_lines[node] = lines
        return lines


class YamlLoader(BoundedLoader):
    """`BoundedLoader` that reads numbers as YAML 1.2 and every user do, and mappings as
    `YamlMapping`s."""

    def construct_yaml_map(self, node: yaml.MappingNode):
        data = YamlMapping()
        yield data
        data.line, data.key_lines = node.start_mark.line + 1, self.key_lines(node)
        data.update(self.construct_mapping(node))


YamlLoader.add_constructor("tag:yaml.org,2002:map", YamlLoader.construct_yaml_map)


def check_expansion(root: yaml.Node) -> None:
    """Refuse a document that holds more than `MAX_YAML_VALUES` values or nests deeper than
    `MAX_YAML_NESTING` once its aliases are followed, or holds a value that contains itself
    (`&a [*a]`), naming the line of the first value found too large. Each node is sized once
    (aliases share their node), in a loop rather than by recursion: alias chains are long."""
    sizes: dict[int, tuple[int, int]] = {}  # id(node) -> (values, levels) once followed
    open_: set[int] = set()  # nodes whose parts are being sized
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, parts_sized = stack.pop()
        parts = _parts(node)
        if not parts_sized:
            if id(node) in sizes:
                continue
            if id(node) in open_:
                raise yaml.composer.ComposerError(
                    problem="a value that contains itself (an alias inside its own anchor)",
                    problem_mark=node.start_mark,
                )
            open_.add(id(node))
            stack.append((node, True))
            stack.extend((part, False) for part in parts if id(part) not in sizes)
            continue
        open_.discard(id(node))
        values = 1 + sum(sizes[id(p)][0] for p in parts)
        levels = 1 + max((sizes[id(p)][1] for p in parts), default=0)
        if too_much := _too_much(values, levels):
            raise yaml.composer.ComposerError(
                problem=f"this value {too_much}, its aliases (*name) followed",
                problem_mark=node.start_mark,
            )
        sizes[id(node)] = (values, levels)


def _too_much(values: int, levels: int) -> str | None:
    """What is beyond the bounds in a value of `values` values nested `levels` deep."""
    if values > MAX_YAML_VALUES:
        return f"holds more than {MAX_YAML_VALUES} values"
    if levels > MAX_YAML_NESTING:
        return f"nests more than {MAX_YAML_NESTING} levels deep"
    return None


def _parts(node: yaml.Node) -> list[yaml.Node]:
    """The nodes a mapping or list node holds (its keys too); none for a scalar."""
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return list(node.value) if isinstance(node, yaml.SequenceNode) else []


# YAML 1.1 (PyYAML) reads 016 as octal 14 and 1:30 as 90 (base 60); YAML 1.2, and every user,
# means 16 and no number: integers are decimal, 0o octal or 0x hexadecimal. It reads
# 2026-12-06 as a date, which no field takes: YAML 1.2's core schema, and every user naming a
# run or its folder so, means text
_INT, _FLOAT = "tag:yaml.org,2002:int", "tag:yaml.org,2002:float"
_YAML11_ONLY = (_INT, _FLOAT, "tag:yaml.org,2002:timestamp")
YamlLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag not in _YAML11_ONLY]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
YamlLoader.add_implicit_resolver(
    _INT, re.compile(r"^[-+]?(0o[0-7_]+|0x[0-9a-fA-F_]+|[0-9][0-9_]*)$"), list("-+0123456789")
)


def _construct_int(loader: YamlLoader, node: yaml.ScalarNode) -> int:
    text = loader.construct_scalar(node).replace("_", "")
    prefixed = text.lstrip("+-")[:2] in ("0o", "0x")
    return int(text, 0 if prefixed else 10)


YamlLoader.add_constructor(_INT, _construct_int)
# YAML 1.1 (PyYAML) reads 1e-3 and 2e0 as strings, as it wants a dot, and 1:30.0 as 90.0
# (base 60, as 1:30 is 90 above); YAML 1.2 and every user mean numbers, and no number
YamlLoader.add_implicit_resolver(
    _FLOAT,
    re.compile(
        r"^([-+]?([0-9][0-9_]*\.[0-9_]*|\.[0-9][0-9_]*)([eE][-+]?[0-9]+)?"
        r"|[-+]?[0-9][0-9_]*[eE][-+]?[0-9]+|[-+]?\.(inf|Inf|INF)|\.(nan|NaN|NAN))$"
    ),
    list("-+.0123456789"),
)


class ReadableDumper(yaml.SafeDumper):
    """Safe YAML that `YamlLoader` reads back as written (text that YAML 1.2 would take for
    a number quoted), with multi-line text (an embedded space's source) as a literal block,
    as it reads in its own file, instead of one quoted line of escapes."""


def _text(dumper: yaml.SafeDumper, text: str) -> yaml.ScalarNode:
    """Multi-line text as a literal block (PyYAML falls back to quotes where | cannot hold
    it); one line quoted where a YAML 1.2 reader, hwnas's own included, would take it for
    another type: SafeDumper quotes only what YAML 1.1 would, and leaves a key such as
    94763504507919e0 plain, which YAML 1.2 reads as a number."""
    if "\n" in text:
        style = "|"
    elif _YAML12.resolve(yaml.ScalarNode, text, (True, False)) != "tag:yaml.org,2002:str":
        style = "'"
    else:
        style = None
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=style)


_YAML12 = YamlLoader("")  # its resolver only: which type a plain scalar reads as


def quoted_number(value: Any) -> str:
    """Where `value` is text that a file reads as a number once unquoted (`"3"`, `"0.5"`,
    `"1e3"`), what to say of it: a number written in quotes is text, refused as one wherever
    a number belongs in a space or experiment file; else nothing."""
    if isinstance(value, str) and _YAML12.resolve(yaml.ScalarNode, value, (True, False)) in (
        _INT,
        _FLOAT,
    ):
        return " (a number in quotes is text: write it without them)"
    return ""


class ConfigLoader(YamlLoader):
    """`YamlLoader` for exported configs: numbers as YAML 1.2 reads them (a hand-edited
    `batch_size: 010` is 10, not octal 8), while a plain scalar YAML 1.1 reads as text stays
    text: older exports, written by `yaml.SafeDumper`, left keys such as 94763504507919e0
    plain."""

    def resolve(self, kind: type[yaml.Node], value: Any, implicit: tuple[bool, bool]) -> str:
        text_in_yaml_11 = _YAML11.resolve(kind, value, implicit) == _STR
        if kind is yaml.ScalarNode and implicit[0] and text_in_yaml_11:
            return _STR
        return super().resolve(kind, value, implicit)


_STR = "tag:yaml.org,2002:str"
_YAML11 = yaml.SafeLoader("")  # as _YAML12, for YAML 1.1


ReadableDumper.add_representer(str, _text)


def yaml_problem(e: yaml.YAMLError) -> str:
    """A YAML error in one line: ' line N: not valid YAML: problem' (N where known)."""
    mark = getattr(e, "problem_mark", None)
    at = f" line {mark.line + 1}:" if mark else ""
    problem = getattr(e, "problem", None) or " ".join(str(e).split())
    return f"{at} not valid YAML: {problem}"


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


#: the most characters a space, experiment, exported config, latency profile or predictor file
#: is read to: a device (`/dev/zero`) given for one was read until memory ran out
MAX_TEXT_CHARS = 64 * 2**20


def read_text(
    path: Path, error: type[ValueError] = SpaceError, binary: str = "not a text (UTF-8) YAML file"
) -> str:
    """The UTF-8 text of the file `path`, without the byte-order mark some editors put
    first (JSON refuses it); one that cannot be read, holds no UTF-8 text (`binary` says
    what it is then, unless it is UTF-16 or UTF-32 text, which the error names), or more
    than `MAX_TEXT_CHARS` raises `error` naming the file: the space, experiment, exported
    config, latency profile and predictor files a user names are read alike (a pipe too:
    `<(...)`)."""
    try:
        with path.open(encoding="utf-8-sig") as f:
            text = f.read(MAX_TEXT_CHARS + 1)
    except OSError as e:
        raise error(f"{path}: cannot read: {e.strerror}") from None
    except UnicodeDecodeError:
        raise error(f"{path}: {saved_as_wide_unicode(path) or binary}") from None
    if len(text) > MAX_TEXT_CHARS:
        raise error(
            f"{path}: more than {MAX_TEXT_CHARS // 2**20} Mi characters, more than any space, "
            "experiment, config, profile or predictor file holds (a device?)"
        )
    return text


def json_or_none(path: Path) -> Any:
    """The JSON the file `path` holds; None where it cannot be read, holds more than
    `read_text` reads or no JSON: for the checks that only ask whether a file is of a kind
    (a predictor, a profile's metadata) or what it says of itself, where such a file is
    simply not one."""
    try:
        return json.loads(read_text(path))
    except (ValueError, RecursionError):  # RecursionError: JSON nested past reason
        return None


def saved_as_wide_unicode(path: Path) -> str | None:
    """Where the file at `path`, which holds no UTF-8 text, is text saved as UTF-16 or
    UTF-32, what an error says of it (to save it again as UTF-8); None otherwise. Every file
    hwnas reads as text (a space, an experiment, a config, a latency profile, a predictor)
    says it alike."""
    wide = _wide_unicode(path)
    return f"text saved as {wide}, not UTF-8: save it again as UTF-8" if wide else None


def _wide_unicode(path: Path) -> str | None:
    """The encoding's name, UTF-16 or UTF-32, where the file at `path` is text in it begun
    with its byte-order mark (as Windows Notepad saves "Unicode"), so that the error says
    what to change rather than calling the file binary; None otherwise."""
    try:
        with path.open("rb") as f:  # as much as `read_text` reads: a device has no end
            data = f.read(4 * MAX_TEXT_CHARS)
    except OSError:  # gone since it was read
        return None
    for name, marks in _WIDE_MARKS:
        if data.startswith(marks):
            try:
                text = data.decode(name.lower())
            except UnicodeDecodeError:
                return None
            # a space of another width (a no-break space) is text too, as YAML reads it
            return name if all(c.isprintable() or c.isspace() for c in text) else None
    return None


_WIDE_MARKS = (  # UTF-32's little-endian mark begins with UTF-16's
    ("UTF-32", (codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)),
    ("UTF-16", (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)),
)


def read_yaml(path: Path) -> dict[str, Any]:
    """Safely parse a YAML mapping file; any problem is a SpaceError naming the file (and,
    for a syntax error or a repeated key, the line)."""
    return parse_yaml(read_text(path), str(path))


def parse_yaml(text: str, source: str) -> dict[str, Any]:
    """Safely parse YAML `text` that must hold a mapping; any problem is a SpaceError
    naming `source` (and, for a syntax error or a repeated key, the line)."""
    try:
        data = yaml.load(text, Loader=YamlLoader)
    except yaml.YAMLError as e:
        raise SpaceError(f"{source}:{yaml_problem(e)}") from None
    if not isinstance(data, dict):
        raise SpaceError(f"{source}: expected a mapping at the top level")
    return data


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

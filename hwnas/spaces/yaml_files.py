"""The files a user writes, read safely and boundedly, and the YAML hwnas writes back.

Text (`read_text`): UTF-8, at most `MAX_TEXT_CHARS`, a file saved as UTF-16 or UTF-32 named
as such; YAML (`read_yaml`, `parse_yaml`, the loaders): a `yaml.SafeLoader` (no tags that
construct objects), strict (a repeated key is an error naming both lines), bounded
(`MAX_YAML_VALUES`, `MAX_YAML_NESTING`: no "billion laughs"), reading numbers as YAML 1.2 does
and every mapping with its lines (`YamlMapping`) for error messages; `ReadableDumper` writes
YAML these loaders read back as written. Apart from the space schema (`hwnas.spaces.spec`)
because every file hwnas reads goes through it: spaces, experiments, exported configs,
latency profiles and predictors.
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Hashable
from pathlib import Path
from typing import Any

import yaml

from hwnas.spaces.errors import SpaceError

# Bounds on a YAML file's values far beyond any experiment or space: a file of a few lines whose
# aliases repeat aliases ("billion laughs"), or of thousands of brackets, otherwise took minutes,
# all memory (its values in one error message) or Python's recursion limit to check.
MAX_YAML_VALUES = 100_000  # each alias (*name) counted with every value it repeats
MAX_YAML_NESTING = 64  # levels of mappings and lists, aliases followed


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

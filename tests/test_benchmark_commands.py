"""Every benchmark command that README.md and docs/*.md record, and every usage line a
benchmark script's docstring shows, parses with that script's own argument parser, and the
searcher names, searcher settings and latency columns it gives are ones the library accepts.
Scripts and options change, and a recorded command that stopped parsing (or names a setting
that no longer exists) no longer reproduces its figure. Nothing is run: each script's entry
point is called with `parse_args` replaced by one that parses and stops."""

from __future__ import annotations

import argparse
import ast
import contextlib
import importlib.util
import io
import itertools
import re
import shlex
import sys
import textwrap
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from benchdata import needs_nb201

from hwnas.evaluators.tabular import load_nb201
from hwnas.search import get_searcher
from hwnas.spaces import get_space

ROOT = Path(__file__).resolve().parent.parent
BENCHMARKS = ROOT / "benchmarks"
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SCRIPT = re.compile(r"(?:\S*/)?(\w+)\.py")
PLACEHOLDERS = {"N": ["0"], "SETTINGS": []}  # `--seed N [SETTINGS]`: one run per seed, column
pytestmark = needs_nb201
NB201 = get_space("nasbench201")


class _Parsed(Exception):
    """Raised by the replaced `parse_args` with what it parsed, before the script's work."""

    def __init__(self, namespace: argparse.Namespace):
        super().__init__()
        self.namespace = namespace


def _blocks(text: str) -> Iterator[tuple[int, str, str]]:
    """(first line, kind, text) of markdown: each code line with its `\\` continuations joined
    ("code"), each paragraph joined into one line ("prose", for backtick spans that wrap)."""
    lines, fenced, paragraph, start = text.splitlines(), False, [], 0
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("```") or not line.strip():
            fenced ^= line.startswith("```")
            if paragraph:
                yield start, "prose", " ".join(s.strip() for s in paragraph)
            paragraph = []
        elif fenced or (line.startswith("    ") and not paragraph):
            first = i
            while line.rstrip().endswith("\\") and i + 1 < len(lines):
                i += 1
                line = line.rstrip()[:-1] + " " + lines[i].strip()
            yield first + 1, "code", line.strip()
        else:
            start = start if paragraph else i + 1
            paragraph.append(line)
        i += 1
    if paragraph:
        yield start, "prose", " ".join(s.strip() for s in paragraph)


def _commands(text: str) -> Iterator[tuple[int, str]]:
    """(line, command) for each run of a benchmark script in the markdown `text`, in a code line
    or a backtick span of prose (which may start with the script's name: a mention)."""
    for line, kind, block in _blocks(text):
        for piece in [block] if kind == "code" else re.findall(r"`([^`]+)`", block):
            for part in re.split(r"&&|;|\|", piece):
                words = part.split()
                at = next((i for i, w in enumerate(words) if SCRIPT.fullmatch(w)), None)
                runs = at == 0 or (at and re.search(r"(^|/)python3?$", words[at - 1]))
                if runs and (BENCHMARKS / f"{SCRIPT.fullmatch(words[at]).group(1)}.py").is_file():
                    yield line, part.strip()


def _docstring_commands(path: Path) -> Iterator[tuple[int, str]]:
    """The commands a script's docstring shows, its unindented command lines included."""
    doc = ast.get_docstring(ast.parse(path.read_text())) or ""
    lines = [f"    {s}" if "python " in s and s.strip() else s for s in doc.splitlines()]
    yield from _commands("\n".join(lines))


def _argvs(command: str) -> tuple[str, list[list[str]]]:
    """The script a command runs and each argument list it stands for: every `[...]` optional
    group left out or given, every `{a,b}` alternative taken, placeholders filled."""
    words = shlex.split(command, comments=True)
    at = next(i for i, w in enumerate(words) if SCRIPT.fullmatch(w))
    groups: list[tuple[bool, list[str]]] = [(False, [])]
    for word in words[at + 1 :]:
        if word.startswith("[") and not groups[-1][0]:
            groups.append((True, []))
            word = word[1:]
        closes = groups[-1][0] and word.endswith("]")
        groups[-1][1].append(word[:-1] if closes else word)
        if closes:
            groups.append((False, []))
    argvs = []
    for given in itertools.product([False, True], repeat=sum(opt for opt, _ in groups)):
        taken = iter(given)
        chosen = [w for opt, group in groups if not opt or next(taken) for w in group]
        choices = [
            w[1:-1].split(",") if re.fullmatch(r"\{[\w-]+(,[\w-]+)+\}", w) else [w] for w in chosen
        ]
        argvs += [
            [v for w in argv for v in PLACEHOLDERS.get(w, [w])]
            for argv in itertools.product(*choices)
        ]
    return SCRIPT.fullmatch(words[at]).group(1), argvs


@pytest.fixture(scope="module")
def parse() -> Iterator:
    """`parse(script, argv)`: the namespace the script's parser makes of `argv` (None for a
    script without options), or an AssertionError with the parser's message. The benchmarks
    folder is on sys.path meanwhile (the scripts import each other)."""
    modules: dict = {}

    def entry_point(script: str):
        if script not in modules:
            path = BENCHMARKS / f"{script}.py"
            spec = importlib.util.spec_from_file_location(f"benchmark_{script}", path)
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            called = re.search(r'__name__ == "__main__":\s+(\w+)\(\)', path.read_text())
            modules[script] = getattr(module, called.group(1))
        return modules[script]

    def parse_with(script: str, argv: list[str]) -> argparse.Namespace | None:
        if "ArgumentParser" not in (BENCHMARKS / f"{script}.py").read_text():
            assert argv == [], f"{script}.py takes no options"
            return None
        original = argparse.ArgumentParser.parse_args

        def parse_and_stop(self, args=None, namespace=None):
            raise _Parsed(original(self, argv, namespace))

        errors = io.StringIO()
        with pytest.MonkeyPatch.context() as patch, contextlib.redirect_stderr(errors):
            patch.setattr(argparse.ArgumentParser, "parse_args", parse_and_stop)
            try:
                entry_point(script)()
            except _Parsed as parsed:
                return parsed.namespace
            except SystemExit:
                raise AssertionError(errors.getvalue().strip().splitlines()[-1]) from None
        raise AssertionError(f"{script}.py returned without parsing its arguments")

    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(BENCHMARKS))
        before = set(sys.modules)
        yield parse_with
        for name in set(sys.modules) - before:  # search_common & co., imported by plain name
            if str(BENCHMARKS) in str(getattr(sys.modules[name], "__file__", "")):
                del sys.modules[name]


def _searchers(script: str, given: dict) -> list[str]:
    """The searchers a parsed command runs, which get its `--settings`."""
    if given.get("searchers") or given.get("searcher"):
        return given.get("searchers") or [given["searcher"]]
    return ["nsga2"] if script == "search_exhaustion" else ["predictor"]


def _refusals(script: str, namespace: argparse.Namespace | None) -> list[str]:
    """What the library refuses of a parsed command: a searcher name or setting (each searcher
    is built with its settings on the NB201 space), a latency column the table lacks."""
    given = vars(namespace) if namespace else {}
    runs = []
    if {"settings", "searchers", "searcher"} & set(given):
        runs = [(name, given.get("settings") or {}) for name in _searchers(script, given)]
    more = [*given.get("measure", []), given.get("predictor_settings")]
    runs += [("predictor", settings) for settings in more if settings]
    found = []
    for name, settings in runs:
        objectives = [("accuracy", "max"), ("hw_fpga_latency_ms", "min")]
        try:  # evolution takes one objective
            with warnings.catch_warnings():  # built without the known models a script gives
                warnings.simplefilter("ignore")
                get_searcher(name, NB201, objectives[: 1 if name == "evolution" else 2], **settings)
        except (ValueError, TypeError) as error:
            found.append(f"{name} {settings}: {error}")
    latency = given.get("latency") or []
    for column in [latency] if isinstance(latency, str) else latency:
        if column not in load_nb201(latency=column.startswith("lat_")).columns:
            found.append(f"latency column {column!r} is not in the table")
    return found


def _failures(parse, commands: list[tuple[str, int, str]]) -> list[str]:
    """Each (source, line, command) that does not parse or that the library refuses. A script
    or option named in prose (no `python` before it) may leave out required arguments."""
    failures = []
    for source, line, command in commands:
        script, argvs = _argvs(command)
        for argv in argvs:
            where = f"{source}:{line}: {script}.py {shlex.join(argv)}"
            try:
                failures += [f"{where}: {r}" for r in _refusals(script, parse(script, argv))]
            except AssertionError as error:
                named = "python" not in command and re.search(
                    r"required|expected (one|at least one) argument", str(error)
                )
                failures += [] if named else [f"{where}: {error}"]
    return failures


def test_every_documented_benchmark_command_parses(parse):
    commands = [(d.name, line, c) for d in DOCS for line, c in _commands(d.read_text())]
    assert len(commands) > 100  # the docs were read
    assert _failures(parse, commands) == []


def test_every_usage_line_of_a_benchmark_docstring_parses(parse):
    commands = [
        (path.name, line, command)
        for path in sorted(BENCHMARKS.glob("*.py"))
        for line, command in _docstring_commands(path)
    ]
    assert len(commands) > 30
    assert _failures(parse, commands) == []


def test_a_made_up_option_value_setting_or_column_fails(parse):
    text = """
        ```
        .venv/bin/python benchmarks/search_multi.py --seeds 2 --made-up 1
        .venv/bin/python benchmarks/search_multi.py --searchers predictor --settings \\
            '{"made_up": 1}'
        .venv/bin/python benchmarks/search_front_gaps.py --latency hw_nowhere_latency_ms
        ```
        Prose names `search_single.py --space nowhere` and `search_multi.py --seeds` (allowed).
        """
    failures = _failures(parse, [("text", n, c) for n, c in _commands(textwrap.dedent(text))])
    wanted = ["--made-up", "made_up", "hw_nowhere_latency_ms", "nowhere"]
    assert len(failures) == len(wanted), failures
    assert all(w in f for w, f in zip(wanted, failures, strict=True)), failures

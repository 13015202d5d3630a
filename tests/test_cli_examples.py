"""The examples in every command's `--help`: each parses against that command's real
options, names files a clone holds and run folders its examples/ experiments make, and is
shown whole at 80 columns; the cheap ones run for real."""

from __future__ import annotations

import shlex
from pathlib import Path

import click
import pytest
import typer
import yaml
from cli_runner import hwnas

from hwnas.cli import _register, app

ROOT = Path(__file__).resolve().parent.parent
#: the folders of a clone that examples may name files in
CLONE_FOLDERS = ("examples", "benchmarks")


def command_tree() -> dict[tuple[str, ...], click.Command]:
    """Every command and group of `hwnas` (the root as ()), by its path of names."""
    _register()
    tree: dict[tuple[str, ...], click.Command] = {}

    def walk(command: click.Command, path: tuple[str, ...]) -> None:
        tree[path] = command
        for name, sub in getattr(command, "commands", {}).items():
            walk(sub, (*path, name))

    walk(typer.main.get_command(app), ())
    return tree


def shown_examples(path: tuple[str, ...], columns: int, monkeypatch, capsys) -> list[str]:
    """The example command lines `hwnas PATH --help` prints at `columns` wide, a line ending
    in ` \\` joined with the next."""
    monkeypatch.setenv("COLUMNS", str(columns))
    assert hwnas(*path, "--help") == 0
    lines = [line.strip() for line in capsys.readouterr().out.splitlines()]
    shown = lines[lines.index("Examples:") + 1 :]
    commands: list[str] = []
    for line in shown:
        if commands and commands[-1].endswith(" \\"):
            commands[-1] = commands[-1][:-1] + line
        elif line.startswith("hwnas "):
            commands.append(line)
    return [" ".join(command.split()) for command in commands]


def written_examples(command: click.Command) -> list[str]:
    """The example command lines as the command's epilog holds them, continuations joined."""
    text = (command.epilog or "").replace(" \\\n", " ")
    return [" ".join(line.split()) for line in text.splitlines() if line.startswith("hwnas ")]


def example_run_dirs() -> set[str]:
    """The run folders the experiments of examples/ write."""
    files = (ROOT / "examples").glob("*.yaml")
    return {yaml.safe_load(f.read_text())["run_dir"] for f in files}


TREE = command_tree()


@pytest.mark.parametrize("path", sorted(TREE), ids=lambda p: " ".join(p) or "hwnas")
def test_every_help_shows_examples_that_parse(path, monkeypatch, capsys) -> None:
    """`hwnas COMMAND --help` showed no example (a user had to read the guide for one): each
    command and group shows at least one, whole at 80 and 200 columns (not wrapped), and each
    is accepted by that command's own parser (a renamed option, a value out of range, a
    choice gone fails here), naming files of a clone that exist and the run folders that the
    experiments of examples/ make."""
    written = written_examples(TREE[path])
    assert written, f"hwnas {' '.join(path)} --help has no example"
    for columns in (80, 200):
        assert shown_examples(path, columns, monkeypatch, capsys) == written, columns
    for example in written:
        check_example(example, path)


def check_example(example: str, path: tuple[str, ...]) -> None:
    """`example`, shown by `hwnas PATH --help`, runs a command of PATH's with arguments its
    parser takes, naming files a clone holds and run folders its examples/ make."""
    args = shlex.split(example)[1:]
    target: tuple[str, ...] = ()
    while args and (*target, args[0]) in TREE:
        target += (args.pop(0),)
    assert target[: len(path)] == path, f"{example!r} is not an example of {path}"
    TREE[target].make_context(" ".join(("hwnas", *target)), list(args))  # raises if refused
    run_dirs = example_run_dirs()
    for arg in args:
        if arg.startswith(tuple(f"{folder}/" for folder in CLONE_FOLDERS)):
            assert (ROOT / arg).exists(), f"{example!r}: no {arg} in a clone"
        if arg.startswith("runs/"):
            assert "/".join(arg.split("/")[:2]) in run_dirs, f"{example!r}: {arg} is no run"


@pytest.mark.parametrize("path", [("spaces", "list"), ("spaces", "show"), ("spaces", "sample")])
def test_cheap_examples_run(path, capsys) -> None:
    """The examples of `spaces` read nothing but the built-in spaces: each runs, exit 0."""
    written = written_examples(TREE[path])
    assert written
    for example in written:
        assert hwnas(*shlex.split(example)[1:]) == 0, example
        assert capsys.readouterr().out

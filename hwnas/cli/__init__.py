"""The `hwnas` command: one Typer app; each area (spaces, latency; experiments, status, pareto
and deploy, whose commands sit on the root) adds its own commands from its module. Failures
print one line naming the cause and exit non-zero; pass `--debug` anywhere for the full
traceback."""

from __future__ import annotations

import codecs
import os
import shlex
import signal
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, NoReturn

import typer

# before typer draws with rich: rich imported with Python's random numbers kept as they were
import hwnas.predictors.rich_parts  # noqa: F401
from hwnas.predictors.printable import one_line
from hwnas.predictors.stop_signals import (
    noting_interrupt,
    reader_gone,
    signals_handled,
    terminating_signals,
)

#: the config `hwnas export` writes of the demo's winner, as the examples name it
DEMO_WINNER = "runs/demo/winner/trialN-KEY"


def examples(*lines: str) -> str:
    """A command's help epilog: `lines`, command lines that work as written in a clone (those
    on a run once `make demo` made it; a line ending in ` \\` goes on in the next), under
    "Examples:", one a line as typer's rich help keeps them; then what `DEMO_WINNER` stands
    for, where they name it."""
    named = any(DEMO_WINNER in line for line in lines)
    note = ["(trialN-KEY: the name of the config `hwnas export` wrote)"] if named else []
    return "\n".join(["Examples:", *lines, *note])


app = typer.Typer(
    name="hwnas",
    help="Hardware-aware neural architecture search for PyTorch. Add --debug to any command "
    "for the full traceback of an error.",
    no_args_is_help=True,
    # -h as --help, as most commands take it; subcommands' contexts inherit the names
    context_settings={"help_option_names": ["-h", "--help"]},
    epilog=examples("hwnas search examples/demo.yaml", "hwnas pareto runs/demo"),
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _print_version(asked: bool) -> None:
    if asked:
        from hwnas import __version__

        typer.echo(f"hwnas {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", is_eager=True, callback=_print_version, help="print the version"
    ),
) -> None:
    return None


def _register() -> None:
    """Add each area's commands, once per process: added again on each `main()` call (a
    notebook's or a test process's), typer built every copy each time, and a call took
    seconds after a few hundred."""
    # imported first: a Ctrl-C landing in the imports leaves no group added
    from hwnas.cli import deploy, experiments, latency, pareto, spaces, status

    if app.registered_groups:
        return
    app.add_typer(spaces.app, name="spaces")
    app.add_typer(latency.app, name="latency")
    # unnamed, their commands sit on the root, listed in the order they are added here
    app.add_typer(experiments.app)  # search
    app.add_typer(status.app)  # status
    app.add_typer(pareto.app)  # pareto
    app.add_typer(deploy.app)  # export, train, build


_stop_said = False  # whether a stopped command said itself what it left


#: how a command stopped by each signal says it stopped
_STOPPED_BY = {signal.SIGINT: "interrupted", signal.SIGTERM: "terminated"}
if hasattr(signal, "SIGHUP"):  # none on Windows
    _STOPPED_BY[signal.SIGHUP] = "hung up"


def _stop_signal(e: KeyboardInterrupt) -> int:
    """The signal behind `e`: Ctrl-C's, or the one a `Terminated` names."""
    return getattr(e, "signum", signal.SIGINT)


def stopped_word(e: KeyboardInterrupt) -> str:
    """How a command stopped by `e` says it stopped: interrupted, terminated or hung up."""
    return _STOPPED_BY[_stop_signal(e)]


def stopped(message: str, e: KeyboardInterrupt) -> typer.Exit:
    """The exit of a command stopped by `e`, once `message` (what is kept, how to go on) is
    printed: 128 + the signal's number, as a shell gives (Ctrl-C 130, SIGTERM 143, SIGHUP
    129); other stopped commands get a plain "interrupted" (or "terminated", "hung up")."""
    global _stop_said
    say(message)
    _stop_said = True
    return typer.Exit(128 + _stop_signal(e))


def say(message: str) -> None:
    """`message` on stderr, as one line (`one_line`: a path's newline or terminal escape
    shown as an escape); a reader gone (a `| tee` stopped by the same Ctrl-C) is no error:
    what is still written goes nowhere, and the exit code says how the command ended."""
    try:
        typer.echo(one_line(message), err=True)
    except BrokenPipeError:
        reader_gone()


def shell_path(path: object) -> str:
    """`path` as one word of a command a user pastes into a shell: quoted where it holds
    spaces or other characters a shell reads otherwise, and ./-name for a name starting with
    a dash (which a command would take for an option). One holding a character `one_line`
    escapes (a newline, a terminal's escape, a right-to-left override) is quoted as $'...',
    in which bash, zsh and ksh read its escapes back: in plain quotes it was printed raw,
    splitting the advice line in two or showing the name's end reversed."""
    text = str(path)
    word = f"./{text}" if text.startswith("-") else text
    if one_line(word) == word:
        return shlex.quote(word)
    return "$'" + one_line(word.replace("\\", "\\\\").replace("'", "\\'")) + "'"


#: why an empty file or folder name is refused: `Path('')` is the current folder
EMPTY_PATH = "an empty path names no file or folder (. is the current folder)"
#: a path of only whitespace: a name no one means (`-o "$DIR "` with DIR unset), refused
#: with the way to name such a file all the same
BLANK_PATH = "a path of only whitespace is taken for a mistake (name such a file as './ ')"
#: a path starting with '=': what `-o=NAME` gives (a short option's value starts right after
#: its letter), refused with the ways to say either
EQUALS_PATH = (
    "a path starting with '=' is taken for a mistake (-o=NAME gives '=NAME': write -o NAME or "
    "--out=NAME; name such a file as './=NAME')"
)


def home_expanded(value: str | None) -> str | None:
    """The callback of every option and argument of text that names a file or folder (or a
    built-in by name), and the text `path_named` reads for one typed `Path`: a leading `~`
    or `~user` is that home folder, as a shell has it and as an experiment file's paths are
    read. A shell expands no `~` after `=`, so `--out=~/x` made a folder named `~` in the
    current directory (which a later `rm -rf ~` takes for the home folder). A home folder
    unknown here (no such user, or no $HOME) is a usage error naming the option, but for a
    file or folder of that very name, which a shell leaves as it is (`~notes.yaml`, no
    user's home): it was refused, where it had been read. An empty one is left to the
    command, which says what to name instead (`the space is empty: name a built-in space
    or a space YAML file`)."""
    if value is None or not value.startswith("~"):
        return value
    from hwnas.experiments.config import UNKNOWN_HOME, unknown_home

    if (home := unknown_home(value)) is None:
        return str(Path(value).expanduser())
    if os.path.lexists(value):
        return value
    raise typer.BadParameter(f"{value!r} starts with {home!r}, {UNKNOWN_HOME}")


def path_named(text: str | None) -> Path | None:
    """The callback of every option and argument typed `Path`: the text as `home_expanded`
    reads it, and an empty one a usage error naming the option: read as the current folder,
    `status ''` said ". is not a run directory" and `export RUN -o ''` wrote into the current
    folder. Each is declared with `path_type=str` (`AS_PATH`), so that typer hands over the text as
    given: made a `Path` first, '' was '.'. Not a parser: typer's help showed the type of
    one as the class's name, `<Path>`, where it shows a path as `<path>`. A path of only
    whitespace is refused too (it was taken as a file's name), and one starting with '='
    (`export RUN -o=e18` wrote into a folder named `=e18`)."""
    if text is not None and not text.strip():
        raise typer.BadParameter(BLANK_PATH if text else EMPTY_PATH)
    if text is not None and text.startswith("="):
        raise typer.BadParameter(EQUALS_PATH)
    return None if text is None else Path(home_expanded(text))


#: the settings of every option and argument typed `Path`, spread into its declaration
#: (`**AS_PATH`): the text as given to `path_named`, which each needs with the other
AS_PATH: dict[str, Any] = {"path_type": str, "callback": path_named}


def is_usage_error(e: Exception) -> bool:
    """Whether `e` is a click usage error (a bad option value, an unknown command...), from
    click itself or from the copy of click that typer bundles (typer 0.2x): it names the
    option and shows the usage line itself."""
    return callable(getattr(e, "show", None)) and isinstance(getattr(e, "exit_code", None), int)


_python_warning = warnings.formatwarning
#: the installed `hwnas` package: its files' warnings are hwnas's own (a folder named `hwnas`
#: elsewhere in a path, such as a clone's `hwnas/.venv/.../torch`, is not)
_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep


def _one_line_warning(message, category, filename, lineno, line=None) -> str:
    """hwnas's own warnings as one line (`one_line`), as its errors are; others as Python
    shows them."""
    if os.path.abspath(str(filename)).startswith(_PACKAGE):
        return f"hwnas: warning: {one_line(str(message))}\n"
    return _python_warning(message, category, filename, lineno, line)


def main(argv: list[str] | None = None) -> None:
    """Run the `hwnas` command `argv` (default: the process's arguments); a failed or stopped
    command ends in `SystemExit` with its status, and that status is the process's. The
    warning format and `sys.excepthook` it sets (typer sets its own) are the caller's again
    afterwards: called in-process (a notebook, a host application), they stayed swapped."""
    hooks = warnings.formatwarning, sys.excepthook
    try:
        with _stdout_escaping():
            _main(argv)
    finally:
        warnings.formatwarning, sys.excepthook = hooks
        _forget_caught_interrupts()


@contextmanager
def _stdout_escaping() -> Iterator[None]:
    """stdout writing what its encoding cannot hold as an escape (`\\u2014`, `\\udce9`), as
    Python's stderr does, while a command runs, where it would fail instead (its errors
    `strict`): with `PYTHONIOENCODING=latin-1`, or in a UTF-8 locale such as en_US.UTF-8
    given a file name that is no UTF-8 (a Latin-1 folder `donn\\xe9es`, which Python holds
    as a lone surrogate), a search or an export failed on the line saying what it wrote,
    after writing it, and `status` or `spaces show` printed nothing but the error."""
    stream = sys.stdout
    strict = getattr(stream, "errors", None) == "strict" and hasattr(stream, "reconfigure")
    if strict:
        stream.reconfigure(errors="backslashreplace")
    try:
        yield
    finally:
        if strict:
            with suppress(OSError, ValueError):  # a reader gone, a stream closed
                stream.reconfigure(errors="strict")


def _forget_caught_interrupts() -> None:
    """Clear CPython's note of a Ctrl-C that was never handled. CPython takes a
    KeyboardInterrupt leaving code it runs from a string (`exec` or `eval` of source, as
    dataclasses and namedtuple build methods in imports a Ctrl-C may land in) for one that
    was never handled, even once the command caught it, and `python -m hwnas` then ended by
    SIGINT after its stop message (a parent saw -2, not 130). Running code from a string
    clears the note (`run_eval_code_obj` in CPython's Python/pythonrun.c); an interrupt
    that escapes the command later is noted again."""
    exec("")


@contextmanager
def _terminate_as_interrupt(received: list[int]) -> Iterator[None]:
    """SIGTERM (`timeout`, `kill`, a batch scheduler) and SIGHUP (a closed terminal) stop
    every command as Ctrl-C does, noted in `received`: killed outright, an export left its
    half-made files in a staging folder inside the output folder. `search` and `latency
    profile` set their own handler inside (their stop messages say what is kept). On the
    main thread only."""
    with signals_handled(noting_interrupt(received), *terminating_signals()):
        yield


def _main(argv: list[str] | None) -> None:
    """Run the command `argv`, `--debug` taken out of it, and end as it ended."""
    global _stop_said
    _stop_said = False
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    if not debug:
        warnings.formatwarning = _one_line_warning
    received: list[int] = []  # a SIGTERM or SIGHUP: the stop's code is 143 or 129, not 130
    code = _run_command([a for a in args if a != "--debug"], debug, received)
    _exit_as_ended(code, received)


def _run_command(args: list[str], debug: bool, received: list[int]) -> int | None:
    """The exit code of the command `args` (130 where stopped before it ran), a SIGTERM or
    SIGHUP noted in `received`. An abort or an error exits here, saying so; with `debug`, an
    error other than a usage error leaves with its traceback."""
    try:
        with _terminate_as_interrupt(received):
            _register()  # imports every command's module: a Ctrl-C may land here
            # without standalone mode, click returns the code of a `typer.Exit`, not raising
            return app(args=args, prog_name="hwnas", standalone_mode=False)
    except typer.Abort:
        say("hwnas: aborted")
        sys.exit(130)
    except KeyboardInterrupt:  # before a command runs
        return 130
    except Exception as e:  # noqa: BLE001 - the one place errors become a one-line cause
        if debug and not is_usage_error(e):
            raise
        _exit_on_error(e)


def _exit_on_error(e: Exception) -> NoReturn:
    """Exit for the error `e`: a usage error shown as click shows it, with its code (2); any
    other said in one line, exit 1. A usage error is shown so even with --debug: its
    traceback is click's parser, and it exited 1 (`hwnas --debug` alone: the help, then a
    NoArgsIsHelpError)."""
    if is_usage_error(e):
        if e.format_message():  # empty when the help was printed instead (no arguments)
            e.show()
        sys.exit(e.exit_code)
    say(f"hwnas: error: {_cause(e)}")
    sys.exit(1)


def _cause(e: Exception) -> str:
    """`e` as its one line; for text that the locale's encoding, not being UTF-8, cannot
    encode, the text and where to go: under `LC_ALL=C` with `PYTHONUTF8=0`, or a Latin-1
    locale, a file named in an experiment or space file with characters it lacks (`space:
    espace ü.yaml`) failed with "'ascii' codec can't encode character '\\xfc' in position
    7", naming neither the file nor the cause. One whose text alone says nothing (no
    message, as a `MemoryError()`; a `KeyError`'s bare key) is told as a failed candidate
    is: it printed "hwnas: error: " and nothing more."""
    if not str(e).strip() or isinstance(e, KeyError):
        from hwnas.evaluators.failures import failure_reason

        return failure_reason(e)
    if not isinstance(e, UnicodeEncodeError) or codecs.lookup(e.encoding).name == "utf-8":
        return str(e)
    text = e.object if len(e.object) <= 200 else e.object[:200] + "..."
    return (
        f"{text!r}: {e.encoding} cannot encode {e.object[e.start : e.end]!r} in it ({e.reason})"
        "; file names and text beyond ASCII need a UTF-8 locale (LC_ALL=C.UTF-8) or "
        "PYTHONUTF8=1"
    )


def _exit_as_ended(code: int | None, received: list[int]) -> None:
    """Exit with the command's `code`: 128 + the number of a SIGTERM or SIGHUP noted in
    `received` for a stopped command, saying how it stopped where the command did not say
    itself; return where it succeeded."""
    if code == 130 and received:
        code = 128 + received[0]
    if code in (128 + s for s in _STOPPED_BY) and not _stop_said:  # typer ends it silently
        say(f"hwnas: {_STOPPED_BY[code - 128]}")
    if isinstance(code, int) and code:
        sys.exit(code)

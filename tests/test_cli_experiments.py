"""`hwnas search / status / pareto / export / build` on a real NB201 run: --help everywhere,
exit 0 on success, one line and a non-zero exit on failure."""

from __future__ import annotations

import json
import os
import platform
import re
import shlex
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator
from contextlib import closing, contextmanager, suppress
from importlib.metadata import version
from pathlib import Path

import numpy as np
import optuna
import pytest
import yaml
from benchdata import BENCHDATA, needs_nb201
from cli_runner import cli_bound_by_file_modes, cli_on_read_only, hwnas, status_facts, status_json
from net import free_port

from hwnas.experiments import ExperimentConfig, load
from hwnas.experiments.records import DATASET_SCALING
from hwnas.experiments.shown import counted, metric_text

COMMANDS = ["search", "status", "pareto", "export", "build"]
DATA = Path(__file__).resolve().parent / "data"
#: how a note on a latency predicted from `DATA / "tiny2d_ort.csv"` names its measurements
TINY2D_PREDICTED = (
    f"predicted from {DATA / 'tiny2d_ort.csv'} (measured on Intel(R) Xeon(R) Processor "
    "(2 cores), onnxruntime-cpu, 1 thread(s), batch 1)"
)


@pytest.mark.parametrize("command", COMMANDS)
def test_help(command: str, capsys: pytest.CaptureFixture) -> None:
    assert hwnas(command, "--help") == 0
    assert "Usage: hwnas " + command in capsys.readouterr().out


@pytest.mark.parametrize(
    "path", [(), ("spaces",), ("spaces", "sample"), ("latency", "profile"), *zip(COMMANDS)]
)
def test_dash_h_is_help_everywhere(path: tuple[str, ...], capsys: pytest.CaptureFixture) -> None:
    """`-h` was "No such option: -h" (exit 2) on every command: it shows what --help shows."""
    assert hwnas(*path, "--help") == 0
    helped = capsys.readouterr().out
    assert hwnas(*path, "-h") == 0
    assert capsys.readouterr().out == helped and "Usage: hwnas" in helped


def option_helps() -> dict[tuple[str, ...], str]:
    """The help text of every option of every command, by (command path..., option)."""
    import typer

    from hwnas.cli import _register, app

    _register()
    root = typer.main.get_command(app)

    def commands(group, path=()):
        for name, command in group.commands.items():
            if hasattr(command, "commands"):
                yield from commands(command, (*path, name))
            else:
                yield (*path, name), command

    helps = {}
    for path, command in commands(root):
        for param in command.params:
            if param.param_type_name == "option":
                helps[(*path, param.opts[-1])] = param.help or ""
    return helps


def test_every_option_says_what_it_takes() -> None:
    """Every option of every command has a help text, and one that takes a name from a fixed
    set lists the set (`latency profile --help` named no backend and no precision, and said
    nothing of --batch-size, --warmup or --rounds)."""
    from hwnas.predictors import BACKENDS
    from hwnas.spaces import PRECISIONS

    helps = option_helps()
    assert [option for option, text in helps.items() if not text] == []
    backend = helps[("latency", "profile", "--backend")]
    precision = helps[("latency", "profile", "--precision")]
    assert all(name in backend for name in BACKENDS), backend
    assert all(name in precision for name in PRECISIONS), precision


def test_profile_help_says_precisions_may_be_comma_separated() -> None:
    """`--precision fp32,int8` profiles both (and errors suggest that form), but the help
    said only "repeat", where `--objectives` says "comma separated or repeated"."""
    said = " ".join(option_helps()[("latency", "profile", "--precision")].split())
    assert "comma separated or repeated" in said


def test_clock_help_says_what_auto_picks_and_holdout_shows_what_it_takes(capsys) -> None:
    """`--clock auto` did not say which clock it picks, and `--holdout` showed `<str>` for
    what is a profile or a count."""
    said = " ".join(option_helps()[("latency", "profile", "--clock")].split())
    assert "auto picks thread for one thread on a CPU backend" in said and "else wall" in said
    assert hwnas("latency", "eval", "--help") == 0
    assert "PROFILE|N" in capsys.readouterr().out


def test_build_help_says_where_weights_come_from_without_weights() -> None:
    """`build` without --weights loads the file the config names (an onnx or torch export's
    .pt); its help said only "state_dict saved with torch.save", as if there were none."""
    said = " ".join(option_helps()[("build", "--weights")].split())
    assert "default: the file the config names beside it" in said
    assert "else freshly initialised ones" in said


def test_train_help_says_a_fraction_of_an_epoch_is_rounded_either_way() -> None:
    """`--epochs 0.3` on 25 batches an epoch trains round(7.5) = 8 batches, 0.32 epochs: the
    help said a fraction trains whole batches, "0.25 may train 0.24", as if only fewer."""
    said = " ".join(option_helps()[("train", "--epochs")].split())
    assert "the nearest whole number of batches, at least one" in said


def test_train_help_names_the_default_weights_file_as_it_is_made() -> None:
    """`train trial2-x.json` writes trial2-x.trained.pt (the .json dropped); the help said
    CONFIG_NAME.trained.pt, which reads as trial2-x.json.trained.pt."""
    said = " ".join(option_helps()[("train", "-o")].split())
    assert "(trial2-x.json: trial2-x.trained.pt)" in said and "CONFIG_NAME" not in said


def test_every_option_that_writes_somewhere_says_it_makes_the_folder() -> None:
    """`latency profile --out`, `latency fit -o` and `train -o` make a missing folder as
    `pareto --html` and `build --onnx` do, which said "(folder made)" while they said nothing."""
    helps = option_helps()
    files = [("latency", "profile", "--out"), ("latency", "fit", "--out"), ("train", "-o")]
    files += [("pareto", "--html"), ("build", "--onnx")]
    assert [o for o in files if "folder made" not in helps[o]] == []
    assert "(made; default RUN/export)" in helps[("export", "--out")]  # itself a folder


def test_every_argument_is_named_by_what_it_is(capsys: pytest.CaptureFixture) -> None:
    """The usage lines name an argument as its help does (`{run}`, `{config}`): `latency
    fit` and `eval` showed their parameters' Python names, `{profile_path}` and
    `{predictor_path}`, in the usage line and in "Missing argument 'profile_path'"."""
    import typer

    from hwnas.cli import _register, app

    _register()
    root = typer.main.get_command(app)
    groups = [root, *(c for c in root.commands.values() if hasattr(c, "commands"))]
    commands = [c for g in groups for c in g.commands.values() if not hasattr(c, "commands")]
    names = {
        p.metavar or p.name for c in commands for p in c.params if p.param_type_name == "argument"
    }
    assert names == {"experiment", "run", "config", "space", "profile", "predictor"}
    assert hwnas("latency", "fit") == 2
    assert "Missing argument 'profile'." in capsys.readouterr().err


def test_every_seed_option_refuses_a_negative_seed_as_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """`spaces sample --seed -1` is a usage error naming --seed (exit 2); `latency profile
    --seed -1` got past the parser and failed as "seed must be an integer >= 0" (exit 1),
    naming no option."""
    out = str(tmp_path / "p.csv")
    profile = ("latency", "profile", "--space", "conv1d", "-o", out)
    for args in (("spaces", "sample", "conv1d"), profile):
        assert hwnas(*args, "--seed", "-1") == 2, args
        assert "Invalid value for '--seed'" in capsys.readouterr().err
    assert not Path(out).exists()


def test_every_out_option_is_also_o(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """`export`, `train` and `latency fit` take `-o` for `--out`; `latency profile -o P.csv`
    was refused as "No such option: -o" (exit 2), the one command where it was not."""
    import typer

    from hwnas.cli import _register, app

    _register()
    root = typer.main.get_command(app)
    latency = root.commands["latency"].commands
    commands = {**root.commands, **{f"latency {n}": c for n, c in latency.items()}}
    outs = {n: p.opts for n, c in commands.items() for p in c.params if "--out" in p.opts}
    assert sorted(outs) == ["export", "latency fit", "latency profile", "train"]
    assert [n for n, opts in outs.items() if "-o" not in opts] == []
    out = tmp_path / "p.csv"  # refused by the profile itself (no samples), not by the parser
    cells = ("latency", "profile", "--space", "nasbench201", "--samples", "0", "-o", str(out))
    assert hwnas(*cells) == 1
    assert "a profile of nasbench201 of 0 samples measures nothing" in capsys.readouterr().err


#: each command's options and arguments that name a file or folder (or a built-in)
PATH_PARAMETERS = {
    "search": ["experiment"],
    "status": ["run"],
    "pareto": ["run", "html"],
    "export": ["run", "out"],
    "train": ["config", "dataset", "out"],
    "build": ["config", "weights", "onnx", "calibration"],
    "latency profile": ["space", "out"],
    "latency fit": ["profile_path", "out", "parts"],
    "latency eval": ["predictor_path", "holdout"],
    "spaces show": ["space"],
    "spaces sample": ["space"],
}


#: the parameters of `PATH_PARAMETERS` that are text (a file, or a built-in's name, or a
#: count): each command says what to give where one is empty
TEXT_PATHS = {
    ("train", "dataset"),
    ("build", "calibration"),
    ("latency profile", "space"),
    ("latency eval", "holdout"),
    ("spaces show", "space"),
    ("spaces sample", "space"),
}


def each_parameter() -> Iterator[tuple[str, object, object]]:
    """Each option and argument of every command: (the command's name as typed, such as
    "latency fit"; the parameter; a context of its command to process a value in)."""
    import typer

    from hwnas.cli import _register, app

    _register()
    root = typer.main.get_command(app)
    groups = {"": root, **{f"{n} ": c for n, c in root.commands.items() if hasattr(c, "commands")}}
    for prefix, group in groups.items():
        for name, command in group.commands.items():
            for param in getattr(command, "params", []):
                yield prefix + name, param, typer.Context(command)


def test_every_path_option_reads_a_leading_tilde_as_the_home_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch
) -> None:
    """`--out=~/x` (where a shell expands no `~`) is the home folder's x, as an experiment
    file's paths are: it made a folder named `~` in the current directory, which a later
    `rm -rf ~` takes for the home folder. So for every option and argument naming a file or
    folder; an unknown user's home is a usage error naming the option."""
    import typer

    home, work = tmp_path / "home", tmp_path / "work"
    home.mkdir()
    shutil.copytree(DATA, work / "tests" / "data")  # the profile names its space from here
    shutil.copy(DATA / "tiny2d_ort.csv", home)
    shutil.copy(DATA / "tiny2d_ort.json", home)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(work)
    assert hwnas("latency", "fit", "~/tiny2d_ort.csv", "--out=~/fits/lut.json") == 0
    assert (home / "fits" / "lut.json").is_file()
    assert sorted(p.name for p in work.iterdir()) == ["tests"]
    expanded = {}
    for name, param, context in each_parameter():
        with suppress(typer.BadParameter):  # a number, a flag, a choice
            if str(param.process_value(context, "~/x")) == str(home / "x"):
                expanded.setdefault(name, []).append(param.name)
    assert expanded == PATH_PARAMETERS
    assert hwnas("latency", "fit", "~/tiny2d_ort.csv", "-o", "~no-such-user-hwnas/p.json") == 2
    err = capsys.readouterr().err
    assert "Invalid value for '-o' / '--out': '~no-such-user-hwnas/p.json' starts with" in err
    assert "a home folder unknown here" in err


@pytest.mark.parametrize(
    ("path", "said"), [("", "EMPTY_PATH"), (" \t", "BLANK_PATH"), ("=e18", "EQUALS_PATH")]
)
def test_every_path_option_refuses_an_empty_path_as_a_usage_error(
    path: str, said: str, tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch
) -> None:
    """An empty path names no file or folder: a usage error naming the option, for every
    option and argument naming one. Typer read '' as the current folder, so `status ''`
    said ". is not a run directory" and `export RUN -o ''` wrote into the current folder.
    A path of only whitespace was taken as a file's name (`export RUN -o ' '`), and so was
    the '=e18' of `export RUN -o=e18` (click reads a short option's value from the next
    character on)."""
    import typer

    from hwnas import cli

    refused = {}
    for name, param, context in each_parameter():
        try:
            param.process_value(context, path)
        except typer.BadParameter as e:  # a number's and a choice's, too
            if getattr(cli, said) in str(e):
                refused.setdefault(name, []).append(param.name)
    typed_path = {
        name: [p for p in params if (name, p) not in TEXT_PATHS]
        for name, params in PATH_PARAMETERS.items()
    }
    assert refused == {name: params for name, params in typed_path.items() if params}
    monkeypatch.chdir(tmp_path)
    for args, option in ((("status", path), "'run'"), (("export", "runs/x", "-o", path), "'-o'")):
        assert hwnas(*args) == 2, args
        assert f"Invalid value for {option}" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (("spaces", "show", ""), "the space is empty: name a built-in space or a space YAML"),
        (("latency", "eval", "p.json", "--holdout", ""), "--holdout: empty: give a held-out"),
        (("build", "c.json", "--onnx", "m.onnx", "--calibration", ""), "--calibration: empty"),
    ],
)
def test_an_empty_name_of_text_options_says_what_to_name(
    args: tuple[str, ...], said: str, tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch
) -> None:
    """Options of text that may name a file (a space, a dataset, a held-out profile or a
    count) say what to give where they are empty, not that a path is empty: `--holdout ''`
    was read as the folder ".", "is a folder, not a profile"."""
    monkeypatch.chdir(tmp_path)
    assert hwnas(*args) != 0
    assert said in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_every_path_option_shows_the_type_typer_shows_for_a_path() -> None:
    """The help gives each option and argument of type `Path` the type typer gives any path
    (`<path>`, lower case as `<str>` and `<int>` are): read through a parser to refuse an
    empty path, they showed the class's name, `<Path>`."""
    import typing

    import typer

    def shown_type(param, context) -> str:
        return param.get_help_record(context)[0].split()[-1]

    reference = typer.Typer(add_completion=False)

    @reference.command()
    def given(run: Path = typer.Argument(...), out: Path = typer.Option(None)) -> None:
        """Plain path parameters, as typer shows them."""

    command = typer.main.get_command(reference)
    path = {shown_type(p, typer.Context(command)) for p in command.params}
    shown = {}
    for name, param, context in each_parameter():
        if typing.get_type_hints(context.command.callback).get(param.name) is Path:
            shown[name, param.name] = shown_type(param, context)
    assert len(path) == 1 and len(shown) == 16 and set(shown.values()) == path, shown


def test_a_file_named_with_a_leading_tilde_of_no_user_is_read_as_named(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch
) -> None:
    """`hwnas spaces show ~notes.yaml` of a file named so (a shell passes `~notes.yaml` as
    it is where no user is named `notes.yaml`) was refused as a home folder unknown here,
    though the command had read it before; a path of that form that is not there still is."""
    from hwnas.spaces import get_space

    monkeypatch.chdir(tmp_path)
    shutil.copy(get_space("conv1d").source, tmp_path / "~no-such-user-hwnas.yaml")
    capsys.readouterr()
    assert hwnas("spaces", "show", "~no-such-user-hwnas.yaml") == 0
    assert capsys.readouterr().out.startswith("name: conv1d")
    assert hwnas("spaces", "show", "~no-such-user-hwnas/s.yaml") == 2
    assert "a home folder unknown here" in capsys.readouterr().err


def test_search_help_says_a_run_is_continued_without_resume_too() -> None:
    """`hwnas search EXP` continues a run already in its run_dir; --resume only refuses to
    start one. Its help said "continue the run in its run_dir", as if without it the run
    were started over."""
    said = " ".join(option_helps()[("search", "--resume")].split())
    assert "never start one (without it, a run already there is continued too)" in said


def test_export_and_status_help_say_how_to_reach_a_failed_trial(
    capsys: pytest.CaptureFixture,
) -> None:
    """`export --trial N` exports a failed or infeasible trial too, and `status` names the
    failed trials' numbers: the helps said only "export this trial number" and nothing of
    the trial numbers, so the way to look at a failed candidate was in the guide only."""
    said = " ".join(option_helps()[("export", "--trial")].split())
    assert "any evaluated one, failed or infeasible too (hwnas status names the failed" in said
    assert hwnas("status", "--help") == 0
    status = " ".join(capsys.readouterr().out.split())
    assert "failure reasons come with their first trial numbers (export --trial N)" in status


def test_the_guides_status_example_names_the_pinned_versions() -> None:
    """docs/guide.md's `hwnas status` example (section 4) names the versions a run started
    with as constraints.txt pins them: it showed optuna 5.0.0, pasted from a run older than
    the pin (5.1.0)."""
    root = Path(__file__).resolve().parents[1]
    guide = (root / "docs" / "guide.md").read_text()
    (line,) = re.findall(r"^ *started with (hwnas .*)$", guide, re.M)
    said = dict(part.rsplit(" ", 1) for part in line.split(", "))
    pins = (root / "constraints.txt").read_text().splitlines()
    pinned = dict(pin.split("==") for pin in pins if "==" in pin)
    for package in ("torch", "onnxruntime", "optuna", "scikit-learn", "numpy"):
        assert said[package].split("+")[0] == pinned[package], package


def test_calling_main_again_adds_no_commands(capsys: pytest.CaptureFixture) -> None:
    """Each `main()` call used to add every area's commands once more: in a notebook or a
    test process the command tree grew with each call, and building it took seconds."""
    from hwnas.cli import app, deploy, experiments, latency, pareto, spaces, status

    for _ in range(3):
        assert hwnas("status", "--help") == 0
    assert [g.typer_instance for g in app.registered_groups] == [
        spaces.app,
        latency.app,
        experiments.app,
        status.app,
        pareto.app,
        deploy.app,
    ]
    assert capsys.readouterr().out.count("Usage: hwnas status") == 3


def test_every_command_sums_itself_up_in_one_line() -> None:
    """The command lists keep a docstring's line breaks: a summary over two lines was cut
    mid-sentence there."""
    import typer

    from hwnas.cli import _register, app

    _register()
    root = typer.main.get_command(app)
    groups = [root, *(c for c in root.commands.values() if hasattr(c, "commands"))]
    commands = [c for g in groups for c in g.commands.values() if not hasattr(c, "commands")]
    assert len(commands) == 12
    for command in commands:
        assert "\n" not in (command.help or "").strip().split("\n\n")[0], command.name


def test_help_imports_no_numeric_library() -> None:
    """`hwnas --help` and each area's help answer at once: the commands' modules import
    torch, numpy and the rest only when a command runs (a fresh process, to see its imports)."""
    heavy = ("torch", "numpy", "scipy", "sklearn", "pandas", "onnx", "onnxruntime", "optuna")
    script = (
        "import sys\nfrom hwnas.cli import main\n"
        "for args in ([], ['spaces'], ['latency'], ['search', '--help'], ['latency', 'profile',"
        " '--help']):\n"
        "    try:\n        main(args)\n    except SystemExit:\n        pass\n"
        f"print(sorted(m for m in {heavy!r} if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "--warmup" in result.stdout and "default: 10" in result.stdout
    assert result.stdout.strip().splitlines()[-1] == "[]"


def test_reading_a_run_imports_no_searcher_or_model_library(
    finished_run: Path, tmp_path: Path
) -> None:
    """`hwnas status` (as `pareto` and `export`) reads stored results: it imported the
    predictor searcher's scikit-learn and scipy (1.7 s of its 6.7 s here) for nothing;
    `hwnas pareto` without `--html` imported plotly (0.3 s) for a report it does not draw; and
    both imported torch (about 2.4 s) though they build no model. So did `hwnas export` of a
    config (json, yaml), which builds no model either: torch and onnx were 2 of its 3.6 s."""
    out = reading_a_run(finished_run, tmp_path / "export")
    assert "evaluations: 8 of 8" in out and "Pareto front of" in out
    assert {p.suffix for p in (tmp_path / "export").iterdir()} == {".json", ".yaml"}


def reading_a_run(run: Path, export_to: Path) -> str:
    """What `hwnas status`, `pareto`, `pareto --json` and `export` (json, yaml) of `run`
    print, in a fresh process, which must import no searcher's or model's library."""
    heavy = ("sklearn", "scipy.stats", "plotly", "torch", "onnx")
    run_, out = str(run), str(export_to)
    script = (
        "import sys\nfrom hwnas.cli import main\n"
        f"for args in (['status', {run_!r}], ['pareto', {run_!r}], ['pareto', {run_!r}, "
        f"'--json'], ['export', {run_!r}, '-o', {out!r}], ['export', {run_!r}, '--format', "
        f"'yaml', '-o', {out!r}]):\n"
        "    try:\n        main(args)\n"
        "    except SystemExit as e:\n        assert not e.code, e.code\n"
        f"print(sorted(m for m in {heavy!r} if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]"
    return result.stdout


@pytest.mark.parametrize("command", ["pareto", "search"])
def test_the_first_command_of_a_process_leaves_pythons_random_numbers_as_they_were(
    finished_run: Path, tmp_path: Path, command: str
) -> None:
    """The first search or front table of a process (a notebook's, calling hwnas after its
    `random.seed(0)`) imports rich, whose first import drew from Python's global random
    numbers: the cell's next `random.random()` differed from the same cell run again."""
    exp = latency_experiment(tmp_path, "[fp32]")
    args = ["pareto", str(finished_run)] if command == "pareto" else ["search", str(exp)]
    script = (
        "import random\nfrom hwnas.cli import main\nrandom.seed(0)\nbefore = random.getstate()\n"
        f"try:\n    main({args!r})\nexcept SystemExit as e:\n    assert not e.code, e.code\n"
        "print(random.getstate() == before)"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "True"


def test_the_help_leaves_pythons_random_numbers_as_they_were() -> None:
    """typer draws the help with rich, imported on first use: `hwnas.cli.main(["--help"])`
    as a process's first use of rich (a notebook's, after its `random.seed(0)`) moved
    Python's random numbers on, as the first search and front table did before."""
    script = (
        "import random, sys\nrandom.seed(0)\nexpected = random.random()\nrandom.seed(0)\n"
        "from hwnas.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit as e:\n    assert not e.code, e.code\n"
        "print('rich.style' in sys.modules, random.random() == expected)"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "True True"  # rich drew the help


def test_a_count_of_one_is_singular(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`search` and `pareto` printed '1 evaluations'."""
    monkeypatch.setenv("COLUMNS", "400")  # the table's title on one line, whatever the path
    exp = latency_experiment(tmp_path, "[fp32]")
    exp.write_text(exp.read_text().replace("evaluations: 8", "evaluations: 1"))
    assert hwnas("search", str(exp), "--quiet") == 0
    assert ": 1 evaluation (0 failed, 1 by this driver)" in capsys.readouterr().out
    assert hwnas("search", str(exp), "--quiet") == 0
    assert "is already complete: 1 evaluation (0 failed)" in capsys.readouterr().out
    assert hwnas("pareto", str(tmp_path / "run")) == 0
    title = capsys.readouterr().out.splitlines()[0]
    assert title.strip().endswith(": 1 of 1 evaluation")


def test_reading_a_predictor_searchers_run_imports_no_scikit_learn(tmp_path: Path) -> None:
    """Reading the run's stored experiment checked its searcher's settings against the
    searcher's class, as a new experiment's are: for the predictor searcher that imported
    scikit-learn and scipy (over a second) into every `hwnas status`, `pareto` and `export`."""
    exp = latency_experiment(tmp_path, "[fp32]")
    exp.write_text(
        exp.read_text()
        .replace("searcher: random", "searcher: {name: predictor, settings: {initial: 2}}")
        .replace("evaluations: 8", "evaluations: 3")
    )
    assert hwnas("search", str(exp), "--quiet") == 0
    assert "Pareto front of" in reading_a_run(tmp_path / "run", tmp_path / "export")


@needs_nb201
def test_a_tabular_search_imports_no_torch(tmp_path: Path) -> None:
    """A search of the NAS-Bench-201 table builds no model: it imported torch (a second or two
    of a run of seconds) only to check the devices of evaluator settings it does not have."""
    exp = tmp_path / "exp.yaml"
    exp.write_text(
        "name: t\nspace: nasbench201\n"
        "evaluator: {name: tabular, settings: {tabular: {cost: false, latency: false}}}\n"
        "objectives: [{metric: accuracy, direction: max}]\n"
        f"searcher: random\nevaluations: 3\nrun_dir: {tmp_path / 'run'}\n"
    )
    script = (
        "import sys\nfrom hwnas.cli import main\n"
        f"try:\n    main(['search', {str(exp)!r}, '--quiet'])\n"
        "except SystemExit as e:\n    assert not e.code, e.code\n"
        "print('torch' in sys.modules)"
    )
    env = {**os.environ, "HWNAS_BENCHDATA": str(BENCHDATA)}
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr
    assert "3 evaluations (0 failed" in result.stdout
    assert result.stdout.strip().splitlines()[-1] == "False"


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (("export", "runs/x", "--format", "pdf"), "'pdf' is not one of 'json', 'yaml', 'onnx'"),
        (("train", "x.json", "--epochs", "-1"), "must be > 0 and finite, not -1"),
        (("train", "x.json", "--epochs", "0"), "must be > 0 and finite, not 0"),
        (("train", "x.json", "--epochs", "nan"), "must be > 0 and finite, not nan"),
    ],
)
def test_option_values_the_library_refuses_are_usage_errors(
    args: tuple[str, ...], said: str, capsys: pytest.CaptureFixture
) -> None:
    """A bad `--format` or `--epochs` is a usage error naming the option (exit 2), before the
    run or config is read: the library's own errors named its parameters (`format must
    be...`, `epochs must be > 0`), which the command has no such names for, and came only
    after the config was read."""
    option = args[2]
    assert hwnas(*args) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert f"Invalid value for '{option}'" in err and said in err
    assert f"Usage: hwnas {args[0]}" in err


def test_export_formats_are_the_librarys() -> None:
    """`export --format` offers the formats `export_run` takes (the CLI does not import it)."""
    from typing import get_args

    from hwnas.cli.deploy import ExportFormat
    from hwnas.experiments.export import Format

    assert get_args(ExportFormat) == get_args(Format)


def test_usage_errors_name_the_option(capsys: pytest.CaptureFixture) -> None:
    assert hwnas("export", "runs/x", "--top", "0") == 2
    err = capsys.readouterr().err
    assert "Invalid value for '--top'" in err and "Usage: hwnas export" in err
    assert hwnas("frobnicate") == 2
    assert "No such command 'frobnicate'" in capsys.readouterr().err
    assert hwnas() == 2  # no arguments: the help, and no empty error line
    out, err = capsys.readouterr()
    assert "Usage: hwnas" in out and "error" not in err
    assert hwnas("--version") == 0
    assert capsys.readouterr().out.strip() == f"hwnas {version('hwnas')}"
    as_module = [sys.executable, "-m", "hwnas", "--version"]  # the same command
    said = subprocess.run(as_module, capture_output=True, text=True, check=True).stdout
    assert said.strip() == f"hwnas {version('hwnas')}"
    import hwnas as package  # the name `hwnas` here is the command runner

    assert package.__version__ == version("hwnas")


def test_usage_errors_with_debug_are_usage_errors(capsys: pytest.CaptureFixture) -> None:
    """--debug gives an error's traceback, not one of click's parser: a mistake on the command
    line still prints the usage and exits 2 (it printed a traceback and exited 1)."""
    assert hwnas("--debug") == 2  # the help alone, as without --debug
    out, err = capsys.readouterr()
    assert "Usage: hwnas" in out and "Traceback" not in err
    assert hwnas("search", "--debug") == 2
    err = capsys.readouterr().err
    assert "Missing argument 'experiment'" in err and "Usage: hwnas search" in err


def test_the_command_leaves_the_callers_warning_format_and_excepthook(monkeypatch) -> None:
    """`main` called in-process (a notebook, a host application) set hwnas's one-line warning
    format and typer's excepthook for the rest of the process."""

    def mine(*args, **kwargs):
        return "mine"

    monkeypatch.setattr(warnings, "formatwarning", mine)
    monkeypatch.setattr(sys, "excepthook", mine)
    assert hwnas("spaces", "list") == 0
    assert hwnas("status", "no-such-run") == 1
    assert warnings.formatwarning is mine and sys.excepthook is mine


def test_hwnas_warnings_are_one_line_like_its_errors() -> None:
    """Not Python's `file:line: UserWarning: ...` plus the source line."""
    import hwnas.search.differentiable as searcher
    from hwnas.cli import _one_line_warning

    said = _one_line_warning(UserWarning("target out of reach"), UserWarning, searcher.__file__, 9)
    assert said == "hwnas: warning: target out of reach\n"
    theirs = _one_line_warning(UserWarning("x"), UserWarning, "/usr/lib/python3/ray/a.py", 9)
    assert "UserWarning: x" in theirs  # other libraries' warnings as Python shows them
    # a clone named hwnas (`git clone ... hwnas`, as the guide does) holds its .venv
    torch_file = "/home/me/hwnas/.venv/lib/python3.11/site-packages/torch/onnx/a.py"
    theirs = _one_line_warning(UserWarning("y"), UserWarning, torch_file, 9)
    assert theirs.startswith(f"{torch_file}:9: UserWarning: y")


def test_a_warning_naming_a_path_with_control_characters_is_one_line() -> None:
    """A warning of hwnas's naming a file whose name holds a newline, a tab, DEL or a C1
    control is one line, each of them shown escaped as Python shows it, as its errors are."""
    import hwnas.predictors.profiling as profiling
    from hwnas.cli import _one_line_warning

    message = UserWarning("runs/a\nb\tc\x7fd\x9be.csv: resumed")
    said = _one_line_warning(message, UserWarning, profiling.__file__, 9)
    assert said == "hwnas: warning: runs/a\\nb\\tc\\x7fd\\u009be.csv: resumed\n"


def latency_experiment(tmp_path: Path, precisions: str, objective: str = "latency_ms") -> Path:
    """The tiny 2D space with these precisions, scored by the LUT of its real profile (which
    measured fp32 and int8 only): cheap evaluations that fail where the profile has no data."""
    space = tmp_path / "tiny2d.yaml"
    space.write_text((DATA / "tiny2d.yaml").read_text().replace("[fp32, int8]", precisions))
    exp = tmp_path / "exp.yaml"
    exp.write_text(
        f"name: lat\nspace: {space}\nevaluator: latency\n"
        f"latency: {{profile: {DATA / 'tiny2d_ort.csv'}}}\n"
        f"objectives: [{{metric: {objective}, direction: min}}]\n"
        f"searcher: random\nevaluations: 8\nrun_dir: {tmp_path / 'run'}\n"
    )
    return exp


def constrained_experiment(tmp_path: Path, precisions: str, constraints: str) -> Path:
    """`latency_experiment` with a second objective, `params` (min), and these constraints."""
    exp = latency_experiment(tmp_path, precisions)
    exp.write_text(
        exp.read_text().replace(
            "objectives: [{metric: latency_ms, direction: min}]",
            "objectives: [{metric: latency_ms, direction: min}, {metric: params, direction: min}]"
            f"\nconstraints: {constraints}",
        )
    )
    return exp


#: a name that, printed raw, forges a line of its own and sends the terminal a command (a red
#: colour, a window title)
FORGING = "x\nhwnas: note: all is well\x1b[31m\x1b]0;owned\x07"


@needs_nb201
def test_a_run_dir_or_file_name_with_a_newline_or_terminal_escape_is_printed_on_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """A `run_dir` or an experiment file named with a newline or a terminal's escape: each
    message naming it was printed with the characters raw, as two lines, the second reading
    as another message of hwnas's, and the escapes sent to the terminal; now each message is
    one line, the characters shown escaped (as Python shows them) and nothing else changed."""
    exp = tmp_path / f"e{FORGING}.yaml"
    exp.write_text(
        "name: t\nspace: nasbench201\n"
        "evaluator: {name: tabular, settings: {tabular: {cost: false, latency: false}}}\n"
        "objectives: [{metric: accuracy, direction: max}]\n"
        f"searcher: random\nevaluations: 2\nrun_dir: {json.dumps(str(tmp_path / FORGING))}\n"
    )
    shown = "x\\nhwnas: note: all is well\\x1b[31m\\x1b]0;owned\\x07"
    # a new run, a complete one, an error
    for command, code in ((["search", "--quiet"], 0), (["search", "--quiet"], 0), (["status"], 1)):
        assert hwnas(command[0], str(exp), *command[1:]) == code
        out, err = capsys.readouterr()
        lines = (out + err).splitlines()
        assert len(lines) == 1 and "\x1b" not in lines[0] and "\x07" not in lines[0]
        assert f"{tmp_path}/{shown}" in lines[0]
    assert hwnas("search", str(tmp_path / f"gone{FORGING}.yaml")) == 1
    assert capsys.readouterr().err == (
        f"hwnas: error: {tmp_path}/gone{shown}.yaml: cannot read: No such file or directory\n"
    )


#: names that, printed raw, show other text than they hold, and how they are shown: a
#: right-to-left override (`evil\u202egpj.yaml` read as `evillmay.jpg`), bidi isolates, a
#: zero-width space, a line and a paragraph separator, a tag character (beyond U+FFFF)
HIDING = {
    "evil\u202egpj.yaml": "evil\\u202egpj.yaml",
    "a\u2066b\u2069\u200bc.yaml": "a\\u2066b\\u2069\\u200bc.yaml",
    "x\u2028y.yaml": "x\\u2028y.yaml",
    "p\u2029q.yaml": "p\\u2029q.yaml",
    "t\U000e0067.yaml": "t\\U000e0067.yaml",
}


@pytest.mark.parametrize("name", HIDING)
def test_a_file_name_with_a_format_character_is_shown_escaped(
    tmp_path: Path, capsys: pytest.CaptureFixture, name: str
) -> None:
    """A file named with a Unicode format character (a right-to-left override, a bidi
    isolate, a zero-width space) or a line separator: its messages printed the character
    raw, so the name read as another (`evil\\u202egpj.yaml` as `evillmay.jpg`) or hid a
    character; now each is shown escaped, as a control character is."""
    assert hwnas("search", str(tmp_path / name)) == 1
    assert capsys.readouterr().err == (
        f"hwnas: error: {tmp_path}/{HIDING[name]}: cannot read: No such file or directory\n"
    )


def test_a_joiner_inside_a_word_or_an_emoji_is_printed_as_it_is(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """A zero-width joiner or non-joiner (U+200D, U+200C) was escaped as every format
    character is, so an emoji sequence (a family) or a Persian word in a path printed as
    `\\u200d` / `\\u200c`: between two visible characters each is part of the text, and
    printed raw (and pasted in plain quotes); where it only hides (at a name's end, beside
    a space or another format character) it is escaped still, a bidi override always."""
    from hwnas.cli import shell_path
    from hwnas.predictors.printable import one_line

    family = "\U0001f468\u200d\U0001f469\u200d\U0001f467"  # man, woman, girl: one glyph
    word = "\u0645\u06cc\u200c\u062e\u0648\u0627\u0645"  # Persian: its prefix kept apart
    name = f"{family} {word}.yaml"
    assert hwnas("search", str(tmp_path / name)) == 1
    assert capsys.readouterr().err == (
        f"hwnas: error: {tmp_path}/{name}: cannot read: No such file or directory\n"
    )
    assert shell_path(name) == f"'{name}'"
    hiding = {
        "run\u200d": "run\\u200d",
        "\u200cx": "\\u200cx",
        "a\u200d\u200db": "a\\u200d\\u200db",
        "a \u200cb": "a \\u200cb",
        "a\u200d\u202eb": "a\\u200d\\u202eb",
    }
    assert {text: one_line(text) for text in hiding} == hiding


@pytest.mark.parametrize(
    "name",
    [
        FORGING,
        "a b's \\ $HOME",
        "-x\r\u0085y",
        "c1\u0080start",  # the first C1 control: \u0080 ($'\x80' is a byte, no character)
        "it's\\\nhere",
        "plain.yaml",
        "donn\u00e9es \u2014 ok",
        *HIDING,
    ],
)
def test_a_pasted_path_is_the_path_and_one_line(name: str) -> None:
    """The advice's command (`resume with: hwnas search PATH --resume`) read back by a shell
    names the very file, on one line: in plain quotes a newline was kept raw, splitting the
    advice in two, and a terminal's escape went to the terminal; now such a path is quoted
    as $'...' with the characters escaped, which bash reads back as they were."""
    from hwnas.cli import shell_path

    quoted = shell_path(name)
    assert quoted.isprintable() and ("$'" in quoted) == (not name.isprintable())
    env = {**os.environ, "LC_ALL": "C.UTF-8"}
    said = subprocess.run(
        ["bash", "-c", f"printf %s {quoted}"], capture_output=True, env=env, check=True
    ).stdout.decode()
    assert said == (f"./{name}" if name.startswith("-") else name)


def test_a_new_run_refuses_a_journal_in_a_home_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """`storage: {journal: ~/j.log}` passed as a path inside the run directory and made a
    folder named `~` there (a `~` in every other path of an experiment is a home folder)."""
    exp = latency_experiment(tmp_path, "[fp32]")
    exp.write_text(exp.read_text() + "storage: {journal: ~/j.log}\n")
    capsys.readouterr()
    assert hwnas("search", str(exp), "--quiet") == 1
    assert capsys.readouterr().err.strip() == (
        f"hwnas: error: {exp}: line 9: storage.journal: '~/j.log' starts with '~', but the "
        "journal is a file inside the run directory, not in a home folder; name it as one, "
        "such as study.log"
    )
    assert not (tmp_path / "run").exists()


def test_a_w4a8_winner_says_its_latency_was_timed_as_int8(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """Where the user reads a w4a8 candidate's measured latency (status, pareto, the exported
    config) they are told ONNX Runtime timed its w4a8 blocks as int8."""
    space = tmp_path / "tiny2d.yaml"
    space.write_text((DATA / "tiny2d.yaml").read_text().replace("[fp32, int8]", "[w4a8]"))
    exp = tmp_path / "exp.yaml"
    timing = "{warmup: 1, runs: 3, rounds: 1}"
    exp.write_text(
        f"name: w4\nspace: {space}\n"
        f"evaluator: {{name: latency, settings: {{latency: {timing}}}}}\n"
        "objectives: [{metric: latency_ms, direction: min}]\n"
        f"searcher: random\nevaluations: 1\nrun_dir: {tmp_path / 'run'}\n"
    )
    assert hwnas("search", str(exp), "--quiet") == 0
    said = "w4a8 blocks timed as int8 (ONNX Runtime has no 4-bit CPU kernel)"
    for command in ("status", "pareto"):
        capsys.readouterr()
        assert hwnas(command, str(tmp_path / "run")) == 0
        assert said in " ".join(capsys.readouterr().out.split())
    assert hwnas("export", str(tmp_path / "run"), "-o", str(tmp_path / "export")) == 0
    (config,) = (tmp_path / "export").glob("*.json")
    assert json.loads(config.read_text())["metric_sources"]["latency_ms"].endswith(said)


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One complete run of `latency_experiment(folder, "[fp32]")` (8 evaluations), shared by
    the tests that only read it; a test that edits or resumes a run copies it first
    (`copy_of`)."""
    folder = tmp_path_factory.mktemp("finished")
    assert hwnas("search", str(latency_experiment(folder, "[fp32]")), "--quiet") == 0
    return folder / "run"


def copy_of(finished_run: Path, tmp_path: Path) -> tuple[Path, Path]:
    """A copy of the shared finished run in tmp_path, and its experiment file (the shared
    run's, with `run_dir` pointing at the copy): (exp, run)."""
    run = tmp_path / "run"
    shutil.copytree(finished_run, run)
    exp = tmp_path / "exp.yaml"
    text = (finished_run.parent / "exp.yaml").read_text()
    exp.write_text(text.replace(f"run_dir: {finished_run}", f"run_dir: {run}"))
    assert f"run_dir: {run}\n" in exp.read_text()
    return exp, run


def test_the_predictor_searcher_goes_on_past_candidates_the_table_cannot_price(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """It scored its pool with the latency table, which raised for every w4a8 candidate and
    ended the search (and each resume) once the initial candidates were in."""
    exp = latency_experiment(tmp_path, "[fp32, int8, w4a8]")
    exp.write_text(
        exp.read_text()
        .replace("searcher: random", "searcher: {name: predictor, settings: {initial: 2}}")
        .replace("evaluations: 8", "evaluations: 17")
    )
    with pytest.warns(UserWarning, match="latency: .*not at w4a8, .*candidates that use them"):
        assert hwnas("search", str(exp), "--quiet") == 0
    assert "17 evaluations (" in capsys.readouterr().out
    from hwnas.experiments import load

    ok = load(tmp_path / "run").trials.sort_values("number")["status"].eq("ok").to_numpy()
    # uniform samples until two succeeded (most have a w4a8 block); then the pool keeps
    # only candidates the table prices, and every one proposed succeeds
    from_the_pool = ok[np.flatnonzero(ok)[1] + 1 :]
    assert len(from_the_pool) >= 5 and from_the_pool.all(), ok


def test_search_retry_failed_evaluates_the_failures_again_and_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`hwnas search` had no `--retry-failed`: candidates that failed by chance (here the
    first two evaluations) stayed failed in their run. With it they are evaluated again, the
    end line counts them as retried, and `status`, `pareto` and `export` show the retries'
    results, each architecture once."""
    from hwnas.evaluators.latency import LatencyEvaluator
    from hwnas.evaluators.metrics import Metrics

    exp, run = latency_experiment(tmp_path, "[fp32, int8]"), tmp_path / "run"
    evaluate, calls = LatencyEvaluator.evaluate, []

    def killed_twice(self, arch, budget=None):
        calls.append(arch.key)
        return Metrics.failed("the worker was killed") if len(calls) <= 2 else evaluate(self, arch)

    monkeypatch.setattr(LatencyEvaluator, "evaluate", killed_twice)
    assert hwnas("search", str(exp), "--quiet") == 0
    note = capsys.readouterr().err.splitlines()[-1]  # no failure a retry repeats: none named
    assert note.startswith(f"hwnas: note: 2 evaluations failed; why: hwnas status {run}; where ")
    assert note.endswith("--retry-failed evaluates them again") and " of them ended " not in note
    failed = sorted(load(run).trials.query("status == 'failed'")["number"])
    assert len(failed) == 2 and hwnas("search", str(exp), "--quiet", "--retry-failed") == 0
    out, err = capsys.readouterr()
    assert f"run {run}: 8 evaluations (0 failed, 2 retried, 2 by this driver)" in out
    assert "failed" not in err and calls[8:] == calls[:2]  # each retried once
    assert hwnas("status", str(run)) == 0
    assert "evaluations: 8 of 8 (ok 8, failed 0, retried 2, in flight 0" in capsys.readouterr().out
    facts = status_json(run, capsys)
    assert (facts["evaluations"]["failed"], facts["evaluations"]["retried"]) == (0, 2)
    assert facts["failures"] == [] and facts["feasible"] == 8
    assert hwnas("pareto", str(run), "--json") == 0
    front = json.loads(capsys.readouterr().out)["front"]
    archs = [json.dumps(p["arch"], sort_keys=True) for p in front]
    assert front and len(set(archs)) == len(archs)
    assert not {p["trial"] for p in front} & set(failed)
    assert hwnas("export", str(run), "--trial", str(failed[0]), "-o", str(tmp_path / "x.json")) == 1
    said = f"trial {failed[0]} failed (the worker was killed) and its architecture was evaluated"
    assert said in capsys.readouterr().err
    assert hwnas("search", "--help") == 0 and "--retry-failed" in capsys.readouterr().out


def test_a_retry_failed_search_stopped_mid_retry_says_to_resume_retrying(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A `--retry-failed` search stopped before its retries were done said to resume with
    `hwnas search EXP --resume`, which retries nothing: the run had its evaluations, so the
    command pasted said "already complete" and left the failures failed. The command said
    goes on retrying."""
    from hwnas.evaluators.latency import LatencyEvaluator
    from hwnas.evaluators.metrics import Metrics

    exp, run = latency_experiment(tmp_path, "[fp32, int8]"), tmp_path / "run"
    evaluate, calls = LatencyEvaluator.evaluate, []

    def killed_twice_then_interrupted(self, arch, budget=None):
        calls.append(arch.key)
        if len(calls) == 10:  # the second retry: a Ctrl-C
            raise KeyboardInterrupt
        return Metrics.failed("the worker was killed") if len(calls) <= 2 else evaluate(self, arch)

    monkeypatch.setattr(LatencyEvaluator, "evaluate", killed_twice_then_interrupted)
    assert hwnas("search", str(exp), "--quiet") == 0
    assert hwnas("search", str(exp), "--quiet", "--retry-failed") == 130
    resume = capsys.readouterr().err.split("resume with: ")[1].strip()
    assert resume == f"hwnas search {exp} --resume --retry-failed"
    assert hwnas(*shlex.split(resume)[1:], "--quiet") == 0
    assert f"run {run}: 8 evaluations (0 failed, 2 retried, 1 by this driver)" in (
        capsys.readouterr().out
    )
    assert calls[8:] == [*calls[:2], calls[1]]  # the second: interrupted, then resumed


def test_failures_a_retry_repeats_are_not_advised_a_retry(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Candidates whose table row holds a NaN fail each time they are looked up, yet the
    search's end advised `--retry-failed` for them as for a killed worker. It says a retry
    repeats them (as it does), and advises one for the other failures alone."""
    import pandas as pd

    from hwnas.evaluators.metrics import Metrics
    from hwnas.evaluators.tabular import TabularEvaluator

    cells = np.arange(15625)
    acc = np.where(cells % 2 == 0, np.nan, 90.0)
    pd.DataFrame({"arch_idx": cells, "acc": acc}).to_csv(tmp_path / "t.csv", index=False)
    exp, run = tmp_path / "exp.yaml", tmp_path / "run"
    exp.write_text(
        f"name: gaps\nspace: nasbench201\nbenchmark: {tmp_path / 't.csv'}\n"
        "evaluator: {name: tabular, settings: {tabular: {latency: false, metrics: {accuracy: "
        "acc}}}}\nobjectives: [{metric: accuracy, direction: max}]\n"
        f"searcher: random\nevaluations: 6\nrun_dir: {run}\n"
    )
    assert hwnas("search", str(exp), "--quiet") == 0
    failed = load(run).trials.query("status == 'failed'")
    assert (
        0 < len(failed) < 6
        and failed["reason"].eq("metrics ['accuracy'] missing or not finite").all()
    )
    assert capsys.readouterr().err.splitlines()[-1] == (
        f"hwnas: note: {counted(len(failed), 'evaluation')} failed; why: hwnas status {run}; "
        "each ended without a finite value of a metric the run needs (a NaN in a benchmark "
        "table, say), which evaluating it again (--retry-failed) repeats"
    )
    assert hwnas("search", str(exp), "--quiet", "--retry-failed") == 0  # as the note says
    assert f"({len(failed)} failed, {len(failed)} retried, " in capsys.readouterr().out
    # a failure by chance beside them (a killed worker, as in the tests above)
    evaluate, calls = TabularEvaluator.evaluate, []

    def killed_once(self, arch, budget=None):
        calls.append(arch.key)
        return Metrics.failed("the worker was killed") if len(calls) == 1 else evaluate(self, arch)

    monkeypatch.setattr(TabularEvaluator, "evaluate", killed_once)
    exp.write_text(exp.read_text().replace(f"run_dir: {run}", f"run_dir: {tmp_path / 'r2'}"))
    assert hwnas("search", str(exp), "--quiet") == 0
    reasons = load(tmp_path / "r2").trials.query("status == 'failed'")["reason"]
    alike = int(reasons.str.endswith("not finite").sum())
    assert 0 < alike == len(reasons) - 1
    assert capsys.readouterr().err.splitlines()[-1] == (
        f"hwnas: note: {len(reasons)} evaluations failed; why: hwnas status {tmp_path / 'r2'}; "
        f"{alike} of them ended without a finite value of a metric the run needs (a NaN in a "
        "benchmark table, say), which evaluating them again repeats; where the others failed "
        f"by chance (a killed worker, a timeout), hwnas search {exp} --retry-failed evaluates "
        "them again"
    )


def test_failed_evaluations_are_reported_and_all_failed_is_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    exp = latency_experiment(tmp_path, "[fp32, int8, w4a8]")
    # said before any candidate failed, as `hwnas: warning: latency: ...` (its own prefix,
    # `latency: warning: `, hid it from a user filtering a log for hwnas's warnings)
    script = f"from hwnas.cli import main\nmain(['search', {str(exp)!r}, '--quiet'])"
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "8 evaluations (" in result.stdout and "(0 failed" not in result.stdout  # w4a8
    failed = load(tmp_path / "run").trials["status"].eq("failed").sum()
    why = (  # a retry reads the same table (a resumed run refuses a changed one): it was
        # advised "where they failed by chance (a killed worker, a timeout)"
        f"hwnas: note: {counted(failed, 'evaluation')} failed; why: hwnas status {tmp_path}/run; "
        "each ended at a part the latency table has no measurement for, which evaluating it "
        "again (--retry-failed) repeats\n"
    )
    assert why in result.stderr  # the closing line's count alone named no way to the reasons
    with pytest.warns(UserWarning, match="^latency: .*not at w4a8"):  # said again
        assert hwnas("search", str(exp), "--quiet", "--retry-failed") == 0
    assert f"({failed} failed, {failed} retried, " in capsys.readouterr().out  # as it says
    assert (
        f"hwnas: warning: latency: {DATA / 'tiny2d_ort.csv'}: measured at fp32, int8 only, "
        "not at w4a8, which space 'tiny2d' also offers; candidates that use them will fail "
        # following the profile's advice while the run lasts was refused at its next resume
        "(the run keeps the file as it is: measured into, it stops the run from resuming; a "
        "run with the completed file needs a new run_dir)\n"
    ) in result.stderr
    assert hwnas("status", str(tmp_path / "run")) == 0
    out = capsys.readouterr().out
    assert "no measurement for block" in out  # the reasons, by count
    assert f"latency_ms: {TINY2D_PREDICTED}" in out
    assert "elapsed: " in out and "supernet" not in out  # a random search trains none
    assert load(tmp_path / "run").supernet_searches().empty

    from hwnas.predictors import LUTPredictor, PredictorError, load_predictor

    def search_with_a_table_lacking(folder: Path, dropped, device: bool = True) -> str:
        """Search the tiny space with its profile's table saved as a predictor, without the
        entries `dropped` names; the warnings it gave."""
        folder.mkdir()
        lut = LUTPredictor.from_profile(DATA / "tiny2d_ort.csv")
        lut.measured_on = lut.measured_on if device else None
        saved = lut.save(folder / "lut.json")  # complete: a table lacking parts is not saved
        record = json.loads(saved.read_text())
        record["table"] = {k: v for k, v in record["table"].items() if not dropped(k)}
        saved.write_text(json.dumps(record))
        exp = latency_experiment(folder, "[fp32, int8]")
        exp.write_text(
            exp.read_text().replace(
                f"profile: {DATA / 'tiny2d_ort.csv'}", f"predictor: {folder / 'lut.json'}"
            )
        )
        with pytest.warns(UserWarning) as said:
            assert hwnas("search", str(exp)) == 0
        return "\n".join(str(w.message) for w in said)

    fp32_only = tmp_path / "fp32_only"  # a predictor whose table lacks int8, space tiny2d's
    assert (
        f"latency: {fp32_only / 'lut.json'}: its measurements (a table, or the "
        "networks it was fitted on) have no int8 blocks, which space 'tiny2d' also offers; "
        "candidates that use them will fail (the run keeps the file as it is: fitted again, "
        "it stops the run from resuming"  # a predictor is not measured into, as a profile is
    ) in search_with_a_table_lacking(fp32_only, lambda k: k.endswith("|int8"))

    no_w24 = tmp_path / "no_w24"  # stage 1 gained width 24 after the table was measured,
    warned = search_with_a_table_lacking(  # and it was saved from Python without its device
        no_w24, lambda k: "|s1|w24|" in k or "->24" in k, device=False
    )
    err = capsys.readouterr().err
    assert (  # how to record it: a file of an earlier hwnas has none either
        "lut.json predicts latencies on a device it does not record (no measured_on: an earlier "
        "hwnas saved none; hwnas latency fit of its profile records it, as does setting it "
        "before saving)\n"
    ) in err
    assert (
        f"latency: {no_w24 / 'lut.json'}: its table lacks 18 parts of space 'tiny2d' "
        "(changed since it was profiled?), e.g. block|s1|w24|conv|k3|d1|e1|fp32"
    ) in warned
    lut = load_predictor(no_w24 / "lut.json")
    with pytest.raises(PredictorError, match="none\\); the space has it, the profile not"):
        lut.predict([lut.space.canonical({**lut.space.sample(0), "s1.width": 24})])

    only = tmp_path / "only_w4a8"
    only.mkdir()
    with pytest.warns(UserWarning, match="^latency: .*not at w4a8"):
        assert hwnas("search", str(latency_experiment(only, "[w4a8]"))) == 1
    err = capsys.readouterr().err
    assert f"hwnas: error: every evaluation failed; why: hwnas status {only / 'run'}" in err
    assert hwnas("status", str(only / "run")) == 0
    failures = [line for line in capsys.readouterr().out.splitlines() if line.startswith("failed")]
    assert len(failures) == 4 and "other reasons" in failures[-1]  # the 4th and later in one
    assert sum(int(line.split()[1].removeprefix("x").rstrip(":")) for line in failures) == 8
    # each frequent reason names its trials, which `export --trial N` takes to look at one
    # (each alike but for its numbers: the block the table lacks)
    causes = load(only / "run").trials.set_index("number")["reason"].map(reason_cause)
    for line in failures[:3]:
        numbers, reason = line.split(" (trial", 1)[1].split("): ", 1)
        numbers = [int(n) for n in numbers.removeprefix("s").split(", ")]
        cause = reason_cause(reason.split(" (the latest of ")[0])
        assert numbers and all(causes[n] == cause for n in numbers), line
    assert hwnas("pareto", str(tmp_path / "run"), "--objectives", "key:min") == 1
    assert "no metric 'key' in this run; it has " in capsys.readouterr().err  # not a metric
    assert hwnas("pareto", str(only / "run"), "--html", str(only / "r.html")) == 0
    out, err = capsys.readouterr()
    assert out.strip() == f"{only / 'run'}: no feasible successful evaluation (of 8)"
    assert "nothing to plot" in err and not (only / "r.html").exists()  # all failed
    assert hwnas("export", str(only / "run"), "--trial", "0") == 0
    err = capsys.readouterr().err
    assert "note: the evaluation of trial 0 failed (PredictorError" in err
    (config,) = (only / "run" / "export").glob("trial0-*.json")
    run = json.loads(config.read_text())["run"]  # the file itself says so too
    assert run["status"] == "failed" and not run["feasible"] and "w4a8" in run["reason"]


def test_a_failed_candidate_is_looked_at_as_the_guide_says(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """Section 4's way to a failed candidate: `status` names its trial, `export --trial N`
    writes it, `hwnas train` fails it again, and in Python `load(RUN).arch(N)` scored by an
    evaluator made with the run's settings gives the stored reason."""
    from hwnas.evaluators import get_evaluator

    run = tmp_path / "run"
    exp = tmp_path / "exp.yaml"
    exp.write_text(
        f"name: lr\nspace: {DATA / 'tiny2d.yaml'}\ndataset: digits\n"
        "evaluator: {name: train, settings: {train: {steps: 3, batch_size: 32, lr: 1.0e+9}}}\n"
        "objectives: [{metric: accuracy, direction: max}]\n"
        f"searcher: random\nevaluations: 1\nrun_dir: {run}\n"
    )
    assert hwnas("search", str(exp), "--quiet") == 1  # it diverged
    [reason] = load(run).trials["reason"]
    assert reason.startswith("diverged: loss is nan")
    assert hwnas("status", str(run)) == 0
    assert f"failed x1 (trial 0): {reason}" in capsys.readouterr().out
    assert hwnas("export", str(run), "--trial", "0", "-o", str(tmp_path / "x")) == 0
    [config] = (tmp_path / "x").glob("trial0-*.json")
    capsys.readouterr()
    assert hwnas("train", str(config)) == 1
    assert f"hwnas: error: {reason}" in capsys.readouterr().err
    results = load(run)
    settings = results.config.evaluator.settings["train"]
    evaluator = get_evaluator(
        "train", results.space, dataset="digits", seed=results.config.seed, **settings
    )
    assert evaluator.evaluate(results.arch(0)).reason == reason


def test_the_choices_figure_labels_each_value_once_in_numeric_order(tmp_path: Path) -> None:
    """Blocks beyond a stage's depth leave NaN, so some kernel columns are floats: kernel 3
    was one bar as '3' and another as '3.0' (and labels sorted as strings: 11 before 3)."""
    from hwnas.experiments import load, plots

    space = tmp_path / "kernels.yaml"
    space.write_text(
        (DATA / "tiny2d.yaml")
        .read_text()
        .replace("conv: {kernels: [3], dilations: [1]}", "conv: {kernels: [3, 5], dilations: [1]}")
        .replace("[fp32, int8]", "[fp32]")
    )
    exp = tmp_path / "exp.yaml"
    exp.write_text(
        f"name: k\nspace: {space}\nevaluator: zero_cost\ndataset: digits\n"
        "objectives: [{metric: params, direction: min}, {metric: zc_synflow, direction: max}]\n"
        f"searcher: random\nevaluations: 12\nrun_dir: {tmp_path / 'run'}\n"
    )
    assert hwnas("search", str(exp), "--quiet") == 0
    results = load(tmp_path / "run")
    assert results.trials["s0.b1.kernel"].isna().any()  # a depth-1 stage: float columns
    figure = results.figures()["choices"]
    assert figure.layout.title.text == "Choices along the Pareto front (share of blocks)"
    kernels = [t for t in figure.data if t.xaxis == "x2"]
    assert {t.name for t in kernels} == {"all feasible", "front"}
    for trace in kernels:
        assert list(trace.x) == sorted(trace.x, key=lambda k: (k == "None", k != "None" and int(k)))
        assert set(trace.x) <= {"3", "5", "None"}, list(trace.x)  # no '3.0'
    assert [plots._numbers_first(v) for v in (3, 11, "None")] == sorted(
        plots._numbers_first(v) for v in ("None", 11, 3)
    )


def test_search_says_nothing_is_feasible_after_its_summary_line(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`hwnas search` said that nothing is feasible after its summary line, as its other
    notes; moved down into `run_experiment` (for Python, which heard nothing), the note came
    before it. On one stream (a terminal, `2>&1`): the summary line, then the note, once."""
    exp = constrained_experiment(tmp_path, "[fp32]", "[{metric: latency_ms, max: 0.000001}]")
    capsys.readouterr()
    monkeypatch.setattr(sys, "stderr", sys.stdout)  # both streams in the order written
    assert hwnas("search", str(exp), "--quiet") == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[-2].startswith(f"run {tmp_path / 'run'}: 8 evaluations (0 failed, ")
    assert lines[-1].startswith("hwnas: note: no successful evaluation met the constraint ")
    assert sum("nothing is feasible" in line for line in lines) == 1


def test_a_run_nothing_feasible_in_still_plots_its_points(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """figures() was {} and `pareto --html` wrote nothing while every successful evaluation
    broke a constraint: the one time a user most needs to see how far off they are."""
    from hwnas.experiments import load

    exp = constrained_experiment(tmp_path, "[fp32]", "[{metric: latency_ms, max: 0.000001}]")
    capsys.readouterr()
    assert hwnas("search", str(exp), "--quiet") == 0
    results = load(tmp_path / "run")
    assert results.pareto().empty
    # the search's end said so: its last line counted the 8 as any others, and nothing more
    least = metric_text(results.trials["latency_ms"].min())
    assert capsys.readouterr().err.splitlines()[-1] == (
        f"hwnas: note: no successful evaluation met the constraint latency_ms <= 1e-06 (least: "
        f"{least}): nothing is feasible; details: hwnas status {tmp_path / 'run'}"
    )
    points = {t.name: len(t.x) for t in results.figures()["pareto_2d"].data}
    assert points == {"infeasible": 8}  # no empty traces beside them
    report = tmp_path / "report.html"
    capsys.readouterr()
    assert hwnas("pareto", str(tmp_path / "run"), "--html", str(report), "--json") == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["front"] == []
    assert err == f"wrote {report} (infeasible points only: no front)\n"
    assert "<p>No feasible successful evaluation.</p>" in report.read_text()
    # why the front is empty, in the line that says so: every success broke a constraint (no
    # "yet", which the run, ended by its evaluations, does not have)
    said = "no feasible successful evaluation (of 8; 8 succeeded but broke a constraint)"
    assert hwnas("pareto", str(tmp_path / "run")) == 0
    assert capsys.readouterr().out.strip() == f"{tmp_path / 'run'}: {said}"
    assert hwnas("status", str(tmp_path / "run")) == 0
    assert said in capsys.readouterr().out.splitlines()
    facts = status_json(tmp_path / "run", capsys)
    assert (facts["feasible"], facts["broke_constraints"], facts["best"]) == (0, 8, {})


def test_read_commands_use_the_recorded_settings_of_an_edited_run_experiment(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """The run folder's experiment.yaml, edited to another objective, made status show a
    front of an objective the run never searched for, without a word."""
    exp = latency_experiment(tmp_path, "[fp32]")
    assert hwnas("search", str(exp), "--quiet") == 0
    snapshot = tmp_path / "run" / "experiment.yaml"
    snapshot.write_text(snapshot.read_text().replace("metric: latency_ms", "metric: params"))
    capsys.readouterr()
    with pytest.warns(UserWarning, match=r"experiment.yaml: edited since the run started \("):
        assert hwnas("status", str(tmp_path / "run")) == 0
    assert "objectives: latency_ms (min)" in capsys.readouterr().out
    exp.write_text(exp.read_text().replace("evaluations: 8", "evaluations: 9"))
    assert hwnas("search", str(exp), "--quiet") == 0  # the snapshot is the search's again
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert hwnas("status", str(tmp_path / "run")) == 0
    assert "evaluations: 9 of 9" in capsys.readouterr().out


def test_a_local_run_resumes_from_its_own_copy_of_its_experiment(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """The run folder's experiment.yaml held the local executor's max_in_flight and
    max_retries at their defaults, which the local executor refuses: searched with (the
    experiment file lost, say), it stopped with 'executor: max_in_flight, max_retries need
    kind: ray'."""
    exp = latency_experiment(tmp_path, "[fp32]")
    assert hwnas("search", str(exp), "--quiet") == 0
    snapshot = tmp_path / "run" / "experiment.yaml"
    snapshot.write_text(snapshot.read_text().replace("evaluations: 8", "evaluations: 9"))
    capsys.readouterr()
    assert hwnas("search", str(snapshot), "--resume", "--quiet") == 0
    assert "need kind: ray" not in capsys.readouterr().err
    assert hwnas("status", str(tmp_path / "run")) == 0
    assert "evaluations: 9 of 9" in capsys.readouterr().out


def started_project(old: Path, monkeypatch: pytest.MonkeyPatch, more: str = "") -> None:
    """A project folder `old` with a space YAML, a `.npz` dataset and a latency profile of its
    own, named by relative paths, and a run of 3 evaluations started there in `run` (with
    the experiment's lines `more`)."""
    old.mkdir()
    shutil.copy(DATA / "tiny2d.yaml", old)
    shutil.copy(DATA / "tiny2d_ort.csv", old / "profile.csv")
    shutil.copy(DATA / "tiny2d_ort.json", old / "profile.json")
    x, y = np.random.default_rng(0).normal(size=(120, 1, 8, 8)), np.arange(120) % 10
    np.savez(old / "data.npz", x_train=x[:100], y_train=y[:100], x_test=x[100:], y_test=y[100:])
    (old / "exp.yaml").write_text(
        "name: moved\nspace: tiny2d.yaml\ndataset: data.npz\nevaluator: [zero_cost, latency]\n"
        "latency: {profile: profile.csv}\nobjectives: [{metric: latency_ms, direction: min}]\n"
        f"searcher: random\nevaluations: 3\nrun_dir: run\n{more}"
    )
    monkeypatch.chdir(old)
    assert hwnas("search", "exp.yaml", "--quiet") == 0


def test_a_moved_project_resumes_its_run_and_still_checks_its_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    """A run records its inputs by absolute path: once its project folder was moved, the same
    files at their new paths were "other settings", and the run could not be resumed. Files
    holding what the run recorded are followed, and recorded at their new paths, so a later
    change to one is still refused; a moved file with other content is a change."""
    old = tmp_path / "old"
    started_project(old, monkeypatch)
    new = old.rename(tmp_path / "new")
    monkeypatch.chdir(new)
    exp = new / "exp.yaml"
    exp.write_text(exp.read_text().replace("evaluations: 3", "evaluations: 4"))
    capsys.readouterr()
    assert hwnas("search", "exp.yaml", "--resume", "--quiet") == 0
    moved = ", ".join(
        f"{field} {old / name} -> {new / name}"
        for field, name in [
            ("space", "tiny2d.yaml"),
            ("dataset", "data.npz"),
            ("latency.profile", "profile.csv"),
        ]
    ).replace(", ", "; ")
    assert (
        "hwnas: note: run run reads inputs at other paths than it started with, their content "
        f"the same ({moved}): it goes on and records the new paths\n"
    ) in capsys.readouterr().err
    assert hwnas("status", "run") == 0
    out = capsys.readouterr().out
    assert f"space {new / 'tiny2d.yaml'})" in out and "evaluations: 4 of 4" in out
    profile = new / "profile.csv"
    measured = profile.read_bytes()
    profile.write_bytes(measured.replace(b"0.022537500058206206", b"0.032537500058206206", 1))
    exp.write_text(exp.read_text().replace("evaluations: 4", "evaluations: 5"))
    assert hwnas("search", "exp.yaml", "--quiet") == 1
    assert f"the latency file {profile} changed since the run started" in capsys.readouterr().err
    profile.write_bytes(measured)
    shutil.copytree(new, tmp_path / "copy")  # with other data
    monkeypatch.chdir(tmp_path / "copy")
    data = dict(np.load("data.npz"))
    np.savez("data.npz", **data | {"x_train": data["x_train"] + 1})
    assert hwnas("search", "exp.yaml", "--quiet") == 1
    err = capsys.readouterr().err
    copied = tmp_path / "copy" / "data.npz"
    assert "was started with other settings of dataset (dataset: " in err
    # a move, but of other data: the path alone looked like the change
    assert f"now '{copied}'; {copied}: not the content the run recorded); use" in err
    assert "reads inputs at other paths" not in err
    assert len(load(tmp_path / "copy" / "run").trials) == 4


def test_a_latency_file_moved_alone_is_followed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    """A profile moved into a folder of its own, the other inputs where they were, is the
    same input as a whole project moved: the run goes on, recording its new path; moved with
    other measurements, it is a change."""
    old = tmp_path / "old"
    started_project(old, monkeypatch)
    (old / "profiles").mkdir()
    for name in ("profile.csv", "profile.json"):
        (old / name).rename(old / "profiles" / name)
    exp = old / "exp.yaml"
    text = exp.read_text().replace("evaluations: 3", "evaluations: 4")
    exp.write_text(text.replace("profile: profile.csv", "profile: profiles/profile.csv"))
    profile = old / "profiles" / "profile.csv"
    measured = profile.read_bytes()
    profile.write_bytes(measured.replace(b"0.022537500058206206", b"0.032537500058206206", 1))
    capsys.readouterr()
    assert hwnas("search", "exp.yaml", "--resume", "--quiet") == 1
    assert f"{profile}: not the content the run recorded" in capsys.readouterr().err
    profile.write_bytes(measured)
    assert hwnas("search", "exp.yaml", "--resume", "--quiet") == 0
    moved = f"latency.profile {old / 'profile.csv'} -> {old / 'profiles' / 'profile.csv'}"
    assert f"the same ({moved}): it goes on" in capsys.readouterr().err


def test_a_moved_run_of_an_earlier_hwnas_says_it_recorded_no_content_of_its_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    """A run started before hwnas recorded its latency file's digest cannot know a moved
    copy of the file as its own: the refusal said the file, unchanged, was "not the content
    the run recorded"; it says the run recorded none, and where the file resumes it."""
    old = tmp_path / "old"
    started_project(old, monkeypatch)
    with closing(sqlite3.connect(old / "run" / "study.db")) as db, db:  # as on 2026-12-01
        db.execute("DELETE FROM study_user_attributes WHERE key = 'hwnas_latency_digests'")
    new = old.rename(tmp_path / "new")
    monkeypatch.chdir(new)
    exp = new / "exp.yaml"
    exp.write_text(exp.read_text().replace("evaluations: 3", "evaluations: 4"))
    capsys.readouterr()
    assert hwnas("search", "exp.yaml", "--quiet") == 1
    err = capsys.readouterr().err
    assert "was started with other settings of latency (latency.profile: " in err
    assert (
        f"{new / 'profile.csv'}: the run (started by an earlier hwnas) recorded nothing of its "
        f"content to know it by elsewhere; it resumes with the file at {old / 'profile.csv'}); "
    ) in err
    assert "not the content the run recorded" not in err


def test_a_shared_database_run_reads_alike_from_each_project_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    """A study in a shared database (`storage.url`) continued from another copy of its project
    records that copy's input paths: every read of the run in the first copy then warned that
    its experiment.yaml was "edited since the run started", and named the other copy's
    files, though its own hold the same."""
    shared = f"storage: {{url: 'sqlite:///{tmp_path / 'shared.db'}'}}\n"
    started_project(tmp_path / "a", monkeypatch, shared)
    shutil.copytree(tmp_path / "a", tmp_path / "b", ignore=shutil.ignore_patterns("run"))
    monkeypatch.chdir(tmp_path / "b")
    exp = Path("exp.yaml")
    exp.write_text(exp.read_text().replace("evaluations: 3", "evaluations: 4"))
    assert hwnas("search", "exp.yaml", "--quiet") == 0
    # the study, which the other copy's run folder continues too, not this copy's folder
    said = "hwnas: note: study 'moved' in storage.url reads inputs at other paths than it"
    assert said in capsys.readouterr().err
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "edited since the run started"
        results = load(tmp_path / "a" / "run")
        assert results.config.space.name == str(tmp_path / "a" / "tiny2d.yaml")
        assert len(results.trials) == 4
    data = dict(np.load("data.npz"))  # a file with other content is still a change
    np.savez("other.npz", **data | {"x_train": data["x_train"] + 1})
    copy = Path("run/experiment.yaml")
    copy.write_text(copy.read_text().replace("b/data.npz", "b/other.npz"))
    with pytest.warns(UserWarning, match=r"edited since the run started \(dataset: "):
        assert load("run").config.dataset == str(tmp_path / "b" / "data.npz")


def test_a_complete_moved_run_keeps_its_record_until_it_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    """A complete run resumed from its moved project keeps its copy of its experiment (with
    the old paths), and so its record: the record alone took the new paths, and every read
    of the run after warned that its experiment.yaml was "edited since the run started".
    The new paths are recorded once the run goes on."""
    old = tmp_path / "old"
    started_project(old, monkeypatch)
    new = old.rename(tmp_path / "new")
    monkeypatch.chdir(new)
    capsys.readouterr()
    assert hwnas("search", "exp.yaml", "--resume") == 0
    said = capsys.readouterr()
    assert "is already complete: 3 evaluations" in said.out
    assert "reads inputs at other paths" not in said.err
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "edited since the run started"
        assert load("run").config.dataset == str(old / "data.npz")
    exp = new / "exp.yaml"
    exp.write_text(exp.read_text().replace("evaluations: 3", "evaluations: 4"))
    assert hwnas("search", "exp.yaml", "--resume", "--quiet") == 0
    assert "reads inputs at other paths" in capsys.readouterr().err
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert load("run").config.dataset == str(new / "data.npz")


def test_a_changed_latency_source_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    exp = latency_experiment(tmp_path, "[fp32]")
    assert hwnas("search", str(exp)) == 0
    device = "predicts latencies on Intel(R) Xeon(R) Processor (2 cores), onnxruntime-cpu"
    err = capsys.readouterr().err
    assert f"latency: {DATA / 'tiny2d_ort.csv'} {device}" in err
    assert "the searcher uses it" not in err  # the evaluations are its predictions
    lut = tmp_path / "lut.json"
    assert hwnas("latency", "fit", str(DATA / "tiny2d_ort.csv"), "-o", str(lut)) == 0
    text = exp.read_text().replace(f"profile: {DATA / 'tiny2d_ort.csv'}", f"predictor: {lut}")
    exp.write_text(text.replace("evaluations: 8", "evaluations: 12"))
    assert hwnas("search", str(exp)) == 1
    err = capsys.readouterr().err
    assert "was started with other settings of latency (latency.predictor: unset, now " in err
    # every field that changed, what it was and what it is
    assert f"now '{lut!s}'; latency.profile: '{DATA / 'tiny2d_ort.csv'}', now unset); use" in err
    assert hwnas("status", str(tmp_path / "run")) == 0
    assert "evaluations: 8 of 8" in capsys.readouterr().out  # the snapshot was kept


def test_the_start_line_says_when_the_evaluations_measure_what_the_profile_predicts(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """With the latency evaluator measuring (`predictor: null`), the line said only that the
    profile predicts, as if the stored latencies were its predictions."""
    exp = latency_experiment(tmp_path, "[fp32]")
    measuring = "evaluator: {name: latency, settings: {latency: {predictor: null}}}"
    text = exp.read_text().replace("evaluator: latency", measuring)
    exp.write_text(text.replace("evaluations: 8", "evaluations: 1"))
    assert hwnas("search", str(exp)) == 0
    err = capsys.readouterr().err
    assert f"latency: {DATA / 'tiny2d_ort.csv'} predicts latencies on Intel(R) Xeon(R)" in err
    scored = "latency_ms is measured by each evaluation on its own machine (onnxruntime-cpu, "
    said = "precision mixed, 1 thread(s), batch 1, thread clock)"
    assert f"; the searcher uses it, while {scored}{said}" in err
    trials = load(tmp_path / "run").trials
    assert trials["latency_ms"].notna().all()
    # a measurement keeps its steadiness and the load it was taken at (a busy machine runs
    # it slow), and status says the load
    assert (trials["latency_variation"] >= 0).all() and (trials["load_per_core"] >= 0).all()
    assert hwnas("status", str(tmp_path / "run")) == 0
    load_per_core = trials["load_per_core"].iloc[0]
    said = f"latency_ms: measured at {load_per_core:.2f} load per core"  # a single value
    assert said in capsys.readouterr().out


def test_a_run_reads_its_inputs_from_any_directory(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Inputs named relative to where `hwnas search` ran are stored absolute in the run."""
    exp = latency_experiment(tmp_path, "[fp32]")
    for name in ("tiny2d_ort.csv", "tiny2d_ort.json"):
        (tmp_path / name).write_bytes((DATA / name).read_bytes())
    text = (
        exp.read_text().replace(f"{tmp_path}/", "").replace(str(DATA / "tiny2d_ort"), "tiny2d_ort")
    )
    exp.write_text(text)
    assert "space: tiny2d.yaml" in text and "profile: tiny2d_ort.csv" in text
    assert "run_dir: run" in text
    monkeypatch.chdir(tmp_path)
    assert hwnas("search", "exp.yaml") == 0
    snapshot = (tmp_path / "run" / "experiment.yaml").read_text()
    assert f"name: {tmp_path / 'tiny2d.yaml'}" in snapshot
    assert f"profile: {tmp_path / 'tiny2d_ort.csv'}" in snapshot

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    capsys.readouterr()
    assert (
        hwnas("export", str(tmp_path / "run"), "--top", "1", "--format", "ONNX", "-o", "out") == 0
    )
    assert len(list((elsewhere / "out").glob("*.onnx"))) == 1

    # a run stored before: its experiment holds the relative paths, and resuming it from the
    # directory it was started in is the same experiment
    monkeypatch.chdir(tmp_path)
    storage = f"sqlite:///{tmp_path / 'run' / 'study.db'}"
    study = optuna.load_study(study_name="lat", storage=storage)
    study.set_user_attr(
        "hwnas_experiment", ExperimentConfig.model_validate(yaml.safe_load(text)).to_data()
    )
    exp.write_text(text.replace("evaluations: 8", "evaluations: 10"))
    assert hwnas("search", "exp.yaml") == 0
    assert "10 evaluations (" in capsys.readouterr().out


#: the tabular evaluator's experiment, of the latency one `latency_experiment` writes
TABULAR = [
    ("space: {proj}/tiny2d.yaml", "space: nasbench201"),
    ("latency: {{profile: {data}}}\n", ""),
    ("evaluator: latency", "evaluator: tabular\nbenchmark: nb.csv"),
]


@pytest.mark.parametrize(
    "field, written, changes",
    [
        ("space", "tiny2d.yaml", [("space: {proj}/tiny2d.yaml", "space: tiny2d.yaml")]),
        ("latency.profile", "data/p.csv", [("profile: {data}", "profile: data/p.csv")]),
        ("latency.predictor", "p.json", [("profile: {data}", "predictor: p.json")]),
        (
            "dataset",
            "d.npz",
            [("evaluator: latency", "evaluator: [latency, zero_cost]\ndataset: d.npz")],
        ),
        ("benchmark", "nb.csv", TABULAR),
    ],
)
def test_a_missing_relative_input_says_where_it_was_looked_for(
    field: str,
    written: str,
    changes: list[tuple[str, str]],
    tmp_path: Path,
    capsys: pytest.CaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An input named relative to the experiment file's folder, searched from elsewhere
    (`hwnas search proj/exp.yaml`), was said missing as the file names it ("space:
    tiny2d.yaml: cannot read: No such file or directory", "evaluator: NAS-Bench-201 table
    nb.csv does not exist"), with no word that relative paths are read from the current
    directory."""
    proj = tmp_path / "proj"
    proj.mkdir()
    exp = latency_experiment(proj, "[fp32]")
    text = exp.read_text()
    for old, new in changes:
        old, new = (c.format(proj=proj, data=DATA / "tiny2d_ort.csv") for c in (old, new))
        assert old in text
        text = text.replace(old, new)
    exp.write_text(text)
    monkeypatch.chdir(tmp_path)
    here = Path.cwd()  # tmp_path as the system gives the current directory: links resolved
    assert hwnas("search", "proj/exp.yaml", "--quiet") == 1
    line = next(i for i, t in enumerate(text.splitlines(), 1) if f": {written}" in t)
    beside = " (which has it: proj/tiny2d.yaml from here)" if field == "space" else ""
    assert capsys.readouterr().err == (
        f"hwnas: error: proj/exp.yaml: line {line}: {field}: {written}: no such file "
        f"{here / written}: a relative path is read from the current directory {here}, not "
        f"the experiment file's folder{beside}\n"
    )
    assert not (proj / "run").exists()


def test_a_space_named_without_suffix_says_the_experiment_files_folder_has_its_file(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`space: sub/tiny2d` beside proj/sub/tiny2d.yaml, searched from proj's parent, was only
    an "unknown space": named with its suffix, or from proj, the file is hinted."""
    proj = tmp_path / "proj"
    (proj / "sub").mkdir(parents=True)
    exp = latency_experiment(proj, "[fp32]")
    (proj / "tiny2d.yaml").rename(proj / "sub" / "tiny2d.yaml")
    exp.write_text(exp.read_text().replace(f"space: {proj}/tiny2d.yaml", "space: sub/tiny2d"))
    monkeypatch.chdir(tmp_path)
    here = Path.cwd()  # tmp_path as the system gives the current directory: links resolved
    assert hwnas("search", "proj/exp.yaml", "--quiet") == 1
    assert capsys.readouterr().err.endswith(
        "unknown space 'sub/tiny2d'; built-in spaces: conv1d, conv2d, nasbench201, "
        "nasbench201-pruned (did you mean the file proj/sub/tiny2d.yaml? A relative path is "
        f"read from the current directory {here}, not the experiment file's folder)\n"
    )
    (proj / "sub" / "tiny2d.yaml").rename(proj / "sub" / "tiny2d.yml")  # as get_space tries
    assert hwnas("search", "proj/exp.yaml", "--quiet") == 1
    assert "(did you mean the file proj/sub/tiny2d.yml? A" in capsys.readouterr().err
    monkeypatch.chdir(proj)  # get_space's own hint, unchanged, and the only one
    assert hwnas("search", "exp.yaml", "--quiet") == 1
    assert capsys.readouterr().err.endswith(
        "unknown space 'sub/tiny2d' (did you mean the file sub/tiny2d.yml?); built-in spaces: "
        "conv1d, conv2d, nasbench201, nasbench201-pruned\n"
    )
    assert not (proj / "run").exists()


def test_a_run_keeps_the_space_it_was_started_with(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """An edited space file is refused on resume (a comment is no edit), and read commands
    use the run's copy."""
    exp = latency_experiment(tmp_path, "[fp32]")
    assert hwnas("search", str(exp)) == 0
    space_file = tmp_path / "tiny2d.yaml"
    assert (tmp_path / "run" / "space.yaml").read_text() == space_file.read_text()
    started_with = f"# my notes on it\n{space_file.read_text()}"
    space_file.write_text(started_with)
    exp.write_text(exp.read_text().replace("evaluations: 8", "evaluations: 10"))
    assert hwnas("search", str(exp)) == 0  # the same space, commented
    space_file.write_text(started_with.replace("[8, 16]", "[8, 24]", 1))
    assert started_with != space_file.read_text()
    exp.write_text(exp.read_text().replace("evaluations: 10", "evaluations: 12"))
    capsys.readouterr()
    with pytest.warns(UserWarning, match="latency: .*12 of the 45 parts"):  # width 24
        assert hwnas("search", str(exp)) == 1
    err = capsys.readouterr().err
    assert f"the space file {space_file} changed since the run started" in err
    copy = tmp_path / "run" / "space.yaml"
    copy.unlink()  # read commands write it again from the storage, not from the edited file
    with pytest.warns(UserWarning, match=f"{copy} was missing: written again from the run's"):
        assert hwnas("status", str(tmp_path / "run")) == 0
    assert yaml.safe_load(copy.read_text()) == yaml.safe_load(started_with)  # not the edit
    copy.unlink()  # a run folder it cannot be written to (a folder in its place stands for
    copy.mkdir()  # a read-only run: tests run as root, who may write anywhere)
    with pytest.warns(UserWarning, match="space.yaml is missing and cannot be written again"):
        assert hwnas("status", str(tmp_path / "run")) == 0
    assert "evaluations: 10 of 10" in capsys.readouterr().out
    copy.rmdir()
    with pytest.warns(UserWarning, match="was missing: written again"):
        assert hwnas("status", str(tmp_path / "run")) == 0
    space_file.unlink()  # the run does not need it any more
    assert hwnas("status", str(tmp_path / "run")) == 0
    assert "evaluations: 10 of 10" in capsys.readouterr().out
    assert hwnas("export", str(tmp_path / "run"), "--top", "1") == 0
    (config,) = (tmp_path / "run" / "export").glob("*.json")
    assert json.loads(config.read_text())["space"]["source"] == copy.read_text()


def test_read_commands_pass_over_an_edited_space_copy_in_the_run(
    finished_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """The run's space.yaml edited after the run (wider stages, say) was read as it was:
    status, pareto and export described, and exported, other networks than those evaluated.
    The space the storage recorded is used, with a warning; a comment is no edit."""
    _, run = copy_of(finished_run, tmp_path)
    copy = run / "space.yaml"
    started_with = copy.read_text()
    copy.write_text(f"# my notes\n{started_with}")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert hwnas("status", str(run)) == 0
    copy.write_text(started_with.replace("width: [8, 16]", "width: [32, 64]", 1))
    with pytest.warns(UserWarning, match=f"{copy}: edited since the run started; the space"):
        assert hwnas("export", str(run), "--top", "1") == 0
    (config,) = (run / "export").glob("*.json")
    assert json.loads(config.read_text())["space"]["source"] == started_with
    with pytest.warns(UserWarning, match="edited since the run started"):
        assert hwnas("pareto", str(run)) == 0
    assert "Pareto front of" in capsys.readouterr().out


def test_reading_an_edited_run_again_and_again_keeps_one_private_space_copy(
    finished_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each read of a run whose space.yaml was edited made a temporary folder holding the
    stored space, kept until the process ended: a notebook polling `load(run)` for hours
    filled the temporary folder. One copy serves every read."""
    _, run = copy_of(finished_run, tmp_path)
    copy = run / "space.yaml"
    copy.write_text(copy.read_text().replace("width: [8, 16]", "width: [32, 64]", 1))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    with pytest.warns(UserWarning, match="edited since the run started"):
        sources = {load(run).space.source for _ in range(3)}
    assert len(sources) == 1  # one copy (made by this test, or by an earlier read of that text)
    assert len(list(tmp_path.glob("hwnas-space-*"))) <= 1


@pytest.mark.parametrize("source", ["profile", "predictor"])
def test_a_run_refuses_a_latency_file_whose_contents_changed(
    source: str, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """A refitted predictor or a re-measured profile under the same name would mix two
    latency models in one run; restored, the run goes on."""
    profile = tmp_path / "profile.csv"
    for suffix in (".csv", ".json"):
        profile.with_suffix(suffix).write_bytes(
            (DATA / "tiny2d_ort").with_suffix(suffix).read_bytes()
        )
    exp = latency_experiment(tmp_path, "[fp32]")
    changed = profile
    if source == "predictor":
        changed = tmp_path / "lut.json"
        assert hwnas("latency", "fit", str(profile), "--kind", "lut", "-o", str(changed)) == 0
    text = exp.read_text().replace(f"profile: {DATA / 'tiny2d_ort.csv'}", f"{source}: {changed}")
    exp.write_text(text)
    assert f"{source}: {changed}" in text
    assert hwnas("search", str(exp)) == 0
    started_with = changed.read_bytes()
    header, first, *rest = profile.read_text().splitlines()
    fields = first.split(",")
    rounds = header.split(",").index("round_medians_ms")  # what the LUT takes of a part
    fields[rounds] = ";".join(str(2 * float(ms)) for ms in fields[rounds].split(";"))
    profile.write_text("\n".join([header, ",".join(fields), *rest]) + "\n")
    if source == "predictor":  # refitted under the same name
        assert hwnas("latency", "fit", str(profile), "--kind", "lut", "-o", str(changed)) == 0
    assert changed.read_bytes() != started_with
    exp.write_text(exp.read_text().replace("evaluations: 8", "evaluations: 10"))
    capsys.readouterr()
    assert hwnas("search", str(exp)) == 1
    assert f"the latency file {changed} changed since the run started" in capsys.readouterr().err
    assert len(load(tmp_path / "run").trials) == 8  # nothing was added
    changed.write_bytes(started_with)
    assert hwnas("search", str(exp)) == 0
    assert len(load(tmp_path / "run").trials) == 10


def test_a_run_refuses_a_dataset_file_whose_contents_changed(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same .npz path with other data (relabelled, replaced) would mix two datasets. The
    run's values saved in other types (labels as int32) are said to be that, where they were
    said to have changed alone, as arrays of other values are, on resume and on export."""
    rng = np.random.default_rng(0)
    arrays = {
        "x_train": rng.normal(size=(30, 1, 40)),
        "y_train": np.arange(30) % 3,
        "x_test": rng.normal(size=(6, 1, 40)),
        "y_test": np.arange(6) % 3,
    }
    data = tmp_path / "data.npz"
    np.savez(data, **arrays)
    exp = tmp_path / "exp.yaml"
    text = (
        "name: npz\nspace: {name: conv1d, classes: 3}\ndataset: data.npz\n"
        "evaluator: {name: zero_cost, settings: {zero_cost: {proxies: [synflow], batch_size: "
        "16}}}\nobjectives: [{metric: zc_synflow, direction: max}]\nsearcher: random\n"
        f"executor: {{kind: local}}\nevaluations: 2\nrun_dir: {tmp_path / 'run'}\n"
    )
    exp.write_text(text)
    monkeypatch.chdir(tmp_path)
    assert hwnas("search", "exp.yaml") == 0
    np.savez(data, **{**arrays, "y_train": rng.permutation(arrays["y_train"])})
    exp.write_text(text.replace("evaluations: 2", "evaluations: 3"))
    capsys.readouterr()
    assert hwnas("search", "exp.yaml") == 1
    assert f"the dataset file {data} changed since the run started" in capsys.readouterr().err
    assert len(load(tmp_path / "run").trials) == 2  # nothing was added
    labels = {y: arrays[y].astype(np.int32) for y in ("y_train", "y_test")}
    np.savez(data, **{**arrays, **labels})  # the same values in other types: said so
    assert hwnas("search", "exp.yaml") == 1
    assert (
        f"the dataset file {data} changed since the run started (the same values in other "
        "types: y_train, y_test are int32 where the run read int64): save them in the run's "
        "types again"
    ) in capsys.readouterr().err
    time.sleep(1.1)  # a zip's entries keep their time: the file's bytes differ, its arrays not
    np.savez(data, **arrays)  # the data it started with: the run goes on
    assert hwnas("search", "exp.yaml") == 0
    assert len(load(tmp_path / "run").trials) == 3
    from hwnas.evaluators.datasets import load_dataset

    original = load_dataset(data).standardisation
    np.savez(data, **{**arrays, "x_train": arrays["x_train"] * 2})
    for changed in ("rescaled", "deleted"):  # the scaling the run started with, recorded
        data.unlink(missing_ok=changed == "deleted")
        assert hwnas("export", "run", "-o", changed) == 0
        (config,) = (tmp_path / changed).glob("*.json")
        record = json.loads(config.read_text())["data"]
        assert record["dataset"] == str(data) and "note" not in record
        assert record["standardisation"]["mean"] == list(original.mean)
        assert record["standardisation"]["std"] == list(original.std)
    # a run that recorded no scaling (started before hwnas did) never gets other data's
    with sqlite3.connect(tmp_path / "run" / "study.db") as db:
        db.execute("DELETE FROM study_user_attributes WHERE key = ?", (DATASET_SCALING,))
    capsys.readouterr()
    assert hwnas("export", "run", "-o", "old") == 0
    warning = "hwnas: warning: no input standardisation in the export: not read at export: "
    assert warning + f"dataset file {data} does not exist" in capsys.readouterr().err
    np.savez(data, **{**arrays, "x_train": arrays["x_train"] * 2})
    assert hwnas("export", "run", "-o", "old2") == 0
    assert "its arrays changed since the run started" in capsys.readouterr().err
    np.savez(data, **{**arrays, "x_test": arrays["x_test"].astype(np.float16)})
    assert hwnas("export", "run", "-o", "old3") == 0  # float16 keeps no random float64 values
    assert "its arrays changed since the run started\n" in capsys.readouterr().err
    np.savez(data, **{**arrays, "y_test": arrays["y_test"].astype(np.float32)})
    assert hwnas("export", "run", "-o", "old4") == 0
    assert (
        "its arrays changed since the run started (the same values in other types: y_test is "
        "float32 where the run read int64)"
    ) in capsys.readouterr().err


def test_reading_a_run_without_storage_creates_none(
    finished_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    copy_of(finished_run, tmp_path)
    db = tmp_path / "run" / "study.db"
    db.unlink()
    capsys.readouterr()
    assert hwnas("status", str(tmp_path / "run")) == 1
    assert capsys.readouterr().err.strip() == (
        f"hwnas: error: {db}: not found (the run has no stored results)"
    )
    assert not db.exists()
    db.touch()  # an empty file: read commands do not write Optuna's tables into it
    assert hwnas("status", str(tmp_path / "run")) == 1
    assert (
        capsys.readouterr().err.strip()
        == f"hwnas: error: {db}: empty (the run has no stored results)"
    )
    assert db.stat().st_size == 0
    db.write_text("not a database")
    assert hwnas("pareto", str(tmp_path / "run")) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"hwnas: error: {db}: cannot open") and "\n" not in err
    db.unlink()  # another program's SQLite database: read commands wrote Optuna's tables in
    with sqlite3.connect(db) as other:
        other.execute("CREATE TABLE notes (text TEXT)")
    other.close()
    assert hwnas("status", str(tmp_path / "run")) == 1
    assert capsys.readouterr().err.strip() == (
        f"hwnas: error: {db}: a SQLite database without Optuna's tables (another program's?), "
        "not a run's stored results"
    )
    with sqlite3.connect(db) as other:
        tables = [row[0] for row in other.execute("SELECT name FROM sqlite_master")]
    other.close()
    assert tables == ["notes"]
    db.unlink()  # a SQLite database of no tables: status wrote Optuna's tables in
    with closing(sqlite3.connect(db)) as other:
        other.execute("PRAGMA user_version = 7")  # a header and a page, as any database has
    before = db.read_bytes()
    assert hwnas("status", str(tmp_path / "run")) == 1
    assert capsys.readouterr().err.strip() == (
        f"hwnas: error: {db}: a SQLite database without Optuna's tables (another program's?), "
        "not a run's stored results"
    )
    assert db.read_bytes() == before


@needs_nb201
def test_a_search_never_writes_its_tables_into_another_programs_database(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """An experiment file whose storage url names another program's SQLite database (sent by
    someone, or a slip of the path): a search wrote Optuna's tables into it and turned on
    its write-ahead log, as only the read commands refused it."""
    db = tmp_path / "notes.db"
    with closing(sqlite3.connect(db)) as other, other:
        other.execute("CREATE TABLE notes (text TEXT)")
    exp = tmp_path / "exp.yaml"
    exp.write_text(
        "name: t\nspace: nasbench201\n"
        "evaluator: {name: tabular, settings: {tabular: {cost: false, latency: false}}}\n"
        "objectives: [{metric: accuracy, direction: max}]\n"
        f"searcher: random\nevaluations: 2\nrun_dir: {tmp_path / 'run'}\n"
        f"storage: {{url: 'sqlite:///{db}'}}\n"
    )
    assert hwnas("search", str(exp), "--quiet") == 1
    assert capsys.readouterr().err.strip() == (
        f"hwnas: error: {db}: a SQLite database without Optuna's tables (another program's?), "
        "not a run's stored results"
    )
    with closing(sqlite3.connect(db)) as other:
        tables = [row[0] for row in other.execute("SELECT name FROM sqlite_master")]
        (mode,) = other.execute("PRAGMA journal_mode").fetchone()
    assert (tables, mode) == (["notes"], "delete")


def test_read_commands_leave_a_study_db_of_optunas_own_tools_as_it_was(
    finished_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """A study.db in SQLite's default rollback journal, as Optuna's own tools write one
    (`optuna.copy_study`, an older Optuna install sharing it): `hwnas status` switched it to
    write-ahead logging, a write by a read command. One whose schema an older Optuna set up
    (Optuna 3.0 and 3.1's revision) is refused naming the file and Optuna's way to upgrade
    it, and is not upgraded."""
    _, run = copy_of(finished_run, tmp_path)
    db = run / "study.db"
    with closing(sqlite3.connect(db)) as other:
        other.execute("PRAGMA journal_mode=DELETE")
    before = db.read_bytes()
    assert hwnas("status", str(run)) == 0 and "8 of 8" in capsys.readouterr().out
    assert db.read_bytes() == before
    with closing(sqlite3.connect(db)) as other, other:
        other.execute("UPDATE alembic_version SET version_num = 'v3.0.0.d'")
    before = db.read_bytes()
    assert hwnas("status", str(run)) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"hwnas: error: {db}: cannot open") and "\n" not in err
    assert "Please execute `$ optuna storage upgrade --storage $STORAGE_URL`" in err
    assert db.read_bytes() == before


def test_a_damaged_experiment_yaml_in_a_run_is_said_to_be_written_again_by_a_search(
    finished_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """The run's copy of its experiment, damaged: the error named it but not the way out,
    which the storage makes safe (it keeps what the run recorded)."""
    exp, run = copy_of(finished_run, tmp_path)
    snapshot = run / "experiment.yaml"
    snapshot.write_text("{{{ not yaml")
    for command in (("status", str(run)), ("search", str(exp), "--quiet")):
        assert hwnas(*command) == 1
        err = capsys.readouterr().err
        assert f"{snapshot}: line 1: not valid YAML" in err
        assert "delete it and run `hwnas search` with the experiment file" in err
    snapshot.unlink()
    assert hwnas("search", str(exp), "--quiet") == 0
    assert "(0 failed, 0 by this driver)" in capsys.readouterr().out  # nothing evaluated again
    assert hwnas("status", str(run)) == 0 and "8 of 8" in capsys.readouterr().out


def test_a_run_that_lost_its_experiment_yaml_is_said_to_hold_results(
    finished_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """Was "not a run directory" of a run whose study.db holds every result: a search with
    its experiment file writes the copy again, and nothing is evaluated twice."""
    exp, run = copy_of(finished_run, tmp_path)
    (run / "experiment.yaml").unlink()
    assert hwnas("status", str(run)) == 1
    err = capsys.readouterr().err
    assert f"{run} is not a run directory (no experiment.yaml), but it holds a run's" in err
    assert "study.db: if its experiment.yaml was deleted, `hwnas search` with the run's" in err
    assert hwnas("search", str(exp), "--quiet") == 0
    assert "8 evaluations (0 failed, 0 by this driver)" in capsys.readouterr().out
    assert hwnas("status", str(run)) == 0


def test_a_run_without_its_experiment_yaml_refuses_another_name(
    finished_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """Its experiment.yaml deleted and the experiment renamed, a search started a second
    study in the run's study.db, and status and export then read that one: the stored
    results were hidden."""
    exp, run = copy_of(finished_run, tmp_path)
    (run / "experiment.yaml").unlink()
    name = re.search(r"^name: (.+)$", exp.read_text(), re.M).group(1)
    exp.write_text(exp.read_text().replace(f"name: {name}\n", "name: renamed\n"))
    capsys.readouterr()
    assert hwnas("search", str(exp), "--quiet") == 1
    assert capsys.readouterr().err.strip() == (
        f"hwnas: error: {run / 'study.db'} holds the results of study {name!r}, not "
        f"'renamed' (the run's experiment.yaml is missing): to continue that run, give the "
        f"experiment name: {name}; for another experiment, use a new run_dir"
    )
    studies = optuna.get_all_study_names(f"sqlite:///{run / 'study.db'}")
    assert studies == [name] and not (run / "experiment.yaml").exists()


def test_missing_run_is_one_line_error(
    finished_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch
) -> None:
    """A missing run, a folder with none, and a file given for a run each say so in a line;
    an experiment file names its run (a run's own copy, whose relative run_dir was read from
    the current directory, named a folder that was not its run)."""
    assert hwnas("status", str(tmp_path)) == 1
    err = capsys.readouterr().err.strip()
    assert err == f"hwnas: error: {tmp_path} is not a run directory (no experiment.yaml)"
    assert hwnas("pareto", str(tmp_path / "typo")) == 1
    assert (
        capsys.readouterr().err.strip()
        == f"hwnas: error: {tmp_path / 'typo'}: no such run directory"
    )
    exp = latency_experiment(tmp_path, "[fp32]")  # the experiment file given for its run
    assert hwnas("status", str(exp)) == 1
    err = capsys.readouterr().err.strip()
    said = "is an experiment file, not a run directory: its run is in"
    assert err == f"hwnas: error: {exp} {said} {tmp_path / 'run'}"
    monkeypatch.chdir(tmp_path.parent)  # a run's own copy, whose run_dir reads from here
    copy = Path(tmp_path.name) / "run" / "experiment.yaml"
    shutil.copytree(finished_run, copy.parent)
    copy.write_text(re.sub(r"(?m)^run_dir: .*$", "run_dir: run", copy.read_text()))
    assert hwnas("status", str(copy)) == 1
    assert capsys.readouterr().err.strip() == (
        f"hwnas: error: {copy} is a run's copy of its experiment, not a run directory: the run "
        f"is {copy.parent}"
    )
    assert hwnas("export", str(DATA / "tiny2d_ort.csv")) == 1
    assert capsys.readouterr().err.strip().endswith("tiny2d_ort.csv is a file, not a run directory")


@needs_nb201
def test_search_status_pareto_export_build(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    run = tmp_path / "run"
    exp = tmp_path / "exp.yaml"
    exp.write_text(
        "name: cli\nspace: nasbench201\n"
        "evaluator: {name: tabular, settings: {tabular: {cost: false, latency: false}}}\n"
        "objectives: [{metric: accuracy, direction: max}, "
        "{metric: hw_pixel3_latency_ms, direction: min}]\n"
        f"searcher: random\nevaluations: 12\nrun_dir: {run}\n"
    )
    assert hwnas("search", str(exp), "--quiet") == 0
    assert "12 evaluations (0 failed" in capsys.readouterr().out

    assert hwnas("search", str(exp), "--resume", "--quiet") == 0  # already complete: no-op
    assert capsys.readouterr().out.strip() == (
        f"run {run} is already complete: 12 evaluations (0 failed); raise `evaluations` above "
        f"12 in {exp} to go on"
    )

    assert hwnas("status", str(run)) == 0
    out = capsys.readouterr().out
    assert "evaluations: 12 of 12 (ok 12, failed 0" in out
    reference = ", ".join(f"{v:.6g}" for v in load(run).reference_point())
    said = f"hypervolume (accuracy max, hw_pixel3_latency_ms min): {load(run).hypervolume():.6g}"
    assert f"{said} (reference point, as losses: {reference}; taken from the feasible" in out

    assert hwnas("pareto", str(run), "--json") == 0
    front = json.loads(capsys.readouterr().out)
    assert front["objectives"] == [["accuracy", "max"], ["hw_pixel3_latency_ms", "min"]]
    assert front["hypervolume"] > 0 and front["front"][0]["arch"].startswith("|")
    results = load(run)  # the reference point the hypervolume was taken against, as losses
    assert front["reference"] == results.reference_point().tolist()
    assert front["hypervolume"] == pytest.approx(results.hypervolume(reference=front["reference"]))

    html = tmp_path / "report.html"
    assert (
        hwnas("pareto", str(run), "--objectives", "accuracy,train_time_s:min", "--html", str(html))
        == 0
    )
    out = capsys.readouterr().out
    assert "Pareto front" in out and "plotly" in html.read_text()[:5000]
    view = [("accuracy", "max"), ("train_time_s", "min")]  # the view's own reference point
    reference = ", ".join(f"{v:.6g}" for v in results.reference_point(view))
    assert f"(accuracy max, train_time_s min): {results.hypervolume(view):.6g} (reference" in out
    assert f"(reference point, as losses: {reference}; taken" in out

    for typo in ("acuracy", "acuracy:max"):  # a typo was asked for its direction
        assert hwnas("pareto", str(run), "--objectives", typo) == 1
        said = f"objective {typo!r}: no metric 'acuracy' in this run (did you mean 'accuracy'?)"
        assert said in capsys.readouterr().err

    assert hwnas("export", str(run), "--top", "1", "--trial", "2") == 1
    both = "hwnas: error: give top or trial (--top or --trial), not both"
    assert capsys.readouterr().err.strip() == both

    out_dir = tmp_path / "export"
    assert hwnas("export", str(run), "--top", "2", "-o", str(out_dir)) == 0
    written = sorted(out_dir.glob("*.json"))
    assert len(written) == min(2, len(front["front"]))
    assert hwnas("build", str(written[0])) == 0
    out = capsys.readouterr().out  # a json export names no weights: build says so
    said = "input (batch, 3, 32, 32) -> output (batch, 10); initial weights, untrained (the config"
    assert said in out
    assert hwnas("export", str(run), "--format", "TORCH", "-o", str(tmp_path / "pt")) == 0
    assert "note: the weights are the initial ones" in capsys.readouterr().err  # any case


@needs_nb201
def test_the_choices_figure_of_a_cell_space_counts_cell_edges(tmp_path: Path) -> None:
    """NAS-Bench-201's choices are the ops of a cell's edges, not blocks: its figure said
    "share of blocks"."""
    (tmp_path / "exp.yaml").write_text(
        "name: t\nspace: nasbench201\n"
        "evaluator: {name: tabular, settings: {tabular: {cost: false, latency: false}}}\n"
        "objectives: [{metric: accuracy, direction: max}]\n"
        f"searcher: random\nevaluations: 5\nrun_dir: {tmp_path / 'run'}\n"
    )
    assert hwnas("search", str(tmp_path / "exp.yaml"), "--quiet") == 0
    figure = load(tmp_path / "run").figures()["choices"]
    assert figure.layout.title.text == "Choices along the Pareto front (share of cell edges)"
    assert {v for t in figure.data for v in t.x} <= {
        "none",
        "skip_connect",
        "nor_conv_1x1",
        "nor_conv_3x3",
        "avg_pool_3x3",
    }


@needs_nb201
def test_a_view_leaves_out_evaluations_without_its_metric(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """A view's metric that some evaluations lack (NaN) neither joins the front nor makes the
    hypervolume 0: those rows are left out, and the CLI says how many."""
    import pandas as pd

    table = pd.read_csv(BENCHDATA / "nb201.csv.gz")
    gaps = table["arch_str"].str.startswith("|none~0|")  # a fifth of the cells
    table.loc[gaps, "cifar10_test_200ep"] = float("nan")
    run = _random_search_on(table, "{latency: false}", 40, tmp_path)
    results = load(run)
    view = [("test_accuracy", "max"), ("params", "min")]
    lacking = results.trials["test_accuracy"].isna()
    assert 0 < lacking.sum() < 40  # the seed draws cells of both kinds
    front = results.pareto(view)
    assert len(front) and front["test_accuracy"].notna().all()
    assert len(results.candidates(view)) == 40 - lacking.sum()
    assert np.isfinite(results.reference_point(view)).all()
    assert results.hypervolume(view) > 0
    assert results.progress(view)["hypervolume"].iloc[-1] == results.hypervolume(view)
    assert set(results.figures(view)) >= {"pareto_2d", "parallel"}
    capsys.readouterr()
    assert hwnas("pareto", str(run), "--objectives", "test_accuracy:max,params:min") == 0
    out, err = capsys.readouterr()
    note = f"note: {lacking.sum()} of 40 feasible evaluations have no finite test_accuracy value"
    assert note in err
    assert "nan" not in out.lower()


@needs_nb201
def test_the_figures_say_how_many_evaluations_they_leave_out_for_lacking_a_value(
    tmp_path: Path,
) -> None:
    """Plotly leaves out a point without a value of an axis's metric (a table's missing
    entry): the figures of such a view showed fewer points than the run counted, unsaid.
    Their titles say how many, and for lack of which metric."""
    import pandas as pd

    table = pd.read_csv(BENCHDATA / "nb201.csv.gz")
    table.loc[table["arch_str"].str.startswith("|none~0|"), "cifar10_test_200ep"] = float("nan")
    run = _random_search_on(table, "{latency: false, cost: false}", 40, tmp_path)
    results = load(run)
    lacking = int(results.trials["test_accuracy"].isna().sum())
    assert 0 < lacking < 40 and results.trials["feasible"].all()  # no constraint
    note = f"<br><sup>{lacking} evaluations without a finite test_accuracy not shown</sup>"
    view = ["accuracy", "test_accuracy:max", "hw_pixel3_latency_ms:min"]
    figures = results.figures(view)
    for name in ("pareto_2d", "pareto_3d", "parallel", "choices"):  # the choices' shares too
        assert figures[name].layout.title.text.endswith(note), name
    pareto = figures["pareto_2d"]
    assert sum(len(t.x) for t in pareto.data if t.name != "Pareto front") == 40  # NaN in them
    whole = results.figures(["accuracy", "hw_pixel3_latency_ms:min"])["pareto_2d"]
    assert "not shown" not in whole.layout.title.text  # nothing left out: nothing said
    report = tmp_path / "report.html"
    assert hwnas("pareto", str(run), "--objectives", ",".join(view), "--html", str(report)) == 0
    assert f"{lacking} evaluations without a finite test_accuracy not shown" in report.read_text()


@needs_nb201
@pytest.mark.parametrize("bound", [10, 0.5])
def test_a_metric_is_drawn_on_one_scale_in_every_figure(tmp_path: Path, bound: float) -> None:
    """Each figure scaled a metric by the values it drew: an energy of 1 where feasible and
    1000 where not was logarithmic in the Pareto figure (which greys infeasible points) and
    linear in the progress and parallel ones (feasible evaluations alone). Every figure now
    scales it by every success's values, and draws the same points; with nothing feasible
    (bound 0.5) the parallel coordinates have nothing to scale and are drawn still."""
    import pandas as pd

    table = pd.read_csv(BENCHDATA / "nb201.csv.gz")
    table["energy"] = np.where(table["arch_idx"] % 2 == 0, 1.0, 1000.0)
    tabular = (
        "{latency: false, cost: false, metrics: {accuracy: cifar10_test_200ep, energy: energy}}"
    )
    bounded = f"constraints: [{{metric: energy, max: {bound}}}]\n"
    results = load(_random_search_on(table, tabular, 8, tmp_path, bounded))
    energy = results.trials["energy"]
    assert (energy == 1.0).any() and (energy == 1000.0).any()  # the seed draws both kinds
    figures = results.figures(["accuracy", "energy:min"])
    pareto = figures["pareto_2d"]
    assert pareto.layout.yaxis.type == "log"
    assert sorted(y for t in pareto.data if t.name != "Pareto front" for y in t.y) == sorted(energy)
    for over in ("evaluations", "time"):  # rows: hypervolume, best accuracy, best energy
        assert figures[f"progress_{over}"].layout.yaxis3.type == "log"
    (dimension,) = [d for d in figures["parallel"].data[0].dimensions if d.label == "energy (min)"]
    feasible = results.candidates(["accuracy", "energy:min"])["energy"]
    assert np.allclose(10 ** np.asarray(dimension.values, dtype=float), feasible)
    assert (list(dimension.tickvals or []), list(dimension.range or [])) == (
        ([0, 1], [0, 1]) if bound == 10 else ([], [])  # a decade at least: not a range of 0
    )


@needs_nb201
def test_a_view_whose_successes_have_only_infinite_values_has_nothing_to_plot(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """`plottable` asked for values that are not NaN, where the figures draw finite ones: a
    view of a metric every success has as infinite gave figures without a point, and
    `pareto --html` wrote them as a report of "infeasible points only"."""
    import pandas as pd

    table = pd.read_csv(BENCHDATA / "nb201.csv.gz")
    table["cifar10_test_200ep"] = np.inf
    run = _random_search_on(table, "{latency: false, cost: false}", 6, tmp_path)
    results = load(run)
    assert np.isinf(results.trials["test_accuracy"]).all()
    assert results.figures(["accuracy", "test_accuracy:max"]) == {}
    report = tmp_path / "report.html"
    capsys.readouterr()
    view = ["pareto", str(run), "--objectives", "accuracy,test_accuracy:max"]
    assert hwnas(*view, "--html", str(report)) == 0
    assert f"nothing to plot, {report} not written" in capsys.readouterr().err
    assert not report.exists()


@needs_nb201
def test_an_exported_config_is_strict_json_whatever_the_metrics_hold(tmp_path: Path) -> None:
    """A table's infinite value (here of a metric no objective uses) was exported as
    `Infinity`, which Python writes but JSON has not: jq, JavaScript and `hwnas train`'s
    readers in other languages refused the file. It is left out, as a missing value is."""
    import pandas as pd

    table = pd.read_csv(BENCHDATA / "nb201.csv.gz")
    table["robust"] = np.where(table["arch_idx"] % 2 == 0, np.inf, 1.0)
    tabular = "{latency: false, cost: false, metrics: {accuracy: cifar10valid_valid_acc_200ep, "
    run = _random_search_on(table, tabular + "robust: robust}}", 6, tmp_path)
    robust = load(run).trials["robust"]
    assert np.isinf(robust).any() and (robust == 1.0).any()  # the seed draws both kinds
    out = tmp_path / "export"
    for trial in range(6):
        assert hwnas("export", str(run), "--trial", str(trial), "-o", str(out)) == 0

    def refuse(constant: str) -> None:
        raise ValueError(f"{constant} is not JSON")

    configs = [json.loads(p.read_text(), parse_constant=refuse) for p in out.glob("*.json")]
    kept = [c["metrics"]["robust"] for c in configs if "robust" in c["metrics"]]
    assert len(configs) == 6 and kept == [v for v in robust if np.isfinite(v)]


def _random_search_on(
    table, tabular: str, evaluations: int, tmp_path: Path, extra: str = ""
) -> Path:
    """The run folder of a random search of `evaluations` on `table` (an edited NB201 table)
    through `hwnas search`, with the tabular evaluator's `tabular` settings (YAML) and the
    experiment's `extra` lines (constraints)."""
    table.to_csv(tmp_path / "table.csv.gz", index=False)
    run = tmp_path / "run"
    (tmp_path / "exp.yaml").write_text(
        f"name: edited\nspace: nasbench201\nbenchmark: {tmp_path / 'table.csv.gz'}\n"
        f"evaluator: {{name: tabular, settings: {{tabular: {tabular}}}}}\n"
        f"objectives: [{{metric: accuracy, direction: max}}]\n{extra}"
        f"searcher: random\nevaluations: {evaluations}\nrun_dir: {run}\n"
    )
    assert hwnas("search", str(tmp_path / "exp.yaml"), "--quiet") == 0
    return run


def test_status_says_where_a_constrained_latency_came_from(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """A latency_ms that is only constrained (the objective params) was printed as a bound
    without saying whether it was predicted (from which file) or measured, as it is for an
    objective: a bound on a prediction and one on a measurement are not the same promise."""
    exp = latency_experiment(tmp_path, "[fp32, int8]", objective="params")
    exp.write_text(exp.read_text() + "constraints: [{metric: latency_ms, max: 1000}]\n")
    assert hwnas("search", str(exp), "--quiet") == 0
    capsys.readouterr()
    source = f"latency_ms: {TINY2D_PREDICTED}"
    assert hwnas("status", str(tmp_path / "run")) == 0
    assert source in capsys.readouterr().out
    assert source in status_json(tmp_path / "run", capsys)["metric_notes"]


def test_the_report_says_where_latency_came_from_as_pareto_does(
    finished_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """The report's front showed latency_ms without saying it was predicted (from which
    file) or measured (where, how), which `hwnas pareto` prints under its table: a predicted
    and a measured latency can differ by far."""
    html = tmp_path / "report.html"
    assert hwnas("pareto", str(finished_run), "--html", str(html)) == 0
    source = f"latency_ms: {TINY2D_PREDICTED}"
    assert source in capsys.readouterr().out
    assert f"<p>{source}</p>" in html.read_text()


def test_pareto_json_stays_json_with_a_report_and_empty_objectives_are_refused(
    finished_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    run, html = str(finished_run), tmp_path / "report.html"
    assert hwnas("pareto", run, "--json", "--html", str(html)) == 0
    out, err = capsys.readouterr()
    front = json.loads(out)
    assert front["front"] and f"wrote {html}" in err  # stdout is the JSON alone
    assert all(type(row[m]) is int for row in front["front"] for m in ("params", "macs"))
    report = html.read_text()
    assert "plotly" in report[:5000]
    members = counted(len(front["front"]), "member")
    assert f"<h2>Pareto front: {members}</h2>" in report  # the table too
    assert all(f"<td>{row['trial']}</td>" in report for row in front["front"])

    assert hwnas("pareto", run, "--objectives", ",") == 1  # not a table without metrics
    out, err = capsys.readouterr()
    assert not out and "--objectives: give metric:min|max" in err

    # an exported config says its latency is the LUT's prediction, as status and pareto do
    assert hwnas("export", run, "--top", "1", "-o", str(tmp_path / "export")) == 0
    (config,) = (tmp_path / "export").glob("*.json")
    exported = json.loads(config.read_text())
    assert "latency_ms" in exported["metrics"]
    assert exported["metric_sources"] == {"latency_ms": TINY2D_PREDICTED}
    assert hwnas("pareto", run, "--objectives", "latency_ms:min,latency_ms:max") == 1
    assert "objective 'latency_ms:max': latency_ms is given twice" in capsys.readouterr().err


def test_a_new_run_refuses_an_unused_dataset_and_a_latency_source_or_dataset_of_the_searcher(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """Refused when a run starts, before its folder exists; a run stored before stays
    readable, and its export leaves out the data section of a dataset nothing used (export
    wrote mnist1d's 1-channel standardisation for a 3-channel model)."""
    exp = latency_experiment(tmp_path, "[fp32]")
    text, run = exp.read_text(), tmp_path / "run"
    predictor = "searcher: {name: predictor, settings: {latency_predictor: lut.json}}\n"
    searcher_line = text.splitlines().index("searcher: random") + 1
    latency_line = next(line for line in text.splitlines(True) if line.startswith("latency:"))
    for refused, error in (
        (
            text + "dataset: mnist1d\n",
            f"{exp}: line {len(text.splitlines()) + 1}: dataset: no part of this experiment "
            "uses data (evaluator ",
        ),
        (
            text.replace("searcher: random\n", predictor),
            f"{exp}: line {searcher_line}: latency and searcher.settings.latency_predictor: "
            "give one of them",
        ),
        (  # given to the searcher alone, the run would not record its latency source
            text.replace("searcher: random\n", predictor).replace(latency_line, ""),
            f"{exp}: line {searcher_line - 1}: searcher.settings.latency_predictor: give it as "
            "the experiment's `latency` section",
        ),
        (
            text.replace(
                "searcher: random\n",
                "searcher: {name: differentiable, settings: {dataset: digits}}\n",
            ),
            f"{exp}: line {searcher_line}: searcher.settings.dataset: give it as the "
            "experiment's `dataset`",
        ),
    ):
        exp.write_text(refused)
        assert hwnas("search", str(exp), "--quiet") == 1
        assert error in capsys.readouterr().err and not run.exists()
    exp.write_text(text)
    assert hwnas("search", str(exp), "--quiet") == 0
    snapshot = run / "experiment.yaml"  # as a run stored before the refusal has it
    snapshot.write_text(snapshot.read_text() + "dataset: mnist1d\n")
    study = optuna.load_study(study_name="lat", storage=f"sqlite:///{run / 'study.db'}")
    stored = study.user_attrs["hwnas_experiment"]
    study.set_user_attr("hwnas_experiment", {**stored, "dataset": "mnist1d"})
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the stored experiment is the file's: no warning
        assert hwnas("status", str(run)) == 0
    study.set_user_attr("hwnas_experiment", stored)  # one the file was edited from
    with pytest.warns(UserWarning, match="dataset: unset, now 'mnist1d'"):
        assert hwnas("status", str(run)) == 0
        assert hwnas("export", str(run), "-o", str(tmp_path / "out")) == 0
    (config,) = (tmp_path / "out").glob("*.json")
    assert json.loads(config.read_text()).get("data") is None


def test_a_damaged_storage_file_is_named_and_called_damaged(
    finished_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """A page of the results table overwritten: Optuna said only "An exception is raised
    during the commit", naming no file, and a resume was told to run the search again."""
    exp, run = copy_of(finished_run, tmp_path)
    db = run / "study.db"
    with closing(sqlite3.connect(db)) as c:
        size = c.execute("PRAGMA page_size").fetchone()[0]
        query = "SELECT rootpage FROM sqlite_master WHERE name = 'trial_user_attributes'"
        page = c.execute(query).fetchone()[0]
    with db.open("r+b") as f:
        f.seek((page - 1) * size)
        f.write(b"\xff" * size)
    capsys.readouterr()
    for command in (["status", str(run)], ["pareto", str(run)], ["search", str(exp), "--resume"]):
        assert hwnas(*command) == 1
        err = capsys.readouterr().err
        assert f"hwnas: error: {db}: database disk image is malformed; the file is damaged" in err
        assert "restore it from a copy" in err and "run the search again" not in err


def _refused_as_damaged(commands, db: Path, said: str, capsys: pytest.CaptureFixture) -> None:
    """Each of `commands` fails naming the storage `db` and what is unreadable in it
    (`said`), and says to restore it from a copy."""
    for command in commands:
        assert hwnas(*command) == 1, command
        err = capsys.readouterr().err
        assert f"hwnas: error: {db}: {said}" in err, (command, err)
        assert "the storage was edited or damaged; restore it from a copy" in err


def test_an_unreadable_or_mismatched_stored_architecture_names_the_trial_and_the_storage(
    finished_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """Each used to end in the bare exception text ("Unterminated string starting at: line 1
    column 1", "arch record is missing [...]"), or, for a key that is not its architecture's,
    in nothing at all: the run went on with a wrong memo of what it had evaluated."""
    exp = finished_run.parent / "exp.yaml"
    edits = [  # of trial 1 (trial_id 2): attribute, its new JSON text, what the error says
        ("hwnas_arch", '"{\\"choices', "a stored value is not JSON (Unterminated string"),
        ("hwnas_arch", json.dumps('{"choices": 5}'), "trial 1: its architecture is unreadable"),
        ("hwnas_key", json.dumps("0" * 16), "trial 1: its stored key 0000000000000000 is not"),
        # nested past Python's recursion limit: json's bare RecursionError named nothing
        ("hwnas_arch", json.dumps("[" * 5000 + "]" * 5000), "trial 1: its architecture is"),
        ("hwnas_driver", "[" * 5000 + "]" * 5000, "a stored value is JSON nested too deeply"),
    ]
    for n, (attr, value, said) in enumerate(edits):
        run = tmp_path / f"run{n}"
        shutil.copytree(finished_run, run)
        other = exp.read_text().replace("evaluations: 8", "evaluations: 10")
        (run / "exp.yaml").write_text(other.replace(f"run_dir: {finished_run}", f"run_dir: {run}"))
        assert f"run_dir: {run}\n" in (run / "exp.yaml").read_text()
        db = run / "study.db"
        with closing(sqlite3.connect(db)) as c, c:
            edit = "UPDATE trial_user_attributes SET value_json = ? WHERE key = ? AND trial_id = 2"
            assert c.execute(edit, (value, attr)).rowcount == 1
        capsys.readouterr()
        reads = (["status", str(run)], ["export", str(run), "--trial", "1"])
        resume = ["search", str(run / "exp.yaml"), "--resume", "--quiet"]
        _refused_as_damaged((*reads, resume), db, said, capsys)
        with closing(sqlite3.connect(db)) as c:  # the resume claimed nothing
            assert c.execute("SELECT COUNT(*) FROM trials").fetchone()[0] == 8


@pytest.mark.parametrize(
    ("value", "said"),
    [
        ('{"name', "a stored value is not JSON"),
        ("[" * 5000 + "]" * 5000, "a stored value is JSON nested too deeply"),
    ],
)
def test_an_unreadable_record_of_the_run_itself_names_the_storage(
    finished_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture, value: str, said: str
) -> None:
    """A study attribute (what the run was started with) that is not JSON, or is nested past
    Python's recursion limit, ended in json's bare error ("Unterminated string starting at
    ...", "maximum recursion depth exceeded"), naming no file."""
    exp, run = copy_of(finished_run, tmp_path)
    db = run / "study.db"
    with closing(sqlite3.connect(db)) as c, c:
        edit = "UPDATE study_user_attributes SET value_json = ? WHERE key = 'hwnas_experiment'"
        assert c.execute(edit, (value,)).rowcount == 1
    capsys.readouterr()
    commands = (["status", str(run)], ["search", str(exp), "--resume", "--quiet"])
    _refused_as_damaged(commands, db, said, capsys)


@pytest.mark.parametrize(
    ("edit", "said"),
    [
        (
            "UPDATE study_directions SET direction = 'MAXIMISE'",
            "the study's direction is unreadable ('MAXIMISE' is not among",
        ),
        (
            "UPDATE study_user_attributes SET value_json = '3' WHERE key = 'hwnas_versions'",
            "the study's hwnas_versions is int 3, not a dict",
        ),
        (
            "UPDATE study_user_attributes SET value_json = '[1]' WHERE key = 'hwnas_experiment'",
            "the study's hwnas_experiment is list [1], not a dict",
        ),
    ],
)
def test_a_study_direction_or_attribute_edited_by_hand_names_the_storage(
    finished_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture, edit: str, said: str
) -> None:
    """A study direction that is none, or a study attribute of another type than hwnas
    writes, ended in SQLAlchemy's or Python's bare error ("'MAXIMISE' is not among the defined
    enum values", "'list' object has no attribute 'get'"), naming no file."""
    exp, run = copy_of(finished_run, tmp_path)
    db = run / "study.db"
    with closing(sqlite3.connect(db)) as c, c:
        assert c.execute(edit).rowcount >= 1
    capsys.readouterr()
    commands = (["status", str(run)], ["pareto", str(run)])
    _refused_as_damaged((*commands, ["search", str(exp), "--resume", "--quiet"]), db, said, capsys)


@pytest.mark.parametrize(
    ("edit", "said"),
    [  # of trial 1 (trial_id 2): a byte flipped in its row, or an edit
        ("UPDATE trial_params SET param_value = 99 WHERE trial_id = 2", "IndexError"),
        ("UPDATE trial_params SET param_value = 9e999 WHERE trial_id = 2", "OverflowError"),
        ("UPDATE trial_params SET distribution_json = '[1]' WHERE trial_id = 2", "TypeError"),
        ("UPDATE trials SET state = 'COMPLXTE' WHERE trial_id = 2", "LookupError"),
        ("UPDATE trial_values SET value = NULL WHERE trial_id = 2", "AssertionError"),
    ],
)
def test_a_trial_column_optuna_cannot_decode_names_the_storage(
    finished_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture, edit: str, said: str
) -> None:
    """A trial's parameter, distribution, state, time or value that Optuna cannot decode
    ended in its bare error, naming no file: "hwnas: error: tuple index out of range" for a
    parameter outside its choices, "Invalid isoformat string: 'x'"."""
    exp, run = copy_of(finished_run, tmp_path)
    db = run / "study.db"
    with closing(sqlite3.connect(db)) as c, c:
        assert c.execute(edit).rowcount >= 1
    capsys.readouterr()
    reads = (["status", str(run)], ["pareto", str(run)], ["export", str(run), "--trial", "0"])
    resume = ["search", str(exp), "--resume", "--quiet"]
    _refused_as_damaged((*reads, resume), db, f"a stored record is unreadable ({said}", capsys)
    with closing(sqlite3.connect(db)) as c:  # the resume claimed nothing
        assert c.execute("SELECT COUNT(*) FROM trials").fetchone()[0] == 8


def test_an_infinity_edited_into_the_storage_is_named_and_left_out_of_the_front(
    finished_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """A run stores no infinite objective, but an edited file (or another evaluator's metric
    in a view) may hold one: it used to win the front, make the hypervolume infinite and the
    JSON invalid (`Infinity`)."""
    _, run = copy_of(finished_run, tmp_path)
    with closing(sqlite3.connect(run / "study.db")) as c, c:
        edit = "UPDATE trial_user_attributes SET value_json = ? WHERE key = ? AND trial_id = ?"
        c.execute(edit, ("-Infinity", "latency_ms", 1))  # trial 0
        c.execute(edit, ("Infinity", "macs", 2))  # trial 1: not an objective of the run
    capsys.readouterr()
    view = "latency_ms:min,macs:max"
    stored = r"which a run never stores \(latency_ms in trials \[0\]; storage edited"
    with pytest.warns(UserWarning, match=stored):
        assert hwnas("pareto", str(run), "--json", "--objectives", view) == 0
    out, err = capsys.readouterr()
    front = json.loads(out, parse_constant=pytest.fail)  # strict JSON: no Infinity, no NaN
    assert {row["trial"] for row in front["front"]}.isdisjoint({0, 1})
    assert np.isfinite(front["hypervolume"]) and np.isfinite(front["reference"]).all()
    assert "note: 1 of 7 feasible evaluations has no finite macs value" in err
    with pytest.warns(UserWarning, match=stored):
        assert load(run).pareto()["latency_ms"].min() > 0


def test_pareto_report_makes_its_folder_or_fails_before_printing(
    finished_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    run, html = str(finished_run), tmp_path / "new" / "folder" / "report.html"
    assert hwnas("pareto", run, "--json", "--html", str(html)) == 0  # as export -o: folder made
    assert json.loads(capsys.readouterr().out)["front"] and "plotly" in html.read_text()[:5000]

    (tmp_path / "exp.yaml").write_text("a file\n")
    blocked = tmp_path / "exp.yaml" / "report.html"  # a file where its folder would be
    assert hwnas("pareto", run, "--json", "--html", str(blocked)) == 1
    out, err = capsys.readouterr()
    assert not out and f"hwnas: error: --html {blocked}: {blocked.parent} is a file, not a " in err
    folder = tmp_path / "a.html"  # a folder where the file goes
    folder.mkdir()
    assert hwnas("pareto", run, "--html", str(folder)) == 1
    assert f"--html {folder}: cannot write the report: Is a directory" in capsys.readouterr().err
    for own in ("study.db", "experiment.yaml"):  # written over, they lost the run
        before = (finished_run / own).read_bytes()
        assert hwnas("pareto", run, "--html", f"{run}/{own}") == 1
        suffix = Path(own).suffix
        assert f"file name ends in .html, not {suffix} (nothing" in capsys.readouterr().err
        assert (finished_run / own).read_bytes() == before
    assert hwnas("status", run) == 0
    for out_dir in (blocked.parent, blocked):  # export's folder is a file, or below one
        assert hwnas("export", run, "-o", str(out_dir)) == 1
        err = capsys.readouterr().err
        assert f"export folder {out_dir}: {blocked.parent} is a file, not a folder" in err


def test_the_front_table_fits_the_terminal_width(
    finished_run: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:

    def widest_table_line() -> int:
        lines = capsys.readouterr().out.splitlines()
        return max(len(line) for line in lines if line[:1] in "┏┃┡│└")

    monkeypatch.delenv("COLUMNS", raising=False)
    assert hwnas("pareto", str(finished_run)) == 0  # piped: 160 columns
    assert widest_table_line() > 80
    monkeypatch.setenv("COLUMNS", "80")  # as a terminal 80 wide says
    assert hwnas("pareto", str(finished_run)) == 0
    assert widest_table_line() <= 80
    for unusable in ("0", ""):  # as no COLUMNS: with 0, rich printed no table at all
        monkeypatch.setenv("COLUMNS", unusable)
        assert hwnas("pareto", str(finished_run)) == 0
        assert widest_table_line() > 80
    monkeypatch.setenv("COLUMNS", "20")  # narrower: drawn at 80, the terminal wraps it
    assert hwnas("pareto", str(finished_run)) == 0
    first_row = next(line for line in capsys.readouterr().out.splitlines() if line[:1] == "│")
    assert re.match(r"│ \d+ +│ [\d.]+ +│", first_row), first_row  # its trial and latency


def test_the_front_keeps_each_architecture_whole_at_80_columns(
    finished_run: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At 80 columns rich gave the architecture column what the metrics left (23 columns)
    and folded each architecture into five short lines (a NAS-Bench-201 cell string, one
    word, cut mid-name): they are listed under the table instead, one a line. A wide
    terminal's table keeps them in its last column."""
    results = load(finished_run)
    front = results.pareto()
    archs = {int(n): results.describe(results.arch(int(n))) for n in front["number"]}
    assert archs and all(len(arch) > 40 for arch in archs.values())  # more than the room left
    monkeypatch.setenv("COLUMNS", "80")
    assert hwnas("pareto", str(finished_run)) == 0
    lines = capsys.readouterr().out.splitlines()
    assert all(f"trial {n}: {arch}" in lines for n, arch in archs.items())
    assert lines[0] == f"Pareto front of {finished_run}: {len(front)} of 8 evaluations"
    assert max(len(line) for line in lines if line[:1] in "┏┃┡│└") <= 80
    monkeypatch.setenv("COLUMNS", "400")
    assert hwnas("pareto", str(finished_run)) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if line[:1] == "│"]
    assert [row.split("│")[-2].strip() for row in rows] == list(archs.values())


def test_the_front_keeps_an_architecture_in_its_table_exactly_where_it_is_drawn_whole() -> None:
    """An architecture of one long word (a NAS-Bench-201 cell string) stays in the table's
    column at the widths where rich draws it whole, on one line, and is listed under the
    table from one column narrower, where rich folds it mid-word (a column of 40 or more was
    not enough for a longer word)."""
    from hwnas.cli.pareto import _architectures_fit, _front_table
    from hwnas.predictors.rich_parts import Console

    word = "|nor_conv_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|avg_pool_3x3~0|"
    others = _front_table(["trial", "latency_ms"], [["1", "0.5"]])
    drawn = {}
    for width in range(60, 120):
        console = Console(width=width)
        with console.capture() as table:
            console.print(
                _front_table(["trial", "latency_ms", "architecture"], [["1", "0.5", word]])
            )
        drawn[width] = any(word in line for line in table.get().splitlines())
        assert _architectures_fit(console, others, [word]) == drawn[width], width
    assert not all(drawn.values()) and any(drawn.values())
    assert _architectures_fit(Console(width=60), others, ["a short one"])  # in under 40


def test_the_figures_name_each_metrics_unit(finished_run: Path) -> None:
    """The figures titled accuracy without its unit: a metric whose name says none is titled
    with the unit hwnas reports it in (`accuracy (%, max)`); the others keep the name the
    experiment file gives them (`latency_ms`, which a user looks for, not `latency (ms)`)."""
    from hwnas.experiments import plots

    assert plots._metric_text("accuracy", "max") == "accuracy (%, max)"
    assert plots._metric_text("test_accuracy") == "test_accuracy (%)"
    figures = load(finished_run).figures(["latency_ms:min", "size_bytes:min"])
    pareto = figures["pareto_2d"].layout
    assert [pareto.xaxis.title.text, pareto.yaxis.title.text] == [
        "latency_ms (min)",
        "size_bytes (min)",
    ]
    rows = [a.text for a in figures["progress_time"].layout.annotations]
    assert rows == ["hypervolume", "best_latency_ms (min)", "best_size_bytes (min)"]
    dimensions = [d.label for d in figures["parallel"].data[0].dimensions]
    assert dimensions[:4] == ["latency_ms (min)", "size_bytes (min)", "params", "macs"]


def test_files_are_read_as_utf_8_whatever_the_locale(tmp_path: Path) -> None:
    """Experiment, space and exported config files are UTF-8 (the errors say so), but were
    read and written in the locale's encoding: under a C locale without Python's UTF-8 mode
    (ASCII) a space file with a `µs` in its description was refused as "not a text (UTF-8)
    YAML file", and a Latin-1 locale would have read it as other characters."""
    exp = latency_experiment(tmp_path, "[fp32]")
    space = tmp_path / "tiny2d.yaml"
    text = space.read_text(encoding="utf-8")
    space.write_text(text.replace("supernet tests", "supernet tests (µs, é)"), encoding="utf-8")
    exp.write_text("# latence en µs\n" + exp.read_text(encoding="utf-8"), encoding="utf-8")
    script = (
        "from hwnas.cli import main\n"
        f"for args in (['search', {str(exp)!r}, '--quiet'], ['export', {str(tmp_path / 'run')!r},"
        f" '--format', 'yaml', '-o', {str(tmp_path / 'out')!r}]):\n"
        "    try:\n        main(args)\n    except SystemExit as e:\n        assert not e.code\n"
    )
    ascii_locale = {**os.environ, "LC_ALL": "C", "PYTHONUTF8": "0"}
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=ascii_locale
    )
    assert done.returncode == 0, done.stderr
    (config,) = (tmp_path / "out").glob("*.yaml")
    assert "(µs, é)" in config.read_text(encoding="utf-8")
    assert "(µs, é)" in (tmp_path / "run" / "space.yaml").read_text(encoding="utf-8")


def _endless_latency_search(tmp_path: Path) -> Path:
    """An experiment file whose search measures tiny models until it is stopped (its run
    folder `tmp_path / "run"`)."""
    exp = tmp_path / "exp.yaml"
    exp.write_text(
        f"name: t\nspace: {DATA / 'tiny2d.yaml'}\n"
        "evaluator: {name: latency, settings: {latency: {precision: fp32, warmup: 1, runs: 3, "
        "rounds: 1}}}\nobjectives: [{metric: latency_ms, direction: min}]\n"
        f"searcher: random\nevaluations: 10000\nrun_dir: {tmp_path / 'run'}\n"
    )
    return exp


def test_a_search_stopped_with_its_log_reader_exits_as_stopped(tmp_path: Path) -> None:
    """`hwnas search exp.yaml 2>&1 | tee log` and Ctrl-C: the shell stops `tee` too, so the
    live display's last line met a closed pipe, and rich's answer (exit 1) replaced the
    stop's 130, the next messages failing likewise. The run is kept either way."""
    exp = _endless_latency_search(tmp_path)
    search = subprocess.Popen(
        [sys.executable, "-m", "hwnas", "search", str(exp)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "RAY_USAGE_STATS_ENABLED": "0"},
    )
    deadline = time.monotonic() + 120
    # the run stored (its space's copy is written last): a Ctrl-C before it leaves no run for
    # `status`, as on a busy machine two seconds after study.db appeared
    while not (tmp_path / "run" / "space.yaml").exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(2)  # into the loop: the display is up
    search.stdout.close()
    search.stderr.close()  # the reader is gone
    search.send_signal(signal.SIGINT)
    assert search.wait(timeout=120) == 130  # not rich's error 1, nor the SIGINT (see below)
    assert hwnas("status", str(tmp_path / "run")) == 0


def test_a_search_stopped_in_code_run_from_a_string_exits_as_stopped(tmp_path: Path) -> None:
    """CPython takes a KeyboardInterrupt leaving code it runs from a string (dataclasses and
    namedtuple build methods so, in the imports of a search's first evaluations) for one never
    handled, even once caught, and `python -m hwnas` then ended by SIGINT after its stop
    message: about one Ctrl-C in ten gave -2, not 130. Here the Ctrl-C lands in such code as
    the search loop starts: `python -m ctrl_c_in_exec ARGS` is `python -m hwnas ARGS` so."""
    exp = _endless_latency_search(tmp_path)
    (tmp_path / "ctrl_c_in_exec.py").write_text(
        "import runpy, sys\n"
        "fired, looking = [], []\n"
        "def in_loop():\n"  # its own calls raise audit events too: looked at once at a time
        "    looking.append(1)\n"
        "    frame = sys._getframe(2)\n"
        "    while frame is not None and frame.f_code.co_name != '_loop':\n"
        "        frame = frame.f_back\n"
        "    looking.pop()\n"
        "    return frame is not None\n"
        "def ctrl_c(event, args):\n"
        "    if not fired and not looking and in_loop():\n"
        "        fired.append(event)\n"
        "        print('ctrl-c', file=sys.stderr)\n"
        "        exec('import os, signal\\nos.kill(os.getpid(), signal.SIGINT)\\nwhile 1: pass')\n"
        "sys.addaudithook(ctrl_c)\n"
        "runpy.run_module('hwnas', run_name='__main__', alter_sys=True)\n"
    )
    search = subprocess.run(
        [sys.executable, "-m", "ctrl_c_in_exec", "search", str(exp), "--quiet"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={**os.environ, "RAY_USAGE_STATS_ENABLED": "0"},
        timeout=120,
    )
    assert search.stderr.startswith("ctrl-c\nhwnas: interrupted; resume with:"), search.stderr
    assert search.returncode == 130
    assert hwnas("status", str(tmp_path / "run")) == 0


def test_the_front_table_prints_on_an_ascii_stdout(finished_run: Path, tmp_path: Path) -> None:
    """Under PYTHONIOENCODING=ascii (or another encoding short of the run's name), `pareto`
    failed with "'ascii' codec can't encode character" for a run folder named with an
    accent: rich wrote the table's title to stdout itself."""
    run = tmp_path / "résultats"
    shutil.copytree(finished_run, run)
    done = subprocess.run(
        [sys.executable, "-m", "hwnas", "pareto", str(run)],
        capture_output=True,
        env={**os.environ, "PYTHONIOENCODING": "ascii"},
    )
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    assert b"Pareto front of " in done.stdout and b"latency_ms" in done.stdout


def test_a_file_name_the_locale_cannot_encode_is_named_with_the_cure(tmp_path: Path) -> None:
    """Under LC_ALL=C with PYTHONUTF8=0 (an ASCII file-system encoding), a space file named
    `espacé.yaml` in an experiment failed with "'ascii' codec can't encode character '\\xe9'
    in position 6", naming neither the file nor the cause."""
    (tmp_path / "exp.yaml").write_text(
        "name: x\nspace: espac\u00e9.yaml\nevaluator: {name: tabular}\n"
        "objectives: [{metric: accuracy, direction: max}]\nsearcher: random\n"
        "evaluations: 1\nrun_dir: run\n",
        encoding="utf-8",
    )
    ascii_locale = {"LC_ALL": "C", "PYTHONUTF8": "0", "PYTHONCOERCECLOCALE": "0"}
    done = subprocess.run(
        [sys.executable, "-m", "hwnas", "search", "exp.yaml"],
        capture_output=True,
        cwd=tmp_path,
        env={**os.environ, **ascii_locale},
    )
    assert done.returncode == 1 and done.stderr.decode().startswith(
        "hwnas: error: 'espac\u00e9.yaml': ascii cannot encode '\u00e9' in it"
    )
    assert "need a UTF-8 locale (LC_ALL=C.UTF-8) or PYTHONUTF8=1" in done.stderr.decode()


@pytest.mark.parametrize(
    ("error", "said"),
    [
        (MemoryError(), "hwnas: error: out of memory\n"),
        (KeyError("run_dir"), "hwnas: error: KeyError: 'run_dir'\n"),
        (RuntimeError(), "hwnas: error: RuntimeError with no message\n"),
    ],
)
def test_an_error_whose_text_says_nothing_is_named_by_its_type(
    error: Exception, said: str, capsys: pytest.CaptureFixture
) -> None:
    """An error without a message (a `MemoryError()` loading a large dataset) printed
    "hwnas: error: " and nothing more, and a `KeyError` only its bare key."""
    from hwnas.cli import _exit_on_error

    with pytest.raises(SystemExit) as ended:
        _exit_on_error(error)
    assert ended.value.code == 1 and capsys.readouterr().err == said


def test_a_view_of_other_objectives_still_shows_the_runs_own(
    finished_run: Path, capsys: pytest.CaptureFixture
) -> None:
    """`pareto --objectives` of other metrics listed costs beside them but not the objectives
    the run searched for (here latency_ms), the one column a reader compares the view with."""
    run = str(finished_run)
    assert hwnas("pareto", run, "--json", "--objectives", "size_bytes:max,params:min") == 0
    rows = json.loads(capsys.readouterr().out)["front"]
    assert rows and all(list(r)[3:6] == ["size_bytes", "params", "latency_ms"] for r in rows)
    assert hwnas("pareto", run, "--objectives", "size_bytes:max,params:min") == 0
    assert "latency_ms" in capsys.readouterr().out
    figure = load(finished_run).figures(["size_bytes:max", "params:min"])["pareto_2d"]
    assert all("<br>latency_ms: " in text for trace in figure.data for text in trace.text)


def test_a_views_report_lists_the_runs_own_objectives_beside_its_front(
    finished_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """The report's front table of a view (`--objectives size_bytes,params --html`) had the
    view's columns alone, not the objectives the run searched for, which the printed table,
    the JSON and the figures' hover texts show beside them; then the objectives alone, not
    the costs (macs here) they show too, nor the note on where latency_ms came from."""
    html = tmp_path / "view.html"
    view = ("--objectives", "size_bytes:max,params:min")
    assert hwnas("pareto", str(finished_run), *view, "--json", "--html", str(html)) == 0
    row = json.loads(capsys.readouterr().out)["front"][0]
    report = html.read_text()
    header = re.search(r"<thead>.*?</thead>", report, re.S).group()
    columns = ["trial", "size_bytes", "params", "latency_ms", "macs", "architecture"]
    assert re.findall(r"<th>(\w+)</th>", header) == columns
    assert columns[1:-1] == [m for m in row if m not in ("trial", "key", "arch")]  # as --json
    assert f"<p>latency_ms: {TINY2D_PREDICTED}</p>" in report


def test_a_bare_objective_keeps_its_direction_in_the_run(
    finished_run: Path, capsys: pytest.CaptureFixture
) -> None:
    assert hwnas("pareto", "--help") == 0
    help_text = " ".join(capsys.readouterr().out.replace("│", " ").split())
    assert "a bare metric that is one of the run's objectives keeps the run's direction" in (
        help_text
    )
    run = str(finished_run)
    assert hwnas("pareto", run, "--json", "--objectives", "latency_ms,size_bytes:max") == 0
    assert json.loads(capsys.readouterr().out)["objectives"] == [
        ["latency_ms", "min"],
        ["size_bytes", "max"],
    ]
    assert hwnas("pareto", run, "--objectives", "size_bytes") == 1  # no direction to keep
    assert (
        "objective 'size_bytes': not one of the run's objectives, so give its direction: "
        "size_bytes:min or size_bytes:max"
    ) in capsys.readouterr().err


@pytest.mark.parametrize(
    "name",
    [
        "demo",
        "conv1d_mnist1d",
        "conv2d_mnist5k_latency",
        "differentiable",
        pytest.param("nb201_multiobjective", marks=needs_nb201),
    ],
)
def test_examples_build_every_part(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each example's space, searcher and evaluator build from the repository root as the
    guide runs them: a renamed setting or a moved profile fails here, not in a user's run."""
    from hwnas.experiments import load_experiment
    from hwnas.experiments.components import (
        check_executor,
        make_evaluator,
        make_searcher,
        make_space,
    )

    root = Path(__file__).resolve().parents[1]
    monkeypatch.chdir(root)
    config = load_experiment(f"examples/{name}.yaml").with_absolute_inputs(root)
    space = make_space(config)
    check_executor(config)
    assert make_searcher(config, space, progress=False).space is space
    assert make_evaluator(config, space) is not None


def test_a_run_records_its_versions_and_a_resume_with_others_warns(
    finished_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """A changed default or library may make a resumed run search or score otherwise: the
    run keeps the versions it started with, and a driver with others says which."""
    import torch

    exp, run = copy_of(finished_run, tmp_path)
    started = load(run).versions
    assert started["hwnas"] == version("hwnas") and started["torch"] == torch.__version__
    assert started["python"] == platform.python_version()  # 3.12's sum() adds otherwise
    assert hwnas("status", str(run)) == 0
    assert f"started with hwnas {version('hwnas')}, torch {torch.__version__}, " in (
        capsys.readouterr().out
    )
    load(run).study.set_user_attr(
        "hwnas_versions", {**started, "hwnas": "0.0.1", "python": "3.10.0"}
    )
    exp.write_text(exp.read_text().replace("evaluations: 8", "evaluations: 9"))
    now = f"hwnas 0.0.1 \\(now {version('hwnas')}\\), .*python 3.10.0 \\(now "
    with pytest.warns(UserWarning, match=rf"started with {now}"):
        assert hwnas("search", str(exp), "--quiet") == 0
    assert len(load(run).trials) == 9  # warned, not refused
    assert hwnas("export", str(run), "-o", str(tmp_path / "out"), "--top", "1") == 0
    (config,) = (tmp_path / "out").glob("*.json")
    recorded = {**started, "hwnas": "0.0.1", "python": "3.10.0"}
    assert json.loads(config.read_text())["run"]["versions"] == recorded


@pytest.mark.parametrize("record", ["versions without the code's", "no versions"])
def test_a_run_an_earlier_hwnas_started_warns_when_resumed(
    finished_run: Path, tmp_path: Path, record: str
) -> None:
    """hwnas stays 0.1.0 through its development, where the training's defaults changed (a
    demo run started at one commit scored 35 % at 1 epoch, its part resumed at a later one
    60 %): a run's record without the code's digest, as the earlier hwnas that started it
    wrote it (versions without it, or none), says so on resume; its trials stay, and no
    record of today's versions is made up for its stored results."""
    exp, run = copy_of(finished_run, tmp_path)
    earlier = {p: v for p, v in load(run).versions.items() if p not in ("hwnas source", "python")}
    with closing(sqlite3.connect(run / "study.db")) as db, db:
        if record == "no versions":
            db.execute("DELETE FROM study_user_attributes WHERE key = 'hwnas_versions'")
        else:
            db.execute(
                "UPDATE study_user_attributes SET value_json = ? WHERE key = 'hwnas_versions'",
                (json.dumps(earlier),),
            )
    exp.write_text(exp.read_text().replace("evaluations: 8", "evaluations: 9"))
    # the code alone is named: the packages a record lacks are taken to be as now
    earlier_code = r"started with hwnas source unrecorded \(an earlier hwnas\) \(now \w{12}\):"
    with pytest.warns(UserWarning, match=earlier_code):
        assert hwnas("search", str(exp), "--quiet") == 0
    assert len(load(run).trials) == 9
    assert load(run).versions == ({} if record == "no versions" else earlier)


def test_a_run_an_earlier_hwnas_started_with_a_number_in_quotes_resumes_and_trains(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """An earlier hwnas read an evaluator's `steps: "3"` as 3 and stored the text: the run,
    resumed with `steps: 3` as a file must now write it, was refused as started with other
    settings (`'3', now 3`; use a new run_dir), and its export recorded the text, which
    `hwnas train` refuses. Both take the number the run trained with."""
    run, exp = tmp_path / "run", tmp_path / "exp.yaml"
    exp.write_text(
        f"name: q\nspace: {DATA / 'tiny2d.yaml'}\ndataset: digits\n"
        "evaluator: {name: train, settings: {train: {steps: 3, batch_size: 32}}}\n"
        "objectives: [{metric: accuracy, direction: max}]\n"
        f"searcher: random\nevaluations: 1\nrun_dir: {run}\n"
    )
    assert hwnas("search", str(exp), "--quiet") == 0
    with closing(sqlite3.connect(run / "study.db")) as db, db:  # as the earlier hwnas stored it
        [(stored,)] = db.execute(
            "SELECT value_json FROM study_user_attributes WHERE key = 'hwnas_experiment'"
        )
        stored = json.loads(stored)
        stored["evaluator"]["settings"]["train"]["steps"] = "3"
        db.execute(
            "UPDATE study_user_attributes SET value_json = ? WHERE key = 'hwnas_experiment'",
            (json.dumps(stored),),
        )
    snapshot = run / "experiment.yaml"
    snapshot.write_text(snapshot.read_text().replace("steps: 3", "steps: '3'"))
    assert hwnas("export", str(run), "-o", str(tmp_path / "x")) == 0
    [config] = (tmp_path / "x").glob("trial0-*.json")
    assert json.loads(config.read_text())["training"]["steps"] == 3
    capsys.readouterr()
    assert hwnas("train", str(config), "-o", str(tmp_path / "w.pt")) == 0, capsys.readouterr().err
    exp.write_text(exp.read_text().replace("evaluations: 1", "evaluations: 2"))
    assert hwnas("search", str(exp), "--quiet") == 0, capsys.readouterr().err
    assert len(load(run).trials) == 2


def test_the_code_digest_follows_code_and_spaces_not_line_endings(tmp_path: Path) -> None:
    """A resumed run compares the digest of hwnas's .py and .yaml files: an edit of either
    changes it, a Windows checkout of the same files or another kind of file does not."""
    from hwnas.experiments.run_identity import code_digest

    (tmp_path / "spaces").mkdir()
    (tmp_path / "run.py").write_text("EPOCHS = 1\n")
    (tmp_path / "spaces" / "tiny.yaml").write_text("depth: 2\n")
    digest = code_digest(tmp_path)
    (tmp_path / "run.py").write_bytes(b"EPOCHS = 1\r\n")
    (tmp_path / "notes.txt").write_text("not code")
    assert code_digest(tmp_path) == digest
    (tmp_path / "spaces" / "tiny.yaml").write_text("depth: 3\n")
    assert code_digest(tmp_path) != digest
    (tmp_path / "spaces" / "tiny.yaml").write_text("depth: 2\n")
    (tmp_path / "run.py").write_text("EPOCHS = 2\n")
    assert code_digest(tmp_path) != digest


def a_complete_run_and_another_driver(tmp_path: Path):
    """A complete 8-evaluation run, its experiment raised to 9, the storage of a second
    driver on it, and 3 candidates that driver could claim: (config, space, store, archs)."""
    from hwnas.experiments.components import make_searcher, make_space
    from hwnas.experiments.config import parse_experiment
    from hwnas.experiments.storage import RunStore

    exp = latency_experiment(tmp_path, "[fp32]")
    assert hwnas("search", str(exp), "--quiet") == 0
    config = parse_experiment(exp.read_text().replace("evaluations: 8", "evaluations: 9"))
    space = make_space(config)
    store = RunStore(config, tmp_path / "run", space)
    return config, space, store, make_searcher(config.model_copy(update={"seed": 7}), space).ask(3)


def test_status_counts_add_up_while_a_driver_stores_results(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A driver stores an evaluation while `hwnas status` reads the run: every count it
    prints comes from one read, so ok + failed is the number of evaluations, and the
    evaluation stored meanwhile is counted once, as in flight (the claims in flight were
    read again after the evaluations: one finished in between was in neither count)."""
    from hwnas.experiments.components import make_evaluator

    config, space, peer, asked = a_complete_run_and_another_driver(tmp_path)
    won = [o.claim for o in peer.claim(asked, None) if o.won]
    claim = won[0]  # one still in flight
    get_trials, reads = optuna.Study.get_trials, []

    def the_driver_stores_its_result_after_the_first_read(study, *args, **kwargs):
        trials = get_trials(study, *args, **kwargs)
        reads.append(len(trials))
        if len(reads) == 1:
            peer.finish(claim, make_evaluator(config, space).evaluate(claim.arch))
        return trials

    monkeypatch.setattr(
        optuna.Study, "get_trials", the_driver_stores_its_result_after_the_first_read
    )
    capsys.readouterr()
    assert hwnas("status", str(tmp_path / "run")) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("evaluations:"))
    evaluations, ok, failed, in_flight = (
        int(line.split(word)[1].split()[0].strip(","))
        for word in ("evaluations:", "(ok", "failed", "in flight")
    )
    assert ok + failed == evaluations, line
    assert evaluations + in_flight == 8 + len(won), line


def test_status_does_not_count_a_killed_drivers_claim_as_in_flight(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """A driver killed with SIGKILL leaves its claim RUNNING until the next search marks it
    stale; `status` must not report that claim as being evaluated, and counts it as owed
    until it is claimed again (a claim marked stale was counted so only through the
    stale outcome, which no test pinned)."""
    import socket
    import subprocess
    import time

    _, _, killed, asked = a_complete_run_and_another_driver(tmp_path)
    won = sum(o.won for o in killed.claim(asked, None))
    assert won > 0
    gone = subprocess.Popen(["true"])
    gone.wait()  # a process of this host that no longer exists
    beat = {"host": socket.gethostname(), "pid": gone.pid, "time": time.time(), "stopped": False}
    killed.study.set_user_attr(f"hwnas_driver:{killed.driver}", beat)
    capsys.readouterr()
    assert hwnas("status", str(tmp_path / "run")) == 0
    out = capsys.readouterr().out
    line = next(x for x in out.splitlines() if x.startswith("evaluations:"))
    assert f"in flight 0, left by a stopped driver and not evaluated since {won})" in line, line
    assert "drivers: none running now" in out
    from hwnas.experiments.storage import RunStore

    resumed = RunStore(killed.config, tmp_path / "run", killed.space)  # a live driver again
    resumed.heartbeat()
    again = resumed.fail_stale()
    assert len(again) == won
    assert hwnas("status", str(tmp_path / "run")) == 0  # marked stale, not yet claimed again
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("evaluations:"))
    assert f"in flight 0, left by a stopped driver and not evaluated since {won})" in line, line
    assert all(o.won for o in resumed.claim(again, None))
    assert hwnas("status", str(tmp_path / "run")) == 0
    out = capsys.readouterr().out
    line = next(x for x in out.splitlines() if x.startswith("evaluations:"))
    assert f"in flight {won}, left by a stopped driver and not evaluated since 0)" in line, line
    host = socket.gethostname()
    assert f"drivers: 1 running now: {host} pid {os.getpid()} (heard from " in out


def test_status_says_a_drivers_heartbeat_lies_in_the_future(
    finished_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """A driver on a machine whose clock is ahead: `status` said it was heard from 0 s ago,
    hiding the disagreement of the clocks (which makes live drivers look dead to each other)."""
    _, run = copy_of(finished_run, tmp_path)
    study = optuna.load_study(study_name="lat", storage=f"sqlite:///{run / 'study.db'}")
    beat = {"host": "elsewhere", "pid": 1, "time": time.time() + 120, "stopped": False}
    study.set_user_attr("hwnas_driver:ahead", beat)
    capsys.readouterr()
    assert hwnas("status", str(run)) == 0
    out = capsys.readouterr().out
    said = r"drivers: 1 running now: elsewhere pid 1 \(its heartbeat (\d+) s ahead of this "
    found = re.search(said + r"machine's clock: the clocks disagree\)", out)
    assert found and 60 < int(found[1]) <= 120, out  # less the seconds `status` took
    (driver,) = status_facts(run, capsys)["drivers"]  # as --json gives it
    assert (driver["host"], driver["pid"]) == ("elsewhere", 1)
    assert 60 < driver["clock_ahead_s"] <= 120 and driver["heard_s_ago"] == 0


def test_status_json_of_a_finished_run_agrees_with_the_text(
    finished_run: Path, capsys: pytest.CaptureFixture
) -> None:
    """`status` printed text only, where `pareto`, `spaces show` and `latency eval` give
    scripts JSON: `--json` gives the same facts as one object."""
    facts = status_json(finished_run, capsys)
    results = load(finished_run)
    assert (facts["run"], facts["study"], facts["versions"]) == (
        str(finished_run),
        "lat",
        results.versions,
    )
    counts = {"total": 8, "target": 8, "ok": 8, "failed": 0, "retried": 0, "in_flight": 0}
    counts["owed"] = 0
    assert facts["evaluations"] == counts and facts["cannot_reach_target"] is None
    assert facts["drivers"] == [] and facts["failures"] == [] and facts["supernet"] is None
    assert facts["objectives"] == [["latency_ms", "min"]] and facts["constraints"] == []
    assert (facts["feasible"], facts["front"]) == (8, len(results.pareto()))
    assert facts["best"] == {"latency_ms": results.pareto()["latency_ms"].min()}
    assert facts["hypervolume"] is None and facts["reference"] is None  # one objective
    assert facts["elapsed_s"] == results.trials["finished_s"].max()


def reason_cause(reason: str) -> str:
    """A failure reason with every number in it (a run of digits, with a decimal point)
    masked: what `status` counts as one cause."""
    return re.sub(r"[0-9]+(\.[0-9]+)?", "N", reason)


def test_status_counts_failure_reasons_alike_but_for_their_numbers_as_one(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """`status` counted reasons that differ only by a number apart (a timeout's seconds, the
    memory an allocation asked for; here the block the latency table lacks at w4a8, by its
    width and kernel), so one cause read as many reasons of a failure or two each. Alike
    once their numbers are masked, they count as one, shown by the latest of them (a text
    as it was, no mask); `--json` still lists every reason in `failures`."""
    with pytest.warns(UserWarning, match="not at w4a8"):
        assert hwnas("search", str(latency_experiment(tmp_path, "[w4a8]"))) == 1
    trials = load(tmp_path / "run").trials.sort_values("number")  # every evaluation failed
    causes = trials["reason"].map(reason_cause)
    facts = status_json(tmp_path / "run", capsys)  # the text is written from these facts
    assert len(facts["failures"]) == trials["reason"].nunique() > causes.nunique()
    groups = facts["failure_groups"]
    assert len(groups) == causes.nunique() and [g["count"] for g in groups] == list(
        causes.value_counts()
    )
    for group in groups:
        alike = trials[causes == reason_cause(group["reason"])]
        assert group["reason"] == alike["reason"].iloc[-1]  # the latest, a real reason
        assert group["trials"] == list(alike["number"])[:5] and group["count"] == len(alike)
        assert group["reasons"] == alike["reason"].nunique()
    assert hwnas("status", str(tmp_path / "run")) == 0
    lines = [x for x in capsys.readouterr().out.splitlines() if x.startswith("failed x")]
    several = next(g for g in groups if g["reasons"] > 1)
    assert lines[groups.index(several)].endswith(
        f": {several['reason']} (the latest of {several['reasons']} reasons that differ only "
        "in their numbers)"
    )
    assert sum(int(x.split()[1].removeprefix("x").rstrip(":")) for x in lines) == len(trials)


def test_status_groups_reasons_by_their_numbers_most_frequent_first(
    capsys: pytest.CaptureFixture,
) -> None:
    """Decimal numbers are masked whole (a timeout of 1.5 s and one of 12 s are one cause);
    groups are listed most frequent first, each with its first trials, the note of several
    reasons only where a group holds several, and the line for the rest counts their
    distinct reasons, not groups."""
    import pandas as pd

    from hwnas.cli.status import _failure_groups, _say_failures

    reasons = [
        *("timed out after 1.5 s", "timed out after 12 s", "timed out after 30.25 s"),
        *("no block w8k3", "no block w16k5", "no block w8k3"),
        *("out of memory", "out of memory", "disk 1 full", "disk 2 full", "nan loss"),
        *["timed out after 2 s"] * 3,
    ]
    failed = pd.DataFrame({"number": range(len(reasons)), "reason": reasons})
    _say_failures(_failure_groups(failed.iloc[::-1]))
    assert capsys.readouterr().out.splitlines() == [
        "failed x6 (trials 0, 1, 2, 11, 12, ...): timed out after 2 s (the latest of 4 "
        "reasons that differ only in their numbers)",
        "failed x3 (trials 3, 4, 5): no block w8k3 (the latest of 2 reasons that differ only "
        "in their numbers)",
        "failed x2 (trials 6, 7): out of memory",
        "failed x3: 3 other reasons (all of them: the reason column of load(run).trials)",
    ]


def test_status_json_of_runs_with_failures_and_with_no_success_agrees_with_the_text(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """Every failure reason, most frequent first, with its count and first trial numbers
    (the text gives the first three); a run without a success has no best value."""
    some, none = tmp_path / "some", tmp_path / "none"
    with pytest.warns(UserWarning, match="not at w4a8"):
        some.mkdir()
        assert hwnas("search", str(latency_experiment(some, "[fp32, int8, w4a8]"))) == 0
        none.mkdir()  # every evaluation fails
        assert hwnas("search", str(latency_experiment(none, "[w4a8]"))) == 1
    for folder in (some, none):
        facts = status_json(folder / "run", capsys)
        trials = load(folder / "run").trials
        failed = trials.loc[trials["status"] == "failed"]
        assert facts["evaluations"]["failed"] == len(failed) > 0
        assert sum(f["count"] for f in facts["failures"]) == len(failed)
        for failure in facts["failures"]:
            numbers = sorted(failed.loc[failed["reason"] == failure["reason"], "number"])
            assert failure["trials"] == numbers[:5] and failure["count"] == len(numbers)
    assert status_json(some / "run", capsys)["feasible"] > 0
    facts = status_json(none / "run", capsys)
    assert facts["evaluations"]["ok"] == facts["feasible"] == facts["front"] == 0
    assert facts["best"] == {} and facts["hypervolume"] is None and facts["reference"] is None
    assert facts["elapsed_s"] == load(none / "run").trials["finished_s"].max()


def test_status_json_of_a_run_with_constraints_agrees_with_the_text(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """The constraints with their bounds as given, the evaluations that broke one, and with
    two objectives the front's hypervolume and its reference point."""
    bounds = "[{metric: params, max: 3000}, {metric: latency_ms, max: 12.3456789}]"
    exp = constrained_experiment(tmp_path, "[fp32, int8]", bounds)
    assert hwnas("search", str(exp), "--quiet") == 0
    assert "met the constraint" not in capsys.readouterr().err  # some are feasible
    facts = status_json(tmp_path / "run", capsys)
    results = load(tmp_path / "run")
    assert facts["constraints"] == [["params", 3000], ["latency_ms", 12.3456789]]
    feasible = len(results.candidates())
    assert 0 < facts["feasible"] == feasible < 8 and facts["broke_constraints"] == 8 - feasible
    assert facts["best"]["params"] == results.pareto()["params"].min() <= 3000
    assert facts["hypervolume"] == pytest.approx(results.hypervolume())
    assert facts["reference"] == pytest.approx(list(results.reference_point()))


def test_the_last_progress_line_in_a_log_is_whole(capsys: pytest.CaptureFixture) -> None:
    """stderr is not a terminal (a pipe, a batch job's log): the last state is one line, not
    cut at 80 columns ('30/…')."""
    from hwnas.evaluators.metrics import Metrics
    from hwnas.experiments.progress import SearchProgress

    objectives = [("accuracy", "max"), ("latency_ms", "min")]
    with SearchProgress(objectives, [], total=1000) as display:
        for i in range(300):
            display.result(Metrics({"accuracy": i, "latency_ms": 1000 - i}))
    (line,) = capsys.readouterr().err.splitlines()
    assert " 300/1000 " in line and "…" not in line
    assert line.endswith("done 300 | failed 0 | in flight 0 | front 1" + line.split("front 1")[1])
    assert "| eta " in line


def test_the_progress_line_counts_the_successes_that_broke_a_constraint() -> None:
    """With a bound no candidate meets, the line said only 'done 30 | failed 0 | in flight
    0' until the run's closing note: nothing told that every result so far was infeasible."""
    from hwnas.evaluators.metrics import Metrics
    from hwnas.experiments.progress import SearchProgress

    objectives, bound = [("accuracy", "max")], [("latency_ms", 1.0)]
    display = SearchProgress(objectives, bound, total=10, enabled=False)
    assert "infeasible 0" in display.summary()  # said from the start: constraints apply
    for latency in (3.0, 2.0, 1.0):  # the last one at the bound: feasible
        display.result(Metrics({"accuracy": 50.0, "latency_ms": latency}))
    display.result(Metrics.failed("broken"))  # a failure breaks no constraint
    summary = display.summary()
    assert "failed 1 | in flight 0 | infeasible 2 | best accuracy 50" in summary
    unconstrained = SearchProgress(objectives, [], total=10, enabled=False)
    unconstrained.result(Metrics({"accuracy": 50.0, "latency_ms": 3.0}))
    assert "infeasible" not in unconstrained.summary()


def test_an_80_column_line_keeps_the_count_and_the_elapsed_time_whole(
    capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In an 80-column terminal the info text took the line and cut the elapsed time to
    '0:00:…' (a review); now the bar and the info text give way."""
    from hwnas.evaluators.metrics import Metrics
    from hwnas.experiments import progress

    monkeypatch.setattr(progress, "LOG_WIDTH", 80)  # the width a non-terminal line is drawn at
    with progress.SearchProgress([("accuracy", "max")], [], total=1000) as display:
        for i in range(120):
            display.result(Metrics({"accuracy": i}))
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("search ") and re.search(r" 120/1000 \d:\d\d:\d\d done 120 ", line)
    assert len(line) <= 80


def test_a_narrow_line_keeps_the_count(
    capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """rich shrank every column of the line alike: at 50 columns and under the count of a
    total under 10 was cut to nothing ('search 0:00:00 done '). The count stays, the rest
    giving way; in a terminal, COLUMNS=0 is passed over (rich drew an empty line)."""
    from hwnas.evaluators.metrics import Metrics
    from hwnas.experiments import progress

    def line(total: int) -> str:
        with progress.SearchProgress([("accuracy", "max")], [], total=total) as display:
            for i in range(3):
                display.result(Metrics({"accuracy": i}))
        drawn = re.sub(r"\x1b\[[0-9;?]*[a-zA-Z]", "", capsys.readouterr().err)  # a terminal's
        return [text for text in drawn.splitlines() if text][-1]

    for width, total, expected in (
        (10, 5, "search 3/5"),
        (11, 5, "3/5 0:00:00"),  # the elapsed time kept before the label
        (15, 5, "3/5 0:00:00"),  # no info text in 3 columns (MIN_PART)
        (16, 5, "3/5 0:00:00 done"),
        (20, 5, "search 3/5 0:00:00"),
        (30, 5, "search 3/5 0:00:00 done 3 | fa"),
        (50, 5, "search 3/5 0:00:00 done 3 | failed 0 | in flight 0"),
        (30, 50, "search  3/50 0:00:00 done 3 | "),
    ):
        monkeypatch.setattr(progress, "LOG_WIDTH", width)  # a non-terminal line's width
        assert line(total) == expected
    monkeypatch.setenv("TTY_COMPATIBLE", "1")  # rich takes stderr for a terminal
    monkeypatch.setenv("COLUMNS", "0")
    assert line(5).startswith("search 3/5 0:00:00 done 3")  # at the terminal's width, else 80


def test_a_wide_line_keeps_the_info_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    """At rich 13.8, the floor, a line laid out to the width was drawn one column too wide (a
    grid's padding measured wider than drawn), so the info text lost its last character at
    any width: a log's closing line read 'best accuracy ' for 'best accuracy 2'. Each part
    is drawn at its width, one space between two, under any rich."""
    from hwnas.evaluators.metrics import Metrics
    from hwnas.experiments import progress

    monkeypatch.setattr(progress, "LOG_WIDTH", 120)  # a non-terminal line's width
    display = progress.SearchProgress([("accuracy", "max")], [], total=None)
    console = display._progress.console
    with console.capture() as captured, display:
        for i in range(3):
            display.result(Metrics({"accuracy": i}))
    line = captured.get().splitlines()[-1]
    assert line.endswith(" 3/? 0:00:00 done 3 | failed 0 | in flight 0 | best accuracy 2")
    assert line.startswith("search ━") and len(line) == 120


def test_a_line_with_wide_characters_keeps_its_parts(monkeypatch: pytest.MonkeyPatch) -> None:
    """A metric named in CJK characters (two of a terminal's cells each): the info text was
    measured in characters, so the line laid out was too wide and rich cut it, the space
    after 'search' and the info's end lost ('search━━━ ... best 精度精度精'). It is measured in
    cells."""
    from hwnas.evaluators.metrics import Metrics
    from hwnas.experiments import progress

    monkeypatch.setattr(progress, "LOG_WIDTH", 100)  # a non-terminal line's width
    display = progress.SearchProgress([("精度精度精度", "max")], [], total=None)
    with display._progress.console.capture() as captured, display:
        for i in range(3):
            display.result(Metrics({"精度精度精度": i}))
    line = captured.get().splitlines()[-1]
    assert line.startswith("search ━") and line.endswith(" | best 精度精度精度 2")


def test_the_eta_follows_evaluations_that_get_slower(monkeypatch: pytest.MonkeyPatch) -> None:
    """Evaluations of 1 s, then of 10 s (a surrogate refitted on more results, say): 60 left
    take 10 minutes, not the 5 min 30 s the rate since the start promised."""
    from hwnas.evaluators.metrics import Metrics
    from hwnas.experiments import progress

    now = [0.0]
    monkeypatch.setattr(progress.time, "monotonic", lambda: now[0])
    display = progress.SearchProgress([("accuracy", "max")], [], total=100, enabled=False)
    for step in [1.0] * 20 + [10.0] * 20:
        now[0] += step
        display.result(Metrics({"accuracy": 50.0}))
    assert display.summary().endswith("| eta 0:10:00")
    now[0] += 100.0  # no result for a while: the wait counts
    assert display.summary().endswith("| eta 0:15:00")


def test_the_eta_is_no_later_than_the_time_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    """Results every 10 s, 90 of 100 evaluations left, but the time limit stops the run in
    60 s: the ETA said 0:15:00."""
    from hwnas.evaluators.metrics import Metrics
    from hwnas.experiments import progress

    now = [0.0]
    monkeypatch.setattr(progress.time, "monotonic", lambda: now[0])
    display = progress.SearchProgress([("accuracy", "max")], [], total=100, enabled=False)
    display.deadline = 160.0
    for _ in range(10):
        now[0] += 10.0
        display.result(Metrics({"accuracy": 50.0}))
    assert display.summary().endswith("| eta 0:01:00")


@needs_nb201
def test_a_run_stopped_by_its_time_limit_ends_without_an_eta_and_says_how_to_go_on(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """A run of 100000 evaluations stopped by its 2 s time limit ended on a line promising
    the rest in hours ('27/5000 ... | eta 0:10:22', stopped by time limit), and named no
    resume command."""
    exp = tmp_path / "exp.yaml"
    exp.write_text(
        "name: t\nspace: nasbench201\n"
        "evaluator: {name: tabular, settings: {tabular: {cost: false, latency: false}}}\n"
        "objectives: [{metric: accuracy, direction: max}]\n"
        f"searcher: random\nevaluations: 100000\ntime_limit_s: 2\nrun_dir: {tmp_path / 'run'}\n"
    )
    assert hwnas("search", str(exp)) == 0
    captured = capsys.readouterr()
    assert captured.out.rstrip().endswith("stopped by time limit")
    line, note = captured.err.splitlines()  # stderr is no terminal: the last state only
    assert "/100000 " in line and "eta" not in line
    assert note == (  # it said no way on, as a Ctrl-C's does
        "hwnas: note: the time limit (2 s, per invocation) stopped the run; any candidates in "
        f"flight were given back: resume to go on: hwnas search {exp} --resume"
    )


@needs_nb201
def test_a_run_whose_last_evaluation_ran_past_the_time_limit_is_complete(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its one evaluation, on the local executor (which cannot stop one), ended past the time
    limit: the run had every evaluation it asks for, but ended "stopped by time limit" with a
    note to resume, which said only that the run was already complete."""
    from hwnas.evaluators.tabular import TabularEvaluator

    evaluate = TabularEvaluator.evaluate

    def past_the_limit(self, arch, *args, **kwargs):
        time.sleep(3.5)  # the limit is 3 s
        return evaluate(self, arch, *args, **kwargs)

    monkeypatch.setattr(TabularEvaluator, "evaluate", past_the_limit)
    exp = tmp_path / "exp.yaml"
    exp.write_text(
        "name: t\nspace: nasbench201\n"
        "evaluator: {name: tabular, settings: {tabular: {cost: false, latency: false}}}\n"
        "objectives: [{metric: accuracy, direction: max}]\nexecutor: {kind: local}\n"
        f"searcher: random\nevaluations: 1\ntime_limit_s: 3\nrun_dir: {tmp_path / 'run'}\n"
    )
    assert hwnas("search", str(exp), "--quiet") == 0
    out, err = capsys.readouterr()
    assert out.rstrip().endswith(
        "1 evaluation (0 failed, 1 by this driver); stopped by evaluations"
    )
    assert "time limit" not in err


def test_the_eta_counts_hours_past_a_day() -> None:
    """1000 trainings of 5 minutes showed 'eta 11:15:00' (83 h 15 min, modulo a day)."""
    from hwnas.experiments.progress import hours_minutes_seconds

    assert hours_minutes_seconds(999 * 300) == "83:15:00"
    assert hours_minutes_seconds(59.6) == "0:01:00" and hours_minutes_seconds(0) == "0:00:00"


def test_a_study_file_this_user_cannot_read_says_so(finished_run: Path, tmp_path: Path) -> None:
    """Another user's run whose study.db its owner alone may read: `status` said "cannot
    open 'sqlite:///file:...?immutable=1&uri=true': unable to open database file", not why."""
    _, run = copy_of(finished_run, tmp_path)
    db = run / "study.db"
    db.chmod(0)
    done = cli_bound_by_file_modes(f"status {run}")
    assert done.returncode == 1
    assert done.stderr.strip() == f"hwnas: error: {db}: cannot read: Permission denied"


def test_a_runs_study_file_has_the_modes_the_umask_allows(tmp_path: Path) -> None:
    """A group sharing its runs (umask 002) got every file of a run group-writable but its
    study.db, which SQLite makes 0o644 at most: the group's other drivers could not write
    it ("attempt to write a readonly database")."""
    exp = latency_experiment(tmp_path, "[fp32]")
    before = os.umask(0o002)
    try:
        assert hwnas("search", str(exp), "--quiet") == 0
    finally:
        os.umask(before)
    modes = {p.name: p.stat().st_mode & 0o777 for p in (tmp_path / "run").iterdir()}
    assert modes == {"experiment.yaml": 0o664, "space.yaml": 0o664, "study.db": 0o664}


def test_a_run_in_a_read_only_directory_can_be_read(tmp_path: Path) -> None:
    """Another user's run, or one on read-only media: `status` reads its SQLite file
    without writing beside it. Needs a real read-only mount (a private mount namespace)."""
    exp = latency_experiment(tmp_path, "[fp32]")
    assert hwnas("search", str(exp), "--quiet") == 0  # the storage is closed when it is done
    run = tmp_path / "run"
    files = sorted(p.name for p in run.iterdir())
    assert "study.db-wal" not in files
    done = cli_on_read_only(run, f"status {run}")
    assert done.returncode == 0, done.stderr
    assert "evaluations: 8 of 8 (ok 8" in done.stdout
    assert sorted(p.name for p in run.iterdir()) == files


def test_a_run_whose_shared_database_is_in_a_read_only_folder_can_be_read(
    tmp_path: Path,
) -> None:
    """A run whose `storage.url` names a SQLite file in a folder this process cannot write
    (a team's database archived, or another user's): `status` reads it without writing
    beside it (before, "cannot open ...: unable to open database file", as SQLite could not
    make its write-ahead index there). Needs a real read-only mount (a private mount
    namespace)."""
    exp = latency_experiment(tmp_path, "[fp32]")
    shared = tmp_path / "team"
    shared.mkdir()
    exp.write_text(exp.read_text() + f"storage: {{url: 'sqlite:///{shared / 'team.db'}'}}\n")
    assert hwnas("search", str(exp), "--quiet") == 0
    done = cli_on_read_only(shared, f"status {tmp_path / 'run'}")
    assert done.returncode == 0, done.stderr
    assert "evaluations: 8 of 8 (ok 8" in done.stdout
    assert sorted(p.name for p in shared.iterdir()) == ["team.db"]


def test_a_search_on_a_read_only_study_file_says_to_make_it_writable(
    finished_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """A read-only `study.db` in a writable folder: the advice was to run the search again,
    which met the same refusal. Needs a real read-only mount of the file (root ignores
    file modes)."""
    exp, run = copy_of(finished_run, tmp_path)
    exp.write_text(exp.read_text().replace("evaluations: 8", "evaluations: 12"))
    db = run / "study.db"
    done = cli_on_read_only(db, f"search {exp} --quiet")
    assert done.returncode == 1
    assert f"{db}: attempt to write a readonly database; the file is read-only here" in done.stderr
    assert "make it writable (or copy the run to a writable place)" in done.stderr
    assert "Traceback" not in done.stderr
    assert hwnas("status", str(run)) == 0
    assert "evaluations: 8 of 12 (ok 8" in capsys.readouterr().out  # nothing was lost


def test_a_search_on_a_read_only_shared_database_is_not_told_to_copy_the_run(
    tmp_path: Path,
) -> None:
    """A `storage.url` SQLite file read-only here: the advice offered to copy the run to a
    writable place, which leaves that database, outside the run folder, behind. Needs a real
    read-only mount of the file (root ignores file modes)."""
    exp = latency_experiment(tmp_path, "[fp32]")
    db = tmp_path / "team.db"
    exp.write_text(exp.read_text() + f"storage: {{url: 'sqlite:///{db}'}}\n")
    assert hwnas("search", str(exp), "--quiet") == 0
    exp.write_text(exp.read_text().replace("evaluations: 8", "evaluations: 12"))
    done = cli_on_read_only(db, f"search {exp} --quiet")
    assert done.returncode == 1
    assert (
        f"{db}: attempt to write a readonly database; the file is read-only here: make it "
        "writable, then run the search again" in done.stderr
    )
    assert "copy the run" not in done.stderr and "Traceback" not in done.stderr


def test_a_search_on_a_shared_database_in_a_read_only_folder_says_to_make_it_writable(
    tmp_path: Path,
) -> None:
    """A `storage.url` SQLite file in a folder read-only here (status reads it, above): the
    search said only "unable to open database file", as SQLite could not make its -wal and
    -shm files there. Needs a real read-only mount (root ignores modes)."""
    exp = latency_experiment(tmp_path, "[fp32]")
    shared = tmp_path / "team"
    shared.mkdir()
    exp.write_text(exp.read_text() + f"storage: {{url: 'sqlite:///{shared / 'team.db'}'}}\n")
    assert hwnas("search", str(exp), "--quiet") == 0
    exp.write_text(exp.read_text().replace("evaluations: 8", "evaluations: 12"))
    done = cli_on_read_only(shared, f"search {exp} --quiet")
    assert done.returncode == 1
    assert "unable to open database file; its folder is not writable here" in done.stderr
    assert "make it writable, then run the search again" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_search_on_a_read_only_journal_says_to_make_it_writable(tmp_path: Path) -> None:
    """As a read-only `study.db` does: the advice was "run the search again to go on", which
    met the same refusal. Needs a real read-only mount of the file (root ignores file
    modes)."""
    exp = latency_experiment(tmp_path, "[fp32]")
    exp.write_text(exp.read_text() + "storage: {journal: study.log}\n")
    assert hwnas("search", str(exp), "--quiet") == 0
    exp.write_text(exp.read_text().replace("evaluations: 8", "evaluations: 12"))
    journal = tmp_path / "run" / "study.log"
    done = cli_on_read_only(journal, f"search {exp} --quiet")
    assert done.returncode == 1
    assert f"{journal}: [Errno 30] Read-only file system" in done.stderr
    assert "the file is read-only here: make it writable" in done.stderr
    assert "Traceback" not in done.stderr


def test_resources_ray_lacks_are_refused_before_the_run_directory_gets_a_storage(
    tmp_path: Path, capsys: pytest.CaptureFixture, ray_temp_dir: Path, monkeypatch
) -> None:
    monkeypatch.setenv("RAY_TMPDIR", str(ray_temp_dir))
    exp = latency_experiment(tmp_path, "[fp32]")
    exp.write_text(exp.read_text() + "executor: {kind: ray, resources: {tpu_v9: 1}}\n")
    assert hwnas("search", str(exp), "--quiet") == 1
    assert "exp.yaml: line 9: executor: resources: an evaluation needs" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()  # no empty directory that looks like a run


def test_a_temp_folder_too_long_for_rays_sockets_is_named_with_its_remedy(tmp_path: Path) -> None:
    """A batch scheduler's per-job $TMPDIR can be longer than the 107 bytes a socket path may
    have once Ray adds its session folder: the embedded Ray refused to start with only "AF_UNIX
    path length cannot exceed 107 bytes", naming neither the variable nor the way out."""
    long_tmp = tmp_path / ("job-" + "x" * 60)
    long_tmp.mkdir()
    exp = latency_experiment(tmp_path, "[fp32]")
    exp.write_text(exp.read_text() + "executor: {kind: ray}\n")
    env = {k: v for k, v in os.environ.items() if k != "RAY_TMPDIR"}
    done = subprocess.run(  # a process of its own: no Ray this test process started is reused
        [sys.executable, "-m", "hwnas", "search", str(exp), "--quiet"],
        capture_output=True,
        text=True,
        env={**env, "TMPDIR": str(long_tmp), "RAY_USAGE_STATS_ENABLED": "0"},
        timeout=300,
    )
    assert done.returncode == 1, done.stderr
    assert "AF_UNIX path length" in done.stderr
    assert "set RAY_TMPDIR to a shorter folder, such as RAY_TMPDIR=/tmp" in done.stderr


def test_a_folder_whose_name_is_no_utf8_is_named_where_ray_cannot_start(tmp_path: Path) -> None:
    """Ray sends the current folder to its workers as UTF-8: a search on Ray started in a
    folder named in Latin-1 (`donn\\xe9es`) failed with "executor: 'utf-8' codec can't encode
    character '\\udce9' in position 24: surrogates not allowed", blamed on its settings."""
    exp = latency_experiment(tmp_path, "[fp32]")
    exp.write_text(exp.read_text() + "executor: {kind: ray}\n")
    folder = bytes(tmp_path) + b"/donn\xe9es"
    os.mkdir(folder)
    done = subprocess.run(  # a process of its own: no Ray this test process started is reused
        [sys.executable, "-m", "hwnas", "search", str(exp), "--quiet"],
        capture_output=True,
        text=True,
        cwd=folder,
        env={**os.environ, "RAY_USAGE_STATS_ENABLED": "0"},
        timeout=300,
    )
    assert done.returncode == 1, done.stderr
    assert f"executor: Ray cannot start with the path {os.fsdecode(folder)!r}" in done.stderr
    assert "start the search from another folder" in done.stderr
    assert not (tmp_path / "run").exists()


def test_a_ray_temp_folder_this_user_cannot_write_is_named_with_its_remedy(
    tmp_path: Path, monkeypatch
) -> None:
    """Another user's embedded Ray made the `ray` folder under the temp folder (or it is
    read-only): the embedded Ray refused to start with only "[Errno 13] Permission denied:
    '/tmp/ray'", naming neither RAY_TMPDIR nor the way out. Needs a real read-only mount
    (root ignores file modes)."""
    ray_tmp = tmp_path / "rt"
    ray_tmp.mkdir()
    monkeypatch.setenv("RAY_TMPDIR", str(ray_tmp))
    exp = latency_experiment(tmp_path, "[fp32]")
    exp.write_text(exp.read_text() + "executor: {kind: ray}\n")
    done = cli_on_read_only(ray_tmp, f"search {exp} --quiet")
    assert done.returncode == 1, done.stderr
    where = "(an embedded Ray keeps its sockets under $RAY_TMPDIR"
    assert f"'{ray_tmp / 'ray'}' {where}" in done.stderr
    assert "set RAY_TMPDIR to a folder of your own" in done.stderr
    assert "Traceback" not in done.stderr and not (tmp_path / "run").exists()


def test_ctrl_c_before_the_run_is_stored_says_to_start_it_not_to_resume(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch
) -> None:
    """Ray takes seconds to start: a Ctrl-C meanwhile leaves no run, so `--resume` would
    fail; the plain command starts it."""
    from hwnas.experiments import run as run_module

    def interrupted_while_ray_starts(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(run_module, "make_executor", interrupted_while_ray_starts)
    exp = latency_experiment(tmp_path, "[fp32]")
    assert hwnas("search", str(exp), "--quiet") == 130
    err = capsys.readouterr().err
    assert f"interrupted before the run was stored; start it with: hwnas search {exp}" in err
    assert "--resume" not in err and not (tmp_path / "run").exists()
    assert "hwnas: interrupted\n" not in err  # said once, with what to do
    assert hwnas("search", str(exp), "--quiet", "--resume") == 1  # as a user may try anyway
    assert "no run to resume in" in (err := capsys.readouterr().err)
    assert "leave out --resume (resume=True in Python) to start it" in err


def test_the_commands_a_stopped_search_suggests_can_be_pasted_into_a_shell(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch
) -> None:
    """`start it with: hwnas search my runs/exp.yaml` split the path at its space, and
    `hwnas search -exp.yaml` took the file for an option: the suggested command is quoted,
    and a name starting with a dash is given as ./-name."""
    from hwnas.experiments import run as run_module

    def interrupted_while_ray_starts(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(run_module, "make_executor", interrupted_while_ray_starts)
    folder = tmp_path / "my runs"
    folder.mkdir()
    exp = latency_experiment(folder, "[fp32]")
    dashed = exp.rename(folder / "-exp.yaml")
    monkeypatch.chdir(folder)
    for given, pasted in ((str(dashed), str(dashed)), (dashed.name, "./-exp.yaml")):
        assert hwnas("search", "--quiet", "--", given) == 130
        command = capsys.readouterr().err.split("start it with: ")[1].strip()
        assert shlex.split(command) == ["hwnas", "search", pasted]


def test_an_interrupted_export_says_so_and_leaves_no_folder_or_file(
    finished_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch
) -> None:
    """Typer ends a Ctrl-C'd command with exit 130 and no word; an export stopped while it
    makes its files keeps none of them and removes the folders it made."""
    from hwnas.experiments import export as export_module

    asked = []

    def interrupted(model, *args, **kwargs):  # its weights are written by then
        asked.append(model)
        raise KeyboardInterrupt

    monkeypatch.setattr(export_module, "export_onnx_checked", interrupted)
    out_dir = tmp_path / "new" / "export"
    run = str(finished_run)
    assert hwnas("export", run, "--format", "onnx", "-o", str(out_dir)) == 130
    assert capsys.readouterr().err == "hwnas: interrupted\n"
    assert asked and not (tmp_path / "new").exists()


@pytest.mark.parametrize(
    ("signum", "code", "word"),
    [(signal.SIGTERM, 143, "terminated"), (signal.SIGHUP, 129, "hung up")],
)
def test_a_terminated_export_stops_as_an_interrupted_one(
    signum: int,
    code: int,
    word: str,
    finished_run: Path,
    tmp_path: Path,
    hangup_as_in_a_terminal: None,
) -> None:
    """SIGTERM (`timeout`, a batch scheduler) or SIGHUP (a closed terminal) killed an export
    outright: its output folder stayed, holding a staging folder of half-made files. Every
    command stops on them as on Ctrl-C, with status 128 + the signal's number."""
    script = (
        "import os, signal, sys\n"
        "from hwnas.experiments import export\n"
        "def terminated(*args, **kwargs):\n"
        f"    os.kill(os.getpid(), {int(signum)})\n"
        "export.export_onnx_checked = terminated\n"
        "from hwnas.cli import main\n"
        "main(sys.argv[1:])\n"
    )
    out_dir = tmp_path / "new" / "export"
    done = subprocess.run(
        [sys.executable, "-c", script, "export", str(finished_run), "--format", "onnx"]
        + ["-o", str(out_dir)],
        capture_output=True,
        text=True,
    )
    assert (done.returncode, done.stderr) == (code, f"hwnas: {word}\n")
    assert not (tmp_path / "new").exists()


def test_a_lost_ray_cluster_stops_the_run_resumably_and_costs_no_evaluations(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch
) -> None:
    """What RayExecutor raises when its raylet dies (`ray stop` on the cluster) ends the run
    with its claims given back, not recorded as failed evaluations, and a resume hint that
    keeps the address; `status` counts the given-back claims until they are evaluated.
    (The executor stands in for a cluster: stopping a real one mid-test can end the test
    process too, as Ray then may exit its driver.)"""
    from hwnas.evaluators import ClusterLost, LocalExecutor
    from hwnas.experiments import run as run_module

    class _ClusterGoesAway(LocalExecutor):
        def results(self, timeout=None):
            if len(self._queue) and load(tmp_path / "run").trials.shape[0] >= 2:
                raise ClusterLost("lost the Ray cluster (LocalRayletDiedError)")
            return super().results(timeout)

    exp = latency_experiment(tmp_path, "[fp32]")
    exp.write_text(exp.read_text() + "executor: {kind: ray, max_in_flight: 3}\n")
    monkeypatch.setattr(run_module, "check_executor", lambda config, address: None)
    monkeypatch.setattr(
        run_module, "make_executor", lambda config, evaluator, address: _ClusterGoesAway(evaluator)
    )
    assert hwnas("search", str(exp), "--quiet", "--address", "auto") == 1
    err = capsys.readouterr().err
    assert "hwnas: error: lost the Ray cluster (LocalRayletDiedError); the evaluations in " in err
    assert f"resume with: hwnas search {exp} --resume --address auto" in err
    assert hwnas("status", str(tmp_path / "run")) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("evaluations:"))
    assert line.startswith("evaluations: 2 of 8 (ok 2, failed 0, in flight 0, ") and (
        "left by a stopped driver and not evaluated since 3)" in line
    ), line
    monkeypatch.setattr(
        run_module, "make_executor", lambda c, evaluator, a: LocalExecutor(evaluator)
    )
    assert hwnas("search", str(exp), "--quiet", "--resume") == 0
    assert hwnas("status", str(tmp_path / "run")) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("evaluations:"))
    assert (
        "(ok 8, failed 0, in flight 0, left by a stopped driver and not evaluated since 0)" in line
    )
    results = load(tmp_path / "run")  # a given-back claim is no evaluation: export says so
    claim = min(set(range(len(results.study.trials))) - set(results.trials["number"]))
    again = results.trials.loc[results.trials["key"] == results.arch(claim).key, "number"]
    assert hwnas("export", str(tmp_path / "run"), "--trial", str(claim)) == 1
    assert (
        f"trial {claim} is a claim that was not evaluated (interrupted); its architecture "
        in (err := capsys.readouterr().err)
        and f"was evaluated as trial {int(again.iloc[0])}" in err
    )


def _accepts(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


def _until(done, what: str, limit_s: float = 120.0) -> None:
    stop = time.monotonic() + limit_s  # a cap for slow machines, not a timing check
    while not done():
        if time.monotonic() > stop:
            raise TimeoutError(f"{what} never happened")
        time.sleep(0.5)


@contextmanager
def _ray_head(temp_dir: Path, env: dict[str, str]) -> Iterator[tuple[subprocess.Popen, str]]:
    """A real one-CPU cluster (`ray start --head`) in a session of its own, and its address,
    once it accepts connections; its whole session killed on leaving."""
    port, client_port = free_port(), free_port()
    cluster = subprocess.Popen(
        [Path(sys.executable).parent / "ray", "start", "--head", "--block", f"--port={port}",
         "--num-cpus=1", "--include-dashboard=false", f"--ray-client-server-port={client_port}",
         f"--temp-dir={temp_dir}"],
        env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        _until(lambda: _accepts(port), "the cluster starting")
        yield cluster, f"127.0.0.1:{port}"
    finally:
        os.killpg(cluster.pid, signal.SIGKILL)
        cluster.wait()


def _driven_while_the_cluster_dies(
    command: list, env: dict[str, str], cluster: subprocess.Popen, run: Path, capsys
) -> subprocess.CompletedProcess:
    """`command`, a driver of the run `run` on `cluster`, run to its end, the cluster killed
    (all its processes, as `ray stop --force` ends them) once an evaluation is in flight."""
    driver = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        _until(lambda: _in_flight(run, capsys) > 0, "an evaluation starting")
        os.killpg(cluster.pid, signal.SIGKILL)
        out, err = driver.communicate(timeout=120)
    finally:
        if driver.poll() is None:
            driver.kill()
    return subprocess.CompletedProcess(command, driver.returncode, out, err)


def _long_training_experiment(tmp_path: Path) -> Path:
    """An experiment file whose evaluations train for long (200 epochs): a run of it is still
    evaluating when the test stops its cluster."""
    exp = tmp_path / "exp.yaml"
    exp.write_text(
        "name: lost\nspace: conv1d\ndataset: mnist1d\n"
        "evaluator: {name: train, settings: {train: {epochs: 200}}}\n"
        "objectives: [{metric: accuracy, direction: max}]\n"
        f"searcher: random\nevaluations: 4\nrun_dir: {tmp_path / 'run'}\n"
    )
    return exp


def _in_flight(run: Path, capsys: pytest.CaptureFixture) -> int:
    if not (run / "study.db").exists() or hwnas("status", str(run)) != 0:
        return 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("evaluations:"))
    return int(line.split("in flight ")[1].split(",")[0])


def test_a_real_cluster_whose_gcs_dies_ends_the_search_with_its_resume_hint(
    tmp_path: Path, ray_temp_dir: Path, capsys: pytest.CaptureFixture
) -> None:
    """A real cluster (`ray start --head`) whose processes all die mid-run (as `ray stop
    --force` ends them): `hwnas search` (its own process, as Ray may end a driver) gives the
    cluster up and says how to resume, instead of waiting without a word until Ray ends it,
    and exits with status 1 (Ray's core worker then crashed the interpreter's exit: 139).
    Ray's reconnect timeout of 10 s in the driver makes it give up after 5 s, not 30."""
    env = {**os.environ, "RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0"}
    with _ray_head(ray_temp_dir, env) as (cluster, address):
        exp = _long_training_experiment(tmp_path)
        search = [Path(sys.executable).parent / "hwnas", "search", str(exp), "--quiet"]
        ended = _driven_while_the_cluster_dies(
            [*search, "--address", address],
            {**env, "RAY_gcs_rpc_server_reconnect_timeout_s": "10"},
            cluster,
            tmp_path / "run",
            capsys,
        )
    err = ended.stderr
    assert ended.returncode == 1, err
    assert "hwnas: error: lost the Ray cluster (its GCS at " in err
    assert "hwnas: note: the Ray cluster (its GCS at " in err  # said when it fell silent
    assert "does not answer; the search gives it up if it is still silent in 5 s" in err
    assert f"resume with: hwnas search {exp} --resume --address {address}" in err
    assert hwnas("status", str(tmp_path / "run")) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("evaluations:"))
    assert "in flight 0, left by a stopped driver and not evaluated since 1)" in line, line


#: a driver running the experiment file argv[1] on the cluster at argv[2] in a thread of its
#: own, its main thread counting the KeyboardInterrupts it gets meanwhile
RUN_IN_A_THREAD = """
import os, sys, threading, time
from hwnas.experiments import run_experiment

def run():
    try:
        run_experiment(sys.argv[1], address=sys.argv[2], progress=False)
    except BaseException as e:
        print("run ended by", type(e).__name__, flush=True)

thread = threading.Thread(target=run)
thread.start()
interrupted = 0
while thread.is_alive():
    try:
        time.sleep(0.1)
    except KeyboardInterrupt:
        interrupted += 1
print("main thread interrupted", interrupted, "times", flush=True)
os._exit(0)  # past Ray's core worker, which crashes an exit after a lost cluster
"""


def test_a_lost_cluster_ends_a_run_in_another_thread_without_interrupting_the_main_one(
    tmp_path: Path, ray_temp_dir: Path, capsys: pytest.CaptureFixture
) -> None:
    """A run in a thread of its own (a notebook's `asyncio.to_thread(run_experiment, ...)`)
    whose cluster dies ends with `ClusterLost` in that thread; the watch of the cluster also
    raised KeyboardInterrupt in the main thread, wherever it was (another cell, the kernel's
    event loop)."""
    env = {**os.environ, "RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0"}
    with _ray_head(ray_temp_dir, env) as (cluster, address):
        exp = _long_training_experiment(tmp_path)
        ended = _driven_while_the_cluster_dies(
            [sys.executable, "-c", RUN_IN_A_THREAD, str(exp), address],
            {**env, "RAY_gcs_rpc_server_reconnect_timeout_s": "10"},
            cluster,
            tmp_path / "run",
            capsys,
        )
    lines = ended.stdout.splitlines()
    assert lines == ["run ended by ClusterLost", "main thread interrupted 0 times"], ended.stderr


def test_ctrl_c_while_the_commands_load_is_one_line(
    capsys: pytest.CaptureFixture, monkeypatch
) -> None:
    """A Ctrl-C in the first second (the commands' modules importing) ends like any other,
    not with a traceback."""
    from hwnas import cli

    def interrupted():
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "_register", interrupted)
    assert hwnas("status", "runs/x") == 130
    assert capsys.readouterr().err == "hwnas: interrupted\n"


@pytest.mark.parametrize(
    ("signum", "code", "word"),
    [(signal.SIGTERM, 143, "terminated"), (signal.SIGHUP, 129, "hung up")],
)
def test_a_stop_signal_while_the_commands_load_ends_with_its_status(
    signum: int,
    code: int,
    word: str,
    capsys: pytest.CaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    hangup_as_in_a_terminal: None,
) -> None:
    """SIGTERM or SIGHUP in the first second (the commands' modules importing) ends as in a
    command: 128 + the signal's number, and one line saying how it stopped."""
    from hwnas import cli

    def stopped():
        os.kill(os.getpid(), signum)

    monkeypatch.setattr(cli, "_register", stopped)
    assert hwnas("status", "runs/x") == code
    assert capsys.readouterr().err == f"hwnas: {word}\n"


def test_an_end_of_input_in_a_command_ends_it_as_aborted(
    capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An EOFError a command lets out (typer makes it an Abort, after an empty line) ends with
    status 130 and "hwnas: aborted", not typer's "Aborted!" and status 1."""
    import hwnas.experiments as package  # the name `hwnas` here is the command runner

    def input_ended(*args, **kwargs):
        raise EOFError

    monkeypatch.setattr(package, "load", input_ended)
    assert hwnas("status", "runs/x") == 130
    assert capsys.readouterr().err == "\nhwnas: aborted\n"


def test_debug_lets_an_error_out_whole_and_leaves_warnings_as_python_shows_them(
    capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With --debug (anywhere on the line) a command's error leaves `main` as itself, for its
    traceback, and warnings keep Python's format; without it, the error is one line and exit
    1, and hwnas's warnings are one line. A command that succeeds returns."""
    from hwnas import cli
    from hwnas.experiments import ExperimentError

    formats, register = [], cli._register

    def registering():
        formats.append(warnings.formatwarning)
        register()

    monkeypatch.setattr(cli, "_register", registering)
    python_format = warnings.formatwarning
    for line in (["--debug", "status", "runs/x"], ["status", "--debug", "runs/x"]):
        with pytest.raises(ExperimentError, match="runs/x: no such run directory"):
            cli.main(line)
        assert capsys.readouterr().err == ""
    assert formats == [python_format, python_format]
    assert hwnas("status", "runs/x") == 1
    assert capsys.readouterr().err == "hwnas: error: runs/x: no such run directory\n"
    assert formats[2] is cli._one_line_warning
    assert cli.main(["--version"]) is None and cli.main(["--debug", "spaces", "list"]) is None


def test_an_empty_address_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    exp = latency_experiment(tmp_path, "[fp32]")
    assert hwnas("search", str(exp), "--address", " ") == 2
    said = "--address: ' ': give auto, local, host:port or ray://host:port, or leave it out"
    assert said in capsys.readouterr().err and not (tmp_path / "run").exists()


def test_a_mistyped_address_is_refused_for_a_complete_run_too(
    finished_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """A complete run evaluates nothing and joins no cluster: `--address nonsense:xx` (and
    `run_experiment`'s `address=`) was taken unsaid, where a run with work left refused it.
    Only its form is checked: an address of the right form is joined by no complete run."""
    from hwnas.experiments import ExperimentError, run_experiment

    exp, _ = copy_of(finished_run, tmp_path)
    capsys.readouterr()
    assert hwnas("search", str(exp), "--address", "nonsense:xx") == 2
    said = "--address: Ray address 'nonsense:xx' is not 'auto', 'local', 'host:port' or 'ray://host:port'"
    assert said in capsys.readouterr().err
    with pytest.raises(ExperimentError, match="^address: Ray address 'http://x:1': http:// is"):
        run_experiment(exp, address="http://x:1", progress=False)
    assert hwnas("search", str(exp), "--quiet", "--address", f"127.0.0.1:{free_port()}") == 0
    assert "is already complete: 8 evaluations" in capsys.readouterr().out


def test_a_mistyped_executor_address_in_the_file_is_refused_for_a_complete_run_too(
    finished_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """The experiment file's `executor.address` was checked only by a run with work left,
    building its executor: a complete run took `nonsense:xx` unsaid. It is checked by form,
    as `--address` is, at its line; the run stays readable (`hwnas status`)."""
    exp, _ = copy_of(finished_run, tmp_path)
    exp.write_text(exp.read_text() + "executor: {kind: ray, address: nonsense:xx}\n")
    line = exp.read_text().count("\n")
    capsys.readouterr()
    assert hwnas("search", str(exp), "--quiet") == 1
    assert capsys.readouterr().err == (
        f"hwnas: error: {exp}: line {line}: executor.address: Ray address 'nonsense:xx' is "
        "not 'auto', 'local', 'host:port' or 'ray://host:port'\n"
    )
    assert hwnas("status", str(tmp_path / "run")) == 0


def test_a_complete_run_started_again_starts_no_executor(
    finished_run: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture,
    ray_temp_dir: Path,
    monkeypatch,
) -> None:
    """Executor settings may change on resume; a complete run does not even build one."""
    monkeypatch.setenv("RAY_TMPDIR", str(ray_temp_dir))
    exp, _ = copy_of(finished_run, tmp_path)
    exp.write_text(exp.read_text() + "executor: {kind: ray, resources: {tpu_v9: 1}}\n")
    capsys.readouterr()
    assert hwnas("search", str(exp), "--quiet") == 0  # no Ray, so nothing to refuse
    assert "is already complete: 8 evaluations (0 failed)" in capsys.readouterr().out
    lowered = tmp_path / "lowered.yaml"  # a run that starts nothing keeps its stored target
    lowered.write_text(exp.read_text().replace("evaluations: 8", "evaluations: 5"))
    assert hwnas("search", str(lowered), "--quiet") == 0
    # raising it to 6 would do nothing still: the advice names the count to pass
    assert f"raise `evaluations` above 8 in {lowered} to go on" in capsys.readouterr().out
    assert hwnas("status", str(tmp_path / "run")) == 0
    assert "evaluations: 8 of 8" in capsys.readouterr().out
    exp.write_text(exp.read_text().replace("evaluations: 8", "evaluations: 9"))
    assert hwnas("search", str(exp), "--quiet") == 1  # now it has work: the executor is made
    assert "exp.yaml: line 9: executor: resources: an evaluation needs" in capsys.readouterr().err
    assert hwnas("status", str(tmp_path / "run")) == 0
    assert "evaluations: 8 of 9" in capsys.readouterr().out  # nothing lost


def _two_architecture_experiment(tmp_path: Path, budget: str) -> Path:
    """An experiment measuring the latency of a space of two architectures (a conv or an
    identity block), stopped by `budget` (its `evaluations` or `time_limit_s` line)."""
    exp = tmp_path / "exp.yaml"
    exp.write_text(
        f"name: two\nspace: {DATA / 'two_architectures.yaml'}\n"
        "evaluator: {name: latency, settings: {latency: {warmup: 1, runs: 3, rounds: 1}}}\n"
        "objectives: [{metric: latency_ms, direction: min}]\nsearcher: random\n"
        f"{budget}\nrun_dir: {tmp_path / 'run'}\n"
    )
    return exp


def test_status_of_a_time_limited_run_that_evaluated_its_whole_space_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """`status` said why a run could not reach its `evaluations` target, and nothing for a
    run with a time limit alone, which a resume also ends at once, evaluating nothing."""
    exp = _two_architecture_experiment(tmp_path, "time_limit_s: 600")
    assert hwnas("search", str(exp), "--quiet") == 0
    assert "stopped by exhausted" in capsys.readouterr().out
    assert hwnas("status", str(tmp_path / "run")) == 0
    said = "every architecture of the space (2) was evaluated: a resume evaluates nothing more"
    assert said in capsys.readouterr().out
    reason = {"why": "space_exhausted", "space_cardinality": 2}
    assert status_json(tmp_path / "run", capsys)["cannot_reach_target"] == reason


def test_status_of_a_run_that_reached_its_target_with_its_whole_space_says_no_shortfall(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """A run whose `evaluations` target is its space's size reaches it: nothing to say of a
    target it cannot reach."""
    exp = _two_architecture_experiment(tmp_path, "evaluations: 2")
    assert hwnas("search", str(exp), "--quiet") == 0
    assert status_json(tmp_path / "run", capsys)["cannot_reach_target"] is None
    assert hwnas("status", str(tmp_path / "run")) == 0
    assert "was evaluated" not in capsys.readouterr().out


def test_a_searcher_out_of_candidates_ends_the_run_and_says_why(
    tmp_path: Path, capsys: pytest.CaptureFixture, ray_temp_dir: Path, monkeypatch
) -> None:
    """Fewer evaluations than asked, yet exit 0: the note says the space ran out. Resumed, it
    ends so again without making an executor (an embedded Ray started for nothing)."""
    exp = _two_architecture_experiment(tmp_path, "evaluations: 5")
    assert hwnas("search", str(exp), "--quiet") == 0
    out, err = capsys.readouterr()
    assert "2 evaluations (0 failed, 2 by this driver); stopped by exhausted" in out
    assert "the searcher had no more candidates to propose: every architecture" in err
    assert "derive_count" not in err  # the differentiable searcher's reason, not this one's
    assert hwnas("status", str(tmp_path / "run")) == 0
    out = capsys.readouterr().out
    assert "evaluations: 2 of 5" in out
    assert "every architecture of the space (2) was evaluated: the run cannot reach 5" in out
    reason = {"why": "space_exhausted", "space_cardinality": 2}
    assert status_json(tmp_path / "run", capsys)["cannot_reach_target"] == reason
    monkeypatch.setenv("RAY_TMPDIR", str(ray_temp_dir))
    exp.write_text(exp.read_text() + "executor: {kind: ray, resources: {tpu_v9: 1}}\n")
    assert hwnas("search", str(exp), "--quiet") == 0  # no Ray, so nothing to refuse
    out, err = capsys.readouterr()
    assert "2 evaluations (0 failed, 0 by this driver); stopped by exhausted" in out
    assert "the searcher had no more candidates to propose: every architecture" in err


@needs_nb201
def test_selecting_on_the_test_split_is_warned_about(tmp_path: Path) -> None:
    exp = tmp_path / "exp.yaml"
    exp.write_text(
        "name: t\nspace: nasbench201\nevaluator: tabular\n"
        "objectives: [{metric: test_accuracy, direction: max}]\n"
        f"searcher: random\nevaluations: 2\nrun_dir: {tmp_path / 'run'}\n"
    )
    with pytest.warns(UserWarning, match="^objectives: test_accuracy selects on the test split"):
        assert hwnas("search", str(exp), "--quiet") == 0


@needs_nb201
def test_a_cap_on_a_maximised_metric_is_warned_about(tmp_path: Path) -> None:
    """A constraint is an upper bound: `{metric: accuracy, max: 80}`, written for "at least
    80", kept the search below 80 without a word."""
    exp = tmp_path / "exp.yaml"
    exp.write_text(
        "name: t\nspace: nasbench201\nevaluator: tabular\n"
        "objectives: [{metric: accuracy, direction: max},\n"
        "  {metric: hw_fpga_latency_ms, direction: min}]\n"
        "constraints: [{metric: accuracy, max: 80}, {metric: hw_fpga_latency_ms, max: 9}]\n"
        f"searcher: random\nevaluations: 2\nrun_dir: {tmp_path / 'run'}\n"
    )
    with pytest.warns(UserWarning) as said:
        assert hwnas("search", str(exp), "--quiet") == 0
    capped = [str(w.message) for w in said if "caps a metric" in str(w.message)]
    assert capped == [
        "constraints: accuracy <= 80 caps a metric the objectives maximise: a constraint is an "
        "upper bound only (there is no lower one), so the search keeps accuracy at most 80; to "
        "want it higher, leave it to the objective"
    ]


def test_an_input_override_says_which_options_of_the_space_it_leaves_out(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """At length 20 the conv1d space's dilated large kernels fit no stage: the search would
    never try them, and says so at the start instead of silently."""
    exp = tmp_path / "exp.yaml"
    exp.write_text(
        "name: short\nspace: {name: conv1d, input: [1, 20]}\n"
        "evaluator: {name: latency, settings: {latency: {precision: fp32, warmup: 1, runs: 3, "
        "rounds: 1}}}\nobjectives: [{metric: latency_ms, direction: min}]\n"
        f"searcher: random\nevaluations: 1\nrun_dir: {tmp_path / 'run'}\n"
    )
    assert hwnas("search", str(exp), "--quiet") == 0
    err = capsys.readouterr().err
    assert (
        "hwnas: note: space: left out at input (1, 20): block.mixers.lkconv.dilations: [2]" in err
    )


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP])
def test_a_stop_arriving_as_a_claim_is_written_leaves_no_live_claim(
    signum: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, hangup_as_in_a_terminal: None
) -> None:
    """The stop lands just after the storage created the third claim's trial, before the
    driver knew of the claim: it used to stay a live ('running') claim nothing gave back."""
    from hwnas.experiments import load_experiment, run_experiment
    from hwnas.experiments.records import outcome_of
    from hwnas.experiments.storage import RunStore
    from hwnas.predictors.stop_signals import Terminated

    created, create = [], RunStore._create_claim

    def create_then_stop(self, arch, origin=None):
        claim = create(self, arch, origin)
        created.append(claim)
        if len(created) == 3:
            os.kill(os.getpid(), signum)  # delivered as soon as this write returns
        return claim

    monkeypatch.setattr(RunStore, "_create_claim", create_then_stop)
    config = load_experiment(latency_experiment(tmp_path, "[fp32]"))
    with pytest.raises(KeyboardInterrupt) as stop:
        run_experiment(config, progress=False)
    assert getattr(stop.value, "signum", signal.SIGINT) == signum
    assert isinstance(stop.value, Terminated) == (signum != signal.SIGINT)
    storage = f"sqlite:///{tmp_path / 'run' / 'study.db'}"
    trials = optuna.load_study(study_name="lat", storage=storage).get_trials()
    outcomes = [outcome_of(t) for t in trials]
    assert len(outcomes) == 3 and "running" not in outcomes, outcomes
    assert outcomes.count("interrupted") == 1  # given back: a resume evaluates it


def test_a_new_run_inside_another_runs_folder_is_refused(
    finished_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch
) -> None:
    """`cd RUN && hwnas search experiment.yaml` (the run's own copy, whose relative run_dir is
    read from the current directory) started a fresh run nested in the old one and evaluated
    everything again."""
    exp, run = copy_of(finished_run, tmp_path)
    snapshot = run / "experiment.yaml"
    snapshot.write_text(re.sub(r"(?m)^run_dir: .*$", "run_dir: run", snapshot.read_text()))
    monkeypatch.chdir(run)
    capsys.readouterr()
    assert hwnas("search", "experiment.yaml", "--quiet") == 1
    assert capsys.readouterr().err.strip() == (
        f"hwnas: error: experiment.yaml is the run {run}'s copy of its experiment, but its "
        f"run_dir run (read from the current directory: {run}) is another folder, which holds "
        f"no run; to go on with that run, search from {tmp_path}; for a new run, copy the file "
        "out of the run's folder and give it a run_dir of its own"
    )
    assert not (run / "run").exists()
    # an absolute run_dir is read from nowhere: it said to search from another directory
    nested = exp.with_name("nested.yaml")
    nested.write_text(re.sub(r"(?m)^run_dir: .*$", f"run_dir: {run / 'new'}", exp.read_text()))
    assert hwnas("search", str(nested), "--quiet") == 1
    assert capsys.readouterr().err.strip() == (
        f"hwnas: error: run_dir {run / 'new'} is inside the run {run}; for a new run, give a "
        "run_dir outside it"
    )
    monkeypatch.chdir(tmp_path)  # from where it was started, the same file resumes the run
    assert hwnas("search", str(run / "experiment.yaml"), "--quiet") == 0
    assert "already complete" in capsys.readouterr().out


def test_a_runs_own_experiment_file_searched_from_another_directory_is_refused(
    finished_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch
) -> None:
    """`hwnas search proj/runs/x/experiment.yaml` from outside `proj` read the copy's relative
    run_dir from there and started a fresh run in ./runs/x, evaluating everything again (with
    --resume it said only that runs/x held no run); a moved run's copy named its old folder."""
    run = tmp_path / "proj" / "runs" / "x"
    shutil.copytree(finished_run, run)
    snapshot = run / "experiment.yaml"
    snapshot.write_text(re.sub(r"(?m)^run_dir: .*$", "run_dir: runs/x", snapshot.read_text()))
    monkeypatch.chdir(tmp_path)
    capsys.readouterr()
    refused = (
        f"hwnas: error: proj/runs/x/experiment.yaml is the run {run}'s copy of its experiment, "
        f"but its run_dir runs/x (read from the current directory: {tmp_path}) is "
        f"another folder, which holds no run; to go on with that run, search from "
        f"{tmp_path / 'proj'}; for a new run, copy the file out of the run's folder and give "
        "it a run_dir of its own"
    )
    for resume in ([], ["--resume"]):
        assert hwnas("search", "proj/runs/x/experiment.yaml", *resume, "--quiet") == 1
        assert capsys.readouterr().err.strip() == refused
    assert not (tmp_path / "runs").exists()
    moved = tmp_path / "moved"
    run.rename(moved)  # its copy names runs/x, which is not where it is now
    assert hwnas("search", "moved/experiment.yaml", "--quiet") == 1
    assert f"to go on with that run, give run_dir: {moved} in a copy of it;" in (
        capsys.readouterr().err
    )
    monkeypatch.chdir(tmp_path / "proj")
    shutil.copytree(moved, run)  # from where it was started, the same file resumes the run
    assert hwnas("search", "runs/x/experiment.yaml", "--quiet") == 0
    assert "already complete" in capsys.readouterr().out


def test_results_loaded_by_a_relative_path_read_their_run_after_a_change_of_directory(
    finished_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`load("run")`, then a notebook's `%cd` elsewhere: reading the space read `run/` from
    the new directory, and wrote the run's space.yaml into another project's `run/` folder
    ('run/space.yaml was missing: written again'); an unpickled copy reopened the storage
    there too."""
    import pickle

    shutil.copytree(finished_run, tmp_path / "a" / "run")
    (tmp_path / "b" / "run").mkdir(parents=True)  # another project's folder of that name
    monkeypatch.chdir(tmp_path / "a")
    results = load("run")
    copied = pickle.dumps(results)
    monkeypatch.chdir(tmp_path / "b")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert results.space.source == str(tmp_path / "a" / "run" / "space.yaml")
        assert len(pickle.loads(copied).stored_trials) == 8
    assert list((tmp_path / "b" / "run").iterdir()) == []


def test_a_run_nested_by_an_earlier_hwnas_goes_on_without_its_experiment_file(
    finished_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """A run an earlier hwnas started inside another run's folder, whose experiment.yaml was
    deleted since, was refused as a new run nested in the outer one ('search from the
    directory it was started in'), though its study.db holds its results and it was searched
    from there; it goes on, as an unnested run without its experiment.yaml does."""
    exp, run = copy_of(finished_run, tmp_path)
    inner = run / "inner"
    shutil.copytree(finished_run, inner)
    (inner / "experiment.yaml").unlink()
    inner_exp = tmp_path / "inner.yaml"
    inner_exp.write_text(exp.read_text().replace(f"run_dir: {run}", f"run_dir: {inner}"))
    capsys.readouterr()
    assert hwnas("search", str(inner_exp), "--quiet") == 0, capsys.readouterr().err
    assert "8 evaluations (0 failed, 0 by this driver)" in capsys.readouterr().out
    assert (inner / "experiment.yaml").is_file()

"""Experiment files: every example validates; malformed or hostile files are rejected with an
error naming the field and line, and nothing is written; an unusable run dir fails at start."""

from __future__ import annotations

import inspect
import json
import os
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from benchdata import needs_nb201
from cli_runner import hwnas

from hwnas.experiments.config import (
    ExperimentError,
    check_new_run,
    load_experiment,
    parse_experiment,
)

ROOT = Path(__file__).resolve().parents[1]

VALID = """\
name: t
space: nasbench201
evaluator: tabular
objectives:
  - {metric: accuracy, direction: max}
searcher: random
evaluations: 4
run_dir: runs/t
"""


def test_an_experiment_shows_its_storage_urls_password_hidden() -> None:
    """`repr` and `str` of an experiment (a notebook's output of `load(run).config`, a log)
    showed `storage.url` whole; they show its password as SQLAlchemy's URLs do, `***`, while
    the URL itself, which opens the database, stays as written."""
    url = "postgresql://alice:s3cret-pw@db.example:5432/hwnas"
    config = parse_experiment(VALID + f"storage: {{url: '{url}'}}\n")
    for shown in (repr(config), str(config), repr(config.storage), str(config.storage)):
        assert "s3cret-pw" not in shown and "alice:***@db.example:5432/hwnas" in shown
    assert config.storage.url == url and config.to_data()["storage"]["url"] == url


def test_a_storage_url_sqlalchemy_cannot_parse_is_left_to_its_own_error() -> None:
    """The in-memory check reads the URL with SQLAlchemy; one it cannot parse (a typo) is no
    in-memory database, and is left for SQLAlchemy's error when the run opens it, not
    called one."""
    config = parse_experiment(VALID + "storage: {url: 'db.example/hwnas'}\n")
    assert config.storage.url == "db.example/hwnas"


@pytest.mark.parametrize("path", sorted((ROOT / "examples").glob("*.yaml")), ids=lambda p: p.name)
def test_examples_validate(path: Path) -> None:
    config = load_experiment(path)
    assert config.objectives and config.run_dir.startswith("runs/")
    check_new_run(config)  # and each can start a run


def test_defaults_and_short_forms() -> None:
    config = parse_experiment(VALID)
    assert config.space.name == "nasbench201" and config.evaluator.names == ["tabular"]
    assert config.executor.kind == "local" and config.storage.journal is None
    assert config.objective_pairs == [("accuracy", "max")]
    two = parse_experiment(
        VALID + "constraints: [{metric: params, max: 1.0e+6}, {metric: macs, max: 2.0e+8}]\n"
    )
    assert two.constraint_pairs == [("params", 1e6), ("macs", 2e8)]  # each one holds
    # a number is a whole one or not (1e3 too, as YAML 1.2 reads it); a quoted one is text
    whole = parse_experiment(
        VALID + "time_limit_s: 60\nconstraints: [{metric: params, max: 1e3}]\n"
    )
    assert (whole.time_limit_s, whole.constraint_pairs) == (60.0, [("params", 1000.0)])
    assert two.needed_metrics == ["accuracy", "params", "macs"]


def test_a_date_is_text_as_yaml_1_2_reads_it() -> None:
    """PyYAML's YAML 1.1 read a run named by its day as a date, refused as "Input should be
    a valid string" though it was written as one."""
    dated = VALID.replace("name: t", "name: 2026-12-06").replace("runs/t", "2026-12-06")
    config = parse_experiment(dated)
    assert (config.name, config.run_dir) == ("2026-12-06", "2026-12-06")


HOSTILE = {
    "wrong type": (VALID.replace("evaluations: 4", "evaluations: four"), "line 7: evaluations"),
    "unknown key": (VALID + "sneaky: 1\n", "line 9: sneaky: unknown key; the keys here: name,"),
    "misspelt key": (
        VALID.replace("evaluations: 4", "evaluatons: 4"),
        "line 7: evaluatons: unknown key (did you mean 'evaluations'?)",
    ),
    "nested unknown key": (
        VALID + "executor: {kind: ray, gpus: 2}\n",
        "line 9: executor.gpus: unknown key; the keys here: kind, address, resources,",
    ),
    "python tag": (
        VALID.replace("searcher: random", "searcher: !!python/object/apply:os.system [touch x]"),
        "could not determine a constructor",
    ),
    "journal escapes run dir": (
        VALID + "storage: {journal: ../../elsewhere.log}\n",
        "storage.journal: journal must be a relative path inside the run directory",
    ),
    "absolute journal": (
        VALID + "storage: {journal: /tmp/x.log}\n",
        "storage.journal: journal must be a relative path",
    ),
    "journal over the run's space copy": (  # the copy overwrote the journal: results lost
        VALID + "storage: {journal: ./space.yaml}\n",
        "storage.journal: journal: './space.yaml' is one of the files hwnas keeps in the run",
    ),
    "a boolean bound": (  # was a bound of 1
        VALID + "constraints: [{metric: params, max: yes}]\n",
        "line 9: constraints[0].max: must not be a boolean, got True",
    ),
    "journal as the run directory": (
        VALID + "storage: {journal: .}\n",
        "storage.journal: journal must name a file in the run directory, not '.'",
    ),
    "run dir climbs out": (
        VALID.replace("run_dir: runs/t", "run_dir: runs/../../t"),
        "line 8: run_dir: run_dir must not contain '..'",
    ),
    # no file system takes one: the OS's "embedded null byte" named no field
    "a NUL in the run dir": (
        VALID.replace("run_dir: runs/t", 'run_dir: "runs/t\\0x"'),
        "line 8: run_dir: run_dir must not contain a NUL character (\\0)",
    ),
    "a NUL in the journal": (
        VALID + 'storage: {journal: "study\\0.log"}\n',
        "storage.journal: journal must not contain a NUL character (\\0)",
    ),
    "a NUL in the space file": (  # said only "embedded null byte", as the run started
        VALID.replace("space: nasbench201", 'space: "my\\0space.yaml"'),
        "line 2: space.name: space must not contain a NUL character (\\0)",
    ),
    "a NUL in the benchmark": (
        VALID + 'benchmark: "nb\\0.csv"\n',
        "line 9: benchmark: benchmark must not contain a NUL character (\\0)",
    ),
    # a user this machine lacks: Python's "Could not determine home directory" named no field
    "an unknown user's home in the run dir": (
        VALID.replace("run_dir: runs/t", "run_dir: ~no-such-user-hwnas/runs/t"),
        "line 8: run_dir: run_dir starts with '~no-such-user-hwnas', a home folder unknown here",
    ),
    "an unknown user's home in the dataset": (
        VALID.replace("evaluator: tabular", "dataset: ~no-such-user-hwnas/d.npz\nevaluator: train"),
        "line 3: dataset: dataset starts with '~no-such-user-hwnas', a home folder unknown here",
    ),
    "empty run dir": (
        VALID.replace("run_dir: runs/t", "run_dir: ''"),
        "run_dir: run_dir is empty; name the folder that keeps the run",
    ),
    "training without a dataset": (
        VALID.replace("evaluator: tabular", "evaluator: train"),
        "dataset: the train evaluator runs candidates on data; name it",
    ),
    "a second dataset in the evaluator settings": (
        VALID.replace(
            "evaluator: tabular",
            "dataset: mnist1d\nevaluator: {name: zero_cost, settings: {zero_cost: "
            "{dataset: digits}}}",
        ),
        "evaluator 'zero_cost': 'dataset' is not one of its settings: hwnas passes the "
        "experiment's own (dataset: at the top level of the file)",
    ),
    "a misspelt train setting, the list of settings leaving out the dataset": (
        VALID.replace(
            "evaluator: tabular",
            "dataset: mnist1d\nevaluator: {name: train, settings: {train: {epoch: 1}}}",
        ),
        "has no setting 'epoch' (did you mean 'epochs'?); its settings: epochs, steps,",
    ),
    # no setting means them, and the run's stored experiment (JSON) cannot hold them: an
    # infinite epoch count left a run folder that refused the corrected file
    "infinite epochs": (
        VALID.replace(
            "evaluator: tabular",
            "dataset: digits\nevaluator: {name: train, settings: {train: {epochs: .inf}}}",
        ),
        "evaluator.settings: train.epochs: must be a finite number, not inf",
    ),
    "infinite time limit": (VALID + "time_limit_s: .inf\n", "time_limit_s: Input should be a fin"),
    # as strict as a space file: text or a fraction is no size
    "input size as text": (
        VALID.replace("space: nasbench201", 'space: {name: nasbench201, input: [3, "16", 16]}'),
        "line 2: space.input[1]: Input should be a valid integer",
    ),
    "classes as a fraction": (
        VALID.replace("space: nasbench201", "space: {name: nasbench201, classes: 10.0}"),
        "line 2: space.classes: Input should be a valid integer",
    ),
    "bad direction": (
        VALID.replace("direction: max", "direction: up"),
        "line 5: objectives[0].direction",
    ),
    "no stopping rule": (  # names no field the file holds: no line
        VALID.replace("evaluations: 4\n", ""),
        "(top level): set evaluations, time_limit_s",
    ),
    "unknown searcher": (VALID.replace("searcher: random", "searcher: magic"), "searcher.name"),
    "misspelt evaluator with settings": (
        VALID.replace("evaluator: tabular", "evaluator: {name: tabluar, settings: {tabular: {}}}"),
        "line 3: evaluator.name: unknown evaluator 'tabluar' (did you mean 'tabular'?); choose",
    ),
    "misspelt searcher setting": (
        VALID.replace(
            "searcher: random", "searcher: {name: nsga2, settings: {population_sise: 4}}"
        ),
        "line 6: searcher.settings: searcher 'nsga2' has no setting 'population_sise' (did you "
        "mean 'population_size'?); its settings: population_size,",
    ),
    "seed among searcher settings": (
        VALID.replace("searcher: random", "searcher: {name: evolution, settings: {seed: 1}}"),
        "searcher 'evolution': 'seed' is not one of its settings: hwnas passes the experiment's "
        "own (seed: at the top level of the file)",
    ),
    "seed among differentiable settings": (
        VALID.replace("searcher: random", "searcher: {name: differentiable, settings: {seed: 1}}"),
        "searcher 'differentiable': 'seed' is not one of its settings",
    ),
    "two misspelt searcher settings, named at once": (
        VALID.replace(
            "searcher: random",
            "searcher: {name: evolution, settings: {populaton_size: 4, tournament: 2}}",
        ),
        "searcher 'evolution' has no settings 'populaton_size' (did you mean 'population_size'?)"
        ", 'tournament' (did you mean 'tournament_size'?); its settings: population_size,",
    ),
    "a setting for a searcher that takes none": (
        VALID.replace("searcher: random", "searcher: {name: random, settings: {population: 4}}"),
        "searcher 'random' has no setting 'population'; it takes no settings",
    ),
    "misspelt evaluator setting": (
        VALID.replace(
            "evaluator: tabular", "evaluator: {name: tabular, settings: {tabular: {cots: false}}}"
        ),
        "line 3: evaluator.settings: evaluator 'tabular' has no setting 'cots' (did you "
        "mean 'cost'?)",
    ),
    "relative sqlite url": (
        VALID + "storage: {url: 'sqlite:///shared.db'}\n",
        "url: a relative SQLite path depends on the directory",
    ),
    "in-memory sqlite url": (  # each connection opened an empty database: "no such table"
        VALID + "storage: {url: 'sqlite://'}\n",
        "url: 'sqlite://' is an in-memory SQLite database, which each connection opens empty",
    ),
    "in-memory sqlite url by name": (
        VALID + "storage: {url: 'sqlite:///:memory:'}\n",
        "url: 'sqlite:///:memory:' is an in-memory SQLite database",
    ),
    "in-memory sqlite uri": (  # an absolute path, but mode=memory keeps nothing there
        VALID + "storage: {url: 'sqlite:////tmp/x.db?mode=memory&uri=true'}\n",
        "url: 'sqlite:////tmp/x.db?mode=memory&uri=true' is an in-memory SQLite database",
    ),
    "grace shorter than heartbeats": (
        VALID + "storage: {heartbeat_s: 2, grace_s: 0.1}\n",
        "grace_s (0.1) must be at least twice heartbeat_s (2.0)",
    ),
    "grace between one and two heartbeats": (
        VALID + "storage: {heartbeat_s: 2, grace_s: 3}\n",
        "grace_s (3.0) must be at least twice heartbeat_s (2.0)",
    ),
    "journal and url": (
        VALID + "storage: {journal: study.log, url: 'sqlite:////tmp/shared.db'}\n",
        "give either journal or url, not both",
    ),
    "an empty objective metric": (  # refused only when the run started, at `objectives:`
        VALID.replace("{metric: accuracy,", "{metric: ' ',"),
        "line 5: objectives[0].metric: the metric name is empty",
    ),
    "an empty constraint metric": (
        VALID + "constraints:\n  - {metric: '', max: 1}\n",
        "line 10: constraints[0].metric: the metric name is empty",
    ),
    "an objective named twice": (  # the front of one metric both maximised and minimised
        VALID.replace(
            "  - {metric: accuracy, direction: max}\n",
            "  - {metric: accuracy, direction: max}\n  - {metric: accuracy, direction: min}\n",
        ),
        "line 4: objectives repeat a metric: ['accuracy', 'accuracy']",
    ),
    "a constraint named twice": (  # refused when the run started, as the searcher's error
        VALID + "constraints:\n  - {metric: params, max: 9}\n  - {metric: params, max: 8}\n",
        "line 9: constraints repeat a metric: ['params', 'params']",
    ),
    "a cluster address without ray": (
        VALID + "executor: {address: 'ray://head:10001'}\n",
        "line 9: executor.address needs executor.kind: ray",  # the field it names first
    ),
    "latency predictor and profile": (
        VALID.replace("searcher: random", "searcher: predictor")
        + "latency: {predictor: p.json, profile: p.csv}\n",
        "give exactly one of predictor or profile",
    ),
    "latency with neither predictor nor profile": (
        VALID.replace("searcher: random", "searcher: predictor") + "latency: {}\n",
        "give exactly one of predictor or profile",
    ),
    "benchmark nothing uses": (
        VALID.replace("evaluator: tabular", "evaluator: latency") + "benchmark: nofile.csv\n",
        "line 9: benchmark is set but nothing uses it",
    ),
    "a table in the tabular settings": (
        VALID.replace(
            "evaluator: tabular", "evaluator: {name: tabular, settings: {tabular: {path: t.csv}}}"
        ),
        "evaluator 'tabular': 'path' is not one of its settings: hwnas passes the "
        "experiment's own (benchmark: at the top level of the file)",
    ),
    "a misspelt tabular setting, the list of settings leaving out the table": (
        VALID.replace(
            "evaluator: tabular", "evaluator: {name: tabular, settings: {tabular: {cots: false}}}"
        ),
        "evaluator 'tabular' has no setting 'cots' (did you mean 'cost'?); its settings: "
        "metrics, latency, cost",
    ),
    "budget and epochs": (
        VALID.replace(
            "evaluator: tabular",
            "dataset: digits\nevaluator: {name: train, budget: 2, settings: {train: {epochs: 1}}}",
        ),
        "line 4: evaluator.budget and evaluator.settings.train.epochs: give one of them",
    ),
    "budget and steps": (  # the budget replaced the steps without a word
        VALID.replace(
            "evaluator: tabular",
            "dataset: digits\nevaluator: {name: train, budget: 0.1, settings: {train: {steps: 3}}}",
        ),
        "line 4: evaluator.budget and evaluator.settings.train.steps: give one of them",
    ),
    "latency nothing uses": (
        VALID + "latency: {predictor: nosuch.json}\n",
        "line 9: latency is set but nothing uses it",
    ),
    "latency target for another searcher": (
        VALID.replace("searcher: random", "searcher: predictor")
        + "latency: {predictor: p.json, target_ms: 2}\n",
        "line 9: latency.target_ms is a target for the differentiable searcher, not predictor",
    ),
    "latency target given twice": (
        VALID.replace(
            "searcher: random",
            "searcher: {name: differentiable, settings: {latency_targets_ms: [1]}}",
        )
        + "latency: {profile: p.csv, target_ms: 2}\n",
        "line 9: latency.target_ms and searcher.settings.latency_targets_ms: give one of them",
    ),
    "a yes for a seed": (VALID + "seed: yes\n", "line 9: seed: must not be a boolean, got True"),
    "a name read as a boolean": (  # said only "got True" of `name: on`
        VALID.replace("name: t", "name: on"),
        "line 1: name: must not be a boolean, got True (YAML reads an unquoted yes, no, on, off, "
        "true or false as one: quote it for the text)",
    ),
    "a yes for a resource": (  # was one GPU per evaluation
        VALID + "executor:\n  kind: ray\n  resources: {num_cpus: 1, num_gpus: yes}\n",
        "line 11: executor.resources.num_gpus: Input should be a valid number",
    ),
    "a float count": (
        VALID.replace("evaluations: 4", "evaluations: 2e1"),
        "line 7: evaluations: Input should be a valid integer",
    ),
    # PyYAML's YAML 1.1 read 1:30.0 as 90.0 (base 60) where 1:30 was refused: YAML 1.2 text
    "a base-60 time limit": (
        VALID + "time_limit_s: 1:30.0\n",
        "line 9: time_limit_s: Input should be a valid number",
    ),
    # a number in quotes is text wherever a number belongs, as in a whole-number field: a
    # bound or a time limit took it (and every setting of an evaluator), a count refused it
    "a bound in quotes": (
        VALID + 'constraints: [{metric: params, max: "3"}]\n',
        "line 9: constraints[0].max: Input should be a valid number (a number in quotes is "
        "text: write it without them)",
    ),
    "a time limit in quotes": (
        VALID + "time_limit_s: '1e3'\n",
        "line 9: time_limit_s: Input should be a valid number (a number in quotes is text",
    ),
    "a count in quotes": (
        VALID.replace("evaluations: 4", 'evaluations: "4"'),
        "line 7: evaluations: Input should be a valid integer (a number in quotes is text",
    ),
    **{
        f"{field} in quotes": (text, f"{where}: Input should be a valid number (a number in quotes")
        for field, text, where in (
            (
                "a budget",
                VALID.replace("evaluator: tabular", 'evaluator: {name: tabular, budget: "5"}'),
                "line 3: evaluator.budget",
            ),
            (
                "a timeout",
                VALID + 'executor: {kind: local, timeout_s: "30"}\n',
                "line 9: executor.timeout_s",
            ),
            ("a heartbeat", VALID + 'storage: {heartbeat_s: "5"}\n', "line 9: storage.heartbeat_s"),
            ("a grace", VALID + 'storage: {grace_s: "60"}\n', "line 9: storage.grace_s"),
            (
                "a latency target",
                VALID + 'latency: {target_ms: "2.5"}\n',
                "line 9: latency.target_ms",
            ),
        )
    },
    "a base-60 bound": (
        VALID + "constraints: [{metric: params, max: 1:00:00.0}]\n",
        "line 9: constraints[0].max: Input should be a valid number",
    ),
    "repeated key": (VALID + "evaluations: 8\n", "line 9: not valid YAML: duplicate key"),
    # a few lines that expand to millions of values, or nest past Python's recursion limit,
    # took minutes or all memory to check (these are just past the bounds: fast either way)
    "aliases of aliases": (
        VALID
        + "x: [&a [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]"
        + "".join(f", &{b} [{', '.join([f'*{a}'] * 10)}]" for a, b in zip("abcd", "bcde"))
        + "]\n",
        "line 9: not valid YAML: this value holds more than 100000 values",
    ),
    "a value that contains itself": (
        VALID.replace("searcher: random", "searcher: {name: random, settings: {x: &a [*a]}}"),
        "line 6: not valid YAML: a value that contains itself",
    ),
    "nested too deeply": (VALID + "x: " + "[" * 70 + "]" * 70 + "\n", "nested more than 64"),
    "nested too deeply through aliases": (
        VALID + "x: [&a0 [1]" + "".join(f", &a{i + 1} [*a{i}]" for i in range(70)) + "]\n",
        "line 9: not valid YAML: this value nests more than 64 levels deep",
    ),
    "missing field": (VALID.replace("space: nasbench201\n", ""), "exp.yaml: space: Field required"),
    "not a mapping": ("- just\n- a list\n", "expected a mapping"),
    "broken yaml": ("space: [conv1d\n", "not valid YAML"),
}


@pytest.mark.parametrize("text,expected", HOSTILE.values(), ids=HOSTILE.keys())
def test_hostile_files_are_rejected_naming_the_field(text: str, expected: str) -> None:
    with pytest.raises(ExperimentError) as err:
        parse_experiment(text, "exp.yaml")
    assert str(err.value).startswith("exp.yaml:")
    assert expected in str(err.value)


@pytest.mark.parametrize("given", [None, 3, {}, []])
def test_parse_experiment_takes_text_and_says_so(given: object) -> None:
    """Anything but text (parsed data too) failed in yaml's reader on `.read`."""
    with pytest.raises(TypeError, match=r"^text must be an experiment's YAML text \(load_exp"):
        parse_experiment(given)  # type: ignore[arg-type]


def test_cli_rejects_hostile_file_and_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.chdir(tmp_path)
    bad = tmp_path / "exp.yaml"
    bad.write_text(
        VALID.replace("searcher: random", "searcher: !!python/object/apply:os.system [touch x]")
    )
    assert hwnas("search", str(bad)) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err  # one line
    assert "not valid YAML" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["exp.yaml"]


def test_the_guides_bad_experiment_prints_the_guides_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    """docs/guide.md's `bad.yaml`, run as pasted, prints the error line the guide shows (the
    guide showed an error no file of its own made, in pydantic's older words)."""
    guide = (Path(__file__).resolve().parents[1] / "docs" / "guide.md").read_text()
    shown = guide.split("$ cat bad.yaml\n")[1].split("```")[0]
    text, printed = shown.split("$ hwnas search bad.yaml\n")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bad.yaml").write_text(text)
    assert hwnas("search", "bad.yaml") == 1
    assert capsys.readouterr().err == printed
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.yaml"]


def _guide_setting_rows() -> dict[str, str]:
    """The rows of docs/guide.md's searcher and evaluator settings tables, by name."""
    guide = (ROOT / "docs" / "guide.md").read_text()
    section = guide.split("### Searcher and evaluator settings")[1].split("\n### ")[0]
    rows = re.findall(r"^\| `(\w+)` \| (.*) \|$", section, flags=re.MULTILINE)
    return dict(rows)


def _code_settings() -> dict[str, dict[str, Any]]:
    """Every setting an experiment file may give each searcher and evaluator, with its
    default (inspect.Parameter.empty where it has none)."""
    from hwnas.evaluators import EVALUATORS, evaluator_class
    from hwnas.experiments.config import searcher_defaults
    from hwnas.predictors import measure_latency
    from hwnas.search import NAMES
    from hwnas.search.base import PASSED

    def parameters(target: Any, skip: int = 1) -> dict[str, Any]:
        params = list(inspect.signature(target).parameters.values())[skip:]
        return {
            p.name: p.default for p in params if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)
        }

    # the file's `dataset` and `latency` sections and the tabular `benchmark` fill these in
    from_the_file = {*PASSED, "dataset", "latency_predictor", "predictors", "path"}
    found = {name: searcher_defaults(name) for name in NAMES}
    for name in EVALUATORS:
        found[name] = parameters(evaluator_class(name).__init__, skip=2)
    # its own defaults first: it measures at precision `mixed`, not measure_latency's fp32
    found["latency"] = {**parameters(measure_latency, skip=2), **found["latency"]}
    return {
        owner: {k: v for k, v in settings.items() if k not in from_the_file}
        for owner, settings in found.items()
    }


def test_the_guide_lists_every_setting_with_its_default() -> None:
    """docs/guide.md's settings tables name every setting of every searcher and evaluator,
    with the default the code has (the guide named none of the searchers' settings but
    `threads` and `device`, and none of the latency or tabular evaluators' but a few)."""
    rows = _guide_setting_rows()
    for owner, settings in _code_settings().items():
        row = rows[owner]
        missing = [name for name in settings if f"`{name}`" not in row]
        assert not missing, f"{owner}: the guide does not name {missing}"
        for name, default in settings.items():
            if isinstance(default, bool | int | float | str):  # None: described in words
                shown = re.search(rf"`{name}` \((?:default )?`?([^;,):` ]+)", row)
                assert shown and yaml.safe_load(shown[1]) == default, (owner, name, default)


def test_the_guide_names_every_field_of_the_experiment_file() -> None:
    """docs/guide.md's table of the experiment file has a row for every top-level field, and
    that row names (in its code) every field nested under it, so a field added to the schema
    is documented; and it has no row for a field the schema lacks."""
    from pydantic import BaseModel

    from hwnas.experiments.config import ExperimentConfig

    guide = (ROOT / "docs" / "guide.md").read_text()
    section = guide.split("## 3. The experiment file")[1].split("\n### ")[0]
    rows = dict(re.findall(r"^\| `(\w+)` \| (.*) \|$", section, flags=re.MULTILINE))
    fields = ExperimentConfig.model_fields
    assert sorted(rows) == sorted(fields)
    for name, field in fields.items():
        nested = [a for a in getattr(field.annotation, "__args__", ()) if isinstance(a, type)]
        model = field.annotation if isinstance(field.annotation, type) else None
        for inner in [m for m in [model, *nested] if m and issubclass(m, BaseModel)]:
            code = " ".join(re.findall(r"`([^`]*)`", rows[name]))
            missing = [f for f in inner.model_fields if not re.search(rf"\b{f}\b", code)]
            assert not missing, f"{name}: the guide does not name {missing}"


def test_the_guide_names_every_option_of_every_command() -> None:
    """Every option of every `hwnas` command is in docs/guide.md (`latency profile`'s
    --threads, --batch-size, --warmup, --runs, --rounds and --block-copies were not, though
    the latency evaluator's row sent the reader to them)."""
    import click
    import typer

    from hwnas.cli import _register, app

    _register()
    guide = (ROOT / "docs" / "guide.md").read_text()

    def options(command: click.Command, path: str) -> list[tuple[str, str]]:
        found = [(path, o) for p in command.params for o in p.opts if o.startswith("-")]
        for name, sub in getattr(command, "commands", {}).items():
            found += options(sub, f"{path} {name}".strip())
        return found

    every = options(typer.main.get_command(app), "")
    missing = [(c, o) for c, o in every if o != "--help" and not re.search(rf"{o}\b", guide)]
    assert not missing, missing


@needs_nb201
def test_unwritable_run_dir_fails_at_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "blocker").write_text("a file where the run directory's parent should be")
    exp = tmp_path / "exp.yaml"
    exp.write_text(VALID.replace("run_dir: runs/t", "run_dir: blocker/run"))
    assert hwnas("search", str(exp)) == 1
    err = capsys.readouterr().err
    assert "run directory blocker/run is not writable" in err and "Traceback" not in err


def test_a_file_that_is_not_utf8_text_is_named(tmp_path: Path) -> None:
    latin1 = tmp_path / "exp.yaml"
    latin1.write_bytes(VALID.replace("name: t", "name: t # café").encode("latin-1"))
    with pytest.raises(ExperimentError, match=f"{latin1}: not a text \\(UTF-8\\) YAML file"):
        load_experiment(latin1)


@needs_nb201
def test_a_new_run_refuses_a_folder_of_other_files_and_a_seed_beyond_range(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    """run_dir: . (or a project folder, or /) would mix the run's files into the user's."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notes.txt").write_text("mine")
    exp = tmp_path / "exp.yaml"
    exp.write_text(VALID.replace("run_dir: runs/t", "run_dir: ."))
    assert hwnas("search", str(exp), "--quiet") == 1
    err = capsys.readouterr().err
    assert "run_dir . holds files that are not this run's (exp.yaml, notes.txt): a new run" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["exp.yaml", "notes.txt"]
    exp.write_text(VALID.replace("evaluations: 4", "evaluations: 4\nseed: 99999999999999"))
    assert hwnas("search", str(exp), "--quiet") == 1
    assert "line 8: seed: Input should be less than or equal to 4294967295" in (
        capsys.readouterr().err
    )
    assert not (tmp_path / "runs").exists()


@pytest.mark.skipif(
    torch.cuda.is_available() or torch.backends.mps.is_available(),
    reason="checks a machine without CUDA and MPS",
)
@pytest.mark.parametrize(
    ("evaluator", "said"),
    [
        (
            "dataset: digits\nevaluator: {name: train, settings: {train: {device: cuda}}}",
            "evaluator.settings.train.device: 'cuda', but the evaluations run on this machine, "
            "where torch cannot use cuda (",
        ),
        (
            "dataset: digits\nevaluator: {name: zero_cost, settings: {zero_cost: {device: mps}}}",
            "evaluator.settings.zero_cost.device: 'mps', but the evaluations run on this machine",
        ),
        (
            "evaluator: {name: latency, settings: {latency: {backend: torch-cuda, precision: "
            "fp32}}}\nobjectives: [{metric: latency_ms, direction: min}]",
            "evaluator.settings.latency.backend: 'torch-cuda', but the evaluations run on this "
            "machine, where torch cannot use cuda (",
        ),
    ],
)
def test_a_device_this_machine_lacks_is_refused_at_start(
    evaluator: str,
    said: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture,
) -> None:
    """Not an evaluation failed per candidate: the run does not start, and the error names
    the file and the setting's line, as a parse error does (it named neither)."""
    monkeypatch.chdir(tmp_path)
    exp = tmp_path / "exp.yaml"
    config = VALID.replace("nasbench201", "{name: nasbench201, input: [1, 8, 8]}")
    if "objectives" in evaluator:  # in place of the valid one's
        config = config.replace("objectives:\n  - {metric: accuracy, direction: max}\n", "")
    exp.write_text(config.replace("evaluator: tabular", evaluator))
    assert hwnas("search", str(exp), "--quiet") == 1
    assert re.search(rf"exp\.yaml: line [34]: {re.escape(said)}", capsys.readouterr().err)
    assert not (tmp_path / "runs").exists()


@pytest.mark.skipif(
    torch.cuda.is_available() or torch.backends.mps.is_available(),
    reason="checks a machine without CUDA and MPS",
)
def test_a_device_only_a_clusters_workers_may_have_is_taken_with_an_address() -> None:
    """A cluster's workers may have a GPU this machine lacks: with an address, of the file's
    executor as of --address, the device is not checked here (connecting to none)."""
    from hwnas.experiments.components import check_executor

    config = VALID.replace("nasbench201", "{name: nasbench201, input: [1, 8, 8]}").replace(
        "evaluator: tabular",
        "dataset: digits\nevaluator: {name: train, settings: {train: {device: cuda}}}",
    )
    with pytest.raises(ExperimentError, match="train.device: 'cuda', but the evaluations run"):
        check_executor(parse_experiment(config))
    check_executor(parse_experiment(config), address="127.0.0.1:6379")
    on_cluster = config + "executor: {kind: ray, address: '127.0.0.1:6379'}\n"
    check_executor(parse_experiment(on_cluster))


def test_full_disk_fails_at_start(tmp_path: Path) -> None:
    from hwnas.experiments.run_dir import check_run_dir

    check_run_dir(tmp_path / "ok")
    assert [p.name for p in tmp_path.iterdir()] == ["ok"] and not any((tmp_path / "ok").iterdir())
    with pytest.raises(ExperimentError, match="MiB free"):
        check_run_dir(tmp_path / "full", min_free_bytes=2**62)


def test_the_write_check_never_writes_through_a_link_planted_in_the_run_dir(
    tmp_path: Path,
) -> None:
    """A run_dir in a folder others can write (/tmp/runs): the start's write check opened
    `.write-probe-PID` as it found it, so a link planted under that name had 4 KiB of zeros
    written over the file it points to."""
    from hwnas.experiments.run_dir import check_run_dir

    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / f".write-probe-{os.getpid()}").symlink_to(victim)
    check_run_dir(run_dir)
    assert victim.read_text() == "keep me"
    assert [p.name for p in run_dir.iterdir()] == [f".write-probe-{os.getpid()}"]


def test_the_latency_source_is_said_in_words() -> None:
    from hwnas.experiments.components import latency_source

    latency = VALID.replace("evaluator: tabular", "evaluator: latency")
    assert latency_source(parse_experiment(VALID)) is None
    assert latency_source(parse_experiment(latency)) == (
        "measured by each evaluation on its own machine (onnxruntime-cpu, precision mixed, "
        "1 thread(s), batch 1, thread clock)"
    )
    section = latency.replace("searcher: random", "searcher: predictor") + (
        "latency: {profile: p.csv}\n"
    )
    assert latency_source(parse_experiment(section)) == "predicted from p.csv"
    measured = section.replace(
        "evaluator: latency", "evaluator: {name: latency, settings: {latency: {predictor: null}}}"
    )
    assert latency_source(parse_experiment(measured)).startswith("measured by each evaluation")


def test_a_measured_latency_says_which_clock_timed_it() -> None:
    """Thread (CPU) time and wall time of one network differ (a review measured 17 %), and the
    latency evaluator's `clock` picks one: a run measured on the wall clock and one on the
    default thread clock said the same words of their latencies (the latency review)."""
    from hwnas.experiments.components import latency_source

    def source(settings: str) -> str:
        evaluator = f"evaluator: {{name: latency, settings: {{latency: {settings}}}}}"
        return latency_source(parse_experiment(VALID.replace("evaluator: tabular", evaluator)))

    assert source("{}").endswith("1 thread(s), batch 1, thread clock)")
    assert source("{clock: wall}").endswith("1 thread(s), batch 1, wall clock)")
    assert source("{threads: 2}").endswith("2 thread(s), batch 1, wall clock)")  # auto's pick


def test_a_measured_latency_says_which_block_precisions_ran_as_another() -> None:
    """ONNX Runtime's CPU provider has no 4-bit kernel: a w4a8 block is timed as int8, and an
    fp16 block's convolutions run in float32 on x86. `status`, `pareto` and an exported
    config showed such a latency beside `w4a8` blocks without a word (a review)."""
    from hwnas.experiments.components import latency_source, metric_notes

    config = parse_experiment(VALID.replace("evaluator: tabular", "evaluator: latency"))
    plain = latency_source(config)
    assert latency_source(config, ["fp32", "int8"]) == plain  # each timed as named
    w4a8 = latency_source(config, ["int8", "w4a8"])
    assert w4a8 == f"{plain}; w4a8 blocks timed as int8 (ONNX Runtime has no 4-bit CPU kernel)"
    assert "fp16 blocks timed as a float16 graph whose convolutions" in latency_source(
        config, ["fp16"]
    )
    trials = pd.DataFrame({"s0.b0.precision": ["fp32", "w4a8"], "s0.b1.precision": [None, "fp32"]})
    assert f"latency_ms: {w4a8}" in metric_notes(config, trials, ["latency_ms"])
    every = "evaluator: {name: latency, settings: {latency: {precision: w4a8}}}"
    assert "w4a8 blocks timed as int8" in latency_source(
        parse_experiment(VALID.replace("evaluator: tabular", every))
    )  # whatever the architectures chose
    fp32 = "evaluator: {name: latency, settings: {latency: {precision: fp32}}}"
    fp32_config = parse_experiment(VALID.replace("evaluator: tabular", fp32))
    assert latency_source(fp32_config, ["w4a8"]).endswith("batch 1, thread clock)")  # at fp32


# recorded before the int8 fix: read, it warns so (test_a_profile_of_an_older_int8_quantization_...)
@pytest.mark.filterwarnings("ignore:.*measured by an hwnas before 2026-12-07")
def test_a_predicted_latency_says_how_its_profile_timed_its_block_precisions(tmp_path) -> None:
    """A latency predicted from ONNX Runtime measurements of w4a8 blocks is an int8 one too;
    the note said only "predicted from FILE" (a review). It names the machine and settings
    of the measurements, as a measured latency's note does (it said only the file)."""
    from hwnas.experiments.components import latency_source
    from hwnas.predictors import LUTPredictor

    profile = Path(__file__).parents[1] / "benchmarks" / "data" / "conv1d_ort_parts.csv"
    predictor = LUTPredictor.from_profile(profile).save(tmp_path / "lut.json")
    on = " (measured on Intel(R) Xeon(R) Processor (2 cores), onnxruntime-cpu, 1 thread(s), "
    on += "batch 1, thread clock)"
    said = ": w4a8 blocks timed as int8 (ONNX Runtime has no"
    for source in (profile, predictor, tmp_path / "gone.csv"):
        config = parse_experiment(
            VALID.replace("evaluator: tabular", "evaluator: latency")
            + f"latency: {{predictor: {source}}}\n"
        )
        with_w4a8 = latency_source(config, ["fp32", "w4a8"])
        if source.name == "gone.csv":  # a file that cannot say what measured it says nothing
            assert latency_source(config, ["fp32"]) == with_w4a8 == f"predicted from {source}"
        else:
            assert latency_source(config, ["fp32"]) == f"predicted from {source}{on}"
            assert with_w4a8.startswith(f"predicted from {source}{on}{said}"), with_w4a8
    # a file that names its backend but no machine (an older predictor): the backend where
    # the caveat it explains is said, and nothing where there is none
    older = tmp_path / "older.json"
    older.write_text(json.dumps({"measured_on": {"backend": "onnxruntime-cpu"}}))
    config = parse_experiment(
        VALID.replace("evaluator: tabular", "evaluator: latency")
        + f"latency: {{predictor: {older}}}\n"
    )
    assert latency_source(config, ["fp32"]) == f"predicted from {older}"
    with_w4a8 = latency_source(config, ["fp32", "w4a8"])
    assert with_w4a8.startswith(f"predicted from {older} (measured on onnxruntime-cpu){said}")


def test_the_split_accuracy_is_scored_on_is_said_in_words() -> None:
    """`accuracy` was printed bare: a reader took a validation split's 800 samples (or the
    table's validation column) for a test accuracy (a review)."""
    from hwnas.experiments.components import metric_notes

    def notes(text: str) -> list[str]:
        return metric_notes(parse_experiment(text), pd.DataFrame(), ["accuracy", "params"])

    assert notes(VALID) == ["accuracy: the table's cifar10valid_valid_acc_200ep"]
    twelve = "evaluator: {name: tabular, settings: {tabular: {metrics: {accuracy: c12}}}}"
    assert notes(VALID.replace("evaluator: tabular", twelve)) == ["accuracy: the table's c12"]
    trained = VALID.replace("evaluator: tabular", "dataset: digits\nevaluator: train")
    trained = trained.replace("space: nasbench201", "space: conv2d")
    assert notes(trained) == [
        "accuracy: on the validation split of digits, after training (%); test_accuracy is on "
        "its test split, which the search never ranks by"
    ]
    on_test = trained.replace("metric: accuracy", "metric: test_accuracy")
    assert notes(on_test) == [  # the run's start warns; the note must not contradict it
        "accuracy: on the validation split of digits, after training (%); test_accuracy is on "
        "its test split, which this search selected on (an objective or constraint), so it no "
        "longer estimates accuracy on unseen data"
    ]
    zero_cost = trained.replace("evaluator: train", "evaluator: zero_cost")
    assert notes(zero_cost) == []


def test_the_load_latencies_were_measured_at_is_said_and_a_busy_machine_named() -> None:
    """A measured latency runs slow on a machine with more work than cores (2.5x was seen by
    a review): the reader is told the load, and how many were measured that busy."""
    from hwnas.experiments.components import measuring_load

    assert measuring_load(pd.DataFrame({"latency_ms": [1.0]})) is None  # predicted
    quiet = pd.DataFrame({"load_per_core": [0.25, 0.5, np.nan]})
    assert measuring_load(quiet) == "measured at 0.25-0.50 load per core (1-minute average)"
    once = pd.DataFrame({"load_per_core": [0.451, 0.449]})  # one value, to the digits shown
    assert measuring_load(once) == "measured at 0.45 load per core (1-minute average)"
    busy = measuring_load(pd.DataFrame({"load_per_core": [0.25, 3.5, 1.25]}))
    assert busy.startswith("measured at 0.25-3.50 load per core (1-minute average); 2 of 3 on")
    assert "compare only those measured at similar load" in busy
    # busy as the reader sees it: 1.004 is shown as 1.00 cores' worth, no more than cores
    at_one = pd.DataFrame({"load_per_core": [0.5, 1.004]})
    assert measuring_load(at_one) == "measured at 0.50-1.00 load per core (1-minute average)"


@pytest.mark.parametrize(
    "dataset, settings, expected",
    [
        (
            "",
            "{}",
            "exp.yaml: line 5: dataset: the differentiable searcher trains its supernet on the",
        ),
        (
            "dataset: digits\n",
            "{dataset: mnist1d}",
            "exp.yaml: line 6: searcher.settings.dataset: 'mnist1d' is not the experiment's "
            "dataset 'digits'",
        ),
    ],
)
def test_the_supernet_trains_on_the_experiments_dataset_only(
    dataset: str, settings: str, expected: str
) -> None:
    """No silent default (digits) and no second dataset beside the evaluators' one."""
    from hwnas.experiments.components import make_searcher, make_space

    config = parse_experiment(
        f"name: d\nspace: {Path(__file__).parent / 'data' / 'tiny2d.yaml'}\n{dataset}"
        "evaluator: latency\nobjectives: [{metric: latency_ms, direction: min}]\n"
        f"searcher: {{name: differentiable, settings: {settings}}}\nevaluations: 1\n"
        "run_dir: runs/d\n",
        "exp.yaml",
    )
    with pytest.raises(ExperimentError) as err:
        make_searcher(config, make_space(config), progress=False)
    assert str(err.value).startswith(expected)


def test_the_experiments_dataset_named_again_in_the_settings_is_the_same_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A relative path in both places is one file (the experiment's own is made absolute;
    `~/` is the home folder, as in a shell)."""
    import numpy as np

    from hwnas.evaluators import load_dataset
    from hwnas.experiments.components import make_searcher, make_space

    digits = load_dataset("digits", normalize=False)
    np.savez(
        tmp_path / "data.npz",
        **{f"{xy}_{s}": getattr(digits, f"{xy}_{s}") for xy in "xy" for s in ("train", "test")},
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path))  # ~/data.npz is that file too
    text = VALID.replace("evaluator: tabular", "dataset: ~/data.npz\nevaluator: train")
    home = parse_experiment(text).with_absolute_inputs(ROOT)
    assert home.dataset == str(tmp_path / "data.npz")
    config = parse_experiment(
        f"name: d\nspace: {Path(__file__).parent / 'data' / 'tiny2d.yaml'}\ndataset: data.npz\n"
        "evaluator: zero_cost\nobjectives: [{metric: accuracy, direction: max}]\n"
        "searcher: {name: differentiable, settings: {dataset: data.npz, epochs: 1, "
        "warmup_epochs: 0}}\nevaluations: 1\nrun_dir: runs/d\n"
    ).with_absolute_inputs(tmp_path)
    assert (
        make_searcher(config, make_space(config), progress=False).search.dataset.num_classes == 10
    )


def test_writing_out_a_default_setting_is_the_same_experiment() -> None:
    """The differentiable searcher's own and supernet defaults too (before, only those of
    the black-box searchers were known, and resuming refused `batch_size: 128`), and its
    `progress` only shows the search."""
    text = (ROOT / "examples" / "differentiable.yaml").read_text()
    plain = parse_experiment(text)
    written = "    precisions: [fp32]\n    batch_size: 128\n    hard: true\n    progress: false\n"
    restated = parse_experiment(text.replace("    precisions: [fp32]\n", written))
    assert restated.searcher.settings["batch_size"] == 128
    assert restated.effective_data() == plain.effective_data()
    other = text.replace("    precisions: [fp32]\n", "    precisions: [fp32]\n    batch_size: 64\n")
    assert parse_experiment(other).effective_data() != plain.effective_data()


def test_an_evaluator_written_with_its_defaults_or_no_settings_is_the_same_experiment() -> None:
    """Resuming refused `settings: {tabular: {cost: true}}` (the default) as 'the default,
    now {}'."""
    plain = parse_experiment(VALID)
    for settings in ("{tabular: {cost: true}}", "{tabular: {}}"):
        text = VALID.replace(
            "evaluator: tabular", f"evaluator: {{name: tabular, settings: {settings}}}"
        )
        assert parse_experiment(text).effective_data() == plain.effective_data(), settings


DEFAULTS_WRITTEN_OUT = [  # evaluator, its settings; searcher, its settings without, with
    ("train", "{epochs: 10}", "random", "{}", "{}"),
    ("train", "{seed: 5}", "random", "{}", "{}"),  # the run's seed
    ("zero_cost", "{proxies: [synflow, naswot, jacob_cov, grad_norm, snip]}", "random", "{}", "{}"),
    (
        "tabular",
        "{metrics: {accuracy: cifar10valid_valid_acc_200ep, test_accuracy: cifar10_test_200ep, "
        "train_time_s: cifar10valid_train_time_s_200ep}}",
        "random",
        "{}",
        "{}",
    ),
    ("latency", "{warmup: 10, runs: 100, rounds: 3, clock: auto}", "random", "{}", "{}"),
    ("tabular", "{}", "evolution", "{}", "{tournament_size: 10}"),
    (
        "tabular",
        "{}",
        "evolution",
        "{population_size: 4}",
        "{population_size: 4, tournament_size: 4}",
    ),
    ("tabular", "{}", "predictor", "{}", "{surrogate: gradient_boosting, ensemble_size: 3}"),
    (
        "tabular",
        "{}",
        "predictor",
        "{surrogate: extra_trees}",
        "{surrogate: extra_trees, ensemble_size: 50}",
    ),
]


def _experiment(evaluator: str, settings: str, searcher: str, searcher_settings: str) -> str:
    space = "nasbench201" if evaluator in ("tabular", "latency") else "conv1d\ndataset: digits"
    return (
        f"space: {space}\nevaluator: {{name: {evaluator}, settings: {{{evaluator}: {settings}}}}}\n"
        "objectives: [{metric: accuracy, direction: max}]\n"
        f"searcher: {{name: {searcher}, settings: {searcher_settings}}}\n"
        "evaluations: 3\nseed: 5\nrun_dir: runs/t\n"
    )


@pytest.mark.parametrize(
    ("evaluator", "settings", "searcher", "plain", "written"), DEFAULTS_WRITTEN_OUT
)
def test_writing_out_a_default_the_code_fills_in_is_the_same_experiment(
    evaluator: str, settings: str, searcher: str, plain: str, written: str
) -> None:
    """A default behind a `None` (train's epochs, tabular's metrics, evolution's tournament,
    the predictor searcher's surrogate and ensemble), one of the measurement's own (warmup,
    runs), a list default (zero_cost's proxies) and the run's seed were each taken for a
    change, so a resume that wrote one out was refused, though the guide says it is none."""
    without = parse_experiment(_experiment(evaluator, "{}", searcher, plain))
    restated = parse_experiment(_experiment(evaluator, settings, searcher, written))
    assert restated.effective_data() == without.effective_data()


@pytest.mark.parametrize(
    ("setting", "latency_section"),
    [("{seed: 0}", ""), ("{predictor: null}", "latency: {profile: p.csv}\n")],
)
def test_a_setting_at_its_signature_default_that_changes_the_run_is_a_change(
    setting: str, latency_section: str
) -> None:
    """A train `seed: 0` beside the run's seed 5 seeds the weights with 0, and the latency
    evaluator's `predictor: null` measures where the `latency` section would predict: both
    equal their constructor's default, so they were dropped as defaults and a resume that
    added one went on with another experiment."""
    evaluator = "train" if "seed" in setting else "latency"
    base = _experiment(evaluator, "{}", "random", "{}") + latency_section
    changed = _experiment(evaluator, setting, "random", "{}") + latency_section
    assert parse_experiment(changed).effective_data() != parse_experiment(base).effective_data()


def test_a_run_dir_under_home_is_there_not_a_folder_named_tilde() -> None:
    config = parse_experiment(VALID.replace("run_dir: runs/t", "run_dir: ~/runs/t"))
    assert config.run_dir == str(Path.home() / "runs" / "t")


def test_an_infinite_setting_names_its_line() -> None:
    """.nan or .inf in settings is refused as the file is read, at the setting's own line
    (it was the `settings:` line above it)."""
    text = VALID.replace("searcher: random", "searcher:\n  name: random\n  settings:\n    x: .nan")
    with pytest.raises(ExperimentError) as err:
        parse_experiment(text, "exp.yaml")
    line = text.splitlines().index("    x: .nan") + 1
    assert f"exp.yaml: line {line}: searcher.settings: x: must be a finite number" in str(err.value)


@pytest.mark.parametrize(
    "section, expected",
    [
        (
            "searcher:\n  name: nsga2\n  settings:\n    population_size: 8\n    populaton: 3\n",
            "line 10: searcher.settings: searcher 'nsga2' has no setting 'populaton' (did you",
        ),
        (
            "searcher:\n  name: evolution\n  settings:\n    population_size: 8\n    seed: 3\n",
            "line 10: searcher.settings: searcher 'evolution': 'seed' is not one of its settings",
        ),
        (
            "evaluator:\n  name: tabular\n  settings:\n    tabular:\n      cost: false\n"
            "      cots: false\n",
            "line 8: evaluator.settings: evaluator 'tabular' has no setting 'cots' (did you",
        ),
    ],
    ids=["misspelt", "passed by hwnas", "an evaluator's"],
)
def test_an_unknown_setting_names_its_own_line(section: str, expected: str) -> None:
    """A setting refused by its name is placed at its own line: it was the `settings:` line
    above it, as far from a misspelt key as a long list of settings."""
    name = section.split(":")[0]
    text = re.sub(rf"^{name}: \w+\n", section, VALID, flags=re.MULTILINE)
    with pytest.raises(ExperimentError, match=re.escape(f"exp.yaml: {expected}")):
        parse_experiment(text, "exp.yaml")


@pytest.mark.parametrize(
    "section, text, expected",
    [
        (
            "evaluator",
            "evaluator:\n  name: train\n  settings:\n    train:\n      lr: 0.01\n      epochs: 0\n",
            "exp.yaml: line 6: evaluator: train: epochs must be > 0, not 0",
        ),
        (
            "evaluator",  # a composite names the part whose setting it is
            "evaluator:\n  name: [train, zero_cost]\n  settings:\n    zero_cost:\n"
            "      batch_size: 1\n",
            "exp.yaml: line 5: evaluator: zero_cost: batch_size must be >= 2, not 1",
        ),
        (
            "searcher",
            "searcher:\n  name: evolution\n  settings:\n    population_size: 10\n"
            "    tournament_size: 50\n",
            "exp.yaml: line 5: searcher: tournament_size must be an integer <= 10, not 50",
        ),
        (
            "evaluator",  # the experiment's dataset, which the evaluator is given
            "evaluator: train\nspace: conv1d\n",
            "exp.yaml: line 4: dataset: dataset 'digits': x_train has shape",
        ),
        (
            "evaluator",  # was placed at, and named as, the evaluator
            "evaluator: train\ndataset: digitz\n",
            "exp.yaml: line 2: dataset: unknown dataset 'digitz' (did you mean 'digits'?)",
        ),
        (
            "searcher",  # the differentiable searcher trains on it too
            "searcher: differentiable\ndataset: digitz\n",
            "exp.yaml: line 2: dataset: unknown dataset 'digitz' (did you mean 'digits'?)",
        ),
        (
            "searcher",  # every setting out of range is named; the line is the first one's
            "searcher:\n  name: differentiable\n  settings:\n    tau_start: 0.01\n"
            "    warmup_epochs: 5\n    epochs: 3\n",
            "exp.yaml: line 5: searcher: warmup_epochs must be 0 to epochs - 1 (epochs is 3), "
            "not 5; tau_end must be > 0 and at most tau_start, not ",
        ),
        (
            "evaluator",  # a setting of the wrong type, named with its evaluator's name
            "evaluator:\n  name: train\n  settings:\n    train:\n      lr: 0.01\n"
            "      steps: 1.5\n",
            "exp.yaml: line 6: evaluator: train.steps: Input should be a valid integer",
        ),
        (
            "evaluator",
            "evaluator:\n  name: zero_cost\n  settings:\n    zero_cost:\n      batches: 1\n"
            "      proxies: [fisher]\n",
            "exp.yaml: line 6: evaluator: zero_cost: proxies: unknown ['fisher']",
        ),
        (
            "evaluator",  # a number in quotes is text (was read as the float 3.0)
            "evaluator:\n  name: train\n  settings:\n    train:\n      lr: 0.01\n"
            '      epochs: "3"\n',
            "exp.yaml: line 6: evaluator: train.epochs: a number, not the text '3' (a number "
            "in quotes is text: write it without them)",
        ),
        (
            "evaluator",  # a measurement setting (it was placed at the `latency:` line)
            "evaluator:\n  name: latency\n  settings:\n    latency:\n      warmup: 1\n"
            "      runs: 0\nobjectives: [{metric: latency_ms, direction: min}]\n",
            "exp.yaml: line 6: evaluator: latency: runs must be an integer >= 1, got 0",
        ),
        (
            "evaluator",  # a measurement setting in quotes
            "evaluator:\n  name: latency\n  settings:\n    latency:\n      warmup: 1\n"
            '      runs: "5"\nobjectives: [{metric: latency_ms, direction: min}]\n',
            "exp.yaml: line 6: evaluator: latency: runs must be an integer >= 1, got '5' (a "
            "number in quotes is text: write it without them)",
        ),
        (
            "evaluator",
            "evaluator:\n  name: latency\n  settings:\n    latency:\n      threads: 2\n"
            "      clock: thread\nobjectives: [{metric: latency_ms, direction: min}]\n",
            "exp.yaml: line 6: evaluator: latency: clock: 'thread' measures one CPU thread",
        ),
        (
            "searcher",
            "searcher:\n  name: differentiable\n  settings:\n    hard: true\n    epochs: ten\n",
            "exp.yaml: line 5: searcher: epochs must be int, not 'ten'",
        ),
        (
            "searcher",
            "searcher:\n  name: evolution\n  settings:\n    tournament_size: 2\n"
            '    population_size: "8"\n',
            "exp.yaml: line 5: searcher: population_size must be an integer >= 1, not '8' (a "
            "number in quotes is text: write it without them)",
        ),
        (
            "searcher",  # a target of a sweep, named with its index
            "searcher:\n  name: differentiable\n  settings:\n    hard: true\n"
            "    latency_targets_ms: [0.1, 0]\n",
            "exp.yaml: line 5: searcher: latency_targets_ms[1] must be > 0 ms and finite, not 0",
        ),
        (
            "searcher",  # checked by the searcher itself (torch is not imported to read a file)
            "searcher:\n  name: differentiable\n  settings:\n    hard: true\n    epoch: 1\n",
            "exp.yaml: line 5: searcher: differentiable searcher has no setting 'epoch'",
        ),
        (
            "searcher",  # a mapping setting given a number failed with "'int' object has no
            # attribute 'items'", naming neither the setting nor the file
            "searcher:\n  name: predictor\n  settings:\n    initial: 2\n    reference: 5\n",
            "exp.yaml: line 5: searcher: reference must be a mapping of metric: bound, not 5",
        ),
        (
            "searcher",  # a list there: "cannot convert dictionary update sequence element"
            "searcher:\n  name: predictor\n  settings:\n    predictors: [1]\n",
            "exp.yaml: line 4: searcher: predictors must be a mapping of metric: predictor, "
            "not [1]",
        ),
        (
            "searcher",  # a decimal setting in quotes is said to be text too
            'searcher:\n  name: predictor\n  settings:\n    initial: 2\n    explore: "0.5"\n',
            "exp.yaml: line 5: searcher: explore must be a finite number, not '0.5' (a number in "
            "quotes is text: write it without them)",
        ),
        (
            "searcher",  # and a supernet's setting
            'searcher:\n  name: differentiable\n  settings:\n    hard: true\n    epochs: "3"\n',
            "exp.yaml: line 5: searcher: epochs must be int, not '3' (a number in quotes is text: "
            "write it without them)",
        ),
        (
            "searcher",  # a problem of no one setting: the searcher's line
            "searcher:\n  name: evolution\nobjectives: [{metric: accuracy, direction: max},\n"
            "  {metric: params, direction: min}]\n",
            "exp.yaml: line 1: searcher: searcher 'evolution' optimises one objective",
        ),
    ],
)
def test_a_setting_refused_after_parsing_names_its_line(
    section: str, text: str, expected: str
) -> None:
    """Settings are checked by the evaluator or searcher they build, after the file parsed:
    the error still names the file and the setting's line."""
    from hwnas.experiments.components import make_evaluator, make_searcher, make_space

    rest = "name: t\n" + ("" if "dataset:" in text else "dataset: digits\n")
    rest += "evaluations: 2\nrun_dir: runs/t\n"
    rest += "" if "objectives:" in text else "objectives: [{metric: accuracy, direction: max}]\n"
    rest += "" if "space:" in text else f"space: {Path(__file__).parent / 'data' / 'tiny2d.yaml'}\n"
    rest += "searcher: random\n" if section == "evaluator" else "evaluator: train\n"
    config = parse_experiment(text + rest, "exp.yaml")
    make = make_evaluator if section == "evaluator" else make_searcher
    with pytest.raises(ExperimentError) as err:
        make(config, make_space(config))
    assert str(err.value).startswith(expected)


def test_a_predictor_the_searcher_refuses_is_placed_at_the_latency_section(
    tmp_path: Path,
) -> None:
    """hwnas passes the `latency` section's predictor to the searcher as its
    `latency_predictor`: the refusal points at the section the user wrote."""
    from hwnas.experiments.components import make_searcher, make_space
    from hwnas.predictors import LearnedPredictor, LUTPredictor

    data = Path(__file__).parent / "data"
    space = make_space(parse_experiment(VALID.replace("nasbench201", str(data / "tiny2d.yaml"))))
    lut = LUTPredictor.from_profile(data / "tiny2d_ort.csv", space)
    archs = [space.sample(seed) for seed in range(10)]
    LearnedPredictor(space, lut).fit(archs, lut.predict(archs)).save(tmp_path / "learned.json")
    config = parse_experiment(
        f"name: d\nspace: {data / 'tiny2d.yaml'}\ndataset: digits\n"
        # a target: the searcher steers latency_ms, drawing no warning
        f"latency: {{predictor: {tmp_path / 'learned.json'}, target_ms: 0.05}}\n"
        "evaluator: latency\nobjectives: [{metric: latency_ms, direction: min}]\n"
        "searcher: differentiable\nevaluations: 1\n"
        "run_dir: runs/d\n",
        "exp.yaml",
    )
    with pytest.raises(ExperimentError) as err:
        make_searcher(config, make_space(config), progress=False)
    assert str(err.value).startswith("exp.yaml: line 4: searcher: latency_predictor: ")
    assert "lookup-table" in str(err.value)


def test_a_new_run_refuses_a_budget_no_evaluator_spends() -> None:
    """Only the train evaluator spends `evaluator.budget` (its epochs): with a table, proxies
    or a latency it was accepted and ignored, so `budget: 12` for NAS-Bench-201's 12-epoch
    accuracies quietly scored the 200-epoch ones. A new run refuses it at its line; a run
    stored with one stays readable, and a budget the train evaluator spends is kept."""
    text = VALID.replace("evaluator: tabular", "evaluator:\n  name: tabular\n  budget: 12")
    config = parse_experiment(text, "exp.yaml")
    with pytest.raises(ExperimentError) as err:
        check_new_run(config)
    line = text.splitlines().index("  budget: 12") + 1
    assert str(err.value).startswith(
        f"exp.yaml: line {line}: evaluator.budget: only the train evaluator spends a budget"
    )
    assert "tabular ignores it" in str(err.value)
    trained = VALID.replace("space: nasbench201", "space: conv1d\ndataset: digits").replace(
        "evaluator: tabular", "evaluator: {name: [train, latency], budget: 0.5}"
    )
    check_new_run(parse_experiment(trained, "exp.yaml"))

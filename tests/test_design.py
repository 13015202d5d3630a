"""The architecture and public API of `/work/shared/DESIGN.md`, enforced.

Package boundaries: every import in `hwnas/` (module level, inside functions, under
`TYPE_CHECKING`, and module names handed to `import_module`) is checked against the table
"Packages and what each may import". Public contracts: the named functions, classes and
signatures exist and behave as described.
"""

from __future__ import annotations

import ast
import configparser
import inspect
import json
import os
import pickle
import pydoc
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from importlib import import_module
from importlib.metadata import packages_distributions, requires, version
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from packaging.requirements import Requirement

import hwnas
import hwnas.evaluators
import hwnas.experiments
import hwnas.predictors
import hwnas.search
import hwnas.spaces
from hwnas.spaces import Arch, get_space

PACKAGE = Path(hwnas.__file__).parent
DATA = Path(__file__).parent / "data"

#: package -> the hwnas packages it may import (DESIGN.md, "Packages and what each may import").
#: `search` may import only the evaluator protocol of `evaluators` (see PROTOCOL).
MAY_IMPORT = {
    "spaces": set(),
    "predictors": {"spaces"},
    "evaluators": {"spaces", "predictors"},
    "search": {"spaces", "predictors", "evaluators"},
    "experiments": {"spaces", "predictors", "evaluators", "search"},
    "cli": {"spaces", "predictors", "evaluators", "search", "experiments", "<root>"},  # version
    # hwnas.build, a lazy alias of hwnas.experiments.build; hwnas.HwnasWarning, of spaces
    "<root>": {"spaces", "experiments"},
    "__main__": {"cli"},  # python -m hwnas: the command line, nothing else
}
#: what "the evaluator protocol" is: `Evaluator` and `Metrics`.
PROTOCOL = {"hwnas.evaluators", "hwnas.evaluators.base", "hwnas.evaluators.metrics"}
#: The one sanctioned crossing: DESIGN lets the differentiable searcher train its supernet,
#: and training data comes from the dataset loader (owned by `evaluators`, shared with the
#: training evaluator so both read a dataset name or .npz file the same way).
SANCTIONED = {("hwnas.search.differentiable", "hwnas.evaluators.datasets")}
#: third-party packages `spaces` may use: torch and numpy (DESIGN), plus YAML and pydantic
#: for the declarative YAML spec it owns; no optuna, ray, pandas, sklearn, onnx...
SPACES_THIRD_PARTY = {"torch", "numpy", "yaml", "pydantic"}
_MODULE_STRING = re.compile(r"hwnas(\.\w+)+(:\w+)?")


def _module_name(path: Path) -> tuple[str, str]:
    """(module name, the package its relative imports start from)."""
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    if parts[-1] == "__init__":
        return ".".join(parts[:-1]), ".".join(parts[:-1])
    return ".".join(parts), ".".join(parts[:-1])


def _package(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "<root>"


def imported_modules(source: str, package: str) -> list[tuple[int, str]]:
    """(line, module) of every import in `source` (anywhere in the tree, relative ones
    resolved), and of module names written out for `import_module` ("hwnas.x.y" or
    "hwnas.x.y:Name", or an f-string starting "hwnas.x.")."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                name = f"{base}.{node.module}" if node.module else base
            else:
                name = node.module or ""
            found.append((node.lineno, name))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            if _MODULE_STRING.fullmatch(node.value):
                found.append((node.lineno, node.value.split(":")[0]))
        elif isinstance(node, ast.JoinedStr) and node.values:
            head = node.values[0]
            if isinstance(head, ast.Constant) and re.fullmatch(r"hwnas(\.\w+)+\.", head.value):
                found.append((node.lineno, head.value.rstrip(".")))
    return found


def boundary_violations(source: str, module: str, package: str | None = None) -> list[str]:
    """Imports of `module` (given its source, and the package its relative imports start
    from: by default the one containing it) that the design's table forbids."""
    own = _package(module)
    bad = []
    for line, target in imported_modules(source, package or module.rpartition(".")[0]):
        top = target.split(".")[0]
        if top == "hwnas":
            other = _package(target)
            if other == own or (module, target) in SANCTIONED:
                continue
            if other not in MAY_IMPORT[own]:
                bad.append(f"{module}:{line} imports {target}")
            elif own == "search" and other == "evaluators" and target not in PROTOCOL:
                bad.append(f"{module}:{line} imports {target} (not the evaluator protocol)")
        elif own == "spaces" and top not in sys.stdlib_module_names | SPACES_THIRD_PARTY:
            bad.append(f"{module}:{line} imports third-party {target}")
    return bad


def test_every_import_in_hwnas_respects_the_package_table():
    files = sorted(PACKAGE.rglob("*.py"))
    assert len(files) > 40  # the whole package, not an empty glob
    bad = [v for f in files for v in boundary_violations(f.read_text(), *_module_name(f))]
    assert bad == []


@pytest.mark.parametrize(
    ("module", "source"),
    [
        ("hwnas.spaces.cost", "def f():\n    from hwnas.predictors import LUTPredictor\n"),
        ("hwnas.spaces.space", "import optuna\n"),
        ("hwnas.predictors.lut", "from hwnas.evaluators import Metrics\n"),
        ("hwnas.evaluators.train", "from ..search import get_searcher\n"),
        ("hwnas.search.nsga2", "from hwnas.evaluators.train import TrainEvaluator\n"),
        ("hwnas.search.evolution", "from hwnas.evaluators.datasets import load_dataset\n"),
        ("hwnas.evaluators.latency", "import_module('hwnas.experiments.storage')\n"),
        ("hwnas.predictors", "X = {'a': 'hwnas.cli:main'}\n"),
        ("hwnas.search", "import_module(f'hwnas.experiments.{name}')\n"),
        ("hwnas.predictors.lut", "from ...experiments import load\n"),
    ],
)
def test_the_boundary_check_catches_forbidden_imports(module, source):
    """The check above is only as good as its parser: each of these must be caught."""
    assert len(boundary_violations(source, module)) == 1


# -- packaging ---------------------------------------------------------------------------
#: requirements hwnas never imports itself: torch.onnx's dynamo exporter (FFT mixers) needs it
IMPORTED_BY_TORCH = {"onnxscript"}


def _distribution(name: str) -> str:
    """A distribution's name as pip compares them (`PyYAML` is `pyyaml`, `a_b` is `a-b`)."""
    return re.sub(r"[-_.]+", "-", re.split(r"[\s\[<>=!~;]", name.strip())[0]).lower()


def test_setup_cfg_requires_what_hwnas_imports_and_nothing_else():
    """A pip install gets install_requires only: every third-party module hwnas imports
    (lazily inside a function too) must come with a requirement (itself, or one it requires,
    as optuna brings sqlalchemy), and every requirement must be used (pyarrow, 170 MB, was
    installed and never imported)."""
    config = configparser.ConfigParser()
    config.read(PACKAGE.parent / "setup.cfg")
    required = {_distribution(r) for r in config["options"]["install_requires"].split("\n") if r}
    brought = {_distribution(r) for d in required for r in requires(d) or [] if "extra" not in r}
    providers = packages_distributions()
    imported: dict[str, str] = {}  # distribution -> one module importing it
    for file in sorted(PACKAGE.rglob("*.py")):
        module, package = _module_name(file)
        for _, name in imported_modules(file.read_text(), package):
            top = name.split(".")[0]
            if top != "hwnas" and top not in sys.stdlib_module_names:
                for dist in providers.get(top, [f"<no distribution has {top}>"]):
                    imported.setdefault(_distribution(dist), module)
    assert {d: m for d, m in imported.items() if d not in required | brought} == {}
    assert required - imported.keys() - IMPORTED_BY_TORCH == set()


def test_constraints_txt_pins_every_distribution_make_env_installs():
    """`make env` installs what setup.cfg requires (the dev extra too) and what those require
    in turn, each at its pin in constraints.txt, so that a new release on the index cannot
    change what is tested: pytest-xdist (`make test`'s `pytest -n 2`) and its execnet had none."""
    config = configparser.ConfigParser()
    config.read(PACKAGE.parent / "setup.cfg")
    options = config["options"]["install_requires"] + config["options.extras_require"]["dev"]
    todo = [Requirement(r) for r in options.split("\n") if r]
    installed: set[str] = set()
    seen: set[tuple[str, frozenset[str]]] = set()
    while todo:
        wanted = todo.pop()
        if (wanted.name, frozenset(wanted.extras)) in seen:
            continue
        seen.add((wanted.name, frozenset(wanted.extras)))
        installed.add(_distribution(wanted.name))
        for line in requires(wanted.name) or []:
            needed = Requirement(line)
            extras = wanted.extras | {""}
            if needed.marker is None or any(needed.marker.evaluate({"extra": e}) for e in extras):
                todo.append(needed)
    constraints = (PACKAGE.parent / "constraints.txt").read_text().splitlines()
    assert sorted(installed - {_distribution(c) for c in constraints if "==" in c}) == []


def _built(kind: str, tmp_path: Path, leftovers: tuple[str, ...] = ()) -> tuple[Path, Path]:
    """The source tree's copy, with the empty files `leftovers` (paths inside it) added, and
    the `kind` ("sdist" or "wheel") setuptools builds from it (built from a copy: the build
    writes its egg-info beside setup.cfg)."""
    # .git, venvs, caches and build output, not .ci (the script the Makefile runs)
    junk = shutil.ignore_patterns(
        ".git", ".venv*", ".hypothesis", "*cache*", "*.egg-info", "build", "dist", "runs"
    )
    source = tmp_path / "source"
    shutil.copytree(PACKAGE.parent, source, ignore=junk)
    for leftover in leftovers:
        (source / leftover).parent.mkdir(parents=True, exist_ok=True)
        (source / leftover).touch()
    build = f"from setuptools import build_meta; print(build_meta.build_{kind}(sys.argv[1]))"
    out = subprocess.run(
        [sys.executable, "-c", f"import sys; {build}", str(tmp_path)],
        cwd=source,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()[-1]
    return source, tmp_path / out


def test_the_sdist_holds_the_tree_make_demo_and_make_test_run_in(tmp_path: Path):
    """The sdist has the Makefile (and the .ci script it runs), constraints, examples, docs,
    benchmark data and the whole test suite: without a MANIFEST.in it held tests/test_*.py
    but not their conftest.py or data."""
    source, sdist = _built("sdist", tmp_path)
    with tarfile.open(sdist) as archive:
        held = {Path(*Path(n).parts[1:]) for n in archive.getnames()}
    wanted = {Path("Makefile"), Path("constraints.txt")} | {
        f.relative_to(source)
        for folder in (".ci", "examples", "docs", "tests", "benchmarks")
        for f in (source / folder).rglob("*")
        if f.is_file()
    }
    assert Path("tests/conftest.py") in wanted  # the copy is the tree, not an empty glob
    assert sorted(wanted - held) == []


def test_the_sdist_leaves_out_what_runs_leave_in_its_folders(tmp_path: Path):
    """The notebook run in Jupyter (in examples/), the tests and a latency profile leave files
    in folders the sdist takes whole, files git ignores: the sdist took them too (a notebook
    run's study.db, Jupyter's checkpoints, Hypothesis's database, a profile's lock file)."""
    leftovers = (
        "examples/runs/pareto-notebook/study.db",
        "examples/.ipynb_checkpoints/pareto-checkpoint.ipynb",
        "tests/.hypothesis/examples/0/1",
        "benchmarks/data/epyc/conv1d_ort_fp32.csv.lock",
    )
    _, sdist = _built("sdist", tmp_path, leftovers)
    with tarfile.open(sdist) as archive:
        held = {Path(*Path(n).parts[1:]).as_posix() for n in archive.getnames()}
    assert "examples/pareto.ipynb" in held
    assert sorted(set(leftovers) & held) == []


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_make_env_reinstalls_a_venv_that_differs_from_the_constraints(tmp_path: Path):
    """A `pip install` into .venv after its set-up (an older optuna) went unnoticed: the stamp
    was newer than constraints.txt, so `make demo` and `make test` ran on what was there. Here
    a venv (this Python, behind a wrapper) holds pytest at another version than the pin."""
    root = PACKAGE.parent
    for name in ("Makefile", "setup.cfg", "pyproject.toml"):
        shutil.copy(root / name, tmp_path / name)
    shutil.copytree(root / ".ci", tmp_path / ".ci")
    python = tmp_path / "venv" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    python.chmod(0o755)

    def make_env(pin: str) -> str:
        """`make -n env` (what it would run) with pytest pinned at `pin`, the venv set up."""
        (tmp_path / "constraints.txt").write_text(f"# pins\npytest=={pin}\n")
        (tmp_path / "venv" / ".installed").touch()
        said = subprocess.run(
            ["make", "-n", "env", "VENV=venv"], cwd=tmp_path, capture_output=True, text=True
        )
        assert said.returncode == 0, said.stderr
        return said.stdout

    assert "pip install" not in make_env(version("pytest"))
    stale = make_env("1.0")
    assert f"reinstalling: pytest {version('pytest')} (constraints.txt: 1.0)" in stale
    assert "pip install -q -c constraints.txt" in stale


def test_the_wheel_installs_every_file_of_the_package_and_its_type_hints(tmp_path: Path):
    """A `pip install hwnas` (not an editable one) gets the built-in spaces' YAML files and
    the `py.typed` marker that lets a type checker read hwnas's hints, not only the modules."""
    source, wheel = _built("wheel", tmp_path)
    with zipfile.ZipFile(wheel) as archive:
        held = set(archive.namelist())
    wanted = {f.relative_to(source).as_posix() for f in (source / "hwnas").rglob("*.*")}
    assert {"hwnas/py.typed", "hwnas/spaces/library/conv1d.yaml"} <= wanted
    assert sorted(wanted - held) == []


def test_every_file_the_docs_name_exists():
    """A path into the repository that README.md, docs/*.md or an example names (a script to
    run, a data file, an example) exists; patterns such as `seed{0..7}.json` are left out
    (docs/benchmarks.md gave a command with a benchmark script renamed since)."""
    root = PACKAGE.parent
    docs = [root / "README.md", *(root / "docs").glob("*.md"), *(root / "examples").glob("*")]
    named = r"(?<![\w/.])(?:benchmarks|examples|docs|hwnas|tests)/[\w./{}*\[\]-]+"
    missing = [
        f"{doc.name}: {path}"
        for doc in docs
        if doc.is_file()
        for path in (p.rstrip(".") for p in re.findall(named, doc.read_text()))
        if not re.search(r"[{}*\[\]]|N\.json$", path) and not (root / path).exists()
    ]
    assert missing == []


# -- names -------------------------------------------------------------------------------
def _space_with_mixers(mixers: dict) -> object:
    data = yaml.safe_load((DATA / "tiny_space.yaml").read_text())
    return hwnas.spaces.space_from_data({**data, "block": {**data["block"], "mixers": mixers}}, "s")


@pytest.mark.parametrize(
    ("lookup", "hint"),
    [
        (
            lambda: hwnas.search.get_searcher("nsgaii", get_space("conv1d"), [("params", "min")]),
            "'nsga2'",
        ),
        (lambda: get_space("conv1"), "'conv1d'"),
        (lambda: hwnas.evaluators.load_dataset("mnist_1d"), "'mnist1d'"),
        (lambda: hwnas.evaluators.get_evaluator("tabluar", get_space("nasbench201")), "'tabular'"),
        (lambda: hwnas.predictors.get_predictor("learnt", get_space("conv1d")), "'learned'"),
        (lambda: _space_with_mixers({"dwcnv": {}}), "'dwconv'"),
        # settings, checked before the constructor's TypeError about a keyword argument
        (
            lambda: hwnas.search.get_searcher(
                "evolution", "conv1d", [("accuracy", "max")], population=4
            ),
            "'population_size'",
        ),
        (lambda: hwnas.evaluators.get_evaluator("zero_cost", "conv1d", datset="x"), "'dataset'"),
        (
            lambda: hwnas.evaluators.get_evaluator(
                ["latency", "zero_cost"], "conv1d", latency={"run": 3}
            ),
            "'runs'",
        ),
        (lambda: hwnas.predictors.get_predictor("lut", "conv1d", profiel="x"), "'profile'"),
        (lambda: hwnas.predictors.get_predictor("learned", "conv1d", hyperparams={}), "'hyper"),
        (lambda: hwnas.predictors.get_predictor("transfer", "conv1d", source=None), "'sources'"),
    ],
)
def test_a_misspelt_name_is_answered_with_the_closest_one(lookup, hint):
    with pytest.raises(ValueError, match=f"did you mean {hint}"):
        lookup()


def test_a_space_may_be_named_where_the_api_takes_one():
    """A built-in's name or a space file is as good as the space; anything else is refused by
    name, not an AttributeError at first use."""
    searcher = hwnas.search.get_searcher("random", "nasbench201", [("accuracy", "max")])
    assert searcher.space.name == "nasbench201" and len(searcher.ask(2)) == 2
    evaluator = hwnas.evaluators.get_evaluator("latency", DATA / "tiny_space.yaml")
    assert evaluator.space.name == "tiny"
    assert hwnas.predictors.get_predictor("learned", "conv1d").space.name == "conv1d"
    with pytest.raises(TypeError, match="space must be a SearchSpace, a built-in space's name"):
        hwnas.search.get_searcher("random", None, [("accuracy", "max")])


def test_predict_refuses_one_arch_on_its_own():
    """An Arch is a mapping: iterated, its choice names would be taken for architectures."""
    space = get_space("conv1d")
    predictor = hwnas.predictors.get_predictor("learned", space)
    archs = [space.sample(seed) for seed in range(8)]
    with pytest.warns(hwnas.HwnasWarning, match="fitted on only 8 networks"):
        predictor.fit(archs, [1.0 + i for i in range(8)])
    with pytest.raises(hwnas.predictors.PredictorError, match=r"predict\(\[arch\]\)"):
        predictor.predict(archs[0])
    assert predictor.predict(archs[:1]).shape == (1,)


# -- Arch ----------------------------------------------------------------------------------
def test_arch_is_frozen():
    """DESIGN: `Arch` is a frozen, hashable record. Changing its space or version would leave
    its key (and so its hash and equality) describing another architecture."""
    space = get_space("nasbench201")
    arch = space.sample(0)
    key, choices = arch.key, dict(arch)
    for name, value in (("space", "other"), ("version", 2), ("_choices", {}), ("_key", "0")):
        with pytest.raises(AttributeError, match="immutable"):
            setattr(arch, name, value)
        with pytest.raises(AttributeError, match="immutable"):
            delattr(arch, name)
    arch.choices["1<-0"] = "changed"  # a copy: the arch is untouched
    assert (arch.space, arch.version, arch.key, dict(arch)) == (space.name, 1, key, choices)
    assert pickle.loads(pickle.dumps(arch)) == arch
    assert Arch.from_json(arch.to_json()).key == key
    later = Arch(space.name, 2, choices)  # Ray and process pools pickle archs: every field
    assert pickle.loads(pickle.dumps(later)) == later


@pytest.mark.parametrize(
    ("record", "field"),
    [
        ({"space": "s", "version": "one", "choices": {}}, "version"),
        ({"space": "s", "version": 1.5, "choices": {}}, "version"),
        ({"space": "s", "version": True, "choices": {}}, "version"),
        ({"space": "s", "version": 1, "choices": [1, 2]}, "choices"),
        ({"space": 3, "version": 1, "choices": {}}, "space"),
        ({"space": "s", "version": 1, "choices": {"a": [1]}}, "'a'"),
        ([1, 2], "arch record"),
        ({"space": "s", "choices": {}}, "arch record is missing ['version']"),
    ],
)
def test_a_bad_arch_record_is_refused_naming_the_field(record, field):
    with pytest.raises(ValueError, match=re.escape(field)):
        Arch.from_json(json.dumps(record))


def test_an_arch_record_nested_past_reason_is_refused_as_a_bad_record():
    """A profile's `arch` cell or a run's stored architecture nested thousands of levels
    deep ended in json's bare RecursionError, which named no file, row or trial."""
    with pytest.raises(ValueError, match="arch record: nested too deeply"):
        Arch.from_json("[" * 5000 + "]" * 5000)


def test_arch_keys_canonicalise_unused_choices():
    """An attention mixer has no kernel: giving one must not change the network's key."""
    space = get_space("conv1d")
    choices = dict(space.sample(0))
    choices.update({"s0.b0.mixer": "attn"})
    for knob in ("s0.b0.kernel", "s0.b0.dilation"):
        choices.pop(knob, None)
    plain = space.arch(choices)
    with_kernel = space.arch({**choices, "s0.b0.kernel": 3, "s0.b0.dilation": 2})
    assert plain == with_kernel and plain.key == with_kernel.key
    assert "s0.b0.kernel" not in with_kernel


# -- the rest of the public API: names and signatures ---------------------------------------
def _parameters(fn) -> list[tuple[str, object]]:
    return [(p.name, p.default) for p in inspect.signature(fn).parameters.values()]


def test_the_named_public_api_exists_with_its_signatures():
    from hwnas.evaluators import LocalExecutor, Metrics, RayExecutor, get_evaluator
    from hwnas.predictors import LatencyPredictor, TransferPredictor
    from hwnas.search import Searcher, get_searcher
    from hwnas.spaces import SearchSpace

    for method in ("sample", "mutate", "crossover", "encode", "suggest", "validate", "build"):
        assert callable(getattr(SearchSpace, method))
    for method in ("cost", "to_string", "from_string"):
        assert callable(getattr(SearchSpace, method))
    assert isinstance(SearchSpace.cardinality, property)
    assert _parameters(get_evaluator)[:2] == [("name", inspect.Parameter.empty)] + [
        ("space", inspect.Parameter.empty)
    ]
    assert _parameters(get_searcher)[:5] == [
        ("name", inspect.Parameter.empty),
        ("space", inspect.Parameter.empty),
        ("objectives", inspect.Parameter.empty),
        ("constraints", ()),
        ("seed", 0),
    ]
    assert [n for n, _ in _parameters(RayExecutor)[:6]] == [
        "evaluator",
        "address",
        "max_in_flight",
        "resources",
        "timeout_s",
        "max_retries",
    ]
    assert [d for _, d in _parameters(RayExecutor)[1:5]] == [None] * 4
    assert [n for n, _ in _parameters(LocalExecutor)] == ["evaluator"]
    for executor in (LocalExecutor, RayExecutor):
        for method in ("run", "submit", "results"):
            assert callable(getattr(executor, method))
    assert [n for n, _ in _parameters(Searcher.ask)] == ["self", "n"]
    assert [n for n, _ in _parameters(Searcher.tell)] == ["self", "arch", "metrics"]
    for cls in (LatencyPredictor, TransferPredictor):
        assert [n for n, _ in _parameters(cls.fit)] == ["self", "archs", "latencies"]
        assert [n for n, _ in _parameters(cls.predict)] == ["self", "archs"]
    assert next(iter(inspect.signature(TransferPredictor).parameters)) == "sources"
    failed = Metrics.failed("diverged", {"params": 3})
    assert (failed.status, failed.reason, dict(failed)) == ("failed", "diverged", {"params": 3.0})


def test_the_named_public_api_has_docstrings_of_its_own():
    """`help()` in a notebook: a class without a docstring shows its base's (the Evaluator
    protocol showed Python's "Base class for protocol classes", the searchers that
    `get_searcher` returns the note that subclasses implement `_propose`)."""
    from hwnas.evaluators import EVALUATORS, Evaluator, LocalExecutor, RayExecutor, evaluator_class
    from hwnas.search import SEARCHERS, get_searcher
    from hwnas.spaces import Arch, get_space

    space = get_space("nasbench201")
    searchers = [get_searcher(n, space, [("accuracy", "max")]) for n in SEARCHERS]
    classes = [Evaluator, LocalExecutor, RayExecutor, Arch, type(space)]
    classes += [type(s) for s in searchers] + [evaluator_class(n) for n in EVALUATORS]
    for cls in classes:
        assert vars(cls).get("__doc__"), cls.__name__
    methods = [Arch.to_json, Arch.from_json, space.to_string, space.from_string]
    methods += [x.submit for x in (LocalExecutor, RayExecutor)] + [LocalExecutor.results]
    for method in methods:
        assert method.__doc__, method.__qualname__


PACKAGES = [
    hwnas,
    hwnas.spaces,
    hwnas.experiments,
    hwnas.search,
    hwnas.predictors,
    hwnas.evaluators,
]


def _public_members(cls: type) -> list[tuple[str, object]]:
    """(name, function) of what `cls` itself defines for its users: methods, class and static
    methods, and property getters (named `name.fget`); not those of Python or a library."""
    found = []
    for name, member in vars(cls).items():
        if name.startswith("_") and name != "__init__":
            continue
        if isinstance(member, (classmethod, staticmethod)):
            member = member.__func__
        if isinstance(member, property):
            name, member = f"{name}.fget", member.fget
        if inspect.isfunction(member) and member.__module__.startswith("hwnas"):
            found.append((name, member))
    return found


def _unannotated(fn) -> list[str]:
    """The parameters of `fn` without a type hint, and its return when it has none."""
    signature = inspect.signature(fn)
    missing = [
        p.name
        for p in signature.parameters.values()
        if p.name not in ("self", "cls") and p.annotation is inspect.Parameter.empty
    ]
    if signature.return_annotation is inspect.Signature.empty and fn.__name__ != "__init__":
        missing.append("return")
    return missing


@pytest.mark.parametrize("package", PACKAGES, ids=lambda package: package.__name__)
def test_every_exported_name_has_type_hints_and_a_docstring(package):
    """What a package exports is its public API (DESIGN: typed, documented): every class and
    function has a docstring of its own, every public method and property one of its own or
    of the one it overrides (what `help()` shows), and every parameter and return is typed.
    `LearnedPredictor`, `CompositeEvaluator` and `Executor` had no docstring, nor had 24
    methods (`Arch.to_dict`, `Metrics.failed`, `Searcher.is_feasible`, ...), and the searchers
    took an untyped `space`, `objectives` and `constraints`."""
    bad = []
    for name in package.__all__:
        value = getattr(package, name)
        if inspect.isfunction(value):
            bad += [f"{name}: no docstring"] * (not value.__doc__)
            bad += [f"{name}({p}): no type hint" for p in _unannotated(value)]
        elif inspect.isclass(value) and value.__module__.startswith("hwnas"):
            bad += [f"{name}: no docstring"] * (not vars(value).get("__doc__"))
            for method, fn in _public_members(value):
                if method != "__init__":  # its own or the one it overrides (`help` shows)
                    documented = inspect.getdoc(getattr(value, method.removesuffix(".fget")))
                    bad += [f"{name}.{method}: no docstring"] * (not documented)
                bad += [f"{name}.{method}({p}): no type hint" for p in _unannotated(fn)]
    assert bad == []


@pytest.mark.parametrize("package", PACKAGES, ids=lambda package: package.__name__)
def test_dir_and_help_of_a_package_list_its_public_names(package):
    """The names a package resolves on first use (so that reading a run imports no torch)
    were missing from `dir()`: a notebook's tab completion did not offer
    `hwnas.spaces.reparameterize` or `hwnas.experiments.run_experiment`, and
    `help(hwnas.spaces)` left them out."""
    assert sorted(set(package.__all__) - set(dir(package))) == []
    text = pydoc.render_doc(package, renderer=pydoc.plaintext)
    for name in package.__all__:
        if inspect.isfunction(getattr(package, name)):
            assert f"{name}(" in text, name


def _for_type_checkers(node: ast.stmt) -> bool:
    """Whether `node` is an `if TYPE_CHECKING:` block (imports only a type checker runs)."""
    return isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING"


def _bound_at_import(tree: ast.Module) -> set[str]:
    """The names a module's top-level statements bind when it is imported (not those under
    `if TYPE_CHECKING:`, nor those inside its functions)."""
    names = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.ClassDef):
            names.add(node.name)
        elif not _for_type_checkers(node):
            for sub in ast.walk(node):
                if isinstance(sub, ast.Import | ast.ImportFrom):
                    names |= {(a.asname or a.name).split(".")[0] for a in sub.names}
                elif isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Store):
                    names.add(sub.id)
    return names


@pytest.mark.parametrize("package", PACKAGES, ids=lambda package: package.__name__)
def test_type_checkers_see_the_names_a_package_imports_on_first_use(package):
    """The names a package's `__getattr__` imports on first use were `Any` to mypy and
    pyright (`hwnas.build`, `run_experiment`, all of `hwnas.predictors`) or, from
    `hwnas.search`, a variable of type `type[Searcher]`: `PredictorSearcher(...,
    latency_predictor=...)` and `def f(searcher: NSGA2Searcher)` failed type checking. Each
    is imported under `if TYPE_CHECKING:` from the module that defines it."""
    tree = ast.parse(Path(package.__file__).read_text())
    seen = {
        alias.asname or alias.name: imported.module
        for node in tree.body
        if _for_type_checkers(node)
        for imported in node.body
        if isinstance(imported, ast.ImportFrom)
        for alias in imported.names
    }
    assert sorted(set(package.__all__) - _bound_at_import(tree) - set(seen)) == []
    for name, module in seen.items():
        assert getattr(import_module(module), name) is getattr(package, name), name


# -- experiments ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def latency_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real run: the tiny 2D space scored by the lookup table of its measured profile."""
    from hwnas.experiments import run_experiment
    from hwnas.experiments.config import parse_experiment

    run_dir = tmp_path_factory.mktemp("design") / "run"
    experiment = (
        f"name: lat\nspace: {DATA / 'tiny2d.yaml'}\nevaluator: latency\n"
        f"latency: {{profile: {DATA / 'tiny2d_ort.csv'}}}\n"
        "objectives: [{metric: latency_ms, direction: min}, {metric: size_bytes, direction: min}]\n"
        f"searcher: random\nevaluations: 3\nrun_dir: {run_dir}\n"
    )
    summary = run_experiment(parse_experiment(experiment), progress=False)
    assert summary.evaluated == 3 and summary.failed == 0
    return run_dir


def test_export_run_takes_a_string_folder(latency_run: Path, tmp_path: Path):
    """`export_run` is public API; a notebook passes the output folder as a string."""
    from hwnas.experiments import build, export_run, load

    results = load(str(latency_run))
    [config] = export_run(results, str(tmp_path / "out"), top=1)
    assert config.parent == tmp_path / "out" and config.is_file()
    model = build(config)
    arch = results.arch(int(results.pareto().iloc[0]["number"]))
    assert json.loads(config.read_text())["key"] == arch.key
    assert sum(p.numel() for p in model.parameters()) == results.space.cost(arch).params
    x = torch.from_numpy(np.zeros((1, *results.space.input_shape), dtype=np.float32))
    assert tuple(model.eval()(x).shape) == (1, results.space.num_classes)


def test_a_source_tree_that_was_never_installed_imports(tmp_path):
    """Run from its folder on the path with no installed metadata (a GPU machine's own Python,
    say), `import hwnas` failed with PackageNotFoundError before anything could run."""
    shutil.copytree(PACKAGE, tmp_path / "hwnas")
    code = "import hwnas; print(hwnas.__version__)"
    # -S: no site-packages, so no installed hwnas metadata is found (the package needs none)
    said = subprocess.run(
        [sys.executable, "-S", "-c", code], cwd=tmp_path, capture_output=True, text=True
    )
    assert said.returncode == 0, said.stderr
    assert said.stdout.strip() == "unknown (not installed)"


#: a process that loads ONNX Runtime through hwnas: one latency measurement of a tiny model
_MEASURE_ONCE = (
    "import torch; from hwnas.predictors import measure_latency; "
    "measure_latency(torch.nn.Linear(4, 2).eval(), (4,), warmup=0, runs=1, rounds=1)"
)


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_make_runs_hwnas_without_onnxruntimes_telemetry_files(tmp_path: Path):
    """ONNX Runtime (1.32) keeps a device ID and a queue of telemetry events in
    ~/.cache/Microsoft/DeveloperTools/.onnxruntime and a `.ses` file in $TMPDIR, written by
    every process that loads it (an ONNX export, a latency measurement, the test suite): the
    development machine's queue held 2385 unsent events (1.8 MB). `make demo` and `make test`
    run hwnas with it off (`ORT_DISABLE_TELEMETRY`), as they run Ray without usage stats."""
    shutil.copy(PACKAGE.parent / "Makefile", tmp_path / "Makefile")
    show_env = f'"{sys.executable}" -c "import json, os; print(json.dumps(dict(os.environ)))"'
    outside = {k: v for k, v in os.environ.items() if k != "ORT_DISABLE_TELEMETRY"}
    made = subprocess.run(
        ["make", "-s", f"--eval=show-env: ; @{show_env}", "show-env"],
        cwd=tmp_path,
        env=outside,
        capture_output=True,
        text=True,
        check=True,
    )
    home, tmp = tmp_path / "home", tmp_path / "tmp"
    home.mkdir()
    tmp.mkdir()
    env = {**json.loads(made.stdout), "HOME": str(home), "TMPDIR": str(tmp)}
    subprocess.run([sys.executable, "-c", _MEASURE_ONCE], env=env, check=True)
    assert not (home / ".cache" / "Microsoft").exists()
    assert not (tmp / ".ses").exists()

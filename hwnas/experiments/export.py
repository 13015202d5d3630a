"""Exporting winners: self-contained architecture configs, torch weights and ONNX models.

An exported config holds everything needed to rebuild the exact torch model anywhere hwnas is
installed: the space's name, version and full YAML source (so a later change to a built-in
space cannot silently change the model), the input shape and classes, the choices, and the
metrics the search measured. `build(config)` turns it back into the model.

torch and the ONNX exporter are imported where a model is built or written: exporting
configs alone (json, yaml) builds none, and their import was most of its time.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, get_args

import numpy as np
import pandas as pd
import yaml
from tqdm import tqdm

from hwnas.evaluators.datasets import DatasetError, load_dataset, npz_digest, npz_retyped
from hwnas.experiments.components import latency_source, training_recipe, weights_seed
from hwnas.experiments.config import ExperimentError, no_nul, uses_dataset
from hwnas.experiments.files import folder_for, write_weights, written_whole
from hwnas.experiments.records import DATASET_DIGEST, DATASET_SCALING
from hwnas.experiments.results import Objectives, RunResults, load
from hwnas.experiments.run_dir import space_source
from hwnas.experiments.shown import counted
from hwnas.predictors.whole_files import name_too_long
from hwnas.spaces import Arch, SearchSpace, SpaceError, space_from_data
from hwnas.spaces.errors import whole_number
from hwnas.spaces.yaml_files import (
    ConfigLoader,
    ReadableDumper,
    parse_yaml,
    read_text,
    yaml_problem,
)

if TYPE_CHECKING:
    import torch
    from torch import nn

FORMAT = "hwnas-arch/1"
#: the calibration inputs (the first ones) that `export_deployed_onnx` measures its difference on
COMPARED_INPUTS = 64
#: training inputs that calibrate a deployed model's int8 activation ranges (`hwnas build`)
CALIBRATION_INPUTS = 256
Format = Literal["json", "yaml", "onnx", "torch"]


def arch_config(space: SearchSpace, arch: Arch, metrics: Mapping[str, Any] | None = None) -> dict:
    """The self-contained config of `arch` (see the module docstring)."""
    space.validate(arch)
    return {
        "format": FORMAT,
        "space": {
            "name": space.name,
            "version": space.version,
            "input": list(space.input_shape),
            "classes": space.num_classes,
            "source": space_source(space.source),
        },
        "key": arch.key,
        "choices": dict(arch),
        "metrics": {k: float(v) for k, v in (metrics or {}).items()},
    }


def read_config(config: str | Path | Mapping[str, Any]) -> dict[str, Any]:
    """A config as data: a mapping as is, or a `.json` / `.yaml` file (parsed safely, a YAML
    one as YAML 1.2 with `ConfigLoader`). Its text is refused, saying to give its file: YAML
    text parsed with `yaml.safe_load` is YAML 1.1, in which a hand-edited `010` is 8."""
    source = _config_source(config)
    if isinstance(config, str) and config.lstrip().startswith(("{", "format:")):
        raise ExperimentError(
            "config: give a path to a .json or .yaml file, or the config as a dict "
            "(json.loads(text) of JSON text; YAML text as a .yaml file, which hwnas reads as "
            "YAML 1.2, where yaml.safe_load reads 1.1: 010 as 8), not the text itself"
        )
    data = dict(config) if isinstance(config, Mapping) else _parsed_config_file(config)
    _check_config(data, source)
    return data


def _parsed_config_file(config: str | Path) -> Any:
    """The data of a `.json` or `.yaml` config file, whatever its shape: parsed safely,
    bounded in size and nesting as every YAML hwnas reads, a repeated key refused."""
    no_nul(config, "config")
    path = Path(config)
    text = read_text(  # not text: an .onnx or .pt file, say
        path,
        ExperimentError,
        "not an hwnas architecture config (a binary file; give the .json or .yaml that "
        "`hwnas export` wrote)",
    )
    try:
        if path.suffix.lower() == ".json":
            return json.loads(text, object_pairs_hook=_unique_keys)
        return yaml.load(text, ConfigLoader)
    except (ValueError, RecursionError) as e:  # or nested past reason
        raise ExperimentError(f"{path}: not valid json: {e}") from None
    except yaml.YAMLError as e:  # one line, as every other error (no caret drawing)
        raise ExperimentError(f"{path}:{yaml_problem(e)}") from None


def _check_config(data: Any, source: str) -> None:
    """Refuse `data` (read from `source`) unless it is an architecture config of this format
    with its space (name, version, YAML text), its choices and well-formed records."""
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ExperimentError(
            f"{source}: not an hwnas architecture config (format {FORMAT}): {_found(data)}"
        )
    for field in ("space", "choices"):
        if not isinstance(data.get(field), dict):
            raise ExperimentError(f"{source}: {field}: missing or not a mapping")
    for field, kind, what in (("name", str, "text"), ("version", int, "a number")):
        if not isinstance(data["space"].get(field), kind):
            raise ExperimentError(f"{source}: space.{field}: missing or not {what}")
    if not isinstance(data["space"].get("source"), str):
        raise ExperimentError(f"{source}: space.source: missing or not the space's YAML text")
    _check_records(data, source)


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object, refused when a key repeats (`json` silently keeps the last)."""
    data: dict[str, Any] = {}
    for key, value in pairs:
        if key in data:
            raise ValueError(f"duplicate key {key!r}")
        data[key] = value
    return data


def _check_records(data: dict[str, Any], source: str) -> None:
    """Refuse what export writes beside the architecture (`metrics`, `run`, `data`,
    `training`) in another shape, as a hand edit can leave it: each a mapping where present,
    the metrics numbers. `hwnas train` reads them, and failed on them deep inside."""
    for field in ("metrics", "run", "data", "training"):
        if data.get(field) is not None and not isinstance(data[field], dict):
            raise ExperimentError(f"{source}: {field}: not a mapping: {data[field]!r}")
    for name, value in (data.get("metrics") or {}).items():
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ExperimentError(f"{source}: metrics.{name}: not a number: {value!r}")


def _found(data: Any) -> str:
    """What a file that is not a config holds instead, in words."""
    if not isinstance(data, dict):
        return f"it holds a {type(data).__name__}, not a mapping"
    return f"format {data['format']!r}" if "format" in data else "it has no format field"


def _config_source(config: str | Path | Mapping[str, Any]) -> str:
    """How errors name a config: its file, or "config" for one given as data."""
    return "config" if isinstance(config, Mapping) else str(config)


def config_space(data: Mapping[str, Any], source: str = "config") -> SearchSpace:
    """The space a config (`source` in errors) was exported from, rebuilt from its embedded
    YAML source."""
    s = data["space"]
    try:  # parsed as it is: no scratch file, so a read-only system without /tmp builds too
        definition = parse_yaml(s["source"], "space.source")
        space = space_from_data(
            definition, "space.source", input_shape=s.get("input"), num_classes=s.get("classes")
        )
    except SpaceError as e:
        raise ExperimentError(f"{source}: {e}") from None
    if (space.name, space.version) != (s["name"], s["version"]):
        raise ExperimentError(
            f"{source}: space source is {space.name!r} v{space.version}, config says "
            f"{s['name']!r} v{s['version']}"
        )
    return space


def config_arch(data: Mapping[str, Any], space: SearchSpace, source: str = "config") -> Arch:
    """The architecture of a config (`source` in errors) in its `space`, an error naming
    `source` where its choices are not one of the space's."""
    try:
        return space.arch(data["choices"])
    except SpaceError as e:
        raise ExperimentError(f"{source}: choices: {e}") from None


def build(config: str | Path | Mapping[str, Any], weights: str | Path | None = None) -> nn.Module:
    """The exact torch model of an exported config (training mode, as the search built it).

    Weights come from `weights`, else from the file the config names beside it (a state_dict
    saved with `torch.save`, loaded with `weights_only=True`); a config naming none gives a
    freshly initialised model. A config given as a mapping has no folder to find its weights
    file in: when it names one, `weights` is required (never a silently fresh model)."""
    data = read_config(config)
    source = _config_source(config)
    space = config_space(data, source)
    arch = config_arch(data, space, source)
    if data.get("key") and data["key"] != arch.key:
        raise ExperimentError(f"{source}: choices give key {arch.key}, config says {data['key']}")
    model = space.build(arch)
    path = weights_file(config, data, weights)
    if path is not None:
        _load_weights(model, path)
    return model


def initial_model(space: SearchSpace, arch: Arch, seed: int) -> nn.Module:
    """The model of `arch` with the initial weights a torch or onnx export writes (the
    candidate's before training): built after `torch.manual_seed(seed)` at torch's own
    defaults, float32 on the CPU, whatever the caller set."""
    import torch

    from hwnas.predictors.torch_state import torch_defaults, torch_seeded

    with torch_defaults(), torch_seeded(seed, torch.device("cpu")):
        return space.build(arch)


def holds_initial_weights(model: nn.Module, data: Mapping[str, Any], source: str) -> bool:
    """Whether `model`, built from the exported config `data` (read from `source`), holds
    the initial weights its export wrote, those built with its `weights_seed`: untrained,
    as the search keeps no trained ones. False for a config that records no seed (and for
    such weights built by another torch, where the same seed may build other ones)."""
    import torch

    from hwnas.predictors.torch_state import torch_seed

    seed = data.get("weights_seed")
    if not isinstance(seed, int) or isinstance(seed, bool) or not torch_seed(seed):
        return False  # none, or one no export writes (torch's "Overflow when unpacking")
    space = config_space(data, source)
    initial = initial_model(space, space.arch(data["choices"]), seed).state_dict()
    held = model.state_dict()
    return held.keys() == initial.keys() and all(
        torch.equal(held[name], initial[name]) for name in held
    )


def weights_file(
    config: str | Path | Mapping[str, Any],
    data: Mapping[str, Any],
    weights: str | Path | None = None,
) -> Path | None:
    """The weights `build` loads: `weights`, else the file the config names beside the
    config file; None when there are none (a freshly initialised model)."""
    if weights is not None:
        no_nul(weights, "weights")
        return Path(weights)
    name = data.get("weights")
    if not name:
        return None
    if not isinstance(name, str):
        where = "config" if isinstance(config, Mapping) else str(config)
        raise ExperimentError(f"{where}: weights: a file name beside it, not {name!r}")
    if isinstance(config, Mapping):
        raise ExperimentError(
            f"config: names weights {name!r}, but a config given as a mapping has no folder "
            "to find them in; pass weights=PATH, or build from the config's file"
        )
    return Path(config).parent / name


def _load_weights(model: nn.Module, path: Path) -> None:
    """Load the state_dict in `path` into `model`; an unreadable file, weights of another
    architecture (not torch's list of every tensor) or holding NaN or infinite values is an
    error naming the file. One torch cannot read says torch's first line of why (told only
    "not a state_dict", a copy cut short read as the wrong kind of file); one cut short where
    torch's reader fails with the OS's EINVAL says so (it said "cannot read weights: Invalid
    argument", as if the file system had failed)."""
    import errno
    import pickle

    import torch

    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except OSError as e:
        if e.errno == errno.EINVAL:  # torch's zip reader seeking before the file's start
            raise ExperimentError(
                f"{path}: not a state_dict saved with torch.save (its archive is cut short or "
                "damaged)"
            ) from None
        raise ExperimentError(f"{path}: cannot read weights: {e.strerror or e}") from None
    except pickle.UnpicklingError:  # no pickle, or more than tensors (a whole model), where
        state = None  # torch's words advise loading it unsafely
    except Exception as e:  # noqa: BLE001 - torch's zip reader fails in many types
        why = (str(e).strip() or type(e).__name__).splitlines()[0]
        why = why if len(why) <= 240 else why[:240] + "..."
        raise ExperimentError(
            f"{path}: not a state_dict saved with torch.save (torch: {why})"
        ) from None
    if not isinstance(state, Mapping):
        raise ExperimentError(f"{path}: not a state_dict saved with torch.save")
    mine = model.state_dict()
    # weights saved before quantized layers kept their activation ranges load without them
    kept_since = {k for k in mine.keys() - state.keys() if k.endswith(".activation_range")}
    misfits = sorted((mine.keys() ^ state.keys()) - kept_since) + sorted(
        k for k in mine.keys() & state.keys() if getattr(state[k], "shape", None) != mine[k].shape
    )
    if misfits and all(k in state and ".merged." in k for k in misfits):
        raise ExperimentError(
            f"{path}: weights of the model's inference form (hwnas.inference_model merged its "
            f"large-kernel branches into {counted(len(misfits), 'tensor')} the built model "
            f"lacks, e.g. {misfits[0]!r}): save the state_dict before inference_model (the "
            "file holds the branches too: without its '.merged.' tensors it loads, and "
            "inference_model merges them again)"
        )
    if misfits:
        raise ExperimentError(
            f"{path}: weights of another architecture ({len(misfits)} tensors do not fit "
            f"this config's model, e.g. {misfits[0]!r})"
        )
    floats = {k: v for k, v in state.items() if torch.is_tensor(v) and v.is_floating_point()}
    if broken := [k for k, v in floats.items() if not v.isfinite().all()]:
        # the model would compute NaN, and an int8 `--onnx` stopped on ONNX Runtime's bare
        # "scale issue"
        raise ExperimentError(
            f"{path}: NaN or infinite values in {counted(len(broken), 'weight tensor')} (e.g. "
            f"{broken[0]!r}): a training that diverged?"
        )
    model.load_state_dict(state)


def inference_model(model: nn.Module) -> nn.Module:
    """The deployable float form of a built model: eval mode, large-kernel branches merged,
    fake quantization off (the blocks' precisions stay in the config for the deployment
    toolchain, e.g. ONNX Runtime static quantization). `model` itself is changed (no copy of
    its weights is made) and returned; its merged `lkconv` blocks keep their training
    branches, unused (see `LKConvMixer.reparameterize`)."""
    from hwnas.spaces import reparameterize, set_fake_quant

    model = reparameterize(model.eval())
    return set_fake_quant(model, False)


def export_onnx_checked(
    model: nn.Module, input_shape: tuple[int, ...], path: Path, seed: int = 0
) -> float:
    """Turn `model` into its inference form (`inference_model`, in place), write it as ONNX
    (batch dimension dynamic) and return the largest absolute difference between ONNX
    Runtime's output and torch's on a random batch (raises when they disagree)."""
    import onnx
    import onnxruntime as ort
    import torch

    from hwnas.predictors.onnx_export import INPUT_NAME

    model = inference_model(model)
    x = torch.from_numpy(np.random.default_rng(seed).standard_normal((3, *input_shape)))
    x = x.float()
    onnx.save(_onnx_graph(model, x), path)
    # the file's bytes: ORT takes no path that is not UTF-8 ("incompatible constructor
    # arguments", naming neither the file nor the option)
    session = ort.InferenceSession(Path(path).read_bytes(), providers=["CPUExecutionProvider"])
    (got,) = session.run(None, {INPUT_NAME: x.numpy()})
    with torch.no_grad():
        want = model(x).numpy()
    diff = float(np.max(np.abs(got - want)))
    if not np.allclose(got, want, rtol=1e-3, atol=1e-4):
        raise ExperimentError(f"{path}: ONNX Runtime output differs from torch by {diff:.3g}")
    return diff


def calibration_inputs(x_train: np.ndarray, count: int = CALIBRATION_INPUTS) -> np.ndarray:
    """Up to `count` training inputs drawn at random (seeded: a build is reproducible) to
    calibrate int8 activation ranges on: a file's first inputs, where it is sorted by class,
    describe its first classes only."""
    return x_train[np.random.default_rng(0).permutation(len(x_train))[:count]]


def export_deployed_onnx(
    model: nn.Module,
    input_shape: Sequence[int],
    path: str | Path,
    calibration: np.ndarray | None = None,
) -> float:
    """Write `model` (a built one; turned into its inference form in place) as ONNX with its
    blocks at the precisions the search timed on ONNX Runtime: int8 blocks statically
    quantized (QDQ, per-channel int8 weights) with activation ranges calibrated on
    `calibration` (model inputs, N x `input_shape`, standardised as the run's were), w4a8
    blocks as int8 (no 4-bit CPU kernel), fp16 blocks in float16. Without `calibration` the
    ranges come from random inputs: right for timing, not for a deployed model's accuracy.
    Returns the largest absolute difference between ONNX Runtime's output and the float
    model's on the first `COMPARED_INPUTS` calibration inputs; quantization makes it larger
    than a float export's, and it is reported, not checked. `path` must end in .onnx, so a slip
    cannot write over the weights or config it was built from; its folder is made."""
    import onnx
    import onnxruntime as ort
    import torch

    from hwnas.predictors.backends import get_backend, measured_precision
    from hwnas.predictors.onnx_export import INPUT_NAME
    from hwnas.predictors.onnx_precision import apply_precisions, layer_precisions

    path = Path(path)
    if path.suffix.lower() != ".onnx":
        raise ExperimentError(
            f"{path}: an ONNX model's file name ends in .onnx, not {path.suffix or 'nothing'} "
            "(nothing written)"
        )
    if problem := name_too_long(path):  # the rename at the end gave the OS's bare error
        raise ExperimentError(f"{path}: {problem} (nothing written)")
    shape = tuple(input_shape)  # a config's `space.input` is a list
    if calibration is not None:
        calibration = _checked_calibration(np.asarray(calibration, dtype=np.float32), shape)
    model = inference_model(model)
    precisions = measured_precision(get_backend("onnxruntime-cpu"), layer_precisions(model))
    if calibration is not None:
        x = calibration[:COMPARED_INPUTS]
    else:
        x = np.random.default_rng(0).standard_normal((3, *shape))
    x = torch.from_numpy(np.asarray(x, dtype=np.float32))
    # the folder is removed again, and `path` left as it was, if the export fails
    with folder_for(path.parent, f"{path}"), written_whole(path) as partial:
        graph = apply_precisions(_onnx_graph(model, x), tuple(x.shape), precisions, calibration)
        try:
            onnx.save(graph, partial)
        except OSError as e:  # a full disk: the OS's error names no file
            raise ExperimentError(f"{path}: cannot write the model: {e.strerror or e}") from None
        session = ort.InferenceSession(partial.read_bytes(), providers=["CPUExecutionProvider"])
        (got,) = session.run(None, {INPUT_NAME: x.numpy()})
    with torch.no_grad():
        return float(np.max(np.abs(got - model(x).numpy())))


def _checked_calibration(calibration: np.ndarray, input_shape: tuple[int, ...]) -> np.ndarray:
    """`calibration` if it is one or more finite model inputs of `input_shape`; else an
    `ExperimentError` naming it (ONNX Runtime's calibrator fails on none, or on a NaN, with
    an assertion that names neither)."""
    if calibration.ndim != len(input_shape) + 1 or calibration.shape[1:] != input_shape:
        raise ExperimentError(
            f"calibration: inputs of shape {calibration.shape}, where the model takes "
            f"(N, {', '.join(map(str, input_shape))})"
        )
    if len(calibration) == 0:
        raise ExperimentError("calibration: no inputs; give one or more (or None: random ones)")
    if not np.isfinite(calibration).all():
        raise ExperimentError("calibration: inputs with NaN or infinite values")
    return calibration


def _onnx_graph(model: nn.Module, x: torch.Tensor):
    """`model`'s ONNX graph taking any batch size (`x` is an example batch); an exporter's
    failure is an `ExperimentError` naming it, a Ctrl-C during the export stays a Ctrl-C."""
    from hwnas.predictors.onnx_export import ExportError, export_onnx

    try:
        return export_onnx(model, x, dynamic_batch=True)
    except ExportError as e:
        raise ExperimentError(str(e)) from None
    except Exception as e:  # noqa: BLE001 - exporters raise many types; keep their first line
        first_line = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise ExperimentError(f"ONNX export failed: {first_line}") from None


def export_run(
    results: RunResults | str | Path,
    out_dir: str | Path,
    *,
    top: int | None = None,
    trial: int | None = None,
    fmt: Format = "json",
    seed: int | None = None,
    overwrite: bool = False,
    progress: bool = False,
    objectives: Objectives | Sequence[str] | None = None,
) -> list[Path]:
    """Export the `top` front members (best first) or one `trial` of a run (its results, or
    its folder) into `out_dir`; returns the paths of the exported configs (those an earlier
    export left unchanged included), best first. The front is of the run's objectives, or of
    `objectives` (as `RunResults.pareto` takes them: a view of other metrics the run
    recorded). `progress` shows a bar on
    a terminal (an ONNX export takes seconds per model). The weights of `torch` and `onnx`
    are the candidate's initial ones, built after `torch.manual_seed(seed)`; by default
    (None) the seed the run's evaluators built its candidates with, which the config records.

    Every file is made in a scratch folder inside `out_dir` and moved in only once all are
    made, so a failed or interrupted export leaves nothing half-written (nor a folder it
    made). Re-exporting the same files is a no-op: a file already there with the same
    content is left as it is (the same file, its modification time unchanged); an existing
    file with other content (weights trained since, an edited config, an export in another
    format) is replaced only with `overwrite`, never silently."""
    _check_choice(top, trial, fmt, objectives)
    seed = _checked_seed(seed)
    no_nul(out_dir, "out_dir")
    if isinstance(results, str | Path):
        results = load(results)
    elif not isinstance(results, RunResults):  # None failed on `.pareto`, naming no argument
        raise TypeError(f"results must be a RunResults or a run folder's path, not {results!r:.80}")
    rows = _pick(results, top, trial, objectives)
    seed = weights_seed(results.config) if seed is None else seed
    out_dir = Path(out_dir)
    dataset = results.config.dataset if uses_dataset(results.config) else None
    attrs = results.study.user_attrs
    data = data_record(dataset, attrs.get(DATASET_DIGEST), attrs.get(DATASET_SCALING))
    with folder_for(out_dir, f"export folder {out_dir}"), _staging(out_dir) as staged:
        bar = tqdm(
            [row for _, row in rows.iterrows()],
            desc=f"export {fmt}",
            unit="model",
            leave=False,
            disable=None if progress else True,  # None: shown on a terminal only
        )
        try:
            configs = [_export_one(results, row, staged, fmt, seed, data) for row in bar]
        except OSError as e:  # a full disk: the OS's error names no file
            raise _cannot_write(out_dir, e) from None
        fresh = [f for f in sorted(staged.iterdir()) if not _same(f, out_dir / f.name)]
        _check_no_folder_in_the_way([out_dir / f.name for f in fresh])
        changed = [out_dir / f.name for f in fresh if (out_dir / f.name).exists()]
        if changed and not overwrite:
            raise ExperimentError(
                f"{', '.join(map(str, changed))}: exists with other content (trained weights, "
                "an edited config or another format?); export elsewhere or overwrite (--force)"
            )
        for f in fresh:
            f.replace(out_dir / f.name)
    return [out_dir / c.name for c in configs]


@contextmanager
def _staging(out_dir: Path) -> Iterator[Path]:
    """A temporary folder in `out_dir` for the export's files, removed afterwards; an
    `ExperimentError` naming `out_dir` where it cannot be made (a folder of another user's, or
    read-only): the OS named only the temporary folder ("Permission denied: '.export-h295_2jx'")."""
    try:
        staging = tempfile.TemporaryDirectory(dir=out_dir, prefix=".export-")
    except OSError as e:
        raise _cannot_write(out_dir, e) from None
    with staging as tmp:
        yield Path(tmp)


def _cannot_write(out_dir: Path, e: OSError) -> ExperimentError:
    """The error of an export whose staged files could not be written in `out_dir` (nothing
    was moved into it yet)."""
    return ExperimentError(
        f"export folder {out_dir}: cannot write the export: {e.strerror or e} (nothing was written)"
    )


def _check_no_folder_in_the_way(targets: list[Path]) -> None:
    """Refuse, even with `overwrite`, targets that are folders (or other non-files): the
    move of a file over one fails, and did so only after the files before it had been moved
    in, leaving half an export."""
    blocked = [t for t in targets if t.exists() and not t.is_file()]
    if blocked:
        raise ExperimentError(
            f"{', '.join(map(str, blocked))}: a folder (or other non-file) where the export "
            "writes a file; move it away or export elsewhere"
        )


def _same(new: Path, old: Path) -> bool:
    return old.is_file() and old.read_bytes() == new.read_bytes()


def data_record(
    dataset: str | None, digest: str | None = None, recorded: dict[str, list] | None = None
) -> dict[str, Any] | None:
    """The run's dataset and the per-channel standardisation its inputs got in the search,
    which a deployed model's inputs need as well (None for a run without a dataset, such as
    a benchmark table's). `recorded`: the standardisation the run stored when it started
    (of a `.npz`), used as it is; else it is read from the dataset, which for a `.npz` must
    still have the `digest` the run stored (one changed or gone since gets no
    standardisation, only a note). A `.npz`'s `digest` is kept too: `hwnas train` refuses
    to train the run's model on the file once its arrays changed."""
    if not dataset:
        return None
    if recorded is None:
        try:
            if digest is not None and npz_digest(dataset) != digest:
                retyped = npz_retyped(dataset, digest)
                how = f" ({retyped})" if retyped else ""
                raise DatasetError(f"{dataset}: its arrays changed since the run started{how}")
            scaling = load_dataset(dataset).standardisation
        except DatasetError as e:  # moved or changed since: the config still names it
            note = f"not read at export: {e}"
            return {"dataset": dataset, "digest": digest, "standardisation": None, "note": note}
        recorded = {"mean": list(scaling.mean), "std": list(scaling.std)}
    applied = "(x - mean[c]) / std[c] for each input channel c"
    return {
        "dataset": dataset,
        **({"digest": digest} if digest is not None else {}),  # `hwnas train` checks it
        "standardisation": {**recorded, "applied_as": applied},
    }


def _export_one(
    results, row: pd.Series, out_dir: Path, fmt: Format, seed: int, data_used: dict | None
) -> Path:
    """Write the config of one evaluated row (plus weights / ONNX) into `out_dir`."""
    arch = results.arch(int(row["number"]))
    # the finite values: a missing one (NaN) has none, and JSON holds no NaN or infinity
    metrics = {m: row[m] for m in results.metrics() if np.isfinite(row[m])}
    data = arch_config(results.space, arch, metrics)
    precisions = [v for k, v in arch.items() if k.endswith(".precision")]
    if "latency_ms" in metrics and (source := latency_source(results.config, precisions)):
        data["metric_sources"] = {"latency_ms": source}  # a prediction, or measured where
    data["run"] = {
        "name": results.config.name,
        "trial": int(row["number"]),
        "status": row["status"],  # a failed or infeasible export says so in its own file
        **({"reason": row["reason"]} if row["status"] != "ok" else {}),
        "feasible": bool(row["feasible"]),
    }
    if origin := results.origin(row):
        data["run"]["origin"] = origin
    if versions := results.versions:
        data["run"]["versions"] = versions  # what the run proposed and scored it with
    if data_used is not None:
        data["data"] = data_used
    if (recipe := training_recipe(results.config)) is not None:
        data["training"] = recipe  # what `hwnas train` trains it with, as the search did
    stem = out_dir / f"trial{int(row['number'])}-{arch.key}"
    if fmt in ("onnx", "torch"):
        from hwnas.predictors.torch_state import torch_defaults

        # float32 weights whatever default dtype the caller set (float64: .pt files twice
        # the size, and the ONNX export failed)
        with torch_defaults():
            model = initial_model(results.space, arch, seed)
            write_weights(model, stem.with_suffix(".pt"))
            data["weights"] = stem.with_suffix(".pt").name
            data["weights_seed"] = seed  # torch.manual_seed(seed) then build: the same weights
            if fmt == "onnx":
                onnx_file = stem.with_suffix(".onnx")
                diff = export_onnx_checked(model, results.space.input_shape, onnx_file)
                data["onnx"] = {
                    "file": onnx_file.name,
                    "form": "float inference model (fake quantization off, branches merged)",
                    "max_abs_diff": diff,
                }
    path = stem.with_suffix(".yaml" if fmt == "yaml" else ".json")
    if fmt == "yaml":
        text = yaml.dump(data, Dumper=ReadableDumper, sort_keys=False, allow_unicode=True)
        path.write_text(text, encoding="utf-8")
    else:
        path.write_text(json.dumps(data, indent=2), encoding="utf-8")
    return path


def _check_choice(top: int | None, trial: int | None, fmt: str, objectives: Any) -> None:
    """Refuse what to export, by name, before anything is read or made."""
    if top is not None and trial is not None:
        raise ExperimentError("give top or trial (--top or --trial), not both")
    if objectives is not None and trial is not None:  # one trial is the same in any view
        raise ExperimentError("give objectives with top, not with trial (--objectives, --trial)")
    for name, value in (("top", top), ("trial", trial)):
        least = 1 if name == "top" else 0
        if value is not None and (not whole_number(value) or value < least):
            raise ExperimentError(f"{name} must be an integer >= {least}, not {value!r}")
    if fmt not in get_args(Format):
        raise ExperimentError(f"format must be json, yaml, onnx or torch, not {fmt!r}")


def _checked_seed(seed: Any) -> int | None:
    """`seed` as the int torch is seeded with (None: the run's), refused by name where torch
    takes none: 2**64 ended the export in torch's "Overflow when unpacking long long", a
    numpy integer in "Object of type int64 is not JSON serializable", and -1, 1.5, "1" or
    True were written as the config's `weights_seed` (torch took -1 and int("1")), which
    `hwnas train` then refused (-1) or did not take as the seed (it trained from the run's)."""
    if seed is None:
        return None
    from hwnas.predictors.torch_state import TORCH_SEED_RULE, torch_seed

    if not whole_number(seed) or not torch_seed(seed):
        raise ExperimentError(f"seed must be an integer {TORCH_SEED_RULE}, not {seed!r}")
    return int(seed)


def _pick(results, top: int | None, trial: int | None, objectives: Any) -> pd.DataFrame:
    if trial is not None:
        df = results.trials
        rows = df[df["number"] == trial]
        if rows.empty:
            raise ExperimentError(f"{results.run_dir}: {results.no_evaluation(trial)}")
        return rows
    front = results.pareto(objectives)
    if front.empty:
        # a failed or infeasible one is still a candidate to look at (retrain, rebuild)
        other = (
            "; trial (--trial N) exports any evaluated trial, a failed or infeasible one "
            "too (hwnas status names failed trials)"
            if len(results.trials)
            else ""
        )
        raise ExperimentError(
            f"{results.run_dir}: no feasible successful evaluation to export{other}"
        )
    return front.head(top or 1)

"""`hwnas export / train / build`: take a run's winners out as self-contained configs, train
one, and rebuild it as a torch model or a deployable ONNX one. These commands sit directly on
the root app."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import typer

from hwnas.cli import AS_PATH, DEMO_WINNER, examples, home_expanded, say, shell_path
from hwnas.cli.runs import ObjectivesOption, RunArgument, note_lacking, objectives_asked
from hwnas.predictors.printable import one_line

if TYPE_CHECKING:  # numpy: the CLI imports it only for the commands that need it
    from hwnas.evaluators.datasets import Standardisation

app = typer.Typer()

#: `export --format`, refused by click as a usage error naming the option; the same as
#: `hwnas.experiments.export.Format`, which the CLI does not import (pandas) for its help
ExportFormat = Literal["json", "yaml", "onnx", "torch"]
#: the exported config `train` and `build` take
ConfigArgument = typer.Argument(
    ..., help="exported architecture config (.json or .yaml)", **AS_PATH
)


@app.command(
    epilog=examples(
        "hwnas export runs/demo --top 1 --format onnx -o runs/demo/winner",
        "hwnas export runs/demo --trial 3 --format yaml",
    )
)
def export(
    run: Path = RunArgument,
    top: int = typer.Option(
        None,
        "--top",
        min=1,
        help="export the K front members best in the first objective, then the next (default 1), "
        "of the run's front or that of --objectives",
    ),
    trial: int = typer.Option(
        None,
        "--trial",
        min=0,
        help="export this trial number: any evaluated one, failed or infeasible too (hwnas "
        "status names the failed trials)",
    ),
    objectives: list[str] = ObjectivesOption,
    fmt: ExportFormat = typer.Option(
        "json",
        "--format",
        case_sensitive=False,
        help="json or yaml: the configs; torch adds initial weights (.pt), onnx the ONNX model too",
    ),
    out: Path = typer.Option(
        None,
        "-o",
        "--out",
        help="output folder (made; default RUN/export)",
        **AS_PATH,
    ),
    force: bool = typer.Option(
        False, "--force", help="replace existing files of the same name that differ"
    ),
) -> None:
    """Export winning architectures as self-contained configs (plus ONNX or torch weights)."""
    from hwnas.experiments import export_run, load
    from hwnas.experiments.export import read_config
    from hwnas.experiments.shown import counted

    results = load(run)
    out = out or run / "export"
    objs = objectives_asked(results, objectives) if objectives else None
    if objs is not None and trial is None:
        note_lacking(results, objs)
    before = _stamps(out)
    written = export_run(
        results,
        out,
        top=top,
        trial=trial,
        fmt=fmt,
        overwrite=force,
        progress=True,
        objectives=objs,
    )
    if trial is not None:
        _note_unusable(results, trial)
    elif top is not None and len(written) < top:
        only = counted(len(written), "member")
        say(f"hwnas: note: the Pareto front has only {only}")
    after = _stamps(out)
    if written and (note := read_config(written[0]).get("data", {}).get("note")):
        say(f"hwnas: warning: no input standardisation in the export: {note}")
    for path in written:
        _say_exported(path, before, after)
    if fmt in ("onnx", "torch") and written:
        _note_initial_weights(fmt)


def _say_exported(
    path: Path, before: dict[str, tuple[int, int]], after: dict[str, tuple[int, int]]
) -> None:
    """One exported config's line: wrote or unchanged (its files' stamps `before` and `after`
    the export), with the weights and ONNX file written beside it and how closely ONNX
    Runtime's outputs match torch's."""
    from hwnas.experiments.export import read_config

    data = read_config(path)
    files = [path.name, data.get("weights"), data.get("onnx", {}).get("file")]
    same = all(before.get(name) == after.get(name) for name in files if name)
    extra = f" + {data['weights']}" if "weights" in data else ""
    if "onnx" in data:
        onnx = data["onnx"]
        diff = onnx["max_abs_diff"]
        extra += f" + {onnx['file']} (ONNX Runtime matches torch, max diff {diff:.2g})"
    typer.echo(one_line(f"{'unchanged' if same else 'wrote'} {path}{extra}"))


def _note_initial_weights(fmt: str) -> None:
    """Say that a torch or onnx export's weights are untrained (the search keeps none), and
    for onnx, that its file is the float form, not the deployable one `hwnas build` writes."""
    say(
        "hwnas: note: the weights are the initial ones (the search keeps no trained "
        "weights; built with the run's seed, `weights_seed` in the config): train the "
        "exported model before deploying it"
        + (
            "; the ONNX file is its float inference form (`hwnas build CONFIG --weights "
            "TRAINED --onnx FILE --calibration DATASET` writes it at its blocks' precisions)"
            if fmt == "onnx"
            else ""
        )
    )


def _stamps(folder: Path) -> dict[str, tuple[int, int]]:
    """Each file of `folder` by name: its inode and modification time. Export leaves a file
    it would write again with the same content as it is, so an equal stamp after an export
    means the file is unchanged. A folder the OS cannot name (too long) has none: the export
    names the problem."""
    if not os.path.isdir(folder):
        return {}
    return {p.name: (s.st_ino, s.st_mtime_ns) for p in folder.iterdir() for s in [p.lstat()]}


def _note_unusable(results, trial: int) -> None:
    """Say on stderr when an exported trial failed or breaks the run's constraints."""
    from hwnas.experiments.shown import bound_text

    row = results.trials.set_index("number").loc[trial]
    if row["status"] != "ok":
        why = f"the evaluation of trial {trial} {row['status']} ({row['reason']})"
    elif not row["feasible"]:
        broken = [
            f"{m} <= {bound_text(b)}"
            for m, b in results.constraints
            if not row.get(m, math.nan) <= b
        ]
        why = f"trial {trial} is infeasible (breaks {', '.join(broken)})"
    else:
        return
    say(f"hwnas: note: {why}; its architecture is exported anyway")


def _positive_epochs(epochs: float | None) -> float | None:
    """`train --epochs`, refused as a usage error naming the option (exit 2) before the config
    is read: the training's own check named its `epochs` setting, not the option."""
    from hwnas.experiments.retrain import epochs_problem  # torch: only with --epochs given

    if problem := epochs_problem(epochs):
        raise typer.BadParameter(problem)
    return epochs


@app.command(
    epilog=examples(
        f"hwnas train {DEMO_WINNER}.json",
        f"hwnas train {DEMO_WINNER}.json --epochs 5 -o winner5.pt",
    )
)
def train(
    config: Path = ConfigArgument,
    dataset: str = typer.Option(
        None,
        "--dataset",
        help="dataset to train on (a name or an .npz); default: the run's, which the config "
        "records",
        callback=home_expanded,
    ),
    epochs: float = typer.Option(
        None,
        "--epochs",
        callback=_positive_epochs,
        help="passes over the training split, > 0 (a fraction trains the nearest whole number of "
        "batches, at least one: 0.3 may train 0.32, 0.05 train 0.04); default: as the run "
        "trained its candidates (the config's `training`), else 10",
    ),
    out: Path = typer.Option(
        None,
        "--out",
        "-o",
        help="file for the trained weights (a state_dict; folder made); default: beside the "
        "config, named as it is with .trained.pt for its .json or .yaml (trial2-x.json: "
        "trial2-x.trained.pt)",
        **AS_PATH,
    ),
    force: bool = typer.Option(False, "--force", help="write over an existing weights file"),
) -> None:
    """Train an exported architecture as its run trained candidates; save the weights.

    The search keeps no trained weights: this trains them with the config's recipe."""
    from hwnas.experiments.files import check_writable, folder_for
    from hwnas.experiments.retrain import earlier_export, retraining, save_weights
    from hwnas.experiments.shown import counted, seconds_text

    training = retraining(config, dataset, epochs)
    out = _weights_file(out, config, Path(str(training.dataset)), force)
    evaluator, recipe = training.evaluator, training.config.get("training")
    length = counted(evaluator.steps, "step") if evaluator.steps else _epochs(evaluator.epochs)
    recipe_from = "the run's recipe" if recipe else "the train evaluator's defaults"
    recipe_from += ", epochs from --epochs" if epochs is not None else ""
    if not recipe:
        why = earlier_export(training.config, "recipe") or "the run trained no candidate"
        recipe_from += f"; {why}"
    # the weights' folder made, and found writable, before the training (removed again if
    # it ends without weights)
    with folder_for(out.parent, f"{out}"):
        check_writable(out.parent, f"{out}: its folder {out.parent}")
        say(
            f"training arch {training.arch.key} on {training.dataset}, {length} ({recipe_from}) ..."
        )
        model, metrics = training.run(progress=True)
        save_weights(model, out)
    recorded = f" ({said})" if (said := training.recorded(metrics["val_accuracy"])) else ""
    trained = (
        f"trained {_epochs(metrics['epochs'])} in {seconds_text(metrics['train_time_s'])}: "
        f"validation accuracy {metrics['val_accuracy']:.2f} %{recorded}, test accuracy "
        f"{metrics['test_accuracy']:.2f} %; wrote {out}"
    )
    typer.echo(
        f"{one_line(trained)}\n"
        f"deploy it: hwnas build {shell_path(config)} --weights {shell_path(out)} --onnx "
        f"FILE.onnx --calibration {shell_path(training.dataset)}"
    )
    if (scaling := training.new_standardisation()) is not None:
        say(
            f"hwnas: note: these weights take inputs standardised as {training.dataset}'s are "
            f"({_scaling_text(scaling.mean, scaling.std)}), {_against_recorded(training.config)}"
        )


def _scaling_text(mean: Sequence[float], std: Sequence[float]) -> str:
    """A per-channel standardisation in words, as `train` and `build` notes give it."""
    return f"mean {[round(m, 6) for m in mean]}, std {[round(v, 6) for v in std]}"


def _against_recorded(config: dict) -> str:
    """How `hwnas train`'s note sets the weights' standardisation against the config's: the
    one it records, or none (a run without data, or an earlier hwnas's export), which the
    note said it departed from as if the config named one."""
    from hwnas.experiments.retrain import earlier_export

    if (config.get("data") or {}).get("standardisation") is not None:
        return "not as the config's data.standardisation says"
    why = earlier_export(config, "standardisation")
    return "which the config does not record" + (f" ({why})" if why else "")


def _weights_file(out: Path | None, config: Path, dataset: Path, force: bool) -> Path:
    """The file `hwnas train` saves its weights to (`-o`, default beside the config), refused
    before the training where the save at its end would fail or overwrite what it must not:
    a name too long, a folder, the config or the dataset itself, (without `--force`) an
    existing file, or (with it) one holding no weights: `--force` wrote over a run's
    `study.db`, a profile, or `/dev/null` itself (renamed over)."""
    from hwnas.experiments import ExperimentError
    from hwnas.experiments.files import holds_weights
    from hwnas.predictors.whole_files import name_too_long

    given, out = out, out or config.with_name(f"{config.stem}.trained.pt")
    if problem := name_too_long(out):
        named = "" if given else " (the config's name with .trained.pt)"
        raise ExperimentError(f"{out}{named}: {problem}; give a shorter -o")
    if out.is_dir():
        raise ExperimentError(f"{out}: is a folder; give the weights file's path (-o FILE.pt)")
    inputs = [config, dataset]  # a dataset's name is no file there
    if out.exists() and any(p.exists() and out.samefile(p) for p in inputs):
        raise ExperimentError(
            f"{out}: is what this trains from (the config or the dataset), "
            "even with --force; give the weights another -o"
        )
    if out.exists() and not force:
        raise ExperimentError(f"{out}: exists (trained weights?); give another -o, or --force")
    if out.exists() and not holds_weights(out):  # a run's study.db, a profile, /dev/null
        raise ExperimentError(
            f"{out}: exists and holds no weights (a state_dict saved by torch.save), which "
            "alone --force writes over; give the weights another -o"
        )
    return out


def _epochs(count: float) -> str:
    return f"{count:.3g} epoch{'' if count == 1 else 's'}"


@app.command(
    epilog=examples(
        f"hwnas build {DEMO_WINNER}.json",
        f"hwnas build {DEMO_WINNER}.json \\",
        f"    --weights {DEMO_WINNER}.trained.pt \\",
        "    --onnx runs/demo/winner/winner.onnx --calibration mnist1d",
    )
)
def build(
    config: Path = ConfigArgument,
    weights: Path = typer.Option(
        None,
        "--weights",
        help="state_dict saved with torch.save; default: the file the config names beside it "
        "(an onnx or torch export's initial weights), else freshly initialised ones",
        **AS_PATH,
    ),
    onnx: Path = typer.Option(
        None,
        "--onnx",
        help="also write the model to this .onnx file (folder made) with its blocks at their "
        "precisions, as the search timed them (int8 quantized, fp16 in float16)",
        **AS_PATH,
    ),
    calibration: str = typer.Option(
        None,
        "--calibration",
        help="with --onnx: dataset (a name or an .npz) of which 256 training inputs, drawn "
        "at random (seeded), calibrate the int8 activation ranges; without it, random inputs "
        "(right for timing, not for accuracy)",
        callback=home_expanded,
    ),
) -> None:
    """Rebuild the torch model of an exported config and check it runs.

    --onnx also writes the deployable ONNX model, its blocks at their precisions."""
    import torch

    from hwnas.experiments.export import build as build_model
    from hwnas.experiments.export import config_space, read_config

    if calibration is not None and onnx is None:
        raise typer.BadParameter(
            "needs --onnx (it calibrates that file)", param_hint="--calibration"
        )
    if calibration is not None and not calibration.strip():  # as train's --dataset: unset
        raise typer.BadParameter(  # shell variable, said "unknown dataset ''"
            "empty: name a dataset (or an .npz), or leave it out", param_hint="--calibration"
        )
    data = read_config(config)
    model = build_model(config, weights).eval()
    space = config_space(data, str(config))
    shape, key = space.input_shape, space.arch(data["choices"]).key  # a config may lack its key
    weights_said, untrained = _weights_built(config, data, weights, model)
    with torch.no_grad():
        out = model(torch.zeros(1, *shape))
    params = sum(p.numel() for p in model.parameters())
    typer.echo(
        one_line(
            f"built {data['space']['name']} v{data['space']['version']} arch {key}: "
            f"{params:,} parameters, input (batch, {', '.join(map(str, shape))}) -> "
            f"output (batch, {out.shape[1]}); {weights_said}"
        )
    )
    if onnx is not None:
        _write_deployed_onnx(model, space, onnx, calibration, data)
        if untrained:
            say(
                f"hwnas: note: {onnx} holds untrained weights (the search keeps no trained "
                f"ones): train them first (hwnas train {shell_path(config)}), then build "
                "with --weights and the file it writes"
            )


def _weights_built(config: Path, data: dict, weights: Path | None, model) -> tuple[str, bool]:
    """What `build` says of the weights `model` was built with, and whether they are
    untrained: freshly initialised (the config names no file), or the initial ones that a
    torch or onnx export wrote, by default or named with --weights (they said only
    `weights trial7-KEY.pt`, as trained ones do, and `--onnx` wrote the deployable model
    of an untrained network without a word)."""
    from hwnas.experiments.export import holds_initial_weights, weights_file

    loaded = weights_file(config, data, weights)
    if loaded is None:
        return "initial weights, untrained (the config names no file)", True
    if holds_initial_weights(model, data, str(config)):
        return f"weights {loaded} (the export's initial ones: untrained)", True
    return f"weights {loaded}", False


def _write_deployed_onnx(model, space, path: Path, calibration: str | None, config: dict) -> None:
    """`hwnas build --onnx`: the model as ONNX at its blocks' precisions, calibrated on the
    training inputs of the dataset named, drawn at random (standardised as a run's are: by
    its own statistics, which a note sets against the config's where they differ)."""
    from hwnas.experiments.export import (
        COMPARED_INPUTS,
        calibration_inputs,
        export_deployed_onnx,
    )
    from hwnas.experiments.retrain import dataset_for
    from hwnas.predictors.onnx_precision import layer_precisions

    inputs = scaling = None
    if calibration is not None:
        dataset = dataset_for(calibration, space, inputs_only=True)
        inputs, scaling = calibration_inputs(dataset.x_train), dataset.standardisation
    diff = export_deployed_onnx(model, space.input_shape, path, inputs)
    quantized = {"int8", "w4a8"} & set(layer_precisions(model).values())
    source = f"{len(inputs)} training inputs of {calibration}" if inputs is not None else None
    calibrated = f"int8 activation ranges calibrated on {source or 'random inputs'}; "
    compared = "random inputs, not data"
    if inputs is not None:
        of = "those inputs" if quantized else source
        compared = f"the first {min(COMPARED_INPUTS, len(inputs))} of {of}"
    typer.echo(
        one_line(
            f"wrote {path}: {calibrated if quantized else 'no int8 blocks; '}ONNX Runtime's "
            f"output differs from the float model's by up to {diff:.3g} on {compared}"
        )
    )
    if quantized and inputs is None:
        say(
            "hwnas: note: calibrated on random inputs, as the search timed it: give "
            "--calibration with the run's dataset for a model to deploy"
        )
    if quantized and scaling is not None:
        _note_calibration_scaling(calibration, scaling, config)


def _note_calibration_scaling(calibration: str, scaling: Standardisation, config: dict) -> None:
    """Say where `--calibration`'s dataset, standardised by its own statistics (`scaling`),
    was not at the scaling the config records for the run's inputs: the int8 ranges fit the
    weights of `hwnas train --dataset` on it, not those trained on the run's data, whose
    deployed inputs get the config's scaling (the ranges and the inputs then differ)."""
    from hwnas.experiments.retrain import same_standardisation

    data = config.get("data")
    recorded = data.get("standardisation") if isinstance(data, dict) else None
    values = [recorded.get(k) for k in ("mean", "std")] if isinstance(recorded, dict) else []
    # lists of numbers, as export writes them: a record edited otherwise is set against nothing
    numbers = len(values) == 2 and all(
        isinstance(v, list) and all(isinstance(n, int | float) for n in v) for v in values
    )
    if not numbers or same_standardisation(scaling, recorded):
        return
    said = _scaling_text(recorded["mean"], recorded["std"])
    say(
        f"hwnas: note: the int8 ranges were calibrated on {calibration}'s inputs standardised "
        f"by its own statistics ({_scaling_text(scaling.mean, scaling.std)}), not by the "
        f"config's data.standardisation ({said}): right for weights trained on it (hwnas "
        f"train --dataset {shell_path(calibration)}); weights trained on the run's data take "
        "inputs scaled as the config says, which these ranges were not calibrated at "
        "(calibrate on the run's dataset, or in Python: docs/guide.md, section 6)"
    )

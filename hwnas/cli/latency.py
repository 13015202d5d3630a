"""`hwnas latency`: profile a space on a backend, fit predictors, score them on held-out
architectures."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Literal

import typer

from hwnas.cli import AS_PATH, examples, home_expanded, say, stopped, stopped_word
from hwnas.cli.spaces import CLASSES, INPUT, SPACE_HELP, space_at
from hwnas.predictors.defaults import BLOCK_COPIES, DEFAULT_ROUNDS, DEFAULT_RUNS, DEFAULT_WARMUP
from hwnas.predictors.printable import one_line

RANK_SCORES = ("kendall_tau", "spearman")
FEW_HELD_OUT = 20  # below it, `eval` says its scores are rough
#: the units of the scores, printed after them (`--json` gives the same numbers, no units)
UNITS = {
    "rmse": "ms",
    "mape": "%",
    "within_5pct": "(fraction of networks)",
    "within_10pct": "(fraction of networks)",
    "repeatability": "(Kendall tau of the holdout's measuring rounds 1 and 2: how steady its "
    "timings are; 0.85-0.97 on an idle CPU)",
}
RANKS_UNDEFINED = (
    "ranking needs at least 2 held-out networks, with measured and predicted latencies that "
    "are not all equal"
)

#: the choices of `--backend`, `--clock` and `fit --kind`, refused by click as usage errors
#: naming the option: those of `backends.BACKENDS`, `backends.CLOCKS` (+ auto) and
#: `fit_from_profile`, which the CLI does not import (torch) for its help
Backend = Literal["onnxruntime-cpu", "torch-cpu", "torch-cuda"]
Clock = Literal["auto", "thread", "wall"]
FitKind = Literal["lut", "learned"]

app = typer.Typer(
    help="Latency: profile a space on real hardware, fit and evaluate predictors.",
    epilog=examples(
        "hwnas latency profile --space conv2d --samples 100 -o profiles/conv2d_ort.csv",
        "hwnas latency fit profiles/conv2d_ort.csv -o conv2d_lut.json",
    ),
    no_args_is_help=True,
)


@app.command(
    epilog=examples(
        "hwnas latency profile --space conv2d --samples 100 -o profiles/conv2d_ort.csv",
        "hwnas latency profile --space conv2d --archs-only --seed 1 \\",
        "    -o profiles/conv2d_holdout.csv",
        "hwnas latency profile --space conv1d --precision fp32,int8 --samples 20 \\",
        "    -o profiles/conv1d_ort.csv",
    )
)
def profile(
    space: str = typer.Option(..., "--space", help=SPACE_HELP, callback=home_expanded),
    input_shape: str = INPUT,
    classes: int = CLASSES,
    out: Path = typer.Option(
        ...,
        "-o",
        "--out",
        help="profile CSV to write or resume (+ .json; folder made)",
        **AS_PATH,
    ),
    backend: Backend = typer.Option(
        "onnxruntime-cpu",
        "--backend",
        help="runtime to measure on: onnxruntime-cpu, torch-cpu (fp32 only) or torch-cuda "
        "(fp32 and fp16)",
    ),
    samples: int = typer.Option(100, "--samples", min=0, help="whole random architectures"),
    precision: list[str] = typer.Option(
        None,
        "--precision",
        help="fp32, fp16, int8 or w4a8: the precisions to profile, comma separated or repeated "
        "(default: the space's)",
    ),
    seed: int = typer.Option(0, "--seed", min=0, help="seed of the random architectures"),
    archs_only: bool = typer.Option(
        False, "--archs-only", help="only whole architectures (a held-out set)"
    ),
    threads: int = typer.Option(1, "--threads", min=1, help="intra-op threads"),
    batch_size: int = typer.Option(1, "--batch-size", min=1, help="inputs per inference"),
    warmup: int = typer.Option(
        DEFAULT_WARMUP, "--warmup", min=0, help="untimed runs before each measurement"
    ),
    runs: int = typer.Option(DEFAULT_RUNS, "--runs", min=1, help="timed runs per round"),
    block_copies: int = typer.Option(
        BLOCK_COPIES, "--block-copies", min=1, help="time blocks as chains of this many copies"
    ),
    rounds: int = typer.Option(
        DEFAULT_ROUNDS,
        "--rounds",
        min=1,
        help="rounds of timed runs; the latency is the median of the least disturbed one",
    ),
    clock: Clock = typer.Option(
        "auto",
        "--clock",
        help="auto, thread (CPU time of the one inference thread) or wall; auto picks "
        "thread for one thread on a CPU backend (where that clock is fine-grained), else wall",
    ),
    passes: int = typer.Option(
        1, "--passes", min=1, help="measure everything this many times, a pass after another"
    ),
    limit: int = typer.Option(None, "--limit", min=1, help="stop after this many new rows"),
    retry_failed: bool = typer.Option(
        False, "--retry-failed", help="measure again the rows that failed to measure"
    ),
) -> None:
    """Measure a space's parts and N random architectures into a profile (resumable).

    For an experiment that overrides the space's input or classes: --input and --classes."""
    from hwnas.experiments.shown import counted
    from hwnas.predictors import build_profile  # heavy: imported per command
    from hwnas.predictors.fingerprint import describe_device
    from hwnas.predictors.profile import ProfileError
    from hwnas.predictors.repeatability import agreements
    from hwnas.predictors.stop_signals import terminate_as_interrupt

    try:
        with terminate_as_interrupt():  # SIGTERM, SIGHUP as Ctrl-C
            result = build_profile(
                space_at(space, input_shape, classes),
                out,
                backend=backend,
                precisions=[p for item in precision or [] for p in item.split(",") if p],
                samples=samples,
                seed=seed,
                archs_only=archs_only,
                threads=threads,
                batch_size=batch_size,
                warmup=warmup,
                runs=runs,
                rounds=rounds,
                clock=clock,
                block_copies=block_copies,
                passes=passes,
                limit=limit,
                retry_failed=retry_failed,
            )
    except KeyboardInterrupt as e:  # the rows measured so far are flushed to the profile
        message = f"hwnas: {stopped_word(e)}: {out} is kept; re-running the same command resumes it"
        raise stopped(message, e) from None
    failed = result.rows[result.rows["status"] != "ok"]
    device = describe_device(result.measured_on())
    rows = counted(len(result.rows), "row")
    typer.echo(one_line(f"{out}: {rows} ({len(failed)} failed), measured on {device}"))
    if found := agreements(result):
        typer.echo(f"  repeatability: its rounds rank the {' and the '.join(map(str, found))}")
    for _, row in failed.head(5).iterrows():
        typer.echo(f"  failed {row['row_id']}: {row['error'][:160]}")
    if len(failed) and len(failed) == len(result.rows):  # nothing to fit: not a success
        raise ProfileError(
            f"{out}: every row failed to measure, so no predictor can be fitted from it; fix "
            "the cause, then re-run the same command with --retry-failed"
        )


@app.command(
    epilog=examples(
        "hwnas latency fit profiles/conv2d_ort.csv -o conv2d_lut.json",
        "hwnas latency fit benchmarks/data/epyc/conv2d_ort_fp32_archs.csv \\",
        "    --parts benchmarks/data/epyc/conv2d_ort_default.csv --kind learned \\",
        "    -o conv2d_learned.json",
    )
)
def fit(
    profile_path: Path = typer.Argument(..., help="profile CSV", metavar="profile", **AS_PATH),
    out: Path = typer.Option(
        ...,
        "-o",
        "--out",
        help="predictor file to write (JSON; folder made)",
        **AS_PATH,
    ),
    kind: FitKind = typer.Option(
        "lut",
        "--kind",
        help="lut (a lookup table of the profile's parts) or learned (fitted on its networks)",
    ),
    parts: Path = typer.Option(
        None,
        "--parts",
        help="--kind learned: take the lookup table from this profile's parts instead",
        **AS_PATH,
    ),
) -> None:
    """Build a predictor from a profile and save it as data."""
    from hwnas.predictors.base import PredictorError, check_predictor_path
    from hwnas.predictors.evaluation import fit_from_profile
    from hwnas.predictors.fingerprint import describe_device

    try:  # before fitting, which may take a while
        check_predictor_path(out)
    except PredictorError as e:
        raise PredictorError(f"-o {e}") from None
    predictor = fit_from_profile(profile_path, kind, parts=parts)
    predictor.save(out)
    typer.echo(
        one_line(
            f"{out}: {kind} predictor for space {predictor.space.name!r}, predicting latencies "
            f"on {describe_device(predictor.measured_on)}"
        )
    )


@app.command(
    "eval",
    epilog=examples(
        "hwnas latency eval conv2d_lut.json --holdout profiles/conv2d_holdout.csv",
        "hwnas latency eval conv2d_learned.json \\",
        "    --holdout benchmarks/data/epyc/conv2d_ort_fp32_holdout.csv",
        "hwnas latency eval conv2d_learned.json --holdout 20 --json",
    ),
)
def evaluate(
    predictor_path: Path = typer.Argument(
        ..., help="predictor file", metavar="predictor", **AS_PATH
    ),
    holdout: str = typer.Option(
        ...,
        "--holdout",
        metavar="PROFILE|N",
        help="a profile of whole architectures never used for fitting, or N: hold out the "
        "last N whole architectures the predictor was fitted on and refit without them (a "
        "lookup table, fitted on none: the last N of its profile)",
        callback=home_expanded,
    ),
    as_json: bool = typer.Option(False, "--json", help="print JSON"),
) -> None:
    """Score a predictor on held-out measured architectures.

    RMSE, MAPE, within 5%/10%, Kendall tau, Spearman; the device each side was measured on."""
    from hwnas.predictors import load_predictor, read_profile
    from hwnas.predictors.evaluation import (
        holdout_from_own_profile,
        holdout_from_profile,
        score,
    )
    from hwnas.predictors.fingerprint import describe_device, device_differences
    from hwnas.predictors.repeatability import round_agreement

    if not holdout.strip():  # an unset shell variable: read as a path, it was the folder "."
        raise typer.BadParameter(
            "empty: give a held-out profile (.csv) or a count N", param_hint="--holdout"
        )
    predictor = load_predictor(predictor_path)
    result = {"predictor": predictor.kind, "device": describe_device(predictor.measured_on)}
    # a count (-1 is refused as one, not a file): decimal digits, which int() reads, and not
    # any digit (`--holdout ²` ended in "invalid literal for int() with base 10: '²'")
    if holdout.removeprefix("-").isdecimal():
        predictor, archs, measured = holdout_from_own_profile(predictor, int(holdout))
        result["holdout"] = int(holdout)
    else:
        profile = read_profile(holdout)
        archs, measured = holdout_from_profile(predictor, profile, str(predictor_path))
        holdout_device = profile.measured_on()
        result.update(holdout=holdout, holdout_device=describe_device(holdout_device))
        if repeated := round_agreement(profile, "arch"):
            result["repeatability"] = repeated.kendall_tau
        if None not in (predictor.measured_on, holdout_device):
            differences = device_differences(predictor.measured_on, holdout_device)
            if differences:
                say(
                    "hwnas: warning: the holdout was measured on another device than the "
                    f"predictor ({'; '.join(differences)}): these scores say how well one device's "
                    "latencies predict another's, not how good the predictor is"
                )
    result.update(score(predictor, archs, measured))
    if len(archs) < FEW_HELD_OUT:
        say(
            f"hwnas: note: {len(archs)} held-out "
            + ("network gives" if len(archs) == 1 else "networks give")
            + " rough scores (one disturbed measurement "
            f"moves them far); {FEW_HELD_OUT} or more say more"
        )
    from hwnas.experiments.shown import metric_text

    undefined = [k for k in RANK_SCORES if math.isnan(result[k])]
    if as_json:  # NaN is not JSON: an undefined rank correlation is null
        typer.echo(json.dumps({k: None if k in undefined else v for k, v in result.items()}))
        return
    for key, value in result.items():
        if key in undefined:
            value = f"n/a ({RANKS_UNDEFINED})"
        text = metric_text(value) if isinstance(value, float) else str(value)
        typer.echo(f"{key:>14}: {text} {UNITS.get(key, '')}".rstrip())

"""`hwnas spaces`: list, show and sample search spaces."""

from __future__ import annotations

import json

import typer

from hwnas.cli import examples, home_expanded, say

app = typer.Typer(
    help="Search spaces: list, show, sample.",
    epilog=examples("hwnas spaces list", "hwnas spaces show conv1d"),
    no_args_is_help=True,
)


@app.command("list", epilog=examples("hwnas spaces list"))
def list_spaces() -> None:
    """The built-in spaces and their sizes."""
    from hwnas.spaces import builtin_spaces, get_space  # numpy: imported per command

    names = builtin_spaces()
    width = max(map(len, names))
    for name in names:
        space = get_space(name)
        typer.echo(
            f"{name:<{width}}  v{space.version}  10^{space.log10_cardinality:.1f} architectures"
            f"  input {tuple(space.input_shape)}"
        )


#: the overrides `show`, `sample` and `latency profile` take, as an experiment's space section
#: does
INPUT = typer.Option(
    None, "--input", help="another input shape, as an experiment's space.input: C,L or C,H,W"
)
CLASSES = typer.Option(None, "--classes", min=2, help="another number of classes")
SPACE_HELP = "built-in name or path to a space YAML"
#: the space `show` and `sample` take
SPACE = typer.Argument(..., help=SPACE_HELP, callback=home_expanded)


def space_at(space: str, input_shape: str | None, classes: int | None):
    """The space `space` names, for the --input and --classes given."""
    from hwnas.spaces import get_space  # numpy: imported per command

    shape = None
    if input_shape is not None:
        try:
            shape = [int(d) for d in input_shape.split(",")]
        except ValueError:
            raise typer.BadParameter(
                f"{input_shape!r}: give sizes separated by commas, e.g. 1,64 or 3,32,32",
                param_hint="--input",
            ) from None
    return get_space(space, input_shape=shape, num_classes=classes)


CARDINALITY_DIGITS = 30  # longer cardinalities are shown rounded (--json has every digit)


@app.command(
    epilog=examples(
        "hwnas spaces show conv1d",
        "hwnas spaces show conv2d --input 1,8,8 --classes 4",
        "hwnas spaces show nasbench201 --json",
    )
)
def show(
    space: str = SPACE,
    as_json: bool = typer.Option(False, "--json", help="print JSON"),
    input_shape: str = INPUT,
    classes: int = CLASSES,
) -> None:
    """The choices of a space and its exact cardinality.

    For another input shape or number of classes: the options that still fit."""
    desc = space_at(space, input_shape, classes).describe()
    if as_json:
        typer.echo(json.dumps(desc, indent=2))
        return
    for key, value in desc.items():
        if key == "cardinality" and len(value) > CARDINALITY_DIGITS:  # log10 follows
            value = f"about {_rounded(value)} ({len(value)} digits)"
        if isinstance(value, dict):  # the stem: as the stages' lines below
            value = " ".join(f"{k.replace('_', ' ')} {v}" for k, v in value.items())
        if key not in ("stages", "left_out") and value != "":
            typer.echo(f"{key}: {value}")
    for line in desc.get("left_out", []):
        typer.echo(f"left out at this input: {line}")
    for i, stage in enumerate(desc.get("stages", [])):
        typer.echo(
            f"stage {i}: depth {stage['depth']} width {stage['width']} "
            f"stride {stage['stride']} feature map {stage['feature_map']}"
        )
        for mixer, knobs in stage["mixers"].items():
            shown = ", ".join(f"k{k}" + (f"d{d}" if d else "") for k, d in knobs if k)
            typer.echo(f"    {mixer:<10} {shown}")
        typer.echo(f"    expansions {stage['expansions']} precisions {stage['precisions']}")


def _rounded(digits: str) -> str:
    """A whole number of any length (given as its digits) to three significant digits,
    rounded: its first three digits alone were shown (888...8 as 8.88e+40)."""
    from decimal import Decimal

    return f"{Decimal(digits):.2e}"


@app.command(
    epilog=examples(
        "hwnas spaces sample conv1d -n 5 --seed 0",
        "hwnas spaces sample nasbench201 --json",
    )
)
def sample(
    space: str = SPACE,
    n: int = typer.Option(1, "-n", "--samples", min=1, help="how many architectures"),
    seed: int = typer.Option(0, "--seed", min=0, help="random seed"),
    as_json: bool = typer.Option(False, "--json", help="one JSON object a line"),
    input_shape: str = INPUT,
    classes: int = CLASSES,
) -> None:
    """Random architectures with their key and analytic cost.

    At another input shape or number of classes: of the space as it is there."""
    import numpy as np

    from hwnas.experiments.results import describe_arch
    from hwnas.experiments.shown import counted

    sp = space_at(space, input_shape, classes)
    if n > sp.cardinality:
        say(
            f"hwnas: note: the space has only {counted(sp.cardinality, 'architecture')}: draws "
            "repeat them"
        )
    rng = np.random.default_rng(seed)
    for _ in range(n):
        arch = sp.sample(rng)
        cost = sp.cost(arch)
        record = {
            "arch": arch.to_dict(),
            "key": arch.key,
            "params": cost.params,
            "macs": cost.macs,
            "size_bytes": cost.size_bytes,
            "description": describe_arch(sp, arch),
        }
        if as_json:
            typer.echo(json.dumps(record))
        else:
            typer.echo(
                f"{arch.key}  params {cost.params:>9,}  MACs {cost.macs:>12,}  "
                f"size {cost.size_bytes:>9,} B\n    {record['description']}"
            )

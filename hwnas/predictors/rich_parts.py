"""The parts of rich hwnas draws with (a search's live line, `hwnas pareto`'s table), imported
here with Python's global random numbers left as the caller had them: rich's first import
draws one (`rich.style` numbers its styles from `random.getrandbits(24)`), so a notebook's
`random.seed(0)` before its first search or front table gave other numbers after it than
the same cell run again. Here, in a package light enough for `hwnas.cli` to import first
(`hwnas.experiments` imports pandas, which the CLI's help does without): typer draws its
help and usage errors with rich, imported on first use, and `hwnas.cli.main(["--help"])`
moved the numbers on too."""

import random

_CALLERS = random.getstate()
try:
    from rich.cells import cell_len
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        ProgressColumn,
        Task,
        TextColumn,
        TimeElapsedColumn,
    )
    from rich.table import Column, Table
finally:
    random.setstate(_CALLERS)

__all__ = [
    "BarColumn",
    "Column",
    "Console",
    "MofNCompleteColumn",
    "Progress",
    "ProgressColumn",
    "Table",
    "Task",
    "TextColumn",
    "TimeElapsedColumn",
    "cell_len",
]

"""Running the `hwnas` command in-process, as the tests of every CLI area do."""

from __future__ import annotations

from hwnas.cli import main


def hwnas(*args: str) -> int:
    """The exit status of `hwnas ARGS` (its output goes to the captured stdout/stderr)."""
    try:
        main(list(args))
    except SystemExit as e:
        return int(e.code or 0)
    return 0

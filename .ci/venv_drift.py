"""Print each installed distribution whose version differs from its pin in a constraints file.

`make env` runs this with the venv's Python: a `pip install` into .venv after it was set up
(an older optuna, a tool that brought its own numpy) changed what `make demo` and `make test`
ran on without a word, since the venv's stamp was still newer than constraints.txt. The
Makefile reinstalls from the constraints when this prints anything. Standard library only.
"""

from __future__ import annotations

import sys
from importlib.metadata import PackageNotFoundError, version


def drift(constraints: str) -> list[str]:
    """'name installed (constraints.txt: pin)' for each pinned distribution installed at
    another version; a local label (torch's `+cpu`) is ignored, as pip's `==` ignores it, and
    a pin of something not installed is no drift (constraints limit, they do not require)."""
    drifted = []
    with open(constraints) as lines:
        for line in lines:
            name, _, pin = line.split("#")[0].strip().partition("==")
            if not pin:  # a blank line, or a bound that is not a pin
                continue
            try:
                installed = version(name)
            except PackageNotFoundError:
                continue
            if installed.split("+")[0] != pin:
                drifted.append(f"{name} {installed} ({constraints}: {pin})")
    return drifted


if __name__ == "__main__":
    print("; ".join(drift(sys.argv[1])))

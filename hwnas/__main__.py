"""`python -m hwnas`: the `hwnas` command."""

from hwnas.cli import main

main()

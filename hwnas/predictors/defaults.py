"""The measuring protocol's defaults: warm-up runs, timed runs per round, rounds, and copies
of a block per timed chain. A module of their own, free of torch, so that the CLI can show
them in its help without importing the measuring code."""

DEFAULT_WARMUP = 10
DEFAULT_RUNS = 100
DEFAULT_ROUNDS = 3
BLOCK_COPIES = 8

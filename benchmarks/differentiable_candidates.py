"""Which choices the differentiable searcher's retrained candidates share, and how they train.

    .venv/bin/python benchmarks/differentiable_candidates.py \
        docs/benchmarks/differentiable_reinforce*.json

Reads the records `differentiable_search.py --out` writes, takes every distinct retrained
candidate in them, and prints, per value of each choice, how many candidates had it and their
mean / min / max test accuracy. It shows which choices the supernet prefers (how often they
appear) and whether networks with them train well on their own; choices held by fewer than
`--min-count` candidates are left out.
"""

from __future__ import annotations

import argparse
import json

import pandas as pd


def candidates(paths: list[str]) -> pd.DataFrame:
    """One row per distinct candidate: its choices (canonical archs hold only the blocks a
    stage's depth uses) and its retrained test accuracy."""
    rows = {}
    for path in paths:
        with open(path) as f:
            derived = json.load(f)["derived"]
        for c in derived["candidates"]:
            choices = c["arch"]["choices"]
            key = json.dumps(choices, sort_keys=True)
            rows[key] = {**choices, "test_accuracy": c["metrics"]["test_accuracy"]}
    return pd.DataFrame(list(rows.values()))


def by_choice(table: pd.DataFrame, min_count: int) -> pd.DataFrame:
    parts = []
    for choice in sorted(set(table.columns) - {"test_accuracy"}):
        stats = table.groupby(choice)["test_accuracy"].agg(["count", "mean", "min", "max"])
        parts.append(stats.reset_index(names="value").assign(choice=choice))
    out = pd.concat(parts)[["choice", "value", "count", "mean", "min", "max"]]
    return out[out["count"] >= min_count].round(1)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("records", nargs="+", help="JSON records of differentiable_search.py")
    parser.add_argument("--min-count", type=int, default=5)
    args = parser.parse_args()
    table = candidates(args.records)
    print(f"{len(table)} distinct candidates, test accuracy mean {table.test_accuracy.mean():.1f}")
    print(by_choice(table, args.min_count).to_string(index=False))


if __name__ == "__main__":
    main()

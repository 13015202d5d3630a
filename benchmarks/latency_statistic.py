"""Benchmark: the latency statistic on the committed profiles, from their stored rounds.

A measurement's latency is its lowest round median; this prints, per profile of
`benchmarks/data/epyc/`, over its successful rows (first-pass rows, then all rows with the
second passes): the median ratio of that latency to the overall median of the timed runs,
the share of round medians within 10 % of their row's lowest, and the share of rows whose
round-to-round variation is above 5 %.

    .venv/bin/python benchmarks/latency_statistic.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from hwnas.predictors.profile import round_medians

DATA = Path(__file__).parent / "data" / "epyc"


def statistic(rows: pd.DataFrame) -> dict[str, float]:
    """The three figures over `rows` (successful rows of one profile)."""
    rounds = [np.array(round_medians(text)) for text in rows["round_medians_ms"]]
    best = np.array([r.min() for r in rounds])
    within = np.concatenate([r / r.min() <= 1.10 for r in rounds])
    return {
        "rows": len(rows),
        "median_ratio": float(np.median(best / rows["median_ms"].to_numpy())),
        "rounds_within_10pct": float(within.mean()),
        "rows_varying_over_5pct": float((rows["variation"] > 0.05).mean()),
    }


def main() -> None:
    for path in sorted(DATA.glob("*.csv")):
        table = pd.read_csv(path)
        ok = table[table["status"] == "ok"]
        first = ok[~ok["row_id"].str.contains(r"\|pass\d+$")]
        for which, rows in (("first pass", first), ("all rows", ok)):
            if which == "all rows" and len(rows) == len(first):
                continue  # one pass: the same rows
            cells = ", ".join(
                f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}"
                for k, v in statistic(rows).items()
            )
            print(f"{path.name} ({which}): {cells}")


if __name__ == "__main__":
    main()

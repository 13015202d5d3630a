"""Benchmark: how well a latency profile's timings repeat, and whether they drift.

For each profile given: its whole networks' latency range and median (their `latency_ms`, the
best round of the best pass, as the predictors take it); over their measurements (in
measurement order, a row per pass) the Kendall tau between every pair of a measurement's rounds (how
one round ranks the networks against another; `hwnas latency profile` reports the first
pair as `repeatability`), and the correlation of the latencies of networks measured one and
ten apart (unrelated random networks: a correlation there is the machine drifting, not the
networks); plus the median latency of a block (per copy) and of a call's overhead.

    D=benchmarks/data
    .venv/bin/python benchmarks/latency_repeatability.py $D/h200/conv2d_cuda_fp32.csv \
        $D/h200/conv2d_cuda_fp32_holdout.csv $D/epyc/conv2d_ort_fp32_holdout.csv
"""

from __future__ import annotations

import argparse
import itertools
import json

import numpy as np

from hwnas.predictors import read_profile
from hwnas.predictors.accuracy import kendall_tau
from hwnas.predictors.profile import round_medians


def lag_correlation(values: np.ndarray, lag: int) -> float:
    return float(np.corrcoef(values[:-lag], values[lag:])[0, 1])


def repeatability(path: str) -> dict:
    profile = read_profile(path)
    rows = profile.rows
    ok = rows[rows["status"] == "ok"].sort_values("measured_at", kind="stable")
    archs = ok[ok["kind"] == "arch"]
    measured = archs["median_ms"].astype(float).to_numpy()
    latency = profile.archs()["latency_ms"].to_numpy(dtype=float)
    rounds = np.array([round_medians(text) for text in archs["round_medians_ms"]])
    pairs = {
        f"rounds {i + 1}-{j + 1}": round(kendall_tau(rounds[:, i], rounds[:, j]), 3)
        for i, j in itertools.combinations(range(rounds.shape[1]), 2)
    }
    part_medians = {
        kind: round(float(ok.loc[ok["kind"] == kind, "median_ms"].astype(float).median()), 4)
        for kind in ("block", "overhead")
        if (ok["kind"] == kind).any()
    }
    return {
        "profile": path,
        "networks": len(latency),
        "measurements": len(archs),
        "network_latency_ms": {
            "min": round(float(latency.min()), 3),
            "median": round(float(np.median(latency)), 3),
            "max": round(float(latency.max()), 3),
        },
        "round_pair_kendall_tau": pairs,
        "lag_correlation": {
            "1": round(lag_correlation(measured, 1), 3),
            "10": round(lag_correlation(measured, 10), 3),
        },
        "part_median_ms": part_medians,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("profiles", nargs="+", help="profile CSVs")
    for path in parser.parse_args().profiles:
        print(json.dumps(repeatability(path)))


if __name__ == "__main__":
    main()

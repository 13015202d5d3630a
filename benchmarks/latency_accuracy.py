"""Benchmark: accuracy of the lookup-table and learned latency predictors on held-out
architectures, and the additivity error of a plain sum of separately measured parts.

The predictors are built from one profile (parts + whole architectures for the learned one)
and scored on whole architectures never used for fitting: another profile's (`--archs-only`,
another seed), or the last N of the same profile (the learned one is refitted without them).
The lookup table never uses whole networks, so it is also scored on every measured one.
Prints one JSON record (and writes it with --json-out).

    .venv/bin/python benchmarks/latency_accuracy.py \
        --profile benchmarks/data/conv2d_ort_fp32.csv \
        --holdout benchmarks/data/conv2d_ort_fp32_holdout.csv
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np

from hwnas.predictors import LUTPredictor, get_predictor, read_profile
from hwnas.predictors.accuracy import latency_accuracy
from hwnas.predictors.evaluation import (
    fit_from_profile,
    holdout_from_own_profile,
    holdout_from_profile,
)


def _rounded(scores: dict) -> dict:
    return {k: round(v, 4) if isinstance(v, float) else v for k, v in scores.items()}


def additivity(measured: np.ndarray, summed: np.ndarray) -> dict:
    """How far a plain sum of parts is from the whole network: signed mean and spread of
    the relative error (percent), plus the usual accuracy scores."""
    rel = 100 * (summed - measured) / measured
    return {
        "mean_signed_pct": round(float(np.mean(rel)), 2),
        "median_signed_pct": round(float(np.median(rel)), 2),
        "p10_pct": round(float(np.percentile(rel, 10)), 2),
        "p90_pct": round(float(np.percentile(rel, 90)), 2),
        **_rounded(latency_accuracy(measured, summed)),
    }


def learning_curve(learned, archs, measured: np.ndarray, sizes: list[int]) -> dict:
    """Held-out Kendall tau and share within +-10 % of the learned predictor with and without
    its table, fitted on the first n of its training networks, for each n."""
    train_archs, train_y = learned.train_data
    curve = {}
    for n in sizes:
        fitted = {
            "learned": type(learned)(learned.space, learned.lut),
            "learned_without_table": type(learned)(learned.space),
        }
        curve[n] = {}
        for name, predictor in fitted.items():
            scores = latency_accuracy(
                measured, predictor.fit(train_archs[:n], train_y[:n]).predict(archs)
            )
            curve[n][name] = _rounded({k: scores[k] for k in ("kendall_tau", "within_10pct")})
    return curve


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", required=True, help="profile with parts and whole archs")
    ap.add_argument(
        "--holdout",
        required=True,
        help="profile of held-out whole archs, or N: the last N whole archs of --profile",
    )
    ap.add_argument("--parts", default=None, help="profile whose parts form the table")
    ap.add_argument(
        "--curve",
        type=int,
        nargs="*",
        default=[],
        help="also fit both learned predictors on the first N training networks, for each N",
    )
    ap.add_argument("--json-out", default=None)
    args = ap.parse_args()
    train = read_profile(args.profile)
    space = train.space()
    table = args.parts or args.profile
    learned = fit_from_profile(args.profile, "learned", space, parts=table)
    held_out = None if args.holdout.isdigit() else read_profile(args.holdout)
    if held_out is None:
        learned, archs, measured = holdout_from_own_profile(learned, int(args.holdout))
    else:
        archs, measured = holdout_from_profile(learned, held_out)
    lut = LUTPredictor.from_profile(table, space)
    plain = LUTPredictor.from_profile(table, space, subtract_overhead=False)
    # the table never sees whole networks: every measured network is held out for it
    all_archs, all_measured = train.arch_records(space)
    if held_out is not None:
        more, more_measured = held_out.arch_records(space)
        all_archs, all_measured = all_archs + more, np.concatenate([all_measured, more_measured])
    train_archs, train_y = learned.train_data
    no_table = get_predictor("learned", space).fit(train_archs, train_y)
    record = {
        "profile": args.profile,
        "parts": table,
        "holdout": args.holdout,
        "space": space.name,
        "backend": train.meta["backend"],
        "precisions": train.meta["precisions"],
        "clock": train.meta.get("clock"),
        "learned_train_archs": len(train_archs),
        "holdout_archs": len(archs),
        "holdout_measured_ms": {
            "min": round(float(measured.min()), 4),
            "median": round(float(np.median(measured)), 4),
            "max": round(float(measured.max()), 4),
        },
        "lut": _rounded(latency_accuracy(measured, lut.predict(archs))),
        "learned": _rounded(latency_accuracy(measured, learned.predict(archs))),
        "learned_without_table": _rounded(latency_accuracy(measured, no_table.predict(archs))),
        "lut_on_every_measured_arch": _rounded(
            latency_accuracy(all_measured, lut.predict(all_archs))
        ),
        "additivity_plain_sum": additivity(all_measured, plain.predict(all_archs)),
        "additivity_overhead_corrected": additivity(all_measured, lut.predict(all_archs)),
        "learning_curve": learning_curve(learned, archs, measured, args.curve),
        "loadavg_1min_at_end": round(os.getloadavg()[0], 2),
    }
    text = json.dumps(record, indent=2)
    if args.json_out:
        Path(args.json_out).write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()

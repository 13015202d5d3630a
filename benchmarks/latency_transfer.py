"""Benchmark: latency transfer to unseen devices with few measurements (the HELP protocol).

Source devices are HELP's meta-train devices, targets its unseen test devices. For each target
and k in KS, draw k random NAS-Bench-201 architectures (10 draws), fit `TransferPredictor` on
their measured latency (the same code path users get, with the nasbench201 space), predict all
15625 architectures and report the Spearman rank correlation with the measured latencies.
Baselines on the same draws: FLOPs alone (no fitting), a plain ridge regression on the source
devices' latencies (scikit-learn `Ridge()` on ms), and `TransferPredictor` without a space
(its source-device model alone). `oracle_linear` is no transfer method but a ceiling: a
linear regression fitted on all 15625 measured target latencies (features: source latencies
and the space's encoding), i.e. what a linear model could reach with every label;
`oracle_boosting` likewise for a non-linear model: gradient boosting on the log source
latencies and the encoding, fitted on a fixed random 7800 of the target's labels and scored on
the other 7825. A draw whose k measured latencies are all equal (possible at small k: the
table's latencies are rounded) is one `TransferPredictor.fit` refuses; it is left out of every
fitted method and counted in the output.

    .venv/bin/python benchmarks/latency_transfer.py [--out results.json]

`--targets` takes other device columns, e.g. HELP's validation devices
`titanx_1,titanx_32,titanx_256,gold_6240` (used to choose the predictor's defaults).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import spearmanr
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.linear_model import LinearRegression, Ridge
from tqdm import tqdm

from hwnas.evaluators.tabular import benchdata_dir
from hwnas.predictors.transfer import TransferPredictor
from hwnas.spaces import Arch, SearchSpace, get_space
from hwnas.spaces.nasbench201 import EDGES, OPS

SOURCES = [
    "1080ti_1",
    "1080ti_32",
    "1080ti_256",
    "silver_4114",
    "silver_4210r",
    "samsung_a50",
    "pixel3",
    "essential_ph_1",
    "samsung_s7",
]
TARGETS = ["titan_rtx_256", "gold_6226", "pixel2", "raspi4", "eyeriss", "fpga"]
KS = [10, 20, 50, 100]
METHODS = [
    "transfer",
    "transfer_no_space",
    "ridge_sources",
    "flops",
    "oracle_linear",
    "oracle_boosting",
]
ORACLE_TRAIN = 7800  # labels the boosting ceiling is fitted on
#: the same for every k and draw, so computed once per device; their k column says what they saw
UNFITTED = {"flops": "any", "oracle_linear": "all 15625", "oracle_boosting": str(ORACLE_TRAIN)}


def nb201_macs(space: SearchSpace, archs: list[Arch]) -> np.ndarray:
    """`space.cost(arch).macs` of every arch, from 25 built networks instead of 15625.

    An NB201 network's MACs are those of the all-`none` network plus, per edge, the MACs its
    op adds (every edge op is its own module in every cell). The decomposition is checked
    against `space.cost` on 20 random architectures before it is used.
    """
    empty = space.arch({e: "none" for e in EDGES})
    base = space.cost(empty).macs
    added = {(e, op): space.cost(empty.replace(**{e: op})).macs - base for e in EDGES for op in OPS}
    macs = np.array([base + sum(added[e, a[e]] for e in EDGES) for a in archs], dtype=float)
    rng = np.random.default_rng(0)
    for i in rng.choice(len(archs), 20, replace=False):
        if space.cost(archs[i]).macs != macs[i]:
            raise RuntimeError(f"MACs of {space.to_string(archs[i])} are not additive over edges")
    return macs


def predictions(
    method: str,
    space: SearchSpace,
    archs: list[Arch],
    sources: pd.DataFrame,
    macs: np.ndarray,
    measured: np.ndarray,
    picked: np.ndarray,
) -> np.ndarray:
    train = [archs[i] for i in picked]
    if method == "transfer":
        return TransferPredictor(sources, space).fit(train, measured[picked]).predict(archs)
    if method == "transfer_no_space":
        return TransferPredictor(sources).fit(train, measured[picked]).predict(archs)
    if method == "ridge_sources":
        x = sources.to_numpy()
        return Ridge().fit(x[picked], measured[picked]).predict(x)
    if method == "oracle_linear":
        x = np.c_[sources.to_numpy(), np.stack([space.encode(a) for a in archs])]
        return LinearRegression().fit(x, measured).predict(x)
    if method == "oracle_boosting":  # predictions for the held-out labels only (NaN elsewhere)
        x = np.c_[np.log(sources.to_numpy()), np.stack([space.encode(a) for a in archs])]
        train = np.random.default_rng(0).permutation(len(archs))[:ORACLE_TRAIN]
        model = HistGradientBoostingRegressor(max_iter=500, random_state=0)
        pred = model.fit(x[train], np.log(measured[train])).predict(x)
        pred[train] = np.nan
        return pred
    return macs


def markdown(wide: pd.DataFrame) -> str:
    """The (method, k) x device table of mean Spearman as a Markdown table."""
    lines = ["| method | k | " + " | ".join(wide.columns) + " |"]
    lines.append("|---" * (len(wide.columns) + 2) + "|")
    for (method, k), row in wide.iterrows():
        seen = UNFITTED.get(method, k)
        lines.append(f"| {method} | {seen} | " + " | ".join(f"{v:.3f}" for v in row) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", default=",".join(TARGETS))
    parser.add_argument("--ks", default=",".join(map(str, KS)))
    parser.add_argument("--draws", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, help="also write the results as JSON here")
    args = parser.parse_args()
    targets, ks = args.targets.split(","), [int(k) for k in args.ks.split(",")]

    table = pd.read_csv(benchdata_dir() / "nb201_latency_24devices.csv.gz")
    space = get_space("nasbench201")
    archs = [space.from_string(s) for s in table["arch_str"]]
    sources = table[SOURCES].set_axis([a.key for a in archs])
    macs = nb201_macs(space, archs)

    rows, all_equal = [], 0
    jobs = [(d, k, draw) for d in targets for k in ks for draw in range(args.draws)]
    for device, k, draw in tqdm(jobs, desc="transfer"):
        measured = table[device].to_numpy(dtype=float)
        rng = np.random.default_rng([args.seed, k, draw])
        picked = rng.choice(len(archs), size=k, replace=False)
        refused = np.ptp(measured[picked]) == 0
        all_equal += int(refused)
        for method in METHODS:
            if method in UNFITTED and (draw > 0 or k != ks[0]):
                continue
            if refused and method not in UNFITTED:
                continue
            pred = predictions(method, space, archs, sources, macs, measured, picked)
            scored = np.isfinite(pred)
            rho = float(spearmanr(pred[scored], measured[scored]).statistic)
            rows.append({"device": device, "k": k, "draw": draw, "method": method, "rho": rho})

    results = pd.DataFrame(rows)
    summary = results.groupby(["method", "k", "device"])["rho"].agg(["mean", "std"]).reset_index()
    wide = summary.pivot_table(index=["method", "k"], columns="device", values="mean")[targets]
    wide["mean"] = wide.mean(axis=1)
    wide = wide.reindex(METHODS, level=0)
    print(markdown(wide))
    print(f"draws left out, their latencies all equal: {all_equal} of {len(jobs)}")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        record = {
            "command": "benchmarks/latency_transfer.py",
            "args": {k: str(v) for k, v in vars(args).items()},
            "sources": SOURCES,
            "summary": summary.to_dict(orient="records"),
            "draws_all_equal": all_equal,
            "draws": rows,
        }
        args.out.write_text(json.dumps(record, indent=1) + "\n")


if __name__ == "__main__":
    main()

"""Benchmark: how well each zero-cost proxy ranks trained accuracy, versus params alone.

N architectures are sampled from a space, each is trained from scratch for a short budget
(TrainEvaluator) and scored by every proxy (ZeroCostEvaluator) in one composite evaluation on
an embedded Ray; the Spearman rank correlation of each proxy with the validation accuracy is
reported (failed evaluations left out, and counted). Rows are appended to a CSV as they
complete, so an interrupted run resumes where it stopped. `--rescore` recomputes only the proxy
columns of the rows already there (after a change to a proxy), keeping their trained accuracy.

    .venv/bin/python benchmarks/evaluators_zero_cost.py --space conv1d --dataset mnist1d \
        -n 200 --epochs 1 --rows docs/benchmarks/zc_conv1d_mnist1d.csv
    .venv/bin/python benchmarks/evaluators_zero_cost.py --space conv2d --input 1,28,28 \
        --dataset mnist5k -n 200 --epochs 0.25 --rows docs/benchmarks/zc_conv2d_mnist5k.csv \
        --time-limit-s 2100
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import pandas as pd
from scipy.stats import spearmanr
from tqdm import tqdm

from hwnas.evaluators import RayExecutor, get_evaluator
from hwnas.evaluators.zero_cost import PROXIES, ZeroCostEvaluator
from hwnas.spaces import Arch, SearchSpace, get_space

SCORES = [f"zc_{p}" for p in [*PROXIES, "params"]]
COLUMNS = ["key", "status", "reason", "accuracy", "test_accuracy", "train_time_s", "params"]
COLUMNS += ["macs", "size_bytes", *SCORES, "arch"]


def correlations(rows: pd.DataFrame) -> dict:
    ok = rows[rows["status"] == "ok"]
    result = {"n": len(rows), "ok": len(ok)}
    for score in SCORES:
        rho = spearmanr(ok[score], ok["accuracy"], nan_policy="omit").statistic
        result[score] = round(float(rho), 4)
    result["mean_accuracy"] = round(float(ok["accuracy"].mean()), 2)
    result["best_accuracy"] = round(float(ok["accuracy"].max()), 2)
    return result


def rescore(rows_path: Path, space: SearchSpace, dataset: str) -> None:
    """Recompute every proxy column of the stored rows in place (their accuracies kept)."""
    rows = pd.read_csv(rows_path)
    evaluator = ZeroCostEvaluator(space, dataset)
    for i, record in tqdm(list(rows["arch"].items()), desc="rescoring"):
        metrics = evaluator.evaluate(Arch.from_dict(json.loads(record)))
        if not metrics.ok:
            raise SystemExit(f"{rows.at[i, 'key']}: {metrics.reason}")
        for score in SCORES:
            rows.at[i, score] = metrics[score]
    rows.to_csv(rows_path, index=False)


def train_and_score(
    args: argparse.Namespace, space: SearchSpace, archs: list[Arch], rows_path: Path
) -> None:
    """Train and score every arch not yet in the rows, appending each row as it completes."""
    evaluator = get_evaluator(
        ["train", "zero_cost"],
        space,
        train={"dataset": args.dataset, "epochs": args.epochs, "batch_size": args.batch_size},
        zero_cost={"dataset": args.dataset},
    )
    done = set(pd.read_csv(rows_path)["key"]) if rows_path.exists() else set()
    todo = [a for a in archs if a.key not in done]
    stop = time.monotonic() + (args.time_limit_s or float("inf"))
    with RayExecutor(evaluator, num_cpus=args.workers) as executor:
        for arch, metrics in tqdm(executor.run(todo), total=len(todo), desc="evaluations"):
            row = {"key": arch.key, "status": metrics.status, "reason": metrics.reason}
            row |= dict(metrics) | {"arch": arch.to_json()}
            frame = pd.DataFrame([row]).reindex(columns=COLUMNS)
            frame.to_csv(rows_path, mode="a", header=not rows_path.exists(), index=False)
            if time.monotonic() > stop:
                break  # leaving run() cancels what is still in flight


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--space", default="conv1d")
    parser.add_argument("--input", help="input shape override, e.g. 1,28,28")
    parser.add_argument("--dataset", default="mnist1d")
    parser.add_argument("-n", type=int, default=200)
    parser.add_argument("--epochs", type=float, default=1.0)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rows", required=True, help="CSV of per-architecture results")
    parser.add_argument(
        "--time-limit-s", type=float, help="stop (and summarise what is done) after this long"
    )
    parser.add_argument(
        "--rescore", action="store_true", help="recompute the proxies of the stored rows only"
    )
    args = parser.parse_args()
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

    shape = tuple(int(s) for s in args.input.split(",")) if args.input else None
    space = get_space(args.space, input_shape=shape)
    rows_path = Path(args.rows)
    archs = [space.sample(args.seed * 100_000 + i) for i in range(args.n)]
    if args.rescore:
        rescore(rows_path, space, args.dataset)
    else:
        train_and_score(args, space, archs, rows_path)
    rows = pd.read_csv(rows_path)
    rows = rows[rows["key"].isin({a.key for a in archs})]
    summary = {
        "space": args.space,
        "dataset": args.dataset,
        "epochs": args.epochs,
        "requested": args.n,
        "load_after": os.getloadavg()[0],
        **correlations(rows),
    }
    print(json.dumps(summary, indent=2))
    rows_path.with_suffix(".json").write_text(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()

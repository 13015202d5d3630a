"""Benchmark: build a latency profile and record its wall time and the machine's load.

Runs the same code as `hwnas latency profile` and writes `<out>.timing.json` beside the
profile: wall seconds, the profile's rows (`rows`, earlier runs' included when it resumed one,
as a second pass does) and the rows this run added (`rows_added`; records written before
2026-12-04 lack it), and the 1-minute load average sampled every 10 s (other processes on
the machine make measurements noisier; the load says how much).

    .venv/bin/python benchmarks/latency_profile.py --space conv2d --precision fp32 \
        --samples 300 --out benchmarks/data/conv2d_ort_fp32.csv
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import threading
import time
from pathlib import Path

from hwnas.predictors.profiling import build_profile
from hwnas.spaces import get_space


class LoadSampler(threading.Thread):
    """Samples `os.getloadavg()[0]` every `period` seconds until stopped."""

    def __init__(self, period: float = 10.0):
        super().__init__(daemon=True)
        self.period, self.samples, self._stop_event = period, [], threading.Event()

    def run(self) -> None:
        while not self._stop_event.is_set():
            self.samples.append(os.getloadavg()[0])
            self._stop_event.wait(self.period)

    def stop(self) -> list[float]:
        self._stop_event.set()
        self.join()
        return self.samples


def _rows_in(path: Path) -> int:
    """The data rows of the profile CSV at `path` (0 where there is none yet)."""
    if not path.exists():
        return 0
    with path.open(encoding="utf-8", newline="") as f:
        return sum(1 for _ in csv.DictReader(f))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--space", default="conv2d")
    ap.add_argument("--backend", default="onnxruntime-cpu")
    ap.add_argument("--precision", nargs="*", default=None)
    ap.add_argument("--samples", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--archs-only", action="store_true")
    ap.add_argument("--block-copies", type=int, default=8)
    ap.add_argument("--passes", type=int, default=1)
    ap.add_argument("--out", required=True)
    ap.add_argument("--timing-out", default=None, help="default: <out>.timing.json")
    args = ap.parse_args()
    space = get_space(args.space)
    before = _rows_in(Path(args.out))
    sampler = LoadSampler()
    sampler.start()
    start = time.perf_counter()
    profile = build_profile(
        space,
        args.out,
        backend=args.backend,
        precisions=args.precision,
        samples=args.samples,
        seed=args.seed,
        archs_only=args.archs_only,
        block_copies=args.block_copies,
        passes=args.passes,
    )
    wall = time.perf_counter() - start
    load = sampler.stop()
    record = {
        "space": args.space,
        "backend": args.backend,
        "precisions": profile.meta["precisions"],
        "samples": args.samples,
        "archs_only": args.archs_only,
        "passes": profile.meta["passes"],
        "wall_s": round(wall, 1),
        "rows": len(profile.rows),
        "rows_added": len(profile.rows) - before,
        "failed_rows": int((profile.rows["status"] != "ok").sum()),
        "loadavg_1min": {
            "mean": round(sum(load) / len(load), 2),
            "min": round(min(load), 2),
            "max": round(max(load), 2),
        },
    }
    timing = Path(args.timing_out or Path(args.out).with_suffix(".timing.json"))
    timing.write_text(json.dumps(record, indent=2) + "\n")
    print(json.dumps(record))


if __name__ == "__main__":
    main()

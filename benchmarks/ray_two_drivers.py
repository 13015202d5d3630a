"""Benchmark: one or two `hwnas search` drivers sharing one run on a small Ray cluster.

A review found two drivers far slower than one: Ray keeps worker processes per driver and,
by default, no more idle ones than the cluster has CPUs, so each evaluation of two drivers
tends to start a new worker (which imports torch and hwnas). This script starts a 2-CPU
cluster with `ray start` (optionally with a `--system-config`), runs the drivers on an
experiment of table lookups (the second one second after the first), reports the wall time
until all ended and how many Ray worker processes the cluster started (its
`python-core-worker-*.log` files), and stops the cluster (`ray start --block` under a signal
stops what it started, and only that: `ray stop` would stop every Ray on the machine).

    .venv/bin/python benchmarks/ray_two_drivers.py --drivers 1 2 \
        --system-config '' '{"num_workers_soft_limit": 8}'

Needs the NAS-Bench-201 table (../shared/benchdata or $HWNAS_BENCHDATA).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent
PORT = 6397
EXPERIMENT = """\
name: two-drivers
space: nasbench201
evaluator: {name: tabular, settings: {tabular: {cost: false, latency: false}}}
objectives: [{metric: accuracy, direction: max}]
searcher: {name: random}
evaluations: %d
executor: {kind: ray, max_in_flight: 2}
storage: {journal: study.log}
seed: 0
run_dir: run
"""


def start_cluster(ray_temp: Path, system_config: str, env: dict) -> subprocess.Popen:
    """A head of 2 CPUs, once its GCS answers."""
    command = [str(BIN / "ray"), "start", "--head", "--block", f"--port={PORT}"]
    command += ["--num-cpus=2", "--include-dashboard=false", f"--temp-dir={ray_temp}"]
    if system_config:
        command.append(f"--system-config={system_config}")
    quiet = dict(stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    head = subprocess.Popen(command, env=env, **quiet)
    status = [str(BIN / "ray"), "status", f"--address=127.0.0.1:{PORT}"]
    deadline = time.monotonic() + 120
    while subprocess.run(status, env=env, capture_output=True).returncode:
        if head.poll() is not None or time.monotonic() > deadline:
            head.terminate()
            raise SystemExit(f"the Ray head did not start (port {PORT} in use?)")
        time.sleep(1.0)
    return head


def run_drivers(folder: Path, drivers: int, env: dict) -> float:
    """Wall seconds from the first driver's start until every driver ended."""
    command = [str(BIN / "hwnas"), "search", "exp.yaml", "--address", f"127.0.0.1:{PORT}"]
    start, processes = time.perf_counter(), []
    for i in range(drivers):
        if i:
            time.sleep(1.0)
        processes.append(
            subprocess.Popen([*command, "--quiet"], cwd=folder, env=env, stdout=subprocess.DEVNULL)
        )
    codes = [p.wait() for p in processes]
    if any(codes):
        raise SystemExit(f"a driver failed (exit codes {codes})")
    return time.perf_counter() - start


def workers_started(temp_dir: Path) -> int:
    return len(list(temp_dir.glob("session_latest/logs/python-core-worker-*.log")))


def measure(drivers: int, system_config: str, evaluations: int) -> tuple[float, int]:
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "disabled"}
    with tempfile.TemporaryDirectory(prefix="hwnas_two_drivers_") as tmp:
        folder, ray_temp = Path(tmp), Path(tmp) / "ray"
        (folder / "exp.yaml").write_text(EXPERIMENT % evaluations)
        head = start_cluster(ray_temp, system_config, env)
        try:
            return run_drivers(folder, drivers, env), workers_started(ray_temp)
        finally:
            head.terminate()
            head.wait(timeout=60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--drivers", type=int, nargs="+", default=[1, 2])
    parser.add_argument(
        "--system-config",
        nargs="+",
        default=["", '{"num_workers_soft_limit": 8}'],
        help="the cluster's --system-config of each row ('' for Ray's defaults)",
    )
    parser.add_argument("--evaluations", type=int, default=60)
    args = parser.parse_args()
    print("| drivers | cluster started with | wall time | Ray worker processes started |")
    print("| --- | --- | --- | --- |")
    for system_config in args.system_config:
        for drivers in args.drivers:
            seconds, workers = measure(drivers, system_config, args.evaluations)
            config = f"`--system-config='{system_config}'`" if system_config else "defaults"
            print(f"| {drivers} | {config} | {seconds:.1f} s | {workers} |", flush=True)


if __name__ == "__main__":
    main()

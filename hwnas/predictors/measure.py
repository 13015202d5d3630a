"""Timing a model on a backend: warm-up, then the median of many runs in several rounds.

The latency is the median of the least disturbed round (`Measurement.latency_ms`): other
processes on the machine can only slow a round down (a descheduled or cache-thrashed round),
never speed it up, so the lowest round median is the most repeatable estimate of what the
model costs on this device; on an idle machine it equals the overall median within about 1 %.
The median over all timed runs, the spread (IQR), the round medians and their coefficient of
variation (run-to-run variation), and the number of outlier runs (outside the Tukey fences)
are kept beside it and say how much to trust it. Thread count is fixed for the whole
measurement.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from hwnas.predictors.backends import (
    BACKENDS,
    CLOCKS,
    PrecisionSpec,
    get_backend,
    measured_precision,
    summarize_precision,
)
from hwnas.predictors.defaults import DEFAULT_ROUNDS, DEFAULT_RUNS, DEFAULT_WARMUP
from hwnas.predictors.fingerprint import auto_clock, device_fingerprint, thread_clock_ticks
from hwnas.predictors.onnx_precision import layer_precisions
from hwnas.predictors.torch_state import MAX_THREADS, torch_threads
from hwnas.spaces.blocks import PRECISIONS
from hwnas.spaces.counting import evaluating
from hwnas.spaces.errors import whole_number
from hwnas.spaces.reprs import facts_repr, named
from hwnas.spaces.yaml_files import quoted_number

#: held by each measurement: two at once in one process (threads of a notebook or a service)
#: would each time the other's load, and a dynamo export in one thread broke the other's
#: PyTorch runs ("fake_mode.in_kernel_invocation must be False")
MEASURING = threading.RLock()


class MeasurementError(ValueError):
    """Measurement settings that make no sense (no runs, no rounds, bad shapes)."""


@dataclass(frozen=True)
class Measurement:
    """Latency of one model on one backend, with its spread and the device fingerprint."""

    median_ms: float
    iqr_ms: float
    mean_ms: float
    min_ms: float
    round_medians_ms: tuple[float, ...]
    variation: float  # coefficient of variation of the round medians (run-to-run variation)
    outliers: int  # timed runs outside the Tukey fences (Q1 - 1.5 IQR, Q3 + 1.5 IQR)
    backend: str
    precision: str
    measured_precision: str
    batch_size: int
    threads: int
    warmup: int
    runs: int
    rounds: int
    clock: str  # "thread" (CPU time of the one inference thread) or "wall"
    # not hashed (a dict cannot be): hash(m) raised "unhashable type: 'dict'", though a frozen
    # dataclass is hashable; equal measurements still hash equally
    fingerprint: dict[str, Any] = field(default_factory=dict, hash=False)

    @facts_repr
    def __repr__(self) -> list[str]:
        """Its latency, spread and how it was measured (the dataclass's repr dumped every
        round median and the whole device fingerprint, 612 characters)."""
        return [
            f"latency_ms={self.latency_ms:.4g}",
            f"variation={self.variation:.2%}",
            *named(backend=self.backend, precision=self.measured_precision),
            *named(batch_size=self.batch_size, threads=self.threads, clock=self.clock),
            f"runs={self.rounds}x{self.runs}",
        ]

    @property
    def latency_ms(self) -> float:
        """The latency: the median of the least disturbed round (see the module docstring)."""
        return best_round_ms(self.round_medians_ms)

    def as_row(self) -> dict[str, Any]:
        """A flat record (the round medians as a ';'-joined string, fingerprint fields
        prefixed `fp_`), for a profile table."""
        row = asdict(self)
        row["round_medians_ms"] = ";".join(f"{v:.6g}" for v in self.round_medians_ms)
        for key, value in row.pop("fingerprint").items():
            row[f"fp_{key}"] = value
        return row


def best_round_ms(round_medians_ms: Sequence[float]) -> float:
    """The latency of a measurement from its round medians: the lowest of them."""
    return float(min(round_medians_ms))


def summarize(times_ms: np.ndarray) -> dict[str, Any]:
    """Median, IQR, mean, min, round medians, variation and outliers of (rounds, runs) times."""
    flat = times_ms.ravel()
    q1, median, q3 = np.percentile(flat, [25, 50, 75])
    iqr = q3 - q1
    rounds = np.median(times_ms, axis=1)
    mean_rounds = float(np.mean(rounds))
    return {
        "median_ms": float(median),
        "iqr_ms": float(iqr),
        "mean_ms": float(np.mean(flat)),
        "min_ms": float(np.min(flat)),
        "round_medians_ms": tuple(float(r) for r in rounds),
        "variation": float(np.std(rounds) / mean_rounds) if mean_rounds > 0 else 0.0,
        "outliers": int(np.sum((flat < q1 - 1.5 * iqr) | (flat > q3 + 1.5 * iqr))),
    }


def resolve_clock(clock: str, backend: str, threads: int) -> str:
    """`auto` is the thread's CPU time with one thread on a CPU backend (immune to other
    processes taking the CPU) where that clock is fine-grained, else wall-clock time."""
    if clock == "auto":
        return auto_clock(backend, threads)
    if not isinstance(clock, str) or clock not in CLOCKS:  # a list: "unhashable type"
        raise MeasurementError(f"clock: unknown {clock!r}; choose auto, {', '.join(CLOCKS)}")
    if clock == "thread" and (threads != 1 or backend == "torch-cuda"):
        raise MeasurementError(
            "clock: 'thread' measures one CPU thread: it needs threads=1 on a CPU backend"
        )
    if clock == "thread" and thread_clock_ticks():
        raise MeasurementError(
            "clock: 'thread' counts a thread's CPU time in scheduler ticks (15.6 ms by "
            "default) on Windows, more than a model's run takes; use wall"
        )
    return clock


def check_settings(
    input_shape, *, backend, batch_size, threads, warmup, runs, rounds, clock
) -> str:
    """Refuse, by name, a measurement setting no measurement can take; the clock the
    measurement then uses (`resolve_clock`)."""
    for name, value, least in (
        ("batch_size", batch_size, 1),
        ("threads", threads, 1),
        ("warmup", warmup, 0),
        ("runs", runs, 1),
        ("rounds", rounds, 1),
    ):
        # a bool is no count: threads=True reached torch as "expects an int, but got bool"
        if not whole_number(value) or value < least:
            raise MeasurementError(
                f"{name} must be an integer >= {least}, got {value!r}{quoted_number(value)}"
            )
    if threads > MAX_THREADS:  # torch's C int: every measurement failed on "Overflow ..."
        raise MeasurementError(f"threads must be an integer <= {MAX_THREADS}, got {threads!r}")
    if not _sizes(input_shape):
        raise MeasurementError(
            f"input_shape must be positive sizes without the batch, got {input_shape!r}"
        )
    if backend not in BACKENDS:  # a setting, as `measure_latency` documents: not get_backend's
        # plain ValueError, which a caller catching MeasurementError would miss
        raise MeasurementError(f"unknown backend {backend!r}; choose from {', '.join(BACKENDS)}")
    return resolve_clock(clock, backend, threads)


def _sizes(shape: Any) -> bool:
    """Whether `shape` is one or more whole sizes >= 1: an int alone, a size 'x' or None
    ended in Python's bare TypeError or ValueError, and 8.7 was cut to 8 unsaid."""
    return (
        isinstance(shape, Sequence)
        and not isinstance(shape, str)
        and len(shape) > 0
        and all(whole_number(s) and s >= 1 for s in shape)
    )


#: the most bytes a tensor's storage may take: torch counts them in a signed 64-bit integer
MAX_TENSOR_BYTES = 2**63


def example_input(batch_size: int, input_shape: Sequence[int]) -> torch.Tensor:
    """A random input batch, or an error naming `batch_size` when memory cannot hold it
    (torch's allocator names only the bytes it tried), or it is past the sizes torch counts
    (`MAX_TENSOR_BYTES`: `--batch-size` 10**30 ended in torch's "Overflow when unpacking long
    long" with a C++ stack, 2**58 in "Storage size calculation overflowed", naming no
    setting). Drawn from a generator of its own: from torch's global one, a measurement moved
    the caller's `torch.rand` on."""
    shape = (batch_size, *(int(s) for s in input_shape))
    size = 4 * np.prod(shape, dtype=float)  # bytes, as float32
    too_large = MeasurementError(
        f"batch_size {batch_size}: an input batch of shape {shape} takes {size / 1e9:.3g} GB, "
        "more than this machine can allocate"
    )
    if size >= MAX_TENSOR_BYTES:
        raise too_large
    try:
        return torch.randn(shape, generator=torch.Generator().manual_seed(0))
    except RuntimeError as e:
        if "allocate" not in str(e):
            raise
        raise too_large from None


def _resolve(model: nn.Module, precision: PrecisionSpec) -> PrecisionSpec:
    if isinstance(precision, str):
        if precision == "mixed":
            return layer_precisions(model)
        if precision not in PRECISIONS:
            raise MeasurementError(
                f"unknown precision {precision!r}; choose from {list(PRECISIONS)} or 'mixed'"
            )
        return precision
    unknown = sorted({v for v in precision.values() if v not in PRECISIONS})
    if unknown:
        raise MeasurementError(f"unknown precisions {unknown}; choose from {list(PRECISIONS)}")
    layers = {name for name, _ in model.named_modules()}
    missing = sorted(set(precision) - layers)
    if missing:
        raise MeasurementError(f"precision names layers the model lacks: {missing}")
    return precision


def _identity(precision: PrecisionSpec) -> str:
    """What tells two precisions apart: the whole per-layer mapping, not its summary (two
    mappings with the same set of precisions are different models)."""
    return precision if isinstance(precision, str) else json.dumps(precision, sort_keys=True)


def measure_latencies(
    model: nn.Module,
    input_shape: Sequence[int],
    precisions: Sequence[PrecisionSpec],
    *,
    backend: str = "onnxruntime-cpu",
    batch_size: int = 1,
    threads: int = 1,
    warmup: int = DEFAULT_WARMUP,
    runs: int = DEFAULT_RUNS,
    rounds: int = DEFAULT_ROUNDS,
    clock: str = "auto",
) -> list[Measurement]:
    """Latency of `model` at each precision, sharing one export (see `measure_latency`); one
    measurement at a time in a process (a thread's waits for another's)."""
    clock = check_settings(
        input_shape,
        backend=backend,
        batch_size=batch_size,
        threads=threads,
        warmup=warmup,
        runs=runs,
        rounds=rounds,
        clock=clock,
    )
    counts = (batch_size, threads, warmup, runs, rounds)  # numpy's, taken, are no JSON
    batch_size, threads, warmup, runs, rounds = map(int, counts)
    be = get_backend(backend)
    wanted = [_resolve(model, p) for p in precisions]
    measured = [measured_precision(be, p) for p in wanted]
    example = example_input(batch_size, input_shape)
    distinct = list({_identity(p): p for p in measured}.values())
    stats = {}
    with MEASURING, torch_threads(threads), evaluating(model):
        runners = be.runners(model, example, distinct, threads, clock)
        for got, run in zip(distinct, runners):
            for _ in range(warmup):
                run()
            times = np.array([[run() for _ in range(runs)] for _ in range(rounds)])
            stats[_identity(got)] = summarize(times)
    out = []
    for asked, got in zip(wanted, measured):
        name = summarize_precision(asked)
        out.append(
            Measurement(
                **stats[_identity(got)],
                backend=backend,
                precision=name,
                measured_precision=summarize_precision(got),
                batch_size=batch_size,
                threads=threads,
                warmup=warmup,
                runs=runs,
                rounds=rounds,
                clock=clock,
                fingerprint=device_fingerprint(backend, name, batch_size, threads),
            )
        )
    return out


def measure_latency(
    model: nn.Module,
    input_shape: Sequence[int],
    backend: str = "onnxruntime-cpu",
    precision: str | Mapping[str, str] = "fp32",
    batch_size: int = 1,
    threads: int = 1,
    warmup: int = DEFAULT_WARMUP,
    runs: int = DEFAULT_RUNS,
    rounds: int = DEFAULT_ROUNDS,
    clock: str = "auto",
) -> Measurement:
    """Latency of `model` (a float model, fake quantization off; measured in eval mode, and
    each of its modules given back its own mode after) for inputs of `input_shape` (without
    batch) on `backend`.

    `precision` is one of fp32, fp16, int8, w4a8 for the whole model, `mixed` for each block
    at the precision its layers carry (stem, downsampling and head stay fp32), or a mapping of
    module name -> precision. Where the backend has no kernel for a precision, the closest
    real one is measured and `measured_precision` says which (w4a8 -> int8 on CPU).
    `clock` `auto` times one-thread CPU runs by the thread's CPU time (time spent waiting for
    other processes is not counted; their pressure on caches and memory bandwidth, and on a
    virtual machine the host's, still slows the run) and everything else by wall-clock time;
    `wall` or `thread` force one.
    Raises `MeasurementError` for nonsense settings and `BackendError` when the backend cannot
    run the model (the message names the backend and the cause). Several threads may call it:
    the measurements of one process run one at a time.
    """
    return measure_latencies(
        model,
        input_shape,
        [precision],
        backend=backend,
        batch_size=batch_size,
        threads=threads,
        warmup=warmup,
        runs=runs,
        rounds=rounds,
        clock=clock,
    )[0]

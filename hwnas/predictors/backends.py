"""Latency backends: the runtimes a model is timed on, each reporting what it cannot run.

- `onnxruntime-cpu`: the model exported to ONNX, run by ONNX Runtime's CPU provider with a
  fixed number of intra-op threads; fp16 as a float16 graph (an op without a float16 CPU
  kernel, as convolutions on x86, runs in float32 between casts), int8 through static QDQ
  quantization (real integer kernels), w4a8 measured as int8 because ONNX Runtime has no 4-bit
  convolution on CPU (the substitution is recorded as `measured_precision`).
- `torch-cpu`: eager PyTorch on the CPU with `torch.set_num_threads`; fp32 and fp16.
- `torch-cuda`: eager PyTorch on the GPU timed with CUDA events; fp32 and fp16.

A backend turns a model into `Runner`s (one per precision) that run it once and return the
elapsed milliseconds on a clock (`CLOCKS`); `hwnas.predictors.measure` does the statistics.
The `thread` clock is the CPU time of the calling thread: with one intra-op thread all the
inference runs on that thread, so it is the compute latency on one core without the time the
process waits for the CPU when other processes share it (`wall` includes that wait).
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Protocol

import torch
from torch import nn

from hwnas.predictors.onnx_export import INPUT_NAME, ExportError, export_onnx

Runner = Callable[[], float]
CLOCKS: dict[str, Callable[[], int]] = {"wall": time.perf_counter_ns, "thread": time.thread_time_ns}
#: precision of a whole model: one name, or module name -> precision (see onnx_precision)
PrecisionSpec = str | Mapping[str, str]
FLOAT_PRECISIONS = ("fp32", "fp16")


def torch_device(name: str | None) -> torch.device:
    """The torch device `name` names (`cpu`, `cuda:1`, ...), else CUDA when present, else the
    CPU. A name torch cannot parse (`gpu`) is a ValueError naming it, so a setting is refused
    where it is read rather than where the first model moves."""
    if name is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if not isinstance(name, str):
        raise ValueError(f"device must be a name such as 'cpu' or 'cuda:0', not {name!r}")
    try:
        return torch.device(name)
    except (RuntimeError, ValueError, TypeError) as e:
        raise ValueError(f"device {name!r}: {e}") from None


def device_problem(device: torch.device) -> str | None:
    """Why torch cannot run on `device` on this machine, or None where it can. A CUDA device
    is counted without starting CUDA (which would take GPU memory in a process that only
    checks); others are asked to hold an empty tensor."""
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        index = device.index or 0
        return None if index < count else f"no such CUDA device here, {count} visible"
    try:
        torch.empty(0, device=device)
    except Exception as e:  # noqa: BLE001 - each backend fails its own way (assert, not built...)
        return str(e).splitlines()[0][:120]
    return None


class BackendError(RuntimeError):
    """A backend cannot run this model or precision; the message names the backend and cause."""


class Backend(Protocol):
    name: str

    def check_available(self) -> None:
        """Raise `BackendError` if this machine cannot run the backend at all."""

    def measured_precision(self, precision: str) -> str:
        """The precision really measured for `precision` (the closest real kernel)."""

    def check_precision(self, precision: PrecisionSpec) -> None:
        """Raise `BackendError` if the backend cannot time `precision` at all (one name, or
        module name -> precision: eager torch runs a whole model at one precision)."""

    def runners(
        self,
        model: nn.Module,
        example: torch.Tensor,
        precisions: Sequence[PrecisionSpec],
        threads: int,
        clock: str,
    ) -> list[Runner]:
        """One runner per precision (already measured precisions), sharing one preparation."""


def _substituted(precision: PrecisionSpec, backend: Backend) -> PrecisionSpec:
    if isinstance(precision, str):
        return backend.measured_precision(precision)
    return {k: backend.measured_precision(v) for k, v in precision.items()}


class OnnxRuntimeCPU:
    name = "onnxruntime-cpu"
    substitutions = {"w4a8": "int8"}  # said in words in `precision_notes.py`

    def check_available(self) -> None:
        return None  # ONNX Runtime's CPU provider is a dependency

    def measured_precision(self, precision: str) -> str:
        return self.substitutions.get(precision, precision)

    def check_precision(self, precision: PrecisionSpec) -> None:
        return None  # every precision: float kernels, QDQ int8 (w4a8 timed as int8)

    def runners(self, model, example, precisions, threads, clock):
        import onnxruntime as ort

        from hwnas.predictors.onnx_precision import apply_precisions

        _check_runs_in_torch(self.name, model, example)
        try:
            graph = export_onnx(model, example)
        except ExportError as e:
            raise BackendError(f"backend {self.name!r}: {e}") from None
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.log_severity_level = 3
        feed = {INPUT_NAME: example.numpy()}
        runners = []
        for precision in precisions:
            try:
                variant = apply_precisions(graph, tuple(example.shape), precision)
                session = ort.InferenceSession(
                    variant.SerializeToString(), options, providers=["CPUExecutionProvider"]
                )
                session.run(None, feed)
            except Exception as e:  # noqa: BLE001 - ORT raises its own error types
                raise BackendError(
                    f"backend {self.name!r} cannot run this model at precision "
                    f"{_describe(precision)}: {e}"
                ) from None
            runners.append(_clock_runner(lambda s=session: s.run(None, feed), clock))
        return runners


def _check_no_function_mode(name: str) -> None:
    """Refuse to time eager torch under a torch function mode: `torch.set_default_device`
    (even "cpu") and `with torch.device(...)` route every torch call through a Python hook,
    which timed a small conv network 1.8x slower, recorded as the network's latency with
    nothing to say so. (torch names no public test for a mode; a later torch without this
    one is not checked.)"""
    mode_enabled = getattr(torch._C, "_is_torch_function_mode_enabled", lambda: False)
    if mode_enabled():
        raise BackendError(
            f"backend {name!r}: a torch function mode is active (torch.set_default_device, "
            "a `with torch.device(...)` block, or a TorchFunctionMode of yours), which slows "
            "every eager torch call: its latencies would not be the network's; measure "
            "outside it (torch.set_default_device(None) ends the default device's), or with "
            "onnxruntime-cpu"
        )


class TorchEager:
    """Eager PyTorch on one device; float precisions only (no integer kernels in eager)."""

    def __init__(self, name: str, device: str):
        self.name, self.device = name, device

    def check_available(self) -> None:
        if self.device == "cuda" and not torch.cuda.is_available():
            raise BackendError(
                f"backend {self.name!r}: no CUDA GPU is available on this machine "
                "(torch.cuda.is_available() is False)"
            )

    def measured_precision(self, precision: str) -> str:
        return precision

    def _one_float_precision(self, precision: PrecisionSpec) -> str:
        """The one float precision the whole model runs at, or a `BackendError` saying why
        there is none."""
        if not isinstance(precision, str):
            if len(set(precision.values())) > 1:
                raise BackendError(
                    f"backend {self.name!r} runs the whole model at one float precision, not "
                    f"a precision per layer ({_describe(precision)}); use onnxruntime-cpu "
                    "for per-block precisions"
                )
            precision = next(iter(precision.values()), "fp32")
        if precision not in FLOAT_PRECISIONS:
            raise BackendError(
                f"backend {self.name!r} has no integer kernels in eager mode; it runs "
                f"{' and '.join(self.float_precisions)} only, not {precision} "
                "(use onnxruntime-cpu for int8/w4a8)"
            )
        if precision not in self.float_precisions:
            raise BackendError(
                f"backend {self.name!r} does not time fp16: PyTorch's fp16 kernels on a CPU "
                "are unoptimised fallbacks (a depthwise convolution ran for minutes), no "
                "deployment speed; use torch-cuda for fp16, or fp32"
            )
        return precision

    @property
    def float_precisions(self) -> tuple[str, ...]:
        return FLOAT_PRECISIONS if self.device == "cuda" else ("fp32",)

    def check_precision(self, precision: PrecisionSpec) -> None:
        self._one_float_precision(precision)

    def runners(self, model, example, precisions, threads, clock):
        self.check_available()
        _check_no_function_mode(self.name)
        runners = []
        for spec in precisions:
            precision = self._one_float_precision(spec)
            dtype = torch.float16 if precision == "fp16" else torch.float32
            # each precision times its own copy; the caller's model stays as it is
            net = copy.deepcopy(model).to(device=self.device, dtype=dtype)
            x = example.to(device=self.device, dtype=dtype)
            step = _inference(net, x)
            try:
                step()
            except Exception as e:  # noqa: BLE001
                raise BackendError(
                    f"backend {self.name!r} cannot run this model at {precision}: {e}"
                ) from None
            runners.append(
                _cuda_event_runner(step) if self.device == "cuda" else _clock_runner(step, clock)
            )
        return runners


def _check_runs_in_torch(backend: str, model: nn.Module, example: torch.Tensor) -> None:
    try:
        _inference(model, example)()
    except Exception as e:  # noqa: BLE001
        raise BackendError(
            f"backend {backend!r} cannot run this model: it fails in PyTorch on an input of "
            f"shape {tuple(example.shape)}: {e}"
        ) from None


def _inference(model: nn.Module, x: torch.Tensor) -> Callable[[], object]:
    def step():
        with torch.inference_mode():
            return model(x)

    return step


def _clock_runner(step: Callable[[], object], clock: str) -> Runner:
    now = CLOCKS[clock]

    def run() -> float:
        start = now()
        step()
        return (now() - start) / 1e6

    return run


def _cuda_event_runner(step: Callable[[], object]) -> Runner:
    def run() -> float:
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        step()
        end.record()
        torch.cuda.synchronize()
        return float(start.elapsed_time(end))

    return run


def _describe(precision: PrecisionSpec) -> str:
    if isinstance(precision, str):
        return precision
    return "mixed(" + ", ".join(sorted(set(precision.values()))) + ")"


BACKENDS: dict[str, Backend] = {
    "onnxruntime-cpu": OnnxRuntimeCPU(),
    "torch-cpu": TorchEager("torch-cpu", "cpu"),
    "torch-cuda": TorchEager("torch-cuda", "cuda"),
}


def get_backend(name: str) -> Backend:
    if name not in BACKENDS:
        raise ValueError(f"unknown backend {name!r}; choose from {', '.join(BACKENDS)}")
    return BACKENDS[name]


def measured_precision(backend: Backend, precision: PrecisionSpec) -> PrecisionSpec:
    """`precision` with every part replaced by what `backend` really measures for it."""
    return _substituted(precision, backend)


def summarize_precision(precision: PrecisionSpec) -> str:
    """One name for a precision spec: the name, or the sorted distinct names joined by '+'."""
    if isinstance(precision, str):
        return precision
    return "+".join(sorted(set(precision.values()))) or "fp32"

"""torch's process-wide settings held for one piece of work and given back after it: the
thread count, the global random generators, the default dtype and autograd. Measuring,
training, scoring a proxy and building seeded weights each set them; the process that asked
(a notebook, a host application, a Ray worker's next task) gets its own back."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any

import torch

from hwnas.spaces.errors import whole_number

#: held by each seeded body: torch's global generators are the process's, and two threads
#: training at once (two searches of a notebook or a service) drew each other's numbers, each
#: getting other initial weights than alone (other metrics for the same seed)
_SEEDED = threading.RLock()

#: the most threads torch takes: `torch.set_num_threads` holds a C int, and a larger count
#: (`threads: 1099511627776`) was accepted and then failed every candidate with torch's
#: "Overflow when unpacking long"
MAX_THREADS = 2**31 - 1

#: what a thread count must be, as messages refusing one say it
THREADS_RULE = f"a whole number from 1 to {MAX_THREADS}"


#: the largest seed torch takes (`torch.manual_seed` holds an unsigned 64-bit integer): a
#: larger evaluator seed (`seed: 1180591620717411303424`) was accepted and then failed every
#: candidate, and `hwnas train` of an export holding one, with torch's "Overflow when
#: unpacking long long"
MAX_TORCH_SEED = 2**64 - 1

#: what a seed of torch's must be, as messages refusing one say it
TORCH_SEED_RULE = "in [0, 2**64 - 1]"


def torch_seed(seed: Any) -> bool:
    """Whether the whole number `seed` is one torch takes (`TORCH_SEED_RULE`)."""
    return 0 <= seed <= MAX_TORCH_SEED


def thread_count(threads: Any) -> bool:
    """Whether `threads` is a thread count torch takes (`THREADS_RULE`): a setting that is
    not is refused where it is given, not by each candidate's `torch.set_num_threads`."""
    return whole_number(threads) and 1 <= threads <= MAX_THREADS


@contextlib.contextmanager
def torch_threads(threads: int | None) -> Iterator[None]:
    """torch's thread count set to `threads` (when given) for the body, the process's own
    restored after it: a model's float results depend on the threads it ran on."""
    previous = torch.get_num_threads()
    try:
        if threads:
            torch.set_num_threads(threads)
        yield
    finally:
        torch.set_num_threads(previous)


@contextlib.contextmanager
def torch_defaults() -> Iterator[None]:
    """torch's own defaults for the body, whatever the calling process set: float32 tensors
    on the CPU with autograd on (outside `torch.no_grad()` and `torch.inference_mode()`); the
    caller's settings are restored after it. A model built, trained or scored in this process
    is then the one a Ray worker's fresh process makes: a notebook's
    `torch.set_default_dtype(torch.float64)`, `torch.no_grad()` or
    `torch.set_default_device("meta")` failed every candidate with a torch error that named
    none of them ("Cannot copy out of meta tensor")."""
    dtype = torch.get_default_dtype()
    if dtype != torch.float32:
        torch.set_default_dtype(torch.float32)
    try:
        with torch.inference_mode(False), torch.enable_grad(), _on_the_cpu():
            yield
    finally:
        if dtype != torch.float32:
            torch.set_default_dtype(dtype)


def _on_the_cpu() -> contextlib.AbstractContextManager:
    """The CPU as torch's default device for the body where the caller set another
    (`torch.set_default_device`, a `with torch.device(...)` block), else nothing: setting it
    takes a torch function mode, which slows every torch call (eager latency measurements
    too), so it is set only where the caller's own mode is there already."""
    if torch.get_default_device().type == "cpu":
        return contextlib.nullcontext()
    return torch.device("cpu")


@contextlib.contextmanager
def torch_seeded(seed: int | None, device: torch.device) -> Iterator[None]:
    """torch's global generators (the CPU's and, on an accelerator, `device`'s) seeded with
    `seed` (when given) for the body, the caller's states restored after it: the work draws
    the same numbers every time, and the caller's own random numbers are not reseeded (a
    notebook's `torch.rand` after each evaluation repeated the one after the last). Only those
    two are restored: `torch.manual_seed` also seeds the other CUDA devices of a GPU machine
    (all of them when `device` is the CPU), which keep that seed. One seeded body at a time
    in a process: another thread's waits."""
    accelerator = device.type != "cpu"
    with (
        _SEEDED,
        torch.random.fork_rng(
            devices=[device.index or 0] if accelerator else [],
            device_type=device.type if accelerator else None,
        ),
    ):
        if seed is not None:
            torch.manual_seed(seed)
        yield

"""Executors run evaluations: `LocalExecutor` in-process, `RayExecutor` on a Ray cluster.

Both have one interface, built for an asynchronous searcher that keeps workers busy:
`submit(arch)`, `results(timeout)` (whatever has completed, in completion order), `in_flight`,
`run(archs)` (an iterator of `(arch, metrics)` as evaluations complete), `cancel()`, `close()`
and use as a context manager. An evaluation that raises, diverges, times out or whose worker
keeps dying comes back as failed `Metrics` with the reason; it never stops the executor.
Starting, joining and shutting down the Ray a `RayExecutor` uses is `ray_runtime`'s.
"""

from __future__ import annotations

import _thread
import atexit
import contextlib
import os
import pickle
import signal
import sys
import threading
import time
import weakref
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, NoReturn, Protocol, Self

from hwnas.evaluators.base import Evaluator
from hwnas.evaluators.failures import failed_metrics, failure_reason
from hwnas.evaluators.metrics import Metrics
from hwnas.evaluators.ray_runtime import connect, refusal
from hwnas.predictors.stop_signals import signals_handled, terminating_signals
from hwnas.spaces import Arch, SearchSpace
from hwnas.spaces.callers import warn_at_caller
from hwnas.spaces.errors import did_you_mean, finite_number, whole_number
from hwnas.spaces.reprs import facts_repr, named

Result = tuple[Arch, Metrics]


class Executor(Protocol):
    """What `LocalExecutor` and `RayExecutor` share, so a loop written for one runs on the
    other: submit candidates, take `(arch, metrics)` pairs as they complete."""

    @property
    def in_flight(self) -> int:
        """Evaluations submitted whose result has not been taken yet."""
        ...

    def submit(self, arch: Arch, budget: float | None = None) -> None:
        """Start evaluating `arch` (`budget` goes to `Evaluator.evaluate`)."""
        ...

    def results(self, timeout: float | None = None) -> list[Result]:
        """Completed evaluations, waiting up to `timeout` seconds (None: until one completes;
        `[]` when none is in flight)."""
        ...

    def finished(self) -> list[Result]:
        """Completed evaluations not yet taken, without waiting."""
        ...

    def run(self, archs: Iterable[Arch], budget: float | None = None) -> Iterator[Result]:
        """Submit `archs` and yield `(arch, metrics)` as each completes."""
        ...

    def cancel(self) -> None:
        """Drop the evaluations in flight (their results are never returned)."""
        ...

    def close(self) -> None:
        """Cancel what is in flight and release the workers; nothing more can be submitted."""
        ...


def safe_evaluate(evaluator: Evaluator, arch: Arch, budget: float | None) -> Metrics:
    """`evaluator.evaluate`, with any exception, or a result that is not `Metrics` (a
    user's evaluator returning a dict), turned into failed `Metrics` saying so."""
    try:
        result = evaluator.evaluate(arch, budget)
        if not isinstance(result, Metrics):
            raise TypeError(
                f"{type(evaluator).__name__}.evaluate returned a {type(result).__name__}, not "
                "Metrics (wrap the values: Metrics({...}))"
            )
        return result
    except Exception as e:
        return failed_metrics(evaluator.space, arch, failure_reason(e))


def _check_evaluator(evaluator: object) -> None:
    """Refuse an object that is no evaluator before anything starts: without a `space` that
    is a `SearchSpace` a failure could not be reported with its costs (they come from the
    space), and a `RayExecutor` would have started a Ray that nothing stops."""
    missing = [name for name in ("space", "evaluate") if not hasattr(evaluator, name)]
    if missing or not callable(evaluator.evaluate):
        raise TypeError(
            f"{type(evaluator).__name__} is not an evaluator: it lacks "
            f"{' and '.join(f'`{m}`' for m in missing) or 'a callable `evaluate`'}; an "
            "evaluator has `space` (the SearchSpace it scores) and `evaluate(arch, "
            "budget=None)` returning Metrics"
        )
    if not isinstance(evaluator.space, SearchSpace):  # a failure's costs would be lost
        raise TypeError(
            f"{type(evaluator).__name__}.space must be a SearchSpace, not a "
            f"{type(evaluator.space).__name__} (get_space(name) gives one)"
        )


class _ExecutorBase:
    """`run` and the context manager on top of `submit` / `results` / `cancel` / `close`.
    A closed executor evaluates nothing more (a closed `RayExecutor` would otherwise start
    a Ray of its own that nothing stops)."""

    closed = False

    def _check_submit(self, arch: Arch) -> None:
        """Refuse a submission a closed executor, or an evaluator, could not take (the
        evaluator would report anything else as a failed candidate, far from the mistake)."""
        if self.closed:
            raise RuntimeError(f"this {type(self).__name__} is closed; make a new one")
        if not isinstance(arch, Arch):
            raise TypeError(
                f"submit takes an Arch, not a {type(arch).__name__} (space.arch(choices) "
                "makes one from a mapping of choices)"
            )

    def run(self, archs: Iterable[Arch], budget: float | None = None) -> Iterator[Result]:
        """Evaluate `archs`, yielding `(arch, metrics)` as each completes. Interrupting (Ctrl-C)
        or abandoning the iterator cancels the outstanding evaluations."""
        if isinstance(archs, Arch):  # itself a mapping: its choice names would be submitted
            raise TypeError("run takes a list of Arch, not one Arch: run([arch])")
        for arch in archs:
            self.submit(arch, budget)
        try:
            while self.in_flight:
                yield from self.results()
        except (KeyboardInterrupt, GeneratorExit):
            self.cancel()
            raise

    @facts_repr
    def __repr__(self) -> list[str]:
        """The kind of evaluator it runs, its evaluations in flight, its own settings
        (`_shown`) and whether it is closed."""
        closed = ["closed"] if self.closed else []
        return [
            f"evaluator={self._evaluator_kind}",
            f"in_flight={self.in_flight}",
            *self._shown(),
            *closed,
        ]

    def _shown(self) -> list[str]:
        """What its repr says of an executor of its kind (none by default)."""
        return []

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class LocalExecutor(_ExecutorBase):
    """Evaluations one at a time in this process (for debugging and tests). `results` runs
    the next submitted evaluation and returns it; it cannot interrupt one, so `timeout` only
    bounds the waiting, not the evaluation."""

    def __init__(self, evaluator: Evaluator):
        _check_evaluator(evaluator)
        self.evaluator = evaluator
        self._evaluator_kind = type(evaluator).__name__
        self._queue: deque[tuple[Arch, float | None]] = deque()

    @property
    def in_flight(self) -> int:
        """Evaluations submitted whose result has not been taken yet."""
        return len(self._queue)

    def submit(self, arch: Arch, budget: float | None = None) -> None:
        """Queue `arch`; it is evaluated by the `results` call that returns it."""
        self._check_submit(arch)
        self._queue.append((arch, budget))

    def results(self, timeout: float | None = None) -> list[Result]:
        """The next submitted evaluation, run now (`[]` when none is queued)."""
        if not self._queue:
            return []
        arch, budget = self._queue.popleft()
        return [(arch, safe_evaluate(self.evaluator, arch, budget))]

    def finished(self) -> list[Result]:
        """None: evaluations run only inside `results`, so none ever waits to be taken."""
        return []

    def cancel(self) -> None:
        """Drop the queued evaluations (their results are never returned)."""
        self._queue.clear()

    def close(self) -> None:
        """Drop what is queued; nothing more can be submitted."""
        self.cancel()
        self.closed = True


# -- Ray -----------------------------------------------------------------------------------
_WORKER_EVALUATORS: dict[str, Evaluator] = {}
STARTED = "started"


class EvaluatorUnavailable(RuntimeError):
    """The Ray workers cannot load the evaluator (a module or file their machine lacks): no
    candidate can be evaluated there, so the executor stops rather than fail each one."""


def _ray_cause(error: BaseException) -> BaseException:
    """The error behind a Ray wrapper: a task's own exception, or what a system error (such as
    unpickling an argument in the worker) was raised for."""
    cause = getattr(error, "cause", None) or getattr(error, "client_exc", None)
    return cause if isinstance(cause, BaseException) else error


def _one_line(error: BaseException) -> str:
    """`failure_reason` of what is behind a Ray error, cut to its first line (Ray appends
    tracebacks to the messages of its own errors)."""
    return failure_reason(_ray_cause(error)).strip().splitlines()[0]


def _worker_evaluator(evaluator_ref: Any) -> Evaluator:
    """The evaluator, fetched from the object store once per worker process (so its dataset
    is read once and its space's cost cache survives between tasks)."""
    import ray

    key = evaluator_ref.hex()
    if key not in _WORKER_EVALUATORS:
        _WORKER_EVALUATORS.clear()
        try:
            _WORKER_EVALUATORS[key] = ray.get(evaluator_ref)
        except Exception as e:
            raise EvaluatorUnavailable(
                f"a Ray worker cannot load the evaluator ({_one_line(e)}); every machine of "
                "the cluster needs the modules and files the evaluator uses: install them "
                f"there, or have Ray ship your code by connecting first with {_shipping(e)}, "
                "then making the RayExecutor (it uses that Ray)"
            ) from None
    return _WORKER_EVALUATORS[key]


def _stopping_error(
    error: BaseException, setup_error: type[BaseException]
) -> EvaluatorUnavailable | None:
    """The `EvaluatorUnavailable` a task's `error` means, or None where it fails only its
    candidate: a worker that could not load the evaluator, or Ray that could not set up the
    workers' runtime environment (`setup_error`; a `runtime_env` naming a conda environment
    or package the machine lacks). Every candidate failed so, with only Ray's first line
    ("Failed to set up runtime environment."), and stored as final, so a resume, once the
    environment was mended, did not evaluate them again."""
    cause = _ray_cause(error)
    if isinstance(cause, EvaluatorUnavailable):
        return cause
    if not isinstance(error, setup_error):
        return None
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return EvaluatorUnavailable(
        f"Ray cannot set up the workers' runtime environment ({lines[-1] if lines else ''}); "
        "no candidate can be evaluated there: mend the runtime_env given to ray.init"
    )


def _shipping(error: BaseException) -> str:
    """The `ray.init` call that ships the code a worker lacked (Ray's `runtime_env`), naming
    the missing module where the error says which: an evaluator class in the user's own
    module is pickled by reference, and a worker on another machine cannot import it."""
    cause = _ray_cause(error)
    name = getattr(cause, "name", None) if isinstance(cause, ModuleNotFoundError) else None
    module = name.split(".")[0] if name else "your_module"
    return (
        f"`ray.init(address=..., runtime_env={{'py_modules': [{module}]}})` (or "
        "`runtime_env={'working_dir': 'DIR'}`, the folder of your code and data files)"
    )


def _evaluate_streaming(evaluator_ref: list[Any], arch: Arch, budget: float | None):
    """The Ray task, a generator: it yields `STARTED` as the evaluation begins (so the
    executor's timeout counts the evaluation, not worker start-up and imports), then the
    metrics."""
    evaluator = _worker_evaluator(evaluator_ref[0])
    yield STARTED
    yield safe_evaluate(evaluator, arch, budget)


def _evaluate_once(evaluator_ref: list[Any], arch: Arch, budget: float | None) -> Metrics:
    """The Ray task for Ray Client connections (`ray://`), which cannot stream results: the
    timeout then counts from dispatch."""
    return safe_evaluate(_worker_evaluator(evaluator_ref[0]), arch, budget)


def _put_evaluator(evaluator: Evaluator) -> Any:
    """`evaluator` in Ray's object store, or a `TypeError` naming what keeps it from being
    pickled (Ray's own error points at the `evaluate` method, whatever the cause)."""
    import ray

    try:
        return ray.put(evaluator)
    except (TypeError, pickle.PicklingError) as e:
        cause = e.__cause__ or e
        raise TypeError(
            f"the evaluator {type(evaluator).__name__} cannot be pickled to send it to the Ray "
            f"workers ({_unpicklable_part(evaluator)}{type(cause).__name__}: {cause}); keep no "
            "open file, lock, connection or the like on it (open them inside `evaluate`, or "
            "leave them out in `__getstate__`)"
        ) from None


def _unpicklable_part(evaluator: Evaluator) -> str:
    """`attribute 'NAME': ` for the first attribute of `evaluator` that cannot be pickled on
    its own, or nothing when none is found that way."""
    from ray import cloudpickle

    for name, value in getattr(evaluator, "__dict__", {}).items():
        try:
            cloudpickle.dumps(value)
        except Exception:
            return f"attribute {name!r}: "
    return ""


def _task_options(resources: Mapping[str, float]) -> dict[str, Any]:
    """Ray task options for per-evaluation resources: num_cpus, num_gpus (fractional allowed),
    memory (bytes); any other name is a custom Ray resource."""
    for name, value in resources.items():
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise ValueError(f"resources.{name} must be a number >= 0, not {value!r}")
    builtin = {k: v for k, v in resources.items() if k in ("num_cpus", "num_gpus", "memory")}
    custom = {k: float(v) for k, v in resources.items() if k not in builtin}
    return {"num_cpus": 1, **builtin, **({"resources": custom} if custom else {})}


def _needs(options: Mapping[str, Any]) -> dict[str, float]:
    """The cluster resources one evaluation with these options takes (names as Ray counts)."""
    needs = {
        "CPU": options.get("num_cpus", 1),
        "GPU": options.get("num_gpus", 0),
        "memory": options.get("memory", 0),  # bytes
    }
    needs.update(options.get("resources", {}))
    return {name: need for name, need in needs.items() if need > 0}


def _capacity(options: Mapping[str, Any]) -> int:
    """How many evaluations with these options fit on the cluster at once (at least 1)."""
    import ray

    total = ray.cluster_resources()
    fits = [int(total.get(name, 0) / need + 1e-9) for name, need in _needs(options).items()]
    return max(1, min(fits, default=os.cpu_count() or 1))


def _unavailable(options: Mapping[str, Any]) -> str | None:
    """What one evaluation needs that the whole cluster lacks (Ray would queue it forever)."""
    import ray

    total = ray.cluster_resources()
    short = {n: need for n, need in _needs(options).items() if total.get(n, 0) + 1e-9 < need}
    if not short:
        return None
    have = {n: total.get(n, 0) for n in short}
    meant = "".join(_custom_meant(n) for n in short if n in options.get("resources", {}))
    return f"an evaluation needs {short} but the Ray cluster has {have}{meant}"


#: how a built-in resource may be misnamed (Ray's own names, a dropped prefix) -> the option
_RESOURCE_NAMES = {
    "num_cpus": "num_cpus",
    "cpu": "num_cpus",
    "num_gpus": "num_gpus",
    "gpu": "num_gpus",
    "memory": "memory",
}


def _custom_meant(name: str) -> str:
    """For a custom resource named like a built-in one (`cpus`, `GPU`), which it may mean."""
    meant = did_you_mean(name, _RESOURCE_NAMES)
    return f"; {name!r} is a custom Ray resource{meant}" if meant else ""


class ClusterLost(RuntimeError):
    """The Ray this driver is connected to went away (its local raylet died, or its GCS stopped
    answering): nothing more can be evaluated, and none of the evaluations in flight failed by
    itself."""


def _gcs_patience_s() -> float:
    """How long a driver waits for its cluster's GCS to answer again before giving the cluster
    up: half the time after which Ray itself ends the driver's process (its
    `gcs_rpc_server_reconnect_timeout_s`, 60 s by default), so hwnas can still store the run
    and say how to resume it."""
    ray_s = os.environ.get("RAY_gcs_rpc_server_reconnect_timeout_s", 60)  # noqa: SIM112 (Ray's)
    return 0.5 * float(ray_s)


class _GcsWatch:
    """Watches that a cluster's GCS still accepts connections, from a thread of its own.

    A driver whose whole cluster stopped gets no error from Ray: its waits and fetches block
    or come back empty until Ray ends the process, with no word of how to resume. Once the
    GCS has refused connections for `_gcs_patience_s`, the watch records the loss and, while
    the main thread waits for results inside `with watch:`, interrupts it (as Ctrl-C would) so
    the executor can raise `ClusterLost` in its place. It ends without a word once this process's
    Ray is shut down (by its user, with the executor left open): nothing is lost then."""

    CHECK_S = 5.0  # between two connection attempts, at most

    def __init__(self, address: str):
        self.address = address
        self.lost: ClusterLost | None = None
        self._waiting = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="hwnas-gcs-watch", daemon=True)
        self._thread.start()

    def __enter__(self) -> _GcsWatch:
        # the main thread only: the interrupt lands there, so a driver waiting in another
        # thread (a notebook's `asyncio.to_thread`) interrupted whatever the main one did;
        # such a driver polls (`results(timeout=...)`) and meets `lost` at its next round
        self._waiting = threading.current_thread() is threading.main_thread()
        return self

    def __exit__(self, *exc: object) -> None:
        self._waiting = False

    @classmethod
    def check_interval_s(cls) -> float:
        """Between two connection attempts: `CHECK_S`, or a quarter of the patience where that
        is shorter. With Ray's timeout at 10 s (patience 5 s), checks 5 s apart told the loss
        up to 10 s after it, when Ray may already have ended the driver without a word."""
        return min(cls.CHECK_S, _gcs_patience_s() / 4)

    def _watch(self) -> None:
        silent_since = None
        import ray

        while not self._stop.wait(self.check_interval_s()) and ray.is_initialized():
            if refusal(self.address, timeout_s=1.0) is None:
                silent_since = None
                continue
            now = time.monotonic()
            if silent_since is None:  # said once: the wait that follows is silent otherwise
                print(
                    f"hwnas: note: the Ray cluster (its GCS at {self.address}) does not answer; "
                    f"the search gives it up if it is still silent in {_gcs_patience_s():.0f} s",
                    file=sys.stderr,
                )
            silent_since = now if silent_since is None else silent_since
            if now - silent_since >= _gcs_patience_s():
                self.lost = ClusterLost(
                    f"lost the Ray cluster (its GCS at {self.address} has not answered for "
                    f"{now - silent_since:.0f} s)"
                )
                if self._waiting:
                    _thread.interrupt_main()
                return

    def stop(self) -> None:
        self._stop.set()


def _worker_died_errors() -> tuple[type[BaseException], ...]:
    from ray import exceptions as rex

    return (
        rex.WorkerCrashedError,
        rex.LocalRayletDiedError,
        rex.NodeDiedError,
        rex.OutOfMemoryError,
    )


@dataclass
class _Task:
    arch: Arch
    budget: float | None
    attempts: int = 0
    started: float | None = None  # when a worker began it (None: not yet)


class RayExecutor(_ExecutorBase):
    """Evaluations as Ray tasks on an embedded local Ray (`address=None`, or Ray's own
    `"local"`) or an existing cluster (`"auto"`, `"host:port"`, `"ray://host:port"`).

    The evaluator (and its dataset) goes into the object store once. `resources` per
    evaluation (`num_cpus`, default 1; `num_gpus`, fractional allowed; `memory`; custom);
    `max_in_flight` evaluations run at once (default: as many as the cluster fits). An
    evaluation running longer than `timeout_s` (from its start on a worker; from its dispatch
    over Ray Client, which cannot stream, and which then gets no more evaluations at once
    than the cluster fits) is force-cancelled and reported as `failed: timeout after N s (the
    executor's timeout_s)`;
    one whose worker process dies is rerun up to `max_retries` times. A lost cluster (the
    local raylet dead, or the GCS refusing connections for half of Ray's reconnect timeout)
    raises `ClusterLost` from `results`. `num_cpus`
    sizes the embedded Ray (default: the CPUs Ray detects, which are a container's CPU quota
    where one is set, not the host's cores, or the CPUs this process may run on where fewer:
    its CPU affinity, as `taskset` or a batch scheduler's cpuset sets it). A Ray an executor
    started is used by every executor made while it runs (in any thread) and shut down by the
    last one's `close`; a Ray the user initialised in this process is used as it is, never
    shut down.
    """

    def __init__(
        self,
        evaluator: Evaluator,
        address: str | None = None,
        max_in_flight: int | None = None,
        resources: Mapping[str, float] | None = None,
        timeout_s: float | None = None,
        max_retries: int = 2,
        *,
        num_cpus: int | None = None,
    ):
        import ray
        from ray.util.client import ray as ray_client

        if max_in_flight is not None and not (whole_number(max_in_flight) and max_in_flight >= 1):
            raise ValueError(f"max_in_flight must be an integer >= 1, not {max_in_flight!r}")
        # inf ended the first wait for an evaluation in Ray's "cannot convert float infinity
        # to integer", and 10**400 passed "> 0" though no float holds it
        if timeout_s is not None and not (finite_number(timeout_s) and timeout_s > 0):
            raise ValueError(f"timeout_s must be a finite number > 0, not {timeout_s!r}")
        if not (whole_number(max_retries) and max_retries >= 0):
            raise ValueError(f"max_retries must be an integer >= 0, not {max_retries!r}")
        _check_evaluator(evaluator)
        options = _task_options(resources or {})
        self._started = connect(address, num_cpus)
        self._ray = ray
        try:  # a Ray this call started is stopped again if the executor cannot be built
            if short := _unavailable(options):
                if address in (None, "local"):  # an embedded Ray gets no more resources later
                    raise ValueError(f"resources: {short}")
                warn_at_caller(f"resources: {short}; evaluations wait for them")
            self._streaming = not ray_client.is_connected()
            if self._streaming:
                self._remote = ray.remote(_evaluate_streaming)
                self._options = {**options, "max_retries": 0, "num_returns": "streaming"}
            else:
                self._remote = ray.remote(_evaluate_once)
                self._options = {**options, "max_retries": 0}
            self._evaluator_ref = _put_evaluator(evaluator)
        except BaseException:
            if self._started:
                self._started.release()
            raise
        self.space, self._evaluator_kind = evaluator.space, type(evaluator).__name__
        self.max_in_flight = self._dispatch_limit(max_in_flight, timeout_s)
        self.timeout_s, self.max_retries = timeout_s, max_retries
        self._died = _worker_died_errors()
        self._queue: deque[_Task] = deque()
        self._running: dict[Any, _Task] = {}
        self._lost: ClusterLost | None = None  # raised by the next `results`
        # over Ray Client there is no GCS to watch: the client server ends the connection
        self._gcs = _GcsWatch(ray.get_runtime_context().gcs_address) if self._streaming else None
        if self._gcs is not None:  # an executor dropped unclosed (a notebook cell run again)
            weakref.finalize(self, self._gcs.stop)

    def __getstate__(self) -> NoReturn:
        """Refused, for pickling and copying alike: the executor is this process's connection
        to Ray with its evaluations in flight (pickling failed with "cannot pickle 'module'
        object", and a `copy.copy` shared them, its `close` shutting down the Ray the original
        still used)."""
        raise TypeError(
            f"a {type(self).__name__} cannot be pickled or copied: it holds this process's "
            "connection to Ray and its evaluations in flight; pickle its evaluator instead and "
            "make an executor of it where it is unpickled"
        )

    def _dispatch_limit(self, max_in_flight: int | None, timeout_s: float | None) -> int:
        """How many evaluations go to Ray at once: `max_in_flight`, default what the cluster
        fits. Over Ray Client the timeout counts from dispatch, so no more than fit are sent
        (an evaluation waiting in Ray's queue would time out without having run)."""
        fits = _capacity(self._options)
        if max_in_flight is None:
            return fits
        if timeout_s is not None and not self._streaming and max_in_flight > fits:
            warn_at_caller(
                f"max_in_flight {max_in_flight} is more than the {fits} evaluations the Ray "
                f"cluster fits; over Ray Client timeout_s counts from dispatch, so only {fits} "
                "are dispatched at once"
            )
            return fits
        return max_in_flight

    def _shown(self) -> list[str]:
        return named(max_in_flight=self.max_in_flight, timeout_s=self.timeout_s)

    @property
    def in_flight(self) -> int:
        """Evaluations submitted whose result has not been taken yet (queued or running)."""
        return len(self._queue) + len(self._running)

    def submit(self, arch: Arch, budget: float | None = None) -> None:
        """Queue `arch`; it goes to Ray as soon as fewer than `max_in_flight` are running."""
        self._check_submit(arch)
        self._queue.append(_Task(arch, budget))
        self._dispatch()

    def _dispatch(self) -> None:
        while self._queue and len(self._running) < self.max_in_flight:
            self._start(self._queue.popleft())

    def _start(self, task: _Task) -> None:
        task.attempts += 1
        task.started = None if self._streaming else time.monotonic()
        ref = self._remote.options(**self._options).remote(
            [self._evaluator_ref], task.arch, task.budget
        )
        self._running[ref] = task

    def results(self, timeout: float | None = None) -> list[Result]:
        """Block until at least one evaluation completes (or `timeout` s pass); return every
        evaluation completed by then, in completion order."""
        if self._lost is None and self._gcs is not None and self._gcs.lost is not None:
            self._cluster_lost(self._gcs.lost)
        if self._lost is not None:
            raise self._lost
        try:
            with self._gcs or contextlib.nullcontext():
                return self._results(timeout)
        except KeyboardInterrupt:
            if self._gcs is None or self._gcs.lost is None:
                raise
            raise self._cluster_lost(self._gcs.lost) from None

    def finished(self) -> list[Result]:
        """The evaluations complete by now, without waiting or submitting more: what a driver
        that is stopping (Ctrl-C while its searcher proposes) keeps instead of giving back."""
        if self._lost is not None or not self._running:
            return []
        refs = list(self._running)
        ready, _ = self._ray.wait(refs, num_returns=len(refs), timeout=0)
        return self._receive_all(ready)

    def _cluster_lost(self, lost: ClusterLost) -> ClusterLost:
        """Forget the work Ray had (it is gone: nothing to cancel there); `lost` is then
        raised by every later `results`."""
        self._queue.clear()
        self._running.clear()
        self._lost = lost
        return lost

    def _results(self, timeout: float | None) -> list[Result]:
        until = None if timeout is None else time.monotonic() + timeout
        while True:
            self._dispatch()
            if not self._running:
                return []
            ready = self._wait(until)
            done = self._receive_all(ready)
            done += self._expire()
            if done or (until is not None and time.monotonic() >= until):
                return done

    def _wait(self, until: float | None) -> list[Any]:
        deadlines = [until] if until is not None else []
        if self.timeout_s is not None:
            deadlines += [
                t.started + self.timeout_s for t in self._running.values() if t.started is not None
            ]
        wait_s = max(0.0, min(deadlines) - time.monotonic()) if deadlines else None
        refs = list(self._running)
        ready, _ = self._ray.wait(refs, num_returns=1, timeout=wait_s)
        if ready:
            ready, _ = self._ray.wait(refs, num_returns=len(refs), timeout=0)
        return ready

    def _receive_all(self, ready: list[Any]) -> list[Result]:
        """The results of the `ready` tasks. When Ray is lost on the way, those already
        received are returned and the loss is raised by the next call, so no finished
        evaluation is thrown away."""
        done = []
        for ref in ready:
            try:
                result = self._receive(ref)
            except ClusterLost:  # kept in `_lost` for the next call
                if not done:
                    raise
                break
            if result is not None:
                done.append(result)
        return done

    def _receive(self, ref: Any) -> Result | None:
        """Take what a task yielded: its start (None), its result, or its failure (None when
        its worker died and it was rerun)."""
        task = self._running[ref]
        try:
            if task.started is None:  # the first item says a worker began the evaluation
                self._ray.get(next(ref))
                task.started = time.monotonic()
                if not self._ray.wait([ref], timeout=0)[0]:
                    return None
            metrics = self._ray.get(next(ref) if self._streaming else ref)
            del self._running[ref]
            return task.arch, metrics
        except self._died as e:
            del self._running[ref]
            if isinstance(e, self._ray.exceptions.LocalRayletDiedError):
                lost = ClusterLost(f"lost the Ray cluster ({type(e).__name__})")
                raise self._cluster_lost(lost) from None
            if task.attempts <= self.max_retries:
                self._start(task)
                return None
            times = "1 time" if task.attempts == 1 else f"{task.attempts} times"  # max_retries 0
            reason = f"worker died {times}: {type(e).__name__}"
            return task.arch, failed_metrics(self.space, task.arch, reason)
        except Exception as e:  # a Ray task error carries the worker-side error as its cause
            del self._running[ref]
            unavailable = _stopping_error(e, self._ray.exceptions.RuntimeEnvSetupError)
            if unavailable is not None:
                self.cancel()
                raise unavailable from None
            return task.arch, failed_metrics(self.space, task.arch, _one_line(e))

    def _expire(self) -> list[Result]:
        """Force-cancel evaluations past `timeout_s` and report them as timed out."""
        if self.timeout_s is None:
            return []
        now, expired = time.monotonic(), []
        for ref, task in list(self._running.items()):
            if task.started is not None and now - task.started >= self.timeout_s:
                self._ray.cancel(ref, force=True)
                del self._running[ref]
                reason = f"timeout after {self.timeout_s:g} s (the executor's timeout_s)"
                expired.append((task.arch, failed_metrics(self.space, task.arch, reason)))
        return expired

    def cancel(self) -> None:
        """Drop queued evaluations and force-cancel running ones (their results are lost)."""
        self._queue.clear()
        for ref in self._running:
            self._ray.cancel(ref, force=True)
        self._running.clear()

    def close(self) -> None:
        """Cancel outstanding work; shut Ray down if this executor started it. A second
        Ctrl-C meanwhile is ignored: it would stop the shutdown half-way and leave Ray's
        processes running (it takes a few seconds)."""
        if self._gcs is not None:
            self._gcs.stop()
        with signals_handled(signal.SIG_IGN, signal.SIGINT, *terminating_signals()):
            self.cancel()
            if self._lost is not None:
                # shutting down a Ray whose cluster is gone blocks until Ray ends the process,
                # and so would Ray's own exit handler: neither runs, so the driver can say what
                # to do
                atexit.unregister(self._ray.shutdown)
            elif self._started:  # the process settings too, where the user shut Ray down
                self._started.release()
        if self._started is not None and not self._started.users:  # shut down above, but the
            self._started.give_back_sigterm()  # handlers the shutdown ran with put Ray's back
        self._started = None
        self.closed = True

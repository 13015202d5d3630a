"""Executors run evaluations: `LocalExecutor` in-process, `RayExecutor` on a Ray cluster.

Both have one interface, built for an asynchronous searcher that keeps workers busy:
`submit(arch)`, `results(timeout)` (whatever has completed, in completion order), `in_flight`,
`run(archs)` (an iterator of `(arch, metrics)` as evaluations complete), `cancel()`, `close()`
and use as a context manager. An evaluation that raises, diverges, times out or whose worker
keeps dying comes back as failed `Metrics` with the reason; it never stops the executor.
"""

from __future__ import annotations

import _thread
import atexit
import contextlib
import faulthandler
import logging
import os
import pickle
import signal
import socket
import sys
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, NoReturn, Protocol, Self

from hwnas.evaluators.base import Evaluator
from hwnas.evaluators.failures import failed_metrics, failure_reason
from hwnas.evaluators.metrics import Metrics
from hwnas.predictors.stop_signals import (
    signals_handled,
    stopping_signals,
    terminating_signals,
)
from hwnas.predictors.whole_files import NOT_WRITABLE
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


def address_form_problem(address: str) -> str | None:
    """Why `address` is not of a Ray address's form (`auto`, `local`, `host:port` or
    `ray://host:port`), or None; nothing is connected to. A run with nothing left to
    evaluate joins no cluster, yet its address is checked so, that a typo is said at once."""
    if address in ("auto", "local"):
        return None
    try:
        _host_port(address)
    except ValueError as e:
        return str(e)
    return None


def _host_port(address: str) -> tuple[str, int]:
    text = address.removeprefix("ray://")
    if "://" in text:
        scheme = text.split("://", 1)[0]
        raise ValueError(
            f"Ray address {address!r}: {scheme}:// is not Ray's; give 'auto', 'host:port' (the "
            "GCS port, 6379 by default) or 'ray://host:port' (Ray Client, 10001 by default)"
        )
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(
            f"Ray address {address!r} is not 'auto', 'local', 'host:port' or 'ray://host:port'"
        )
    return host.strip("[]") or "127.0.0.1", int(port)


def check_reachable(address: str, timeout_s: float = 5.0) -> None:
    """Raise `ConnectionError` quickly when nothing accepts a connection at `address`, or what
    does is no Ray GCS (`_gcs_problem`): `ray.init` retried such a port for about 14 minutes,
    saying only "Failed to connect to GCS". For `auto`, the cluster is found with a private
    helper of Ray's; where a later Ray moved or changed it (ray has no upper pin), nothing is
    checked and `ray.init` says what it finds."""
    if address == "auto":
        try:
            from ray._private.services import get_ray_address_from_environment

            found = get_ray_address_from_environment("auto", None)
        except ConnectionError:  # Ray's own words ask for a flag hwnas does not have
            found = None
        except (ImportError, AttributeError, TypeError):  # moved or changed in a later Ray
            return
        if found in (None, "auto", "local"):
            raise ConnectionError(
                "Ray cluster at 'auto': none is running on this machine (and RAY_ADDRESS is "
                "not set); start one with `ray start --head`, give its host:port, or give no "
                "address for an embedded local Ray"
            )
        address = found
    if refused := _refusal(address, timeout_s):
        raise ConnectionError(
            f"Ray cluster at {address!r} is unreachable ({refused}); start one with `ray start "
            "--head`, or give no address for an embedded local Ray"
        )
    if not address.startswith("ray://") and (problem := _gcs_problem(address, timeout_s)):
        raise ConnectionError(
            f"Ray cluster at {address!r}: {problem}; give the cluster's GCS port (6379 by "
            "default) as host:port, or its Ray Client's as ray://host:port"
        )


#: what a server says to a Ray GCS request where it is no GCS: a gRPC server of another
#: service (the Ray Client's, which `ray://` reaches), or none (HTTP, a database)
_NO_GCS = {
    "UNIMPLEMENTED": "a gRPC server answers there, but no Ray GCS (the Ray Client's port, "
    "10001 by default?)",
    "UNAVAILABLE": "something accepts connections there, but speaks no gRPC, so no Ray GCS",
}


def _gcs_problem(address: str, timeout_s: float) -> str | None:
    """Why the server at `address`, which accepts connections, is no Ray GCS, or None: asked
    for the cluster's ID (`ray.init`'s first request), a GCS answers, or asks for its auth
    token; a server that stays silent past `timeout_s` (a GCS under load?) is left to
    `ray.init`, and so is a cluster reached over TLS (`RAY_USE_TLS`), which this plain
    request cannot speak to."""
    import grpc

    if os.environ.get("RAY_USE_TLS", "0").lower() not in ("0", "false", ""):
        return None
    host, port = _host_port(address)
    target = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    # past an HTTP proxy only where Ray's own channels go through it (an http_proxy set for
    # the web sent the request to the proxy, whose answer was no GCS's)
    proxied = os.environ.get("RAY_grpc_enable_http_proxy", "0")  # noqa: SIM112 (Ray's)
    options = [("grpc.enable_http_proxy", int(proxied.lower() in ("1", "true")))]
    with grpc.insecure_channel(target, options=options) as channel:
        ask = channel.unary_unary(
            "/ray.rpc.NodeInfoGcsService/GetClusterId",
            request_serializer=bytes,
            response_deserializer=bytes,
        )
        try:
            ask(b"", timeout=timeout_s)  # an empty request: every field at its default
        except grpc.RpcError as e:
            return _NO_GCS.get(e.code().name)
    return None


def _refusal(address: str, timeout_s: float) -> OSError | None:
    """Why nothing accepts a connection at `address` within `timeout_s`, or None if it does."""
    try:
        socket.create_connection(_host_port(address), timeout=timeout_s).close()
    except OSError as e:
        return e
    return None


def _gcs_patience_s() -> float:
    """How long a driver waits for its cluster's GCS to answer again before giving the cluster
    up: half the time after which Ray itself ends the driver's process (its
    `gcs_rpc_server_reconnect_timeout_s`, 60 s by default), so hwnas can still store the run
    and say how to resume it."""
    ray_s = os.environ.get("RAY_gcs_rpc_server_reconnect_timeout_s", 60)  # noqa: SIM112 (Ray's)
    return 0.5 * float(ray_s)


@dataclass
class _StartedRay:
    """A Ray connection this process started, with the process settings `ray.init` changes
    for Ray's own use: the breakpoint hook (`PYTHONBREAKPOINT`, pointed at Ray's remote
    debugger, so a notebook's `breakpoint()` waited for a debugger to attach), the `ray`
    logger's level, whether Python's fault handler is on (Ray turns it on for good) and the
    SIGTERM handler (Ray's, `sys.exit(15)`, stayed: a service's SIGTERM after its search
    raised SystemExit in whatever its main thread ran). `users` executors use it (every one
    made while it runs joins it); the last one's `release` shuts it down, and the settings
    are the caller's again."""

    breakpoint_hook: str | None = field(default_factory=lambda: os.environ.get("PYTHONBREAKPOINT"))
    ray_log_level: int = field(default_factory=lambda: logging.getLogger("ray").level)
    fault_handler_on: bool = field(default_factory=faulthandler.is_enabled)
    sigterm_handler: Any = field(default_factory=lambda: signal.getsignal(signal.SIGTERM))
    users: int = 1
    keeper: threading.Event | None = None  # set to end the thread that started it (if any)

    def release(self) -> None:
        """One executor fewer uses this Ray: the last one shuts it down."""
        global _started_ray
        with _RAY_LOCK:
            self.users -= 1
            if self.users:
                return
            if _started_ray is self:
                _started_ray = None
            self._shutdown()

    def _shutdown(self) -> None:
        import ray

        ray.shutdown()
        if self.keeper is not None:
            self.keeper.set()
        if self.breakpoint_hook is None:
            os.environ.pop("PYTHONBREAKPOINT", None)
        else:
            os.environ["PYTHONBREAKPOINT"] = self.breakpoint_hook
        logging.getLogger("ray").setLevel(self.ray_log_level)
        if not self.fault_handler_on:
            faulthandler.disable()
        self.give_back_sigterm()

    def give_back_sigterm(self) -> None:
        """The caller's SIGTERM handler again where Ray's is still the one set (`ray.init` in
        the main thread sets it; a handler the caller set since stays), from the main thread,
        the only one that may set it."""
        handler = signal.getsignal(signal.SIGTERM)
        if threading.current_thread() is threading.main_thread() and getattr(
            handler, "__module__", ""
        ).startswith("ray."):
            before = self.sigterm_handler
            signal.signal(signal.SIGTERM, signal.SIG_DFL if before is None else before)


#: the Ray this process's executors started, while one of them uses it; `_RAY_LOCK` makes
#: looking for a Ray and starting one a single step. Two executors made at once (threads of a
#: notebook or a service) both started one (Ray's "Perhaps you called ray.init twice by
#: accident?", its processes left running), and the first one closed shut Ray down under the
#: other
_RAY_LOCK = threading.Lock()
_started_ray: _StartedRay | None = None
#: a join of a cluster that an interrupt left to Ray's retries in its own thread (see
#: `_join_cluster`), while it may still be running
_left_join: threading.Thread | None = None
#: the process that connected to Ray (through an executor, or by the user's own `ray.init`
#: where it was connected at a fork), if any: a process forked from it cannot use Ray. Ray's
#: connection does not survive a fork: in the forked child of a process that had used Ray,
#: even after its `ray.shutdown()`, `ray.init` waited for ever, and a Ray inherited connected
#: blocked at its first call, both deaf to SIGTERM (a `multiprocessing.Pool` on Linux's
#: default start method hung)
_ray_process: int | None = None


def _note_ray_at_fork() -> None:
    """Before a fork: note this process as the one connected to Ray where it is (its
    children then know they cannot use it), unless an executor already did."""
    global _ray_process
    ray = sys.modules.get("ray")
    if _ray_process is None and ray is not None and ray.is_initialized():
        _ray_process = os.getpid()


if hasattr(os, "register_at_fork"):  # no fork on Windows
    os.register_at_fork(before=_note_ray_at_fork)


def _check_not_forked_from_ray() -> None:
    """Refuse Ray in a process forked from one that used it (see `_ray_process`), saying
    what to do instead of waiting for ever."""
    if _ray_process not in (None, os.getpid()):
        raise RuntimeError(
            f"this process was forked from one that used Ray (pid {_ray_process}), and Ray "
            "cannot start or connect in a forked copy of such a process (it waits for ever): "
            "start this process with multiprocessing's 'spawn' or 'forkserver' method "
            "(multiprocessing.get_context('spawn')), or evaluate in it with the local executor"
        )


def _connect(address: str | None, num_cpus: int | None) -> _StartedRay | None:
    """Start (address None or "local") or join a Ray cluster: the connection this process's
    executors started, now with one more user, or None where a Ray the user initialised in
    this process is used as it is."""
    global _started_ray, _ray_process
    import ray

    _check_not_forked_from_ray()
    _check_no_join_left()  # before the address is checked (5 s at a silent port), and again
    if address == "local":  # under the lock, for a join another thread leaves meanwhile
        address = None
    if address is not None:
        check_reachable(address)
    with _RAY_LOCK:
        _check_no_join_left()
        _ray_process = os.getpid()
        if ray.is_initialized():
            if _started_ray is not None:
                _started_ray.users += 1
            return _started_ray
        started = _StartedRay()
        if address is None:
            with _interrupt_once_started(started):
                started.keeper = _start_embedded(num_cpus)
        else:
            _join_cluster(started, address)
        _started_ray = started
        return started


def _start_embedded(num_cpus: int | None) -> threading.Event | None:
    """`_init_ray` of an embedded Ray on this machine, a temp folder Ray cannot use said with
    its remedy."""
    try:
        return _init_ray(
            address="local",
            num_cpus=_usable_cpus() if num_cpus is None else num_cpus,
            object_store_memory=_object_store_bytes(),
            include_dashboard=False,
            log_to_driver=False,
            logging_level=_ray_log_level(),
        )
    except OSError as e:
        if (remedy := _temp_dir_remedy(e)) is None:
            raise
        raise OSError(f"{e} ({remedy})") from e


def _join_cluster(started: _StartedRay, address: str) -> None:
    """`ray.init` of the cluster at `address` in a thread of its own, waited for so that an
    interrupt (Ctrl-C, or a SIGTERM or SIGHUP the caller stops on) takes effect at once, not
    held as while an embedded Ray starts: joining starts no process that could be left
    running, and at a port that accepts connections but is no Ray GCS (a mistyped port, the
    Ray Client's without `ray://`) each of Ray's tries blocks the thread that asked for about
    40 s, the main thread's signal handlers waiting on it, and Ray retries for minutes. A
    join that fails is shut down, the caller's settings restored; one interrupted is left to
    its thread, which does the same once Ray gives up or joins (`_check_no_join_left`)."""
    global _left_join
    import ray

    settings = dict(address=address, log_to_driver=False, logging_level=_ray_log_level())
    outcome: list[BaseException | None] = []
    decided, finished = threading.Lock(), threading.Event()
    interrupted = False

    def join() -> None:
        try:
            _ray_init(ray, settings)
            result = None
        except BaseException as e:
            result = e
        with decided:
            outcome.append(result)
            finished.set()
            left = interrupted
        if left:
            started._shutdown()

    thread = threading.Thread(target=join, name="hwnas-ray-join", daemon=True)
    thread.start()
    try:
        with _sigterm_kept():
            finished.wait()  # not thread.join(): interrupted, it marks the thread as ended
    except BaseException:
        with decided:
            if not outcome:
                interrupted, _left_join = True, thread
                raise
        started._shutdown()
        raise
    if outcome[0] is not None:
        started._shutdown()
        raise outcome[0]


def _check_no_join_left() -> None:
    """Refuse Ray while a join an interrupt left (`_join_cluster`) is still being tried by
    Ray in this process: another `ray.init` beside it would meet Ray's half-made connection."""
    if _left_join is not None and _left_join.is_alive():
        raise RuntimeError(
            "an interrupted join of a Ray cluster is still being tried by Ray in this process "
            "(it gives up after some minutes); restart the process (a notebook's kernel) to "
            "use Ray now, and check the cluster's address"
        )


#: Ray's start-up warnings an embedded Ray is started without: its logger, and words of
#: the message. A /dev/shm smaller than the object store (Docker's default of 64 MB) puts
#: the store in Ray's temp folder, with "This will harm performance! ... passing
#: '--shm-size=7.63gb' to 'docker run'", though hwnas puts only the evaluator (with its
#: dataset) in the store, once, for each worker to read once: no size of /dev/shm makes a
#: search faster. A container's CPU quota (`docker run --cpus`) drew "Detecting docker
#: specified CPUs. In previous versions of Ray, CPU detection in containers was incorrect.
#: ... set `RAY_USE_MULTIPROCESSING_CPU_COUNT=1`", of Ray's history, though an embedded Ray
#: has the CPUs of the quota, as the guide says. Each came first in every `hwnas search` on
#: Ray in such a container. And a start from another thread than the main one (every join of
#: a cluster: `_join_cluster`) drew "SIGTERM handler is not set because current thread is not
#: the main thread", though the caller's handler is the one a search wants. Ray's other
#: warnings still show
_RAY_START_NOISE = {
    "ray._private.services": "instead of /dev/shm",
    "ray._private.utils": "Detecting docker specified CPUs",
    "ray._private.worker": "SIGTERM handler is not set because current thread",
}


class _Dropped(logging.Filter):
    """Drops a logger's messages that hold `words`."""

    def __init__(self, words: str):
        super().__init__()
        self.words = words

    def filter(self, record: logging.LogRecord) -> bool:
        return self.words not in record.getMessage()


@contextlib.contextmanager
def _ray_start_noise_dropped() -> Iterator[None]:
    """The body (a start or join of Ray) without the warnings of `_RAY_START_NOISE`."""
    dropped = {logging.getLogger(name): _Dropped(words) for name, words in _RAY_START_NOISE.items()}
    for logger, drop in dropped.items():
        logger.addFilter(drop)
    try:
        yield
    finally:
        for logger, drop in dropped.items():
            logger.removeFilter(drop)


def _ray_log_level() -> int:
    """The `ray` logger's level while Ray runs (`ray.init` sets it): WARNING, Ray's warnings
    and not its start-up notes, or the caller's where that is higher (at WARNING, a program
    that quietened the logger to ERROR still got Ray's warnings during a search)."""
    return max(logging.WARNING, logging.getLogger("ray").getEffectiveLevel())


@contextlib.contextmanager
def _interrupt_once_started(started: _StartedRay) -> Iterator[None]:
    """Hold a Ctrl-C back while the body starts Ray, then shut that Ray down and deliver it;
    likewise a SIGTERM or SIGHUP that the caller handles (`run_experiment` stops on them as on
    Ctrl-C). Interrupted inside `ray.init`, Ray left the processes it had begun running and
    out of reach (`ray.is_initialized()` False) until the process ended: a notebook's kernel
    kept them, and its next search started another Ray beside them. Ray is shut down with the
    signals still held, as `RayExecutor.close` does: Ray's shutdown sets SIGTERM's handler to
    the system's default beneath Python's, which leaving the block sets again (delivered
    after the shutdown, the SIGTERM killed the process). (A signal that is ignored, as Ctrl-C
    in a background command, stays ignored; one left to Python's default action ends the
    process, and Ray's processes with it.)"""
    held: list[int] = []
    handled = [s for s in stopping_signals() if callable(signal.getsignal(s))]
    try:
        with signals_handled(lambda signum, frame: held.append(signum), *handled):
            try:
                yield
            finally:
                if held:
                    started._shutdown()
    finally:
        if held:
            signal.raise_signal(held[0])


def _usable_cpus() -> int | None:
    """The CPUs this process may run on where they are fewer than an embedded Ray counts, else
    None (Ray's count, which honours a container's CPU quota): Ray counts the machine's cores
    but not a CPU affinity (`taskset -c 0`, a batch scheduler's cpuset on cgroup v2), which
    its workers inherit, so a search held to one core of two ran two trainings on that core,
    each at half speed and nearer its timeout."""
    if not hasattr(os, "sched_getaffinity"):  # macOS, Windows: no affinity to honour
        return None
    counted = _rays_own(lambda utils, _: utils.get_num_cpus(override_docker_cpu_warning=True))
    usable = len(os.sched_getaffinity(0))
    return usable if counted is not None and usable < counted else None


def _object_store_bytes() -> int | None:
    """An embedded Ray's object store size under an address-space limit (`ulimit -v`, a batch
    scheduler's `h_vmem`) where Ray's own (30 % of the free memory) takes more than an eighth
    of it, else None (Ray's size): the driver, the raylet and every worker map the whole
    store, and under a 4 GB limit the raylet's mapping of 6.8 GB was refused and Ray said
    only "The current node timed out during startup". The rest of the limit is the
    processes' own (with torch and Ray's threads, over 2 GB of address space each); hwnas
    keeps only the evaluator in the store, which spills to disk past its size."""
    try:
        import resource
    except ImportError:  # Windows: no such limit
        return None
    limit, _ = resource.getrlimit(resource.RLIMIT_AS)
    if limit == resource.RLIM_INFINITY:
        return None
    own = _rays_own(
        lambda utils, constants: (
            constants.OBJECT_STORE_MINIMUM_MEMORY_BYTES,
            utils.resolve_object_store_memory(utils.estimate_available_memory()),
        )
    )
    if own is None:
        return None
    least, rays_size = own
    share = max(limit // 8, least)
    return share if share < rays_size else None


def _rays_own(size: Callable[[Any, Any], Any]) -> Any:
    """What `size` reads from Ray's private helpers (`ray._private.utils`, `ray_constants`), or
    None where a later Ray moved or changed them (ray has no upper pin): the embedded Ray is
    then sized as Ray sizes it, as before hwnas read them, rather than every search on Ray
    stopping at its start."""
    try:
        from ray._private import ray_constants, utils

        return size(utils, ray_constants)
    except (ImportError, AttributeError, TypeError):
        return None


def _init_ray(**settings: Any) -> threading.Event | None:
    """`ray.init(**settings)`; asked from another thread than the main one, it is called in a
    thread of its own that lasts until the event returned is set (as that Ray shuts down):
    Linux ends the processes of an embedded Ray with the thread that started them (Ray's
    fate sharing), so a Ray started by a worker thread of a notebook or a service died as
    that thread ended, under the executors still using it."""
    import ray

    if threading.current_thread() is threading.main_thread():
        with _sigterm_kept():
            _ray_init(ray, settings)
        return None
    started, release, failed = threading.Event(), threading.Event(), []

    def keep() -> None:
        try:
            _ray_init(ray, settings)
        except BaseException as e:
            failed.append(e)
            return
        finally:
            started.set()
        release.wait()

    threading.Thread(target=keep, name="hwnas-ray", daemon=True).start()
    started.wait()
    if failed:
        raise failed[0]
    return release


def _ray_init(ray: Any, settings: dict[str, Any]) -> None:
    """`ray.init(**settings)`, a folder name Ray cannot send said as such: Ray sends the
    driver's current folder to its workers as UTF-8, and a search started in a folder whose
    name is no UTF-8 (a Latin-1 `donn\\xe9es`, or any name beyond ASCII under `LC_ALL=C`
    with `PYTHONUTF8=0`), which Python holds with lone surrogates, failed with "executor:
    'utf-8' codec can't encode character '\\udce9' in position 24: surrogates not allowed"."""
    try:
        with _ray_start_noise_dropped():
            ray.init(**settings)
    except UnicodeEncodeError as e:
        raise ValueError(
            f"Ray cannot start with the path {e.object!r}: it sends the current folder (and "
            "the script's) to its workers as UTF-8, and this name holds bytes that are no "
            f"{sys.getfilesystemencoding()} text; start the search from another folder"
        ) from None


def _temp_dir_remedy(e: OSError) -> str | None:
    """The cause and remedy of `e` where it is Ray's refusal of its temp folder, which names
    neither the variable nor the way out. An embedded Ray makes its session folder (and its
    sockets in it) in `ray` under RAY_TMPDIR, else (on Linux) $TMPDIR, else /tmp: a batch
    scheduler's per-job $TMPDIR can be too long for a socket path ("AF_UNIX path length
    cannot exceed 107 bytes"), and the `ray` folder an embedded Ray of another user made
    (without Ray's own mode 777) is not this user's to write ("Permission denied")."""
    where = "an embedded Ray keeps its sockets under $RAY_TMPDIR, else $TMPDIR"
    if "AF_UNIX" in str(e):
        return f"{where}: set RAY_TMPDIR to a shorter folder, such as RAY_TMPDIR=/tmp"
    if e.errno in NOT_WRITABLE:
        return (
            f"{where}, else /tmp, where this user cannot write (another user's Ray made the "
            "folder?): set RAY_TMPDIR to a folder of your own, such as RAY_TMPDIR=/tmp/$USER"
        )
    return None


@contextlib.contextmanager
def _rays_sigterm_handler_left_out() -> Iterator[None]:
    """The body's `ray.init` without the SIGTERM handler it sets as it begins (`sys.exit(15)`),
    so the caller's stays in place: Ray's raised SystemExit in the middle of Ray's start,
    whose processes begun so far (its GCS) were then left running out of reach until the
    process ended. Where a later Ray moved the helper it sets it with, its handler is set
    (and `_sigterm_kept` hands the signal on)."""
    try:
        from ray._private import utils
    except ImportError:
        utils = None
    set_handler = getattr(utils, "set_sigterm_handler", None)
    if set_handler is None:
        yield
        return
    utils.set_sigterm_handler = lambda handler: None
    try:
        yield
    finally:
        utils.set_sigterm_handler = set_handler


@contextlib.contextmanager
def _sigterm_kept() -> Iterator[None]:
    """Keep the SIGTERM handler the caller set (a search's, which stops it resumably) through
    the body: `ray.init` sets its own, `sys.exit(15)`, and a SIGTERM in the seconds Ray takes
    to start (`timeout`, a batch scheduler) ended `hwnas search` with status 15 and no word.
    Ray's is left out (`_rays_sigterm_handler_left_out`); where it is set all the same, the
    signal it took goes to the caller's. Without a handler of the caller's
    (Python's default), Ray's stays: it shuts Ray down on the way out. Setting the caller's
    again also takes the signal back from the one Ray's core worker sets beneath Python's as
    it connects (even from another thread: a join, `_join_cluster`), which printed six lines
    of "*** SIGTERM received at time=... PC: @ ..." before handing each SIGTERM on."""
    before = signal.getsignal(signal.SIGTERM)
    if not callable(before) or threading.current_thread() is not threading.main_thread():
        yield
        return
    try:
        with _rays_sigterm_handler_left_out():
            yield
    except SystemExit as e:
        if e.code != signal.SIGTERM or signal.getsignal(signal.SIGTERM) is before:
            raise
        signal.signal(signal.SIGTERM, before)
        signal.raise_signal(signal.SIGTERM)  # the caller's handler raises its own stop
        raise
    finally:
        signal.signal(signal.SIGTERM, before)


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
            if _refusal(self.address, timeout_s=1.0) is None:
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
        self._started = _connect(address, num_cpus)
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

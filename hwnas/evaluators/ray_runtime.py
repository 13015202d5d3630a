"""The Ray runtime a process's executors use: its address checked, Ray started or joined, and
shut down with the process's own settings given back.

`connect` starts an embedded Ray (address None or "local") or joins a cluster, once per
process however many executors (in however many threads) ask, and `_StartedRay.release`
shuts it down after the last one. On the way it checks the address (`address_form_problem`,
`check_reachable`: a typo or a port that is no Ray GCS is said at once, not after Ray's
minutes of retries), refuses Ray in a process forked from one that used it, keeps an
interrupt or the caller's SIGTERM handler through Ray's start, sizes an embedded Ray to the
CPUs and address space the process may use, and drops Ray's start-up warnings that do not
apply. Kept apart from the executors, which only dispatch evaluations: this is process-wide
state (`_RAY_LOCK`, the Ray started, a join an interrupt left, the at-fork note), one copy
of it, and the experiment loop checks an address here without any executor.
"""

from __future__ import annotations

import contextlib
import faulthandler
import logging
import os
import signal
import socket
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from hwnas.predictors.stop_signals import signals_handled, stopping_signals
from hwnas.predictors.whole_files import NOT_WRITABLE


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
    if refused := refusal(address, timeout_s):
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


def refusal(address: str, timeout_s: float) -> OSError | None:
    """Why nothing accepts a connection at `address` within `timeout_s`, or None if it does."""
    try:
        socket.create_connection(_host_port(address), timeout=timeout_s).close()
    except OSError as e:
        return e
    return None


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


def connect(address: str | None, num_cpus: int | None) -> _StartedRay | None:
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

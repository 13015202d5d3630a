"""RayExecutor on a real local Ray runtime: completion order, failures, timeouts, worker death.

One Ray per module (starting one costs seconds): the module's tests run in one test process
(pytest-xdist's `loadgroup`), those that stop it (over Ray Client, or for an embedded Ray of
their own) come last, and those that need no Ray here do not start it again. The evaluators
below script what a candidate does (finish, raise, hang, wait for another, report its PID to
be killed) and train for real on digits otherwise; they are pickled by value so the Ray
workers need not import this test module.
"""

from __future__ import annotations

import copy
import faulthandler
import gc
import logging
import math
import os
import pickle
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from net import free_port

from hwnas.evaluators import LocalExecutor, Metrics, RayExecutor
from hwnas.spaces import get_space

ray = pytest.importorskip("ray")
ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
pytestmark = pytest.mark.xdist_group("the_module_ray")


def _start_local_ray(temp_dir: Path, **settings) -> None:
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    ray.init(
        address="local",
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        _temp_dir=str(temp_dir),
        **settings,
    )


@pytest.fixture(scope="module")
def local_ray(ray_temp_dir):
    """The module's Ray: started by the first test, shut down after the last, before its
    folder is removed (asking for the folder makes it go last): removed first, the folder
    stayed in /tmp after a selection of tests whose last one left the module's Ray running."""
    yield
    ray.shutdown()


@pytest.fixture(autouse=True)
def ray_running(request, local_ray, ray_temp_dir):
    """Each test runs with the module's Ray running, started again where an earlier test
    stopped it, except a test asking for `own_ray`, which runs with none, or for `no_ray`."""
    if "own_ray" in request.fixturenames:
        ray.shutdown()
    elif "no_ray" not in request.fixturenames and not ray.is_initialized():
        _start_local_ray(ray_temp_dir)


@pytest.fixture
def no_ray():
    """For a test that uses no Ray in this process (it checks a computation, or runs a child
    process): the module's Ray is not started again for it."""


@pytest.fixture
def own_ray():
    """For a test whose RayExecutor starts an embedded Ray of its own: no Ray runs before it,
    and none is left after it (the next test that needs the module's Ray starts it)."""
    shutdown = ray.shutdown  # the real one, should the test have replaced it
    yield
    shutdown()


@contextmanager
def _through_ray_client() -> Iterator[None]:
    """This process's Ray used through a real Ray Client (`ray://`) connection, as a driver
    on another machine uses a cluster. The client server shuts Ray down when its client
    leaves: the next test that needs the module's Ray starts it again."""
    from ray._private.client_mode_hook import disable_client_hook, enable_client_mode
    from ray.util.client import ray as client
    from ray.util.client.server.server import serve

    port = free_port()
    server = serve("127.0.0.1", port, ray_connect_handler=lambda job_config=None, **kw: None)
    try:
        with enable_client_mode():
            client._inside_client_test = True  # the mode ends with the block, not the process
            client.connect(f"127.0.0.1:{port}")
            try:
                yield
            finally:
                client.disconnect()
                client._inside_client_test = False
    finally:
        server.stop(0)
        with disable_client_hook():
            _wait_until(lambda: not ray.is_initialized(), "the client server stopping Ray")


@pytest.fixture(scope="module")
def space():
    return get_space("conv1d")


class Scripted:
    """Does what `plan[arch.key]` says: ("train",), ("nan",), ("raise", msg), ("hang",),
    ("wait_for", file) until that file exists, ("touch", file), ("killable", dir) writes its
    PID to dir/attempt-N and waits to be killed on the first attempt, ("die",) kills itself."""

    def __init__(self, space, plan, trains: bool = True):
        self.space, self.plan = space, plan
        if not trains:  # no torch to unpickle: its Ray workers start in about a second
            return
        from hwnas.evaluators.train import TrainEvaluator  # here, so unpickling needs no torch

        # precise BN (recomputing batch-norm statistics after training) took over half of a
        # 2-step training here, and nothing in this module depends on it
        self.trainer = TrainEvaluator(space, "mnist1d", batch_size=128, precise_bn=False)
        self.diverging = TrainEvaluator(space, "mnist1d", batch_size=128, lr=1e4)

    def evaluate(self, arch, budget=None):
        action, *args = self.plan.get(arch.key, ("train",))
        if action == "train":
            return self.trainer.evaluate(arch, budget=0.1)
        if action == "nan":
            return self.diverging.evaluate(arch, budget=0.5)
        if action == "raise":
            raise RuntimeError(args[0])
        if action == "hang":
            time.sleep(600)
        if action == "wait_for":
            _wait_for(Path(args[0]))
        if action == "touch":
            Path(args[0]).touch()
        if action == "killable":
            attempt = len(list(Path(args[0]).iterdir())) + 1
            (Path(args[0]) / f"attempt-{attempt}").write_text(str(os.getpid()))
            if attempt == 1:
                time.sleep(600)
            return Metrics({"attempt": attempt})
        if action == "die":
            os.kill(os.getpid(), signal.SIGKILL)
        return Metrics({"done": 1.0})


class Unloadable:
    """An evaluator the Ray workers cannot unpickle, as one needing a module or file that
    only the driver's machine has."""

    def __init__(self, space):
        self.space = space

    def __setstate__(self, state):
        raise ModuleNotFoundError("No module named 'only_on_the_driver'")

    def evaluate(self, arch, budget=None):
        return Metrics({"done": 1.0})


def _wait_until(done: Callable[[], bool], what: str, limit_s: float = 300.0) -> None:
    # a cap for slow machines, not a timing check: a first Ray worker importing torch beside
    # 3 busy processes on 2 cores took 61 s to begin its evaluation, half of the 120 s it was
    stop = time.monotonic() + limit_s
    while not done():
        if time.monotonic() > stop:
            raise TimeoutError(f"{what} never happened")
        time.sleep(0.05)


def _wait_for(path: Path) -> None:
    _wait_until(path.exists, f"{path} appearing")


def _stopped(pid: int) -> bool:
    """Whether process `pid` has ended (a zombie, killed but not yet reaped, has too)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().rsplit(")", 1)[1].split()[0] == "Z"


def test_results_arrive_as_completed_not_in_submission_order(space, tmp_path):
    """The first waits until the driver has received the second's result: the second cannot
    come after it. (When the first waited only for a file the second wrote, a driver slowed by
    load polled once both were done and, once, got them in submission order.)"""
    first, second = space.sample(0), space.sample(1)
    received = tmp_path / "second-received"
    plan = {first.key: ("wait_for", str(received)), second.key: ("touch", str(tmp_path / "x"))}
    order, failures = [], []
    with RayExecutor(Scripted(space, plan), max_in_flight=2) as executor:
        for arch, metrics in executor.run([first, second]):
            order.append(arch.key)
            failures += [] if metrics.ok else [metrics.reason]
            received.touch()
    assert order == [second.key, first.key] and not failures, failures
    assert ray.is_initialized()  # the executor did not start this Ray, so it left it running


def test_no_more_than_max_in_flight_evaluations_run_at_once(space, tmp_path):
    """With one evaluation in flight, the first waits for a file only the second writes: the
    second cannot start before the first ends, so the first runs out its time. (Beyond the
    limit, both ran on the two CPUs and the first finished; only a test over Ray Client,
    where Ray itself holds tasks back, noticed.)"""
    first, second = space.sample(0), space.sample(1)
    marker = tmp_path / "second-ran"
    plan = {first.key: ("wait_for", str(marker)), second.key: ("touch", str(marker))}
    evaluator = Scripted(space, plan, trains=False)
    with RayExecutor(evaluator, max_in_flight=1, timeout_s=3) as executor:
        results = {arch.key: metrics for arch, metrics in executor.run([first, second])}
    assert (results[first.key].status, results[first.key].reason) == (
        "failed",
        "timeout after 3 s (the executor's timeout_s)",
    )
    assert second.key in results


def test_failures_come_back_with_reasons_while_others_complete(space):
    archs = [space.sample(i) for i in range(4)]
    plan = {archs[0].key: ("nan",), archs[1].key: ("raise", "bad candidate")}
    with RayExecutor(Scripted(space, plan)) as executor:
        results = {arch.key: metrics for arch, metrics in executor.run(archs)}
    assert set(results) == {a.key for a in archs}
    assert results[archs[0].key].reason.startswith("diverged: loss is nan")
    assert results[archs[1].key].reason == "RuntimeError: bad candidate"
    for arch in archs[:2]:
        assert results[arch.key].status == "failed"
        assert results[arch.key]["params"] == space.cost(arch).params
    for arch in archs[2:]:
        assert results[arch.key].ok and results[arch.key]["accuracy"] > 0


def test_an_evaluation_past_its_timeout_is_cancelled_and_failed(space):
    hanging, quick = space.sample(0), space.sample(1)
    plan = {hanging.key: ("hang",), quick.key: ("done",)}
    with RayExecutor(Scripted(space, plan), timeout_s=3) as executor:
        results = {arch.key: metrics for arch, metrics in executor.run([hanging, quick])}
        assert executor.in_flight == 0
    assert results[hanging.key].status == "failed"
    assert results[hanging.key].reason == "timeout after 3 s (the executor's timeout_s)"
    assert results[hanging.key]["macs"] == space.cost(hanging).macs
    assert results[quick.key].ok


def _first_attempt_pid(folder: Path) -> int:
    """The PID a "killable" evaluation writes to folder/attempt-1 once it runs."""
    attempt = folder / "attempt-1"
    _wait_until(lambda: attempt.exists() and attempt.read_text(), f"{attempt} written")
    return int(attempt.read_text())


def _kill_first_attempt(folder: Path) -> None:
    os.kill(_first_attempt_pid(folder), signal.SIGKILL)


def test_a_killed_worker_is_retried_and_every_result_returns(space, tmp_path):
    archs = [space.sample(i) for i in range(3)]
    plan = {archs[0].key: ("killable", str(tmp_path))} | {a.key: ("done",) for a in archs[1:]}
    killer = threading.Thread(target=_kill_first_attempt, args=(tmp_path,), daemon=True)
    killer.start()
    # a count taken from numpy (a notebook's arrays) is a whole number too; no trainers: the
    # worker the retry starts on need not import torch to unpickle the evaluator (seconds)
    evaluator = Scripted(space, plan, trains=False)
    with RayExecutor(evaluator, max_retries=np.int64(2)) as executor:
        results = {arch.key: metrics for arch, metrics in executor.run(archs)}
    killer.join(timeout=1)
    assert set(results) == {a.key for a in archs}
    assert results[archs[0].key].ok and results[archs[0].key]["attempt"] == 2
    assert all(m.ok for m in results.values())


@pytest.mark.parametrize("retries, died", [(0, "1 time"), (1, "2 times")])
def test_a_worker_that_keeps_dying_is_reported_failed_after_the_retries(space, retries, died):
    arch = space.sample(0)
    evaluator = Scripted(space, {arch.key: ("die",)}, trains=False)
    with RayExecutor(evaluator, max_retries=retries) as executor:
        [(returned, metrics)] = list(executor.run([arch]))
    assert returned == arch and metrics.status == "failed"
    assert metrics.reason == f"worker died {died}: WorkerCrashedError"


def test_an_evaluator_the_workers_cannot_load_stops_the_executor_with_the_cause(space):
    archs = [space.sample(i) for i in range(3)]
    cause = r"\(ModuleNotFoundError: No module named 'only_on_the_driver'\); every machine"
    with RayExecutor(Unloadable(space)) as executor:
        results = executor.run(archs)
        with pytest.raises(RuntimeError, match=f"cannot load the evaluator {cause}"):
            next(results)  # not one failed result per candidate: none could ever succeed
        assert executor.in_flight == 0


def test_cancel_and_abandoned_run_drop_outstanding_work(space, tmp_path):
    archs = [space.sample(i) for i in range(4)]
    plan = {a.key: ("hang",) for a in archs[2:]} | {archs[0].key: ("done",)}
    plan[archs[1].key] = ("killable", str(tmp_path))  # hangs once it wrote its PID
    with RayExecutor(Scripted(space, plan, trains=False), max_in_flight=1) as executor:
        results = executor.run(archs)
        arch, metrics = next(results)
        assert arch == archs[0] and metrics.ok and executor.in_flight == 3
        results.close()  # what Ctrl-C or a `break` out of the loop does
        assert executor.in_flight == 0 and executor.results(timeout=0.1) == []
        for a in archs[1:]:
            executor.submit(a)
        pid = _first_attempt_pid(tmp_path)  # archs[1] runs on a worker
        executor.cancel()
        assert executor.in_flight == 0
        _wait_until(lambda: _stopped(pid), "the cancelled evaluation's worker stopping", 60)


@pytest.mark.parametrize("scheme", ["", "ray://"])
def test_an_unreachable_address_fails_fast_with_a_clear_error(space, scheme):
    address = f"{scheme}127.0.0.1:{free_port()}"
    with pytest.raises(ConnectionError, match=f"Ray cluster at '{address}' is unreachable"):
        RayExecutor(Scripted(space, {}), address=address)
    with pytest.raises(ValueError, match="not 'auto', 'local', 'host:port'"):
        RayExecutor(Scripted(space, {}), address="nowhere")
    with pytest.raises(ValueError, match="http:// is not Ray's; give 'auto', 'host:port'"):
        RayExecutor(Scripted(space, {}), address="http://127.0.0.1:6379")


class _RayletDied:
    """Ray as a driver sees it once its node's raylet is gone (`ray stop` on the cluster):
    fetching any result raises LocalRayletDiedError. Stopping the real raylet under the test
    would let Ray end the test process itself."""

    def __init__(self, ray):
        self._ray = ray

    def __getattr__(self, name):
        return getattr(self._ray, name)

    def get(self, *args, **kwargs):
        raise self._ray.exceptions.LocalRayletDiedError()


def test_a_dead_raylet_is_a_lost_cluster_not_failed_evaluations(space):
    from hwnas.evaluators import ClusterLost

    archs = [space.sample(seed) for seed in range(2)]
    evaluator = Scripted(space, {a.key: ("done",) for a in archs}, trains=False)
    executor = RayExecutor(evaluator, max_retries=2)
    ray = executor._ray
    try:
        for arch in archs:
            executor.submit(arch)
        executor._ray = _RayletDied(ray)
        with pytest.raises(ClusterLost, match=r"lost the Ray cluster \(LocalRayletDiedError\)"):
            executor.results(timeout=60)  # not retried, not reported as failed metrics
        assert executor.in_flight == 0
    finally:
        executor._ray = ray
        executor.close()


def test_a_closed_executor_starts_no_ray_of_its_own(space):
    executor = RayExecutor(Scripted(space, {}))
    executor.close()
    with pytest.raises(RuntimeError, match="this RayExecutor is closed; make a new one"):
        executor.submit(space.sample(0))
    with pytest.raises(ValueError, match="max_in_flight must be an integer >= 1, not 1.5"):
        RayExecutor(Scripted(space, {}), max_in_flight=1.5)


@pytest.mark.parametrize(
    ("setting", "value", "message"),
    [
        ("timeout_s", "10", "timeout_s must be a finite number > 0, not '10'"),
        ("timeout_s", 0, "timeout_s must be a finite number > 0, not 0"),
        # no float holds 10**400; inf failed the first wait in Ray's float-to-integer
        pytest.param(
            "timeout_s", 10**400, f"finite number > 0, not {10**400}$", id="timeout_s-10**400"
        ),
        ("timeout_s", math.inf, "timeout_s must be a finite number > 0, not inf"),
        ("max_retries", "2", "max_retries must be an integer >= 0, not '2'"),
        ("max_retries", 1.5, "max_retries must be an integer >= 0, not 1.5"),
        ("max_retries", -1, "max_retries must be an integer >= 0, not -1"),
    ],
)
def test_a_wrong_setting_is_refused_naming_it(space, setting, value, message):
    """From Python (a notebook), not through the checked experiment file: a string timeout
    failed with "'<=' not supported between instances of 'str' and 'int'", a fractional
    retry count was taken."""
    with pytest.raises(ValueError, match=message):
        RayExecutor(Scripted(space, {}), **{setting: value})


@pytest.mark.parametrize(
    "address", ["auto", "local", "10.0.0.1:6379", "ray://head:10001", "[::1]:6379", ":6379"]
)
def test_every_form_of_a_ray_address_passes_the_form_check(address):
    """`--address` and an experiment's `executor.address` are checked for a Ray address's
    form before anything, a complete run's too (`address_form_problem`): each form a
    RayExecutor takes passes it, `local` (a new embedded cluster) among them."""
    from hwnas.evaluators.ray_runtime import address_form_problem

    assert address_form_problem(address) is None


def test_auto_without_a_cluster_says_how_to_get_one(monkeypatch):
    from ray._private import services

    from hwnas.evaluators.ray_runtime import check_reachable

    def no_cluster(*args, **kwargs):  # what Ray raises on a machine running none
        raise ConnectionError("Could not find any running Ray instance. Please specify ...")

    monkeypatch.setattr(services, "get_ray_address_from_environment", no_cluster)
    with pytest.raises(ConnectionError, match="Ray cluster at 'auto': none is running") as e:
        check_reachable("auto")
    assert "ray start --head" in str(e.value) and "Please specify" not in str(e.value)


@contextmanager
def _grpc_server(host: str = "127.0.0.1", *handlers) -> Iterator[str]:
    """The address of a gRPC server on `host` that serves `handlers`: with none, a server of
    no service, as the Ray Client's port is to a GCS request (UNIMPLEMENTED)."""
    import grpc

    server = grpc.server(ThreadPoolExecutor(1), handlers=handlers)
    if not (port := server.add_insecure_port(f"{host}:0")):
        pytest.skip(f"no {host} to serve on here")
    server.start()
    try:
        yield f"{host}:{port}"
    finally:
        server.stop(0)


@pytest.fixture
def no_gcs(request) -> Iterator[str]:
    """The address of a server that accepts connections but is no Ray GCS: a gRPC server of
    no service (on IPv4's loopback or IPv6's), or an HTTP one."""
    if request.param in ("grpc", "grpc on IPv6"):
        with _grpc_server("[::1]" if request.param == "grpc on IPv6" else "127.0.0.1") as address:
            yield address
    else:
        from http.server import BaseHTTPRequestHandler, HTTPServer

        class Quiet(BaseHTTPRequestHandler):
            def log_message(self, *args):  # not on the test's stderr
                pass

        with HTTPServer(("127.0.0.1", 0), Quiet) as http:
            threading.Thread(target=http.serve_forever, daemon=True).start()
            yield f"127.0.0.1:{http.server_address[1]}"
            http.shutdown()


@pytest.mark.parametrize(
    "no_gcs, said",
    [
        (
            "grpc",
            "a gRPC server answers there, but no Ray GCS (the Ray Client's port, 10001 by "
            "default?)",
        ),
        (
            "grpc on IPv6",
            "a gRPC server answers there, but no Ray GCS (the Ray Client's port, 10001 by "
            "default?)",
        ),
        ("http", "something accepts connections there, but speaks no gRPC, so no Ray GCS"),
    ],
    indirect=["no_gcs"],
)
def test_a_port_that_accepts_but_is_no_ray_gcs_is_refused_at_once(no_gcs, said, monkeypatch):
    """A port that accepts connections but is no Ray GCS passed the reachability check, and
    `ray.init` retried it for about 14 minutes, saying only "Failed to connect to GCS": the
    Ray Client's port given without `ray://` (a gRPC server of another service), or another
    program's. Asked for the cluster's ID, as `ray.init` asks first, it is named at once;
    the request bypasses an HTTP proxy set for the web, as Ray's own requests do. The same
    port given as a Ray Client's (`ray://`) is asked nothing of a GCS."""
    from hwnas.evaluators.ray_runtime import check_reachable

    monkeypatch.setenv("http_proxy", f"http://127.0.0.1:{free_port()}")

    with pytest.raises(ConnectionError) as e:
        check_reachable(no_gcs)
    assert str(e.value) == (
        f"Ray cluster at {no_gcs!r}: {said}; give the cluster's GCS port (6379 by default) as "
        "host:port, or its Ray Client's as ray://host:port"
    )
    assert check_reachable(f"ray://{no_gcs}") is None


class _AsksForToken:
    """A gRPC service (a `grpc.GenericRpcHandler`) that answers every request as a Ray GCS
    with token authentication answers one without the token."""

    def service(self, details):
        import grpc

        def refuse(request, context):
            context.abort(grpc.StatusCode.UNAUTHENTICATED, "no auth token")

        return grpc.unary_unary_rpc_method_handler(refuse)


def test_a_ray_gcs_or_what_may_be_one_passes_the_gcs_check(monkeypatch):
    """Only a port that surely is no Ray GCS is refused: the module's Ray's GCS passes, and so,
    left to `ray.init`, do a GCS that asks for its auth token, a port silent past the check's
    timeout (a GCS under load?), and any port where the cluster is reached over TLS, which
    the check's plain request cannot speak to."""
    from hwnas.evaluators.ray_runtime import check_reachable

    assert check_reachable(ray.get_runtime_context().gcs_address) is None
    with _grpc_server("127.0.0.1", _AsksForToken()) as gcs:
        assert check_reachable(gcs) is None
    with socket.socket() as silent:  # accepts, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        assert check_reachable(f"127.0.0.1:{silent.getsockname()[1]}", timeout_s=0.5) is None
    monkeypatch.setenv("RAY_USE_TLS", "1")
    with _grpc_server() as no_gcs:
        assert check_reachable(no_gcs) is None


@pytest.mark.parametrize("change", ["moved", "takes other arguments"])
def test_auto_is_left_to_ray_where_a_later_ray_moved_its_helper(monkeypatch, change):
    """`auto` is looked up with a private helper of Ray's (ray has no upper pin): where a later
    Ray moved it or changed its arguments, `hwnas search --address auto` stopped with an
    ImportError (or TypeError) of Ray's internals; the check is then left to `ray.init`."""
    from ray._private import services

    from hwnas.evaluators.ray_runtime import check_reachable

    if change == "moved":
        monkeypatch.delattr(services, "get_ray_address_from_environment")
    else:
        monkeypatch.setattr(services, "get_ray_address_from_environment", lambda: "auto")
    assert check_reachable("auto") is None


def test_resources_the_machine_lacks_are_refused_instead_of_queued_forever(space):
    with pytest.raises(ValueError, match=r"resources: an evaluation needs \{'tpu_v9': 1.0\}"):
        RayExecutor(Scripted(space, {}), resources={"tpu_v9": 1})
    with pytest.raises(ValueError, match="needs {'CPU': 100000}"):
        RayExecutor(Scripted(space, {}), resources={"num_cpus": 100_000})
    with pytest.raises(ValueError, match="needs {'memory': 1000000000000000.0} but the Ray"):
        RayExecutor(Scripted(space, {}), resources={"memory": 1e15})  # a petabyte
    # Ray's own names, or a dropped prefix, are custom resources no machine has
    with pytest.raises(
        ValueError, match=r"'cpus' is a custom Ray resource \(did you mean 'num_cpus'"
    ):
        RayExecutor(Scripted(space, {}), resources={"cpus": 1})
    with pytest.raises(
        ValueError, match=r"'GPU' is a custom Ray resource \(did you mean 'num_gpus'"
    ):
        RayExecutor(Scripted(space, {}), resources={"GPU": 1})


def test_an_evaluator_that_cannot_be_pickled_is_refused_naming_its_attribute(space):
    """Ray's own error blamed the `evaluate` method, in 30 lines, whatever held the lock."""
    evaluator = Scripted(space, {}, trains=False)
    evaluator.guard = threading.Lock()
    with pytest.raises(TypeError) as e:
        RayExecutor(evaluator)
    assert str(e.value).startswith(
        "the evaluator Scripted cannot be pickled to send it to the Ray workers (attribute "
        "'guard': TypeError: cannot pickle '_thread.lock' object); keep no open file, lock"
    )


def test_a_notebook_shows_an_executor_in_one_line(space):
    """Its evaluator's kind, evaluations in flight and settings, and whether it is closed (it
    showed `<hwnas.evaluators.executors.LocalExecutor object at 0x...>`)."""
    evaluator = Scripted(space, {}, trains=False)
    with LocalExecutor(evaluator) as local:
        local.submit(space.sample(np.random.default_rng(0)))
        assert repr(local) == "<LocalExecutor evaluator=Scripted in_flight=1>"
    assert repr(local) == "<LocalExecutor evaluator=Scripted in_flight=0 closed>"
    with RayExecutor(evaluator, max_in_flight=2, timeout_s=30) as remote:
        shown = "<RayExecutor evaluator=Scripted in_flight=0 max_in_flight=2 timeout_s=30"
        assert repr(remote) == shown + ">"
    assert repr(remote) == shown + " closed>"


def test_a_ray_executor_refuses_to_be_pickled_or_copied_saying_what_to_send(space):
    """It failed with "cannot pickle 'module' object", and `copy.copy` made a second executor
    sharing the first's Ray and evaluations in flight."""
    arch = space.sample(0)
    with RayExecutor(Scripted(space, {arch.key: ("done",)}, trains=False)) as executor:
        for copied in (pickle.dumps, copy.copy, copy.deepcopy, ray.cloudpickle.dumps):
            with pytest.raises(TypeError, match="a RayExecutor cannot be pickled or copied: it"):
                copied(executor)
        [(_, metrics)] = executor.run([arch])
        assert metrics.ok and metrics["done"] == 1.0  # it works on, unchanged by the refusals


# -- last: these stop the module's Ray ---------------------------------------------------------
def test_over_ray_client_evaluations_waiting_for_a_worker_do_not_time_out(space):
    hanging, waiting = [space.sample(0), space.sample(1)], [space.sample(2), space.sample(3)]
    plan = {a.key: ("hang",) for a in hanging} | {a.key: ("done",) for a in waiting}
    with _through_ray_client():
        with pytest.warns(UserWarning, match="so only 2 are dispatched at once"):
            executor = RayExecutor(
                Scripted(space, plan, trains=False), max_in_flight=4, timeout_s=30
            )
        # 2 CPUs: the waiting two start once the hanging two are cancelled, on new workers
        # (the cancelled ones are killed), and over Ray Client their 30 s count from dispatch:
        # a worker importing torch to unpickle the evaluator took longer on a loaded machine
        with executor:
            results = {arch.key: metrics for arch, metrics in executor.run(hanging + waiting)}
    assert [results[a.key].reason for a in hanging] == [
        "timeout after 30 s (the executor's timeout_s)"
    ] * 2
    assert [(results[a.key].status, results[a.key].reason) for a in waiting] == [("ok", "")] * 2


def test_the_cluster_watch_checks_often_enough_to_tell_a_loss_before_ray_ends_the_driver(
    monkeypatch, no_ray
):
    """Ray ends a driver whose GCS is silent for its reconnect timeout; the watch gives the
    cluster up at half of it. Checks at most a quarter of that patience apart tell the loss
    by three quarters of Ray's timeout; 5 s apart, with Ray's timeout at 10 s, took up to 10."""
    from hwnas.evaluators.executors import _gcs_patience_s, _GcsWatch

    monkeypatch.delenv("RAY_gcs_rpc_server_reconnect_timeout_s", raising=False)
    assert _GcsWatch.check_interval_s() == 5.0  # Ray's default 60 s: patience 30 s
    for ray_timeout_s in (10, 2, 0.4):
        monkeypatch.setenv("RAY_gcs_rpc_server_reconnect_timeout_s", str(ray_timeout_s))
        patience = _gcs_patience_s()
        assert patience + 2 * _GcsWatch.check_interval_s() <= 0.75 * ray_timeout_s


def test_the_cluster_watch_ends_with_an_executor_dropped_unclosed_or_its_ray_shut_down(
    space, monkeypatch, capfd
):
    """A notebook cell `executor = RayExecutor(...)` run again drops the last executor without
    `close`; its watch thread ran on for good, and once the user shut their Ray down each
    such watch printed that "the search gives it up" in 30 s."""
    from hwnas.evaluators.executors import _GcsWatch

    monkeypatch.setattr(_GcsWatch, "CHECK_S", 0.1)
    dropped = RayExecutor(Scripted(space, {}))
    watch = dropped._gcs
    del dropped
    gc.collect()
    _wait_until(lambda: not watch._thread.is_alive(), "the dropped executor's watch ending", 20)
    kept = RayExecutor(Scripted(space, {}))  # open, idle, while the user shuts Ray down
    ray.shutdown()
    _wait_until(lambda: not kept._gcs._thread.is_alive(), "the watch ending with Ray", 20)
    assert "does not answer" not in capfd.readouterr().err


def test_an_embedded_ray_takes_the_container_cpus_and_ignores_a_second_ctrl_c_at_shutdown(
    space, own_ray, monkeypatch, request
):
    """On a host with 8 cores, a container allowed 1 CPU must not start 8 parallel trainings.
    A user pressing Ctrl-C again while the executor closes stopped Ray's shutdown half-way
    (exit status 1 and Ray processes left running); the handlers come back after. The
    settings `ray.init` changes come back too: a notebook's `breakpoint()` afterwards waited
    for a debugger to attach to Ray's, the `ray` logger stayed at hwnas's level, Ray's
    fault handler stayed on and Ray's SIGTERM handler stayed set (a service's SIGTERM then
    raised SystemExit in whatever its main thread ran). One test, one embedded Ray: starting
    one costs seconds."""
    from ray._private import utils

    if faulthandler.is_enabled():  # pytest's, on again after the test
        faulthandler.disable()
        request.addfinalizer(lambda: faulthandler.enable(sys.__stderr__))
    monkeypatch.delenv("PYTHONBREAKPOINT", raising=False)
    ray_logger = logging.getLogger("ray")
    monkeypatch.setattr(ray_logger, "level", logging.INFO)
    before = signal.signal(signal.SIGTERM, signal.SIG_DFL)  # the module's Ray left Ray's
    request.addfinalizer(lambda: signal.signal(signal.SIGTERM, before))

    monkeypatch.setattr(os, "cpu_count", lambda: 8)
    monkeypatch.setattr(utils, "_get_docker_cpus", lambda *args, **kwargs: 1.0)
    executor = RayExecutor(Scripted(space, {}))  # starts its own Ray: it shuts it down
    assert ray.cluster_resources()["CPU"] == 1
    assert "PYTHONBREAKPOINT" in os.environ and ray_logger.level == logging.WARNING  # Ray's
    assert faulthandler.is_enabled()  # Ray's
    assert signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL  # Ray's
    shutdown = ray.shutdown

    def interrupted_shutdown(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGINT)  # the second Ctrl-C
        time.sleep(0.2)  # delivered here, between bytecodes
        shutdown(*args, **kwargs)

    monkeypatch.setattr(ray, "shutdown", interrupted_shutdown)
    executor.close()
    assert not ray.is_initialized()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    assert "PYTHONBREAKPOINT" not in os.environ and ray_logger.level == logging.INFO
    assert not faulthandler.is_enabled()
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


def test_an_embedded_ray_keeps_a_ray_logger_the_caller_quietened(space, own_ray, monkeypatch):
    """A program that set `logging.getLogger("ray").setLevel(logging.ERROR)` still got Ray's
    warnings (its token-authentication one) during a search: hwnas started Ray with the
    logger at WARNING. Its level stays the caller's where that is higher."""
    ray_logger = logging.getLogger("ray")
    monkeypatch.setattr(ray_logger, "level", logging.ERROR)
    with RayExecutor(Scripted(space, {}, trains=False)):
        assert ray_logger.level == logging.ERROR
    assert ray_logger.level == logging.ERROR


@pytest.mark.skipif(
    not hasattr(os, "sched_setaffinity") or len(os.sched_getaffinity(0)) < 2,
    reason="needs a CPU affinity of two cores or more to narrow",
)
def test_an_embedded_ray_takes_the_cpus_this_process_may_run_on(space, own_ray):
    """`taskset -c 0 hwnas search` on a 2-core machine started a Ray of 2 CPUs: its workers,
    held to the one core as the driver is, ran two trainings there at once, each at half
    speed. The embedded Ray now counts the cores of the process's CPU affinity."""
    allowed = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {min(allowed)})  # this thread's, which Ray's processes inherit
    try:
        executor = RayExecutor(Scripted(space, {}, trains=False))
    finally:
        os.sched_setaffinity(0, allowed)
    with executor:
        assert ray.cluster_resources()["CPU"] == 1
        assert executor.max_in_flight == 1


#: a program that evaluates one architecture on an embedded Ray and prints its status
_ONE_EVALUATION = """
from hwnas.evaluators import Metrics, RayExecutor
from hwnas.spaces import get_space

class Done:
    space = get_space('conv1d')
    def evaluate(self, arch, budget=None):
        return Metrics({'done': 1.0})

with RayExecutor(Done(), max_in_flight=1) as executor:
    [(_, metrics)] = executor.run([Done.space.sample(0)])
print(metrics.status, metrics.reason)
"""


_AS_LIMIT = 4 << 30  # `ulimit -v 4194304`, as a shared server or a batch scheduler may set


def _ray_default_object_store() -> int:
    """The object store Ray sizes from the machine's memory (0 where Ray cannot say)."""
    from hwnas.evaluators.ray_runtime import _rays_own

    return _rays_own(lambda u, _: u.resolve_object_store_memory(u.estimate_available_memory())) or 0


@pytest.mark.skipif(sys.platform == "win32", reason="no address-space limit on Windows")
@pytest.mark.skipif(
    _ray_default_object_store() <= _AS_LIMIT // 2,
    reason="Ray's own object store fits the limit on this machine",
)
def test_an_embedded_ray_starts_under_an_address_space_limit(ray_temp_dir, no_ray):
    """Under `ulimit -v 4194304` (4 GB) an embedded Ray's raylet could not map the object
    store Ray sizes from the machine's memory (6.8 GB here): after a minute `hwnas search`
    ended with "The current node timed out during startup", no word of memory. The store is
    now sized within the limit, and the evaluation runs."""
    import resource

    hard = resource.getrlimit(resource.RLIMIT_AS)[1]
    limit = _AS_LIMIT if hard == resource.RLIM_INFINITY else min(_AS_LIMIT, hard)
    done = subprocess.run(
        [sys.executable, "-c", _ONE_EVALUATION],
        capture_output=True,
        text=True,
        env={**os.environ, "RAY_TMPDIR": str(ray_temp_dir)},
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_AS, (limit, hard)),
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "ok"


#: how a container differs from this machine, as set up in a mount namespace of its own
#: (root's `unshare`): Docker's 64 MB /dev/shm, and a CPU quota (`docker run --cpus 1`,
#: seen by Ray in cgroup v2's cpu.max)
_CONTAINERS = {
    "a 64 MB /dev/shm": "mount -t tmpfs -o size=64m tmpfs /dev/shm",
    "a quota of one CPU": (
        "mount -t tmpfs tmpfs /sys/fs/cgroup && echo '100000 100000' > /sys/fs/cgroup/cpu.max"
    ),
}


def _in_container(container: str) -> list[str] | None:
    """The command prefix that runs a command in `container`, or None where it cannot be set
    up here."""
    prefix = ["unshare", "-m", "--propagation", "private", "sh", "-c"]
    script = f'{_CONTAINERS[container]} && exec "$@"'
    try:
        probe = subprocess.run([*prefix, script, "sh", "true"], capture_output=True, timeout=30)
    except OSError:
        return None
    return [*prefix, script, "sh"] if probe.returncode == 0 else None


@pytest.mark.parametrize(
    ("container", "warning"),
    [
        ("a 64 MB /dev/shm", "instead of /dev/shm"),
        ("a quota of one CPU", "Detecting docker specified CPUs"),
    ],
)
def test_an_embedded_ray_starts_without_rays_container_warnings(
    container: str, warning: str, ray_temp_dir, no_ray
) -> None:
    """In a container, every search on an embedded Ray began with a warning of Ray's that
    said nothing true of hwnas: with Docker's 64 MB /dev/shm, "The object store is using
    /tmp/ray instead of /dev/shm ... This will harm performance! ... '--shm-size=7.63gb'",
    though hwnas's store holds only the evaluator; with a CPU quota, "Detecting docker
    specified CPUs. In previous versions of Ray, CPU detection in containers was incorrect
    ...". The search now starts without them, and runs."""
    command = _in_container(container)
    if command is None or (container == "a quota of one CPU" and (os.cpu_count() or 1) < 2):
        pytest.skip(f"no {container} to be had here")
    done = subprocess.run(
        [*command, sys.executable, "-c", _ONE_EVALUATION],
        capture_output=True,
        text=True,
        env={**os.environ, "RAY_TMPDIR": str(ray_temp_dir)},
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "ok"
    assert warning not in done.stderr, done.stderr


_FORKED_CHILD = """
import multiprocessing
from hwnas.evaluators import Metrics, RayExecutor
from hwnas.spaces import get_space

class Done:
    space = get_space('conv1d')
    def evaluate(self, arch, budget=None):
        return Metrics({'done': 1.0})

def child(conn):
    try:
        RayExecutor(Done(), num_cpus=1).close()
        conn.send('connected')
    except RuntimeError as e:
        conn.send(str(e))

def forked():
    fork = multiprocessing.get_context('fork')
    here, there = fork.Pipe()
    process = fork.Process(target=child, args=(there,))
    process.start()
    said = here.recv() if here.poll(30) else 'hung'
    process.join(5)
    if process.is_alive():  # deaf to SIGTERM while Ray waits
        process.kill()
        process.join()
    return said

with RayExecutor(Done(), num_cpus=1, max_in_flight=1) as executor:
    [(_, metrics)] = executor.run([Done.space.sample(0)])
    print(forked())
print(forked())
"""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork on Windows")
def test_a_process_forked_from_one_that_used_ray_is_refused_ray(ray_temp_dir, no_ray) -> None:
    """A `multiprocessing.Pool` (Linux's default start method, fork) of a program that had
    run a search on Ray: a worker's `RayExecutor` blocked for ever at its first call to the
    parent's Ray, and after that Ray's shutdown, in `ray.init` (Ray's connection does not
    survive a fork), both deaf to SIGTERM, so the pool's `terminate` hung too. Such a
    process is now refused Ray at once, saying what to do."""
    done = subprocess.run(
        [sys.executable, "-c", _FORKED_CHILD],
        capture_output=True,
        text=True,
        env={**os.environ, "RAY_TMPDIR": str(ray_temp_dir)},
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    said = done.stdout.splitlines()
    assert len(said) == 2, done.stdout  # while the parent's Ray runs, and after it
    for line in said:
        assert line.startswith("this process was forked from one that used Ray (pid "), line
        assert "multiprocessing.get_context('spawn')" in line


@pytest.mark.parametrize("change", ["gone", "another signature"])
@pytest.mark.parametrize(
    ("sized_by", "helper"),
    [("_usable_cpus", "get_num_cpus"), ("_object_store_bytes", "resolve_object_store_memory")],
)
def test_an_embedded_ray_is_sized_as_ray_sizes_it_where_its_private_helpers_changed(
    sized_by: str, helper: str, change: str, monkeypatch: pytest.MonkeyPatch, no_ray
) -> None:
    """The CPU count and the object store size read private Ray helpers (`ray._private`),
    which a later Ray may move or change: every search on Ray would then stop at its start
    on an ImportError or a TypeError. Without them Ray sizes itself (None), as before either
    was read."""
    import resource

    from ray._private import utils

    from hwnas.evaluators import ray_runtime

    monkeypatch.setattr(resource, "getrlimit", lambda which: (4 << 30, 4 << 30))
    if change == "gone":
        monkeypatch.delattr(utils, helper)
    else:
        monkeypatch.setattr(utils, helper, lambda: 1)
    assert getattr(ray_runtime, sized_by)() is None


def _ray_processes(parent: int | None = None) -> list[int]:
    """The PIDs of the Ray processes (GCS, raylet) this process (or `parent`) started, from
    Linux's /proc."""
    parent = os.getpid() if parent is None else parent
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:  # ended meanwhile
            continue
        name, fields = text[text.index("(") + 1 : text.rindex(")")], text[text.rindex(")") :]
        if name in ("gcs_server", "raylet") and int(fields.split()[2]) == parent:
            pids.append(int(stat.parent.name))
    return pids


def test_a_runtime_environment_ray_cannot_set_up_stops_the_executor_with_the_cause(
    space, own_ray, ray_temp_dir
):
    """A `runtime_env` naming a conda environment the machine lacks failed every candidate
    with Ray's first line only, "Failed to set up runtime environment.", stored as final, so
    a resume once the environment was mended did not evaluate them again."""
    _start_local_ray(ray_temp_dir, runtime_env={"conda": "hwnas-no-such-environment"})
    archs = [space.sample(i) for i in range(3)]
    with RayExecutor(Scripted(space, {}, trains=False)) as executor:
        results = executor.run(archs)
        with pytest.raises(RuntimeError, match=r"set up the workers' runtime environment \(\w"):
            next(results)
        assert executor.in_flight == 0


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads Linux's /proc")
def test_a_ctrl_c_while_the_embedded_ray_starts_leaves_no_ray_running(space, own_ray):
    """A notebook's interrupt (Ctrl-C) while `ray.init` started the embedded Ray left its
    processes running and out of reach (`ray.is_initialized()` False) for as long as the
    kernel lived, and the next search started another Ray beside them. The interrupt now
    comes once that Ray is up, and the Ray is shut down."""

    def interrupt_as_ray_starts() -> None:
        _wait_until(lambda: bool(_ray_processes()), "Ray's processes starting")
        os.kill(os.getpid(), signal.SIGINT)

    interrupter = threading.Thread(target=interrupt_as_ray_starts)
    interrupter.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            RayExecutor(Scripted(space, {}))
    finally:
        interrupter.join()
    assert not ray.is_initialized()
    _wait_until(lambda: not _ray_processes(), "the interrupted Ray's processes ending", 60)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


#: the start of a child process's script: an evaluator of one constant metric, and `stop`, a
#: signal handler that stops as Ctrl-C does (as `run_experiment`'s SIGTERM and SIGHUP do)
CHILD_WITH_STOP = """
import signal, sys, threading
from hwnas.evaluators import Metrics, RayExecutor, ray_runtime
from hwnas.spaces import get_space

class Constant:
    space = get_space("nasbench201")

    def evaluate(self, arch, budget=None):
        return Metrics({"x": 1.0})

def stop(signum, frame):
    raise KeyboardInterrupt(signum)
"""

#: a process that stops on the signal `argv[1]` as on Ctrl-C, starting an embedded Ray; it
#: says when it stopped, and lives on until its stdin closes
STOPPED_WHILE_RAY_STARTS = (
    CHILD_WITH_STOP
    + """
signal.signal(int(sys.argv[1]), stop)
try:
    RayExecutor(Constant())
except KeyboardInterrupt:
    print("stopped", flush=True)
sys.stdin.read()
"""
)


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads Linux's /proc")
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_a_sigterm_or_sighup_while_the_embedded_ray_starts_leaves_no_ray_running(
    signum, no_ray, ray_temp_dir
):
    """A SIGTERM or SIGHUP that the process stops on as on Ctrl-C (`run_experiment` does),
    arriving while `ray.init` started the embedded Ray, stopped the start half-way (Ray's
    own SIGTERM handler raised SystemExit in it) and left Ray's GCS running out of reach for
    as long as the process lived. Now the signal comes once that Ray is up and shut down,
    and to the process's handler: Ray's shutdown had reset SIGTERM to the system's default,
    which killed the process."""
    env = {**os.environ, "RAY_TMPDIR": str(ray_temp_dir)}
    child = subprocess.Popen(
        [sys.executable, "-c", STOPPED_WHILE_RAY_STARTS, str(int(signum))],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env={**env, "RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "disabled"},
    )
    try:
        _wait_until(lambda: bool(_ray_processes(child.pid)), "Ray's processes starting")
        child.send_signal(signum)
        assert child.stdout.readline() == "stopped\n"
        _wait_until(lambda: not _ray_processes(child.pid), "the stopped Ray's processes ending", 60)
        child.stdin.close()
        assert child.wait(timeout=60) == 0
    finally:
        child.kill()
        child.wait()


def _sends_bytes(listening: socket.socket, accepted: list[socket.socket]) -> bool:
    """Whether a connection to `listening` (each accepted into `accepted`) has sent bytes:
    `ray.init` trying the port (gRPC's greeting), not hwnas's own check that something
    listens there, which closes without a word."""
    if select.select([listening], [], [], 0)[0]:
        accepted.append(listening.accept()[0])
    return any(select.select([c], [], [], 0)[0] and c.recv(1, socket.MSG_PEEK) for c in accepted)


#: a process that stops on SIGTERM as on Ctrl-C, joining the cluster at `argv[1]`; it says
#: whether Ray was still trying to join, and what asking for Ray again (embedded, and at that
#: address) then says
STOPPED_WHILE_JOINING = (
    CHILD_WITH_STOP
    + """
signal.signal(signal.SIGTERM, stop)
ray_runtime._gcs_problem = lambda address, timeout_s: None  # to ray.init at once: a silent
try:  # port passes the GCS check only when its timeout ends
    RayExecutor(Constant(), address=sys.argv[1])
except KeyboardInterrupt:
    joining = any(t.name == "hwnas-ray-join" and t.is_alive() for t in threading.enumerate())
    print("stopped while Ray still tried" if joining else "stopped after Ray gave up")
ray_runtime.check_reachable = lambda address: print("the address checked again")
for again in ({}, {"address": sys.argv[1]}):
    try:
        RayExecutor(Constant(), **again)
    except RuntimeError as e:
        print(e)
"""
)


@pytest.mark.skipif(sys.platform == "win32", reason="SIGTERM cannot be handled on Windows")
def test_a_sigterm_while_joining_a_port_that_is_no_ray_cluster_stops_at_once(no_ray):
    """A SIGTERM that the process stops on, arriving while it joins a cluster at a port that
    accepts connections but is no Ray GCS (a mistyped port), was held until `ray.init` gave
    up, about 14 minutes later: `timeout 120 hwnas search --address host:WRONG` ran on. Then
    it waited for Ray's try under way, about 40 s, the main thread blocked in it: the join
    now runs in a thread of its own, so the signal comes while Ray still tries. Another Ray
    is refused while that join goes on, before any address is checked (the GCS check waits
    5 s at a silent port), and Ray's warning of a start off the main thread is not shown."""
    with socket.socket() as silent:  # accepts, never answers
        silent.bind(("0.0.0.0", 0))  # Ray tries the port at this machine's address
        silent.listen(8)
        address = f"127.0.0.1:{silent.getsockname()[1]}"
        env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "disabled"}
        child = subprocess.Popen(
            [sys.executable, "-c", STOPPED_WHILE_JOINING, address],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        accepted: list[socket.socket] = []
        try:
            _wait_until(lambda: _sends_bytes(silent, accepted), "ray.init connecting")
            child.send_signal(signal.SIGTERM)
            out, err = child.communicate(timeout=180)  # a cap far below Ray's 14 minutes
        finally:
            child.kill()
            child.wait()
            for connection in accepted:
                connection.close()
    refused = (
        "an interrupted join of a Ray cluster is still being tried by Ray in this process (it "
        "gives up after some minutes); restart the process (a notebook's kernel) to use Ray "
        "now, and check the cluster's address"
    )
    assert out.splitlines() == ["stopped while Ray still tried", refused, refused]
    assert "SIGTERM handler is not set" not in err


#: a process with a SIGTERM handler of its own that joins a cluster, then takes a SIGTERM;
#: its `ray.init` sets a handler of the signal beneath Python's that writes to stderr and hands
#: the signal on, as Ray's core worker does as it connects (faulthandler's, in its stead)
SIGTERM_AFTER_A_JOIN = (
    CHILD_WITH_STOP
    + """
import faulthandler, os, time, ray
signal.signal(signal.SIGTERM, stop)
ray_runtime.check_reachable = lambda address: None
ray.init = lambda **settings: faulthandler.register(signal.SIGTERM, chain=True)
ray_runtime.connect("127.0.0.1:6379", None)
try:
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(60)
except KeyboardInterrupt:
    print("stopped")
"""
)


@pytest.mark.skipif(sys.platform == "win32", reason="SIGTERM cannot be handled on Windows")
def test_a_sigterm_after_a_join_goes_to_the_callers_handler_alone(no_ray):
    """Joined in a thread of its own (`_join_cluster`), Ray's core worker kept the handler of
    SIGTERM it sets beneath Python's as it connects: a program with a SIGTERM handler of its
    own that made a RayExecutor by address printed six lines of Ray's "*** SIGTERM received
    at time=... PC: @ ..." at each SIGTERM, before its handler ran. The caller's handler is
    set again once Ray has joined, as after an embedded Ray's start."""
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "disabled"}
    child = subprocess.run(
        [sys.executable, "-c", SIGTERM_AFTER_A_JOIN],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert child.stdout == "stopped\n", child.stderr
    assert "most recent call first" not in child.stderr


class _Shutdowns:
    """In `_StartedRay`'s stead for `_join_cluster`: counts the shutdowns of its join."""

    def __init__(self):
        self.count = 0

    def _shutdown(self):
        self.count += 1


def _interrupted_once(now: Callable[[], bool]) -> Callable[[], Iterator[None]]:
    """In `_sigterm_kept`'s stead around the wait for a join: a Ctrl-C once `now()`, as the
    signal's handler raises it in that wait, without a real signal's timing."""

    @contextmanager
    def interrupted() -> Iterator[None]:
        _wait_until(now, "the moment of the interrupt", 60)
        raise KeyboardInterrupt
        yield

    return interrupted


def test_a_join_ray_refuses_is_shut_down_and_its_error_raised(monkeypatch, no_ray):
    """A join that `ray.init` gave up is shut down (the caller's settings given back, as
    after any Ray) and raises Ray's error: it is no Ray joined."""
    from hwnas.evaluators import ray_runtime

    def refused(ray, settings):
        raise ConnectionError("Failed to connect to GCS")

    monkeypatch.setattr(ray_runtime, "_ray_init", refused)
    started = _Shutdowns()
    with pytest.raises(ConnectionError, match="^Failed to connect to GCS$"):
        ray_runtime._join_cluster(started, "127.0.0.1:6379")
    assert started.count == 1


@pytest.mark.parametrize("ray_answers", ["gives up", "joins"])
def test_an_interrupted_join_is_shut_down_by_its_thread_once_ray_answers(
    monkeypatch, no_ray, ray_answers
):
    """A Ctrl-C while Ray tries to join leaves the join to its thread: Ray is refused in the
    process meanwhile; once Ray gives up, or joins after all, the thread shuts that join
    down, and Ray may be asked for again."""
    from hwnas.evaluators import ray_runtime

    trying, answer = threading.Event(), threading.Event()

    def slow(ray, settings):
        trying.set()
        assert answer.wait(60), "the test letting Ray answer"
        if ray_answers == "gives up":
            raise ConnectionError("Failed to connect to GCS")

    monkeypatch.setattr(ray_runtime, "_ray_init", slow)
    monkeypatch.setattr(ray_runtime, "_sigterm_kept", _interrupted_once(trying.is_set))
    monkeypatch.setattr(ray_runtime, "_left_join", None)
    started = _Shutdowns()
    with pytest.raises(KeyboardInterrupt):
        ray_runtime._join_cluster(started, "127.0.0.1:6379")
    with pytest.raises(RuntimeError, match="^an interrupted join of a Ray cluster is still"):
        ray_runtime._check_no_join_left()
    assert started.count == 0  # its thread's to shut down, once Ray answers
    answer.set()
    ray_runtime._left_join.join(60)
    assert started.count == 1
    ray_runtime._check_no_join_left()  # refuses no Ray any more


def test_an_interrupt_once_ray_has_joined_shuts_the_join_down_at_once(monkeypatch, no_ray):
    """A Ctrl-C that comes once Ray has joined, before the wait for the join ends, leaves no
    join to a thread: the join is shut down at once, and the interrupt raised."""
    from hwnas.evaluators import ray_runtime

    joining: list[threading.Thread] = []

    def joined() -> bool:
        return bool(joining) and not joining[0].is_alive()

    monkeypatch.setattr(
        ray_runtime, "_ray_init", lambda ray, settings: joining.append(threading.current_thread())
    )
    monkeypatch.setattr(ray_runtime, "_sigterm_kept", _interrupted_once(joined))
    monkeypatch.setattr(ray_runtime, "_left_join", None)
    started = _Shutdowns()
    with pytest.raises(KeyboardInterrupt):
        ray_runtime._join_cluster(started, "127.0.0.1:6379")
    assert started.count == 1 and ray_runtime._left_join is None


def test_a_join_another_thread_leaves_meanwhile_refuses_ray_under_the_lock(monkeypatch, no_ray):
    """A join another thread leaves to Ray (interrupted) while this one checks its address
    refuses this one's Ray too: it is checked again once the lock is held."""
    from hwnas.evaluators import ray_runtime

    ends = threading.Event()
    still_trying = threading.Thread(target=ends.wait, daemon=True)
    monkeypatch.setattr(ray_runtime, "_left_join", None)
    monkeypatch.setattr(ray_runtime, "_started_ray", None)
    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(
        ray_runtime,
        "check_reachable",
        lambda address: setattr(ray_runtime, "_left_join", still_trying),
    )
    monkeypatch.setattr(ray_runtime, "_join_cluster", lambda *args: pytest.fail("joined"))
    still_trying.start()
    try:
        with pytest.raises(RuntimeError, match="^an interrupted join of a Ray cluster is still"):
            ray_runtime.connect("127.0.0.1:6379", None)
    finally:
        ends.set()


def test_local_is_a_new_embedded_ray_not_an_address_to_join(monkeypatch, no_ray):
    """`local`, Ray's own word for a new embedded cluster (`--address local`), starts the
    embedded Ray as no address does, with the CPUs asked for: no host:port to check or
    join."""
    from hwnas.evaluators import ray_runtime

    embedded = []
    monkeypatch.setattr(ray_runtime, "_started_ray", None)
    monkeypatch.setattr(ray_runtime, "_ray_process", ray_runtime._ray_process)
    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray_runtime, "_start_embedded", embedded.append)
    monkeypatch.setattr(ray_runtime, "_join_cluster", lambda *args: pytest.fail("joined"))
    assert ray_runtime.connect("local", 3) is not None and embedded == [3]


def test_executors_made_at_once_in_two_threads_share_one_embedded_ray(space, own_ray):
    """Two threads of a notebook or a service each made a RayExecutor: both started Ray, and
    one failed with Ray's "Perhaps you called ray.init twice by accident?" (the processes
    its start had begun left running); and the first executor closed shut Ray down under
    the other. Now they share the one Ray, which the last one closed shuts down."""
    archs = [space.sample(seed) for seed in range(4)]
    evaluator = Scripted(space, {arch.key: ("finish",) for arch in archs}, trains=False)
    ready = threading.Barrier(2)

    def make() -> RayExecutor:
        ready.wait()
        return RayExecutor(evaluator, max_in_flight=1, num_cpus=1)

    with ThreadPoolExecutor(2) as pool:
        first, second = [job.result() for job in [pool.submit(make), pool.submit(make)]]
    first.close()
    done = {arch.key: metrics for arch, metrics in second.run(archs)}
    assert done == {arch.key: Metrics({"done": 1.0}) for arch in archs}
    second.close()
    assert not ray.is_initialized()


def test_an_evaluator_module_the_workers_lack_is_named_with_the_call_that_ships_it(
    space, own_ray, ray_temp_dir, tmp_path
):
    """An evaluator class in the user's own module is pickled by reference: a worker on a
    machine without the module (here, one not given the module's folder on its path) cannot
    load it. The error names the `ray.init` call that ships the module, and that call made
    before the RayExecutor is enough."""
    (tmp_path / "driver_only.py").write_text(
        "from hwnas.evaluators import Metrics\n\n\n"
        "class Mine:\n"
        "    def __init__(self, space):\n"
        "        self.space = space\n\n"
        "    def evaluate(self, arch, budget=None):\n"
        "        return Metrics({'done': 1.0})\n"
    )
    sys.path.insert(0, str(tmp_path))
    try:
        import driver_only
    finally:
        sys.path.remove(str(tmp_path))  # before Ray starts: its workers get this path
    try:
        _start_local_ray(ray_temp_dir)
        with RayExecutor(driver_only.Mine(space)) as executor, pytest.raises(RuntimeError) as e:
            list(executor.run([space.sample(0)]))
        assert "(ModuleNotFoundError: No module named 'driver_only'); every machine" in str(e.value)
        shipping = "ray.init(address=..., runtime_env={'py_modules': [driver_only]})"
        assert shipping in str(e.value)
        ray.shutdown()
        _start_local_ray(ray_temp_dir, runtime_env={"py_modules": [driver_only]})
        with RayExecutor(driver_only.Mine(space)) as executor:
            [(_, metrics)] = list(executor.run([space.sample(0)]))
        assert metrics.ok, metrics
    finally:
        sys.modules.pop("driver_only", None)


class _Spaceless:
    """A user's evaluator that forgot its `space`."""

    def evaluate(self, arch, budget=None):
        raise ValueError("its own failure")


@pytest.mark.parametrize("executor", [RayExecutor, LocalExecutor])
def test_an_object_without_space_is_refused_before_any_ray_starts(space, own_ray, executor):
    """A RayExecutor left the embedded Ray it started running (nothing could close it), and a
    LocalExecutor met the missing `space` only when reporting the first failure, with an
    AttributeError in place of the evaluation's own error."""
    with pytest.raises(TypeError, match="_Spaceless is not an evaluator: it lacks `space`; "):
        executor(_Spaceless())
    named = _Spaceless()
    named.space = "conv1d"  # a name: failed candidates lost their costs without a word
    with pytest.raises(TypeError, match="_Spaceless.space must be a SearchSpace, not a str"):
        executor(named)
    assert not ray.is_initialized()

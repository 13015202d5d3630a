"""Latency measurement, profiles, lookup-table and learned predictors, and the latency CLI.

Everything runs for real on ONNX Runtime with a tiny space (tests/data/tiny_space.yaml) and
few timed runs, so a whole profile takes seconds; accuracy targets live in benchmarks/."""

from __future__ import annotations

import copy
import csv
import dataclasses
import errno
import functools
import json
import logging
import operator
import os
import re
import shlex
import signal
import subprocess
import sys
import time
import types
import warnings
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from importlib.metadata import version
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pandas as pd
import pytest
import torch
from cli_runner import cli_on_read_only, hwnas
from reproducible import python312_sum
from torch import nn

from hwnas.cli import main
from hwnas.experiments.shown import metric_text
from hwnas.predictors import (
    BackendError,
    LearnedPredictor,
    LUTPredictor,
    MeasurementError,
    PredictorError,
    ProfileError,
    TransferPredictor,
    build_profile,
    get_predictor,
    load_predictor,
    measure_latency,
    read_profile,
)
from hwnas.predictors.evaluation import fit_from_profile
from hwnas.predictors.measure import measure_latencies, summarize
from hwnas.predictors.onnx_export import export_onnx, node_scopes
from hwnas.predictors.onnx_precision import apply_precisions, layer_precisions
from hwnas.predictors.parts import build_part, metaformer_parts
from hwnas.predictors.profiling import _only_writer
from hwnas.predictors.repeatability import (
    REPEATABLE_TAU,
    RoundAgreement,
    round_agreement,
    unrepeatable_warning,
)
from hwnas.spaces import get_space, reparameterize, set_fake_quant
from hwnas.spaces.blocks import BlockConfig
from hwnas.spaces.space import LIBRARY

DATA = Path(__file__).parent / "data"
TINY = DATA / "tiny_space.yaml"
FAST = dict(warmup=1, runs=5, rounds=2)
PROFILE_FAST = dict(FAST, block_copies=2)


@pytest.fixture(scope="module")
def space():
    return get_space(TINY)


@pytest.fixture(scope="module")
def profile_path(space, tmp_path_factory):
    path = tmp_path_factory.mktemp("profile") / "tiny.csv"
    build_profile(space, path, samples=8, progress=False, **PROFILE_FAST)
    return path


def _float_model(space, arch):
    model = space.build(arch).eval()
    return set_fake_quant(reparameterize(model), False)


# -- measurement --------------------------------------------------------------------------------
def test_measurement_has_median_spread_and_fingerprint():
    model = nn.Sequential(nn.Conv1d(4, 8, 3, padding=1), nn.GELU())
    m = measure_latency(model, (4, 32), warmup=2, runs=20, rounds=3)
    assert m.median_ms > 0 and m.iqr_ms >= 0 and m.min_ms <= m.median_ms
    assert len(m.round_medians_ms) == 3 and m.variation >= 0 and 0 <= m.outliers <= 60
    assert (m.backend, m.precision, m.measured_precision) == ("onnxruntime-cpu", "fp32", "fp32")
    assert m.clock == "thread"  # one thread on a CPU backend: the thread's CPU time
    fp = m.fingerprint
    assert fp["threads"] == 1 and fp["batch_size"] == 1 and fp["precision"] == "fp32"
    assert fp["cpu"] and fp["cores"] >= 1 and fp["onnxruntime_version"] != "absent"


def test_the_summary_of_known_times_is_their_median_spread_and_outliers():
    # two rounds of five runs; sorted: 10 50 51 52 53 54 55 56 57 100, so the quartiles are
    # 51.25, 53.5 and 55.75 (linear), the IQR 4.5 and the Tukey fences 44.5 and 62.5
    times = np.array([[50.0, 51.0, 52.0, 53.0, 10.0], [54.0, 55.0, 56.0, 57.0, 100.0]])
    s = summarize(times)
    assert (s["median_ms"], s["iqr_ms"], s["min_ms"]) == (53.5, 4.5, 10.0)
    assert s["mean_ms"] == pytest.approx(53.8)
    assert s["round_medians_ms"] == (51.0, 56.0)  # a round's median, not its mean (43.2, 64.4)
    assert s["variation"] == pytest.approx(2.5 / 53.5)  # std / mean of the round medians
    assert s["outliers"] == 2  # 10 below the lower fence, 100 above the upper one


class _CountedLinear(nn.Linear):
    calls = 0  # on the class: the backend times a copy of the model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        type(self).calls += 1
        return super().forward(x)


def test_a_measurement_warms_up_then_times_rounds_of_runs():
    _CountedLinear.calls = 0  # a rerun in the same process starts from 0 too
    m = measure_latency(_CountedLinear(8, 8), (8,), backend="torch-cpu", warmup=4, runs=5, rounds=3)
    assert _CountedLinear.calls == 1 + 4 + 3 * 5  # a check that it runs, warm-up, timed runs
    assert len(m.round_medians_ms) == 3 and (m.warmup, m.runs, m.rounds) == (4, 5, 3)
    assert m.latency_ms == min(m.round_medians_ms)


@pytest.mark.parametrize(
    "settings, field",
    [
        ({"runs": 0}, "runs"),
        ({"rounds": 0}, "rounds"),
        ({"threads": 0}, "threads"),
        ({"threads": True}, "threads must be an integer >= 1, got True"),
        # torch's C int: every measurement failed on "Overflow when unpacking long"
        ({"threads": 2**40}, "threads must be an integer <= 2147483647, got 1099511627776"),
        ({"threads": 2, "clock": "thread"}, "threads=1"),
        ({"clock": "sundial"}, "sundial"),
    ],
)
def test_measurement_refuses_nonsense(settings, field):
    with pytest.raises(MeasurementError, match=field):
        measure_latency(nn.Linear(4, 4), (4,), **settings)


def test_the_auto_clock_times_several_threads_by_the_wall():
    # the CPU time of one thread would leave out the work of the others
    m = measure_latency(nn.Linear(4, 4), (4,), backend="torch-cpu", threads=2, **FAST)
    assert (m.clock, m.threads) == ("wall", 2)


def test_the_auto_clock_times_a_gpu_by_the_wall():
    """A GPU's work is no CPU time of the thread that launches it: one thread on torch-cuda
    is timed by the wall clock too (named so by `status` and an exported config)."""
    from hwnas.predictors.fingerprint import auto_clock

    assert auto_clock("torch-cuda", 1) == "wall"
    assert auto_clock("torch-cpu", 2) == "wall"


def test_the_auto_clock_on_windows_is_the_wall(monkeypatch):
    """Windows's thread clock (GetThreadTimes) advances in 15.6 ms ticks: a model that runs
    in well under that measured 0 ms or 15.6 ms per run. There `auto` takes the wall clock
    and `thread` is refused (simulated: the clock info Python reports on Windows)."""
    info = time.get_clock_info

    def windows_info(name: str) -> types.SimpleNamespace:
        if name == "thread_time":
            return types.SimpleNamespace(implementation="GetThreadTimes()", resolution=1e-07)
        return info(name)

    monkeypatch.setattr(time, "get_clock_info", windows_info)
    assert measure_latency(nn.Linear(4, 4), (4,), **FAST).clock == "wall"
    with pytest.raises(MeasurementError, match="clock: 'thread' .* on Windows"):
        measure_latency(nn.Linear(4, 4), (4,), clock="thread", **FAST)


def test_an_input_shape_with_an_empty_axis_or_no_size_is_refused():
    """Sizes that are no whole numbers were Python's bare ValueError ('x'), TypeError
    (None, or 4 without its tuple), or cut to a whole number unsaid (4.5)."""
    for shape in ((0,), (4, 0), (), (4, "x"), (4, None), 4, (4.5,), (True,)):
        with pytest.raises(MeasurementError, match="input_shape must be positive sizes"):
            measure_latency(nn.Linear(4, 4), shape)


def test_a_batch_no_memory_holds_is_named_by_its_setting():
    """torch's allocator said only "can't allocate memory: you tried to allocate 1.6e15
    bytes", naming no setting (`hwnas latency profile --batch-size 1e13` ended so)."""
    with pytest.raises(
        MeasurementError, match=r"batch_size 10000000000000: .*\(10000000000000, 40\)"
    ):
        measure_latency(nn.Linear(40, 4), (40,), batch_size=10**13)


@pytest.mark.parametrize("batch_size", [2**57, 2**58, 10**30])  # 2**57: 2**63 bytes
def test_a_batch_past_torchs_sizes_is_named_by_its_setting(batch_size):
    """Past the bytes torch counts, torch said "Storage size calculation overflowed" (2**58)
    or "Overflow when unpacking long long" with a C++ stack (`hwnas latency profile
    --batch-size` 10**30), naming no setting."""
    with pytest.raises(MeasurementError, match=rf"batch_size {batch_size}: .* more than this"):
        measure_latency(nn.Linear(16, 4), (16,), batch_size=batch_size)


def test_unknown_precision_and_backend_are_refused():
    with pytest.raises(MeasurementError, match="int4"):
        measure_latency(nn.Linear(4, 4), (4,), precision="int4")
    with pytest.raises(MeasurementError, match="unknown backend 'tpu'; choose from onnx"):
        measure_latency(nn.Linear(4, 4), (4,), backend="tpu")


class _Broken(nn.Module):
    def forward(self, x):
        raise RuntimeError("this model cannot run")


def test_model_that_fails_on_the_backend_names_backend_and_cause():
    with pytest.raises(BackendError, match="onnxruntime-cpu.*cannot run"):
        measure_latency(_Broken(), (4,), **FAST)
    with pytest.raises(BackendError, match="torch-cpu.*int8"):
        measure_latency(nn.Linear(4, 4), (4,), backend="torch-cpu", precision="int8", **FAST)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU message")
def test_torch_cuda_without_gpu_says_so():
    with pytest.raises(BackendError, match="no CUDA GPU"):
        measure_latency(nn.Linear(4, 4), (4,), backend="torch-cuda", **FAST)


def test_torch_cpu_backend_measures_eager():
    m = measure_latency(nn.Linear(8, 8), (8,), backend="torch-cpu", **FAST)
    assert m.median_ms > 0 and m.fingerprint["backend"] == "torch-cpu"


def test_a_measurement_leaves_the_callers_torch_random_numbers():
    """The timed input was drawn from torch's global generator: measuring a model in a
    seeded notebook moved its later `torch.rand` on."""
    model = nn.Linear(4, 4)
    torch.manual_seed(1)
    measure_latency(model, (4,), **FAST)
    drawn = torch.rand(4)
    torch.manual_seed(1)
    assert torch.equal(drawn, torch.rand(4))


def test_a_measurement_is_hashable_as_a_frozen_dataclass_is():
    """`hash(m)` of a measurement, a frozen dataclass, raised "unhashable type: 'dict'" (its
    fingerprint): no set of measurements, no measurement as a key. Equal ones hash equally;
    the fingerprint still tells measurements apart."""
    m = measure_latency(nn.Linear(8, 8), (8,), backend="torch-cpu", **FAST)
    same = dataclasses.replace(m, fingerprint=dict(m.fingerprint))
    elsewhere = dataclasses.replace(m, fingerprint={**m.fingerprint, "cpu": "another"})
    assert hash(same) == hash(m) and {m, same, elsewhere} == {m, elsewhere}
    assert elsewhere != m


def test_eager_torch_is_not_timed_under_a_default_device(request):
    """`torch.set_default_device("cpu")` (or a `with torch.device(...)` block) routes every
    torch call through a Python hook: a small conv network timed 1.8x slower, recorded as
    its latency with nothing to say so. Outside it, the same call measures."""
    model = nn.Linear(8, 8)
    request.addfinalizer(lambda: torch.set_default_device(None))
    torch.set_default_device("cpu")
    with pytest.raises(BackendError, match=r"'torch-cpu': a torch function mode is active"):
        measure_latency(model, (8,), backend="torch-cpu", **FAST)
    torch.set_default_device(None)
    with torch.device("cpu"), pytest.raises(BackendError, match="set_default_device"):
        measure_latency(model, (8,), backend="torch-cpu", **FAST)
    assert measure_latency(model, (8,), backend="torch-cpu", **FAST).median_ms > 0


@pytest.mark.parametrize("backend", ["onnxruntime-cpu", "torch-cpu"])
def test_a_model_measured_mid_training_is_measured_in_eval_mode_and_given_back_its_modes(backend):
    """A model measured in the middle of its training went on training in eval mode, its
    batch-norm statistics frozen; a module the caller keeps in eval mode stays so."""
    model = nn.Sequential(nn.Conv1d(4, 8, 3), nn.BatchNorm1d(8), nn.Dropout(0.5), nn.GELU())
    model[2].eval()
    seen = []
    model[1].register_forward_hook(lambda m, i, o: seen.append(m.training))
    measure_latency(model, (4, 16), backend=backend, **FAST)
    assert seen and not any(seen)  # every run (and the export's trace) in eval mode
    assert [m.training for m in model] == [True, True, False, True] and model.training


def test_torch_backend_times_each_float_precision_on_its_own_copy():
    model = nn.Sequential(nn.Conv1d(4, 8, 3), nn.GELU())
    weight = model[0].weight
    device = "cuda" if torch.cuda.is_available() else "cpu"
    floats = ["fp32", "fp16"] if device == "cuda" else ["fp32"]
    ms = measure_latencies(model, (4, 16), floats, backend=f"torch-{device}", **FAST)
    assert [m.precision for m in ms] == floats and all(m.median_ms > 0 for m in ms)
    assert model[0].weight is weight and weight.dtype == torch.float32  # the caller's model
    with pytest.raises(BackendError, match="torch-cpu' does not time fp16"):
        measure_latencies(model, (4, 16), ["fp32", "fp16"], backend="torch-cpu", **FAST)


def test_mixed_precision_mappings_with_the_same_precisions_are_measured_apart(monkeypatch):
    import hwnas.predictors.measure as measure

    timed, get_backend = [], measure.get_backend

    def recording_backend(name):
        backend = get_backend(name)
        runners = backend.runners

        def recording_runners(model, example, precisions, *args):
            timed.extend(precisions)
            return runners(model, example, precisions, *args)

        backend.runners = recording_runners
        return backend

    monkeypatch.setattr(measure, "get_backend", recording_backend)
    model = nn.Sequential(nn.Conv1d(4, 4, 1), nn.Conv1d(4, 8, 3))
    cheap_fp16, costly_fp16 = {"0": "fp16", "1": "fp32"}, {"0": "fp32", "1": "fp16"}
    ms = measure_latencies(model, (4, 16), [cheap_fp16, costly_fp16, dict(cheap_fp16)], **FAST)
    assert timed == [cheap_fp16, costly_fp16]  # two models, the repeated mapping once
    assert ms[0].round_medians_ms == ms[2].round_medians_ms
    with pytest.raises(MeasurementError, match=r"unknown precisions \['int4'\]"):
        measure_latencies(model, (4, 16), [{"0": "int4"}], **FAST)
    with pytest.raises(MeasurementError, match=r"layers the model lacks: \['nosuch'\]"):
        measure_latencies(model, (4, 16), [{"nosuch": "int8"}], **FAST)


def test_int8_is_real_qdq_and_w4a8_records_the_substitution():
    model = nn.Sequential(nn.Conv1d(8, 16, 3, padding=1), nn.GELU(), nn.Conv1d(16, 8, 1))
    graph = export_onnx(model.eval(), torch.randn(1, 8, 32))
    quantized = apply_precisions(graph, (1, 8, 32), "int8")
    ops = {n.op_type for n in quantized.graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops
    assert "QuantizeLinear" not in {n.op_type for n in graph.graph.node}
    m = measure_latency(model, (8, 32), precision="w4a8", **FAST)
    assert (m.precision, m.measured_precision) == ("w4a8", "int8")


def test_mixed_precision_quantizes_only_the_int8_blocks(space):
    arch = space.sample(0)
    changes = {k: "fp32" for k in arch if k.endswith(".precision")}
    changes["s0.b0.precision"] = "int8"
    model = _float_model(space, space.validate(arch.replace(**changes)))
    graph = export_onnx(model, torch.randn(1, *space.input_shape))
    quantized = apply_precisions(graph, (1, *space.input_shape), layer_precisions(model))
    produced_by = {o: n for n in quantized.graph.node for o in n.output}
    convs = set()
    for node in quantized.graph.node:
        if node.op_type != "Conv":
            continue
        weight_from_dq = produced_by.get(node.input[1]) is not None and (
            produced_by[node.input[1]].op_type == "DequantizeLinear"
        )
        in_int8_block = "stages.0.1" in node_scopes(node)
        assert weight_from_dq == in_int8_block, node.name
        convs.add(in_int8_block)
    assert convs == {True, False}  # convolutions inside and outside the int8 block were seen


def test_measurements_from_several_threads_all_succeed_and_leave_the_process_as_it_was(space):
    """torch's ONNX exporters are not thread-safe: measuring from threads of a notebook or a
    service failed most models ("GLOBALS.in_onnx_export must be False", or the model "fails
    in PyTorch" while another thread's dynamo export ran), and left stdout and stderr
    swallowed by an export's redirection and the `torch.onnx` logger at ERROR for good."""
    models = [_float_model(space, space.sample(seed)) for seed in range(3)]
    streams, onnx_level = (sys.stdout, sys.stderr), logging.getLogger("torch.onnx").level

    def measure(model, precision):
        return measure_latency(model, space.input_shape, precision=precision, **FAST)

    with ThreadPoolExecutor(6) as pool:
        jobs = [pool.submit(measure, m, p) for m in models for p in ("fp32", "int8")]
        measured = [job.result() for job in jobs]  # a failed measurement raises here
    assert all(m.median_ms > 0 for m in measured)
    assert (sys.stdout, sys.stderr) == streams
    assert logging.getLogger("torch.onnx").level == onnx_level


class _InterruptedWhileExportImports(nn.Module):
    """Ctrl-C while the dynamo exporter first imports `torch._dynamo`: the half-imported
    module makes torch's `except torch._dynamo.exc.UserError` raise an AttributeError in the
    interrupt's place. This forward does the same in the exporters' own tracing."""

    def forward(self, x):
        try:
            raise KeyboardInterrupt
        except torch.no_such_submodule.Error:  # raises AttributeError, hiding the interrupt
            return x


def test_a_ctrl_c_hidden_behind_an_exporter_error_stops_the_export_not_fails_it():
    """It said "Failed to export the model with torch.export" (a profile then ended with that
    error, and a model falling back to dynamo was recorded as failing to measure)."""
    with pytest.raises(KeyboardInterrupt):
        export_onnx(_InterruptedWhileExportImports(), torch.randn(1, 4))


# -- profiles -----------------------------------------------------------------------------------
def _expected_row_ids(space, samples_rows):
    ids = set()
    for part in metaformer_parts(space):
        precisions = ("fp32", "int8", "w4a8") if part.kind == "block" else ("fp32",)
        ids |= {f"{part.id}|{p}" for p in precisions}
    return ids | set(samples_rows)


def test_profile_has_every_part_and_arch_once(space, profile_path):
    profile = read_profile(profile_path)
    rows = profile.rows
    assert rows["row_id"].is_unique and (rows["status"] == "ok").all()
    archs = rows[rows["kind"] == "arch"]
    assert len(archs) == 8
    assert set(rows["row_id"]) == _expected_row_ids(space, archs["row_id"])
    w4a8 = rows[rows["row_id"].str.endswith("|w4a8")]
    assert len(w4a8) > 0 and (w4a8["measured_precision"] == "int8").all()
    assert (rows.loc[rows["kind"] == "block", "copies"] == 2).all()
    assert (rows["fp_cpu"] != "").all() and (rows["median_ms"] > 0).all()
    meta = json.loads(profile_path.with_suffix(".json").read_text())
    assert meta["space"] == "tiny" and meta["precisions"] == ["fp32", "int8", "w4a8"]


def test_the_parts_of_a_space_come_in_their_order_with_their_input_shapes(space):
    """Blocks first (per stage, width, option, expansion), the stem, the downsamples a stage
    needs (a stride, or another width), the heads, then each distinct input shape once as an
    overhead, in the order the network meets them: profiles measure parts in this order."""
    parts = [(p.id, p.input_shape) for p in metaformer_parts(space)]
    assert parts == [
        ("block|s0|w8|dwconv|k3|d1|e2", (8, 16)),
        ("block|s0|w8|dwconv|k3|d2|e2", (8, 16)),
        ("block|s0|w8|identity|kNone|dNone|e2", (8, 16)),
        ("block|s1|w8|dwconv|k3|d1|e2", (8, 8)),
        ("block|s1|w8|dwconv|k3|d2|e2", (8, 8)),
        ("block|s1|w8|identity|kNone|dNone|e2", (8, 8)),
        ("block|s1|w16|dwconv|k3|d1|e2", (16, 8)),
        ("block|s1|w16|dwconv|k3|d2|e2", (16, 8)),
        ("block|s1|w16|identity|kNone|dNone|e2", (16, 8)),
        ("stem", (1, 16)),
        ("downsample|s1|8->8", (8, 16)),
        ("downsample|s1|8->16", (8, 16)),
        ("head|w8", (8, 8)),
        ("head|w16", (16, 8)),
        ("overhead|1x16", (1, 16)),
        ("overhead|8x16", (8, 16)),
        ("overhead|8x8", (8, 8)),
        ("overhead|16x8", (16, 8)),
    ]


def test_the_stem_part_is_the_network_stem_for_a_wide_strided_kernel(tmp_path):
    spec = tmp_path / "wide.yaml"
    spec.write_text(TINY.read_text().replace("kernel: 3, stride: 1", "kernel: 5, stride: 2", 1))
    space = get_space(spec)
    assert (space.spec.stem.kernel, space.spec.stem.stride) == (5, 2)
    (stem,) = [p for p in metaformer_parts(space) if p.kind == "stem"]
    x = torch.randn(1, *space.input_shape)
    network = space.build(space.sample(0)).stem
    assert build_part(space, stem)(x).shape == network(x).shape


def test_a_stage_that_restricts_precisions_is_profiled_at_those_only(tmp_path):
    spec = tmp_path / "restricted.yaml"
    spec.write_text(
        "name: restricted\nversion: 1\nkind: metaformer\ninput: {channels: 1, length: 16}\n"
        "classes: 4\nstem: {width: 8, kernel: 3, stride: 1}\n"
        "block: {mixers: {dwconv: {kernels: [3], dilations: [1]}}, expansions: [2], "
        "precisions: [fp32, int8]}\n"
        "stages:\n  - {depth: [1], width: [8], stride: 1}\n"
        "  - {depth: [1], width: [8], stride: 2, block: {precisions: [fp32]}}\n"
    )
    # given as its file, as get_space, get_searcher and get_evaluator take it (it ended in an
    # AttributeError of a str)
    rows = build_profile(spec, tmp_path / "p.csv", samples=2, progress=False, **PROFILE_FAST).rows
    blocks = rows[rows["kind"] == "block"]
    stage = blocks["stage"].astype(int)
    assert set(blocks.loc[stage == 0, "precision"]) == {"fp32", "int8"}
    assert set(blocks.loc[stage == 1, "precision"]) == {"fp32"}
    assert (rows["kind"] == "arch").sum() == 2 and (rows["status"] == "ok").all()  # both archs


def _older_int8_notes(*reads) -> list[str]:
    """The notes of an older int8 quantization that `reads` (calls) warn."""
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        for read in reads:
            read()
    return [str(w.message) for w in said if "before 2026-12-07" in str(w.message)]


def _as_older(profile: Path, out: Path, keep=lambda row: True) -> Path:
    """A copy of `profile` at `out` as an hwnas before `int8_quantizer` wrote it, with the
    rows `keep` keeps (and their precisions in its metadata)."""
    with profile.open(newline="") as f:
        rows = [row for row in csv.DictReader(f) if keep(row)]
    with out.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    meta = json.loads(profile.with_suffix(".json").read_text())
    del meta["int8_quantizer"]
    measured = {p for row in rows for p in row["precision"].split("+")}
    meta["precisions"] = [p for p in meta["precisions"] if p in measured]
    out.with_suffix(".json").write_text(json.dumps(meta, indent=2) + "\n")  # as hwnas writes it
    return out


def test_a_profile_of_an_older_int8_quantization_says_once_to_measure_it_again(tmp_path):
    """Before each int8 conv quantized a bias of its own (`_own_initializers`), some int8
    convolutions of the untrained networks profiled ran as float kernels, timing int8 and
    w4a8 rows up to 2.9x slow, and nothing in a profile, or a predictor fitted on it, told one
    made then from one made since. A profile records the quantization it was measured with;
    one with int8 rows that records none says once to measure it again, and how, as do the
    predictors fitted on it; an older profile of fp32 rows says nothing."""
    from hwnas.predictors.precision_notes import INT8_QUANTIZER

    spec = tmp_path / "small.yaml"
    spec.write_text(
        "name: small\nversion: 1\nkind: metaformer\ninput: {channels: 1, length: 16}\n"
        "classes: 4\nstem: {width: 8, kernel: 3, stride: 1}\n"
        "block: {mixers: {dwconv: {kernels: [3], dilations: [1]}}, expansions: [2], "
        "precisions: [fp32, int8]}\nstages:\n  - {depth: [1], width: [8], stride: 1}\n"
    )
    settings = dict(samples=1, progress=False, **PROFILE_FAST)
    new = build_profile(spec, tmp_path / "new.csv", **settings)
    assert new.meta["int8_quantizer"] == INT8_QUANTIZER
    new_lut = LUTPredictor.from_profile(new.path).save(tmp_path / "new_lut.json")
    assert _older_int8_notes(lambda: read_profile(new.path), lambda: load_predictor(new_lut)) == []

    old = _as_older(new.path, tmp_path / "old.csv")
    old_lut = tmp_path / "old_lut.json"
    notes = _older_int8_notes(
        lambda: read_profile(old),
        lambda: read_profile(old),
        lambda: LUTPredictor.from_profile(old).save(old_lut),
        lambda: load_predictor(old_lut),
        lambda: load_predictor(old_lut),
    )
    assert len(notes) == 2, notes  # once a file
    command = f"`hwnas latency profile --space {spec} --precision fp32,int8 --samples 1 --seed 0"
    assert notes[0].startswith(f"{old}: its int8 latencies were measured by an hwnas before")
    assert f"measure them again: {command} --out NEW.csv`, with the other" in notes[0]
    assert notes[1].startswith(f"{old_lut}: its int8 latencies were measured by an hwnas")
    assert f"fit it again on {old.resolve()} measured again" in notes[1]

    fp32 = _as_older(new.path, tmp_path / "fp32.csv", lambda row: "int8" not in row["precision"])
    assert _older_int8_notes(lambda: read_profile(fp32)) == []
    # resumed, an older profile keeps its rows' quantization (they are not measured again),
    # and its file as it was where nothing is measured: a run pricing with the profile knows
    # it by its digest, and refused to go on once a null was written into it
    before = old.with_suffix(".json").read_bytes()
    assert build_profile(spec, old, **settings).int8_quantizer is None
    assert old.with_suffix(".json").read_bytes() == before


def test_a_learned_predictor_of_older_int8_parts_names_the_parts_profile_to_measure(tmp_path):
    """A learned predictor fitted with --parts prices blocks by that profile's table: the
    advice to measure an older int8 quantization again named only the networks' profile,
    fp32 alone here, as in the shipped `conv2d_learned.json`'s."""
    spec = tmp_path / "small.yaml"
    spec.write_text(
        "name: small\nversion: 1\nkind: metaformer\ninput: {channels: 1, length: 16}\n"
        "classes: 4\nstem: {width: 8, kernel: 3, stride: 1}\n"
        "block: {mixers: {dwconv: {kernels: [3, 5], dilations: [1]}}, expansions: [2, 4], "
        "precisions: [fp32, int8]}\nstages:\n  - {depth: [1, 2], width: [8], stride: 1}\n"
    )
    settings = dict(progress=False, **PROFILE_FAST)
    parts = build_profile(spec, tmp_path / "parts.csv", samples=0, **settings)
    old = _as_older(parts.path, tmp_path / "old.csv")
    archs = build_profile(spec, tmp_path / "archs.csv", samples=8, precisions=["fp32"], **settings)
    with pytest.warns(UserWarning, match=f"{old}: its int8 latencies were measured"):
        fitted = fit_from_profile(archs.path, "learned", parts=old)
    (note,) = _older_int8_notes(lambda: load_predictor(fitted.save(tmp_path / "learned.json")))
    assert f"on {archs.path.resolve()} and its --parts {old.resolve()} measured again" in note
    # fitted without --parts, its table is its networks' profile's: that profile alone is named
    both = _as_older(
        build_profile(spec, tmp_path / "both.csv", samples=8, **settings).path,
        tmp_path / "old_both.csv",
    )
    with pytest.warns(UserWarning, match=f"{both}: its int8 latencies were measured"):
        alone = fit_from_profile(both, "learned")
    (note,) = _older_int8_notes(lambda: load_predictor(alone.save(tmp_path / "alone.json")))
    assert f"fit it again on {both.resolve()} measured again (`hwnas latency" in note


def test_a_learned_predictor_records_the_int8_quantization_of_its_table(
    space, profile_path, tmp_path
):
    """A learned predictor prices int8 blocks from its lookup table: one made on a profile of
    this hwnas's int8 quantization records it (recording none, its file warned when loaded
    that its int8 latencies were measured before the fix), and one whose table is fitted from
    an older profile records none, whatever its networks' profile records."""
    from hwnas.predictors.precision_notes import INT8_QUANTIZER

    assert get_predictor("learned", space, profile=profile_path).int8_quantizer == INT8_QUANTIZER
    older = _as_older(profile_path, tmp_path / "older.csv")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the older profile's own note
        assert fit_from_profile(profile_path, "learned", parts=older).int8_quantizer is None


def test_an_int8_quantizer_recorded_as_text_is_read_as_none(profile_path, tmp_path):
    """`int8_quantizer: "2"` edited into a profile's metadata or a predictor file is no
    quantization this hwnas records: read as none (an earlier hwnas's file), its int8
    latencies are said to be measured again, not compared as text with a number."""
    edited = tmp_path / "edited.csv"
    edited.write_bytes(profile_path.read_bytes())
    meta = json.loads(profile_path.with_suffix(".json").read_text())
    edited.with_suffix(".json").write_text(json.dumps({**meta, "int8_quantizer": "2"}))
    lut = tmp_path / "lut.json"
    notes = _older_int8_notes(lambda: LUTPredictor.from_profile(edited).save(lut))
    assert read_profile(edited).int8_quantizer is None and len(notes) == 1
    lut.write_text(json.dumps({**json.loads(lut.read_text()), "int8_quantizer": "2"}))
    notes = _older_int8_notes(lambda: load_predictor(lut))
    assert load_predictor(lut).int8_quantizer is None and len(notes) == 1


def test_a_predictor_of_an_older_profile_without_int8_latencies_says_nothing(
    profile_path, tmp_path
):
    """An older profile of fp32 rows alone, of a space that allows int8, says nothing of the
    int8 quantization, and neither does the lookup table fitted on it: it prices no int8
    block (they are unpriced), so none was measured with the older quantization."""
    fp32 = _as_older(profile_path, tmp_path / "fp32.csv", lambda row: row["precision"] == "fp32")
    lut = tmp_path / "lut.json"
    notes = _older_int8_notes(
        lambda: LUTPredictor.from_profile(fp32).save(lut), lambda: load_predictor(lut)
    )
    assert notes == [] and "int8" in load_predictor(lut).unpriced_precisions()


def test_the_command_to_measure_an_archs_only_profile_again_measures_networks_only(
    profile_path, tmp_path
):
    """The command an older profile's note gives to measure it again keeps `--archs-only`
    where the profile measured whole networks only: without it, the new profile measured
    every part of the space too."""
    profile = tmp_path / "archs.csv"
    profile.write_bytes(profile_path.read_bytes())
    meta = json.loads(profile_path.with_suffix(".json").read_text())
    profile.with_suffix(".json").write_text(json.dumps({**meta, "archs_only": True}))
    assert " --archs-only --out NEW.csv`" in read_profile(profile).measure_again()
    assert "--archs-only" not in read_profile(profile_path).measure_again()


def test_a_profile_table_without_a_precision_column_is_read(tmp_path):
    """A hand-made table without the `precision` column (its rows' precisions are in their
    ids) is read and fitted as one with it: the check of its int8 rows' quantization reads
    the column only where the table has it (else a bare KeyError ended the read)."""
    rows = pd.read_csv(DATA / "tiny2d_ort.csv", dtype=str, keep_default_na=False)
    table = tmp_path / "hand.csv"
    rows.drop(columns=["precision"]).to_csv(table, index=False)
    table.with_suffix(".json").write_bytes((DATA / "tiny2d_ort.json").read_bytes())
    assert len(read_profile(table).rows) == len(rows)
    assert (
        LUTPredictor.from_profile(table).table
        == LUTPredictor.from_profile(DATA / "tiny2d_ort.csv").table
    )


def test_a_profile_without_its_metadata_is_kept_and_refused(space, tmp_path):
    out = tmp_path / "orphan.csv"
    out.write_text("row_id,kind\nblock|x,block\n")
    with pytest.raises(ProfileError, match="exists without its metadata file orphan.json"):
        build_profile(space, out, samples=0, progress=False, **PROFILE_FAST)
    assert out.read_text() == "row_id,kind\nblock|x,block\n"  # nothing deleted
    for garbage in ("{not json", "[" * 100_000):  # too deep: not a RecursionError
        out.with_suffix(".json").write_text(garbage)
        with pytest.raises(ProfileError, match="orphan.json: not valid JSON"):
            build_profile(space, out, samples=0, progress=False, **PROFILE_FAST)
        with pytest.raises(ProfileError, match="orphan.json: not valid JSON"):
            read_profile(out)


def test_a_metadata_file_that_is_a_folder_is_named_and_kept(space, tmp_path):
    """Resuming said the OS's bare "[Errno 21] Is a directory: 'p.json'", and reading
    the profile that its metadata file was missing."""
    settings = dict(samples=1, archs_only=True, progress=False, **PROFILE_FAST)
    out = tmp_path / "p.csv"
    build_profile(space, out, **settings)
    table = out.read_bytes()
    out.with_suffix(".json").unlink()
    out.with_suffix(".json").mkdir()
    with pytest.raises(ProfileError, match=r"p.json: cannot read: Is a directory; a profile"):
        build_profile(space, out, **settings)
    with pytest.raises(ProfileError, match=r"p.json: cannot read: Is a directory$"):
        read_profile(out)
    assert out.read_bytes() == table


@pytest.mark.parametrize(
    "setting, value",
    [("runs", 0), ("warmup", -1), ("batch_size", 0), ("threads", 0), ("seed", -5)],
)
def test_a_bad_measuring_setting_is_refused_before_anything_is_written(
    space, tmp_path, setting, value
):
    """Checked at the first measurement, after the metadata was written: the same command
    with the typo mended was refused as a profile with other settings. (A negative seed was
    numpy's "expected non-negative integer", naming no setting.)"""
    out = tmp_path / "p.csv"
    settings = dict(samples=1, archs_only=True, progress=False, **PROFILE_FAST)
    with pytest.raises(ProfileError, match=f"^{setting} must be an integer >= "):
        build_profile(space, out, **{**settings, setting: value})
    assert list(tmp_path.iterdir()) == []
    # a limit of -1 once dropped the last rows
    with pytest.raises(ProfileError, match="^limit must be an integer >= 1"):
        build_profile(space, out, limit=-1, **settings)
    assert len(build_profile(space, out, **settings).rows) == 1


@pytest.mark.parametrize(
    "setting, value",
    [
        ("samples", 2.5),
        ("samples", True),
        ("passes", 1.5),
        ("limit", 1.5),
        ("limit", 0),
        ("threads", True),
    ],
)
def test_a_count_the_cli_refuses_is_refused_by_build_profile_too(space, tmp_path, setting, value):
    """`hwnas latency profile` takes whole numbers only; `build_profile(samples=2.5)` measured
    3 networks and recorded 2.5 as the profile's samples, `samples=True` one, `threads=True`
    failed in torch after the profile's metadata was written, and a fractional `passes` or
    `limit` failed with Python's TypeError, naming no setting. `limit=0`, which `--limit 0`
    refuses, wrote a profile of no rows and returned it."""
    settings = dict(samples=1, archs_only=True, progress=False, **PROFILE_FAST)
    with pytest.raises(ProfileError, match=f"^{setting} must be an integer >= "):
        build_profile(space, tmp_path / "p.csv", **{**settings, setting: value})
    assert list(tmp_path.iterdir()) == []


def test_numpy_counts_build_profile_accepts_are_recorded(space, tmp_path):
    """`samples`, `seed` and `passes` may be numpy's integers (a count computed with numpy):
    they were checked and then failed to be written, with Python's bare "Object of type
    int64 is not JSON serializable", after the profile's folder and lock were made."""
    counts = dict(samples=np.int64(1), seed=np.int64(3), passes=np.int64(1))
    out = tmp_path / "p.csv"
    build_profile(space, out, archs_only=True, progress=False, **counts, **PROFILE_FAST)
    assert {k: read_profile(out).meta[k] for k in counts} == dict(samples=1, seed=3, passes=1)


def test_numpy_measuring_counts_are_taken_as_the_other_counts_are(space, tmp_path):
    """build_profile's threads, batch_size, timing counts and block_copies (and
    measure_latency's, a table's block_copies) take numpy's integers as its samples, seed
    and passes do, recorded as ints: np.int64(1) was refused as "threads must be an
    integer"."""
    counts = dict(threads=1, batch_size=1, warmup=1, runs=2, rounds=1)
    numpy_counts = {name: np.int64(value) for name, value in counts.items()}
    out = tmp_path / "p.csv"
    build_profile(
        space,
        out,
        samples=1,
        archs_only=True,
        progress=False,
        block_copies=np.int64(2),
        **numpy_counts,
    )
    recorded = {**counts, "block_copies": 2}
    assert {k: read_profile(out).meta[k] for k in recorded} == recorded
    table = LUTPredictor(space, {}, block_copies=np.int64(2))
    assert type(table.block_copies) is int  # as its file writes it: numpy's is no JSON
    measured = measure_latency(nn.Linear(4, 4), (4,), backend="torch-cpu", **numpy_counts)
    assert all(type(getattr(measured, name)) is int for name in counts)


def test_a_measuring_error_of_several_lines_is_written_on_one(space, tmp_path, monkeypatch):
    """A row is one line: a run killed inside a quoted error of several lines left a table
    that neither a resume nor a read could parse."""

    def cannot_run(*args, **kwargs):
        raise BackendError("cannot run this model:\n  at node Conv_3\n  (no kernel)")

    monkeypatch.setattr("hwnas.predictors.profiling.measure_latencies", cannot_run)
    out = tmp_path / "p.csv"
    rows = build_profile(space, out, samples=2, archs_only=True, progress=False, **FAST).rows
    assert list(rows["error"]) == ["cannot run this model: at node Conv_3 (no kernel)"] * 2
    assert len(out.read_text().splitlines()) == 1 + len(rows)


def test_a_metadata_file_that_is_not_this_profiles_is_kept_and_refused(space, tmp_path):
    settings = dict(samples=1, archs_only=True, progress=False, **PROFILE_FAST)
    mine = tmp_path / "mine.json"
    mine.write_text('{"my": "important config"}')
    with pytest.raises(ProfileError, match=r"mine.json: not profile metadata.*nothing was deleted"):
        build_profile(space, tmp_path / "mine.csv", **settings)
    other = tmp_path / "tiny2d_ort.json"  # another profile's metadata, its table moved away
    other.write_bytes((DATA / "tiny2d_ort.json").read_bytes())
    with pytest.raises(
        ProfileError, match=r"tiny2d_ort.json: the metadata of a profile with other"
    ):
        build_profile(space, other.with_suffix(".csv"), **settings)
    assert mine.read_text() == '{"my": "important config"}'
    assert other.read_bytes() == (DATA / "tiny2d_ort.json").read_bytes()
    left = sorted(f.name for f in tmp_path.iterdir() if f.suffix != ".lock")  # empty locks
    assert left == ["mine.json", "tiny2d_ort.json"]


def test_resuming_a_profile_measured_with_another_runtime_version_says_so(space, tmp_path):
    """The rows of two runtime versions mixed without a word (versions are no device field:
    a patch release seldom changes a latency, so this is said, not refused)."""
    out = tmp_path / "p.csv"
    settings = dict(samples=2, archs_only=True, progress=False, **PROFILE_FAST)
    build_profile(space, out, limit=1, **settings)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the same versions: nothing to say
        build_profile(space, out, limit=2, **settings)
    now = version("onnxruntime")
    out.write_text(out.read_text().replace(f",{now},", ",1.0.0,"))
    with pytest.warns(UserWarning, match=rf"measured with onnxruntime 1.0.0 \(now {now}\)"):
        assert len(build_profile(space, out, **settings).rows) == 2


def test_resuming_a_profile_that_records_no_space_digest_says_so(space, tmp_path):
    """A profile an earlier hwnas started (before its metadata held the space's digest) was
    resumed without a word, its rows taken to be of the space as it is now, though its YAML
    may have changed since."""
    out = tmp_path / "p.csv"
    settings = dict(samples=2, archs_only=True, progress=False, **PROFILE_FAST)
    build_profile(space, out, limit=1, **settings)
    meta = json.loads(out.with_suffix(".json").read_text())
    del meta["space_digest"]
    out.with_suffix(".json").write_text(json.dumps(meta))
    with pytest.warns(UserWarning, match="an earlier hwnas started this profile and recorded no"):
        assert len(build_profile(space, out, **settings).rows) == 2


def test_a_profile_is_never_written_through_a_link_planted_beside_it(space, tmp_path):
    """A profile written in a folder others can write (/tmp): its metadata, and its table
    rewritten without the failed rows, went through temporary files of fixed names
    (`p.json.tmp`, `p.csv.tmp`), so links planted under them had the file they point to
    written over."""
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    out = tmp_path / "p.csv"
    settings = dict(samples=2, archs_only=True, progress=False, **PROFILE_FAST)
    (tmp_path / "p.json.tmp").symlink_to(victim)
    build_profile(space, out, limit=1, **settings)
    with out.open(newline="") as f:
        header, *rows = list(csv.reader(f))
    rows[0][header.index("status")] = "failed"
    with out.open("w", newline="") as f:
        csv.writer(f).writerows([header, *rows])
    (tmp_path / "p.csv.tmp").symlink_to(victim)
    assert len(build_profile(space, out, retry_failed=True, **settings).ok) == 2
    assert victim.read_text() == "keep me"
    assert not out.is_symlink() and not out.with_suffix(".json").is_symlink()


def test_a_profile_whose_lock_file_name_is_too_long_is_refused_naming_it(space, tmp_path):
    """A profile of a 252-byte name, which fits, keeps NAME.csv.lock of 257 beside it: it was
    refused as "cannot write the profile there: File name too long" of the name given."""
    out = tmp_path / f"{'q' * 248}.csv"
    lock = f"'{out.name}.lock' is 257 bytes, more than the 255 a file name may have here"
    with pytest.raises(ProfileError, match=re.escape(f"{lock} (a profile keeps NAME.csv.lock")):
        build_profile(space, out, samples=2, archs_only=True, progress=False, **PROFILE_FAST)
    assert not list(tmp_path.iterdir())


def test_a_profile_resumes_with_its_precisions_given_in_another_order(space, tmp_path):
    """The same precisions in another order were refused as a profile with other settings."""
    out = tmp_path / "p.csv"
    settings = dict(samples=0, progress=False, **PROFILE_FAST)
    build_profile(space, out, limit=1, precisions=["fp32", "int8"], **settings)
    rows = build_profile(space, out, precisions=["int8", "fp32", "int8"], **settings).rows
    assert set(rows["precision"]) == {"fp32", "int8"} and rows["row_id"].is_unique
    with pytest.raises(ProfileError, match=r"precisions: \['fp32', 'int8'\] != \['int8'\]"):
        build_profile(space, out, precisions=["int8"], **settings)
    # the order draws the sampled networks' precisions: a resume keeps the profile's, so it
    # measures the networks the profile began with, not others
    settings = dict(samples=3, archs_only=True, progress=False, **PROFILE_FAST)
    whole = build_profile(space, tmp_path / "whole.csv", precisions=["fp32", "int8"], **settings)
    resumed = tmp_path / "resumed.csv"
    build_profile(space, resumed, limit=1, precisions=["fp32", "int8"], **settings)
    rows = build_profile(space, resumed, precisions=["int8", "fp32"], **settings).rows
    assert sorted(rows["row_id"]) == sorted(whole.rows["row_id"])


def test_an_empty_table_beside_its_metadata_is_measured_afresh(space, tmp_path):
    out = tmp_path / "p.csv"
    settings = dict(samples=2, archs_only=True, progress=False, **PROFILE_FAST)
    build_profile(space, out, limit=1, **settings)
    out.write_bytes(b"")  # its metadata written, no row yet
    rows = build_profile(space, out, **settings).rows
    assert len(rows) == 2 and (rows["status"] == "ok").all()


def test_the_progress_bar_counts_the_rows_it_writes(space, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)  # the bar is for terminals only
    out = tmp_path / "p.csv"
    settings = dict(samples=1, precisions=["fp32", "int8"], **PROFILE_FAST)

    def bar_counts() -> set[tuple[str, str]]:
        return set(re.findall(r"(\d+)/(\d+) \[", capsys.readouterr().err))

    build_profile(space, out, limit=5, **settings)
    assert bar_counts() >= {("0", "5"), ("5", "5")}  # 5 rows, where blocks have 2 each
    total = len(build_profile(space, out, passes=2, **settings).rows)
    left = str(total - 5)
    assert {t for _, t in bar_counts()} == {left}


def test_the_progress_bar_names_the_model_it_is_measuring(space, tmp_path, capsys, monkeypatch):
    """It named the one measured before: waiting on a slow export (an fft block's, through
    dynamo), it showed the previous block."""
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)  # the bar is for terminals only
    out, fp32 = tmp_path / "p.csv", ["fp32"]  # a row per model
    profile = build_profile(space, out, limit=2, samples=0, precisions=fp32, **PROFILE_FAST)
    first, second = (row_id.rsplit("|", 1)[0] for row_id in profile.rows["row_id"])
    bar = capsys.readouterr().err
    assert re.search(rf" 0/2 \[[^]]*pass 1/1 {re.escape(first)}\]", bar)
    assert re.search(rf" 1/2 \[[^]]*pass 1/1 {re.escape(second)}\]", bar)


def test_a_profile_named_in_capitals_is_written_and_read_as_one(space, tmp_path):
    """`--out p.CSV` was refused ("give a path ending in .csv"); written, the file is read
    as the profile it is wherever hwnas tells a profile from a predictor by its name."""
    from hwnas.predictors.precision_notes import measured_backend
    from hwnas.search.differentiable import latency_model

    out = tmp_path / "p.CSV"
    build_profile(space, out, samples=0, limit=2, progress=False, **PROFILE_FAST)
    assert {"p.CSV", "p.json"} <= {p.name for p in tmp_path.iterdir()}
    assert len(read_profile(out).rows) == 2
    assert isinstance(latency_model(str(out), space), LUTPredictor)  # not read as a predictor
    assert measured_backend(out) == "onnxruntime-cpu"
    with pytest.raises(ProfileError, match=r"p.json: the metadata file of the profile .*p.CSV"):
        read_profile(tmp_path / "p.json")


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="needs a folder where files cannot be made")
def test_a_profile_that_cannot_be_written_names_it(space):
    out = Path("/proc/nope.csv")
    with pytest.raises(ProfileError, match=r"^/proc/nope.csv: cannot write the profile there: "):
        build_profile(space, out, samples=1, archs_only=True, progress=False, **PROFILE_FAST)


def test_an_unusable_backend_is_refused_before_anything_is_written(space, tmp_path):
    out = tmp_path / "p.csv"
    with pytest.raises(ProfileError, match="unknown backend 'onnx'; choose from onnxruntime-cpu"):
        build_profile(space, out, backend="onnx", samples=0, progress=False)
    if not torch.cuda.is_available():
        with pytest.raises(ProfileError, match="'torch-cuda': no CUDA GPU is available"):
            build_profile(space, out, backend="torch-cuda", samples=0, progress=False)
    assert list(tmp_path.iterdir()) == []  # no profile left to block the corrected command


def test_eager_torch_is_refused_fp16_with_sampled_networks_whose_stem_stays_fp32():
    """A torch-cuda profile of fp16 lost every sampled network with an fp16 block (eager
    torch runs a model at one precision; the stem stays fp32), row by row; now refused up
    front, while its parts alone at fp16 are timed."""
    from hwnas.predictors.backends import get_backend
    from hwnas.predictors.profiling import _check_timed

    cuda = get_backend("torch-cuda")  # the check reads the settings, not the GPU
    _check_timed(cuda, ["fp32", "fp16"], samples=0)
    _check_timed(cuda, ["fp32"], samples=5)
    with pytest.raises(ProfileError, match="fp32 beside fp16 blocks; give --samples 0 to time"):
        _check_timed(cuda, ["fp32", "fp16"], samples=5)
    _check_timed(get_backend("onnxruntime-cpu"), ["fp32", "fp16", "int8"], samples=5)


def test_a_malformed_latency_is_refused_and_a_moved_profile_finds_its_space(tmp_path, monkeypatch):
    data = Path(__file__).parent / "data"
    for name in ("tiny2d_ort.csv", "tiny2d_ort.json", "tiny2d.yaml"):
        (tmp_path / name).write_bytes((data / name).read_bytes())
    monkeypatch.chdir(tmp_path)  # the metadata's relative space path does not resolve here
    profile = tmp_path / "tiny2d_ort.csv"
    assert LUTPredictor.from_profile(profile).predict([read_profile(profile).space().sample(0)])
    lines = profile.read_text().splitlines()
    cells = lines[1].split(",")
    cells[12], cells[16] = "abc", ""  # median_ms, round_medians_ms of an ok row
    profile.write_text("\n".join([lines[0], ",".join(cells), *lines[2:]]) + "\n")
    with pytest.raises(ProfileError, match=r"line 2: row 'block\|s0\|w8\|conv.*'abc'.* positive"):
        read_profile(profile)
    space = tmp_path / "tiny2d.yaml"  # given by mistake: was "its metadata ... is missing"
    with pytest.raises(ProfileError, match="tiny2d.yaml: not a profile .a .csv written by"):
        read_profile(space)


def test_a_profile_given_by_its_metadata_file_names_the_table(tmp_path, capsys):
    """It was read as the table and refused as "not a profile table, columns missing"."""
    metadata = DATA / "tiny2d_ort.json"
    said = f"{metadata}: the metadata file of the profile {DATA / 'tiny2d_ort.csv'}; give the"
    assert hwnas("latency", "fit", str(metadata), "-o", str(tmp_path / "o.json")) == 1
    assert said in capsys.readouterr().err
    assert not (tmp_path / "o.json").exists()


def test_a_fit_whose_write_fails_leaves_no_folder_it_made(tmp_path, capsys, monkeypatch):
    """`hwnas latency fit -o new/deeper/NAME.json` whose write failed (a full disk, made
    here: a name too long is refused before) said so, and left the empty folders
    `new/deeper` it had made for the file; a folder that was there before stays."""

    def full_disk(path):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr("hwnas.predictors.base.written_whole", full_disk)
    out = tmp_path / "new" / "deeper" / "p.json"
    assert hwnas("latency", "fit", str(DATA / "tiny2d_ort.csv"), "-o", str(out)) == 1
    said = f"{out}: cannot write the predictor there: {os.strerror(errno.ENOSPC)}"
    assert said in capsys.readouterr().err
    assert os.listdir(tmp_path) == []


def test_a_predictor_name_longer_than_its_folder_takes_is_refused_naming_it(tmp_path, capsys):
    """`save` (and `latency fit -o`, before fitting) of a name of more bytes than a file name
    may have ended in the OS's bare "[Errno 36] File name too long"."""
    out = tmp_path / f"{'p' * 5000}.json"
    said = f"'{out.name}' is 5005 bytes, more than the 255 a file name may have here"
    with pytest.raises(PredictorError, match=f"^{re.escape(f'{out}: {said}')}"):
        LUTPredictor.from_profile(DATA / "tiny2d_ort.csv").save(out)
    assert hwnas("latency", "fit", str(DATA / "tiny2d_ort.csv"), "-o", str(out)) == 1
    assert f"-o {out}: {said}" in capsys.readouterr().err
    assert os.listdir(tmp_path) == []


def test_a_path_of_short_names_longer_than_a_path_may_be_is_refused_naming_its_length(
    tmp_path, capsys
):
    """A path of more bytes than a path may have (PATH_MAX, 4096 on Linux), each of its names
    short enough, ended in the OS's bare "[Errno 36] File name too long" for `latency fit -o`
    and `status`, as an over-long name had before `name_too_long`."""
    deep = tmp_path.joinpath(*["d" * 200] * 21)
    out = deep / "p.json"
    said = f"the path is {len(os.fsencode(out))} bytes, more than the "
    assert hwnas("latency", "fit", str(DATA / "tiny2d_ort.csv"), "-o", str(out)) == 1
    assert f"-o {out}: {said}" in capsys.readouterr().err
    assert hwnas("status", str(deep)) == 1
    assert f"{deep}: no such run directory (the path is " in capsys.readouterr().err
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("stem", ["p" * 250, "\u00e9" * 125], ids=["ascii", "two-byte"])
def test_a_file_of_a_long_name_that_fits_is_written(tmp_path, stem):
    """A predictor (or report, profile...) of a 255-byte name that the folder takes was
    refused with "File name too long": its temporary file added the process ID and a random
    part to the name; now they replace its end, and no temporary file is left."""
    out = tmp_path / f"{stem}.json"
    LUTPredictor.from_profile(DATA / "tiny2d_ort.csv").save(out)
    assert load_predictor(out).kind == "lut"
    assert os.listdir(tmp_path) == [out.name]


@pytest.mark.parametrize("said", [-1, 0])
def test_a_folder_whose_name_limit_is_not_said_takes_the_usual_one(tmp_path, monkeypatch, said):
    """`os.pathconf` answers -1 where a file system sets no limit: taken as the limit, every
    name was "more than the -1 a file name may have here", and every `latency profile -o`
    and `hwnas train` was refused. (The answer is made here: no folder of this machine's
    gives it.)"""
    from hwnas.predictors.whole_files import NAME_MAX, name_max, name_too_long

    monkeypatch.setattr(os, "pathconf", lambda path, name: said)
    assert name_max(tmp_path) == NAME_MAX
    assert name_too_long(tmp_path / "p.csv.lock") is None


def _path_of_bytes(folder: Path, size: int, name: str = "d" * 100) -> Path:
    """A path in `folder` of `size` bytes, of names of `name` and a last one that fills it."""
    path = folder
    while len(os.fsencode(path / name)) + 2 < size:  # room for a last name of 1 byte or more
        path = path / name
    return path / ("p" * (size - len(os.fsencode(path)) - 1))


@pytest.mark.parametrize("said", [None, -1], ids=["the system's", "not said"])
@pytest.mark.parametrize("name", ["d" * 100, "\u00e9" * 100], ids=["ascii", "two-byte"])
def test_a_path_of_the_most_bytes_a_path_may_have_is_taken(tmp_path, monkeypatch, said, name):
    """A path may have PATH_MAX bytes but its ending NUL (4095 on Linux, and where the
    system does not say): a path of them is taken, one more byte is refused, counted in
    bytes as the OS counts them, not in characters."""
    from hwnas.predictors.whole_files import name_too_long

    most = 4095  # Linux's PATH_MAX, 4096, but the NUL: where the system does not say
    if said is None:
        most = os.pathconf(tmp_path, "PC_PATH_MAX") - 1
    else:
        monkeypatch.setattr(os, "pathconf", lambda path, limit: said)
    assert name_too_long(_path_of_bytes(tmp_path, most, name)) is None
    too_long = f"the path is {most + 1} bytes, more than the {most} a path may have here"
    assert name_too_long(_path_of_bytes(tmp_path, most + 1, name)) == too_long


def test_a_damaged_predictor_file_is_named(tmp_path):
    data = Path(__file__).parent / "data"
    saved = LUTPredictor.from_profile(data / "tiny2d_ort.csv").save(tmp_path / "lut.json")
    record = json.loads(saved.read_text())
    damaged = tmp_path / "damaged.json"
    damaged.write_text(json.dumps({k: v for k, v in record.items() if k != "table"}))
    with pytest.raises(PredictorError, match="damaged.json: not a valid lut predictor file"):
        load_predictor(damaged)
    for written in (99, True, 0):  # True was read as version 1
        damaged.write_text(json.dumps({**record, "format_version": written}))
        with pytest.raises(PredictorError, match=f"damaged.json: format_version {written!r}"):
            load_predictor(damaged)
    damaged.write_text(json.dumps({**record, "kind": "lookup"}))  # the error named no file
    with pytest.raises(PredictorError, match="damaged.json: unknown predictor kind 'lookup'"):
        load_predictor(damaged)
    for garbage in ("[" * 100_000, "9" * 5000):  # too deep, too many digits: not a traceback
        damaged.write_text(garbage)
        with pytest.raises(PredictorError, match="damaged.json: not a predictor file"):
            load_predictor(damaged)


def test_a_profile_given_as_a_predictor_says_it_is_a_profile(tmp_path, capsys, monkeypatch):
    """Its table was "not a predictor file (invalid JSON: ...)", its metadata "no 'kind'"."""
    table = DATA / "tiny2d_ort.csv"
    said = f"a file of the latency profile {table}, not a predictor file; give the profile as"
    for given in (table, DATA / "tiny2d_ort.json"):
        with pytest.raises(PredictorError, match=f"^{re.escape(f'{given}: {said}')}"):
            load_predictor(given)
    assert hwnas("latency", "eval", str(table), "--holdout", "2") == 1
    advised = re.search(r"`(hwnas latency fit .*?)`", capsys.readouterr().err)[1]
    monkeypatch.chdir(tmp_path)  # the advised command, pasted, fits (it lacked the needed -o)
    assert hwnas(*shlex.split(advised)[1:]) == 0
    assert load_predictor(tmp_path / "PREDICTOR.json").kind == "lut"


def test_a_profile_or_predictor_of_another_input_shape_is_refused(tmp_path):
    data = Path(__file__).parent / "data"
    larger = get_space(data / "tiny2d.yaml", input_shape=(1, 32, 32))  # profiled at 1x8x8
    with pytest.raises(PredictorError, match=r"input_shape \[1, 8, 8\].*\[1, 32, 32\]"):
        LUTPredictor.from_profile(data / "tiny2d_ort.csv", larger)
    saved = LUTPredictor.from_profile(data / "tiny2d_ort.csv").save(tmp_path / "lut.json")
    with pytest.raises(PredictorError, match="input_shape"):
        load_predictor(saved, space=larger)
    fewer = get_space(data / "tiny2d.yaml", num_classes=3)
    with pytest.raises(PredictorError, match="num_classes 10.* 3"):
        load_predictor(saved, space=fewer)


def test_a_limited_or_resumed_profile_says_so(space, tmp_path, capsys):
    """A --limit run ended on a full bar as if the profile were done; a resume restarted the
    bar at 0 without a word. Folders given as the profile are named as folders."""
    out = tmp_path / "p.csv"
    settings = dict(samples=0, precisions=["fp32"], **PROFILE_FAST)
    total = len(build_profile(space, tmp_path / "whole.csv", progress=False, **settings).rows)
    build_profile(space, out, limit=2, **settings)
    left = f"{out}: stopped by the limit with {total - 2} rows left to measure"
    assert left in capsys.readouterr().err
    build_profile(space, out, **settings)
    err = capsys.readouterr().err
    assert f"{out}: resuming, 2 rows measured before" in err and "stopped by" not in err
    with pytest.raises(ProfileError, match=f"{tmp_path}: is a folder, not a profile"):
        read_profile(tmp_path)
    with pytest.raises(ProfileError, match=r"^\.: is a folder, not a profile"):
        read_profile(".")  # was pathlib's "PosixPath('.') has an empty name" (and for "")
    (tmp_path / "folder.csv").mkdir()
    with pytest.raises(ProfileError, match="folder.csv: is a folder; give the profile's file"):
        build_profile(space, tmp_path / "folder.csv", **settings)


def test_more_threads_than_cores_warns_at_the_callers_line(space, tmp_path):
    """Threads beyond the cores compete and the latencies vary; the warning points at the
    line that asked for them, before anything is measured (limit 1 keeps the runs short)."""
    cores = len(os.sched_getaffinity(0))
    settings = dict(PROFILE_FAST, threads=cores + 1)
    with pytest.warns(UserWarning, match=f"threads: {cores + 1} is more than the {cores} cores"):
        build_profile(space, tmp_path / "p.csv", samples=0, limit=1, progress=False, **settings)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        build_profile(space, tmp_path / "p.csv", samples=0, limit=1, progress=False, **settings)
    assert [Path(w.filename).name for w in caught] == [Path(__file__).name]


def test_interrupted_profile_resumes_without_duplicates_or_gaps(space, tmp_path):
    out, whole = tmp_path / "resumed.csv", tmp_path / "whole.csv"
    settings = dict(samples=3, precisions=["fp32"], progress=False, **PROFILE_FAST)
    first = build_profile(space, out, limit=7, **settings)
    assert len(first.rows) == 7
    with out.open("a") as f:  # a run killed in the middle of writing a row
        f.write("block|s9|half-written")
    with pytest.warns(UserWarning, match=r"resumed.csv: line 9 is cut short .*: left out"):
        assert len(read_profile(out).rows) == 7
    resumed = build_profile(space, out, **settings)
    assert resumed.rows["row_id"].is_unique
    assert set(resumed.rows["row_id"]) == set(
        build_profile(space, whole, **settings).rows["row_id"]
    )
    again = build_profile(space, out, **settings)
    assert len(again.rows) == len(resumed.rows)
    # a whole last row without its newline (an editor dropped it) is a row, kept on resume
    out.write_bytes(out.read_bytes().rstrip(b"\n"))
    assert read_profile(out).rows["row_id"].tolist() == again.rows["row_id"].tolist()
    before = out.read_bytes()
    assert len(build_profile(space, out, **settings).rows) == len(again.rows)
    assert out.read_bytes() == before + b"\n"  # ended, not dropped and measured again
    lut = LUTPredictor.from_profile(out, space)
    arch = space.sample(1)
    int8 = arch.replace(**{k: "int8" for k in arch if k.endswith(".precision")})
    with pytest.raises(PredictorError, match="int8"):
        lut.predict([int8])


def test_a_profile_being_written_is_locked_on_windows_too(tmp_path, monkeypatch):
    """Python on Windows has no fcntl: `hwnas latency profile` failed there with "No module
    named 'fcntl'". It locks the profile with msvcrt's byte lock instead (simulated: a lock
    on a file's byte held once), and a second writer is refused as on Linux."""
    held = set()

    def locking(fd: int, mode: int, nbytes: int) -> None:
        assert mode == msvcrt.LK_NBLCK  # refused at once, never waited for
        byte = (os.fstat(fd).st_ino, os.lseek(fd, 0, os.SEEK_CUR), nbytes)
        if byte in held:
            raise PermissionError(13, "Permission denied")
        held.add(byte)

    msvcrt = types.ModuleType("msvcrt")
    msvcrt.LK_NBLCK, msvcrt.locking = 2, locking
    monkeypatch.setitem(sys.modules, "fcntl", None)  # `import fcntl` fails, as on Windows
    monkeypatch.setitem(sys.modules, "msvcrt", msvcrt)
    out = tmp_path / "p.csv"
    refused = pytest.raises(ProfileError, match=r"p.csv: another `hwnas latency profile` run")
    with _only_writer(out), refused, _only_writer(out):
        pass
    assert held == {(out.with_name("p.csv.lock").stat().st_ino, 0, 1)}


def test_a_failed_profile_run_leaves_no_folder_it_made_holding_only_its_lock(
    tmp_path, monkeypatch, capsys
):
    """`hwnas latency profile -o new/deeper/p.csv` stopped before it wrote anything there (a
    full disk at its metadata) left `new/deeper` holding only p.csv.lock, which is never
    removed: the folders it made go, with the lock. A lock in a folder that was there
    before stays, as does one beside what the run wrote (a profile to resume)."""

    def full_disk(path: Path, meta: dict) -> None:
        raise ProfileError(f"{path}: cannot write the profile there: No space left on device")

    monkeypatch.setattr("hwnas.predictors.profiling._write_metadata", full_disk)
    out = tmp_path / "new" / "deeper" / "p.csv"
    options = ["--samples", "0", "--limit", "1", "--block-copies", "2"]
    assert hwnas("latency", "profile", "--space", str(TINY), "--out", str(out), *options) == 1
    assert "No space left on device" in capsys.readouterr().err
    assert os.listdir(tmp_path) == []

    class Stop(Exception):
        """What stops the run."""

    there = tmp_path / "p.csv"  # in a folder that was there before
    with pytest.raises(Stop), _only_writer(there):
        raise Stop
    assert os.listdir(tmp_path) == ["p.csv.lock"]
    written = tmp_path / "new" / "p.csv"
    with pytest.raises(Stop), _only_writer(written):
        written.with_suffix(".json").write_text("{}")
        raise Stop
    assert sorted(os.listdir(written.parent)) == ["p.csv.lock", "p.json"]


def test_a_second_run_on_a_profile_being_written_is_refused(space, tmp_path):
    """Two `hwnas latency profile` runs on one --out (two terminals, a cron job): each
    measured every row, and the duplicate rows left a profile that could be neither read
    nor resumed. The second run is refused; the first one's rows stay readable."""
    out = tmp_path / "p.csv"
    options = ["--samples", "200", "--precision", "fp32", "--block-copies", "2"]
    options += ["--warmup", "1", "--runs", "5", "--rounds", "2"]  # PROFILE_FAST, as options
    command = [sys.executable, "-m", "hwnas", "latency", "profile", "--space", str(TINY)]
    first = subprocess.Popen([*command, "--out", str(out), *options], stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while _lines(out) < 2 and first.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        first.send_signal(signal.SIGSTOP)  # frozen while measuring: the profile is its
        assert _lines(out) >= 2, "the first run wrote no row"
        before = out.read_bytes()
        settings = dict(samples=200, precisions=["fp32"], progress=False, **PROFILE_FAST)
        with pytest.raises(ProfileError, match=r"p.csv: another `hwnas latency profile` run"):
            build_profile(space, out, **settings)
        assert out.read_bytes() == before
    finally:
        first.kill()  # a killed run lets go of the profile
        first.wait()
    resumed = build_profile(space, out, limit=1, **settings)
    assert resumed.rows["row_id"].is_unique and len(resumed.rows) == _lines(out) - 1


def _lines(path: Path) -> int:
    """The whole lines of a file being written (0 while it does not exist)."""
    return path.read_bytes().count(b"\n") if path.exists() else 0


def test_a_predictor_written_over_is_whole_or_as_it_was(space, profile_path, tmp_path):
    """`hwnas latency fit -o p.json` over the predictor a search reads: the file was truncated,
    then written, so a search starting meanwhile read half of it, and a write that failed (a
    full disk; here a process's file-size limit) left it so. It is renamed into place whole."""
    path = LUTPredictor.from_profile(profile_path, space).save(tmp_path / "p.json")
    before = path.read_bytes()
    script = (
        "import resource, signal, sys\n"
        "from hwnas.predictors import load_predictor\n"
        "predictor = load_predictor(sys.argv[1])\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"  # a write past it fails instead
        "resource.setrlimit(resource.RLIMIT_FSIZE, (100, 100))\n"
        "predictor.save(sys.argv[1])\n"
    )
    failed = subprocess.run([sys.executable, "-c", script, str(path)], capture_output=True)
    assert failed.returncode != 0 and b"File too large" in failed.stderr
    assert path.read_bytes() == before
    assert load_predictor(path).predict([space.sample(1)]).shape == (1,)
    assert [p.name for p in tmp_path.iterdir()] == ["p.json"]  # no temporary file left


def test_a_profile_that_finds_no_room_is_an_error_naming_it_and_goes_on(space, tmp_path):
    """`hwnas latency profile` whose next row found no room (a full disk; here a process's
    file-size limit) ended on the OS's bare "[Errno 27] File too large", naming no file. The
    rows measured before are kept, and the same command run again goes on from them."""
    import resource

    out = tmp_path / "p.csv"
    fast = [f"--{k.replace('_', '-')}={v}" for k, v in PROFILE_FAST.items()]
    command = ["latency", "profile", "--space", str(TINY), "-o", str(out), "--samples", "3"]
    room = 3000  # the metadata file fits, the table does not

    def limited() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (room, room))

    cli = "from hwnas.cli import main; main()"
    failed = subprocess.run(
        [sys.executable, "-c", cli, *command, "--precision", "fp32", *fast],
        preexec_fn=limited,
        capture_output=True,
        text=True,
    )
    assert failed.returncode == 1, failed.stderr
    last = failed.stderr.strip().splitlines()[-1]
    assert last.startswith(f"hwnas: error: {out}: cannot write to the profile: File too large")
    assert out.read_bytes().endswith(b"\n")  # the row the limit cut short is cut off again
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # read as it is: no row cut short to leave out
        kept = set(read_profile(out).rows["row_id"])
    settings = dict(samples=3, precisions=["fp32"], progress=False, **PROFILE_FAST)
    resumed = build_profile(space, out, **settings).rows["row_id"]
    assert kept and kept < set(resumed) and resumed.is_unique


def test_more_passes_remeasure_every_model_and_keep_its_lowest_latency(space, tmp_path):
    out = tmp_path / "passes.csv"
    settings = dict(samples=3, archs_only=True, progress=False, **PROFILE_FAST)
    once = build_profile(space, out, **settings)
    assert once.meta["passes"] == 1 and (once.ok["passes"] == 1).all()
    build_profile(space, out, passes=2, limit=1, **settings)  # interrupted in pass 2
    twice = build_profile(space, out, passes=2, **settings)
    rows = twice.rows
    assert rows["row_id"].is_unique and len(rows) == 6
    assert rows["row_id"].str.endswith("|pass2").sum() == 3
    assert list(twice.ok["row_id"]) == list(once.ok["row_id"])  # one row per model, in order
    model = rows["row_id"].str.removesuffix("|pass2")
    lowest = rows.groupby(model)["latency_ms"].min()
    np.testing.assert_allclose(twice.ok["latency_ms"], lowest[twice.ok["row_id"]])
    assert (twice.ok["passes"] == 2).all() and twice.meta["passes"] == 2
    archs, latencies = twice.arch_records(space)  # what a learned predictor is fitted on
    assert archs == once.arch_records(space)[0]  # each network once, as in one pass
    np.testing.assert_allclose(latencies, lowest[twice.ok["row_id"]])
    fewer = build_profile(space, out, **settings)  # fewer passes: nothing new, and the
    assert len(fewer.rows) == 6 and fewer.meta["passes"] == 2  # profile still says 2 passes
    with pytest.raises(ProfileError, match="passes"):
        build_profile(space, tmp_path / "none.csv", passes=0, **settings)


def test_resuming_with_other_settings_is_refused_but_more_samples_extend(space, tmp_path):
    out = tmp_path / "p.csv"
    settings = dict(archs_only=True, progress=False, **PROFILE_FAST)
    first = build_profile(space, out, samples=1, **settings).rows["row_id"].tolist()
    more = build_profile(space, out, samples=3, **settings).rows["row_id"].tolist()
    assert len(more) == 3 and more[:1] == first  # the same first network, two more after it
    with pytest.raises(ProfileError, match=r"samples: 3 != 2"):
        build_profile(space, out, samples=2, **settings)
    with pytest.raises(ProfileError, match=r"seed: 0 != 1"):
        build_profile(space, out, samples=3, seed=1, **settings)


def test_resuming_a_profile_this_user_cannot_write_is_refused_before_anything_changes(
    space, tmp_path
):
    """Another user's profile (or a read-only one) resumed to more samples: the run rewrote
    its metadata, then ended on the OS's bare "[Errno 13] Permission denied: '.../p.csv'" at
    its first row. Needs a real read-only mount of the table (root ignores file modes)."""
    out = tmp_path / "p.csv"
    settings = dict(samples=1, archs_only=True, precisions=["fp32"], progress=False)
    build_profile(space, out, **settings, **PROFILE_FAST)
    meta = (tmp_path / "p.json").read_text()
    fast = " ".join(f"--{k.replace('_', '-')}={v}" for k, v in PROFILE_FAST.items())
    more = f"--samples 3 --archs-only --precision fp32 {fast}"
    done = cli_on_read_only(out, f"latency profile --space {TINY} -o {out} {more}")
    assert done.returncode == 1, done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last == f"hwnas: error: {out}: cannot write the profile there: Read-only file system"
    assert (tmp_path / "p.json").read_text() == meta


def test_resuming_a_profile_with_other_columns_is_refused_and_leaves_it_intact(space, tmp_path):
    out = tmp_path / "p.csv"
    build_profile(space, out, samples=1, archs_only=True, progress=False, **PROFILE_FAST)
    text = out.read_text()
    old = text.replace(",copies,", ",", 1)  # the header of a profile from an older version
    out.write_text(old)
    with pytest.raises(ProfileError, match="columns differ"):
        build_profile(space, out, samples=1, archs_only=True, progress=False, **PROFILE_FAST)
    assert out.read_text() == old


def test_a_profile_saved_with_a_byte_order_mark_resumes(space, tmp_path):
    """A profile saved by a spreadsheet as "CSV UTF-8" starts with a byte-order mark: fitted
    and scored as it is, it was refused on resuming as "written by another hwnas version"."""
    out = tmp_path / "p.csv"
    settings = dict(archs_only=True, progress=False, **PROFILE_FAST)
    first = build_profile(space, out, samples=1, **settings).rows["row_id"].tolist()
    out.write_bytes(b"\xef\xbb\xbf" + out.read_bytes())
    more = build_profile(space, out, samples=2, **settings).rows["row_id"].tolist()
    assert len(more) == 2 and more[:1] == first


def test_a_profile_resumed_that_is_huge_or_a_device_is_refused_unread(space, tmp_path):
    """Resuming a profile whose table is huge (extended by `truncate`) read it whole, looking
    for a half-written last line, until memory ran out; one linked to a device was measured
    into, failing at its first row as "cannot write to the profile". Both are refused naming
    the table, before a row is read or measured, and nothing is deleted."""
    out = tmp_path / "p.csv"
    settings = dict(archs_only=True, progress=False, **PROFILE_FAST)
    build_profile(space, out, samples=1, **settings)
    huge = 2**36  # sparse: takes no room on disk
    os.truncate(out, huge)
    said = f"{out}: {huge:,} bytes, more than any profile holds, so it cannot be resumed"
    advice = "; move it away or give another --out (nothing was deleted)"
    with pytest.raises(ProfileError, match=f"^{re.escape(said + advice)}$"):
        build_profile(space, out, samples=2, **settings)
    assert out.stat().st_size == huge
    out.unlink()
    out.symlink_to("/dev/zero")
    said = f"{out}: not a regular file (a device or a pipe)"
    with pytest.raises(ProfileError, match=f"^{re.escape(said)}; .* nothing written$"):
        build_profile(space, out, samples=2, **settings)
    assert out.is_symlink()


def test_a_profile_or_predictor_json_saved_with_a_byte_order_mark_is_read(
    space, profile_path, tmp_path
):
    """A profile's metadata or a predictor saved again by a Windows editor starts with a
    byte-order mark: both were refused ("Unexpected UTF-8 BOM"), the metadata was no longer
    seen as a profile's (a predictor could be saved over it), and the backend a latency was
    measured on went unnamed."""
    from hwnas.predictors.precision_notes import measured_backend

    profile = tmp_path / "p.csv"
    for suffix in (".csv", ".json"):
        profile.with_suffix(suffix).write_bytes(profile_path.with_suffix(suffix).read_bytes())
    lut = get_predictor("lut", space, profile=profile)
    saved = lut.save(tmp_path / "lut.json")
    archs = [space.sample(i) for i in range(3)]
    for marked in (profile.with_suffix(".json"), saved):
        marked.write_bytes(b"\xef\xbb\xbf" + marked.read_bytes())
    assert read_profile(profile).meta == read_profile(profile_path).meta
    assert list(load_predictor(saved, space).predict(archs)) == list(lut.predict(archs))
    # the space as its file, as build_profile takes it ("'str' object has no attribute 'name'")
    assert list(load_predictor(saved, str(TINY)).predict(archs)) == list(lut.predict(archs))
    assert measured_backend(profile) == measured_backend(saved) == "onnxruntime-cpu"
    with pytest.raises(PredictorError, match="that is a file of the profile"):
        lut.save(profile.with_suffix(".json"))


def test_a_profile_or_predictor_saved_as_utf_16_or_32_is_named_so(space, profile_path, tmp_path):
    """A profile's table or metadata, or a predictor, saved as UTF-16 with its byte-order mark
    (Windows Notepad's "Unicode") was "not a profile table: 'utf-8' codec can't decode byte
    0xff", "not valid JSON: ..." or "not a predictor file (invalid JSON: ...)", and resuming
    such a profile ended in the bare codec error, naming no file: they say what space and
    experiment files say, the encoding and to save it as UTF-8. A table or metadata of no
    text is said to be no table, or no JSON, of UTF-8 text."""
    profile = tmp_path / "p.csv"
    for suffix in (".csv", ".json"):
        profile.with_suffix(suffix).write_bytes(profile_path.with_suffix(suffix).read_bytes())
    saved = get_predictor("lut", space, profile=profile).save(tmp_path / "lut.json")
    settings = dict(samples=8, progress=False, **PROFILE_FAST)  # the profile's own: resumed
    readers = {
        profile: [lambda: read_profile(profile), lambda: build_profile(space, profile, **settings)],
        profile.with_suffix(".json"): [lambda: read_profile(profile)],
        saved: [lambda: load_predictor(saved, space)],
    }
    for encoding, name in (("utf-16", "UTF-16"), ("utf-32", "UTF-32")):
        for path, reads in readers.items():
            kept = path.read_bytes()
            path.write_text(kept.decode(), encoding=encoding)
            for read in reads:
                with pytest.raises(ValueError) as error:
                    read()
                assert str(error.value) == (
                    f"{path}: text saved as {name}, not UTF-8: save it again as UTF-8"
                )
            path.write_bytes(kept)
    saved.write_bytes(b"\xff\xfe\x01\x00\x00\x00\x07\x00")  # controls as UTF-16: binary
    with pytest.raises(PredictorError, match="lut.json: not a predictor file .invalid JSON"):
        load_predictor(saved, space)
    meta = profile.with_suffix(".json")
    for path, what in ((profile, "not a profile table"), (meta, "not valid JSON")):
        kept = path.read_bytes()
        path.write_bytes(b"\x80\x81 no text")  # no UTF-8, nor UTF-16 or 32: said so
        with pytest.raises(ProfileError, match=f"^{re.escape(f'{path}: {what}: not UTF-8')}"):
            read_profile(profile)
        path.write_bytes(kept)
    # resumed, a table of no text is said to be so in the same words, not the codec's
    profile.write_bytes(profile.read_bytes().replace(b"ok", b"\xe9k", 1))
    said = f"{profile}: not a profile table: not UTF-8 text"
    with pytest.raises(ProfileError, match=f"^{re.escape(said)}$"):
        build_profile(space, profile, **settings)


def test_a_predictor_or_profile_file_that_is_a_device_or_huge_is_read_to_a_bound(tmp_path):
    """A predictor file (`load_predictor`, `hwnas latency eval`, an experiment's predictor)
    or a profile's table or metadata (`hwnas latency fit`) that is a device (`/dev/zero`) or
    huge was read whole until memory ran out, as were the checks of `-o` and the notes on
    where a predicted latency was measured: all read to the bound space and experiment files
    are read to (`read_text`)."""
    from hwnas.predictors.base import check_predictor_path
    from hwnas.predictors.precision_notes import measured_backend, measured_device
    from hwnas.predictors.profile import is_profile_metadata

    said = "more than 64 Mi characters, more than any space, experiment, config, profile or "
    zero = tmp_path / "zero.json"
    zero.symlink_to("/dev/zero")
    with pytest.raises(PredictorError, match=re.escape(f"{zero}: {said}")):
        load_predictor(zero)
    assert measured_device(zero) is measured_backend(zero) is None
    assert not is_profile_metadata(zero)
    profile = tmp_path / "p.csv"
    profile.write_bytes((DATA / "tiny2d_ort.csv").read_bytes())
    profile.with_suffix(".json").symlink_to("/dev/zero")
    with pytest.raises(ProfileError, match=re.escape(f"{profile.with_suffix('.json')}: {said}")):
        read_profile(profile)
    profile.with_suffix(".json").unlink()
    profile.with_suffix(".json").write_bytes((DATA / "tiny2d_ort.json").read_bytes())
    huge = 2**36  # sparse: takes no room on disk
    os.truncate(profile, huge)
    with pytest.raises(ProfileError, match=re.escape(f"{profile}: {said}")):
        read_profile(profile)
    big = tmp_path / "big.json"  # `hwnas latency fit -o big.json`
    big.touch()
    os.truncate(big, huge)
    with pytest.raises(PredictorError, match="big.json: exists and is no predictor file"):
        check_predictor_path(big)


# -- lookup table -------------------------------------------------------------------------------
def test_lut_sum_equals_sum_of_its_parts(space, profile_path):
    lut = LUTPredictor.from_profile(profile_path, space)
    table = read_profile(profile_path).rows.set_index("row_id")["latency_ms"]
    arch = space.sample(3)
    stages = space._stages(arch)
    base = lut.base_latency([w for w, _ in stages])
    blocks = [lut.block_latency(i, w, b) for i, (w, bs) in enumerate(stages) for b in bs]
    assert lut.predict([arch])[0] == pytest.approx(base + sum(blocks), rel=1e-12)
    groups = lut.parts_of(arch)
    assert groups["base"] == base and sum(groups.values()) == pytest.approx(base + sum(blocks))
    assert len(groups) - 1 == len(
        {(i, w, b.mixer, b.precision) for i, (w, bs) in enumerate(stages) for b in bs}
    )
    width, (block, *_) = stages[0]
    shape = "x".join(map(str, (width, *space.plans[0].spatial)))
    expected = (
        table[
            f"block|s0|w{width}|{block.mixer}|k{block.kernel}|d{block.dilation}"
            f"|e{block.expansion:g}|{block.precision}"
        ]
        - table[f"overhead|{shape}|fp32"] / 2  # blocks were timed as chains of 2 copies
    )
    assert lut.block_latency(0, width, block) == pytest.approx(expected, rel=1e-12)


def test_the_base_latency_is_the_stem_downsample_and_head_of_its_widths(space, profile_path):
    """Widths 8 then 16 on a 1x16 input: the stage-1 downsample takes 8 channels at length 16
    to 16, and the head takes 16 channels at length 8; each part's call overhead is taken off
    and the network's one call added back."""
    table = read_profile(profile_path).ok.set_index("row_id")["latency_ms"]
    stem, downsample, head = (
        table[f"{p}|fp32"] for p in ("stem", "downsample|s1|8->16", "head|w16")
    )
    overheads = table["overhead|8x16|fp32"] + table["overhead|16x8|fp32"]
    expected = stem + downsample + head - overheads
    lut = LUTPredictor.from_profile(profile_path, space)
    assert lut.base_latency([8, 16]) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(
    ("backend", "advice"),
    [
        (
            "onnxruntime-cpu",
            r"measure .* new profile .*--backend onnxruntime-cpu --precision fp32,int8\)",
        ),
        # the advice without --backend measured another backend; torch-cpu cannot time int8
        ("torch-cpu", r"backend 'torch-cpu' has no integer kernels .*use onnxruntime-cpu"),
    ],
)
def test_a_part_missing_from_the_table_gets_the_advice_that_fixes_it(
    space, tmp_path, backend, advice
):
    """A precision never profiled used to get "profile the space again into this profile",
    which measures nothing: a profile resumes only with the precisions it began with."""
    path = tmp_path / "fp32.csv"
    build_profile(
        space,
        path,
        backend=backend,
        samples=0,
        precisions=["fp32"],
        progress=False,
        **PROFILE_FAST,
    )
    lut = LUTPredictor.from_profile(path, space)
    width, (block, *_) = space._stages(space.sample(0))[0]
    int8 = dataclasses.replace(block, precision="int8")
    with pytest.raises(
        PredictorError,
        match=rf"^the latency table {path} has no measurement .*"  # which of a search's tables
        rf"measured no part at int8 \(only at fp32\): {advice}",
    ):
        lut.block_latency(0, width, int8)
    fp32 = dataclasses.replace(block, precision="fp32")
    lut.table = {k: v for k, v in lut.table.items() if not k.startswith("block|s0|")}
    with pytest.raises(PredictorError, match=f"changed since.*profile the space again into {path}"):
        lut.block_latency(0, width, fp32)


def test_a_predictor_file_lacking_a_part_is_advised_to_be_fitted_again(tmp_path):
    """A part a predictor file's table lacks (its space gained a width since the fit) was
    advised "profile the space again into" its profile, which left the file without it: the
    file is fitted again from the profile (which may have the part already). A table read
    from the profile itself keeps the advice to profile into it. The error opens with the
    file given, and the profile it was fitted from: it named the profile alone."""
    profile = DATA / "tiny2d_ort.csv"
    lut = LUTPredictor.from_profile(profile)
    lut.table = {k: v for k, v in lut.table.items() if "|s1|w24|" not in k and "->24" not in k}
    arch = lut.space.canonical({**lut.space.sample(0), "s1.width": 24})
    profile_again = f"profile the space again into {profile.resolve()}, which measures only"
    with pytest.raises(PredictorError, match=rf"changed since\?\): {re.escape(profile_again)}"):
        lut.predict([arch])
    with pytest.raises(PredictorError, match=f"^the latency table {profile.resolve()} has no"):
        lut.predict([arch])
    saved = load_predictor(LUTPredictor.from_profile(profile).save(tmp_path / "lut.json"))
    saved.table = {k: v for k, v in saved.table.items() if k in lut.table}  # the space grew
    opening = (
        f"the latency table of {tmp_path / 'lut.json'} (fitted from {profile.resolve()}) has no "
        "measurement for "
    )
    fit_again = (
        f"changed since?): the predictor file was fitted from {profile.resolve()}: fit it "
        "again from that profile (hwnas latency fit) once the profile has the part (profile "
        "the space again into"
    )
    with pytest.raises(PredictorError, match=f"^{re.escape(opening)}.*{re.escape(fit_again)}"):
        saved.predict([arch])


def test_a_table_lacking_parts_is_not_saved_as_latency_fit_refuses_its_profile(tmp_path):
    """`hwnas latency fit` refuses a profile lacking parts (an unfinished one): the file could
    not price every network. From Python, its table (and a learned predictor on it) was saved
    all the same, and the run searching with the file failed the candidates using them."""
    rows = _committed_rows()
    profile = _copied_profile(tmp_path, [row for row in rows if "|s1|w24|" not in row[0]])
    lut = LUTPredictor.from_profile(profile)
    learned = get_predictor("learned", lut.space, profile=profile)
    archs = [lut.space.canonical({**lut.space.sample(i), "s1.width": 16}) for i in range(12)]
    learned.fit(archs, lut.predict(archs))  # on networks the table prices
    for predictor in (lut, learned):
        out = tmp_path / "new" / f"{predictor.kind}.json"
        with pytest.raises(
            PredictorError, match=rf"^{re.escape(str(out))}: its table lacks 16 parts of space "
        ):
            predictor.save(out)
        assert not out.parent.exists()


def test_a_table_whose_int8_blocks_all_failed_is_not_saved_as_latency_fit_refuses_it(
    tmp_path, capsys
):
    """A profile that set out to measure fp32 and int8, whose every int8 block failed to
    measure: `hwnas latency fit` refused it (int8 parts missing), but from Python its table
    held fp32 blocks alone, so it was checked at fp32 only and saved as an fp32 table
    without a word. Both now check the precisions the profile set out to measure."""
    rows = _committed_rows()
    header = rows[0]
    for row in rows[1:]:
        if row[header.index("precision")] == "int8":
            row[header.index("status")] = "failed"
            row[header.index("error")] = "RuntimeError: no int8 kernel"
    profile = _copied_profile(tmp_path, rows)
    assert hwnas("latency", "fit", str(profile), "-o", str(tmp_path / "fit.json")) == 1
    assert "32 of the 77 parts a lookup table" in capsys.readouterr().err
    lut = LUTPredictor.from_profile(profile)
    learned = get_predictor("learned", lut.space, profile=profile)
    for predictor in (lut, learned):
        out = tmp_path / "new" / f"{predictor.kind}.json"
        said = f"{out}: its table lacks 32 parts of space 'tiny2d' (e.g. block|s0|w8|conv|"
        with pytest.raises(PredictorError, match=f"^{re.escape(said)}.*--retry-failed"):
            predictor.save(out)
        assert not out.parent.exists()


def test_a_learned_predictor_file_lacking_a_part_names_the_file(tmp_path):
    """A learned predictor's lookup table read from its file names that file where it lacks
    a part, and advises fitting it again, as a lookup table's own file does."""
    profile = DATA / "tiny2d_ort.csv"
    learned = get_predictor("learned", read_profile(profile).space(), profile=profile)
    archs = [a for a in map(learned.space.sample, range(30)) if a["s1.width"] != 24][:12]
    learned.fit(archs, list(learned.lut.predict(archs)))
    data = json.loads(learned.save(tmp_path / "learned.json").read_text())
    table = data["lut"]["table"]  # the space grew since: its file lacks the new parts
    data["lut"]["table"] = {
        k: v for k, v in table.items() if "|s1|w24|" not in k and "->24" not in k
    }
    (tmp_path / "learned.json").write_text(json.dumps(data))
    saved = load_predictor(tmp_path / "learned.json")
    arch = saved.space.canonical({**saved.space.sample(0), "s1.width": 24})
    opening = f"the latency table of {tmp_path / 'learned.json'} (fitted from {profile.resolve()})"
    with pytest.raises(PredictorError, match=f"^{re.escape(opening)}.*fit it again from"):
        saved.predict([arch])


def test_a_profile_of_int8_blocks_alone_is_said_to_lack_fp32_blocks(space, tmp_path):
    """The stem, downsamples, head and overheads are measured at fp32 whatever the profiled
    precisions: counted as fp32 measurements, they made an int8-only profile's fp32 blocks
    "parts of a changed space" (at the start of a search, and in each failed candidate's
    reason, whose advice to profile again into it measures none of them)."""
    path = tmp_path / "int8.csv"
    build_profile(space, path, samples=0, precisions=["int8"], progress=False, **PROFILE_FAST)
    lut = LUTPredictor.from_profile(path, space)
    assert lut.unpriced_precisions() == ["fp32", "w4a8"]
    assert lut.unpriced_parts() == []
    width, (block, *_) = space._stages(space.sample(0))[0]
    with pytest.raises(PredictorError, match=r"measured no part at fp32 \(only at int8\): "):
        lut.block_latency(0, width, dataclasses.replace(block, precision="fp32"))


def test_expected_latency_is_differentiable_and_matches_the_table(space, profile_path):
    lut = LUTPredictor.from_profile(profile_path, space)
    plan = space.plans[1]
    blocks = [BlockConfig(o.mixer, o.kernel, o.dilation, 2.0, "int8") for o in plan.options]
    logits = torch.zeros(len(blocks), requires_grad=True)
    lut.expected_latency(torch.softmax(logits, 0), blocks, 1, 16).backward()
    assert logits.grad is not None and torch.isfinite(logits.grad).all()
    for k, block in enumerate(blocks):
        one_hot = torch.nn.functional.one_hot(torch.tensor(k), len(blocks)).double()
        value = lut.expected_latency(one_hot, blocks, 1, 16).item()
        assert value == pytest.approx(lut.block_latency(1, 16, block), rel=1e-12)


def test_lut_needs_a_metaformer_space():
    with pytest.raises(PredictorError, match="MetaFormer"):
        LUTPredictor(get_space("nasbench201"), {})


def test_a_table_latency_that_is_not_positive_is_refused(space):
    for bad in (0.0, -0.2):  # a part that would make its networks faster than the rest
        with pytest.raises(PredictorError, match=f"stem\\|fp32 is {bad}, not a positive latency"):
            LUTPredictor(space, {"head|fp32": 0.1, "stem|fp32": bad})


# -- fit / save / load --------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["lut", "learned"])
def test_fit_save_load_predict_is_identical(space, profile_path, tmp_path, kind):
    archs, y = read_profile(profile_path).arch_records(space)
    predictor = get_predictor(kind, space, profile=profile_path).fit(archs, y)
    path = predictor.save(tmp_path / f"{kind}.json")
    loaded = load_predictor(path)
    fresh = [space.sample(s) for s in range(20, 30)]
    np.testing.assert_array_equal(loaded.predict(fresh), predictor.predict(fresh))
    assert (loaded.predict(fresh) > 0).all()
    assert json.loads(path.read_text())["kind"] == kind


@pytest.mark.parametrize("under", ["", "sub"])
def test_a_file_where_the_predictors_or_profiles_folder_must_be_is_named(
    space, profile_path, tmp_path, under
):
    """A file where the predictor's folder must be: the OS said only "File exists: '...'",
    naming neither the predictor nor its path, and then (`hwnas latency fit -o FILE/p.json`)
    "cannot write the predictor there: File exists" (or "Not a directory", a folder deeper),
    naming not the file in the way; a profile's path likewise."""
    taken = tmp_path / "taken"
    taken.write_text("")
    predictor = get_predictor("lut", space, profile=profile_path)
    out = taken / under / "lut.json"
    said = f"^{re.escape(str(out))}: {re.escape(str(taken))} is a file, not a folder"
    with pytest.raises(PredictorError, match=said):
        predictor.save(out)
    csv = out.with_suffix(".csv")
    said = f"^{re.escape(str(csv))}: {re.escape(str(taken))} is a file, not a folder"
    with pytest.raises(ProfileError, match=said):
        build_profile(space, csv, samples=1, archs_only=True, progress=False, **PROFILE_FAST)
    assert list(tmp_path.iterdir()) == [taken]


def test_latency_is_the_best_round_median(profile_path):
    rows = read_profile(profile_path).ok
    best = [min(float(v) for v in text.split(";")) for text in rows["round_medians_ms"]]
    np.testing.assert_allclose(rows["latency_ms"], best)


def test_a_blocks_latency_is_per_copy_like_its_median(profile_path):
    """Blocks are timed as chains of copies; a row's round medians, which give its latency,
    are per block like its median. The best round median is never above the median of all
    runs (with an odd number of runs, each round has most of its runs at or above its own
    median); a chain's round medians (2 copies here) would be twice it."""
    rows = read_profile(profile_path).ok
    assert (rows["kind"] == "block").any()
    assert (rows["latency_ms"] <= rows["median_ms"] * (1 + 1e-5)).all()  # 6 digits written


def test_learned_calibrates_each_table_group_and_keeps_unseen_ones(space, profile_path):
    lut = LUTPredictor.from_profile(profile_path, space)
    pool = [space.sample(s) for s in range(150)]

    def mixers(a):  # its stage-1 groups merged over widths (s1.{mixer}.{precision})
        return {f"s1.{g.split('.', 2)[2]}" for g in lut.parts_of(a) if g.startswith("s1.")}

    # a stage-1 mixer no training network will have, at any width: unseen in either grouping
    held_out = Counter(g for a in pool for g in mixers(a)).most_common(1)[0][0]
    train = [a for a in pool if held_out not in mixers(a)][:40]
    test = [a for a in pool if held_out in mixers(a)][:10]

    def slower(a):  # networks where every stage-0 block costs 1.5x its table value
        return sum(v * (1.5 if g.startswith("s0.") else 1.0) for g, v in lut.parts_of(a).items())

    learned = LearnedPredictor(space, lut, {"alpha": 1e-6}).fit(train, [slower(a) for a in train])
    factors = learned.coefficients
    assert not [g for g in factors if g.startswith("s1.") and g.endswith(held_out[2:])]

    # a group in only a few training networks is not pinned by the robust (Huber) fit, which
    # may take its few residuals for outliers: once in 5 measured profiles one seen twice,
    # 2 % of those networks' latency, came out 1.097; its effect on predictions is tiny
    def groups(a):  # the table groups of `a`, per width and merged over widths
        parts = [g for g in lut.parts_of(a) if g != "base"]
        return {"base", *parts, *(f"{g.split('.')[0]}.{g.split('.', 2)[2]}" for g in parts)}

    seen = Counter(g for a in train for g in groups(a))
    for group, factor in factors.items():
        if seen[group] >= 5:
            assert factor == pytest.approx(1.5 if group.startswith("s0.") else 1.0, rel=1e-3)
    assert sum(seen[g] >= 5 for g in factors) >= 10
    # the held-out group keeps its table value, which is right here
    np.testing.assert_allclose(learned.predict(test), [slower(a) for a in test], rtol=1e-3)


def test_a_learned_prediction_does_not_depend_on_the_pythons_sum(monkeypatch):
    """It added its calibrated groups by `sum()`, which compensates rounding from Python 3.12
    on: 115 of 400 predictions (a run's `latency_ms`) differed from 3.11's in the last bit.
    Here it gets each Python's `sum` in turn: 3.11's (a loop of `+`) and 3.12's."""
    import hwnas.predictors.learned as learned

    space = get_space(DATA / "tiny2d.yaml")
    lut = LUTPredictor.from_profile(DATA / "tiny2d_ort.csv", space)
    archs = [space.sample(s) for s in range(200)]
    slower = lut.predict(archs) * np.exp(np.random.default_rng(0).normal(0, 0.1, len(archs)))
    predictor = LearnedPredictor(space, lut).fit(archs[:100], slower[:100])
    predicted = []
    for adding in (lambda values: functools.reduce(operator.add, values, 0), python312_sum):
        monkeypatch.setattr(learned, "sum", adding, raising=False)
        predicted.append(list(predictor.predict(archs)))
    assert predicted[0] == predicted[1]


def test_no_calibrated_block_makes_a_network_faster():
    """Networks where one group's blocks seemed to save time (noise, or a group seen in few
    networks) fitted it a negative factor, so adding such a block lowered the prediction;
    such a group is priced at no more than nothing."""
    space = get_space(DATA / "tiny2d.yaml")
    lut = LUTPredictor.from_profile(DATA / "tiny2d_ort.csv", space)
    archs = [space.sample(s) for s in range(120)]
    faster = "s1.w24.dwconv.fp32"

    def latency(a):  # each such block takes half its table value off the network
        return sum(v * (-0.5 if g == faster else 1.0) for g, v in lut.parts_of(a).items())

    learned = LearnedPredictor(space, lut, {"alpha": 1e-6}).fit(archs, [latency(a) for a in archs])
    assert learned.grouping == "width" and min(learned.coefficients.values()) >= 0
    assert learned.coefficients[faster] == 0
    # a network with one more such block is predicted no faster
    one = space.arch(
        {
            "s0.depth": 1, "s0.width": 8, "s1.depth": 1, "s1.width": 24,
            **{f"s{i}.b0.{k}": v for i in (0, 1) for k, v in DWCONV_FP32.items()},
        }
    )  # fmt: skip
    two = one.replace(**{"s1.depth": 2, **{f"s1.b1.{k}": v for k, v in DWCONV_FP32.items()}})
    assert learned.predict([two])[0] >= learned.predict([one])[0]


DWCONV_FP32 = {"mixer": "dwconv", "kernel": 3, "dilation": 1, "expansion": 1.0, "precision": "fp32"}


def test_learned_calibrates_on_one_blas_thread(space, profile_path, monkeypatch):
    """Its regressions are small: a second BLAS thread only waited for a core, and on a busy
    2-core machine made loading a predictor 4x slower. The caller's setting comes back."""
    from threadpoolctl import threadpool_info, threadpool_limits

    import hwnas.predictors.learned as learned

    threads, fit = [], learned.HuberRegressor.fit

    def recording_fit(self, *args, **kwargs):
        threads.extend(p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas")
        return fit(self, *args, **kwargs)

    monkeypatch.setattr(learned.HuberRegressor, "fit", recording_fit)
    lut = LUTPredictor.from_profile(profile_path, space)
    archs = [space.sample(s) for s in range(12)]
    with threadpool_limits(limits=2, user_api="blas"):
        LearnedPredictor(space, lut).fit(archs, lut.predict(archs))
        after = [p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"]
    assert threads and set(threads) == {1}  # 5-fold cross-validation of 2 groupings, 1 fit
    assert set(after) == {2}


def test_learned_picks_per_width_groups_only_when_the_data_supports_them(space, profile_path):
    lut = LUTPredictor.from_profile(profile_path, space)
    archs = [space.sample(s) for s in range(200)]
    wide = next(g for a in archs for g in lut.parts_of(a) if g.startswith("s1.w16."))

    def latency(a):  # one stage-1 mixer is 1.5x slower at width 16 only
        return sum(v * (1.5 if g == wide else 1.0) for g, v in lut.parts_of(a).items())

    many = LearnedPredictor(space, lut).fit(archs[:150], [latency(a) for a in archs[:150]])
    assert many.grouping == "width" and many.coefficients[wide] == pytest.approx(1.5, rel=0.02)
    np.testing.assert_allclose(
        many.predict(archs[150:]), [latency(a) for a in archs[150:]], rtol=0.02
    )

    # the same effect at every width is one mixer-level factor, which the fewer groups fit best
    def without_width(group):
        stage, _width, rest = group.split(".", 2)
        return f"{stage}.{rest}"

    def every_width(a):
        return sum(
            v * (1.5 if g != "base" and without_width(g) == without_width(wide) else 1.0)
            for g, v in lut.parts_of(a).items()
        )

    few = LearnedPredictor(space, lut).fit(archs[:12], [every_width(a) for a in archs[:12]])
    assert few.grouping == "mixer"


def test_learned_rejects_foreign_hyperparameters_and_refits_older_files(
    space, profile_path, tmp_path
):
    lut = LUTPredictor.from_profile(profile_path, space)
    with pytest.raises(PredictorError, match=r"\['n_estimators'\].*calibration"):
        LearnedPredictor(space, lut, {"n_estimators": 10})
    archs, y = read_profile(profile_path).arch_records(space)
    predictor = LearnedPredictor(space, lut).fit(archs, y)
    path = predictor.save(tmp_path / "learned.json")
    data = json.loads(path.read_text())
    # as an older version saved it: boosting hyperparameters beside a table, no model name
    data.pop("model")
    data["hyperparameters"] = {"n_estimators": 400, "max_depth": 3}
    path.write_text(json.dumps(data))
    fresh = [space.sample(s) for s in range(40, 45)]
    np.testing.assert_allclose(load_predictor(path).predict(fresh), predictor.predict(fresh))


@pytest.mark.parametrize("hyperparameters", [0, "", [], "abc", [("alpha", 1.0)]])
def test_learned_hyperparameters_that_are_no_mapping_are_refused_naming_them(
    space, hyperparameters
):
    """0 or [] was taken for no hyperparameters and text was split into its letters."""
    with pytest.raises(PredictorError, match="hyperparameters must be a mapping"):
        LearnedPredictor(space, hyperparameters=hyperparameters)


def test_a_loaded_learned_predictor_keeps_the_hyperparameters_it_was_fitted_with(
    space, profile_path, tmp_path
):
    """Loading refits: with the saved hyperparameters, not the defaults, so the loaded
    predictor predicts what the saved one did."""
    lut = LUTPredictor.from_profile(profile_path, space)
    archs, y = read_profile(profile_path).arch_records(space)
    saved = LearnedPredictor(space, lut, {"alpha": 10.0}).fit(archs, y)
    loaded = load_predictor(saved.save(tmp_path / "learned.json"))
    assert loaded.hyperparameters == saved.hyperparameters
    fresh = [space.sample(s) for s in range(40, 45)]
    np.testing.assert_allclose(loaded.predict(fresh), saved.predict(fresh))


def test_a_predictor_file_asking_for_a_huge_model_is_refused_not_fitted(space, tmp_path):
    """Loading a learned predictor fits it again: a file asking for a billion trees hung."""
    archs = [space.sample(seed) for seed in range(8)]
    y = [space.cost(a).macs / 1e6 + 0.1 for a in archs]
    with warnings.catch_warnings():  # few networks: said, and not what is tested here
        warnings.simplefilter("ignore")
        path = get_predictor("learned", space).fit(archs, y).save(tmp_path / "learned.json")
    data = json.loads(path.read_text())
    data["hyperparameters"]["n_estimators"] = 20_000  # fitting these would take long, not hang
    path.write_text(json.dumps(data))
    with pytest.raises(PredictorError, match="n_estimators 20000 is more than 10000; the def"):
        load_predictor(path)
    with pytest.raises(PredictorError, match="max_depth 100 is more than 32"):
        LearnedPredictor(space, hyperparameters={"max_depth": 100})


def test_learned_without_a_table_fits_on_costs_and_encoding(space, profile_path):
    archs, y = read_profile(profile_path).arch_records(space)
    with pytest.warns(UserWarning, match="fitted on only 8 networks"):  # the profile's 8
        predictor = get_predictor("learned", space).fit(archs, y)
    assert predictor.model == "boosting"
    np.testing.assert_allclose(predictor.predict(archs), y, rtol=0.15)  # it learned them
    with pytest.raises(PredictorError, match="latencies"):
        predictor.fit(archs, y[:-1])
    with pytest.raises(PredictorError, match="without a lookup table needs at least 8"):
        predictor.fit(archs[:7], y[:7])  # its trees could not split: one prediction for all


def test_learned_counts_a_network_measured_again_once(space, profile_path):
    """One network measured 8 times passed the boosting model's minimum of 8, and it then
    predicted that one latency for every network, warning only that it was fitted on "8
    networks"; a table calibrated on one network passed its minimum of 5 likewise."""
    archs, y = read_profile(profile_path).arch_records(space)
    with pytest.raises(PredictorError, match="needs at least 8 different measured arch.*got 1"):
        get_predictor("learned", space).fit([archs[0]] * 8, [y[0]] * 8)
    with pytest.raises(PredictorError, match="needs at least 5 different measured arch.*got 2"):
        get_predictor("learned", space, profile=profile_path).fit([*archs[:2]] * 3, [*y[:2]] * 3)
    with pytest.warns(UserWarning, match="fitted on only 8 networks"):
        get_predictor("learned", space).fit([*archs[:8], archs[0]], [*y[:8], y[0]])


@pytest.mark.parametrize("latency", [10**400, "fast"], ids=["past a float", "text"])
def test_latencies_that_are_no_numbers_are_refused_by_fit(space, profile_path, latency):
    """An int past a float's range ended fit in numpy's bare "int too large to convert to
    float" (and text in numpy's "could not convert string to float"), naming neither the
    argument nor the predictor's rule."""
    archs = [space.sample(seed) for seed in range(12)]
    latencies = [*np.linspace(1.0, 2.0, 11), latency]
    for predictor in (
        get_predictor("learned", space),
        get_predictor("lut", space, profile=profile_path),
    ):
        with pytest.raises(PredictorError, match="^latencies must be finite and positive numbers"):
            predictor.fit(archs, latencies)


@pytest.mark.parametrize(
    "as_given",
    [
        lambda y: [str(v) for v in y],
        lambda y: pd.Series(y).astype(str),
        lambda y: [*y[:-1], str(y[-1])],
        lambda y: [True] * len(y),
    ],
    ids=["text", "a column of text", "one text", "truth values"],
)
def test_latencies_of_number_like_text_are_refused_by_fit(space, profile_path, as_given):
    """numpy read "0.5" as 0.5, so latencies read as text (a CSV column of strings) were
    taken, while "fast" was refused; True was taken for 1 ms."""
    archs = [space.sample(seed) for seed in range(12)]
    latencies = as_given(list(np.linspace(1.0, 2.0, 12)))
    for predictor in (
        get_predictor("learned", space),
        get_predictor("lut", space, profile=profile_path),
    ):
        with pytest.raises(PredictorError, match="^latencies must be finite and positive numbers"):
            predictor.fit(archs, latencies)


@pytest.mark.parametrize(
    "shaped",
    [lambda y: np.stack([y, y], axis=1), lambda y: 1.5, lambda y: [[*y[:-1]], [y[-1]]]],
    ids=["two columns", "one number", "ragged rows"],
)
def test_latencies_that_are_not_one_per_architecture_are_refused_by_fit(
    space, profile_path, shaped
):
    """Two columns of latencies, one row per architecture, passed the length check and ended
    the learned predictor's fit in scikit-learn's bare "y should be a 1d array"; one number
    for them all in numpy's "len() of unsized object"; rows of different lengths were called
    "not finite and positive numbers"."""
    archs = [space.sample(seed) for seed in range(12)]
    latencies = shaped(np.linspace(1.0, 2.0, 12))
    for predictor in (
        get_predictor("learned", space),
        get_predictor("lut", space, profile=profile_path),
    ):
        with pytest.raises(PredictorError, match="^latencies must be a flat sequence, one number"):
            predictor.fit(archs, latencies)


def test_architectures_that_are_no_arch_are_refused_by_fit(space, profile_path):
    """A dict of an arch's choices failed on `.key` (learned) or was taken unchecked (lut)."""
    arch = space.sample(0)
    for predictor in (
        get_predictor("learned", space),
        get_predictor("lut", space, profile=profile_path),
    ):
        for archs in ([dict(arch)], [arch, dict(arch)]):  # wherever it is in the list
            with pytest.raises(TypeError, match=r"^archs must be a list of Arch, not of dict"):
                predictor.fit(archs, [1.0] * len(archs))


def test_learned_refuses_latencies_that_are_all_equal(space, profile_path, tmp_path, capsys):
    """Fitted without a table on networks all measured alike (a coarse clock, one value given
    for every network), it predicted that one latency for every network, silently, where the
    transfer predictor refuses such data; with a table it scaled the table to them."""
    archs = [space.sample(seed) for seed in range(12)]
    for lut in (None, LUTPredictor.from_profile(profile_path, space)):
        with pytest.raises(PredictorError, match="the latencies are all equal: they say nothing"):
            LearnedPredictor(space, lut).fit(archs, [0.5] * len(archs))
    profile = tmp_path / "equal.csv"
    meta = profile_path.with_suffix(".json")
    profile.with_suffix(".json").write_bytes(meta.read_bytes())
    with profile_path.open(newline="") as f:
        header, *rows = list(csv.reader(f))
    for row in rows:
        _set_fields(row, header, median_ms="0.5", round_medians_ms="0.5;0.5")
    with profile.open("w", newline="") as f:
        csv.writer(f).writerows([header, *rows])
    out = tmp_path / "learned.json"
    assert hwnas("latency", "fit", str(profile), "--kind", "learned", "-o", str(out)) == 1
    assert f"{profile}: the latencies are all equal" in capsys.readouterr().err
    assert not out.exists()


def test_learned_without_a_table_refuses_a_precision_none_of_its_networks_had(space):
    """Fitted on fp32 networks only, it priced an int8 network as it would an fp32 one of the
    same size (it never saw what int8 costs), where a table refuses a precision it lacks."""
    fp32 = [space.sample(s) for s in range(12)]
    fp32 = [a.replace(**{k: "fp32" for k in a if k.endswith(".precision")}) for a in fp32]
    latencies = [space.cost(a).macs / 1e6 + 0.1 for a in fp32]
    with pytest.warns(UserWarning, match="fitted on only 12 networks"):
        predictor = get_predictor("learned", space).fit(fp32, latencies)
    assert predictor.unpriced_precisions() == ["int8", "w4a8"]
    assert predictor.predict(fp32[:2]).shape == (2,)
    int8 = fp32[0].replace(**{k: "int8" for k in fp32[0] if k.endswith(".precision")})
    with pytest.raises(PredictorError, match=f"no network with int8 blocks.*price {int8.key}"):
        predictor.predict([fp32[1], int8])


def test_learned_without_a_table_on_few_networks_warns_and_its_file_loads_quietly(space, tmp_path):
    archs = [space.sample(seed) for seed in range(8)]
    y = [space.cost(a).macs / 1e6 + 0.1 for a in archs]
    with pytest.warns(UserWarning, match="fitted on only 8 networks: below about 100"):
        predictor = get_predictor("learned", space).fit(archs, y)
    assert len(set(predictor.predict(archs))) > 1  # 8 is enough to split on
    predictor.save(tmp_path / "few.json")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # said when it was fitted, not at every load
        np.testing.assert_allclose(
            load_predictor(tmp_path / "few.json").predict(archs), predictor.predict(archs)
        )


def test_learned_without_a_table_warns_of_networks_beyond_those_it_was_fitted_on(space, tmp_path):
    """Its trees are flat past the fitted networks: on conv1d, fitted on 250 sampled networks
    of 0.108-0.719 ms, it priced a network of identity blocks, measured 0.031 ms, at 0.151 ms
    (slower than one of conv blocks), and said nothing."""
    train = [space.sample(seed) for seed in range(40)]
    train = [a for a in train if any(v == "dwconv" for v in a.values())]
    choices = {name: values[0] for name, values in space.choice_values().items()}
    choices.update({name: "identity" for name in choices if name.endswith(".mixer")})
    smallest = space.validate(space.canonical(choices))  # fewer MACs than any of train
    assert space.cost(smallest).macs < min(space.cost(a).macs for a in train)
    latencies = [space.cost(a).macs / 1e6 + 0.1 for a in train]
    with pytest.warns(UserWarning, match="fitted on only"):
        predictor = get_predictor("learned", space).fit(train, latencies)
    loaded = load_predictor(predictor.save(tmp_path / "learned.json"))
    fitted = len({a.key for a in train})
    span = f"({min(latencies):.3g}-{max(latencies):.3g} ms)"  # the fitted range, both ends
    for each in (predictor, loaded):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            each.predict(train)  # the networks it was fitted on: nothing to say
        beyond = re.escape(f"networks beyond all {fitted} it was fitted on {span}")
        with pytest.warns(UserWarning, match=beyond):
            each.predict([*train[:2], smallest])


def test_learned_without_a_table_warns_of_networks_beyond_once_a_fit(space):
    """Python's once-a-line record of a warning is cleared whenever warning filters change
    (`warnings.catch_warnings`, as the predictor searcher sets around its surrogates' fits
    between asks): a search of 12 evaluations by the predictor searcher, scoring its
    candidates with such a predictor, warned 27 times."""
    train = [space.sample(seed) for seed in range(40)]
    train = [a for a in train if any(v == "dwconv" for v in a.values())]
    choices = {name: values[0] for name, values in space.choice_values().items()}
    choices.update({name: "identity" for name in choices if name.endswith(".mixer")})
    smallest = space.validate(space.canonical(choices))
    latencies = [space.cost(a).macs / 1e6 + 0.1 for a in train]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # fitted on few networks: its own warning
        predictor = get_predictor("learned", space).fit(train, latencies)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")
        for _ in range(3):
            predictor.predict([smallest])
            with warnings.catch_warnings():  # a surrogate's fit between two asks
                warnings.simplefilter("ignore")
        predictor.fit(train[:-1], latencies[:-1])  # a new fit: its own warning
        predictor.predict([smallest])
    assert sum("beyond all" in str(w.message) for w in caught) == 2


# -- CLI ----------------------------------------------------------------------------------------
def test_cli_profile_fit_eval(profile_path, tmp_path, capsys):
    from hwnas.predictors.accuracy import latency_accuracy

    holdout = tmp_path / "holdout.csv"
    main(
        [
            "latency",
            "profile",
            "--space",
            str(TINY),
            "--samples",
            "4",
            "--archs-only",
            "--seed",
            "7",
            "--runs",
            "5",
            "--rounds",
            "2",
            "--warmup",
            "1",
            "--out",
            str(holdout),
        ]
    )
    out = tmp_path / "learned.json"
    main(["latency", "fit", str(profile_path), "-o", str(out), "--kind", "learned"])
    capsys.readouterr()
    main(["latency", "eval", str(out), "--holdout", str(holdout), "--json"])
    scores = json.loads(capsys.readouterr().out)
    assert scores["holdout"] == str(holdout)  # a profile's path as text; a count is a number
    predictor = load_predictor(out)
    archs, measured = read_profile(holdout).arch_records(predictor.space)
    predicted = predictor.predict(archs)
    expected = latency_accuracy(measured, predicted)
    for key in ("rmse", "mape", "within_5pct", "within_10pct", "kendall_tau", "spearman"):
        assert scores[key] == pytest.approx(expected[key], nan_ok=True)
    assert scores["rmse"] == pytest.approx(np.sqrt(np.mean((predicted - measured) ** 2)))
    assert scores["mape"] == pytest.approx(100 * np.mean(np.abs(predicted / measured - 1)))
    main(["latency", "eval", str(out), "--holdout", str(holdout)])  # as a person reads them
    lines = [line.split(": ", 1) for line in capsys.readouterr().out.splitlines()]
    shown = {key.strip(): text.split()[0] for key, text in lines}
    for key in ("rmse", "mape", "within_5pct", "within_10pct", "kendall_tau", "spearman"):
        assert shown[key] == metric_text(scores[key]), key

    main(["latency", "eval", str(out), "--holdout", "3", "--json"])
    scores = json.loads(capsys.readouterr().out)
    assert scores["n"] == 3 and scores["holdout"] == 3


def test_profile_draws_no_progress_bar_into_a_log(tmp_path, capsys):
    """Off a terminal (a CI log, a batch job's file) the bar's every redraw stays: 765 of them
    for a 426-row profile. There the profile says only what it measured, as export does."""
    quick = ["--samples", "3", "--archs-only", "--warmup", "1", "--runs", "3", "--rounds", "1"]
    out = tmp_path / "p.csv"
    assert hwnas("latency", "profile", "--space", str(TINY), "--out", str(out), *quick) == 0
    said = capsys.readouterr()
    assert "row/s" not in said.err and "\r" not in said.err
    assert f"{out}: 3 rows (0 failed)" in said.out


def test_profile_takes_an_experiments_input_and_classes_as_build_profile_does(tmp_path, capsys):
    """An experiment's `space: {name, input, classes}` needs a profile at that input, which
    `build_profile(get_space(NAME, input_shape=..., num_classes=...))` measured but `hwnas
    latency profile` could not (examples/conv2d_mnist5k_latency.yaml asks for one at 1x28x28
    of conv2d, 3x32x32 by default). The CLI's profile is the one Python makes: Python resumes
    it, finding nothing left to measure (a profile of other settings is refused)."""
    quick = ["--samples", "2", "--archs-only", "--precision", "fp32", "--warmup", "1"]
    quick += ["--runs", "3", "--rounds", "1"]
    out = tmp_path / "p.csv"
    common = ("latency", "profile", "--space", str(TINY), "--out", str(out))
    assert hwnas(*common, "--input", "2,32", "--classes", "3", *quick) == 0
    space = read_profile(out).space()
    assert (space.input_shape, space.num_classes) == ((2, 32), 3)
    settings = dict(samples=2, archs_only=True, precisions=["fp32"], warmup=1, runs=3, rounds=1)
    again = build_profile(
        get_space(TINY, input_shape=(2, 32), num_classes=3), out, progress=False, **settings
    )
    assert len(again.rows) == 2
    with pytest.raises(ProfileError, match=r"input_shape: \[2, 32\] != \[1, 16\]"):
        build_profile(TINY, out, progress=False, **settings)  # at the file's own input
    capsys.readouterr()
    assert hwnas(*common, "--input", "2,x", *quick) == 2
    assert "Invalid value for --input: '2,x'" in capsys.readouterr().err


def test_a_profile_whose_rounds_rank_its_rows_unlike_each_other_says_so(space, tmp_path, capsys):
    """On an NVIDIA H200 the eager CUDA timings ranked networks unlike from one round to the
    next (Kendall tau 0.66) and the predictors fitted on them ranked held-out networks at 0.24:
    a profile whose rounds disagree says so when it is built or resumed."""
    path = tmp_path / "archs.csv"
    settings = dict(samples=20, archs_only=True, precisions=["fp32"], progress=False, **FAST)
    with warnings.catch_warnings():  # how steady this machine's timings are is not tested here
        warnings.simplefilter("ignore")
        build_profile(space, path, **settings)
    rows = list(csv.DictReader(path.open(newline="")))
    for rank, row in enumerate(rows):  # the second round ranks them in the reverse order
        row["round_medians_ms"] = f"{1 + rank / 100};{1 + (len(rows) - rank) / 100}"
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    said = r"archs.csv: its timings do not repeat well: .* rank the 20 networks \(fp32\) at -1.000"
    with pytest.warns(UserWarning, match=said):
        build_profile(space, path, **settings)  # complete: resumed, nothing measured
    quick = ["--samples", "20", "--archs-only", "--precision", "fp32", "--warmup", "1"]
    quick += ["--runs", "5", "--rounds", "2"]
    with pytest.warns(UserWarning, match=said):
        main(["latency", "profile", "--space", str(TINY), "--out", str(path), *quick])
    said = capsys.readouterr().out
    assert "repeatability: its rounds rank the 20 networks (fp32) at -1.000" in said


def test_repeatability_tells_the_h200s_cuda_timings_from_an_idle_cpus(tmp_path, capsys):
    """The committed profiles: eager CUDA on an H200 VM against onnxruntime-cpu on an idle
    2-core VM (docs/benchmarks.md); `latency eval` prints the holdout's."""
    data = Path(__file__).parents[1] / "benchmarks" / "data"
    h200 = read_profile(data / "h200" / "conv2d_cuda_fp32_holdout.csv")
    assert str(round_agreement(h200, "arch")) == "180 networks (fp32) at 0.708"
    warned = unrepeatable_warning(h200)
    assert "180 networks (fp32) at 0.708" in warned
    # its machine was nearly idle (load 1.4-5.6 on 16 cores): a quieter one is no remedy there
    assert "quieter machine measures steadier" not in warned and "H200" in warned
    epyc = read_profile(data / "epyc" / "conv2d_ort_fp32_holdout.csv")
    assert round_agreement(epyc, "arch").kendall_tau > 0.9 and unrepeatable_warning(epyc) is None
    assert round_agreement(epyc, "block") is None  # it holds no blocks
    lut = tmp_path / "lut.json"
    main(["latency", "fit", str(data / "h200" / "conv2d_cuda_fp32.csv"), "-o", str(lut)])
    capsys.readouterr()
    main(["latency", "eval", str(lut), "--holdout", str(h200.path), "--json"])
    assert json.loads(capsys.readouterr().out)["repeatability"] == pytest.approx(0.708, abs=5e-4)


def test_a_round_agreement_just_below_the_bound_never_reads_as_the_bound():
    """Printed rounded down: a tau of 0.79996 warned of as "below 0.8" read "at 0.800"."""
    just_below = RoundAgreement("arch", "fp32", 20, 20, REPEATABLE_TAU - 4e-5)
    assert str(just_below) == "20 networks (fp32) at 0.799"
    assert str(RoundAgreement("block", "int8", 30, 60, 0.9)) == (
        "60 measurements of 30 blocks (int8) at 0.900"
    )


# recorded before the int8 fix: read, it warns so (test_a_profile_of_an_older_int8_quantization_...)
@pytest.mark.filterwarnings("ignore:.*measured by an hwnas before 2026-12-07")
def test_repeatability_counts_networks_once_and_ranks_mixed_precisions_together():
    """The EPYC holdout measured its 200 networks in 2 passes: it was said to rank "400
    networks". The default profile's 100 networks mix 4 precisions in 4 ways: only the 80 of
    one mix were ranked, named as if they were all."""
    data = Path(__file__).parents[1] / "benchmarks" / "data" / "epyc"
    passes = round_agreement(read_profile(data / "conv2d_ort_fp32_holdout.csv"), "arch")
    assert (passes.models, passes.rows) == (200, 400)
    assert str(passes) == "400 measurements of 200 networks (fp32) at 0.928"
    mixed = round_agreement(read_profile(data / "conv2d_ort_default.csv"), "arch")
    assert str(mixed) == "100 networks (fp16+fp32+int8+w4a8) at 0.908"


def test_a_holdout_of_a_digit_no_number_is_taken_for_a_profile(profile_path, tmp_path, capsys):
    """`--holdout ²`, a digit to `str.isdigit` but no number `int` reads, ended in "invalid
    literal for int() with base 10: '²'", naming neither the option nor a file."""
    lut = LUTPredictor.from_profile(profile_path).save(tmp_path / "lut.json")
    assert hwnas("latency", "eval", str(lut), "--holdout", "\u00b2") == 1
    assert "\u00b2: profile not found" in capsys.readouterr().err


def test_eval_holds_out_what_the_learned_predictor_was_fitted_on(profile_path, tmp_path, capsys):
    """`--holdout N` scores the predictor in the file on the networks it records, not on its
    profile as it is on disk now (re-measured, edited or gone); a held-out profile the
    predictor was fitted on is refused saying so."""
    from hwnas.predictors.accuracy import latency_accuracy

    profile = tmp_path / "p.csv"
    profile.write_bytes(profile_path.read_bytes())
    profile.with_suffix(".json").write_bytes(profile_path.with_suffix(".json").read_bytes())
    out = tmp_path / "learned.json"
    assert hwnas("latency", "fit", str(profile), "-o", str(out), "--kind", "learned") == 0
    capsys.readouterr()
    assert hwnas("latency", "eval", str(out), "--holdout", "3", "--json") == 0
    before = json.loads(capsys.readouterr().out)
    assert hwnas("latency", "eval", str(out), "--holdout", "-1") == 1  # not a file named -1
    assert "cannot hold out -1 of the" in capsys.readouterr().err
    assert hwnas("latency", "eval", str(out), "--holdout", str(profile)) == 1
    assert "no held-out whole-architecture rows to evaluate on (all" in capsys.readouterr().err
    profile.unlink()
    assert hwnas("latency", "eval", str(out), "--holdout", "3", "--json") == 0
    assert json.loads(capsys.readouterr().out) == before
    predictor = load_predictor(out)
    archs, y = predictor.train_data
    refitted = LearnedPredictor(predictor.space, predictor.lut).fit(archs[:-3], y[:-3])
    expected = latency_accuracy(np.asarray(y[-3:]), refitted.predict(archs[-3:]))
    assert before["rmse"] == pytest.approx(expected["rmse"])


def test_cli_errors_are_one_line(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["latency", "fit", str(tmp_path / "missing.csv"), "-o", str(tmp_path / "p.json")])
    assert exit_info.value.code != 0
    err = capsys.readouterr().err
    assert "missing.csv" in err and "Traceback" not in err


def test_a_missing_profile_says_where_a_relative_path_is_read_from(tmp_path, capsys, monkeypatch):
    """A profile named by a relative path that is not there: "profile not found" did not say
    which folder it was looked for in (the current directory, not the experiment's or the
    predictor's); an absolute path says no more than itself."""
    monkeypatch.chdir(tmp_path)
    assert hwnas("latency", "fit", "profiles/missing.csv", "-o", "p.json") == 1
    assert capsys.readouterr().err == (
        "hwnas: error: profiles/missing.csv: profile not found (read from the current "
        f"directory: {tmp_path})\n"
    )
    with pytest.raises(ProfileError, match=f"^{tmp_path}/missing.csv: profile not found$"):
        read_profile(tmp_path / "missing.csv")


def test_a_profile_that_is_a_device_or_a_pipe_is_refused_unread(tmp_path, capsys):
    """A profile path that exists but is no regular file (`/dev/zero`, a named pipe) was said
    to be "not found"; it is refused naming what it is, before anything is read (a pipe
    with no writer would block the read)."""
    assert hwnas("latency", "fit", "/dev/zero", "-o", str(tmp_path / "p.json")) == 1
    assert capsys.readouterr().err == (
        "hwnas: error: /dev/zero: not a regular file (a device or a pipe); nothing read\n"
    )
    pipe = tmp_path / "p.csv"
    os.mkfifo(pipe)
    with pytest.raises(ProfileError, match=f"^{pipe}: not a regular file .* nothing read$"):
        read_profile(pipe)


def test_a_profile_named_longer_than_a_file_name_may_be_is_refused_naming_it(tmp_path, capsys):
    """`latency fit`, `--parts` and `latency eval --holdout` of a profile whose name is
    longer than a file name may be ended in the OS's bare "[Errno 36] File name too long"."""
    long = tmp_path / f"{'p' * 300}.csv"
    said = f"'{long.name}' is 304 bytes, more than the 255 a file name may have here"
    assert hwnas("latency", "fit", str(long), "-o", str(tmp_path / "p.json")) == 1
    assert capsys.readouterr().err == f"hwnas: error: {long}: {said}\n"
    with pytest.raises(ProfileError, match=f"^{long}: {said}$"):
        read_profile(long)


@pytest.mark.parametrize(
    ("args", "option", "said"),
    [
        (
            ("fit", str(DATA / "tiny2d_ort.csv"), "-o", "p.json", "--kind", "lookup"),
            "--kind",
            "'lookup' is not one of 'lut', 'learned'",
        ),
        (
            ("profile", "--space", "conv1d", "--out", "p.csv", "--backend", "onnx"),
            "--backend",
            "'onnx' is not one of 'onnxruntime-cpu', 'torch-cpu', 'torch-cuda'",
        ),
        (
            ("profile", "--space", "conv1d", "--out", "p.csv", "--clock", "cpu"),
            "--clock",
            "'cpu' is not one of 'auto', 'thread', 'wall'",
        ),
    ],
)
def test_cli_bad_choices_are_usage_errors(args, option, said, tmp_path, capsys, monkeypatch):
    """A `--kind`, `--backend` or `--clock` hwnas has not is a usage error naming the option
    (exit 2), before the space or profile is read: they were refused as `clock: unknown
    'cpu'` (the library's setting, not the option) or `fit from a profile supports kinds...`,
    exit 1, once the space was built or the profile read."""
    monkeypatch.chdir(tmp_path)
    assert hwnas("latency", *args) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert f"Invalid value for '{option}'" in err and said in err
    assert f"Usage: hwnas latency {args[0]}" in err
    assert not list(tmp_path.iterdir())


def test_cli_choices_are_the_librarys():
    """The CLI's `--backend` and `--clock` offer what the measuring code takes (the CLI does
    not import it, torch, for its help)."""
    from typing import get_args

    from hwnas.cli.latency import Backend, Clock
    from hwnas.predictors.backends import BACKENDS, CLOCKS

    assert set(get_args(Backend)) == set(BACKENDS)
    assert set(get_args(Clock)) == {"auto", *CLOCKS}


def test_profile_file_is_data_not_pickle(profile_path):
    head = profile_path.read_bytes()[:200]
    assert head.startswith(b"row_id,kind,")


# -- the device a predictor predicts for ---------------------------------------------------------
def _as_measured_elsewhere(profile: Path, out: Path, cpu: str = "Other CPU 9000") -> Path:
    """A copy of `profile` as if another machine had measured it (its rows name that CPU)."""
    from hwnas.predictors.fingerprint import cpu_model

    out.write_text(profile.read_text().replace(cpu_model(), cpu))
    out.with_suffix(".json").write_text(profile.with_suffix(".json").read_text())
    return out


def test_a_predictor_records_its_device_and_eval_says_when_the_holdout_is_another(
    space, profile_path, tmp_path, capsys
):
    from hwnas.predictors.fingerprint import cpu_model

    lut = tmp_path / "lut.json"
    main(["latency", "fit", str(profile_path), "-o", str(lut)])
    assert load_predictor(lut).measured_on["cpu"] == cpu_model()
    assert f"predicting latencies on {cpu_model()} (" in capsys.readouterr().out
    main(["latency", "eval", str(lut), "--holdout", str(profile_path)])
    captured = capsys.readouterr()
    assert f"device: {cpu_model()}" in captured.out and "another device" not in captured.err
    held_out = int(captured.out.split(" n: ")[1].split()[0])
    assert held_out < 20 and captured.err == (  # a handful of networks: the scores are rough
        f"hwnas: note: {held_out} held-out networks give rough scores (one disturbed measurement "
        "moves them far); 20 or more say more\n"
    )
    main(["latency", "eval", str(lut), "--holdout", "1"])  # the last network of its profile
    assert "note: 1 held-out network gives rough scores" in capsys.readouterr().err

    elsewhere = _as_measured_elsewhere(profile_path, tmp_path / "elsewhere.csv")
    main(["latency", "eval", str(lut), "--holdout", str(elsewhere), "--json"])
    captured = capsys.readouterr()
    scores = json.loads(captured.out)
    assert scores["holdout_device"].startswith("Other CPU 9000")
    assert "another device" in captured.err and "Other CPU 9000" in captured.err
    assert captured.err.startswith("hwnas: warning: the holdout was measured on another device")

    old = json.loads(lut.read_text())  # a file written before devices were recorded
    del old["measured_on"]
    lut.write_text(json.dumps(old))
    assert load_predictor(lut).measured_on is None
    main(["latency", "eval", str(lut), "--holdout", str(profile_path)])
    assert "device: not recorded" in capsys.readouterr().out


def _as_measured_on_the_wall_clock(profile: Path, out: Path) -> Path:
    """A copy of `profile` as if measured with `--clock wall` (its rows say so)."""
    with profile.open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert {row["clock"] for row in rows} == {"thread"}
    with out.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows({**row, "clock": "wall"} for row in rows)
    meta = json.loads(profile.with_suffix(".json").read_text())
    out.with_suffix(".json").write_text(json.dumps({**meta, "clock": "wall"}))
    return out


def test_the_clock_is_part_of_the_device(profile_path, tmp_path, capsys):
    """Wall-clock latencies (about 17 % higher here) were mixed with thread-clock ones
    without a word: eval scored a thread-clock table on wall-clock networks silently."""
    lut = tmp_path / "lut.json"
    main(["latency", "fit", str(profile_path), "-o", str(lut)])
    assert load_predictor(lut).measured_on["clock"] == "thread"
    wall = _as_measured_on_the_wall_clock(profile_path, tmp_path / "wall.csv")
    capsys.readouterr()
    main(["latency", "eval", str(lut), "--holdout", str(wall), "--json"])
    captured = capsys.readouterr()
    assert json.loads(captured.out)["holdout_device"].endswith("batch 1, wall clock")
    assert "another device" in captured.err and "clock: 'thread' != 'wall'" in captured.err
    with pytest.raises(PredictorError, match="clock: 'wall' != 'thread'"):
        fit_from_profile(wall, "learned", parts=profile_path)
    old = json.loads(lut.read_text())  # recorded before the clock was: no difference
    del old["measured_on"]["clock"]
    lut.write_text(json.dumps(old))
    main(["latency", "eval", str(lut), "--holdout", str(profile_path)])
    assert "another device" not in capsys.readouterr().err


def test_a_table_and_networks_from_two_devices_are_not_mixed(space, profile_path, tmp_path):
    elsewhere = _as_measured_elsewhere(profile_path, tmp_path / "elsewhere.csv")
    with pytest.raises(PredictorError, match="Other CPU 9000"):
        fit_from_profile(profile_path, "learned", parts=elsewhere)
    learned = fit_from_profile(elsewhere, "learned")
    assert learned.measured_on["cpu"] == "Other CPU 9000"
    saved = learned.save(tmp_path / "learned.json")
    assert load_predictor(saved).measured_on == learned.measured_on


def test_the_advice_to_resume_a_built_in_spaces_profile_names_the_space(tmp_path):
    """It named the built-in YAML inside the installed package as `--space`."""
    out = tmp_path / "cut.csv"
    built_in = get_space("conv1d")
    build_profile(built_in, out, samples=0, limit=1, progress=False, **PROFILE_FAST)
    advice = re.escape(f"`hwnas latency profile --space conv1d --out {out}`")
    with pytest.raises(ProfileError, match=advice):
        read_profile(out).check_parts(built_in)


def test_a_profile_of_another_installs_built_in_space_is_advised_by_the_space_name(tmp_path):
    """A profile measured by another checkout or install of hwnas records the built-in YAML
    inside that one: the advice to resume it, or to measure it again, named that file (which
    this hwnas may not have) as `--space`. Its space is this hwnas's built-in where the
    definitions are the same; another definition keeps the file it was read from."""
    out = tmp_path / "cut.csv"
    build_profile(get_space("conv1d"), out, samples=0, limit=1, progress=False, **PROFILE_FAST)
    meta = json.loads(out.with_suffix(".json").read_text())
    elsewhere = "/opt/other/hwnas/spaces/library/conv1d.yaml"
    meta["space_source"] = elsewhere
    out.with_suffix(".json").write_text(json.dumps(meta))
    profile = read_profile(out)
    assert profile.measure_again().startswith("`hwnas latency profile --space conv1d --precision")
    advice = re.escape(f"`hwnas latency profile --space conv1d --out {out}`")
    with pytest.raises(ProfileError, match=advice):
        profile.check_parts(profile.space())
    meta["space_definition"]["description"] = "conv1d, edited there"
    out.with_suffix(".json").write_text(json.dumps(meta))
    assert f"--space {elsewhere} --precision" in read_profile(out).measure_again()


def test_an_older_profile_of_a_built_in_space_recorded_elsewhere_is_advised_by_the_name(
    tmp_path,
):
    """A profile of before 12-01 records no space definition: one recorded by another
    checkout (the profiles shipped in benchmarks/data record `/work/main/...`) was advised
    with that file as `--space`, a path a user's clone does not have. Its file still on this
    machine stays the advice, as it may hold an edited space."""
    out = tmp_path / "cut.csv"
    build_profile(get_space("conv1d"), out, samples=0, limit=1, progress=False, **PROFILE_FAST)
    meta = json.loads(out.with_suffix(".json").read_text())
    del meta["space_definition"]
    meta["space_source"] = str(tmp_path / "gone" / "hwnas/spaces/library/conv1d.yaml")
    out.with_suffix(".json").write_text(json.dumps(meta))
    assert read_profile(out).measure_again().startswith("`hwnas latency profile --space conv1d ")
    kept = tmp_path / "other" / "conv1d.yaml"
    kept.parent.mkdir()
    kept.write_text((LIBRARY / "conv1d.yaml").read_text())
    meta["space_source"] = str(kept)
    out.with_suffix(".json").write_text(json.dumps(meta))
    assert f"--space {kept} --precision" in read_profile(out).measure_again()


def test_a_profile_is_not_resumed_on_another_device(space, tmp_path):
    first = tmp_path / "first.csv"
    build_profile(space, first, samples=0, limit=2, progress=False, **PROFILE_FAST)
    elsewhere = _as_measured_elsewhere(first, tmp_path / "elsewhere.csv")
    before = elsewhere.read_text()
    with pytest.raises(ProfileError, match="Other CPU 9000"):
        build_profile(space, elsewhere, samples=0, limit=2, progress=False, **PROFILE_FAST)
    assert elsewhere.read_text() == before


def test_eval_holding_out_n_checks_the_profile_a_lookup_table_was_read_from(
    profile_path, tmp_path, capsys
):
    """`--holdout N` re-reads a table's profile at its recorded path: rewritten since with
    another device's rows or for another input shape, it was scored without a word, while
    the same file given as `--holdout FILE` was refused or warned about."""
    own = tmp_path / "own.csv"
    for path in (own, own.with_suffix(".json")):
        path.write_bytes(profile_path.with_suffix(path.suffix).read_bytes())
    lut = tmp_path / "lut.json"
    assert hwnas("latency", "fit", str(own), "-o", str(lut)) == 0
    assert hwnas("latency", "eval", str(lut), "--holdout", "1") == 0
    capsys.readouterr()
    _as_measured_elsewhere(profile_path, own)  # the same path, another machine's rows
    assert hwnas("latency", "eval", str(lut), "--holdout", "1") == 1
    err = capsys.readouterr().err
    assert f"{own}: the predictor's profile now holds measurements on another device" in err
    assert "Other CPU 9000" in err
    meta = json.loads(own.with_suffix(".json").read_text())
    own.with_suffix(".json").write_text(json.dumps({**meta, "input_shape": [1, 32]}))
    assert hwnas("latency", "eval", str(lut), "--holdout", "1") == 1
    assert (
        "the predictor's profile was measured with input_shape [1, 32]" in capsys.readouterr().err
    )


def test_eval_with_too_few_holdout_networks_to_rank_says_so(profile_path, tmp_path, capsys):
    lut = tmp_path / "lut.json"
    main(["latency", "fit", str(profile_path), "-o", str(lut)])
    capsys.readouterr()
    main(["latency", "eval", str(lut), "--holdout", "1"])
    out = capsys.readouterr().out
    assert "nan" not in out.lower()
    assert "kendall_tau: n/a" in out and "at least 2" in out
    main(["latency", "eval", str(lut), "--holdout", "1", "--json"])

    def refuse(constant):
        raise AssertionError(f"{constant} is not JSON")

    scores = json.loads(capsys.readouterr().out, parse_constant=refuse)
    assert scores["n"] == 1 and scores["kendall_tau"] is None and scores["spearman"] is None


def test_a_predictor_or_profile_with_unusable_numbers_or_a_newer_format_is_refused(tmp_path):
    data = Path(__file__).parent / "data"
    saved = LUTPredictor.from_profile(data / "tiny2d_ort.csv").save(tmp_path / "lut.json")
    record = json.loads(saved.read_text())
    entry = next(iter(record["table"]))
    for bad in (float("nan"), -1.0):
        saved.write_text(json.dumps({**record, "table": {**record["table"], entry: bad}}))
        with pytest.raises(PredictorError, match=rf"lut.json: .*{re.escape(entry)}"):
            load_predictor(saved)
    for name in ("tiny2d_ort.csv", "tiny2d.yaml"):
        (tmp_path / name).write_bytes((data / name).read_bytes())
    meta = json.loads((data / "tiny2d_ort.json").read_text())
    (tmp_path / "tiny2d_ort.json").write_text(json.dumps({**meta, "format_version": 99}))
    with pytest.raises(ProfileError, match="tiny2d_ort.json: format_version 99"):
        read_profile(tmp_path / "tiny2d_ort.csv")


# -- what a profile or predictor must hold ------------------------------------------------------
def test_profile_refuses_a_precision_the_space_lacks_and_an_empty_held_out_set(tmp_path, capsys):
    out = tmp_path / "p.csv"
    common = ("latency", "profile", "--space", str(TINY), "--out", str(out))
    assert hwnas(*common, "--precision", "fp16", "--samples", "1") == 1
    assert "--precision fp16: not a precision of space 'tiny' (fp32, int8, w4a8)" in (
        capsys.readouterr().err
    )
    assert hwnas(*common, "--precision", "fp8", "--samples", "1") == 1  # it named no option
    assert "--precision fp8: unknown; choose from fp32, fp16, int8, w4a8" in capsys.readouterr().err
    assert hwnas(*common, "--samples", "0", "--archs-only") == 1
    assert "measures nothing" in capsys.readouterr().err
    assert not out.exists()
    cells = ("latency", "profile", "--space", "nasbench201", "--out", str(out), "--samples", "0")
    assert hwnas(*cells) == 1  # exited 0 with an empty profile written
    assert "a profile of nasbench201 of 0 samples measures nothing (its networks have no " in (
        capsys.readouterr().err
    )
    assert not out.exists()
    quick = ("--warmup", "1", "--runs", "3", "--rounds", "1")
    assert hwnas(*common, "--samples", "1", "--archs-only", *quick) == 0
    said = capsys.readouterr().out
    assert f"{out}: 1 row (0 failed), measured on " in said and "onnxruntime-cpu" in said
    again = tmp_path / "again.csv"  # a repeated precision is profiled once
    repeated = ("--precision", "fp32", "--precision", "fp32,fp32")
    assert hwnas(*common[:-1], str(again), "--samples", "1", "--archs-only", *repeated, *quick) == 0
    assert read_profile(again).meta["precisions"] == ["fp32"] and len(read_profile(again).rows) == 1
    many = str(len(os.sched_getaffinity(0)) + 1)  # more threads than cores: said, still measured
    with pytest.warns(UserWarning, match=f"threads: {many} is more than the .* cores"):
        assert (
            hwnas(
                *common[:-1],
                str(tmp_path / "m.csv"),
                "--samples",
                "1",
                "--archs-only",
                "--threads",
                many,
                *quick,
            )
            == 0
        )
    capsys.readouterr()

    torch_cpu = (*common[:-1], str(tmp_path / "t.csv"), "--backend", "torch-cpu", *quick)
    assert hwnas(*torch_cpu, "--samples", "1") == 1  # the space's int8: refused, not N failed rows
    assert "torch-cpu' has no integer kernels" in capsys.readouterr().err
    conv1d = ["latency", "profile", "--space", "conv1d", *torch_cpu[4:], "--precision", "fp16"]
    assert hwnas(*conv1d) == 1  # would run for minutes in PyTorch's CPU fallbacks
    assert "does not time fp16" in capsys.readouterr().err
    assert not (tmp_path / "t.csv").exists()


def _committed_rows() -> list[list[str]]:
    """The table of tests/data/tiny2d_ort.csv, header first, as lists of cells to edit."""
    return list(csv.reader((DATA / "tiny2d_ort.csv").open(newline="")))


def _copied_profile(tmp_path: Path, rows: list[list[str]]) -> Path:
    """tmp_path/tiny2d_ort.csv holding `rows` (the committed table, edited), with the
    committed metadata and space file beside it."""
    out = tmp_path / "tiny2d_ort.csv"
    with out.open("w", newline="") as f:
        csv.writer(f).writerows(rows)
    for name in ("tiny2d_ort.json", "tiny2d.yaml"):
        (tmp_path / name).write_bytes((DATA / name).read_bytes())
    return out


def _edited_profile(tmp_path: Path, field: str, value: str, row: int = 1) -> Path:
    """A copy of tests/data/tiny2d_ort.csv (and its metadata) with one field of a row set."""
    rows = _committed_rows()
    rows[row][rows[0].index(field)] = value
    return _copied_profile(tmp_path, rows)


def _set_fields(row: list[str], header: list[str], **fields: str) -> None:
    """Set fields of a table row (a list of cells under `header`) by column name."""
    for field, value in fields.items():
        row[header.index(field)] = value


def test_a_part_measured_only_in_a_later_pass_is_priced_and_a_failed_one_can_be_retried(
    tmp_path, capsys
):
    rows = _committed_rows()
    header, first = rows[0], rows[1]
    later = [f"{first[0]}|pass2", *first[1:]]  # its second pass, which measured it
    rows.append(later)
    _set_fields(first, header, status="failed", error="boom", median_ms="")
    profile = _copied_profile(tmp_path, rows)
    lut = tmp_path / "lut.json"
    assert hwnas("latency", "fit", str(profile), "-o", str(lut)) == 0
    assert not read_profile(profile).ok["row_id"].str.contains("pass").any()
    measured = min(float(v) for v in later[header.index("round_medians_ms")].split(";"))
    assert load_predictor(lut).table[first[0]] == pytest.approx(measured)

    _set_fields(later, header, status="failed", error="boom", median_ms="")  # both passes
    profile = _copied_profile(tmp_path, rows)
    assert hwnas("latency", "fit", str(profile), "-o", str(lut)) == 1
    err = capsys.readouterr().err
    assert f"1 of them failed to measure (first: {first[0]}: boom)" in err
    assert "re-run the same `hwnas latency profile` command with --retry-failed" in err


def test_a_learned_fit_whose_networks_all_failed_says_how_to_retry_them(space, tmp_path, capsys):
    """It said only "no whole-architecture rows to fit on", as if none had been planned."""
    profile = tmp_path / "p.csv"
    build_profile(space, profile, samples=2, archs_only=True, progress=False, **PROFILE_FAST)
    with profile.open(newline="") as f:
        header, *rows = list(csv.reader(f))
    for row in rows:
        _set_fields(row, header, status="failed", error="boom", median_ms="")
    with profile.open("w", newline="") as f:
        csv.writer(f).writerows([header, *rows])
    out = tmp_path / "learned.json"
    assert hwnas("latency", "fit", str(profile), "--kind", "learned", "-o", str(out)) == 1
    said = f"no whole-architecture rows to fit on; 2 failed to measure (first: {rows[0][0]}: "
    err = capsys.readouterr().err
    assert f"{said}boom)" in err and "command with --retry-failed" in err


def test_a_learned_fit_short_of_networks_says_how_many_failed(space, tmp_path, capsys):
    """With some networks measured but too few to fit, it said only how many it needed and
    got, not that the others had failed to measure (nor how to measure them again)."""
    profile = tmp_path / "p.csv"
    build_profile(space, profile, samples=6, archs_only=True, progress=False, **PROFILE_FAST)
    with profile.open(newline="") as f:
        header, *rows = list(csv.reader(f))
    for row in rows[2:]:
        _set_fields(row, header, status="failed", error="boom", median_ms="")
    with profile.open("w", newline="") as f:
        csv.writer(f).writerows([header, *rows])
    out = tmp_path / "learned.json"
    assert hwnas("latency", "fit", str(profile), "--kind", "learned", "-o", str(out)) == 1
    err = capsys.readouterr().err
    said = f"got 2; 4 failed to measure (first: {rows[2][0]}: boom)"
    assert said in err and "command with --retry-failed" in err


def test_a_predictor_file_given_as_a_profile_says_it_is_a_predictor(tmp_path, capsys):
    saved = LUTPredictor.from_profile(DATA / "tiny2d_ort.csv").save(tmp_path / "lut.json")
    said = f"{saved}: a lut predictor file, not a profile; give it as a predictor (`predictor:`"
    assert hwnas("latency", "fit", str(saved), "-o", str(tmp_path / "o.json")) == 1
    assert said in capsys.readouterr().err
    with pytest.raises(ProfileError, match=re.escape(said)):  # an experiment's `profile:`
        LUTPredictor.from_profile(saved)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("round_medians_ms", "-5;-5"),
        ("round_medians_ms", "0.01;abc"),
        ("round_medians_ms", ""),
        ("median_ms", "abc"),
        ("median_ms", "nan"),
        ("median_ms", "-1"),
        ("kind", "blok"),
        ("status", ""),
    ],
)
def test_a_bad_row_is_refused_quoting_its_field_and_value(tmp_path, field, value):
    profile = _edited_profile(tmp_path, field, value, row=9)
    said = rf"tiny2d_ort.csv: line 10: row .*: {field} {value!r} is not"
    with pytest.raises(ProfileError, match=said):
        read_profile(profile)


def test_a_row_cut_short_is_refused_naming_its_line(tmp_path):
    """Padded with empty fields by pandas, it was read as measured on a second device."""
    rows = _committed_rows()
    rows[9] = rows[9][:20]
    with pytest.raises(ProfileError, match="line 10: 20 fields where the header has 40 "):
        read_profile(_copied_profile(tmp_path, rows))
    rows = _committed_rows()  # hand-concatenated: a row again, with another latency
    rows.append([*rows[3][:12], "9.5", *rows[3][13:]])
    said = rf"line {len(rows)}: row '{re.escape(rows[3][0])}': row_id .* is measured twice"
    with pytest.raises(ProfileError, match=said):
        read_profile(_copied_profile(tmp_path, rows))


def test_a_renamed_round_medians_column_is_refused_not_replaced_by_the_median(tmp_path):
    """Its latency silently became median_ms (the median of all runs, not the best round's)."""
    rows = _committed_rows()
    rows[0] = ["round_ms" if c == "round_medians_ms" else c for c in rows[0]]
    said = r"not a profile table, columns missing: \['round_medians_ms'\]"
    with pytest.raises(ProfileError, match=said):
        read_profile(_copied_profile(tmp_path, rows))


@pytest.mark.parametrize("column", ["arch", "error", "fp_cpu"])
def test_a_column_its_rows_need_is_refused_when_missing_not_a_bare_key_error(
    profile_path, tmp_path, capsys, column
):
    """Whole networks need `arch` (fitting reads it), failed rows `error` (a fit quotes it):
    dropped by hand, `fit` said only `error: 'arch'`. A dropped device field (`fp_cpu`) was
    taken for a device without a CPU name."""
    rows = list(csv.reader(profile_path.open(newline="")))
    _set_fields(rows[1], rows[0], status="failed", error="boom", median_ms="")
    drop = rows[0].index(column)
    profile = tmp_path / "edited.csv"
    with profile.open("w", newline="") as f:
        csv.writer(f).writerows(row[:drop] + row[drop + 1 :] for row in rows)
    profile.with_suffix(".json").write_bytes(profile_path.with_suffix(".json").read_bytes())
    out = str(tmp_path / "p.json")
    assert hwnas("latency", "fit", str(profile), "--kind", "learned", "-o", out) == 1
    said = f"{profile}: not a profile table, columns missing: ['{column}']"
    assert said in capsys.readouterr().err


def test_a_table_of_parts_only_needs_no_arch_column(tmp_path, capsys):
    """It has no whole networks to fit on, and says so (it said `error: 'arch'`)."""
    rows = _committed_rows()
    drop = rows[0].index("arch")
    profile = _copied_profile(tmp_path, [row[:drop] + row[drop + 1 :] for row in rows])
    assert len(read_profile(profile).parts()) == len(rows) - 1
    out = str(tmp_path / "p.json")
    assert hwnas("latency", "fit", str(profile), "--kind", "learned", "-o", out) == 1
    assert f"{profile}: no whole-architecture rows to fit on" in capsys.readouterr().err


def test_fit_never_writes_over_its_profile_and_names_unusable_files(profile_path, tmp_path, capsys):
    profile = tmp_path / "p.csv"
    profile.write_bytes(profile_path.read_bytes())
    meta = profile.with_suffix(".json")
    meta.write_bytes(profile_path.with_suffix(".json").read_bytes())
    assert hwnas("latency", "fit", str(profile), "-o", str(meta)) == 1
    assert f"-o {meta}: that is a file of the profile {profile}" in capsys.readouterr().err
    assert hwnas("latency", "fit", str(profile), "-o", str(profile)) == 1
    assert f"-o {profile}: a predictor file's name ends in .json" in capsys.readouterr().err
    assert meta.read_bytes() == profile_path.with_suffix(".json").read_bytes()  # intact
    assert profile.read_bytes() == profile_path.read_bytes()
    assert hwnas("latency", "fit", str(profile), "-o", str(tmp_path)) == 1
    assert f"{tmp_path}: is a folder" in capsys.readouterr().err
    profile.write_bytes(bytes(range(256)) * 8)  # binary, not a table
    assert hwnas("latency", "fit", str(profile), "-o", str(tmp_path / "lut.json")) == 1
    assert f"{profile}: not a profile table" in capsys.readouterr().err


def test_fit_never_writes_over_another_profiles_metadata_but_over_its_predictor(
    profile_path, tmp_path, capsys
):
    other = _copied_profile(tmp_path, _committed_rows())
    meta, table = other.with_suffix(".json"), other.read_bytes()
    assert hwnas("latency", "fit", str(profile_path), "-o", str(meta)) == 1
    assert f"-o {meta}: that is a file of the profile {other}" in capsys.readouterr().err
    assert meta.read_bytes() == (DATA / "tiny2d_ort.json").read_bytes()  # intact
    assert hwnas("latency", "fit", str(profile_path), "-o", str(other)) == 1  # its table
    assert f"-o {other}: a predictor file's name ends in .json" in capsys.readouterr().err
    assert other.read_bytes() == table
    with pytest.raises(PredictorError, match="that is a file of the profile"):
        LUTPredictor.from_profile(profile_path).save(meta)  # the Python API, as the CLI
    lut = tmp_path / "lut.json"
    for _ in range(2):  # an earlier predictor is written over
        assert hwnas("latency", "fit", str(profile_path), "-o", str(lut)) == 0
    assert load_predictor(lut).kind == "lut"
    lut.write_bytes(b"\xef\xbb\xbf" + lut.read_bytes())  # saved again by a Windows editor
    assert hwnas("latency", "fit", str(profile_path), "-o", str(lut)) == 0  # still a predictor
    assert not lut.read_bytes().startswith(b"\xef\xbb\xbf")


def test_fit_never_writes_over_a_file_that_is_no_predictor(profile_path, tmp_path, capsys):
    """An exported architecture config (any file but a predictor) given as -o was written
    over unsaid; a pipe or a device was read for what it holds (`/dev/zero`'s until memory ran
    out), then replaced by the predictor."""
    config = tmp_path / "trial0-abc.json"
    config.write_text('{"space": {"name": "tiny2d"}, "choices": {}}\n')
    assert hwnas("latency", "fit", str(profile_path), "-o", str(config)) == 1
    assert f"-o {config}: exists and is no predictor file" in capsys.readouterr().err
    assert config.read_text() == '{"space": {"name": "tiny2d"}, "choices": {}}\n'
    notes = tmp_path / "notes.json"  # no JSON at all: no predictor either
    notes.write_text("measured on the lab's Pi\n")
    assert hwnas("latency", "fit", str(profile_path), "-o", str(notes)) == 1
    assert f"-o {notes}: exists and is no predictor file" in capsys.readouterr().err
    assert notes.read_text() == "measured on the lab's Pi\n"
    pipe = tmp_path / "pipe.json"
    os.mkfifo(pipe)
    with ThreadPoolExecutor(1) as writer:  # what a reader of the pipe gets
        written = writer.submit(pipe.write_text, "[]")
        assert hwnas("latency", "fit", str(profile_path), "-o", str(pipe)) == 1
        reader = os.open(pipe, os.O_RDONLY | os.O_NONBLOCK)  # the writer's open returns
        written.result(timeout=10)
        os.close(reader)
    assert f"-o {pipe}: not a regular file (a device or a pipe)" in capsys.readouterr().err
    assert pipe.is_fifo()


def test_fit_refuses_a_profile_without_every_part(space, profile_path, tmp_path, capsys):
    partial = tmp_path / "partial.csv"
    build_profile(space, partial, samples=0, limit=3, progress=False, **PROFILE_FAST)
    assert hwnas("latency", "fit", str(partial), "-o", str(tmp_path / "lut.json")) == 1
    err = capsys.readouterr().err
    expected = len(read_profile(profile_path).parts())
    assert f"partial.csv: {expected - 3} of the {expected} parts" in err
    assert "e.g. block|s0|" in err
    # the command that measures them names the space asking (it may have grown a width since)
    assert f"`hwnas latency profile --space {space.source} --out {partial}` with the" in err
    assert not (tmp_path / "lut.json").exists()
    with pytest.raises(ProfileError, match=f"partial.csv: {expected - 3} of the {expected}"):
        fit_from_profile(profile_path, "learned", parts=partial)
    lut = str(tmp_path / "lut.json")  # a table from --parts would ignore the profile given
    assert hwnas("latency", "fit", str(partial), "--parts", str(profile_path), "-o", lut) == 1
    assert f"parts: a lookup table is the parts of one profile; give {profile_path} as" in (
        capsys.readouterr().err
    )


def test_a_predictor_is_read_from_any_directory_and_without_its_space_file(
    profile_path, tmp_path, monkeypatch, capsys
):
    monkeypatch.chdir(profile_path.parent)
    assert hwnas("latency", "fit", profile_path.name, "-o", "lut.json", "--kind", "learned") == 0
    saved = profile_path.parent / "lut.json"
    monkeypatch.chdir(tmp_path)
    assert hwnas("latency", "eval", str(saved), "--holdout", "2") == 0
    record = json.loads(saved.read_text())
    assert record["source"] == str(profile_path)
    moved = tmp_path / "moved.json"  # its space file gone: rebuilt from the file's definition
    moved.write_text(json.dumps({**record, "space": {**record["space"], "source": "gone.yaml"}}))
    original = load_predictor(saved)  # each load refits the predictor: loaded once
    archs = [original.space.sample(s) for s in range(3)]
    np.testing.assert_array_equal(load_predictor(moved).predict(archs), original.predict(archs))
    older = dict(record["space"], source=str(tmp_path / "gone.yaml"))  # no definition
    del older["definition"]
    moved.write_text(json.dumps({**record, "space": older}))
    with pytest.raises(
        PredictorError, match=r"moved.json: its space file .*gone.yaml is missing"
    ) as e:
        load_predictor(moved)
    assert str(e.value).endswith(
        "(an earlier hwnas wrote it): put the space's YAML back at that path"
    )


def test_a_profile_without_its_space_file_or_a_copy_of_it_says_where_to_put_it(tmp_path):
    """A profile also finds its space's YAML in its own folder (a copied profile), so the
    refusal of one that holds no definition names that folder as well as the lost path."""
    folder = tmp_path / "copied"
    folder.mkdir()
    for suffix in (".csv", ".json"):
        (folder / f"p{suffix}").write_bytes((DATA / f"tiny2d_ort{suffix}").read_bytes())
    meta = json.loads((folder / "p.json").read_text())  # an earlier hwnas's: no definition
    gone = tmp_path / "gone" / "tiny2d.yaml"
    (folder / "p.json").write_text(json.dumps({**meta, "space_source": str(gone)}))
    with pytest.raises(PredictorError) as e:
        read_profile(folder / "p.csv").space()
    assert f"its space file {gone} is missing (space 'tiny2d')" in str(e.value)
    assert str(e.value).endswith(f"put the space's YAML back at that path, or into {folder}")


def test_an_arch_cell_that_is_no_arch_of_the_space_names_its_row(space, profile_path, tmp_path):
    """Was the JSON decoder's "line 1 column 840" or the space's error, without the file."""
    rows = list(csv.reader(profile_path.open(newline="")))
    header = rows[0]
    first = next(i for i, r in enumerate(rows) if r[header.index("kind")] == "arch")
    arch, row_id = json.loads(rows[first][header.index("arch")]), rows[first][0]
    copy = tmp_path / "copy.csv"
    copy.with_suffix(".json").write_bytes(profile_path.with_suffix(".json").read_bytes())
    kernel = next(k for k in arch["choices"] if k.endswith("kernel"))
    no_such_kernel = json.dumps({**arch, "choices": {**arch["choices"], kernel: 99}})
    for cell, why in [("{not json", "Expecting property name"), (no_such_kernel, "99 not in")]:
        edited = [list(r) for r in rows]
        edited[first][header.index("arch")] = cell
        with copy.open("w", newline="") as f:
            csv.writer(f).writerows(edited)
        with pytest.raises(
            ProfileError,
            match=rf"^{re.escape(str(copy))}: row {re.escape(repr(row_id))}: arch: .*{why}",
        ):
            read_profile(copy).arch_records(space)


def test_a_bad_block_copies_or_subtract_overhead_is_refused_naming_the_file(profile_path, tmp_path):
    """Loaded without a word, then failed every prediction (division by zero, by a string)."""
    saved = LUTPredictor.from_profile(profile_path).save(tmp_path / "lut.json")
    record = json.loads(saved.read_text())
    for setting, value in [("block_copies", 0), ("block_copies", "2"), ("subtract_overhead", 1)]:
        settings = {**record["settings"], setting: value}
        saved.write_text(json.dumps({**record, "settings": settings}))
        with pytest.raises(PredictorError, match=f"^{saved}: {setting} must be .*, not {value!r}"):
            load_predictor(saved)
    copy = tmp_path / "copy.csv"
    copy.write_bytes(profile_path.read_bytes())
    meta = json.loads(profile_path.with_suffix(".json").read_text())
    copy.with_suffix(".json").write_text(json.dumps({**meta, "block_copies": 0}))
    with pytest.raises(ProfileError, match=r"copy.json: block_copies must be an integer >= 1"):
        read_profile(copy)


def test_a_profile_of_a_space_at_an_input_that_leaves_options_out_reads_back(tmp_path):
    """A profile (and a predictor) of a space at an input override that leaves options out
    (conv1d at length 16: its lkconv kernel 17 fits no stage) records the space as it was used;
    read back, that record was refused as a file at its own input refuses such options ("its
    stored space definition is not valid: block.mixers.lkconv.kernels: [17] never fit"), so
    nothing measured at such an input could be fitted or evaluated."""
    space = get_space("conv1d", input_shape=[1, 16])
    assert any(line.startswith("block.mixers.lkconv.kernels") for line in space.left_out)
    out = tmp_path / "p.csv"
    build_profile(space, out, precisions=["fp32"], samples=1, limit=2, progress=False, **FAST)
    back = read_profile(out).space()
    assert back.input_shape == (1, 16) and back.left_out == space.left_out
    assert back.plans == space.plans  # the same choices, stage by stage


def test_a_broken_stored_space_is_blamed_on_the_file_that_stores_it(profile_path, tmp_path):
    """Was blamed on the space's YAML file, which is fine, or was a bare KeyError: 'name'."""
    copy = tmp_path / "copy.csv"
    copy.write_bytes(profile_path.read_bytes())
    meta = json.loads(profile_path.with_suffix(".json").read_text())
    meta["space_definition"]["stem"]["width"] = -1
    copy.with_suffix(".json").write_text(json.dumps(meta))
    with pytest.raises(PredictorError) as info:
        LUTPredictor.from_profile(copy)
    assert str(info.value).startswith(
        f"{copy.with_suffix('.json')}: its stored space definition is not valid: stem.width:"
    )
    saved = LUTPredictor.from_profile(profile_path).save(tmp_path / "lut.json")
    record = json.loads(saved.read_text())
    saved.write_text(json.dumps({**record, "space": {}}))
    with pytest.raises(PredictorError, match="lut.json: its space record names no space: {}"):
        load_predictor(saved)


def test_a_space_source_that_is_not_text_is_blamed_on_its_file(profile_path, tmp_path):
    """A profile's `.json` whose space YAML source is not text (a hand edit) was a
    TypeError (`expected str, bytes or os.PathLike object, not int`) naming no file."""
    copy = tmp_path / "copy.csv"
    copy.write_bytes(profile_path.read_bytes())
    meta = json.loads(profile_path.with_suffix(".json").read_text())
    meta.pop("space_definition")  # an older profile: its space is read from its source
    copy.with_suffix(".json").write_text(json.dumps({**meta, "space_source": 3}))
    with pytest.raises(PredictorError, match=rf"^{copy.with_suffix('.json')}: its space record"):
        LUTPredictor.from_profile(copy)


def test_eval_and_fit_refuse_a_profile_of_another_input_or_space_definition(
    space, profile_path, tmp_path, capsys
):
    lut = tmp_path / "lut.json"
    assert hwnas("latency", "fit", str(profile_path), "-o", str(lut)) == 0
    wider = tmp_path / "tiny.yaml"  # the same name and version, a wider stem
    wider.write_text(TINY.read_text().replace("stem: {width: 8", "stem: {width: 16"))
    settings = dict(samples=2, archs_only=True, progress=False, **PROFILE_FAST)
    for other, why in (
        (get_space(TINY, input_shape=(1, 32)), r"input_shape \[1, 32\].*has \[1, 16\]"),
        (get_space(wider), "another definition of space 'tiny'"),
    ):
        holdout = build_profile(other, tmp_path / f"{other.spec.stem.width}.csv", **settings).path
        assert hwnas("latency", "eval", str(lut), "--holdout", str(holdout)) == 1
        err = capsys.readouterr().err
        assert str(holdout) in err and str(lut) in err and re.search(why, err)
    with pytest.raises(PredictorError, match="16.csv: the profile .*another definition"):
        fit_from_profile(profile_path, "learned", parts=tmp_path / "16.csv")


def _edited_tiny(tmp_path, name: str, old: str, new: str):
    """The tiny space with one choice edited under its name and version (its YAML beside)."""
    path = tmp_path / f"{name}.yaml"
    path.write_text(TINY.read_text().replace(old, new))
    return get_space(path)


def test_files_of_an_edited_space_say_it_was_another_definition_and_which_choice(
    space, profile_path, tmp_path, capsys
):
    """A space whose choices were edited under its name and version passes the space check
    (its digest leaves the choices out, so a profile of it can be resumed): a held-out
    profile of it with a new mixer, a predictor fitted on networks with a mixer it dropped and
    a profile resumed with it said only `s1.b0.mixer: 'pool' not in [...]` or 'not a valid
    learned predictor file'; they say the file was made for another definition, where it
    differs, and the resume keeps the profile as it was."""
    lut = tmp_path / "lut.json"
    assert hwnas("latency", "fit", str(profile_path), "-o", str(lut)) == 0
    more = _edited_tiny(
        tmp_path, "more", "    identity: {}", "    identity: {}\n    pool: {kernels: [3]}"
    )
    holdout = build_profile(
        more, tmp_path / "more.csv", samples=8, seed=1, archs_only=True, progress=False, **FAST
    )
    assert hwnas("latency", "eval", str(lut), "--holdout", str(holdout.path)) == 1
    err = " ".join(capsys.readouterr().err.split())
    assert "'pool' not in" in err
    assert (
        f"another definition of space 'tiny' v1 than {lut} (they differ in block.mixers.pool)"
        in err
    )
    fewer = _edited_tiny(tmp_path, "fewer", "    identity: {}\n", "")
    learned = fit_from_profile(profile_path, "learned")
    assert any(v == "identity" for a in learned.train_data[0] for v in a.values())
    learned.save(tmp_path / "learned.json")
    with pytest.raises(
        PredictorError,
        match=r"fitted on a network not of the space: .*'identity' "
        r"not in .*another definition .*differ in block\.mixers\.identity\)",
    ):
        load_predictor(tmp_path / "learned.json", space=fewer)
    copy = tmp_path / "copy.csv"
    for suffix in (".csv", ".json"):
        copy.with_suffix(suffix).write_bytes(profile_path.with_suffix(suffix).read_bytes())
    with pytest.raises(ProfileError, match=r"differ in block\.mixers\.identity.*cannot be resumed"):
        build_profile(fewer, copy, samples=8, progress=False, **PROFILE_FAST)
    for suffix in (".csv", ".json"):
        assert (
            copy.with_suffix(suffix).read_bytes() == profile_path.with_suffix(suffix).read_bytes()
        )


def test_an_edited_stage_is_named_by_its_place_among_the_stages(space) -> None:
    """Two definitions with as many stages are compared stage by stage, so the note names the
    field that differs (`stages[1].width`), not the whole list of stages."""
    from hwnas.predictors.base import changed_fields, space_definition

    recorded = copy.deepcopy(space_definition(space))
    recorded["stages"][1]["width"] = [8]
    assert changed_fields(space, recorded) == ["stages[1].width"]
    recorded["stages"].pop()  # another number of stages: the stages differ as a whole
    assert changed_fields(space, recorded) == ["stages"]


def test_a_profile_resumed_with_a_space_that_gained_a_choice_says_it_draws_networks_anew(
    space, tmp_path
):
    """A space that gained a mixer draws other seeded networks: resuming a profile with it
    measured a second set of `samples` networks beside the first without a word. More
    samples of the same space extend the same draw, and say nothing."""
    out = tmp_path / "p.csv"
    settings = dict(archs_only=True, progress=False, **PROFILE_FAST)
    build_profile(space, out, samples=1, **settings)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        build_profile(space, out, samples=2, **settings)
    more = _edited_tiny(
        tmp_path, "more", "    identity: {}", "    identity: {}\n    pool: {kernels: [3]}"
    )
    said = (
        f"{out}: 2 of its 2 networks are not among the 2 that space 'tiny' draws now: its "
        "choices changed since the profile was started (they differ in block.mixers.pool); "
        "the resume measures the new draw's 2 beside them"
    )
    with pytest.warns(UserWarning, match=re.escape(said)):
        assert len(build_profile(more, out, samples=2, **settings).archs()) == 4
    with warnings.catch_warnings():  # said once: nothing of the new draw is left to measure
        warnings.simplefilter("error")
        build_profile(more, out, samples=2, **settings)


def test_eval_prints_units_and_a_predictor_without_format_version_is_refused(
    profile_path, tmp_path, capsys
):
    lut = tmp_path / "lut.json"
    assert hwnas("latency", "fit", str(profile_path), "-o", str(lut)) == 0
    capsys.readouterr()
    assert hwnas("latency", "eval", str(lut), "--holdout", "4") == 0
    lines = {line.split(":")[0].strip(): line for line in capsys.readouterr().out.splitlines()}
    assert lines["rmse"].endswith(" ms") and lines["mape"].endswith(" %")
    assert lines["within_5pct"].endswith("(fraction of networks)")
    record = json.loads(lut.read_text())
    del record["format_version"]
    lut.write_text(json.dumps(record))
    with pytest.raises(PredictorError, match="lut.json: no format_version"):
        load_predictor(lut)


def test_an_interrupted_profile_says_it_is_kept_and_resumable(tmp_path, monkeypatch, capsys):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("hwnas.predictors.build_profile", interrupted)
    out = tmp_path / "p.csv"
    assert hwnas("latency", "profile", "--space", str(TINY), "--out", str(out)) == 130
    assert capsys.readouterr().err == (
        f"hwnas: interrupted: {out} is kept; re-running the same command resumes it\n"
    )

    def terminated(*args, **kwargs):  # a batch scheduler's SIGTERM while measuring
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # the signal handler interrupts this

    monkeypatch.setattr("hwnas.predictors.build_profile", terminated)
    assert hwnas("latency", "profile", "--space", str(TINY), "--out", str(out)) == 143
    assert capsys.readouterr().err == (
        f"hwnas: terminated: {out} is kept; re-running the same command resumes it\n"
    )


def test_a_profile_whose_every_row_failed_is_an_error_and_is_kept(tmp_path, monkeypatch, capsys):
    def cannot_run(*args, **kwargs):  # a runtime that refuses every network of the space
        raise BackendError("backend 'onnxruntime-cpu' cannot run this model: no kernel")

    monkeypatch.setattr("hwnas.predictors.profiling.measure_latencies", cannot_run)
    out = tmp_path / "p.csv"
    quick = ("--warmup", "1", "--runs", "3", "--rounds", "1", "--samples", "2", "--archs-only")
    assert hwnas("latency", "profile", "--space", str(TINY), "--out", str(out), *quick) == 1
    said = capsys.readouterr()
    assert f"{out}: 2 rows (2 failed)" in said.out and "no kernel" in said.out
    assert "every row failed to measure" in said.err and "with --retry-failed" in said.err
    assert len(read_profile(out).rows) == 2  # kept, for the errors it records
    monkeypatch.undo()  # the cause fixed
    rerun = ("latency", "profile", "--space", str(TINY), "--out", str(out), *quick)
    assert hwnas(*rerun) == 1 and f"{out}: 2 rows (2 failed)" in capsys.readouterr().out
    assert hwnas(*rerun, "--retry-failed") == 0
    assert f"{out}: 2 rows (0 failed)" in capsys.readouterr().out
    assert read_profile(out).rows["row_id"].is_unique


def _tiny2d_transfer() -> TransferPredictor:
    """A transfer predictor of tiny2d from two source devices, fitted on four networks."""
    space = get_space(DATA / "tiny2d.yaml")
    archs = [space.sample(np.random.default_rng(i)) for i in range(6)]
    sources = pd.DataFrame(
        {"cpu": np.arange(1.0, 7.0), "gpu": [2.0, 1.0, 4.0, 3.0, 6.0, 5.0]},
        index=[a.key for a in archs],
    )
    with pytest.warns(UserWarning, match="fitted on only 4 different measured architectures"):
        return TransferPredictor(sources, space).fit(archs[:4], [1.0, 2.5, 2.0, 4.0])


def _tiny2d_lut() -> LUTPredictor:
    return LUTPredictor.from_profile(DATA / "tiny2d_ort.csv")


def _scale_in_place(data: dict | list) -> None:
    """Every float in `data`, however deep, ten times larger, in its own container."""
    for key, value in list(data.items() if isinstance(data, dict) else enumerate(data)):
        if isinstance(value, dict | list):
            _scale_in_place(value)
        elif isinstance(value, float):
            data[key] = value * 10


def test_the_data_a_predictor_gives_is_the_callers_own() -> None:
    """`data = predictor.to_data()`, scaled for a slower device's variant: the lookup
    table's parts, the learned predictor's hyperparameters and training latencies and the
    transfer predictor's settings and training latencies were the predictor's own, so the
    change changed its predictions, its training data and what it saves."""
    lut, transfer = _tiny2d_lut(), _tiny2d_transfer()
    archs = [lut.space.sample(np.random.default_rng(i)) for i in range(12)]
    slower = lut.predict(archs) * np.linspace(1.1, 1.6, len(archs))
    learned = LearnedPredictor(lut.space, _tiny2d_lut()).fit(archs, slower)
    for predictor in (lut, learned, transfer):
        before, predicted = json.dumps(predictor.to_data()), predictor.predict(archs[:4])
        data = predictor.to_data()
        _scale_in_place(data)
        assert json.dumps(predictor.to_data()) == before
        np.testing.assert_array_equal(predictor.predict(archs[:4]), predicted)


MEASURED_ON = "backend='onnxruntime-cpu' device='Intel(R) Xeon(R) Processor'"


@pytest.mark.parametrize(
    ("make", "shown"),
    [
        (
            lambda: read_profile(DATA / "tiny2d_ort.csv"),
            f"<Profile {DATA / 'tiny2d_ort.csv'} space='tiny2d' backend='onnxruntime-cpu' rows=77>",
        ),
        (_tiny2d_lut, f"<LUTPredictor space='tiny2d' parts=77 {MEASURED_ON}>"),
        (
            lambda: LearnedPredictor(get_space(DATA / "tiny2d.yaml"), _tiny2d_lut()),
            f"<LearnedPredictor space='tiny2d' model='calibration' fitted=0 {MEASURED_ON}>",
        ),
        (
            lambda: LearnedPredictor(get_space(DATA / "tiny2d.yaml")),
            "<LearnedPredictor space='tiny2d' model='boosting' fitted=0>",
        ),
        (_tiny2d_transfer, "<TransferPredictor space='tiny2d' source_devices=2 fitted=4>"),
    ],
    ids=["profile", "lut", "learned", "learned-boosting", "transfer"],
)
def test_a_notebook_shows_a_predictor_or_profile_in_one_line(make, shown):
    """Typing its name shows what it is (a profile's dataclass repr printed its metadata and
    table, 1339 characters; a predictor `<hwnas.predictors.lut.LUTPredictor object at 0x...>`)."""
    assert repr(make()) == shown


def test_a_notebook_shows_a_measurement_in_one_line():
    """Its latency, spread and settings (the dataclass's repr dumped every round median and
    the whole device fingerprint)."""
    m = measure_latency(nn.Linear(4, 4), (4,), backend="torch-cpu", **FAST)
    shown = repr(m)
    assert shown == (
        f"<Measurement latency_ms={m.latency_ms:.4g} variation={m.variation:.2%} "
        f"backend='torch-cpu' precision='fp32' batch_size=1 threads=1 clock={m.clock!r} "
        f"runs={m.rounds}x{m.runs}>"
    )
    assert "fingerprint" not in shown and "\n" not in shown


def test_a_half_made_predictor_shows_the_default_repr():
    """One whose attributes are not set yet (a debugger inside its `__init__`) is shown as
    Python shows any object, not as an error."""
    assert repr(object.__new__(LUTPredictor)).startswith("<hwnas.predictors.lut.LUTPredictor ")


def test_a_dynamic_batch_export_from_an_example_of_one_takes_any_batch():
    """torch.export takes a batch of 1 for a constant: the dynamo exporter (FFT blocks) wrote
    a graph of batch 1 where attention blocks' matrix products broadcast over the batch (a
    deployed file calibrated on one input took no other batch size)."""
    space = get_space("conv1d")
    choices = dict(space.sample(np.random.default_rng(0)))
    mixers = iter(["fft", "attn"] * 8)
    choices.update({k: next(mixers) for k in choices if k.endswith(".mixer")})
    choices.update({k: "fp32" for k in choices if k.endswith(".precision")})
    model = _float_model(space, space.arch(choices))
    graph = export_onnx(model, torch.randn(1, *space.input_shape), dynamic_batch=True)
    session = ort.InferenceSession(graph.SerializeToString(), providers=["CPUExecutionProvider"])
    x = torch.randn(3, *space.input_shape)
    (got,) = session.run(None, {"x": x.numpy()})
    with torch.no_grad():
        np.testing.assert_allclose(got, model(x).numpy(), atol=1e-5)

"""Export -> build round trip on a real conv1d run (zero-cost evaluator on MNIST-1D): the
rebuilt model is the exported one, and the ONNX file runs in ONNX Runtime like torch."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch
import yaml

import hwnas
from hwnas.experiments import ExperimentError, export_run, load, run_experiment
from hwnas.experiments.config import parse_experiment
from hwnas.experiments.export import inference_model, read_config

EXPERIMENT = """\
name: zc
space: conv1d
dataset: mnist1d
evaluator: {{name: zero_cost, settings: {{zero_cost: {{proxies: [synflow], batch_size: 16}}}}}}
objectives: [{{metric: zc_synflow, direction: max}}, {{metric: size_bytes, direction: min}}]
searcher: random
evaluations: 3
run_dir: {run_dir}
"""


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run_dir = tmp_path_factory.mktemp("zc") / "run"
    summary = run_experiment(parse_experiment(EXPERIMENT.format(run_dir=run_dir)), progress=False)
    assert summary.evaluated == 3 and summary.failed == 0
    return run_dir


def test_torch_export_then_build_gives_the_same_model(run_dir: Path, tmp_path: Path) -> None:
    results = load(run_dir)
    (config,) = export_run(results, tmp_path, top=1, fmt="torch")
    data = read_config(config)
    front = results.pareto()
    assert data["key"] == front["key"].iloc[0]
    assert data["space"]["name"] == "conv1d" and "stages:" in data["space"]["source"]
    assert data["metrics"]["size_bytes"] == front["size_bytes"].iloc[0]

    original = results.space.build(results.arch(int(front["number"].iloc[0])))
    original.load_state_dict(torch.load(tmp_path / data["weights"], weights_only=True))
    rebuilt = hwnas.build(config)
    x = torch.randn(4, *results.space.input_shape)
    with torch.no_grad():
        assert torch.equal(original.eval()(x), rebuilt.eval()(x))
    assert type(rebuilt).__name__ == type(original).__name__


def test_onnx_export_matches_torch_in_onnx_runtime(run_dir: Path, tmp_path: Path) -> None:
    (config,) = export_run(load(run_dir), tmp_path, trial=1, fmt="onnx")
    data = json.loads(config.read_text())
    assert data["run"]["trial"] == 1
    session = ort.InferenceSession(str(tmp_path / data["onnx"]["file"]))
    model = inference_model(hwnas.build(config))  # eval, merged branches, no fake quant
    x = np.random.default_rng(1).standard_normal((3, *data["space"]["input"])).astype(np.float32)
    (got,) = session.run(None, {session.get_inputs()[0].name: x})
    with torch.no_grad():
        want = model(torch.from_numpy(x)).numpy()
    assert got.shape == (3, 10)
    np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-4)


def test_yaml_export_and_bad_configs(run_dir: Path, tmp_path: Path) -> None:
    (config,) = export_run(load(run_dir), tmp_path, top=1, fmt="yaml")
    data = yaml.safe_load(config.read_text())
    assert hwnas.build(config)(torch.zeros(1, *data["space"]["input"])).shape == (1, 10)

    tampered = tmp_path / "tampered.json"
    tampered.write_text(json.dumps({**data, "key": "0" * 16}))
    with pytest.raises(ExperimentError, match="config says 0000"):
        hwnas.build(tampered)
    hostile = tmp_path / "hostile.yaml"
    hostile.write_text("format: !!python/object/apply:os.system [echo hi]\n")
    with pytest.raises(ExperimentError, match="not valid yaml"):
        hwnas.build(hostile)
    binary = tmp_path / "model.onnx"
    binary.write_bytes(b"\x08\x07\xcd\xff\xfe")
    with pytest.raises(ExperimentError, match="model.onnx: not an hwnas architecture config"):
        hwnas.build(binary)
    with pytest.raises(ExperimentError, match="no evaluation with trial number 99"):
        export_run(load(run_dir), tmp_path, trial=99)

"""Property-based tests (hypothesis) of the search-space algebra, over every built-in space and
over generated space files: 1D and 2D inputs of odd and even sizes, one to three stages of any
depths, widths and strides, any mixers with their kernels and dilations, expansions and
precisions, stage-level block overrides. tests/test_spaces_properties.py checks fixed samples
of the built-in spaces in depth; these draw the spaces themselves.

Kept fast and reproducible in CI: derandomized, few examples, no example database, tiny
models."""

from __future__ import annotations

import copy
import json
import pickle

import hypothesis.strategies as st
import numpy as np
import optuna
import pytest
import torch
import yaml
from hypothesis import HealthCheck, assume, given, settings

import hwnas
from hwnas.experiments.export import arch_config, inference_model
from hwnas.spaces import (
    MIXERS,
    PRECISIONS,
    Arch,
    SpaceError,
    builtin_spaces,
    get_space,
    set_fake_quant,
    space_from_data,
)
from hwnas.spaces.counting import count_cost
from hwnas.spaces.yaml_files import ReadableDumper, parse_yaml

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def fast(examples: int) -> settings:
    """Settings for CI: the same examples in every run, none remembered between runs."""
    return settings(
        max_examples=examples,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )


SEEDS = st.integers(0, 2**32 - 1)
BUILTIN = {name: get_space(name) for name in builtin_spaces()}


# -- generated space files --------------------------------------------------------------------
def _some(values: list, most: int | None = None) -> st.SearchStrategy[list]:
    return st.lists(st.sampled_from(values), min_size=1, max_size=most or len(values), unique=True)


@st.composite
def _mixers(draw) -> dict:
    mixers = {}
    for name in draw(_some(list(MIXERS), 4)):
        uses_kernel, uses_dilation = MIXERS[name]
        options = {}
        if uses_kernel:
            options["kernels"] = draw(_some([3, 5, 7] if name == "pool" else [1, 3, 5, 7, 9], 3))
        if uses_dilation and draw(st.booleans()):
            options["dilations"] = draw(_some([1, 2, 3], 2))
        mixers[name] = options
    return mixers


@st.composite
def _block(draw, complete: bool) -> dict:
    block = {"mixers": draw(_mixers())}
    if complete or draw(st.booleans()):
        block["expansions"] = draw(_some([0.5, 1, 2, 3], 2))
    if complete or draw(st.booleans()):
        block["precisions"] = draw(_some(list(PRECISIONS)))
    return block


@st.composite
def metaformer_specs(draw) -> dict:
    """A space file's data within the spec's limits; many fit no feature map (`spaces`
    leaves those out: their errors are test_spaces_specs.py's)."""
    dim = draw(st.sampled_from([1, 2]))
    sizes = draw(st.lists(st.integers(3, 25), min_size=dim, max_size=dim))
    stages = []
    for _ in range(draw(st.integers(1, 3))):
        stage = {
            "depth": draw(_some([1, 2, 3], 2)),
            "width": draw(_some([1, 2, 3, 4, 6, 8], 2)),
            "stride": draw(st.integers(1, 3)),
        }
        if draw(st.integers(0, 3)) == 0:
            stage["block"] = draw(_block(complete=False))
        stages.append(stage)
    return {
        "name": "generated",
        "input": {
            "channels": draw(st.integers(1, 3)),
            **dict(zip(("length",) if dim == 1 else ("height", "width"), sizes)),
        },
        "classes": draw(st.integers(2, 5)),
        "stem": {
            "width": draw(st.integers(1, 6)),
            "kernel": draw(st.sampled_from([1, 3, 5])),
            "stride": draw(st.integers(1, 2)),
        },
        "block": draw(_block(complete=True)),
        "stages": stages,
        "max_attention_tokens": draw(st.sampled_from([1, 16, 256])),
    }


def _space(spec: dict):
    """The space of a generated spec; a spec the schema or the feature maps refuse is passed
    over (as a SpaceError, never any other exception)."""
    try:
        return space_from_data(spec, "generated")
    except SpaceError:
        assume(False)


@st.composite
def nasbench201_specs(draw) -> dict:
    return {
        "name": "generated-nb201",
        "kind": "nasbench201",
        "input": {
            "channels": draw(st.integers(1, 3)),
            "height": draw(st.integers(1, 13)),
            "width": draw(st.integers(1, 13)),
        },
        "classes": draw(st.integers(2, 5)),
        "channels": draw(st.integers(1, 3)),
        "cells_per_stage": draw(st.integers(1, 2)),
        "dead_ops": draw(st.sampled_from(["keep", "prune"])),
    }


# -- the properties ---------------------------------------------------------------------------
def _check_algebra(space, seed: int) -> None:
    """Sampling, keys, records, encoding, mutation and crossover of one seed's archs."""
    arch, other = space.sample(seed), space.sample(seed + 1)
    assert arch == space.sample(np.random.default_rng(seed))  # an int seed is a generator's
    assert space.validate(arch) is arch
    assert (arch.space, arch.version) == (space.name, space.version)
    assert len(arch.key) == 16 and int(arch.key, 16) >= 0
    for again in (
        Arch.from_json(arch.to_json()),
        Arch.from_dict(arch.to_dict()),
        pickle.loads(pickle.dumps(arch)),
        space.arch(dict(arch)),
    ):
        assert again == arch and again.key == arch.key and dict(again) == dict(arch)
    values = space.choice_values()
    assert all(value in values[name] for name, value in arch.items())

    code = space.encode(arch)
    assert code.dtype == np.float32 and code.ndim == 1 and np.isfinite(code).all()
    assert np.array_equal(code, space.encode(Arch.from_json(arch.to_json())))
    other_code = space.encode(other)
    assert other_code.shape == code.shape
    assert np.array_equal(code, other_code) == (arch == other)

    mutant = space.mutate(arch, seed)
    assert space.validate(mutant) is mutant and mutant == space.mutate(arch, seed)
    assert mutant != arch or space.cardinality == 1

    child = space.crossover(arch, other, seed)
    assert space.validate(child) is child and child == space.crossover(arch, other, seed)
    assert space.crossover(arch, arch, seed) == arch
    pruned = getattr(space.spec, "dead_ops", "keep") == "prune"  # dead ops become none
    for name, value in child.items():
        assert value in (arch.get(name), other.get(name)) or (pruned and value == "none")
    assert space.live(space.live(arch)) == space.live(arch)


def _check_suggest(space, seed: int) -> None:
    """Define-by-run in a real study: each trial's arch is valid and replays from its params,
    and an enqueued arch comes back as it was."""
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    for _ in range(3):  # one distribution per name across trials, or Optuna refuses
        trial = study.ask()
        arch = space.suggest(trial)
        assert space.validate(arch) is arch
        assert space.suggest(optuna.trial.FixedTrial(trial.params)) == arch
        study.tell(trial, 0.0)
    arch = space.sample(seed)
    study.enqueue_trial(dict(arch))
    assert space.suggest(study.ask()) == arch


def _check_model_and_cost(space, seed: int) -> None:
    """The model maps a batch to (batch, classes) and its counted cost is the space's;
    its inference form computes what it does in eval mode."""
    arch = space.sample(seed)
    torch.manual_seed(seed)
    model = space.build(arch)
    x = torch.randn(2, *space.input_shape)
    y = model(x)  # training mode: norm statistics move
    assert y.shape == (2, space.num_classes) and torch.isfinite(y).all()
    with torch.no_grad():
        assert model.eval()(x[:1]).shape == (1, space.num_classes)
    cost = space.cost(arch)
    assert all(isinstance(v, int) and v >= 0 for v in vars(cost).values())
    assert cost.params == sum(p.numel() for p in model.parameters()) > 0
    assert cost == count_cost(space.build(arch), space.input_shape)
    assert space.cost(Arch.from_json(arch.to_json())) == cost
    plain = set_fake_quant(copy.deepcopy(model), False)
    with torch.no_grad():
        torch.testing.assert_close(inference_model(model)(x), plain(x), rtol=1e-4, atol=1e-4)


def _check_export(space, seed: int) -> None:
    """An exported config (through JSON) rebuilds the model: same parameters, and with the
    same weights the same outputs."""
    arch = space.sample(seed)
    torch.manual_seed(seed)
    original = space.build(arch).eval()
    rebuilt = hwnas.build(json.loads(json.dumps(arch_config(space, arch)))).eval()
    assert sum(p.numel() for p in rebuilt.parameters()) == space.cost(arch).params
    rebuilt.load_state_dict(original.state_dict())
    x = torch.randn(2, *space.input_shape)
    with torch.no_grad():
        assert torch.equal(original(x), rebuilt(x))


# -- built-in spaces ----------------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(BUILTIN))
@fast(40)
@given(seed=SEEDS)
def test_builtin_space_algebra(name, seed):
    _check_algebra(BUILTIN[name], seed)


@pytest.mark.parametrize("name", sorted(BUILTIN))
@fast(4)
@given(seed=SEEDS)
def test_builtin_space_suggest_replays(name, seed):
    _check_suggest(BUILTIN[name], seed)


# -- generated spaces ---------------------------------------------------------------------------
@fast(80)
@given(spec=metaformer_specs(), seed=SEEDS)
def test_generated_space_algebra(spec, seed):
    _check_algebra(_space(spec), seed)


@fast(20)
@given(spec=metaformer_specs(), seed=SEEDS)
def test_generated_space_suggest_replays(spec, seed):
    _check_suggest(_space(spec), seed)


@fast(25)
@given(spec=metaformer_specs())
def test_generated_space_text_round_trips(spec):
    """The file as written, and the parsed spec written out again (as a run's copy or an
    exported config holds it), read back as the same space."""
    space = _space(spec)
    expected = space.describe()
    assert json.loads(json.dumps(expected)) == expected
    for data in (spec, space.spec.model_dump()):
        text = yaml.dump(data, Dumper=ReadableDumper, sort_keys=False)
        assert space_from_data(parse_yaml(text, "text"), "generated").describe() == expected


@fast(20)
@given(spec=metaformer_specs(), seed=SEEDS)
def test_generated_space_models_and_costs(spec, seed):
    _check_model_and_cost(_space(spec), seed)


@fast(12)
@given(spec=metaformer_specs(), seed=SEEDS)
def test_generated_space_exports_rebuild(spec, seed, tmp_path_factory):
    _space(spec)
    path = tmp_path_factory.mktemp("space") / "generated.yaml"
    path.write_text(yaml.safe_dump(spec))  # a config embeds its space's file
    _check_export(get_space(path), seed)


@fast(15)
@given(spec=metaformer_specs(), seed=SEEDS)
def test_precision_changes_only_the_size(spec, seed):
    """The same network at fp32, fp16, int8 and w4a8: params, MACs and activations equal,
    bytes falling (w4a8 ties int8 where each tensor rounds up to whole bytes)."""
    spec["block"]["precisions"] = list(PRECISIONS)
    for stage in spec["stages"]:
        stage.get("block", {}).pop("precisions", None)
    space = _space(spec)
    arch = space.sample(seed)
    costs = [
        space.cost(space.arch({k: p if k.endswith(".precision") else v for k, v in arch.items()}))
        for p in PRECISIONS
    ]
    assert len({(c.params, c.macs, c.activations) for c in costs}) == 1
    fp32, fp16, int8, w4a8 = (c.size_bytes for c in costs)
    assert fp32 > fp16 > int8 >= w4a8


@fast(20)
@given(spec=metaformer_specs(), data=st.data())
def test_another_input_gives_a_space_that_builds_or_a_space_error(spec, data):
    """An input override the space cannot take is a SpaceError; one it takes gives archs whose
    models fit it, and overriding back gives the file's space."""
    space = _space(spec)
    spatial = st.integers(1, 25)
    shape = (data.draw(st.integers(1, 3)), *(data.draw(spatial) for _ in space.input_shape[1:]))
    classes = data.draw(st.integers(2, 6))
    try:
        other = space.with_input(shape, classes)
    except SpaceError:
        return
    assert (other.input_shape, other.num_classes) == (shape, classes)
    arch = other.sample(data.draw(SEEDS))
    model = space.build(arch, input_shape=shape, num_classes=classes)
    assert model(torch.randn(2, *shape)).shape == (2, classes)
    assert other.cost(arch) == count_cost(model, shape)
    assert other.with_input(space.input_shape, space.num_classes).describe() == space.describe()


@fast(15)
@given(spec=nasbench201_specs(), seed=SEEDS)
def test_generated_nasbench201_spaces(spec, seed, tmp_path_factory):
    """Any input size (odd ones shrink by ceiling in both branches of a reduction), channels,
    cells and dead-op mode: the algebra, models, costs, cell strings and exports hold."""
    space = space_from_data(spec, "generated")
    _check_algebra(space, seed)
    _check_model_and_cost(space, seed)
    arch = space.sample(seed)
    assert space.from_string(space.to_string(arch)) == arch
    assert 0 <= space.index(arch) < 15625
    path = tmp_path_factory.mktemp("space") / "nb201.yaml"
    path.write_text(yaml.safe_dump(spec))
    _check_export(get_space(path), seed)

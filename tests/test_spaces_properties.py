"""Property tests over thousands of sampled architectures per space: validity, JSON round
trip, stable keys across processes, mutation and crossover, encoding, canonical form, exact
cardinality, and Optuna define-by-run suggestions."""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import logging
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import optuna
import pytest
import torch

from hwnas.spaces import MIXERS, Arch, MetaFormerSpace, SpaceError, get_space
from hwnas.spaces.quant import QUANTIZED_LAYERS
from hwnas.spaces.spec import parse_metaformer

SPACES = ("conv1d", "conv2d", "nasbench201")
SAMPLES = 2000
VARIATIONS = 400

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module", params=SPACES)
def space(request):
    return get_space(request.param)


@pytest.fixture(scope="module")
def samples(space):
    rng = np.random.default_rng(2024)
    return [space.sample(rng) for _ in range(SAMPLES)]


def test_validate_names_a_value_the_space_lacks(space, samples):
    """Not "not in canonical form" for a misspelt mixer or op, which is what is wrong."""
    arch = samples[0]
    name = next(k for k in arch if k.endswith("mixer")) if space.name != "nasbench201" else "1<-0"
    with pytest.raises(SpaceError, match=rf"{re.escape(name)}: 'foo' not in \["):
        space.validate(arch.replace(**{name: "foo"}))


def test_samples_validate_round_trip_and_encode(space, samples):
    codes = set()
    for arch in samples:
        assert space.validate(arch) is arch
        assert (arch.space, arch.version) == (space.name, space.version)
        again = Arch.from_json(arch.to_json())
        assert again == arch and again.key == arch.key and dict(again) == dict(arch)
        assert Arch.from_dict(json.loads(json.dumps(arch.to_dict()))) == arch
        code = space.encode(arch)
        assert code.dtype == np.float32 and np.isfinite(code).all()
        codes.add(code.tobytes())
    shallow = [_shallowest(space, a) for a in samples[:20]]
    assert {space.encode(a).shape for a in shallow + samples[::40]} == {code.shape}
    keys = {a.key for a in samples}
    assert len(keys) > 0.9 * len(samples) or space.name == "nasbench201"
    assert len(codes) == len(keys)  # distinct archs have distinct encodings (for predictors)


def _shallowest(space, arch: Arch) -> Arch:
    """`arch` cut to the smallest depth of every stage (MetaFormer spaces)."""
    plans = getattr(space, "plans", ())
    return space.arch({**arch, **{f"s{i}.depth": min(p.depths) for i, p in enumerate(plans)}})


def test_sampling_is_seeded(space):
    assert [space.sample(5) for _ in range(3)] == [space.sample(5)] * 3
    rng_a, rng_b = np.random.default_rng(9), np.random.default_rng(9)
    assert [space.sample(rng_a) for _ in range(20)] == [space.sample(rng_b) for _ in range(20)]


def _changed(a: Arch, b: Arch) -> set[str]:
    return {k for k in set(a) | set(b) if a.get(k) != b.get(k)}


def test_mutate_makes_one_small_valid_change(space, samples):
    rng = np.random.default_rng(1)
    for arch in samples[:VARIATIONS]:
        child = space.mutate(arch, rng)
        assert space.validate(child) is child
        assert child != arch
        # each single change shows in the encoding (predictors must tell neighbours apart)
        assert not np.array_equal(space.encode(child), space.encode(arch))
        changed = _changed(arch, child)
        if space.name == "nasbench201":
            assert len(changed) == 1
            continue
        stages = {name.split(".")[0] for name in changed}
        assert len(stages) == 1, changed  # one stage
        stage = stages.pop()
        if arch[f"{stage}.depth"] == child[f"{stage}.depth"]:
            units = {".".join(name.split(".")[:2]) for name in changed}
            assert len(units) == 1, changed  # one block, or the width


def test_a_kernel_mutation_keeps_the_dilation_where_the_mixer_has_that_pair():
    space, rng = get_space("conv1d"), np.random.default_rng(3)
    kernel_changes = 0
    for _ in range(1500):
        arch = space.sample(rng)
        child = space.mutate(arch, rng)
        for name in [n for n in _changed(arch, child) if n.endswith(".kernel")]:
            block, stage = name.removesuffix(".kernel"), int(name[1 : name.index(".")])
            mixer, dilation = f"{block}.mixer", f"{block}.dilation"
            both = all(k in a for k in (name, mixer, dilation) for a in (arch, child))
            if not both or arch[mixer] != child[mixer]:
                continue  # a block added or removed, a new mixer, or one without dilations
            kernel_changes += 1
            options = space.plans[stage].options
            pairs = {(o.kernel, o.dilation) for o in options if o.mixer == child[mixer]}
            kept = (child[name], arch[dilation])
            assert child[dilation] == arch[dilation] or kept not in pairs, (arch, child)
    assert kernel_changes > 50


def test_a_mixer_mutation_keeps_the_kernel_where_the_new_mixer_has_it():
    """Between a dilated mixer and one without dilations the kernel stays, and a missing
    dilation counts as 1 (conv k5 d1 <-> pool k5, conv k5 d2 -> pool k5): only the mixer,
    and the dilation it has or lacks, changes."""
    space = get_space("conv1d")
    base = _shallowest(space, space.sample(0))  # few blocks: s0.b0's mixer mutates often
    with_5 = {o.mixer for o in space.plans[0].options if o.kernel == 5}
    for mixer, dilation in (("conv", 1), ("conv", 2), ("pool", None)):
        block = {"s0.b0.mixer": mixer, "s0.b0.kernel": 5, "s0.b0.dilation": dilation}
        start = space.arch({**base, **block})
        new_mixers = 0
        for seed in range(800):
            child = space.mutate(start, seed)
            if child["s0.b0.mixer"] in with_5 - {mixer}:
                new_mixers += 1
                assert child["s0.b0.kernel"] == 5, (block, dict(child))
                if child["s0.b0.mixer"] != "pool":  # 5 pairs with every dilation there
                    assert child["s0.b0.dilation"] == (dilation or 1), (block, dict(child))
        assert new_mixers > 10


def test_crossover_mixes_parents_and_stays_valid(space, samples):
    rng = np.random.default_rng(2)
    pairs = zip(samples[:VARIATIONS], samples[1 : VARIATIONS + 1])
    for a, b in pairs:
        child = space.crossover(a, b, rng)
        assert space.validate(child) is child
        for name, value in child.items():
            assert value in (a.get(name), b.get(name)), name
        assert space.crossover(a, a, rng) == a


def test_mutate_and_crossover_accept_seeds_and_reject_foreign_archs(space):
    a, b = space.sample(0), space.sample(1)
    assert space.mutate(a, 3) == space.mutate(a, 3)
    assert space.crossover(a, b, 3) == space.crossover(a, b, 3)
    other = get_space("conv2d" if space.name != "conv2d" else "conv1d")
    for method in (space.mutate, space.live):  # live: what accuracy predictors read
        with pytest.raises(SpaceError, match=other.name):
            method(other.sample(0))
    choices = dict(a)  # a hand-written record: was an AttributeError ('dict' has no 'space')
    for method in (space.validate, space.mutate, space.encode, space.cost, space.build, space.live):
        with pytest.raises(SpaceError, match=r"takes an Arch, not a dict \(space.arch\(choices"):
            method(choices)


_KEYS_SCRIPT = """
import json, sys
from hwnas.spaces import get_space
out = {}
for name in sys.argv[1:]:
    space = get_space(name)
    out[name] = [space.sample(seed).key for seed in range(100)]
print(json.dumps(out))
"""


def test_keys_are_stable_across_processes():
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    result = subprocess.run(
        [sys.executable, "-c", _KEYS_SCRIPT, *SPACES],
        capture_output=True,
        text=True,
        env=env,
        check=True,
        timeout=120,
    )
    theirs = json.loads(result.stdout)
    for name in SPACES:
        space = get_space(name)
        assert theirs[name] == [space.sample(seed).key for seed in range(100)]


_FIRST_BAD_SCRIPT = """
from hwnas.spaces import Arch, SpaceError, get_space
space = get_space("conv1d")
arch = space.sample(0)
try:
    space.validate(Arch(space.name, space.version, {**arch, "s0.width": 7, "s1.width": 9}))
except SpaceError as e:
    print(e)
"""


def test_of_several_bad_values_the_first_in_the_spaces_order_is_named_in_every_process():
    """The values were checked in a set's order, which string hashing changes per process:
    one run named s1.width, the next s0.width."""
    said = {
        subprocess.run(
            [sys.executable, "-c", _FIRST_BAD_SCRIPT],
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONHASHSEED": seed},
            check=True,
            timeout=120,
        ).stdout.strip()
        for seed in ("1", "2")
    }
    assert said == {"space 'conv1d': s0.width: 7 not in [16, 32]"}


def test_key_is_the_documented_content_hash():
    arch = Arch("s", 2, {"b": 2.0, "a": 1, "c": "x"})
    payload = {"space": "s", "version": 2, "choices": {"a": 1, "b": 2.0, "c": "x"}}
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    assert arch.key == hashlib.sha256(text.encode()).hexdigest()[:16]
    assert arch.to_json() == text
    assert Arch("s", 2, {"a": np.int64(1), "b": np.float32(2.0), "c": "x"}) == arch
    assert Arch("s", 3, dict(arch)) != arch
    with pytest.raises(TypeError, match="choice 'a' must be an int, float or str, not bool"):
        Arch("s", 1, {"a": True})


# -- canonical form ---------------------------------------------------------------------------
def test_canonical_form_makes_equal_networks_equal():
    space = get_space("conv2d")
    base = dict(space.sample(11))
    base.update({"s2.depth": 1, "s2.b0.mixer": "attn"})
    for field in ("kernel", "dilation"):
        base.pop(f"s2.b0.{field}", None)
    for name in [k for k in base if k.startswith(("s2.b1.", "s2.b2."))]:
        base.pop(name)
    canonical = space.arch(base)
    variants = [
        {**base, "s2.b0.kernel": 3, "s2.b0.dilation": 1},  # attention has no kernel
        {**base, "s2.b1.mixer": "conv", "s2.b1.kernel": 3, "s2.b1.expansion": 4},  # beyond depth
        {**base, "s2.b0.expansion": int(base["s2.b0.expansion"])},  # int vs float
        {**base, "s2.depth": 1.0, "s2.width": np.int64(base["s2.width"])},
        {k: base[k] for k in reversed(list(base))},  # order
    ]
    for variant in variants:
        arch = space.arch(variant)
        assert arch == canonical and arch.key == canonical.key
        assert arch.to_json() == canonical.to_json()
    # a non-canonical Arch is rejected by validate, with the offending fields named
    raw = Arch(space.name, space.version, variants[0])
    with pytest.raises(SpaceError, match="s2.b0.kernel"):
        space.validate(raw)
    for bad, field in (
        ({**base, "s2.depth": 1.5}, "s2.depth"),
        ({**base, "s2.width": "64"}, "s2.width"),
        ({**base, "s2.depth": 7}, "s2.depth"),
        ({**base, "s2.b0.mixer": "mlp"}, "s2.b0.mixer"),
        ({**base, "s9.depth": 1}, "s9.depth"),
        ({k: v for k, v in base.items() if k != "s0.width"}, "s0.width"),
    ):
        with pytest.raises(SpaceError, match=field.replace(".", r"\.")):
            space.arch(bad)


def _signature(space, arch) -> tuple:
    """What the built network is: its module tree and every layer's precision."""
    model = space.build(arch)
    precisions = tuple(m.precision for m in model.modules() if isinstance(m, QUANTIZED_LAYERS))
    return repr(model), precisions


@pytest.fixture(scope="module")
def tiny():
    return get_space(Path(__file__).parent / "data" / "exhaustible_space.yaml")


def _brute_force(space) -> set[str]:
    """Every canonical, valid Arch reachable from the full product of all choice values."""
    return {arch.key for arch in _valid_combinations(space)}


def test_cardinality_is_exact_by_brute_force(tiny):
    # stage 0 (12 positions): conv k3 d1/d2, pool, attn = 4 options x 2 precisions, depth 1
    # or 2; stage 1 (6 positions): conv k3 d1/d2, k5 d1 (k5 d2 does not fit), fft = 4 options
    # x 2 precisions, 2 widths
    assert len(tiny.plans[0].options) == 4 and len(tiny.plans[1].options) == 4
    expected = (8 + 8**2) * (2 * 8)
    assert tiny.cardinality == expected
    assert tiny.log10_cardinality == pytest.approx(math.log10(expected))
    keys = _brute_force(tiny)
    assert len(keys) == expected
    # sampling stays inside the space and is uniform: m draws from n equally likely archs
    # hit n * (1 - (1 - 1/n)^m) distinct ones on average
    rng = np.random.default_rng(0)
    draws = 3 * expected
    seen = {tiny.sample(rng).key for _ in range(draws)}
    assert seen <= keys
    uniform = expected * (1 - (1 - 1 / expected) ** draws)
    assert len(seen) == pytest.approx(uniform, rel=0.02)


def test_equal_networks_have_equal_keys_and_different_ones_differ(tiny):
    rng = np.random.default_rng(3)
    by_key: dict[str, tuple] = {}
    by_signature: dict[tuple, str] = {}
    for _ in range(150):
        arch = tiny.sample(rng)
        sig = _signature(tiny, arch)
        assert by_key.setdefault(arch.key, sig) == sig
        assert by_signature.setdefault(sig, arch.key) == arch.key
    assert len(by_key) > 50


def _random_spec(rng: np.random.Generator) -> dict:
    """A small random MetaFormer spec, 1D or 2D, any mixers, strides and input sizes."""

    def some(values, most=2):
        return sorted(rng.choice(values, rng.integers(1, most + 1), replace=False).tolist())

    mixers = {}
    for name in some(list(MIXERS), 3):
        uses_kernel, uses_dilation = MIXERS[name]
        options = {"kernels": some([1, 3, 5])} if uses_kernel else {}
        if uses_dilation and rng.random() < 0.6:
            options["dilations"] = some([1, 2])
        mixers[name] = options
    dim = int(rng.integers(1, 3))
    sizes = some([5, 6, 7, 8, 11], dim)
    sizes = sizes * dim if len(sizes) < dim else sizes
    names = ("length",) if dim == 1 else ("height", "width")
    stages = [
        {"depth": some([1, 2]), "width": some([4, 8]), "stride": int(rng.integers(1, 3))}
        for _ in range(rng.integers(1, 3))
    ]
    return {
        "name": "random",
        "input": {"channels": 2, **dict(zip(names, sizes))},
        "classes": 3,
        "stem": {"width": 4, "kernel": int(rng.integers(1, 4)), "stride": int(rng.integers(1, 3))},
        "block": {"mixers": mixers, "expansions": [1, 2], "precisions": some(["fp32", "int8"])},
        "stages": stages,
        "max_attention_tokens": int(rng.choice([4, 64])),
    }


def _random_spaces(count: int) -> list:
    """`count` random spaces of at most 10000 choice combinations (specs that fit no feature
    map are skipped: their SpaceError is what `test_specs` checks)."""
    rng, spaces = np.random.default_rng(11), []
    while len(spaces) < count:
        with contextlib.suppress(SpaceError):
            space = MetaFormerSpace(parse_metaformer(_random_spec(rng), "random"), "random")
            if math.prod(len(v) for v in space.choice_values().values()) <= 10000:
                spaces.append(space)
    return spaces


@pytest.mark.parametrize("space", _random_spaces(20), ids=lambda s: str(s.input_shape))
def test_random_small_spaces_hold_every_property(space):
    """Cardinality is exact, suggest reaches exactly the archs sample draws from, mutation
    and crossover stay inside, encodings have one length and tell archs apart, and every
    arch builds and runs in train and eval mode."""
    every = {a.key: a for a in map(space.arch, _valid_combinations(space))}
    assert len(every) == space.cardinality
    values = space.choice_values()
    for arch in every.values():
        assert space.suggest(optuna.trial.FixedTrial(dict(arch))) == arch
    rng = np.random.default_rng(0)
    for _ in range(30):  # any parameters Optuna may suggest give an arch of the space
        params = {name: v[rng.integers(len(v))] for name, v in values.items()}
        assert space.suggest(optuna.trial.FixedTrial(params)).key in every
    codes = {space.encode(a).tobytes() for a in every.values()}
    assert len(codes) == len(every) and len({len(c) for c in codes}) == 1
    for _ in range(20):
        arch, other = space.sample(rng), space.sample(rng)
        assert arch.key in every and space.crossover(arch, other, rng).key in every
        mutant = space.mutate(arch, rng)
        assert mutant.key in every and (mutant != arch or space.cardinality == 1)
    for arch in list(every.values())[:: max(1, len(every) // 4)]:
        model = space.build(arch)
        assert model(torch.randn(2, *space.input_shape)).shape == (2, 3)
        with torch.no_grad():
            assert model.eval()(torch.randn(1, *space.input_shape)).shape == (1, 3)


def _valid_combinations(space):
    values = space.choice_values()
    names = sorted(values)
    for combo in itertools.product(*(values[n] for n in names)):
        with contextlib.suppress(SpaceError):
            yield space.arch(dict(zip(names, combo)))


@pytest.mark.parametrize("name", SPACES)
def test_log10_cardinality(name):
    space = get_space(name)
    assert isinstance(space.cardinality, int) and space.cardinality > 1000
    assert space.log10_cardinality == pytest.approx(math.log10(space.cardinality))


# -- Optuna define-by-run ---------------------------------------------------------------------
@pytest.mark.parametrize("name", SPACES)
def test_suggest_with_a_real_optuna_study(name, caplog):
    caplog.set_level(logging.WARNING, logger="optuna")  # no "new study" line; restored after
    space = get_space(name)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    distributions: dict[str, optuna.distributions.BaseDistribution] = {}
    archs = []
    values = space.choice_values()
    for i in range(150):
        trial = study.ask()
        arch = space.suggest(trial)
        assert space.validate(arch) is arch
        # conditional on depth: no choice of a block past the stage's depth is suggested
        assert set(trial.params) == set(arch), arch.to_json()
        for param, dist in trial.distributions.items():
            assert param in values
            assert distributions.setdefault(param, dist) == dist, param
            assert list(dist.choices) == values[param]
        study.tell(trial, float(i % 7))
        archs.append(arch)
    assert len({a.key for a in archs}) > 100
    used = {v for a in archs for k, v in a.items() if k.endswith(".mixer") or "<-" in k}
    assert len(used) >= 5
    # the study re-creates the architectures from the stored params alone
    replay = optuna.create_study()
    for trial, arch in zip(study.trials, archs):
        replay.enqueue_trial(trial.params)
        assert space.suggest(replay.ask()) == arch


def test_suggest_snaps_a_kernel_or_dilation_halfway_between_two_to_the_smaller():
    """A mixer's kernel and dilation are suggested from the stage's full lists and snapped to
    the nearest the mixer allows; halfway between two, to the smaller. Optuna stores only the
    suggested values, so a changed tie-break would turn a resumed or replayed study's trials
    into other networks than the ones it scored."""
    spec = {
        "name": "ties",
        "input": {"channels": 1, "length": 32},
        "classes": 2,
        "stem": {"width": 4},
        "block": {
            "mixers": {
                "conv": {"kernels": [3, 7], "dilations": [1, 3]},
                "dwconv": {"kernels": [5], "dilations": [2]},
            },
            "expansions": [1],
            "precisions": ["fp32"],
        },
        "stages": [{"depth": [1], "width": [4]}],
    }
    space = MetaFormerSpace(parse_metaformer(spec, "ties"), "ties")
    params = {"s0.depth": 1, "s0.width": 4, "s0.b0.expansion": 1.0, "s0.b0.precision": "fp32"}
    block = {"s0.b0.mixer": "conv", "s0.b0.kernel": 5, "s0.b0.dilation": 2}
    arch = space.suggest(optuna.trial.FixedTrial({**params, **block}))
    assert (arch["s0.b0.kernel"], arch["s0.b0.dilation"]) == (3, 1)


def test_choice_values_cover_every_choice_of_every_arch(space, samples):
    values = space.choice_values()
    for arch in samples[:300]:
        for name, value in arch.items():
            assert value in values[name], name


@pytest.mark.parametrize("name", SPACES)
def test_crossover_children_take_each_choice_from_either_parent(name):
    """A child always of the first parent, or with its width, passed the crossover test
    (every value from a parent, crossover(a, a) == a)."""
    space = get_space(name)
    rng = np.random.default_rng(0)
    a, b = space.sample(rng), space.sample(rng)
    while sum(a.get(k) != b.get(k) for k in a) < 4:
        b = space.sample(rng)
    children = [space.crossover(a, b, seed) for seed in range(40)]
    for k in set(a) & set(b):
        values = {c.get(k) for c in children}
        assert values >= {a[k], b[k]} or any(k not in c for c in children), k


def test_crossover_mixes_the_blocks_of_one_stage():
    """Blocks are inherited one by one, not as the whole stage of the parent giving the depth."""
    space = get_space("conv1d")
    rng = np.random.default_rng(1)

    def blocks(arch):
        fields = ("mixer", "kernel", "expansion", "precision")
        return [{f: arch.get(f"s0.b{j}.{f}") for f in fields} for j in range(arch["s0.depth"])]

    while True:
        a, b = space.sample(rng), space.sample(rng)
        pa, pb = blocks(a), blocks(b)
        if a["s0.depth"] == b["s0.depth"] >= 2 and all(x != y for x, y in zip(pa, pb)):
            break
    children = [space.crossover(a, b, seed) for seed in range(40)]
    assert any(blocks(c)[:2] in ([pa[0], pb[1]], [pb[0], pa[1]]) for c in children)


def test_an_arch_of_another_version_of_the_space_is_refused():
    for name in ("conv1d", "nasbench201"):
        space = get_space(name)
        other = Arch(space.name, space.version + 1, space.sample(0))
        with pytest.raises(SpaceError, match=f"v{space.version + 1}, not"):
            space.validate(other)


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, np.float32("nan")])
def test_an_arch_with_a_choice_that_is_no_finite_number_is_refused_naming_it(value):
    """A NaN choice was kept, and written into the arch's JSON as NaN, which is no JSON."""
    said = f"choice 'a' must be a finite number, not {float(value)!r}"
    with pytest.raises(ValueError, match=f"^{said}$"):
        Arch("s", 1, {"a": value})
    with pytest.raises(ValueError, match=f"^arch record: {said}$"):
        Arch.from_json(json.dumps({"space": "s", "version": 1, "choices": {"a": float(value)}}))


def test_an_arch_record_with_a_bool_version_is_refused():
    with pytest.raises(ValueError, match="version must be an integer, not True"):
        Arch.from_dict({"space": "s", "version": True, "choices": {"a": 1}})


@pytest.mark.parametrize("version", ["3", 2.7, 3.0, True, None])
def test_an_arch_whose_version_is_no_integer_is_refused_naming_it(version):
    """Arch took int(version): text "3" was taken and 2.7 cut to 2, unsaid."""
    with pytest.raises(
        TypeError, match=f"^version must be an integer, not {re.escape(repr(version))}$"
    ):
        Arch("s", version, {"a": 1})
    assert Arch("s", np.int64(3), {"a": 1}) == Arch("s", 3, {"a": 1})


@pytest.mark.parametrize("space", [123, None, b"s", ["s"]])
def test_an_arch_whose_space_is_no_name_is_refused_naming_it(space):
    """Arch took str(space): 123 became the space "123", which no space's arch matches."""
    with pytest.raises(TypeError, match="^space must be a space's name \\(text\\), not "):
        Arch(space, 1, {"a": 1})


def test_an_arch_record_with_a_choice_name_that_is_not_text_is_refused_by_name():
    # a YAML record may hold `1: conv` beside `mixer: conv`; JSON names are always text
    with pytest.raises(ValueError, match="choice names must be text, not 1"):
        Arch.from_dict({"space": "s", "version": 1, "choices": {"a": 1, 1: "conv"}})

"""Models the spaces build: every mixer at every option, the merged large kernel, analytic
costs against torch's own counters, and input/class overrides."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from hwnas.spaces import (
    MIXERS,
    PRECISIONS,
    Arch,
    SpaceError,
    get_space,
    reparameterize,
    set_fake_quant,
)
from hwnas.spaces.blocks import BlockConfig, receptive_field
from hwnas.spaces.mixers import LKConvMixer, build_mixer
from hwnas.spaces.network import MetaFormerBlock
from hwnas.spaces.quant import QUANTIZED_LAYERS

METAFORMER_SPACES = ("conv1d", "conv2d")
pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module", params=METAFORMER_SPACES)
def space(request):
    return get_space(request.param)


def _stage_options(space) -> list[tuple[int, object]]:
    return [(i, o) for i, p in enumerate(space.plans) for o in p.options]


def _expected_options(space, i: int) -> set[tuple[str, int | None, int | None]]:
    """The options of stage i recomputed from the spec: listed kernels x dilations whose
    receptive field fits the feature map, attention only up to the token bound."""
    plan, spec = space.plans[i], space.spec
    block = spec.stages[i].block.merged_over(spec.block) if spec.stages[i].block else spec.block
    expected = set()
    for mixer, opts in block.mixers.items():
        uses_kernel, uses_dilation = MIXERS[mixer]
        if mixer == "attn" and np.prod(plan.spatial) > spec.max_attention_tokens:
            continue
        if not uses_kernel:
            expected.add((mixer, None, None))
            continue
        dilations = (opts.dilations or [1]) if uses_dilation else [None]
        for k, d in itertools.product(opts.kernels, dilations):
            if receptive_field(k, d or 1) <= min(plan.spatial):
                expected.add((mixer, k, d))
    return expected


def test_stage_options_are_the_listed_ones_that_fit(space):
    for i, plan in enumerate(space.plans):
        got = {(o.mixer, o.kernel, o.dilation) for o in plan.options}
        assert got == _expected_options(space, i)
        assert len(got) == len(plan.options)
    # every mixer is usable in at least one stage of the built-in spaces
    assert {o.mixer for p in space.plans for o in p.options} == set(MIXERS)


def test_every_mixer_option_builds_runs_forward_and_backward(space):
    """One MetaFormerBlock per (stage, mixer, kernel, dilation), at the stage's feature map,
    cycling through the precisions so fake quantization is exercised everywhere."""
    torch.manual_seed(0)
    dim = len(space.input_shape) - 1
    precisions = itertools.cycle(PRECISIONS)
    options = _stage_options(space)
    assert len(options) > 20
    for i, option in options:
        plan = space.plans[i]
        cfg = BlockConfig(option.mixer, option.kernel, option.dilation, 2.0, next(precisions))
        block = MetaFormerBlock(dim, min(plan.widths), cfg, plan.spatial)
        x = torch.randn(2, min(plan.widths), *plan.spatial, requires_grad=True)
        y = block(x)
        assert y.shape == x.shape, (i, option)
        y.square().mean().backward()
        assert x.grad is not None and torch.isfinite(x.grad).all(), (i, option)
        grads = [p.grad for p in block.parameters()]
        assert all(g is not None and torch.isfinite(g).all() for g in grads), (i, option)


def _mixer_arch(space, mixer: str, precision: str = "fp32", depth=min):
    """An arch whose every block uses `mixer` where its stage allows it (else the stage's
    first option), at the smallest widths."""
    choices = {}
    for i, plan in enumerate(space.plans):
        d = depth(plan.depths)
        choices[f"s{i}.depth"] = d
        choices[f"s{i}.width"] = min(plan.widths)
        usable = [o for o in plan.options if o.mixer == mixer] or list(plan.options)
        for j in range(d):
            o = usable[j % len(usable)]
            b = f"s{i}.b{j}"
            choices.update(
                {f"{b}.mixer": o.mixer, f"{b}.expansion": 2, f"{b}.precision": precision}
            )
            if o.kernel is not None:
                choices[f"{b}.kernel"] = o.kernel
            if o.dilation is not None:
                choices[f"{b}.dilation"] = o.dilation
    return space.arch(choices)


@pytest.mark.parametrize("mixer", list(MIXERS))
def test_whole_network_per_mixer_returns_batch_by_classes(space, mixer):
    torch.manual_seed(0)
    arch = _mixer_arch(space, mixer, precision=list(PRECISIONS)[list(MIXERS).index(mixer) % 4])
    assert any(v == mixer for k, v in arch.items() if k.endswith(".mixer"))
    model = space.build(arch)
    assert model.training
    x = torch.randn(2, *space.input_shape)
    out = model(x)
    assert out.shape == (2, space.num_classes)
    out.logsumexp(dim=1).mean().backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
    assert sum(p.grad is not None for p in model.parameters()) > 0


def _randomise_bn(module: torch.nn.Module, gen: torch.Generator) -> None:
    for m in module.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            n = m.num_features
            m.running_mean.copy_(torch.randn(n, generator=gen))
            m.running_var.copy_(torch.rand(n, generator=gen) + 0.5)
            m.weight.data.copy_(torch.randn(n, generator=gen))
            m.bias.data.copy_(torch.randn(n, generator=gen))


@pytest.mark.parametrize("dim", [1, 2])
@pytest.mark.parametrize(("kernel", "dilation"), [(3, 1), (7, 1), (11, 2), (5, 3)])
@pytest.mark.parametrize("precision", ["fp32", "int8"])
def test_lkconv_merged_kernel_equals_two_branches(dim, kernel, dilation, precision):
    gen = torch.Generator().manual_seed(kernel * 10 + dilation)
    spatial = (23,) * dim
    mixer = LKConvMixer(dim, 6, kernel, dilation, precision, spatial)
    _randomise_bn(mixer, gen)
    set_fake_quant(mixer, False)
    mixer.eval()
    x = torch.randn(2, 6, *spatial, generator=gen)
    with torch.no_grad():
        branches = mixer(x)
        mixer.reparameterize()
        merged = mixer(x)
    assert mixer.merged is not None
    assert mixer.merged.weight.shape[-1] == kernel
    assert not torch.equal(branches, torch.zeros_like(branches))
    torch.testing.assert_close(merged, branches, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(("precision", "rounding"), [("int8", 0.1), ("w4a8", 0.5)])
def test_lkconv_merged_with_fake_quant_keeps_the_calibrated_input_range(precision, rounding):
    """The merged conv quantizes its input with the range the branches learned in training,
    as they did: a sample's output does not depend on the others in its batch."""
    gen = torch.Generator().manual_seed(5)
    # its weights seeded too: drawn from whatever state the tests run before left, one w4a8
    # initialisation in about 40 rounds more than 0.5 off (seen in a full run, 0.53)
    torch.manual_seed(5)
    mixer = LKConvMixer(2, 4, 7, 1, precision, (11, 11))
    x = torch.randn(4, 4, 11, 11, generator=gen)
    with torch.no_grad():
        mixer.train()(x)  # sets the branches' running input range
        mixer.eval()
        branches = mixer(x[:1])
        mixer.reparameterize()
        alone = mixer(x[:1])
        beside_loud = mixer(torch.cat([x[:1], 50 * x[1:]]))[:1]
    torch.testing.assert_close(alone, beside_loud)
    # the merged kernel is rounded as a whole, so it differs from the branches a little
    torch.testing.assert_close(alone, branches, rtol=0, atol=rounding)


def test_lkconv_merge_keeps_dtype_and_device():
    mixer = LKConvMixer(2, 4, 7, 2, "fp32", (15, 15)).double()
    _randomise_bn(mixer, torch.Generator().manual_seed(3))
    set_fake_quant(mixer, False).eval()
    x = torch.randn(1, 4, 15, 15, dtype=torch.float64)
    with torch.no_grad():
        branches = mixer(x)
        mixer.reparameterize()
        merged = mixer(x)
    assert mixer.merged.weight.dtype == torch.float64
    assert mixer.merged.weight.device == x.device
    torch.testing.assert_close(merged, branches)


def test_reparameterize_whole_network_keeps_its_output(space):
    arch = _mixer_arch(space, "lkconv", depth=max)
    model = space.build(arch)
    _randomise_bn(model, torch.Generator().manual_seed(1))
    set_fake_quant(model, False).eval()
    x = torch.randn(2, *space.input_shape)
    with torch.no_grad():
        before = model(x)
        reparameterize(model)
        after = model(x)
    merged = [m for m in model.modules() if isinstance(m, LKConvMixer)]
    assert merged and all(m.merged is not None for m in merged)
    torch.testing.assert_close(after, before, rtol=1e-4, atol=1e-4)


def test_an_fft_network_runs_channels_last_and_in_bfloat16():
    """The usual casts of a trained image model: `channels_last` strided the 2D frequency
    filter's last dimension and bfloat16 has no complex type, and both stopped every fft
    block in `view_as_complex`."""
    torch.manual_seed(0)
    space = get_space("conv2d")
    model = space.build(_mixer_arch(space, "fft")).eval()
    x = torch.randn(2, *space.input_shape)
    with torch.no_grad():
        want = model(x)
        last = model.to(memory_format=torch.channels_last)
        torch.testing.assert_close(last(x.to(memory_format=torch.channels_last)), want)
        got = model.to(torch.bfloat16)(x.to(torch.bfloat16))
    assert got.dtype == torch.bfloat16
    torch.testing.assert_close(got.float(), want, rtol=0.1, atol=0.1)


def test_an_fft_block_refuses_another_feature_map_by_its_sizes(space):
    """Its filter is sized for the feature map it was built for: torch's broadcasting error
    named two tensor sizes, neither of them the input's."""
    model = space.build(_mixer_arch(space, "fft"))
    other = (space.input_shape[0], *(d + 8 for d in space.input_shape[1:]))
    with pytest.raises(ValueError, match=r"fft mixer was built for a feature map of \(\d+"):
        model(torch.randn(1, *other))


def test_an_fft_network_is_traced_by_torch_fx(space):
    """`torch.fx.symbolic_trace` (FX quantization, feature extractors) passes proxies, whose
    sizes the fft block's size check cannot compare: tracing stopped in it."""
    torch.manual_seed(0)
    model = space.build(_mixer_arch(space, "fft")).eval()
    x = torch.randn(2, *space.input_shape)
    with torch.no_grad():
        torch.testing.assert_close(torch.fx.symbolic_trace(model)(x), model(x))


# -- analytic costs ---------------------------------------------------------------------------
def _flop_counter_macs(model: torch.nn.Module, input_shape) -> int:
    set_fake_quant(model, False).eval()
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(torch.randn(1, *input_shape))
    return counter.get_total_flops() // 2


def _cost_archs(space):
    rng = np.random.default_rng(7)
    archs = [space.sample(rng) for _ in range(6)]
    if space.name != "nasbench201":
        archs += [_mixer_arch(space, m, depth=max) for m in MIXERS]
    return archs


@pytest.mark.parametrize("name", [*METAFORMER_SPACES, "nasbench201"])
def test_params_and_macs_match_the_built_model(name):
    """The cost added up from the space's parts is the cost counted on the whole model, every
    field (a sum that dropped the activations passed a params and MACs check), and counting
    leaves a training model training."""
    from hwnas.spaces.counting import count_cost

    space = get_space(name)
    checked = 0
    for arch in _cost_archs(space):
        cost = space.cost(arch)
        model = space.build(arch)
        assert cost.params == sum(p.numel() for p in model.parameters())
        assert cost == count_cost(model, space.input_shape), arch.to_json()
        assert all(m.training for m in model.modules())
        if any(v == "fft" for v in arch.values()):
            continue  # the flop counter has no formula for FFTs; the analytic count skips them
        assert cost.macs == _flop_counter_macs(model, space.input_shape), arch.to_json()
        checked += 1
    assert checked >= 5
    assert space.cost(arch) is space.cost(arch)  # cached


def test_attention_macs_formula():
    space = get_space("conv1d")
    plan = space.plans[2]
    width, tokens = max(plan.widths), plan.spatial[0]
    block = MetaFormerBlock(1, width, BlockConfig("attn", None, None, 2.0, "fp32"), plan.spatial)
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        block.mixer(torch.randn(1, width, tokens))
    qkv_and_proj = tokens * width * 3 * width + tokens * width * width
    products = 2 * tokens * tokens * width  # q^T k and v attn^T
    assert counter.get_total_flops() // 2 == qkv_and_proj + products


@pytest.mark.parametrize("name", METAFORMER_SPACES)
@pytest.mark.parametrize("precision", ["fp16", "int8", "w4a8"])
def test_size_bytes_follows_the_precisions(name, precision):
    space = get_space(name)
    fp32 = _mixer_arch(space, "conv", "fp32", depth=max)
    low = fp32.replace(**{k: precision for k in fp32 if k.endswith(".precision")})
    low = space.arch(low)
    model = space.build(low)
    block_weights = sum(
        m.weight.numel()
        for block in model.modules()
        if isinstance(block, MetaFormerBlock)
        for m in block.modules()
        if isinstance(m, QUANTIZED_LAYERS)
    )
    assert block_weights > 0
    full, reduced = space.cost(fp32), space.cost(low)
    assert full.size_bytes == 4 * full.params  # everything fp32
    saved = block_weights * (4 - {"fp16": 2, "int8": 1, "w4a8": 0.5}[precision])
    assert full.size_bytes - reduced.size_bytes == pytest.approx(
        saved, abs=len(list(model.modules()))
    )
    assert (full.params, full.macs) == (reduced.params, reduced.macs)


# -- input and class overrides ----------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "shape", "classes"),
    [
        ("conv2d", (1, 8, 8), 3),
        ("conv2d", (3, 20, 24), 7),
        ("conv1d", (3, 16), 2),
        ("conv1d", (2, 150), 5),
        ("nasbench201", (1, 16, 16), 4),
        ("nasbench201", (2, 15, 15), 3),
    ],
)
def test_get_space_overrides_input_and_classes(name, shape, classes):
    space = get_space(name, input_shape=shape, num_classes=classes)
    assert (space.input_shape, space.num_classes) == (shape, classes)
    rng = np.random.default_rng(0)
    for _ in range(3):
        arch = space.sample(rng)
        model = space.build(arch)
        assert model(torch.randn(2, *shape)).shape == (2, classes)
        cost = space.cost(arch)
        assert cost.params == sum(p.numel() for p in model.parameters())
        if "fft" not in arch.values():
            assert cost.macs == _flop_counter_macs(model, shape)


def test_build_overrides_input_and_classes():
    space = get_space("conv2d")
    arch = _mixer_arch(space, "dwconv")
    model = space.build(arch, input_shape=(1, 64, 48), num_classes=5)
    assert model(torch.randn(2, 1, 64, 48)).shape == (2, 5)
    nb = get_space("nasbench201")
    cell = nb.from_string(
        "|nor_conv_3x3~0|+|skip_connect~0|nor_conv_1x1~1|+|none~0|none~1|avg_pool_3x3~2|"
    )
    assert nb.build(cell, input_shape=(1, 16, 16), num_classes=3)(
        torch.randn(2, 1, 16, 16)
    ).shape == (
        2,
        3,
    )


def test_an_rng_of_another_kind_is_refused_by_name():
    import random

    space = get_space("conv1d")
    with pytest.raises(TypeError, match="rng must be a numpy Generator, an int seed or None"):
        space.sample(random.Random(1))
    with pytest.raises(TypeError, match="not bool"):  # True is no seed, though it counts as 1
        space.sample(True)
    assert space.sample(np.int64(3)) == space.sample(3)
    with pytest.raises(ValueError, match="rng must be a seed >= 0"):  # was numpy's own words
        space.sample(-1)


def test_bad_overrides_are_space_errors():
    with pytest.raises(SpaceError, match="input"):
        get_space("conv2d", input_shape=(3, 32))
    with pytest.raises(SpaceError, match="classes"):
        get_space("conv2d", num_classes=1)
    with pytest.raises(SpaceError, match="input"):
        get_space("nasbench201", input_shape=(3, 32))
    with pytest.raises(SpaceError, match="height"):
        get_space("nasbench201", input_shape=(3, 0, 32))
    with pytest.raises(SpaceError, match=r"input \(1, 3\) is too small .* must be 4 or more"):
        get_space("conv1d", input_shape=(1, 3))  # says what input would do, not only the stride
    assert get_space("conv1d", input_shape=(1, 4)).input_shape == (1, 4)
    # the file is fine: the override is named as what does not fit it
    with pytest.raises(
        SpaceError, match=r"input.length: .* \(with the input overridden to \(1, 0\)"
    ):
        get_space("conv1d", input_shape=(1, 0))
    space = get_space("conv2d")
    big = space.arch({**_mixer_arch(space, "lkconv"), "s0.b0.kernel": 11, "s0.b0.dilation": 1})
    space.build(big)  # an 11x11 kernel fits the 16x16 map of stage 0, not an 8x8 one
    with pytest.raises(SpaceError, match=r"s[02]\.b0"):
        space.build(big, input_shape=(3, 16, 16))


def test_an_arch_of_a_larger_input_is_refused_with_the_reason():
    """At a smaller input the last stages' maps fit no kernel, so their kernel choices are
    gone: the error says so instead of only listing "unknown choices"."""
    arch = get_space("conv1d").sample(0)
    small = get_space("conv1d", input_shape=(1, 8))
    with pytest.raises(SpaceError, match=r"unknown choices .*s2\.b0\.kernel.*: at input_shape"):
        small.validate(arch)
    with pytest.raises(SpaceError, match=r"unknown choices \['s0\.b9\.kernel'\]$"):
        get_space("conv1d").validate(Arch("conv1d", arch.version, {**arch, "s0.b9.kernel": 3}))


def test_a_kernel_written_for_a_mixer_without_one_is_dropped():
    """Hand-written choices may carry a kernel for an fft or identity block, whether or not
    the block's stage has kernel choices at all (before, only where it had was it dropped)."""
    space = get_space("conv1d", input_shape=(1, 8))  # stage 2 has no kernel choice here
    arch = space.sample(0)
    choices = {**arch, "s2.b0.mixer": "fft", "s2.b0.kernel": 3, "s2.b0.dilation": 1}
    made = space.arch(choices)  # dropped, not "unknown choices"
    assert made["s2.b0.mixer"] == "fft" and "s2.b0.kernel" not in made
    assert space.arch({**choices, "s0.b0.mixer": "identity"})["s0.b0.mixer"] == "identity"


def test_an_arch_not_in_canonical_form_is_told_what_each_field_should_be():
    """An integer expansion written by hand is 2.0 in the space's form: validate says so."""
    space = get_space("conv1d")
    arch = space.sample(0)
    loose = Arch("conv1d", arch.version, {**arch, "s0.b0.expansion": 2})
    with pytest.raises(SpaceError, match=r"s0\.b0\.expansion: 2, canonical 2\.0\)"):
        space.validate(loose)
    assert space.arch(dict(loose)) == arch.replace(**{"s0.b0.expansion": 2.0})


def test_a_packed_weight_rounds_up_to_whole_bytes_and_activations_count_in_and_out():
    """Three 4-bit weights take 2 bytes, not 1; a layer reads its input and writes its output."""
    from hwnas.spaces.cost import weight_bytes
    from hwnas.spaces.counting import count_cost
    from hwnas.spaces.quant import QLinear

    assert weight_bytes(3, "w4a8") == 2
    model = torch.nn.Sequential(QLinear(3, 1, bias=False, precision="w4a8"))
    cost = count_cost(model, (3,))
    assert (cost.size_bytes, cost.macs, cost.activations) == (2, 3, 3 + 1)


def test_an_mlp_width_rounds_to_the_nearest_channel():
    """Not truncated: 5 channels at expansion 1.5 are 7.5, so 8 (a mutant using int gave 7,
    and other hidden widths and costs, unnoticed)."""
    from hwnas.spaces.blocks import mlp_width

    assert [mlp_width(5, 1.5), mlp_width(10, 0.25), mlp_width(1, 0.1)] == [8, 2, 1]


@pytest.mark.parametrize(("kernel", "small"), [(3, 1), (5, 3), (13, 3)])
def test_lkconv_runs_a_3_wide_branch_beside_a_wider_kernel_and_a_1_wide_one_beside_3(kernel, small):
    """The small branch is what RepLKNet adds beside its large kernel; beside a 3-wide kernel
    a 3-wide branch would only repeat it, so it is 1 wide (and the block's params, MACs and
    latency are those of that network)."""
    for dim in (1, 2):
        mixer = LKConvMixer(dim, 4, kernel, 1, "fp32", (15,) * dim)
        assert mixer.small.kernel_size == (small,) * dim
        assert mixer.large.kernel_size == (kernel,) * dim


def test_an_inception_mixer_has_a_square_3_wide_branch_and_a_band_along_each_axis():
    """InceptionNeXt's branches: identity, 3 x 3, 1 x k and k x 1 in 2D (3 and k in 1D). Two
    bands along one axis build, run and cost the same, so only their shapes tell them apart."""
    shapes = [b.kernel_size for b in build_mixer("inception", 2, 32, 7, spatial=(9, 9)).branches]
    assert shapes == [(3, 3), (1, 7), (7, 1)]
    shapes = [b.kernel_size for b in build_mixer("inception", 1, 32, 7, spatial=(9,)).branches]
    assert shapes == [(3,), (7,)]


@pytest.mark.parametrize("dim", [1, 2])
def test_a_pool_mixer_maps_a_constant_map_to_zero_even_at_its_borders(dim):
    """PoolFormer's mixer is average pooling minus its input (the block adds the input back),
    averaged over the positions inside the map only: a constant map has nothing to mix, at
    the borders too, where averaging in the zero padding would dim it."""
    mixer = build_mixer("pool", dim, 3, 5, spatial=(7,) * dim)
    out = mixer(torch.full((2, 3, *(7,) * dim), 2.5))
    torch.testing.assert_close(out, torch.zeros_like(out))


@pytest.mark.parametrize(("channels", "heads"), [(64, 2), (48, 1), (100, 1)])
def test_attention_is_multi_head_scaled_dot_product_attention_over_all_positions(channels, heads):
    """What the attention mixer computes: softmax(q k^T / sqrt(head channels)) v per head over
    every position of the map, between its qkv and output projections; channels // 32 heads
    where they divide the channels, else one (100 channels: not 3 heads of 33)."""
    torch.manual_seed(0)
    mixer = build_mixer("attn", 2, channels, spatial=(3, 4))
    assert mixer.heads == heads
    x = torch.randn(2, channels, 3, 4)
    q, k, v = mixer.qkv(x).reshape(2, 3, heads, channels // heads, 12).transpose(-2, -1).unbind(1)
    out = torch.nn.functional.scaled_dot_product_attention(q, k, v)  # B, heads, N, C / heads
    expected = mixer.proj(out.transpose(-2, -1).reshape(2, channels, 3, 4))
    with torch.no_grad():
        torch.testing.assert_close(mixer(x), expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("spatial", [(10,), (6, 9)])
def test_an_fft_mixer_with_a_filter_of_ones_gives_back_its_input(spatial):
    """The global filter multiplies the spectrum and the inverse transform undoes the forward
    one ("ortho" both ways): a filter of ones passes the map through unchanged, where a
    mismatched normalisation would scale every block's mixer output by the map's size."""
    mixer = build_mixer("fft", len(spatial), 3, spatial=spatial)
    with torch.no_grad():
        mixer.weight.zero_()[..., 0] = 1  # (real, imaginary) = (1, 0) at every frequency
        x = torch.randn(2, 3, *spatial)
        torch.testing.assert_close(mixer(x), x, rtol=1e-4, atol=1e-5)


def _params(mixer: str, c: int, k: int) -> int:
    """A 2D mixer's parameters at `c` channels and kernel `k` on an 8 x 8 map, from the
    structure its docstring gives (weights + biases; batch norm: scale + shift)."""
    gc = c // 8  # inception: an eighth of the channels per branch
    return {
        "conv": c * c * k * k + c,
        "dwconv": (c * k * k + c) + (c * c + c),  # depthwise k x k, then pointwise
        "mbconv": c * 2 * c + 2 * 2 * c + 2 * c * k * k + 2 * 2 * c + 2 * c * c + c,
        "lkconv": (c * k * k + 2 * c) + (c * 3 * 3 + 2 * c),  # two depthwise conv + BN
        "inception": (gc * 3 * 3 + gc) + 2 * (gc * k + gc),  # 3 x 3, 1 x k, k x 1
        "pool": 0,
        "attn": (c * 3 * c + 3 * c) + (c * c + c),
        "fft": c * 8 * (8 // 2 + 1) * 2,  # a complex weight per channel and frequency
    }[mixer]


@pytest.mark.parametrize("mixer", [m for m in MIXERS if m != "identity"])
def test_each_mixer_has_the_parameters_of_its_documented_structure(mixer):
    """Counted costs are read off the built model, so a mixer built wrong (a dense convolution
    for a depthwise one, a branch of another width) is counted as built, and only its own
    structure tells."""
    module = build_mixer(mixer, 2, 16, 5, spatial=(8, 8))
    assert sum(p.numel() for p in module.parameters()) == _params(mixer, 16, 5)

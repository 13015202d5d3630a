"""The differentiable searcher: supernet gradients, LUT expectation, derivation, search loop.

Uses a tiny 2D space (tests/data/tiny2d.yaml, 1x8x8 digits) and its real ONNX Runtime profile
measured on this project's CPU (tests/data/tiny2d_ort.csv).
"""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from reproducible import REPRODUCIBLE_DEVICE, python312_sum
from torch.nn import functional as F

from hwnas.evaluators.datasets import load_dataset
from hwnas.evaluators.metrics import Metrics
from hwnas.evaluators.train import TrainEvaluator
from hwnas.evaluators.zero_cost import ZeroCostEvaluator
from hwnas.experiments import load
from hwnas.predictors import LearnedPredictor, LUTPredictor
from hwnas.predictors import lut as lut_module
from hwnas.search import differentiable, get_searcher, supernet
from hwnas.search.differentiable import (
    DifferentiableSearcher,
    SupernetDiverged,
    SupernetSearch,
    SupernetSettings,
    latency_term,
    lut_latency,
    score_function,
)
from hwnas.search.supernet import LatencyTable, SuperNet
from hwnas.spaces import Arch, SpaceError, get_space
from hwnas.spaces.blocks import mlp_width
from hwnas.spaces.mixers import conv

DATA = Path(__file__).parent / "data"
FAST = dict(epochs=3, warmup_epochs=1, batch_size=64, derive_samples=4, progress=False)
pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def space():
    return get_space(DATA / "tiny2d.yaml")


@pytest.fixture(scope="module")
def lut(space):
    return LUTPredictor.from_profile(DATA / "tiny2d_ort.csv", space)


def point_logits_at(net: SuperNet, arch: Arch) -> None:
    """Set every gate's logits so that its argmax (and almost all its mass) is `arch`'s value."""
    with torch.no_grad():
        for i, stage in enumerate(net.stages):
            depth = arch[f"s{i}.depth"]
            pairs = [(stage.depth, depth), (stage.width, arch[f"s{i}.width"])]
            for j, block in enumerate(stage.blocks[:depth]):
                b = f"s{i}.b{j}"
                option = next(
                    o
                    for o in block.option.values
                    if (o.mixer, o.kernel, o.dilation)
                    == (arch[f"{b}.mixer"], arch.get(f"{b}.kernel"), arch.get(f"{b}.dilation"))
                )
                pairs += [
                    (block.option, option),
                    (block.expansion, arch[f"{b}.expansion"]),
                    (block.precision, arch[f"{b}.precision"]),
                ]
            for gate, value in pairs:
                gate.logits.fill_(-30.0)
                gate.logits[gate.values.index(value)] = 30.0


def test_expected_latency_of_a_point_mass_is_the_lut_sum_and_argmax_returns_it(space, lut):
    net = SuperNet(space)
    table = LatencyTable(net, lut)
    for seed in range(5):
        arch = space.sample(seed)
        point_logits_at(net, arch)
        assert net.arch_of(net.argmax_selection()) == arch
        expected = net.expected_latency(table).item()
        assert expected == pytest.approx(lut.predict([arch])[0], rel=1e-4)
        assert lut_latency(lut, space, arch) == pytest.approx(lut.predict([arch])[0])


def test_derive_under_a_target_trades_the_least_probability_for_latency(space, lut):
    net = SuperNet(space)
    table = LatencyTable(net, lut)
    slow = max((space.sample(s) for s in range(50)), key=lambda a: lut.predict([a])[0])
    point_logits_at(net, slow)
    slow_ms = lut.predict([slow])[0]

    def derive(target_ms: float):
        return net.arch_of(net.fit_latency(net.argmax_selection(), table, target_ms))

    assert derive(slow_ms * 1.01) == slow  # already meets it
    fitted = derive(0.7 * slow_ms)
    assert fitted != slow and lut.predict([fitted])[0] <= 0.7 * slow_ms
    floor = derive(1e-6)  # unreachable: as fast as single changes get
    assert lut.predict([floor])[0] <= min(lut.predict([space.sample(s) for s in range(50)]))


def test_a_fitted_selection_meets_its_target_as_lut_latency_prices_it(space, lut):
    net = SuperNet(space)
    table = LatencyTable(net, lut)
    for seed in range(40):  # a target equal to an arch's latency: that arch already meets it
        arch = space.sample(seed)
        point_logits_at(net, arch)
        exact = lut_latency(lut, space, arch)
        assert net.arch_of(net.fit_latency(net.argmax_selection(), table, exact)) == arch
        fitted = net.arch_of(net.fit_latency(net.argmax_selection(), table, 0.9 * exact))
        assert lut_latency(lut, space, fitted) <= 0.9 * exact


def test_python312_sum_adds_as_python_312_does():
    """0.1 ten times: 3.12's `sum()` gives 1.0, a loop of `+` (3.11's `sum()`, and 3.12's once
    an item is not an exact float) 0.9999999999999999."""
    tenths = [0.1] * 10
    assert python312_sum(tenths) == 1.0
    assert python312_sum([np.float64(0.1)] * 10) < 1.0 and python312_sum([]) == 0
    assert sum(tenths) == python312_sum(tenths) or sys.version_info < (3, 12)


@pytest.mark.parametrize("adding", [sum, python312_sum], ids=["this_python", "python312"])
def test_an_arch_meets_a_target_set_to_its_recorded_latency_whatever_sum_python_has(
    space, lut, monkeypatch, adding
):
    """The `latency` evaluator records `lut.predict` of an arch as its `latency_ms`; given as a
    target (or as `lut_latency` prices it), that arch must meet it as the supernet prices it.
    The predictor added its part groups by `sum()`, so 110 of 300 archs were priced otherwise
    in the last bit; and Python 3.12's `sum()` compensates rounding for exact floats only, so
    on 3.12 (the GPU machine's Python) numpy's float64 (the supernet's table) and Python floats
    (the predictor's) were added unlike. Here the hwnas modules get this Python's `sum` and
    3.12's, whatever Python runs the test."""
    for module in (differentiable, supernet, lut_module):
        monkeypatch.setattr(module, "sum", adding, raising=False)
    net = SuperNet(space)
    table = LatencyTable(net, lut)
    for seed in range(40):
        arch = space.sample(seed)
        point_logits_at(net, arch)
        for target in (lut_latency(lut, space, arch), float(lut.predict([arch])[0])):
            assert net.arch_of(net.fit_latency(net.argmax_selection(), table, target)) == arch


def test_gradients_reach_every_gate_and_the_weights(space, lut):
    torch.manual_seed(0)
    net = SuperNet(space)
    table = LatencyTable(net, lut)
    x, y = torch.randn(16, 1, 8, 8), torch.randint(0, 10, (16,))

    net.sample(1.0)
    F.cross_entropy(net(x), y).backward()
    stage = net.stages[0]
    for gate in (stage.width, stage.blocks[0].expansion, stage.blocks[0].precision):
        assert gate.logits.grad is not None and gate.logits.grad.abs().sum() > 0, gate.values
    assert net.head.weight.grad.abs().sum() > 0 and net.stem[0].weight.grad.abs().sum() > 0
    assert not {id(p) for p in net.arch_parameters()} & {id(p) for p in net.weight_parameters()}

    net.zero_grad()
    net.expected_latency(table).backward()
    for gate in net.gates():
        assert torch.isfinite(gate.logits.grad).all()
        assert gate.logits.grad.abs().sum() > 0, gate.values


def test_log_prob_counts_only_the_gates_that_shape_the_network(space):
    torch.manual_seed(0)
    net = SuperNet(space)
    with torch.no_grad():
        for gate in net.gates():
            gate.logits.normal_()
    stage = net.stages[0]
    picks = {**net.sample_selection(torch.Generator().manual_seed(0)), stage.depth: 0}  # depth 1
    unused, used = stage.blocks[1].option, stage.blocks[0].option
    other = {**picks, unused: (picks[unused] + 1) % len(unused.values)}
    assert net.log_prob(other).item() == pytest.approx(net.log_prob(picks).item())
    changed = {**picks, used: (picks[used] + 1) % len(used.values)}
    assert net.log_prob(changed).item() != pytest.approx(net.log_prob(picks).item())
    net.log_prob(picks).backward()
    assert unused.logits.grad is None and used.logits.grad.abs().sum() > 0


def test_score_function_moves_the_gates_toward_the_path_with_the_lower_loss(space):
    torch.manual_seed(0)
    net = SuperNet(space)
    x, y = torch.randn(32, 1, 8, 8), torch.randint(0, 10, (32,))
    generator = torch.Generator().manual_seed(1)
    paths = [net.sample_selection(generator) for _ in range(2)]
    losses = []
    for picks in paths:
        net.use(picks)
        with torch.no_grad():
            losses.append(F.cross_entropy(net(x), y).item())
    assert losses[0] != pytest.approx(losses[1])
    better, worse = sorted(paths, key=lambda p: losses[paths.index(p)])

    ce, surrogate = score_function(net, paths, x, y)
    assert ce.item() == pytest.approx(np.mean(losses))
    margin = (net.log_prob(better) - net.log_prob(worse)).item()
    optimizer = torch.optim.SGD(net.arch_parameters(), lr=0.5)
    surrogate.backward()
    optimizer.step()
    assert (net.log_prob(better) - net.log_prob(worse)).item() > margin


@pytest.mark.parametrize("share", [False, True])
def test_shared_kernels_are_centres_of_the_largest_and_trained_by_every_op(share):
    torch.manual_seed(0)
    net = SuperNet(get_space("conv1d"), mixers=["conv"], precisions=["fp32"], share_kernels=share)
    block = net.stages[0].blocks[0]
    layers = {(o.kernel, o.dilation): op[0] for o, op in zip(block.option.values, block.ops)}
    small, large, dilated = layers[3, 1], layers[9, 1], layers[9, 4]
    centre = large.weight[..., 3:6]
    assert torch.equal(small.weight, centre) == share
    assert torch.equal(dilated.weight, large.weight) == share

    small(torch.randn(2, small.in_channels, 16)).sum().backward()
    assert (large.weight.grad is not None) == share  # the largest op holds the shared tensor
    if share:
        assert small.parametrizations.weight.original.grad is None
        grad = large.weight.grad
        assert grad[..., 3:6].abs().sum() > 0 and grad[..., :3].abs().sum() == 0


def test_the_latency_term_is_zero_on_target_and_the_hinge_penalises_only_exceeding_it():
    """log_ratio pulls from both sides, hinge only down (a mutant penalising a hinge search
    below its target survived: no test searched with the hinge)."""
    on, over, under = (torch.tensor(ms) for ms in (0.2, 0.4, 0.1))
    for kind in ("log_ratio", "hinge"):
        assert latency_term(on, 0.2, kind).item() == 0
        assert latency_term(over, 0.2, kind).item() == pytest.approx(np.log(2))
    assert latency_term(under, 0.2, "log_ratio").item() == pytest.approx(np.log(2))
    assert latency_term(under, 0.2, "hinge").item() == 0


def _bump_beyond(net: SuperNet, picks: dict) -> None:
    """Add 3 to the parameters a selection does not use: the downsampling's weights and the
    normalisations' biases past each stage's width, the MLP's first-layer biases past the
    hidden size (all of them in a block past the stage's depth), the head's past the last
    width. (Biases only shift channels evenly, which the next batch norm takes away.)"""
    for stage in net.stages:
        width = stage.width.values[picks[stage.width]]
        depth = stage.depth.values[picks[stage.depth]]
        stage.downsample[0].weight[width:] += 3
        for norm in (m for m in stage.modules() if isinstance(m, torch.nn.BatchNorm2d)):
            norm.bias[width:] += 3
        for j, block in enumerate(stage.blocks):
            hidden = mlp_width(width, block.expansion.values[picks[block.expansion]])
            block.fc1.bias[hidden if j < depth else 0 :] += 3
    net.head_norm.bias[width:] += 3  # the last stage's width


def test_a_narrow_path_does_not_depend_on_the_channels_and_blocks_beyond_it(space):
    """The width masks keep a stage's first `width` channels, the expansion masks a block's
    first hidden units, and a block past the stage's depth is the identity: biases beyond
    them change nothing the narrowest, shallowest path computes, where they change the widest
    one's output. (Mutants leaving the downsampling, the mixer's input, the MLP's hidden units
    or the head's features unmasked, or running every block whatever the depth, survived.)"""
    torch.manual_seed(0)
    net = SuperNet(space)
    picks = net.sample_selection(torch.Generator().manual_seed(0))
    for stage in net.stages:
        for block in stage.blocks:  # a dense convolution: it mixes every channel it is given
            picks[block.option] = [o.mixer for o in block.option.values].index("conv")
    sized = [g for s in net.stages for g in (s.width, s.depth, *(b.expansion for b in s.blocks))]
    narrowest = {**picks, **{g: 0 for g in sized}}
    widest = {**picks, **{g: len(g.values) - 1 for g in sized}}
    x = torch.randn(8, 1, 8, 8)

    def output(selection):
        net.use(selection)
        return net(x)

    with torch.no_grad():
        narrow, wide = output(narrowest), output(widest)
        _bump_beyond(net, narrowest)
        assert torch.allclose(output(narrowest), narrow, atol=1e-6)
        assert not torch.allclose(output(widest), wide, atol=1e-6)


@pytest.mark.parametrize("precision", ["fp32", "int8"])
def test_a_picked_precision_rounds_the_mlp_as_the_spaces_own_layer(space, precision):
    """A block's picked precision rounds the weights and the inputs of its MLP layers as a
    layer built at that precision does. (Mutants leaving the MLP out of the precision
    mixture, or rounding no layer's inputs, survived: the mixer's weights carried the
    gradients the tests looked at.)"""
    torch.manual_seed(0)
    net = SuperNet(space)
    block = net.stages[0].blocks[0]
    picks = net.sample_selection(torch.Generator().manual_seed(0))
    net.use({**picks, block.precision: block.precision.values.index(precision)})
    for layer in (block.fc1, block.fc2):
        alone = conv(2, layer.in_channels, layer.out_channels, 1, precision=precision)
        own = {
            k.replace("parametrizations.weight.original", "weight"): v
            for k, v in layer.state_dict().items()
        }
        alone.load_state_dict(own)
        x = torch.randn(4, layer.in_channels, 4, 4)
        with torch.no_grad():
            assert torch.allclose(layer(x), alone(x), atol=1e-6)


def test_fitting_to_a_target_trades_the_least_probability_per_millisecond_saved(space, lut):
    """`fit_latency` passes over a change that loses less probability but saves too little
    for the one that loses more and meets the target alone. (A mutant ranking changes by the
    probability they lose, not per millisecond, survived.)"""
    net = SuperNet(space)
    table = LatencyTable(net, lut)
    slow = max((space.sample(s) for s in range(50)), key=lambda a: lut.predict([a])[0])
    point_logits_at(net, slow)
    picks = net.argmax_selection()
    current = net.selection_latency(table, picks)

    def saving(gate) -> float:
        return current - net.selection_latency(table, {**picks, gate: 1 - picks[gate]})

    pairs = [g for g in picks if len(g.values) == 2 and saving(g) > 1e-9]
    big, small = max(pairs, key=saving), min(pairs, key=saving)
    assert saving(big) > 2 * saving(small)  # so big loses less per millisecond below
    with torch.no_grad():
        for gate, lost in ((big, 1.0), (small, 0.5)):
            gate.logits[picks[gate]], gate.logits[1 - picks[gate]] = 0.0, -lost
    fitted = net.fit_latency(picks, table, current - saving(big))
    assert fitted == {**picks, big: 1 - picks[big]}


@pytest.fixture(scope="module")
def digits(space):
    """A 256-image training split of digits (validation and test splits as loaded)."""
    data = load_dataset("digits")
    return replace(data, x_train=data.x_train[:256], y_train=data.y_train[:256])


@pytest.fixture(scope="module")
def sweep(space, lut, digits):
    """A searcher that swept a far-too-low and a far-too-high latency target."""
    fastest = min(lut.predict([space.sample(s) for s in range(300)]))
    with pytest.warns(UserWarning, match="above the slowest"):  # far too high, as meant
        searcher = get_searcher(
            "differentiable",
            space,
            [("accuracy", "max")],
            seed=0,
            dataset=digits,
            latency_predictor=lut,
            latency_targets_ms=[fastest, 3 * fastest + 0.1],
            device=REPRODUCIBLE_DEVICE,
            **FAST,
        )
    return searcher, searcher.ask(2)


def test_search_moves_expected_latency_toward_the_target_and_derives_valid_archs(space, lut, sweep):
    searcher, archs = sweep
    uniform = SuperNet(space).expected_latency(LatencyTable(SuperNet(space), lut)).item()
    low, high = searcher.results
    assert low.target_ms < uniform < high.target_ms
    for result, arch in zip((low, high), archs):
        assert result.arch == arch and space.validate(arch) == arch
        assert result.arch_latency_ms == pytest.approx(lut.predict([arch])[0])
    down = [h["expected_latency_ms"] for h in low.history]
    up = [h["expected_latency_ms"] for h in high.history]
    assert down[-1] < down[0] < uniform * 1.05  # the warm-up epoch leaves the gates as they are
    assert up[-1] > up[0]
    assert low.expected_latency_ms < 0.8 * uniform < high.expected_latency_ms
    assert low.arch_latency_ms <= low.target_ms  # derived under the target
    assert [h["tau"] for h in low.history][::2] == pytest.approx([5.0, 0.5])  # annealed fully
    assert all(0 <= r.supernet_accuracy <= 100 for r in (low, high))  # candidates were ranked
    assert searcher.ask(1) == []  # one architecture per target


@pytest.mark.parametrize("hard", [True, False])
def test_the_gumbel_estimator_moves_expected_latency_toward_the_target(
    space, lut, digits, hard, monkeypatch
):
    """`estimator: gumbel`, the documented choice beside the default `reinforce`, trains the
    gates through the relaxed sample itself, drawn at its step's annealed temperature (a
    mutant drawing it at 1 survived); no other test ran its architecture step."""
    sample, taus = SuperNet.sample, []

    def recorded(net, tau=None):
        sample(net, tau)
        taus.append(net.tau)

    monkeypatch.setattr(SuperNet, "sample", recorded)
    uniform = SuperNet(space).expected_latency(LatencyTable(SuperNet(space), lut)).item()
    searcher = DifferentiableSearcher(
        space,
        dataset=digits,
        latency_predictor=lut,
        latency_target_ms=0.5 * uniform,
        estimator="gumbel",
        hard=hard,
        device=REPRODUCIBLE_DEVICE,
        **FAST,
    )
    (arch,) = searcher.ask(1)
    (result,) = searcher.results
    latencies = [h["expected_latency_ms"] for h in result.history]
    assert latencies[-1] < latencies[1] < latencies[0]  # the warm-up epoch leaves the gates
    assert all(np.isfinite(h["arch_ce"]) for h in result.history[1:])
    assert space.validate(arch) == arch and result.arch_latency_ms <= result.target_ms
    steps = len(digits.y_train) // FAST["batch_size"]  # the warm-up's, then weight and arch
    assert taus[:steps] == [5.0] * steps and taus[steps::2] == taus[steps + 1 :: 2]
    assert taus[-1] == pytest.approx(0.5)


@pytest.mark.parametrize("estimator", ["reinforce", "gumbel"])
def test_weight_steps_use_the_train_split_and_architecture_steps_the_validation_split(
    space, digits, monkeypatch, estimator
):
    """A weight step runs one path on a training batch and changes no gate (nor does the
    warm-up); the architecture step after it runs `reinforce_samples` paths (gumbel: one) on a
    validation batch and changes no weight (gumbel's gradient reaches them too); the derived
    candidates are ranked on the validation split in train mode (batch statistics). Mutants
    swapping the splits or the optimisers' parameters survived. The validation inputs are
    shifted above every training input, so each forward pass shows its split."""
    data = replace(
        digits, x_train=digits.x_train[:128], y_train=digits.y_train[:128], x_val=digits.x_val + 10
    )
    passes, last_gates = [], []
    forward, arch_step = SuperNet.forward, SupernetSearch._arch_step

    def spied_forward(net, x):
        passes.append(("val" if x.min() > 5 else "train", net.training))
        return forward(net, x)

    def checked_arch_step(search, net, *args):
        weights = [p.detach().clone() for p in net.weight_parameters()]
        gates = [p.detach().clone() for p in net.arch_parameters()]
        kept = last_gates or [torch.zeros_like(g) for g in gates]  # the gates start at zero
        assert all(map(torch.equal, gates, kept))  # no weight step (nor the warm-up) moved them
        out = arch_step(search, net, *args)
        assert all(map(torch.equal, weights, net.weight_parameters()))
        last_gates[:] = [p.detach().clone() for p in net.arch_parameters()]
        assert not all(map(torch.equal, gates, last_gates))
        return out

    monkeypatch.setattr(SuperNet, "forward", spied_forward)
    monkeypatch.setattr(SupernetSearch, "_arch_step", checked_arch_step)
    settings = dict(FAST, epochs=2, estimator=estimator, reinforce_samples=3, derive_samples=3)
    searcher = DifferentiableSearcher(space, dataset=data, device=REPRODUCIBLE_DEVICE, **settings)
    searcher.ask(1)
    steps, paths = 128 // FAST["batch_size"], 3 if estimator == "reinforce" else 1
    train, val = ("train", True), ("val", True)
    trained = steps + steps * (1 + paths)
    assert passes[:trained] == [train] * steps + ([train] + [val] * paths) * steps
    assert len(passes) > trained and set(passes[trained:]) == {val}  # the ranking


def same_sweep(searcher: DifferentiableSearcher, digits, lut) -> DifferentiableSearcher:
    """A new searcher set up as the `sweep` fixture's (same seed, data and targets)."""
    with pytest.warns(UserWarning, match="above the slowest"):
        return DifferentiableSearcher(
            searcher.space,
            seed=0,
            dataset=digits,
            latency_predictor=lut,
            latency_targets_ms=[r.target_ms for r in searcher.results],
            device=REPRODUCIBLE_DEVICE,
            **FAST,
        )


def test_a_sweep_trains_its_warm_up_once_and_each_search_is_the_one_it_would_be_alone(
    space, lut, sweep, capsys
):
    """The warm-up epochs, which no target steers, are trained by a sweep's first search and
    copied for the others (weights, optimiser, schedule, batch order, random state): each
    search ends exactly as a search for its target alone would, in either order."""
    searcher, _ = sweep
    settings = searcher.search.settings
    alone = SupernetSearch(
        space, searcher.search.dataset, settings, lut, seed=0, device=REPRODUCIBLE_DEVICE
    )
    capsys.readouterr()
    for result in reversed(searcher.results):
        again = alone.run(result.target_ms)
        assert again.history == result.history and len(again.history) == FAST["epochs"]
        assert again.derived == result.derived
        assert again.expected_latency_ms == result.expected_latency_ms
    err = capsys.readouterr().err
    assert err.count("(warm-up: weights only)") == FAST["warmup_epochs"]  # trained once
    assert err.count("warm-up epoch(s) taken from an earlier search") == 1


def test_same_seed_same_search_and_restore_continues_the_sweep(space, lut, digits, sweep):
    searcher, (first, second) = sweep
    searcher.tell(first, Metrics({"accuracy": 50.0}))
    assert searcher.best().arch == first

    restored = same_sweep(searcher, digits, lut)
    restored.restore([(first, Metrics({"accuracy": 50.0}))])
    assert restored.ask(1) == [second]  # what the uninterrupted searcher proposed next
    assert restored.results[0].history == searcher.results[0].history  # same seed, same search


def test_an_interrupted_sweep_still_proposes_what_the_finished_searches_derived(
    space, lut, digits, sweep
):
    searcher, archs = sweep
    again = same_sweep(searcher, digits, lut)
    run = again.search.run

    def interrupted_second_search(target_ms):
        if again.results:  # Ctrl-C while the second supernet trains
            raise KeyboardInterrupt
        return run(target_ms)

    again.search.run = interrupted_second_search
    with pytest.raises(KeyboardInterrupt):
        again.ask(2)
    assert again.trials == []
    again.search.run = run
    assert again.ask(2) == archs  # the first search's arch is not lost


def test_a_memo_keeps_finished_searches_so_a_restored_searcher_trains_none_again(
    space, lut, digits, sweep
):
    searcher, archs = sweep
    first, memo = same_sweep(searcher, digits, lut), {}
    first.memo = memo
    assert first.ask(2) == archs and len(memo) == 2
    resumed = same_sweep(searcher, digits, lut)
    resumed.memo = json.loads(json.dumps(memo))  # JSON, as a run's storage keeps it

    def trained_again(target_ms):
        raise AssertionError(f"the search for {target_ms} ms was trained again")

    resumed.search.run = trained_again
    resumed.restore([(archs[0], Metrics({"accuracy": 50.0}))])
    assert resumed.ask(1) == archs[1:]
    assert [r.arch for r in resumed.results] == archs
    assert resumed.results[1].history == first.results[1].history


def test_a_memo_shared_with_another_seed_or_setting_hands_back_nothing(
    space, digits, lut, tmp_path
):
    """The memo key holds what the search depends on: a searcher with another seed,
    another candidate set, another latency table, other samples under the dataset's name or
    an edited space of the same name and version trains its own (before, it got the first
    one's architecture; with a table of other values but the same source, or an edited
    space, it still did; a mutant leaving the samples out of the key survived). A `.npz`
    dataset's path is not among them: a run whose project moved trained its finished
    searches again."""
    memo: dict = {}

    def searched(**other) -> bool:
        settings = {"space": space, "dataset": digits, **FAST, **other}
        searcher = DifferentiableSearcher(**settings)
        searcher.memo, run, trained = memo, searcher.search.run, []
        searcher.search.run = lambda target: trained.append(target) or run(target)
        searcher.ask(1)
        return bool(trained)

    assert searched() and not searched()  # the same search again is taken from the memo
    assert searched(seed=1) and searched(mixers=["identity"]) and len(memo) == 3
    same = {"source": lut.source, "block_copies": lut.block_copies}
    slower = LUTPredictor(space, {k: 2 * v for k, v in lut.table.items()}, **same)
    for table in (lut, slower):  # a slower device, the same file name
        assert searched(latency_predictor=table)
    assert not searched(latency_predictor=LUTPredictor(space, lut.table, **same))
    assert len(memo) == 5
    edited_file = tmp_path / "tiny2d.yaml"  # the same name and version, one mixer fewer
    edited_file.write_text((DATA / "tiny2d.yaml").read_text().replace("pool: {kernels: [3]}", ""))
    edited = get_space(edited_file)
    assert (edited.name, edited.version) == (space.name, space.version)
    assert searched(space=edited) and len(memo) == 6
    fewer = replace(digits, x_train=digits.x_train[:128], y_train=digits.y_train[:128])
    assert searched(dataset=fewer) and len(memo) == 7  # the same name, other samples
    for folder, trains in (("project", True), ("moved", False)):  # a moved run's .npz data
        assert searched(dataset=replace(digits, name=f"{tmp_path / folder}/d.npz")) is trains
    assert len(memo) == 8


def test_the_seed_draws_the_supernet_weights_and_the_batch_order(space, digits):
    """Each seed starts from its own weights and its own order of training batches; the same
    seed from the same ones. (Mutants seeding either with 0 survived: every test of a second
    seed only asked whether something was trained.)"""

    def started(seed: int):
        settings = SupernetSettings(batch_size=64)
        search = SupernetSearch(space, digits, settings, seed=seed, device="cpu", progress=False)
        with torch.random.fork_rng():  # `build` seeds torch's generator
            training = search._start()
        weights = torch.cat([p.detach().flatten() for p in training.net.weight_parameters()])
        return weights, next(training.train)[1]

    (weights, labels), (same_weights, same_labels), (other_weights, other_labels) = (
        started(seed) for seed in (0, 0, 1)
    )
    assert torch.equal(weights, same_weights) and torch.equal(labels, same_labels)
    assert not torch.equal(weights, other_weights) and not torch.equal(labels, other_labels)


def test_a_memo_hands_each_search_of_a_reordered_sweep_its_own_target(space, lut, digits):
    """A memo key names a search's target as well as its place in the sweep: a sweep of the
    same targets in the other order (another experiment sharing the memo) got the first
    sweep's searches by their places, with the wrong targets. (A mutant keying by the place
    alone survived.)"""
    few = replace(digits, x_train=digits.x_train[:64], y_train=digits.y_train[:64])
    quick = dict(FAST, epochs=1, warmup_epochs=0, derive_samples=0)
    memo: dict = {}
    for targets in ([0.03, 0.06], [0.06, 0.03]):
        searcher = DifferentiableSearcher(
            space, dataset=few, latency_predictor=lut, latency_targets_ms=targets, **quick
        )
        searcher.memo = memo
        searcher.ask(2)
        assert [r.target_ms for r in searcher.results] == targets
        assert all(r.arch_latency_ms <= r.target_ms for r in searcher.results)


@pytest.mark.parametrize("estimator", ["reinforce", "gumbel"])
def test_a_diverged_supernet_derives_nothing(space, digits, estimator):
    """NaN gates give the first value of every choice (argmax), or torch's error from
    sampling them: neither may pass as a search's result."""
    searcher = DifferentiableSearcher(
        space, dataset=digits, **{**FAST, "weight_lr": 1e12, "estimator": estimator}
    )
    with pytest.raises(SupernetDiverged, match=r"diverged in epoch \d .*lower weight_lr \(now"):
        searcher.ask(1)
    assert searcher.results == []


def supernet_experiment(run_dir, settings: str, target: bool = True, evaluations: int = 1) -> str:
    """A differentiable search on the tiny 2D space and digits whose candidates a zero-cost
    proxy scores (cheap; the searcher warns that it does not steer toward zc_synflow)."""
    latency = f"latency: {{profile: {DATA / 'tiny2d_ort.csv'}, target_ms: 0.05}}\n"
    return (
        f"name: d\nspace: {DATA / 'tiny2d.yaml'}\ndataset: digits\n{latency if target else ''}"
        "evaluator: {name: zero_cost, settings: {zero_cost: {proxies: [synflow]}}}\n"
        "objectives: [{metric: zc_synflow, direction: max}]\n"
        "searcher: {name: differentiable, settings: {epochs: 2, warmup_epochs: 1, "
        f"batch_size: 64, {settings}}}}}\n"
        f"executor: {{kind: local}}\nevaluations: {evaluations}\nrun_dir: {run_dir}\n"
    )


def test_a_resumed_experiment_does_not_train_its_finished_supernet_search_again(
    tmp_path, capsys, monkeypatch
):
    """End to end: the run's storage keeps the search, which a resume takes from there.
    (zc_synflow stands in for accuracy, which would need training: the searcher warns that
    it does not steer toward it.)"""
    from cli_runner import hwnas

    exp = tmp_path / "exp.yaml"
    text = supernet_experiment(tmp_path / "run", "derive_samples: 2, derive_count: 2")
    exp.write_text(text)
    with pytest.warns(UserWarning, match="does not steer toward them"):
        assert hwnas("search", str(exp)) == 0
    trained = capsys.readouterr().err
    assert "supernet (target 0.05 ms) epoch 2/2: tau" in trained
    assert "supernet (target 0.05 ms) epoch 1/2 (warm-up: weights only): tau" in trained
    (searches,) = load(tmp_path / "run").supernet_searches().itertuples(index=False)
    assert searches.target_ms == 0.05 and searches.derived == 2 and searches.wall_time_s > 0
    assert hwnas("status", str(tmp_path / "run")) == 0  # its training time, apart from elapsed
    assert (
        "supernet: 1 search (latency target 0.05 ms) trained for "
        f"{searches.wall_time_s:.1f} s before its architectures were claimed (not in the "
        "elapsed time)"
    ) in capsys.readouterr().out
    exp.write_text(text.replace("evaluations: 1", "evaluations: 2"))
    with pytest.warns(UserWarning, match="does not steer toward them"):
        assert hwnas("search", str(exp)) == 0
    err = capsys.readouterr().err
    assert "epoch" not in err, err
    assert "supernet (target 0.05 ms): derived 2 architecture(s)" in err
    assert "kept from an earlier run (not trained again)" in err
    trials = load(tmp_path / "run").trials
    assert len(trials) == 2
    # which search derived each trial is stored with it, also for the resumed driver's trial
    assert trials["origin_latency_target_ms"].tolist() == [0.05, 0.05]
    assert sorted(trials["origin_derived_rank"]) == [1, 2]
    assert hwnas("pareto", str(tmp_path / "run"), "--json") == 0
    (best,) = json.loads(capsys.readouterr().out)["front"]
    assert best["origin"]["latency_target_ms"] == 0.05
    report = tmp_path / "report.html"  # its front table as the printed one: with the origin
    monkeypatch.setenv("COLUMNS", "400")  # the printed table's headers unfolded
    assert hwnas("pareto", str(tmp_path / "run"), "--html", str(report)) == 0
    assert "<th>origin_latency_target_ms</th>" in report.read_text(encoding="utf-8")
    assert "origin_latency_target_ms" in capsys.readouterr().out
    assert hwnas("export", str(tmp_path / "run"), "-o", str(tmp_path / "out")) == 0
    (config,) = (tmp_path / "out").glob("*.json")
    assert json.loads(config.read_text())["run"]["origin"] == best["origin"]
    exp.write_text(text.replace("evaluations: 1", "evaluations: 3"))  # its 2 are evaluated
    with pytest.warns(UserWarning, match="does not steer toward them"):
        assert hwnas("search", str(exp)) == 0
    err = capsys.readouterr().err
    assert "to propose: each latency target gave the architectures it derived (up to" in err


def test_a_run_whose_first_supernet_diverged_says_it_can_be_removed(tmp_path, capsys):
    """The first start failed before any evaluation: the corrected file is still another
    experiment for that run, but the refusal says nothing would be lost by removing it, and
    names every changed setting (a setting written at its default is the default)."""
    from cli_runner import hwnas

    exp = tmp_path / "exp.yaml"
    text = supernet_experiment(tmp_path / "run", "weight_lr: 1.0e+12, arch_lr: 1.0e+12")
    exp.write_text(text)
    with pytest.warns(UserWarning, match="does not steer toward them"):
        assert hwnas("search", str(exp)) == 1
    assert "diverged" in capsys.readouterr().err
    exp.write_text(
        text.replace("weight_lr: 1.0e+12, arch_lr: 1.0e+12", "weight_lr: 0.001, arch_lr: 0.1")
    )
    with pytest.warns(UserWarning, match="does not steer toward them"):
        assert hwnas("search", str(exp)) == 1
    err = capsys.readouterr().err
    assert "searcher.settings.arch_lr: 1000000000000.0, now the default;" in err
    assert "searcher.settings.weight_lr: 1000000000000.0, now 0.001)" in err
    assert f"it holds no evaluations: remove {tmp_path / 'run'}, or use a new run_dir," in err


def test_a_sweep_stopped_by_its_evaluations_names_the_targets_it_did_not_search(tmp_path, capsys):
    """One evaluation ends a sweep of three targets after its first search: the run says
    which targets were not searched (it said nothing), and so does `hwnas status`."""
    from cli_runner import hwnas

    exp = tmp_path / "exp.yaml"
    settings = "derive_count: 1, latency_targets_ms: [0.05, 0.06, 0.07]"
    exp.write_text(supernet_experiment(tmp_path / "run", settings).replace(", target_ms: 0.05", ""))
    with pytest.warns(UserWarning, match="does not steer toward them"):
        assert hwnas("search", str(exp), "--quiet") == 0
    assert (
        "hwnas: note: latency targets 0.06 ms, 0.07 ms not searched before the run stopped: "
        f"raise `evaluations` in {exp} and resume to search them"
    ) in capsys.readouterr().err
    assert load(tmp_path / "run").targets_not_searched() == [0.06, 0.07]
    assert hwnas("status", str(tmp_path / "run")) == 0
    out = capsys.readouterr().out
    assert "supernet: 1 search (latency target 0.05 ms) trained for" in out
    assert "supernet: latency targets 0.06 ms, 0.07 ms not searched yet" in out
    # read without torch, as other runs are: the supernet searches, the targets, the stored
    # experiment's defaults and the evaluator's settings each imported it (3.5 s -> 1.2 s)
    script = (
        "import sys\nfrom hwnas.cli import main\n"
        f"try:\n    main(['status', {str(tmp_path / 'run')!r}])\n"
        "except SystemExit as e:\n    assert not e.code, e.code\n"
        "print('torch' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert "latency targets 0.06 ms, 0.07 ms not searched yet" in result.stdout
    assert result.returncode == 0 and result.stdout.split()[-1] == "False", result.stderr


def test_a_sweep_stopped_by_its_time_limit_is_told_to_resume_not_to_raise_evaluations(
    tmp_path, capsys
):
    """The time limit (per invocation) ends the sweep after its first search, with evaluations
    to spare: the note and `hwnas status` said to raise `evaluations`, which searches nothing
    more; resuming does."""
    from cli_runner import hwnas

    exp = tmp_path / "exp.yaml"
    settings = "derive_count: 1, latency_targets_ms: [0.05, 0.06, 0.07]"
    text = supernet_experiment(tmp_path / "run", settings, evaluations=10)
    exp.write_text(text.replace(", target_ms: 0.05", "") + "time_limit_s: 0.01\n")
    with pytest.warns(UserWarning, match="does not steer toward them"):
        assert hwnas("search", str(exp), "--quiet") == 0
    err = capsys.readouterr().err
    assert (
        "hwnas: note: latency targets 0.06 ms, 0.07 ms not searched before the run stopped: "
        f"resume to search them: hwnas search {exp} --resume"
    ) in err
    assert hwnas("status", str(tmp_path / "run")) == 0
    out = capsys.readouterr().out
    assert "0.07 ms not searched yet (the run searches them as it goes on or is resumed)" in out
    assert "cannot reach" not in out  # the targets left derive more


def test_a_candidate_proposed_past_the_time_limit_is_given_back_not_trained(tmp_path, capsys):
    """The local executor cannot stop an evaluation, and the time limit was looked at only
    before a proposal: a supernet search that ran past it was followed by its candidate's
    whole evaluation. The candidate is given back for a resume, which evaluates it."""
    from cli_runner import hwnas

    exp = tmp_path / "exp.yaml"
    exp.write_text(supernet_experiment(tmp_path / "run", "derive_count: 1") + "time_limit_s: 0.5\n")
    with pytest.warns(UserWarning, match="does not steer toward them"):
        assert hwnas("search", str(exp), "--quiet") == 0
    out, err = capsys.readouterr()
    assert out.rstrip().endswith(
        "0 evaluations (0 failed, 0 by this driver); stopped by time limit"
    )
    assert "per invocation) stopped the run; any candidates in flight were given back: " in err
    assert hwnas("status", str(tmp_path / "run")) == 0
    assert "left by a stopped driver and not evaluated since 1)" in capsys.readouterr().out
    exp.write_text(exp.read_text().replace("time_limit_s: 0.5", "time_limit_s: 600"))
    with pytest.warns(UserWarning, match="does not steer toward them"):
        assert hwnas("search", str(exp), "--quiet", "--resume") == 0
    (trial,) = load(tmp_path / "run").trials.itertuples()
    assert trial.status == "ok" and trial.origin_latency_target_ms == 0.05


def test_one_target_not_searched_is_named_as_one(tmp_path, capsys):
    """A sweep of two targets stopped after its first search: `hwnas status` said 'raise
    `evaluations` and resume to search them' of the one target left, as the note did not."""
    from cli_runner import hwnas, status_json

    exp = tmp_path / "exp.yaml"
    settings = "derive_count: 1, latency_targets_ms: [0.05, 0.06]"
    exp.write_text(supernet_experiment(tmp_path / "run", settings).replace(", target_ms: 0.05", ""))
    with pytest.warns(UserWarning, match="does not steer toward them"):
        assert hwnas("search", str(exp), "--quiet") == 0
    assert "latency target 0.06 ms not searched before the run stopped: raise" in (
        capsys.readouterr().err
    )
    assert hwnas("status", str(tmp_path / "run")) == 0
    out = capsys.readouterr().out
    assert (
        "supernet: latency target 0.06 ms not searched yet (raise `evaluations` and resume to "
        "search it)"
    ) in out
    supernet = status_json(tmp_path / "run", capsys)["supernet"]  # as --json gives it
    assert supernet["searches"] == 1 and supernet["trained_s"] > 0
    assert (supernet["targets_ms"], supernet["targets_not_searched"]) == ([0.05], [0.06])


def test_an_exhausted_search_without_a_target_is_told_as_such(tmp_path, capsys):
    from cli_runner import hwnas, status_json

    exp = tmp_path / "exp.yaml"
    exp.write_text(
        supernet_experiment(tmp_path / "run", "derive_count: 1", target=False, evaluations=2)
    )
    with pytest.warns(UserWarning, match="does not steer toward them"):
        assert hwnas("search", str(exp)) == 0
    err = capsys.readouterr().err
    assert "to propose: its one search (no latency target) gave the architectures it" in err
    assert "with a higher derive_count or latency targets" in err
    # `hwnas status` said "1 of 2" and nothing more, as if a resume would go on
    assert hwnas("status", str(tmp_path / "run")) == 0
    out = capsys.readouterr().out
    assert "evaluations: 1 of 2 (ok 1," in out
    assert (
        "every architecture the supernet searches derived was evaluated: the run cannot reach 2"
    ) in out
    facts = status_json(tmp_path / "run", capsys)
    assert facts["cannot_reach_target"] == {"why": "derived_all_evaluated"}
    assert (facts["supernet"]["searches"], facts["supernet"]["targets_ms"]) == (1, [])


def test_a_differentiable_search_that_evaluated_the_whole_space_says_so(tmp_path, capsys):
    """Its searches derived both architectures of a two-architecture space: the closing note
    advised a higher derive_count or more latency targets, which find nothing more; it now
    says the space was evaluated, as it does for every other searcher. (Gates left near
    uniform by a tiny arch_lr make the draws cover both.)"""
    from cli_runner import hwnas

    space = DATA / "two_architectures.yaml"
    settings = "arch_lr: 0.000001, derive_samples: 8, derive_count: 9"
    text = supernet_experiment(tmp_path / "run", settings, target=False, evaluations=5)
    exp = tmp_path / "exp.yaml"
    exp.write_text(text.replace(str(DATA / "tiny2d.yaml"), str(space)))
    for _ in range(2):  # the search, then a resume that finds the space evaluated
        with pytest.warns(UserWarning, match="does not steer toward them"):
            assert hwnas("search", str(exp), "--quiet") == 0
        out, err = capsys.readouterr()
        assert "2 evaluations (0 failed, " in out and "stopped by exhausted" in out
        assert (
            "the searcher had no more candidates to propose: every architecture of the space "
            "was evaluated"
        ) in err
        assert "derive_count" not in err


def test_derive_count_proposes_the_ranked_candidates_one_after_another(space, lut, digits):
    target = float(np.median(lut.predict([space.sample(s) for s in range(100)])))
    settings = dict(FAST, derive_samples=6, derive_count=3)
    searcher = DifferentiableSearcher(
        space, seed=0, dataset=digits, latency_predictor=lut, latency_target_ms=target, **settings
    )
    first = searcher.ask(1)
    assert searcher.ask(5) and searcher.ask(1) == []  # the other two (fewer if equal ones)
    (result,) = searcher.results
    archs = [d.arch for d in result.derived]
    assert first == archs[:1] and len(set(archs)) == len(archs) == 3
    accuracies = [d.supernet_accuracy for d in result.derived]
    assert accuracies == sorted(accuracies, reverse=True)
    assert all(d.latency_ms <= target for d in result.derived)

    restored = DifferentiableSearcher(
        space, seed=0, dataset=digits, latency_predictor=lut, latency_target_ms=target, **settings
    )
    restored.restore([(archs[0], Metrics({"accuracy": 50.0}))])
    assert restored.ask(2) == archs[1:]
    for searched in (searcher, restored):  # what a run stores with each evaluation
        assert searched.origin(archs[2]) == {"latency_target_ms": target, "derived_rank": 3}
        assert searched.origin(space.sample(12345)) == {}


def test_an_unreachable_target_warns_and_progress_reports_every_epoch(space, lut, digits, capsys):
    settings = dict(FAST, derive_samples=0, progress=True)
    with pytest.warns(UserWarning, match=r"targets \[1e-06\] ms are below the fastest"):
        searcher = DifferentiableSearcher(  # said before minutes of supernet training
            space, seed=0, dataset=digits, latency_predictor=lut, latency_target_ms=1e-6, **settings
        )
    fastest = searcher.search.fastest_ms
    sampled = [lut_latency(lut, space, space.sample(i)) for i in range(200)]
    assert min(sampled) == pytest.approx(fastest) or min(sampled) > fastest
    with pytest.warns(UserWarning, match="latency target 1e-06 ms is out of reach"):
        (arch,) = searcher.ask(1)
    assert lut.predict([arch])[0] >= fastest - 1e-9
    lines = capsys.readouterr().err.splitlines()
    assert any("(target 1e-06 ms) epoch 1/3 (warm-up: weights only): " in x for x in lines)
    assert any("(target 1e-06 ms) epoch 3/3: " in line for line in lines), lines
    priced = lut.predict([arch])[0]
    derived = f"supernet (target 1e-06 ms): derived 1 architecture(s), LUT latency {priced:.4g} ms"
    assert any(line.startswith(derived) for line in lines), lines


class _BelowZero:
    """A LUT whose blocks are priced below zero, as one is when its per-block overhead share
    exceeds a block's own time: then the deepest networks are the fastest."""

    def __init__(self, lut):
        self.lut = lut

    def block_latency(self, stage, width, block):
        return self.lut.block_latency(stage, width, block) - 1.0

    def base_latency(self, widths):
        return self.lut.base_latency(widths)


def test_the_latency_range_holds_every_network_whatever_the_sign_of_block_latencies(space, lut):
    for model in (lut, _BelowZero(lut)):
        net = SuperNet(space)
        fastest, slowest = LatencyTable(net, model).latency_range_ms(net)
        priced = [lut_latency(model, space, space.sample(i)) for i in range(300)]
        assert fastest - 1e-9 <= min(priced) and max(priced) <= slowest + 1e-9
        assert fastest < slowest and isinstance(fastest, float)


def test_targets_above_every_network_and_objectives_it_cannot_steer_are_said(space, lut, digits):
    """A target above the slowest network pulls a log_ratio search toward slow networks; an
    objective the supernet does not optimise only ranks results: both said up front. Two
    searches deriving one network say so instead of proposing nothing silently."""
    settings = dict(FAST, derive_samples=0)
    with pytest.warns(UserWarning, match=r"targets \[1000000.0\] ms are above the slowest"):
        searcher = DifferentiableSearcher(
            space, dataset=digits, latency_predictor=lut, latency_target_ms=1e6, **settings
        )
    sampled = [lut_latency(lut, space, space.sample(i)) for i in range(200)]
    assert max(sampled) <= searcher.search.slowest_ms + 1e-9
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # hinge: a target above everything is no pull
        DifferentiableSearcher(
            space,
            objectives=[("accuracy", "max"), ("latency_ms", "min")],
            dataset=digits,
            latency_predictor=lut,
            latency_targets_ms=[1e6, 2e6],
            latency_loss="hinge",
            **settings,
        )
    with pytest.warns(UserWarning, match=r"objectives \['latency_ms \(min\)', 'params \(min\)'\]"):
        DifferentiableSearcher(
            space,
            objectives=[("accuracy", "max"), ("latency_ms", "min"), ("params", "min")],
            dataset=digits,
            latency_predictor=lut,
            **settings,
        )
    sweep = DifferentiableSearcher(
        space,
        dataset=digits,
        latency_predictor=lut,
        latency_targets_ms=[1e6, 2e6],
        latency_loss="hinge",
        latency_weight=0.0,  # the two searches are then the same search
        **settings,
    )
    with pytest.warns(
        UserWarning,
        match="target 2000000.0 ms derived architecture .*, which the one with target 1000000.0",
    ):
        assert len(sweep.ask(2)) == 1


def test_restricted_candidates_and_bad_settings(space, lut, tmp_path):
    net = SuperNet(space, mixers=["dwconv", "identity"], precisions=["int8"])
    for _ in range(3):
        net.sample(1.0)
        arch = net.arch_of(net.argmax_selection())
        assert {arch[k] for k in arch if k.endswith(".mixer")} <= {"dwconv", "identity"}
        assert {arch[k] for k in arch if k.endswith(".precision")} == {"int8"}
    with pytest.raises(SpaceError, match="mixers"):
        SuperNet(space, mixers=["attn"])
    with pytest.raises(ValueError, match="arch_lr"):
        DifferentiableSearcher(space, dataset="digits", arch_lr=-1)
    with pytest.raises(ValueError, match="estimator"):
        DifferentiableSearcher(space, dataset="digits", estimator="adam")
    with pytest.raises(ValueError, match="reinforce_samples"):
        DifferentiableSearcher(space, dataset="digits", reinforce_samples=1)
    with pytest.raises(
        ValueError,
        match=r"derive_count must be 1 to 1 \+ derive_samples \(derive_samples is 0\), not 2",
    ):
        DifferentiableSearcher(space, dataset="digits", derive_count=2)  # 1 candidate only
    with pytest.raises(ValueError, match="has no setting 'epoch' \\(did you mean 'epochs'"):
        DifferentiableSearcher(space, dataset="digits", epoch=3)
    with pytest.raises(ValueError, match="did you mean 'latency_target_ms'"):  # not a field
        DifferentiableSearcher(space, dataset="digits", latency_target=3)
    with pytest.raises(ValueError, match="latency_predictor"):
        DifferentiableSearcher(space, dataset="digits", latency_target_ms=1.0)
    with pytest.raises(ValueError, match="epochs must be int, not 1.5"):
        DifferentiableSearcher(space, dataset="digits", epochs=1.5)
    with pytest.raises(ValueError, match="hard must be bool"):
        DifferentiableSearcher(space, dataset="digits", hard=1)
    with pytest.raises(ValueError, match="progress must be true or false, not 'no'"):
        DifferentiableSearcher(space, dataset="digits", progress="no")
    with pytest.raises(ValueError, match="device must be a name such as 'cpu'"):
        DifferentiableSearcher(space, dataset="digits", device=0)
    numpy = DifferentiableSearcher(
        space, dataset="digits", epochs=np.int64(3), tau_end=np.float32(1)
    )
    assert type(numpy.search.settings.epochs) is int and numpy.search.settings.tau_end == 1.0
    with pytest.raises(ValueError, match="latency_targets_ms: give a non-empty list"):
        DifferentiableSearcher(
            space, dataset="digits", latency_predictor=lut, latency_targets_ms=[]
        )
    with pytest.raises(ValueError, match=r"latency_targets_ms\[1\] must be > 0"):
        DifferentiableSearcher(
            space, dataset="digits", latency_predictor=lut, latency_targets_ms=[1.0, 0]
        )
    with pytest.warns(UserWarning, match="front\\); steer latency with latency_target_ms"):
        DifferentiableSearcher(space, constraints=[("latency_ms", 1.0)], dataset="digits")
    with pytest.warns(UserWarning, match=r"front\)$"):  # a target steers: no advice to set one
        DifferentiableSearcher(
            space,
            constraints=[("latency_ms", 1.0)],
            dataset="digits",
            latency_predictor=lut,
            latency_target_ms=0.05,
        )
    wider = tmp_path / "tiny2d.yaml"  # the same space with a precision the profile lacks
    text = (DATA / "tiny2d.yaml").read_text()
    wider.write_text(text.replace("[fp32, int8]", "[fp32, int8, w4a8]"))
    with pytest.raises(ValueError, match="w4a8.*`precisions`"):  # refused before any search
        DifferentiableSearcher(get_space(wider), dataset="digits", latency_predictor=lut)
    with pytest.raises(SpaceError, match="MetaFormer"):
        SuperNet(get_space("nasbench201"))


def test_a_space_without_a_supernet_is_refused_before_its_other_settings():
    """NAS-Bench-201 was refused only once every other setting passed: first its latency
    target wanted a profile (which cannot price a cell), then its dataset another shape."""
    with pytest.raises(SpaceError, match="'nasbench201': the supernet needs a MetaFormer"):
        DifferentiableSearcher(get_space("nasbench201"), dataset="digits", latency_target_ms=1)


def test_a_memo_gives_its_searches_in_target_order_past_ten_targets():
    """Sorted by each target's index as a number: as text, the 11th search of a sweep came
    before the 3rd (a mutant sorting the keys as text survived)."""
    from hwnas.search.sweep import MEMO_PREFIX, memo_searches

    memo = {f"{MEMO_PREFIX}abc:{i}:{0.1 * (i + 1)}": {"index": i} for i in reversed(range(12))}
    memo["another searcher's entry"] = {}
    assert [search["index"] for search in memo_searches(memo)] == list(range(12))


@pytest.mark.parametrize(
    "settings, message",
    [
        (dict(mixers=["conv", "atn"]), r"mixers: \['atn'\] not in the space"),
        (dict(precisions=["fp32", "int4"]), r"precisions: \['int4'\] not in the space"),
        (dict(mixers="conv"), "mixers must be a non-empty list of names, not 'conv'"),
        (dict(weight_decay=-0.1), "weight_decay"),
        (dict(batch_size=1), "batch_size"),
        (dict(weight_lr=float("inf")), "weight_lr must be finite"),
        (dict(arch_lr=10**400), "arch_lr must be finite"),  # a bare OverflowError before
        (dict(latency_target_ms=10**400), "latency_target_ms must be a finite number"),
        (dict(latency_targets_ms=0.2), "latency_targets_ms: give a non-empty list"),
        (dict(latency_targets_ms="0.2, 0.3"), "latency_targets_ms: give a non-empty list"),
        (dict(latency_targets_ms=[0.2, 0.3, 0.2]), r"latency_targets_ms: \[0.2\] given more"),
        (dict(latency_target_ms=float("inf")), "latency_target_ms must be a finite number"),
        (dict(latency_target_ms=-1), "latency_target_ms must be > 0 ms and finite, not -1"),
        (
            dict(latency_target_ms=float("nan")),
            "latency_target_ms must be a finite number, not nan",
        ),
        (dict(device="gpu"), "device 'gpu'"),
        (dict(threads=0), "threads must be a whole number from 1 to 2147483647 or null, not 0"),
        (dict(threads=True), "threads must be a whole number from 1 to .* or null, not True"),
        (dict(threads=2**40), "threads must be .* to 2147483647 or null, not 1099511627776"),
        (dict(device=f"cuda:{torch.cuda.device_count()}"), "no such CUDA device"),
        pytest.param(
            dict(device="mps"),
            "device 'mps': .*; use device: cpu",
            marks=pytest.mark.skipif(torch.backends.mps.is_available(), reason="an Apple GPU"),
        ),
    ],
)
def test_bad_settings_are_refused_when_the_searcher_is_built(space, lut, settings, message):
    with pytest.raises(ValueError, match=message):
        DifferentiableSearcher(space, dataset="digits", latency_predictor=lut, **settings)


@pytest.mark.parametrize(("threads", "expected"), [(1, 1), (None, 2)])
def test_the_supernet_trains_on_its_threads_and_gives_the_process_its_own_back(
    space, digits, threads, expected
):
    """torch's default (every core) made a supernet search 8x slower on a busy 2-core
    machine than one thread; `threads: null` keeps the process's setting."""
    seen = set()
    hook = torch.nn.modules.module.register_module_forward_hook(
        lambda *_: seen.add(torch.get_num_threads())
    )
    torch.set_num_threads(2)
    try:
        few = replace(digits, x_train=digits.x_train[:64], y_train=digits.y_train[:64])
        quick = dict(FAST, epochs=1, warmup_epochs=0, derive_samples=0)
        searcher = get_searcher(
            "differentiable", space, [("accuracy", "max")], dataset=few, threads=threads, **quick
        )
        assert len(searcher.ask(1)) == 1
        assert torch.get_num_threads() == 2
    finally:
        hook.remove()
        torch.set_num_threads(1)
    assert seen == {expected}


@pytest.mark.parametrize("mode", ["no_grad", "float64"])
def test_a_search_in_a_callers_torch_mode_derives_as_in_a_fresh_process(
    space, digits, mode, request
):
    """Asked inside a notebook's `torch.no_grad()`, or after its
    `torch.set_default_dtype(torch.float64)`, the supernet search failed with a torch error
    naming neither; it derives what it derives in a fresh process, and the caller's mode
    holds after it."""
    few = replace(digits, x_train=digits.x_train[:64], y_train=digits.y_train[:64])
    quick = dict(FAST, epochs=1, warmup_epochs=0, derive_samples=0)

    def derived() -> list:
        searcher = get_searcher(
            "differentiable", space, [("accuracy", "max")], dataset=few, **quick
        )
        return searcher.ask(1)

    expected = derived()
    if mode == "float64":
        request.addfinalizer(lambda: torch.set_default_dtype(torch.float32))
        torch.set_default_dtype(torch.float64)
        assert derived() == expected and torch.get_default_dtype() == torch.float64
    else:
        with torch.no_grad():
            assert derived() == expected and not torch.is_grad_enabled()


def test_a_predictor_without_block_latencies_or_an_empty_split_is_refused(space, digits):
    with pytest.raises(ValueError, match="latency_predictor: .*lookup-table.*not LearnedPredictor"):
        DifferentiableSearcher(space, dataset=digits, latency_predictor=LearnedPredictor(space))
    no_val = replace(digits, x_val=digits.x_val[:0], y_val=digits.y_val[:0])
    with pytest.raises(ValueError, match="val split, which is empty"):
        DifferentiableSearcher(space, dataset=no_val)
    one = replace(digits, x_train=digits.x_train[:1], y_train=digits.y_train[:1])
    with pytest.raises(ValueError, match="train split, which has one sample .batch norm"):
        DifferentiableSearcher(space, dataset=one)


def test_candidates_are_ranked_on_a_split_one_past_a_scoring_chunk():
    """The candidates are scored on the validation split in chunks of 512 samples in train
    mode (batch statistics): 513 samples left a last chunk of one, which batch norm refused
    after the 1x1 feature map of conv2d on 8x8 digits."""
    small = get_space("conv2d", input_shape=(1, 8, 8), num_classes=10)  # 4x4, 2x2, 1x1 maps
    data = load_dataset("digits")
    x_val, y_val = (np.concatenate([a, a])[:513] for a in (data.x_val, data.y_val))
    data = replace(
        data, x_train=data.x_train[:128], y_train=data.y_train[:128], x_val=x_val, y_val=y_val
    )
    quick = dict(FAST, epochs=1, warmup_epochs=0, derive_count=2)
    searcher = DifferentiableSearcher(
        small, dataset=data, mixers=["pool", "identity"], precisions=["fp32"], **quick
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert len(searcher.ask(2)) == 2
    # the copy of a training before its first step warned that optimizer.step was overridden
    assert not [w for w in caught if "optimizer.step()" in str(w.message)]
    assert all(d.supernet_accuracy is not None for d in searcher.results[0].derived)


def test_soft_mixture_runs_every_candidate(space):
    """A soft mixture runs every candidate, weighted to sum to 1, the more sharply the lower
    the temperature (a mutant sampling every gate at temperature 1 survived)."""
    net = SuperNet(space, hard=False)
    net.sample(1.0)
    weights = net.stages[0].blocks[0].option.weights
    assert torch.all(weights > 0)
    out = net(torch.randn(4, 1, 8, 8))
    assert out.shape == (4, 10) and torch.isfinite(out).all()
    assert np.isclose(weights.sum().item(), 1.0)
    peaks = []
    for tau in (5.0, 0.2):  # the same Gumbel noise at two temperatures
        torch.manual_seed(0)
        net.sample(tau)
        peaks.append(net.stages[0].blocks[0].option.weights.max().item())
    assert peaks[0] < 0.5 < 0.9 < peaks[1]


def test_latency_predictor_may_be_a_profile_or_a_saved_lut(space, lut, tmp_path):
    lut.save(tmp_path / "lut.json")
    arch = space.sample(7)
    for source in (DATA / "tiny2d_ort.csv", tmp_path / "lut.json"):
        searcher = DifferentiableSearcher(space, dataset="digits", latency_predictor=str(source))
        assert lut_latency(searcher.search.predictor, space, arch) == pytest.approx(
            lut.predict([arch])[0]
        )


def test_every_seed_of_searcher_and_evaluators_sees_one_set_of_splits(space):
    """A supernet with seed 1 must not train on the test samples of an evaluator with seed 0."""
    reference = load_dataset("digits")
    users = [
        DifferentiableSearcher(space, dataset="digits", seed=1).search.dataset,
        TrainEvaluator(space, "digits", seed=2).dataset,
        ZeroCostEvaluator(space, "digits", seed=3).dataset,
    ]
    for data in users:
        for split in ("train", "val", "test"):
            assert np.array_equal(data.split(split)[1], reference.split(split)[1]), split
            assert np.array_equal(data.split(split)[0], reference.split(split)[0]), split

"""Per-block precisions: the ONNX Runtime graphs a mixed-precision model is measured as, the
backends' refusals, and the analytic cost of a quantized model."""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from onnx import TensorProto, numpy_helper

from hwnas.predictors import BackendError, measure_latency
from hwnas.predictors.onnx_export import export_onnx
from hwnas.predictors.onnx_precision import apply_precisions, layer_precisions
from hwnas.predictors.quiet_loggers import logger_quiet
from hwnas.search.supernet import fake_quantize
from hwnas.spaces import get_space, reparameterize, set_fake_quant
from hwnas.spaces.blocks import BlockConfig
from hwnas.spaces.counting import count_cost
from hwnas.spaces.quant import QConv2d, QLinear, quantize_weight

FAST = dict(warmup=1, runs=3, rounds=1)


def _conv2d_net(precisions: tuple[str, ...], train: bool = False) -> torch.nn.Module:
    """A small conv2d network with one depthwise-separable block per stage at `precisions`."""
    space = get_space("conv2d", input_shape=[3, 16, 16])
    stages = [
        (plan.widths[0], [BlockConfig("dwconv", 3, 1, 2.0, p)])
        for plan, p in zip(space.plans, precisions)
    ]
    model = space._network(stages)
    if train:
        return model
    return set_fake_quant(reparameterize(model.eval()), False)


def _runtime_ops(graph) -> list[str]:
    """The op types ONNX Runtime's CPU provider really runs for `graph` (after its fusions)."""
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    options.log_severity_level = 3
    with tempfile.TemporaryDirectory() as tmp:
        options.optimized_model_filepath = str(Path(tmp) / "optimized.onnx")
        ort.InferenceSession(graph.SerializeToString(), options, providers=["CPUExecutionProvider"])
        return [n.op_type for n in onnx.load(options.optimized_model_filepath).graph.node]


def test_int8_blocks_beside_fp16_blocks_still_run_integer_kernels():
    model = _conv2d_net(("int8", "fp16", "int8"))
    x = torch.randn(1, 3, 16, 16)
    graph = apply_precisions(export_onnx(model, x), tuple(x.shape), layer_precisions(model))
    # every conv of the two int8 blocks (depthwise, pointwise, two MLP convs) is fused into an
    # integer kernel, as it is without the fp16 block
    assert _runtime_ops(graph).count("QLinearConv") == 8
    # no float tensor makes an fp32 -> fp16 -> fp32 round trip between two fp32 nodes
    produced_by = {o: n for n in graph.graph.node for o in n.output}
    for node in graph.graph.node:
        first = produced_by.get(node.input[0]) if node.op_type == "Cast" else None
        to_fp32 = node.op_type == "Cast" and node.attribute[0].i == TensorProto.FLOAT
        assert not (to_fp32 and first is not None and first.op_type == "Cast"), node.name
    session = ort.InferenceSession(graph.SerializeToString(), providers=["CPUExecutionProvider"])
    out = session.run(None, {"x": x.numpy()})[0]
    assert torch.allclose(torch.from_numpy(out), model(x), atol=0.1)


def test_an_untrained_int8_network_runs_the_integer_kernels_a_trained_one_runs():
    """The latency evaluator and profiles time untrained networks. Their convolutions followed
    by BatchNorm fold to all-zero biases, which the TorchScript exporter shares between the
    convs of one width; the Conv reading the shared bias (each `mbconv` block's depthwise
    conv) was quantized with another Conv's bias and left a float kernel between
    DequantizeLinear and QuantizeLinear, timing the untrained network slower than the trained
    one deployed."""
    space = get_space("conv2d", input_shape=[3, 16, 16])
    stages = [(plan.widths[0], [BlockConfig("mbconv", 3, 1, 2.0, "int8")]) for plan in space.plans]
    x = torch.randn(1, 3, 16, 16)

    def runtime_ops(trained_like: bool) -> list[str]:
        model = space._network(stages).eval()
        with torch.no_grad():  # a trained network's BatchNorm: no two folded biases equal
            for bn in (m for m in model.modules() if trained_like and _is_batch_norm(m)):
                bn.bias.normal_(0, 0.1)
                bn.running_mean.normal_(0, 0.1)
        model = set_fake_quant(reparameterize(model), False)
        graph = apply_precisions(export_onnx(model, x), tuple(x.shape), layer_precisions(model))
        return _runtime_ops(graph)

    untrained, trained = runtime_ops(False), runtime_ops(True)
    # the expand, depthwise and project convs and the two MLP convs of each of 3 blocks
    assert trained.count("QLinearConv") == 15
    assert untrained.count("QLinearConv") == 15
    # float: only the fp32 stem's and two downsamples'
    assert untrained.count("Conv") == trained.count("Conv") == 3


def _is_batch_norm(module: torch.nn.Module) -> bool:
    return isinstance(module, torch.nn.modules.batchnorm._BatchNorm)


def test_a_graph_with_fp16_blocks_is_sorted_as_the_onnx_standard_wants():
    """The fp16 conversion appends the casts it adds after the nodes that read them: ONNX
    Runtime runs such a graph (it sorts it itself), but `onnx.checker` refused it, and so
    every deployed file of an architecture with an fp16 block."""
    model = _conv2d_net(("fp32", "fp16", "int8"))
    x = torch.randn(1, 3, 16, 16)
    graph = apply_precisions(export_onnx(model, x), tuple(x.shape), layer_precisions(model))
    onnx.checker.check_model(graph, full_check=True)
    assert any(n.op_type == "Cast" for n in graph.graph.node)


def test_an_fft_model_with_fp16_blocks_passes_strict_shape_inference():
    """The dynamo exporter (an fft block's) types its initializers in value_info: the float16
    conversion typed the float32 blocks' weights float16 there and cast them "back" to
    float32, and `onnx.checker`'s full check refused the file."""
    space = get_space("conv1d", input_shape=[1, 16])
    stages = [
        (plan.widths[0], [BlockConfig(mixer, None, None, 2.0, p)])
        for plan, mixer, p in zip(space.plans, ("fft", "fft", "identity"), ("fp16", "fp32", "fp16"))
    ]
    model = set_fake_quant(space._network(stages).eval(), False)
    x = torch.randn(1, 1, 16)
    graph = apply_precisions(export_onnx(model, x), tuple(x.shape), layer_precisions(model))
    onnx.checker.check_model(graph, full_check=True)
    weights = {t.name: t.data_type for t in graph.graph.initializer}
    casts = [n for n in graph.graph.node if n.op_type == "Cast" and n.input[0] in weights]
    assert casts  # of the float16 weights of the fp16 blocks' norms, kept float32 nodes
    assert all(weights[n.input[0]] != n.attribute[0].i for n in casts)  # none to its own type


def test_a_printed_model_shows_each_layers_precision():
    text = repr(_conv2d_net(("int8", "fp16", "w4a8"), train=True))
    for precision in ("fp32", "int8", "fp16", "w4a8"):  # the stem's and head's, the blocks'
        assert f"precision={precision})" in text


def test_fp16_conversion_works_where_the_caller_made_numpy_raise_on_underflow():
    """A weight below float16's smallest value becomes 0, what float16 storage means: under
    a notebook's `np.seterr(all="raise")` the conversion raised "underflow encountered in
    cast", and every candidate of a latency search with fp16 blocks failed."""
    model = _conv2d_net(("fp16", "fp32", "fp32"))
    x = torch.randn(1, 3, 16, 16)
    graph = export_onnx(model, x)
    expected = apply_precisions(graph, tuple(x.shape), "fp16")
    with np.errstate(all="raise"):
        assert apply_precisions(graph, tuple(x.shape), "fp16") == expected
        assert np.geterr()["under"] == "raise"  # the caller's setting, as it was


def test_count_cost_leaves_a_training_models_norm_statistics_alone():
    model = _conv2d_net(("int8", "w4a8", "fp16"), train=True)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    cost = count_cost(model, (3, 16, 16))
    assert cost.macs > 0 and model.training
    after = model.state_dict()
    changed = [k for k, v in before.items() if not torch.equal(v, after[k])]
    assert changed == []


def test_eager_backend_names_per_layer_float_precisions_as_the_reason_it_refuses():
    model = _conv2d_net(("fp16", "fp32", "fp16"))
    with pytest.raises(BackendError, match=r"one float precision.*mixed\(fp16, fp32\)") as e:
        measure_latency(model, (3, 16, 16), backend="torch-cpu", precision="mixed", **FAST)
    assert "integer" not in str(e.value)
    with pytest.raises(BackendError, match="no integer kernels.*not int8"):
        measure_latency(model, (3, 16, 16), backend="torch-cpu", precision="int8", **FAST)


def test_an_int8_sample_is_scored_alone_not_with_its_batch():
    """In eval mode a quantized layer takes its input range from training (a running
    average), as a deployed static-int8 model has one calibrated scale: a sample's output does
    not depend on its neighbours. Weights saved before the ranges were kept still load."""
    torch.manual_seed(0)
    model = _conv2d_net(("int8", "w4a8", "int8", "int8"), train=True)
    x = torch.randn(8, 3, 16, 16)
    with torch.no_grad():
        for _ in range(3):
            model.train()(x)
        model.eval()
        alone, together = model(x[:1]), model(x)[:1]
        beside_loud = model(torch.cat([x[:1], 50 * x[1:]]))[:1]
    torch.testing.assert_close(alone, together)
    torch.testing.assert_close(alone, beside_loud)
    ranges = {k: v for k, v in model.state_dict().items() if k.endswith("activation_range")}
    assert sum(bool(v > 0) for v in ranges.values()) >= 4  # the int8 and w4a8 layers
    before = {k: v for k, v in model.state_dict().items() if k not in ranges}
    older = _conv2d_net(("int8", "w4a8", "int8", "int8"), train=True)
    older.load_state_dict(before)  # strict: the missing ranges stay unset (the batch's)
    assert all(older.state_dict()[k] == 0 for k in ranges)


def test_int8_fake_quantized_weights_are_onnx_runtimes_dequantized_ones():
    """The simulated int8 weights are the ones ONNX Runtime's static QDQ quantization deploys
    (per output channel, symmetric, -127 to 127), as the guide says."""
    torch.manual_seed(0)
    model = set_fake_quant(torch.nn.Sequential(QConv2d(4, 6, 3, precision="int8")), False).eval()
    x = torch.randn(1, 4, 8, 8)
    graph = apply_precisions(export_onnx(model, x), tuple(x.shape), "int8")
    inits = {i.name: numpy_helper.to_array(i) for i in graph.graph.initializer}
    dequantized = [n.input for n in graph.graph.node if n.op_type == "DequantizeLinear"]
    ((q, scale, zero),) = [
        [inits[i] for i in names]
        for names in dequantized
        if names[0] in inits and inits[names[0]].ndim == 4  # the weight, not the bias
    ]
    per_channel = (-1, 1, 1, 1)
    deployed = (q.astype("float32") - zero.reshape(per_channel)) * scale.reshape(per_channel)
    simulated = quantize_weight(model[0].weight.detach(), 8).numpy()
    assert q.shape == (6, 4, 3, 3) and abs(q).max() == 127
    assert abs(deployed - simulated).max() == 0


def _rounded(x: torch.Tensor, absmax: torch.Tensor, bits: int) -> torch.Tensor:
    """`x` on the symmetric grid of `bits` bits spanning +-absmax, computed apart from hwnas."""
    step = absmax / (2 ** (bits - 1) - 1)
    return torch.round(x / step) * step


@pytest.mark.parametrize(("precision", "w_bits"), [("int8", 8), ("w4a8", 4)])
def test_fake_quantization_rounds_per_channel_and_per_tensor_with_straight_through_gradients(
    precision, w_bits
):
    """Training sees weights rounded per output channel and the input rounded per tensor
    (8 bits), and gradients pass the rounding as if it were not there: a rounding without
    the straight-through estimator gives zero gradients, and the quantized blocks never learn
    (every other test still passed with either missing)."""
    gen = torch.Generator().manual_seed(0)
    layer = QLinear(6, 4, precision=precision).train()
    with torch.no_grad():  # output channels of very different ranges
        layer.weight.mul_(torch.tensor([[0.01], [1.0], [10.0], [0.1]]))
    x = torch.randn(5, 6, generator=gen, requires_grad=True)
    layer(x).square().sum().backward()

    w = layer.weight.detach()
    wq = _rounded(w, w.abs().amax(dim=1, keepdim=True), w_bits).requires_grad_()
    xq = _rounded(x.detach(), x.detach().abs().amax(), 8).requires_grad_()
    expected = torch.nn.functional.linear(xq, wq, layer.bias.detach())
    expected.square().sum().backward()
    with torch.no_grad():
        torch.testing.assert_close(layer(x), expected)
        assert not torch.allclose(layer(x), torch.nn.functional.linear(x, w, layer.bias))
    torch.testing.assert_close(layer.weight.grad, wq.grad)
    torch.testing.assert_close(x.grad, xq.grad)
    assert layer.weight.grad.abs().min() > 0


def test_fp16_rounding_passes_gradients_straight_through_unrounded():
    """An fp16 block rounds its weights and input to float16 but not the gradients: the
    casts' own backward rounded them to float16 too, flushing those below 6e-8 to zero in
    the block and in every layer before it (the supernet's fp16 candidate alike)."""
    scale = 1e-9  # a loss scale that puts every gradient below float16's smallest step
    layer = QLinear(6, 4, precision="fp16").train()
    x = torch.randn(5, 6, generator=torch.Generator().manual_seed(0), requires_grad=True)
    (scale * layer(x)).sum().backward()

    half = [t.detach().half().float().requires_grad_() for t in (x, layer.weight)]
    (scale * torch.nn.functional.linear(*half, layer.bias.detach())).sum().backward()
    with torch.no_grad():
        torch.testing.assert_close(layer(x), torch.nn.functional.linear(*half, layer.bias))
    torch.testing.assert_close(x.grad, half[0].grad, rtol=1e-6, atol=0)
    torch.testing.assert_close(layer.weight.grad, half[1].grad, rtol=1e-6, atol=0)

    w = torch.randn(3, 4, requires_grad=True)
    (scale * fake_quantize(w, "fp16", weight=True)).sum().backward()
    assert torch.equal(w.grad, torch.full_like(w, scale))


def test_int8_quantization_leaves_the_root_logger_as_it_was(monkeypatch):
    """ONNX Runtime's quantize_static logs through `logging.warning`, which gives a root logger
    without handlers a stderr one (`logging.basicConfig`): left behind, it made a notebook's
    own `logging.basicConfig(level=logging.INFO)` after a latency profile do nothing."""
    monkeypatch.setattr(logging.root, "handlers", [])  # a process that set up no logging
    level = logging.root.level
    model = set_fake_quant(torch.nn.Sequential(QConv2d(4, 6, 3, precision="int8")), False).eval()
    x = torch.randn(1, 4, 8, 8)
    apply_precisions(export_onnx(model, x), tuple(x.shape), "int8")
    assert logging.root.handlers == [] and logging.root.level == level


def test_onnx_export_leaves_the_torch_onnx_loggers_level_as_it_was():
    """The exporter is quieted for its call only: the process's `torch.onnx` logger stayed at
    ERROR after an export, its warnings hidden from the user's own exports."""
    logger = logging.getLogger("torch.onnx")
    level = logger.level
    logger.setLevel(logging.WARNING)  # the caller's own choice
    try:
        export_onnx(torch.nn.Linear(4, 2).eval(), torch.randn(1, 4))
        assert logger.level == logging.WARNING
        logger.setLevel(logging.CRITICAL)  # silenced by the caller: not louder meanwhile
        seen = []
        with logger_quiet(logger):
            seen.append(logger.level)
        assert seen == [logging.CRITICAL] and logger.level == logging.CRITICAL
    finally:
        logger.setLevel(level)


def test_a_layers_input_range_is_its_first_batchs_then_moves_a_tenth_toward_each_next():
    """While training, an int8 layer rounds its input on the batch's own range and keeps a
    running range: the first batch's, then 0.1 of the way toward each later batch's (as batch
    norm's statistics move). In eval mode it rounds on that range, symmetric: an input beyond
    it is clipped to +-127 steps, either sign, as ONNX Runtime's weights are."""
    layer = QLinear(3, 2, precision="int8").train()
    w = quantize_weight(layer.weight.detach(), 8)
    first, second = torch.tensor([[2.0, -1.0, 0.5]]), torch.tensor([[-12.0, 3.0, 0.3]])
    with torch.no_grad():
        layer(first)
        assert layer.activation_range == 2.0
        expected = torch.nn.functional.linear(_rounded(second, torch.tensor(12.0), 8), w)
        torch.testing.assert_close(layer(second), expected + layer.bias)
        assert layer.activation_range == pytest.approx(3.0)  # 2 + 0.1 * (12 - 2)
        loud = torch.tensor([[-30.0, 30.0, 1.0]])
        clipped = _rounded(loud.clamp(-3.0, 3.0), layer.activation_range, 8)
        expected = torch.nn.functional.linear(clipped, w) + layer.bias
        torch.testing.assert_close(layer.eval()(loud), expected)

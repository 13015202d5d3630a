"""Run an exported float ONNX graph at real reduced precisions for ONNX Runtime.

- `int8` (W8A8): ONNX Runtime static QDQ quantization (`quantize_static`): per-channel int8
  weights, uint8 activations calibrated on a few random inputs, on the Conv/MatMul/Gemm nodes;
  ONNX Runtime fuses each QuantizeLinear/DequantizeLinear pair into real integer kernels.
- `fp16`: the graph's float tensors converted to float16 (inputs and outputs stay float32).
- Per-block precision: only the nodes of the blocks at a precision are converted, found through
  the torch module each node was exported from (see `hwnas.predictors.onnx_export`).
"""

from __future__ import annotations

import copy
import logging
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto
from onnxruntime.quantization import (
    CalibrationDataReader,
    QuantFormat,
    QuantType,
    quantize_static,
)
from onnxruntime.transformers.float16 import convert_float_to_float16
from onnxruntime.transformers.onnx_model import OnnxModel
from torch import nn

from hwnas.predictors.onnx_export import INPUT_NAME, ONNX_LOCK, nodes_in_scopes
from hwnas.predictors.quiet_loggers import logger_quiet
from hwnas.spaces.quant import QUANTIZED_LAYERS

QUANTIZED_OPS = ("Conv", "MatMul", "Gemm")
CALIBRATION_SAMPLES = 4  # random batches, where no calibration inputs are given
CALIBRATION_BATCH = 64  # given inputs are fed in batches of this many


def layer_precisions(model: nn.Module) -> dict[str, str]:
    """Module name -> precision, for every module whose quantizable layers share one precision
    (a MetaFormer block and all its sub-modules, the stem, the head)."""
    out = {}
    for name, module in model.named_modules():
        found = {m.precision for m in module.modules() if isinstance(m, QUANTIZED_LAYERS)}
        if name and len(found) == 1:
            out[name] = found.pop()
    return out


class _Batches(CalibrationDataReader):
    """Calibration inputs in batches: `inputs` given (model inputs, N x input), or
    `CALIBRATION_SAMPLES` standard-normal batches of `shape` (batch included) drawn with a
    fixed seed, the same scales every time (what a latency measurement needs, not accuracy)."""

    def __init__(self, shape: Sequence[int], inputs: np.ndarray | None = None, seed: int = 0):
        if inputs is None:
            rng = np.random.default_rng(seed)
            batches = [rng.standard_normal(shape) for _ in range(CALIBRATION_SAMPLES)]
        else:
            batches = [
                inputs[i : i + CALIBRATION_BATCH] for i in range(0, len(inputs), CALIBRATION_BATCH)
            ]
        self._batches = iter([{INPUT_NAME: b.astype(np.float32)} for b in batches])

    def get_next(self):
        return next(self._batches, None)


def quantize_int8(
    graph: onnx.ModelProto,
    input_shape: Sequence[int],
    nodes: Sequence[str],
    calibration: np.ndarray | None = None,
) -> onnx.ModelProto:
    """Static QDQ int8 quantization of the named nodes: per-channel int8 weights, uint8
    activations whose ranges are calibrated on `calibration` (model inputs), or on random
    inputs of `input_shape` (batch included) where none are given."""
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = Path(tmp) / "float.onnx", Path(tmp) / "int8.onnx"
        onnx.save(_own_initializers(graph), src)
        # quantize_static logs advice on every call; one thread's quantization at a time
        with ONNX_LOCK, logger_quiet(logging.getLogger()):
            quantize_static(
                src,
                dst,
                _Batches(input_shape, calibration),
                quant_format=QuantFormat.QDQ,
                per_channel=True,
                activation_type=QuantType.QUInt8,
                weight_type=QuantType.QInt8,
                nodes_to_quantize=list(nodes),
            )
        return onnx.load(dst)


def _own_initializers(graph: onnx.ModelProto) -> onnx.ModelProto:
    """`graph` with every Identity of an initializer replaced by a copy of it under the
    Identity's output name. TorchScript's exporter keeps one of several equal initializers and
    reads the others through Identity nodes, and an untrained network's convolutions followed
    by BatchNorm all fold to all-zero biases: two int8 Convs of one width shared a bias (an
    `mbconv` block's expand and depthwise convs, where no BatchNorm parameter of that width
    came first). The quantizer quantizes only a bias that is an initializer, so the second Conv
    read the first's int32 bias, at a scale not its input's times its weight's, and ONNX
    Runtime left it a float Conv between DequantizeLinear and QuantizeLinear: an untrained
    network, as the latency evaluator and profiles time them, ran slower than trained."""
    graph = copy.deepcopy(graph)
    initializers = {t.name: t for t in graph.graph.initializer}
    for node in [n for n in graph.graph.node if n.op_type == "Identity"]:
        if node.input[0] in initializers:
            own = copy.deepcopy(initializers[node.input[0]])
            own.name = node.output[0]
            graph.graph.initializer.append(own)
            graph.graph.node.remove(node)
    return graph


def apply_precisions(
    graph: onnx.ModelProto,
    input_shape: Sequence[int],
    precision: str | Mapping[str, str],
    calibration: np.ndarray | None = None,
) -> onnx.ModelProto:
    """`graph` with its nodes at `precision` (one for all nodes, or module name -> precision,
    modules not named staying fp32). Precisions must already be ones the runtime has
    (`fp32`, `fp16`, `int8`); int8 activation ranges come from `calibration` (model inputs)
    or, without it, from random inputs of `input_shape` (`quantize_int8`)."""
    scoped = dict(precision) if isinstance(precision, Mapping) else None

    def names(target: str, ops: Sequence[str] | None = None) -> list[str]:
        if scoped is None:
            nodes = list(graph.graph.node) if precision == target else []
        else:
            nodes = nodes_in_scopes(graph, scoped, [target])
        return [n.name for n in nodes if ops is None or n.op_type in ops]

    int8_nodes = names("int8", QUANTIZED_OPS)
    fp16_nodes = set(names("fp16"))
    if int8_nodes:
        graph = quantize_int8(graph, input_shape, int8_nodes, calibration)
    if fp16_nodes:
        blocked = [n.name for n in graph.graph.node if n.name not in fp16_nodes]
        # a weight below float16's smallest value becomes 0, as numpy's defaults let it: a
        # caller's `np.seterr(all="raise")` made the cast raise
        _untype_initializers(graph.graph)
        with np.errstate(under="ignore"):
            graph = convert_float_to_float16(graph, keep_io_types=True, node_block_list=blocked)
        _drop_cast_round_trips(graph.graph)
        # the conversion appends its casts after the nodes that read them: ONNX Runtime sorts
        # a graph itself, but the ONNX standard wants it sorted, and `onnx.checker` (and
        # runtimes that follow the standard) refused the deployed file
        OnnxModel.graph_topological_sort(graph.graph)
    return graph


def _untype_initializers(graph: onnx.GraphProto) -> None:
    """Drop the value_info entries that name initializers (the dynamo exporter's, for a model
    with FFT mixers), whose types are the initializers' own: the float16 conversion typed
    them float16 while it kept the float32 nodes' weights float32, and cast each of those
    weights "back" to float32, a file that strict shape inference (`onnx.checker`'s full
    check) refused (ONNX Runtime folds those casts: it runs the same graph either way)."""
    weights = {t.name for t in graph.initializer}
    kept = [v for v in graph.value_info if v.name not in weights]
    del graph.value_info[:]
    graph.value_info.extend(kept)


def _cast_to(node: onnx.NodeProto) -> int | None:
    if node.op_type != "Cast":
        return None
    return next(a.i for a in node.attribute if a.name == "to")


def _drop_cast_round_trips(graph: onnx.GraphProto) -> None:
    """Let float32 nodes read float32 tensors directly. `convert_float_to_float16` types every
    tensor float16 and wraps each node left float32 (the other blocks, the stem, the head) in
    casts, so a tensor between two float32 nodes goes fp32 -> fp16 -> fp32: extra kernels,
    and between a DequantizeLinear and its Conv it hides the QDQ pattern ONNX Runtime fuses
    into an integer kernel (the int8 blocks would run as float convolutions)."""
    types = {v.name: v.type.tensor_type.elem_type for v in (*graph.input, *graph.value_info)}
    produced_by = {o: n for n in graph.node for o in n.output}
    original = {}
    for node in graph.node:
        first = produced_by.get(node.input[0]) if _cast_to(node) == TensorProto.FLOAT else None
        is_round_trip = first is not None and _cast_to(first) == TensorProto.FLOAT16
        source = first.input[0] if is_round_trip else None
        if source is not None and types.get(source) == TensorProto.FLOAT:
            original[node.output[0]] = source
            node.input[0] = source  # a float32 copy, kept where it is a graph output
    for node in graph.node:
        node.input[:] = [original.get(name, name) for name in node.input]
    _drop_unused_casts(graph)


def _drop_unused_casts(graph: onnx.GraphProto) -> None:
    while True:
        used = {name for n in graph.node for name in n.input} | {o.name for o in graph.output}
        unused = [n for n in graph.node if n.op_type == "Cast" and n.output[0] not in used]
        if not unused:
            return
        for node in unused:
            graph.node.remove(node)

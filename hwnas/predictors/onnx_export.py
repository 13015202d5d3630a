"""Export torch models to ONNX, and map ONNX nodes back to the torch modules they came from.

The TorchScript exporter (`dynamo=False`) is fast (~0.25 s for a small model) but cannot
export FFT ops; the dynamo exporter can (~3 s), so it is the fallback. Both keep the module
path of every node (in the node name, or in the `pkg.torch.onnx.name_scopes` metadata), which
is how per-block precisions are applied to the exported graph.
"""

from __future__ import annotations

import ast
import contextlib
import io
import logging
import threading
import warnings
from collections.abc import Sequence

import onnx
import torch
from torch import nn

from hwnas.predictors.quiet_loggers import logger_quiet
from hwnas.spaces.mixers import FFTMixer

INPUT_NAME, OUTPUT_NAME = "x", "logits"
#: held by each export and each int8 quantization: torch's exporters keep process-wide state
#: (`GLOBALS.in_onnx_export`, dynamo's patched modules), and both silence process-wide
#: things for their body (stdout, stderr, warnings, the `torch.onnx` and root loggers); two
#: at once from two threads failed each other ("GLOBALS.in_onnx_export must be False") and
#: left stdout and stderr swallowed for good
ONNX_LOCK = threading.RLock()
#: the dynamo exporter's record, on every node, of the Python stack that made it: hundreds of
#: absolute paths of the exporting machine (its user's home, its environment's packages) in
#: every ONNX file written and shared; nothing reads it
STACK_TRACE = "pkg.torch.onnx.stack_trace"


class ExportError(RuntimeError):
    """The model could not be exported to ONNX."""


def export_onnx(
    model: nn.Module, example: torch.Tensor, dynamic_batch: bool = False
) -> onnx.ModelProto:
    """The ONNX graph of `model` (eval mode, float), via TorchScript, else dynamo (directly
    for models with FFT mixers, which TorchScript cannot export). The batch dimension is
    `example`'s, or any with `dynamic_batch` (an exported model's file). One export at a
    time in a process (`ONNX_LOCK`): a thread's export waits for another's."""
    if dynamic_batch and len(example) == 1:
        # torch.export takes a batch of 1 for a constant (the size that broadcasts): the
        # dynamo exporter wrote a graph of attention and FFT blocks that took batch 1 only
        example = torch.cat([example, example])
    with ONNX_LOCK:
        return _export_either(model, example, dynamic_batch)


def _export_either(model: nn.Module, example: torch.Tensor, dynamic_batch: bool) -> onnx.ModelProto:
    if any(isinstance(m, FFTMixer) for m in model.modules()):
        return _export(model, example, dynamo=True, dynamic_batch=dynamic_batch)
    try:
        return _export(model, example, dynamo=False, dynamic_batch=dynamic_batch)
    except Exception as first:  # noqa: BLE001 - unsupported ops show up as many error types
        try:
            return _export(model, example, dynamo=True, dynamic_batch=dynamic_batch)
        except Exception as second:  # noqa: BLE001
            raise ExportError(
                f"ONNX export failed: TorchScript exporter: {_first_line(first)}; "
                f"dynamo exporter: {_first_line(second)}"
            ) from None


def _first_line(error: Exception) -> str:
    text = str(error).strip().splitlines()
    return (text[0] if text else type(error).__name__)[:300]


def _export(
    model: nn.Module, example: torch.Tensor, *, dynamo: bool, dynamic_batch: bool
) -> onnx.ModelProto:
    try:
        return _run_exporter(model, example, dynamo=dynamo, dynamic_batch=dynamic_batch)
    except Exception as e:
        if (interrupt := _hidden_interrupt(e)) is not None:
            raise interrupt from None
        raise


def _hidden_interrupt(error: BaseException) -> KeyboardInterrupt | None:
    """The Ctrl-C (or SIGTERM, as `terminate_as_interrupt` raises it) behind an exporter's
    error, if any. A Ctrl-C while the dynamo exporter first imports `torch._dynamo` left it
    half-imported; evaluating torch's `except torch._dynamo.exc.UserError` then raised an
    AttributeError in its place, which torch reports as a failed export: a profile stopped
    by Ctrl-C said "Failed to export the model" (and a model falling back to dynamo was
    recorded as failing to measure)."""
    seen, pending = set(), [error]
    while pending:
        error = pending.pop()
        if isinstance(error, KeyboardInterrupt):
            return error
        if error is not None and id(error) not in seen:
            seen.add(id(error))
            pending += [error.__cause__, error.__context__]
    return None


def _run_exporter(
    model: nn.Module, example: torch.Tensor, *, dynamo: bool, dynamic_batch: bool
) -> onnx.ModelProto:
    buffer = io.BytesIO()
    names = {"input_names": [INPUT_NAME], "output_names": [OUTPUT_NAME]}
    quiet = io.StringIO()
    with (
        warnings.catch_warnings(),
        contextlib.redirect_stdout(quiet),
        contextlib.redirect_stderr(quiet),
        torch.no_grad(),
        logger_quiet(logging.getLogger("torch.onnx")),
    ):
        warnings.simplefilter("ignore")
        if dynamo:
            batch = ({0: torch.export.Dim("batch", min=1)},) if dynamic_batch else None
            program = torch.onnx.export(
                model, (example,), dynamo=True, dynamic_shapes=batch, verbose=False, **names
            )
            return _without_stack_traces(program.model_proto)
        axes = {INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}} if dynamic_batch else None
        torch.onnx.export(
            model,
            (example,),
            buffer,
            dynamo=False,
            opset_version=17,
            dynamic_axes=axes,
            **names,
        )
    return onnx.load_from_string(buffer.getvalue())


def _without_stack_traces(graph: onnx.ModelProto) -> onnx.ModelProto:
    """`graph` with its nodes' `STACK_TRACE` records removed (in place)."""
    for nodes in (graph.graph.node, *(f.node for f in graph.functions)):
        for node in nodes:
            kept = [p for p in node.metadata_props if p.key != STACK_TRACE]
            del node.metadata_props[:]
            node.metadata_props.extend(kept)
    return graph


def node_scopes(node: onnx.NodeProto) -> list[str]:
    """Qualified names of the torch modules enclosing `node`, outermost first."""
    for prop in node.metadata_props:
        if prop.key == "pkg.torch.onnx.name_scopes":
            names = ast.literal_eval(prop.value)
            return [n for n in names[:-1] if n]
    parts = node.name.split("/")
    return [p for p in parts[1:-1] if p]


def nodes_in_scopes(
    graph: onnx.ModelProto, precision_of: dict[str, str], precisions: Sequence[str]
) -> list[onnx.NodeProto]:
    """The nodes whose innermost enclosing module with a known precision has one of
    `precisions` (modules absent from `precision_of` count as fp32)."""
    return [n for n in graph.graph.node if node_precision(n, precision_of) in precisions]


def node_precision(node: onnx.NodeProto, precision_of: dict[str, str]) -> str:
    for scope in reversed(node_scopes(node)):
        if scope in precision_of:
            return precision_of[scope]
    return "fp32"

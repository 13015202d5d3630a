"""Counting a network's `Cost` on the model itself.

Counted on a `meta`-device copy of the model, so it costs no memory or arithmetic: hooks on
every convolution and linear layer (and the attention products) read the real shapes.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator, Sequence

import torch
from torch import nn

from hwnas.spaces.cost import Cost, weight_bytes
from hwnas.spaces.mixers import AttentionMixer
from hwnas.spaces.quant import QUANTIZED_LAYERS, set_fake_quant


@contextlib.contextmanager
def evaluating(model: nn.Module) -> Iterator[nn.Module]:
    """`model` in eval mode for the body, each of its modules given back its own mode after
    it (counting its cost or measuring its latency in the middle of its training: measuring
    left it in eval mode, its batch-norm statistics frozen for the rest of the training)."""
    modes = {m: m.training for m in model.modules()}
    try:
        yield model.eval()
    finally:
        for m, training in modes.items():
            m.training = training


def meta_cost(model_fn: Callable[[], nn.Module], input_shape: Sequence[int]) -> Cost:
    """Cost of the model `model_fn` builds, counted on a throwaway meta-device copy (no
    memory, no arithmetic)."""
    with torch.device("meta"):
        model = model_fn()
    return count_cost(model, tuple(input_shape), throwaway=True)


def _layer_macs(module: nn.Module, out: torch.Tensor) -> int:
    if isinstance(module, nn.Linear):
        return out.numel() // out.shape[0] * module.in_features
    kernel = math.prod(module.kernel_size)
    return out.numel() // out.shape[0] * (module.in_channels // module.groups) * kernel


def _attention_macs(module: AttentionMixer, x: torch.Tensor) -> int:
    channels, positions = x.shape[1], math.prod(x.shape[2:])
    return 2 * positions * positions * channels  # q^T k and v attn^T


def _shape_only(model: nn.Module) -> nn.Module:
    """Replace norms and activations by identities in a throwaway model: they change no shape
    and no counted quantity, and on the meta device they are most of the forward's time."""
    for name, child in model.named_children():
        if isinstance(child, _POINTWISE):
            setattr(model, name, nn.Identity())
        else:
            _shape_only(child)
    return model


_POINTWISE = (nn.modules.batchnorm._BatchNorm, nn.GELU, nn.ReLU)


def count_cost(model: nn.Module, input_shape: tuple[int, ...], *, throwaway: bool = False) -> Cost:
    """Cost of one sample through `model` (a module built on the meta device, or any device).
    The model is left as it was (the sample runs in eval mode, so a training model's norm
    statistics do not move); with `throwaway`, it is changed to trace shapes faster (fake
    quantization off, eval mode, norms and activations removed) and must not be used
    afterwards."""
    params = sum(p.numel() for p in model.parameters())
    size = 0
    counted: set[int] = set()
    for m in model.modules():
        if isinstance(m, QUANTIZED_LAYERS):
            size += weight_bytes(m.weight.numel(), m.precision)
            counted.add(id(m.weight))
    size += sum(4 * p.numel() for p in model.parameters() if id(p) not in counted)
    if throwaway:
        model = _shape_only(set_fake_quant(model, False).eval())

    totals = {"macs": 0, "activations": 0}

    def on_layer(module, inputs, out):
        totals["macs"] += _layer_macs(module, out)
        totals["activations"] += (inputs[0].numel() + out.numel()) // out.shape[0]

    def on_attention(module, inputs, out):
        totals["macs"] += _attention_macs(module, inputs[0])

    hooks = []
    for m in model.modules():
        if isinstance(m, QUANTIZED_LAYERS):
            hooks.append(m.register_forward_hook(on_layer))
        elif isinstance(m, AttentionMixer):
            hooks.append(m.register_forward_hook(on_attention))
    device = next(model.parameters(), torch.empty(0)).device
    try:
        # eval mode: a training model's norm statistics stay as they are
        with torch.no_grad(), evaluating(model):
            model(torch.zeros((1, *input_shape), device=device))
    finally:
        for h in hooks:
            h.remove()
    return Cost(params, totals["macs"], size, totals["activations"])

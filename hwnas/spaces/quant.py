"""Fake quantization: per-block precision simulated during training.

A candidate's accuracy must reflect the precision it will run at, so every convolution and
linear layer of a block is a `QConv`/`QLinear` that carries the block's precision and, while
fake quantization is on, rounds its weights (per output channel, symmetric) and its input
activations (per tensor) with a straight-through estimator. An activation's range is its
batch's while training, and a running average of those (`activation_range`, a buffer) in eval
mode, as a deployed static-int8 model has one calibrated scale: a sample's prediction must not
depend on the other samples in its batch. The real integer kernels used for latency are the
latency backends' business; these layers stay plain float modules otherwise, so they export
to ONNX unchanged when fake quantization is off.

int8 weights round as ONNX Runtime's static QDQ quantization rounds them (per channel,
symmetric, -127 to 127). Its activations are asymmetric uint8 (minimum to maximum), these
symmetric: on an input of one sign (after a GELU) the simulated step is twice the deployed one.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from hwnas.spaces.blocks import PRECISIONS

#: how far each training batch moves a layer's running activation range (as batch norm's)
RANGE_MOMENTUM = 0.1


def _round_ste(x: torch.Tensor) -> torch.Tensor:
    return x + (torch.round(x) - x).detach()


def quantize_weight(w: torch.Tensor, bits: int) -> torch.Tensor:
    """Symmetric per-output-channel fake quantization of a weight tensor."""
    qmax = 2 ** (bits - 1) - 1
    flat = w.detach().reshape(w.shape[0], -1)
    scale = flat.abs().amax(dim=1).clamp_min(1e-8) / qmax
    scale = scale.reshape(-1, *([1] * (w.dim() - 1)))
    return torch.clamp(_round_ste(w / scale), -qmax, qmax) * scale


def quantize_activation(
    x: torch.Tensor, bits: int, absmax: torch.Tensor | None = None
) -> torch.Tensor:
    """Symmetric per-tensor fake quantization of an activation whose range is `absmax` (by
    default the batch's own)."""
    qmax = 2 ** (bits - 1) - 1
    absmax = x.detach().abs().amax() if absmax is None else absmax
    scale = absmax.clamp_min(1e-8) / qmax
    return torch.clamp(_round_ste(x / scale), -qmax, qmax) * scale


class _HalfRoundTrip(torch.autograd.Function):
    """float16 rounding with a straight-through gradient. The casts' own backward rounds the
    gradient to float16 as well, which flushed gradients below 6e-8 to zero and rounded the
    rest to 11 bits, in the layer and in every layer before it (the more so the larger the
    batch); `x + (rounded - x).detach()` would turn an infinite input into NaN."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        return x.to(torch.float16).to(x.dtype)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        return grad


def half_round_trip(x: torch.Tensor) -> torch.Tensor:
    """`x` rounded to float16 and back; the gradient passes unrounded."""
    return _HalfRoundTrip.apply(x)


class _Quantized(nn.Module):
    """Mixin: weight and input quantization of one layer at a named precision."""

    precision: str = "fp32"
    fake_quant: bool = True

    def __init__(self, *args, precision: str = "fp32", **kwargs):
        super().__init__(*args, **kwargs)  # the layer's own (nn.Conv1d's, ...)
        self._set_precision(precision)

    def _set_precision(self, precision: str) -> None:
        if precision not in PRECISIONS:
            raise ValueError(f"unknown precision {precision!r}; choose from {list(PRECISIONS)}")
        self.precision = precision
        # the input's running absolute maximum; 0 until a training batch has been seen
        self.register_buffer("activation_range", torch.zeros(()))

    def _quant_input_and_weight(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        w = self.weight  # type: ignore[attr-defined]
        if not self.fake_quant or self.precision == "fp32":
            return x, w
        if self.precision == "fp16":
            return half_round_trip(x), half_round_trip(w)
        w_bits, a_bits = PRECISIONS[self.precision]
        return quantize_activation(x, a_bits, self._input_range(x)), quantize_weight(w, w_bits)

    def extra_repr(self) -> str:
        """The layer's own description and its precision: a printed model showed an int8
        block's layers as it showed an fp32 one's."""
        return f"{super().extra_repr()}, precision={self.precision}"

    def _input_range(self, x: torch.Tensor) -> torch.Tensor:
        """The batch's range while training (which moves the running one toward it); the
        running range in eval mode, or the batch's where no training batch was seen."""
        batch = x.detach().abs().amax()
        kept = self.activation_range
        if self.training:
            with torch.no_grad():
                kept.copy_(torch.where(kept > 0, kept.lerp(batch, RANGE_MOMENTUM), batch))
            return batch
        return torch.where(kept > 0, kept, batch)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs) -> None:
        # weights saved before ranges were kept: the batch's range in eval mode, as then
        state_dict.setdefault(prefix + "activation_range", torch.zeros(()))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)


class _QuantizedConv(_Quantized):
    """Mixin: a convolution whose weights and input are rounded at its precision."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x, w = self._quant_input_and_weight(x)
        return self._conv_forward(x, w, self.bias)  # type: ignore[attr-defined]


class QConv1d(_QuantizedConv, nn.Conv1d):
    """`nn.Conv1d` at a block's precision."""


class QConv2d(_QuantizedConv, nn.Conv2d):
    """`nn.Conv2d` at a block's precision."""


class QLinear(_Quantized, nn.Linear):
    """`nn.Linear` at a block's precision."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x, w = self._quant_input_and_weight(x)
        return F.linear(x, w, self.bias)


QUANTIZED_LAYERS = (QConv1d, QConv2d, QLinear)


def set_fake_quant(model: nn.Module, enabled: bool) -> nn.Module:
    """Turn fake quantization on (training, accuracy) or off (float export for latency)."""
    for m in model.modules():
        if isinstance(m, QUANTIZED_LAYERS):
            m.fake_quant = enabled
    return model

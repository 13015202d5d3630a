"""Token mixers, each usable on its own for 1D (B, C, L) and 2D (B, C, H, W) tensors.

Every mixer maps (B, C, *spatial) to the same shape, so any of them plugs into the one
MetaFormer block (`x + mixer(norm(x))`). `dim` selects 1D or 2D; `spatial` is the feature-map
size the mixer will see (the FFT filter is sized by it; the other mixers take any size).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from hwnas.spaces.blocks import FIXED_BRANCH, MIXERS
from hwnas.spaces.quant import QConv1d, QConv2d


def conv(
    dim: int,
    cin: int,
    cout: int,
    kernel: int | tuple[int, ...] = 1,
    *,
    stride: int = 1,
    dilation: int = 1,
    groups: int = 1,
    bias: bool = True,
    precision: str = "fp32",
    padding: int | tuple[int, ...] | None = None,
) -> nn.Module:
    """A (fake-quantizable) convolution with 'same' padding for odd kernels by default."""
    if padding is None:
        ks = kernel if isinstance(kernel, tuple) else (kernel,) * dim
        padding = tuple(dilation * (k - 1) // 2 for k in ks)
    cls = QConv1d if dim == 1 else QConv2d
    return cls(
        cin,
        cout,
        kernel,
        stride=stride,
        padding=padding,
        dilation=dilation,
        groups=groups,
        bias=bias,
        precision=precision,
    )


def norm(dim: int, channels: int) -> nn.Module:
    """BatchNorm: folds into the preceding convolution at inference, so it costs no latency."""
    return nn.BatchNorm1d(channels) if dim == 1 else nn.BatchNorm2d(channels)


class ConvMixer(nn.Sequential):
    """Dense k x k convolution."""

    def __init__(self, dim, channels, kernel, dilation, precision, spatial):
        super().__init__(
            conv(dim, channels, channels, kernel, dilation=dilation, precision=precision)
        )


class DWConvMixer(nn.Sequential):
    """Depthwise-separable: depthwise k x k, then pointwise 1 x 1."""

    def __init__(self, dim, channels, kernel, dilation, precision, spatial):
        super().__init__(
            conv(
                dim,
                channels,
                channels,
                kernel,
                dilation=dilation,
                groups=channels,
                precision=precision,
            ),
            conv(dim, channels, channels, 1, precision=precision),
        )


class MBConvMixer(nn.Sequential):
    """Inverted residual: expand 1 x 1 (x2), depthwise k x k, project 1 x 1."""

    expansion = 2

    def __init__(self, dim, channels, kernel, dilation, precision, spatial):
        hidden = channels * self.expansion
        super().__init__(
            conv(dim, channels, hidden, 1, bias=False, precision=precision),
            norm(dim, hidden),
            nn.GELU(),
            conv(
                dim,
                hidden,
                hidden,
                kernel,
                dilation=dilation,
                groups=hidden,
                bias=False,
                precision=precision,
            ),
            norm(dim, hidden),
            nn.GELU(),
            conv(dim, hidden, channels, 1, precision=precision),
        )


class LKConvMixer(nn.Module):
    """Large-kernel depthwise conv with a parallel small-kernel branch (RepLKNet/UniRepLKNet).

    Trains as two conv+BN branches; `reparameterize()` merges them (BN folded, small kernel
    zero-padded into the large one, same dilation) into a single depthwise conv for inference,
    which keeps the branches' mode, fake quantization and calibrated input range.
    """

    def __init__(self, dim, channels, kernel, dilation, precision, spatial):
        super().__init__()
        self.dim, self.kernel, self.dilation = dim, kernel, dilation
        self.small_kernel = 3 if kernel > 3 else 1
        dw = dict(groups=channels, bias=False, dilation=dilation, precision=precision)
        self.large = conv(dim, channels, channels, kernel, **dw)
        self.large_bn = norm(dim, channels)
        self.small = conv(dim, channels, channels, self.small_kernel, **dw)
        self.small_bn = norm(dim, channels)
        self.merged: nn.Module | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.merged is not None:
            return self.merged(x)
        return self.large_bn(self.large(x)) + self.small_bn(self.small(x))

    @staticmethod
    def _fold(conv_: nn.Module, bn: nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
        std = torch.sqrt(bn.running_var + bn.eps)
        scale = (bn.weight / std).reshape(-1, *([1] * (conv_.weight.dim() - 1)))
        return conv_.weight * scale, bn.bias - bn.running_mean * bn.weight / std

    @torch.no_grad()
    def reparameterize(self) -> None:
        """Compute with one depthwise conv equivalent to the two branches (eval-mode
        statistics) instead of them: the branches stay in the module, unused (its
        `state_dict` holds both forms; the ONNX export traces only the merged one)."""
        w_large, b_large = self._fold(self.large, self.large_bn)
        w_small, b_small = self._fold(self.small, self.small_bn)
        pad = (self.kernel - self.small_kernel) // 2
        w_small = F.pad(w_small, [pad] * (2 * self.dim))
        channels = w_large.shape[0]
        merged = conv(
            self.dim,
            channels,
            channels,
            self.kernel,
            dilation=self.dilation,
            groups=channels,
            bias=True,
            precision=self.large.precision,
        ).to(device=w_large.device, dtype=w_large.dtype)
        merged.weight.copy_(w_large + w_small)
        merged.bias.copy_(b_large + b_small)
        # as the branches: their mode, their fake quantization, and the calibrated range of
        # the input they both read (an eval-mode sample must not take its batch's range)
        merged.train(self.large.training)
        merged.fake_quant = self.large.fake_quant
        merged.activation_range.copy_(self.large.activation_range)
        self.merged = merged


class InceptionMixer(nn.Module):
    """InceptionNeXt: channels split into identity, a small square kernel and band kernels.

    2D: identity, 3 x 3, 1 x k and k x 1 depthwise branches. 1D: identity, 3 and k.
    """

    branch_ratio = 0.125

    def __init__(self, dim, channels, kernel, dilation, precision, spatial):
        super().__init__()
        gc = max(1, int(channels * self.branch_ratio))
        shapes: list[tuple[int, ...]] = [(FIXED_BRANCH["inception"],) * dim]
        if dim == 2:
            shapes += [(1, kernel), (kernel, 1)]
        else:
            shapes += [(kernel,)]
        self.splits = [channels - gc * len(shapes)] + [gc] * len(shapes)
        if self.splits[0] < 0:
            raise ValueError(f"inception needs at least {gc * len(shapes)} channels")
        self.branches = nn.ModuleList(
            conv(dim, gc, gc, k, groups=gc, precision=precision) for k in shapes
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        parts = torch.split(x, self.splits, dim=1)
        return torch.cat([parts[0], *(b(p) for b, p in zip(self.branches, parts[1:]))], dim=1)


class PoolMixer(nn.Module):
    """PoolFormer token mixer: average pooling minus the input."""

    def __init__(self, dim, channels, kernel, dilation, precision, spatial):
        super().__init__()
        pool = nn.AvgPool1d if dim == 1 else nn.AvgPool2d
        self.pool = pool(kernel, stride=1, padding=kernel // 2, count_include_pad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(x) - x


class AttentionMixer(nn.Module):
    """Multi-head self-attention over all positions: channels // 32 heads (at least one), of
    32 channels or more (48: one head of 48), or one head where that many do not divide the
    channels (100: one head of 100)."""

    head_channels = 32

    def __init__(self, dim, channels, kernel, dilation, precision, spatial):
        super().__init__()
        self.heads = max(1, channels // self.head_channels)
        if channels % self.heads:
            self.heads = 1
        self.qkv = conv(dim, channels, 3 * channels, 1, precision=precision)
        self.proj = conv(dim, channels, channels, 1, precision=precision)
        self.scale = (channels // self.heads) ** -0.5

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        heads_shape, out_shape = self._shapes(x)
        q, k, v = self.qkv(x).reshape(heads_shape).unbind(1)
        attn = torch.softmax((q.transpose(-2, -1) @ k) * self.scale, dim=-1)  # B h N N
        out = (v @ attn.transpose(-2, -1)).reshape(out_shape)
        return self.proj(out)

    def _shapes(self, x: torch.Tensor) -> tuple[Sequence, Sequence]:
        """The shapes `forward` reshapes to: (B, 3, heads, C / heads, N) and `x`'s own. In an
        ONNX export, constants with the batch -1: an exported graph's feature map is fixed
        (only its batch may vary; the TorchScript exporter warns that the sizes are taken as
        constants). Computed from the traced sizes of `x`, they cost the TorchScript
        exporter's dynamic-batch graph 4 Shape, 4 Gather, 6 Unsqueeze and 2 Concat nodes per
        2D block, and a deployed network of four 2D blocks ran 13-19 % slower than the
        batch-1 graph the search timed (docs/benchmarks.md)."""
        if not torch.onnx.is_in_onnx_export():
            b, c = x.shape[:2]
            return (b, 3, self.heads, c // self.heads, -1), x.shape
        c, spatial = self.proj.in_channels, [int(s) for s in x.shape[2:]]
        return (-1, 3, self.heads, c // self.heads, math.prod(spatial)), (-1, c, *spatial)


class FFTMixer(nn.Module):
    """Global frequency filter (GFNet): FFT, learned complex weights, inverse FFT. The filter
    and the transforms stay fp32 at any block precision (there are no integer FFT kernels);
    the block's MLP is quantized as usual. The filter is sized for one feature map: an input
    of another size is an error naming both (else a broadcasting error naming neither)."""

    def __init__(self, dim, channels, kernel, dilation, precision, spatial: Sequence[int]):
        super().__init__()
        self.spatial = tuple(spatial)
        freq = (*self.spatial[:-1], self.spatial[-1] // 2 + 1)
        self.weight = nn.Parameter(torch.randn(channels, *freq, 2) * 0.02)
        self.dims = tuple(range(-len(self.spatial), 0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # not while `torch.jit.trace` records sizes as tensors (a warning per block), nor
        # while `torch.fx.symbolic_trace` (FX quantization, feature extractors) passes a proxy
        traced = torch.jit.is_tracing() or isinstance(x, torch.fx.Proxy)
        if not traced and tuple(x.shape[2:]) != self.spatial:
            raise ValueError(
                f"the fft mixer was built for a feature map of {self.spatial}, not "
                f"{tuple(x.shape[2:])}: build the model for this input (space.build(arch, "
                "input_shape=...))"
            )
        spectrum = torch.fft.rfftn(x.float(), dim=self.dims, norm="ortho")
        # a float32, contiguous copy where the model was cast to bfloat16 (no complex type) or
        # to channels_last (which strides the 2D filter's last dimension), else the filter
        spectrum = spectrum * torch.view_as_complex(self.weight.float().contiguous())
        return torch.fft.irfftn(spectrum, s=self.spatial, dim=self.dims, norm="ortho").to(x.dtype)


MIXER_CLASSES: dict[str, type[nn.Module]] = {
    "conv": ConvMixer,
    "dwconv": DWConvMixer,
    "mbconv": MBConvMixer,
    "lkconv": LKConvMixer,
    "inception": InceptionMixer,
    "pool": PoolMixer,
    "attn": AttentionMixer,
    "fft": FFTMixer,
}


def build_mixer(
    name: str,
    dim: int,
    channels: int,
    kernel: int = 1,
    dilation: int = 1,
    precision: str = "fp32",
    spatial: Sequence[int] = (),
) -> nn.Module | None:
    """The named mixer, or None for `identity` (the block then has no mixing sub-layer)."""
    if name not in MIXERS:
        raise ValueError(f"unknown mixer {name!r}; choose from {list(MIXERS)}")
    if name == "identity":
        return None
    return MIXER_CLASSES[name](dim, channels, kernel, dilation, precision, spatial)

"""The VGG feature network that Gatys-style losses read (``optimize``, ``train-fast``): pure modules.

``build_loss_net`` turns a state dict in the ``vgg_normalised.pth`` or torchvision layout into a
:class:`LossNet` cut after the deepest layer a loss reads, with 3x3 convs that pad themselves
(reflection at the first conv, zeros after: Gatys' Caffe network zero-pads, and materialised
padding costs about 30% more in the backward pass on CPU). Loading files is the caller's job.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from stylize.errors import WeightsError
from stylize.models.layouts import ADAIN_VGG_NORMALISED, TORCHVISION_VGG16, TORCHVISION_VGG19, build_checked
from stylize.models.vgg import (
    NORMALISED_VGG19_LAYERS,
    NormalisedVGG19,
    TorchvisionVGG16Features,
    TorchvisionVGG19Features,
    collect,
)


class LossNet(nn.Module):
    """VGG-19 modules up to the deepest layer any loss reads; ``index`` maps names to positions."""

    def __init__(self, modules: Sequence[nn.Module], index: Mapping[str, int]) -> None:
        super().__init__()
        self.layers = nn.ModuleList(modules)
        self.index = dict(index)
        self.memory_format = torch.contiguous_format

    def features(self, x: Tensor, names: Sequence[str]) -> dict[str, Tensor]:
        """Outputs at ``names`` for images ``x`` (B, 3, H, W) in [0, 1]."""
        wanted: dict[int, list[str]] = {}
        for name in names:
            wanted.setdefault(self.index[name], []).append(name)
        return collect(list(self.layers), x.contiguous(memory_format=self.memory_format), wanted)


def build_loss_net(
    state: Mapping[str, Any],
    layers: Sequence[str],
    pooling: str,
    device: torch.device,
    source: str = "weights",
    channels_last: bool | None = None,
) -> LossNet:
    """Detect the layout of ``state`` and build the runtime network; unknown layouts are WeightsErrors.

    Layouts: ``vgg_normalised.pth``, torchvision's VGG-19, and torchvision's VGG-16 (its layer
    names: ``train-fast --loss-net vgg16``). ``layers`` must name layers of that network.
    ``channels_last`` None means on GPUs only (bf16 callers on CPU ask for it too).
    """
    if any(key.startswith("features.") for key in state):
        net = _torchvision_net(state, layers, pooling)
    elif "0.weight" in state:
        net = _normalised_net(state, layers, pooling)
    else:
        raise WeightsError(f"{source}: not a VGG in the vgg_normalised.pth or torchvision layout")
    # channels_last pays on GPUs; on CPU in fp32 it measured slower here for the training-style backward pass
    if channels_last is None:
        channels_last = device.type == "cuda"
    net.memory_format = torch.channels_last if channels_last else torch.contiguous_format
    return net.to(device, memory_format=net.memory_format).requires_grad_(False).eval()


def _normalised_net(state: Mapping[str, Any], layers: Sequence[str], pooling: str) -> LossNet:
    vgg = build_checked(lambda: NormalisedVGG19(pooling), state, ADAIN_VGG_NORMALISED)  # type: ignore[arg-type]
    deepest = max(NORMALISED_VGG19_LAYERS[name] for name in layers)
    modules = list(vgg)[: deepest + 1]
    pads = [i for i, m in enumerate(modules) if isinstance(m, nn.ReflectionPad2d)]
    for i in pads:
        modules[i + 1] = _padded(modules[i + 1], "reflect" if i == pads[0] else "zeros")  # type: ignore[arg-type]
    index = {name: i - sum(p < i for p in pads) for name, i in NORMALISED_VGG19_LAYERS.items() if i <= deepest}
    return LossNet([m for i, m in enumerate(modules) if i not in pads], index)


def torchvision_kind(state: Mapping[str, Any]) -> type[TorchvisionVGG19Features]:
    """VGG-19 or VGG-16 from torchvision's ``features.N`` keys (conv3_4 sits at 16 only in VGG-19)."""
    return TorchvisionVGG16Features if "features.16.weight" not in state else TorchvisionVGG19Features


def _torchvision_net(state: Mapping[str, Any], layers: Sequence[str], pooling: str) -> LossNet:
    kind = torchvision_kind(state)
    layout = TORCHVISION_VGG16 if kind is TorchvisionVGG16Features else TORCHVISION_VGG19
    vgg = build_checked(lambda: kind(pooling), state, layout)  # type: ignore[arg-type]
    unknown = [name for name in layers if name not in kind.layer_index]
    if unknown:
        raise WeightsError(f"layer {unknown[0]} is not in {layout}", f"its layers: {', '.join(kind.layer_index)}")
    deepest = max(kind.layer_index[name] for name in layers)
    body = list(vgg.body)[: deepest + 1]
    convs = [i for i, m in enumerate(body) if isinstance(m, nn.Conv2d)]
    for i in convs:
        body[i] = _padded(body[i], "reflect" if i == convs[0] else "zeros")  # type: ignore[arg-type]
    modules = [vgg.normalize, *body]
    index = {name: i + 1 for name, i in kind.layer_index.items() if i <= deepest}
    return LossNet(modules, index)


def _padded(conv: nn.Conv2d, mode: str) -> nn.Module:
    """A 3x3 conv sharing ``conv``'s weights that pads by one pixel itself (``zeros`` or ``reflect``)."""
    return Conv3x3(conv.weight, conv.bias, reflect=mode == "reflect")


class _WinogradConv(torch.autograd.Function):
    """Frozen 3x3 conv, stride 1, forward and input gradient both through NNPACK's Winograd kernels.

    The input gradient of a stride-1 3x3 conv is a conv of the output gradient with the flipped,
    transposed kernel (padding 2 - p), so it runs on the same fast path; no weight gradient.
    """

    @staticmethod
    def forward(ctx: Any, x: Tensor, weight: Tensor, bias: Tensor, flipped: Tensor, pad: int) -> Tensor:
        ctx.flipped, ctx.pad = flipped, pad
        return torch._nnpack_spatial_convolution(x, weight, bias, [pad, pad], [1, 1])

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:
        back = 2 - ctx.pad
        dx = torch._nnpack_spatial_convolution(grad.contiguous(), ctx.flipped, None, [back, back], [1, 1])
        return dx, None, None, None, None


def winograd_ok(x: Tensor) -> bool:
    """NNPACK runs: asked for (WINOGRAD), CPU float32 NCHW, no autocast, NNPACK built in."""
    return (
        WINOGRAD
        and x.device.type == "cpu"
        and x.dtype == torch.float32
        and not torch.is_autocast_enabled("cpu")
        and x.is_contiguous()
    )


NNPACK = bool(getattr(torch, "_nnpack_available", lambda: False)())
# opt-in since 2026-11-28: with torch 2.14.1's oneDNN 3.12, oneDNN's direct conv beat NNPACK's Winograd at
# every VGG layer here (1.07x-4x, fwd+bwd, quiet 2-core EPYC; BENCHMARKS.md), the reverse of torch 2.15's CPU
# build measured earlier. STYLIZE_WINOGRAD=1 brings it back where it wins.
WINOGRAD = NNPACK and os.environ.get("STYLIZE_WINOGRAD", "") == "1"


class Conv3x3(nn.Module):
    """A frozen VGG 3x3 conv padding one pixel (zeros or reflection) itself.

    With STYLIZE_WINOGRAD=1, on CPU in float32, it runs Winograd convolutions (NNPACK), forward and
    backward, with float32 rounding (relative error ~1e-5); otherwise it is ``F.conv2d``.
    """

    def __init__(self, weight: Tensor, bias: Tensor | None, reflect: bool = False) -> None:
        super().__init__()
        self.weight, self.bias, self.reflect = weight, bias, reflect
        self._flipped: Tensor | None = None

    def forward(self, x: Tensor) -> Tensor:  # (B, C, H, W)
        pad = 1
        if self.reflect:
            x = F.pad(x, (1, 1, 1, 1), mode="reflect" if min(x.shape[-2:]) > 1 else "replicate")
            pad = 0
        if not winograd_ok(x) or self.weight.requires_grad:
            return F.conv2d(x, self.weight, self.bias, padding=pad)
        return _WinogradConv.apply(x, self.weight, self.bias, self.flipped(), pad)

    def flipped(self) -> Tensor:
        """The kernel of the input gradient: flipped in space, in/out swapped (cached)."""
        if self._flipped is None or self._flipped.device != self.weight.device:
            self._flipped = self.weight.detach().flip(2, 3).transpose(0, 1).contiguous()
        return self._flipped

"""Inference-time rewrites of published networks that compute the same function faster.

The loaded modules keep the published state-dict layout; these wrap their weights.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn


class ReflectConv3x3(nn.Module):
    """``ReflectionPad2d(1)`` then a 3x3 ``conv`` without materialising the padded tensor.

    The interior comes from one zero-padded convolution (oneDNN pads internally, no copy);
    the four one-pixel borders, the only outputs that see the padding, are recomputed exactly
    from thin reflect-padded strips and written over it.
    """

    def __init__(self, conv: nn.Conv2d) -> None:
        super().__init__()
        self.conv = conv

    def forward(self, x: Tensor) -> Tensor:  # (B, C, H, W)
        w, b = self.conv.weight, self.conv.bias
        if min(x.shape[-2:]) < 2:
            return F.conv2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), w, b)  # reflect needs 2 px
        y = F.conv2d(x, w, b, padding=1)
        y[..., :1, :] = F.conv2d(F.pad(x[..., :2, :], (1, 1, 1, 0), mode="reflect"), w, b)
        y[..., -1:, :] = F.conv2d(F.pad(x[..., -2:, :], (1, 1, 0, 1), mode="reflect"), w, b)
        y[..., :, :1] = F.conv2d(F.pad(x[..., :, :2], (1, 0, 1, 1), mode="reflect"), w, b)
        y[..., :, -1:] = F.conv2d(F.pad(x[..., :, -2:], (0, 1, 1, 1), mode="reflect"), w, b)
        return y


def fuse_reflect_convs(net: nn.Sequential) -> nn.Sequential:
    """A new Sequential sharing ``net``'s weights, each ReflectionPad2d(1)+3x3 conv fused."""
    modules = list(net)
    out: list[nn.Module] = []
    i = 0
    while i < len(modules):
        pad, nxt = modules[i], modules[i + 1] if i + 1 < len(modules) else None
        if _fusable(pad, nxt):
            out.append(ReflectConv3x3(nxt))  # type: ignore[arg-type]
            i += 2
        else:
            out.append(pad)
            i += 1
    return nn.Sequential(*out)


def _fusable(pad: nn.Module, conv: nn.Module | None) -> bool:
    return (
        isinstance(pad, nn.ReflectionPad2d)
        and tuple(pad.padding) == (1, 1, 1, 1)
        and isinstance(conv, nn.Conv2d)
        and conv.kernel_size == (3, 3)
        and conv.padding == (0, 0)
        and conv.stride == (1, 1)
        and conv.dilation == (1, 1)
    )

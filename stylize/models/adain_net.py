"""The AdaIN decoder (Huang & Belongie 2017) in the layout of the published ``decoder.pth``.

One flat ``nn.Sequential`` of 29 modules mirroring the encoder up to relu4_1: reflection-padded
3x3 convs, nearest x2 upsampling at 3, 16 and 23, a ReLU after every conv but the last, no
normalisation. Input (B, 512, H, W) relu4_1 features; output (B, 3, 8H, 8W) RGB roughly in
[0, 1], unclamped. Pure module: no I/O, no printing.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from torch import nn

# (c_in, c_out) of each 3x3 conv, with "up" where nearest x2 upsampling sits.
DECODER_SPEC: tuple[tuple[int, int] | str, ...] = (
    (512, 256),
    "up",
    (256, 256),
    (256, 256),
    (256, 256),
    (256, 128),
    "up",
    (128, 128),
    (128, 64),
    "up",
    (64, 64),
    (64, 3),
)


def decoder_modules() -> list[nn.Module]:
    """The 29 modules of ``decoder.pth`` in order."""
    modules: list[nn.Module] = []
    for step in DECODER_SPEC:
        if step == "up":
            modules.append(nn.Upsample(scale_factor=2, mode="nearest"))
            continue
        c_in, c_out = step
        modules += [nn.ReflectionPad2d(1), nn.Conv2d(c_in, c_out, 3), nn.ReLU(inplace=True)]
    modules.pop()  # no ReLU after the last conv: the output is unclamped RGB
    return modules


class AdaINDecoder(nn.Sequential):
    """``decoder.pth`` as one flat ``nn.Sequential`` (keys ``1.weight`` … ``28.bias``)."""

    def __init__(self) -> None:
        super().__init__(*decoder_modules())

    def __getitem__(self, idx: Any) -> Any:
        if isinstance(idx, slice):  # nn.Sequential would call our __init__ with a dict
            return nn.Sequential(OrderedDict(list(self._modules.items())[idx]))
        return super().__getitem__(idx)

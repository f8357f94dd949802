"""Fused reflect-pad + conv computes exactly what the published Sequential computes."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from stylize.models.adain_net import AdaINDecoder
from stylize.models.fused import ReflectConv3x3, fuse_reflect_convs


@pytest.mark.parametrize("hw", [(1, 1), (2, 3), (7, 5), (33, 20)])
def test_reflect_conv_matches_pad_then_conv(hw: tuple[int, int]) -> None:
    torch.manual_seed(0)
    conv = nn.Conv2d(4, 5, 3)
    x = torch.randn(2, 4, *hw)
    mode = "reflect" if min(hw) >= 2 else "replicate"
    ref = conv(nn.functional.pad(x, (1, 1, 1, 1), mode=mode))
    torch.testing.assert_close(ReflectConv3x3(conv)(x), ref, rtol=1e-5, atol=1e-5)


@torch.no_grad()
def test_fused_decoder_shares_weights_and_output() -> None:
    torch.manual_seed(1)
    dec = AdaINDecoder().eval()
    fused = fuse_reflect_convs(dec)
    assert sum(isinstance(m, ReflectConv3x3) for m in fused) == 9
    assert fused[0].conv.weight is dec[1].weight  # same tensors, no copy
    x = torch.randn(1, 512, 5, 6).contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(fused(x), dec(x), rtol=1e-4, atol=1e-5)

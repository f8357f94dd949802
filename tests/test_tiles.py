"""Tiling: exact stitching for conv nets, seamless blending for nets with global statistics."""

from __future__ import annotations

from fractions import Fraction

import torch
from torch import nn

from stylize.tiles import auto_tile, blended_map, spans, tiled_map


def _net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.ReflectionPad2d(1),
        nn.Conv2d(3, 4, 3),
        nn.ReLU(),
        nn.MaxPool2d(2, 2, ceil_mode=True),
        nn.ReflectionPad2d(1),
        nn.Conv2d(4, 4, 3),
        nn.ReLU(),
    ).eval()


def test_auto_tile_is_the_given_tile_else_auto_for_large_images() -> None:
    assert auto_tile(512, (1, 3, 10, 10), 1024, 100) == 512  # --tile wins, whatever the size
    assert auto_tile(0, (1, 3, 10, 10), 1024, 100) == 0  # 100 pixels: not over the limit
    assert auto_tile(0, (1, 3, 10, 11), 1024, 100) == 1024


def test_spans_cover_everything() -> None:
    assert spans(10, 4) == [(0, 4), (4, 8), (8, 10)]
    assert spans(3, 8) == [(0, 3)]


@torch.no_grad()
def test_tiled_equals_untiled_for_conv_nets() -> None:
    net, x = _net(), torch.rand(1, 3, 40, 56)
    whole = net(x)
    tiled = tiled_map(net, x, tile=16, halo=8, scale=Fraction(1, 2))
    assert tiled.shape == whole.shape
    torch.testing.assert_close(tiled, whole, rtol=1e-5, atol=1e-5)


@torch.no_grad()
def test_upsampling_net_tiles_exactly() -> None:
    torch.manual_seed(1)
    net = nn.Sequential(
        nn.ReflectionPad2d(1),
        nn.Conv2d(2, 3, 3),
        nn.Upsample(scale_factor=2),
        nn.ReflectionPad2d(1),
        nn.Conv2d(3, 3, 3),
    ).eval()
    x = torch.rand(1, 2, 12, 20)
    torch.testing.assert_close(tiled_map(net, x, tile=4, halo=2, scale=2), net(x), rtol=1e-5, atol=1e-5)


@torch.no_grad()
def test_blending_identity_is_exact_and_instance_norm_is_seamless() -> None:
    x = torch.rand(1, 3, 50, 70)
    torch.testing.assert_close(blended_map(lambda t: t, x, tile=32, overlap=8), x)
    net = nn.Sequential(nn.Conv2d(3, 3, 3, padding=1), nn.InstanceNorm2d(3, affine=False)).eval()
    out = blended_map(net, x, tile=32, overlap=16)
    whole = net(x)
    assert out.shape == whole.shape
    # no seam: the horizontal gradient across a tile border is no larger than elsewhere
    grad = (out[..., 1:] - out[..., :-1]).abs().mean(dim=(0, 1, 2))
    assert grad.max() < 3 * grad.median()

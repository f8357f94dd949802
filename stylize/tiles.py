"""Running networks over images too large for memory, one tile at a time.

``tiled_map`` is exact for translation-equivariant conv nets (VGG encoder, AdaIN decoder): each
tile is extended by a halo at least half the receptive field, tile origins are aligned to the
network's total stride, and only the tile's core is kept, so the stitched result equals the
untiled one up to float rounding. ``blended_map`` is for nets with per-image statistics
(InstanceNorm): overlapping tiles are cross-faded with linear ramps so no seam shows.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from fractions import Fraction

import torch
from torch import Tensor

Net = Callable[[Tensor], Tensor]


def auto_tile(tile: int, shape: Sequence[int], auto: int, max_pixels: int) -> int:
    """The tile side to run at: ``tile`` (--tile) when given, else ``auto`` for an image (``shape`` ends
    in H, W) of more than ``max_pixels``, else 0 (untiled)."""
    if tile:
        return tile
    return auto if shape[-1] * shape[-2] > max_pixels else 0


def spans(length: int, tile: int) -> list[tuple[int, int]]:
    """Split ``[0, length)`` into consecutive core intervals of at most ``tile``."""
    return [(start, min(start + tile, length)) for start in range(0, length, tile)]


def _extend(span: tuple[int, int], halo: int, length: int) -> tuple[int, int]:
    return max(0, span[0] - halo), min(length, span[1] + halo)


def _scaled(value: int, scale: Fraction) -> int:
    scaled = value * scale
    if scaled.denominator != 1:
        raise ValueError(f"tile edge {value} is not aligned to the network's stride (scale {scale})")
    return int(scaled)


def tiled_map(net: Net, x: Tensor, tile: int, halo: int, scale: Fraction | int = 1) -> Tensor:
    """Apply ``net`` to ``x`` (B, C, H, W) in tiles; the output is ``scale`` times the input size.

    ``tile`` and ``halo`` must be multiples of the network's stride so tiles stay aligned.
    """
    scale = Fraction(scale)
    _, _, h, w = x.shape
    out: Tensor | None = None
    for ys in spans(h, tile):
        for xs in spans(w, tile):
            (ey0, ey1), (ex0, ex1) = _extend(ys, halo, h), _extend(xs, halo, w)
            piece = net(x[:, :, ey0:ey1, ex0:ex1])
            if out is None:
                out = piece.new_empty((x.shape[0], piece.shape[1], _scaled(h, scale), _scaled(w, scale)))
            oy, ox = _scaled(ys[0] - ey0, scale), _scaled(xs[0] - ex0, scale)
            ty, tx = _scaled(ys[1] - ys[0], scale), _scaled(xs[1] - xs[0], scale)
            out[:, :, _scaled(ys[0], scale) : _scaled(ys[1], scale), _scaled(xs[0], scale) : _scaled(xs[1], scale)] = (
                piece[:, :, oy : oy + ty, ox : ox + tx]
            )
    assert out is not None
    return out


def _starts(length: int, tile: int, overlap: int) -> list[int]:
    if length <= tile:
        return [0]
    stride = tile - overlap
    starts = list(range(0, length - tile, stride))
    return starts + [length - tile]


def _ramp(size: int, lo_fade: int, hi_fade: int) -> Tensor:
    """1 inside, rising over ``lo_fade`` px at the start and falling over ``hi_fade`` at the end."""
    ramp = torch.ones(size)
    if lo_fade:
        ramp[:lo_fade] = torch.linspace(0, 1, lo_fade + 2)[1:-1]
    if hi_fade:
        ramp[size - hi_fade :] = torch.linspace(1, 0, hi_fade + 2)[1:-1]
    return ramp


def _weights(starts: list[int], index: int, tile: int, length: int) -> Tensor:
    start = starts[index]
    size = min(tile, length - start)
    lo = starts[index - 1] + tile - start if index > 0 else 0
    hi = start + size - starts[index + 1] if index + 1 < len(starts) else 0
    return _ramp(size, max(lo, 0), max(hi, 0))


def blended_map(net: Net, x: Tensor, tile: int, overlap: int) -> Tensor:
    """Apply a same-size ``net`` in overlapping tiles, cross-fading the overlaps linearly."""
    _, _, h, w = x.shape
    ys, xs = _starts(h, tile, overlap), _starts(w, tile, overlap)
    acc: Tensor | None = None
    total = torch.zeros(1, 1, h, w, device=x.device)
    for i, y in enumerate(ys):
        wy = _weights(ys, i, tile, h).to(x.device)
        for j, x0 in enumerate(xs):
            wx = _weights(xs, j, tile, w).to(x.device)
            piece = net(x[:, :, y : y + tile, x0 : x0 + tile]).float()
            if acc is None:
                acc = torch.zeros(x.shape[0], piece.shape[1], h, w, device=x.device)
            weight = (wy[:, None] * wx[None, :])[None, None]  # (1, 1, th, tw)
            acc[:, :, y : y + piece.shape[2], x0 : x0 + piece.shape[3]] += piece * weight
            total[:, :, y : y + piece.shape[2], x0 : x0 + piece.shape[3]] += weight
    assert acc is not None
    return acc / total

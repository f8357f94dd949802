"""Pure tensor maths for style transfer: statistics, AdaIN, Gram, TV, colour, padding.

No I/O and no printing. Everything works with ``channels_last`` tensors and under
``torch.autocast``; statistics and colour maths run in at least float32 for accuracy.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

Pads = tuple[int, int, int, int]  # (top, bottom, left, right)
PadMode = Literal["reflect", "replicate", "constant"]


def at_least_float32(x: Tensor) -> Tensor:
    """``x`` widened to float32 when narrower (bf16/fp16 from autocast); float32 and float64 stay."""
    return x if x.dtype in (torch.float32, torch.float64) else x.float()


def _no_autocast(x: Tensor) -> torch.autocast:
    return torch.autocast(device_type=x.device.type, enabled=False)


# --- AdaIN -----------------------------------------------------------------------------------


def mean_std(feat: Tensor, eps: float = 1e-5) -> tuple[Tensor, Tensor]:
    """Per-channel mean and sqrt(unbiased variance over H*W + eps), each (B, C, 1, 1).

    The convention the published AdaIN decoder was trained with. Low-precision input is
    upcast, so the statistics come back in float32 (float64 stays float64).
    """
    feat = at_least_float32(feat)  # (B, C, H, W)
    # differs from the AdaIN reference for a 1x1 map: it returns NaN there, we a variance of 0
    correction = 1 if feat.shape[-1] * feat.shape[-2] > 1 else 0
    var, mean = torch.var_mean(feat, dim=(-2, -1), correction=correction, keepdim=True)
    return mean, (var + eps).sqrt()


def adain(
    content_feat: Tensor,
    style_mean: Tensor,
    style_std: Tensor,
    alpha: float = 1.0,
    eps: float = 1e-5,
    content_stats: tuple[Tensor, Tensor] | None = None,
) -> Tensor:
    """Give ``content_feat`` (B, C, H, W) the per-channel ``style_mean``/``style_std`` (B, C, 1, 1).

    ``alpha`` blends with the content, ``alpha * adain + (1 - alpha) * content`` (Huang &
    Belongie 2017); the whole map is folded into one fused multiply-add over the features.
    ``content_stats``: the (mean, std) to normalise by instead of the map's own (a video's,
    smoothed over time).
    """
    c_mean, c_std = content_stats if content_stats is not None else mean_std(content_feat, eps)
    scale = style_std / c_std  # (B, C, 1, 1)
    shift = style_mean - c_mean * scale
    if alpha != 1.0:
        scale, shift = alpha * scale + (1.0 - alpha), alpha * shift
    dtype = content_feat.dtype
    return torch.addcmul(shift.to(dtype), content_feat, scale.to(dtype))


def adain_feats(content: Tensor, style: Tensor, alpha: float = 1.0, eps: float = 1e-5) -> Tensor:
    """AdaIN of ``content`` (B, C, H, W) towards the statistics of ``style`` (B or 1, C, h, w)."""
    style_mean, style_std = mean_std(style, eps)
    return adain(content, style_mean, style_std, alpha=alpha, eps=eps)


def sorted_features(feat: Tensor) -> Tensor:
    """Each channel's values of ``feat`` (1, C, H, W) in ascending order, (1, C, H*W) float32: what
    :func:`efdm` needs of a style."""
    return at_least_float32(feat).flatten(2).sort(dim=-1).values


def efdm(content_feat: Tensor, style_sorted: Tensor) -> Tensor:
    """Exact feature distribution matching (Zhang et al., CVPR 2022): each channel of
    ``content_feat`` (B, C, H, W) takes the style's values (``style_sorted``, (1, C, N) from
    :func:`sorted_features`) in the order of its own, so every channel's whole distribution becomes
    the style's, not only its mean and std (AdaIN). A style of another size is resampled along
    its sorted values (linear interpolation of the quantiles)."""
    b, c, h, w = content_feat.shape
    flat = at_least_float32(content_feat).flatten(2)  # (B, C, N)
    target = style_sorted.float()
    if target.shape[-1] != flat.shape[-1]:
        target = F.interpolate(target, size=flat.shape[-1], mode="linear", align_corners=True)
    out = torch.empty_like(flat)
    out.scatter_(-1, flat.argsort(dim=-1), target.expand(b, -1, -1).contiguous())
    return out.view(b, c, h, w).to(content_feat.dtype)


# ridge added to the photo's covariance before whitening, relative to its mean variance: keeps a photo
# with flat or few feature pixels (a singular covariance) finite. Differs from Li et al. 2017's reference
# code (adds I, about 0.3 of relu4_1's mean variance on the bundled VGG-19) because a ridge that large
# visibly smoothed the marks away (a cat x Starry Night / Composition VII at 0, 0.001, 0.01, 0.1, 0.3:
# 0 to 0.01 look alike, 0.3 is soft).
WCT_RIDGE = 0.01


def wct_colouring(style_feat: Tensor) -> tuple[Tensor, Tensor]:
    """What :func:`wct` needs of a style: the mean (1, C, 1, 1) and the colouring matrix
    cov^(1/2) (1, C, C) of ``style_feat`` (1, C, H, W), float32 (computed in float64). A style
    with fewer feature pixels than channels has a low-rank covariance; its square root is still
    exact (null directions get no variance)."""
    flat = at_least_float32(style_feat).flatten(2).double()  # (1, C, N)
    with _no_autocast(flat):
        mean, cov = _mean_cov(flat, 0.0)
        colour = _sym_power(cov, 0.5, 0.0)
    return mean[..., None].float(), colour.float()


def wct(
    content_feat: Tensor,
    style_mean: Tensor,
    style_colour: Tensor,
    reference: Tensor | None = None,
    ridge: float = WCT_RIDGE,
) -> Tensor:
    """Whitening and colouring transform (Li et al. 2017): ``content_feat`` (B, C, H, W) is
    centred and whitened by its own covariance (``reference`` (B, C, N): whiten by these pixels'
    statistics instead, a mask's region), then coloured with the style's (``style_colour`` from
    :func:`wct_colouring`) and given its mean. Unlike AdaIN's per-channel spread, the channels'
    correlations become the style's. Statistics in float64, the transform applied in float32."""
    b, c, h, w = content_feat.shape
    flat = at_least_float32(content_feat).flatten(2)  # (B, C, N)
    source = flat if reference is None else at_least_float32(reference)
    with _no_autocast(flat):
        mean, cov = _mean_cov(source.double(), 0.0)  # (B, C, 1), (B, C, C)
        scale = ridge * cov.diagonal(dim1=-2, dim2=-1).mean(-1) + 1e-12  # (B,)
        cov = cov + scale[:, None, None] * torch.eye(c, dtype=cov.dtype, device=cov.device)
        matrix = (style_colour.double() @ _sym_power(cov, -0.5, 1e-12)).float()  # (B, C, C)
        out = torch.baddbmm(style_mean.flatten(2).float().expand(b, -1, -1), matrix, flat - mean.float())
    return out.view(b, c, h, w).to(content_feat.dtype)


# --- losses ----------------------------------------------------------------------------------


def gram(feat: Tensor) -> Tensor:
    """Gram matrix (B, C, C) of ``feat`` (B, C, H, W), divided by C*H*W.

    Dividing by C*H*W (pytorch/examples' convention) keeps the values comparable across
    layers and image sizes; Gatys et al. 2016 use raw sums and weight by 1/(4 N^2 M^2).
    """
    b, c, h, w = feat.shape
    return _Gram.apply(feat.reshape(b, c, h * w), c * h * w)  # (B, C, C)


class _Gram(torch.autograd.Function):
    """``flat flat^T / scale`` for ``flat`` (B, C, N), with a one-bmm backward (autograd's needs two)."""

    @staticmethod
    def forward(ctx: torch.autograd.function.FunctionCtx, flat: Tensor, scale: int) -> Tensor:
        ctx.save_for_backward(flat)
        ctx.scale = scale  # type: ignore[attr-defined]
        return torch.bmm(flat, flat.transpose(1, 2)).div_(scale)

    @staticmethod
    def backward(ctx: torch.autograd.function.FunctionCtx, grad: Tensor) -> tuple[Tensor, None]:
        (flat,) = ctx.saved_tensors  # type: ignore[attr-defined]
        sym = (grad + grad.transpose(1, 2)).div_(ctx.scale).to(flat.dtype)  # type: ignore[attr-defined]
        return torch.bmm(sym, flat), None  # (B, C, N)


def _mean_square(diff: Tensor) -> Tensor:
    return diff.square().sum() / max(diff.numel(), 1)  # 0 for an empty diff (H or W = 1)


def tv_loss(img: Tensor) -> Tensor:
    """Total variation: mean squared difference between vertical plus horizontal neighbours.

    ``img`` is (..., H, W); zero on a constant image.
    """
    dy = img[..., 1:, :] - img[..., :-1, :]
    dx = img[..., :, 1:] - img[..., :, :-1]
    return _mean_square(dy) + _mean_square(dx)


# --- colour ----------------------------------------------------------------------------------

# FCC NTSC RGB -> YIQ; rows Y, I, Q. The I and Q rows sum to 0, so grey has no chroma.
_RGB_TO_YIQ = torch.tensor(
    [[0.299, 0.587, 0.114], [0.5959, -0.2746, -0.3213], [0.2115, -0.5227, 0.3112]], dtype=torch.float64
)
_YIQ_TO_RGB = torch.linalg.inv(_RGB_TO_YIQ)


def _mix_channels(matrix: Tensor, x: Tensor) -> Tensor:
    """``matrix`` (3, 3) applied to the channel axis of ``x`` (..., 3, H, W)."""
    if x.shape[-3] != 3:
        raise ValueError(f"expected 3 colour channels at dim -3, got shape {tuple(x.shape)}")
    x = at_least_float32(x)
    with _no_autocast(x):
        return torch.einsum("ij,...jhw->...ihw", matrix.to(x.device, x.dtype), x)


def rgb_to_yiq(rgb: Tensor) -> Tensor:
    """RGB (..., 3, H, W) -> YIQ (..., 3, H, W); float32 or float64."""
    return _mix_channels(_RGB_TO_YIQ, rgb)


def yiq_to_rgb(yiq: Tensor) -> Tensor:
    """YIQ (..., 3, H, W) -> RGB (..., 3, H, W), the exact inverse of ``rgb_to_yiq``."""
    return _mix_channels(_YIQ_TO_RGB, yiq)


def gray(rgb: Tensor) -> Tensor:
    """Luminance (Y of YIQ) repeated on three channels: (B, 3, H, W) -> (B, 3, H, W)."""
    return rgb_to_yiq(rgb)[:, :1].expand(-1, 3, -1, -1).contiguous()


def _luma(rgb: Tensor) -> Tensor:
    """Y channel (..., 1, H, W) of RGB (..., 3, H, W)."""
    return _mix_channels(_RGB_TO_YIQ, rgb)[..., :1, :, :]


def _resize_like(x: Tensor, like: Tensor) -> Tensor:
    if x.shape[-2:] == like.shape[-2:]:
        return x
    batch = x if x.dim() == 4 else x.unsqueeze(0)
    size = tuple(like.shape[-2:])
    out = F.interpolate(batch, size=size, mode="bilinear", align_corners=False, antialias=True)
    return out if x.dim() == 4 else out.squeeze(0)


def luminance_transfer(stylized: Tensor, content: Tensor) -> Tensor:
    """``stylized``'s luminance with ``content``'s chroma (I, Q), as RGB (..., 3, H, W).

    Gatys et al. 2017 colour preservation as a post-process. YIQ -> RGB maps a change of Y to
    the same change in R, G and B, so this adds the luminance difference to the content.
    ``content`` is resized to ``stylized`` if needed. Unclamped; float32 or float64.
    """
    content = at_least_float32(_resize_like(content, stylized))
    return content + (_luma(stylized) - _luma(content))


def _mean_cov(x: Tensor, eps: float) -> tuple[Tensor, Tensor]:
    """Mean (B, C, 1) and covariance + eps*I (B, C, C) of pixels ``x`` (B, C, N)."""
    mean = x.mean(dim=-1, keepdim=True)
    centred = x - mean
    cov = centred @ centred.transpose(1, 2) / max(x.shape[-1], 1)
    return mean, cov + eps * torch.eye(x.shape[1], dtype=x.dtype, device=x.device)


def _sym_power(cov: Tensor, power: float, eps: float) -> Tensor:
    """``cov`` ** ``power`` for symmetric PSD (B, C, C), through an eigendecomposition in float64."""
    evals, evecs = torch.linalg.eigh(cov.double())
    return (evecs * evals.clamp_min(eps).pow(power).unsqueeze(-2)) @ evecs.transpose(-1, -2)


def _as_pixels(img: Tensor) -> Tensor:
    """(3, H, W) or (B, 3, H, W) -> (B, 3, H*W) in float32 or float64."""
    if img.dim() not in (3, 4) or img.shape[-3] != 3:
        raise ValueError(f"expected (3, H, W) or (B, 3, H, W), got shape {tuple(img.shape)}")
    batch = img if img.dim() == 4 else img.unsqueeze(0)
    return at_least_float32(batch).reshape(batch.shape[0], 3, -1)


def match_color(src: Tensor, ref: Tensor, eps: float = 1e-5, clamp: bool = True) -> Tensor:
    """Recolour ``src`` so its pixels have ``ref``'s colour mean and covariance.

    Gatys et al. 2017 colour histogram matching, image-analogies variant:
    x' = A (x - mu_src) + mu_ref with A = cov_ref^(1/2) cov_src^(-1/2). Images are (3, H, W)
    or (B, 3, H, W) in [0, 1] (``ref`` may have batch 1 and any size); the result has
    ``src``'s shape and dtype and is clamped to [0, 1] unless ``clamp`` is False.
    """
    xs, xr = _as_pixels(src), _as_pixels(ref)  # (B, 3, N)
    with _no_autocast(xs):
        mu_s, cov_s = _mean_cov(xs, eps)
        mu_r, cov_r = _mean_cov(xr, eps)
        a = _sym_power(cov_r, 0.5, eps) @ _sym_power(cov_s, -0.5, eps)  # (B, 3, 3) float64
        a = a.to(xs.dtype)
        out = a @ xs + (mu_r - a @ mu_s)  # (B, 3, N)
    out = out.reshape(-1, *src.shape[-3:])
    out = out.clamp_(0.0, 1.0) if clamp else out
    return (out if src.dim() == 4 else out.squeeze(0)).to(src.dtype)


# --- palette: the painting's colour distribution ------------------------------------------

PALETTE_GRID = 33  # lookup-table points per colour axis: 33^3 entries, smooth between them
PALETTE_SAMPLES = 8192  # pixels drawn from each picture to estimate its colour distribution
PALETTE_SLICES = 16  # random rotations of the colour space, each matched one axis at a time
PALETTE_KNOTS = 64  # quantiles per axis: the 1-D maps are piecewise linear between them


def pixel_sample(img: Tensor, count: int = PALETTE_SAMPLES, where: Tensor | None = None) -> Tensor:
    """``count`` pixels (count, 3) of ``img`` (3, H, W) or (1, 3, H, W), drawn with replacement by a
    fixed seed, float32 on the CPU. ``where`` (H, W) weighs the draw (a mask); a uniform one (all
    white, or all black) draws as none does."""
    pixels = _as_pixels(img)[0].float().cpu().T  # (N, 3)
    generator = torch.Generator().manual_seed(0)
    weights = None if where is None else where.reshape(-1).float().cpu().clamp_min(0)
    if weights is None or bool((weights == weights[0]).all()):
        return pixels[torch.randint(len(pixels), (count,), generator=generator)]
    return pixels[torch.multinomial(weights, count, replacement=True, generator=generator)]


def palette_knots(target: Tensor, weights: Tensor | None = None) -> Tensor:
    """What :func:`palette_lut` matches to: the quantiles (SLICES, KNOTS, 3) of the ``target`` pixels
    (M, 3), RGB in [0, 1], along each of its rotations; ``weights`` (M,) weigh the pixels (a blend of
    styles: each style's pixels by its share). Computed once per style, reused for every picture."""
    target = target.float().cpu()
    mass = torch.ones(len(target)) if weights is None else weights.float().cpu()
    target, mass = target[mass > 0], mass[mass > 0]  # a blend's style at weight 0 is no part of it
    return torch.stack([_quantiles(target @ rotation, mass) for rotation in _rotations()])


def palette_lut(source: Tensor, knots: Tensor, cells: Tensor | None = None) -> Tensor:
    """A colour lookup table (3, G, G, G), indexed [channel, b, g, r], that moves the colour
    distribution of the ``source`` pixels (N, 3) onto the target's (its :func:`palette_knots`), RGB in [0, 1].

    Iterative distribution transfer (Pitié et al. 2005): rotate the colour space at random, match each
    axis's quantiles, repeat. The maps are computed on the samples and applied to the table's grid
    too, so an image is recoloured by one trilinear lookup per pixel (:func:`apply_lut`), smoothly:
    no speckle from ties, the same colour always gets the same colour.

    ``cells`` (G³,) bool, from :func:`lut_cells`: only those table points are mapped (the rest keep
    their own colour), for a table that will recolour one known image: the same pixels, a fraction
    of the work (a photo touches a few thousand of the 35,937 points)."""
    # differs from Pitié et al. (1-D maps on every pixel, fresh rotations until it converges) because a
    # table is smooth and costs one lookup a pixel, and 16 fixed rotations get most of what 24 do (style
    # ratio 0.546 against 0.527 on 6 held-out pairs, BENCHMARKS.md) while a painting's quantiles are
    # computed once
    # in numpy: its sort (SIMD) and interp run 20x and 1.5x faster than torch's sort and searchsorted on
    # these small arrays, which were most of the table's 110 ms on a CPU (BENCHMARKS.md); same maps
    grid = _grid().numpy()
    chosen = grid if cells is None else grid[cells.cpu().numpy()]
    points = np.concatenate([source.float().cpu().numpy(), chosen])  # the samples move, the table too
    count = len(source)
    levels = (np.linspace(0.0, 1.0, PALETTE_KNOTS) * (count - 1)).round().astype(np.int64)
    for rotation, knots_to in zip(_rotations(), knots.numpy()):
        r = rotation.numpy()
        turned = np.ascontiguousarray((points @ r).T)  # (3, N)
        knots_from = np.sort(turned[:, :count], axis=1)[:, levels]  # (3, K) quantiles of the samples
        moved = np.stack([_piecewise(axis, knots_from[c], knots_to[:, c]) for c, axis in enumerate(turned)])
        points += ((moved - turned).T @ r.T).astype(np.float32)
    if cells is None:
        table = torch.from_numpy(points[count:])
    else:
        table = torch.from_numpy(grid.copy())
        table[cells.cpu()] = torch.from_numpy(points[count:])
    return table.clamp_(0.0, 1.0).T.reshape(3, PALETTE_GRID, PALETTE_GRID, PALETTE_GRID).contiguous()


def lut_cells(img: Tensor) -> Tensor:
    """The lookup-table points (G³,) bool, in :func:`_grid`'s order, that :func:`apply_lut` reads for
    ``img`` (B, 3, H, W) in [0, 1]: the 8 corners of each pixel's cell."""
    g = PALETTE_GRID
    x = at_least_float32(img).detach().clamp(0.0, 1.0).cpu()
    low = (x * (g - 1)).floor().long().clamp_(0, g - 2)  # (B, 3, H, W): the cell's lower corner per channel
    r, gr, b = low[:, 0].reshape(-1), low[:, 1].reshape(-1), low[:, 2].reshape(-1)
    used = torch.zeros(g * g * g, dtype=torch.bool)
    used[(b * g + gr) * g + r] = True
    used = used.reshape(g, g, g)  # [b, g, r]
    for axis in range(3):  # and the upper corner along each axis: all 8 corners
        grown = used.clone()
        grown.narrow(axis, 1, g - 1).logical_or_(used.narrow(axis, 0, g - 1))
        used = grown
    return used.reshape(-1)


@functools.cache
def _rotations() -> tuple[Tensor, ...]:
    """The fixed random rotations of the colour space (PALETTE_SLICES of them, 3x3): the same for
    every picture, so a target's quantiles along them can be computed once (read-only)."""
    generator = torch.Generator().manual_seed(0)
    return tuple(torch.linalg.qr(torch.randn(3, 3, generator=generator))[0] for _ in range(PALETTE_SLICES))


@functools.cache
def _grid() -> Tensor:
    """The lookup table's points (G³, 3), RGB, in the [channel, b, g, r] order of its shape (read-only)."""
    axis = torch.linspace(0.0, 1.0, PALETTE_GRID)
    b, g, r = torch.meshgrid(axis, axis, axis, indexing="ij")
    return torch.stack([r, g, b], dim=-1).reshape(-1, 3)


def _quantiles(x: Tensor, weights: Tensor) -> Tensor:
    """Per column of ``x`` (M, C), the quantiles (PALETTE_KNOTS, C) of its values weighted by
    ``weights`` (M,): at each fraction, the first value whose cumulative weight reaches it (so a set
    of values and the same set twice over have the same quantiles: a style blended with itself)."""
    ordered, order = torch.sort(x, dim=0)
    mass = torch.cumsum(weights[order], dim=0)  # (M, C)
    mass = mass / mass[-1:]
    fractions = torch.linspace(0.0, 1.0, PALETTE_KNOTS).expand(x.shape[1], -1).contiguous()
    i = torch.searchsorted(mass.T.contiguous(), fractions).T  # (K, C)
    return ordered.gather(0, i.clamp_(0, len(x) - 1))


def _piecewise(x: np.ndarray, knots_from: np.ndarray, knots_to: np.ndarray) -> np.ndarray:
    """``x`` (N,) through the non-decreasing piecewise-linear map knots_from -> knots_to (K,); flat beyond
    the end knots and across ties (at a tie, the last knot's value), float32."""
    return np.interp(x, knots_from, knots_to).astype(np.float32)


def apply_lut(img: Tensor, lut: Tensor, strength: float = 1.0) -> Tensor:
    """``img`` (B, 3, H, W) in [0, 1] recoloured through ``lut`` (3, G, G, G) from
    :func:`palette_lut`, blended with the original by ``strength``; float32, clamped to [0, 1]."""
    x = at_least_float32(img).clamp(0.0, 1.0)
    with _no_autocast(x):
        grid = (x.permute(0, 2, 3, 1).reshape(1, 1, 1, -1, 3) * 2.0 - 1.0).float()  # (x, y, z) = (r, g, b)
        table = lut.to(device=x.device, dtype=torch.float32).unsqueeze(0)
        looked = F.grid_sample(table, grid, mode="bilinear", padding_mode="border", align_corners=True)
        looked = looked.reshape(3, x.shape[0], x.shape[2], x.shape[3]).permute(1, 0, 2, 3)
        out = looked if strength == 1.0 else torch.lerp(x.float(), looked, strength)
    return out.clamp_(0.0, 1.0).contiguous()


# --- padding ---------------------------------------------------------------------------------


def pad_to_multiple(x: Tensor, m: int, mode: PadMode = "reflect") -> tuple[Tensor, Pads]:
    """Pad H and W of ``x`` (..., H, W) up to multiples of ``m``, split evenly around the image.

    Returns the padded tensor and (top, bottom, left, right). Reflection needs each pad to be
    smaller than its side, so tiny images fall back to replicate padding.
    """
    if m < 1:
        raise ValueError(f"multiple must be >= 1, got {m}")
    h, w = x.shape[-2:]
    ph, pw = -h % m, -w % m
    pads = (ph // 2, ph - ph // 2, pw // 2, pw - pw // 2)
    if not any(pads):
        return x, pads
    if mode == "reflect" and (max(pads[:2]) >= h or max(pads[2:]) >= w):
        mode = "replicate"
    return F.pad(x, (pads[2], pads[3], pads[0], pads[1]), mode=mode), pads


def crop_padding(x: Tensor, pads: Pads) -> Tensor:
    """Undo ``pad_to_multiple``: a view of ``x`` (..., H, W) without the padding."""
    top, bottom, left, right = pads
    h, w = x.shape[-2:]
    return x[..., top : h - bottom, left : w - right]


def normalised_weights(weights: Sequence[float] | None, count: int) -> list[float]:
    """``weights`` (or ``count`` equal ones) scaled to sum 1; all-zero weights stay as they are."""
    values = list(weights) if weights is not None else [1.0] * count
    total = sum(values)
    return [v / total for v in values] if total > 0 else values

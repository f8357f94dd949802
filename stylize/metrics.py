"""Quality numbers that no method of ours optimises, beside ``stylize eval``'s Gram and relu4_2 ones.

- :func:`patch_swd`: a second style number. The sliced Wasserstein distance between the 3x3 colour
  patches of two images in CIELAB, so it sees the colours and the fine marks of a painting (dots,
  hatching, strokes), not VGG features. Units: Lab (L* in 0..100); 0 = the same patch distribution.
- :func:`structure_distance`: a content structure number (CFSD, Chung et al. 2024): how far the
  output's relu3_1 self-similarity (which part of the picture resembles which) moved from the
  content's, as a KL divergence. 0 = the same layout of similar regions, whatever the colours.

Pure tensor maths: no I/O, fixed seeds, so the same pictures always give the same numbers.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

PATCH = 3  # px: a patch is PATCH x PATCH pixels in Lab (27 numbers)
PROJECTIONS = 64  # random directions of the sliced distance
QUANTILES = 256  # points each projected distribution is compared at
MAX_PATCHES = 32768  # patches sampled per image (all of them below this)
SEED = 0
SIM_SIDE = 32  # feature px: relu3_1 maps are average-pooled to at most this long side for CFSD
SIM_TEMPERATURE = 0.1  # cosine similarities / this before the softmax (1 makes every row near uniform)

# sRGB D65 -> XYZ (IEC 61966-2-1), and the D65 white point
_RGB_TO_XYZ = ((0.4124564, 0.3575761, 0.1804375), (0.2126729, 0.7151522, 0.0721750), (0.0193339, 0.1191920, 0.9503041))
_WHITE = (0.95047, 1.0, 1.08883)


def rgb_to_lab(rgb: Tensor) -> Tensor:
    """CIELAB (D65) of sRGB ``rgb`` (B, 3, H, W) in [0, 1]; L* in 0..100, a*, b* about -100..100."""
    rgb = rgb.float().clamp(0.0, 1.0)
    linear = torch.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    matrix = torch.tensor(_RGB_TO_XYZ, dtype=rgb.dtype, device=rgb.device)
    xyz = torch.einsum("ij,bjhw->bihw", matrix, linear)
    xyz = xyz / torch.tensor(_WHITE, dtype=rgb.dtype, device=rgb.device).view(1, 3, 1, 1)
    delta = 6.0 / 29.0
    f = torch.where(xyz > delta**3, xyz.clamp_min(1e-12) ** (1.0 / 3.0), xyz / (3 * delta**2) + 4.0 / 29.0)
    fx, fy, fz = f.unbind(1)
    return torch.stack([116.0 * fy - 16.0, 500.0 * (fx - fy), 200.0 * (fy - fz)], dim=1)


def lab_patches(rgb: Tensor, generator: torch.Generator) -> Tensor:
    """Up to MAX_PATCHES PATCH x PATCH Lab patches of ``rgb`` (1, 3, H, W), (N, 3 * PATCH**2).

    A picture thinner than a patch is edge-padded to one patch so it still has a score.
    """
    lab = rgb_to_lab(rgb)
    pad_h, pad_w = max(0, PATCH - lab.shape[-2]), max(0, PATCH - lab.shape[-1])
    if pad_h or pad_w:
        lab = F.pad(lab, (0, pad_w, 0, pad_h), mode="replicate")
    patches = F.unfold(lab, PATCH)[0].T  # (positions, 27)
    if patches.shape[0] > MAX_PATCHES:
        keep = torch.randperm(patches.shape[0], generator=generator)[:MAX_PATCHES]
        patches = patches[keep]
    return patches


def patch_swd(output: Tensor, style: Tensor) -> float:
    """Sliced Wasserstein-1 distance between the Lab patch distributions of ``output`` and
    ``style`` (each (1, 3, H, W) in [0, 1], any sizes): the mean over PROJECTIONS fixed random
    directions of the mean absolute difference of QUANTILES quantiles."""
    generator = torch.Generator().manual_seed(SEED)
    a, b = lab_patches(output.cpu(), generator), lab_patches(style.cpu(), generator)
    directions = F.normalize(torch.randn(a.shape[1], PROJECTIONS, generator=generator), dim=0)
    q = torch.linspace(0.0, 1.0, QUANTILES)
    qa = torch.quantile(a @ directions, q, dim=0)  # (QUANTILES, PROJECTIONS)
    qb = torch.quantile(b @ directions, q, dim=0)
    return float((qa - qb).abs().mean())


def self_similarity(feat: Tensor) -> Tensor:
    """Row-softmax of the cosine similarity between the positions of ``feat`` (1, C, H, W),
    pooled to at most SIM_SIDE on its long side: (N, N), each row a distribution."""
    h, w = feat.shape[-2:]
    scale = max(1, -(-max(h, w) // SIM_SIDE))
    pooled = F.avg_pool2d(feat.float(), scale, ceil_mode=True) if scale > 1 else feat.float()
    x = F.normalize(pooled.flatten(2)[0].T, dim=1)  # (N, C)
    return torch.log_softmax(x @ x.T / SIM_TEMPERATURE, dim=1)


def structure_distance(output_feat: Tensor, content_feat: Tensor) -> float:
    """CFSD: KL(content || output) of the rows of their self-similarity, mean over rows. Both
    relu3_1 maps (1, C, H, W) of the same size."""
    log_c, log_o = self_similarity(content_feat), self_similarity(output_feat)
    return float((log_c.exp() * (log_c - log_o)).sum(dim=1).mean())

"""Latents from seeds for the GAN generators in ``generator.py``: pure tensor maths, no I/O.

Each seed draws its latent (then its class, then its noise maps) from its own ``torch.Generator``
on the CPU, so an image depends on its seed only, never on the batch it is computed in or on the
device. Interpolation is spherical between Gaussian latents.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass
class SeedInputs:
    """Per-seed inputs, drawn on the CPU: z (N, latent), classes (N,) or None, noise per layer."""

    z: Tensor
    classes: Tensor | None
    noise: list[Tensor] | None = None  # one (N, 1, H, W) per style layer


def seed_inputs(
    seeds: Sequence[int], latent_dim: int, num_classes: int = 0, noise_shapes: Sequence[tuple[int, ...]] = ()
) -> SeedInputs:
    """z ~ N(0, I), then the class, then the noise maps, each from ``torch.Generator(seed)`` on the CPU."""
    z = torch.empty(len(seeds), latent_dim)
    classes = torch.empty(len(seeds), dtype=torch.long) if num_classes else None
    noise = [torch.empty(len(seeds), *shape) for shape in noise_shapes] if noise_shapes else None
    for i, seed in enumerate(seeds):
        rng = torch.Generator().manual_seed(int(seed))
        z[i] = torch.randn(latent_dim, generator=rng)
        if classes is not None:
            classes[i] = torch.randint(num_classes, (), generator=rng)
        for maps in noise or ():
            maps[i] = torch.randn(maps.shape[1:], generator=rng)
    return SeedInputs(z, classes, noise)


def slerp(a: Tensor, b: Tensor, t: float) -> Tensor:
    """Spherical interpolation of rows of a and b (exact at t = 0 and 1; linear when parallel)."""
    if t <= 0.0:
        return a.clone()
    if t >= 1.0:
        return b.clone()
    cos = (a * b).sum(-1, keepdim=True) / (a.norm(dim=-1, keepdim=True) * b.norm(dim=-1, keepdim=True))
    omega = torch.arccos(cos.clamp(-1.0, 1.0))
    sin = torch.sin(omega)
    parallel = sin.abs() < 1e-6
    wa = torch.where(parallel, 1.0 - t, torch.sin((1.0 - t) * omega) / sin.where(~parallel, 1.0))
    wb = torch.where(parallel, t, torch.sin(t * omega) / sin.where(~parallel, 1.0))
    return wa * a + wb * b


def lerp_exact(a: Tensor, b: Tensor, t: float) -> Tensor:
    """Linear interpolation that returns ``a`` itself at t <= 0 and ``b`` at t >= 1."""
    return a if t <= 0 else b if t >= 1 else a + (b - a) * t

"""Style statistics and losses on feature maps: pure tensor maths, no I/O (``optimize`` and eval use them).

Moments (mean, second moment) of a (1, C, H, W) map, and the style losses built on them: Gram
(Gatys et al.), mean/std (AdaIN's statistics) and Wasserstein-2 between Gaussians (crowsonkb),
plus the content loss. Kept out of the Gatys backend so ``optimize``, eval and training share one
module of losses beside ``ops.py``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from stylize.ops import at_least_float32


@dataclass
class Moments:
    """First and second raw moments of a feature map over positions; they blend linearly across styles."""

    mean: Tensor  # (C,)
    srm: Tensor  # (C, C): E[f f^T]; ``ops.gram`` of the map is srm / C

    @property
    def cov(self) -> Tensor:
        return self.srm - torch.outer(self.mean, self.mean)

    @property
    def energy(self) -> Tensor:
        """E[|f|^2] = trace(srm): the scale every style loss is divided by."""
        return self.srm.diagonal().sum()


class _SecondMoment(torch.autograd.Function):
    """``flat^T flat / N`` for ``flat`` (N, C), with a one-matmul backward (autograd's mm needs two)."""

    @staticmethod
    def forward(ctx: Any, flat: Tensor) -> Tensor:
        ctx.save_for_backward(flat)
        return torch.mm(flat.t(), flat).div_(flat.shape[0])  # (C, C)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        (flat,) = ctx.saved_tensors
        sym = (grad + grad.t()).div_(flat.shape[0]).to(flat.dtype)
        if flat.stride(0) == 1:  # a transposed NCHW map: keep the gradient in the same layout
            return torch.mm(sym, flat.t()).t()
        return torch.mm(flat, sym)  # (N, C)


def positions(feat: Tensor) -> Tensor:
    """(1, C, H, W) -> (H*W, C); a view for NCHW and channels_last maps alike."""
    return feat[0].flatten(1).t()


def moments(feat: Tensor) -> Moments:
    """Mean and second raw moment of ``feat`` (1, C, H, W), in float32."""
    flat = positions(feat)
    return Moments(at_least_float32(flat.mean(0)), at_least_float32(_SecondMoment.apply(flat)))


def blend(parts: Sequence[Moments], weights: Sequence[float]) -> Moments:
    """Weighted average of several styles' moments (crowsonkb blends targets this way)."""
    mean = sum(w * m.mean for w, m in zip(weights, parts))
    srm = sum(w * m.srm for w, m in zip(weights, parts))
    return Moments(mean, srm)  # type: ignore[arg-type]


def relative_sq_error(x: Tensor, target: Tensor) -> Tensor:
    """|x - target|^2 / |target|^2 (sums over all elements)."""
    return (at_least_float32(x) - target).square().sum() / target.square().sum().clamp_min(1e-30)


def gram_loss(m: Moments, target: Moments) -> Tensor:
    """Gatys et al.'s Gram loss, relative: |G - G_s|^2 / |G_s|^2.

    Differs from Gatys et al. 2016 (1/(4 N^2 M^2) scaling) because a relative error keeps one
    style weight right for both networks and every layer, whose activations differ in scale.
    """
    return relative_sq_error(m.srm, target.srm)


def std_from(m: Moments, eps: float) -> Tensor:
    """Per-channel standard deviation (C,) from the moments."""
    return (m.srm.diagonal() - m.mean.square()).clamp_min(0).add(eps).sqrt()


def meanstd_loss(m: Moments, target: Moments) -> Tensor:
    """(|mu - mu_s|^2 + |sigma - sigma_s|^2) / E_s|f|^2: AdaIN's statistics as an optimisation loss."""
    eps = 1e-6 * float(target.energy) / target.mean.numel()
    mean_term = (m.mean - target.mean).square().sum()
    std_term = (std_from(m, eps) - std_from(target, eps)).square().sum()
    return (mean_term + std_term) / target.energy.clamp_min(1e-30)


@dataclass
class W2Target:
    """A style's Gaussian, prepared once: mean, sqrt of the covariance, its trace, the energy."""

    mean: Tensor  # (C,)
    cov_sqrt: Tensor  # (C, C) float64
    trace: Tensor  # ()
    energy: Tensor  # ()
    eps: float  # eigenvalue floor: keeps sqrt's gradient finite on rank-deficient covariances

    @classmethod
    def of(cls, target: Moments) -> W2Target:
        cov = target.cov.double()
        eps = 1e-8 * float(cov.diagonal().mean().clamp_min(1e-30))
        with _one_thread(cov.device):
            evals, evecs = torch.linalg.eigh(cov)
        cov_sqrt = (evecs * evals.clamp_min(0).sqrt()) @ evecs.t()
        return cls(target.mean, cov_sqrt, cov.trace(), target.energy, eps)


def w2_distance_sq(mean: Tensor, cov: Tensor, target: W2Target, flat: Tensor | None = None) -> Tensor:
    """Squared Wasserstein-2 distance between N(mean, cov) and the target Gaussian.

    |mu - mu_s|^2 + tr S + tr S_s - 2 tr (S_s^1/2 S S_s^1/2)^1/2; the last trace is the sum of
    square roots of eigenvalues (float64, so small ones stay accurate). ``flat`` (N, C), the
    features ``cov`` came from, makes that an N x N problem when N < C (coarse scales, deep layers).
    """
    cross = _cross_trace(mean, cov, target, flat)
    dist = (mean - target.mean).square().sum() + cov.trace() + target.trace - 2 * cross
    return dist.to(mean.dtype)


@contextmanager
def _one_thread(device: torch.device) -> Iterator[None]:
    """Small dense linear algebra on one CPU thread: MKL's threaded eigh ran 100x slower on a busy
    2-core machine (7 s instead of 65 ms for 512 x 512) and gains nothing on an idle one."""
    if device.type != "cpu":
        yield
        return
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def _cross_trace(mean: Tensor, cov: Tensor, target: W2Target, flat: Tensor | None) -> Tensor:
    with _one_thread(mean.device):
        return _cross_trace_here(mean, cov, target, flat)


def _cross_trace_here(mean: Tensor, cov: Tensor, target: W2Target, flat: Tensor | None) -> Tensor:
    c = cov.shape[0]
    if flat is not None and flat.shape[0] < c:
        n = flat.shape[0]
        a = (flat.double() - mean.double()) @ target.cov_sqrt / math.sqrt(n)  # (N, C)
        inner, missing = a @ a.t(), c - n  # same non-zero eigenvalues as a^T a = S_s^1/2 S S_s^1/2
    else:
        inner, missing = target.cov_sqrt @ cov.double() @ target.cov_sqrt, 0
    evals = torch.linalg.eigvalsh((inner + inner.t()) / 2)
    return evals.clamp_min(target.eps).sqrt().sum() + missing * math.sqrt(target.eps)


def w2_loss(m: Moments, target: W2Target, flat: Tensor | None = None) -> Tensor:
    """W2^2 / E_s|f|^2. crowsonkb's loss, made relative like the others."""
    return w2_distance_sq(m.mean, m.cov, target, flat) / target.energy.clamp_min(1e-30)


def content_loss(feat: Tensor, target: Tensor) -> Tensor:
    """|F - F_c|^2 / |F_c|^2. Differs from Gatys et al. (plain squared error): relative, see gram_loss."""
    return relative_sq_error(feat, target)

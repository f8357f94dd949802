"""GAN maths beside the trainer: G and D from a config, hinge / non-saturating losses, R1, the
generator's weight average (EMA), and readying the EMA G to sample (BatchNorm statistics, average w)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from stylize.config import GANTrainConfig, GeneratorConfig
from stylize.models.generator import Discriminator

BN_CALIBRATION_BATCHES = 16  # batches of 256 to re-estimate BatchNorm statistics of the EMA G
W_AVG_SAMPLES = 8192  # z samples per class to estimate the style-based G's average w


def generator_config(config: GANTrainConfig, image_size: int, channels: int, num_classes: int) -> GeneratorConfig:
    return GeneratorConfig(
        architecture=config.architecture,
        image_size=image_size,
        channels=channels,
        latent_dim=config.latent_dim,
        width=config.width,
        num_classes=num_classes,
        w_dim=config.w_dim,
        mapping_layers=config.mapping_layers,
    )


def build_discriminator(config: GANTrainConfig, gen: GeneratorConfig) -> nn.Module:
    return Discriminator(gen.image_size, gen.channels, config.d_width, gen.num_classes, config.reg_kind == "sn")


def ema_beta(config: GANTrainConfig, images_seen: int, batch: int) -> float:
    """Per-step EMA decay for a half-life of ``ema_halflife`` images, ramped up early (StyleGAN2-ADA)."""
    halflife = min(config.ema_halflife, images_seen * 0.05)
    return 0.5 ** (batch / halflife) if halflife > 0 else 0.0


def update_ema(ema: nn.Module, model: nn.Module, beta: float) -> None:
    """ema = beta * ema + (1 - beta) * model for parameters; buffers are copied."""
    with torch.no_grad():
        for p_ema, p in zip(ema.parameters(), model.parameters()):
            p_ema.lerp_(p.detach(), 1.0 - beta)
        for b_ema, b in zip(ema.buffers(), model.buffers()):
            b_ema.copy_(b)


def finalize_generator(
    g: nn.Module, gen: GeneratorConfig, device: torch.device, batches: int | None = None, w_samples: int | None = None
) -> None:
    """Make the EMA G ready to sample: BatchNorm statistics of its own weights, or average w.

    BatchNorm statistics are re-estimated over ``BN_CALIBRATION_BATCHES`` batches (cumulative
    average) because the running statistics were gathered with the raw G's weights, not the
    averaged ones (BigGAN's "standing statistics"). Seeded, so it does not touch the global RNG.
    """
    batches = BN_CALIBRATION_BATCHES if batches is None else batches
    w_samples = W_AVG_SAMPLES if w_samples is None else w_samples
    rng = torch.Generator().manual_seed(12345)
    was_training = g.training
    with torch.no_grad():
        norms = [m for m in g.modules() if isinstance(m, nn.BatchNorm2d)]
        if norms:
            g.train()
            for m in norms:
                m.reset_running_stats()
                m.momentum = None
            for _ in range(batches):
                z, labels = _random_inputs(gen, 256, rng, device)
                g(z, labels)
            for m in norms:
                m.momentum = 0.1
        if hasattr(g, "w_avg"):
            _estimate_w_avg(g, gen, rng, device, w_samples)
    g.train(was_training)


def _estimate_w_avg(
    g: nn.Module, gen: GeneratorConfig, rng: torch.Generator, device: torch.device, samples: int
) -> None:
    for c in range(max(gen.num_classes, 1)):
        z = torch.randn(samples, gen.latent_dim, generator=rng).to(device)
        labels = one_hot(torch.full((samples,), c), gen.num_classes, device) if gen.num_classes else None
        g.w_avg[c] = g.mapping(z, labels).mean(dim=0)


def _random_inputs(gen: GeneratorConfig, count: int, rng: torch.Generator | None, device: torch.device):
    z = torch.randn(count, gen.latent_dim, generator=rng).to(device)
    if not gen.num_classes:
        return z, None
    return z, one_hot(torch.randint(gen.num_classes, (count,), generator=rng), gen.num_classes, device)


def one_hot(labels: Tensor, num_classes: int, device: torch.device) -> Tensor:
    return F.one_hot(labels.to(device), num_classes).float()


# ---------------------------------------------------------------- losses


def d_loss(kind: str, real: Tensor, fake: Tensor) -> Tensor:
    """Discriminator loss on scores of reals and fakes (B,): hinge or non-saturating."""
    if kind == "hinge":
        return F.relu(1.0 - real).mean() + F.relu(1.0 + fake).mean()
    return F.softplus(-real).mean() + F.softplus(fake).mean()


def g_loss(kind: str, fake: Tensor) -> Tensor:
    """Generator loss on the scores of its images: -D (hinge) or softplus(-D) (non-saturating)."""
    return -fake.mean() if kind == "hinge" else F.softplus(-fake).mean()


def r1_penalty(d: nn.Module, real: Tensor, labels: Tensor | None) -> Tensor:
    """R1 (Mescheder et al. 2018): mean squared norm of dD/dx on real images."""
    real = real.detach().requires_grad_(True)
    scores = d(real, labels)
    (grad,) = torch.autograd.grad(scores.sum(), real, create_graph=True)
    return grad.square().sum(dim=(1, 2, 3)).mean()

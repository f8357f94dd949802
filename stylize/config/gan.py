"""Knobs of ``stylize gan-sample`` and ``stylize train-gan``, and of our generator architectures.

Frozen dataclasses, no torch import: the CLI reads its defaults here and ``--help`` stays fast.
"""

from __future__ import annotations

from dataclasses import dataclass

from stylize.config.common import check_at_least, check_finite, check_precision
from stylize.errors import UsageError

ARCHITECTURES = ("dcgan", "style")
LOSSES = ("auto", "hinge", "ns")
REGULARISERS = ("auto", "sn", "r1", "none")
NOISE_MODES = ("const", "seed", "none")
ANIMATIONS = ("gif", "webp")
DEFAULT_MODEL = "fashion-mnist"  # the generator shipped in weights/ (see weights/README.md)
MAX_SEEDS = 1_000_000
MAX_SEED = 2**63 - 1


@dataclass(frozen=True)
class GeneratorConfig:
    """Shape of one of our generators (stored in every checkpoint's metadata)."""

    architecture: str = "dcgan"  # dcgan, or style (mapping network + modulated convs)
    image_size: int = 28  # output side in px: 4..7 times a power of two (28, 32, 64, ...)
    channels: int = 1  # 1 grayscale, 3 RGB
    latent_dim: int = 64  # length of z
    width: int = 128  # channels at the lowest resolution, halved per upsampling
    num_classes: int = 0  # > 0: class-conditional
    w_dim: int = 128  # style-based only: length of w
    mapping_layers: int = 4  # style-based only: depth of the mapping MLP

    def __post_init__(self) -> None:
        check_finite(self)
        if self.architecture not in ARCHITECTURES:
            raise UsageError(f"architecture must be one of {', '.join(ARCHITECTURES)}, not '{self.architecture}'")
        if self.channels not in (1, 3):
            raise UsageError(f"channels must be 1 or 3, not {self.channels}")
        _check_size(self.image_size)
        for name in ("latent_dim", "width", "w_dim", "mapping_layers"):
            if getattr(self, name) < 1:
                raise UsageError(f"{name} must be at least 1")
        if self.num_classes < 0:
            raise UsageError(f"num_classes must be 0 (unconditional) or more, not {self.num_classes}")


def _check_size(size: int) -> None:
    base = size
    while base % 2 == 0 and base // 2 >= 4:
        base //= 2
    if not 4 <= base <= 7 or size < 8:
        raise UsageError(f"--image-size must be 4..7 times a power of two and at least 8 (e.g. 28, 32, 64), not {size}")


@dataclass(frozen=True)
class GANTrainConfig:
    """Every knob of ``stylize train-gan``; the CLI reads its defaults here."""

    architecture: str = "dcgan"  # dcgan or style
    image_size: int = 0  # 0: the data's own size for idx files (28 for MNIST), 64 for image folders
    channels: int = 0  # 0: 1 for idx files, 3 for image folders
    conditional: bool = True  # use class labels when the data has them (idx label files)
    iterations: int = 6000  # generator steps to reach
    batch_size: int = 64  # images per step (per process under torchrun)
    lr_g: float = 0.0  # Adam learning rate of G; 0: 2e-4 for dcgan, 2e-3 for style (equalised-lr layers, StyleGAN2)
    lr_d: float = 2e-4  # Adam learning rate of the discriminator
    beta1: float = 0.0  # Adam beta1: 0 as in SNGAN/StyleGAN2 (DCGAN's 0.5 is less stable with SN)
    beta2: float = 0.99  # Adam beta2
    loss: str = "auto"  # hinge or ns (non-saturating); auto: hinge for dcgan, ns for style
    reg: str = "auto"  # sn (spectral norm in D), r1 (gradient penalty on reals), none; auto: sn / r1
    r1_gamma: float = 0.1  # weight of R1 (applied lazily every 16 steps, scaled by 16)
    ema_halflife: int = 10_000  # images: half-life of the generator weight average (StyleGAN2's 10k)
    latent_dim: int = 64
    width: int = 128  # generator channels at the lowest resolution
    d_width: int = 128  # discriminator channels at the lowest resolution
    w_dim: int = 128  # style-based: length of w
    mapping_layers: int = 4  # style-based: depth of the mapping network
    checkpoint_every: int = 1000  # save every N steps; 0: only at the end
    sample_every: int = 500  # write a sample grid of fixed seeds every N steps; 0: never
    sample_count: int = 64  # images in each sample grid (seeds 0..N-1)
    log_every: int = 50  # one loss-log entry, the mean over this many steps
    seed: int = 0  # same seed, same initialisation and data order
    workers: int | None = None  # DataLoader processes for image folders; None: min(2, CPU count)
    precision: str = "auto"  # fp32, bf16, fp16, or auto: bf16 on CUDA GPUs that have it, else fp32
    dataset_name: str | None = None  # recorded in the checkpoint; None: the data path's name

    def __post_init__(self) -> None:
        check_finite(self)
        if self.architecture not in ARCHITECTURES:
            raise UsageError(f"--architecture must be one of {', '.join(ARCHITECTURES)}, not '{self.architecture}'")
        if self.loss not in LOSSES:
            raise UsageError(f"--loss must be one of {', '.join(LOSSES)}, not '{self.loss}'")
        if self.reg not in REGULARISERS:
            raise UsageError(f"--reg must be one of {', '.join(REGULARISERS)}, not '{self.reg}'")
        check_precision(self.precision)
        if self.image_size:
            _check_size(self.image_size)
        if self.channels not in (0, 1, 3):
            raise UsageError(f"--channels must be 0 (auto), 1 or 3, not {self.channels}")
        for name in ("iterations", "batch_size", "sample_count", "log_every", "latent_dim", "width", "d_width"):
            check_at_least(name, getattr(self, name), 1)
        for name in ("checkpoint_every", "sample_every", "ema_halflife"):
            check_at_least(name, getattr(self, name), 0)
        if self.lr_g < 0 or self.lr_d <= 0 or self.r1_gamma < 0:
            raise UsageError("--lr-d must be positive, --lr-g and --r1-gamma 0 or positive")
        if not (0 <= self.beta1 < 1 and 0 <= self.beta2 < 1):
            raise UsageError("Adam betas must be in [0, 1)")

    @property
    def loss_kind(self) -> str:
        return self.loss if self.loss != "auto" else ("hinge" if self.architecture == "dcgan" else "ns")

    @property
    def lr_g_value(self) -> float:
        return self.lr_g or (2e-4 if self.architecture == "dcgan" else 2e-3)

    @property
    def reg_kind(self) -> str:
        return self.reg if self.reg != "auto" else ("sn" if self.architecture == "dcgan" else "r1")


@dataclass(frozen=True)
class GANSampleConfig:
    """Every knob of ``stylize gan-sample``; the CLI reads its defaults here."""

    model: str = DEFAULT_MODEL  # shipped name, registry name (gan-zoo-*), or a file
    num: int = 16  # images when no --seeds: seeds 0..num-1
    seeds: tuple[int, ...] | None = None  # explicit seeds; each gives the same image every run
    truncation: float = 1.0  # psi: 1 = no truncation, 0 = the average image
    grid: bool = False  # one PNG contact sheet instead of one file per seed
    nrow: int = 0  # images per grid row; 0: about the square root of the count
    style_mix: tuple[int, int] | None = None  # (seed A, seed B): A's coarse styles with B's fine ones
    mix_layer: int = 2  # first layer that takes seed B's style
    interpolate: int = 0  # frames per step between consecutive seeds (slerp); 0: no interpolation
    fps: int = 12  # animation frame rate
    animation: str = "gif"  # gif or webp
    class_label: str | None = None  # class index or name for conditional models; None: from the seed
    noise: str = "const"  # style-based noise inputs: const (fixed maps), seed (drawn per seed), none
    batch_size: int = 64  # images per forward pass (the images do not depend on it)
    precision: str = "auto"  # auto (= fp32, so every device gives the same image), fp32, bf16, fp16
    overwrite: bool = True  # replace existing files of the same name

    def __post_init__(self) -> None:
        check_finite(self)
        if self.num < 1 or self.batch_size < 1:
            raise UsageError("-n/--num and --batch-size must be at least 1")
        if self.truncation < 0:
            raise UsageError(f"--truncation must be 0 or positive, not {self.truncation}")
        if self.interpolate < 0 or self.fps < 1 or self.nrow < 0 or self.mix_layer < 0:
            raise UsageError("--interpolate, --nrow and --mix-layer must be 0 or positive, --fps positive")
        if self.animation not in ANIMATIONS:
            raise UsageError(f"--animation must be one of {', '.join(ANIMATIONS)}, not '{self.animation}'")
        if self.noise not in NOISE_MODES:
            raise UsageError(f"--noise must be one of {', '.join(NOISE_MODES)}, not '{self.noise}'")
        check_precision(self.precision)
        if self.style_mix and self.interpolate:
            raise UsageError("--style-mix and --interpolate cannot be combined", "run them as two commands")

    @property
    def seed_list(self) -> tuple[int, ...]:
        return self.seeds if self.seeds is not None else tuple(range(self.num))


def parse_seeds(text: str) -> tuple[int, ...]:
    """'0-63,100' -> (0, 1, ..., 63, 100): comma-separated seeds and inclusive ranges, order kept."""
    seeds: list[int] = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        lo, sep, hi = part.partition("-")
        try:
            first, last = int(lo), int(hi) if sep else int(lo)
        except ValueError as exc:
            raise UsageError(f"--seeds: '{part}' is not a seed or a range like 0-63") from exc
        if not 0 <= first <= last <= MAX_SEED:
            raise UsageError(f"--seeds: '{part}' must be non-negative with the start not after the end")
        if len(seeds) + last - first + 1 > MAX_SEEDS:
            raise UsageError(f"--seeds: more than {MAX_SEEDS:,} seeds")
        seeds.extend(range(first, last + 1))
    if not seeds:
        raise UsageError("--seeds is empty", "e.g. --seeds 0-63,100")
    return tuple(seeds)


def parse_pair(text: str, option: str) -> tuple[int, int]:
    """'3,7' -> (3, 7)."""
    seeds = parse_seeds(text)
    if len(seeds) != 2:
        raise UsageError(f"{option} takes two seeds, e.g. {option} 3,7")
    return seeds[0], seeds[1]

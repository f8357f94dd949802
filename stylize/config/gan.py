"""Knobs of ``stylize gan-sample`` and ``stylize train-gan``, and of our generator architectures.

Frozen dataclasses, no torch import: the CLI reads its defaults here and ``--help`` stays fast.
"""

from __future__ import annotations

from dataclasses import dataclass

from stylize.config.common import MAX_SEED, check_at_least, check_finite, check_precision, check_seed, knob
from stylize.errors import UsageError

ARCHITECTURES = ("dcgan", "style")
LOSSES = ("auto", "hinge", "ns")
REGULARISERS = ("auto", "sn", "r1", "none")
NOISE_MODES = ("const", "seed", "none")
ANIMATIONS = ("gif", "webp")
DEFAULT_MODEL = "fashion-mnist"  # the generator shipped in weights/ (see weights/README.md)
MAX_SEEDS = 1_000_000


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

    architecture: str = knob("dcgan", "dcgan or style (mapping network, per-layer styles, noise).")
    # 0: the data's own size for idx files (28 for MNIST), 64 for image folders
    image_size: int = knob(0, "Side in px (4..7 times a power of two); 0: the idx files' own size, 64 for folders.")
    channels: int = knob(0, "1 or 3; 0: 1 for idx files, 3 for folders.")
    # idx label files
    conditional: bool = knob(True, "Use class labels when the data has them.")
    iterations: int = knob(6000, "Training steps to reach.")  # generator steps
    batch_size: int = knob(64, "Images per step and process.")
    # 2e-3 for style: equalised-lr layers, StyleGAN2
    lr_g: float = knob(0.0, "Generator Adam lr; 0: 2e-4 dcgan, 2e-3 style.")
    lr_d: float = knob(2e-4, "Discriminator Adam lr.")
    beta1: float = 0.0  # Adam beta1: 0 as in SNGAN/StyleGAN2 (DCGAN's 0.5 is less stable with SN)
    beta2: float = 0.99  # Adam beta2
    loss: str = knob("auto", "hinge or ns (non-saturating); auto: hinge for dcgan, ns for style.")
    # r1: gradient penalty on reals
    reg: str = knob("auto", "sn (spectral norm in D), r1 (gradient penalty), none; auto: sn for dcgan, r1 for style.")
    r1_gamma: float = knob(0.1, "R1 weight.")  # applied lazily every 16 steps, scaled by 16
    # StyleGAN2's 10k
    ema_halflife: int = knob(10_000, "Half-life of the generator weight average, in images; 0: no averaging.")
    latent_dim: int = knob(64, "Length of z.")
    width: int = knob(128, "Generator channels at the lowest resolution.")
    d_width: int = knob(128, "Discriminator channels at the lowest resolution.")
    w_dim: int = 128  # style-based: length of w
    mapping_layers: int = 4  # style-based: depth of the mapping network
    checkpoint_every: int = 1000  # save every N steps; 0: only at the end
    sample_every: int = 500  # write a sample grid of fixed seeds every N steps; 0: never
    sample_count: int = 64  # images in each sample grid (seeds 0..N-1)
    log_every: int = 50  # one loss-log entry, the mean over this many steps
    seed: int = 0  # same seed, same initialisation and data order
    workers: int | None = None  # DataLoader processes for image folders; None: min(2, CPU count)
    precision: str = "auto"  # fp32, bf16, fp16, or auto: bf16 on CUDA GPUs that have it, else fp32
    # None: the data path's name
    dataset_name: str | None = knob(None, "Name recorded in the checkpoint.")

    def __post_init__(self) -> None:
        check_finite(self)
        check_seed(self.seed)
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

    model: str = knob(
        DEFAULT_MODEL,
        f"Generator: '{DEFAULT_MODEL}' (shipped, no download), a registry name (gan-zoo-dcgan-fashiongen, "
        "gan-zoo-pgan-celebahq), a train-gan .safetensors or a pytorch_GAN_zoo .pth.",
    )
    num: int = knob(16, "Images, seeds 0..N-1 (without --seeds).")
    # each seed gives the same image every run
    seeds: tuple[int, ...] | None = knob(
        None, "Seeds and ranges, e.g. 0-63,100: each seed always gives the same image."
    )
    truncation: float = knob(1.0, "psi: 1 = full variety, 0 = the average image; 0.5-0.8 trades variety for quality.")
    grid: bool = knob(False, "One PNG contact sheet instead of one file per seed.")
    nrow: int = knob(0, "Images per grid row; 0: about sqrt(N).")
    style_mix: tuple[int, int] | None = knob(
        None, "SEED_A,SEED_B: A's coarse styles with B's fine ones (style-based models)."
    )
    mix_layer: int = knob(2, "First layer that takes seed B's style.")
    # slerp; 0: no interpolation
    interpolate: int = knob(
        0, "Frames per step from each seed to the next (spherical); writes the frames and an animation."
    )
    fps: int = knob(12, "Animation frames per second.")
    animation: str = knob("gif", "Animation format for --interpolate: gif or webp.")
    class_label: str | None = knob(None, "Class index or name, for conditional models; default: drawn from the seed.")
    noise: str = knob("const", "Style-based noise inputs: const (fixed maps), seed (drawn per seed) or none.")
    batch_size: int = knob(64, "Images per forward pass (images do not depend on it).")
    # auto = fp32, so every device gives the same image
    precision: str = knob("auto", "auto (= fp32: the same image on every device), fp32, bf16, fp16.")
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
        if max(first, last) > MAX_SEED:
            raise UsageError(f"--seeds: '{part}': a seed is at most {MAX_SEED} (2**63 - 1)")
        if not 0 <= first <= last:
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

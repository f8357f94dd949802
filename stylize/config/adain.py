"""Knobs of ``stylize adain`` and ``stylize train-adain`` (Huang & Belongie 2017)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from stylize.config.common import (
    DEFAULT_SIZE,
    DEFAULT_VGG,
    MAX_STYLE_SCALE,
    PALETTE_HELP,
    check_at_least,
    check_color,
    check_finite,
    check_palette,
    check_precision,
    check_seed,
    check_style_scale,
    knob,
)
from stylize.errors import UsageError

STRIDE = 8  # AdaIN encoder downsampling (relu4_1 is H/8): inputs are padded, training crops cut, to a multiple
# (encoder, decoder) registry names of the default AdaIN pair: the bundled VGG-19 and the decoder this project
# trained for it (weights/README.md), both installed with stylize: no download. differs from the paper's pair
# (naoto0804's published files, downloaded once) because those need the network; they stay one option away.
ADAIN_DEFAULT_PAIR = ("vgg19-caffe-normalised", "adain-decoder-stylize")
PUBLISHED_ADAIN_PAIR = ("adain-vgg", "adain-decoder")  # naoto0804's files: one option away, --decoder adain-decoder
# how the photo's relu4_1 features take the style's: adain (per-channel mean and std, Huang & Belongie 2017),
# efdm (each channel's whole distribution, Zhang et al. 2022) or wct (the channels' covariance, Li et al. 2017,
# at relu4_1 only); all decode with the same decoder
TRANSFORMS = ("adain", "efdm", "wct")
MAX_REFINE = 1000  # --refine at most: past this, stylize optimize (coarse to fine) is the better tool


def default_adain_pair() -> tuple[str, str]:
    """(encoder, decoder) that ``stylize adain`` uses without --encoder/--decoder (read at call time)."""
    return ADAIN_DEFAULT_PAIR


@dataclass(frozen=True)
class AdaINConfig:
    """Every knob of ``stylize adain``; the CLI reads its defaults from here."""

    # None: the decoder's own (recorded in it), else 1
    alpha: float | None = knob(None, "0 keeps the content, 1 is full style.")
    transform: str = knob(
        "adain",
        "How the photo's features take the style's: adain (mean and spread), efdm (the whole distribution: "
        "more of the painting's marks) or wct (whitening and colouring: the channels' correlations too).",
    )
    size: int = DEFAULT_SIZE  # long side of the output at most, px; 0 keeps the input's size
    style_size: int = knob(DEFAULT_SIZE, "Long side of the styles, at most, in px; 0 keeps it.")
    # after --style-size and --crop: the style's marks grow with it against the photo's fixed size
    style_scale: float = knob(
        1.0,
        f"Resize each style by this factor before encoding: above 1 bigger strokes, below 1 finer (at most {MAX_STYLE_SCALE:g}).",
    )
    upscale: bool = False  # enlarge inputs smaller than --size/--style-size (default: never upscale)
    # resize the short side to `size`, then crop the centre
    crop: bool = knob(False, "Centre-crop content and styles to a square of --size.")
    # all styles' AdaIN targets blended
    blend: tuple[float, ...] | None = knob(None, "Blend the styles into one output, e.g. 0.5,0.3,0.2.")
    color: str = "none"  # keep the content's colours: none, match (style recoloured), luminance
    # None: --alpha's share (0 with --color); see ops.palette_lut
    palette: float | None = knob(None, PALETTE_HELP)
    # differs from AdaIN (feed-forward only): Gatys' optimisation finishes what the decoder started
    refine: int = knob(
        0,
        "Then this many L-BFGS iterations of the Gatys loss (stylize optimize's) at the output's size, from the "
        "feed-forward picture; 0: off.",
    )
    # spatial control: mask k says where style k goes
    masks: tuple[Path, ...] = knob((), "Where each style goes (white = on); one per style, or one for two styles.")
    # 0: tiles above AUTO_TILE_PIXELS
    tile: int = knob(0, "Tile size in px for huge images (exact, seamless); 0 tiles automatically above ~2.5 Mpx.")
    precision: str = "auto"  # fp32, bf16, fp16, or auto: bf16 where the hardware runs it natively
    # "": the one the decoder was trained for
    encoder: str = knob("", "Encoder: registry name or vgg_normalised.pth-layout file.", pixels=False, weights=True)
    # "": the default pair's
    decoder: str = knob(
        "",
        "Decoder: registry name (adain-decoder-stylize: ours, installed; adain-decoder: the paper's published one, "
        "downloaded once), decoder.pth-layout file, or a train-adain checkpoint.",
        pixels=False,
        weights=True,
    )

    def __post_init__(self) -> None:
        check_finite(self)
        if self.alpha is not None and not 0.0 <= self.alpha <= 1.0:
            raise UsageError(f"--alpha must be between 0 and 1, not {self.alpha}")
        check_color(self.color)
        check_palette(self.palette, self.color)
        check_precision(self.precision)
        if self.transform not in TRANSFORMS:
            raise UsageError(f"--transform must be one of {', '.join(TRANSFORMS)}, not '{self.transform}'")
        if self.tile and (self.tile < 64 or self.tile % STRIDE):
            raise UsageError(f"--tile must be 0 or a multiple of {STRIDE} of at least 64, not {self.tile}")
        if self.size < 0 or self.style_size < 0:
            raise UsageError("--size and --style-size must be 0 or positive")
        if not 0 <= self.refine <= MAX_REFINE:
            raise UsageError(f"--refine must be between 0 and {MAX_REFINE}, not {self.refine}")
        if self.refine and self.masks:
            raise UsageError("--refine and --mask cannot be combined", "the Gatys loss has no regions: drop one")
        check_style_scale(self.style_scale)


ADAIN_DEFAULTS = AdaINConfig()


@dataclass(frozen=True)
class AdaINTrainConfig:
    """Every knob of ``stylize train-adain``; defaults are the paper's. The CLI reads them here."""

    iterations: int = knob(160_000, "Training steps to reach (paper: 160k).")
    # paper: 8 content-style pairs per step
    batch_size: int = knob(8, "Content-style pairs per step and process.")
    lr: float = knob(1e-4, "Adam learning rate.")  # paper: Adam with learning rate 1e-4
    # differs from the paper (no decay) as the reference code: lr / (1 + decay * i)
    lr_decay: float = knob(5e-5, "lr / (1 + decay * step); 0 keeps it constant.")
    style_weight: float = knob(10.0, "Weight of the style loss (paper: 10).")  # paper's lambda: style against content
    content_weight: float = knob(1.0, "Weight of the content loss.")  # paper: the content term is unweighted
    # differs from the paper (none) where set: SANet's identity loss keeps detail
    identity_weight: float = knob(
        0.0,
        "Weight of SANet's identity loss (decode the photo's own features back to it; keeps detail). "
        "0: the paper's objective.",
    )
    # differs from the paper (none) where set: smooths the output's pixel grid
    tv_weight: float = knob(
        0.0,
        "Weight of a total-variation term on the output (smooths the fine grid a short run leaves in flat areas). "
        "0: the paper's objective.",
    )
    # paper: short side resized to 512, aspect kept
    image_size: int = knob(512, "Resize the short side to this first; 0 keeps it.")
    crop: int = knob(256, "Random square crop in px, a multiple of 8.")  # paper: random 256x256 crops
    checkpoint_every: int = 10_000  # reference code saves every 10k steps; 0 only at the end
    sample_every: int = 1_000  # write a content | style | output grid this often; 0 never
    sample_count: int = 4  # rows in each sample grid
    log_every: int = 10  # one loss-log entry, the mean over this many steps
    seed: int = 0  # same seed, same initialisation, data order and crops
    workers: int | None = None  # DataLoader processes per dataset and rank; None: min(2, CPU count)
    precision: str = "auto"  # fp32, bf16, fp16, or auto: bf16 where native (CUDA, AVX512-BF16/AMX CPUs), else fp32
    encoder: str = knob(
        DEFAULT_VGG,
        "Frozen encoder: bundled (the original VGG-19, installed), published, a registry name or a vgg_normalised "
        "file.",
    )
    # None: random init
    decoder: str | None = knob(None, "Decoder to fine-tune from (file or registry name).")

    def __post_init__(self) -> None:
        check_finite(self)
        check_seed(self.seed)
        for name in ("iterations", "batch_size", "sample_count", "log_every"):
            check_at_least(name, getattr(self, name), 1)
        for name in ("checkpoint_every", "sample_every", "image_size"):
            check_at_least(name, getattr(self, name), 0)
        weights = (self.style_weight, self.content_weight, self.identity_weight, self.tv_weight)
        if self.lr <= 0 or self.lr_decay < 0 or min(weights) < 0:
            raise UsageError("--lr must be positive; --lr-decay and the loss weights 0 or positive")
        if self.crop < STRIDE or self.crop % STRIDE:
            raise UsageError(f"--crop must be a multiple of {STRIDE} of at least {STRIDE}, not {self.crop}")
        if self.image_size and self.image_size < self.crop:
            raise UsageError(f"--image-size {self.image_size} is smaller than --crop {self.crop}")
        check_precision(self.precision)
        if self.workers is not None and self.workers < 0:
            raise UsageError(f"--workers must be 0 or positive, not {self.workers}")

    def lr_at(self, iteration: int) -> float:
        """The learning rate of step ``iteration`` (0-based), decayed as in the reference code."""
        return self.lr / (1.0 + self.lr_decay * iteration)

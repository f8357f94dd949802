"""Knobs of ``stylize optimize`` (Gatys et al.)."""

from __future__ import annotations

from dataclasses import dataclass

from stylize.config.common import DEFAULT_SIZE, DEFAULT_VGG, PRECISIONS, check_color, check_finite
from stylize.errors import UsageError

OPTIMIZERS = ("lbfgs", "adam")
INITS = ("content", "noise", "style-stats")
STYLE_LOSSES = ("gram", "meanstd", "w2")
POOLINGS = ("max", "avg")
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


OPTIMIZE_DEFAULTS = OptimizeConfig()

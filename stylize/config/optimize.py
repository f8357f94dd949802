"""Knobs of ``stylize optimize`` (Gatys et al.)."""

from __future__ import annotations

from dataclasses import dataclass

from stylize.config.common import DEFAULT_SIZE, DEFAULT_VGG, PRECISIONS, check_color, check_finite, check_seed, knob
from stylize.errors import UsageError

OPTIMIZERS = ("lbfgs", "adam")
INITS = ("content", "noise", "style-stats")
STYLE_LOSSES = ("gram", "meanstd", "w2")
POOLINGS = ("max", "avg")
# Layer names both VGG-19 layouts share (pool5 exists only in torchvision's and is never useful).
_BLOCK_CONVS = (2, 2, 4, 4, 4)
# scales are sqrt(2) apart by default: 32 of them span a 46,000x size ratio, more than any picture
MAX_SCALES = 32
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
    # crowsonkb starts at 128 px
    min_size: int = knob(128, "Long side of the first, coarsest scale.")
    scale_factor: float = knob(2**0.5, "Size ratio between scales.")  # crowsonkb's sqrt(2) steps
    # 0 = as many as min_size and scale_factor give; 1 = classic single scale
    scales: int = knob(0, "Number of scales: 0 from --min-size/--scale-factor, 1 single scale.")
    # 5 scales from 128 to 512 px: 300 in all, 4.2 min on 2 cores
    iterations: int = knob(60, "Iterations at every scale (5 scales from 128 to 512 px by default: 300 in all).")
    # lbfgs (Gatys; fewest iterations) or adam (crowsonkb; smoother, carries state)
    optimizer: str = knob("lbfgs", "lbfgs or adam.")
    # crowsonkb's default; L-BFGS ignores it
    learning_rate: float = knob(0.02, "Adam step size (pixels in 0..1).")
    lbfgs_history: int = 100  # L-BFGS correction pairs; fewer are kept at large sizes (about 1 GiB at most)
    # first scale starts from the content, uniform noise, or noise with the style's colours
    init: str = knob("content", "Start from: content, noise or style-stats.")
    # a fixed seed gives bit-identical output on CPU
    seed: int | None = knob(None, "Seed for the noise inits: same seed, same output.")
    content_layers: tuple[str, ...] = knob(("relu4_2",), "Content layers, LAYER[:WEIGHT],...")  # Gatys et al. 2016
    content_layer_weights: tuple[float, ...] | None = None  # one per content layer; None = equal
    # Gatys et al. 2016
    style_layers: tuple[str, ...] = knob(
        ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"), "Style layers, LAYER[:WEIGHT],..."
    )
    style_layer_weights: tuple[float, ...] | None = None  # one per style layer; None = equal (Gatys)
    # each term is relative, so weights carry across nets
    content_weight: float = knob(1.0, "Weight of the content term.")
    style_weight: float = knob(3.0, "Weight of the style term.")  # chosen on real features: BENCHMARKS.md
    # on mean squared neighbour differences
    tv_weight: float = knob(1.0, "Weight of the total-variation term.")
    # meanstd: AdaIN statistics; w2: crowsonkb
    style_loss: str = knob("gram", "gram (Gatys), meanstd, or w2 (Wasserstein-2).")
    # several styles' statistics blended
    blend: tuple[float, ...] | None = knob(None, "Blend the styles into one output, e.g. 0.7,0.3.")
    # long side, at each scale (never upscaled)
    style_scale: float = knob(1.0, "Style image size relative to the output's.")
    # max (published nets) or avg (Gatys et al. 2016 prefer it for synthesis)
    pooling: str = knob("max", "max or avg pooling in the VGG.")
    color: str = "none"  # keep the content's colours: luminance-only transfer or colour matching (Gatys et al. 2017)
    save_every: int = knob(
        0, "Write an intermediate image every N iterations (OUT.iterNNNNN.EXT).", pixels=False
    )  # 0 = never
    plot: bool = knob(False, "Write a loss-curve PNG beside each output (OUT.loss.png).", pixels=False)
    precision: str = "auto"  # autocast: auto (bf16 where native: AVX512-BF16/AMX CPUs, Ampere+ GPUs), fp32, bf16, fp16
    vgg: str = knob(
        DEFAULT_VGG,
        "Loss network: bundled (the original VGG-19, installed), caffe (unnormalised), published, torchvision, a "
        "registry name or a file.",
        pixels=False,
        weights=True,
    )

    def __post_init__(self) -> None:
        check_finite(self)
        check_seed(self.seed)
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
        if self.scales > MAX_SCALES:
            raise UsageError(f"--scales {self.scales}: at most {MAX_SCALES}", "0 picks them from --min-size")
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

"""Knobs of ``stylize fast`` and ``stylize train-fast`` (Johnson et al. 2016)."""

from __future__ import annotations

import math
from dataclasses import dataclass

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

FAST_STRIDE = 4  # the TransformerNet down-samples by 4: training crops are a multiple of this
TEACHERS = ("adain",)  # train-fast --teacher
FAST_MIN_SIDE = 8  # the fast net pads smaller inputs up to this (its reflection padding needs 2 px at H/4)


@dataclass(frozen=True)
class FastConfig:
    """Every knob of ``stylize fast``; the CLI reads its defaults from here."""

    # registry names or files; one output per (image, model); none: DEFAULT_MODEL
    models: tuple[str, ...] = knob(
        (),
        "Shipped: starry-night (default), great-wave, composition-vii; published (downloaded once): candy, mosaic, "
        "rain-princess, udnie; a local model name, or a .pth/.safetensors file. Repeatable (one output per model).",
        pixels=False,
    )
    size: int = DEFAULT_SIZE  # long side of the output at most, px; 0 keeps the input's size (fully convolutional)
    upscale: bool = False  # enlarge inputs smaller than --size (default: never upscale)
    color: str = "none"  # keep the content's colours: match (recolour the output) or luminance (Gatys 2017)
    # None: the model file's palette_strength, else 0 (its colours are in the file: train-fast and ours keep them)
    palette: float | None = knob(None, PALETTE_HELP)
    # 0 tiles only above AUTO_TILE_PIXELS
    tile: int = knob(
        0,
        "Tile edge in px for images too large for memory (overlapping, cross-faded); 0 tiles automatically above "
        "16 Mpx.",
    )
    tile_overlap: int = knob(64, "Overlap of neighbouring tiles in px.")  # cross-faded so no seam shows
    precision: str = "auto"  # fp32, bf16, fp16, or auto: bf16 where the hardware runs it natively (~2x faster)
    # oneDNN/cuDNN convs skip layout reorders (1.2-1.3x in BENCHMARKS.md)
    channels_last: bool = knob(True, "NHWC memory layout (faster on CPU and GPU).", pixels=False)

    def __post_init__(self) -> None:
        check_finite(self)
        check_precision(self.precision)
        check_color(self.color)
        check_palette(self.palette, self.color)
        if self.size < 0:
            raise UsageError(f"--size must be 0 or positive, not {self.size}")
        if self.tile and self.tile < 4 * FAST_MIN_SIDE:
            raise UsageError(f"--tile must be 0 or at least {4 * FAST_MIN_SIDE} px, not {self.tile}")
        if self.tile and not 0 <= self.tile_overlap < self.tile // 2:
            raise UsageError(
                f"--tile-overlap {self.tile_overlap} must be at least 0 and less than half of --tile {self.tile}",
                f"give --tile-overlap below {self.tile // 2}, or a larger --tile",
            )


FAST_DEFAULTS = FastConfig()


@dataclass(frozen=True)
class FastTrainConfig:
    """Every knob of ``stylize train-fast``; the CLI reads its defaults here."""

    epochs: int = knob(2, "Passes over the photos (paper: 2).")  # Johnson et al.: two passes over COCO's 80k photos
    # 0: as many as --epochs passes over the content photos take
    iterations: int = knob(0, "Steps to reach; overrides --epochs when set.")
    batch_size: int = knob(4, "Photos per step and process.")  # Johnson et al.
    lr: float = knob(1e-3, "Adam learning rate.")  # Johnson et al.
    image_size: int = knob(256, "Training crop side in px, a multiple of 4.")  # Johnson et al.: 256
    # differs from Johnson et al. (resize + centre crop) because random crops at several scales teach
    # the network the style at more than one scale of the photo
    # (in area)
    crop_scale: float = knob(0.5, "Crops cover this much to all of a photo's short side.")
    style_size: int = knob(512, "Style image long side in px; 0 keeps it.")
    # after --style-size, as adain's: the painting's marks grow (or shrink) against the photos' fixed scale;
    # differs from a bigger --style-size because the resize smooths the scan's grain instead of adding it
    style_scale: float = knob(
        1.0,
        f"Resize the style image by this factor after --style-size: above 1 bigger strokes, below 1 finer (at most "
        f"{MAX_STYLE_SCALE:g}).",
    )
    content_weight: float = knob(1.0, "Weight of the content term.")  # the term is relative
    # ranked on real features with short runs (BENCHMARKS.md): at 10 and 3 the photo was lost to dark texture
    style_weight: float = knob(1.0, "Weight of the style term: higher, stronger style.")  # relative, too
    # differs from Johnson et al. (TV regulariser) as pytorch/examples: upsample+conv leaves no checkerboard
    # mean squared neighbour differences of the output
    tv_weight: float = knob(0.0, "Total-variation smoothing.")
    # None: relu2_2 (pytorch/examples)
    content_layers: tuple[str, ...] | None = knob(None, "Content layers, LAYER[:WEIGHT],...")
    content_layer_weights: tuple[float, ...] | None = None  # one per content layer; None: equal
    # None: the loss network's defaults (training.fast_loss.DEFAULT_LAYERS)
    style_layers: tuple[str, ...] | None = knob(None, "Style layers, LAYER[:WEIGHT],...")
    style_layer_weights: tuple[float, ...] | None = None  # one per style layer; None: equal
    loss_net: str = knob(
        DEFAULT_VGG,
        "bundled (the original VGG-19, installed), caffe, published, vgg16 (Johnson et al.), vgg19, or a file.",
    )
    # registry name, local name or file; None: random
    init: str | None = knob(None, "Fast model to fine-tune from.")
    # distillation: a teacher paints each photo once, the network learns to paint it the same way
    teacher: str | None = knob(
        None,
        "Learn from a teacher's pictures of the photos (distillation): adain (stylize adain's default with this "
        "style, painted once before the first step).",
    )
    # the stroke scale the network learns: the teacher paints each photo at this long side
    teacher_size: int = knob(512, "With --teacher: long side in px of the photos the teacher paints.")
    pixel_weight: float = knob(1.0, "With --teacher: weight of the pixel distance to the teacher's picture.")
    checkpoint_every: int = 2000  # save every N steps (pytorch/examples' interval); 0: only at the end
    sample_every: int = 500  # write a validation grid every N steps; 0: never
    sample_count: int = 4  # validation images in each grid
    log_every: int = 10  # one loss-log entry, the mean over this many steps
    seed: int = 0  # same seed, same initialisation, data order and crops
    workers: int | None = None  # DataLoader processes per rank; None: min(2, CPU count)
    precision: str = "auto"  # fp32, bf16, fp16 (GPU), or auto: bf16 where native (CUDA, AVX512-BF16 CPUs), else fp32

    def __post_init__(self) -> None:
        check_finite(self)
        check_seed(self.seed)
        for name in ("batch_size", "sample_count", "log_every"):
            check_at_least(name, getattr(self, name), 1)
        for name in ("epochs", "iterations", "checkpoint_every", "sample_every", "style_size"):
            check_at_least(name, getattr(self, name), 0)
        check_style_scale(self.style_scale)
        if not self.epochs and not self.iterations:
            raise UsageError("give --epochs or --iterations (both are 0)")
        if self.lr <= 0 or min(self.content_weight, self.style_weight, self.tv_weight, self.pixel_weight) < 0:
            raise UsageError("--lr must be positive and the loss weights 0 or positive")
        if self.image_size < 4 * FAST_STRIDE or self.image_size % FAST_STRIDE:
            raise UsageError(
                f"--image-size must be a multiple of {FAST_STRIDE} of at least {4 * FAST_STRIDE}, not {self.image_size}"
            )
        if not 0.0 < self.crop_scale <= 1.0:
            raise UsageError(f"--crop-scale must be in (0, 1], not {self.crop_scale}")
        check_precision(self.precision)
        if self.workers is not None and self.workers < 0:
            raise UsageError(f"--workers must be 0 or positive, not {self.workers}")
        if self.teacher is not None and self.teacher not in TEACHERS:
            raise UsageError(f"--teacher must be one of {', '.join(TEACHERS)}, not '{self.teacher}'")
        if self.teacher is not None and self.teacher_size < self.image_size:
            raise UsageError(
                f"--teacher-size {self.teacher_size} is smaller than the --image-size {self.image_size} crops",
                "give a larger --teacher-size or a smaller --image-size",
            )
        _check_weights("--content-layers", self.content_layers, self.content_layer_weights)
        _check_weights("--style-layers", self.style_layers, self.style_layer_weights)

    def total_iterations(self, photos: int, world_size: int = 1) -> int:
        """--iterations, else the steps --epochs passes over ``photos`` take at this batch size."""
        return self.iterations or self.epochs * max(1, math.ceil(photos / (self.batch_size * world_size)))


def _check_weights(flag: str, layers: tuple[str, ...] | None, weights: tuple[float, ...] | None) -> None:
    if layers is not None and (not layers or len(set(layers)) != len(layers)):
        raise UsageError(f"{flag}: give distinct layer names")
    if weights is None:
        return
    if layers is None or len(weights) != len(layers) or any(w < 0 for w in weights):
        raise UsageError(f"{flag}: give one non-negative weight per layer (LAYER:WEIGHT)")

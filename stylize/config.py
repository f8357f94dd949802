"""One frozen dataclass of knobs per method. The CLI reads its defaults here; no torch import."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from stylize.errors import UsageError

COLOR_MODES = ("none", "match", "luminance")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
STRIDE = 8  # AdaIN encoder downsampling: inputs are padded to a multiple of this


@dataclass(frozen=True)
class AdaINConfig:
    """Every knob of ``stylize adain``; the CLI reads its defaults from here."""

    alpha: float = 1.0  # 0 keeps the content, 1 is full style (Huang & Belongie's alpha)
    size: int = 512  # long side of the content in px; 0 keeps the original size
    style_size: int = 512  # long side of each style image in px; 0 keeps it
    crop: bool = False  # resize the short side to `size` and centre-crop content and styles square
    style_weights: tuple[float, ...] | None = None  # blend all styles' AdaIN targets into one output
    color: str = "none"  # keep the content's colours: none, match (style recoloured), luminance
    masks: tuple[Path, ...] = ()  # spatial control: mask k says where style k goes
    tile: int = 0  # tile size in px for huge images; 0 tiles automatically above AUTO_TILE_PIXELS
    precision: str = "auto"  # fp32, bf16, fp16, or auto: bf16 where the hardware runs it natively
    encoder: str = "adain-vgg"  # registry name or path (published vgg_normalised.pth layout)
    decoder: str = "adain-decoder"  # registry name or path (published decoder.pth or our safetensors)

    def __post_init__(self) -> None:
        if not 0.0 <= self.alpha <= 1.0:
            raise UsageError(f"--alpha must be between 0 and 1, not {self.alpha}")
        if self.color not in COLOR_MODES:
            raise UsageError(f"--color must be one of {', '.join(COLOR_MODES)}, not '{self.color}'")
        if self.precision not in PRECISIONS:
            raise UsageError(f"--precision must be one of {', '.join(PRECISIONS)}, not '{self.precision}'")
        if self.tile and (self.tile < 64 or self.tile % STRIDE):
            raise UsageError(f"--tile must be 0 or a multiple of {STRIDE} of at least 64, not {self.tile}")
        if self.size < 0 or self.style_size < 0:
            raise UsageError("--size and --style-size must be 0 or positive")


ADAIN_DEFAULTS = AdaINConfig()

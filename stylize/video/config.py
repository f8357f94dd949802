"""The video knobs (:class:`VideoConfig`) and what counts as a video: by extension, or an animated GIF/WebP.

Torch-free and light: ``av`` and Pillow are imported only when a codec is checked or a file opened.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from stylize.errors import UsageError
from stylize.storage import is_url, opened

VIDEO_EXTENSIONS = frozenset({".mp4", ".mov", ".mkv", ".webm", ".avi", ".m4v"})
ANIMATED_IMAGES = frozenset({".gif", ".webp"})  # videos when they hold more than one frame
OUTPUT_EXTENSIONS = VIDEO_EXTENSIONS | ANIMATED_IMAGES  # an animated GIF/WebP in, an animated GIF/WebP out
ONE_PASS = ANIMATED_IMAGES  # written in one pass, not in segments: their packets do not stand alone


@dataclass(frozen=True)
class VideoConfig:
    """Every video knob of ``stylize adain``/``fast``; the CLI reads its defaults from here."""

    temporal: float = 0.5  # 0 frame by frame .. 1 keep the previous frame: flow-guided blend (stylize.video.temporal)
    codec: str = ""  # "": libx264 (mpeg4 without it), libvpx-vp9 for .webm, gif for .gif
    crf: int = 18  # constant rate factor of libx264/vp9: 18 is visually lossless, +6 halves the size
    bitrate: str = ""  # "": --crf decides; e.g. 4M or 800k: an average bit rate instead (every encoder)
    start: float = 0.0  # seconds into the input where the output begins
    duration: float = 0.0  # seconds of input to stylize; 0: to the end
    segment_s: float = 10.0  # seconds of output per finished segment (what an interruption can lose)
    frame_size: int = 0  # long side of the output frames; 0: the video's own (the CLI puts a given --size here)

    def __post_init__(self) -> None:
        values = (self.temporal, self.start, self.duration, self.segment_s)
        if not all(math.isfinite(v) for v in values):
            raise UsageError("--temporal, --start and --duration must be finite numbers")
        if not 0.0 <= self.temporal <= 1.0:
            raise UsageError(f"--temporal must be between 0 and 1, not {self.temporal}")
        if not 0 <= self.crf <= 63:
            raise UsageError(f"--crf must be between 0 and 63, not {self.crf}")
        if self.bitrate:
            bits_per_s(self.bitrate)
        if self.start < 0 or self.duration < 0 or self.segment_s <= 0:
            raise UsageError("--start and --duration must be 0 or positive")
        if self.codec:
            check_codec(self.codec)

    @property
    def end(self) -> float:
        """Where the output ends in input seconds (inf: the end of the input)."""
        return self.start + self.duration if self.duration else math.inf


VIDEO_DEFAULTS = VideoConfig()


def check_codec(name: str) -> None:
    """A UsageError unless FFmpeg (as bundled with PyAV) has an encoder called ``name``."""
    import av  # lazy: this module is loaded by `stylize --help`; PyAV only when a codec is checked

    try:
        kind = av.codec.Codec(name, "w").type
    except Exception:  # noqa: BLE001 - PyAV raises several types for an unknown codec
        kind = None
    if kind != "video":
        what = f"an {kind} encoder, not a video one" if kind else "no such video encoder here"
        raise UsageError(f"--codec {name}: {what}", "try libx264, mpeg4, libvpx-vp9 or libx265")


def bits_per_s(text: str) -> int:
    """``--bitrate``: ``4M``, ``800k`` or a number of bits per second; anything else is a UsageError."""
    scale = {"k": 1_000, "m": 1_000_000}.get(text[-1:].lower(), 1)
    try:
        value = float(text[:-1] if scale > 1 else text) * scale
    except ValueError:
        value = 0.0
    if not math.isfinite(value) or value < 1_000:
        raise UsageError(f"--bitrate {text!r}: expected bits per second such as 4M or 800k (at least 1k)")
    return int(value)


@functools.lru_cache(maxsize=4096)
def is_video(path: Path) -> bool:
    """A video container by extension, or a GIF or WebP with more than one frame."""
    suffix = path.suffix.lower()
    if suffix in VIDEO_EXTENSIONS:
        return True
    if suffix not in ANIMATED_IMAGES:
        return False
    try:
        with opened(path) as data, Image.open(data) as img:
            return bool(getattr(img, "is_animated", False))
    except Exception:  # noqa: BLE001 - unreadable: the image path reports it properly
        return False


def check_output_kind(input_path: Path, output: Path, is_video_input: bool) -> None:
    """A video goes to a video container (or GIF), an image to an image format, and neither comes from
    nor goes to a URL (:mod:`stylize.storage`: images only): else a UsageError."""
    if is_video_input and (is_url(input_path) or is_url(output)):
        raise UsageError(
            f"{input_path} -> {output}: videos are read and written as local files only (images may be URLs)",
            "download the video, or stylize it to a local -o and upload the result",
        )
    suffix = output.suffix.lower()
    if is_video_input and suffix not in OUTPUT_EXTENSIONS:
        known = " ".join(sorted(s[1:] for s in OUTPUT_EXTENSIONS))
        raise UsageError(
            f"{input_path} is a video: it cannot be written as '{suffix or output.name}'",
            f"use --ext with one of {known}, or leave --ext out",
        )
    if not is_video_input and suffix in VIDEO_EXTENSIONS:
        raise UsageError(
            f"{input_path} is an image: it cannot be written as '{suffix}'",
            "video --ext values apply to video inputs only; run images and videos separately",
        )

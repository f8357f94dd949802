"""A batch's settings: :class:`BatchOptions` and the checks of its name template, format and shard.

The CLI flags read their defaults here; every check is a ``UsageError`` raised before any work.
"""

from __future__ import annotations

import os
import string
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stylize import images, video
from stylize.errors import UsageError
from stylize.storage import StorePath, location

DEFAULT_OUTPUT_DIR = Path("stylized")  # where outputs go without -o: never beside the inputs
PLACEHOLDERS = ("stem", "ext", "style", "variant", "method", "name", "parent")
# {variant}: the style, then the settings that differ from the defaults (stylize.batch.naming), so a
# run with other settings never meets the outputs of the defaults; {style} alone is the style
DEFAULT_NAME = "{stem}_{method}_{variant}.{ext}"


@dataclass(frozen=True)
class BatchOptions:
    """How a batch reads, names, writes and splits its work; the CLI flags read their defaults here."""

    output: Path | StorePath | None = None  # a file for one output, else a folder (or a URL); None -> ./stylized/
    name: str = DEFAULT_NAME  # output name template, PLACEHOLDERS; {method}: adain, fast...
    ext: str | None = None  # force an output format ("png"); None keeps the input's when writable
    glob: str | None = None  # filter for files found in folders (case-insensitive); None -> image extensions
    overwrite: bool = False  # redo outputs that exist instead of skipping them (resume)
    fail_fast: bool = False  # stop at the first failed image instead of carrying on
    shard: tuple[int, int] | None = None  # (I, N): do inputs I, I+N, ...; None -> RANK/WORLD_SIZE if set
    batch_size: int = 1  # images of equal size per model call: >1 pays off on GPU, 1 on CPU
    io_workers: int = 2  # decode/encode threads; 0 runs everything in the main thread
    quality: int = images.DEFAULT_QUALITY  # JPEG/WebP quality of outputs
    max_pixels: int = images.DEFAULT_MAX_PIXELS  # refuse larger inputs (decompression-bomb guard)
    ray: str | None = None  # run on Ray (stylize.cluster): "local", "auto", ray://HOST:PORT or HOST:PORT
    ray_workers: int = 0  # Ray actors; 0: one per GPU, else one per few CPU cores

    def __post_init__(self) -> None:
        if self.output is not None:
            object.__setattr__(self, "output", location(self.output))  # a str from the CLI or a library caller
        _at_least(self.batch_size, 1, "--batch-size")
        _at_least(self.io_workers, 0, "--io-workers")
        _at_least(self.max_pixels, 1, "--max-pixels")
        if not 1 <= self.quality <= 100:
            raise UsageError(f"--quality must be between 1 and 100, not {self.quality}")
        if self.shard is not None:
            check_shard(*self.shard)
        if self.ext is not None:
            ext_suffix(self.ext)
        if self.ray is not None:
            check_ray_address(self.ray)
        _at_least(self.ray_workers, 0, "--ray-workers")
        check_template(self.name)

    def pixel_settings(self) -> dict[str, Any]:
        """The batch settings that change an output's pixels, for its job signature."""
        return {"quality": self.quality}


def _at_least(value: int, low: int, flag: str) -> None:
    if value < low:
        raise UsageError(f"{flag} must be at least {low}, not {value}")


def check_ray_address(text: str) -> None:
    """``--ray``: ``local`` (this machine), ``auto``, ``ray://HOST[:PORT]`` or ``HOST:PORT``; else a UsageError."""
    if text in ("local", "auto") or text.startswith("ray://"):
        return
    host, _, port = text.rpartition(":")
    if not host or "/" in host or not port.isdigit():
        raise UsageError(
            f"--ray {text}: not a Ray address",
            "give --ray alone (this machine), auto, ray://HOST:10001 or HOST:PORT; put --ray after the inputs",
        )


def check_template(template: str) -> None:
    """Refuse unknown placeholders up front (a typo would otherwise fail on the first image)."""
    try:
        names = [name for _, name, _, _ in string.Formatter().parse(template) if name is not None]
    except ValueError as exc:
        raise UsageError(f"--name {template!r}: {exc}") from exc
    unknown = [name for name in names if name not in PLACEHOLDERS]
    if unknown:
        known = " ".join("{" + p + "}" for p in PLACEHOLDERS)
        raise UsageError(f"--name {template!r}: unknown placeholder {{{unknown[0]}}}", f"use {known}")


def ext_suffix(ext: str) -> str:
    suffix = "." + ext.lower().lstrip(".")
    if suffix not in images.FORMATS and suffix not in video.OUTPUT_EXTENSIONS:
        known = " ".join(sorted(s[1:] for s in {*images.FORMATS, *video.OUTPUT_EXTENSIONS}))
        raise UsageError(f"--ext {ext}: cannot write this format", f"use one of {known}")
    return suffix


def parse_shard(text: str) -> tuple[int, int]:
    """``"I/N"`` (I counted from 0) -> (I, N); anything else is a UsageError."""
    index, slash, count = text.strip().partition("/")
    try:
        shard = (int(index), int(count))
    except ValueError:
        raise UsageError(f"--shard {text!r}: expected I/N, e.g. 0/4", "I counts from 0 and is below N") from None
    if not slash:
        raise UsageError(f"--shard {text!r}: expected I/N, e.g. 0/4")
    return check_shard(*shard)


def check_shard(index: int, count: int) -> tuple[int, int]:
    if count < 1 or not 0 <= index < count:
        raise UsageError(f"shard {index}/{count}: need 0 <= I < N", "I counts from 0, e.g. --shard 0/4 .. 3/4")
    return index, count


def resolve_shard(shard: tuple[int, int] | None, environ: Mapping[str, str] = os.environ) -> tuple[int, int] | None:
    """``--shard`` if given, else torchrun's RANK/WORLD_SIZE when both are set, else no sharding."""
    if shard is not None:
        return check_shard(*shard)
    rank, world = environ.get("RANK"), environ.get("WORLD_SIZE")
    if rank is None or world is None:
        return None
    try:
        return parse_shard(f"{rank}/{world}")
    except UsageError:
        raise UsageError(
            f"the environment says RANK={rank} WORLD_SIZE={world}: need 0 <= RANK < WORLD_SIZE",
            "these are set by torchrun; unset them, or pass --shard I/N",
        ) from None

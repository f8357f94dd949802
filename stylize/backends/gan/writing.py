"""Writing sampled images: one file per image, contact sheets, looping animations; each atomically."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PIL import Image
from torch import Tensor

from stylize.errors import UsageError
from stylize.files import atomic_path
from stylize.images import save_image
from stylize.plot import image_grid


def to_image(t: Tensor) -> Image.Image:
    """(C, H, W) in [0, 1] -> a PIL image: mode L for one channel, RGB for three (rounded)."""
    arr = t.detach().float().clamp(0, 1).mul(255).round().to("cpu").byte()
    if arr.shape[0] == 1:
        return Image.fromarray(arr[0].numpy(), mode="L")
    return Image.fromarray(arr.permute(1, 2, 0).contiguous().numpy(), mode="RGB")


def grid_image(batch: Tensor, nrow: int = 0, padding: int = 2) -> Image.Image:
    """A contact sheet of (N, C, H, W) images, ``nrow`` per row (0: about sqrt(N))."""
    columns = nrow or max(1, math.ceil(math.sqrt(len(batch))))
    grid = image_grid([to_image(t) for t in batch], columns=columns, padding=padding)
    return grid.convert("L") if batch.shape[1] == 1 else grid


def write_grid(batch: Tensor, path: str | os.PathLike[str], nrow: int = 0) -> Path:
    """Write a contact sheet atomically (over an existing file)."""
    return save_image(grid_image(batch, nrow), path, overwrite=True)


def write_images(batch: Tensor, paths: Sequence[Path], overwrite: bool = True) -> list[Path]:
    """One file per image, each written atomically."""
    return [save_image(to_image(t), p, overwrite=overwrite) for t, p in zip(batch, paths)]


def write_animation(frames: Tensor, path: str | os.PathLike[str], fps: int = 12) -> Path:
    """An endlessly looping GIF or (lossless) WebP of the frames, written atomically."""
    path = Path(path)
    pictures = [to_image(t) for t in frames]
    fmt = {".gif": "GIF", ".webp": "WEBP"}.get(path.suffix.lower())
    if fmt is None:
        raise UsageError(f"{path}: animations are written as .gif or .webp")
    extra: dict[str, Any] = {"lossless": True} if fmt == "WEBP" else {"disposal": 1}
    with atomic_path(path) as tmp:
        pictures[0].save(
            tmp, format=fmt, save_all=True, append_images=pictures[1:], duration=round(1000 / fps), loop=0, **extra
        )
    return path

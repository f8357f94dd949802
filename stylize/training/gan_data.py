"""GAN training data: MNIST-format idx(.gz) files held in memory (labels make a class-conditional
model), or an image folder (recursive) through ``training.BatchStream``; batches in [-1, 1]."""

from __future__ import annotations

import gzip
import math
import os
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from stylize import training as tr
from stylize.config import GANTrainConfig
from stylize.errors import InputError
from stylize.progress import Reporter
from stylize.training import InfiniteSampler
from stylize.training.dist import Distributed

IDX_MAGIC = {0x0801: 1, 0x0803: 3}  # unsigned-byte idx: labels (1 dim), images (3 dims)
FASHION_MNIST_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)


# ---------------------------------------------------------------- idx (MNIST format) files


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """An unsigned-byte idx file (optionally .gz) as a uint8 array: (N,) labels or (N, H, W) images."""
    path = Path(path)
    try:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rb") as fh:
            data = fh.read()
    except (OSError, EOFError) as exc:
        raise InputError(f"{path}: cannot read idx file ({exc})") from exc
    if len(data) < 8:
        raise InputError(f"{path}: too short for an idx file")
    magic = struct.unpack(">I", data[:4])[0]
    if magic not in IDX_MAGIC:
        raise InputError(f"{path}: not an unsigned-byte idx file (magic {magic:#x})")
    dims = IDX_MAGIC[magic]
    shape = struct.unpack(f">{dims}I", data[4 : 4 + 4 * dims])
    offset, count = 4 + 4 * dims, math.prod(shape)
    if len(data) - offset != count:
        raise InputError(f"{path}: holds {len(data) - offset:,} bytes of data, its header says {count:,}")
    return np.frombuffer(data, dtype=np.uint8, offset=offset).reshape(shape)


def write_idx(path: str | os.PathLike[str], array: np.ndarray) -> Path:
    """Write uint8 labels (N,) or images (N, H, W) as an idx file (``.gz`` compressed by name)."""
    path = Path(path)
    array = np.ascontiguousarray(array, dtype=np.uint8)
    magic = {1: 0x0801, 3: 0x0803}[array.ndim]
    payload = struct.pack(f">I{array.ndim}I", magic, *array.shape) + array.tobytes()
    path.write_bytes(gzip.compress(payload, mtime=0) if path.suffix == ".gz" else payload)
    return path


def _is_idx(path: Path) -> bool:
    name = path.name.lower()
    return "idx3" in name or "idx1" in name


def find_idx(data: Path) -> tuple[Path, Path | None] | None:
    """(images, labels or None) when ``data`` is an idx images file or a folder holding one."""
    if data.is_file():
        return (data, _labels_for(data)) if _is_idx(data) else None
    if not data.is_dir():
        raise InputError(f"{data}: no such file or folder")
    candidates = sorted(p for p in data.iterdir() if p.is_file() and "idx3" in p.name.lower())
    if not candidates:
        return None
    train = [p for p in candidates if "train" in p.name.lower()]
    images = (train or candidates)[0]
    return images, _labels_for(images)


def _labels_for(images: Path) -> Path | None:
    name = images.name.replace("images", "labels").replace("idx3", "idx1")
    path = images.with_name(name)
    return path if path != images and path.is_file() else None


@dataclass(frozen=True)
class ArrayData:
    """Images held in memory: uint8 (N, C, H, W) and optional labels (N,)."""

    images: Tensor
    labels: Tensor | None
    num_classes: int
    class_names: tuple[str, ...]
    name: str


def load_idx_data(images_path: Path, labels_path: Path | None, size: int, channels: int, use_labels: bool) -> ArrayData:
    """Read idx images (and labels), resized to ``size`` (0 keeps them) and repeated to ``channels``."""
    images = torch.from_numpy(read_idx(images_path).copy())
    if images.ndim != 3:
        raise InputError(f"{images_path}: expected images (N, H, W), found shape {tuple(images.shape)}")
    images = _fit(images[:, None], size, channels)
    labels, num_classes, names = None, 0, ()
    if use_labels and labels_path is not None:
        labels = torch.from_numpy(read_idx(labels_path).astype("int64"))
        if labels.ndim != 1 or len(labels) != len(images):
            raise InputError(f"{labels_path}: {len(labels)} labels for {len(images)} images")
        num_classes = int(labels.max()) + 1
    fashion = _is_fashion_mnist(images_path)
    names = FASHION_MNIST_CLASSES if fashion and num_classes == 10 else tuple(str(i) for i in range(num_classes))
    return ArrayData(images, labels, num_classes, names, "Fashion-MNIST" if fashion else images_path.parent.name)


def _is_fashion_mnist(images_path: Path) -> bool:
    """True when the path or a LICENSE/README beside the file names Fashion-MNIST (for class names)."""
    if "fashion" in str(images_path.resolve()).lower():
        return True
    for note in sorted(images_path.parent.glob("*")):
        small_note = note.stem.upper() in ("LICENSE", "README", "COPYING") and note.is_file()
        if small_note and note.stat().st_size < 65536 and "fashion-mnist" in note.read_text(errors="replace").lower():
            return True
    return False


def _fit(images: Tensor, size: int, channels: int) -> Tensor:
    """uint8 (N, c, h, w) -> uint8 (N, channels, size, size): antialiased bilinear resize, channel repeat."""
    if size and (images.shape[-1] != size or images.shape[-2] != size):
        out = []
        for chunk in images.split(4096):
            resized = F.interpolate(chunk.float(), size=(size, size), mode="bilinear", antialias=True)
            out.append(resized.round().clamp(0, 255).to(torch.uint8))
        images = torch.cat(out)
    return images.expand(-1, channels, -1, -1).contiguous() if images.shape[1] != channels else images


class ArrayStream:
    """Endless shuffled batches from in-memory images; ``start`` batches already consumed (resume)."""

    def __init__(
        self, data: ArrayData, batch_size: int, device: torch.device, seed: int, dist: Distributed, start: int
    ) -> None:
        self.data, self.batch_size, self.device = data, batch_size, device
        sampler = InfiniteSampler(
            len(data.images), seed=seed, rank=dist.rank, world_size=dist.world_size, start=start * batch_size
        )
        self._indices = iter(sampler)

    def __next__(self) -> tuple[Tensor, Tensor | None]:
        index = torch.tensor([next(self._indices) for _ in range(self.batch_size)])
        images = self.data.images[index].to(self.device, non_blocking=True).float().div_(127.5).sub_(1.0)
        labels = self.data.labels[index].to(self.device) if self.data.labels is not None else None
        return images, labels  # (B, C, H, W) in [-1, 1], (B,)

    def close(self) -> None:
        pass


class FolderStream:
    """Endless batches from an image folder (``training.BatchStream``), in [-1, 1], no labels."""

    def __init__(
        self,
        root: Path,
        size: int,
        channels: int,
        batch_size: int,
        device: torch.device,
        config: GANTrainConfig,
        dist: Distributed,
        start: int,
        reporter: Reporter,
    ) -> None:
        dataset = tr.ImageFolderDataset(root, resize=size, crop=size)
        self.count, self.channels = len(dataset), channels
        self.stream = tr.BatchStream(
            dataset,
            batch_size,
            device,
            workers=config.workers,
            seed=config.seed,
            dist=dist,
            start=start,
            reporter=reporter,
        )

    def __next__(self) -> tuple[Tensor, None]:
        images = next(self.stream)  # (B, 3, H, W) in [0, 1]
        if self.channels == 1:
            weights = images.new_tensor([0.299, 0.587, 0.114])[None, :, None, None]  # ITU-R 601 luma
            images = (images * weights).sum(dim=1, keepdim=True)
        return images * 2.0 - 1.0, None

    def close(self) -> None:
        self.stream.close()

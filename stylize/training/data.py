"""Training data: image folders as datasets, and endless, resumable, sharded batches."""

from __future__ import annotations

import contextlib
import math
import os
import signal
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, Sampler

from stylize import images
from stylize.errors import InputError, UsageError
from stylize.progress import NullReporter, Reporter
from stylize.training.dist import Distributed, mix_seed

MAX_SKIPS = 32  # undecodable files tried in a row before a dataset gives up
FLAT_RETRIES = 8  # new random crops drawn when one is flat (see ImageFolderDataset's min_contrast)
Sample = tuple[Tensor, tuple[str, ...]]  # image (3, crop, crop) uint8, and why files were skipped


# ---------------------------------------------------------------- image folders


def list_images(root: str | os.PathLike[str]) -> list[Path]:
    """Every image file under ``root`` (recursively, following links), sorted; hidden ones skipped.

    Sorted so every rank of a distributed run sees the same list.
    """
    root = Path(root)
    if not root.is_dir():
        raise InputError(f"{root}: no such folder" if not root.exists() else f"{root}: is not a folder")
    found: list[Path] = []
    seen: set[str] = set()
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        real = os.path.realpath(dirpath)
        dirnames[:] = [] if real in seen else sorted(d for d in dirnames if not d.startswith("."))
        if real not in seen:
            seen.add(real)
            found += [Path(dirpath, name) for name in sorted(filenames) if _is_image_name(name)]
    if not found:
        known = ", ".join(sorted(images.IMAGE_EXTENSIONS))
        raise InputError(f"{root}: no images found", f"looked for files ending in {known}")
    return sorted(found)


def _is_image_name(name: str) -> bool:
    return not name.startswith(".") and Path(name).suffix.lower() in images.IMAGE_EXTENSIONS


def resize_and_crop(img: Image.Image, resize: int, crop: int, random_crop: bool = True) -> Image.Image:
    """Short side to ``resize`` (0 keeps it; never below ``crop``), then a ``crop`` square.

    The square is random (``torch``'s RNG, seeded per DataLoader worker) or centred.
    """
    img = images.resize_to(img, covering_size(img.size, resize, crop))
    left, top = _offset(img.width - crop, random_crop), _offset(img.height - crop, random_crop)
    return img.crop((left, top, left + crop, top + crop))


def covering_size(size: tuple[int, int], resize: int, crop: int) -> tuple[int, int]:
    """(W, H) scaled so the short side is ``resize`` (0 keeps it), never below ``crop``."""
    w, h = size
    scale = max(resize or min(w, h), crop) / min(w, h)
    return max(crop, round(w * scale)), max(crop, round(h * scale))


def is_flat(crop: Tensor, min_contrast: float) -> bool:
    """True when every channel of ``crop`` (3, H, W) uint8 has a standard deviation below ``min_contrast``."""
    if min_contrast <= 0:
        return False
    return bool((crop.flatten(1).float().std(dim=1) < min_contrast).all())


def random_resized_square(img: Image.Image, size: int, min_scale: float) -> Image.Image:
    """A random square covering ``min_scale``..1 of the short side (in area), resized to ``size``.

    torchvision's ``RandomResizedCrop`` with the aspect ratio fixed at 1 (a square never
    distorts the photo); ``torch``'s RNG, seeded per DataLoader worker.
    """
    short = min(img.size)
    area = min_scale + (1.0 - min_scale) * float(torch.rand(()))
    side = max(1, min(short, round(short * math.sqrt(area))))
    left, top = _offset(img.width - side, True), _offset(img.height - side, True)
    return images.resize_to(img.crop((left, top, left + side, top + side)), (size, size))


def _offset(slack: int, random_crop: bool) -> int:
    return int(torch.randint(slack + 1, ()).item()) if random_crop and slack else slack // 2


def pil_to_uint8(img: Image.Image) -> Tensor:
    """RGB PIL image -> uint8 tensor (3, H, W): a quarter of float32's size to pass between processes."""
    arr = np.asarray(img.convert("RGB"), dtype=np.uint8)  # (H, W, 3)
    return torch.from_numpy(arr.copy()).permute(2, 0, 1).contiguous()


class ImageFolderDataset(Dataset):
    """Images under ``root``, resized so the short side is ``resize`` and cropped to ``crop`` squares.

    With ``min_scale`` below 1, random crops are instead squares covering ``min_scale``..1 of
    the short side's square (in area) resized to ``crop`` (see :func:`random_resized_square`);
    previews stay centre crops after the resize. With ``min_contrast``, a random crop whose
    pixel standard deviation (0-255) is below it in every channel is drawn again, up to
    ``FLAT_RETRIES`` times: a flat crop gives a normalisation layer nothing to normalise.

    Item ``i`` is ``(image, skipped)``: image (3, crop, crop) uint8, and one message per
    undecodable file that was passed over to reach it (the next file is used instead), so
    the process that reads the batches can report them; :func:`collate_samples` batches them.
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        resize: int = 512,
        crop: int = 256,
        *,
        random_crop: bool = True,
        max_pixels: int = images.DEFAULT_MAX_PIXELS,
        min_scale: float = 1.0,
        min_contrast: float = 0.0,
    ) -> None:
        if not 0.0 < min_scale <= 1.0:
            raise UsageError(f"the crop scale must be in (0, 1], not {min_scale}")
        if crop < 1 or resize < 0:
            raise UsageError(f"crop must be positive and resize 0 or positive, not crop {crop}, resize {resize}")
        if resize and resize < crop:
            raise UsageError(f"crop {crop} is larger than the resized short side {resize}", "use a smaller crop")
        self.root, self.resize, self.crop = Path(root), resize, crop
        self.random_crop, self.max_pixels, self.min_scale = random_crop, max_pixels, min_scale
        self.min_contrast = min_contrast
        self.paths = list_images(self.root)

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> Sample:
        skipped: list[str] = []
        for step in range(min(len(self.paths), MAX_SKIPS)):
            path = self.paths[(index + step) % len(self.paths)]
            try:
                return self.load(path, self.random_crop), tuple(skipped)
            except Exception as exc:  # noqa: BLE001 - one odd file must not end a long run
                skipped.append(_why(path, exc))
        raise InputError(f"{self.root}: {len(skipped)} images in a row cannot be decoded", skipped[0])

    def load(self, path: Path, random_crop: bool) -> Tensor:
        """One image (3, crop, crop) uint8; raises for undecodable files."""
        picture = images.open_image(path, self.max_pixels)
        return self._unflat(lambda: self._crop(picture.rgb, random_crop), random_crop)

    def _unflat(self, draw: Callable[[], Tensor], random_crop: bool) -> Tensor:
        """``draw()``, drawn again (up to FLAT_RETRIES times) while its first three channels are flat."""
        crop = draw()
        for _ in range(FLAT_RETRIES if random_crop else 0):
            if not is_flat(crop[:3], self.min_contrast):
                break
            crop = draw()
        return crop

    def _crop(self, img: Image.Image, random_crop: bool) -> Tensor:
        if random_crop and self.min_scale < 1.0:
            return pil_to_uint8(random_resized_square(img, self.crop, self.min_scale))
        return pil_to_uint8(resize_and_crop(img, self.resize, self.crop, random_crop))

    def preview(self, count: int) -> Tensor:
        """Centre crops (count, 3, crop, crop) in [0, 1] of evenly spaced images: fixed samples."""
        picks = [(k * len(self.paths)) // count for k in range(count)]
        crops = [self._centre(index) for index in picks]
        return torch.stack(crops).float().div_(255.0)

    def _centre(self, index: int) -> Tensor:
        for step in range(min(len(self.paths), MAX_SKIPS)):
            with contextlib.suppress(Exception):
                return self.load(self.paths[(index + step) % len(self.paths)], random_crop=False)
        raise InputError(f"{self.root}: no decodable image near {self.paths[index]}")


class TeacherPairs(ImageFolderDataset):
    """Photos under ``root``, each with a teacher's picture of it: ``teacher/<path under root>.png``
    (``a/b.jpg`` -> ``a/b.jpg.png``: photos that differ only by extension get pictures of their own),
    painted at the size the photo is to be learnt at (``train-fast --teacher``).

    Item ``i`` is ``(pair, skipped)``: the same ``crop`` square of the photo (resized to its
    picture's size) and of the picture, stacked as (6, crop, crop) uint8, photo first. Crops are
    taken at the picture's own scale (a picture's strokes keep their size); one smaller than
    ``crop`` is enlarged to it. Photos the teacher did not paint are left out (``missing``).
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        teacher: str | os.PathLike[str],
        crop: int = 256,
        *,
        random_crop: bool = True,
        max_pixels: int = images.DEFAULT_MAX_PIXELS,
        min_contrast: float = 0.0,
    ) -> None:
        super().__init__(root, 0, crop, random_crop=random_crop, max_pixels=max_pixels, min_contrast=min_contrast)
        self.teacher = Path(teacher)
        painted = [path for path in self.paths if self.picture_of(path).is_file()]
        if not painted:
            raise InputError(
                f"{self.teacher}: the teacher painted none of the photos under {self.root}",
                "see the teacher's errors above",
            )
        self.missing = len(self.paths) - len(painted)
        self.paths = painted

    def picture_of(self, photo: Path) -> Path:
        """Where the teacher's picture of ``photo`` (a file under the root) is."""
        relative = photo.relative_to(self.root)
        return self.teacher / relative.with_name(f"{relative.name}.png")

    def load(self, path: Path, random_crop: bool) -> Tensor:
        picture = images.open_image(self.picture_of(path), self.max_pixels).rgb
        photo = images.open_image(path, self.max_pixels).rgb
        size = covering_size(picture.size, 0, self.crop)
        photo = images.resize_to(photo, size) if photo.size != size else photo
        picture = images.resize_to(picture, size) if picture.size != size else picture
        return self._unflat(lambda: self._pair(photo, picture, random_crop), random_crop)

    def _pair(self, photo: Image.Image, picture: Image.Image, random_crop: bool) -> Tensor:
        left, top = _offset(photo.width - self.crop, random_crop), _offset(photo.height - self.crop, random_crop)
        box = (left, top, left + self.crop, top + self.crop)
        return torch.cat([pil_to_uint8(photo.crop(box)), pil_to_uint8(picture.crop(box))])


def _why(path: Path, exc: Exception) -> str:
    if isinstance(exc, InputError):
        return exc.one_line()
    return f"{path}: cannot decode ({type(exc).__name__}: {exc})"


def collate_samples(batch: Sequence[Sample]) -> tuple[Tensor, tuple[str, ...]]:
    """Stack images into (B, 3, H, W) uint8 and gather the skip messages."""
    return torch.stack([image for image, _ in batch]), tuple(msg for _, why in batch for msg in why)


# ---------------------------------------------------------------- endless batches


class InfiniteSampler(Sampler[int]):
    """Indices forever: a fresh shuffle each pass, rank ``r`` taking every ``world_size``-th one.

    Each pass is padded (by wrapping) to a multiple of ``world_size`` so ranks get equal
    shares, like ``DistributedSampler``; unlike it, tiny datasets never run dry and no epoch
    boundary restarts the workers. ``start`` skips that many of this rank's indices, so a
    resumed run continues the same order.
    """

    def __init__(
        self, size: int, *, seed: int = 0, rank: int = 0, world_size: int = 1, start: int = 0, shuffle: bool = True
    ) -> None:
        if size < 1:
            raise ValueError("InfiniteSampler needs at least one item")
        self.size, self.seed, self.rank, self.world_size = size, seed, rank, world_size
        self.start, self.shuffle = start, shuffle
        self.per_rank = math.ceil(size / world_size)

    def __iter__(self) -> Iterator[int]:
        epoch, offset = divmod(self.start, self.per_rank)
        while True:
            yield from self.order(epoch)[self.rank :: self.world_size][offset:]
            epoch, offset = epoch + 1, 0

    def order(self, epoch: int) -> list[int]:
        """All ranks' indices for pass ``epoch``, padded to ``per_rank * world_size``."""
        if self.shuffle:
            generator = torch.Generator().manual_seed(mix_seed(self.seed, epoch))
            order = torch.randperm(self.size, generator=generator).tolist()
        else:
            order = list(range(self.size))
        total = self.per_rank * self.world_size
        return (order * math.ceil(total / self.size))[:total]


def default_workers() -> int:
    """DataLoader worker processes per rank when not given: min(2, CPU count)."""
    return min(2, os.cpu_count() or 1)


def _worker_init(worker_id: int) -> None:
    torch.set_num_threads(1)  # workers decode; leave the cores to the main process
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the main process's to handle
    # the main process stops the workers itself after saving; `kill -TERM -- -PGID` must not kill
    # them first (the loader would then fail with "worker killed" instead of saving a checkpoint)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


class BatchStream:
    """Endless batches (B, 3, crop, crop) float in [0, 1] on ``device`` from an image dataset.

    Each skipped file is reported once, as a warning, through ``reporter``. ``start`` is the
    number of batches already consumed (the resumed iteration).
    """

    def __init__(
        self,
        dataset: ImageFolderDataset,
        batch_size: int,
        device: torch.device,
        *,
        workers: int | None = None,
        seed: int = 0,
        dist: Distributed | None = None,
        start: int = 0,
        reporter: Reporter | None = None,
    ) -> None:
        dist = dist or Distributed()
        workers = default_workers() if workers is None else workers
        sampler = InfiniteSampler(
            len(dataset), seed=seed, rank=dist.rank, world_size=dist.world_size, start=start * batch_size
        )
        self.loader = DataLoader(
            dataset,
            batch_size=batch_size,
            sampler=sampler,
            num_workers=workers,
            collate_fn=collate_samples,
            pin_memory=device.type == "cuda",
            drop_last=True,
            worker_init_fn=_worker_init,
            prefetch_factor=4 if workers else None,
            generator=torch.Generator().manual_seed(mix_seed(seed, dist.rank, start)),
        )
        self.device, self.reporter = device, reporter or NullReporter()
        self._batches: Iterator[tuple[Tensor, tuple[str, ...]]] | None = iter(self.loader)
        self._reported: set[str] = set()

    def __iter__(self) -> BatchStream:
        return self

    def __next__(self) -> Tensor:
        if self._batches is None:
            raise StopIteration
        batch, skipped = next(self._batches)
        self._report(skipped)
        return batch.to(self.device, non_blocking=True).float().div_(255.0)

    def _report(self, skipped: Sequence[str]) -> None:
        for message in skipped:
            if message not in self._reported:
                self._reported.add(message)
                self.reporter.log(f"skipped {message}", "warning")

    def close(self) -> None:
        """Stop the worker processes."""
        self._batches = None

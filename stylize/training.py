"""Reusable training pieces: image folders, endless batches, resumable checkpoints, loss logs,
sample grids, and the DDP / AMP / Ctrl-C plumbing every trainer needs.

    with distributed_session(device_spec) as (dist, device), GracefulStop() as stop:
        data = BatchStream(ImageFolderDataset(root, resize=512, crop=256), 8, device, dist=dist)
        ...
        save_training_checkpoint(files.checkpoint, model.state_dict(), meta, state)

Compute never prints: warnings go through a ``Reporter``; problems are ``StylizeError``s. Under
``torchrun`` every rank trains, and only rank 0 writes files or reports progress.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import random
import signal
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset, Sampler

from stylize import images
from stylize.checkpoints import STATE_SUFFIX, load_tensors, save_checkpoint
from stylize.devices import resolve_device
from stylize.errors import DeviceError, InputError, Interrupted, OutputError, Terminated, UsageError, WeightsError
from stylize.files import atomic_path, atomic_write_bytes
from stylize.plot import image_grid, loss_series, save_loss_plot
from stylize.progress import NullReporter, Reporter

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
    w, h = img.size
    scale = max(resize or min(w, h), crop) / min(w, h)
    img = images.resize_to(img, (max(crop, round(w * scale)), max(crop, round(h * scale))))
    left, top = _offset(img.width - crop, random_crop), _offset(img.height - crop, random_crop)
    return img.crop((left, top, left + crop, top + crop))


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
        crop = self._crop(picture.rgb, random_crop)
        for _ in range(FLAT_RETRIES if random_crop else 0):
            if not is_flat(crop, self.min_contrast):
                break
            crop = self._crop(picture.rgb, random_crop)
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
            generator = torch.Generator().manual_seed(_mix(self.seed, epoch))
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
            dataset, batch_size=batch_size, sampler=sampler, num_workers=workers, collate_fn=collate_samples,
            pin_memory=device.type == "cuda", drop_last=True, worker_init_fn=_worker_init,
            prefetch_factor=4 if workers else None, generator=torch.Generator().manual_seed(_mix(seed, dist.rank, start)),
        )  # fmt: skip
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


# ---------------------------------------------------------------- seeds and precision


def _mix(*parts: int) -> int:
    """One 63-bit seed from several integers (hash of an int tuple is stable across runs)."""
    return hash(tuple(parts)) & 0x7FFF_FFFF_FFFF_FFFF


def seed_everything(seed: int, *salt: int) -> None:
    """Seed torch's and Python's RNGs from ``seed`` and e.g. (rank, start iteration)."""
    mixed = _mix(seed, *salt)
    random.seed(mixed)
    torch.manual_seed(mixed)


@contextlib.contextmanager
def flush_denormals() -> Iterator[None]:
    """Treat denormal floats as 0 on CPU inside the block, then restore torch's default (off).

    Tiny gradients can be denormal, and CPU maths on them runs several times slower. The
    setting is per thread: it covers the calling thread and threads it starts later.
    """
    changed = torch.set_flush_denormal(True)
    try:
        yield
    finally:
        if changed:
            torch.set_flush_denormal(False)


def grad_scaler(precision: str, device: torch.device) -> torch.amp.GradScaler:
    """A loss scaler, enabled only for fp16 (bf16 has fp32's range and needs none)."""
    return torch.amp.GradScaler(device.type, enabled=precision == "fp16")


# ---------------------------------------------------------------- distributed


@dataclass(frozen=True)
class Distributed:
    """Where this process sits in a ``torchrun`` job (one process: rank 0 of 1)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world_size > 1


def detect_distributed(environ: Mapping[str, str] | None = None) -> Distributed:
    """Read RANK, WORLD_SIZE and LOCAL_RANK as ``torchrun`` sets them; absent means one process."""
    env = os.environ if environ is None else environ
    if "RANK" not in env or "WORLD_SIZE" not in env:
        return Distributed()
    try:
        rank, world = int(env["RANK"]), int(env["WORLD_SIZE"])
        local = int(env.get("LOCAL_RANK", rank))
    except ValueError as exc:
        raise UsageError(f"RANK, WORLD_SIZE and LOCAL_RANK must be integers ({exc})", "launch with torchrun") from exc
    if not 0 <= rank < world:
        raise UsageError(f"RANK {rank} is outside WORLD_SIZE {world}", "launch with torchrun")
    return Distributed(rank, world, local)


def rank_device(device: torch.device, dist: Distributed) -> torch.device:
    """One GPU per process: under ``torchrun`` a CUDA device becomes ``cuda:LOCAL_RANK``."""
    if device.type != "cuda" or not dist.active:
        return device
    if dist.local_rank >= torch.cuda.device_count():
        raise DeviceError(f"LOCAL_RANK {dist.local_rank} has no GPU ({torch.cuda.device_count()} here)")
    return torch.device("cuda", dist.local_rank)


@contextlib.contextmanager
def distributed_session(device_spec: str | None = None) -> Iterator[tuple[Distributed, torch.device]]:
    """Resolve the device and, under ``torchrun``, join the process group (NCCL on CUDA, else gloo)."""
    dist = detect_distributed()
    device = rank_device(resolve_device(device_spec), dist)
    if not dist.active or torch.distributed.is_initialized():
        yield dist, device
        return
    if device.type == "cuda":
        torch.cuda.set_device(device)
    backend = "nccl" if device.type == "cuda" else "gloo"
    torch.distributed.init_process_group(backend, device_id=device if device.type == "cuda" else None)
    try:
        yield dist, device
        # every rank past its last collective before the group goes: a rank that tore gloo down while
        # another was still in a collective aborted at exit ("terminate called without an active
        # exception", about 1 run in 5 of the two-process test, before this change too)
        torch.distributed.barrier()
    finally:
        torch.distributed.destroy_process_group()


def wrap_ddp(model: nn.Module, dist: Distributed, device: torch.device) -> nn.Module:
    """``model`` in DistributedDataParallel when distributed (weights broadcast from rank 0)."""
    if not dist.active:
        return model
    from torch.nn.parallel import DistributedDataParallel

    return DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)


def unwrap(model: nn.Module) -> nn.Module:
    """The module inside a DDP wrapper (its state dict has the plain keys)."""
    from torch.nn.parallel import DistributedDataParallel

    return model.module if isinstance(model, DistributedDataParallel) else model


def barrier(dist: Distributed) -> None:
    """Wait for every rank (e.g. until rank 0 has written the checkpoint)."""
    if dist.active and torch.distributed.is_initialized():
        torch.distributed.barrier()


def all_reduce_mean(values: Tensor, dist: Distributed) -> Tensor:
    """Element-wise mean of ``values`` over all ranks (itself when not distributed)."""
    if not dist.active:
        return values
    values = values.clone()
    torch.distributed.all_reduce(values)
    return values / dist.world_size


def any_rank(flag: bool, dist: Distributed, device: torch.device) -> bool:
    """True when ``flag`` is true on any rank: every rank gets the same answer."""
    if not dist.active:
        return flag
    return bool(all_reduce_mean(torch.tensor([float(flag)], device=device), dist).item() > 0)


class _RankWarnings(NullReporter):
    """A non-main rank's reporter: only warnings pass, tagged with the rank."""

    def __init__(self, inner: Reporter, rank: int) -> None:
        self.inner, self.rank = inner, rank

    def log(self, message: str, level: str = "info") -> None:
        if level == "warning":
            self.inner.log(f"[rank {self.rank}] {message}", level)


def rank_reporter(reporter: Reporter, dist: Distributed) -> Reporter:
    """``reporter`` on rank 0; elsewhere one that passes warnings only (no duplicate bars)."""
    return reporter if dist.is_main else _RankWarnings(reporter, dist.rank)


# ---------------------------------------------------------------- Ctrl-C and SIGTERM


class GracefulStop:
    """Turns the first Ctrl-C (or SIGTERM) into ``requested``; the loop checks it between steps.

    The loop then saves a checkpoint and stops, so no optimizer step is ever half-applied.
    A second Ctrl-C stops at once; a SIGTERM after Ctrl-C does not (``torchrun`` sends one to
    every rank when it is interrupted, and the ranks should still save). Outside the main
    thread it installs nothing.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.requested = False
        self.exit_code = Interrupted.exit_code  # Terminated's (143) when the first request was a SIGTERM
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> GracefulStop:  # noqa: PYI034 - Self needs Python 3.11
        if threading.current_thread() is threading.main_thread():
            self._previous = {sig: signal.signal(sig, self._handle) for sig in self.SIGNALS}
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous = {}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.requested and signum == signal.SIGINT:
            raise KeyboardInterrupt
        if not self.requested and signum == signal.SIGTERM:
            self.exit_code = Terminated.exit_code
        self.requested = True


# ---------------------------------------------------------------- checkpoints


def state_path(checkpoint: str | os.PathLike[str]) -> Path:
    """``decoder.safetensors`` -> ``decoder.state.pt``: the optimizer state beside the weights."""
    checkpoint = Path(checkpoint)
    return checkpoint.with_name(checkpoint.stem + STATE_SUFFIX)


@dataclass
class TrainState:
    """What resuming needs besides the weights: the iteration, optimizer and grad-scaler states."""

    iteration: int = 0
    optimizers: dict[str, torch.optim.Optimizer] = field(default_factory=dict)
    scaler: torch.amp.GradScaler | None = None

    def state_dict(self) -> dict[str, Any]:
        scaler = self.scaler.state_dict() if self.scaler is not None and self.scaler.is_enabled() else {}
        optimizers = {name: opt.state_dict() for name, opt in self.optimizers.items()}
        return {"iteration": self.iteration, "optimizers": optimizers, "scaler": scaler}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        saved = state.get("optimizers", {})
        missing = sorted(set(self.optimizers) - set(saved))
        if missing:
            raise WeightsError(f"training state has no optimizer state for {', '.join(missing)}")
        for name, opt in self.optimizers.items():
            opt.load_state_dict(saved[name])
        if self.scaler is not None and self.scaler.is_enabled() and state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        self.iteration = int(state["iteration"])


def save_training_checkpoint(
    path: str | os.PathLike[str], tensors: Mapping[str, Tensor], meta: Mapping[str, Any], state: TrainState
) -> Path:
    """Weights as safetensors with ``meta`` + the iteration, training state as ``.state.pt``.

    Both are written atomically, the state first; each records the iteration, so a crash
    between the two renames is caught when resuming.
    """
    with atomic_path(state_path(path)) as tmp:
        torch.save(state.state_dict(), tmp)
    return save_checkpoint(path, dict(tensors), {**meta, "iteration": state.iteration})


@dataclass(frozen=True)
class Resumed:
    """A checkpoint to continue from: weights, their metadata, and the training state."""

    tensors: dict[str, Tensor]
    meta: dict[str, Any]
    state: dict[str, Any]

    @property
    def iteration(self) -> int:
        return int(self.meta["iteration"])


def load_training_checkpoint(path: str | os.PathLike[str], architecture: str) -> Resumed:
    """Read a checkpoint written by :func:`save_training_checkpoint`, checking that it fits."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: nothing to resume", "drop --resume to start a new run")
    tensors, meta = load_tensors(path)
    if meta.get("architecture") != architecture or "iteration" not in meta:
        found = meta.get("architecture", "no training metadata")
        raise WeightsError(f"{path}: cannot resume a '{found}' checkpoint as {architecture}")
    state = _load_state(state_path(path))
    if int(state.get("iteration", -1)) != int(meta["iteration"]):
        raise WeightsError(
            f"{state_path(path)} is from iteration {state.get('iteration')}, {path} from {meta['iteration']}",
            "the run stopped while saving; delete both or start from the weights without --resume",
        )
    return Resumed(tensors, meta, state)


def _load_state(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise WeightsError(f"{path}: training state missing", "it is written beside every checkpoint")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # unpickling errors come in many types
        raise WeightsError(f"{path}: not a readable training state ({exc})") from exc
    if not isinstance(state, dict) or "iteration" not in state:
        raise WeightsError(f"{path}: not a training state")
    return state


def every(iteration: int, interval: int) -> bool:
    """True on every ``interval``-th iteration (never when ``interval`` is 0)."""
    return interval > 0 and iteration % interval == 0


@dataclass(frozen=True)
class RunFiles:
    """Where a run writes: the checkpoint, its state, and a log folder (loss log, plot, samples)."""

    checkpoint: Path
    log_dir: Path

    @classmethod
    def beside(cls, checkpoint: str | os.PathLike[str], log_dir: str | os.PathLike[str] | None = None) -> RunFiles:
        """Files for ``checkpoint``; the log folder defaults to ``<stem>-train/`` beside it."""
        checkpoint = Path(checkpoint)
        return cls(checkpoint, Path(log_dir) if log_dir else checkpoint.with_name(checkpoint.stem + "-train"))

    @property
    def state(self) -> Path:
        return state_path(self.checkpoint)

    @property
    def loss_log(self) -> Path:
        return self.log_dir / "loss.jsonl"

    @property
    def loss_plot(self) -> Path:
        return self.log_dir / "loss.png"

    def sample(self, iteration: int) -> Path:
        return self.log_dir / "samples" / f"iter-{iteration:07d}.png"

    def check_start(self, resume: bool, overwrite: bool) -> None:
        """Refuse to start over an existing checkpoint unless told to resume or overwrite it."""
        if self.checkpoint.suffix.lower() != ".safetensors":
            raise UsageError(f"{self.checkpoint}: checkpoints are written as .safetensors", "name it *.safetensors")
        if resume and overwrite:
            raise UsageError("--resume and --overwrite contradict each other", "pick one")
        if not resume and self.checkpoint.exists() and not overwrite:
            raise OutputError(f"{self.checkpoint}: already exists", "pass --resume to continue it or --overwrite")


# ---------------------------------------------------------------- loss log


class LossMeter:
    """Sums of detached loss tensors between log points: no GPU sync on every step."""

    def __init__(self) -> None:
        self._sums: dict[str, Tensor] = {}
        self.count = 0

    def add(self, losses: Mapping[str, Tensor]) -> None:
        for name, value in losses.items():
            value = value.detach().float()
            self._sums[name] = self._sums[name] + value if name in self._sums else value
        self.count += 1

    def means(self, dist: Distributed | None = None) -> dict[str, float]:
        """Mean of each loss since the last call, averaged over ranks; then starts again."""
        if not self.count:
            return {}
        names = sorted(self._sums)
        stacked = torch.stack([self._sums[name] for name in names]) / self.count
        values = all_reduce_mean(stacked, dist or Distributed()).tolist()
        self._sums, self.count = {}, 0
        return dict(zip(names, values))


class LossLog:
    """One JSON object per logged iteration, appended to a ``.jsonl`` file; ``None`` writes nothing."""

    def __init__(self, path: Path | None) -> None:
        self.path = path

    def read(self) -> list[dict[str, Any]]:
        if self.path is None or not self.path.is_file():
            return []
        lines = self.path.read_text(encoding="utf-8").splitlines()
        return [json.loads(line) for line in lines if line.strip()]

    def rewind(self, iteration: int) -> None:
        """Keep only entries up to ``iteration`` (a resumed run redoes what came after)."""
        if self.path is None:
            return
        kept = [entry for entry in self.read() if entry.get("iteration", 0) <= iteration]
        atomic_write_bytes(self.path, "".join(json.dumps(e) + "\n" for e in kept).encode())

    def append(self, entry: Mapping[str, Any]) -> None:
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(dict(entry)) + "\n")

    def plot(self, path: Path, keys: Sequence[str], *, log_y: bool = True, title: str | None = None) -> Path | None:
        """Draw ``keys`` against the iteration as a PNG; None when there is nothing to draw."""
        entries = self.read()
        if self.path is None or not entries:
            return None
        return save_loss_plot(loss_series(entries, keys), path, log_y=log_y, title=title)


# ---------------------------------------------------------------- samples


def save_sample_grid(path: str | os.PathLike[str], columns: Sequence[Tensor], padding: int = 2) -> Path:
    """A PNG with one row per example and one column per tensor (each (N, 3, H, W) in [0, 1]).

    Size: ``len(columns) * W + (len(columns) + 1) * padding`` by ``N * H + (N + 1) * padding``.
    """
    count = columns[0].shape[0]
    tiles = [images.to_pil(column[i]) for i in range(count) for column in columns]
    grid = image_grid(tiles, columns=len(columns), padding=padding)
    return images.save_image(grid, path, overwrite=True)


def throughput(images_done: int, seconds: float) -> float:
    """Images per second, 0 when no time has passed."""
    return images_done / seconds if seconds > 0 else 0.0

"""Seeds, precision, DDP plumbing and a clean stop on Ctrl-C / SIGTERM, for every trainer."""

from __future__ import annotations

import contextlib
import os
import random
import signal
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from types import FrameType
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel

from stylize.devices import resolve_device
from stylize.errors import DeviceError, Interrupted, Terminated, UsageError
from stylize.progress import NullReporter, Reporter

# ---------------------------------------------------------------- seeds and precision


def mix_seed(*parts: int) -> int:
    """One 63-bit seed from several integers (hash of an int tuple is stable across runs)."""
    return hash(tuple(parts)) & 0x7FFF_FFFF_FFFF_FFFF


def seed_everything(seed: int, *salt: int) -> None:
    """Seed torch's and Python's RNGs from ``seed`` and e.g. (rank, start iteration)."""
    mixed = mix_seed(seed, *salt)
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
    return DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)


def unwrap(model: nn.Module) -> nn.Module:
    """The module inside a DDP wrapper (its state dict has the plain keys)."""
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

"""What a training run writes: resumable checkpoints, run files, loss logs and sample grids."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from stylize import images
from stylize.checkpoints import STATE_SUFFIX, load_tensors, save_checkpoint
from stylize.errors import InputError, OutputError, UsageError, WeightsError
from stylize.files import atomic_path, atomic_write_bytes
from stylize.plot import image_grid, loss_series, save_loss_plot
from stylize.training.dist import Distributed, all_reduce_mean

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

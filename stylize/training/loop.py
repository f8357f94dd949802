"""The loop every trainer shares (train-adain, train-fast, train-gan), and the one way to start it.

A trainer subclasses :class:`LoopTrainer` and its entry point calls :func:`run_training`, which
checks the output, resumes, builds the trainer under DDP and Ctrl-C handling, runs it and
returns a :class:`TrainResult`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TypedDict

import torch
from torch import Tensor

from stylize import training as tr
from stylize.devices import effective_precision, tune_host_allocator
from stylize.errors import Interrupted, UsageError
from stylize.progress import NullReporter, Reporter
from stylize.training import Distributed, GracefulStop, Resumed, RunFiles, TrainState


class RunKeywords(TypedDict, total=False):
    """What every ``train_*`` entry point passes on to :func:`run_training`."""

    resume: bool  # continue training the output from its step
    overwrite: bool  # start again over an existing output
    log_dir: str | os.PathLike[str] | None  # loss log, plot and samples; None: <output stem>-train/
    device: str | None  # a device name (cpu, cuda, cuda:N, mps); None: automatic. Under torchrun: each rank's GPU
    reporter: Reporter | None  # progress and warnings; None: silent


@dataclass(frozen=True)
class TrainResult:
    """What a run produced. On ranks other than 0 the paths are where rank 0 wrote."""

    checkpoint: Path
    iteration: int
    loss_log: Path
    loss_plot: Path | None
    samples: Path | None
    is_main: bool

    @classmethod
    def of(cls, files: RunFiles, iteration: int, dist: Distributed) -> TrainResult:
        plot = files.loss_plot if files.loss_plot.is_file() else None
        samples = files.log_dir / "samples"
        return cls(
            files.checkpoint, iteration, files.loss_log, plot, samples if samples.is_dir() else None, dist.is_main
        )


class LoopTrainer:
    """The loop every trainer shares: step to ``config.iterations``, log, sample, save, stop cleanly.

    A subclass calls :meth:`_setup` in its ``__init__``, builds its models, ``self.state`` (a
    :class:`TrainState`) and data, and implements :meth:`_step` (one optimisation step that
    adds its losses to ``self.meter`` and advances ``self.state.iteration``),
    :meth:`_checkpoint` (weights and metadata to save) and :meth:`_write_sample`. ``config``
    needs ``iterations``, ``batch_size``, ``log_every``, ``sample_every``, ``checkpoint_every``
    and ``sample_count``. Only rank 0 writes files.
    """

    task = "train"
    architecture = ""  # recorded in the checkpoint and checked on --resume
    objective_fields: tuple[str, ...] = ()  # config fields whose change on --resume alters what is optimised
    shape_fields: tuple[str, ...] = ()  # config fields that fix the tensors' shapes: must not change on --resume
    init_field: str | None = None  # config field naming weights to fine-tune from (a new run, not --resume)
    plot_keys: tuple[str, ...] = ("loss",)
    plot_log_y = True
    plot_title = "training loss"

    def _setup(
        self,
        config: Any,
        files: RunFiles,
        dist: Distributed,
        device: torch.device,
        reporter: Reporter,
        precision: str | None = None,
    ) -> None:
        """Common state; ``precision`` None: the config's, with auto = bf16 on CUDA only (GAN training)."""
        self.config, self.files, self.dist, self.device = config, files, dist, device
        if device.type == "cpu":
            tune_host_allocator()  # reuse freed activation buffers: 1.7-1.9x per CPU step (BENCHMARKS.md)
        self.reporter = tr.rank_reporter(reporter, dist)
        self.precision = precision or effective_precision(config.precision, device, auto_bf16="cuda")
        self.meter, self.log = tr.LossMeter(), tr.LossLog(files.loss_log if dist.is_main else None)
        self.fields: dict[str, float] = {}
        self._saved_at = self._sampled_at = -1
        self.state: TrainState

    @classmethod
    def checkpoint_architecture(cls, config: Any) -> str:
        """The ``architecture`` a checkpoint of ``config`` records."""
        return cls.architecture

    @classmethod
    def planned_iterations(cls, config: Any) -> int | None:
        """The run's last iteration when known before the trainer is built (None: ask the trainer)."""
        return config.iterations

    # -- hooks

    def _step(self) -> None:
        raise NotImplementedError

    def _checkpoint(self) -> tuple[Mapping[str, Tensor], dict[str, Any]]:
        """The tensors and metadata to save now."""
        raise NotImplementedError

    def _write_sample(self, path: Path) -> None:
        raise NotImplementedError

    def _meta(self, **more: Any) -> dict[str, Any]:
        """Checkpoint metadata every trainer records (architecture, config, world size, precision), and ``more``."""
        common = {
            "architecture": self.checkpoint_architecture(self.config),
            "config": asdict(self.config),
            "world_size": self.dist.world_size,
            "precision": self.precision,
        }
        return {**common, **more}

    def _log_extra(self, iteration: int) -> dict[str, Any]:
        """More keys for the loss-log entry at ``iteration``."""
        return {}

    def _progress_fields(self, means: Mapping[str, float], rate: float) -> dict[str, float]:
        """What the progress bar shows after a log step."""
        return {**{k: means[k] for k in self.plot_keys if k in means}, "img/s": rate}

    def _announce(self) -> None:
        """Say what is being trained (rank 0's reporter)."""

    def _close(self) -> None:
        """Stop data workers."""

    # -- the loop

    def run(self, stop: GracefulStop) -> int:
        """Train to ``config.iterations``; save, sample and plot as configured. Returns the iteration."""
        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True  # fixed input sizes: pick the fastest conv kernels once
        self.log.rewind(self.state.iteration)
        self._announce()
        self.reporter.start(self.task, total=self.config.iterations - self.state.iteration, unit="it")
        try:
            with tr.flush_denormals():
                self._loop(stop)
        finally:
            self.reporter.finish(self.task)
            self._close()
        self._finish()
        return self.state.iteration

    def _loop(self, stop: GracefulStop) -> None:
        self._clock = (time.perf_counter(), self.state.iteration)
        while self.state.iteration < self.config.iterations:
            self._step()
            if self._after_step(stop) and self.state.iteration < self.config.iterations:
                self._stop(stop.exit_code)

    def _after_step(self, stop: GracefulStop) -> bool:
        """Log, sample and save as due; True when every rank agrees to stop now."""
        cfg, iteration = self.config, self.state.iteration
        logged = tr.every(iteration, cfg.log_every) or iteration == cfg.iterations
        if logged:
            self._log_losses(iteration)
        self.reporter.advance(self.task, 1, **self.fields)
        if tr.every(iteration, cfg.sample_every):
            self._sample(iteration)
        if tr.every(iteration, cfg.checkpoint_every):
            self._save()
        if self.dist.active:  # differs from one process: ranks agree to stop only at log steps
            return logged and tr.any_rank(stop.requested, self.dist, self.device)
        return stop.requested

    def _log_losses(self, iteration: int) -> None:
        means = self.meter.means(self.dist)
        start_time, start_iteration = self._clock
        now = time.perf_counter()
        images_done = (iteration - start_iteration) * self.config.batch_size * self.dist.world_size
        rate = tr.throughput(images_done, now - start_time)
        self._clock = (now, iteration)
        entry = {"iteration": iteration, **{k: float(f"{v:.6g}") for k, v in means.items()}}
        self.log.append({**entry, **self._log_extra(iteration), "images_per_s": round(rate, 2)})
        self.fields = self._progress_fields(means, rate)

    def _stop(self, exit_code: int) -> None:
        """Save, then raise Interrupted: exit 130 after Ctrl-C, 143 after SIGTERM."""
        saved = self._save()
        self._plot()
        tr.barrier(self.dist)
        error = Interrupted(
            f"stopped at iteration {self.state.iteration}; checkpoint saved to {saved}",
            "run the same command with --resume to continue",
        )
        error.exit_code = exit_code
        raise error

    def _save(self) -> Path:
        path = self.files.checkpoint
        if not self.dist.is_main or self._saved_at == self.state.iteration:
            return path
        tensors, meta = self._checkpoint()
        tr.save_training_checkpoint(path, tensors, meta, self.state)
        self._saved_at = self.state.iteration
        self.reporter.log(f"saved {path} at iteration {self.state.iteration}", "debug")
        return path

    def _sample(self, iteration: int) -> None:
        if not self.dist.is_main or self._sampled_at == iteration:
            return
        self._write_sample(self.files.sample(iteration))
        self._sampled_at = iteration

    def _finish(self) -> None:
        if self.config.sample_every:
            self._sample(self.state.iteration)
        self._save()
        self._plot()
        tr.barrier(self.dist)

    def _plot(self) -> None:
        if self.dist.is_main:
            self.log.plot(self.files.loss_plot, self.plot_keys, log_y=self.plot_log_y, title=self.plot_title)

    def _where(self) -> str:
        """``cpu, fp32`` or ``cuda:0, bf16, 4 processes``: for the announcement."""
        more = f", {self.dist.world_size} processes" if self.dist.active else ""
        return f"{self.device}, {self.precision}{more}"


def warn_changed(
    saved: Mapping[str, Any], config: Any, names: tuple[str, ...], reporter: Reporter, dist: Distributed
) -> None:
    """Warn (rank 0) about ``names`` whose value differs between a resumed run's saved config and ``config``."""
    saved = {k: tuple(v) if isinstance(v, list) else v for k, v in saved.items()}  # JSON lists were tuples
    changed = [name for name in names if hasattr(config, name) and saved.get(name) != getattr(config, name)]
    if changed and dist.is_main:
        listing = ", ".join(f"{name} {saved.get(name)} -> {getattr(config, name)}" for name in changed)
        reporter.log(f"resuming with changed settings: {listing}", "warning")


def resume_checkpoint(
    trainer: type[LoopTrainer], files: RunFiles, config: Any, reporter: Reporter, dist: Distributed
) -> Resumed:
    """The checkpoint ``files`` describe, checked as ``trainer``'s architecture: refused when one of its
    ``shape_fields`` changed, warned about (rank 0) when one of its ``objective_fields`` did."""
    resumed = tr.load_training_checkpoint(files.checkpoint, trainer.checkpoint_architecture(config))
    saved = resumed.meta.get("config", {})
    reshaped = [name for name in trainer.shape_fields if name in saved and saved[name] != getattr(config, name)]
    if reshaped:
        listing = ", ".join(
            f"--{name.replace('_', '-')} {saved[name]} (now {getattr(config, name)})" for name in reshaped
        )
        raise UsageError(f"{files.checkpoint} was trained with {listing}", "resume with the same model settings")
    warn_changed(saved, config, trainer.objective_fields, reporter, dist)
    return resumed


def run_training(
    trainer: type[LoopTrainer],
    config: Any,
    inputs: Sequence[Any],
    output: str | os.PathLike[str],
    *,
    resume: bool = False,
    overwrite: bool = False,
    log_dir: str | os.PathLike[str] | None = None,
    device: str | None = None,
    reporter: Reporter | None = None,
) -> TrainResult:
    """The body of every ``train_*`` entry point: check ``output``, resume, then build
    ``trainer(config, *inputs, files, dist, device, reporter, resumed)`` and run it.

    A resumed checkpoint already at the target does nothing. Beside ``output`` go
    ``<stem>.state.pt`` (for ``resume``) and, unless ``log_dir`` says otherwise, ``<stem>-train/``
    with ``loss.jsonl``, ``loss.png`` and ``samples/``.
    """
    reporter = reporter or NullReporter()
    files = tr.RunFiles.beside(output, log_dir)
    files.check_start(resume, overwrite)
    init = trainer.init_field
    if resume and init is not None and getattr(config, init) is not None:
        raise UsageError(f"--{init} starts a new run from given weights; --resume continues -o", "pick one")
    with tr.distributed_session(device) as (dist, torch_device), tr.GracefulStop() as stop:
        resumed = resume_checkpoint(trainer, files, config, reporter, dist) if resume else None
        planned = trainer.planned_iterations(config)
        if resumed is not None and planned is not None and resumed.iteration >= planned:
            return _nothing_to_do(files, resumed, reporter, dist)
        run = trainer(config, *inputs, files, dist, torch_device, reporter, resumed)
        if resumed is not None and resumed.iteration >= run.config.iterations:
            run._close()
            return _nothing_to_do(files, resumed, reporter, dist)
        return TrainResult.of(files, run.run(stop), dist)


def _nothing_to_do(files: RunFiles, resumed: Resumed, reporter: Reporter, dist: Distributed) -> TrainResult:
    tr.rank_reporter(reporter, dist).log(f"{files.checkpoint} is at iteration {resumed.iteration}; nothing to do")
    return TrainResult.of(files, resumed.iteration, dist)

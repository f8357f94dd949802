"""The loop every trainer shares (train-adain, train-fast, train-gan).

Importing this module does not import torch: the command modules subclass :class:`LoopTrainer`
at import time and read their defaults without paying for torch; the training helpers load
when a run starts.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stylize.devices import effective_precision
from stylize.errors import Interrupted
from stylize.progress import Reporter

if TYPE_CHECKING:
    import torch
    from torch import Tensor

    from stylize.training import Distributed, GracefulStop, Resumed, RunFiles, TrainState


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
    plot_keys: tuple[str, ...] = ("loss",)
    plot_log_y = True
    plot_title = "training loss"

    def _setup(self, config: Any, files: RunFiles, dist: Distributed, device: torch.device, reporter: Reporter,
               precision: str | None = None) -> None:  # fmt: skip
        """Common state; ``precision`` None: the config's, with auto = bf16 on CUDA only (GAN training)."""
        from stylize import training as tr

        self.config, self.files, self.dist, self.device = config, files, dist, device
        if device.type == "cpu":
            from stylize.devices import tune_host_allocator

            tune_host_allocator()  # reuse freed activation buffers: 1.7-1.9x per CPU step (BENCHMARKS.md)
        self.reporter = tr.rank_reporter(reporter, dist)
        self.precision = precision or effective_precision(config.precision, device, auto_bf16="cuda")
        self.meter, self.log = tr.LossMeter(), tr.LossLog(files.loss_log if dist.is_main else None)
        self.fields: dict[str, float] = {}
        self._saved_at = self._sampled_at = -1
        self.state: TrainState

    # -- hooks

    def _step(self) -> None:
        raise NotImplementedError

    def _checkpoint(self) -> tuple[Mapping[str, Tensor], dict[str, Any]]:
        """The tensors and metadata to save now."""
        raise NotImplementedError

    def _write_sample(self, path: Path) -> None:
        raise NotImplementedError

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
        from stylize import training as tr

        if self.device.type == "cuda":
            import torch

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
        from stylize import training as tr

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
        from stylize import training as tr

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
        from stylize import training as tr

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
        from stylize import training as tr

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
        from stylize import training as tr

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


def warn_changed(saved: Mapping[str, Any], config: Any, names: tuple[str, ...], reporter: Reporter,
                 dist: Distributed) -> None:  # fmt: skip
    """Warn (rank 0) about ``names`` whose value differs between a resumed run's saved config and ``config``."""
    saved = {k: tuple(v) if isinstance(v, list) else v for k, v in saved.items()}  # JSON lists were tuples
    changed = [name for name in names if hasattr(config, name) and saved.get(name) != getattr(config, name)]
    if changed and dist.is_main:
        listing = ", ".join(f"{name} {saved.get(name)} -> {getattr(config, name)}" for name in changed)
        reporter.log(f"resuming with changed settings: {listing}", "warning")


def resume_checkpoint(files: RunFiles, architecture: str, config: Any, objective_fields: tuple[str, ...],
                      reporter: Reporter, dist: Distributed) -> Resumed:  # fmt: skip
    """The checkpoint ``files`` describe, checked as ``architecture``; warns about changed ``objective_fields``."""
    from stylize import training as tr

    resumed = tr.load_training_checkpoint(files.checkpoint, architecture)
    warn_changed(resumed.meta.get("config", {}), config, objective_fields, reporter, dist)
    return resumed

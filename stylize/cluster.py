"""A planned batch on a Ray cluster (``--ray``): the jobs of one run, spread over actors.

The driver (this process) plans exactly as a local run does (inputs, names, signatures, outputs made
by other jobs refused before any work) and skips what is done; then each actor builds the method
once (``make_backend``: its networks stay loaded, one GPU each where there are GPUs) and runs chunks
of jobs through the same engine a local run uses (``run_batch``, or ``run_jobs`` with videos), so
every output is written, atomically, by the code that writes it locally: the same bytes and the same
record. A video is one chunk: never split across actors. A chunk's failures are isolated as locally;
an actor that dies is restarted and its chunk retried (``RETRIES``); Ctrl-C stops every actor.

Inputs and outputs are paths every node sees (a shared filesystem; on one machine that is given) or
URLs (``s3://``, ``gs://``, ``file://``: :mod:`stylize.storage`), which each actor opens itself: the jobs
carry the URLs, never open files. ``memory://`` is one process's own store, which no actor sees: refused.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from stylize.batch import (
    IMAGE_OUTPUTS,
    BatchInterrupted,
    BatchOptions,
    BatchReport,
    Failure,
    InputSet,
    Job,
    new_report,
    run_batch,
    skip_existing,
)
from stylize.errors import StylizeError, UsageError, stop_exit_code
from stylize.progress import NullReporter, Reporter
from stylize.storage import StorePath
from stylize.video import VideoConfig
from stylize.video.run import OUTPUTS as VIDEO_OUTPUTS
from stylize.video.run import run_jobs, split_jobs

try:
    import ray  # an optional extra: only --ray loads this module
except ImportError:
    ray = None

INSTALL = 'pip install "stylize[ray]"'
RETRIES = 3  # times a chunk is retried after its actor died (the actor is restarted as often)
CHUNK_IMAGES = 8  # images per chunk and --batch-size: small enough to balance, large enough to keep the pipeline full
IN_FLIGHT = 2  # chunks queued per actor: the next one starts as soon as one ends
CPUS_PER_ACTOR = 4  # on CPUs, without --ray-workers: actors of (at most) this many cores each
TASK = "images"  # the driver's bar: jobs finished anywhere on the cluster


def require_ray() -> None:
    """A UsageError that names the install command unless Ray is installed (an optional extra)."""
    if ray is None:
        raise UsageError("--ray needs Ray, which is not installed", f"install it with '{INSTALL}'")


@dataclass
class _Chunk:
    jobs: list[Job]
    video: bool


@dataclass
class _Driver:
    """Hands chunks to actors, merges their reports, counts finished jobs on the bar."""

    actors: list[Any]
    options: BatchOptions
    reporter: Reporter
    report: BatchReport
    single: bool
    running: dict[Any, tuple[_Chunk, Any]] = field(default_factory=dict)  # ref -> (chunk, actor)

    def run(self, chunks: list[_Chunk]) -> None:
        pending = list(reversed(chunks))
        load = dict.fromkeys(range(len(self.actors)), 0)
        while pending or self.running:
            for index in sorted(load, key=load.__getitem__):
                while pending and load[index] < IN_FLIGHT:
                    chunk = pending.pop()
                    self.running[self.actors[index].run.remote(chunk.jobs)] = (chunk, index)
                    load[index] += 1
            ready, _ = ray.wait(list(self.running), num_returns=1)
            chunk, index = self.running.pop(ready[0])
            load[index] -= 1
            if not self._merge(chunk, ready[0]) and self.options.fail_fast:
                self.report.stopped_early = True
                self.report.not_started += sum(len(c.jobs) for c in pending)
                return

    def _merge(self, chunk: _Chunk, ref: Any) -> bool:
        """One chunk's report into the batch's; False when it had failures."""
        try:
            part: BatchReport = ray.get(ref)
        except ray.exceptions.RayTaskError as exc:
            cause = exc.cause if isinstance(getattr(exc, "cause", None), BaseException) else exc
            if isinstance(cause, StylizeError):
                raise cause from None  # weights or device: every chunk would fail the same way
            part = BatchReport(failed=[Failure(job, f"worker error: {cause}") for job in chunk.jobs])
        except ray.exceptions.RayActorError as exc:
            reason = f"its Ray worker died {RETRIES + 1} times ({type(exc).__name__})"
            part = BatchReport(failed=[Failure(job, reason, StylizeError.exit_code) for job in chunk.jobs])
        # a job the actor found done was done by this run: an attempt of this chunk before its actor died
        self.report.done += part.done + part.skipped
        self.report.failed += part.failed
        self.report.not_started += part.not_started
        if not self.single:
            for failure in part.failed:
                self.reporter.log(f"failed: {failure.path}: {failure.reason}", "warning")
        self.reporter.advance(TASK, len(chunk.jobs))
        return not part.failed

    def stop(self) -> None:
        """Every actor killed (Ray cancels their queued chunks); what was queued counts as not started."""
        for actor in self.actors:
            ray.kill(actor, no_restart=True)
        self.report.not_started += sum(len(chunk.jobs) for chunk, _ in self.running.values())
        self.running.clear()


def run_on_ray(
    jobs: Sequence[Job],
    make_backend: Callable[[], Any],
    options: BatchOptions,
    reporter: Reporter,
    inputs: InputSet,
    video: VideoConfig | None,
) -> BatchReport:
    """Every job of a planned batch on the Ray cluster ``options.ray`` names; the report as a local run
    gives it (BatchInterrupted on Ctrl-C). ``make_backend`` (run once per actor) returns the method's
    ``MethodBackend``."""
    require_ray()
    _check_visible(jobs)
    images, videos = split_jobs(jobs) if video is not None else (list(jobs), [])
    report = new_report(inputs)
    todo_images, skipped = skip_existing(images, options.overwrite, IMAGE_OUTPUTS, reporter)
    todo_videos, skipped_videos = skip_existing(videos, options.overwrite, VIDEO_OUTPUTS, reporter)
    report.skipped = skipped + skipped_videos
    if not todo_images and not todo_videos:
        return report
    size = max(CHUNK_IMAGES, options.batch_size)
    chunks = [_Chunk(todo_images[i : i + size], False) for i in range(0, len(todo_images), size)]
    chunks += [_Chunk([job], True) for job in todo_videos]
    started = _connect(options.ray or "local")
    start = time.perf_counter()
    driver = _Driver([], options, reporter, report, single=len(jobs) == 1)
    reporter.start(TASK, total=len(todo_images) + len(todo_videos), unit="img")
    try:
        driver.actors = _actors(options.ray_workers, make_backend, options, video, len(chunks))
        driver.run(chunks)
    except KeyboardInterrupt as exc:
        driver.stop()
        report.interrupted, report.stop_code = True, stop_exit_code(exc)
    finally:
        report.elapsed_s = time.perf_counter() - start
        reporter.finish(TASK)
        if started:
            ray.shutdown()
    if report.interrupted:
        raise BatchInterrupted(report)
    return report


def _check_visible(jobs: Sequence[Job]) -> None:
    """A UsageError for a memory:// input or output: the actors are other processes, with stores of their own."""
    for job in jobs:
        for path in (job.input.path, job.output):
            if isinstance(path, StorePath) and path.protocol == "memory":
                raise UsageError(f"--ray and {path}: memory:// lives in this process only", "use file:// or a store")


def _connect(address: str) -> bool:
    """Join the cluster or start a local runtime; True when this call started (and must stop) it."""
    if ray.is_initialized():
        return False
    try:
        ray.init(
            address=None if address == "local" else address,
            include_dashboard=False,
            logging_level=logging.ERROR,
            log_to_driver=False,
            configure_logging=True,
        )
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise UsageError(f"--ray {address}: cannot reach that Ray cluster ({exc})") from None
    return True


def _actors(
    workers: int,
    make_backend: Callable[[], Any],
    options: BatchOptions,
    video: VideoConfig | None,
    chunks: int,
) -> list[Any]:
    """The actors: one per GPU where the cluster has GPUs, else CPU actors of equal cores; never more than chunks."""
    resources = ray.cluster_resources()
    gpus, cpus = int(resources.get("GPU", 0)), max(1, int(resources.get("CPU", 1)))
    count = workers or (gpus if gpus else max(1, cpus // CPUS_PER_ACTOR))
    count = max(1, min(count, chunks))
    threads = 1 if gpus else max(1, cpus // count)
    worker = ray.remote(_Worker).options(
        num_cpus=threads, num_gpus=1 if gpus else 0, max_restarts=RETRIES, max_task_retries=RETRIES
    )
    return [worker.remote(make_backend, options, video, threads) for _ in range(count)]


class _Worker:
    """A Ray actor: the method built once, then chunk after chunk through the local engine."""

    def __init__(self, make_backend: Callable[[], Any], options: BatchOptions, video: VideoConfig | None, threads: int):
        torch.set_num_threads(threads)
        self.make_backend, self.options, self.video = make_backend, options, video
        self.backend: Any = None

    def run(self, jobs: list[Job]) -> BatchReport:
        if self.backend is None:
            self.backend = self.make_backend()
        load = self.backend.load_model
        if self.video is None:
            return run_batch(jobs, self.backend, self.options, NullReporter(), prepare=load)
        return run_jobs(jobs, self.backend, self.options, NullReporter(), InputSet(), load, self.video)

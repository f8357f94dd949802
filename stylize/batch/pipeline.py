"""Running a batch: the :class:`BatchBackend` seam and :func:`run_batch`, its threads and memory bound.

``run_batch`` decodes and encodes in ``options.io_workers`` background threads while the main
thread runs the model, keeps at most :func:`max_in_memory` images decoded at once, skips outputs
that exist, writes every output atomically, isolates failures, and on Ctrl-C stops cleanly with
:class:`BatchInterrupted` (exit 130) carrying the partial report.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol

from PIL import Image

from stylize import images
from stylize.batch.inputs import InputSet
from stylize.batch.options import BatchOptions
from stylize.batch.outcomes import IMAGE_OUTPUTS, Outcomes, new_report, skip_existing, written_meanwhile
from stylize.batch.plan import Job
from stylize.batch.report import BatchReport
from stylize.files import remove_stale_temp_files
from stylize.progress import NullReporter, Reporter

TASK = "images"  # the Reporter task of the folder-wide bar


class BatchBackend(Protocol):
    """What a method provides to run on a batch; built with the BatchOptions it needs.

    Per-style work (style features) belongs in ``process``, once per call or cached across calls:
    put the style in ``group_key`` so one call never mixes styles. Long per-image work (optimize)
    draws its own bar: ``reporter.start(task, total, transient=True)`` inside ``process``.
    """

    def load(self, job: Job) -> Any:
        """I/O thread: decode, resize, to tensor (see :func:`load_picture`). Raise InputError if unreadable."""

    def group_key(self, loaded: Any) -> Hashable:
        """Main thread: loads with equal keys may share one ``process`` call, e.g. (style, H, W)."""

    def process(self, jobs: list[Job], loaded: list[Any]) -> list[Any]:
        """Main thread, the model: up to batch_size loads of one group key -> one result each."""

    def save(self, job: Job, result: Any) -> None:
        """I/O thread: write ``job.output`` atomically (see :func:`save_result_image`)."""


class VideoBackend(BatchBackend, Protocol):
    """A batch backend that also runs videos frame by frame (``stylize.video.run``); every method gets
    these hooks from ``stylize.backends.stylizer.MethodBackend``."""

    def prepare(self, picture: images.Picture, style: str, size: int | None = None) -> Any:
        """Decode thread: a video frame as ``process`` takes it; ``size`` overrides the config's."""

    def begin_video(self, first: Any, temporal: float = 0.0, resumed: dict[str, Any] | None = None) -> None:
        """Main thread: a video starts (``first``: its first frame, prepared) or ends (``first`` None)."""

    def video_states(self) -> list[dict[str, Any]] | None:
        """Main thread: the per-video state after each frame of the last ``process`` call, or None."""


def load_picture(job: Job, options: BatchOptions) -> images.Picture:
    """Decode a job's input with the batch's pixel limit (for ``BatchBackend.load``)."""
    return images.open_image(job.input.path, options.max_pixels)


def save_result_image(
    job: Job,
    rgb: Image.Image,
    alpha: Image.Image | None,
    exif: bytes | None,
    options: BatchOptions,
    *,
    srgb_profile: bool = False,
) -> Path:
    """Write a result to ``job.output`` atomically, with the input's alpha and EXIF where the format keeps them.

    Without --overwrite the output did not exist when the batch began: one that appears meanwhile
    (another run writing into the same folder) is never replaced, and is an OutputError unless it
    is this very job's (see :func:`written_meanwhile`)."""
    try:
        return images.save_image(
            rgb,
            job.output,
            alpha=alpha,
            quality=options.quality,
            exif=exif,
            srgb_profile=srgb_profile,
            overwrite=options.overwrite,
            inputs=(job.input.path,),
            note=job.signature,
        )
    except images.OutputExistsError:
        written_meanwhile(job, IMAGE_OUTPUTS)
        return job.output


def max_in_memory(options: BatchOptions) -> int:
    """Upper bound on jobs between load and saved (decoded inputs plus results), whatever the batch size."""
    return _prefetch(options) + _max_buffered(options) + _max_saving(options)


def _prefetch(options: BatchOptions) -> int:
    return options.io_workers + 2 * options.batch_size  # loads submitted ahead of the model


def _max_buffered(options: BatchOptions) -> int:
    return 2 * options.batch_size  # loaded, waiting for a full group of equal size


def _max_saving(options: BatchOptions) -> int:
    return options.io_workers + options.batch_size  # results queued or being encoded


def run_batch(
    jobs: Sequence[Job],
    backend: BatchBackend,
    options: BatchOptions,
    reporter: Reporter | None = None,
    *,
    inputs: InputSet | None = None,
    prepare: Callable[[list[Job]], None] | None = None,
) -> BatchReport:
    """Run every job (existing outputs of the same job skipped unless ``overwrite``); raises
    BatchInterrupted on Ctrl-C.

    An existing output made by another job (other settings, inputs or weights, see
    :mod:`stylize.provenance`) stops the batch before any work with an OutputError naming
    --overwrite and --name. ``prepare(todo)`` runs next, when there is work to do: load the
    model there, so a fully resumed batch loads nothing. ``inputs`` only copies its
    hidden/non-image counts into the report. Failures are recorded, not raised: the caller
    decides what a report with failures means (the CLI exits 6).
    """
    reporter = reporter or NullReporter()
    report = new_report(inputs)
    todo, report.skipped = skip_existing(jobs, options.overwrite, IMAGE_OUTPUTS, reporter)
    if todo and prepare is not None:
        prepare(todo)
    _clean_stale_temp_files(todo, reporter)
    outcomes = Outcomes(report, reporter, TASK, options.fail_fast, single=len(jobs) == 1)
    with outcomes.timed(len(todo), "img"):
        try:
            _run_pipeline(todo, backend, options, outcomes)
        finally:
            report.not_started = len(todo) - len(report.done) - len(report.failed)
    return report


def _clean_stale_temp_files(jobs: Sequence[Job], reporter: Reporter) -> None:
    """Remove the temp files an earlier, killed run left in the output folders it wrote to."""
    removed = sum(remove_stale_temp_files(folder) for folder in {job.output.parent for job in jobs})
    if removed:
        reporter.log(f"removed {removed} unfinished temp files left by an earlier run that was killed")


def _run_pipeline(todo: list[Job], backend: BatchBackend, options: BatchOptions, outcomes: Outcomes) -> None:
    pool = ThreadPoolExecutor(options.io_workers, "stylize-io") if options.io_workers else _InlineExecutor()
    engine = _Engine(backend, options, outcomes, pool)
    try:
        engine.run(todo)
    except KeyboardInterrupt as exc:
        outcomes.interrupted(exc)
    finally:
        engine.cancel_loads()
        pool.shutdown(wait=True)  # computed results still get saved (atomically): model time is never thrown away
        engine.settle()


class _InlineExecutor:
    """``io_workers=0``: run each task at once in the calling thread."""

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future[Any]:
        future: Future[Any] = Future()
        try:
            future.set_result(fn(*args))
        except Exception as exc:  # noqa: BLE001 - becomes that job's failure, as in a worker thread
            future.set_exception(exc)
        return future

    def shutdown(self, wait: bool = True, cancel_futures: bool = False) -> None:
        pass


class _Engine:
    """The pipeline's state: loads in flight, groups waiting for the model, saves in flight."""

    def __init__(
        self,
        backend: BatchBackend,
        options: BatchOptions,
        outcomes: Outcomes,
        pool: ThreadPoolExecutor | _InlineExecutor,
    ) -> None:
        self.backend, self.options, self.outcomes, self.pool = backend, options, outcomes, pool
        self.loads: deque[tuple[Job, Future[Any]]] = deque()
        self.groups: dict[Hashable, list[tuple[Job, Any]]] = {}
        self.saves: deque[tuple[Job, Future[Any]]] = deque()
        self.stop = False

    def run(self, todo: Iterable[Job]) -> None:
        pending = iter(todo)
        while not self.stop:
            self._prefetch(pending)
            if not self.loads:
                break
            self._take_load()
        while self.groups and not self.stop:
            self._process(self.groups.pop(next(iter(self.groups))))
        self._drain_saves(0)

    def _prefetch(self, pending: Iterator[Job]) -> None:
        while len(self.loads) < _prefetch(self.options):
            job = next(pending, None)
            if job is None:
                return
            self.loads.append((job, self.pool.submit(self.backend.load, job)))

    def _take_load(self) -> None:
        job, future = self.loads[0]
        try:
            loaded = future.result()
            key = self.backend.group_key(loaded)
        except Exception as exc:  # noqa: BLE001 - failure isolation: one bad image never stops the batch
            self.loads.popleft()
            return self._fail(job, exc)
        self.loads.popleft()
        self._group(key, job, loaded)

    def _group(self, key: Hashable, job: Job, loaded: Any) -> None:
        group = self.groups.setdefault(key, [])
        group.append((job, loaded))
        if len(group) >= self.options.batch_size:
            self._process(self.groups.pop(key))
        elif sum(map(len, self.groups.values())) > _max_buffered(self.options):
            self._process(self.groups.pop(next(iter(self.groups))))  # the oldest group, not full

    def _process(self, group: list[tuple[Job, Any]]) -> None:
        self._drain_saves(_max_saving(self.options) - len(group))
        jobs = [job for job, _ in group]
        try:
            results = self.backend.process(jobs, [loaded for _, loaded in group])
            _check_count(results, jobs)
        except Exception as exc:  # noqa: BLE001 - failure isolation, as above
            for job in jobs:
                self._fail(job, exc)
            return
        for job, result in zip(jobs, results):
            self.saves.append((job, self.pool.submit(self.backend.save, job, result)))
        self._reap()

    def _drain_saves(self, limit: int) -> None:
        """Wait for the oldest saves until at most ``limit`` are in flight."""
        while len(self.saves) > max(limit, 0):
            self.saves[0][1].exception()  # wait (interruptible)
            self._record(*self.saves.popleft())

    def _reap(self) -> None:
        """Record the saves already finished, without waiting."""
        while self.saves and self.saves[0][1].done():
            self._record(*self.saves.popleft())

    def _record(self, job: Job, future: Future[Any]) -> None:
        exc = future.exception()
        if exc is not None:
            return self._fail(job, exc)
        self.outcomes.done(job)

    def _fail(self, job: Job, exc: BaseException) -> None:
        """Failure isolation (BATCH_FATAL errors are raised); --fail-fast stops the engine."""
        if not self.outcomes.failed(job, exc):
            self.stop = True

    def cancel_loads(self) -> None:
        """Stop: loads not yet running never start; the ones running finish and are dropped."""
        for _, future in self.loads:
            future.cancel()

    def settle(self) -> None:
        """After shutdown: record every save (they all ran)."""
        while self.saves:
            self._record(*self.saves.popleft())


def _check_count(results: Sequence[Any], jobs: Sequence[Job]) -> None:
    if len(results) != len(jobs):
        raise RuntimeError(f"backend returned {len(results)} results for {len(jobs)} images")

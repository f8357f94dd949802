"""Each job's outcome, the same for images and videos: skipped, refused, done, failed, or the batch stopped.

    todo, skipped = skip_existing(jobs, options.overwrite, IMAGE_OUTPUTS, reporter)  # OutputError: another job's
    outcomes = Outcomes(new_report(inputs), reporter, "images", options.fail_fast)
    with outcomes.timed(len(todo), "img"):          # the bar and elapsed time; after Ctrl-C: BatchInterrupted
        outcomes.run_each(todo, work)                # one job at a time, each failure isolated
        # or, from a pipeline: outcomes.done(job) / outcomes.failed(job, exc) / outcomes.interrupted(exc)

:func:`stylize.batch.run_batch` (images, through threads) and :func:`stylize.video.run.run_jobs`
(videos, one at a time) both record through here, so a skipped, refused, failed or interrupted
job reads and counts the same whichever path ran it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from stylize import images
from stylize.batch.inputs import InputSet
from stylize.batch.plan import Job
from stylize.batch.report import BatchInterrupted, BatchReport, Failure, failure_reason
from stylize.errors import DeviceError, OutputError, StylizeError, UsageError, WeightsError, stop_exit_code
from stylize.progress import Reporter
from stylize.provenance import differences

BATCH_FATAL = (WeightsError, DeviceError, UsageError)  # errors that stop the batch instead of one image


@dataclass(frozen=True)
class OutputKind:
    """How one kind of output reads its stored job signature, and how the skip messages name it."""

    noun: str  # the skip line's count: "3 of 5 outputs exist already"
    read_note: Callable[[Path], str | None]  # the signature stored in an output (None: none, or unreadable)
    hint: str  # the OutputError's hint when an output exists from another job
    count_others: bool = True  # say how many more are another job's (reading all their signatures first)


IMAGE_OUTPUTS = OutputKind(
    "outputs",
    images.read_note,
    "--overwrite replaces such outputs; --name '{stem}_{method}_{variant}_2.{ext}' writes new ones beside them",
)


def new_report(inputs: InputSet | None) -> BatchReport:
    """An empty report carrying what collecting ``inputs`` passed over (hidden, non-image, unreadable)."""
    if inputs is None:
        return BatchReport()
    return BatchReport(
        skipped_hidden=inputs.skipped_hidden,
        skipped_non_image=inputs.skipped_non_image,
        unreadable=list(inputs.unreadable),
    )


def skip_existing(
    jobs: Sequence[Job], overwrite: bool, kind: OutputKind, reporter: Reporter
) -> tuple[list[Job], list[Job]]:
    """(to do, skipped): an existing output of this very job is skipped (unless ``overwrite``); one made
    by another job (other settings, inputs or weights, see :mod:`stylize.provenance`) stops the batch
    before any work with an OutputError naming --overwrite and --name."""
    exists = [not overwrite and job.output.exists() for job in jobs]
    skipped = [job for job, there in zip(jobs, exists) if there]
    _check_existing_are_ours(skipped, kind)
    if skipped:
        reporter.log(f"{len(skipped)} of {len(jobs)} {kind.noun} exist already: skipped (--overwrite redoes them)")
    return [job for job, there in zip(jobs, exists) if not there], skipped


def _check_existing_are_ours(existing: Sequence[Job], kind: OutputKind) -> None:
    """Existing outputs may be skipped only if this very job made them: else stop before any work."""
    # a generator: without count_others, outputs are read only up to the first that is another job's
    others = ((job, _not_ours(job, kind)) for job in existing)
    first = next(((job, why) for job, why in others if why), None)
    if first is None:
        return
    job, why = first
    more = sum(1 for _, later in others if later) if kind.count_others else 0
    tail = f" (and {more} more outputs)" if more else ""
    raise OutputError(f"{job.output} exists from another job: {'; '.join(why)}{tail}", kind.hint)


def _not_ours(job: Job, kind: OutputKind) -> list[str]:
    """Why ``job.output`` is another job's; [] when it is this job's, or the job has no signature."""
    return differences(job.signature, kind.read_note(job.output)) if job.signature else []


def written_meanwhile(job: Job, kind: OutputKind) -> None:
    """``job.output`` appeared after the batch began (another run writing into the same folder): fine
    when that run did this very job, else an OutputError (the output is left as it is)."""
    why = _not_ours(job, kind) if job.signature else ["it has no stylize record"]
    if why:
        raise OutputError(
            f"{job.output}: written by another run meanwhile: {'; '.join(why)}",
            "run one command per output folder at a time, or give each its own -o/--output",
        )


@dataclass
class Outcomes:
    """Records each job's outcome in ``report`` and on the ``task`` bar of ``reporter``."""

    report: BatchReport
    reporter: Reporter
    task: str  # the Reporter task of the batch-wide bar ("images", "videos")
    fail_fast: bool = False  # --fail-fast: the first failure stops the batch
    single: bool = False  # the batch's only job: its failure becomes the command's one error line, no warning

    @contextmanager
    def timed(self, total: int, unit: str) -> Iterator[None]:
        """The bar and the report's elapsed time around the work; then BatchInterrupted if Ctrl-C stopped it."""
        start = time.perf_counter()
        self.reporter.start(self.task, total=total, unit=unit)
        try:
            yield
        finally:
            self.report.elapsed_s += time.perf_counter() - start
            self.reporter.finish(self.task)
        if self.report.interrupted:
            raise BatchInterrupted(self.report)

    def run_each(self, todo: Sequence[Job], work: Callable[[Job], None]) -> None:
        """``work(job)`` for every job in turn, each isolated; the rest count as not started after a stop."""
        for index, job in enumerate(todo):
            if not self.run(job, work):
                self.report.not_started += len(todo) - index - 1
                return

    def run(self, job: Job, work: Callable[[Job], None]) -> bool:
        """``work(job)``, its outcome recorded; False when the batch must stop (Ctrl-C, --fail-fast)."""
        try:
            work(job)
        except KeyboardInterrupt as exc:
            self.interrupted(exc)
            self.report.not_started += 1
            return False
        except Exception as exc:  # noqa: BLE001 - failure isolation: one bad input never stops the batch
            return self.failed(job, exc)
        self.done(job)
        return True

    def done(self, job: Job) -> None:
        self.report.done.append(job)
        self.reporter.advance(self.task)

    def failed(self, job: Job, exc: BaseException) -> bool:
        """Record a failure; False when the batch must stop (--fail-fast). BATCH_FATAL errors are raised."""
        if isinstance(exc, BATCH_FATAL):
            raise exc  # missing weights or device: every input would fail the same way
        reason = failure_reason(exc, job.input.path)
        code = exc.exit_code if isinstance(exc, StylizeError) else StylizeError.exit_code
        self.report.failed.append(Failure(job, reason, code))
        if not self.single:
            self.reporter.log(f"failed: {job.input.path}: {reason}", "warning")  # names the file: logs outlive the bar
        self.reporter.advance(self.task)
        if self.fail_fast:
            self.report.stopped_early = True
        return not self.fail_fast

    def interrupted(self, exc: KeyboardInterrupt) -> None:
        """Ctrl-C (or SIGTERM, as a KeyboardInterrupt): the batch stops; :meth:`timed` raises BatchInterrupted."""
        self.report.interrupted, self.report.stop_code = True, stop_exit_code(exc)

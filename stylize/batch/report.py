"""What a batch did: :class:`BatchReport` (``--json``, the summary), its failures, and Ctrl-C's :class:`BatchInterrupted`."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from stylize.batch.inputs import InputItem
from stylize.batch.plan import Job
from stylize.errors import InputError, Interrupted, StylizeError


class Failure(NamedTuple):
    """One failed job (or input) with a one-line reason and the exit code it alone would have given."""

    what: Job | InputItem
    reason: str
    exit_code: int = InputError.exit_code

    @property
    def path(self) -> Path:
        """The input that failed."""
        return self.what.path if isinstance(self.what, InputItem) else self.what.input.path


@dataclass
class BatchReport:
    """What a batch did; ``failed`` pairs each job (or input) with a one-line reason."""

    done: list[Job] = field(default_factory=list)
    skipped: list[Job] = field(default_factory=list)  # outputs that existed already
    failed: list[Failure] = field(default_factory=list)
    skipped_hidden: int = 0
    skipped_non_image: int = 0
    unreadable: list[tuple[Path, str]] = field(default_factory=list)  # found in folders, passed over: why
    elapsed_s: float = 0.0
    not_started: int = 0  # jobs never finished because of --fail-fast or Ctrl-C
    interrupted: bool = False  # Ctrl-C or SIGTERM
    stop_code: int = Interrupted.exit_code  # 130 after Ctrl-C, 143 after SIGTERM
    stopped_early: bool = False  # --fail-fast hit a failure

    @property
    def images_per_s(self) -> float:
        return len(self.done) / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def total(self) -> int:
        """Jobs this batch had to do (skipped outputs count: they were asked for)."""
        return len(self.done) + len(self.skipped) + len(self.failed) + self.not_started

    def outputs(self) -> list[Path]:
        """Every output this batch stands behind: written now or already there."""
        return sorted(job.output for job in [*self.done, *self.skipped])

    def counts(self) -> dict[str, int]:
        return {
            "done": len(self.done),
            "skipped": len(self.skipped),
            "failed": len(self.failed),
            "not_started": self.not_started,
            "skipped_hidden": self.skipped_hidden,
            "skipped_non_image": self.skipped_non_image,
            "unreadable": len(self.unreadable),
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "done": [_job_json(job) for job in self.done],
            "skipped": [_job_json(job) for job in self.skipped],
            "failed": [{**_job_json(f.what), "reason": f.reason} for f in self.failed],
            "unreadable": [{"input": str(path), "reason": reason} for path, reason in self.unreadable],
            "counts": self.counts(),
            "elapsed_s": round(self.elapsed_s, 3),
            "images_per_s": round(self.images_per_s, 2),
            "interrupted": self.interrupted,
            "stopped_early": self.stopped_early,
        }


def _job_json(what: Job | InputItem) -> dict[str, str | None]:
    if isinstance(what, InputItem):
        return {"input": str(what.path), "style": None, "output": None}
    return {"input": str(what.input.path), "style": what.style, "output": str(what.output)}


class BatchInterrupted(Interrupted):
    """Ctrl-C (exit 130) or SIGTERM (exit 143) during a batch; ``report`` says what was finished."""

    def __init__(self, report: BatchReport) -> None:
        total = len(report.done) + len(report.failed) + report.not_started
        word = "interrupted" if report.stop_code == Interrupted.exit_code else "terminated"
        super().__init__(
            f"{word} after {len(report.done)} of {total} images",
            "run the same command again to finish: the outputs it already wrote are kept and skipped",
        )
        self.report = report
        self.exit_code = report.stop_code


def failure_reason(exc: BaseException, path: Path | None = None) -> str:
    """One line for the summary: a StylizeError's message and hint, else a short repr; no leading "path: "."""
    text = exc.one_line() if isinstance(exc, StylizeError) else f"{type(exc).__name__}: {exc}".replace("\n", " ")
    if path is not None and text.startswith(f"{path}: "):
        text = text[len(str(path)) + 2 :]
    return text if len(text) <= 200 else text[:197] + "..."

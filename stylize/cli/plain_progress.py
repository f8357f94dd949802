"""Progress as plain lines, for stderr that is not a terminal (a log file, CI, ``nohup``).

Rich draws nothing there until the end; this reporter writes one line per task every
``interval`` seconds (``STYLIZE_PROGRESS_EVERY``, default 10) and one when a task that took
longer than that ends::

    images 12/480 (2%)  1.30 img/s  elapsed 0:09  left ~6:00  loss=0.3012
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TextIO

from stylize.api import LEFT

DEFAULT_INTERVAL_S = 10.0


def interval_from_env() -> float:
    """``STYLIZE_PROGRESS_EVERY`` seconds (a bad value falls back to the default)."""
    try:
        return max(0.0, float(os.environ.get("STYLIZE_PROGRESS_EVERY", DEFAULT_INTERVAL_S)))
    except ValueError:
        return DEFAULT_INTERVAL_S


@dataclass
class _Task:
    total: int | None
    unit: str
    started: float
    last_line: float
    done: int = 0
    fields: dict[str, Any] = field(default_factory=dict)


class PlainReporter:
    """A ``Reporter`` that prints a progress line per task every few seconds."""

    def __init__(
        self,
        verbose: bool = False,
        quiet: bool = False,
        interval: float | None = None,
        stream: TextIO | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.verbose, self.quiet = verbose, quiet
        self.interval = interval_from_env() if interval is None else interval
        self._stream, self._clock = stream, clock
        self._tasks: dict[str, _Task] = {}

    def start(self, task: str, total: int | None = None, unit: str = "it", transient: bool = False) -> None:
        now = self._clock()
        self._tasks[task] = _Task(total, unit, now, now)

    def advance(self, task: str, n: int = 1, **fields: Any) -> None:
        state = self._tasks.get(task)
        if state is None:
            return
        state.done += n
        state.fields = fields or state.fields
        now = self._clock()
        if now - state.last_line >= self.interval:
            state.last_line = now
            self._print(progress_line(task, state, now))

    def finish(self, task: str) -> None:
        state = self._tasks.pop(task, None)
        now = self._clock()
        if state is not None and now - state.started >= self.interval:
            self._print(progress_line(task, state, now))

    def close(self) -> None:
        self._tasks.clear()

    def log(self, message: str, level: str = "info") -> None:
        if (level == "debug" and not self.verbose) or (self.quiet and level != "warning"):
            return
        self._print(f"warning: {message}" if level == "warning" else message)

    def _print(self, line: str) -> None:
        if self.quiet and not line.startswith("warning:"):
            return
        stream = self._stream or sys.stderr
        stream.write(line + "\n")
        stream.flush()


def progress_line(name: str, task: _Task, now: float) -> str:
    """``images 12/480 (2%)  1.30 img/s  elapsed 0:09  left ~6:00  loss=0.3``."""
    elapsed = now - task.started
    count = f"{task.done}/{task.total} ({100 * task.done // task.total}%)" if task.total else str(task.done)
    parts = [f"{name} {count}", rate_text(task.done, elapsed, task.unit), f"elapsed {clock_text(elapsed)}"]
    left = task.fields.get(LEFT)  # the task's own estimate (optimize: by pixels x iterations to go)
    if left is None and task.total and task.done:
        left = elapsed / task.done * (task.total - task.done)
    if left is not None:
        parts.append(f"left ~{clock_text(left)}")
    shown = {k: v for k, v in task.fields.items() if k != LEFT}
    parts += [f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in shown.items()]
    return "  ".join(parts)


def rate_text(done: int, elapsed: float, unit: str) -> str:
    """Units per second, or seconds per unit when slower than one a second."""
    if not done or elapsed <= 0:
        return f"- {unit}/s"
    rate = done / elapsed
    return f"{rate:.2f} {unit}/s" if rate >= 1 else f"{elapsed / done:.1f} s/{unit}"


def clock_text(seconds: float) -> str:
    """H:MM:SS, or M:SS under an hour."""
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"

"""Reporter protocol: compute reports progress events, a front end draws them.

Backends never print. They call ``reporter.start/advance/finish/log``; the CLI passes a rich
reporter that draws bars on stderr, notebooks get a tqdm one, tests and libraries the null one.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any, Protocol

# An advance() field: the task's own estimate of the seconds left. A task whose steps cost unequal
# time (optimize: each scale's iteration costs its pixels) sends it; front ends show it as the ETA
# instead of one from the step count, and not among the other fields.
LEFT = "left_s"


class Reporter(Protocol):
    def start(self, task: str, total: int | None = None, unit: str = "it", transient: bool = False) -> None:
        """Begin a task (a bar); ``total`` None means unknown length."""

    def advance(self, task: str, n: int = 1, **fields: Any) -> None:
        """Advance a task by ``n``; ``fields`` are shown beside the bar (e.g. loss=0.3)."""

    def finish(self, task: str) -> None:
        """End a task; its bar disappears if it was transient."""

    def log(self, message: str, level: str = "info") -> None:
        """A message for stderr: level is 'debug', 'info' or 'warning'."""


class WorkClock:
    """Seconds left of a task whose steps cost in proportion to a known amount of work each.

    ``optimize`` runs its iterations coarse to fine: an iteration at 512 px costs 16 at 128 px.
    Counting iterations, the estimate grows at every scale (3:56, then 5:30); counting work
    (pixels x iterations), the time per unit of work stays about the same throughout. The clock
    starts at the first step, so loading networks and style targets before it does not count."""

    def __init__(self, total: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.total, self.done, self._clock = float(total), 0.0, clock
        self._start: tuple[float, float] | None = None  # (time, work done) at the first step

    def step(self, work: float) -> float | None:
        """Count ``work`` as done; the seconds left at the rate since the first step (None at the first)."""
        self.done += work
        now = self._clock()
        if self._start is None:
            self._start = (now, self.done)
            return None
        elapsed, measured = now - self._start[0], self.done - self._start[1]
        if elapsed <= 0 or measured <= 0:
            return None
        return max(0.0, elapsed / measured * (self.total - self.done))


class NullReporter:
    """Reports nothing: the default for library use and tests."""

    def start(self, task: str, total: int | None = None, unit: str = "it", transient: bool = False) -> None:
        pass

    def advance(self, task: str, n: int = 1, **fields: Any) -> None:
        pass

    def finish(self, task: str) -> None:
        pass

    def log(self, message: str, level: str = "info") -> None:
        pass


class RecordingReporter(NullReporter):
    """Keeps every event in ``events``: for tests and for callers that want a log."""

    def __init__(self) -> None:
        self.events: list[tuple[str, ...]] = []

    def start(self, task: str, total: int | None = None, unit: str = "it", transient: bool = False) -> None:
        self.events.append(("start", task, str(total)))

    def advance(self, task: str, n: int = 1, **fields: Any) -> None:
        self.events.append(("advance", task, str(n)))

    def finish(self, task: str) -> None:
        self.events.append(("finish", task))

    def log(self, message: str, level: str = "info") -> None:
        self.events.append(("log", level, message))


def _tqdm() -> Any:
    """tqdm's bar class (its notebook flavour where that applies)."""
    from tqdm.auto import tqdm  # lazy: ~20 ms; the CLI draws with rich and never needs it

    return tqdm


class TqdmReporter:
    """tqdm bars (work in notebooks and plain terminals); messages go to stderr."""

    def __init__(self) -> None:
        self._bars: dict[str, Any] = {}

    def start(self, task: str, total: int | None = None, unit: str = "it", transient: bool = False) -> None:
        self._bars[task] = _tqdm()(total=total, desc=task, unit=unit, leave=not transient, file=sys.stderr)

    def advance(self, task: str, n: int = 1, **fields: Any) -> None:
        bar = self._bars.get(task)
        fields.pop(LEFT, None)  # tqdm keeps its own estimate
        if bar is not None:
            if fields:
                bar.set_postfix(fields, refresh=False)
            bar.update(n)

    def finish(self, task: str) -> None:
        bar = self._bars.pop(task, None)
        if bar is not None:
            bar.close()

    def log(self, message: str, level: str = "info") -> None:
        _tqdm().write(message, file=sys.stderr)

"""Everything drawn on the terminal: progress bars, messages and error lines, all on stderr."""

from __future__ import annotations

import json
import sys
from typing import Any

from rich.console import Console
from rich.filesize import decimal
from rich.markup import escape
from rich.progress import (
    BarColumn,
    Progress,
    ProgressColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Column
from rich.text import Text

from stylize.api import LEFT

err_console = Console(stderr=True, highlight=False)


def print_error(message: str) -> None:
    """One red line on stderr."""
    err_console.print(f"[bold red]error:[/] {_escape(message)}", soft_wrap=True)


def print_warning(message: str) -> None:
    err_console.print(f"[yellow]warning:[/] {_escape(message)}", soft_wrap=True)


def _escape(text: str) -> str:
    return escape(text)


def emit_result(line: str) -> None:
    """A result on stdout (an output path): the only thing commands print there."""
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def emit_json(payload: Any) -> None:
    sys.stdout.write(json.dumps(payload, indent=2, default=str) + "\n")
    sys.stdout.flush()


class _CountColumn(ProgressColumn):
    """done/total, in bytes for downloads."""

    def render(self, task: Any) -> Text:
        bytes_ = task.fields.get("unit") == "B"
        show = decimal if bytes_ else str
        done = show(int(task.completed))
        total = show(int(task.total)) if task.total is not None else "?"
        return Text(f"{done}/{total}", style="progress.download")


class _RateColumn(ProgressColumn):
    """items/s (or bytes/s) beside a bar."""

    def render(self, task: Any) -> Text:
        speed = task.finished_speed or task.speed
        unit = task.fields.get("unit", "it")
        if not speed:
            return Text(f"- {unit}/s", style="progress.data.speed")
        text = f"{decimal(int(speed))}/s" if unit == "B" else f"{speed:.2f} {unit}/s"
        return Text(text, style="progress.data.speed")


class _LeftColumn(TimeRemainingColumn):
    """The time left: the task's own estimate when it sends one (``progress.LEFT``), else rich's."""

    def render(self, task: Any) -> Text:
        left = task.fields.get(LEFT)
        if left is None:
            return super().render(task)
        minutes, seconds = divmod(int(left), 60)
        hours, minutes = divmod(minutes, 60)
        return Text(f"{hours}:{minutes:02d}:{seconds:02d}", style="progress.remaining")


class RichReporter:
    """Draws rich progress bars on stderr (ETA, items/s); levels filter messages."""

    def __init__(self, verbose: bool = False, quiet: bool = False) -> None:
        self.verbose, self.quiet = verbose, quiet
        self._progress: Progress | None = None
        self._tasks: dict[str, TaskID] = {}

    def _ensure(self) -> Progress:
        if self._progress is None:
            # The name and the info fields give way (ellipsis) before count, rate and times do:
            # at 80 columns a long loss line used to squeeze the count and ETA out of the bar.
            self._progress = Progress(
                TextColumn("{task.description}", table_column=Column(no_wrap=True, overflow="ellipsis", max_width=24)),
                BarColumn(bar_width=None, table_column=Column(ratio=1, min_width=6)),
                _CountColumn(),
                _RateColumn(),
                TimeElapsedColumn(),
                _LeftColumn(),
                TextColumn("{task.fields[info]}", table_column=Column(ratio=2, no_wrap=True, overflow="ellipsis")),
                console=err_console,
                transient=False,
                expand=True,
            )
            self._progress.start()
        return self._progress

    def start(self, task: str, total: int | None = None, unit: str = "it", transient: bool = False) -> None:
        if self.quiet:
            return
        progress = self._ensure()
        self._tasks[task] = progress.add_task(task, total=total, unit=unit, info="", transient=transient)

    def advance(self, task: str, n: int = 1, **fields: Any) -> None:
        if task not in self._tasks or self._progress is None:
            return
        left = fields.pop(LEFT, None)
        info = "  ".join(f"{k}={_fmt(v)}" for k, v in fields.items())
        self._progress.update(self._tasks[task], advance=n, info=info, **{LEFT: left})

    def finish(self, task: str) -> None:
        task_id = self._tasks.pop(task, None)
        if task_id is None or self._progress is None:
            return
        if self._progress.tasks[self._index(task_id)].fields.get("transient"):
            self._progress.remove_task(task_id)
        if not self._tasks:
            self.close()

    def _index(self, task_id: TaskID) -> int:
        assert self._progress is not None
        return [t.id for t in self._progress.tasks].index(task_id)

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

    def log(self, message: str, level: str = "info") -> None:
        if level == "debug" and not self.verbose:
            return
        if self.quiet and level != "warning":
            return
        target = self._progress.console if self._progress else err_console
        prefix = {"warning": "[yellow]warning:[/] ", "debug": "[dim]"}.get(level, "")
        target.print(prefix + _escape(message), soft_wrap=True)


def _fmt(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)

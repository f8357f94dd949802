"""One exception hierarchy; each class carries the process exit code the CLI uses.

Compute code raises these; only ``stylize.cli`` turns them into a red line and an exit code.
"""

from __future__ import annotations


class StylizeError(Exception):
    """Base of every error a user can cause or fix. ``hint`` says what to do about it."""

    exit_code = 1

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint

    def one_line(self) -> str:
        """The message and hint as one line, for stderr."""
        text = str(self).strip().replace("\n", " ")
        return f"{text} ({self.hint})" if self.hint else text


class UsageError(StylizeError):
    """Bad combination of options or arguments."""

    exit_code = 2


class InputError(StylizeError):
    """An input file is missing, unreadable, corrupt or too large."""

    exit_code = 3


class OutputError(InputError):
    """An output cannot be written (exists, would overwrite an input, no permission)."""


class WeightsError(StylizeError):
    """A weights file is missing, offline, corrupt, or in the wrong layout."""

    exit_code = 4


class DeviceError(StylizeError):
    """The requested device is not available."""

    exit_code = 5


class PartialBatchError(StylizeError):
    """A batch finished, but some inputs failed."""

    exit_code = 6


class Interrupted(StylizeError):
    """Ctrl-C: stopped cleanly, nothing half-written."""

    exit_code = 130


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread like Ctrl-C: the same clean stop (finished outputs kept,
    the write in flight completed or dropped, a summary), but exit 143 (128 + 15) instead of 130."""

    exit_code = 143


def stop_exit_code(exc: BaseException) -> int:
    """130 for Ctrl-C, 143 for SIGTERM."""
    return Terminated.exit_code if isinstance(exc, Terminated) else Interrupted.exit_code


EXIT_CODES: dict[str, int] = {
    "ok": 0,
    "error": StylizeError.exit_code,
    "usage": UsageError.exit_code,
    "input": InputError.exit_code,
    "weights": WeightsError.exit_code,
    "device": DeviceError.exit_code,
    "partial": PartialBatchError.exit_code,
    "interrupted": Interrupted.exit_code,
    "terminated": Terminated.exit_code,
}

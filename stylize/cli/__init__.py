"""Command-line interface. The only package that imports typer/rich and sets exit codes."""

from __future__ import annotations

import signal
import sys
from types import FrameType

from stylize.cli import (  # noqa: F401 - importing registers the commands
    adain_cmd,
    eval_cmd,
    fast_cmd,
    gan_cmd,
    info_cmd,
    optimize_cmd,
    sheet_cmd,
    train_adain_cmd,
    train_fast_cmd,
    weights_cmd,
)
from stylize.cli.app import app
from stylize.cli.batch_options import ray_argv
from stylize.errors import Terminated


def main() -> None:
    """Console-script entry point. SIGTERM stops like Ctrl-C (clean, with a summary) and exits 143."""
    signal.signal(signal.SIGTERM, _terminate)
    app(args=ray_argv(sys.argv[1:]), prog_name="stylize")


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise Terminated


__all__ = ["app", "main"]

"""Command-line interface. The only package that imports typer/rich and sets exit codes."""

from __future__ import annotations

from stylize.cli import (  # noqa: F401 - importing registers the commands
    adain_cmd,
    eval_cmd,
    fast_cmd,
    gan_cmd,
    info_cmd,
    optimize_cmd,
    train_adain_cmd,
    train_fast_cmd,
    weights_cmd,
)
from stylize.cli.app import app


def main() -> None:
    """Console-script entry point."""
    app(prog_name="stylize")


__all__ = ["app", "main"]

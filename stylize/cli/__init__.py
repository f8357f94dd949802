"""Command-line interface. The only package that imports typer/rich and sets exit codes."""

from __future__ import annotations

from stylize.cli import adain_cmd, info_cmd, methods, weights_cmd  # noqa: F401 - registers the commands
from stylize.cli.app import app


def main() -> None:
    """Console-script entry point."""
    app(prog_name="stylize")


__all__ = ["app", "main"]

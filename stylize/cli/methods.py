"""Stylizing commands. Each is replaced by its real implementation as its backend lands."""

from __future__ import annotations

import typer

from stylize.cli.app import app
from stylize.errors import NotImplementedYet

_PASS_THROUGH = {"allow_extra_args": True, "ignore_unknown_options": True}


def _not_yet(command: str) -> None:
    raise NotImplementedYet(f"'stylize {command}' is not implemented yet", "see README.md for what works today")


@app.command("train-fast", context_settings=_PASS_THROUGH)
def train_fast(ctx: typer.Context) -> None:
    """Train a fast-style network from content photos and one style image (not implemented yet)."""
    _not_yet("train-fast")

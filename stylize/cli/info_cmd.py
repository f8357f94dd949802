"""``stylize info``: versions, the device that would be used, and where weights are cached."""

from __future__ import annotations

from typing import Annotated

import typer

from stylize import api
from stylize.cli.app import app, settings
from stylize.cli.display import emit_json


@app.command()
def info(ctx: typer.Context, as_json: Annotated[bool, typer.Option("--json", help="JSON on stdout.")] = False) -> None:
    """Show versions, the chosen device and the weights cache (checks --device)."""
    facts = api.info(settings(ctx).device)
    if as_json:
        emit_json(facts)
        return
    for key, value in facts.items():
        typer.echo(f"{key:16} {value}")

"""``stylize sheet``: a photo in every shipped fast model and every given style, on one labelled sheet."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from stylize import api
from stylize.cli.app import app, settings
from stylize.cli.display import emit_json, emit_result, err_console


@app.command()
def sheet(
    ctx: typer.Context,
    photo: Annotated[Path, typer.Argument(help="The photo to try the styles on.", show_default=False)],
    style: Annotated[
        list[str] | None,
        typer.Option("--style", "-s", help="Style image or folder (AdaIN); repeatable.", show_default=False),
    ] = None,
    model: Annotated[
        list[str] | None,
        typer.Option(
            "--model",
            "-m",
            help="Another fast model (published, local or a file) beside the shipped ones; repeatable.",
            show_default=False,
        ),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="The sheet, .jpg or .png.", show_default="stylized/PHOTO_sheet.jpg"),
    ] = None,
    size: Annotated[
        int, typer.Option(min=16, help="Long side of each tile in px (a preview).")
    ] = api.SHEET_PREVIEW_SIZE,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output on stdout.")] = False,
) -> None:
    """Choose a style at a glance: the photo in every shipped fast model and every -s style (AdaIN), small
    and labelled, in one picture. stdout: the command that makes each tile at the usual size."""
    state = settings(ctx)
    result = api.style_sheet(photo, style or [], model or [], output, size, state.device, state.reporter())
    if as_json:
        emit_json(result.to_json())
        return
    for tile in result.tiles:
        if tile.command:
            emit_result(tile.command)
    if not state.quiet:
        err_console.print(f"sheet: {result.path} ({len(result.tiles)} tiles, {result.seconds:.1f} s)", soft_wrap=True)

"""``stylize fast``: apply a feed-forward transformer network (Johnson et al. 2016)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from stylize import api
from stylize.cli import batch_options as bo
from stylize.cli import picture_options as po
from stylize.cli import video_options as vo
from stylize.cli.app import app, settings
from stylize.cli.display import emit_json, emit_result
from stylize.cli.shared_params import with_params
from stylize.config import FAST_DEFAULTS as D
from stylize.config import FastConfig, help_of
from stylize.errors import UsageError

PANEL = "Fast style"


@app.command()
@with_params(bo.batch_params, vo.video_params)
def fast(
    ctx: typer.Context,
    inputs: Annotated[
        list[str] | None, typer.Argument(help="Images, folders (searched recursively), or - to read paths from stdin.")
    ] = None,
    model: Annotated[
        list[str] | None,
        typer.Option(
            "--model",
            "-m",
            help=help_of(D, "models"),
            rich_help_panel=PANEL,
        ),
    ] = None,
    size: po.SizeOption = None,
    upscale: po.UpscaleOption = D.upscale,
    color: po.ColorOption = D.color,
    palette: po.PaletteOption = D.palette,
    preserve_color: po.PreserveColorOption = False,
    tile: Annotated[
        int,
        typer.Option(
            min=0,
            help=help_of(D, "tile"),
            show_default="0, automatic",
            rich_help_panel=PANEL,
        ),
    ] = D.tile,
    tile_overlap: Annotated[
        int, typer.Option(min=0, help=help_of(D, "tile_overlap"), rich_help_panel=PANEL)
    ] = D.tile_overlap,
    precision: po.PrecisionOption = D.precision,
    channels_last: Annotated[bool, typer.Option(help=help_of(D, "channels_last"), hidden=True)] = D.channels_last,
    list_models: Annotated[
        bool, typer.Option("--list", help="Show the registry's and the local models, then exit.", rich_help_panel=PANEL)
    ] = False,
    export_onnx: Annotated[
        Path | None,
        typer.Option(
            "--export-onnx",
            metavar="FILE.onnx",
            help="Write --model as ONNX (dynamic batch and size), then exit.",
            rich_help_panel=PANEL,
        ),
    ] = None,
    **shared: Any,
) -> None:
    """Apply a fast-style network, Johnson et al. (ours, shipped; the published pytorch/examples ones; or yours)."""
    if list_models:
        return _list(shared["as_json"])
    state = settings(ctx)
    if export_onnx is not None:
        return _export(model or [], export_onnx, state.reporter())
    if not inputs:
        raise UsageError("no input images given", "usage: stylize fast CONTENT... [--model NAME]")
    config = FastConfig(
        models=tuple(model or ()),
        size=po.image_size(size),
        upscale=upscale,
        color=po.resolve_color(color, preserve_color, ctx),
        palette=palette,
        tile=tile,
        tile_overlap=tile_overlap,
        precision=precision,
        channels_last=channels_last,
    )
    options = bo.batch_options_from(shared)
    video = vo.video_config_from(shared, size)
    reporter = state.reporter()
    bo.run_and_finish(
        lambda: api.fast(inputs, config, options, state.device, reporter, sys.stdin, video),
        shared["as_json"],
        reporter,
        state.quiet,
    )


def _list(as_json: bool) -> None:
    """The models table (or JSON) on stdout: it is this command's result."""
    entries = api.fast_models()
    if as_json:
        emit_json(
            [
                {
                    "name": e.name,
                    "source": e.source,
                    "cached": e.path is not None,
                    "path": str(e.path) if e.path else None,
                    "description": e.description,
                }
                for e in entries
            ]
        )
        return
    table = Table("name", "source", "on disk", "description", box=None, pad_edge=False)
    for e in entries:
        table.add_row(e.name, e.source, str(e.path) if e.path else "no (downloaded on first use)", e.description)
    typer.echo(_render(table) + f"local models folder: {api.fast_models_dir()}")


def _render(table: object) -> str:
    console = Console(width=200, record=True, file=open("/dev/null", "w"))  # noqa: SIM115
    console.print(table)
    return console.export_text()


def _export(models: list[str], path: Path, reporter: object) -> None:
    if len(models) != 1:
        raise UsageError("--export-onnx needs exactly one --model")
    emit_result(str(api.export_onnx(models[0], path, reporter)))  # type: ignore[arg-type]

"""``stylize adain``: arbitrary style transfer in one forward pass."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from stylize import api
from stylize.cli import batch_options as bo
from stylize.cli import picture_options as po
from stylize.cli import video_options as vo
from stylize.cli.app import app, settings
from stylize.cli.shared_params import with_params
from stylize.config import ADAIN_DEFAULT_PAIR, AdaINConfig, help_of
from stylize.config import ADAIN_DEFAULTS as D

PANEL = "AdaIN"


@app.command()
@with_params(bo.batch_params, vo.video_params)
def adain(
    ctx: typer.Context,
    inputs: Annotated[
        list[str],
        typer.Argument(
            help="Content images or folders (- reads paths from stdin); without -s the last one is the style."
        ),
    ],
    style: Annotated[
        list[str] | None,
        typer.Option("--style", "-s", help="Style image or folder; repeatable.", rich_help_panel=PANEL),
    ] = None,
    alpha: Annotated[
        float | None,
        typer.Option(
            min=0.0,
            max=1.0,
            help=help_of(D, "alpha"),
            show_default="the decoder's own: 1 for ours and the published one",
            rich_help_panel=PANEL,
        ),
    ] = D.alpha,
    transform: Annotated[
        str,
        typer.Option(help=help_of(D, "transform"), rich_help_panel=PANEL, metavar=""),
    ] = D.transform,
    refine: Annotated[
        int,
        typer.Option(help=help_of(D, "refine"), rich_help_panel=PANEL, metavar="N"),
    ] = D.refine,
    blend: Annotated[str | None, typer.Option(help=help_of(D, "blend"), rich_help_panel=PANEL)] = None,
    style_weights: bo.OldBlendOption = None,
    color: po.ColorOption = D.color,
    palette: po.PaletteOption = D.palette,
    preserve_color: po.PreserveColorOption = False,
    mask: Annotated[
        list[Path] | None,
        typer.Option(help=help_of(D, "masks"), rich_help_panel=PANEL),
    ] = None,
    size: po.SizeOption = None,
    upscale: po.UpscaleOption = D.upscale,
    style_size: Annotated[
        int,
        typer.Option(min=0, help=help_of(D, "style_size"), rich_help_panel=po.PANEL),
    ] = D.style_size,
    style_scale: Annotated[
        float,
        typer.Option(help=help_of(D, "style_scale"), rich_help_panel=PANEL),
    ] = D.style_scale,
    crop: Annotated[bool, typer.Option(help=help_of(D, "crop"), rich_help_panel=PANEL)] = D.crop,
    tile: Annotated[
        int,
        typer.Option(
            min=0,
            help=help_of(D, "tile"),
            show_default="0, automatic",
            rich_help_panel=PANEL,
        ),
    ] = D.tile,
    precision: po.PrecisionOption = D.precision,
    encoder: Annotated[
        str,
        typer.Option(
            help=help_of(D, "encoder"),
            show_default="the one the decoder was trained for",
            rich_help_panel=PANEL,
        ),
    ] = D.encoder,
    decoder: Annotated[
        str,
        typer.Option(
            help=help_of(D, "decoder"),
            show_default=f"{ADAIN_DEFAULT_PAIR[1]}",
            rich_help_panel=PANEL,
        ),
    ] = D.decoder,
    **shared: Any,
) -> None:
    """Arbitrary style transfer in one forward pass (Huang & Belongie 2017, AdaIN)."""
    contents, styles = bo.split_styles("adain", inputs, style)
    config = AdaINConfig(
        alpha=alpha,
        transform=transform,
        refine=refine,
        size=po.image_size(size),
        upscale=upscale,
        style_size=style_size,
        style_scale=style_scale,
        crop=crop,
        blend=bo.parse_blend(blend, style_weights),
        color=po.resolve_color(color, preserve_color, ctx),
        palette=palette,
        masks=tuple(mask or ()),
        tile=tile,
        precision=precision,
        encoder=encoder,
        decoder=decoder,
    )
    options = bo.batch_options_from(shared)
    video = vo.video_config_from(shared, size)
    state = settings(ctx)
    reporter = state.reporter()
    bo.run_and_finish(
        lambda: api.adain(contents, styles, config, options, state.device, reporter, sys.stdin, video),
        shared["as_json"],
        reporter,
        state.quiet,
    )

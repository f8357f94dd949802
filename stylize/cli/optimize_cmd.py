"""``stylize optimize``: Gatys et al. optimisation, coarse to fine."""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer

from stylize import api
from stylize.cli import batch_options as bo
from stylize.cli import picture_options as po
from stylize.cli import video_options as vo
from stylize.cli.app import app, settings
from stylize.cli.shared_params import with_params
from stylize.config import OPTIMIZE_DEFAULTS as D
from stylize.config import OptimizeConfig, help_of, parse_layers

PANEL = "Optimization"
LOSS = "Losses"


def _opt(help_text: str, panel: str = PANEL, **kwargs: object) -> typer.models.OptionInfo:
    return typer.Option(help=help_text, rich_help_panel=panel, **kwargs)  # type: ignore[arg-type]


@app.command()
@with_params(bo.batch_params, vo.video_params, skip=("batch_size",))
def optimize(
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
    size: po.SizeOption = None,
    upscale: po.UpscaleOption = D.upscale,
    iterations: Annotated[int, _opt(help_of(D, "iterations"), min=1)] = D.iterations,
    min_size: Annotated[int, _opt(help_of(D, "min_size"), min=16)] = D.min_size,
    scale_factor: Annotated[float, _opt(help_of(D, "scale_factor"), show_default="1.414, √2")] = D.scale_factor,
    scales: Annotated[int, _opt(help_of(D, "scales"), min=0)] = D.scales,
    optimizer: Annotated[str, _opt(help_of(D, "optimizer"))] = D.optimizer,
    learning_rate: Annotated[float, _opt(help_of(D, "learning_rate"))] = D.learning_rate,
    init: Annotated[str, _opt(help_of(D, "init"))] = D.init,
    seed: Annotated[int | None, _opt(help_of(D, "seed"), show_default="random")] = D.seed,
    blend: Annotated[str | None, _opt(help_of(D, "blend"))] = None,
    style_weights: bo.OldBlendOption = None,
    style_scale: Annotated[float, _opt(help_of(D, "style_scale"))] = D.style_scale,
    color: po.ColorOption = D.color,
    preserve_color: po.PreserveColorOption = False,
    pooling: Annotated[str, _opt(help_of(D, "pooling"))] = D.pooling,
    save_every: Annotated[int, _opt(help_of(D, "save_every"), min=0)] = D.save_every,
    plot: Annotated[bool, _opt(help_of(D, "plot"))] = D.plot,
    precision: po.PrecisionOption = D.precision,
    vgg: Annotated[
        str,
        _opt(help_of(D, "vgg")),
    ] = D.vgg,
    content_layers: Annotated[str, _opt(help_of(D, "content_layers"), LOSS)] = ",".join(D.content_layers),
    style_layers: Annotated[str, _opt(help_of(D, "style_layers"), LOSS)] = ",".join(D.style_layers),
    content_weight: Annotated[float, _opt(help_of(D, "content_weight"), LOSS, min=0.0)] = D.content_weight,
    style_weight: Annotated[float, _opt(help_of(D, "style_weight"), LOSS, min=0.0)] = D.style_weight,
    tv_weight: Annotated[float, _opt(help_of(D, "tv_weight"), LOSS, min=0.0)] = D.tv_weight,
    style_loss: Annotated[str, _opt(help_of(D, "style_loss"), LOSS)] = D.style_loss,
    **shared: Any,
) -> None:
    """Gatys et al. optimisation on VGG-19 features, coarse to fine (slow, highest quality)."""
    contents, styles = bo.split_styles("optimize", inputs, style)
    c_layers, c_weights = parse_layers("--content-layers", content_layers)
    s_layers, s_weights = parse_layers("--style-layers", style_layers)
    config = OptimizeConfig(
        size=po.image_size(size),
        upscale=upscale,
        min_size=min_size,
        scale_factor=scale_factor,
        scales=scales,
        iterations=iterations,
        optimizer=optimizer,
        learning_rate=learning_rate,
        init=init,
        seed=seed,
        content_layers=c_layers,
        content_layer_weights=c_weights,
        style_layers=s_layers,
        style_layer_weights=s_weights,
        content_weight=content_weight,
        style_weight=style_weight,
        tv_weight=tv_weight,
        style_loss=style_loss,
        blend=bo.parse_blend(blend, style_weights),
        style_scale=style_scale,
        pooling=pooling,
        color=po.resolve_color(color, preserve_color, ctx),
        save_every=save_every,
        plot=plot,
        precision=precision,
        vgg=vgg,
    )
    options = bo.batch_options_from(shared)
    video = vo.video_config_from(shared, size)
    state = settings(ctx)
    reporter = state.reporter()
    bo.run_and_finish(
        lambda: api.optimize(contents, styles, config, options, state.device, reporter, sys.stdin, video),
        shared["as_json"],
        reporter,
        state.quiet,
    )

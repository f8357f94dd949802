"""``stylize optimize``: Gatys et al. optimisation, coarse to fine."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from stylize.cli import batch_options as bo
from stylize.cli import picture_options as po
from stylize.cli import video_options as vo
from stylize.cli.app import app, settings
from stylize.config import OPTIMIZE_DEFAULTS as D
from stylize.config import OptimizeConfig, parse_layers

PANEL = "Optimization"
LOSS = "Losses"


def _opt(help_text: str, panel: str = PANEL, **kwargs: object) -> typer.models.OptionInfo:
    return typer.Option(help=help_text, rich_help_panel=panel, **kwargs)  # type: ignore[arg-type]


@app.command()
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
    iterations: Annotated[
        int, _opt("Iterations at every scale (5 scales from 128 to 512 px by default: 300 in all).", min=1)
    ] = D.iterations,
    min_size: Annotated[int, _opt("Long side of the first, coarsest scale.", min=16)] = D.min_size,
    scale_factor: Annotated[float, _opt("Size ratio between scales.", show_default="1.414, √2")] = D.scale_factor,
    scales: Annotated[
        int, _opt("Number of scales: 0 from --min-size/--scale-factor, 1 single scale.", min=0)
    ] = D.scales,
    optimizer: Annotated[str, _opt("lbfgs or adam.")] = D.optimizer,
    learning_rate: Annotated[float, _opt("Adam step size (pixels in 0..1).")] = D.learning_rate,
    init: Annotated[str, _opt("Start from: content, noise or style-stats.")] = D.init,
    seed: Annotated[
        int | None, _opt("Seed for the noise inits: same seed, same output.", show_default="random")
    ] = D.seed,
    style_weights: Annotated[str | None, _opt("Blend the styles into one output, e.g. 0.7,0.3.")] = None,
    style_scale: Annotated[float, _opt("Style image size relative to the output's.")] = D.style_scale,
    color: po.ColorOption = D.color,
    preserve_color: po.PreserveColorOption = False,
    pooling: Annotated[str, _opt("max or avg pooling in the VGG.")] = D.pooling,
    save_every: Annotated[
        int, _opt("Write an intermediate image every N iterations (OUT.iterNNNNN.EXT).", min=0)
    ] = D.save_every,
    plot: Annotated[bool, _opt("Write a loss-curve PNG beside each output (OUT.loss.png).")] = D.plot,
    precision: po.PrecisionOption = D.precision,
    vgg: Annotated[
        str,
        _opt(
            "Loss network: bundled (the original VGG-19, installed), caffe (unnormalised), published, torchvision, a registry name or a file."
        ),
    ] = D.vgg,
    content_layers: Annotated[str, _opt("Content layers, LAYER[:WEIGHT],...", LOSS)] = ",".join(D.content_layers),
    style_layers: Annotated[str, _opt("Style layers, LAYER[:WEIGHT],...", LOSS)] = ",".join(D.style_layers),
    content_weight: Annotated[float, _opt("Weight of the content term.", LOSS, min=0.0)] = D.content_weight,
    style_weight: Annotated[float, _opt("Weight of the style term.", LOSS, min=0.0)] = D.style_weight,
    tv_weight: Annotated[float, _opt("Weight of the total-variation term.", LOSS, min=0.0)] = D.tv_weight,
    style_loss: Annotated[str, _opt("gram (Gatys), meanstd, or w2 (Wasserstein-2).", LOSS)] = D.style_loss,
    output: bo.OutputOption = bo.DEFAULTS.output,
    name: bo.NameOption = bo.DEFAULTS.name,
    ext: bo.ExtOption = bo.DEFAULTS.ext,
    glob: bo.GlobOption = bo.DEFAULTS.glob,
    overwrite: bo.OverwriteOption = bo.DEFAULTS.overwrite,
    fail_fast: bo.FailFastOption = bo.DEFAULTS.fail_fast,
    shard: bo.ShardOption = None,
    quality: bo.QualityOption = bo.DEFAULTS.quality,
    max_pixels: bo.MaxPixelsOption = bo.DEFAULTS.max_pixels,
    io_workers: bo.IoWorkersOption = bo.DEFAULTS.io_workers,
    as_json: bo.JsonOption = False,
    temporal: vo.TemporalOption = vo.DEFAULTS.temporal,
    codec: vo.CodecOption = vo.DEFAULTS.codec,
    crf: vo.CrfOption = vo.DEFAULTS.crf,
    bitrate: vo.BitrateOption = vo.DEFAULTS.bitrate,
    start: vo.StartOption = vo.DEFAULTS.start,
    duration: vo.DurationOption = vo.DEFAULTS.duration,
) -> None:
    """Gatys et al. optimisation on VGG-19 features, coarse to fine (slow, highest quality)."""
    from stylize.api import optimize as run

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
        style_weights=bo.parse_style_weights(style_weights),
        style_scale=style_scale,
        pooling=pooling,
        color=po.resolve_color(color, preserve_color),
        save_every=save_every,
        plot=plot,
        precision=precision,
        vgg=vgg,
    )
    options = bo.batch_options_from(locals())
    video = vo.video_config_from(locals())
    state = settings(ctx)
    reporter = state.reporter()
    bo.run_and_finish(
        lambda: run(contents, styles, config, options, state.device, reporter, sys.stdin, video),
        as_json,
        reporter,
        state.quiet,
    )

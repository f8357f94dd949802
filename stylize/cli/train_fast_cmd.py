"""``stylize train-fast``: train a fast-style network for one style image (Johnson et al. 2016).

Option defaults come from ``FastTrainConfig``; importing this module does not import torch.
stdout gets only the model path (from rank 0 under ``torchrun``); progress goes to stderr.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from stylize import api
from stylize.cli import train_options as train
from stylize.cli.app import app
from stylize.config import FastTrainConfig, help_of, parse_layers

D = FastTrainConfig()
_DATA = "Data"
_LOSS = "Loss and optimiser"
_RUN = train.RUN
Precision = train.precision_option("bf16 where native: CUDA, AVX512-BF16 CPUs")
Workers = train.workers_option(_DATA)


def _layers(flag: str, text: str | None) -> tuple[tuple[str, ...] | None, tuple[float, ...] | None]:
    return parse_layers(flag, text) if text else (None, None)


@app.command("train-fast")
def train_fast(
    ctx: typer.Context,
    style_image: Annotated[Path, typer.Argument(help="The style image the network learns.", show_default=False)],
    data: Annotated[
        Path, typer.Option("--data", help="Content photos, searched recursively (paper: COCO).", rich_help_panel=_DATA)
    ],
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help="Model to write (.safetensors).",
            show_default="$STYLIZE_HOME/fast-models/<style stem>.safetensors",
        ),
    ] = None,
    epochs: Annotated[int, typer.Option(help=help_of(D, "epochs"), rich_help_panel=_LOSS)] = D.epochs,
    iterations: Annotated[int, typer.Option(help=help_of(D, "iterations"), rich_help_panel=_LOSS)] = D.iterations,
    batch_size: Annotated[int, typer.Option(help=help_of(D, "batch_size"), rich_help_panel=_LOSS)] = D.batch_size,
    lr: Annotated[float, typer.Option("--lr", help=help_of(D, "lr"), rich_help_panel=_LOSS)] = D.lr,
    content_weight: Annotated[
        float, typer.Option(help=help_of(D, "content_weight"), rich_help_panel=_LOSS)
    ] = D.content_weight,
    style_weight: Annotated[
        float, typer.Option(help=help_of(D, "style_weight"), rich_help_panel=_LOSS)
    ] = D.style_weight,
    tv_weight: Annotated[float, typer.Option(help=help_of(D, "tv_weight"), rich_help_panel=_LOSS)] = D.tv_weight,
    teacher: Annotated[
        str | None, typer.Option(help=help_of(D, "teacher"), show_default="none: the style loss", rich_help_panel=_LOSS)
    ] = D.teacher,
    teacher_size: Annotated[int, typer.Option(help=help_of(D, "teacher_size"), rich_help_panel=_LOSS)] = D.teacher_size,
    pixel_weight: Annotated[
        float, typer.Option(help=help_of(D, "pixel_weight"), rich_help_panel=_LOSS)
    ] = D.pixel_weight,
    content_layers: Annotated[
        str | None,
        typer.Option(help=help_of(D, "content_layers"), show_default="relu2_2", rich_help_panel=_LOSS),
    ] = None,
    style_layers: Annotated[
        str | None,
        typer.Option(
            help=help_of(D, "style_layers"),
            rich_help_panel=_LOSS,
            show_default="relu1_1..relu4_1 (VGG-19), relu1_2,relu2_2,relu3_3,relu4_3 (VGG-16)",
        ),
    ] = None,
    loss_net: Annotated[
        str,
        typer.Option(
            help=help_of(D, "loss_net"),
            rich_help_panel=_LOSS,
        ),
    ] = D.loss_net,
    image_size: Annotated[int, typer.Option(help=help_of(D, "image_size"), rich_help_panel=_DATA)] = D.image_size,
    crop_scale: Annotated[float, typer.Option(help=help_of(D, "crop_scale"), rich_help_panel=_DATA)] = D.crop_scale,
    style_size: Annotated[int, typer.Option(help=help_of(D, "style_size"), rich_help_panel=_DATA)] = D.style_size,
    style_scale: Annotated[float, typer.Option(help=help_of(D, "style_scale"), rich_help_panel=_DATA)] = D.style_scale,
    workers: Workers = D.workers,
    init: Annotated[
        str | None, typer.Option(help=help_of(D, "init"), show_default="random init", rich_help_panel=_RUN)
    ] = D.init,
    checkpoint_every: train.CheckpointEvery = D.checkpoint_every,
    sample_every: train.SampleEvery = D.sample_every,
    sample_count: train.SampleCount = D.sample_count,
    log_every: train.LogEvery = D.log_every,
    log_dir: train.LogDir = None,
    seed: train.Seed = D.seed,
    precision: Precision = D.precision,
    resume: train.Resume = False,
    overwrite: train.Overwrite = False,
) -> None:
    """Train a fast-style network for STYLE_IMAGE on a folder of photos (Johnson et al. 2016).

    The result loads with `stylize fast --model`. Without -o it goes to the local
    model folder: `stylize fast photo.jpg -m <style stem>` finds it.

    Checkpoints, a loss log and validation grids are written as it goes.
    Ctrl-C saves and stops; --resume continues.
    Runs on every GPU under torchrun (--nproc-per-node N -m stylize train-fast ...).
    """
    c_layers, c_weights = _layers("--content-layers", content_layers)
    s_layers, s_weights = _layers("--style-layers", style_layers)
    config = FastTrainConfig(
        epochs=epochs,
        iterations=iterations,
        batch_size=batch_size,
        lr=lr,
        image_size=image_size,
        crop_scale=crop_scale,
        style_size=style_size,
        style_scale=style_scale,
        content_weight=content_weight,
        style_weight=style_weight,
        tv_weight=tv_weight,
        teacher=teacher,
        teacher_size=teacher_size,
        pixel_weight=pixel_weight,
        content_layers=c_layers,
        content_layer_weights=c_weights,
        style_layers=s_layers,
        style_layer_weights=s_weights,
        loss_net=loss_net,
        init=init,
        checkpoint_every=checkpoint_every,
        sample_every=sample_every,
        sample_count=sample_count,
        log_every=log_every,
        seed=seed,
        workers=workers,
        precision=precision,
    )
    train.run_training(
        ctx, api.train_fast, style_image, data, output, config, resume=resume, overwrite=overwrite, log_dir=log_dir
    )

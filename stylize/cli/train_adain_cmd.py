"""``stylize train-adain``: train an AdaIN decoder for our encoder (Huang & Belongie 2017).

Option defaults come from ``AdaINTrainConfig``; importing this module does not import torch.
stdout gets only the checkpoint path (from rank 0 under ``torchrun``); progress goes to stderr.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from stylize import api
from stylize.cli import train_options as train
from stylize.cli.app import app
from stylize.config import AdaINTrainConfig, help_of

D = AdaINTrainConfig()
_DATA = "Data"
_LOSS = "Loss and optimiser"
_RUN = train.RUN
Precision = train.precision_option("bf16 where native: CUDA, AVX512-BF16 CPUs")
Workers = train.workers_option(_DATA, "per dataset and GPU")


@app.command("train-adain")
def train_adain(
    ctx: typer.Context,
    content_dir: Annotated[
        Path,
        typer.Option(
            "--content-dir", help="Content photos, searched recursively (paper: COCO).", rich_help_panel=_DATA
        ),
    ],
    style_dir: Annotated[
        Path,
        typer.Option("--style-dir", help="Style images, searched recursively (paper: WikiArt).", rich_help_panel=_DATA),
    ],
    output: Annotated[Path, typer.Option("--output", "-o", help="Decoder checkpoint to write (.safetensors).")],
    iterations: Annotated[int, typer.Option(help=help_of(D, "iterations"), rich_help_panel=_LOSS)] = D.iterations,
    batch_size: Annotated[int, typer.Option(help=help_of(D, "batch_size"), rich_help_panel=_LOSS)] = D.batch_size,
    lr: Annotated[float, typer.Option("--lr", help=help_of(D, "lr"), rich_help_panel=_LOSS)] = D.lr,
    lr_decay: Annotated[float, typer.Option(help=help_of(D, "lr_decay"), rich_help_panel=_LOSS)] = D.lr_decay,
    style_weight: Annotated[
        float, typer.Option(help=help_of(D, "style_weight"), rich_help_panel=_LOSS)
    ] = D.style_weight,
    content_weight: Annotated[
        float, typer.Option(help=help_of(D, "content_weight"), rich_help_panel=_LOSS)
    ] = D.content_weight,
    identity_weight: Annotated[
        float,
        typer.Option(
            help=help_of(D, "identity_weight"),
            rich_help_panel=_LOSS,
        ),
    ] = D.identity_weight,
    tv_weight: Annotated[
        float,
        typer.Option(
            help=help_of(D, "tv_weight"),
            rich_help_panel=_LOSS,
        ),
    ] = D.tv_weight,
    image_size: Annotated[int, typer.Option(help=help_of(D, "image_size"), rich_help_panel=_DATA)] = D.image_size,
    crop: Annotated[int, typer.Option(help=help_of(D, "crop"), rich_help_panel=_DATA)] = D.crop,
    workers: Workers = D.workers,
    encoder: Annotated[
        str,
        typer.Option(
            help=help_of(D, "encoder"),
            rich_help_panel=_RUN,
        ),
    ] = D.encoder,
    decoder: Annotated[
        str | None,
        typer.Option(help=help_of(D, "decoder"), show_default="random init", rich_help_panel=_RUN),
    ] = D.decoder,
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
    """Train an AdaIN decoder for the normalised VGG-19 encoder (Huang & Belongie 2017).

    Checkpoints, a loss log and sample grids are written as it goes; Ctrl-C saves and stops.
    Runs on every GPU under torchrun (--nproc-per-node N stylize train-adain ...).
    """
    config = AdaINTrainConfig(
        iterations=iterations,
        batch_size=batch_size,
        lr=lr,
        lr_decay=lr_decay,
        style_weight=style_weight,
        content_weight=content_weight,
        identity_weight=identity_weight,
        tv_weight=tv_weight,
        image_size=image_size,
        crop=crop,
        checkpoint_every=checkpoint_every,
        sample_every=sample_every,
        sample_count=sample_count,
        log_every=log_every,
        seed=seed,
        workers=workers,
        precision=precision,
        encoder=encoder,
        decoder=decoder,
    )
    train.run_training(
        ctx,
        api.train_adain,
        content_dir,
        style_dir,
        output,
        config,
        resume=resume,
        overwrite=overwrite,
        log_dir=log_dir,
    )

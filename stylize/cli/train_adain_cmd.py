"""``stylize train-adain``: train an AdaIN decoder for our encoder (Huang & Belongie 2017).

Option defaults come from ``AdaINTrainConfig``; importing this module does not import torch.
stdout gets only the checkpoint path (from rank 0 under ``torchrun``); progress goes to stderr.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from stylize.backends.adain_train import AdaINTrainConfig
from stylize.cli.app import app, settings
from stylize.cli.display import emit_result

D = AdaINTrainConfig()
_DATA = "Data"
_LOSS = "Loss and optimiser"
_RUN = "Run"


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
    iterations: Annotated[
        int, typer.Option(help="Training steps to reach (paper: 160k).", rich_help_panel=_LOSS)
    ] = D.iterations,
    batch_size: Annotated[
        int, typer.Option(help="Content-style pairs per step and process.", rich_help_panel=_LOSS)
    ] = D.batch_size,
    lr: Annotated[float, typer.Option("--lr", help="Adam learning rate.", rich_help_panel=_LOSS)] = D.lr,
    lr_decay: Annotated[
        float, typer.Option(help="lr / (1 + decay * step); 0 keeps it constant.", rich_help_panel=_LOSS)
    ] = D.lr_decay,
    style_weight: Annotated[
        float, typer.Option(help="Weight of the style loss (paper: 10).", rich_help_panel=_LOSS)
    ] = D.style_weight,
    content_weight: Annotated[
        float, typer.Option(help="Weight of the content loss.", rich_help_panel=_LOSS)
    ] = D.content_weight,
    image_size: Annotated[
        int, typer.Option(help="Resize the short side to this first; 0 keeps it.", rich_help_panel=_DATA)
    ] = D.image_size,
    crop: Annotated[
        int, typer.Option(help="Random square crop in px, a multiple of 8.", rich_help_panel=_DATA)
    ] = D.crop,
    workers: Annotated[
        int | None,
        typer.Option(help="Loader processes per dataset and GPU.", show_default="min(2, CPUs)", rich_help_panel=_DATA),
    ] = D.workers,
    encoder: Annotated[
        str, typer.Option(help="Frozen encoder: registry name or vgg_normalised file.", rich_help_panel=_RUN)
    ] = D.encoder,
    decoder: Annotated[
        str | None,
        typer.Option(
            help="Decoder to fine-tune from (file or registry name).", show_default="random init", rich_help_panel=_RUN
        ),
    ] = D.decoder,
    checkpoint_every: Annotated[
        int, typer.Option(help="Save every N steps; 0: only at the end.", rich_help_panel=_RUN)
    ] = D.checkpoint_every,
    sample_every: Annotated[
        int, typer.Option(help="Write a sample grid every N steps; 0: never.", rich_help_panel=_RUN)
    ] = D.sample_every,
    sample_count: Annotated[int, typer.Option(help="Rows in each sample grid.", rich_help_panel=_RUN)] = D.sample_count,
    log_every: Annotated[
        int, typer.Option(help="One loss-log line (a mean) every N steps.", rich_help_panel=_RUN)
    ] = D.log_every,
    log_dir: Annotated[
        Path | None,
        typer.Option(help="Loss log, plot and samples.", show_default="<output stem>-train/", rich_help_panel=_RUN),
    ] = None,
    seed: Annotated[
        int, typer.Option(help="Seed for initialisation, data order and crops.", rich_help_panel=_RUN)
    ] = D.seed,
    precision: Annotated[
        str, typer.Option(help="auto, fp32, bf16 or fp16 (auto: bf16 on CUDA).", rich_help_panel=_RUN)
    ] = D.precision,
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue training -o from its iteration.", rich_help_panel=_RUN)
    ] = False,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Start again over an existing -o.", rich_help_panel=_RUN)
    ] = False,
) -> None:
    """Train an AdaIN decoder for the normalised VGG-19 encoder (Huang & Belongie 2017).

    Checkpoints, a loss log and sample grids are written as it goes; Ctrl-C saves and stops.
    Runs on every GPU under torchrun (--nproc-per-node N stylize train-adain ...).
    """
    from stylize.backends.adain_train import train_adain as run

    config = AdaINTrainConfig(
        iterations=iterations, batch_size=batch_size, lr=lr, lr_decay=lr_decay, style_weight=style_weight,
        content_weight=content_weight, image_size=image_size, crop=crop, checkpoint_every=checkpoint_every,
        sample_every=sample_every, sample_count=sample_count, log_every=log_every, seed=seed, workers=workers,
        precision=precision, encoder=encoder, decoder=decoder,
    )  # fmt: skip
    reporter = settings(ctx).reporter()
    try:
        result = run(
            content_dir, style_dir, output, config, resume=resume, overwrite=overwrite, log_dir=log_dir,
            device=settings(ctx).device, reporter=reporter,
        )  # fmt: skip
    finally:
        reporter.close()
    if result.is_main:
        emit_result(str(result.checkpoint))

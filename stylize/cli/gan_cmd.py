"""``stylize gan-sample`` and ``stylize train-gan``: sample and train GAN generators.

Option defaults come from ``stylize.config``; importing this module does not import torch.
stdout gets only output paths (or ``--json``); progress goes to stderr.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from stylize import api
from stylize.cli import train_options as train
from stylize.cli.app import app, settings
from stylize.cli.display import emit_json, emit_result
from stylize.config import GANSampleConfig, GANTrainConfig, help_of, parse_pair, parse_seeds
from stylize.errors import UsageError

S = GANSampleConfig()
T = GANTrainConfig()
_PICK = "What to draw"
_OUT = "Output"
_RUN = train.RUN
_DATA = "Data"
Precision = train.precision_option("bf16 on CUDA")
_MODEL = "Model"
_LOSS = "Loss and optimiser"


@app.command("gan-sample")
def gan_sample(
    ctx: typer.Context,
    model: Annotated[
        str,
        typer.Argument(help=help_of(S, "model")),
    ] = S.model,
    num: Annotated[
        int | None,
        typer.Option(
            "--num",
            "-n",
            min=1,
            help=help_of(S, "num"),
            show_default=str(S.num),
            rich_help_panel=_PICK,
        ),
    ] = None,
    seeds: Annotated[
        str | None,
        typer.Option(help=help_of(S, "seeds"), rich_help_panel=_PICK),
    ] = None,
    truncation: Annotated[
        float,
        typer.Option(
            "--truncation",
            "--psi",
            min=0.0,
            help=help_of(S, "truncation"),
            rich_help_panel=_PICK,
        ),
    ] = S.truncation,
    class_label: Annotated[
        str | None,
        typer.Option(
            "--class",
            help=help_of(S, "class_label"),
            rich_help_panel=_PICK,
        ),
    ] = None,
    style_mix: Annotated[
        str | None,
        typer.Option(help=help_of(S, "style_mix"), rich_help_panel=_PICK),
    ] = None,
    mix_layer: Annotated[int, typer.Option(min=0, help=help_of(S, "mix_layer"), rich_help_panel=_PICK)] = S.mix_layer,
    interpolate: Annotated[
        int,
        typer.Option(
            min=0,
            help=help_of(S, "interpolate"),
            rich_help_panel=_PICK,
        ),
    ] = S.interpolate,
    noise: Annotated[
        str,
        typer.Option(help=help_of(S, "noise"), rich_help_panel=_PICK),
    ] = S.noise,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help="Folder, or a file for one image, a --grid or an animation (.gif/.webp).",
            show_default="./gan-samples/",
            rich_help_panel=_OUT,
        ),
    ] = None,
    grid: Annotated[bool, typer.Option("--grid", help=help_of(S, "grid"), rich_help_panel=_OUT)] = S.grid,
    nrow: Annotated[int, typer.Option(min=0, help=help_of(S, "nrow"), rich_help_panel=_OUT)] = S.nrow,
    animation: Annotated[str, typer.Option(help=help_of(S, "animation"), rich_help_panel=_OUT)] = S.animation,
    fps: Annotated[int, typer.Option(min=1, help=help_of(S, "fps"), rich_help_panel=_OUT)] = S.fps,
    as_json: Annotated[bool, typer.Option("--json", help="A JSON report on stdout.", rich_help_panel=_OUT)] = False,
    batch_size: Annotated[int, typer.Option(min=1, help=help_of(S, "batch_size"), rich_help_panel=_RUN)] = S.batch_size,
    device: Annotated[
        str | None,
        typer.Option(
            help="auto, cpu, cuda, cuda:N or mps (overrides the global --device).",
            show_default="global --device",
            rich_help_panel=_RUN,
        ),
    ] = None,
    precision: Annotated[str, typer.Option(help=help_of(S, "precision"), rich_help_panel=_RUN)] = S.precision,
) -> None:
    """Sample images from a GAN generator: the shipped Fashion-MNIST model by default, offline."""
    if seeds is not None and num is not None:
        raise UsageError("-n/--num and --seeds both say which images to draw", "give one of them")
    config = GANSampleConfig(
        model=model,
        num=S.num if num is None else num,
        seeds=parse_seeds(seeds) if seeds is not None else None,
        truncation=truncation,
        grid=grid,
        nrow=nrow,
        style_mix=parse_pair(style_mix, "--style-mix") if style_mix else None,
        mix_layer=mix_layer,
        interpolate=interpolate,
        fps=fps,
        animation=animation,
        class_label=class_label,
        noise=noise,
        batch_size=batch_size,
        precision=precision,
    )
    state = settings(ctx)
    reporter = state.reporter()
    printed: set[Path] = set()

    def written(path: Path) -> None:  # each file as soon as it is on disk: Ctrl-C still leaves a full list
        printed.add(path)
        emit_result(str(path))

    try:
        result = api.gan_sample(config, output, device or state.device, reporter, None if as_json else written)
    finally:
        reporter.close()
    if as_json:
        emit_json(result.as_json())
        return
    for path in result.outputs:
        if path not in printed:
            emit_result(str(path))


@app.command("train-gan")
def train_gan(
    ctx: typer.Context,
    data: Annotated[
        Path,
        typer.Argument(
            help="An image folder (recursive), or MNIST-format idx(.gz) files: the "
            "train-images file or the folder holding it (labels beside it make "
            "the model class-conditional)."
        ),
    ],
    output: Annotated[Path, typer.Option("--output", "-o", help="Generator checkpoint to write (.safetensors).")],
    architecture: Annotated[
        str, typer.Option(help=help_of(T, "architecture"), rich_help_panel=_MODEL)
    ] = T.architecture,
    image_size: Annotated[
        int,
        typer.Option(
            min=0,
            help=help_of(T, "image_size"),
            rich_help_panel=_DATA,
        ),
    ] = T.image_size,
    channels: Annotated[int, typer.Option(help=help_of(T, "channels"), rich_help_panel=_DATA)] = T.channels,
    conditional: Annotated[
        bool,
        typer.Option("--conditional/--unconditional", help=help_of(T, "conditional"), rich_help_panel=_DATA),
    ] = T.conditional,
    dataset_name: Annotated[
        str | None,
        typer.Option(help=help_of(T, "dataset_name"), show_default="from the data", rich_help_panel=_DATA),
    ] = None,
    workers: train.workers_option(_DATA, "for image folders") = T.workers,
    iterations: Annotated[
        int, typer.Option(min=1, help=help_of(T, "iterations"), rich_help_panel=_LOSS)
    ] = T.iterations,
    batch_size: Annotated[
        int, typer.Option(min=1, help=help_of(T, "batch_size"), rich_help_panel=_LOSS)
    ] = T.batch_size,
    loss: Annotated[
        str,
        typer.Option(help=help_of(T, "loss"), rich_help_panel=_LOSS),
    ] = T.loss,
    reg: Annotated[
        str,
        typer.Option(
            help=help_of(T, "reg"),
            rich_help_panel=_LOSS,
        ),
    ] = T.reg,
    r1_gamma: Annotated[float, typer.Option(min=0.0, help=help_of(T, "r1_gamma"), rich_help_panel=_LOSS)] = T.r1_gamma,
    lr_g: Annotated[float, typer.Option(min=0.0, help=help_of(T, "lr_g"), rich_help_panel=_LOSS)] = T.lr_g,
    lr_d: Annotated[float, typer.Option(help=help_of(T, "lr_d"), rich_help_panel=_LOSS)] = T.lr_d,
    ema_halflife: Annotated[
        int,
        typer.Option(min=0, help=help_of(T, "ema_halflife"), rich_help_panel=_LOSS),
    ] = T.ema_halflife,
    latent_dim: Annotated[
        int, typer.Option(min=1, help=help_of(T, "latent_dim"), rich_help_panel=_MODEL)
    ] = T.latent_dim,
    width: Annotated[int, typer.Option(min=1, help=help_of(T, "width"), rich_help_panel=_MODEL)] = T.width,
    d_width: Annotated[int, typer.Option(min=1, help=help_of(T, "d_width"), rich_help_panel=_MODEL)] = T.d_width,
    checkpoint_every: train.CheckpointEvery = T.checkpoint_every,
    sample_every: train.SampleEvery = T.sample_every,
    sample_count: train.SampleCount = T.sample_count,
    log_every: train.LogEvery = T.log_every,
    log_dir: train.LogDir = None,
    seed: train.Seed = T.seed,
    precision: Precision = T.precision,
    resume: train.Resume = False,
    overwrite: train.Overwrite = False,
) -> None:
    """Train a GAN (DCGAN or style-based) on an image folder or MNIST-format idx files.

    Writes the averaged generator (what gan-sample loads), a loss log and sample grids as it
    goes; Ctrl-C saves and stops, --resume continues. Uses every GPU under torchrun.
    """
    config = GANTrainConfig(
        architecture=architecture,
        image_size=image_size,
        channels=channels,
        conditional=conditional,
        iterations=iterations,
        batch_size=batch_size,
        lr_g=lr_g,
        lr_d=lr_d,
        loss=loss,
        reg=reg,
        r1_gamma=r1_gamma,
        ema_halflife=ema_halflife,
        latent_dim=latent_dim,
        width=width,
        d_width=d_width,
        checkpoint_every=checkpoint_every,
        sample_every=sample_every,
        sample_count=sample_count,
        log_every=log_every,
        seed=seed,
        workers=workers,
        precision=precision,
        dataset_name=dataset_name,
    )
    train.run_training(ctx, api.train_gan, data, output, config, resume=resume, overwrite=overwrite, log_dir=log_dir)

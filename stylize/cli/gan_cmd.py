"""``stylize gan-sample`` and ``stylize train-gan``: sample and train GAN generators.

Option defaults come from ``stylize.config``; importing this module does not import torch.
stdout gets only output paths (or ``--json``); progress goes to stderr.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from stylize.cli import train_options as train
from stylize.cli.app import app, settings
from stylize.cli.display import emit_json, emit_result
from stylize.config import DEFAULT_MODEL, GANSampleConfig, GANTrainConfig, parse_pair, parse_seeds
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
        typer.Argument(
            help=f"Generator: '{DEFAULT_MODEL}' (shipped, no download), a registry name (gan-zoo-dcgan-fashiongen, "
            "gan-zoo-pgan-celebahq), a train-gan .safetensors or a pytorch_GAN_zoo .pth."
        ),
    ] = S.model,
    num: Annotated[
        int | None,
        typer.Option(
            "--num",
            "-n",
            min=1,
            help="Images, seeds 0..N-1 (without --seeds).",
            show_default=str(S.num),
            rich_help_panel=_PICK,
        ),
    ] = None,
    seeds: Annotated[
        str | None,
        typer.Option(
            help="Seeds and ranges, e.g. 0-63,100: each seed always gives the same image.", rich_help_panel=_PICK
        ),
    ] = None,
    truncation: Annotated[
        float,
        typer.Option(
            "--truncation",
            "--psi",
            min=0.0,
            help="psi: 1 = full variety, 0 = the average image; 0.5-0.8 trades variety for quality.",
            rich_help_panel=_PICK,
        ),
    ] = S.truncation,
    class_label: Annotated[
        str | None,
        typer.Option(
            "--class",
            help="Class index or name, for conditional models; default: drawn from the seed.",
            rich_help_panel=_PICK,
        ),
    ] = None,
    style_mix: Annotated[
        str | None,
        typer.Option(
            help="SEED_A,SEED_B: A's coarse styles with B's fine ones (style-based models).", rich_help_panel=_PICK
        ),
    ] = None,
    mix_layer: Annotated[
        int, typer.Option(min=0, help="First layer that takes seed B's style.", rich_help_panel=_PICK)
    ] = S.mix_layer,
    interpolate: Annotated[
        int,
        typer.Option(
            min=0,
            help="Frames per step from each seed to the next (spherical); writes the frames and an animation.",
            rich_help_panel=_PICK,
        ),
    ] = S.interpolate,
    noise: Annotated[
        str,
        typer.Option(
            help="Style-based noise inputs: const (fixed maps), seed (drawn per seed) or none.", rich_help_panel=_PICK
        ),
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
    grid: Annotated[
        bool, typer.Option("--grid", help="One PNG contact sheet instead of one file per seed.", rich_help_panel=_OUT)
    ] = S.grid,
    nrow: Annotated[
        int, typer.Option(min=0, help="Images per grid row; 0: about sqrt(N).", rich_help_panel=_OUT)
    ] = S.nrow,
    animation: Annotated[
        str, typer.Option(help="Animation format for --interpolate: gif or webp.", rich_help_panel=_OUT)
    ] = S.animation,
    fps: Annotated[int, typer.Option(min=1, help="Animation frames per second.", rich_help_panel=_OUT)] = S.fps,
    as_json: Annotated[bool, typer.Option("--json", help="A JSON report on stdout.", rich_help_panel=_OUT)] = False,
    batch_size: Annotated[
        int, typer.Option(min=1, help="Images per forward pass (images do not depend on it).", rich_help_panel=_RUN)
    ] = S.batch_size,
    device: Annotated[
        str | None,
        typer.Option(
            help="auto, cpu, cuda, cuda:N or mps (overrides the global --device).",
            show_default="global --device",
            rich_help_panel=_RUN,
        ),
    ] = None,
    precision: Annotated[
        str, typer.Option(help="auto (= fp32: the same image on every device), fp32, bf16, fp16.", rich_help_panel=_RUN)
    ] = S.precision,
) -> None:
    """Sample images from a GAN generator: the shipped Fashion-MNIST model by default, offline."""
    from stylize.backends.gan import sample

    if seeds is not None and num is not None:
        raise UsageError("-n/--num and --seeds both say which images to draw", "give one of them")
    config = GANSampleConfig(
        model=model, num=S.num if num is None else num, seeds=parse_seeds(seeds) if seeds is not None else None, truncation=truncation, grid=grid,
        nrow=nrow, style_mix=parse_pair(style_mix, "--style-mix") if style_mix else None, mix_layer=mix_layer,
        interpolate=interpolate, fps=fps, animation=animation, class_label=class_label, noise=noise,
        batch_size=batch_size, precision=precision,
    )  # fmt: skip
    state = settings(ctx)
    reporter = state.reporter()
    printed: set[Path] = set()

    def written(path: Path) -> None:  # each file as soon as it is on disk: Ctrl-C still leaves a full list
        printed.add(path)
        emit_result(str(path))

    try:
        result = sample(config, output, device or state.device, reporter, None if as_json else written)
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
        str, typer.Option(help="dcgan or style (mapping network, per-layer styles, noise).", rich_help_panel=_MODEL)
    ] = T.architecture,
    image_size: Annotated[
        int,
        typer.Option(
            min=0,
            help="Side in px (4..7 times a power of two); 0: the idx files' own size, 64 for folders.",
            rich_help_panel=_DATA,
        ),
    ] = T.image_size,
    channels: Annotated[
        int, typer.Option(help="1 or 3; 0: 1 for idx files, 3 for folders.", rich_help_panel=_DATA)
    ] = T.channels,
    conditional: Annotated[
        bool,
        typer.Option(
            "--conditional/--unconditional", help="Use class labels when the data has them.", rich_help_panel=_DATA
        ),
    ] = T.conditional,
    dataset_name: Annotated[
        str | None,
        typer.Option(help="Name recorded in the checkpoint.", show_default="from the data", rich_help_panel=_DATA),
    ] = None,
    workers: train.workers_option(_DATA, "for image folders") = T.workers,
    iterations: Annotated[
        int, typer.Option(min=1, help="Training steps to reach.", rich_help_panel=_LOSS)
    ] = T.iterations,
    batch_size: Annotated[
        int, typer.Option(min=1, help="Images per step and process.", rich_help_panel=_LOSS)
    ] = T.batch_size,
    loss: Annotated[
        str,
        typer.Option(help="hinge or ns (non-saturating); auto: hinge for dcgan, ns for style.", rich_help_panel=_LOSS),
    ] = T.loss,
    reg: Annotated[
        str,
        typer.Option(
            help="sn (spectral norm in D), r1 (gradient penalty), none; auto: sn for dcgan, r1 for style.",
            rich_help_panel=_LOSS,
        ),
    ] = T.reg,
    r1_gamma: Annotated[float, typer.Option(min=0.0, help="R1 weight.", rich_help_panel=_LOSS)] = T.r1_gamma,
    lr_g: Annotated[
        float, typer.Option(min=0.0, help="Generator Adam lr; 0: 2e-4 dcgan, 2e-3 style.", rich_help_panel=_LOSS)
    ] = T.lr_g,
    lr_d: Annotated[float, typer.Option(help="Discriminator Adam lr.", rich_help_panel=_LOSS)] = T.lr_d,
    ema_halflife: Annotated[
        int,
        typer.Option(
            min=0, help="Half-life of the generator weight average, in images; 0: no averaging.", rich_help_panel=_LOSS
        ),
    ] = T.ema_halflife,
    latent_dim: Annotated[int, typer.Option(min=1, help="Length of z.", rich_help_panel=_MODEL)] = T.latent_dim,
    width: Annotated[
        int, typer.Option(min=1, help="Generator channels at the lowest resolution.", rich_help_panel=_MODEL)
    ] = T.width,
    d_width: Annotated[
        int, typer.Option(min=1, help="Discriminator channels at the lowest resolution.", rich_help_panel=_MODEL)
    ] = T.d_width,
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
    from stylize.api import train_gan as run

    config = GANTrainConfig(
        architecture=architecture, image_size=image_size, channels=channels, conditional=conditional,
        iterations=iterations, batch_size=batch_size, lr_g=lr_g, lr_d=lr_d, loss=loss, reg=reg, r1_gamma=r1_gamma,
        ema_halflife=ema_halflife, latent_dim=latent_dim, width=width, d_width=d_width,
        checkpoint_every=checkpoint_every, sample_every=sample_every, sample_count=sample_count,
        log_every=log_every, seed=seed, workers=workers, precision=precision, dataset_name=dataset_name,
    )  # fmt: skip
    train.run_training(ctx, run, data, output, config, resume=resume, overwrite=overwrite, log_dir=log_dir)

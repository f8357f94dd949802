"""Options every training command shares (train-adain, train-fast, train-gan), and the run funnel.

Each is an ``Annotated`` type: a command declares ``seed: train.Seed = D.seed`` with its own
default. Importing this module does not import torch.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from stylize.cli.app import settings
from stylize.cli.display import emit_result

RUN = "Run"

CheckpointEvery = Annotated[
    int, typer.Option(min=0, help="Save every N steps (and at the end); 0: only at the end.", rich_help_panel=RUN)
]
SampleEvery = Annotated[
    int, typer.Option(min=0, help="Write a sample grid every N steps (and at the end); 0: never.", rich_help_panel=RUN)
]
SampleCount = Annotated[int, typer.Option(min=1, help="Images in each sample grid.", rich_help_panel=RUN)]
LogEvery = Annotated[int, typer.Option(min=1, help="One loss-log line (a mean) every N steps.", rich_help_panel=RUN)]
LogDir = Annotated[
    Path | None,
    typer.Option(help="Loss log, plot and samples.", show_default="<output stem>-train/", rich_help_panel=RUN),
]
Seed = Annotated[int, typer.Option(help="Seed for initialisation, data order and crops.", rich_help_panel=RUN)]
Resume = Annotated[bool, typer.Option("--resume", help="Continue training -o from its step.", rich_help_panel=RUN)]
Overwrite = Annotated[bool, typer.Option("--overwrite", help="Start again over an existing -o.", rich_help_panel=RUN)]


def precision_option(auto: str) -> Any:
    """``--precision``, its help saying what ``auto`` means for this command."""
    return Annotated[str, typer.Option(help=f"auto ({auto}), fp32, bf16 or fp16.", rich_help_panel=RUN)]


def workers_option(panel: str, per: str = "per process") -> Any:
    """``--workers``: DataLoader processes."""
    return Annotated[
        int | None,
        typer.Option(
            min=0, help=f"Image-decoding processes {per}.", show_default="min(2, CPUs)", rich_help_panel=panel
        ),
    ]


def run_training(ctx: typer.Context, train: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
    """Call ``train(*args, device=..., reporter=..., **kwargs)``; rank 0 prints the checkpoint path."""
    reporter = settings(ctx).reporter()
    try:
        result = train(*args, device=settings(ctx).device, reporter=reporter, **kwargs)
    finally:
        reporter.close()
    if result.is_main:
        emit_result(str(result.checkpoint))
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        _exit_now()


def _exit_now() -> None:
    """A finished torchrun worker leaves without running C++ static destructors.

    Differs from a normal return because gloo's threads, torn down at interpreter exit, abort a
    worker now and then ("terminate called without an active exception", exit -6) after its work
    was saved, and torchrun then reports the whole run as failed. Everything is written, flushed
    and the process group destroyed by now, so nothing is lost by skipping them."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)

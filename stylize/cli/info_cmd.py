"""``stylize info``: versions, the device that would be used, and where weights are cached."""

from __future__ import annotations

from typing import Annotated

import typer

from stylize import __version__
from stylize.cli.app import app, settings
from stylize.cli.display import emit_json


@app.command()
def info(ctx: typer.Context, as_json: Annotated[bool, typer.Option("--json", help="JSON on stdout.")] = False) -> None:
    """Show versions, the chosen device and the weights cache (checks --device)."""
    import torch

    from stylize.devices import resolve_device
    from stylize.weights import cache_dir, offline, torch_hub_dir

    device = resolve_device(settings(ctx).device)
    facts = {
        "stylize": __version__,
        "torch": torch.__version__,
        "device": str(device),
        "cuda_devices": torch.cuda.device_count(),
        "cpu_threads": torch.get_num_threads(),
        "cache": str(cache_dir()),
        "torch_hub_cache": str(torch_hub_dir()),
        "offline": offline(),
    }
    if as_json:
        emit_json(facts)
        return
    for key, value in facts.items():
        typer.echo(f"{key:16} {value}")

"""Service function of ``stylize optimize``: inputs, device and weights -> the Gatys backend -> a batch.

Kept apart from :mod:`stylize.api` until it is merged there.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TextIO

from stylize.api import combined_tag, style_files
from stylize.batch import BatchOptions, BatchReport, collect_inputs, plan_jobs, run_batch
from stylize.config_optimize import OptimizeConfig
from stylize.errors import UsageError
from stylize.progress import NullReporter, Reporter


def optimize(
    contents: Sequence[str],
    styles: Sequence[str],
    config: OptimizeConfig,
    options: BatchOptions,
    device: str | None = None,
    reporter: Reporter | None = None,
    stdin: TextIO | None = None,
) -> BatchReport:
    """Optimise one image per (content, style), or per content blending all styles with ``style_weights``."""
    from stylize.backends.gatys import GatysBackend, GatysModel, load_loss_net
    from stylize.devices import resolve_device

    reporter = reporter or NullReporter()
    style_map = style_files(styles)
    if config.style_weights and len(config.style_weights) != len(style_map):
        raise UsageError(f"--style-weights has {len(config.style_weights)} values for {len(style_map)} styles")
    inputs = collect_inputs(contents, options.glob, stdin)
    blended = bool(config.style_weights)
    tags = [combined_tag(list(style_map))] if blended else list(style_map)
    jobs = plan_jobs(inputs, tags, options)
    torch_device = resolve_device(device)
    if config.precision == "fp16" and torch_device.type == "cpu":
        raise UsageError("--precision fp16 is not supported on CPU", "use fp32 (fastest on CPU here) or bf16")

    def make_model() -> GatysModel:
        layers = [*config.content_layers, *config.style_layers]
        return GatysModel(load_loss_net(config.vgg, layers, config.pooling, torch_device, reporter), config,
                          torch_device)

    backend = GatysBackend(make_model, config, options, style_map, blended, reporter)
    if options.overwrite or not all(job.output.exists() for job in jobs):
        backend.model  # noqa: B018 - load weights now: a weights error stops the batch, not each image
    return run_batch(jobs, backend, options, reporter, inputs=inputs)

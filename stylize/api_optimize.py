"""Service function of ``stylize optimize``: inputs, device and weights -> the Gatys backend -> a batch.

Kept apart from :mod:`stylize.api` until it is merged there.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TextIO

from stylize.api import check_shared_inputs, check_style_weights, plan_style_jobs, run_with_model, style_files
from stylize.batch import BatchOptions, BatchReport
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
    check_style_weights(config.style_weights, style_map)
    check_shared_inputs(style_map.values(), options.max_pixels)
    blended = bool(config.style_weights)
    inputs, jobs = plan_style_jobs(contents, style_map, blended, options, stdin)
    torch_device = resolve_device(device)
    if config.precision == "fp16" and torch_device.type == "cpu":
        raise UsageError("--precision fp16 is not supported on CPU", "use fp32 (fastest on CPU here) or bf16")

    def make_model() -> GatysModel:
        layers = [*config.content_layers, *config.style_layers]
        return GatysModel(
            load_loss_net(config.vgg, layers, config.pooling, torch_device, reporter), config, torch_device
        )

    backend = GatysBackend(make_model, config, options, style_map, blended, reporter)
    return run_with_model(backend, jobs, options, reporter, inputs)

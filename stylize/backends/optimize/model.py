"""The Gatys model: a loss network on one device, the style and content targets, and the
coarse-to-fine loop over the scales of ``optimise.py``."""

from __future__ import annotations

import random
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor

from stylize import images, ops
from stylize.backends.objective import Objective, Targets, content_targets, run_lbfgs, style_moments
from stylize.backends.optimize.solver import MIN_SIDE, AdamRun, scale_iterations, scale_shapes
from stylize.config import OptimizeConfig
from stylize.devices import effective_precision
from stylize.losses import Moments, blend
from stylize.models.loss_net import LossNet
from stylize.ops import normalised_weights
from stylize.progress import LEFT, NullReporter, Reporter, WorkClock

# the fixed part of an iteration's cost, in pixels: measured 0.38 s an iteration at 128² and 1.53 s at
# 512² (BENCHMARKS.md, coarse to fine) = 0.30 s + 4.7 µs a pixel; 0.30 s is the time of 64k pixels
ITERATION_OVERHEAD_PX = 64_000


def iteration_work(shape: tuple[int, int]) -> int:
    """What one iteration at ``shape`` (w, h) costs, for the time left: its pixels plus the fixed part."""
    return shape[0] * shape[1] + ITERATION_OVERHEAD_PX


@dataclass
class StyleImage:
    """A style picture at full resolution and its blend weight."""

    rgb: Image.Image
    weight: float = 1.0


@dataclass
class Result:
    """An optimised image and the loss history: one dict per iteration."""

    image: Tensor  # (1, 3, H, W) in [0, 1], on the CPU
    history: list[dict[str, float]] = field(default_factory=list)


def _match_luminance(style: Tensor, content: Tensor) -> Tensor:
    """Gray style with its luminance mean/std matched to the content's (Gatys et al. 2017)."""
    ys, yc = ops.rgb_to_yiq(style)[:, :1], ops.rgb_to_yiq(content)[:, :1]
    y = (ys - ys.mean()) / ys.std().clamp_min(1e-6) * yc.std() + yc.mean()
    return y.expand(-1, 3, -1, -1).contiguous()


class OptimizeModel:
    """The loss network on one device and the coarse-to-fine loop."""

    def __init__(self, net: LossNet, config: OptimizeConfig, device: torch.device) -> None:
        self.net, self.config, self.device = net, config, device
        # differs from the earlier fp32-on-CPU rule: bf16 autocast halved the iteration (0.109 vs 0.213 s at 256²)
        # on this AVX512-BF16 CPU with the same style/content distances (BENCHMARKS.md); L-BFGS still sees
        # float32 statistics and losses
        self.precision = effective_precision(config.precision, device)
        self._style_cache: dict[Hashable, Moments] = {}

    # -- targets
    def content_targets(self, content: Tensor) -> dict[str, Tensor]:
        return content_targets(self.net, content, self.config.content_layers, self.device, self.precision)

    def style_moments(self, style: Tensor) -> dict[str, Moments]:
        return style_moments(self.net, style, self.config.style_layers, self.device, self.precision)

    def style_targets(
        self, styles: Sequence[StyleImage], long_side: int, content: Tensor, key: Hashable = None
    ) -> dict[str, Moments]:
        """Blended moments of ``styles`` sized for a scale of ``long_side``; cached under ``key``."""
        full_key = (key, long_side) if key is not None else None
        if full_key is not None and full_key in self._style_cache:
            return self._style_cache[full_key]  # type: ignore[return-value]
        per_style = [self.style_moments(self._style_tensor(s, long_side, content)) for s in styles]
        weights = normalised_weights([s.weight for s in styles], len(styles))
        blended = {k: blend([p[k] for p in per_style], weights) for k in self.config.style_layers}
        if full_key is not None:
            self._style_cache[full_key] = blended  # type: ignore[assignment]
        return blended

    def _style_tensor(self, style: StyleImage, long_side: int, content: Tensor) -> Tensor:
        side = min(max(style.rgb.size), max(MIN_SIDE, round(long_side * self.config.style_scale)))
        x = images.to_tensor(images.resize_long_side(style.rgb, side))  # never upscaled (as crowsonkb)
        if self.config.color == "match":
            return ops.match_color(x, content)
        if self.config.color == "luminance":
            return _match_luminance(x, content)
        return x

    # -- the loop
    def stylize(
        self,
        content: Image.Image,
        styles: Sequence[StyleImage],
        *,
        seed: int | None = None,
        style_key: Hashable = None,
        reporter: Reporter | None = None,
        task: str = "optimize",
        on_image: Callable[[int, Tensor], None] | None = None,
    ) -> Result:
        """Optimise an image like ``content`` (its size is the output's) in the styles' manner."""
        cfg, reporter = self.config, reporter or NullReporter()
        shapes = scale_shapes(*content.size, cfg)
        counts = scale_iterations(cfg.iterations, shapes)
        key = style_key if cfg.color == "none" else None  # recoloured styles depend on the content
        result, image, adam = Result(torch.empty(0)), None, AdamRun(cfg.learning_rate)
        reporter.start(task, total=sum(counts), unit="it", transient=True)
        # the ETA counts the work to go, not iterations: an iteration costs its scale's pixels and a fixed part
        clock = WorkClock(sum(count * iteration_work(shape) for shape, count in zip(shapes, counts)))
        try:
            for shape, count in zip(shapes, counts):
                rgb = images.to_tensor(images.resize_to(content, shape))
                source = ops.gray(rgb) if cfg.color == "luminance" else rgb
                targets = Targets(self.content_targets(source), self.style_targets(styles, max(shape), rgb, key))
                image = self._init(source, styles, seed) if image is None else _upsample(image, shape)
                image = self._run_scale(
                    targets, image.to(self.device), count, adam, result, reporter, task, on_image, shape, clock
                )
        finally:
            reporter.finish(task)
        result.image = self._finish(image, content)  # type: ignore[arg-type]
        return result

    def _run_scale(
        self,
        targets: Targets,
        image: Tensor,
        count: int,
        adam: AdamRun,
        result: Result,
        reporter: Reporter,
        task: str,
        on_image: Callable[[int, Tensor], None] | None,
        shape: tuple[int, int],
        clock: WorkClock,
    ) -> Tensor:
        objective = Objective(self.net, targets, self.config, self.precision)
        scale = f"{shape[0]}x{shape[1]}"

        def on_step(i: int, x: Tensor, loss: float, parts: dict[str, float]) -> None:
            result.history.append({"iteration": len(result.history) + 1, "loss": loss, **parts})
            left = clock.step(iteration_work(shape))
            reporter.advance(task, 1, scale=scale, loss=loss, **parts, **{LEFT: left})
            if on_image is not None:
                on_image(len(result.history), x)

        if self.config.optimizer == "adam":
            return adam.run(objective, image, count, on_step)
        return run_lbfgs(objective, image, count, self.config.lbfgs_history, on_step)

    def _init(self, content: Tensor, styles: Sequence[StyleImage], seed: int | None) -> Tensor:
        init = self.config.init
        if init == "content":
            return content.clone()
        generator = torch.Generator().manual_seed(seed if seed is not None else random.randrange(2**63))
        if init == "noise":
            return torch.rand(content.shape, generator=generator)
        mean, std = pixel_stats(styles)
        if self.config.color != "none":  # the colours will be the content's: take its statistics
            mean, std = content.mean((0, 2, 3)), content.std((0, 2, 3))
        noise = torch.randn(content.shape, generator=generator)
        return (noise * std.view(1, 3, 1, 1) + mean.view(1, 3, 1, 1)).clamp(0, 1)

    def _finish(self, image: Tensor, content: Image.Image) -> Tensor:
        out = image.detach().float().cpu()
        if self.config.color == "luminance":
            out = ops.luminance_transfer(out.clamp(0, 1), images.to_tensor(content))
        return out.clamp(0, 1)


def pixel_stats(styles: Sequence[StyleImage]) -> tuple[Tensor, Tensor]:
    """Blend-weighted per-channel mean and std of the style pictures (for ``--init style-stats``)."""
    weights = normalised_weights([s.weight for s in styles], len(styles))
    means, stds = zip(*(_rgb_mean_std(s.rgb) for s in styles))
    mean = sum(w * m for w, m in zip(weights, means))
    std = sum(w * s for w, s in zip(weights, stds))
    return mean, std  # type: ignore[return-value]


def _rgb_mean_std(rgb: Image.Image) -> tuple[Tensor, Tensor]:
    x = images.to_tensor(images.resize_long_side(rgb, min(256, max(rgb.size))))[0].flatten(1)  # (3, N)
    return x.mean(1), x.std(1)


def _upsample(image: Tensor, shape: tuple[int, int]) -> Tensor:
    """The previous scale's result at the next size (W, H), as its init."""
    w, h = shape
    return F.interpolate(image.float(), size=(h, w), mode="bicubic", align_corners=False).clamp(0, 1)

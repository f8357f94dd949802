"""Gatys et al. optimisation-based style transfer, coarse to fine (``stylize optimize``).

The image itself is optimised so that its VGG-19 features match the content image's at the
content layers and the style images' statistics at the style layers (Gatys et al. 2016),
first at a small size, then at successively larger ones, each scale starting from the
previous result (crowsonkb's √2 schedule); most iterations run at low resolution.

Padding: the first 3x3 conv pads by reflection (clean borders; crowsonkb replicates there for
the same reason), the deeper ones with zeros. This differs from vgg_normalised.pth, which
reflects before every conv (AdaIN's addition; Gatys' Caffe network zero-pads): materialised
padding costs about 30% more in the backward pass on CPU. torchvision's VGG zero-pads anyway.

Speed: `--precision auto` runs the VGG in bf16 autocast on CPUs with native bf16 (half the
float32 iteration here); 3x3 convs go through oneDNN (NNPACK's Winograd kernels, forward and
backward, are opt-in with STYLIZE_WINOGRAD=1: they won with torch 2.15's CPU build and lose with
2.14.1's oneDNN 3.12, BENCHMARKS.md); the VGG runs only to the deepest layer a loss reads, frozen, in-place ReLUs, NCHW on CPU
(channels_last measured slower there for this backward pass), channels_last on GPU; style
statistics are computed once per scale; the Gram matrix's backward is one matmul instead of
two; the network file is mapped, not read, where its format allows, and unused layers are
never built.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor

from stylize import images, ops
from stylize.batch import BatchOptions, Job, load_picture, save_result_image
from stylize.checkpoints import load_state
from stylize.config import OptimizeConfig, vgg_source
from stylize.devices import autocast, effective_precision
from stylize.errors import InputError
from stylize.losses import Moments, W2Target, blend, content_loss, gram_loss, meanstd_loss, moments, positions, w2_loss
from stylize.models.loss_net import LossNet, build_loss_net
from stylize.ops import normalised_weights
from stylize.progress import NullReporter, Reporter
from stylize.weights import resolve

# a coarse scale runs at most this many times the final scale's iterations. 1: every scale runs
# --iterations. Differs from crowsonkb (more at coarse scales) because a 128 px iteration costs 1/4
# of a 512 px one on a 2-core CPU, not 1/16: with 4x there, the coarse scales took 80% of the time
# and the run tied a single-scale run of equal wall clock; with 1x it wins (BENCHMARKS.md)
MAX_BOOST = 1
MIN_SIDE = 32  # px: coarser scales than this are skipped (deep layers would be 2x2 or less)
LBFGS_MEMORY = 1 << 30  # bytes of L-BFGS history at most; fewer pairs are kept at large sizes
ADAM_AVERAGE_DECAY = 0.99  # crowsonkb's iterate averaging for Adam
RESTART_RISE = 1.5  # L-BFGS restarts from the best image (history dropped) when the loss rises past this x best

# ---------------------------------------------------------------- the loss network


def load_loss_net(
    vgg: str,
    layers: Sequence[str],
    pooling: str = "max",
    device: torch.device | None = None,
    reporter: Reporter | None = None,
) -> LossNet:
    """The VGG-19 named by ``vgg`` (normalised, torchvision, registry name or file), cut after ``layers``."""
    path = resolve(vgg_source(vgg), reporter)
    return build_loss_net(load_state(path), layers, pooling, device or torch.device("cpu"), str(path))


# ---------------------------------------------------------------- the objective at one scale


@dataclass
class Targets:
    """What one scale's objective matches: content features and blended style moments per layer."""

    content: dict[str, Tensor]  # layer -> (1, C, H, W) float32
    style: dict[str, Moments]


class Objective:
    """Weighted content + style + TV loss of an image at one scale."""

    def __init__(self, net: LossNet, targets: Targets, config: OptimizeConfig, precision: str = "fp32") -> None:
        self.net, self.targets, self.config, self.precision = net, targets, config, precision
        self.content_w = dict(
            zip(config.content_layers, normalised_weights(config.content_layer_weights, len(config.content_layers)))
        )
        self.style_w = dict(
            zip(config.style_layers, normalised_weights(config.style_layer_weights, len(config.style_layers)))
        )
        self.layers = list(dict.fromkeys([*config.content_layers, *config.style_layers]))
        kind = config.style_loss
        self.w2 = {k: W2Target.of(m) for k, m in targets.style.items()} if kind == "w2" else {}

    def __call__(self, image: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        """(total, {"content", "style", "tv"}) for ``image`` (1, 3, H, W)."""
        device = image.device
        with autocast(device, self.precision):
            feats = self.net.features(image, self.layers)
        content = sum(w * content_loss(feats[k], self.targets.content[k]) for k, w in self.content_w.items())
        style = sum(w * self._style(k, feats[k]) for k, w in self.style_w.items())
        tv = ops.tv_loss(image)
        cfg = self.config
        parts = {"content": cfg.content_weight * content, "style": cfg.style_weight * style, "tv": cfg.tv_weight * tv}
        return sum(parts.values()), parts  # type: ignore[return-value]

    def _style(self, layer: str, feat: Tensor) -> Tensor:
        m, kind = moments(feat), self.config.style_loss
        if kind == "w2":
            return w2_loss(m, self.w2[layer], positions(feat))
        if kind == "meanstd":
            return meanstd_loss(m, self.targets.style[layer])
        return gram_loss(m, self.targets.style[layer])


# ---------------------------------------------------------------- schedule


def scale_sides(long_side: int, config: OptimizeConfig) -> list[int]:
    """Long sides of the scales, smallest first, ending at ``long_side``."""
    factor = config.scale_factor
    if config.scales:
        count = config.scales
    elif long_side > config.min_size:
        count = 1 + math.floor(math.log(long_side / config.min_size) / math.log(factor) + 1e-9)
    else:
        count = 1
    sides = {round(long_side / factor**k) for k in range(count)}
    return sorted(s for s in sides if s >= MIN_SIDE or s == long_side)


def scale_shapes(width: int, height: int, config: OptimizeConfig) -> list[tuple[int, int]]:
    """(W, H) of every scale for an output of ``width`` x ``height``, aspect ratio kept."""
    long_side = max(width, height)
    return [
        (max(1, round(width * s / long_side)), max(1, round(height * s / long_side)))
        for s in scale_sides(long_side, config)
    ]


def scale_iterations(iterations: int, shapes: Sequence[tuple[int, int]]) -> list[int]:
    """Iterations per scale: the final scale gets ``iterations``, a k times smaller one k times more
    up to MAX_BOOST times (1 by default: the same number everywhere)."""
    final = max(shapes[-1])
    return [math.ceil(iterations * min(MAX_BOOST, final / max(shape))) for shape in shapes]


# ---------------------------------------------------------------- optimisers


Step = Callable[[int, Tensor, float, dict[str, float]], None]  # (iteration, image, loss, parts)


def _floats(parts: Mapping[str, Tensor]) -> dict[str, float]:
    return {k: float(v.detach()) for k, v in parts.items()}


def lbfgs_history(numel: int, wanted: int) -> int:
    """Correction pairs to keep: ``wanted``, fewer when they would pass LBFGS_MEMORY."""
    return max(5, min(wanted, LBFGS_MEMORY // (2 * 4 * numel)))


def run_lbfgs(
    objective: Objective, image: Tensor, iterations: int, history: int, on_step: Step, deadline: float | None = None
) -> Tensor:
    """L-BFGS without line search (as Gatys' and neural-style's); returns the best image evaluated.

    Every point is clamped to [0, 1] before it is evaluated (the PyTorch tutorial's projection),
    so the image returned is the one whose loss was measured: left unconstrained, pixels drift
    outside [0, 1] and the final clamp undid most of the style match (measured at 512² on the
    benchmark's network: loss 0.13 before the clamp, 0.97 after). Projected steps without a line
    search can diverge after a while, so when the loss rises past ``RESTART_RISE`` times the best,
    the run restarts from the best image with an empty history. Stops early once
    ``time.monotonic()`` passes ``deadline`` (for equal-time comparisons).
    """
    x = image.detach().clone(memory_format=torch.contiguous_format).requires_grad_(True)  # LBFGS views grads flat
    opt = torch.optim.LBFGS(
        [x],
        lr=1.0,
        max_iter=1,
        history_size=lbfgs_history(x.numel(), history),
        tolerance_grad=0.0,
        tolerance_change=0.0,
    )
    best: list[Any] = [math.inf, x.detach().clone()]
    state: dict[str, Any] = {}

    def closure() -> Tensor:
        with torch.no_grad():  # differs from Gatys/neural-style (clamp once at the end): see the docstring
            x.clamp_(0, 1)
        opt.zero_grad(set_to_none=True)
        loss, parts = objective(x)
        loss.backward()
        state["loss"], state["parts"] = float(loss.detach()), parts
        if state["loss"] < best[0]:
            best[0], best[1] = state["loss"], x.detach().clone()
        return loss

    for i in range(iterations):
        opt.step(closure)
        on_step(i, x.detach(), state["loss"], _floats(state["parts"]))
        if deadline is not None and time.monotonic() > deadline:
            break
        if not state["loss"] <= RESTART_RISE * best[0]:  # diverging (or NaN): start again from the best point
            with torch.no_grad():
                x.copy_(best[1])
            opt.state.clear()
    return best[1]


class AdamRun:
    """Adam with a box constraint and iterate averaging; its state carries across scales (crowsonkb)."""

    def __init__(self, learning_rate: float) -> None:
        self.learning_rate = learning_rate
        self.state: dict[str, Tensor] | None = None

    def run(self, objective: Objective, image: Tensor, iterations: int, on_step: Step) -> Tensor:
        x = image.detach().clone().requires_grad_(True)
        opt = torch.optim.Adam([x], lr=self.learning_rate)
        self._restore(opt, x)
        average, weight = torch.zeros_like(x), 0.0
        for i in range(iterations):
            opt.zero_grad(set_to_none=True)
            loss, parts = objective(x)
            loss.backward()
            opt.step()
            with torch.no_grad():
                x.clamp_(0, 1)
                weight = weight * ADAM_AVERAGE_DECAY + (1 - ADAM_AVERAGE_DECAY)
                average.mul_(ADAM_AVERAGE_DECAY).add_(x, alpha=1 - ADAM_AVERAGE_DECAY)
            on_step(i, x.detach(), float(loss.detach()), _floats(parts))
        self.state = {k: v for k, v in opt.state[x].items() if torch.is_tensor(v)}
        return average / weight

    def _restore(self, opt: torch.optim.Adam, x: Tensor) -> None:
        """Warm-start at a new size: moments resized like the image (crowsonkb's scale_adam)."""
        if self.state is None:
            return
        size = tuple(x.shape[-2:])
        exp_avg = F.interpolate(self.state["exp_avg"], size, mode="bicubic", align_corners=False)
        exp_avg_sq = F.interpolate(self.state["exp_avg_sq"], size, mode="bilinear", align_corners=False).relu_()
        opt.state[x] = {"step": self.state["step"], "exp_avg": exp_avg, "exp_avg_sq": exp_avg_sq}


# ---------------------------------------------------------------- one image, all scales


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


def _gray(x: Tensor) -> Tensor:
    """Luminance repeated on three channels (B, 3, H, W)."""
    return ops.rgb_to_yiq(x)[:, :1].expand(-1, 3, -1, -1).contiguous()


def _match_luminance(style: Tensor, content: Tensor) -> Tensor:
    """Gray style with its luminance mean/std matched to the content's (Gatys et al. 2017)."""
    ys, yc = ops.rgb_to_yiq(style)[:, :1], ops.rgb_to_yiq(content)[:, :1]
    y = (ys - ys.mean()) / ys.std().clamp_min(1e-6) * yc.std() + yc.mean()
    return y.expand(-1, 3, -1, -1).contiguous()


class GatysModel:
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
        with torch.no_grad(), autocast(self.device, self.precision):
            feats = self.net.features(content.to(self.device), self.config.content_layers)
        return {k: v.float() for k, v in feats.items()}

    def style_moments(self, style: Tensor) -> dict[str, Moments]:
        with torch.no_grad(), autocast(self.device, self.precision):
            feats = self.net.features(style.to(self.device), self.config.style_layers)
            return {k: moments(v) for k, v in feats.items()}

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
        try:
            for shape, count in zip(shapes, counts):
                rgb = images.to_tensor(images.resize_to(content, shape))
                source = _gray(rgb) if cfg.color == "luminance" else rgb
                targets = Targets(self.content_targets(source), self.style_targets(styles, max(shape), rgb, key))
                image = self._init(source, styles, seed) if image is None else _upsample(image, shape)
                image = self._run_scale(
                    targets, image.to(self.device), count, adam, result, reporter, task, on_image, shape
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
    ) -> Tensor:
        objective = Objective(self.net, targets, self.config, self.precision)
        scale = f"{shape[0]}x{shape[1]}"

        def on_step(i: int, x: Tensor, loss: float, parts: dict[str, float]) -> None:
            result.history.append({"iteration": len(result.history) + 1, "loss": loss, **parts})
            reporter.advance(task, 1, scale=scale, loss=loss, **parts)
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


# ---------------------------------------------------------------- the batch backend


@dataclass
class Loaded:
    """A decoded content picture at output size."""

    picture: images.Picture
    style: str


class Output(NamedTuple):
    """What ``save`` writes: the image, the picture it came from, the loss history (a video takes
    ``[0]``, the image, as from every backend)."""

    image: Tensor
    picture: images.Picture
    history: list[dict[str, float]]


def intermediate_path(output: Path, iteration: int) -> Path:
    """Where ``--save-every`` writes: ``out.png`` -> ``out.iter00100.png``."""
    return output.with_name(f"{output.stem}.iter{iteration:05d}{output.suffix}")


def plot_path(output: Path) -> Path:
    """Where ``--plot`` writes: ``out.jpg`` -> ``out.loss.png``."""
    return output.with_name(f"{output.stem}.loss.png")


@dataclass
class GatysBackend:
    """Runs the optimisation over a batch, one image after another; style targets cached per scale."""

    make_model: Callable[[], GatysModel]  # built on first use, so a fully resumed batch loads nothing
    config: OptimizeConfig
    options: BatchOptions
    styles: dict[str, Path]  # style tag -> file
    blended: bool = False  # one output per content blending every style (tag is the combined tag)
    reporter: Reporter = field(default_factory=NullReporter)
    _pictures: dict[str, Image.Image] = field(default_factory=dict)

    @cached_property
    def model(self) -> GatysModel:
        return self.make_model()

    # I/O thread
    def load(self, job: Job) -> Loaded:
        return self.prepare(load_picture(job, self.options), job.style)

    def prepare(self, picture: images.Picture, style: str, size: int | None = None) -> Loaded:
        """A decoded picture (an image, or a video frame) at output size; ``size`` overrides --size."""
        size = self.config.size if size is None else size
        return Loaded(images.resize_picture(picture, size, self.options.max_pixels, self.config.upscale), style)

    def group_key(self, loaded: Loaded) -> Hashable:
        return id(loaded)  # every image is optimised alone

    # main thread
    def process(self, jobs: list[Job], loaded: list[Loaded]) -> list[Output]:
        return [self._one(job, item) for job, item in zip(jobs, loaded)]

    def _one(self, job: Job, item: Loaded) -> Output:
        styles = self._style_images(item.style)
        on_image = self._saver(job) if self.config.save_every and not job.input.video else None
        result = self.model.stylize(
            item.picture.rgb,
            styles,
            seed=self.config.seed,
            style_key=item.style,
            reporter=self.reporter,
            task=f"optimize {job.input.path.name}",
            on_image=on_image,
        )
        return Output(result.image, item.picture, result.history)

    def _style_images(self, tag: str) -> list[StyleImage]:
        tags = list(self.styles) if self.blended else [tag]
        weights = self.config.style_weights or [1.0] * len(tags)
        return [StyleImage(self._picture(t), w) for t, w in zip(tags, weights)]

    def _picture(self, tag: str) -> Image.Image:
        if tag not in self._pictures:
            try:
                self._pictures[tag] = images.open_image(self.styles[tag], self.options.max_pixels).rgb
            except InputError as exc:
                raise InputError(f"style {exc}", exc.hint) from exc
        return self._pictures[tag]

    def _saver(self, job: Job) -> Callable[[int, Tensor], None]:
        every = self.config.save_every
        where = intermediate_path(job.output, 0).name.replace("00000", "N" * 5)
        self.reporter.log(
            f"{job.input.path.name}: an intermediate image every {every} iterations: {job.output.parent / where}"
        )

        def save(iteration: int, image: Tensor) -> None:
            if iteration % every == 0:
                images.save_image(
                    images.to_pil(image.float().cpu()),
                    intermediate_path(job.output, iteration),
                    quality=self.options.quality,
                    overwrite=True,
                    inputs=(job.input.path,),
                )

        return save

    # I/O thread
    def save(self, job: Job, result: Output) -> None:
        pic = result.picture
        save_result_image(job, images.to_pil(result.image), pic.alpha, pic.exif, self.options, srgb_profile=pic.had_icc)
        if self.config.plot and result.history:
            save_plot(result.history, plot_path(job.output), title=job.output.name)


def save_plot(history: Sequence[Mapping[str, float]], path: Path, title: str | None = None) -> Path:
    """Loss curves (total and each term) against the iteration, log scale."""
    from stylize.plot import loss_series, save_loss_plot

    series = loss_series(history, ("loss", "content", "style", "tv"))
    return save_loss_plot(series, path, log_y=True, title=title)

"""AdaIN as a method: content and style pictures prepared (crop, resize, masks), style statistics
encoded once per style (and per video), and the :class:`AdaINMethod` that runs the model."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import ClassVar

import torch
from PIL import Image
from torch import Tensor

from stylize import images, ops
from stylize.backends.adain.model import AUTO_TILE, AUTO_TILE_PIXELS, AdaINModel, StatsSmoother, StyleTarget, load_pair
from stylize.backends.objective import REFINE
from stylize.backends.stylizer import Batch, Method, MethodPlan, Palette, Stylized, VideoState, check_blend
from stylize.batch import SharedPictures, shared_picture
from stylize.config import STRIDE, AdaINConfig, default_adain_pair, palette_strength
from stylize.errors import UsageError
from stylize.progress import NullReporter, Reporter
from stylize.provenance import weights_id
from stylize.tiles import auto_tile

# ---------------------------------------------------------------- images in, images out


def prepare_content(
    pic: images.Picture, config: AdaINConfig, max_pixels: int = images.DEFAULT_MAX_PIXELS, size: int | None = None
) -> images.Picture:
    """The content at output size: ``size`` (a video frame's) or ``config.size``, cropped with ``--crop``."""
    size = config.size if size is None else size
    if config.crop:
        side = _crop_side(pic.size, size, config.upscale)
        rgb = images.center_crop_square(pic.rgb, side, max_pixels)
        alpha = images.center_crop_square(pic.alpha, side, max_pixels) if pic.alpha is not None else None
        return images.Picture(rgb, alpha, pic.path, pic.exif, pic.had_icc)
    return images.resize_picture(pic, size, max_pixels, config.upscale)


def _crop_side(size: tuple[int, int], wanted: int, upscale: bool) -> int:
    """The square side --crop gives: --size, but never more than the short side unless --upscale."""
    if not wanted:
        return min(size)
    return wanted if upscale else min(wanted, *size)


def prepare_style(rgb: Image.Image, config: AdaINConfig, max_pixels: int) -> Tensor:
    """A decoded style image as (1, 3, H, W) in [0, 1], sized like the content options say, then
    scaled by ``--style-scale`` (bigger strokes above 1)."""
    size = config.style_size
    if config.crop:
        rgb = images.center_crop_square(rgb, _crop_side(rgb.size, size, config.upscale), max_pixels)
    else:
        rgb = images.resize_long_side(rgb, size, max_pixels, config.upscale)
    return images.to_tensor(images.scale_by(rgb, config.style_scale, max_pixels))


def load_masks(decoded: Sequence[Image.Image], count: int) -> list[Image.Image]:
    """Masks as L images; one mask with two styles means style 1 on white, style 2 on black."""
    masks = [m.convert("L") for m in decoded]
    if len(masks) == 1 and count == 2:
        masks.append(Image.eval(masks[0], lambda v: 255 - v))
    if len(masks) != count:
        raise UsageError(f"got {len(masks)} masks for {count} styles", "give one --mask per style (or one for two)")
    return masks


def mask_tensor(masks: Sequence[Image.Image], feature_hw: tuple[int, int]) -> Tensor:
    """Masks resized to the feature map (K, h, w) in [0, 1]; a mask of another size is resized."""
    h, w = feature_hw
    planes = [images.to_tensor(m.convert("RGB").resize((w, h), Image.Resampling.BILINEAR))[0, 0] for m in masks]
    return torch.stack(planes)


# ---------------------------------------------------------------- the method


@dataclass
class AdaINMethod(Method):
    """AdaIN (or EFDM) as a :class:`~stylize.backends.stylizer.Method`: styles encoded once, contents stream through."""

    name: ClassVar[str] = "adain"
    make_model: Callable[[], AdaINModel]  # built on first use, so a fully resumed batch loads nothing
    config: AdaINConfig
    styles: dict[str, Path]  # style tag -> file (the tags are the jobs' `style`)
    max_pixels: int = images.DEFAULT_MAX_PIXELS
    reporter: Reporter = field(default_factory=NullReporter)
    pictures: SharedPictures = field(default_factory=dict)  # styles and masks the api already decoded
    _masks: list[Image.Image] | None = None
    _smoother: StatsSmoother | None = None  # a video's content statistics over time (see begin_video)
    _palette: Palette | None = None  # a video's, kept across its frames
    _resumed: VideoState | None = None  # the state a resumed video's palette starts from
    _palettes: dict[str, Palette] = field(default_factory=dict)  # per style tag, for the run

    @cached_property
    def model(self) -> AdaINModel:
        return self.make_model()

    def __post_init__(self) -> None:
        if self.config.masks:
            decoded = [shared_picture(self.pictures, p, self.max_pixels, "mask") for p in self.config.masks]
            self._masks = load_masks(decoded, len(self.styles))

    def prepare(self, picture: images.Picture, size: int | None = None) -> images.Picture:
        return prepare_content(picture, self.config, self.max_pixels, size)

    def load(self, tags: Sequence[str]) -> None:
        if self.config.refine:
            self.model.load_loss_net(self.reporter)
        self.model  # noqa: B018 - load weights now

    @property
    def follows_content(self) -> bool:
        return self.config.color == "match"

    def style_state(self, tag: str, reference: Tensor | None) -> list[StyleTarget]:
        """The targets of every style one output uses: all of them when blending or masking, else its own."""
        tags = list(self.styles) if (self.config.blend or self._masks) else [tag]
        return [self._target(t, reference) for t in tags]

    def _target(self, tag: str, reference: Tensor | None) -> StyleTarget:
        self.reporter.log(f"encoding style {tag}", "debug")
        rgb = shared_picture(self.pictures, self.styles[tag], self.max_pixels, "style")
        style = prepare_style(rgb, self.config, self.max_pixels)
        if reference is not None:  # Gatys et al. 2017: recolour the style with the content's colours
            style = ops.match_color(style, reference[:1])
        elif self.config.color == "luminance":
            style = ops.gray(style)
        target = self.model.style_target(style)
        target.pixels = ops.pixel_sample(style)
        if self.config.refine:
            target.picture = style
        return target

    def run(self, batch: Batch, state: list[StyleTarget]) -> Stylized:
        content = source = batch.content
        if self.config.color == "luminance":
            content = ops.gray(content)
        alpha = self.config.alpha if self.config.alpha is not None else self.model.default_alpha
        masks = self._mask_planes(content)
        out = self.model.stylize(
            content,
            state,
            self.config.blend,
            alpha,
            masks,
            auto_tile(self.config.tile, content.shape, AUTO_TILE, AUTO_TILE_PIXELS),
            self._smoother,
        )
        palette = self._recolour(batch.style, state, alpha)
        finish = None if self.config.refine else palette.later(masks)  # off the main thread, as a rule
        if finish is None:  # now: before --refine (the Gatys loss has the last word), or a video's chained tables
            out = palette(out, masks)
        if self.config.refine:
            out = self._refine(out, content, state)
        if self.config.color == "luminance":  # (never with a palette)
            out = ops.luminance_transfer(out.clamp(0, 1), source.to(out.device))
        return Stylized(out, finish=finish)

    def _recolour(self, tag: str, state: list[StyleTarget], alpha: float) -> Palette:
        """--palette for a batch of style ``tag``: one per tag for the run (the targets' quantiles computed
        once); a video's (--temporal) carries its tables from frame to frame."""
        if self._palette is not None:
            return self._palette
        samples = [t.pixels for t in state if t.pixels is not None]
        strength = palette_strength(self.config.palette, self.config.color, alpha)
        keep = self._smoother.keep if self._smoother is not None else 0.0  # a video's --temporal
        palette = None if keep else self._palettes.get(tag)
        palette = palette or Palette(samples, strength, self.config.blend, keep=keep)
        if keep:
            palette.resume(self._resumed)
            self._palette = palette
        elif strength:  # (no palette with --color, whose styles follow each photo)
            self._palettes[tag] = palette
        return palette

    def _refine(self, out: Tensor, content: Tensor, state: list[StyleTarget]) -> Tensor:
        """--refine: the Gatys loss from the feed-forward picture, each photo's progress reported."""
        task, count = "refine", self.config.refine
        self.reporter.start(task, total=count * out.shape[0], unit="it", transient=True)
        try:
            weights = self.config.blend if len(state) > 1 else None
            return self.model.refine(out, content, state, weights, count, lambda *_: self.reporter.advance(task, 1))
        finally:
            self.reporter.finish(task)

    def _mask_planes(self, content: Tensor) -> Tensor | None:
        if self._masks is None:
            return None
        h, w = (-(-s // STRIDE) for s in content.shape[-2:])
        return mask_tensor(self._masks, (h, w)).to(self.model.device)

    # a video's content statistics, smoothed over its frames with --temporal
    def begin_video(self, temporal: float, resumed: VideoState | None) -> None:
        self._smoother = StatsSmoother(temporal) if temporal > 0 else None
        self._palette, self._resumed = None, resumed
        if self._smoother is not None and resumed and "mean" in resumed and "std" in resumed:
            self._smoother.mean = torch.from_numpy(resumed["mean"])
            self._smoother.std = torch.from_numpy(resumed["std"])

    def end_video(self) -> None:
        self._smoother, self._palette, self._resumed = None, None, None

    def video_states(self) -> list[VideoState] | None:
        if self._smoother is None:
            return None
        palette = self._palette
        return [
            {"mean": m.cpu().numpy(), "std": s.cpu().numpy(), **(palette.state(i) if palette else {})}
            for i, (m, s) in enumerate(self._smoother.trail)
        ]


# ---------------------------------------------------------------- planning a run (stylize.api.stylize)


def plan(config: AdaINConfig, styles: dict[str, Path]) -> MethodPlan:
    """Styles and masks every job reads; the encoder and decoder by hash for the job signature."""
    check_blend(config.blend, styles)
    if config.blend and config.masks:
        raise UsageError("--blend and --mask cannot be combined", "use one or the other")
    if config.masks and len(styles) < 2 and len(config.masks) != len(styles):
        raise UsageError("--mask needs one mask per style")
    files = (*styles.values(), *config.masks)
    weights = {"encoder": weights_id(config.encoder), "decoder": weights_id(config.decoder or default_adain_pair()[1])}
    if config.refine:
        weights["loss_net"] = weights_id(REFINE.vgg)
    return MethodPlan(styles, bool(config.blend or config.masks), files, files, weights)


def build(
    config: AdaINConfig,
    run: MethodPlan,
    device: torch.device,
    max_pixels: int,
    reporter: Reporter,
    pictures: SharedPictures,
) -> AdaINMethod:
    """The method for one run; the encoder and decoder load when the first job needs them."""

    def make_model() -> AdaINModel:
        encoder, decoder, alpha = load_pair(config, reporter)
        return AdaINModel(encoder, decoder, device, config.precision, default_alpha=alpha, transform=config.transform)

    return AdaINMethod(make_model, config, run.styles, max_pixels, reporter, pictures)

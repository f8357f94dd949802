"""AdaIN over a batch: content and style pictures prepared (crop, resize, masks), style statistics
encoded once per style (and per video), and the ``BatchBackend`` that runs the model."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from stylize import images, ops
from stylize.backends.adain.model import AUTO_TILE, AUTO_TILE_PIXELS, AdaINModel, StatsSmoother, StyleTarget
from stylize.batch import BatchOptions, Job, SharedPictures, load_picture, save_result_image, shared_picture
from stylize.config import STRIDE, AdaINConfig
from stylize.errors import UsageError
from stylize.progress import NullReporter, Reporter
from stylize.tiles import auto_tile

# ---------------------------------------------------------------- images in, images out


@dataclass
class Loaded:
    """A decoded content image, resized, as a (1, 3, H, W) tensor plus what saving needs."""

    tensor: Tensor
    picture: images.Picture
    style: str


def prepare_content(pic: images.Picture, config: AdaINConfig,
                    max_pixels: int = images.DEFAULT_MAX_PIXELS) -> images.Picture:  # fmt: skip
    if config.crop:
        side = _crop_side(pic.size, config.size, config.upscale)
        rgb = images.center_crop_square(pic.rgb, side, max_pixels)
        alpha = images.center_crop_square(pic.alpha, side, max_pixels) if pic.alpha is not None else None
        return images.Picture(rgb, alpha, pic.path, pic.exif, pic.had_icc)
    return images.resize_picture(pic, config.size, max_pixels, config.upscale)


def _crop_side(size: tuple[int, int], wanted: int, upscale: bool) -> int:
    """The square side --crop gives: --size, but never more than the short side unless --upscale."""
    if not wanted:
        return min(size)
    return wanted if upscale else min(wanted, *size)


def prepare_style(rgb: Image.Image, config: AdaINConfig, max_pixels: int) -> Tensor:
    """A decoded style image as (1, 3, H, W) in [0, 1], sized like the content options say."""
    size = config.style_size
    if config.crop:
        return images.to_tensor(images.center_crop_square(rgb, _crop_side(rgb.size, size, config.upscale), max_pixels))
    rgb = images.resize_long_side(rgb, size, max_pixels, config.upscale)
    return images.to_tensor(rgb)


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


# ---------------------------------------------------------------- the batch backend


@dataclass
class AdaINBackend:
    """Runs AdaIN over a batch: styles are encoded once, contents stream through."""

    make_model: Callable[[], AdaINModel]  # built on first use, so a fully resumed batch loads nothing
    config: AdaINConfig
    options: BatchOptions
    styles: dict[str, Path]  # style tag -> file (the tags are the jobs' `style`)
    reporter: Reporter = field(default_factory=NullReporter)
    pictures: SharedPictures = field(default_factory=dict)  # styles and masks the api already decoded
    _targets: dict[Hashable, StyleTarget] = field(default_factory=dict)
    _masks: list[Image.Image] | None = None
    _match_to: Tensor | None = None  # a video's first frame (see begin_video)
    _smoother: StatsSmoother | None = None  # a video's content statistics over time (see begin_video)

    @cached_property
    def model(self) -> AdaINModel:
        return self.make_model()

    def __post_init__(self) -> None:
        if self.config.masks:
            decoded = [shared_picture(self.pictures, p, self.options.max_pixels, "mask") for p in self.config.masks]
            self._masks = load_masks(decoded, len(self.styles))

    # I/O thread
    def load(self, job: Job) -> Loaded:
        return self.prepare(load_picture(job, self.options), job.style)

    def prepare(self, picture: images.Picture, style: str, size: int | None = None) -> Loaded:
        """A decoded picture (an image, or a video frame) as the model's input; ``size`` overrides --size."""
        config = self.config if size is None else replace(self.config, size=size)
        pic = prepare_content(picture, config, self.options.max_pixels)
        return Loaded(images.to_tensor(pic.rgb), pic, style)

    def begin_video(self, first: Loaded | None, temporal: float = 0.0,
                    resumed: dict[str, np.ndarray] | None = None) -> None:  # fmt: skip
        """Style statistics once per video: --color match recolours the style to the first frame, not
        to each frame (a per-frame target would flicker and re-encode the style every frame). With
        ``temporal`` (--temporal) the content statistics are smoothed over the frames too, carried
        on from ``resumed`` (what ``video_states`` gave after the last finished segment)."""
        self._match_to = first.tensor if first is not None else None
        self._smoother = StatsSmoother(temporal) if temporal > 0 else None
        if self._smoother is not None and resumed and "mean" in resumed and "std" in resumed:
            self._smoother.mean, self._smoother.std = (
                torch.from_numpy(resumed["mean"]),
                torch.from_numpy(resumed["std"]),
            )

    def video_states(self) -> list[dict[str, np.ndarray]] | None:
        """The content statistics after each frame of the last ``process`` call (saved with segments)."""
        if self._smoother is None:
            return None
        return [{"mean": m.cpu().numpy(), "std": s.cpu().numpy()} for m, s in self._smoother.trail]

    def group_key(self, loaded: Loaded) -> Hashable:
        return (loaded.style, tuple(loaded.tensor.shape))

    # main thread
    def process(self, jobs: list[Job], loaded: list[Loaded]) -> list[tuple[Tensor, images.Picture]]:
        content = torch.cat([item.tensor for item in loaded])  # (B, 3, H, W)
        source = content
        if self.config.color == "luminance":
            content = ops.gray(content)
        tags = self._style_tags(loaded[0].style)
        match_to = self._match_to if self._match_to is not None else content
        targets = [self._target(tag, match_to if self.config.color == "match" else None) for tag in tags]
        out = self.model.stylize(
            content,
            targets,
            self.config.style_weights,
            self.config.alpha if self.config.alpha is not None else self.model.default_alpha,
            self._mask_planes(content),
            self._tile(content),
            self._smoother,
        )
        if self.config.color == "luminance":
            out = ops.luminance_transfer(out.clamp(0, 1), source.to(out.device))
        return [(img, item.picture) for img, item in zip(out.cpu().unbind(0), loaded)]

    def _style_tags(self, tag: str) -> list[str]:
        """The styles one output uses: all of them when blending or masking, else its own."""
        return list(self.styles) if (self.config.style_weights or self._masks) else [tag]

    def _target(self, tag: str, match_to: Tensor | None) -> StyleTarget:
        key = (tag, None if match_to is None else hashlib.sha1(match_to.numpy().tobytes()).hexdigest())
        if key not in self._targets:
            self._targets[key] = self._compute_target(tag, match_to)
        return self._targets[key]

    def _compute_target(self, tag: str, match_to: Tensor | None) -> StyleTarget:
        self.reporter.log(f"encoding style {tag}", "debug")
        rgb = shared_picture(self.pictures, self.styles[tag], self.options.max_pixels, "style")
        style = prepare_style(rgb, self.config, self.options.max_pixels)
        if match_to is not None:  # Gatys et al. 2017: recolour the style with the content's colours
            style = ops.match_color(style, match_to[:1])
        elif self.config.color == "luminance":
            style = ops.gray(style)
        return self.model.style_target(style)

    def _mask_planes(self, content: Tensor) -> Tensor | None:
        if self._masks is None:
            return None
        h, w = (-(-s // STRIDE) for s in content.shape[-2:])
        return mask_tensor(self._masks, (h, w)).to(self.model.device)

    def _tile(self, content: Tensor) -> int:
        return auto_tile(self.config.tile, content.shape, AUTO_TILE, AUTO_TILE_PIXELS)

    # I/O thread
    def save(self, job: Job, result: tuple[Tensor, images.Picture]) -> None:
        out, pic = result
        save_result_image(job, images.to_pil(out), pic.alpha, pic.exif, self.options, srgb_profile=pic.had_icc)

"""AdaIN arbitrary style transfer (Huang & Belongie 2017): one encoder pass, one decoder pass.

The encoder is the normalised VGG-19 up to relu4_1, the decoder its mirror. By default the pair is
naoto0804's published ``vgg_normalised.pth`` / ``decoder.pth``, loaded unchanged; a decoder made by
``train-adain`` is paired with the encoder it was trained for (our checkpoints record it), so one
trained on the bundled VGG-19 runs offline with ``--decoder FILE`` alone.
Speed: channels_last, in-place ReLUs, weights built without random init, style statistics
computed once per style, optional bf16 autocast, and exact tiling for large images.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field, replace
from fractions import Fraction
from functools import cached_property
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from PIL import Image
from torch import Tensor, nn

from stylize import images, ops
from stylize.batch import BatchOptions, Job, load_picture, save_result_image
from stylize.checkpoints import load_tensors
from stylize.config import PUBLISHED_ADAIN_PAIR, STRIDE, AdaINConfig, default_adain_pair, vgg_source
from stylize.devices import autocast, effective_precision
from stylize.errors import InputError, UsageError
from stylize.models.adain_net import AdaINDecoder
from stylize.models.fused import fuse_reflect_convs
from stylize.models.layouts import ADAIN_DECODER, ADAIN_VGG_NORMALISED, build_checked
from stylize.models.vgg import NormalisedVGG19
from stylize.progress import NullReporter, Reporter
from stylize.tiles import tiled_map
from stylize.weights import REGISTRY, resolve

ENCODER_HALO = 48  # px; relu4_1 sees 68 px, so 34 px of context each side makes tiles exact
DECODER_HALO = 4  # feature px (32 output px); the decoder sees about 2.5 feature px each side
AUTO_TILE_PIXELS = 1600 * 1600  # tile larger images automatically (keeps 1024^2 under 1.5 GiB)
AUTO_TILE = 1024


# ---------------------------------------------------------------- the network


def load_encoder(name_or_path: str, reporter: Reporter | None = None) -> nn.Sequential:
    """Normalised VGG-19 up to relu4_1, from the published layout."""
    state, _ = load_tensors(resolve(vgg_source(name_or_path), reporter))
    return build_checked(NormalisedVGG19, state, ADAIN_VGG_NORMALISED).truncated("relu4_1").eval()


def load_decoder(name_or_path: str, reporter: Reporter | None = None) -> AdaINDecoder:
    """The AdaIN decoder from the published ``decoder.pth`` or our own safetensors checkpoint."""
    return load_decoder_for(name_or_path, reporter)[0]


class DecoderInfo(NamedTuple):
    decoder: AdaINDecoder
    encoder: str | None  # the registry name of the encoder it was trained for; None when unknown
    alpha: float = 1.0  # the alpha it is meant to run at by default (its metadata's "alpha"; the paper's 1)


def load_decoder_for(name_or_path: str, reporter: Reporter | None = None) -> DecoderInfo:
    """The decoder, the encoder it was trained for and its default alpha, from its metadata."""
    state, meta = load_tensors(resolve(name_or_path, reporter))
    arch = meta.get("architecture", "adain-decoder")
    if arch != "adain-decoder":
        raise UsageError(f"{name_or_path}: is a '{arch}' checkpoint, not an AdaIN decoder")
    recorded = meta.get("encoder") or PUBLISHED_ENCODERS.get(name_or_path)
    alpha = float(meta.get("alpha", 1.0))
    decoder = build_checked(AdaINDecoder, state, ADAIN_DECODER).eval()
    return DecoderInfo(decoder, recorded if recorded in REGISTRY else None, alpha)


class AdaINPair(NamedTuple):
    encoder: nn.Sequential
    decoder: AdaINDecoder
    alpha: float  # the decoder's default alpha (see DecoderInfo)


PUBLISHED_ENCODERS = {PUBLISHED_ADAIN_PAIR[1]: PUBLISHED_ADAIN_PAIR[0]}  # registry decoders without metadata


def load_pair(config: AdaINConfig, reporter: Reporter | None = None) -> AdaINPair:
    """The decoder ``config`` names and its encoder: ``--encoder`` if given, else the one the decoder
    was trained for (recorded in our checkpoints), else the published ``adain-vgg``."""
    reporter = reporter or NullReporter()
    default_encoder, default_decoder = default_adain_pair()
    decoder, recorded, alpha = load_decoder_for(config.decoder or default_decoder, reporter)
    encoder = vgg_source(config.encoder) if config.encoder else recorded or default_encoder
    if recorded and encoder != recorded:
        reporter.log(f"the decoder was trained for the encoder '{recorded}', not '{encoder}': "
                     "expect wrong colours and textures", "warning")  # fmt: skip
    return AdaINPair(load_encoder(encoder, reporter), decoder, alpha)


@dataclass
class StyleTarget:
    """What a style contributes: relu4_1 statistics, each (1, C, 1, 1), float32."""

    mean: Tensor
    std: Tensor


class AdaINModel:
    """Encoder + decoder on one device, with the per-image maths of AdaIN."""

    def __init__(
        self,
        encoder: nn.Sequential,
        decoder: nn.Sequential,
        device: torch.device,
        precision: str = "auto",
        fused: bool = True,
        default_alpha: float = 1.0,
    ) -> None:
        self.device = device
        self.default_alpha = default_alpha  # used when --alpha is not given: the decoder's own
        self.precision = effective_precision(precision, device)
        self.encoder = _runtime(encoder, device, fused)
        self.decoder = _runtime(decoder, device, fused)

    def _input(self, x: Tensor) -> Tensor:  # (B, 3, H, W) in [0, 1]
        return x.to(self.device, non_blocking=True).contiguous(memory_format=torch.channels_last)

    @torch.inference_mode()
    def encode(self, x: Tensor, tile: int = 0) -> Tensor:
        """relu4_1 features (B, 512, H/8, W/8) of an image already padded to a multiple of 8."""
        x = self._input(x)
        with autocast(self.device, self.precision):
            if tile and max(x.shape[-2:]) > tile:
                return tiled_map(self.encoder, x, tile, ENCODER_HALO, scale=Fraction(1, STRIDE))
            return self.encoder(x)

    @torch.inference_mode()
    def decode(self, t: Tensor, tile: int = 0) -> Tensor:
        """Image (B, 3, 8h, 8w) from features (B, 512, h, w)."""
        with autocast(self.device, self.precision):
            if tile and max(t.shape[-2:]) * STRIDE > tile:
                return tiled_map(self.decoder, t, tile // STRIDE, DECODER_HALO, scale=STRIDE)
            return self.decoder(t)

    def style_target(self, style: Tensor) -> StyleTarget:
        """Statistics of one style image (1, 3, H, W)."""
        padded, _ = ops.pad_to_multiple(style, STRIDE)
        mean, std = ops.mean_std(self.encode(padded))
        return StyleTarget(mean, std)

    @torch.inference_mode()
    def stylize(
        self,
        content: Tensor,
        targets: Sequence[StyleTarget],
        weights: Sequence[float] | None,
        alpha: float,
        masks: Tensor | None = None,
        tile: int = 0,
        smoother: StatsSmoother | None = None,
    ) -> Tensor:
        """Stylized image (B, 3, H, W) in [0, 1] (unclamped) for content (B, 3, H, W).

        ``smoother``: a video's content statistics over time (frames in order), see StatsSmoother."""
        padded, pads = ops.pad_to_multiple(content, STRIDE)
        feats = self.encode(padded, tile)  # (B, 512, h, w)
        stats = smoother(*ops.mean_std(feats.float())) if smoother is not None and masks is None else None
        t = self._target(feats, targets, weights, masks, stats)
        t = t if alpha == 1.0 else torch.lerp(feats.to(t.dtype), t, alpha)
        out = self.decode(t.to(memory_format=torch.channels_last), tile)
        return ops.crop_padding(out, pads).float()

    def _target(self, feats: Tensor, targets: Sequence[StyleTarget], weights: Sequence[float] | None,
                masks: Tensor | None, stats: tuple[Tensor, Tensor] | None = None) -> Tensor:  # fmt: skip
        if masks is not None:
            return masked_adain(feats, targets, masks)
        if len(targets) == 1:
            return ops.adain(feats, targets[0].mean, targets[0].std, content_stats=stats)
        assert weights is not None and len(weights) == len(targets)
        out = torch.zeros_like(feats, dtype=torch.float32)
        for w, target in zip(weights, targets):
            out.add_(ops.adain(feats, target.mean, target.std, content_stats=stats).float(), alpha=w)
        return out


@dataclass
class StatsSmoother:
    """A video's content statistics (relu4_1 per-channel mean and std), smoothed over its frames.

    AdaIN renormalises every frame by its own statistics, so a passing object or a flicker of
    light restyles the whole frame; an exponential average keeping ``keep`` of the past steadies
    that (issue 14: what AdaIN allows cheaply beside the flow-guided blend). A jump of the mean
    by more than ``cut`` of its size is a scene cut and restarts the average."""

    keep: float
    cut: float = 0.25
    mean: Tensor | None = None
    std: Tensor | None = None
    trail: list[tuple[Tensor, Tensor]] = field(default_factory=list)  # the state after each frame of the last call

    def __call__(self, mean: Tensor, std: Tensor) -> tuple[Tensor, Tensor]:  # (B, C, 1, 1) each, frames in order
        means, stds = [], []
        for m, s in zip(mean.unbind(0), std.unbind(0)):
            if self.mean is None or self.std is None or self.is_cut(m):
                self.mean, self.std = m, s
            else:
                self.mean, self.std = torch.lerp(m, self.mean, self.keep), torch.lerp(s, self.std, self.keep)
            means.append(self.mean)
            stds.append(self.std)
        self.trail = list(zip(means, stds))
        return torch.stack(means), torch.stack(stds)

    def is_cut(self, mean: Tensor) -> bool:
        assert self.mean is not None
        return float((mean - self.mean).norm() / self.mean.norm().clamp_min(1e-6)) > self.cut


def _runtime(net: nn.Sequential, device: torch.device, fused: bool) -> nn.Sequential:
    """The network as it runs: on ``device``, channels_last, frozen, pad+conv fused if asked."""
    net = net.to(device, memory_format=torch.channels_last).requires_grad_(False)
    return fuse_reflect_convs(net) if fused else net


def masked_adain(feats: Tensor, targets: Sequence[StyleTarget], masks: Tensor) -> Tensor:
    """Spatial control (Huang & Belongie 2017, sec. 7): style k where mask k is on.

    Each region is normalised with its own content statistics, then given style k's.
    ``masks`` is (K, h, w) in [0, 1] at feature resolution; uncovered pixels keep the content.
    """
    feats32 = feats.float()  # (B, C, h, w)
    out = torch.zeros_like(feats32)
    cover = torch.zeros_like(masks[0])
    for target, mask in zip(targets, masks):
        region = mask > 0.5
        if int(region.sum()) < 2:
            continue
        pixels = feats32[..., region]  # (B, C, N)
        var, mean = torch.var_mean(pixels, dim=-1, keepdim=True)
        std = (var + 1e-5).sqrt()
        normed = (feats32 - mean[..., None]) / std[..., None]
        out += mask * (normed * target.std + target.mean)
        cover += mask
    keep = (1.0 - cover).clamp(min=0.0)
    return (out + keep * feats32) / torch.clamp(cover + keep, min=1e-6)


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


def prepare_style(path: Path, config: AdaINConfig, max_pixels: int) -> Tensor:
    """A style image as (1, 3, H, W) in [0, 1], sized like the content options say."""
    rgb = images.open_image(path, max_pixels).rgb
    size = config.style_size
    if config.crop:
        return images.to_tensor(images.center_crop_square(rgb, _crop_side(rgb.size, size, config.upscale), max_pixels))
    rgb = images.resize_long_side(rgb, size, max_pixels, config.upscale)
    return images.to_tensor(rgb)


def load_masks(paths: Sequence[Path], count: int, max_pixels: int) -> list[Image.Image]:
    """Masks as L images; one mask with two styles means style 1 on white, style 2 on black."""
    masks = [_open_mask(p, max_pixels) for p in paths]
    if len(masks) == 1 and count == 2:
        masks.append(Image.eval(masks[0], lambda v: 255 - v))
    if len(masks) != count:
        raise UsageError(f"got {len(masks)} masks for {count} styles", "give one --mask per style (or one for two)")
    return masks


def _open_mask(path: Path, max_pixels: int) -> Image.Image:
    try:
        return images.open_image(path, max_pixels).rgb.convert("L")
    except InputError as exc:
        raise InputError(f"mask {exc}", exc.hint) from exc


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
    _targets: dict[Hashable, StyleTarget] = field(default_factory=dict)
    _masks: list[Image.Image] | None = None
    _match_to: Tensor | None = None  # a video's first frame (see begin_video)
    _smoother: StatsSmoother | None = None  # a video's content statistics over time (see begin_video)

    @cached_property
    def model(self) -> AdaINModel:
        return self.make_model()

    def __post_init__(self) -> None:
        if self.config.masks:
            self._masks = load_masks(self.config.masks, len(self.styles), self.options.max_pixels)

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
            content = _gray(content)
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
        style = prepare_style(self.styles[tag], self.config, self.options.max_pixels)
        if match_to is not None:  # Gatys et al. 2017: recolour the style with the content's colours
            style = ops.match_color(style, match_to[:1])
        elif self.config.color == "luminance":
            style = _gray(style)
        return self.model.style_target(style)

    def _mask_planes(self, content: Tensor) -> Tensor | None:
        if self._masks is None:
            return None
        h, w = (-(-s // STRIDE) for s in content.shape[-2:])
        return mask_tensor(self._masks, (h, w)).to(self.model.device)

    def _tile(self, content: Tensor) -> int:
        if self.config.tile:
            return self.config.tile
        return AUTO_TILE if content.shape[-1] * content.shape[-2] > AUTO_TILE_PIXELS else 0

    # I/O thread
    def save(self, job: Job, result: tuple[Tensor, images.Picture]) -> None:
        out, pic = result
        save_result_image(job, images.to_pil(out), pic.alpha, pic.exif, self.options, srgb_profile=pic.had_icc)


def _gray(x: Tensor) -> Tensor:
    """Luminance repeated on three channels (B, 3, H, W)."""
    y = ops.rgb_to_yiq(x)[:, :1]
    return y.expand(-1, 3, -1, -1).contiguous()

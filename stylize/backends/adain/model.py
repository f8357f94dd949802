"""The AdaIN network: the encoder/decoder pair loaded from its files, and the per-image maths on one
device (encode, match statistics, decode; tiled for large images; masked and smoothed variants)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import NamedTuple

import torch
from torch import Tensor, nn

from stylize import ops
from stylize.backends import objective
from stylize.backends.objective import REFINE, Step, load_loss_net
from stylize.checkpoints import load_tensors
from stylize.config import PUBLISHED_ADAIN_PAIR, STRIDE, AdaINConfig, default_adain_pair, vgg_source
from stylize.devices import autocast, effective_precision
from stylize.errors import UsageError, WeightsError
from stylize.models.adain_net import AdaINDecoder
from stylize.models.fused import fuse_reflect_convs
from stylize.models.layouts import ADAIN_DECODER, ADAIN_VGG_NORMALISED, build_checked
from stylize.models.loss_net import LossNet
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
    if not isinstance(recorded, (str, type(None))):
        raise WeightsError(f"{name_or_path}: its metadata's encoder is not a name: {recorded!r:.40}", REPAIR_HINT)
    alpha = _default_alpha(meta.get("alpha", 1.0), name_or_path)
    decoder = build_checked(AdaINDecoder, state, ADAIN_DECODER).eval()
    return DecoderInfo(decoder, recorded if recorded in REGISTRY else None, alpha)


REPAIR_HINT = "the file is damaged or was edited: train or download it again"


def _default_alpha(value: object, name: str) -> float:
    """A decoder's recorded default alpha, a number in [0, 1] like ``--alpha`` (NaN would paint black)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and 0.0 <= value <= 1.0:
        return float(value)
    raise WeightsError(f"{name}: its metadata's alpha {value!r:.40} is not a number between 0 and 1", REPAIR_HINT)


class AdaINPair(NamedTuple):
    encoder: nn.Sequential
    decoder: AdaINDecoder
    alpha: float  # the decoder's default alpha (see DecoderInfo)


PUBLISHED_ENCODERS = {PUBLISHED_ADAIN_PAIR[1]: PUBLISHED_ADAIN_PAIR[0]}  # registry decoders without metadata


def load_pair(config: AdaINConfig, reporter: Reporter | None = None) -> AdaINPair:
    """The decoder ``config`` names and its encoder: ``--encoder`` if given, else the one the decoder
    was trained for (recorded in our checkpoints), else the published ``adain-vgg`` (a decoder that
    records nothing is in the published layout, trained for it)."""
    reporter = reporter or NullReporter()
    decoder, recorded, alpha = load_decoder_for(config.decoder or default_adain_pair()[1], reporter)
    encoder = vgg_source(config.encoder) if config.encoder else recorded or PUBLISHED_ADAIN_PAIR[0]
    if recorded and encoder != recorded:
        reporter.log(
            f"the decoder was trained for the encoder '{recorded}', not '{encoder}': expect wrong colours and textures",
            "warning",
        )
    return AdaINPair(load_encoder(encoder, reporter), decoder, alpha)


@dataclass
class StyleTarget:
    """What a style contributes: relu4_1 statistics, each (1, C, 1, 1), float32, for EFDM its
    values per channel in order (1, C, N), for WCT its colouring matrix (1, C, C)."""

    mean: Tensor
    std: Tensor
    sorted: Tensor | None = None
    colour: Tensor | None = None
    picture: Tensor | None = None  # (1, 3, H, W) the style as encoded, for --refine's loss
    pixels: Tensor | None = None  # (N, 3) a sample of its colours, for --palette


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
        transform: str = "adain",
    ) -> None:
        self.device = device
        self.default_alpha = default_alpha  # used when --alpha is not given: the decoder's own
        self.transform = transform  # how content features take the style's: TRANSFORMS
        self.precision = effective_precision(precision, device)
        self.encoder = _runtime(encoder, device, fused)
        self.decoder = _runtime(decoder, device, fused)
        self.loss_net: LossNet | None = None  # --refine's VGG-19: load_loss_net

    def load_loss_net(self, reporter: Reporter | None = None) -> LossNet:
        """--refine's loss network (stylize optimize's), loaded once on first use."""
        if self.loss_net is None:
            layers = [*REFINE.content_layers, *REFINE.style_layers]
            self.loss_net = load_loss_net(REFINE.vgg, layers, REFINE.pooling, self.device, reporter)
        return self.loss_net

    def refine(
        self,
        image: Tensor,
        content: Tensor,
        targets: Sequence[StyleTarget],
        weights: Sequence[float] | None,
        iterations: int,
        on_step: Step | None = None,
    ) -> Tensor:
        """Each picture of ``image`` (B, 3, H, W) after ``iterations`` of the Gatys loss against its
        photo in ``content`` (B, 3, H, W) and the styles of ``targets`` (blended by ``weights``),
        started from it (``stylize optimize``'s loss and L-BFGS)."""
        net = self.load_loss_net()
        styles = [(t.picture, w) for t, w in zip(targets, weights or [1.0] * len(targets)) if t.picture is not None]
        assert len(styles) == len(targets), "the style targets were encoded without --refine"
        content = content.to(self.device)
        # differs from the feed-forward path's --precision: always float32, because bf16 rounds a 0-1 pixel
        # to 1/256 steps, so L-BFGS's small first step from a decoded picture changed nothing and its curvature
        # pair sent the next step to a 60x higher loss, over and over (fp32: 15.8 -> 3.1 in 6 iterations)
        done = [
            objective.refine(net, x[None], c[None], styles, iterations, "fp32", on_step=on_step)
            for x, c in zip(image, content)
        ]
        return torch.cat(done)

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
        feats = self.encode(padded)  # (1, 512, h, w)
        mean, std = ops.mean_std(feats)
        if self.transform == "wct":
            return StyleTarget(mean, std, colour=ops.wct_colouring(feats)[1])
        return StyleTarget(mean, std, ops.sorted_features(feats) if self.transform == "efdm" else None)

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

    def _target(
        self,
        feats: Tensor,
        targets: Sequence[StyleTarget],
        weights: Sequence[float] | None,
        masks: Tensor | None,
        stats: tuple[Tensor, Tensor] | None = None,
    ) -> Tensor:
        if masks is not None:
            return masked_transfer(feats, targets, masks, self.transform)
        if len(targets) == 1:
            return self._transfer(feats, targets[0], stats)
        assert weights is not None and len(weights) == len(targets)
        out = torch.zeros_like(feats, dtype=torch.float32)
        for w, target in zip(weights, targets):
            out.add_(self._transfer(feats, target, stats).float(), alpha=w)
        return out

    def _transfer(self, feats: Tensor, target: StyleTarget, stats: tuple[Tensor, Tensor] | None) -> Tensor:
        """``feats`` (B, 512, h, w) given one style's statistics (AdaIN), distribution (EFDM) or
        covariance (WCT)."""
        if self.transform == "efdm":
            assert target.sorted is not None, "the style target was encoded for AdaIN"
            return ops.efdm(feats, target.sorted)
        if self.transform == "wct":
            assert target.colour is not None, "the style target was encoded for AdaIN"
            return ops.wct(feats, target.mean, target.colour)
        return ops.adain(feats, target.mean, target.std, content_stats=stats)


@dataclass
class StatsSmoother:
    """A video's content statistics (relu4_1 per-channel mean and std), smoothed over its frames.

    AdaIN renormalises every frame by its own statistics, so a passing object or a flicker of
    light restyles the whole frame; an exponential average keeping ``keep`` of the past steadies
    that (what AdaIN allows cheaply beside the flow-guided blend of ``stylize.temporal``). A jump
    of the mean by more than ``cut`` of its size is a scene cut and restarts the average."""

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
    """The network as it runs: float32 weights (autocast makes bf16) on ``device``, channels_last,
    frozen, pad+conv fused if asked."""
    net = net.to(device, torch.float32, memory_format=torch.channels_last).requires_grad_(False)  # fp16 files too
    return fuse_reflect_convs(net) if fused else net


def masked_transfer(feats: Tensor, targets: Sequence[StyleTarget], masks: Tensor, transform: str = "adain") -> Tensor:
    """Spatial control (Huang & Belongie 2017, sec. 7): style k where mask k is on.

    Each region is normalised with its own content statistics, then given style k's (EFDM: the
    region's values take the style's distribution in their own order; WCT: whitened by the
    region's covariance, coloured with the style's).
    ``masks`` is (K, h, w) in [0, 1] at feature resolution; uncovered pixels keep the content.
    """
    feats32 = feats.float()  # (B, C, h, w)
    out = torch.zeros_like(feats32)
    cover = torch.zeros_like(masks[0])
    for target, mask in zip(targets, masks):
        region = mask > 0.5
        if int(region.sum()) < 2:
            continue
        out += mask * _region_transfer(feats32, region, target, transform)
        cover += mask
    keep = (1.0 - cover).clamp(min=0.0)
    return (out + keep * feats32) / torch.clamp(cover + keep, min=1e-6)


def _region_transfer(feats32: Tensor, region: Tensor, target: StyleTarget, transform: str) -> Tensor:
    """The whole map (B, C, h, w) transformed by the statistics of its ``region`` (h, w) alone."""
    pixels = feats32[..., region]  # (B, C, N)
    if transform == "wct":  # the whole map whitened by the region's covariance, coloured with the style's
        assert target.colour is not None
        return ops.wct(feats32, target.mean, target.colour, reference=pixels)
    if transform == "efdm":
        assert target.sorted is not None
        moved = ops.efdm(pixels[..., None], target.sorted)[..., 0]  # the region's pixels, (B, C, N)
        out = feats32.clone()
        out[..., region] = moved
        return out
    var, mean = torch.var_mean(pixels, dim=-1, keepdim=True)
    std = (var + 1e-5).sqrt()
    normed = (feats32 - mean[..., None]) / std[..., None]
    return normed * target.std + target.mean

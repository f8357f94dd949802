"""Running a fast-style TransformerNet (Johnson et al. 2016): one pass per image, padded, tiled for
large images, and the :class:`FastMethod` that runs it.

Speed: :class:`~stylize.models.transformer_net.FastTransformerNet` (the same function rearranged:
space-to-depth thin convs, upsample folded into the conv, fused norms), channels_last, bf16 where the
hardware has it, decode/encode overlapped by the batch engine.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor

from stylize import images, ops
from stylize.backends.fast.zoo import DEFAULT_MODEL, load_described, model_tag, palette_default
from stylize.backends.stylizer import Batch, Method, MethodPlan, Palette, Stylized
from stylize.batch import SharedPictures
from stylize.config import FAST_MIN_SIDE, FastConfig
from stylize.devices import autocast_dtype, effective_precision
from stylize.errors import UsageError
from stylize.models.transformer_net import FastTransformerNet, Region, SharedStats, TransformerNet
from stylize.progress import NullReporter, Reporter
from stylize.tiles import auto_tile, blended_map

MULTIPLE = 4  # the net down-samples by 4: inputs are padded to a multiple of this
MIN_SIDE = FAST_MIN_SIDE  # smaller inputs are padded up to this (reflection padding needs 2 px at H/4)
AUTO_TILE_PIXELS = 4096 * 4096  # tile larger images automatically (about 5 GB of activations in fp32)
AUTO_TILE = 2048
CPU = torch.device("cpu")


class FastModel:
    """One TransformerNet ready to run on a device: RGB [0, 1] in, RGB [0, 1] (unclamped) out."""

    def __init__(
        self,
        net: TransformerNet,
        device: torch.device,
        precision: str = "auto",
        channels_last: bool = True,
        recolour: Palette | None = None,
    ) -> None:
        self.device = device
        self.recolour = recolour  # --palette, when asked for: toward the colours the model's file keeps
        self.precision = effective_precision(precision, device)
        # fp32 means float32 whatever the file stores (the shipped float16 weights ran 6x slower as float16 on a CPU)
        dtype = autocast_dtype(self.precision) or torch.float32
        self.net: FastTransformerNet = FastTransformerNet(net, dtype, channels_last).to(device)

    def __call__(self, x: Tensor, tile: int = 0, overlap: int = 64) -> Tensor:
        """Stylize ``x`` (B, 3, H, W) in [0, 1]; tiles of ``tile`` px cross-faded over ``overlap`` px."""
        with torch.inference_mode():
            x = x.to(self.device).mul(255.0)
            if tile and max(x.shape[-2:]) > tile:
                return self._tiled(x, tile, overlap).div_(255.0)
            return self._padded(x).div_(255.0)

    def _tiled(self, x: Tensor, tile: int, overlap: int, shared: SharedStats | None = None) -> Tensor:
        """Whole-image InstanceNorm statistics from a first pass over the tiles' cores (unless given),
        then the tiles again, all normalised alike, cross-faded (``tiles.blended_map``).

        Differs from running each tile alone: per-tile statistics shift the tone from tile to tile.
        The first pass normalises each tile by itself, so its statistics are estimates (a few % off
        in random nets); the second pass costs the same again.
        """
        if shared is None:
            shared = SharedStats()
            for ys in tile_cores(x.shape[-2], tile, overlap):
                for xs in tile_cores(x.shape[-1], tile, overlap):
                    core = (ys[1] - ys[0], ys[2] - ys[0], xs[1] - xs[0], xs[2] - xs[0])  # in tile pixels
                    self._padded(x[..., ys[0] : ys[0] + tile, xs[0] : xs[0] + tile], shared, core)
            shared.freeze()
        return blended_map(lambda t: self._padded(t, shared), x, tile, overlap)

    def _padded(self, x: Tensor, shared: SharedStats | None = None, core: Region | None = None) -> Tensor:
        """The network on ``x`` (B, 3, H, W) 0-255 of any size: padded to what it needs, then cropped."""
        # differs from pytorch/examples because its output is off by up to 3 px unless H, W are multiples of 4
        padded, pads = ops.pad_to_multiple(x, MULTIPLE)
        padded, more = _at_least(padded, MIN_SIDE)
        if core is not None:  # the core in padded coordinates
            dy, dx = pads[0] + more[0], pads[2] + more[2]
            core = (core[0] + dy, core[1] + dy, core[2] + dx, core[3] + dx)
        with self.net.sharing(shared, core) if shared is not None else contextlib.nullcontext():
            out = self.net(padded)
        return ops.crop_padding(ops.crop_padding(out, more), pads)


def tile_cores(length: int, tile: int, overlap: int) -> list[tuple[int, int, int]]:
    """(start, core start, core end) of each tile along one axis, as ``tiles.blended_map`` places them.

    The cores split ``[0, length)``: each overlap is divided at its middle.
    """
    if length <= tile:
        return [(0, 0, length)]
    starts = [*range(0, length - tile, tile - overlap), length - tile]
    cuts = [0] + [(nxt + prev + tile) // 2 for prev, nxt in itertools.pairwise(starts)] + [length]
    return [(start, cuts[i], cuts[i + 1]) for i, start in enumerate(starts)]


def _at_least(x: Tensor, side: int) -> tuple[Tensor, tuple[int, int, int, int]]:
    """Replicate-pad ``x`` so both sides are at least ``side`` (tiny images, 1 px strips)."""
    ph, pw = max(0, side - x.shape[-2]), max(0, side - x.shape[-1])
    pads = (ph // 2, ph - ph // 2, pw // 2, pw - pw // 2)
    if not any(pads):
        return x, pads
    return F.pad(x, (pads[2], pads[3], pads[0], pads[1]), mode="replicate"), pads


# ---------------------------------------------------------------- the method


@dataclass
class FastMethod(Method):
    """Fast style transfer as a :class:`~stylize.backends.stylizer.Method`: the style tag names a model."""

    name: ClassVar[str] = "fast"
    config: FastConfig
    specs: dict[str, str]  # style tag -> model spec (registry name, local name or file)
    device: torch.device = CPU
    max_pixels: int = images.DEFAULT_MAX_PIXELS
    reporter: Reporter = field(default_factory=NullReporter)
    models: dict[str, FastModel] = field(default_factory=dict)  # style tag -> model, loaded by ``load``

    def prepare(self, picture: images.Picture, size: int | None = None) -> images.Picture:
        size = self.config.size if size is None else size
        return images.resize_picture(picture, size, self.max_pixels, self.config.upscale)

    def load(self, tags: Sequence[str]) -> None:
        """Every model with work to do, before the first image: a bad model file stops the batch (exit 4)."""
        for tag in tags:
            if tag not in self.models:
                net, palette, meta = load_described(self.specs[tag], self.reporter)
                recolour = self._recolour(tag, palette, palette_default(meta, palette))
                model = FastModel(net, self.device, self.config.precision, self.config.channels_last, recolour)
                self.reporter.log(f"model {self.specs[tag]}: {model.precision} on {self.device}", "debug")
                self.models[tag] = model

    def _recolour(self, tag: str, palette: Tensor | None, default: float) -> Palette | None:
        """--palette toward the model's painting colours: as asked, else the model file's own default
        (``palette_strength``: set on the shipped models, 0 for the published ones and train-fast's);
        never by default with --color, which keeps the photo's colours."""
        strength = self.config.palette
        if strength is None:
            strength = default if self.config.color == "none" else 0.0
        if not strength:
            return None
        if palette is None:
            raise UsageError(
                f"model '{self.specs[tag]}' carries no palette (the published models do not)",
                "drop --palette, or use a model of stylize train-fast",
            )
        return Palette([palette], strength)

    def style_state(self, tag: str, reference: Tensor | None) -> FastModel:
        self.load([tag])
        return self.models[tag]

    def run(self, batch: Batch, state: FastModel) -> Stylized:
        content = batch.content
        tile = auto_tile(self.config.tile, content.shape, AUTO_TILE, AUTO_TILE_PIXELS)
        with torch.inference_mode():
            out = state(content, tile, self.config.tile_overlap)
        # the palette (never with --color, whose colours keep_colors keeps instead) after the model, off the main thread
        finish = None if state.recolour is None else state.recolour.later()
        return Stylized(keep_colors(out, content, self.config.color), finish=finish)


def keep_colors(out: Tensor, content: Tensor, color: str) -> Tensor:
    """``--color``: luminance keeps the content's colours exactly (Gatys et al. 2017); match recolours
    the output to the content's colour mean and covariance. Differs from adain/optimize, which
    recolour the style image, because a fast model's style is baked into its weights."""
    if color == "none":
        return out
    out, content = out.clamp(0.0, 1.0), content.to(out.device)
    return ops.luminance_transfer(out, content) if color == "luminance" else ops.match_color(out, content)


def model_tags(specs: Sequence[str]) -> dict[str, str]:
    """Style tag -> model spec (none given: the shipped DEFAULT_MODEL), refusing two models with one tag."""
    tags: dict[str, str] = {}
    for spec in specs or (DEFAULT_MODEL,):
        tag = model_tag(spec)
        if tag in tags and tags[tag] != spec:
            raise UsageError(f"two models are both called '{tag}': {tags[tag]} and {spec}", "rename one of them")
        tags[tag] = spec
    return tags


# ---------------------------------------------------------------- planning a run (stylize.api.stylize)


def plan(config: FastConfig, styles: dict[str, Path]) -> MethodPlan:
    """One style tag per model; model files are protected (no output may be one)."""
    tags = model_tags(config.models)
    files = tuple(Path(spec).expanduser() for spec in tags.values() if Path(spec).expanduser().is_file())
    return MethodPlan(dict(tags), protected=files)


def build(
    config: FastConfig,
    run: MethodPlan,
    device: torch.device,
    max_pixels: int,
    reporter: Reporter,
    pictures: SharedPictures,
) -> FastMethod:
    """The method for one run; each model loads when a job needs it (``FastMethod.load``)."""
    return FastMethod(config, run.styles, device, max_pixels, reporter)

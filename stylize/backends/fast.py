"""Fast feed-forward style transfer (Johnson et al. 2016): one TransformerNet pass per image.

Models: the ones stylize ships (``starry-night``, ``great-wave``, ``composition-vii``: no download),
the four published pytorch/examples networks by registry name (``candy``, ``mosaic``,
``rain-princess``, ``udnie``; the zip is downloaded once and the four files cached), any ``.pth``
in that layout (stale InstanceNorm statistics dropped), or our own ``.safetensors`` checkpoints
(:func:`save_model`). Speed: :class:`~stylize.models.transformer_net.FastTransformerNet` (the same
function rearranged: space-to-depth thin convs, upsample folded into the conv, fused norms),
channels_last, bf16 where the hardware has it, decode/encode overlapped by the batch engine.

Importing this module does not import torch (the CLI reads :class:`FastConfig` at start-up).
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from stylize import images, weights
from stylize.batch import (
    BatchOptions,
    BatchReport,
    Job,
    collect_inputs,
    load_picture,
    plan_jobs,
    save_result_image,
)
from stylize.config import FAST_MIN_SIDE, FastConfig
from stylize.devices import effective_precision
from stylize.errors import UsageError, WeightsError
from stylize.files import atomic_path
from stylize.progress import NullReporter, Reporter
from stylize.provenance import JobSignature, settings_of
from stylize.video import VIDEO_DEFAULTS, VideoConfig

if TYPE_CHECKING:
    import torch
    from torch import Tensor

    from stylize.models.transformer_net import FastTransformerNet, Region, SharedStats, TransformerNet

DEFAULT_MODEL = "starry-night"  # shipped in weights/: works offline on a fresh install
LAYOUT = "fast_transformer_net"  # = stylize.models.transformer_net.LAYOUT (kept here: no torch import)
ARCHITECTURE = "transformer-net"  # = stylize.models.transformer_net.ARCHITECTURE
CHECKPOINT_FORMAT = 1  # bump when the meaning of the saved tensors or metadata changes
MODEL_SUFFIXES = (".safetensors", ".pth", ".pt")
MULTIPLE = 4  # the net down-samples by 4: inputs are padded to a multiple of this
MIN_SIDE = FAST_MIN_SIDE  # smaller inputs are padded up to this (reflection padding needs 2 px at H/4)
AUTO_TILE_PIXELS = 4096 * 4096  # tile larger images automatically (about 5 GB of activations in fp32)
AUTO_TILE = 2048
EXPECTED = (
    f"expected a fast-style TransformerNet: a pytorch/examples .pth (layout {LAYOUT}) "
    f"or a stylize .safetensors with architecture '{ARCHITECTURE}'"
)


# ---------------------------------------------------------------- finding models


def registry_models() -> list[weights.WeightSpec]:
    """The registry entries that are fast-style networks."""
    return [spec for spec in weights.REGISTRY.values() if spec.layout == LAYOUT]


def models_dir() -> Path:
    """Where local models live (``train-fast`` saves here; ``--model NAME`` finds NAME.safetensors)."""
    return weights.cache_dir() / "fast-models"


def local_models() -> list[Path]:
    """Model files in :func:`models_dir`, sorted by name (train-fast's ``.state.pt`` files are not models)."""
    from stylize.checkpoints import STATE_SUFFIX

    folder = models_dir()
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in MODEL_SUFFIXES
                  and not p.name.endswith(STATE_SUFFIX))  # fmt: skip


def model_tag(spec: str) -> str:
    """The ``{style}`` tag of a model: its registry name, else its file stem."""
    return spec if spec in weights.REGISTRY else Path(spec).stem


def resolve_model(spec: str, reporter: Reporter | None = None) -> Path:
    """A registry name (fetched once), a local model name, or a file -> the file to load."""
    if spec in weights.REGISTRY:
        if weights.REGISTRY[spec].layout != LAYOUT:
            raise WeightsError(f"'{spec}' is not a fast-style model", _known_models_hint())
        return weights.ensure(spec, reporter)
    local = [models_dir() / f"{spec}{suffix}" for suffix in MODEL_SUFFIXES]
    path = next((p for p in local if p.is_file()), Path(spec).expanduser())
    if not path.is_file():
        raise WeightsError(f"{spec}: no such model file or model name", _known_models_hint())
    return path


def _known_models_hint() -> str:
    names = [s.name for s in registry_models()] + [p.stem for p in local_models()]
    return f"models: {', '.join(names)}; or give a .pth/.safetensors file (see stylize fast --list)"


# ---------------------------------------------------------------- loading and saving


def load_model(spec: str, reporter: Reporter | None = None) -> TransformerNet:
    """The TransformerNet named by ``spec`` (see :func:`resolve_model`), checked and in eval mode."""
    from stylize.checkpoints import load_tensors
    from stylize.models.layouts import build_checked
    from stylize.models.transformer_net import TransformerNet, strip_stale_keys

    path = resolve_model(spec, reporter)
    try:
        state, meta = load_tensors(path)
        _check_meta(meta)
        state = strip_stale_keys(_unwrap(state))
        return build_checked(TransformerNet, state, LAYOUT).eval()
    except WeightsError as exc:
        raise WeightsError(f"{path}: {_without_path(str(exc), path)}; {EXPECTED}") from exc


def _check_meta(meta: Mapping[str, Any]) -> None:
    arch = meta.get("architecture", ARCHITECTURE)
    if arch != ARCHITECTURE:
        raise WeightsError(f"checkpoint architecture is '{arch}'")
    version = meta.get("format", CHECKPOINT_FORMAT)
    if not isinstance(version, int) or version > CHECKPOINT_FORMAT:
        raise WeightsError(f"checkpoint format {version!r} is not one this stylize reads (up to {CHECKPOINT_FORMAT})")


def _unwrap(state: Mapping[str, Any]) -> Mapping[str, Any]:
    """``{"state_dict": {...}}`` (a common way to save) -> the inner dict."""
    inner = state.get("state_dict") if len(state) == 1 else None
    return inner if isinstance(inner, Mapping) else state


def _without_path(message: str, path: Path) -> str:
    return message[len(str(path)) + 2 :] if message.startswith(f"{path}: ") else message


def save_model(path: str | os.PathLike[str], net: TransformerNet, **meta: Any) -> Path:
    """Write ``net`` as our checkpoint format: safetensors + JSON metadata.

    The format: tensors are exactly ``TransformerNet().state_dict()`` (no stale statistics);
    metadata ``{"architecture": "transformer-net", "format": 1, "layout": "fast_transformer_net",
    "version": <stylize version>, ...}`` plus anything passed (``style``, ``config`` of training, ...).
    """
    from stylize.checkpoints import save_checkpoint

    header = {"architecture": ARCHITECTURE, "format": CHECKPOINT_FORMAT, "layout": LAYOUT}
    return save_checkpoint(path, net.state_dict(), {**meta, **header})


# ---------------------------------------------------------------- running the network


class FastModel:
    """One TransformerNet ready to run on a device: RGB [0, 1] in, RGB [0, 1] (unclamped) out."""

    def __init__(
        self, net: TransformerNet, device: torch.device, precision: str = "auto", channels_last: bool = True
    ) -> None:
        from stylize.devices import autocast_dtype
        from stylize.models.transformer_net import FastTransformerNet

        self.device = device
        self.precision = effective_precision(precision, device)
        dtype = autocast_dtype(self.precision) or net.conv1.conv2d.weight.dtype
        self.net: FastTransformerNet = FastTransformerNet(net, dtype, channels_last).to(device)

    def __call__(self, x: Tensor, tile: int = 0, overlap: int = 64) -> Tensor:
        """Stylize ``x`` (B, 3, H, W) in [0, 1]; tiles of ``tile`` px cross-faded over ``overlap`` px."""
        import torch

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
        from stylize.models.transformer_net import SharedStats
        from stylize.tiles import blended_map

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
        import contextlib

        from stylize import ops

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
    import torch.nn.functional as F

    ph, pw = max(0, side - x.shape[-2]), max(0, side - x.shape[-1])
    pads = (ph // 2, ph - ph // 2, pw // 2, pw - pw // 2)
    if not any(pads):
        return x, pads
    return F.pad(x, (pads[2], pads[3], pads[0], pads[1]), mode="replicate"), pads


# ---------------------------------------------------------------- the batch backend


@dataclass
class Loaded:
    """A decoded input, resized, as (1, 3, H, W) in [0, 1], plus what saving needs."""

    tensor: Tensor
    picture: images.Picture
    style: str


@dataclass
class FastBackend:
    """Runs fast style transfer over a batch (the ``BatchBackend`` protocol of :mod:`stylize.batch`)."""

    models: dict[str, FastModel]  # style tag -> model
    config: FastConfig
    options: BatchOptions
    reporter: Reporter = field(default_factory=NullReporter)

    # I/O thread
    def load(self, job: Job) -> Loaded:
        return self.prepare(load_picture(job, self.options), job.style)

    def prepare(self, picture: images.Picture, style: str, size: int | None = None) -> Loaded:
        """A decoded picture (an image, or a video frame) as the model's input; ``size`` overrides --size."""
        size = self.config.size if size is None else size
        pic = images.resize_picture(picture, size, self.options.max_pixels, self.config.upscale)
        return Loaded(images.to_tensor(pic.rgb), pic, style)

    def group_key(self, loaded: Loaded) -> Hashable:
        return (loaded.style, tuple(loaded.tensor.shape))

    # main thread
    def process(self, jobs: list[Job], loaded: list[Loaded]) -> list[tuple[Tensor, images.Picture]]:
        import torch

        content = torch.cat([item.tensor for item in loaded])  # (B, 3, H, W)
        model = self.models[loaded[0].style]
        with torch.inference_mode():
            out = model(content, self._tile(content), self.config.tile_overlap)
            out = keep_colors(out, content, self.config.color)
        return [(img, item.picture) for img, item in zip(out.cpu().unbind(0), loaded)]

    def _tile(self, content: Tensor) -> int:
        if self.config.tile:
            return self.config.tile
        return AUTO_TILE if content.shape[-1] * content.shape[-2] > AUTO_TILE_PIXELS else 0

    # I/O thread
    def save(self, job: Job, result: tuple[Tensor, images.Picture]) -> None:
        out, pic = result
        # differs from pytorch/examples because it truncates to uint8; to_pil rounds (at most 1/255 apart)
        save_result_image(job, images.to_pil(out), pic.alpha, pic.exif, self.options, srgb_profile=pic.had_icc)


def keep_colors(out: Tensor, content: Tensor, color: str) -> Tensor:
    """``--color``: luminance keeps the content's colours exactly (Gatys et al. 2017); match recolours
    the output to the content's colour mean and covariance. Differs from adain/optimize, which
    recolour the style image, because a fast model's style is baked into its weights."""
    from stylize import ops

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


def run(
    contents: Sequence[str],
    config: FastConfig,
    options: BatchOptions,
    device: str | None = None,
    reporter: Reporter | None = None,
    stdin: TextIO | None = None,
    video: VideoConfig = VIDEO_DEFAULTS,
) -> BatchReport:
    """Stylize every content image or video with every model: one output per (input, model).

    Videos (see :mod:`stylize.video_run`) take ``video``'s settings."""
    from stylize.devices import resolve_device
    from stylize.video_run import run_jobs

    reporter = reporter or NullReporter()
    tags = model_tags(config.models)
    inputs = collect_inputs(contents, options.glob, stdin, videos=True)
    model_files = [Path(spec).expanduser() for spec in tags.values() if Path(spec).expanduser().is_file()]
    signature = JobSignature(
        "fast", {**settings_of(config, skip=("models", "channels_last")), **options.pixel_settings()}
    )
    jobs = plan_jobs(inputs, list(tags), options, protected=model_files,
                     sign=lambda job: signature.text(job.input.path, model=tags[job.style]), method="fast")  # fmt: skip
    torch_device = resolve_device(device)
    backend = FastBackend({}, config, options, reporter)

    def load_models(todo: list[Job]) -> None:
        """Every model with work to do, before the first image: a bad model file stops the batch (exit 4)."""
        for tag in dict.fromkeys(job.style for job in todo):
            backend.models[tag] = _build(tags[tag], torch_device, config, reporter)

    return run_jobs(jobs, backend, options, reporter, inputs, load_models, video)


def _build(spec: str, device: torch.device, config: FastConfig, reporter: Reporter) -> FastModel:
    model = FastModel(load_model(spec, reporter), device, config.precision, config.channels_last)
    reporter.log(f"model {spec}: {model.precision} on {device}", "debug")
    return model


# ---------------------------------------------------------------- listing and export


@dataclass(frozen=True)
class ModelEntry:
    """One line of ``stylize fast --list``."""

    name: str
    source: str  # "bundled" (ships with stylize), "download" (published, fetched once) or "local"
    path: Path | None  # the file, when it is on disk
    description: str


def list_models() -> list[ModelEntry]:
    """The registry's fast-style models (bundled first, then the published ones) and the local folder."""
    specs = sorted(registry_models(), key=lambda spec: spec.origin != "bundled")
    entries = [ModelEntry(spec.name, spec.origin, weights.find_cached(spec.name), spec.description) for spec in specs]
    entries += [ModelEntry(p.stem, "local", p, f"local model ({p.suffix[1:]})") for p in local_models()]
    return entries


def export_onnx(spec: str, path: str | os.PathLike[str], reporter: Reporter | None = None, opset: int = 17) -> Path:
    """Write the model as ONNX: input ``input`` (B, 3, H, W) float32 RGB 0-255 (H, W multiples of 4),
    output ``output`` of the same shape, unclamped; batch, height and width are dynamic."""
    import importlib.util
    import warnings

    import torch

    if importlib.util.find_spec("onnx") is None:
        raise UsageError("--export-onnx needs the onnx package", "pip install onnx")
    net = load_model(spec, reporter)
    path = Path(path)
    if path.suffix.lower() != ".onnx":
        raise UsageError(f"{path}: ONNX files end in .onnx")
    axes = {0: "batch", 2: "height", 3: "width"}
    with warnings.catch_warnings(), atomic_path(path) as tmp:
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation chatter
        torch.onnx.export(
            net, (torch.rand(1, 3, 64, 64) * 255,), str(tmp), dynamo=False, opset_version=opset,
            input_names=["input"], output_names=["output"], dynamic_axes={"input": axes, "output": axes},
        )  # fmt: skip
    return path

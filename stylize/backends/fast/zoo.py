"""The fast-style model zoo: finding a model by name or file, loading and saving it, listing the ones
on offer (``stylize fast --list``) and exporting one as ONNX (``--export-onnx``).

Models: the ones stylize ships (``starry-night``, ``great-wave``, ``composition-vii``: no download),
the four published pytorch/examples networks by registry name (``candy``, ``mosaic``,
``rain-princess``, ``udnie``; the zip is downloaded once and the four files cached), any ``.pth``
in that layout (stale InstanceNorm statistics dropped), or our own ``.safetensors`` checkpoints
(:func:`save_model`).
"""

from __future__ import annotations

import importlib.util
import os
import re
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from stylize import ops, weights
from stylize.checkpoints import STATE_SUFFIX, load_tensors, save_checkpoint
from stylize.errors import UsageError, WeightsError
from stylize.files import atomic_path
from stylize.models.layouts import build_checked
from stylize.models.transformer_net import ARCHITECTURE, LAYOUT, TransformerNet, strip_stale_keys
from stylize.progress import Reporter

DEFAULT_MODEL = "starry-night"  # shipped in weights/: works offline on a fresh install
# images a model saw in training below which it is called under-trained (a warning with its loss when
# it is saved and when it is used): a fifth of what the shipped models saw (2,500 steps of 4 = 10,000);
# a 10-step model gives flat, dark pictures
USEFUL_IMAGES = 2_000
CHECKPOINT_FORMAT = 2  # bump when the meaning of the saved tensors or metadata changes (2: the palette)
PALETTE_KEY = "palette"  # beside the network's tensors: (N, 3) uint8 colours of its style image, for --palette
PALETTE_STRENGTH_KEY = "palette_strength"  # metadata: the --palette a model runs at when none is given (0 if absent)
MAX_PALETTE = 65536
MODEL_SUFFIXES = (".safetensors", ".pth", ".pt")
EXPECTED = (
    f"expected a fast-style TransformerNet: a pytorch/examples .pth (layout {LAYOUT}) "
    f"or a stylize .safetensors with architecture '{ARCHITECTURE}'"
)


# ---------------------------------------------------------------- finding models


def registry_models() -> list[weights.WeightSpec]:
    """The registry entries that are fast-style networks."""
    return [spec for spec in weights.REGISTRY.values() if spec.layout == LAYOUT]


def local_models() -> list[Path]:
    """Model files in :func:`stylize.weights.fast_models_dir`, sorted by name (train-fast's ``.state.pt`` files are not models)."""
    folder = weights.fast_models_dir()
    if not folder.is_dir():
        return []
    return sorted(
        p
        for p in folder.iterdir()
        if p.is_file() and p.suffix.lower() in MODEL_SUFFIXES and not p.name.endswith(STATE_SUFFIX)
    )


def model_name(stem: str) -> str:
    """The one naming rule of fast models, shipped, published and local: lower case, words joined by
    ``-`` (a style image ``Starry_Night.jpg`` gives ``starry-night``)."""
    return re.sub(r"[\s_-]+", "-", stem.strip().lower()).strip("-") or stem


def registry_clash(name: str) -> str | None:
    """The registry model that ``name`` (a local model's name) would be taken for, if any: the same
    name, or one that differs only in case, ``_`` or spaces (``starry_night`` and ``starry-night``)."""
    key = model_name(name)
    return next((spec.name for spec in registry_models() if model_name(spec.name) == key), None)


def model_tag(spec: str) -> str:
    """The ``{style}`` tag of a model: its registry name, else its file stem."""
    return spec if spec in weights.REGISTRY else Path(spec).stem


def resolve_model(spec: str, reporter: Reporter | None = None) -> Path:
    """A registry name (fetched once), a local model name, or a file -> the file to load."""
    if spec in weights.REGISTRY:
        if weights.REGISTRY[spec].layout != LAYOUT:
            raise WeightsError(f"'{spec}' is not a fast-style model", _known_models_hint())
        return weights.ensure(spec, reporter)
    local = [weights.fast_models_dir() / f"{spec}{suffix}" for suffix in MODEL_SUFFIXES]
    path = next((p for p in local if p.is_file()), Path(spec).expanduser())
    if not path.is_file():
        clash = registry_clash(spec)
        hint = f"did you mean '{clash}'?" if clash else _known_models_hint()
        raise WeightsError(f"{spec}: no such model file or model name", hint)
    clash = registry_clash(spec) if path in local else None
    if clash and reporter is not None:
        reporter.log(f"'{spec}' is your local model {path}, not the '{clash}' that stylize ships", "warning")
    return path


def _known_models_hint() -> str:
    names = [s.name for s in registry_models()] + [p.stem for p in local_models()]
    return f"models: {', '.join(names)}; or give a .pth/.safetensors file (see stylize fast --list)"


# ---------------------------------------------------------------- loading and saving


def load_model(spec: str, reporter: Reporter | None = None) -> TransformerNet:
    """The TransformerNet named by ``spec`` (see :func:`resolve_model`), checked and in eval mode; in the
    file's dtype (float16 for the shipped models: FastTransformerNet casts it to the precision it runs in)."""
    return load_styled(spec, reporter)[0]


def load_styled(spec: str, reporter: Reporter | None = None) -> tuple[TransformerNet, Tensor | None]:
    """:func:`load_model` and the colours of the model's style, (N, 3) float in [0, 1], when the file
    carries them (ours since format 2; not the published ones)."""
    net, palette, _ = load_described(spec, reporter)
    return net, palette


def palette_default(meta: Mapping[str, Any], palette: Tensor | None) -> float:
    """The ``--palette`` a model file asks to run at when the user gives none: its metadata's
    ``palette_strength`` (our shipped models), else 0 (the network's own colours)."""
    value = meta.get(PALETTE_STRENGTH_KEY, 0.0)
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 <= value <= 1.0:
        raise WeightsError(f"its '{PALETTE_STRENGTH_KEY}' is {value!r}, not a number between 0 and 1")
    if value > 0 and palette is None:
        raise WeightsError(f"its '{PALETTE_STRENGTH_KEY}' is {value} but it carries no '{PALETTE_KEY}'")
    return float(value)


def load_described(spec: str, reporter: Reporter | None = None) -> tuple[TransformerNet, Tensor | None, dict]:
    """:func:`load_styled` and the file's metadata (empty for the published ``.pth`` files)."""
    path = resolve_model(spec, reporter)
    try:
        state, meta = load_tensors(path)
        _check_meta(meta)
        state, palette = split_palette(_unwrap(state))
        palette_default(meta, palette)  # a damaged default is a damaged file, whoever loads it
        net = build_checked(TransformerNet, strip_stale_keys(state), LAYOUT).eval()
    except WeightsError as exc:
        raise WeightsError(f"{path}: {_without_path(str(exc), path)}; {EXPECTED}") from exc
    warning = undertrained(meta, model_tag(spec))
    if warning and reporter is not None:
        reporter.log(warning, "warning")
    return net, palette, meta


def palette_tensor(style: Tensor) -> Tensor:
    """What a model file keeps of its style image (1, 3, H, W) in [0, 1] for --palette: a fixed sample of its pixels."""
    return (ops.pixel_sample(style) * 255.0).round().to(torch.uint8)


def split_palette(state: Mapping[str, Any]) -> tuple[dict[str, Any], Tensor | None]:
    """The network's tensors, and the palette (N, 3) float in [0, 1] if the file has a well-formed one."""
    rest = {key: value for key, value in state.items() if key != PALETTE_KEY}
    palette = state.get(PALETTE_KEY)
    if palette is None:
        return rest, None
    if not isinstance(palette, Tensor) or palette.dtype != torch.uint8 or palette.dim() != 2:
        raise WeightsError(f"its '{PALETTE_KEY}' is not an (N, 3) uint8 tensor")
    if palette.shape[1] != 3 or not 0 < palette.shape[0] <= MAX_PALETTE:
        raise WeightsError(
            f"its '{PALETTE_KEY}' has shape {tuple(palette.shape)}, not (N, 3) with N up to {MAX_PALETTE}"
        )
    return rest, palette.float() / 255.0


def undertrained(meta: Mapping[str, Any], name: str) -> str | None:
    """A warning for a model saved after far fewer training images than a useful one (None otherwise, and
    for files that do not say: the published models)."""
    seen = meta.get("images_seen")
    if not isinstance(seen, int) or seen >= USEFUL_IMAGES:
        return None
    loss, config = meta.get("final_loss"), meta.get("config")
    said = f"; loss {loss:.4g} at the end" if isinstance(loss, (int, float)) else ""
    batch = config.get("batch_size") if isinstance(config, Mapping) else None
    world = meta.get("world_size", 1)
    steps = f"{seen // (batch * world):,} steps, " if isinstance(batch, int) and isinstance(world, int) else ""
    return (
        f"model '{name}' was trained for only {steps}{seen:,} images{said}: far fewer than a useful model "
        f"(at least {USEFUL_IMAGES:,}; the shipped ones saw about 12,000), so expect flat or dark pictures; "
        "train it longer with 'stylize train-fast ... --resume --iterations N'"
    )


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


def save_model(path: str | os.PathLike[str], net: TransformerNet, palette: Tensor | None = None, **meta: Any) -> Path:
    """Write ``net`` as our checkpoint format: safetensors + JSON metadata.

    The format: tensors are exactly ``TransformerNet().state_dict()`` (no stale statistics), plus
    ``palette`` (:func:`palette_tensor`) when given;
    metadata ``{"architecture": "transformer-net", "format": 1, "layout": "fast_transformer_net",
    "version": <stylize version>, ...}`` plus anything passed (``style``, ``config`` of training, ...).
    """
    header = {"architecture": ARCHITECTURE, "format": CHECKPOINT_FORMAT, "layout": LAYOUT}
    tensors = {**net.state_dict(), **({PALETTE_KEY: palette} if palette is not None else {})}
    return save_checkpoint(path, tensors, {**meta, **header})


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
    if importlib.util.find_spec("onnx") is None:
        raise UsageError("--export-onnx needs the onnx package", "pip install onnx")
    net = load_model(spec, reporter).float()  # ONNX takes float32 input: a float16 (shipped) model is widened
    path = Path(path)
    if path.suffix.lower() != ".onnx":
        raise UsageError(f"{path}: ONNX files end in .onnx")
    axes = {0: "batch", 2: "height", 3: "width"}
    with warnings.catch_warnings(), atomic_path(path) as tmp:
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation chatter
        torch.onnx.export(
            net,
            (torch.rand(1, 3, 64, 64) * 255,),
            str(tmp),
            dynamo=False,
            opset_version=opset,
            input_names=["input"],
            output_names=["output"],
            dynamic_axes={"input": axes, "output": axes},
        )
    return path

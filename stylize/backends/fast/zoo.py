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
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from stylize import weights
from stylize.checkpoints import STATE_SUFFIX, load_tensors, save_checkpoint
from stylize.errors import UsageError, WeightsError
from stylize.files import atomic_path
from stylize.models.layouts import build_checked
from stylize.models.transformer_net import ARCHITECTURE, LAYOUT, TransformerNet, strip_stale_keys
from stylize.progress import Reporter

DEFAULT_MODEL = "starry-night"  # shipped in weights/: works offline on a fresh install
CHECKPOINT_FORMAT = 1  # bump when the meaning of the saved tensors or metadata changes
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
        raise WeightsError(f"{spec}: no such model file or model name", _known_models_hint())
    return path


def _known_models_hint() -> str:
    names = [s.name for s in registry_models()] + [p.stem for p in local_models()]
    return f"models: {', '.join(names)}; or give a .pth/.safetensors file (see stylize fast --list)"


# ---------------------------------------------------------------- loading and saving


def load_model(spec: str, reporter: Reporter | None = None) -> TransformerNet:
    """The TransformerNet named by ``spec`` (see :func:`resolve_model`), checked and in eval mode; in the
    file's dtype (float16 for the shipped models: FastTransformerNet casts it to the precision it runs in)."""
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
    header = {"architecture": ARCHITECTURE, "format": CHECKPOINT_FORMAT, "layout": LAYOUT}
    return save_checkpoint(path, net.state_dict(), {**meta, **header})


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

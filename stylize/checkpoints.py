"""Loading weight files safely, and writing self-describing checkpoints.

Published ``.pth`` files load with ``torch.load(weights_only=True)``: plain tensors and
containers only, never code. Our own checkpoints are safetensors with a JSON ``stylize``
metadata entry (architecture, config, version).
"""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stylize.errors import WeightsError
from stylize.files import atomic_path

if TYPE_CHECKING:
    import torch

META_KEY = "stylize"
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
    if path.suffix.lower() == ".safetensors":
        return _load_safetensors(path)
    return _load_torch(path), {}


def _load_safetensors(path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt") as fh:
            tensors = {k: fh.get_tensor(k) for k in fh.keys()}  # noqa: SIM118 - safe_open is not a dict
            raw = (fh.metadata() or {}).get(META_KEY)
    except (SafetensorError, OSError, ValueError) as exc:
        raise WeightsError(f"{path}: not a readable safetensors file ({exc})") from exc
    return tensors, json.loads(raw) if raw else {}


def _load_torch(path: Path) -> dict[str, Any]:
    import torch

    try:
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
    from safetensors.torch import save_file

    from stylize import __version__

    path = Path(path)
    meta = {"version": __version__, **meta}
    flat = {k: v.detach().contiguous().cpu() for k, v in tensors.items()}
    with atomic_path(path) as tmp:
        save_file(flat, str(tmp), metadata={META_KEY: json.dumps(meta, sort_keys=True)})
    return path

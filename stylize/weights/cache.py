"""Where files are cached (ours, torch hub's, the bundled ones derived) and how their SHA-256 is checked.

Files live in ``$STYLIZE_HOME`` (else ``$XDG_CACHE_HOME/stylize``, else ``~/.cache/stylize``); a
file torchvision already downloaded into torch hub's cache is used in place. Unpinned files have
the hash they arrived with recorded (``recorded.json``), so a later change is caught.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from stylize import bundled
from stylize.errors import WeightsError
from stylize.files import atomic_write_bytes
from stylize.progress import Reporter
from stylize.weights.registry import REGISTRY, WeightSpec, get_spec


def cache_dir() -> Path:
    """``$STYLIZE_HOME``, else ``$XDG_CACHE_HOME/stylize``, else ``~/.cache/stylize``."""
    if os.environ.get("STYLIZE_HOME"):
        return Path(os.environ["STYLIZE_HOME"]).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "stylize"


def fast_models_dir() -> Path:
    """Where local fast-style models live (``train-fast`` saves here; ``--model NAME`` finds NAME.safetensors)."""
    return cache_dir() / "fast-models"


def torch_hub_dir() -> Path:
    """torch hub's checkpoint folder, computed as torch.hub does but without importing torch."""
    torch_home = os.environ.get("TORCH_HOME")
    if not torch_home:
        xdg = os.environ.get("XDG_CACHE_HOME")
        torch_home = str((Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "torch")
    return Path(torch_home).expanduser() / "hub" / "checkpoints"


def cache_path(spec: WeightSpec) -> Path:
    return cache_dir() / spec.filename


def find_cached(name: str) -> Path | None:
    """The cached file for ``name`` (ours, or torch hub's), or None."""
    spec = get_spec(name)
    if spec.bundled == "file":
        shipped = bundled.shipped_dir() / spec.filename
        return shipped if shipped.is_file() else None
    if spec.bundled:
        derived = _derived_path(spec)
        return derived if derived.is_file() else None
    ours = cache_path(spec)
    if ours.is_file():
        return ours
    if spec.hub_filename:
        hub = torch_hub_dir() / spec.hub_filename
        if hub.is_file():
            return hub
    return None


def _derived_path(spec: WeightSpec) -> Path:
    return cache_dir() / bundled.derived_name(spec.name, spec.bundled == "normalised")


RECORDED = "recorded.json"  # in the cache: file name -> SHA-256 seen when an unpinned file arrived


def expected_hash(spec: WeightSpec) -> str | None:
    """The pin (full hash or torchvision prefix), else the hash recorded when the file arrived."""
    return spec.sha256 or _recorded().get(spec.filename)


def hash_matches(spec: WeightSpec, actual: str) -> bool:
    """True when ``actual`` agrees with the pin or the recorded hash; a file never seen matches."""
    expected = expected_hash(spec)
    return not expected or actual.startswith(expected)


def check_hash(spec: WeightSpec, path: Path, actual: str, reporter: Reporter) -> None:
    if not hash_matches(spec, actual):
        raise WeightsError(
            f"{spec.name}: SHA-256 mismatch for {path.name} (expected {expected_hash(spec)}, got {actual})",
            "the file is corrupt or not the published one; nothing was kept",
        )
    if not spec.sha256 and not _is_archive(spec):  # an archive is deleted once its members are out
        reporter.log(f"{spec.name}: no published hash; SHA-256 of this file is {actual} (recorded)", "warning")
        _record(spec, actual)


def _is_archive(spec: WeightSpec) -> bool:
    return any(s.archive == spec.name for s in REGISTRY.values())


def _recorded() -> dict[str, str]:
    try:
        data = json.loads((cache_dir() / RECORDED).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _record(spec: WeightSpec, actual: str) -> None:
    """Remember an unpinned file's hash, so a later change to it is caught at load and by verify."""
    atomic_write_bytes(cache_dir() / RECORDED, json.dumps({**_recorded(), spec.filename: actual}, indent=0).encode())


def checked_cached(spec: WeightSpec, path: Path) -> Path:
    """``path`` after comparing its SHA-256 with the pin or the recorded hash (hashed once per file
    version: the verdict is cached by size and mtime)."""
    actual = bundled.cached_sha256(path, cache_dir())
    if not hash_matches(spec, actual):
        raise WeightsError(
            f"{path}: SHA-256 {actual[:12]}… is not {spec.name}'s ({expected_hash(spec)[:12]}…)",
            f"the file was changed or damaged; delete it and run 'stylize weights fetch {spec.name}'",
        )
    return path

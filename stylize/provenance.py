"""What made an output: the job signature recorded in every image stylize writes.

A signature is the method, the settings that change pixels, the weights, and the identity of
the content and style files. It is written into the output (a PNG text chunk, a JPEG comment,
WebP XMP, the TIFF description; a hidden sidecar for BMP) so that a re-run skips only the
outputs of the *same* job and stops on any other::

    signature = JobSignature("adain", settings_of(config), weights={"decoder": "stylize"})
    text = signature.text(content_path, [style_path])   # stored with the output
    differences(text, images.read_note(output))          # [] when the output is this job's

Files are identified by a fingerprint of their size and first and last 64 KiB: cheap for
thousands of photos, unchanged by copying, changed by any edit a person makes to a photo.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from stylize._version import __version__

FORMAT = "stylize-job/1"
_EDGE = 64 * 1024


def fingerprint(path: str | Path) -> str:
    """A short digest of a file's size, first and last 64 KiB (``"missing"`` if it cannot be read).

    Each file version (path, size, times, inode) is read once per process: a style or model shared
    by thousands of jobs, or a content file matched against many outputs, is not re-read each time.
    """
    try:
        stat = os.stat(path)
    except OSError:
        return "missing"
    return _fingerprint_of(str(path), stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_ino)


@functools.lru_cache(maxsize=4096)
def _fingerprint_of(path: str, size: int, mtime_ns: int, ctime_ns: int, inode: int) -> str:
    try:
        with open(path, "rb") as f:
            size = f.seek(0, 2)
            f.seek(0)
            head = f.read(_EDGE)
            f.seek(max(size - _EDGE, 0))
            tail = f.read(_EDGE)
    except OSError:
        return "missing"
    digest = hashlib.sha256(str(size).encode() + b"\0" + head + b"\0" + tail)
    return digest.hexdigest()[:16]


def weights_id(spec: str) -> str:
    """A weights argument as recorded: a registry name as given, a file by its fingerprint."""
    path = Path(spec).expanduser()
    return f"file:{fingerprint(path)}" if spec and path.is_file() else spec


def settings_of(config: Any) -> dict[str, Any]:
    """A config dataclass as JSON-ready settings: every field that changes pixels (see ``config.knob``)."""
    return {
        f.name: _plain(getattr(config, f.name)) for f in dataclasses.fields(config) if f.metadata.get("pixels", True)
    }


def _plain(value: Any) -> Any:
    if isinstance(value, Path):
        return f"file:{fingerprint(value)}"
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)  # 1.0 and 1 are one setting
    return value


@dataclasses.dataclass(frozen=True)
class JobSignature:
    """Everything about a run that changes its pixels, except the content file of each job."""

    method: str  # adain, fast, optimize
    settings: Mapping[str, Any]
    weights: Mapping[str, str] = dataclasses.field(default_factory=dict)  # role -> weights_id

    def text(
        self, content: Path, styles: Sequence[Path] = (), model: str | None = None, more: Mapping[str, Any] = {}
    ) -> str:
        """The signature of one job: this run's settings (and ``more``: a video's), its content, style files or model."""
        job: dict[str, Any] = {
            "method": self.method,
            "settings": {**self.settings, **more},
            "weights": dict(self.weights),
            "content": fingerprint(content),
            "styles": [fingerprint(path) for path in styles],
        }
        if model is not None:
            job["model"] = weights_id(model)
        return json.dumps({"format": FORMAT, "stylize": __version__, "job": job}, sort_keys=True, separators=(",", ":"))


def differences(expected: str, recorded: str | None, limit: int = 3) -> list[str]:
    """Why an existing output (``recorded``, its stored signature) is not this job's; [] if it is."""
    if recorded is None:
        return ["it has no stylize record (made by another program, or by stylize before 0.1)"]
    try:
        old = json.loads(recorded)["job"]
    except (ValueError, KeyError, TypeError):
        return ["its stylize record is unreadable"]
    new = json.loads(expected)["job"]
    if old.get("method") != new["method"]:
        return [f"it was made by 'stylize {old.get('method')}'"]
    found = []
    for key, label in (
        ("content", "another content image"),
        ("styles", "other style images"),
        ("model", "another model"),
        ("weights", "other weights"),
    ):
        if old.get(key) != new.get(key):
            found.append(f"it was made from {label}")
    old_settings, new_settings = old.get("settings", {}), new["settings"]
    for name in sorted(set(old_settings) | set(new_settings)):
        if old_settings.get(name) != new_settings.get(name):
            found.append(
                f"{name.replace('_', '-')} was {_show(old_settings.get(name))}, now {_show(new_settings.get(name))}"
            )
    return found[:limit]


def _show(value: Any) -> str:
    return "the default" if value is None else json.dumps(value)

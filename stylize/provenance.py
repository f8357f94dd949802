"""What made an output: the job signature recorded in every image stylize writes.

A signature is the method, the settings that change pixels, the weights, and the identity of
the content and style files. It is written into the output (a PNG text chunk, a JPEG comment,
WebP XMP, the TIFF description; a hidden sidecar for BMP) so that a re-run skips only the
outputs of the *same* job and stops on any other::

    signature = JobSignature("adain", settings_of(config), weights={"decoder": "stylize"})
    text = signature.text(content_path, [style_path])   # stored with the output
    differences(text, images.read_note(output))          # [] when the output is this job's

Files are identified by a fingerprint of all their bytes (SHA-256, read once per file version
and process): unchanged by copying, changed by any edit, also one in the middle of an
uncompressed BMP or TIFF or of a model file. Records of another format (``stylize-job/1``, whose
fingerprints read only a file's first and last 64 KiB) are never taken for this job's: such an
output stops the batch like one of another job, until ``--overwrite`` redoes it.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from stat import S_ISREG
from typing import Any

from stylize._version import __version__
from stylize.storage import StorePath, open_binary

FORMAT = "stylize-job/2"


def fingerprint(path: str | Path | StorePath) -> str:
    """A short digest of all of a file's bytes (``"missing"`` if it cannot be read), local or stored.

    Each file version (path, size, times, inode; in a store its size and ETag or time) is read once per
    process: a style or model shared by thousands of jobs, or a content file matched against many
    outputs, is not re-read each time.
    """
    if isinstance(path, StorePath):
        return _stored_fingerprint(path)
    try:
        stat = os.stat(path)
    except OSError:
        return "missing"
    if not S_ISREG(stat.st_mode):  # a FIFO would block the read
        return "missing"
    return _fingerprint_of(str(path), (stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_ino))


@functools.lru_cache(maxsize=4096)
def _fingerprint_of(path: str | StorePath, version: object) -> str:
    """The digest of one ``version`` of a file (local: size, times, inode; stored: see StorePath.version)."""
    try:
        with open_binary(path) as f:
            digest = hashlib.file_digest(f, "sha256")
    except OSError:
        return "missing"
    return digest.hexdigest()[:16]


def _stored_fingerprint(path: StorePath) -> str:
    try:
        version = path.version()
        return _fingerprint_of(path, version) if version is not None else "missing"
    except Exception:  # noqa: BLE001 - as a local file that cannot be read: the job itself reports why
        return "missing"


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
    old = recorded_job(recorded)
    if isinstance(old, str):
        return [old]
    new = json.loads(expected)["job"]
    if old["method"] != new["method"]:
        return [f"it was made by 'stylize {old['method']}'"]
    found = []
    for key, label in (
        ("content", "another content image"),
        ("styles", "other style images"),
        ("model", "another model"),
        ("weights", "other weights"),
    ):
        if old.get(key) != new.get(key):
            found.append(f"it was made from {label}")
    old_settings, new_settings = old["settings"], new["settings"]
    for name in sorted(set(old_settings) | set(new_settings)):
        if old_settings.get(name) != new_settings.get(name):
            found.append(
                f"{name.replace('_', '-')} was {_show(old_settings.get(name))}, now {_show(new_settings.get(name))}"
            )
    return found[:limit]


_JOB_FIELDS = {"method": str, "settings": dict, "weights": dict, "content": str, "styles": list}


def recorded_job(recorded: str) -> dict[str, Any] | str:
    """The job of a stored record, its fields of the expected types; else why it cannot be compared."""
    try:
        record = json.loads(recorded)
    except (ValueError, RecursionError):  # RecursionError: a record nested thousands deep
        return "its stylize record is unreadable"
    if not isinstance(record, dict) or not isinstance(record.get("job"), dict):
        return "its stylize record is unreadable"
    if record.get("format") != FORMAT:
        version = record.get("stylize")
        by = f"stylize {version}" if isinstance(version, str) else "another stylize"
        return f"its stylize record is of another format (written by {by}), which this version does not compare"
    job = record["job"]
    if any(not isinstance(job.get(key), kind) for key, kind in _JOB_FIELDS.items()):
        return "its stylize record is unreadable"
    return job


def _show(value: Any) -> str:
    return "the default" if value is None else json.dumps(value)

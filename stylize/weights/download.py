"""Fetching: :func:`ensure` a registry file is cached, downloading it (or the zip it comes in) if needed.

Downloads stream to a temp file, are SHA-256 checked, then renamed: a failure leaves nothing
behind. ``STYLIZE_OFFLINE=1`` never touches the network; ``STYLIZE_MIRROR`` replaces the host.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterator
from pathlib import Path

from stylize import bundled
from stylize.errors import InputError, WeightsError
from stylize.files import atomic_path, sha256_file
from stylize.progress import NullReporter, Reporter
from stylize.weights.cache import cache_dir, cache_path, check_hash, checked_cached, find_cached
from stylize.weights.registry import REGISTRY, WeightSpec, get_spec

CHUNK = 1 << 20
TIMEOUT_S = 30.0


def offline() -> bool:
    return os.environ.get("STYLIZE_OFFLINE", "").lower() in ("1", "true", "yes", "on")


def download_url(spec: WeightSpec) -> str:
    """The URL to fetch, honouring ``STYLIZE_MIRROR`` (a base URL holding the same file names)."""
    mirror = os.environ.get("STYLIZE_MIRROR")
    if not mirror:
        return spec.url
    remote_name = spec.url.split("?")[0].rsplit("/", 1)[-1]
    return mirror.rstrip("/") + "/" + remote_name


def ensure(name: str, reporter: Reporter | None = None, allow_download: bool | None = None) -> Path:
    """Path to the cached file for ``name``, downloading (and verifying) it if needed."""
    reporter = reporter or NullReporter()
    spec = get_spec(name)
    if spec.bundled == "file":
        return bundled.verified_shipped(spec.filename, spec.sha256 or "", cache_dir())
    found = find_cached(name)
    if found is not None:
        return found if spec.bundled else checked_cached(spec, found)
    if spec.bundled:
        return bundled.ensure_derived(spec.name, spec.bundled == "normalised", cache_dir())
    if allow_download is False or (allow_download is None and offline()):
        raise WeightsError(
            f"{name} is not cached and offline mode is on",
            f"run 'stylize weights fetch {name}' with internet, or 'stylize weights import {name} FILE'",
        )
    if spec.archive:
        try:
            _fetch_archive(get_spec(spec.archive), reporter)
        except WeightsError as exc:  # name the file the user asked for, not only the zip it comes in
            hint = f"{exc.hint + '; ' if exc.hint else ''}or 'stylize weights import {name} {spec.member}'"
            raise WeightsError(str(exc), hint) from exc
        return cache_path(spec)
    return _download(spec, cache_path(spec), reporter)


def _download(spec: WeightSpec, dest: Path, reporter: Reporter) -> Path:
    url = download_url(spec)
    task = f"download {spec.name}"
    try:
        with _open_url(url, spec) as response, atomic_path(dest) as tmp:
            total = _content_length(response) or spec.size
            reporter.start(task, total=total, unit="B", transient=True)
            actual, got = _stream(response, tmp, lambda n: reporter.advance(task, n))
            if total is not None and got != total:
                raise WeightsError(
                    f"{spec.name}: download interrupted ({got:,} of {total:,} bytes)", "nothing was kept; try again"
                )
            check_hash(spec, dest, actual, reporter)
    finally:
        reporter.finish(task)
    reporter.log(f"{spec.name}: saved {dest}")
    return dest


class _Response:
    """Context manager over urlopen that turns network failures into WeightsError."""

    def __init__(self, url: str, spec: WeightSpec) -> None:
        self.url, self.spec, self.raw = url, spec, None

    def __enter__(self):
        request = urllib.request.Request(self.url, headers={"User-Agent": "stylize"})
        try:
            self.raw = urllib.request.urlopen(request, timeout=TIMEOUT_S)
        except urllib.error.HTTPError as exc:
            raise WeightsError(f"{self.spec.name}: download failed, HTTP {exc.code} from {self.url}") from exc
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise WeightsError(
                f"{self.spec.name}: cannot reach {self.url} ({reason})",
                f"check the network, set STYLIZE_MIRROR, or 'stylize weights import {self.spec.name} FILE'",
            ) from exc
        return self.raw

    def __exit__(self, *exc: object) -> None:
        if self.raw is not None:
            self.raw.close()


def _open_url(url: str, spec: WeightSpec) -> _Response:
    return _Response(url, spec)


def _content_length(response: object) -> int | None:
    value = getattr(response, "headers", {}).get("Content-Length")
    return int(value) if value and value.isdigit() else None


def _stream(response: object, dest: Path, advance: object) -> tuple[str, int]:
    digest, got = hashlib.sha256(), 0
    with open(dest, "wb") as out:
        for block in _chunks(response):
            out.write(block)
            digest.update(block)
            got += len(block)
            advance(len(block))  # type: ignore[operator]
    return digest.hexdigest(), got


def _chunks(response: object) -> Iterator[bytes]:
    while True:
        try:
            block = response.read(CHUNK)  # type: ignore[attr-defined]
        except (OSError, ValueError) as exc:  # connection dropped mid-transfer
            raise WeightsError(f"download interrupted ({exc})", "nothing was kept; try again") from exc
        if not block:
            return
        yield block


def _fetch_archive(zspec: WeightSpec, reporter: Reporter) -> None:
    """Download a zip to a temp place, extract every registry member, keep only the members."""
    members = [s for s in REGISTRY.values() if s.archive == zspec.name]
    zip_path = cache_path(zspec)
    _download(zspec, zip_path, reporter)
    try:
        _extract_members(zip_path, members, reporter)
    finally:
        zip_path.unlink(missing_ok=True)


def _extract_members(zip_path: Path, members: list[WeightSpec], reporter: Reporter) -> None:
    try:
        archive = zipfile.ZipFile(zip_path)
    except zipfile.BadZipFile as exc:
        raise WeightsError(f"{zip_path.name}: not a valid zip file") from exc
    with archive:
        by_base = {Path(n).name: n for n in archive.namelist() if not n.endswith("/")}
        for spec in members:
            remote = spec.member or spec.filename
            if remote not in by_base:
                raise WeightsError(f"{zip_path.name}: has no {remote} (for {spec.name})")
            with archive.open(by_base[remote]) as src, atomic_path(cache_path(spec)) as tmp, open(tmp, "wb") as out:
                shutil.copyfileobj(src, out, CHUNK)
            check_hash(spec, cache_path(spec), sha256_file(cache_path(spec)), reporter)


def resolve(name_or_path: str | os.PathLike[str], reporter: Reporter | None = None) -> Path:
    """A registry name -> its cached file (fetched if needed); anything else is a local path."""
    text = str(name_or_path)
    if text in REGISTRY:
        return ensure(text, reporter)
    path = Path(text).expanduser()
    if path.exists() and not path.is_file():  # a folder or a FIFO (reading it would block)
        what = "a folder" if path.is_dir() else "not a regular file (a FIFO, device or socket)"
        raise InputError(f"{text}: {what}, not a weights file", "give a weights file or a registry name")
    if not path.is_file():
        known = ", ".join(sorted(REGISTRY))
        raise WeightsError(f"{text}: no such weights file or registry name", f"registry names: {known}")
    return path

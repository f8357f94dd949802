"""Atomic file writing: a temp file in the destination folder, then ``os.replace``.

Nothing is ever half-written: a crash or Ctrl-C leaves either the old state or the new file. A
destination in a store (:class:`stylize.storage.StorePath`) is written to a local temp file first,
then uploaded in one piece (:meth:`~stylize.storage.StorePath.put`).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from stylize.storage import StorePath, open_binary, temp_name

TEMP_PREFIX = ".stylize-"
TEMP_SUFFIX = ".part"


@contextlib.contextmanager
def atomic_path(dest: str | os.PathLike[str] | StorePath, replace: bool = True) -> Iterator[Path]:
    """Yield a temp path beside ``dest``; on success rename it onto ``dest``, else delete it.

    ``replace=False``: FileExistsError, and ``dest`` left as it is, when it exists by then (another
    process wrote it meanwhile): the temp file is hard-linked into place, which never replaces.
    A stored ``dest``: the temp file is local, and uploaded onto ``dest`` in one piece on success."""
    if isinstance(dest, StorePath):
        with _stored(dest, replace) as tmp:
            yield tmp
        return
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    prefix = f"{TEMP_PREFIX}{os.getpid()}-"  # the writer's PID: a later run can tell a stale file from a live one
    fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=TEMP_SUFFIX + dest.suffix, dir=dest.parent)
    os.fchmod(fd, 0o666 & ~_UMASK)  # mkstemp makes 0600; outputs get the usual permissions
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        _fsync(tmp_path)
        _place(tmp_path, dest, replace)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def _stored(dest: StorePath, replace: bool) -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix=f"{TEMP_PREFIX}{os.getpid()}-upload-") as folder:
        tmp = Path(folder, f"{TEMP_PREFIX}{dest.name}")  # the output's suffix: writers pick formats by it
        yield tmp
        dest.put(tmp, replace, temp_name(f"{TEMP_PREFIX}{os.getpid()}-", TEMP_SUFFIX + dest.suffix))


def _place(tmp: Path, dest: Path, replace: bool) -> None:
    if replace:
        os.replace(tmp, dest)
        return
    try:
        os.link(tmp, dest)  # atomic, and fails if dest exists
    except FileExistsError:
        raise
    except OSError:  # no hard links on this file system (FAT, some shares): check, then rename
        if os.path.lexists(dest):
            raise FileExistsError(errno.EEXIST, "file exists", str(dest)) from None
        os.replace(tmp, dest)
        return
    tmp.unlink()


def _read_umask() -> int:
    """The process umask (read once at import: os.umask can only be read by setting it)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _read_umask()


def _fsync(path: Path) -> None:
    with open(path, "rb") as fh:
        os.fsync(fh.fileno())


def atomic_write_bytes(dest: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``dest`` atomically."""
    with atomic_path(dest) as tmp:
        tmp.write_bytes(data)


def sha256_file(path: str | os.PathLike[str] | StorePath, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file (local or stored), read in ``chunk``-byte blocks."""
    digest = hashlib.sha256()
    with open_binary(path) as fh:
        for block in iter(lambda: fh.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def unknown_file_suffix(path: Path, known: tuple[str, ...] | frozenset[str]) -> bool:
    """``out.exe``: a file name whose extension is not in ``known``, meant as a file, not a folder
    (an existing folder, or a name like ``v1.2`` whose suffix has no letter, stays a folder)."""
    suffix = path.suffix.lower()
    return bool(suffix) and suffix not in known and any(c.isalpha() for c in suffix) and not path.is_dir()


def is_temp_file(path: Path) -> bool:
    """True for our own in-flight temp files (skipped when scanning folders)."""
    return path.name.startswith(TEMP_PREFIX) and TEMP_SUFFIX in path.name


OLD_TEMP_AGE_S = 3600  # a temp file without a PID in its name (older stylize) counts as stale after this


def remove_stale_temp_files(folder: Path) -> int:
    """Delete our temp files in ``folder`` whose writer is gone (SIGKILL, power cut); returns how many.

    A temp file is ``.stylize-<pid>-<random>.part<ext>``: it is stale when no process has that PID.
    Files of live processes (another stylize writing into the same folder) are left alone. A folder in
    a store is left as it is (a PID there may be another machine's).
    """
    if isinstance(folder, StorePath):
        return 0
    removed = 0
    try:
        entries = [Path(e.path) for e in os.scandir(folder) if e.is_file(follow_symlinks=False)]
    except OSError:
        return 0
    for path in entries:
        if is_temp_file(path) and _stale(path):
            with contextlib.suppress(OSError):
                path.unlink()
                removed += 1
    return removed


def _stale(path: Path) -> bool:
    head = path.name[len(TEMP_PREFIX) :].split("-", 1)[0]
    if not head.isdigit():
        return time.time() - path.stat().st_mtime > OLD_TEMP_AGE_S
    return not _alive(int(head))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's live process
    return True


def same_file(a: Path | StorePath, b: Path | StorePath) -> bool:
    """True when two paths name the same file (or would, once created)."""
    if isinstance(a, StorePath) or isinstance(b, StorePath):
        return a == b
    try:
        return a.resolve() == b.resolve() or (a.exists() and b.exists() and os.path.samefile(a, b))
    except (OSError, RuntimeError):  # RuntimeError: a symbolic link loop (before Python 3.13)
        return False

"""What the job signature's file fingerprints cost on a folder of large uncompressed files.

    python benches/fingerprint.py [--count 1000] [--width 2000] [--height 1500] [--folder DIR] [--keep]

Writes ``count`` BMPs of ``width`` x ``height`` (9 MB each at the defaults: 9 GB in all; each a
different file of the same size) into ``--folder`` (a new folder under /tmp by default), then times
:func:`stylize.provenance.fingerprint` over all of them as one run of ``stylize`` signs its jobs:

- ``cold``: every file dropped from the page cache first (``posix_fadvise(DONTNEED)`` on our own
  files only: the disk's speed, as on a first run over photos not read for a while);
- ``warm``: the files in the page cache (a re-run right after another);
- ``cached``: the same files again in the same process (one style or model shared by every job).

and, for scale, the time to decode them all with Pillow (what stylizing them reads anyway). Run it
once per version of stylize on the same files (``PYTHONPATH`` to each checkout, ``--keep`` on the
first run, ``--folder`` to reuse them) to compare. The folder is deleted at the end unless ``--keep``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

from stylize import provenance


def make_bmps(folder: Path, count: int, width: int, height: int) -> list[Path]:
    """``count`` BMPs of one size, each with its own bytes in the middle rows."""
    folder.mkdir(parents=True, exist_ok=True)
    first = folder / "00000.bmp"
    if not first.exists():
        rng = np.random.default_rng(0)
        Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8)).save(first)
    data = bytearray(first.read_bytes())
    middle = len(data) // 2
    paths = [first]
    for index in range(1, count):
        path = folder / f"{index:05d}.bmp"
        paths.append(path)
        if path.exists():
            continue
        data[middle : middle + 8] = index.to_bytes(8, "little")
        path.write_bytes(data)
    return paths


def evict(paths: list[Path]) -> None:
    """Drop these files (only) from the page cache."""
    for path in paths:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def timed(work: Callable[[], object]) -> float:
    start = time.perf_counter()
    work()
    return time.perf_counter() - start


def fingerprint_all(paths: list[Path]) -> list[str]:
    return [provenance.fingerprint(path) for path in paths]


def decode_all(paths: list[Path]) -> None:
    for path in paths:
        with Image.open(path) as img:
            img.load()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--width", type=int, default=2000)
    parser.add_argument("--height", type=int, default=1500)
    parser.add_argument("--folder", type=Path, default=None)
    parser.add_argument("--keep", action="store_true", help="keep the files (to time another version on them)")
    args = parser.parse_args()
    folder = args.folder or Path(tempfile.mkdtemp(prefix="stylize-fingerprint-", dir="/tmp"))
    try:
        paths = make_bmps(folder, args.count, args.width, args.height)
        clear = provenance._fingerprint_of.cache_clear
        evict(paths)
        clear()
        cold = timed(lambda: fingerprint_all(paths))
        clear()
        warm = timed(lambda: fingerprint_all(paths))
        cached = timed(lambda: fingerprint_all(paths))
        decode = timed(lambda: decode_all(paths))
        size = sum(path.stat().st_size for path in paths)
        result = {
            "stylize": str(Path(provenance.__file__).parent.parent),
            "files": len(paths),
            "GB": round(size / 1e9, 2),
            "cold_s": round(cold, 2),
            "warm_s": round(warm, 2),
            "cached_s": round(cached, 3),
            "decode_s": round(decode, 2),
            "distinct": len(set(fingerprint_all(paths))),
        }
        print(json.dumps(result))
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()

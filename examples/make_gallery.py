"""Rebuild examples/gallery/: real outputs of stylize's defaults on the redistributable examples.

Only files in this folder are used (content/ photos, style/ images; see README.md for their
origins), so the gallery can be regenerated anywhere, offline. Writes one small JPEG per
(content, style) and ``gallery.jpg``, a sheet with the numbers of ``stylize eval`` under each.

    python examples/make_gallery.py [--size 320] [--method optimize]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
CONTENTS = ("chelsea.jpg", "astronaut.jpg")
STYLES = ("mosaic.png", "strokes.png", "swirl.png")


def stylize(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "stylize", "--quiet", *args], check=True, stdout=subprocess.DEVNULL)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=320)
    parser.add_argument("--method", default="optimize", help="optimize or adain")
    parser.add_argument("--out", type=Path, default=HERE / "gallery")
    args = parser.parse_args()
    contents = [str(HERE / "content" / c) for c in CONTENTS]
    styles = [arg for s in STYLES for arg in ("-s", str(HERE / "style" / s))]
    name = "{stem}_{style}_" + args.method + ".{ext}"
    stylize(args.method, *contents, *styles, "--size", str(args.size), "-o", str(args.out), "--name", name,
            "--ext", "jpg", "--quality", "85", "--overwrite")
    outputs = sorted(args.out.glob(f"*_{args.method}.jpg"))
    stylize("eval", "-c", str(HERE / "content"), *styles, *map(str, outputs), "--sheet",
            str(args.out / f"gallery-{args.method}.jpg"))


if __name__ == "__main__":
    main()

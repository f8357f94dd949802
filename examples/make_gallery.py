"""Rebuild examples/gallery/: real outputs of stylize's defaults on the redistributable examples.

Only files in this folder are used (content/ photos, style/ images; see README.md for their
origins), so the gallery can be regenerated anywhere, offline. Writes one small JPEG per
(content, style) and ``gallery-<method>.jpg``, a sheet with the numbers of ``stylize eval`` under
each. ``--method first`` runs the README's first commands as written (default settings) and
writes ``first-commands.jpg`` (chelsea.jpg, `stylize adain` with mosaic.png, and the three shipped
fast-style models' outputs), ``weights/fast-models-samples.jpg`` (every example photo through every
shipped fast model) and ``weights/adain-decoder-samples.jpg`` (every example photo x every example
style through the default AdaIN pair): the model cards' sample sheets.

    python examples/make_gallery.py [--size 320] [--method optimize|adain|first]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

from PIL import Image

from stylize.sheet import contact_sheet

HERE = Path(__file__).resolve().parent
CONTENTS = ("chelsea.jpg", "astronaut.jpg")
STYLES = ("mosaic.png", "strokes.png", "swirl.png")


def stylize(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "stylize", "--quiet", *args], check=True, stdout=subprocess.DEVNULL)


SHIPPED_FAST = ("starry-night", "great-wave", "composition-vii")


def first_commands(out: Path) -> None:
    """The README's first screen (`stylize adain PHOTO STYLE`, `stylize fast PHOTO -m MODEL`, offline)
    and the shipped models' sample sheets."""
    photos = sorted((HERE / "content").glob("*.jpg"))
    styles = [HERE / "style" / s for s in STYLES]
    with tempfile.TemporaryDirectory() as tmp:
        stylize("fast", *map(str, photos), *[a for m in SHIPPED_FAST for a in ("-m", m)], "-o", tmp)
        stylize("adain", *map(str, photos), *[a for s in styles for a in ("-s", str(s))], "-o", tmp)
        fast = [
            [(Image.open(p), p.name)]
            + [(Image.open(Path(tmp) / f"{p.stem}_fast_{m}.jpg"), f"-m {m}") for m in SHIPPED_FAST]
            for p in photos
        ]
        adain = [
            [(Image.open(p), p.name)]
            + [(Image.open(Path(tmp) / f"{p.stem}_adain_{s.stem}.jpg"), f"adain {s.name}") for s in styles]
            for p in photos
        ]
        chelsea = photos.index(HERE / "content" / "chelsea.jpg")
        first = [*adain[chelsea][:2], *fast[chelsea][1:]]
        contact_sheet([first], height=200, max_width=300).convert("RGB").save(out / "first-commands.jpg", quality=88)
        for rows, name in ((fast, "fast-models-samples.jpg"), (adain, "adain-decoder-samples.jpg")):
            sheet = contact_sheet(rows, height=240, max_width=360).convert("RGB")
            sheet.save(HERE.parent / "weights" / name, quality=85)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=320)
    parser.add_argument("--method", default="optimize", help="optimize or adain")
    parser.add_argument("--out", type=Path, default=HERE / "gallery")
    args = parser.parse_args()
    if args.method == "first":
        return first_commands(args.out)
    contents = [str(HERE / "content" / c) for c in CONTENTS]
    styles = [arg for s in STYLES for arg in ("-s", str(HERE / "style" / s))]
    name = "{stem}_{style}_" + args.method + ".{ext}"
    stylize(
        args.method,
        *contents,
        *styles,
        "--size",
        str(args.size),
        "-o",
        str(args.out),
        "--name",
        name,
        "--ext",
        "jpg",
        "--quality",
        "85",
        "--overwrite",
    )
    outputs = sorted(args.out.glob(f"*_{args.method}.jpg"))
    stylize(
        "eval",
        "-c",
        str(HERE / "content"),
        *styles,
        *map(str, outputs),
        "--sheet",
        str(args.out / f"gallery-{args.method}.jpg"),
    )


if __name__ == "__main__":
    main()

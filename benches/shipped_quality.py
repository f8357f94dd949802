"""Score the models we ship (or a training checkpoint) on the held-out grid with `stylize eval`.

AdaIN: the 4 held-out photos of ../shared/data/content x the 4 held-out paintings of
../shared/data/style, stylized by `stylize adain` (default: the shipped pair; ``--decoder`` scores
a checkpoint). Fast: each ``NAME=STYLE`` model on the 4 photos, scored against its own painting.
Prints one row per model (mean style and content distance next to the photos' own style distance,
and the lattice strength: see :func:`lattice`) and writes the outputs (PNG: JPEG's own 8x8 blocks
would blur the lattice number) and a contact sheet per model into ``--out``. No training image is used.

    python benches/shipped_quality.py adain
    python benches/shipped_quality.py adain --decoder runs/adain/decoder.safetensors
    python benches/shipped_quality.py fast starry-night=starry_night great-wave=great_wave
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
PHOTOS = ("chelsea_cat.png", "dune.jpg", "evening_glow_boats.jpg", "grey_architecture.jpg")
STYLES = ("starry_night.jpg", "great_wave.jpg", "the_scream.jpg", "composition_vii.jpg")


def stylize(*args: str) -> str:
    cmd = [sys.executable, "-m", "stylize", "--quiet", *args]
    return subprocess.run(cmd, cwd=ROOT, check=True, text=True, stdout=subprocess.PIPE).stdout


def lattice(path: Path) -> float:
    """Strength of a pattern locked to the 8-px grid of the decoder's upsampling, in grey levels.

    The high-pass residual (image minus its 3x3 box blur) averaged over every pixel with the same
    (y mod 8, x mod 8) phase: real texture averages out, a lattice the network stamps does not. The
    RMS over the 64 phases; photos measure ~0.15, a visible grid ~0.8.
    """
    grey = np.asarray(Image.open(path).convert("L"), dtype=np.float64)
    padded = np.pad(grey, 1, mode="edge")
    h, w = grey.shape
    blur = sum(padded[i : i + h, j : j + w] for i in range(3) for j in range(3)) / 9
    h8, w8 = h // 8 * 8, w // 8 * 8
    phases = (grey - blur)[:h8, :w8].reshape(h8 // 8, 8, w8 // 8, 8).mean(axis=(0, 2))
    return float(np.sqrt(np.mean((phases - phases.mean()) ** 2)))


def score(folder: Path, styles: list[Path], sheet: Path) -> dict[str, float]:
    style_args = [arg for s in styles for arg in ("-s", str(s))]
    report = json.loads(
        stylize("eval", "-c", str(DATA / "content"), *style_args, str(folder), "--json", "--sheet", str(sheet))
    )
    return {**report["mean"], "lattice": float(np.mean([lattice(p) for p in sorted(folder.glob("*.png"))]))}


def adain(args: argparse.Namespace) -> list[tuple[str, dict[str, float]]]:
    folder = args.out / "adain"
    styles = [DATA / "style" / s for s in STYLES]
    extra = (["--decoder", str(args.decoder)] if args.decoder else []) + (
        ["--alpha", str(args.alpha)] if args.alpha is not None else []
    )
    stylize(
        "adain",
        *[str(DATA / "content" / p) for p in PHOTOS],
        *[a for s in styles for a in ("-s", str(s))],
        "--size",
        str(args.size),
        "--style-size",
        str(args.size),
        "-o",
        str(folder),
        "--ext",
        "png",
        "--overwrite",
        *extra,
    )
    name = (args.decoder.name if args.decoder else "adain (shipped pair)") + (
        f", alpha {args.alpha:g}" if args.alpha is not None else ""
    )
    return [(name, score(folder, styles, args.out / "sheet-adain.png"))]


def fast(args: argparse.Namespace) -> list[tuple[str, dict[str, float]]]:
    rows = []
    for item in args.models:
        model, _, style_stem = item.partition("=")
        style = DATA / "style" / (style_stem if "." in style_stem else style_stem + ".jpg")
        tag = Path(model).stem
        folder = args.out / tag
        stylize(
            "fast",
            *[str(DATA / "content" / p) for p in PHOTOS],
            "-m",
            model,
            "--size",
            str(args.size),
            "-o",
            str(folder),
            "--overwrite",
            "--name",
            "{stem}_" + style.stem + ".{ext}",
            "--ext",
            "png",
        )
        rows.append((tag, score(folder, [style], args.out / f"sheet-{tag}.png")))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("method", choices=("adain", "fast"))
    parser.add_argument("models", nargs="*", help="fast: MODEL=STYLE_STEM (registry name or file)")
    parser.add_argument("--decoder", type=Path, help="adain: a decoder checkpoint instead of the shipped one")
    parser.add_argument("--alpha", type=float, help="adain: content/style trade-off (default: the decoder's own)")
    parser.add_argument("--size", type=int, default=256, help="long side of photos and styles in px")
    parser.add_argument("--out", type=Path, default=Path("/tmp/shipped-quality"))
    args = parser.parse_args()
    rows = adain(args) if args.method == "adain" else fast(args)
    print(f"held-out grid at {args.size} px (stylize eval: lower is closer)")
    photos = np.mean([lattice(p) for p in sorted((DATA / "content").glob("*.png"))])
    print(f"{'model':<32} {'style':>7} {'content':>8} {'photos own style':>17} {'style cut':>10} {'lattice':>8}")
    for name, mean in rows:
        cut = 1 - mean["style"] / mean["content_style"]
        print(
            f"{name:<32} {mean['style']:>7.4f} {mean['content']:>8.4f} {mean['content_style']:>17.4f} {cut:>10.1%}"
            f" {mean['lattice']:>8.3f}"
        )
    print(f"lattice of the photos themselves (PNG ones): {photos:.3f}")


if __name__ == "__main__":
    main()

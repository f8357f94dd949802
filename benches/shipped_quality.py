"""Score the models we ship (or a training checkpoint) on the held-out grid with `stylize eval`.

AdaIN: the 4 held-out photos of ../shared/data/content x the 4 held-out paintings of
../shared/data/style, stylized by `stylize adain` (default: the shipped pair; ``--decoder`` scores
a checkpoint). Fast: each ``NAME=STYLE`` model on the 4 photos, scored against its own painting.
Prints one row per model (mean style and content distance next to the photos' own style distance)
and writes the outputs and a contact sheet per model into ``--out``. No training image is used.

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

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
PHOTOS = ("chelsea_cat.png", "dune.jpg", "evening_glow_boats.jpg", "grey_architecture.jpg")
STYLES = ("starry_night.jpg", "great_wave.jpg", "the_scream.jpg", "composition_vii.jpg")


def stylize(*args: str) -> str:
    cmd = [sys.executable, "-m", "stylize", "--quiet", *args]
    return subprocess.run(cmd, cwd=ROOT, check=True, text=True, stdout=subprocess.PIPE).stdout


def score(folder: Path, styles: list[Path], sheet: Path) -> dict[str, float]:
    style_args = [arg for s in styles for arg in ("-s", str(s))]
    report = json.loads(stylize("eval", "-c", str(DATA / "content"), *style_args, str(folder), "--json",
                                "--sheet", str(sheet)))  # fmt: skip
    return report["mean"]


def adain(args: argparse.Namespace) -> list[tuple[str, dict[str, float]]]:
    folder = args.out / "adain"
    styles = [DATA / "style" / s for s in STYLES]
    extra = (["--decoder", str(args.decoder)] if args.decoder else []) + ["--alpha", str(args.alpha)]
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
        "--overwrite",
        *extra,
    )
    name = (args.decoder.name if args.decoder else "adain (shipped pair)") + f", alpha {args.alpha:g}"
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
        )
        rows.append((tag, score(folder, [style], args.out / f"sheet-{tag}.png")))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("method", choices=("adain", "fast"))
    parser.add_argument("models", nargs="*", help="fast: MODEL=STYLE_STEM (registry name or file)")
    parser.add_argument("--decoder", type=Path, help="adain: a decoder checkpoint instead of the shipped one")
    parser.add_argument("--alpha", type=float, default=1.0, help="adain: content/style trade-off")
    parser.add_argument("--size", type=int, default=256, help="long side of photos and styles in px")
    parser.add_argument("--out", type=Path, default=Path("/tmp/shipped-quality"))
    args = parser.parse_args()
    rows = adain(args) if args.method == "adain" else fast(args)
    print(f"held-out grid at {args.size} px (stylize eval: lower is closer)")
    print(f"{'model':<32} {'style':>7} {'content':>8} {'photos own style':>17} {'style cut':>10}")
    for name, mean in rows:
        cut = 1 - mean["style"] / mean["content_style"]
        print(f"{name:<32} {mean['style']:>7.4f} {mean['content']:>8.4f} {mean['content_style']:>17.4f} {cut:>10.1%}")


if __name__ == "__main__":
    main()

"""Rank `train-fast` settings with short runs: train, stylize the 4 held-out photos, `stylize eval`.

Each variant is a list of extra train-fast options (``--variants '--style-weight 3;--style-weight 10'``).
Every run trains on ../shared/data/train/photos for ``--iterations`` steps, then stylizes the held-out
photos of ../shared/data/content at ``--size`` and scores them against the style. Prints one row per
variant (mean style and content distance, training seconds) and leaves models, outputs and a sheet
per variant in ``--out``. Short runs rank settings; they do not show final quality.

    python benches/fast_sweep.py --style ../shared/data/style/starry_night.jpg --iterations 200 --image-size 128
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
HELD_OUT = ("chelsea_cat.png", "dune.jpg", "evening_glow_boats.jpg", "grey_architecture.jpg")


def stylize(*args: str, capture: bool = False) -> str:
    cmd = [sys.executable, "-m", "stylize", "--quiet", *args]
    done = subprocess.run(cmd, cwd=ROOT, check=True, text=True, stdout=subprocess.PIPE if capture else None)
    return done.stdout or ""


def run_variant(extra: str, args: argparse.Namespace, index: int) -> dict[str, object]:
    folder = args.out / f"v{index}"
    model = folder / "model.safetensors"
    start = time.perf_counter()
    stylize(
        "train-fast",
        str(args.style),
        "--data",
        str(DATA / "train" / "photos"),
        "-o",
        str(model),
        "--iterations",
        str(args.iterations),
        "--image-size",
        str(args.image_size),
        "--sample-every",
        "0",
        "--checkpoint-every",
        "0",
        "--overwrite",
        *shlex.split(extra),
    )
    seconds = time.perf_counter() - start
    photos = [str(DATA / "content" / name) for name in HELD_OUT]
    stylize(
        "fast",
        *photos,
        "-m",
        str(model),
        "--size",
        str(args.size),
        "-o",
        str(folder / "out"),
        "--overwrite",
        "--name",
        "{stem}_" + args.style.stem + ".{ext}",
    )
    report = json.loads(
        stylize(
            "eval",
            "-c",
            str(DATA / "content"),
            "-s",
            str(args.style),
            str(folder / "out"),
            "--json",
            "--sheet",
            str(args.out / f"sheet-v{index}.png"),
            capture=True,
        )
    )
    return {
        "variant": extra,
        "style": report["mean"]["style"],
        "content": report["mean"]["content"],
        "content_style": report["mean"]["content_style"],
        "train_s": seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--style", type=Path, default=DATA / "style" / "starry_night.jpg")
    parser.add_argument("--variants", default="--style-weight 10;--style-weight 3")
    parser.add_argument("--iterations", type=int, default=200)
    parser.add_argument("--image-size", type=int, default=128)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--out", type=Path, default=Path("/tmp/fast-sweep"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    print(f"{args.style.name}: {args.iterations} steps at {args.image_size} px, held-out photos at {args.size} px")
    print(f"{'variant':<36} {'style':>7} {'content':>8} {'train s':>8}")
    for index, extra in enumerate(args.variants.split(";")):
        row = run_variant(extra, args, index)
        print(f"{extra:<36} {row['style']:>7.4f} {row['content']:>8.4f} {row['train_s']:>8.0f}", flush=True)
        with open(args.out / "results.jsonl", "a") as fh:
            fh.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()

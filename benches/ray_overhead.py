"""``--ray`` against a plain run: the same 64-photo folder, 512 px, on this machine.

Each variant runs as a fresh command (``--overwrite``, so nothing is skipped), alternating plain and
--ray, --repeat times. Columns: the whole command's wall time (for --ray: starting a local Ray
runtime, the actors loading the model, the work), the batch's own time (the report's
``elapsed_s``: from the first chunk handed out to the last merged) and images/s over it. The
overhead of Ray is the batch time's ratio to the plain run's; the runtime start is reported
apart (a cluster that is already up does not pay it). The photos are the content images of
../shared/data cropped and resized to 512 px, cycled to 64.

    flock /tmp/stylize-bench.lock .venv/bin/python benches/ray_overhead.py [--repeat 3] [--method fast]
Prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
DATA = next((p / "shared" / "data" for p in ROOT.parents[:2] if (p / "shared" / "data").is_dir()), Path("data"))
STYLE = DATA / "style" / "great_wave.jpg"


def make_folder(folder: Path, count: int, size: int) -> None:
    photos = sorted((DATA / "content").glob("*.*"))
    if not photos:
        sys.exit(f"no photos in {DATA / 'content'}")
    folder.mkdir(parents=True)
    for i in range(count):
        with Image.open(photos[i % len(photos)]) as img:
            rgb = img.convert("RGB")
            side = min(rgb.size)
            box = (
                (rgb.width - side) // 2 + i % 7,
                (rgb.height - side) // 2,
                (rgb.width + side) // 2,
                (rgb.height + side) // 2,
            )
            rgb.crop(box).resize((size, size)).save(folder / f"p{i:03}.jpg", quality=95)


def run(method: str, folder: Path, out: Path, ray: bool) -> tuple[float, float]:
    command = [sys.executable, "-m", "stylize", "--quiet", method, str(folder), "-o", str(out), "--overwrite", "--json"]
    command += ["-s", str(STYLE)] if method == "adain" else []
    command += ["--ray"] if ray else []
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"{' '.join(command)} exited {done.returncode}: {done.stderr[-2000:]}")
    return wall, json.loads(done.stdout)["elapsed_s"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--count", type=int, default=64)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--method", choices=("fast", "adain"), default="fast")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "in"
        make_folder(folder, args.count, args.size)
        run(args.method, folder, Path(tmp) / "warm", False)  # page cache and the weights cache
        times: dict[bool, list[tuple[float, float]]] = {False: [], True: []}
        for _ in range(args.repeat):
            for ray in (False, True):
                times[ray].append(run(args.method, folder, Path(tmp) / ("ray" if ray else "plain"), ray))
    plain_batch = statistics.median(b for _, b in times[False])
    print(
        f"`stylize {args.method}`, {args.count} photos at {args.size} px; {platform.node()}, {time.strftime('%Y-%m-%d')}"
    )
    print(f"medians of {args.repeat} runs, alternating\n")
    print("| run | command wall s | batch s | images/s | batch ÷ plain | every run (wall / batch s) |")
    print("|---|---|---|---|---|---|")
    for ray, label in ((False, "plain"), (True, "--ray (local runtime)")):
        wall = statistics.median(w for w, _ in times[ray])
        batch = statistics.median(b for _, b in times[ray])
        runs = " ".join(f"{w:.1f}/{b:.1f}" for w, b in times[ray])
        print(f"| {label} | {wall:.1f} | {batch:.1f} | {args.count / batch:.2f} | {batch / plain_batch:.2f} | {runs} |")


if __name__ == "__main__":
    main()

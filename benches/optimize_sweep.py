"""Sweep `stylize optimize` settings on real features and score every output with `stylize eval`.

The held-out grid: 4 photos of ../shared/data/content x 4 paintings of ../shared/data/style
(``--pairs diag`` takes the 4 pairs on the diagonal). Each variant is a set of OptimizeConfig
overrides (``--variants 'style_weight=100;style_weight=30,tv_weight=0'``). Prints, per variant,
the mean style distance, content distance and seconds per image, and writes every image plus a
contact sheet into ``--out``. One loss network serves every run (the variants' layers must agree).

    python benches/optimize_sweep.py --size 256 --pairs diag --variants 'style_weight=1000;style_weight=100'
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import time
from pathlib import Path

import torch

from stylize import images
from stylize.backends.evaluate import EvalItem, QualityMeter, eval_sheet, evaluate_items
from stylize.backends.optimize import OptimizeModel, StyleImage, load_loss_net
from stylize.config import OptimizeConfig
from stylize.progress import NullReporter
from stylize.sheet import save_sheet

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
CONTENTS = ("chelsea_cat.png", "dune.jpg", "evening_glow_boats.jpg", "grey_architecture.jpg")
STYLES = ("starry_night.jpg", "great_wave.jpg", "the_scream.jpg", "composition_vii.jpg")


def grid(kind: str) -> list[tuple[Path, Path]]:
    contents = [DATA / "content" / c for c in CONTENTS]
    styles = [DATA / "style" / s for s in STYLES]
    if kind == "diag":
        return list(zip(contents, styles))
    return [(c, s) for c in contents for s in styles]


def parse_variant(text: str) -> dict[str, object]:
    """``style_weight=100,tv_weight=0`` -> overrides, typed like the config's defaults."""
    defaults = OptimizeConfig()
    overrides: dict[str, object] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, _, value = part.partition("=")
        current = getattr(defaults, key)
        overrides[key] = tuple(value.split("+")) if isinstance(current, tuple) else type(current)(value)
    return overrides


def run_variant(
    name: str, overrides: dict[str, object], pairs: list[tuple[Path, Path]], size: int, out: Path, meter: QualityMeter
) -> dict[str, object]:
    config = dataclasses.replace(OptimizeConfig(), size=size, **overrides)
    layers = [*config.content_layers, *config.style_layers]
    model = OptimizeModel(load_loss_net(config.vgg, layers, config.pooling), config, torch.device("cpu"))
    items, seconds = [], []
    for content, style in pairs:
        picture = images.resize_long_side(images.open_image(content).rgb, size)
        start = time.perf_counter()
        result = model.stylize(picture, [StyleImage(images.open_image(style).rgb)], seed=0)
        seconds.append(time.perf_counter() - start)
        path = out / name / f"{content.stem}_{style.stem}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        images.to_pil(result.image).save(path)
        items.append(EvalItem(path, content, style))
    rows = evaluate_items(meter, items, NullReporter())
    save_sheet(eval_sheet(rows), out / f"sheet-{name}.png")
    return {
        "variant": name,
        "size": size,
        "pairs": len(pairs),
        "style": statistics.mean(r.scores.style for r in rows),
        "content": statistics.mean(r.scores.content for r in rows),
        "content_style": statistics.mean(r.baseline_style for r in rows),
        "s_per_image": statistics.median(seconds),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--pairs", choices=("diag", "all"), default="diag")
    parser.add_argument("--variants", default="style_weight=1000;style_weight=100")
    parser.add_argument("--out", type=Path, default=Path("/tmp/optimize-sweep"))
    args = parser.parse_args()
    pairs, meter = grid(args.pairs), QualityMeter()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {len(pairs)} pairs at {args.size} px")
    print(f"{'variant':<44} {'style':>7} {'content':>8} {'s/img':>7}")
    for text in args.variants.split(";"):
        name = text.replace(",", "_").replace("=", "") or "defaults"
        row = run_variant(name, parse_variant(text), pairs, args.size, args.out, meter)
        print(
            f"{text or 'defaults':<44} {row['style']:>7.4f} {row['content']:>8.4f} {row['s_per_image']:>7.1f}",
            flush=True,
        )
        with open(args.out / "results.jsonl", "a") as fh:
            fh.write(json.dumps({"overrides": text, **row}) + "\n")


if __name__ == "__main__":
    main()

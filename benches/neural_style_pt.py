"""Side by side with neural-style-pt (ProGamerGov), both on the same real VGG-19 weights.

neural-style-pt is not part of this repository: fetch it, put its ``neural_style.py`` and
``CaffeLoader.py`` in a folder (``--ref``, default /tmp/nspt) and this script runs it from there.
It reads ``-model_file`` in torchvision's ``features.N`` layout with Caffe preprocessing (BGR,
0-255, mean subtracted) — the raw bundled VGG-19, which this script writes out for it.

Sections:
  default    each tool's default run on one pair at 512 px (neural-style-pt: 1,000 L-BFGS
             iterations from noise; ours: `stylize optimize` defaults): wall clock, then style and
             content distance by `stylize eval`, and a side-by-side sheet
  iteration  seconds per L-BFGS iteration at 256 px, single scale, whole commands: the difference
             between runs of --short and --long iterations divided by the difference (start-up
             cancels), median of --repeat, the two tools interleaved

    python benches/neural_style_pt.py --sections iteration --repeat 3
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
CONTENT = DATA / "content" / "chelsea_cat.png"
STYLE = DATA / "style" / "starry_night.jpg"
TORCHVISION_CONVS = (0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34)


def export_weights(folder: Path) -> Path:
    """The raw bundled VGG-19 as ``features.N.weight/bias`` (the name must contain 'vgg' and '19')."""
    from stylize import weights
    from stylize.checkpoints import load_tensors
    from stylize.models.caffe_vgg import CONV_INDICES

    path = folder / "models" / "vgg19-stylize-caffe.pth"
    if not path.is_file():
        state, _ = load_tensors(weights.ensure("vgg19-caffe"))
        out = {}
        for ours, theirs in zip(CONV_INDICES, TORCHVISION_CONVS):
            out[f"features.{theirs}.weight"] = state[f"{ours}.weight"]
            out[f"features.{theirs}.bias"] = state[f"{ours}.bias"]
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(out, path)
    return path


def run_ref(ref: Path, model: Path, out: Path, size: int, iterations: int, init: str = "random") -> float:
    cmd = [
        sys.executable,
        "neural_style.py",
        "-gpu",
        "c",
        "-backend",
        "mkl",
        "-disable_check",
        "-model_file",
        str(model),
        "-content_image",
        str(CONTENT),
        "-style_image",
        str(STYLE),
        "-image_size",
        str(size),
        "-num_iterations",
        str(iterations),
        "-init",
        init,
        "-print_iter",
        "0",
        "-save_iter",
        "0",
        "-output_image",
        str(out),
        "-seed",
        "0",
    ]
    return _timed(cmd, ref)


def run_ours(out: Path, size: int, extra: list[str]) -> float:
    cmd = [
        sys.executable,
        "-m",
        "stylize",
        "--quiet",
        "optimize",
        str(CONTENT),
        str(STYLE),
        "--size",
        str(size),
        "-o",
        str(out),
        "--overwrite",
        "--seed",
        "0",
        *extra,
    ]
    return _timed(cmd, ROOT)


def _timed(cmd: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return time.perf_counter() - start


def section_default(ref: Path, model: Path, work: Path) -> None:
    ref_out, ours_out = work / "chelsea_cat_neural-style-pt.png", work / "chelsea_cat_stylize.png"
    t_ours = run_ours(ours_out, 512, [])
    t_ref = run_ref(ref, model, ref_out, 512, 1000)
    report = subprocess.run(
        [
            sys.executable,
            "-m",
            "stylize",
            "--quiet",
            "eval",
            "-c",
            str(CONTENT),
            "-s",
            str(STYLE),
            str(ref_out),
            str(ours_out),
            "--json",
            "--sheet",
            str(work / "side-by-side.jpg"),
        ],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    scores = {Path(r["output"]).name: r for r in json.loads(report)["outputs"]}
    print("| run | wall clock | style distance | content distance |\n|---|---|---|---|")
    for name, seconds in ((ref_out.name, t_ref), (ours_out.name, t_ours)):
        row = scores[name]
        print(f"| {name} | {seconds:.0f} s | {row['style_distance']:.4f} | {row['content_distance']:.4f} |")
    print(f"ours / reference wall clock: {t_ours / t_ref:.2f}; sheet: {work / 'side-by-side.jpg'}")


def section_iteration(ref: Path, model: Path, work: Path, short: int, long: int, repeat: int) -> None:
    per: dict[str, list[float]] = {"neural-style-pt": [], "stylize": []}
    for _ in range(repeat):
        r = [run_ref(ref, model, work / "r.png", 256, n, "image") for n in (short, long)]
        o = [run_ours(work / "o.png", 256, ["--scales", "1", "--iterations", str(n)]) for n in (short, long)]
        per["neural-style-pt"].append((r[1] - r[0]) / (long - short))
        per["stylize"].append((o[1] - o[0]) / (long - short))
    ref_s, ours_s = statistics.median(per["neural-style-pt"]), statistics.median(per["stylize"])
    print(
        f"| 256² single scale, s/iteration | neural-style-pt {ref_s:.3f} | stylize {ours_s:.3f} | "
        f"ratio {ours_s / ref_s:.2f}× |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ref", type=Path, default=Path("/tmp/nspt"))
    parser.add_argument("--work", type=Path, default=Path("/tmp/nspt-work"))
    parser.add_argument("--sections", default="iteration,default")
    parser.add_argument("--short", type=int, default=10)
    parser.add_argument("--long", type=int, default=40)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    model = export_weights(args.ref)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; reference at {args.ref}")
    if "iteration" in args.sections:
        section_iteration(args.ref, model, args.work, args.short, args.long, args.repeat)
    if "default" in args.sections:
        section_default(args.ref, model, args.work)


if __name__ == "__main__":
    main()

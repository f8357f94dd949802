"""AdaIN speed and memory, ours against a faithful copy of the common reference implementation.

Random weights in the published layouts (timing does not depend on weight values). Prints
markdown tables; medians of --repeat runs. Sections:
  compute   one content+style pair, compute only, 512^2 and 1024^2: reference vs ours fp32/bf16
  quality   bf16 vs fp32 output difference (0-255 scale)
  folder    50 JPEGs of 512^2 with one style, images/s end to end (decode, stylize, palette, encode;
            and without the palette)
  cold      the whole command for one 512^2 image, as a fresh process
  memory    peak RSS of a 1024^2 run and (with --huge) a 6000x4000 run with tiling
  roofline  FLOPs of one 512^2 image (encoder, decoder, style), this CPU's fp32 and bf16 convolution
            throughput on one large conv, and how close the model and the whole folder path come
  allocator the model on one 512^2 image with glibc's default allocator and with tune_host_allocator
            (what every command on a CPU runs with), each in fresh processes, alternated

    python benches/adain.py [--repeat 3] [--huge] [--sections compute,quality,folder,cold,memory]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from stylize.devices import effective_precision, tune_host_allocator
from stylize.models.adain_net import AdaINDecoder
from stylize.models.vgg import NormalisedVGG19

# ---------------------------------------------------------------- the reference (naoto0804/pytorch-AdaIN style)


def ref_calc_mean_std(feat: torch.Tensor, eps: float = 1e-5) -> tuple[torch.Tensor, torch.Tensor]:
    n, c = feat.size()[:2]
    feat_var = feat.view(n, c, -1).var(dim=2) + eps
    return feat_var.sqrt().view(n, c, 1, 1), feat.view(n, c, -1).mean(dim=2).view(n, c, 1, 1)


def ref_adain(content: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
    size = content.size()
    s_std, s_mean = ref_calc_mean_std(style)
    c_std, c_mean = ref_calc_mean_std(content)
    normalized = (content - c_mean.expand(size)) / c_std.expand(size)
    return normalized * s_std.expand(size) + s_mean.expand(size)


def ref_nets(enc_state: dict, dec_state: dict) -> tuple[nn.Sequential, nn.Sequential]:
    """The reference builds plain Sequentials with non-inplace ReLUs and NCHW tensors."""
    vgg = nn.Sequential(*[nn.ReLU() if isinstance(m, nn.ReLU) else m for m in NormalisedVGG19()])
    vgg.load_state_dict(enc_state)
    dec = nn.Sequential(*[nn.ReLU() if isinstance(m, nn.ReLU) else m for m in AdaINDecoder()])
    dec.load_state_dict(dec_state)
    return nn.Sequential(*list(vgg.children())[:31]).eval(), dec.eval()


def ref_style_transfer(vgg: nn.Module, dec: nn.Module, content: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return dec(ref_adain(vgg(content), vgg(style)))


# ---------------------------------------------------------------- helpers


def median_time(fn: Callable[[], object], repeat: int, warmup: int = 1) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def smooth_image(h: int, w: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    low = torch.rand(1, 3, max(1, h // 16), max(1, w // 16), generator=g)
    return F.interpolate(low, size=(h, w), mode="bilinear", align_corners=False)


def save_jpeg(t: torch.Tensor, path: Path) -> None:
    arr = (t[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    Image.fromarray(arr).save(path, quality=92)


def _he_init(net: nn.Module) -> nn.Module:
    """He init keeps activations alive through the random layers, so outputs are not flat."""
    for m in net.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
            nn.init.zeros_(m.bias)
    return net


def write_weights(folder: Path) -> tuple[Path, Path]:
    torch.manual_seed(0)
    enc, dec = folder / "vgg_normalised.pth", folder / "decoder.pth"
    decoder = _he_init(AdaINDecoder())
    with torch.no_grad():
        decoder[-1].weight.mul_(0.1)  # keep the random output mostly inside [0, 1]
        decoder[-1].bias.fill_(0.5)
    torch.save(_he_init(NormalisedVGG19()).state_dict(), enc)
    torch.save(decoder.state_dict(), dec)
    return enc, dec


def ours(enc: Path, dec: Path, precision: str, fused: bool = True):
    from stylize.backends.adain import AdaINModel, load_decoder, load_encoder

    return AdaINModel(load_encoder(str(enc)), load_decoder(str(dec)), torch.device("cpu"), precision, fused)


# ---------------------------------------------------------------- sections


def section_compute(enc: Path, dec: Path, repeat: int) -> None:
    vgg, rdec = ref_nets(torch.load(enc, weights_only=True), torch.load(dec, weights_only=True))
    variants = {
        f"ours {p}{' unfused' if not f else ''}": ours(enc, dec, p, f) for p in ("fp32", "bf16") for f in (False, True)
    }
    print(f"\n### compute only, one content + style pair (s, median of {repeat}; speed-up vs reference)\n")
    print("| size | reference fp32 | " + " | ".join(variants) + " |")
    print("|---|---|" + "---|" * len(variants))
    for side in (512, 1024):
        c, s = smooth_image(side, side, 1), smooth_image(side, side, 2)
        t_ref = median_time(lambda c=c, s=s: ref_style_transfer(vgg, rdec, c, s), repeat)
        cells = []
        for m in variants.values():
            t = median_time(lambda m=m, c=c, s=s: m.stylize(c, [m.style_target(s)], None, 1.0), repeat)
            cells.append(f"{t:.2f} ({t_ref / t:.2f}×)")
        print(f"| {side}² | {t_ref:.2f} | " + " | ".join(cells) + " |")


def section_quality(enc: Path, dec: Path) -> None:
    fp32, bf16 = ours(enc, dec, "fp32"), ours(enc, dec, "bf16")
    c, s = smooth_image(512, 512, 1), smooth_image(512, 512, 2)
    a = fp32.stylize(c, [fp32.style_target(s)], None, 1.0).clamp(0, 1) * 255
    b = bf16.stylize(c, [bf16.style_target(s)], None, 1.0).clamp(0, 1) * 255
    diff = (a.round() - b.round()).abs()
    print("\n### bf16 vs fp32 output, 512² (0-255 scale, random weights)\n")
    print(
        f"max |diff| {diff.max():.1f}, mean |diff| {diff.mean():.2f}, "
        f"pixels differing by > 2: {(diff > 2).float().mean() * 100:.2f}%"
    )


def _reference_folder(vgg: nn.Module, rdec: nn.Module, files: list[Path], style: Path, out: Path) -> None:
    """The reference's test.py loop: per image, load both, resize, encode both, decode, save."""
    for f in files:
        c = _ref_load(f)
        s = _ref_load(style)
        y = ref_style_transfer(vgg, rdec, c, s).clamp(0, 1)
        save_jpeg(y, out / f.name)


def _ref_load(path: Path) -> torch.Tensor:
    img = Image.open(path).convert("RGB")
    w, h = img.size
    scale = 512 / min(w, h)
    img = img.resize((round(w * scale), round(h * scale)), Image.Resampling.BILINEAR)
    return torch.from_numpy(np.asarray(img).copy()).permute(2, 0, 1)[None].float() / 255


def section_folder(enc: Path, dec: Path, work: Path, repeat: int, count: int = 50) -> None:
    from stylize import api
    from stylize.batch import BatchOptions
    from stylize.config import AdaINConfig

    src = work / "folder"
    src.mkdir(exist_ok=True)
    files = []
    for i in range(count):
        files.append(src / f"img{i:03d}.jpg")
        save_jpeg(smooth_image(512, 512, 100 + i), files[-1])
    style = work / "style.jpg"
    save_jpeg(smooth_image(512, 512, 7), style)
    vgg, rdec = ref_nets(torch.load(enc, weights_only=True), torch.load(dec, weights_only=True))
    rows = []
    variants = (
        ("ours fp32", "fp32", None),
        ("ours bf16 (auto)", "bf16", None),
        ("ours bf16, --palette 0", "bf16", 0.0),
    )
    for label, precision, palette in variants:  # the reference has no palette step: --palette 0 is its like
        config = AdaINConfig(encoder=str(enc), decoder=str(dec), precision=precision, palette=palette)

        def run_ours(config: AdaINConfig = config) -> None:
            out = Path(tempfile.mkdtemp(dir=work))
            api.adain([str(src)], [str(style)], config, BatchOptions(output=out, overwrite=True))

        rows.append((label, median_time(run_ours, max(1, repeat - 1), warmup=0)))
    out_ref = Path(tempfile.mkdtemp(dir=work))
    t_ref = median_time(lambda: _reference_folder(vgg, rdec, files, style, out_ref), max(1, repeat - 1), warmup=0)
    print(
        f"\n### folder of {count} JPEGs, 512², one style (images/s, end to end in-process, median of "
        f"{max(1, repeat - 1)})\n"
    )
    print("| implementation | images/s | vs reference |")
    print("|---|---|---|")
    print(f"| reference fp32 | {count / t_ref:.2f} | 1.00× |")
    for label, t in rows:
        print(f"| {label} | {count / t:.2f} | {t_ref / t:.2f}× |")


def _cold(cmd: list[str], repeat: int) -> float:
    env = {**os.environ, "STYLIZE_OFFLINE": "1"}
    return median_time(lambda: subprocess.run(cmd, check=True, env=env, capture_output=True), repeat, warmup=1)


def section_cold(enc: Path, dec: Path, work: Path, repeat: int) -> None:
    c, s = work / "c.jpg", work / "s.jpg"
    save_jpeg(smooth_image(512, 512, 1), c)
    save_jpeg(smooth_image(512, 512, 2), s)
    exe = [
        sys.executable,
        "-m",
        "stylize",
        "--quiet",
        "adain",
        str(c),
        str(s),
        "--encoder",
        str(enc),
        "--decoder",
        str(dec),
        "-o",
        str(work / "cold.jpg"),
        "--overwrite",
    ]
    t_torch = _cold([sys.executable, "-c", "import torch"], repeat)
    t_help = _cold([sys.executable, "-m", "stylize", "--help"], repeat)
    t_cmd = _cold(exe, repeat)
    t_cmd32 = _cold(exe + ["--precision", "fp32"], repeat)
    print(f"\n### whole command, one 512² image, fresh process (s, median of {repeat})\n")
    print("| what | seconds |")
    print("|---|---|")
    print(f"| python -c 'import torch' (the floor) | {t_torch:.2f} |")
    print(f"| stylize --help | {t_help:.2f} |")
    auto = effective_precision("auto", torch.device("cpu"))
    print(f"| stylize adain c.jpg s.jpg (auto = {auto} here) | {t_cmd:.2f} |")
    print(f"| stylize adain c.jpg s.jpg --precision fp32 | {t_cmd32:.2f} |")


def _peak_rss(cmd: list[str]) -> tuple[float, float]:
    code = (
        "import resource, subprocess, sys, time; t = time.perf_counter(); "
        "subprocess.run(sys.argv[1:], check=True, capture_output=True); "
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, time.perf_counter() - t)"
    )
    out = subprocess.run([sys.executable, "-c", code, *cmd], check=True, capture_output=True, text=True)
    kib, secs = out.stdout.split()
    return int(kib) / 1024**2, float(secs)


def section_memory(enc: Path, dec: Path, work: Path, huge: bool) -> None:
    base = [
        sys.executable,
        "-m",
        "stylize",
        "--quiet",
        "adain",
        "--encoder",
        str(enc),
        "--decoder",
        str(dec),
        "--overwrite",
        "--size",
        "0",
    ]
    print("\n### peak RSS of the whole command (GiB)\n")
    print("| image | precision | tiling | peak RSS | seconds |")
    print("|---|---|---|---|---|")
    c = work / "c1024.jpg"
    save_jpeg(smooth_image(1024, 1024, 1), c)
    for precision in ("fp32", "bf16"):
        rss, secs = _peak_rss(base + [str(c), str(c), "--precision", precision, "-o", str(work / "m.jpg")])
        print(f"| 1024² | {precision} | none | {rss:.2f} | {secs:.1f} |")
    if huge:
        big = work / "big.jpg"
        save_jpeg(smooth_image(4000, 6000, 3), big)
        rss, secs = _peak_rss(
            base + [str(big), str(c), "--style-size", "512", "--tile", "1024", "-o", str(work / "big_out.jpg")]
        )
        print(f"| 6000×4000 | auto | --tile 1024 | {rss:.2f} | {secs:.1f} |")


def _conv_peak(repeat: int, precision: str) -> float:
    """GFLOP/s of one large 3x3 conv (256 -> 256 channels, 128^2, batch 1) in ``precision``: this CPU's practical peak."""
    conv = nn.Conv2d(256, 256, 3, padding=1).to(memory_format=torch.channels_last)
    x = torch.randn(1, 256, 128, 128).to(memory_format=torch.channels_last)
    flops = 2 * 256 * 256 * 9 * 128 * 128
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
        seconds = median_time(lambda: conv(x), repeat, warmup=2)
    return flops / seconds / 1e9


def section_roofline(enc: Path, dec: Path, work: Path, repeat: int) -> None:
    from torch.utils.flop_counter import FlopCounterMode

    precision = effective_precision("auto", torch.device("cpu"))  # what the command runs in here
    tune_host_allocator()  # as the command does on a CPU (backends.stylizer.start); process-wide from here
    model = ours(enc, dec, precision)
    c, s = smooth_image(512, 512, 1), smooth_image(512, 512, 2)
    target = model.style_target(s)
    with FlopCounterMode(display=False) as counter:
        model.style_target(s)
    style_flops = counter.get_total_flops()
    with FlopCounterMode(display=False) as counter:
        model.stylize(c, [target], None, 1.0)
    image_flops = counter.get_total_flops()
    peaks = {p: _conv_peak(repeat, p) for p in ("fp32", "bf16")}
    peak = peaks[precision]
    model_s = median_time(lambda: model.stylize(c, [target], None, 1.0), repeat)
    files = []
    for i in range(20):
        files.append(work / "roof" / f"{i:02}.jpg")
        files[-1].parent.mkdir(exist_ok=True)
        save_jpeg(smooth_image(512, 512, 10 + i), files[-1])
    style_file = work / "roof_style.jpg"
    save_jpeg(s, style_file)
    cmd = [sys.executable, "-m", "stylize", "--quiet", "adain", str(work / "roof"), "-s", str(style_file)]
    cmd += ["--encoder", str(enc), "--decoder", str(dec), "-o", str(work / "roof_out"), "--overwrite"]
    folder_s = statistics.median(_folder_time(cmd) for _ in range(repeat)) / len(files)
    gflop = image_flops / 1e9
    print(f"\n### roofline: one 512² content image (style encoded once: {style_flops / 1e9:.1f} GFLOP)\n")
    print("| | GFLOP/image | s/image | GFLOP/s | of the conv peak |")
    print("|---|---|---|---|---|")
    for p, rate in peaks.items():
        mark = " (peak: --precision auto runs this here)" if p == precision else ""
        print(f"| one 256→256 3×3 conv, 128², {p}{mark} | | | {rate:.0f} | {rate / peak:.0%} |")
    print(
        f"| model only (encode, AdaIN, decode), {precision} | {gflop:.1f} | {model_s:.3f} | {gflop / model_s:.0f} | {gflop / model_s / peak:.0%} |"
    )
    print(
        f"| folder of 20 JPEGs, end to end (per image), {precision} | {gflop:.1f} | {folder_s:.3f} | {gflop / folder_s:.0f} | {gflop / folder_s / peak:.0%} |"
    )
    print(
        f"\nmodel share of the folder's time per image: {model_s / folder_s:.0%} (the rest: decode, resize, encode, write)"
    )


def _model_time(enc: Path, dec: Path, repeat: int, tuned: bool) -> float:
    """Median seconds of the model (encode, AdaIN, decode) on one 512² image, in this process."""
    if tuned:
        tune_host_allocator()
    model = ours(enc, dec, effective_precision("auto", torch.device("cpu")))
    c = smooth_image(512, 512, 1)
    target = model.style_target(smooth_image(512, 512, 2))
    return median_time(lambda: model.stylize(c, [target], None, 1.0), repeat, warmup=2)


def section_allocator(enc: Path, dec: Path, repeat: int, rounds: int = 3) -> None:
    """glibc's mallopt is process-wide and cannot be undone: each variant runs in a fresh process."""
    times: dict[bool, list[float]] = {False: [], True: []}
    for _ in range(rounds):
        for tuned in (False, True):
            cmd = [sys.executable, __file__, "--model-time", str(enc), str(dec), str(repeat), str(int(tuned))]
            times[tuned].append(float(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout))
    print(f"\n### the host allocator: the model on one 512² image, {rounds} processes each, alternated\n")
    print("| allocator | s/image (median of the processes' medians) | each process |\n|---|---:|---|")
    for tuned, label in ((False, "glibc defaults"), (True, "tune_host_allocator (what the commands run with)")):
        print(f"| {label} | {statistics.median(times[tuned]):.3f} | {', '.join(f'{t:.3f}' for t in times[tuned])} |")


def _folder_time(cmd: list[str]) -> float:
    """The batch's own time (the JSON report's elapsed_s: after the model loaded)."""
    import json

    done = subprocess.run([*cmd, "--json"], capture_output=True, text=True, check=True)
    return json.loads(done.stdout)["elapsed_s"]


def main() -> None:
    if sys.argv[1:2] == ["--model-time"]:  # section_allocator's child process
        enc, dec, repeat, tuned = sys.argv[2:6]
        return print(_model_time(Path(enc), Path(dec), int(repeat), tuned == "1"))
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--huge", action="store_true", help="also run 6000x4000 with --tile")
    parser.add_argument("--sections", default="compute,quality,folder,cold,memory")
    parser.add_argument("--folder-count", type=int, default=50, help="images in the folder section")
    args = parser.parse_args()
    sections = args.sections.split(",")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, load average {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        enc, dec = write_weights(work)
        if "compute" in sections:
            section_compute(enc, dec, args.repeat)
        if "quality" in sections:
            section_quality(enc, dec)
        if "folder" in sections:
            section_folder(enc, dec, work, args.repeat, args.folder_count)
        if "cold" in sections:
            section_cold(enc, dec, work, args.repeat)
        if "memory" in sections:
            section_memory(enc, dec, work, args.huge)
        if "roofline" in sections:
            section_roofline(enc, dec, work, args.repeat)
        if "allocator" in sections:
            section_allocator(enc, dec, args.repeat)
    print(f"\nload average at the end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()

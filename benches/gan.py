"""GAN sampling speed: samples/s of the shipped generator, and the whole command cold.

Sections:
  throughput  samples/s at batch 256 on the CPU (and each CUDA GPU when present): the forward
              pass alone, and end to end from seeds (per-seed latents drawn on the CPU)
  cold        ``stylize gan-sample -n 64 --grid`` as a fresh process (target: <= 3 s on CPU),
              beside ``python -c "import torch"`` for scale

    flock /tmp/stylize-bench.lock .venv/bin/python benches/gan.py [--model fashion-mnist] [--repeat 5]
Prints markdown tables (medians of --repeat runs).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from stylize.backends.gan import Sampler, load_generator

BATCH = 256
WIRED_CHECK = "--style-mix"  # present in the real gan-sample's --help, absent from the placeholder


def median_time(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def throughput(model: str, device: torch.device, repeat: int, count: int) -> tuple[float, float]:
    """(forward-only samples/s, end-to-end samples/s from seeds) at batch 256."""
    sampler = Sampler(load_generator(model), device, batch_size=BATCH)
    drawn = sampler.inputs(range(count))
    labels = sampler.one_hot(drawn.classes)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)

    def forward() -> None:
        sampler.render(drawn.z, labels, drawn.noise)
        sync()

    def from_seeds() -> None:
        sampler.images(range(count))
        sync()

    forward()  # warm-up (kernel selection, allocator)
    return count / median_time(forward, repeat), count / median_time(from_seeds, repeat)


def command() -> list[str]:
    """The real console script when gan-sample is wired into it, else the same app with our module imported."""
    script = shutil.which("stylize", path=str(Path(sys.executable).parent))
    if script:
        help_text = subprocess.run([script, "gan-sample", "--help"], check=False, capture_output=True, text=True).stdout
        if WIRED_CHECK in help_text:
            return [script]
    code = "import stylize.cli, stylize.cli.gan_cmd; stylize.cli.main()"
    return [sys.executable, "-c", code]


def cold(model: str, repeat: int) -> tuple[float, float, str]:
    """(median seconds of the whole command, of 'import torch', how it was run)."""
    cmd = command()
    env = {**os.environ, "STYLIZE_OFFLINE": "1"}
    with tempfile.TemporaryDirectory() as tmp:
        args = [*cmd, "-q", "--device", "cpu", "gan-sample", model, "-n", "64", "--grid", "-o", f"{tmp}/grid.png"]
        run = lambda: subprocess.run(args, check=True, capture_output=True, env=env)
        run()  # page cache warm: "cold" means a fresh process, not a cold disk
        total = median_time(run, repeat)
    torch_only = median_time(lambda: subprocess.run([sys.executable, "-c", "import torch"], check=True), repeat)
    how = "stylize" if len(cmd) == 1 else "python -c 'import stylize.cli.gan_cmd; main()' (gan-sample not wired yet)"
    return total, torch_only, how


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="fashion-mnist")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--count", type=int, default=4 * BATCH, help="samples per timing")
    parser.add_argument("--sections", default="throughput,cold")
    args = parser.parse_args()
    sections = set(args.sections.split(","))
    info = load_generator(args.model).info
    print(
        f"model: {args.model} ({info.kind}, {info.image_size}px x{info.channels}); torch {torch.__version__}, "
        f"{torch.get_num_threads()} CPU threads\n"
    )
    if "throughput" in sections:
        print("| device | batch | forward samples/s | from seeds samples/s |")
        print("|---|---|---|---|")
        devices = [torch.device("cpu")] + [torch.device("cuda", i) for i in range(torch.cuda.device_count())]
        for device in devices:
            fwd, seeds = throughput(args.model, device, args.repeat, args.count)
            name = device.type if device.type == "cpu" else torch.cuda.get_device_name(device)
            print(f"| {name} | {BATCH} | {fwd:,.0f} | {seeds:,.0f} |", flush=True)
        print()
    if "cold" in sections:
        total, torch_only, how = cold(args.model, args.repeat)
        print("| command (fresh process, CPU) | seconds |")
        print("|---|---|")
        print(f"| `stylize gan-sample -n 64 --grid` via {how} | {total:.2f} |")
        print(f"| `python -c 'import torch'` alone | {torch_only:.2f} |")


if __name__ == "__main__":
    main()

"""train-adain step speed on this machine: float32 NCHW against bf16 autocast + channels_last.

One step = encode content and style (no grad), AdaIN, decode, re-encode with grad, backward, Adam,
exactly as ``AdaINTrainer._step``. In-memory batches (data loading is measured by whole runs).
Prints a table of median seconds per step and images/s, variants interleaved in one process.

    python benches/adain_train.py [--crops 256,128] [--batch 8] [--repeat 3]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from stylize.config import DEFAULT_VGG
from stylize.devices import autocast, tune_host_allocator
from stylize.progress import NullReporter
from stylize.training.adain import adain_losses, build_decoder, load_encoder


def make_step(precision: str, crop: int, batch: int):
    channels_last = precision != "fp32"
    device = torch.device("cpu")
    encoder = load_encoder(DEFAULT_VGG, device, NullReporter(), channels_last)
    decoder = build_decoder(None, device, channels_last)
    optimizer = torch.optim.Adam(decoder.parameters(), lr=1e-4)
    generator = torch.Generator().manual_seed(0)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    content = torch.rand(batch, 3, crop, crop, generator=generator).contiguous(memory_format=fmt)
    style = torch.rand(batch, 3, crop, crop, generator=generator).contiguous(memory_format=fmt)

    def step() -> None:
        with autocast(device, precision):
            losses = adain_losses(encoder, decoder, content, style)
            total = losses["content"] + 10 * losses["style"]
        optimizer.zero_grad(set_to_none=True)
        total.backward()
        optimizer.step()

    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--crops", default="256,128")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--glibc-defaults", action="store_true", help="skip tune_host_allocator (as before)")
    args = parser.parse_args()
    if not args.glibc_defaults:
        print(f"tune_host_allocator: {tune_host_allocator()}")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch {args.batch}")
    print(f"{'crop':>5} {'precision':>9} {'s/step':>8} {'images/s':>9}")
    for crop in (int(c) for c in args.crops.split(",")):
        steps = {p: make_step(p, crop, args.batch) for p in ("fp32", "bf16")}
        times: dict[str, list[float]] = {p: [] for p in steps}
        for fn in steps.values():
            fn()  # warm-up
        for _ in range(args.repeat):
            for precision, fn in steps.items():  # interleaved: machine noise hits both
                start = time.perf_counter()
                fn()
                times[precision].append(time.perf_counter() - start)
        for precision, ts in times.items():
            median = statistics.median(ts)
            print(f"{crop:>5} {precision:>9} {median:>8.2f} {args.batch / median:>9.2f}")


if __name__ == "__main__":
    main()

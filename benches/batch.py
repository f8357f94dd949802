"""Throughput of the batch engine (stylize.batch): images/s and RSS, with and without background I/O.

    python benches/batch.py [--count 200] [--size 512] [--runs 3] [--torch-threads 0]

Generates ``count`` JPEGs of ``size`` x ``size`` under /tmp, then runs two backends over them:
``no-op`` (decode -> save: the I/O pipeline alone) and ``conv3x3`` (decode -> tensor -> a 3x3
convolution -> PIL -> save), each with ``io_workers=2`` threads and with ``io_workers=0``
(everything in the main thread). Prints a markdown table of medians over ``runs`` runs.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from stylize import images
from stylize.batch import (
    BatchBackend,
    BatchOptions,
    Job,
    collect_inputs,
    load_picture,
    plan_jobs,
    run_batch,
    save_result_image,
)


def make_jpegs(folder: Path, count: int, size: int) -> None:
    """Photo-like JPEGs: a smooth gradient plus noise (so they neither compress to nothing nor to noise)."""
    rng = np.random.default_rng(0)
    ramp = np.linspace(0, 255, size, dtype=np.float32)
    for i in range(count):
        base = (ramp[None, :, None] * [1.0, 0.6, 0.3] + ramp[:, None, None] * [0.0, 0.4, 0.7]) % 256
        noisy = base + rng.normal(0, 12, (size, size, 3)) + i
        Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8)).save(folder / f"img_{i:04d}.jpg", quality=90)


class NoOpBackend:
    """The I/O pipeline alone: decode, hand through, encode."""

    def __init__(self, options: BatchOptions) -> None:
        self.options = options

    def load(self, job: Job) -> images.Picture:
        return load_picture(job, self.options)

    def group_key(self, loaded: images.Picture) -> Hashable:
        return loaded.size

    def process(self, jobs: list[Job], loaded: list[images.Picture]) -> list[images.Picture]:
        return loaded

    def save(self, job: Job, result: images.Picture) -> None:
        save_result_image(job, result.rgb, result.alpha, result.exif, self.options)


class ConvBackend(NoOpBackend):
    """A cheap real model: one 3x3 convolution over a batch of equal-size tensors."""

    def __init__(self, options: BatchOptions) -> None:
        super().__init__(options)
        self.conv = torch.nn.Conv2d(3, 3, 3, padding=1).eval()

    def load(self, job: Job) -> torch.Tensor:
        return images.to_tensor(load_picture(job, self.options).rgb)  # (1, 3, H, W)

    def group_key(self, loaded: torch.Tensor) -> Hashable:
        return tuple(loaded.shape[-2:])

    def process(self, jobs: list[Job], loaded: list[torch.Tensor]) -> list[torch.Tensor]:
        with torch.inference_mode():
            return list(self.conv(torch.cat(loaded)).sigmoid())  # (B, 3, H, W) -> B x (3, H, W)

    def save(self, job: Job, result: torch.Tensor) -> None:
        save_result_image(job, images.to_pil(result), None, None, self.options)


def rss_mb() -> float:
    """Resident set size now (not the peak), from /proc."""
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def one_run(src: Path, out: Path, make: Callable[[BatchOptions], BatchBackend], io_workers: int) -> dict[str, Any]:
    shutil.rmtree(out, ignore_errors=True)
    options = BatchOptions(output=out, io_workers=io_workers)
    inputs = collect_inputs([str(src)])
    jobs = plan_jobs(inputs, ["bench"], options)
    start_rss = rss_mb()
    start = time.perf_counter()
    report = run_batch(jobs, make(options), options, inputs=inputs)
    elapsed = time.perf_counter() - start
    assert len(report.done) == len(jobs) and not report.failed, report.failed[:3]
    return {"ips": len(report.done) / elapsed, "rss0": start_rss, "rss1": rss_mb()}


def bench(src: Path, out: Path, runs: int, io_workers: int) -> list[tuple[str, str, dict[str, float]]]:
    rows = []
    for label, make in (("no-op", NoOpBackend), ("conv3x3", ConvBackend)):
        for io_label, workers in ((f"{io_workers} threads", io_workers), ("none (sync)", 0)):
            results = [one_run(src, out, make, workers) for _ in range(runs)]
            rows.append((label, io_label, _medians(results)))
    return rows


def _medians(results: list[dict[str, Any]]) -> dict[str, float]:
    return {key: statistics.median(r[key] for r in results) for key in results[0]}


def print_table(rows: list[tuple[str, str, dict[str, float]]]) -> None:
    print("| backend | background I/O | images/s | RSS start (MiB) | RSS end (MiB) |")
    print("|---|---|---:|---:|---:|")
    for label, io_label, m in rows:
        print(f"| {label} | {io_label} | {m['ips']:.1f} | {m['rss0']:.0f} | {m['rss1']:.0f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=200, help="number of JPEGs")
    parser.add_argument("--size", type=int, default=512, help="side of each square JPEG")
    parser.add_argument("--runs", type=int, default=3, help="runs per configuration (median reported)")
    parser.add_argument("--io-workers", type=int, default=2, help="threads for the background-I/O rows")
    parser.add_argument("--torch-threads", type=int, default=0, help="torch intra-op threads (0: torch's default)")
    args = parser.parse_args()
    if args.torch_threads:
        torch.set_num_threads(args.torch_threads)
    work = Path(tempfile.mkdtemp(prefix="stylize-bench-"))
    try:
        (work / "in").mkdir()
        make_jpegs(work / "in", args.count, args.size)
        print(
            f"{args.count} JPEGs {args.size}x{args.size}, median of {args.runs} runs, "
            f"{os.cpu_count()} CPUs, torch {torch.__version__} ({torch.get_num_threads()} threads), "
            f"load {os.getloadavg()[0]:.2f}\n"
        )
        print_table(bench(work / "in", work / "out", args.runs, args.io_workers))
        print(f"\nload average at the end: {os.getloadavg()[0]:.2f}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

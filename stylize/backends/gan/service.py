"""``stylize gan-sample``: per-seed files, a grid, a style mix or an interpolation, named and written."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stylize.backends.gan.generator import load_generator
from stylize.backends.gan.sampler import Sampler
from stylize.backends.gan.writing import write_animation, write_grid, write_images
from stylize.devices import resolve_device
from stylize.errors import UsageError
from stylize.files import unknown_file_suffix
from stylize.progress import NullReporter, Reporter

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")
ANIMATION_SUFFIXES = (".gif", ".webp")
DEFAULT_OUTPUT = Path("gan-samples")
TASK = "gan-sample"


@dataclass
class SampleResult:
    """What ``gan-sample`` wrote: the paths, in order (stdout prints them one per line)."""

    outputs: list[Path]
    seeds: list[int]
    model: dict[str, Any]
    images: int
    elapsed_s: float
    device: str

    def as_json(self) -> dict[str, Any]:
        rate = self.images / self.elapsed_s if self.elapsed_s > 0 else 0.0
        return {
            "outputs": [str(p) for p in self.outputs],
            "seeds": self.seeds,
            "model": self.model,
            "images": self.images,
            "elapsed_s": round(self.elapsed_s, 3),
            "images_per_s": round(rate, 1),
            "device": self.device,
        }


def sample(
    config: Any,
    output: str | os.PathLike[str] | None = None,
    device: str | None = None,
    reporter: Reporter | None = None,
    on_written: Callable[[Path], None] | None = None,
) -> SampleResult:
    """Run ``stylize gan-sample``: per-seed files, a grid, a style mix, or an interpolation.

    ``on_written`` hears of each per-seed file as soon as it is on disk (the CLI prints it then, so
    an interrupted run has still listed what it wrote)."""
    reporter = reporter or NullReporter()
    out = Path(output) if output else DEFAULT_OUTPUT
    _check_output_kind(config, out)
    torch_device = resolve_device(device)
    sampler = Sampler(
        load_generator(config.model, reporter), torch_device, config.precision, config.batch_size, config.noise
    )
    class_index = sampler.class_index(config.class_label)
    _check_grid_size(config, sampler)
    start = time.perf_counter()
    if config.style_mix:
        paths, count = _run_mix(sampler, config, out, class_index), 1
    elif config.interpolate:
        paths, count = _run_interpolation(sampler, config, out, class_index)
    else:
        paths, count = _run_seeds(sampler, config, out, class_index, reporter, on_written)
    seeds = list(config.style_mix or config.seed_list)
    return SampleResult(paths, seeds, sampler.info.as_dict(), count, time.perf_counter() - start, str(torch_device))


MAX_GRID_PIXELS = 100_000_000  # a contact sheet is built in memory: --grid -n 1000000 would take gigabytes
MAX_ANIMATION_PIXELS = MAX_GRID_PIXELS  # so is an interpolation's animation, every frame at once


def _check_grid_size(config: Any, sampler: Sampler) -> None:
    """A grid or an interpolation is held in memory whole: refuse one over its pixel budget up front."""
    size = sampler.info.image_size
    if config.grid and len(config.seed_list) * size * size > MAX_GRID_PIXELS:
        most = MAX_GRID_PIXELS // (size * size)
        raise UsageError(
            f"--grid of {len(config.seed_list):,} images of {size}x{size} px is too large",
            f"at most {most:,} images per grid; write them as files (no --grid)",
        )
    frames = (len(config.seed_list) - 1) * config.interpolate + 1
    if config.interpolate and frames * size * size > MAX_ANIMATION_PIXELS:
        most = MAX_ANIMATION_PIXELS // (size * size)
        raise UsageError(
            f"--interpolate {config.interpolate:,} over {len(config.seed_list):,} seeds makes {frames:,} frames "
            f"of {size}x{size} px: too many for one animation",
            f"at most {most:,} frames: fewer steps or seeds",
        )


def _is_file(out: Path) -> bool:
    return out.suffix.lower() in IMAGE_SUFFIXES + ANIMATION_SUFFIXES


def _check_output_kind(config: Any, out: Path) -> None:
    if unknown_file_suffix(out, IMAGE_SUFFIXES + ANIMATION_SUFFIXES):
        raise UsageError(
            f"-o {out}: '{out.suffix}' is not a format gan-sample writes",
            "give a folder, an image (.png, .jpg, .webp) or an animation (.gif, .webp)",
        )
    if not _is_file(out):
        return
    suffix = out.suffix.lower()
    if config.interpolate and suffix not in ANIMATION_SUFFIXES:
        raise UsageError(f"-o {out}: an interpolation is written as a .gif or .webp animation (or give a folder)")
    if not config.interpolate and suffix == ".gif":
        raise UsageError(f"-o {out}: still images are written as .png, .jpg, .webp, .bmp or .tif")
    several = not config.grid and not config.style_mix and not config.interpolate and len(config.seed_list) > 1
    if several:
        raise UsageError(
            f"-o {out} names one file, but {len(config.seed_list)} images would be written",
            "give a folder, or add --grid for one contact sheet",
        )


def _tag(config: Any, class_index: int | None) -> str:
    """Suffix for settings that change the image: truncation, a forced class."""
    tag = f"-psi{config.truncation:g}" if config.truncation != 1.0 else ""
    return tag + (f"-class{class_index}" if class_index is not None else "")


def _seed_range(seeds: Sequence[int]) -> str:
    consecutive = list(seeds) == list(range(seeds[0], seeds[0] + len(seeds)))
    if len(seeds) == 1:
        return f"seed{seeds[0]:04d}"
    if consecutive:
        return f"seeds{seeds[0]:04d}-{seeds[-1]:04d}"
    return f"seeds{seeds[0]:04d}-and-{len(seeds) - 1}-more"


def _run_seeds(
    sampler: Sampler,
    config: Any,
    out: Path,
    class_index: int | None,
    reporter: Reporter,
    on_written: Callable[[Path], None] | None = None,
) -> tuple[list[Path], int]:
    seeds, tag = list(config.seed_list), _tag(config, class_index)
    if not config.grid:
        seeds = list(dict.fromkeys(seeds))  # one file per seed: a repeated seed is the same file
    reporter.start(TASK, total=len(seeds), unit="img", transient=True)
    try:
        if config.grid:
            batch = sampler.images(seeds, config.truncation, class_index, lambda n: reporter.advance(TASK, n))
            path = out if _is_file(out) else out / f"grid-{_seed_range(seeds)}{tag}.png"
            return [write_grid(batch, path, config.nrow)], len(seeds)
        return _write_in_chunks(sampler, config, seeds, out, tag, class_index, reporter, on_written), len(seeds)
    finally:
        reporter.finish(TASK)


def _write_in_chunks(
    sampler: Sampler,
    config: Any,
    seeds: list[int],
    out: Path,
    tag: str,
    class_index: int | None,
    reporter: Reporter,
    on_written: Callable[[Path], None] | None = None,
) -> list[Path]:
    """Generate and write one batch at a time, so memory stays flat for any number of seeds."""
    paths: list[Path] = []
    for start in range(0, len(seeds), sampler.batch_size):
        chunk = seeds[start : start + sampler.batch_size]
        batch = sampler.images(chunk, config.truncation, class_index)
        targets = [out] if _is_file(out) else [out / f"seed{s:04d}{tag}.png" for s in chunk]
        written = write_images(batch, targets, overwrite=config.overwrite)
        paths += written
        for path in written if on_written else ():
            on_written(path)  # type: ignore[misc]
        reporter.advance(TASK, len(chunk))
    return paths


def _run_mix(sampler: Sampler, config: Any, out: Path, class_index: int | None) -> list[Path]:
    a, b = config.style_mix
    trio = sampler.mix(a, b, config.mix_layer, config.truncation, class_index)  # (3, C, H, W): A, B, mixed
    name = f"mix-seed{a:04d}-seed{b:04d}-layer{config.mix_layer}{_tag(config, class_index)}.png"
    path = out if _is_file(out) else out / name
    if config.grid:
        return [write_grid(trio, path, 3)]
    return write_images(trio[2:], [path], overwrite=config.overwrite)


def _run_interpolation(sampler: Sampler, config: Any, out: Path, class_index: int | None) -> tuple[list[Path], int]:
    seeds = list(config.seed_list)
    frames = sampler.interpolate(seeds, config.interpolate, config.truncation, class_index)
    if _is_file(out):
        animation, folder = out, out.with_name(out.stem + "-frames")
    else:
        stem = f"interp-{'-'.join(f'{s:04d}' for s in seeds[:4])}{'-etc' if len(seeds) > 4 else ''}"
        stem += _tag(config, class_index)
        animation, folder = out / f"{stem}.{config.animation}", out / stem
    paths = write_images(frames, [folder / f"frame-{i:04d}.png" for i in range(len(frames))], config.overwrite)
    return [*paths, write_animation(frames, animation, config.fps)], len(frames)

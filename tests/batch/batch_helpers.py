"""Batch test helpers (imported by name, like tests/video/clips.py): images, an inverting BatchBackend, runs."""

from __future__ import annotations

import threading
import time
from collections.abc import Hashable
from pathlib import Path

from PIL import Image, ImageOps

from stylize import images
from stylize.batch import (
    BatchOptions,
    BatchReport,
    Job,
    collect_inputs,
    load_picture,
    plan_jobs,
    run_batch,
    save_result_image,
)
from stylize.files import TEMP_PREFIX, TEMP_SUFFIX

EDGE = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "edge"
EDGE_BROKEN = {"truncated.jpg", "not_an_image.png", "empty.jpg"}


def make_image(path: Path, size: tuple[int, int] = (32, 24), colour: tuple[int, int, int] = (200, 40, 10)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(path)
    return path


class InvertBackend:
    """Inverts colours; records calls and how many images are alive between load and save."""

    def __init__(self, options: BatchOptions, delay: float = 0.0, interrupt_at: int = 0) -> None:
        self.options, self.delay, self.interrupt_at = options, delay, interrupt_at
        self.calls: list[list[Job]] = []
        self.alive = self.peak = 0
        self.lock = threading.Lock()

    def load(self, job: Job) -> images.Picture:
        pic = load_picture(job, self.options)
        with self.lock:
            self.alive += 1
            self.peak = max(self.peak, self.alive)
        return pic

    def group_key(self, loaded: images.Picture) -> Hashable:
        return loaded.size

    def process(self, jobs: list[Job], loaded: list[images.Picture]) -> list[images.Picture]:
        self.calls.append(jobs)
        if len(self.calls) == self.interrupt_at:
            raise KeyboardInterrupt
        time.sleep(self.delay)
        return [images.Picture(ImageOps.invert(pic.rgb), pic.alpha, exif=pic.exif) for pic in loaded]

    def save(self, job: Job, result: images.Picture) -> None:
        save_result_image(job, result.rgb, result.alpha, result.exif, self.options)
        with self.lock:
            self.alive -= 1


def run(sources: list[str], tmp_path: Path, styles: tuple[str, ...] = ("out",), **kw: object) -> BatchReport:
    options = BatchOptions(output=tmp_path / "out", **kw)  # type: ignore[arg-type]
    inputs = collect_inputs(sources)
    return run_batch(plan_jobs(inputs, styles, options), InvertBackend(options), options, inputs=inputs)


def files_under(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


def temp_files(root: Path) -> list[Path]:
    return [p for p in root.rglob(f"{TEMP_PREFIX}*") if TEMP_SUFFIX in p.name]

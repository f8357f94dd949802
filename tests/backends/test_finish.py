"""``Stylized.finish``: a method's last, model-free step (the palette) runs on the I/O thread that saves
each output of a batch, beside the next batch's model; a video frame and the picture API get it at once."""

from __future__ import annotations

import threading
import types
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest
import torch
from PIL import Image

from stylize import images
from stylize.backends import stylizer
from stylize.backends.stylizer import Batch, Method, MethodBackend, Prepared, Stylized
from stylize.batch import BatchOptions, collect_inputs, plan_jobs, run_batch
from stylize.errors import InputError


class Halve(Method):
    """Returns its input, finished by halving it; records the threads the finish ran on. The finish
    refuses a picture whose first pixel is pure blue (one bad output in a batch)."""

    name: ClassVar[str] = "halve"

    def __init__(self) -> None:
        self.threads: list[str] = []

    def prepare(self, picture: images.Picture, size: int | None = None) -> images.Picture:
        return picture

    def style_state(self, tag: str, reference: torch.Tensor | None) -> Any:
        return None

    def run(self, batch: Batch, state: Any) -> Stylized:
        return Stylized(batch.content.clone(), finish=self.finish)

    def finish(self, x: torch.Tensor) -> torch.Tensor:
        self.threads.append(threading.current_thread().name)
        if x.shape[0] == 1 and x[0, :, 0, 0].tolist() == [0.0, 0.0, 1.0]:
            raise InputError("blue")
        return x * 0.5


def _prepared(value: float) -> Prepared:
    return Prepared(torch.full((1, 3, 4, 4), value), images.Picture(Image.new("RGB", (4, 4))), "s")


def test_a_result_carries_its_finish_and_a_video_frame_or_one_picture_comes_back_finished() -> None:
    backend = MethodBackend(Halve())
    (result,) = backend.process([None], [_prepared(0.8)])
    assert torch.equal(result.image, torch.full((3, 4, 4), 0.8))  # not yet: the saving thread finishes it
    assert torch.allclose(result.final(), torch.full((3, 4, 4), 0.4))
    backend.begin_video(_prepared(0.8))
    (frame,) = backend.process([None], [_prepared(0.8)])
    assert frame.finish is None and torch.allclose(frame.image, torch.full((3, 4, 4), 0.4))  # the video reads [0]
    backend.begin_video(None)
    one = backend.one(images.Picture(Image.new("RGB", (4, 4), (200, 200, 200))), "s")
    assert torch.allclose(one, torch.full((3, 4, 4), 0.5 * 200 / 255))


def test_a_batch_saves_finished_outputs_on_its_io_threads_and_a_failing_finish_fails_only_its_output(
    tmp_path: Path,
) -> None:
    (tmp_path / "in").mkdir()
    for name, colour in (("a", (200, 100, 50)), ("b", (0, 0, 255)), ("c", (100, 100, 100))):
        Image.new("RGB", (8, 6), colour).save(tmp_path / "in" / f"{name}.png")
    options = BatchOptions(output=tmp_path / "out", io_workers=2)
    method = Halve()
    inputs = collect_inputs([str(tmp_path / "in")])
    report = run_batch(plan_jobs(inputs, ["s"], options), MethodBackend(method, options), options, inputs=inputs)
    assert [f.what.input.path.name for f in report.failed] == ["b.png"] and "blue" in report.failed[0].reason
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "a_out_s.png",
        "c_out_s.png",
    ]  # nothing half-written
    assert np.asarray(Image.open(tmp_path / "out" / "a_out_s.png"))[0, 0].tolist() == [100, 50, 25]
    assert method.threads and threading.main_thread().name not in method.threads


def test_a_run_on_the_cpu_keeps_freed_buffers_for_reuse(monkeypatch: pytest.MonkeyPatch) -> None:
    """``start`` tunes glibc's allocator before the method loads (32 MiB activations page-faulted in
    again for every image otherwise: 10% of adain's model time, BENCHMARKS.md)."""
    calls: list[str] = []
    monkeypatch.setattr(stylizer, "tune_host_allocator", lambda: calls.append("tuned") or True)
    package = types.ModuleType("halve")
    package.build = lambda *args: calls.append("built") or Halve()  # type: ignore[attr-defined]
    backend = stylizer.start(package, None, stylizer.MethodPlan({"s": None}), "cpu", BatchOptions(), None, {})  # type: ignore[arg-type]
    assert calls == ["tuned", "built"] and isinstance(backend.method, Halve)

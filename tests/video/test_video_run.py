"""stylize.video.run: videos through a batch backend, resumable segments, mixed folders, flicker."""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

av = pytest.importorskip("av")
pytest.importorskip("cv2")

import torch
from clips import make_clip, scene

from stylize import images, video
from stylize.batch import (
    BatchInterrupted,
    BatchOptions,
    Job,
    collect_inputs,
    load_picture,
    plan_jobs,
    save_result_image,
)
from stylize.errors import InputError, OutputError
from stylize.provenance import JobSignature, settings_of
from stylize.video.run import measure_flicker, run_jobs, work_folder

pytestmark = pytest.mark.usefixtures("torch_one_thread")


@dataclass
class Item:
    tensor: torch.Tensor
    picture: images.Picture
    style: str


class FakeBackend:
    """'Stylizes' by inverting colours, plus noise that depends on the frame (a flickering style);
    raises KeyboardInterrupt once ``stop_after`` frames are done."""

    def __init__(self, options: BatchOptions, noise: float = 0.0, stop_after: int | None = None) -> None:
        self.options, self.noise, self.stop_after, self.frames = options, noise, stop_after, 0

    def load(self, job: Job) -> Item:
        return self.prepare(load_picture(job, self.options), job.style)

    def prepare(self, picture: images.Picture, style: str, size: int | None = None) -> Item:
        return Item(images.to_tensor(picture.rgb), picture, style)

    def group_key(self, loaded: Item) -> Any:
        return (loaded.style, tuple(loaded.tensor.shape))

    def process(self, jobs: list[Job], loaded: list[Item]) -> list[tuple[torch.Tensor, images.Picture]]:
        if self.stop_after is not None and self.frames >= self.stop_after:
            raise KeyboardInterrupt
        self.frames += len(loaded)
        return [(self._stylize(item.tensor[0]), item.picture) for item in loaded]

    def _stylize(self, x: torch.Tensor) -> torch.Tensor:
        seed = zlib.crc32(x.numpy().tobytes())  # the same frame always gets the same noise (resume)
        noise = torch.randn(x.shape, generator=torch.Generator().manual_seed(seed)) * self.noise
        return (1.0 - x + noise).clamp(0, 1)

    def save(self, job: Job, result: tuple[torch.Tensor, images.Picture]) -> None:
        save_result_image(job, images.to_pil(result[0]), None, None, self.options, srgb_profile=False)

    def begin_video(self, first: Item | None, temporal: float = 0.0, resumed: dict[str, Any] | None = None) -> None:
        """No per-video state (the VideoBackend hooks every backend has)."""

    def video_states(self) -> None:
        return None


def _run(sources: list[Path], out: Path, config: video.VideoConfig, backend: FakeBackend | None = None,
         **options: Any) -> Any:  # fmt: skip
    batch = BatchOptions(output=out, **options)
    inputs = collect_inputs([str(s) for s in sources], videos=True)
    signature = JobSignature("test", {"k": 1})
    jobs = plan_jobs(
        inputs, ["s"], batch, sign=lambda job: signature.text(job.input.path, more=settings_of(config)), method="test"
    )
    return run_jobs(jobs, backend or FakeBackend(batch), batch, None, inputs, None, config)


def _frames(path: Path) -> list[np.ndarray]:
    return [frame.rgb for frame in video.read_frames(path)]


def _audio(path: Path) -> list[bytes]:
    with av.open(str(path)) as container:
        return [bytes(p) for p in container.demux(audio=0) if p.size]


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_a_video_comes_out_with_its_frames_rate_size_timestamps_and_audio(tmp_path: Path) -> None:
    src = make_clip(tmp_path / "clip.mp4", (64, 48), frames=12, fps=12)
    report = _run([src], tmp_path / "out", video.VideoConfig(temporal=0.0))
    out = tmp_path / "out" / "clip_test_s.mp4"
    assert [job.output for job in report.done] == [out] and not report.failed
    info = video.probe(out)
    assert (info.width, info.height, info.fps, info.frames, info.has_audio) == (64, 48, 12, 12, True)
    assert [f.pts for f in video.read_frames(out)] == [f.pts for f in video.read_frames(src)]
    assert _audio(out) == _audio(src)
    inverted = 255 - _frames(src)[5].astype(int)
    assert np.abs(_frames(out)[5].astype(int) - inverted).mean() < 6
    assert json.loads(video.read_note(out) or "{}")["job"]["settings"]["temporal"] == 0
    assert _leftovers(tmp_path / "out") == []  # no work folder, no temp file


def test_a_folder_mixing_images_videos_and_a_damaged_video_goes_on(tmp_path: Path, image_factory: Any) -> None:
    folder = tmp_path / "in"
    image_factory(folder / "photo.png", (40, 30))
    make_clip(folder / "clip.mkv", frames=6, audio=False)
    (folder / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(2000))
    report = _run([folder], tmp_path / "out", video.VideoConfig())
    assert sorted(job.output.name for job in report.done) == ["clip_test_s.mkv", "photo_test_s.png"]
    assert [(f.path.name, f.exit_code) for f in report.failed] == [("broken.mp4", InputError.exit_code)]
    assert "broken.mp4" not in report.failed[0].reason and "\n" not in report.failed[0].reason
    assert len(_frames(tmp_path / "out" / "clip_test_s.mkv")) == 6


def test_interrupted_video_resumes_from_its_segments_with_the_same_frames(tmp_path: Path) -> None:
    src = make_clip(tmp_path / "clip.mp4", frames=24, fps=12)
    # 6 frames a segment; crf 0 (lossless): libx264 does not always give the same bits for the same frames
    # when the machine is busy (about 1 run in 10 here, a few levels off), and this is about the frames
    config = video.VideoConfig(temporal=0.5, segment_s=0.5, crf=0)
    whole = _run([src], tmp_path / "whole", config, FakeBackend(BatchOptions(), noise=0.05))
    out = tmp_path / "part" / "clip_test_s.mp4"
    with pytest.raises(BatchInterrupted) as caught:
        _run([src], tmp_path / "part", config, FakeBackend(BatchOptions(), noise=0.05, stop_after=15))
    assert caught.value.report.interrupted and caught.value.report.not_started == 1
    assert not out.exists()
    manifest = json.loads((work_folder(out) / "manifest.json").read_text())
    assert [s["frames"] for s in manifest["segments"]] == [6, 6]  # the third segment was dropped
    assert not [p for p in work_folder(out).iterdir() if p.name.startswith(".stylize-")]
    resumed = FakeBackend(BatchOptions(), noise=0.05)
    _run([src], tmp_path / "part", config, resumed)
    assert resumed.frames == 12
    assert not work_folder(out).exists()
    expected = _frames(whole.done[0].output)
    assert len(_frames(out)) == 24
    assert all(np.array_equal(a, b) for a, b in zip(_frames(out), expected))
    assert _audio(out) == _audio(src)


def test_changed_settings_do_not_reuse_segments(tmp_path: Path) -> None:
    src = make_clip(tmp_path / "clip.mp4", frames=12, fps=12, audio=False)
    with pytest.raises(BatchInterrupted):
        _run([src], tmp_path / "out", video.VideoConfig(segment_s=0.25), FakeBackend(BatchOptions(), stop_after=8))
    again = FakeBackend(BatchOptions())
    _run([src], tmp_path / "out", video.VideoConfig(segment_s=0.25, temporal=0.0), again)
    assert again.frames == 12


def test_existing_output_is_skipped_when_the_same_job_made_it_else_refused(tmp_path: Path) -> None:
    src = make_clip(tmp_path / "clip.webm", frames=4, audio=False)
    _run([src], tmp_path / "out", video.VideoConfig())
    backend = FakeBackend(BatchOptions())
    report = _run([src], tmp_path / "out", video.VideoConfig(), backend)
    assert len(report.skipped) == 1 and backend.frames == 0
    with pytest.raises(OutputError, match="temporal was 0.5, now 0"):
        _run([src], tmp_path / "out", video.VideoConfig(temporal=0.0))


def test_gif_in_gif_out_and_start_duration(tmp_path: Path) -> None:
    src = make_clip(tmp_path / "anim.gif", frames=10, fps=10, audio=False)
    report = _run([src], tmp_path / "out", video.VideoConfig(start=0.2, duration=0.5))
    out = report.done[0].output
    assert out.name == "anim_test_s.gif" and len(_frames(out)) == 5
    assert video.read_note(out) is not None
    report = _run([src], tmp_path / "out", video.VideoConfig(start=0.2, duration=0.5))
    assert len(report.skipped) == 1


def test_a_window_past_the_end_is_an_input_error(tmp_path: Path) -> None:
    for name in ("clip.mp4", "anim.gif"):
        src = make_clip(tmp_path / name, frames=6, fps=12, audio=False)
        report = _run([src], tmp_path / "out", video.VideoConfig(start=5.0))
        assert "no frames between 5 s" in report.failed[0].reason
    assert list((tmp_path / "out").iterdir()) == []  # no work folder, no temp file


def test_static_clip_has_no_warping_error_and_stabilising_lowers_it(tmp_path: Path) -> None:
    still = make_clip(tmp_path / "still.mp4", frames=6, audio=False, static=True)
    assert measure_flicker(still, still).warping_error < 1e-4
    src = make_clip(tmp_path / "clip.mp4", (96, 64), frames=16, fps=12, audio=False)
    errors = {}
    for temporal in (0.0, 0.7):
        out = tmp_path / f"t{temporal}"
        _run([src], out, video.VideoConfig(temporal=temporal), FakeBackend(BatchOptions(), noise=0.1))
        errors[temporal] = measure_flicker(src, out / "clip_test_s.mp4").warping_error
    assert errors[0.7] < 0.5 * errors[0.0]


def test_animated_webp_in_animated_webp_out_with_its_frame_times(tmp_path: Path) -> None:
    from PIL import Image

    times = [0, 100, 300, 400, 550]
    frames = [Image.fromarray(scene(33, 25, t)) for t in range(len(times))]  # odd sizes
    src = tmp_path / "in" / "anim.webp"
    src.parent.mkdir()
    durations = [100, 200, 100, 150, 100]  # the gaps between times, and the last frame's
    frames[0].save(src, save_all=True, append_images=frames[1:], duration=durations, lossless=True)
    still = tmp_path / "in" / "still.webp"
    frames[0].save(still)
    assert video.is_video(src) and not video.is_video(still)
    report = _run([src.parent], tmp_path / "out", video.VideoConfig(temporal=0.0))
    assert not report.failed, report.failed
    out = tmp_path / "out" / "anim_test_s.webp"
    assert [f.pts for f in video.read_frames(out)] == times
    info = video.probe(out)
    assert (info.width, info.height, info.frames) == (33, 25, 5)
    assert Image.open(tmp_path / "out" / "still_test_s.webp").size == (33, 25)  # a still WebP stays an image

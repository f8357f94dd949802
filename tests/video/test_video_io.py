"""stylize.video: probing, reading, writing segments, joining with the input's audio."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

av = pytest.importorskip("av")

from clips import make_clip, scene

from stylize import video
from stylize.errors import InputError, UsageError


def _audio_packets(path: Path) -> list[bytes]:
    with av.open(str(path)) as container:
        return [bytes(p) for p in container.demux(audio=0) if p.size]


def _copy(src: Path, dest: Path, config: video.VideoConfig, split: int = 5) -> list[video.Frame]:
    """Re-encode ``src`` into two segments and join them into ``dest`` (inverted colours)."""
    info = video.probe(src)
    frames = list(video.read_frames(src))
    codec = video.codec_for(dest, config)
    parts = []
    for index, chunk in enumerate((frames[:split], frames[split:])):
        part = dest.with_name(f"part{index}.nut")
        with video.SegmentWriter(part, video.SEGMENT_FORMAT, info, config, codec) as writer:
            for frame in chunk:
                writer.write(255 - frame.rgb, frame.pts)
        parts.append(part)
    video.join_segments(parts, dest, info, config, note="signature")
    return frames


def test_probe_reads_size_rate_frames_and_audio(tmp_path: Path) -> None:
    info = video.probe(make_clip(tmp_path / "c.mp4", (64, 48), frames=12, fps=12))
    assert (info.width, info.height, info.fps, info.frames, info.has_audio) == (64, 48, 12, 12, True)
    assert info.time_base == Fraction(1, 12288) and info.rotation == 0


@pytest.mark.parametrize("suffix", [".mp4", ".mkv", ".webm", ".mov"])
def test_segments_join_with_timestamps_rate_and_audio_packets_kept(tmp_path: Path, suffix: str) -> None:
    src = make_clip(tmp_path / f"in{suffix}", frames=12, fps=12)
    dest = tmp_path / f"out{suffix}"
    frames = _copy(src, dest, video.VideoConfig())
    out = video.probe(dest)
    back = list(video.read_frames(dest))
    assert (out.width, out.height, out.fps, len(back)) == (64, 48, 12, 12)
    assert [f.pts for f in back] == [f.pts for f in frames]
    assert _audio_packets(dest) == _audio_packets(src)  # copied, not re-encoded
    assert np.abs(back[3].rgb.astype(int) - (255 - frames[3].rgb.astype(int))).mean() < 6  # crf 18
    assert video.read_note(dest) == "signature"


def test_start_and_duration_cut_video_and_audio_and_start_the_clock_at_zero(tmp_path: Path) -> None:
    src = make_clip(tmp_path / "in.mp4", frames=24, fps=12)
    config = video.VideoConfig(start=0.5, duration=1.0)
    frames = list(video.read_frames(src, config.start, config.end))
    assert len(frames) == 12 and frames[0].time == pytest.approx(0.5)
    info = video.probe(src)
    part = tmp_path / "p.nut"
    with video.SegmentWriter(part, "nut", info, config, "libx264") as writer:
        for frame in frames:
            writer.write(frame.rgb, frame.pts - round(config.start / info.time_base))
    video.join_segments([part], tmp_path / "out.mp4", info, config)
    back = list(video.read_frames(tmp_path / "out.mp4"))
    assert len(back) == 12 and back[0].time == 0.0
    audio = _audio_packets(tmp_path / "out.mp4")
    assert 0 < len(audio) < len(_audio_packets(src))


def test_resumed_read_yields_exactly_the_remaining_frames(tmp_path: Path) -> None:
    src = make_clip(tmp_path / "in.mkv", frames=20, fps=10, audio=False)
    frames = list(video.read_frames(src))
    rest = list(video.read_frames(src, after_pts=frames[12].pts))
    assert [f.pts for f in rest] == [f.pts for f in frames[13:]]
    assert all(np.array_equal(a.rgb, b.rgb) for a, b in zip(rest, frames[13:]))


def test_odd_sizes_are_padded_to_even_for_yuv420p(tmp_path: Path) -> None:
    src = make_clip(tmp_path / "in.mp4", frames=4, audio=False)
    info = video.probe(src)
    part = tmp_path / "p.nut"
    with video.SegmentWriter(part, "nut", info, video.VideoConfig(), "libx264") as writer:
        for frame in video.read_frames(src):
            writer.write(frame.rgb[:47, :63], frame.pts)
    video.join_segments([part], tmp_path / "out.mp4", info, video.VideoConfig())
    assert (video.probe(tmp_path / "out.mp4").width, video.probe(tmp_path / "out.mp4").height) == (64, 48)


def test_rotation_metadata_is_applied_to_the_pixels(tmp_path: Path) -> None:
    src = make_clip(tmp_path / "in.mp4", (64, 48), frames=2, audio=False, rotation=90)
    info = video.probe(src)
    frame = next(video.read_frames(src))
    assert (info.width, info.height, info.rotation) == (48, 64, 90)
    assert frame.rgb.shape == (64, 48, 3)
    upright = np.rot90(scene(64, 48, 0), 1)  # 90 degrees counter-clockwise
    assert np.abs(frame.rgb.astype(int) - upright.astype(int)).mean() < 8


def test_gif_frames_are_read_and_animated_gifs_count_as_videos(tmp_path: Path) -> None:
    src = make_clip(tmp_path / "a.gif", frames=6, audio=False)
    assert video.is_video(src)
    assert len(list(video.read_frames(src))) == 6
    still = tmp_path / "still.gif"
    from PIL import Image

    Image.new("RGB", (8, 8)).save(still)
    assert not video.is_video(still)


@pytest.mark.parametrize("damage", ["garbage", "truncated", "empty"])
def test_damaged_videos_are_one_line_input_errors(tmp_path: Path, damage: str) -> None:
    path = tmp_path / "bad.mp4"
    if damage == "garbage":
        path.write_bytes(np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8).tobytes())
    elif damage == "truncated":
        data = make_clip(tmp_path / "good.mp4", frames=12).read_bytes()
        path.write_bytes(data[: len(data) // 2])
    else:
        path.write_bytes(b"")
    with pytest.raises(InputError) as caught:
        video.probe(path)
    assert str(path) in caught.value.one_line() and "\n" not in caught.value.one_line()


def test_config_refuses_bad_values() -> None:
    for bad in ({"temporal": 1.5}, {"crf": 70}, {"start": -1.0}, {"codec": "no-such-codec"}):
        with pytest.raises(UsageError):
            video.VideoConfig(**bad)  # type: ignore[arg-type]


def test_a_variable_frame_rate_clip_keeps_every_frame_time(tmp_path: Path) -> None:
    times_ms = [0, 40, 120, 160, 300, 340, 380, 600, 640]
    src = make_clip(tmp_path / "vfr.mkv", frames=len(times_ms), fps=25, audio=False, times_ms=times_ms)
    wanted = [round(f.time, 3) for f in video.read_frames(src)]
    assert wanted == [t / 1000 for t in times_ms]  # the clip really is variable-rate
    dest = tmp_path / "out.mkv"
    _copy(src, dest, video.VideoConfig(), split=4)
    assert [round(f.time, 3) for f in video.read_frames(dest)] == wanted

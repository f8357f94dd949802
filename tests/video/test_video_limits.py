"""Videos keep to the limits images have: --max-pixels, one frame size per stream, a video encoder for --codec."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("av")
pytest.importorskip("cv2")

from clips import make_clip
from typer.testing import CliRunner

from stylize import video
from stylize.cli import app
from stylize.errors import EXIT_CODES, InputError

runner = CliRunner()
pytestmark = pytest.mark.usefixtures("torch_one_thread")


def _fast(*args: object) -> object:
    return runner.invoke(app, ["--quiet", "fast", *map(str, args)])


@pytest.mark.parametrize("ext", [".mp4", ".gif"])
def test_max_pixels_holds_for_video_frames(tmp_path: Path, model_file: Path, ext: str) -> None:
    src = make_clip(tmp_path / f"clip{ext}", (64, 48), frames=4, fps=8, audio=False)
    result = _fast(src, "-m", model_file, "-o", tmp_path / "out", "--max-pixels", "3000")
    assert result.exit_code == EXIT_CODES["input"], result.output
    message = " ".join(result.stderr.split())
    assert "64x48" in message and "3,000-pixel limit" in message and "--max-pixels" in message
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
    assert _fast(src, "-m", model_file, "-o", tmp_path / "out", "--max-pixels", "3072").exit_code == 0


def test_the_shared_reader_refuses_frames_over_the_limit(tmp_path: Path) -> None:
    src = make_clip(tmp_path / "clip.mp4", (64, 48), frames=2, fps=8, audio=False)
    with pytest.raises(InputError, match="pixel limit"):
        video.probe(src, max_pixels=1000)
    with pytest.raises(InputError, match="pixel limit"):
        next(video.read_frames(src, max_pixels=1000))
    assert len(list(video.read_frames(src))) == 2  # the default limit (Pillow's) lets it through


def test_a_frame_size_that_changes_mid_stream_is_one_line_exit_3(tmp_path: Path, model_file: Path) -> None:
    first = make_clip(tmp_path / "a.ts", (64, 48), frames=6, fps=8, audio=False)
    second = make_clip(tmp_path / "b.ts", (48, 32), frames=6, fps=8, audio=False)
    joined = tmp_path / "in" / "joined.mp4"  # MPEG-TS inside: FFmpeg reads by content
    joined.parent.mkdir()
    joined.write_bytes(first.read_bytes() + second.read_bytes())  # MPEG-TS joins by bytes
    result = _fast(joined, "-m", model_file, "-o", tmp_path / "out.mp4")
    assert result.exit_code == EXIT_CODES["input"], result.output
    message = " ".join(result.stderr.split())
    assert "frame size changes from 64x48 to 48x32" in message and "internal error" not in message
    assert not (tmp_path / "out.mp4").exists()


@pytest.mark.parametrize("codec", ["aac", "mp3", "png_not_a_codec"])
def test_codec_must_be_a_video_encoder(tmp_path: Path, model_file: Path, codec: str) -> None:
    src = make_clip(tmp_path / "clip.mp4", (64, 48), frames=2, fps=8, audio=False)
    result = _fast(src, "-m", model_file, "-o", tmp_path / "out", "--codec", codec)
    assert result.exit_code == EXIT_CODES["usage"], result.output
    assert f"--codec {codec}" in result.stderr and "internal error" not in result.stderr

"""A video output's stored record: a damaged one is one line naming the file; a GIF's sidecar holds
only for the bytes it was written with."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

av = pytest.importorskip("av")
pytest.importorskip("cv2")

from clips import make_clip
from test_video_run import _run

from stylize import images, video
from stylize.errors import OutputError


def _video_with_comment(path: Path, comment: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as out:
        out.metadata["comment"] = comment
        stream = out.add_stream("libx264", rate=8)
        stream.width, stream.height, stream.pix_fmt = 32, 32, "yuv420p"
        for _ in range(2):
            out.mux(stream.encode(av.VideoFrame.from_ndarray(np.zeros((32, 32, 3), np.uint8), format="rgb24")))
        out.mux(stream.encode(None))
    return path


@pytest.mark.parametrize("comment", ["garbage{", "[1]", "null", '{"job": 5}', "[" * 5000 + "]" * 5000])
def test_a_damaged_record_in_a_videos_tags_is_an_output_error_naming_it(tmp_path: Path, comment: str) -> None:
    src = make_clip(tmp_path / "clip.mp4", frames=4, fps=8, audio=False)
    out = _video_with_comment(tmp_path / "out" / "clip_test_s.mp4", comment)
    with pytest.raises(OutputError, match="clip_test_s.mp4 exists from another job: its stylize record is unreadable"):
        _run([src], tmp_path / "out", video.VideoConfig())
    assert video.read_note(out) == comment  # left as it was


def test_a_gif_replaced_by_another_program_is_not_ours(tmp_path: Path) -> None:
    src = make_clip(tmp_path / "clip.gif", frames=4, fps=8, audio=False)
    report = _run([src], tmp_path / "out", video.VideoConfig())
    out = report.done[0].output
    assert video.read_note(out) is not None and _run([src], tmp_path / "out", video.VideoConfig()).skipped
    make_clip(out, frames=3, fps=8, audio=False)  # another program writes over it; the sidecar stays
    assert images.note_sidecar(out).is_file()
    with pytest.raises(OutputError, match="no stylize record"):
        _run([src], tmp_path / "out", video.VideoConfig())


def test_a_gif_sidecar_that_is_a_folder_is_an_output_error(tmp_path: Path) -> None:
    src = make_clip(tmp_path / "clip.gif", frames=4, fps=8, audio=False)
    (tmp_path / "out").mkdir()
    out = make_clip(tmp_path / "out" / "clip_test_s.gif", frames=3, fps=8, audio=False)
    images.note_sidecar(out).mkdir()
    with pytest.raises(OutputError, match="clip_test_s.gif exists from another job"):
        _run([src], tmp_path / "out", video.VideoConfig())

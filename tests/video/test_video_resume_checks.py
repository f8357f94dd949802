"""A resumed video trusts nothing in its work folder it did not check: each segment's name, hash and
frame count; anything not as recorded is redone, never delivered short or foreign."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("av")
pytest.importorskip("cv2")

from clips import make_clip
from test_video_run import FakeBackend, _frames, _run

from stylize import video
from stylize.batch import BatchInterrupted, BatchOptions
from stylize.video.run import work_folder

pytestmark = pytest.mark.usefixtures("torch_one_thread")


def _interrupted(tmp_path: Path, config: video.VideoConfig) -> tuple[Path, Path, list[np.ndarray]]:
    """(source, work folder) of a run stopped after two of four segments, and the uninterrupted frames."""
    src = make_clip(tmp_path / "clip.mp4", frames=24, fps=12, audio=False)
    whole = _run([src], tmp_path / "whole", config)
    with pytest.raises(BatchInterrupted):
        _run([src], tmp_path / "part", config, FakeBackend(BatchOptions(), stop_after=15))
    folder = work_folder(tmp_path / "part" / "clip_test_s.mp4")
    assert len(json.loads((folder / "manifest.json").read_text())["segments"]) == 2
    return src, folder, _frames(whole.done[0].output)


def _resumed(tmp_path: Path, src: Path, config: video.VideoConfig) -> tuple[FakeBackend, list[np.ndarray]]:
    backend = FakeBackend(BatchOptions())
    report = _run([src], tmp_path / "part", config, backend)
    assert not report.failed
    return backend, _frames(tmp_path / "part" / "clip_test_s.mp4")


def _same(frames: list[np.ndarray], expected: list[np.ndarray]) -> bool:
    return len(frames) == len(expected) == 24 and all(np.array_equal(a, b) for a, b in zip(frames, expected))


@pytest.mark.parametrize(("temporal", "redone"), [(0.0, 18), (0.5, 24)])
def test_a_truncated_segment_is_redone(tmp_path: Path, temporal: float, redone: int) -> None:
    """Without saved state the good segment before it is kept; with the stabiliser's, all is redone."""
    config = video.VideoConfig(temporal=temporal, segment_s=0.5, crf=0)
    src, folder, expected = _interrupted(tmp_path, config)
    segment = folder / f"00001{video.SEGMENT_SUFFIX}"
    segment.write_bytes(segment.read_bytes()[: segment.stat().st_size // 2])
    backend, frames = _resumed(tmp_path, src, config)
    assert backend.frames == redone
    assert _same(frames, expected)


def _edit_manifest(folder: Path, change: Any) -> None:
    manifest = json.loads((folder / "manifest.json").read_text())
    (folder / "manifest.json").write_text(json.dumps(change(manifest)))


def _foreign(tmp_path: Path) -> dict[str, Any]:
    other = make_clip(tmp_path / "other.mp4", (32, 32), frames=12, fps=12, audio=False)
    return {"file": str(other), "frames": 12, "last_pts": 0, "sha256": ""}


CHANGES = {
    "entry outside the folder": lambda m, t: {**m, "segments": [_foreign(t), *m["segments"][1:]]},
    "path climbing out": lambda m, t: {**m, "segments": [{**m["segments"][0], "file": "../../other.mp4"}]},
    "a list": lambda m, t: [m],
    "segments not a list": lambda m, t: {**m, "segments": {"a": 1}},
    "entry of wrong types": lambda m, t: {**m, "segments": [{"file": 5, "frames": "six", "last_pts": None}]},
    "frames miscounted": lambda m, t: {**m, "segments": [{**s, "frames": s["frames"] + 1} for s in m["segments"]]},
    "no hashes (older stylize)": lambda m, t: {**m, "segments": [{**s, "sha256": None} for s in m["segments"]]},
}


@pytest.mark.parametrize("change", list(CHANGES), ids=list(CHANGES))
def test_a_manifest_not_as_written_starts_over(tmp_path: Path, change: str) -> None:
    config = video.VideoConfig(temporal=0.5, segment_s=0.5, crf=0)
    src, folder, expected = _interrupted(tmp_path, config)
    make_clip(tmp_path / "part" / "other.mp4", (32, 32), frames=12, fps=12, audio=False)
    _edit_manifest(folder, lambda m: CHANGES[change](m, tmp_path))
    backend, frames = _resumed(tmp_path, src, config)
    assert backend.frames == 24
    assert _same(frames, expected)

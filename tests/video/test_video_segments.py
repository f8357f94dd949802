"""stylize.video.segments: a video's work folder, what a rerun resumes from."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("av")

from clips import make_clip

from stylize.progress import NullReporter
from stylize.video.segments import Segments


def test_segments_keep_the_backends_state_beside_the_stabilisers(tmp_path: Path) -> None:
    segments = Segments.open(tmp_path / "work", "sig", NullReporter())
    make_clip(segments.folder / "00000.nut", frames=5, audio=False)  # a finished segment of 5 frames
    state = (np.zeros((2, 2, 3), np.uint8), np.ones((2, 2, 3), np.uint8))
    segments.add(5, 99, state, {"mean": np.arange(3.0)})
    again = Segments.open(tmp_path / "work", "sig", NullReporter())
    assert again.last_pts == 99 and np.array_equal(again.state()[1], state[1])  # type: ignore[index]
    assert np.array_equal((again.backend_state() or {})["mean"], np.arange(3.0))

"""Video fixtures: ``clip_factory`` writes a small test clip (see clips.py). Test modules here start
with ``pytest.importorskip("av")`` (and "cv2" where flow is used): both are optional at import time."""

from __future__ import annotations

import pytest


@pytest.fixture
def clip_factory() -> object:
    """``make_clip(path, size=(64, 48), frames=12, fps=12, audio=True, static=False)``: write a test clip."""
    from clips import make_clip

    return make_clip

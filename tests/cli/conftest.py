"""Fixtures shared by the CLI tests."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def job(tmp_path: Path, image_factory: object) -> dict[str, Path]:
    """One adain job's files: a photo, a style, and the output folder (not made yet)."""
    make = image_factory
    return {
        "content": make(tmp_path / "in" / "photo.png", (60, 40), 1),  # type: ignore[operator]
        "style": make(tmp_path / "styles" / "wave.jpg", (48, 48), 2),  # type: ignore[operator]
        "out": tmp_path / "out",
    }

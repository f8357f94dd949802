"""Batch fixtures: ``tree`` (a small photo folder) and ``edge_tree`` (the shared broken inputs plus good ones)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from batch_helpers import EDGE, make_image

from stylize.files import TEMP_PREFIX, TEMP_SUFFIX


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """photos/{a.jpg, B.PNG, sub/c.jpg, sub/deeper/d.webp, .hidden.jpg, .git/x.jpg, notes.txt}."""
    root = tmp_path / "photos"
    make_image(root / "a.jpg")
    make_image(root / "B.PNG", (20, 20))
    make_image(root / "sub" / "c.jpg")
    make_image(root / "sub" / "deeper" / "d.webp")
    make_image(root / ".hidden.jpg")
    make_image(root / ".git" / "x.jpg")
    (root / "notes.txt").write_text("not an image")
    (root / f"{TEMP_PREFIX}abc{TEMP_SUFFIX}.jpg").write_bytes(b"half")
    return root


@pytest.fixture
def edge_tree(tmp_path: Path) -> Path:
    if not EDGE.is_dir():
        pytest.skip("../shared/data/edge is not available")
    root = tmp_path / "mixed"
    shutil.copytree(EDGE, root)
    root.chmod(0o755)  # the shared copy is read-only
    for path in root.iterdir():
        path.chmod(0o644)
    for i in range(3):
        make_image(root / "gen" / f"g{i}.jpg")
    return root

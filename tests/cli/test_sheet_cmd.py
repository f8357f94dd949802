"""``stylize sheet``: a photo in every shipped fast model and every given style, labelled, in one file."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from stylize.cli import app
from stylize.errors import EXIT_CODES

runner = CliRunner()
pytestmark = pytest.mark.usefixtures("fake_adain_weights", "torch_one_thread")
SHIPPED = ("starry-night", "great-wave", "composition-vii")


def _sheet(*args: str | Path) -> object:
    return runner.invoke(app, ["--quiet", "sheet", *map(str, args)])


def test_every_shipped_model_and_style_in_one_sheet_with_the_full_size_commands(
    tmp_path: Path, image_factory: object
) -> None:
    photo = image_factory(tmp_path / "my photo.jpg", (120, 90), 1)  # type: ignore[operator]
    style = image_factory(tmp_path / "dots.png", (64, 64), 2)  # type: ignore[operator]
    out = tmp_path / "sheets" / "sheet.png"
    result = _sheet(photo, "-s", style, "-o", out, "--size", "64")
    assert result.exit_code == 0, result.output
    commands = result.stdout.splitlines()
    assert commands == [
        *(shlex.join(["stylize", "fast", str(photo), "-m", name]) for name in SHIPPED),
        shlex.join(["stylize", "adain", str(photo), str(style)]),
    ]
    assert shlex.split(commands[0])[2] == str(photo)  # a path with a space stays one argument
    sheet = np.asarray(Image.open(out).convert("RGB"), dtype=np.int16)
    tiles = [sheet[6 : 6 + 48, x : x + 64] for x in (6, 76, 146, 216)]  # photo, then the shipped models (64x48)
    assert sheet.shape[1] >= 4 * 70 and sheet.shape[0] > 2 * 48  # 5 tiles: 4 in the first row, 1 below
    assert all(np.abs(tile - tiles[0]).mean() > 3 for tile in tiles[1:])  # each model paints the photo its way
    assert [p.name for p in out.parent.iterdir()] == ["sheet.png"]  # written atomically: no temp file left


def test_json_lists_the_tiles(tmp_path: Path, image_factory: object) -> None:
    photo = image_factory(tmp_path / "p.png", (40, 30), 1)  # type: ignore[operator]
    result = _sheet(photo, "-o", tmp_path / "s.jpg", "--size", "32", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert [t["label"] for t in report["tiles"]] == ["photo", *(f"fast {name}" for name in SHIPPED)]
    assert report["sheet"] == str(tmp_path / "s.jpg") and Image.open(tmp_path / "s.jpg").format == "JPEG"


def test_never_over_an_input_nor_in_a_format_it_cannot_be(tmp_path: Path, image_factory: object) -> None:
    photo = image_factory(tmp_path / "p.png", (40, 30), 1)  # type: ignore[operator]
    style = image_factory(tmp_path / "s.png", (32, 32), 2)  # type: ignore[operator]
    before = {path: path.read_bytes() for path in (photo, style)}
    for target in (photo, style):
        result = _sheet(photo, "-s", style, "-o", target)
        assert result.exit_code == EXIT_CODES["input"] and "would overwrite" in result.stderr, result.output
    assert _sheet(photo, "-o", tmp_path / "sheet.gif").exit_code == EXIT_CODES["usage"]
    assert _sheet(tmp_path / "missing.jpg", "-o", tmp_path / "x.jpg").exit_code == EXIT_CODES["input"]
    assert {path: path.read_bytes() for path in before} == before
    assert not (tmp_path / "x.jpg").exists() and not (tmp_path / "sheet.gif").exists()

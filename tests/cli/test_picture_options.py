"""One meaning per option across adain, fast and optimize: --size, --upscale, --color."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from stylize.cli import app
from stylize.config import DEFAULT_SIZE, AdaINConfig, FastConfig, OptimizeConfig
from stylize.models.transformer_net import transformer_net_layout

runner = CliRunner()
pytestmark = pytest.mark.usefixtures("fake_adain_weights", "bundled_vgg")
QUICK = {"optimize": ["--iterations", "1", "--scales", "1"], "adain": [], "fast": []}


@pytest.fixture
def files(tmp_path: Path, image_factory: object) -> dict[str, Path]:
    g = torch.Generator().manual_seed(0)
    model = tmp_path / "m.pth"
    torch.save({k: torch.randn(s, generator=g) * 0.1 for k, s in transformer_net_layout().items()}, model)
    return {
        "small": image_factory(tmp_path / "small.png", (60, 40), 1),
        "style": image_factory(tmp_path / "style.png", (48, 48), 2),
        "model": model,
    }


def _run(method: str, files: dict[str, Path], out: Path, *args: str) -> object:
    source = ["-m", str(files["model"])] if method == "fast" else [str(files["style"])]
    command = ["--quiet", method, str(files["small"]), *source, "-o", str(out), *QUICK[method], *args]
    return runner.invoke(app, command)


def test_every_command_has_the_same_size_default() -> None:
    assert AdaINConfig().size == FastConfig().size == OptimizeConfig().size == DEFAULT_SIZE == 512
    assert not (AdaINConfig().upscale or FastConfig().upscale or OptimizeConfig().upscale)


@pytest.mark.parametrize("method", ["adain", "fast", "optimize"])
def test_size_never_upscales_unless_asked(method: str, files: dict[str, Path], tmp_path: Path) -> None:
    kept, grown, shrunk = tmp_path / "kept.png", tmp_path / "grown.png", tmp_path / "shrunk.png"
    assert _run(method, files, kept).exit_code == 0  # default 512: a 60x40 photo stays 60x40
    assert _run(method, files, grown, "--size", "96", "--upscale").exit_code == 0
    assert _run(method, files, shrunk, "--size", "30").exit_code == 0
    assert [Image.open(p).size for p in (kept, grown, shrunk)] == [(60, 40), (96, 64), (30, 20)]


@pytest.mark.parametrize("method", ["adain", "fast", "optimize"])
def test_color_takes_the_same_values_everywhere(method: str, files: dict[str, Path], tmp_path: Path) -> None:
    for value in ("none", "match", "luminance"):
        result = _run(method, files, tmp_path / f"{value}.png", "--color", value)
        assert result.exit_code == 0, (value, result.output)
    alias = _run(method, files, tmp_path / "alias.png", "--preserve-color")
    assert alias.exit_code == 0, alias.output
    assert Image.open(tmp_path / "alias.png").tobytes() == Image.open(tmp_path / "luminance.png").tobytes()
    bad = _run(method, files, tmp_path / "bad.png", "--color", "yes")
    assert bad.exit_code == 2 and "--color must be one of none, match, luminance" in bad.output
    for other in ("none", "match"):  # a typed --color none contradicts --preserve-color as --color match does
        both = _run(method, files, tmp_path / "both.png", "--preserve-color", "--color", other)
        assert both.exit_code == 2 and "conflicts with --color" in both.output, (other, both.output)
    assert not (tmp_path / "both.png").exists()

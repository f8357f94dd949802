"""The contract every stylizing method keeps, as tests a method's test class inherits.

A method's class declares its CLI command, the tiny components it runs with (random weights, small
sizes) and what it supports; the tests here run it end to end through the CLI and the picture API:
folders, videos, resume and job signatures, ``--color``, masks, damaged inputs. Adding a method
means one subclass in test_method_contract.py (diffusers' PipelineTesterMixin pattern).
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

import stylize
from stylize import ops
from stylize.cli import app
from stylize.images import to_tensor

runner = CliRunner()
EXIT_INPUT, EXIT_FAILURES = 3, 6  # stylize.errors: a bad input or existing output; some files failed
# the template of the contract's runs: names without {variant}'s settings (every run here has a small --size)
NAME = "{stem}_{method}_{style}.{ext}"


def _clips() -> Any:
    """tests/video/clips.py (a sibling test folder, not a package)."""
    spec = importlib.util.spec_from_file_location("clips", Path(__file__).parents[1] / "video" / "clips.py")
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


class MethodContract:
    """Inherit, set the class attributes, implement ``style_args`` and ``picture``."""

    command: ClassVar[str]  # the CLI command and the method's name in output names
    size: ClassVar[int] = 48  # --size of every run
    masks: ClassVar[bool] = False  # supports --mask
    pixel_setting: ClassVar[tuple[str, ...]] = ("--size", "40")  # changes pixels: a rerun must not skip

    def style_args(self, styles: list[Path]) -> list[str]:
        """The options that choose the styles (or models) ``styles``."""
        raise NotImplementedError

    def picture(self, content: Path, styles: list[Path], **options: Any) -> Image.Image:
        """The same job through the picture API (``stylize.<method>``)."""
        raise NotImplementedError

    @pytest.fixture
    def styles(self, tmp_path: Path, image_factory: Any) -> list[Path]:
        """Two style pictures; a method whose styles are networks overrides this."""
        return [
            image_factory(tmp_path / "styles" / "s1.png", (48, 48), 3),
            image_factory(tmp_path / "styles" / "s2.jpg", (40, 48), 4),
        ]

    @pytest.fixture
    def photos(self, tmp_path: Path, image_factory: Any) -> Path:
        image_factory(tmp_path / "in" / "c1.jpg", (60, 45), 1)
        image_factory(tmp_path / "in" / "sub" / "c2.png", (30, 40), 2)
        return tmp_path / "in"

    def run(self, *args: str | Path, name: str | None = NAME) -> Any:
        """The command at the class's size; ``name=None`` keeps the default name template."""
        template = ["--name", name] if name else []
        return runner.invoke(app, ["--quiet", self.command, "--size", str(self.size), *template, *map(str, args)])

    # ---------------------------------------------------------------- folders

    def test_a_folder_gives_one_output_per_photo_and_style(
        self, photos: Path, styles: list[Path], tmp_path: Path
    ) -> None:
        out = tmp_path / "out"
        result = self.run(photos, *self.style_args(styles), "-o", out)
        assert result.exit_code == 0, result.output
        written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
        tags = [s.stem for s in styles]
        expected = sorted(
            [f"c1_{self.command}_{t}.jpg" for t in tags] + [f"sub/c2_{self.command}_{t}.png" for t in tags]
        )
        assert written == expected and sorted(result.stdout.split()) == sorted(str(out / w) for w in expected)
        first = Image.open(out / expected[0])
        assert max(first.size) == self.size and np.asarray(first).std() > 1

    def test_a_damaged_photo_is_reported_and_the_others_are_written(
        self, photos: Path, styles: list[Path], tmp_path: Path
    ) -> None:
        (photos / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)
        out = tmp_path / "out"
        result = self.run(photos, *self.style_args(styles[:1]), "-o", out, "--json")
        assert result.exit_code == EXIT_FAILURES, result.output
        assert len([p for p in out.rglob("*") if p.is_file()]) == 2
        assert "broken.png" in result.output

    # ---------------------------------------------------------------- resume and job signatures

    def test_a_rerun_skips_and_other_settings_are_refused(
        self, photos: Path, styles: list[Path], tmp_path: Path
    ) -> None:
        out, args = tmp_path / "out", [photos / "c1.jpg", *self.style_args(styles[:1])]
        assert self.run(*args, "-o", out).exit_code == 0
        written = next(out.iterdir())
        before = written.read_bytes()
        again = self.run(*args, "-o", out, "--json")
        assert again.exit_code == 0, again.output
        assert json.loads(again.stdout)["counts"]["skipped"] == 1
        other = self.run(*args, *self.pixel_setting, "-o", out)
        assert other.exit_code == EXIT_INPUT and "--overwrite" in other.output
        assert written.read_bytes() == before

    def test_default_names_give_other_settings_their_own_file(
        self, photos: Path, styles: list[Path], tmp_path: Path
    ) -> None:
        out, args = tmp_path / "out", [photos / "c1.jpg", *self.style_args(styles[:1]), "-o", tmp_path / "out"]
        assert self.run(*args, name=None).exit_code == 0
        (first,) = out.iterdir()
        before = first.read_bytes()
        other = self.run(*args, *self.pixel_setting, name=None)
        assert other.exit_code == 0, other.output
        (second,) = (p for p in out.iterdir() if p != first)
        assert second.name.startswith(f"c1_{self.command}_{styles[0].stem}_") and first.read_bytes() == before
        again = self.run(*args, *self.pixel_setting, "--json", name=None)
        assert again.exit_code == 0 and json.loads(again.stdout)["counts"]["skipped"] == 1

    # ---------------------------------------------------------------- colour

    def test_color_luminance_keeps_the_photo_chroma(self, photos: Path, styles: list[Path], tmp_path: Path) -> None:
        """The output's chroma (YIQ I, Q) is the photo's: far closer than without --color (out-of-gamut
        pixels clip, so not exactly)."""
        photo = photos / "sub" / "c2.png"
        errors = {}
        for color in ("luminance", "none"):
            out = tmp_path / f"{color}.png"
            result = self.run(photo, *self.style_args(styles[:1]), "--color", color, "-o", out)
            assert result.exit_code == 0, result.output
            got = Image.open(out).convert("RGB")
            want = to_tensor(Image.open(photo).convert("RGB").resize(got.size))[0]
            errors[color] = float((ops.rgb_to_yiq(to_tensor(got)[0])[1:] - ops.rgb_to_yiq(want)[1:]).abs().mean())
        assert errors["luminance"] < 0.5 * errors["none"], errors

    # ---------------------------------------------------------------- masks

    def test_masks_put_each_style_where_its_mask_is_white(
        self, photos: Path, styles: list[Path], tmp_path: Path
    ) -> None:
        if not self.masks:
            result = self.run(photos / "c1.jpg", *self.style_args(styles), "--mask", photos / "c1.jpg", "-o", tmp_path)
            assert result.exit_code == 2  # no such option: a usage error, not a silent ignore
            return
        white = tmp_path / "white.png"
        Image.new("L", (60, 45), 255).save(white)  # style 1 everywhere; its inverse gives style 2 nowhere
        paths = {}
        # the transfer compared exactly (--palette 0): the palette, fitted to each output, stretches these
        # random weights' narrow colours onto the style's and a grey level of difference with them
        # (tests/test_palette.py checks that masks give each region its own style's colours)
        for name, chosen, extra in (
            ("masked", styles, ["--mask", white, "--palette", "0"]),
            ("one", styles[:1], ["--palette", "0"]),
            ("two", styles[1:], ["--palette", "0"]),
        ):
            paths[name] = tmp_path / f"{name}.png"
            result = self.run(photos / "c1.jpg", *self.style_args(chosen), *extra, "-o", paths[name])
            assert result.exit_code == 0, result.output
        masked, one, two = (np.asarray(Image.open(paths[n]), np.float32) for n in ("masked", "one", "two"))
        assert np.abs(masked - one).max() <= 2 and np.abs(masked - two).mean() > 1

    # ---------------------------------------------------------------- videos

    def test_a_video_gives_a_video_of_the_same_frames(self, styles: list[Path], tmp_path: Path) -> None:
        from stylize import video

        clip = _clips().make_clip(tmp_path / "clip.mp4", size=(64, 48), frames=6, audio=False)
        out = tmp_path / "styled.mp4"
        result = self.run(clip, *self.style_args(styles[:1]), "-o", out)
        assert result.exit_code == 0, result.output
        info = video.probe(out)
        assert info.frames == 6 and max(info.width, info.height) == self.size

    # ---------------------------------------------------------------- the picture API

    def test_the_picture_api_gives_the_cli_pixels(self, photos: Path, styles: list[Path], tmp_path: Path) -> None:
        out = tmp_path / "cli.png"
        assert self.run(photos / "sub" / "c2.png", *self.style_args(styles[:1]), "-o", out).exit_code == 0
        got = self.picture(photos / "sub" / "c2.png", styles[:1], size=self.size)
        assert np.array_equal(np.asarray(got), np.asarray(Image.open(out).convert("RGB")))


__all__ = ["MethodContract", "stylize"]

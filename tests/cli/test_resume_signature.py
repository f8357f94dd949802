"""Re-runs skip only outputs of the same job: the job signature stored in each output."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from stylize import images
from stylize.cli import app
from stylize.errors import EXIT_CODES
from stylize.models.transformer_net import transformer_net_layout

runner = CliRunner()
pytestmark = pytest.mark.usefixtures("fake_adain_weights")


NAME = "{stem}_{method}_{style}.{ext}"  # an explicit template: names without the settings, as before {variant}


def _adain(*args: str | Path) -> object:
    """adain with an explicit --name: a changed setting meets the output of another job (the signature's work)."""
    return runner.invoke(
        app, ["--quiet", "adain", "--size", "48", "--style-size", "48", "--name", NAME, *map(str, args)]
    )


def _adain_default_name(*args: str | Path) -> object:
    return runner.invoke(app, ["--quiet", "adain", *map(str, args)])


def _outputs(folder: Path) -> dict[str, int]:
    """Every file below ``folder`` (hidden ones too) with its modification time."""
    return {p.relative_to(folder).as_posix(): p.stat().st_mtime_ns for p in folder.rglob("*") if p.is_file()}


def test_same_command_twice_skips_and_records_the_job(job: dict[str, Path]) -> None:
    first = _adain(job["content"], job["style"], "-o", job["out"], "--alpha", "0.7")
    assert first.exit_code == 0, first.output
    output = job["out"] / "photo_adain_wave.png"
    record = json.loads(images.read_note(output) or "{}")
    assert record["job"]["method"] == "adain" and record["job"]["settings"]["alpha"] == 0.7
    before = _outputs(job["out"])
    again = _adain(job["content"], job["style"], "-o", job["out"], "--alpha", "0.7", "--json")
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout)["counts"]["skipped"] == 1
    assert _outputs(job["out"]) == before  # nothing rewritten


@pytest.mark.parametrize(
    ("change", "said"),
    [
        (["--alpha", "0.5"], "alpha was the default, now 0.5"),
        (["--color", "luminance"], 'color was "none", now "luminance"'),
        (["--size", "32"], "size was 48, now 32"),
        (["--style-scale", "2"], "style-scale was 1, now 2"),
    ],
)
def test_a_changed_setting_stops_before_any_work(job: dict[str, Path], change: list[str], said: str) -> None:
    assert _adain(job["content"], job["style"], "-o", job["out"]).exit_code == 0
    before = _outputs(job["out"])
    result = _adain(job["content"], job["style"], "-o", job["out"], *change)
    assert result.exit_code == EXIT_CODES["input"], result.output
    message = " ".join(result.stderr.split())
    assert "photo_adain_wave.png exists from another job" in message and said in message
    assert "--overwrite" in message and "--name" in message
    assert _outputs(job["out"]) == before  # not a byte written
    redo = _adain(job["content"], job["style"], "-o", job["out"], *change, "--overwrite")
    assert redo.exit_code == 0, redo.output
    assert _outputs(job["out"]) != before
    assert _adain(job["content"], job["style"], "-o", job["out"], *change).exit_code == 0  # now it is this job's


def test_an_edited_content_or_style_image_is_another_job(job: dict[str, Path], image_factory: object) -> None:
    assert _adain(job["content"], job["style"], "-o", job["out"]).exit_code == 0
    image_factory(job["style"], (48, 48), 9)  # the same name, other pixels
    result = _adain(job["content"], job["style"], "-o", job["out"])
    assert result.exit_code == EXIT_CODES["input"] and "other style images" in result.stderr
    assert _adain(job["content"], job["style"], "-o", job["out"], "--overwrite").exit_code == 0
    image_factory(job["content"], (60, 40), 7)
    result = _adain(job["content"], job["style"], "-o", job["out"])
    assert result.exit_code == EXIT_CODES["input"] and "another content image" in result.stderr


def test_a_file_stylize_did_not_write_is_never_taken_for_a_result(job: dict[str, Path]) -> None:
    output = job["out"] / "photo_adain_wave.png"
    output.parent.mkdir(parents=True)
    Image.new("RGB", (8, 8), "white").save(output)
    result = _adain(job["content"], job["style"], "-o", job["out"])
    assert result.exit_code == EXIT_CODES["input"] and "no stylize record" in result.stderr
    assert Image.open(output).size == (8, 8)


def test_methods_do_not_share_default_names(job: dict[str, Path], bundled_vgg: Path) -> None:
    assert _adain(job["content"], job["style"], "-o", job["out"]).exit_code == 0
    optimize = runner.invoke(
        app,
        [
            "--quiet",
            "optimize",
            str(job["content"]),
            str(job["style"]),
            "-o",
            str(job["out"]),
            "--size",
            "32",
            "--iterations",
            "2",
            "--scales",
            "1",
            "--name",
            NAME,
        ],
    )
    assert optimize.exit_code == 0, optimize.output
    assert sorted(p.name for p in job["out"].iterdir()) == ["photo_adain_wave.png", "photo_optimize_wave.png"]


def test_fast_with_another_model_file_of_the_same_name_is_another_job(tmp_path: Path, job: dict[str, Path]) -> None:
    model = tmp_path / "models" / "mine.pth"
    model.parent.mkdir()

    def save_model(seed: int) -> None:
        g = torch.Generator().manual_seed(seed)
        torch.save({k: torch.randn(s, generator=g) * 0.1 for k, s in transformer_net_layout().items()}, model)

    def fast(*extra: str) -> object:
        return runner.invoke(
            app, ["--quiet", "fast", str(job["content"]), "-m", str(model), "-o", str(job["out"]), *extra]
        )

    save_model(0)
    assert fast().exit_code == 0
    assert fast().exit_code == 0  # resumed
    save_model(1)
    result = fast()
    assert result.exit_code == EXIT_CODES["input"] and "another model" in result.stderr


@pytest.mark.parametrize("ext", ["png", "jpg", "webp", "tif", "bmp"])
def test_every_output_format_carries_the_record(job: dict[str, Path], ext: str) -> None:
    result = _adain(job["content"], job["style"], "-o", job["out"], "--ext", ext)
    assert result.exit_code == 0, result.output
    record = images.read_note(job["out"] / f"photo_adain_wave.{ext}")
    assert record is not None and json.loads(record)["job"]["method"] == "adain"
    assert _adain(job["content"], job["style"], "-o", job["out"], "--ext", ext).exit_code == 0
    assert _adain(job["content"], job["style"], "-o", job["out"], "--ext", ext, "--alpha", "0.2").exit_code == 3


def test_a_changed_setting_gets_its_own_default_name_and_every_rerun_skips(job: dict[str, Path]) -> None:
    base = [job["content"], job["style"], "-o", job["out"]]
    assert _adain_default_name(*base).exit_code == 0
    tweaked = _adain_default_name(*base, "--alpha", "0.9")
    assert tweaked.exit_code == 0, tweaked.output
    assert tweaked.stdout.strip().endswith("photo_adain_wave_alpha0.9.png")
    assert sorted(_outputs(job["out"])) == ["photo_adain_wave.png", "photo_adain_wave_alpha0.9.png"]
    before = _outputs(job["out"])
    for extra in ([], ["--alpha", "0.9"]):
        again = _adain_default_name(*base, *extra, "--json")
        assert again.exit_code == 0 and json.loads(again.stdout)["counts"]["skipped"] == 1
    assert _outputs(job["out"]) == before  # nothing rewritten
    record = json.loads(images.read_note(job["out"] / "photo_adain_wave_alpha0.9.png") or "{}")
    assert record["job"]["settings"]["alpha"] == 0.9


def test_a_file_someone_made_under_a_variant_name_is_still_never_overwritten(job: dict[str, Path]) -> None:
    mine = job["out"] / "photo_adain_wave_alpha0.5.png"
    mine.parent.mkdir(parents=True)
    Image.new("RGB", (8, 8), "white").save(mine)
    result = _adain_default_name(job["content"], job["style"], "-o", job["out"], "--alpha", "0.5")
    assert result.exit_code == EXIT_CODES["input"] and "no stylize record" in result.stderr
    assert Image.open(mine).size == (8, 8)


def test_blend_and_mask_runs_have_default_names_of_their_own(job: dict[str, Path], image_factory: object) -> None:
    other = image_factory(job["style"].parent / "dots.png", (48, 48), 3)
    mask = image_factory(job["style"].parent / "fg.png", (60, 40), 4)
    styles = [job["content"], "-s", job["style"], "-s", other, "-o", job["out"]]
    blend = _adain_default_name(*styles, "--blend", "7,3")
    masked = _adain_default_name(*styles, "--mask", mask)
    assert blend.exit_code == 0 and masked.exit_code == 0, blend.output + masked.output
    assert sorted(_outputs(job["out"])) == ["photo_adain_wave+dots_masks-fg.png", "photo_adain_wave@0.7+dots@0.3.png"]


def test_blend_weights_go_to_the_styles_in_the_order_given(job: dict[str, Path], image_factory: object) -> None:
    other = image_factory(job["style"].parent / "dots.png", (48, 48), 3)  # sorts before "wave"
    all_wave = _adain_default_name(job["content"], "-s", job["style"], "-s", other, "-o", job["out"], "--blend", "1,0")
    alone = _adain_default_name(job["content"], "-s", job["style"], "-o", job["out"])
    assert all_wave.exit_code == 0 and alone.exit_code == 0, all_wave.output + alone.output
    blended = np.asarray(Image.open(job["out"] / "photo_adain_wave@1+dots@0.png"), dtype=np.int16)
    single = np.asarray(Image.open(job["out"] / "photo_adain_wave.png"), dtype=np.int16)
    assert np.abs(blended - single).max() <= 2  # all of wave's statistics, none of dots'

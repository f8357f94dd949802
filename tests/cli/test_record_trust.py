"""What a re-run may trust: the whole of every input file, an output's own bytes, a damaged record.

A re-run skips an existing output only when its stored record says this very job made it: every
byte of the content, style and model files counts, a sidecar record holds only for the bytes it
was written with, and a record that cannot be read is one line naming the file, exit 3.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from stylize import images
from stylize.batch import pipeline
from stylize.cli import app
from stylize.errors import EXIT_CODES
from stylize.models.transformer_net import transformer_net_layout

runner = CliRunner()
pytestmark = pytest.mark.usefixtures("fake_adain_weights")


def _adain(*args: str | Path) -> object:
    """``stylize adain`` at 48 px; outputs named without their settings (``--name``), so that runs with
    other settings aim at the same file, as two commands with one --name do."""
    size = ["--size", "48", "--style-size", "48", "--name", "{stem}_{method}_{style}.{ext}"]
    return runner.invoke(app, ["--quiet", "adain", *size, *map(str, args)])


def _edit_middle(path: Path, offset: int = 0) -> None:
    """Change bytes in the middle of a file, keeping its size and modification time."""
    stat = path.stat()
    data = bytearray(path.read_bytes())
    middle = len(data) // 2 + offset
    data[middle : middle + 300] = bytes(255 - b for b in data[middle : middle + 300])
    path.write_bytes(bytes(data))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))


@pytest.mark.parametrize("ext", ["bmp", "tif"])
def test_a_same_size_edit_in_the_middle_of_a_large_content_file_is_another_job(
    tmp_path: Path, job: dict[str, Path], ext: str
) -> None:
    content = tmp_path / "in" / f"big.{ext}"
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (400, 400, 3), dtype=np.uint8)).save(content)  # 480 KB, uncompressed
    assert _adain(content, job["style"], "-o", job["out"]).exit_code == 0
    _edit_middle(content)
    result = _adain(content, job["style"], "-o", job["out"])
    assert result.exit_code == EXIT_CODES["input"], result.output
    assert "another content image" in result.stderr


def test_a_model_file_changed_in_its_middle_is_another_model(tmp_path: Path, job: dict[str, Path]) -> None:
    model = tmp_path / "models" / "mine.pth"
    model.parent.mkdir()
    g = torch.Generator().manual_seed(0)
    torch.save({k: torch.randn(s, generator=g) * 0.1 for k, s in transformer_net_layout().items()}, model)
    assert model.stat().st_size > 512 * 1024  # larger than the head and tail a cheaper fingerprint would read

    def fast() -> object:
        return runner.invoke(app, ["--quiet", "fast", str(job["content"]), "-m", str(model), "-o", str(job["out"])])

    assert fast().exit_code == 0
    _edit_middle(model)
    result = fast()
    assert result.exit_code == EXIT_CODES["input"], result.output
    assert "another model" in result.stderr


@pytest.mark.parametrize("ext", ["bmp", "png"])
def test_an_output_replaced_by_another_program_is_not_ours(job: dict[str, Path], ext: str) -> None:
    assert _adain(job["content"], job["style"], "-o", job["out"], "--ext", ext).exit_code == 0
    output = job["out"] / f"photo_adain_wave.{ext}"
    Image.new("RGB", (48, 32), "red").save(output)  # another program writes over it; a sidecar record stays
    result = _adain(job["content"], job["style"], "-o", job["out"], "--ext", ext)
    assert result.exit_code == EXIT_CODES["input"], result.output
    assert "photo_adain_wave" in result.stderr
    assert np.asarray(Image.open(output)).tolist() == np.asarray(Image.new("RGB", (48, 32), "red")).tolist()


DAMAGED = [
    "garbage{",
    "[1, 2]",
    "null",
    '{"job": 5}',
    '{"job": {"method": "adain", "settings": [1], "styles": 3}}',
    '{"job": {"method": ["adain"], "settings": {"alpha": {}}}}',
    "[" * 20_000 + "]" * 20_000,
]


def _write_record(path: Path, record: str, ext: str) -> None:
    """An output whose stored record is ``record`` (a BMP's sidecar, or the file's own metadata)."""
    img = Image.new("RGB", (48, 32), "blue")
    if ext == "bmp":
        img.save(path)
        images.note_sidecar(path).write_text(record)
    else:
        images.save_image(img, path, note=record, overwrite=True)


@pytest.mark.parametrize("ext", ["png", "jpg", "tif", "bmp"])
@pytest.mark.parametrize("record", DAMAGED, ids=range(len(DAMAGED)))
def test_a_damaged_record_is_one_line_naming_the_file(job: dict[str, Path], ext: str, record: str) -> None:
    output = job["out"] / f"photo_adain_wave.{ext}"
    output.parent.mkdir(parents=True)
    _write_record(output, record, ext)
    result = _adain(job["content"], job["style"], "-o", job["out"], "--ext", ext)
    assert result.exit_code == EXIT_CODES["input"], result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and str(output) in " ".join(result.stderr.split()), result.stderr
    assert "internal error" not in result.stderr


def test_a_sidecar_that_is_a_folder_is_one_line(job: dict[str, Path]) -> None:
    output = job["out"] / "photo_adain_wave.bmp"
    output.parent.mkdir(parents=True)
    Image.new("RGB", (48, 32), "blue").save(output)
    images.note_sidecar(output).mkdir()
    result = _adain(job["content"], job["style"], "-o", job["out"], "--ext", "bmp")
    assert result.exit_code == EXIT_CODES["input"], result.output
    assert "internal error" not in result.stderr and "photo_adain_wave.bmp" in result.stderr


def test_outputs_written_beside_their_inputs_are_skipped_by_the_same_command(
    tmp_path: Path, image_factory: object
) -> None:
    folder = tmp_path / "photos"
    image_factory(folder / "a.png", (60, 40), 1)
    image_factory(folder / "b.png", (50, 40), 3)
    style = image_factory(tmp_path / "wave.jpg", (48, 48), 2)
    first = _adain(folder, style, "-o", folder)
    assert first.exit_code == 0, first.output
    made = sorted(p.name for p in folder.iterdir())
    assert made == ["a.png", "a_adain_wave.png", "b.png", "b_adain_wave.png"]
    again = _adain(folder, style, "-o", folder, "--json")
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout)["counts"]["skipped"] == 2
    assert sorted(p.name for p in folder.iterdir()) == made


@pytest.mark.parametrize(("ext", "alpha"), [("png", "0.7"), ("bmp", "0.7"), ("png", "0.5")])
def test_a_run_whose_output_another_run_wrote_meanwhile_notices(
    tmp_path: Path, job: dict[str, Path], monkeypatch: pytest.MonkeyPatch, ext: str, alpha: str
) -> None:
    """Two runs into one folder: the other one (alpha 0.5) writes the output after this one planned."""
    other = tmp_path / "other"
    assert _adain(job["content"], job["style"], "-o", other, "--alpha", "0.5", "--ext", ext).exit_code == 0
    name = f"photo_adain_wave.{ext}"
    real = pipeline.skip_existing

    def racing(*args: object, **kwargs: object) -> object:
        planned = real(*args, **kwargs)  # type: ignore[arg-type]
        job["out"].mkdir(exist_ok=True)
        for made in other.iterdir():  # the output (and a BMP's sidecar) of the other run lands now
            (job["out"] / made.name).write_bytes(made.read_bytes())
        return planned

    monkeypatch.setattr(pipeline, "skip_existing", racing)
    result = _adain(job["content"], job["style"], "-o", job["out"], "--alpha", alpha, "--ext", ext)
    assert (job["out"] / name).read_bytes() == (other / name).read_bytes()  # the other run's output stays
    if alpha == "0.5":  # the very same job: its output is as good as ours
        assert result.exit_code == 0, result.output
        return
    assert result.exit_code == EXIT_CODES["input"], result.output
    message = " ".join(result.stderr.split())
    assert f"{name}: written by another run meanwhile" in message and "alpha was 0.5, now 0.7" in message

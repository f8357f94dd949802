"""``stylize eval`` end to end: table, --json, --sheet, --report and usage errors."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import threading
import time
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from stylize.cli import app

REPO = Path(__file__).resolve().parents[2]
CONTENT = REPO / "examples" / "content"
STYLE = REPO / "examples" / "style"
runner = CliRunner()
pytestmark = pytest.mark.usefixtures("bundled_vgg")


@pytest.fixture
def outputs(tmp_path: Path) -> Path:
    """Stand-in outputs named as a batch run names them: the content itself and the style itself."""
    folder = tmp_path / "out"
    folder.mkdir()
    Image.open(CONTENT / "chelsea.jpg").resize((96, 64)).save(folder / "chelsea_mosaic.png")
    Image.open(STYLE / "mosaic.png").convert("RGB").resize((96, 96)).save(folder / "coffee_mosaic.png")
    return folder


def test_table_on_stdout_and_json(outputs: Path) -> None:
    args = ["eval", "-c", str(CONTENT), "-s", str(STYLE / "mosaic.png"), str(outputs)]
    result = runner.invoke(app, ["--quiet", *args])
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    assert lines[0].split()[:5] == ["output", "style", "content", "patch", "structure"]
    assert lines[-1].startswith("mean of 2") and len(lines[-1].split()) == 3 + 6
    data = json.loads(runner.invoke(app, ["--quiet", *args, "--json"]).stdout)
    by_name = {Path(o["output"]).name: o for o in data["outputs"]}
    cat, style_itself = by_name["chelsea_mosaic.png"], by_name["coffee_mosaic.png"]
    assert Path(cat["content"]).name == "chelsea.jpg" and Path(style_itself["content"]).name == "coffee.jpg"
    assert cat["content_distance"] < 0.01 and cat["style_distance"] == pytest.approx(
        cat["content_style_distance"], rel=0.1
    )
    assert style_itself["style_distance"] < 0.05 < cat["style_distance"]
    assert set(cat["style_layers"]) == {"relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"}
    # the second style number and the structure number: the content itself keeps its structure and is as
    # far from the style's patches as doing nothing; the style itself is nearly on the style's patches
    assert cat["structure_distance"] < 0.01 and cat["patch_distance"] == pytest.approx(
        cat["content_patch_distance"], rel=0.15
    )
    assert style_itself["patch_distance"] < 0.5 * cat["patch_distance"]
    assert set(data["mean"]) == {"style", "content", "patch", "structure", "content_style", "content_patch"}


def test_sheet_is_written(outputs: Path, tmp_path: Path) -> None:
    sheet = tmp_path / "sheet.png"
    result = runner.invoke(
        app,
        ["--quiet", "eval", "-c", str(CONTENT), "-s", str(STYLE / "mosaic.png"), str(outputs), "--sheet", str(sheet)],
    )
    assert result.exit_code == 0, result.output
    with Image.open(sheet) as img:
        assert img.height > 2 * 192 and img.width > 3 * 96  # two rows: content | style | output


@pytest.mark.parametrize("which", ["output", "content", "style"])
def test_sheet_over_an_input_is_refused_before_any_work(outputs: Path, tmp_path: Path, which: str) -> None:
    content, style = tmp_path / "chelsea.jpg", tmp_path / "mosaic.png"
    shutil.copy(CONTENT / "chelsea.jpg", content)
    shutil.copy(STYLE / "mosaic.png", style)
    target = {"output": outputs / "chelsea_mosaic.png", "content": content, "style": style}[which]
    before = target.read_bytes()
    args = ["--quiet", "eval", "-c", str(content), "-s", str(style), str(outputs / "chelsea_mosaic.png")]
    result = runner.invoke(app, [*args, "--sheet", str(target)])
    assert result.exit_code == 3, result.output
    assert "is an input of this eval" in result.output and target.read_bytes() == before


def test_report_matches_outputs(outputs: Path, tmp_path: Path) -> None:
    renamed = tmp_path / "x.png"
    shutil.copy(outputs / "chelsea_mosaic.png", renamed)
    report = tmp_path / "run.json"
    report.write_text(
        json.dumps({"done": [{"input": str(CONTENT / "chelsea.jpg"), "style": "mosaic", "output": str(renamed)}]})
    )
    result = runner.invoke(app, ["--quiet", "eval", "-s", str(STYLE / "mosaic.png"), "--report", str(report), "--json"])
    assert result.exit_code == 0, result.output
    (row,) = json.loads(result.stdout)["outputs"]
    assert row["content_distance"] < 0.01


def test_usage_errors(outputs: Path, tmp_path: Path) -> None:
    assert runner.invoke(app, ["eval", str(outputs)]).exit_code == 2  # nothing to compare against
    stray = tmp_path / "stray"
    stray.mkdir()
    Image.new("RGB", (8, 8)).save(stray / "dog_mosaic.png")
    result = runner.invoke(app, ["eval", "-c", str(CONTENT), str(stray)])
    assert result.exit_code == 2 and "cannot tell which content image" in result.output
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    assert runner.invoke(app, ["eval", "-s", str(STYLE / "mosaic.png"), "--report", str(broken)]).exit_code == 3


@pytest.mark.parametrize("which", ["report", "output by a link", "a content no output was matched to", "folder"])
def test_a_sheet_over_the_report_a_link_or_any_given_file_is_refused(which: str, outputs: Path, tmp_path: Path) -> None:
    contents = tmp_path / "contents"
    contents.mkdir()
    for name in ("chelsea.jpg", "coffee.jpg"):
        shutil.copy(CONTENT / name, contents / name)
    report = tmp_path / "run.json"
    output = outputs / "chelsea_mosaic.png"
    report.write_text(
        json.dumps({"done": [{"input": str(contents / "chelsea.jpg"), "style": "mosaic", "output": str(output)}]})
    )
    (tmp_path / "link.png").symlink_to(output)
    sheet = {"report": report, "output by a link": tmp_path / "link.png", "folder": outputs,
             "a content no output was matched to": contents / "coffee.jpg"}[which]  # fmt: skip
    before = {path: path.read_bytes() for path in (*contents.iterdir(), report, output)}
    source = ["--report", str(report)] if which == "report" else ["-c", str(contents), str(output)]
    result = runner.invoke(app, ["eval", "-s", str(STYLE / "mosaic.png"), *source, "--sheet", str(sheet)])
    assert result.exit_code == 3 and len(result.output.strip().splitlines()) == 1, result.output
    assert ("is a folder" if which == "folder" else "is an input of this eval") in result.output
    assert {path: path.read_bytes() for path in before} == before


def test_a_report_that_is_not_a_report_is_one_line_exit_3(tmp_path: Path) -> None:
    style = str(STYLE / "mosaic.png")
    for text in ("[1, 2]", '{"done": {"output": "x"}}', '{"done": [{"input": 3, "output": "x.png"}]}', '{"done": [7]}'):
        report = tmp_path / "run.json"
        report.write_text(text)
        result = runner.invoke(app, ["eval", "-s", style, "--report", str(report)])
        assert result.exit_code == 3 and "not a stylize --json report" in result.output, (text, result.output)
        assert result.exception is None or isinstance(result.exception, SystemExit)


def test_a_fifo_report_is_refused_not_read(tmp_path: Path) -> None:
    fifo = tmp_path / "run.json"
    os.mkfifo(fifo)

    def unblock() -> None:  # were the FIFO opened, this writer lets the read end instead of hanging the test
        time.sleep(10)
        with contextlib.suppress(OSError), open(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK), "w") as f:
            f.write("{}")

    threading.Thread(target=unblock, daemon=True).start()
    result = runner.invoke(app, ["eval", "-s", str(STYLE / "mosaic.png"), "--report", str(fifo)])
    assert result.exit_code == 3 and "not a regular file" in result.output


def test_an_output_too_thin_to_measure_is_refused(tmp_path: Path, image_factory: object) -> None:
    """A 1x5000 strip would be measured at 32x160000 against a 5000x5000 style: refused, not minutes and GBs."""
    strip = image_factory(tmp_path / "strip_mosaic.png", (1, 5000))  # type: ignore[operator]
    result = runner.invoke(app, ["eval", "-s", str(STYLE / "mosaic.png"), str(strip)])
    assert result.exit_code == 3 and "too thin to measure" in result.output


def test_large_outputs_and_styles_are_measured_within_the_pixel_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    from stylize.backends import evaluate as ev

    monkeypatch.setattr(ev, "MAX_MEASURED", 64 * 64)
    img = Image.new("RGB", (200, 100))
    assert ev.within_budget(img).size == (90, 45) and ev.within_budget(Image.new("RGB", (64, 64))).size == (64, 64)
    assert ev.measurable_output(img, Path("x.png")).size == (90, 45)


def test_tiny_and_extreme_images_are_measured(tmp_path: Path, image_factory: object) -> None:
    tiny = image_factory(tmp_path / "tiny_mosaic.png", (1, 1))  # type: ignore[operator]
    strip = image_factory(tmp_path / "strip.png", (400, 6))  # type: ignore[operator]
    result = runner.invoke(
        app, ["--quiet", "eval", "-c", str(strip), "-s", str(STYLE / "mosaic.png"), str(tiny), "--json"]
    )
    assert result.exit_code == 0, result.output
    (row,) = json.loads(result.stdout)["outputs"]
    assert row["style_distance"] > 0 and row["content_distance"] >= 0


def test_outputs_are_matched_by_their_stylize_record_whatever_their_names(tmp_path: Path) -> None:
    """Renamed outputs, and fast outputs (whose style is a model) are matched through the job record."""
    out = tmp_path / "out"
    made = runner.invoke(app, ["--quiet", "fast", str(CONTENT), "-o", str(out), "--size", "64", "--name", "{name}.png"])
    assert made.exit_code == 0, made.output
    (out / "chelsea.jpg.png").rename(out / "my-favourite.png")
    args = ["--quiet", "eval", "-c", str(CONTENT), "-s", str(STYLE / "mosaic.png"), str(out), "--json"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    by_name = {Path(o["output"]).name: Path(o["content"]).name for o in json.loads(result.stdout)["outputs"]}
    assert by_name["my-favourite.png"] == "chelsea.jpg" and by_name["rocket.jpg.png"] == "rocket.jpg"


def test_sheet_and_report_are_refused_with_video(tmp_path: Path) -> None:
    """eval --video writes no sheet and reads no report: saying so beats ignoring them."""
    for extra in (["--sheet", str(tmp_path / "s.png")], ["--report", str(tmp_path / "r.json")]):
        result = runner.invoke(app, ["eval", "--video", str(tmp_path / "in.mp4"), str(tmp_path / "out.mp4"), *extra])
        assert result.exit_code == 2 and "not with --video" in result.output, result.output
    assert not (tmp_path / "s.png").exists()

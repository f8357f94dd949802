"""``stylize optimize`` end to end with the default, bundled VGG-19 (tiny images, one iteration)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

import stylize.cli.optimize_cmd  # noqa: F401 - registers the command (over the placeholder until it is merged)
from stylize.cli import app

runner = CliRunner()
pytestmark = pytest.mark.usefixtures("bundled_vgg")


@pytest.fixture(autouse=True)
def _one_thread() -> object:
    """Tiny images gain nothing from threads, and lose a lot to them on a busy machine."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _run(*args: str) -> object:
    return runner.invoke(app, ["--quiet", "optimize", "--size", "40", "--min-size", "32", "--iterations", "1", *args])


@pytest.fixture
def pics(tmp_path: Path, image_factory: object) -> dict[str, Path]:
    make = image_factory
    return {
        "c1": make(tmp_path / "in" / "c1.jpg", (60, 45), 1),
        "c2": make(tmp_path / "in" / "sub" / "c2.png", (30, 40), 2),
        "s1": make(tmp_path / "styles" / "s1.png", (48, 48), 3),
        "s2": make(tmp_path / "styles" / "s2.jpg", (40, 48), 4),
    }


def test_short_form_writes_one_file(pics: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "out.png"
    result = _run(str(pics["c1"]), str(pics["s1"]), "-o", str(out))
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == str(out)
    img = Image.open(out)
    assert img.size == (40, 30)  # long side --size, aspect kept
    assert np.asarray(img).std() > 1


def test_default_network_works_offline(pics: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STYLIZE_OFFLINE", "1")  # and the autouse guard fails any connection
    for vgg in (None, "bundled", "caffe"):
        out = tmp_path / f"{vgg}.png"
        extra = ["--vgg", vgg] if vgg else []
        result = _run(str(pics["c1"]), str(pics["s1"]), "-o", str(out), *extra)
        assert result.exit_code == 0 and out.is_file(), result.output
    missing = _run(str(pics["c1"]), str(pics["s1"]), "-o", str(tmp_path / "p.png"), "--vgg", "published")
    assert missing.exit_code == 4 and "offline" in missing.output  # the published file is a download


def test_folder_times_styles_mirrors_tree_and_blends(pics: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = _run(str(tmp_path / "in"), "-s", str(pics["s1"]), "-s", str(pics["s2"]), "-o", str(out), "--scales", "1")
    assert result.exit_code == 0, result.output
    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    v = "_size40_min-size32_scales1_iterations1"  # what _run's and --scales' settings add ({variant})
    assert written == [
        f"c1_optimize_s1{v}.jpg",
        f"c1_optimize_s2{v}.jpg",
        f"sub/c2_optimize_s1{v}.png",
        f"sub/c2_optimize_s2{v}.png",
    ]
    blended = _run(
        str(pics["c1"]),
        "-s",
        str(pics["s1"]),
        "-s",
        str(pics["s2"]),
        "--blend",
        "3,1",
        "-o",
        str(tmp_path / "b"),
        "--json",
        "--scales",
        "1",
    )
    assert blended.exit_code == 0, blended.output
    assert [Path(d["output"]).name for d in json.loads(blended.stdout)["done"]] == [
        f"c1_optimize_s1@0.75+s2@0.25{v}.jpg"
    ]


def test_save_every_and_plot_write_files(pics: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "o" / "r.png"
    result = _run(
        str(pics["c1"]),
        str(pics["s1"]),
        "-o",
        str(out),
        "--iterations",
        "2",
        "--save-every",
        "2",
        "--plot",
        "--init",
        "noise",
        "--seed",
        "1",
        "--size",
        "48",
    )
    assert result.exit_code == 0, result.output
    names = sorted(p.name for p in out.parent.iterdir())
    # scales 34x26 (3 iterations) then 48x36 (2): iterations 2 and 4 saved, each at its scale's size
    assert names == ["r.iter00002.png", "r.iter00004.png", "r.loss.png", "r.png"]
    assert Image.open(out.parent / "r.iter00002.png").size == (34, 26)
    assert Image.open(out.parent / "r.iter00004.png").size == (48, 36)
    plot = Image.open(out.parent / "r.loss.png")
    assert plot.size == (800, 480) and np.asarray(plot.convert("L")).std() > 5
    assert result.stdout.split() == [str(out)]  # intermediates are not results


def test_bad_layer_name_is_a_usage_error(pics: dict[str, Path], tmp_path: Path) -> None:
    result = _run(str(pics["c1"]), str(pics["s1"]), "--style-layers", "relu1_1,relu6_1", "-o", str(tmp_path / "x.png"))
    assert result.exit_code == 2
    assert "relu6_1" in result.output and "known layers" in result.output
    assert not (tmp_path / "x.png").exists()


def test_bad_choices_are_usage_errors(pics: dict[str, Path]) -> None:
    for flag, value in (
        ("--style-loss", "l1"),
        ("--optimizer", "sgd"),
        ("--init", "zeros"),
        ("--color", "yes"),
        ("--content-layers", "relu4_2:x"),
        ("--precision", "fp16"),
        ("--scales", "100000"),
    ):
        result = _run(str(pics["c1"]), str(pics["s1"]), flag, value)
        assert result.exit_code == 2, (flag, result.output)
    assert _run(str(pics["c1"])).exit_code == 2  # no style


def test_torchvision_layout_file_and_options(pics: dict[str, Path], tmp_path: Path) -> None:
    import torch

    from stylize.models.vgg import TorchvisionVGG19Features

    torch.manual_seed(0)
    vgg = tmp_path / "tv.pth"
    torch.save(TorchvisionVGG19Features().state_dict(), vgg)
    out = tmp_path / "t.jpg"
    result = _run(
        str(pics["c2"]),
        str(pics["s2"]),
        "-o",
        str(out),
        "--vgg",
        str(vgg),
        "--style-loss",
        "w2",
        "--optimizer",
        "adam",
        "--color",
        "luminance",
        "--pooling",
        "avg",
        "--style-layers",
        "relu1_1:2,relu3_1",
        "--scales",
        "1",
    )
    assert result.exit_code == 0, result.output
    assert Image.open(out).size == (30, 40)

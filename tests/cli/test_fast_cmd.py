"""``stylize fast`` end to end with a random model file: exit codes, files written, stdout lines."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

import stylize.cli
import stylize.cli.fast_cmd  # noqa: F401 - registers `fast` (after any placeholder, so it wins)
from stylize.cli import app
from stylize.errors import EXIT_CODES
from stylize.models.transformer_net import transformer_net_layout

runner = CliRunner()


@pytest.fixture(autouse=True, scope="module")
def _one_thread() -> Iterator[None]:
    """Small images: one thread avoids OpenMP barrier stalls on a busy 2-core machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def model_file(tmp_path: Path) -> Path:
    """A random model in the published layout, stale InstanceNorm statistics included."""
    g = torch.Generator().manual_seed(0)
    state = {key: torch.randn(shape, generator=g) * 0.1 for key, shape in transformer_net_layout(stale=True).items()}
    path = tmp_path / "random_style.pth"
    torch.save(state, path)
    return path


def _photo(path: Path, size: tuple[int, int], mode: str = "RGB") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, (200, 120, 40, 128)[: len(mode)]).save(path)
    return path


def _run(*args: str | Path) -> object:
    return runner.invoke(app, ["--quiet", "fast", *map(str, args)])


def test_files_and_folders_write_outputs_and_print_their_paths(tmp_path: Path, model_file: Path) -> None:
    a = _photo(tmp_path / "in" / "a.png", (24, 20))
    _photo(tmp_path / "in" / "sub" / "b.jpg", (17, 9))
    out = tmp_path / "out"
    result = _run(tmp_path / "in", "-m", model_file, "-o", out)
    assert result.exit_code == 0, result.output
    want = [out / "a_random_style.png", out / "sub" / "b_random_style.jpg"]
    assert result.stdout.splitlines() == [str(p) for p in sorted(want)]
    assert Image.open(want[0]).size == (24, 20) and Image.open(want[1]).size == (17, 9)
    again = _run(a, "-m", model_file, "-o", out)  # resume: existing outputs are skipped, still printed
    assert again.exit_code == 0 and again.stdout.splitlines() == [str(want[0])]


def test_single_output_file_size_colour_and_precision_options(tmp_path: Path, model_file: Path) -> None:
    src = _photo(tmp_path / "c.png", (64, 48))
    out = tmp_path / "styled.png"
    result = _run(src, "-m", model_file, "-o", out, "--size", "32", "--preserve-color", "--precision", "fp32",
                  "--tile", "32", "--tile-overlap", "8")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == str(out) and Image.open(out).size == (32, 24)


def test_two_models_give_two_outputs_and_json_report(tmp_path: Path, model_file: Path) -> None:
    other = tmp_path / "second.pth"
    other.write_bytes(model_file.read_bytes())
    src = _photo(tmp_path / "d.png", (16, 16))
    result = _run(src, "-m", model_file, "-m", other, "-o", tmp_path / "o", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert sorted(Path(d["output"]).name for d in report["done"]) == ["d_random_style.png", "d_second.png"]


def test_bad_model_file_exits_4_with_one_line_naming_the_layout(tmp_path: Path) -> None:
    bad = tmp_path / "bad.pth"
    torch.save({"conv1.conv2d.weight": torch.zeros(3)}, bad)
    src = _photo(tmp_path / "e.png", (16, 16))
    result = _run(src, "-m", bad, "-o", tmp_path / "o")
    assert result.exit_code == EXIT_CODES["weights"] == 4
    assert result.stdout == "" and not (tmp_path / "o").exists()
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "fast_transformer_net" in lines[0] and "Traceback" not in result.output


def test_usage_errors_exit_2(tmp_path: Path, model_file: Path) -> None:
    src = _photo(tmp_path / "f.png", (16, 16))
    assert _run(src).exit_code == EXIT_CODES["usage"]  # no --model
    assert _run("-m", model_file).exit_code == EXIT_CODES["usage"]  # no inputs
    assert _run(src, "-m", model_file, "--precision", "fp16").exit_code == EXIT_CODES["usage"]  # not on CPU
    assert _run(src, "-m", model_file, "--precision", "int8").exit_code == EXIT_CODES["usage"]


def test_missing_model_name_exits_4_with_the_known_names(tmp_path: Path) -> None:
    result = _run(_photo(tmp_path / "g.png", (16, 16)), "-m", "no-such-style")
    assert result.exit_code == EXIT_CODES["weights"] and "candy" in result.stderr


def test_offline_registry_model_names_the_fix(tmp_path: Path) -> None:
    src = _photo(tmp_path / "h.png", (16, 16))
    result = runner.invoke(app, ["--offline", "fast", str(src), "-m", "mosaic"])
    assert result.exit_code == EXIT_CODES["weights"] and "stylize weights fetch mosaic" in result.stderr


def test_list_shows_registry_and_local_models(tmp_path: Path) -> None:
    from stylize.backends.fast import models_dir, save_model
    from stylize.models.transformer_net import TransformerNet

    save_model(models_dir() / "mine.safetensors", TransformerNet())
    result = _run("--list")
    assert result.exit_code == 0
    for name in ("candy", "mosaic", "rain-princess", "udnie", "mine"):
        assert name in result.stdout
    listed = json.loads(_run("--list", "--json").stdout)
    assert {e["name"] for e in listed} == {"candy", "mosaic", "rain-princess", "udnie", "mine"}


def test_export_onnx_writes_the_file_and_prints_its_path(tmp_path: Path, model_file: Path) -> None:
    pytest.importorskip("onnx")
    target = tmp_path / "m.onnx"
    result = _run("--export-onnx", target, "-m", model_file)
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == str(target) and target.stat().st_size > 6_000_000
    assert _run("--export-onnx", target).exit_code == EXIT_CODES["usage"]  # no model


def test_edge_images(tmp_path: Path, model_file: Path, edge_dir: Path) -> None:
    names = ["tiny_1x1.png", "rgba_transparent.png", "grayscale.png", "palette.gif", "truncated.jpg"]
    result = _run(*[edge_dir / n for n in names], "-m", model_file, "-o", tmp_path / "o")
    assert result.exit_code == EXIT_CODES["partial"]  # truncated.jpg fails, the rest are written
    written = {Path(line).name for line in result.stdout.splitlines()}
    assert written == {"tiny_1x1_random_style.png", "rgba_transparent_random_style.png",
                       "grayscale_random_style.png", "palette_random_style.png"}
    assert Image.open(tmp_path / "o" / "tiny_1x1_random_style.png").size == (1, 1)
    assert Image.open(tmp_path / "o" / "rgba_transparent_random_style.png").mode == "RGBA"


def test_help_does_not_import_torch() -> None:
    code = (
        "import sys; sys.argv = ['stylize', 'fast', '--help']\n"
        "import stylize.cli, stylize.cli.fast_cmd\n"
        "try:\n    stylize.cli.main()\nexcept SystemExit as e:\n    assert e.code in (0, None), e.code\n"
        "bad = [m for m in ('torch', 'torchvision', 'numpy') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    done = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "--preserve-color" in done.stdout and "--export-onnx" in done.stdout

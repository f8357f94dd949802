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

runner = CliRunner()


@pytest.fixture(autouse=True, scope="module")
def _one_thread() -> Iterator[None]:
    """Small images: one thread avoids OpenMP barrier stalls on a busy 2-core machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


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
    want = [out / "a_fast_random_style.png", out / "sub" / "b_fast_random_style.jpg"]
    assert result.stdout.splitlines() == [str(p) for p in sorted(want)]
    assert Image.open(want[0]).size == (24, 20) and Image.open(want[1]).size == (17, 9)
    again = _run(a, "-m", model_file, "-o", out)  # resume: existing outputs are skipped, still printed
    assert again.exit_code == 0 and again.stdout.splitlines() == [str(want[0])]


def test_single_output_file_size_colour_and_precision_options(tmp_path: Path, model_file: Path) -> None:
    src = _photo(tmp_path / "c.png", (64, 48))
    out = tmp_path / "styled.png"
    result = _run(
        src,
        "-m",
        model_file,
        "-o",
        out,
        "--size",
        "32",
        "--preserve-color",
        "--precision",
        "fp32",
        "--tile",
        "32",
        "--tile-overlap",
        "8",
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == str(out) and Image.open(out).size == (32, 24)


def test_two_models_give_two_outputs_and_json_report(tmp_path: Path, model_file: Path) -> None:
    other = tmp_path / "second.pth"
    other.write_bytes(model_file.read_bytes())
    src = _photo(tmp_path / "d.png", (16, 16))
    result = _run(src, "-m", model_file, "-m", other, "-o", tmp_path / "o", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert sorted(Path(d["output"]).name for d in report["done"]) == ["d_fast_random_style.png", "d_fast_second.png"]


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
    assert _run("-m", model_file).exit_code == EXIT_CODES["usage"]  # no inputs
    assert _run(src, "-m", model_file, "--precision", "fp16").exit_code == EXIT_CODES["usage"]  # not on CPU
    assert _run(src, "-m", model_file, "--precision", "int8").exit_code == EXIT_CODES["usage"]


def test_no_model_uses_the_shipped_default_offline(tmp_path: Path) -> None:
    src = _photo(tmp_path / "f.png", (24, 16))
    result = runner.invoke(app, ["--offline", "fast", str(src), "-o", str(tmp_path / "out")])
    assert result.exit_code == 0, result.stderr
    out = Path(result.stdout.strip())
    assert out.parent == tmp_path / "out" and "starry-night" in out.name
    assert Image.open(out).size == (24, 16)


def test_list_shows_the_shipped_models_first_as_bundled() -> None:
    rows = json.loads(runner.invoke(app, ["fast", "--list", "--json"]).stdout)
    shipped = [r["name"] for r in rows if r["source"] == "bundled"]
    assert shipped == ["starry-night", "great-wave", "composition-vii"] == [r["name"] for r in rows[:3]]
    assert all(r["cached"] and Path(r["path"]).is_file() for r in rows[:3])
    assert {"candy", "mosaic", "rain-princess", "udnie"} <= {r["name"] for r in rows if r["source"] == "download"}


def test_missing_model_name_exits_4_with_the_known_names(tmp_path: Path) -> None:
    result = _run(_photo(tmp_path / "g.png", (16, 16)), "-m", "no-such-style")
    assert result.exit_code == EXIT_CODES["weights"] and "candy" in result.stderr


def test_offline_registry_model_names_the_fix(tmp_path: Path) -> None:
    src = _photo(tmp_path / "h.png", (16, 16))
    result = runner.invoke(app, ["--offline", "fast", str(src), "-m", "mosaic"])
    assert result.exit_code == EXIT_CODES["weights"] and "stylize weights fetch mosaic" in result.stderr


def test_list_shows_registry_and_local_models(tmp_path: Path) -> None:
    from stylize.backends.fast import save_model
    from stylize.models.transformer_net import TransformerNet
    from stylize.weights import fast_models_dir

    save_model(fast_models_dir() / "mine.safetensors", TransformerNet())
    result = _run("--list")
    assert result.exit_code == 0
    for name in ("starry-night", "candy", "mosaic", "rain-princess", "udnie", "mine"):
        assert name in result.stdout
    listed = json.loads(_run("--list", "--json").stdout)
    assert {e["name"] for e in listed} == {
        "starry-night",
        "great-wave",
        "composition-vii",
        "candy",
        "mosaic",
        "rain-princess",
        "udnie",
        "mine",
    }
    assert [e["source"] for e in listed if e["name"] == "mine"] == ["local"]


def test_export_onnx_writes_the_file_and_prints_its_path(tmp_path: Path, model_file: Path) -> None:
    pytest.importorskip("onnx")
    target = tmp_path / "m.onnx"
    result = _run("--export-onnx", target, "-m", model_file)
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == str(target) and target.stat().st_size > 6_000_000
    assert _run("--export-onnx", target).exit_code == EXIT_CODES["usage"]  # no model


def test_export_onnx_of_a_shipped_float16_model(tmp_path: Path) -> None:
    pytest.importorskip("onnx")
    target = tmp_path / "starry.onnx"
    result = _run("--export-onnx", target, "-m", "starry-night")  # stored in float16, exported in float32
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == str(target) and target.stat().st_size > 6_000_000


def test_edge_images(tmp_path: Path, model_file: Path, edge_dir: Path) -> None:
    names = ["tiny_1x1.png", "rgba_transparent.png", "grayscale.png", "palette.gif", "truncated.jpg"]
    result = _run(*[edge_dir / n for n in names], "-m", model_file, "-o", tmp_path / "o")
    assert result.exit_code == EXIT_CODES["partial"]  # truncated.jpg fails, the rest are written
    written = {Path(line).name for line in result.stdout.splitlines()}
    assert written == {
        "tiny_1x1_fast_random_style.png",
        "rgba_transparent_fast_random_style.png",
        "grayscale_fast_random_style.png",
        "palette_fast_random_style.png",
    }
    assert Image.open(tmp_path / "o" / "tiny_1x1_fast_random_style.png").size == (1, 1)
    assert Image.open(tmp_path / "o" / "rgba_transparent_fast_random_style.png").mode == "RGBA"


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


def test_a_size_over_max_pixels_is_refused_before_allocating(tmp_path: Path, model_file: Path) -> None:
    src = _photo(tmp_path / "f.png", (16, 12))
    result = runner.invoke(
        app, ["fast", str(src), "-m", str(model_file), "--size", "100000", "--upscale", "-o", str(tmp_path / "o.png")]
    )
    assert result.exit_code == 3 and "pixel limit" in result.stderr, result.output
    assert not (tmp_path / "o.png").exists()


def test_sigterm_mid_batch_keeps_the_finished_images_prints_them_and_exits_143(
    tmp_path: Path, model_file: Path
) -> None:
    import os
    import signal
    import time

    for i in range(40):
        _photo(tmp_path / "in" / f"{i:02d}.png", (64, 48))
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "stylize",
            "fast",
            str(tmp_path / "in"),
            "-m",
            str(model_file),
            "--size",
            "640",
            "-o",
            str(out),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while len(list(out.glob("*.png"))) < 2 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 143, stderr
    written = sorted(out.glob("*.png"))
    assert 2 <= len(written) < 40 and sorted(Path(line) for line in stdout.split()) == written
    assert "batch summary" in stderr and "terminated after" in stderr
    assert not [p for p in os.listdir(out) if p.startswith(".stylize-")]


def test_a_rerun_removes_temp_files_a_killed_run_left_but_not_live_ones(tmp_path: Path, model_file: Path) -> None:
    import os

    out = tmp_path / "out"
    out.mkdir()
    dead = out / ".stylize-999999999-abc.part.png"  # no process has this PID
    dead.write_bytes(b"")
    live = out / f".stylize-{os.getpid()}-xyz.part.png"  # this test's own PID: a writer still at work
    live.write_bytes(b"x")
    result = _run(_photo(tmp_path / "a.png", (16, 16)), "-m", model_file, "-o", out)
    assert result.exit_code == 0, result.output
    assert not dead.exists() and live.exists()


def test_a_published_model_offline_names_the_import_command_for_it(tmp_path: Path) -> None:
    src = _photo(tmp_path / "f.png", (16, 12))
    result = runner.invoke(app, ["fast", str(src), "-m", "candy", "-o", str(tmp_path / "o.png")])
    assert result.exit_code == 4 and "'stylize weights import candy candy.pth'" in result.stderr, result.output


def test_one_naming_rule_for_local_and_shipped_models(tmp_path: Path, image_factory: object) -> None:
    from stylize.backends import fast
    from stylize.models.transformer_net import TransformerNet
    from stylize.weights import fast_models_dir

    photo = image_factory(tmp_path / "p.png", (32, 24), 1)  # type: ignore[operator]
    missing = runner.invoke(app, ["fast", str(photo), "-m", "Starry_Night", "-o", str(tmp_path / "a.png")])
    assert missing.exit_code == 4 and "did you mean 'starry-night'?" in missing.stderr
    assert fast.model_name("Starry_Night") == "starry-night" == fast.model_name("starry night")
    fast.save_model(fast_models_dir() / "starry_night.safetensors", TransformerNet())  # saved before the rule
    mine = runner.invoke(app, ["fast", str(photo), "-m", "starry_night", "-o", str(tmp_path / "b.png")])
    assert mine.exit_code == 0, mine.output
    assert "not the 'starry-night' that stylize ships" in " ".join(mine.stderr.split())

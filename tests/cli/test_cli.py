"""The CLI contract: exit codes, stdout vs stderr, light --help, weights commands."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from stylize import __version__
from stylize import weights as w
from stylize.cli import app
from stylize.errors import EXIT_CODES

runner = CliRunner()


def test_help_does_not_import_torch() -> None:
    code = (
        "import sys; sys.argv = ['stylize', '--help']\n"
        "from stylize.cli import main\n"
        "try:\n    main()\nexcept SystemExit as e:\n    assert e.code in (0, None), e.code\n"
        "bad = [m for m in ('torch', 'torchvision', 'numpy') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert "adain" in done.stdout and "weights" in done.stdout


def test_python_dash_m_and_version() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "stylize", "--version"], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0 and done.stdout.strip() == f"stylize {__version__}"


def test_a_closed_stdout_stops_quietly_with_141() -> None:
    """`stylize weights list | head -1`: the reader leaves early; no 'internal error' line."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "stylize", "weights", "list"], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # before the child has imported anything, so its first write meets a closed pipe
    assert proc.wait(timeout=60) == 141
    assert proc.stderr.read() == b""
    proc.stderr.close()


@pytest.mark.parametrize(
    "command", ["optimize", "fast", "train-fast", "adain", "train-adain", "gan-sample", "train-gan", "weights", "info"]
)
def test_every_product_command_is_built(command: str) -> None:
    result = runner.invoke(app, [command, "--help"])
    assert result.exit_code == 0 and "not implemented" not in result.output


def test_missing_input_is_one_line_without_traceback() -> None:
    result = runner.invoke(app, ["train-fast", "style.jpg", "--data", "photos/"])
    assert result.exit_code == EXIT_CODES["input"]
    assert "style.jpg" in result.stderr and "Traceback" not in result.output


def test_usage_error_is_2() -> None:
    assert runner.invoke(app, ["--no-such-flag"]).exit_code == 2
    assert runner.invoke(app, ["--device", "gpu", "info"]).exit_code == EXIT_CODES["usage"]


def test_unavailable_device_is_5() -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("a CUDA device exists here")
    result = runner.invoke(app, ["--device", "cuda", "info"])
    assert result.exit_code == EXIT_CODES["device"]
    assert "CUDA is not available" in result.stderr and result.stdout == ""


def test_device_env_var(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STYLIZE_DEVICE", "cpu")
    result = runner.invoke(app, ["info", "--json"])
    assert result.exit_code == 0 and json.loads(result.stdout)["device"] == "cpu"


def test_offline_weights_miss_is_4_with_one_line() -> None:
    result = runner.invoke(app, ["--offline", "weights", "fetch", "adain-vgg"])
    assert result.exit_code == EXIT_CODES["weights"]
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "stylize weights fetch adain-vgg" in lines[0]
    assert result.stdout == ""


def test_traceback_flag_shows_traceback() -> None:
    result = runner.invoke(app, ["--offline", "--traceback", "weights", "fetch", "adain-vgg"])
    assert result.exit_code == 4 and "Traceback" in result.stderr


def test_weights_list_json_and_path(tmp_path: Path) -> None:
    result = runner.invoke(app, ["weights", "list", "--json"])
    rows = {r["name"]: r for r in json.loads(result.stdout)}
    assert result.exit_code == 0 and rows["vgg19"]["cached"] is False
    path = runner.invoke(app, ["weights", "path", "adain-decoder"]).stdout.strip()
    assert Path(path) == w.cache_dir() / "adain_decoder.pth"


def test_weights_import_then_verify(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import hashlib

    data = b"weights!"
    spec = w.WeightSpec(
        "t", "https://example.invalid/t.bin", "t.bin", hashlib.sha256(data).hexdigest(), None, "CC0", "raw", "test"
    )
    monkeypatch.setitem(w.REGISTRY, "t", spec)
    src = tmp_path / "t.bin"
    src.write_bytes(data)
    result = runner.invoke(app, ["weights", "import", "t", str(src)])
    assert result.exit_code == 0 and Path(result.stdout.strip()).read_bytes() == data
    assert runner.invoke(app, ["weights", "verify"]).exit_code == 0
    w.cache_path(spec).write_bytes(b"corrupt!")
    assert runner.invoke(app, ["weights", "verify"]).exit_code == EXIT_CODES["weights"]


def test_exit_codes_are_distinct() -> None:
    codes = list(EXIT_CODES.values())
    assert len(codes) == len(set(codes))


def test_weights_import_validates_the_file_before_accepting_it(
    tmp_path: Path, random_adain_files: tuple[Path, Path]
) -> None:
    import torch
    from safetensors.torch import save_file

    from stylize.models.transformer_net import TransformerNet

    good = tmp_path / "candy_as_safetensors.pth"  # a safetensors file under a .pth name: its content decides
    save_file(TransformerNet().state_dict(), str(good))
    torch.save(TransformerNet().state_dict(), tmp_path / "real.pth")
    truncated = tmp_path / "truncated.pth"
    truncated.write_bytes((tmp_path / "real.pth").read_bytes()[:5000])
    (tmp_path / "empty.pth").write_bytes(b"")
    (tmp_path / "model.pkl").write_bytes(b"\x80\x04N.")
    for bad, words in [
        (tmp_path / "empty.pth", "empty"),
        (tmp_path / "model.pkl", "pickle"),
        (truncated, "not a readable"),
        (random_adain_files[1], "not candy"),
    ]:
        result = runner.invoke(app, ["weights", "import", "candy", str(bad)])
        assert result.exit_code == EXIT_CODES["weights"] and words in result.stderr, (bad, result.output)
        assert w.find_cached("candy") is None  # nothing entered the cache
    result = runner.invoke(app, ["weights", "import", "candy", str(good)])
    assert result.exit_code == 0, result.output
    out = tmp_path / "out"
    image = tmp_path / "a.png"
    Image.new("RGB", (16, 16), (90, 20, 200)).save(image)
    styled = runner.invoke(app, ["--offline", "fast", str(image), "-m", "candy", "-o", str(out)])
    assert styled.exit_code == 0, styled.output

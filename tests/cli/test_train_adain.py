"""``stylize train-adain``: exit codes, stdout, the registry encoder path, and DDP under torchrun."""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from PIL import Image, ImageDraw
from typer.testing import CliRunner

import stylize.cli.train_adain_cmd  # noqa: F401 - registers the command
from stylize.checkpoints import load_tensors
from stylize.cli.app import app
from stylize.errors import EXIT_CODES
from stylize.training import LossLog, RunFiles

runner = CliRunner()
QUICK = ["--batch-size", "2", "--crop", "16", "--image-size", "24", "--workers", "0", "--precision", "fp32"]
QUICK += ["--checkpoint-every", "0", "--sample-every", "2", "--sample-count", "1", "--log-every", "2"]


pytestmark = pytest.mark.usefixtures("torch_one_thread")


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory, random_adain_files: tuple[Path, Path]) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("cli_train")
    rng = random.Random(0)
    for folder, count in (("content", 6), ("style", 3)):
        (root / folder).mkdir()
        for i in range(count):
            img = Image.new("RGB", (40, 32), tuple(rng.randrange(256) for _ in range(3)))
            ImageDraw.Draw(img).ellipse((4, 4, 4 + 4 * i, 20), fill=(255 - 40 * i, 40 * i, 128))
            img.save(root / folder / f"{i}.png")
    return {"content": root / "content", "style": root / "style", "encoder": random_adain_files[0]}


def _args(setup: dict[str, Path], out: Path, *extra: str) -> list[str]:
    dirs = ["--content-dir", str(setup["content"]), "--style-dir", str(setup["style"]), "-o", str(out)]
    return ["--device", "cpu", "train-adain", *dirs, *QUICK, *extra]


@pytest.mark.usefixtures("bundled_vgg")
def test_trains_with_the_bundled_encoder_and_prints_only_the_path(setup: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "dec.safetensors"
    result = runner.invoke(app, _args(setup, out, "--iterations", "4"))
    assert result.exit_code == 0, result.output
    assert result.stdout == f"{out}\n"
    _, meta = load_tensors(out)
    assert meta["iteration"] == 4 and meta["encoder"] == "vgg19-caffe-normalised" and meta["config"]["batch_size"] == 2
    files = RunFiles.beside(out)
    assert [e["iteration"] for e in LossLog(files.loss_log).read()] == [2, 4]
    assert files.sample(2).is_file() and files.sample(4).is_file() and files.loss_plot.is_file()

    resumed = runner.invoke(app, _args(setup, out, "--iterations", "6", "--resume"))
    assert resumed.exit_code == 0, resumed.output
    assert load_tensors(out)[1]["iteration"] == 6 and resumed.stdout == f"{out}\n"


def test_explicit_encoder_and_fine_tuning_from_a_decoder(setup: dict[str, Path], tmp_path: Path) -> None:
    first = tmp_path / "a.safetensors"
    enc = ["--encoder", str(setup["encoder"])]
    assert runner.invoke(app, _args(setup, first, "--iterations", "2", *enc)).exit_code == 0
    second = tmp_path / "b.safetensors"
    result = runner.invoke(app, _args(setup, second, "--iterations", "2", *enc, "--decoder", str(first)))
    assert result.exit_code == 0, result.output
    assert load_tensors(second)[1]["config"]["decoder"] == str(first)


@pytest.mark.parametrize(
    ("extra", "code"),
    [
        (["--crop", "20"], "usage"),
        (["--precision", "fp8"], "usage"),
        (["--resume", "--overwrite"], "usage"),
        (["--resume"], "input"),
    ],
)
def test_bad_options_exit_codes(setup: dict[str, Path], tmp_path: Path, extra: list[str], code: str) -> None:
    result = runner.invoke(app, _args(setup, tmp_path / "d.safetensors", "--encoder", str(setup["encoder"]), *extra))
    assert result.exit_code == EXIT_CODES[code], result.output
    assert result.stdout == "" and "Traceback" not in result.output


def test_existing_output_and_missing_folder(setup: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "d.safetensors"
    out.write_bytes(b"x")
    result = runner.invoke(app, _args(setup, out, "--encoder", str(setup["encoder"])))
    assert result.exit_code == EXIT_CODES["input"] and "--resume" in result.stderr
    args = _args(setup, tmp_path / "e.safetensors", "--encoder", str(setup["encoder"]))
    args[args.index("--content-dir") + 1] = str(tmp_path / "nope")
    result = runner.invoke(app, args)
    assert result.exit_code == EXIT_CODES["input"] and "no such folder" in result.stderr


def test_importing_the_command_does_not_import_torch() -> None:
    code = "import sys, stylize.cli.train_adain_cmd; assert 'torch' not in sys.modules"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr


LAUNCHER = "import stylize.cli.train_adain_cmd\nfrom stylize.cli import main\nmain()\n"


@pytest.mark.skipif(not torch.distributed.is_available(), reason="torch.distributed is not built in")
def test_ddp_two_processes_on_cpu(setup: dict[str, Path], tmp_path: Path) -> None:
    launcher = tmp_path / "launch.py"
    launcher.write_text(LAUNCHER)
    out = tmp_path / "ddp.safetensors"
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2"]
    args = _args(setup, out, "--iterations", "4", "--encoder", str(setup["encoder"]))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    start = time.perf_counter()
    done = subprocess.run(
        [*torchrun, str(launcher), *args], capture_output=True, text=True, timeout=180, env=env, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.splitlines() == [str(out)]  # rank 0 alone prints
    meta = load_tensors(out)[1]
    assert meta["iteration"] == 4 and meta["world_size"] == 2
    files = RunFiles.beside(out)
    assert [e["iteration"] for e in LossLog(files.loss_log).read()] == [2, 4]  # written once, by rank 0
    assert not [p for p in tmp_path.rglob("*") if ".part" in p.name]
    print(f"torchrun 2 x CPU: {time.perf_counter() - start:.1f} s")


def test_identity_loss_is_logged_and_training_on_it_alone_lowers_it(setup: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "id.safetensors"
    only_identity = ["--identity-weight", "1", "--style-weight", "0", "--content-weight", "0", "--lr", "1e-3"]
    result = runner.invoke(
        app, _args(setup, out, "--iterations", "12", "--encoder", str(setup["encoder"]), *only_identity)
    )
    assert result.exit_code == 0, result.output
    assert load_tensors(out)[1]["config"]["identity_weight"] == 1
    logged = [e["identity"] for e in LossLog(RunFiles.beside(out).loss_log).read()]
    assert len(logged) == 6 and logged[-1] < 0.8 * logged[0]


def test_tv_term_is_logged_and_training_on_it_alone_smooths_the_output(setup: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "tv.safetensors"
    only_tv = ["--tv-weight", "1", "--style-weight", "0", "--content-weight", "0", "--lr", "1e-3"]
    result = runner.invoke(app, _args(setup, out, "--iterations", "12", "--encoder", str(setup["encoder"]), *only_tv))
    assert result.exit_code == 0, result.output
    assert load_tensors(out)[1]["config"]["tv_weight"] == 1
    log = LossLog(RunFiles.beside(out).loss_log).read()
    logged = [e["tv"] for e in log]
    assert len(logged) == 6 and logged[-1] < 0.5 * logged[0]
    assert all(e["loss"] == pytest.approx(e["tv"], rel=1e-4) for e in log)  # the only weighted term


def test_a_negative_tv_weight_is_a_usage_error(setup: dict[str, Path], tmp_path: Path) -> None:
    result = runner.invoke(app, _args(setup, tmp_path / "x.safetensors", "--tv-weight", "-1"))
    assert result.exit_code == EXIT_CODES["usage"], result.output
    assert "loss weights" in result.output and not (tmp_path / "x.safetensors").exists()

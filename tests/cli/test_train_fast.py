"""``stylize train-fast``: end to end through ``stylize fast``, exit codes, and DDP under torchrun."""

from __future__ import annotations

import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from PIL import Image, ImageDraw
from typer.testing import CliRunner

import stylize.cli.fast_cmd
import stylize.cli.train_fast_cmd  # noqa: F401
from stylize.backends import fast
from stylize.checkpoints import load_tensors
from stylize.cli.app import app
from stylize.errors import EXIT_CODES
from stylize.training import LossLog, RunFiles
from stylize.weights import fast_models_dir

runner = CliRunner()
QUICK = ["--batch-size", "2", "--image-size", "32", "--style-size", "48", "--workers", "0", "--precision", "fp32"]
QUICK += ["--checkpoint-every", "0", "--sample-every", "2", "--sample-count", "2", "--log-every", "1"]


pytestmark = pytest.mark.usefixtures("torch_one_thread")


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory, random_adain_files: tuple[Path, Path]) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("cli_train_fast")
    rng = random.Random(1)
    (root / "photos").mkdir()
    for i in range(4):
        img = Image.new("RGB", (40, 40), tuple(rng.randrange(256) for _ in range(3)))
        ImageDraw.Draw(img).rectangle((4, 4, 10 + 6 * i, 30), fill=(255 - 50 * i, 50 * i, 90))
        img.save(root / "photos" / f"{i}.jpg")
    Image.new("RGB", (40, 40), (200, 30, 30)).save(root / "wave.png")
    return {"photos": root / "photos", "style": root / "wave.png", "vgg": random_adain_files[0]}


def _args(setup: dict[str, Path], *extra: str) -> list[str]:
    return ["--device", "cpu", "train-fast", str(setup["style"]), "--data", str(setup["photos"]), *QUICK, *extra]


@pytest.mark.usefixtures("bundled_vgg")
def test_trains_then_fast_uses_the_model_by_name(setup: dict[str, Path], tmp_path: Path) -> None:
    result = runner.invoke(app, _args(setup, "--iterations", "4"))
    assert result.exit_code == 0, result.output
    model = Path(result.stdout.strip())
    assert model.name == "wave.safetensors" and model.is_file()  # the local model folder: -m wave finds it
    files = RunFiles.beside(model)
    assert [e["iteration"] for e in LossLog(files.loss_log).read()] == [1, 2, 3, 4]
    assert sorted(p.name for p in (files.log_dir / "samples").iterdir()) == ["iter-0000002.png", "iter-0000004.png"]
    assert files.loss_plot.is_file()
    said = " ".join(result.stderr.split())
    assert "model 'wave' was trained for only 4 steps, 8 images; loss" in said and "--resume" in said
    _, meta = load_tensors(model)
    assert isinstance(meta["final_loss"], float) and meta["images_seen"] == 8

    listed = runner.invoke(app, ["fast", "--list"])
    assert "wave" in listed.stdout
    photo = setup["photos"] / "0.jpg"
    out = tmp_path / "styled.png"
    styled = runner.invoke(app, ["--device", "cpu", "fast", str(photo), "-m", "wave", "-o", str(out)])
    assert styled.exit_code == 0, styled.output
    assert "model 'wave' was trained for only 4 steps" in " ".join(styled.stderr.split())  # and when it is used
    with Image.open(out) as img, Image.open(photo) as src:
        assert img.size == src.size


def test_a_model_name_near_a_shipped_one_is_refused_before_training(setup: dict[str, Path], tmp_path: Path) -> None:
    style = tmp_path / "Starry_Night.png"
    style.write_bytes(setup["style"].read_bytes())
    args = ["--device", "cpu", "train-fast", str(style), "--data", str(setup["photos"]), *QUICK, "--iterations", "1"]
    result = runner.invoke(app, args)
    assert result.exit_code == EXIT_CODES["usage"], result.output
    assert "'starry-night'" in result.stderr and "-o" in result.stderr
    assert not fast_models_dir().exists() or not list(fast_models_dir().iterdir())


def test_explicit_output_layers_and_json_lines(setup: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "m.safetensors"
    args = _args(
        setup,
        "--iterations",
        "2",
        "-o",
        str(out),
        "--loss-net",
        str(setup["vgg"]),
        "--style-layers",
        "relu1_1:2,relu3_1",
        "--content-layers",
        "relu3_1",
        "--tv-weight",
        "1",
    )
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [str(out)]
    meta = load_tensors(out)[1]
    assert meta["style_layers"] == {"relu1_1": pytest.approx(2 / 3), "relu3_1": pytest.approx(1 / 3)}
    assert meta["content_layers"] == {"relu3_1": 1.0} and meta["config"]["tv_weight"] == 1.0
    entries = LossLog(RunFiles.beside(out).loss_log).read()
    assert set(entries[0]) >= {"iteration", "loss", "content", "style", "tv", "images_per_s"}


@pytest.mark.parametrize(
    ("extra", "code"),
    [
        (["--image-size", "30"], "usage"),
        (["--style-layers", "relu9_1"], "usage"),
        (["--style-layers", "relu1_1:x"], "usage"),
        (["--loss-net", "no-such-net"], "weights"),
        (["--iterations", "1", "--resume", "--overwrite"], "usage"),
    ],
)
def test_bad_options_exit_codes(setup: dict[str, Path], tmp_path: Path, extra: list[str], code: str) -> None:
    result = runner.invoke(
        app, [*_args(setup, "-o", str(tmp_path / "x.safetensors"), "--loss-net", str(setup["vgg"])), *extra]
    )
    assert result.exit_code == EXIT_CODES[code], result.output
    assert len(result.stderr.strip().splitlines()) <= 2  # one line (+ hint)


def test_missing_inputs_and_existing_output(setup: dict[str, Path], tmp_path: Path) -> None:
    missing = runner.invoke(app, ["train-fast", str(tmp_path / "none.png"), "--data", str(setup["photos"])])
    assert missing.exit_code == EXIT_CODES["input"] and "no such style image" in missing.stderr
    nodata = runner.invoke(app, ["train-fast", str(setup["style"]), "--data", str(tmp_path / "none")])
    assert nodata.exit_code == EXIT_CODES["input"]
    out = tmp_path / "exists.safetensors"
    out.write_bytes(b"x")
    exists = runner.invoke(app, _args(setup, "-o", str(out)))
    assert exists.exit_code == EXIT_CODES["input"] and "--resume" in exists.stderr


def test_resume_with_another_style_image_is_refused(setup: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "m.safetensors"
    first = runner.invoke(app, _args(setup, "--iterations", "2", "-o", str(out), "--loss-net", str(setup["vgg"])))
    assert first.exit_code == 0, first.output
    before = out.read_bytes()
    other = tmp_path / "wave.png"  # the same name, another picture
    Image.new("RGB", (40, 40), (30, 30, 200)).save(other)
    args = _args(setup, "--iterations", "4", "-o", str(out), "--loss-net", str(setup["vgg"]), "--resume")
    args[args.index(str(setup["style"]))] = str(other)
    result = runner.invoke(app, args)
    assert result.exit_code == EXIT_CODES["input"], result.output
    message = " ".join(result.stderr.split())
    assert "another style image" in message and str(out) in message
    assert out.read_bytes() == before  # not a step taken


def test_importing_the_command_does_not_import_torch() -> None:
    code = "import sys, stylize.cli.train_fast_cmd; assert 'torch' not in sys.modules"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr


LAUNCHER = "from stylize.cli import main\nmain()\n"


def _run(args: list[str], nproc: int) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    if nproc == 1:
        return subprocess.run(
            [sys.executable, "-m", "stylize", *args], capture_output=True, text=True, timeout=300, env=env, check=False
        )
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(nproc), "-m"]
    return subprocess.run(
        [*torchrun, "stylize", *args], capture_output=True, text=True, timeout=300, env=env, check=False
    )


@pytest.mark.skipif(not torch.distributed.is_available(), reason="torch.distributed is not built in")
def test_ddp_two_processes_match_one_process(setup: dict[str, Path], tmp_path: Path) -> None:
    """2 ranks x batch 1 see the same 2 photos per step as 1 process x batch 2: same losses, same weights."""
    common = [
        "--device",
        "cpu",
        "train-fast",
        str(setup["style"]),
        "--data",
        str(setup["photos"]),
        "--iterations",
        "3",
        "--image-size",
        "32",
        "--style-size",
        "48",
        "--workers",
        "0",
        "--precision",
        "fp32",
        "--checkpoint-every",
        "0",
        "--sample-every",
        "0",
        "--log-every",
        "1",
        "--crop-scale",
        "1",
        "--loss-net",
        str(setup["vgg"]),
    ]
    one, two = tmp_path / "one.safetensors", tmp_path / "two.safetensors"
    single = _run([*common, "--batch-size", "2", "-o", str(one)], 1)
    assert single.returncode == 0, single.stderr[-3000:]
    ddp = _run([*common, "--batch-size", "1", "-o", str(two)], 2)
    assert ddp.returncode == 0, ddp.stderr[-3000:]
    assert ddp.stdout.splitlines() == [str(two)]  # rank 0 alone prints
    meta = load_tensors(two)[1]
    assert meta["iteration"] == 3 and meta["world_size"] == 2 and meta["images_seen"] == 6
    log_one, log_two = LossLog(RunFiles.beside(one).loss_log).read(), LossLog(RunFiles.beside(two).loss_log).read()
    assert [e["iteration"] for e in log_two] == [1, 2, 3]  # written once, by rank 0
    for a, b in zip(log_one, log_two):
        assert b["loss"] == pytest.approx(a["loss"], rel=1e-3)
    # the same function (conv biases before InstanceNorm have ~0 gradients, which Adam turns into noise)
    net1, net2 = fast.load_model(str(one)), fast.load_model(str(two))
    photo = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        out1, out2 = net1(photo * 255), net2(photo * 255)
    assert (out1 - out2).abs().max() < 1e-2 * out1.abs().max()
    assert not [p for p in tmp_path.rglob("*") if ".part" in p.name]


def test_sigterm_to_the_process_group_saves_a_checkpoint_and_exits_143(setup: dict[str, Path], tmp_path: Path) -> None:
    """`kill -TERM -- -PGID` (a job scheduler, `timeout`) reaches the DataLoader workers too: they must
    leave the stop to the main process, which saves like after Ctrl-C."""
    import os
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "m.safetensors"
    args = [
        "train-fast",
        str(setup["style"]),
        "--data",
        str(setup["photos"]),
        "--loss-net",
        str(setup["vgg"]),
        "--batch-size",
        "2",
        "--image-size",
        "32",
        "--style-size",
        "48",
        "--workers",
        "1",
        "--precision",
        "fp32",
        "--log-every",
        "1",
        "--sample-every",
        "0",
        "--iterations",
        "100000",
        "-o",
        str(out),
    ]
    proc = subprocess.Popen(
        [sys.executable, "-m", "stylize", *args],
        start_new_session=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    log = tmp_path / "m-train" / "loss.jsonl"
    deadline = time.monotonic() + 120
    while (not log.is_file() or log.stat().st_size == 0) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.1)
    os.killpg(proc.pid, signal.SIGTERM)
    _, stderr = proc.communicate(timeout=120)
    assert log.stat().st_size > 0, stderr  # it was training when the signal came
    assert proc.returncode == 143, stderr
    assert "stopped at iteration" in stderr and "internal error" not in stderr
    assert out.is_file()

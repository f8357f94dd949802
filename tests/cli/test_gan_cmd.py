"""``stylize gan-sample`` and ``stylize train-gan`` end to end: files, stdout, exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

import stylize.cli
import stylize.cli.gan_cmd  # noqa: F401 - registers gan-sample and train-gan (replacing any stub)
from stylize.backends.gan.generator import bundled_path
from stylize.checkpoints import save_checkpoint
from stylize.cli.app import app
from stylize.config import DEFAULT_MODEL, GeneratorConfig
from stylize.models.generator import build_generator
from stylize.training import gan_ops
from stylize.training.gan_data import write_idx

runner = CliRunner()


def invoke(*args: str) -> object:
    return runner.invoke(app, ["-q", *args])


@pytest.fixture(autouse=True)
def _quick_finalize(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gan_ops, "BN_CALIBRATION_BATCHES", 1)
    monkeypatch.setattr(gan_ops, "W_AVG_SAMPLES", 256)


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random style-based generator with 3 classes, saved as train-gan writes it."""
    torch.manual_seed(0)
    config = GeneratorConfig(
        architecture="style", image_size=16, latent_dim=8, width=16, num_classes=3, w_dim=8, mapping_layers=2
    )
    g = build_generator(config)
    meta = {"architecture": "gan-style", "generator": asdict(config), "classes": ["cat", "dog", "owl"]}
    return save_checkpoint(tmp_path_factory.mktemp("m") / "tiny.safetensors", g.state_dict(), meta)


def lines(result: object) -> list[str]:
    return [line for line in result.stdout.splitlines() if line]  # type: ignore[attr-defined]


def test_per_seed_files_are_named_by_seed(model: Path, tmp_path: Path) -> None:
    result = invoke("gan-sample", str(model), "--seeds", "3,10-11", "-o", str(tmp_path / "out"))
    assert result.exit_code == 0, result.output
    names = [Path(p).name for p in lines(result)]
    assert names == ["seed0003.png", "seed0010.png", "seed0011.png"]
    with Image.open(tmp_path / "out" / "seed0003.png") as img:
        assert img.size == (16, 16) and img.mode == "L"


def test_same_seed_same_file_bytes(model: Path, tmp_path: Path) -> None:
    invoke("gan-sample", str(model), "--seeds", "5", "-o", str(tmp_path / "a.png"))
    invoke("gan-sample", str(model), "--seeds", "0-9", "--batch-size", "4", "-o", str(tmp_path / "b"))
    a = np.asarray(Image.open(tmp_path / "a.png"), dtype=int)
    b = np.asarray(Image.open(tmp_path / "b" / "seed0005.png"), dtype=int)
    assert np.abs(a - b).max() <= 1  # identical latents; float rounding at most


def test_grid_and_json(model: Path, tmp_path: Path) -> None:
    result = invoke("gan-sample", str(model), "-n", "6", "--grid", "--nrow", "3", "--json", "-o", str(tmp_path))
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["seeds"] == list(range(6)) and report["model"]["classes"] == ["cat", "dog", "owl"]
    (path,) = report["outputs"]
    with Image.open(path) as img:
        assert img.size == (3 * 16 + 4 * 2, 2 * 16 + 3 * 2)


def test_class_truncation_and_mix_names(model: Path, tmp_path: Path) -> None:
    result = invoke("gan-sample", str(model), "--seeds", "1", "--class", "OWL", "--psi", "0.5", "-o", str(tmp_path))
    assert [Path(p).name for p in lines(result)] == ["seed0001-psi0.5-class2.png"]
    result = invoke("gan-sample", str(model), "--style-mix", "1,2", "--mix-layer", "2", "--grid", "-o", str(tmp_path))
    assert result.exit_code == 0, result.output
    with Image.open(lines(result)[0]) as img:
        assert img.size == (3 * 16 + 4 * 2, 16 + 2 * 2)  # A | B | mixed


def test_interpolation_writes_frames_and_animation(model: Path, tmp_path: Path) -> None:
    result = invoke("gan-sample", str(model), "--seeds", "1,2,3", "--interpolate", "5", "-o", str(tmp_path / "w.gif"))
    assert result.exit_code == 0, result.output
    paths = lines(result)
    assert len(paths) == 2 * 5 + 1 + 1 and paths[-1].endswith("w.gif")
    with Image.open(paths[-1]) as gif:
        assert gif.n_frames == 11
    assert (tmp_path / "w-frames" / "frame-0010.png").is_file()


@pytest.mark.parametrize(
    ("args", "code", "words"),
    [
        (["--seeds", "0-3", "-o", "one.png"], 2, "names one file"),
        (["--class", "zebra"], 2, "unknown class"),
        (["--seeds", "x"], 2, "--seeds"),
        (["--precision", "fp16", "--device", "cpu"], 2, "fp16"),
        (["--interpolate", "3", "--seeds", "1"], 2, "two seeds"),
        (["--device", "cuda:7"], 5, "cuda"),
    ],
)
def test_bad_options(model: Path, tmp_path: Path, args: list[str], code: int, words: str) -> None:
    if "--device" in args and "cuda:7" in args and torch.cuda.device_count() > 7:
        pytest.skip("this machine has a cuda:7")
    args = [str(tmp_path / a) if a.endswith(".png") else a for a in args]
    output = [] if "-o" in args else ["-o", str(tmp_path / "o")]
    result = runner.invoke(app, ["gan-sample", str(model), *output, *args])
    assert result.exit_code == code, result.output
    assert words.lower() in result.output.lower()


def test_pickle_and_missing_models_are_weights_errors(tmp_path: Path) -> None:
    pkl = tmp_path / "stylegan2-ffhq.pkl"
    pkl.write_bytes(b"\x80\x04N.")
    result = runner.invoke(app, ["gan-sample", str(pkl)])
    assert result.exit_code == 4 and "runs python code" in result.output.lower()
    assert runner.invoke(app, ["gan-sample", str(tmp_path / "none.safetensors")]).exit_code == 4


def test_zoo_registry_name_samples_the_cached_file(tmp_path: Path) -> None:
    """A file in the pytorch_GAN_zoo DCGAN layout, cached under the registry name, samples by name."""
    from stylize import weights
    from stylize.models.generator import ZooDCGANGenerator

    net = ZooDCGANGenerator(latent_dim=16, channels=3, width=4, depth=1)
    dest = weights.cache_path(weights.get_spec("gan-zoo-dcgan-fashiongen"))
    dest.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"config": {"latentVectorDim": 16}, "netG": net.state_dict(), "avgG": net.state_dict()}, dest)
    result = invoke("gan-sample", "gan-zoo-dcgan-fashiongen", "--seeds", "4", "-o", str(tmp_path))
    assert result.exit_code == 0, result.output
    with Image.open(lines(result)[0]) as img:
        assert img.size == (16, 16) and img.mode == "RGB"


def test_zoo_registry_name_offline_names_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STYLIZE_OFFLINE", "1")
    result = runner.invoke(app, ["gan-sample", "gan-zoo-pgan-celebahq"])
    assert result.exit_code == 4 and "weights fetch gan-zoo-pgan-celebahq" in result.output


def test_shipped_model_samples_offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    try:
        bundled_path(DEFAULT_MODEL)
    except Exception:  # noqa: BLE001
        pytest.skip("weights/ has no shipped generator in this checkout")
    monkeypatch.setenv("STYLIZE_OFFLINE", "1")
    result = invoke("gan-sample", "-n", "16", "--grid", "-o", str(tmp_path / "g.png"))
    assert result.exit_code == 0, result.output
    assert lines(result) == [str(tmp_path / "g.png")]
    result = invoke("gan-sample", "--seeds", "0", "--class", "Sneaker", "-o", str(tmp_path / "s.png"))
    assert result.exit_code == 0, result.output


def test_train_gan_then_sample_then_resume(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    data = tmp_path / "digits"
    data.mkdir()
    write_idx(data / "train-images-idx3-ubyte", rng.integers(0, 255, (16, 8, 8), dtype=np.uint8))
    out = tmp_path / "g.safetensors"
    common = [
        "train-gan",
        str(data),
        "-o",
        str(out),
        "--width",
        "8",
        "--d-width",
        "8",
        "--latent-dim",
        "4",
        "--batch-size",
        "4",
        "--sample-every",
        "0",
        "--log-every",
        "1",
    ]
    result = invoke(*common, "--iterations", "2")
    assert result.exit_code == 0, result.output
    assert lines(result) == [str(out)]
    assert invoke(*common, "--iterations", "3").exit_code == 3  # exists: needs --resume or --overwrite
    assert invoke(*common, "--iterations", "3", "--resume").exit_code == 0
    result = invoke("gan-sample", str(out), "-n", "2", "-o", str(tmp_path / "s"))
    assert result.exit_code == 0 and len(lines(result)) == 2
    assert invoke(*common, "--architecture", "nope").exit_code == 2


def test_importing_the_commands_does_not_import_torch() -> None:
    code = "import sys, stylize.cli.gan_cmd; assert 'torch' not in sys.modules, 'torch imported'"
    assert subprocess.run([sys.executable, "-c", code], check=False, capture_output=True).returncode == 0


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"width": 1_000_000}, "wrong layout"),  # would allocate ~196 TB if built before checking the shapes
        ({"num_classes": -5}, "num_classes"),
        ({"image_size": 30}, "image-size"),
    ],
)
def test_hostile_generator_metadata_is_exit_4_without_allocating(
    model: Path, tmp_path: Path, change: dict, words: str
) -> None:
    from stylize.checkpoints import load_tensors

    tensors, meta = load_tensors(model)
    meta["generator"] = {**meta["generator"], **change}
    bad = save_checkpoint(tmp_path / "bad.safetensors", tensors, meta)
    result = runner.invoke(app, ["gan-sample", str(bad), "-n", "1", "-o", str(tmp_path / "out")])
    assert result.exit_code == 4, result.output
    assert words in result.stderr and len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("classes", [5, {"a": 1}, ["a"], [[1], [2]] * 5, [1] * 10])
def test_tampered_class_names_are_exit_4(tmp_path: Path, classes: object) -> None:
    from stylize.checkpoints import load_tensors

    tensors, meta = load_tensors(bundled_path(DEFAULT_MODEL))  # 10 classes, by name
    bad = save_checkpoint(tmp_path / "bad.safetensors", tensors, {**meta, "classes": classes})
    result = runner.invoke(app, ["gan-sample", str(bad), "-n", "1", "--class", "1", "-o", str(tmp_path / "out")])
    assert result.exit_code == 4 and "classes are not 10 names" in result.stderr, result.output
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("name", ["notes.txt", "model.pth", "model.pt", "model.safetensors"])
def test_a_text_file_given_as_a_gan_is_exit_4(tmp_path: Path, name: str) -> None:
    text = tmp_path / name
    text.write_text("hello, this is not a model\n")
    result = runner.invoke(app, ["gan-sample", str(text), "-n", "1", "-o", str(tmp_path / "out")])
    assert result.exit_code == 4 and "not a readable" in result.stderr, result.output
    assert len(result.stderr.strip().splitlines()) == 1


def test_metadata_that_is_not_json_is_exit_4(model: Path, tmp_path: Path) -> None:
    from safetensors.torch import save_file

    from stylize.checkpoints import load_tensors

    tensors, _ = load_tensors(model)
    for raw in ("{not json", "[1, 2]"):
        save_file(tensors, str(tmp_path / "bad.safetensors"), metadata={"stylize": raw})
        result = runner.invoke(app, ["gan-sample", str(tmp_path / "bad.safetensors"), "-n", "1"])
        assert result.exit_code == 4 and "metadata" in result.stderr, result.output


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--seeds", ""], "--seeds is empty"),
        (["--seeds", "1,2", "-n", "5"], "both say"),
        (["--interpolate", "3", "--seeds", "1,2", "-o", "walk.mp4"], "not a format"),
        (["--grid", "-n", "1000000"], "too large"),
        (["--interpolate", "10000000"], "too many for one animation"),  # 150M frames held in memory
        (["--seeds", "123456789012345678901"], "at most 9223372036854775807"),
    ],
)
def test_sample_option_mistakes_are_exit_2(model: Path, tmp_path: Path, args: list[str], words: str) -> None:
    args = [str(tmp_path / a) if a.endswith(".mp4") else a for a in args]
    result = invoke("gan-sample", str(model), *args)
    assert result.exit_code == 2 and words in result.stderr, result.output
    assert not (tmp_path / "walk.mp4").exists()


def test_repeated_seeds_write_each_file_once(model: Path, tmp_path: Path) -> None:
    result = invoke("gan-sample", str(model), "--seeds", "3,3,4,3", "-o", str(tmp_path / "out"))
    assert result.exit_code == 0, result.output
    assert [Path(p).name for p in lines(result)] == ["seed0003.png", "seed0004.png"]


def test_each_path_is_printed_as_soon_as_it_is_written(
    model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from stylize.backends.gan import service

    real = service.write_images
    calls = []

    def interrupt_second_batch(batch, targets, **kwargs):
        calls.append(len(targets))
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(batch, targets, **kwargs)

    monkeypatch.setattr(service, "write_images", interrupt_second_batch)
    result = invoke("gan-sample", str(model), "-n", "6", "--batch-size", "2", "-o", str(tmp_path / "out"))
    assert result.exit_code == 130
    assert [Path(p).name for p in lines(result)] == ["seed0000.png", "seed0001.png"]  # written before Ctrl-C

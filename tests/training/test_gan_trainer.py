"""Training our GANs: idx files, the maths of a step (losses, EMA), and tiny runs that write what
gan-sample loads and resume."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from stylize.backends import gan
from stylize.checkpoints import load_tensors
from stylize.config import GANTrainConfig
from stylize.errors import InputError, UsageError
from stylize.training import gan_ops, state_path
from stylize.training.gan import train_gan
from stylize.training.gan_data import find_idx, read_idx, write_idx

CPU = torch.device("cpu")
DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "gan"


@pytest.fixture(autouse=True)
def _quick_finalize(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fewer batches for BatchNorm statistics and the average w: tiny models need no more."""
    monkeypatch.setattr(gan_ops, "BN_CALIBRATION_BATCHES", 1)
    monkeypatch.setattr(gan_ops, "W_AVG_SAMPLES", 256)


def sampler(path: Path) -> gan.Sampler:
    return gan.Sampler(gan.load_generator(path), CPU)


# ---------------------------------------------------------------- idx files


def test_idx_round_trip_and_errors(tmp_path: Path) -> None:
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    for name in ("x-idx3-ubyte", "x-idx3-ubyte.gz"):
        assert np.array_equal(read_idx(write_idx(tmp_path / name, images)), images)
    (tmp_path / "bad-idx3").write_bytes(b"\x00\x00\x09\x03" + b"\x00" * 12)
    with pytest.raises(InputError, match="not an unsigned-byte idx"):
        read_idx(tmp_path / "bad-idx3")
    (tmp_path / "short-idx3").write_bytes(write_idx(tmp_path / "ok-idx3", images).read_bytes()[:-3])
    with pytest.raises(InputError, match="header says"):
        read_idx(tmp_path / "short-idx3")


def write_tiny_idx(folder: Path, count: int = 32, size: int = 16, classes: int = 3) -> Path:
    """Bright squares of a few sizes on black, with labels: an MNIST-format pair of files."""
    rng = np.random.default_rng(0)
    labels = rng.integers(0, classes, count).astype(np.uint8)
    images = np.zeros((count, size, size), np.uint8)
    for i, c in enumerate(labels):
        half = 2 + 2 * int(c)
        images[i, size // 2 - half : size // 2 + half, size // 2 - half : size // 2 + half] = 200
    folder.mkdir(parents=True, exist_ok=True)
    write_idx(folder / "train-images-idx3-ubyte.gz", images)
    write_idx(folder / "train-labels-idx1-ubyte.gz", labels)
    return folder


def test_find_idx(tmp_path: Path) -> None:
    folder = write_tiny_idx(tmp_path / "data")
    images, labels = find_idx(folder)
    assert images.name.startswith("train-images") and labels.name.startswith("train-labels")
    assert find_idx(images) == (images, labels)
    assert find_idx(tmp_path) is None  # no idx files: an image folder


# ---------------------------------------------------------------- maths of the training step


def test_losses() -> None:
    real, fake = torch.tensor([2.0, 0.5]), torch.tensor([-2.0, 0.0])
    assert gan_ops.d_loss("hinge", real, fake).item() == pytest.approx(0.25 + 0.5)
    assert gan_ops.g_loss("hinge", fake).item() == pytest.approx(1.0)
    expected = torch.nn.functional.softplus(-real).mean() + torch.nn.functional.softplus(fake).mean()
    assert gan_ops.d_loss("ns", real, fake).item() == pytest.approx(expected.item())


def test_ema() -> None:
    ema, model = torch.nn.Linear(2, 2), torch.nn.Linear(2, 2)
    before = ema.weight.detach().clone()
    gan_ops.update_ema(ema, model, 0.75)
    torch.testing.assert_close(ema.weight, 0.75 * before + 0.25 * model.weight.detach())
    config = GANTrainConfig(ema_halflife=1000)
    assert gan_ops.ema_beta(config, 10**6, 1000) == pytest.approx(0.5)
    assert gan_ops.ema_beta(config, 0, 64) == 0.0  # ramp-up: copy the weights at the very start


# ---------------------------------------------------------------- training runs

TINY = {
    "image_size": 16,
    "width": 16,
    "d_width": 16,
    "latent_dim": 8,
    "w_dim": 8,
    "mapping_layers": 2,
    "batch_size": 8,
    "log_every": 2,
    "sample_every": 2,
    "sample_count": 4,
    "checkpoint_every": 2,
}


@pytest.mark.parametrize("architecture", ["dcgan", "style"])
def test_training_writes_a_loadable_checkpoint_and_resumes(tmp_path: Path, architecture: str) -> None:
    data = write_tiny_idx(tmp_path / "data")
    out = tmp_path / "g.safetensors"
    first = train_gan(data, out, GANTrainConfig(architecture=architecture, iterations=3, **TINY))
    assert first.iteration == 3 and out.is_file() and state_path(out).is_file()
    _, meta = load_tensors(out)
    assert (meta["steps"], meta["iteration"], meta["generator"]["num_classes"]) == (3, 3, 3)
    s = sampler(out)
    assert s.images([0, 1]).shape == (2, 1, 16, 16) and s.info.num_classes == 3
    assert sorted(p.name for p in first.samples.iterdir()) == ["iter-0000002.png", "iter-0000003.png"]
    with pytest.raises(InputError):  # OutputError: exists, no --resume
        train_gan(data, out, GANTrainConfig(architecture=architecture, iterations=5, **TINY))
    second = train_gan(data, out, GANTrainConfig(architecture=architecture, iterations=5, **TINY), resume=True)
    assert second.iteration == 5
    log = [line for line in first.loss_log.read_text().splitlines() if line]
    assert [json.loads(line)["iteration"] for line in log] == [2, 3, 4, 5]
    assert load_tensors(out)[1]["steps"] == 5
    reshaped = GANTrainConfig(architecture=architecture, iterations=6, **{**TINY, "width": 32})
    with pytest.raises(UsageError, match="trained with --width 16 \\(now 32\\)"):  # the tensors' shapes differ
        train_gan(data, out, reshaped, resume=True)


def test_training_on_an_image_folder(tmp_path: Path, image_factory: object) -> None:
    for i in range(6):
        image_factory(tmp_path / "imgs" / ("sub" if i % 2 else "") / f"{i}.png", (20, 18), seed=i)  # type: ignore[operator]
    out = tmp_path / "f.safetensors"
    config = GANTrainConfig(iterations=2, workers=0, channels=3, **{**TINY, "batch_size": 4})
    result = train_gan(tmp_path / "imgs", out, config)
    assert result.iteration == 2
    s = sampler(out)
    assert s.images([0]).shape == (1, 3, 16, 16) and s.info.num_classes == 0


def test_training_on_a_fashion_mnist_subset(tmp_path: Path) -> None:
    """The real data (../shared/data/gan): a 256-image subset, 3 steps, then --resume to 4."""
    if not DATA.is_dir():
        pytest.skip("../shared/data/gan not present (fresh clone)")
    images = read_idx(DATA / "t10k-images-idx3-ubyte.gz")[:256]
    labels = read_idx(DATA / "t10k-labels-idx1-ubyte.gz")[:256]
    subset = tmp_path / "fashion-mnist-subset"
    subset.mkdir()
    write_idx(subset / "train-images-idx3-ubyte.gz", images)
    write_idx(subset / "train-labels-idx1-ubyte.gz", labels)
    out = tmp_path / "fm.safetensors"
    config = {**TINY, "image_size": 28, "sample_every": 0}
    train_gan(subset, out, GANTrainConfig(iterations=3, **config))
    s = sampler(out)
    assert s.info.class_names[7] == "Sneaker" and s.images([0]).shape == (1, 1, 28, 28)
    assert train_gan(subset, out, GANTrainConfig(iterations=4, **config), resume=True).iteration == 4

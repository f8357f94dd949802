"""GAN sampling and training: seeds, truncation, style mixing, interpolation, animations,
pytorch_GAN_zoo imports, idx files, and a short training run with --resume."""

from __future__ import annotations

import json
import sys
import types
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from stylize.backends import gan
from stylize.backends import gan_train as gt
from stylize.checkpoints import load_tensors, save_checkpoint
from stylize.config import GANTrainConfig, GeneratorConfig, parse_seeds
from stylize.errors import InputError, UsageError, WeightsError
from stylize.models.generator import ZooDCGANGenerator, ZooPGANGenerator, build_generator
from stylize.training import state_path

CPU = torch.device("cpu")
DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "gan"


@pytest.fixture(autouse=True)
def _quick_finalize(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fewer batches for BatchNorm statistics and the average w: tiny models need no more."""
    monkeypatch.setattr(gt, "BN_CALIBRATION_BATCHES", 1)
    monkeypatch.setattr(gt, "W_AVG_SAMPLES", 256)


def make_checkpoint(path: Path, architecture: str = "style", num_classes: int = 0, size: int = 16) -> Path:
    """A tiny random generator of ours, saved as gan-sample loads it (w_avg / BN stats finalised)."""
    torch.manual_seed(0)
    config = GeneratorConfig(architecture=architecture, image_size=size, channels=1, latent_dim=8, width=16,
                             num_classes=num_classes, w_dim=8, mapping_layers=2)  # fmt: skip
    g = build_generator(config)
    gt.finalize_generator(g, config, CPU, batches=2, w_samples=512)
    meta = {"architecture": gt.architecture_id(architecture), "generator": asdict(config), "steps": 0}
    return save_checkpoint(path, g.state_dict(), meta)


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("gan_models")
    return {
        "style": make_checkpoint(folder / "style.safetensors", "style"),
        "dcgan": make_checkpoint(folder / "dcgan.safetensors", "dcgan"),
        "cond": make_checkpoint(folder / "cond.safetensors", "style", num_classes=3),
    }


def sampler(path: Path, **kwargs: object) -> gan.Sampler:
    return gan.Sampler(gan.load_generator(path), CPU, **kwargs)  # type: ignore[arg-type]


def as_uint8(images: torch.Tensor) -> torch.Tensor:
    return images.mul(255).round().to(torch.uint8)


# ---------------------------------------------------------------- seeds


def test_parse_seeds() -> None:
    assert parse_seeds("0-3,100, 7") == (0, 1, 2, 3, 100, 7)
    for bad in ("", "a", "5-2", "-1"):
        with pytest.raises(UsageError):
            parse_seeds(bad)


def test_seed_inputs_depend_only_on_the_seed() -> None:
    alone = gan.seed_inputs([5], 8, 10, [(1, 4, 4)])
    among = gan.seed_inputs([1, 5, 9], 8, 10, [(1, 4, 4)])
    assert torch.equal(alone.z[0], among.z[1]) and torch.equal(alone.classes[0], among.classes[1])
    assert torch.equal(alone.noise[0][0], among.noise[0][1])
    plain = gan.seed_inputs([5], 8, 10)  # z and class do not change when noise is drawn too
    assert torch.equal(plain.z, alone.z) and torch.equal(plain.classes, alone.classes)


@pytest.mark.parametrize("kind", ["style", "dcgan"])
def test_seeds_reproduce_exactly(models: dict[str, Path], kind: str) -> None:
    first = sampler(models[kind]).images([3, 4, 5])
    again = sampler(models[kind]).images([3, 4, 5])
    assert torch.equal(first, again)
    assert not torch.equal(first[0], first[1])


@pytest.mark.parametrize("kind", ["style", "dcgan"])
def test_image_does_not_depend_on_batch_size(models: dict[str, Path], kind: str) -> None:
    seeds = list(range(10))
    big = sampler(models[kind], batch_size=10).images(seeds)
    small = sampler(models[kind], batch_size=3).images(seeds)
    torch.testing.assert_close(big, small, rtol=0, atol=1e-5)
    assert (as_uint8(big).int() - as_uint8(small).int()).abs().max() <= 1  # float rounding at most


@pytest.mark.parametrize("kind", ["style", "dcgan"])
def test_truncation_zero_gives_one_image_for_every_seed(models: dict[str, Path], kind: str) -> None:
    images = sampler(models[kind]).images([0, 1, 2, 99], psi=0.0)
    for other in images[1:]:
        torch.testing.assert_close(other, images[0], rtol=0, atol=1e-6)


def test_truncation_is_the_average_w_for_the_style_model(models: dict[str, Path]) -> None:
    s = sampler(models["style"])
    z = s.inputs([7]).z
    ws = s.model.styles(z, None, 0.5)
    w = s.model.module.mapping(z)
    torch.testing.assert_close(ws[0, 0], s.model.module.w_avg[0] + 0.5 * (w[0] - s.model.module.w_avg[0]))


# ---------------------------------------------------------------- style mixing


def test_style_mixing_with_equal_seeds_is_the_unmixed_image(models: dict[str, Path]) -> None:
    s = sampler(models["style"])
    trio = s.mix(4, 4, layer=2)
    torch.testing.assert_close(trio[2], s.images([4])[0], rtol=0, atol=1e-6)


def test_style_mixing_layer_bounds_pick_one_seed(models: dict[str, Path]) -> None:
    s = sampler(models["style"])
    a, b = s.images([1])[0], s.images([2])[0]
    torch.testing.assert_close(s.mix(1, 2, layer=0)[2], b, rtol=0, atol=1e-6)
    torch.testing.assert_close(s.mix(1, 2, layer=s.info.num_ws)[2], a, rtol=0, atol=1e-6)
    middle = s.mix(1, 2, layer=3)[2]
    assert not torch.allclose(middle, a) and not torch.allclose(middle, b)


def test_style_mixing_needs_a_style_model(models: dict[str, Path]) -> None:
    with pytest.raises(UsageError, match="style-based"):
        sampler(models["dcgan"]).mix(1, 2, 1)


# ---------------------------------------------------------------- classes


def test_class_by_name_or_index_and_seed_classes(models: dict[str, Path]) -> None:
    s = sampler(models["cond"])
    assert s.class_index("2") == 2 and s.class_index(None) is None
    with pytest.raises(UsageError, match="unknown class"):
        s.class_index("7")
    forced = s.inputs([0, 1, 2], class_index=1).classes
    assert forced.tolist() == [1, 1, 1]
    with pytest.raises(UsageError, match="not class-conditional"):
        sampler(models["style"]).class_index("1")


# ---------------------------------------------------------------- interpolation and animations


def test_slerp_endpoints_and_norm() -> None:
    a, b = torch.randn(64), torch.randn(64)
    assert torch.equal(gan.slerp(a, b, 0.0), a) and torch.equal(gan.slerp(a, b, 1.0), b)
    mid = gan.slerp(a, b, 0.5)
    assert abs(mid.norm() - (a.norm() + b.norm()) / 2) < 0.25 * a.norm()  # stays on the shell, unlike lerp


@pytest.mark.parametrize("kind", ["style", "dcgan", "cond"])
def test_interpolation_endpoints_equal_the_seed_images(models: dict[str, Path], kind: str) -> None:
    s = sampler(models[kind], noise="seed")
    frames = s.interpolate([3, 8, 5], steps=4)
    assert len(frames) == 2 * 4 + 1
    ends = s.images([3, 8, 5])
    for index, image in zip((0, 4, 8), ends):
        torch.testing.assert_close(frames[index], image, rtol=0, atol=1e-6)


@pytest.mark.parametrize("suffix", [".gif", ".webp"])
def test_animation_has_the_right_frame_count(models: dict[str, Path], tmp_path: Path, suffix: str) -> None:
    frames = sampler(models["style"]).interpolate([1, 2], steps=6)
    path = gan.write_animation(frames, tmp_path / f"a{suffix}", fps=10)
    with Image.open(path) as img:
        assert img.n_frames == 7 and img.is_animated


def test_grid_size(models: dict[str, Path], tmp_path: Path) -> None:
    images = sampler(models["style"]).images(range(10))
    path = gan.write_grid(images, tmp_path / "g.png", nrow=4)
    with Image.open(path) as img:
        assert img.size == (4 * 16 + 5 * 2, 3 * 16 + 4 * 2) and img.mode == "L"


# ---------------------------------------------------------------- loading and refusing


def test_pickles_are_refused_with_the_reason(tmp_path: Path) -> None:
    path = tmp_path / "network-snapshot.pkl"
    path.write_bytes(b"\x80\x04N.")
    with pytest.raises(WeightsError, match="runs Python code"):
        gan.load_generator(path)


def test_safetensors_without_our_metadata_is_refused(tmp_path: Path) -> None:
    path = save_checkpoint(tmp_path / "x.safetensors", {"w": torch.zeros(2)}, {"architecture": "adain-decoder"})
    with pytest.raises(WeightsError, match="not a stylize GAN generator"):
        gan.load_generator(path)


def _fake_zoo_config(values: dict[str, object]) -> object:
    """An object pickled as pytorch_GAN_zoo's ``models.utils.config.BaseConfig``, like the real files."""
    module = types.ModuleType("models.utils.config")

    class BaseConfig:
        pass

    BaseConfig.__module__, BaseConfig.__qualname__ = "models.utils.config", "BaseConfig"
    module.BaseConfig = BaseConfig
    config = BaseConfig()
    config.__dict__.update(values)
    return module, config


def save_zoo(path: Path, net: torch.nn.Module, config: dict[str, object], as_object: bool = True) -> Path:
    """Save ``{config, netG, netD, avgG}`` as pytorch_GAN_zoo does (BaseConfig object, or a dict)."""
    names = ("models", "models.utils", "models.utils.config")
    if as_object:
        module, obj = _fake_zoo_config(config)
        saved = {n: sys.modules.get(n) for n in names}
        sys.modules.update({"models": types.ModuleType("models"), "models.utils": types.ModuleType("models.utils"),
                            "models.utils.config": module})  # fmt: skip
        try:
            torch.save({"config": obj, "netG": net.state_dict(), "netD": {}, "avgG": net.state_dict()}, path)
        finally:
            for name, old in saved.items():
                sys.modules.pop(name) if old is None else sys.modules.__setitem__(name, old)
    else:
        torch.save({"config": config, "netG": net.state_dict(), "netD": {}, "avgG": net.state_dict()}, path)
    return path


@pytest.mark.parametrize("as_object", [True, False])
def test_zoo_dcgan_import_and_sample(tmp_path: Path, as_object: bool) -> None:
    torch.manual_seed(0)
    net = ZooDCGANGenerator(latent_dim=16, channels=3, width=8, depth=2)
    with torch.no_grad():
        for p in net.parameters():
            p.normal_(0, 0.2)
    path = save_zoo(tmp_path / "DCGAN_fashionGen.pth", net, {"latentVectorDim": 16, "dimG": 8, "depth": 2},
                    as_object)  # fmt: skip
    s = sampler(path)
    assert (s.info.kind, s.info.image_size, s.info.channels, s.info.latent_dim) == ("gan-zoo-dcgan", 32, 3, 16)
    images = s.images([0, 1])
    assert images.shape == (2, 3, 32, 32) and images.min() >= 0 and images.max() <= 1
    expected = net.eval()(gan.seed_inputs([0, 1], 16).z).add(1).mul(0.5)
    torch.testing.assert_close(images, expected, rtol=0, atol=1e-5)


def test_zoo_conditional_dcgan_gets_one_hot_categories(tmp_path: Path) -> None:
    """AC-GAN zoo models: z = Gaussian part + one one-hot block per attribute (here 3 + 2 values)."""
    net = ZooDCGANGenerator(latent_dim=8 + 5, channels=1, width=4, depth=1)
    attributes = {"colour": {"order": 1, "values": ["r", "g"]}, "kind": {"order": 0, "values": ["a", "b", "c"]}}
    config = {"latentVectorDim": 8, "categoryVectorDim": 5, "attribKeysOrder": attributes}
    s = sampler(save_zoo(tmp_path / "ac.pth", net, config))
    assert s.info.category_blocks == (3, 2)
    z = gan._zoo_categories(s.inputs([0, 1, 2]).z, (3, 2))
    assert torch.equal(z[:, 8:11].sum(1), torch.ones(3)) and torch.equal(z[:, 11:].sum(1), torch.ones(3))
    assert s.images([0, 1]).shape == (2, 1, 16, 16)


def test_zoo_pgan_import_and_sample(tmp_path: Path) -> None:
    torch.manual_seed(0)
    net = ZooPGANGenerator(latent_dim=16, depths=(16, 16, 8), channels=3)
    path = save_zoo(tmp_path / "celebaHQ_s6.pth", net, {"dimLatentVector": 16, "depthScales": [16, 16, 8],
                                                         "perChannelNormalization": True, "leakyness": 0.2})  # fmt: skip
    s = sampler(path)
    assert (s.info.kind, s.info.image_size) == ("gan-zoo-pgan", 16)
    out = s.images([3])
    expected = net(gan.seed_inputs([3], 16).z).clamp(-1, 1).add(1).mul(0.5)  # unbounded output clamped
    torch.testing.assert_close(out, expected, rtol=0, atol=1e-5)


def test_zoo_file_with_other_objects_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "evil.pth"
    torch.save({"netG": {}, "config": Path("/")}, path)  # a class outside the allow-list
    with pytest.raises(WeightsError, match="refusing to"):
        gan.load_generator(path)


def test_wrong_layout_is_one_error(tmp_path: Path) -> None:
    path = tmp_path / "odd.pth"
    torch.save({"netG": {"formatLayer.weight": torch.zeros(4, 4)}}, path)
    with pytest.raises(WeightsError):
        gan.load_generator(path)


# ---------------------------------------------------------------- idx files


def test_idx_round_trip_and_errors(tmp_path: Path) -> None:
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    for name in ("x-idx3-ubyte", "x-idx3-ubyte.gz"):
        assert np.array_equal(gt.read_idx(gt.write_idx(tmp_path / name, images)), images)
    (tmp_path / "bad-idx3").write_bytes(b"\x00\x00\x09\x03" + b"\x00" * 12)
    with pytest.raises(InputError, match="not an unsigned-byte idx"):
        gt.read_idx(tmp_path / "bad-idx3")
    (tmp_path / "short-idx3").write_bytes(gt.write_idx(tmp_path / "ok-idx3", images).read_bytes()[:-3])
    with pytest.raises(InputError, match="header says"):
        gt.read_idx(tmp_path / "short-idx3")


def write_tiny_idx(folder: Path, count: int = 32, size: int = 16, classes: int = 3) -> Path:
    """Bright squares of a few sizes on black, with labels: an MNIST-format pair of files."""
    rng = np.random.default_rng(0)
    labels = rng.integers(0, classes, count).astype(np.uint8)
    images = np.zeros((count, size, size), np.uint8)
    for i, c in enumerate(labels):
        half = 2 + 2 * int(c)
        images[i, size // 2 - half : size // 2 + half, size // 2 - half : size // 2 + half] = 200
    folder.mkdir(parents=True, exist_ok=True)
    gt.write_idx(folder / "train-images-idx3-ubyte.gz", images)
    gt.write_idx(folder / "train-labels-idx1-ubyte.gz", labels)
    return folder


def test_find_idx(tmp_path: Path) -> None:
    folder = write_tiny_idx(tmp_path / "data")
    images, labels = gt.find_idx(folder)
    assert images.name.startswith("train-images") and labels.name.startswith("train-labels")
    assert gt.find_idx(images) == (images, labels)
    assert gt.find_idx(tmp_path) is None  # no idx files: an image folder


# ---------------------------------------------------------------- maths of the training step


def test_losses() -> None:
    real, fake = torch.tensor([2.0, 0.5]), torch.tensor([-2.0, 0.0])
    assert gt.d_loss("hinge", real, fake).item() == pytest.approx(0.25 + 0.5)
    assert gt.g_loss("hinge", fake).item() == pytest.approx(1.0)
    expected = torch.nn.functional.softplus(-real).mean() + torch.nn.functional.softplus(fake).mean()
    assert gt.d_loss("ns", real, fake).item() == pytest.approx(expected.item())


def test_ema() -> None:
    ema, model = torch.nn.Linear(2, 2), torch.nn.Linear(2, 2)
    before = ema.weight.detach().clone()
    gt.update_ema(ema, model, 0.75)
    torch.testing.assert_close(ema.weight, 0.75 * before + 0.25 * model.weight.detach())
    config = GANTrainConfig(ema_halflife=1000)
    assert gt.ema_beta(config, 10**6, 1000) == pytest.approx(0.5)
    assert gt.ema_beta(config, 0, 64) == 0.0  # ramp-up: copy the weights at the very start


# ---------------------------------------------------------------- training runs

TINY = {"image_size": 16, "width": 16, "d_width": 16, "latent_dim": 8, "w_dim": 8, "mapping_layers": 2, "batch_size": 8,
        "log_every": 2, "sample_every": 2, "sample_count": 4, "checkpoint_every": 2}  # fmt: skip


@pytest.mark.parametrize("architecture", ["dcgan", "style"])
def test_training_writes_a_loadable_checkpoint_and_resumes(tmp_path: Path, architecture: str) -> None:
    data = write_tiny_idx(tmp_path / "data")
    out = tmp_path / "g.safetensors"
    first = gt.train_gan(data, out, GANTrainConfig(architecture=architecture, iterations=3, **TINY))
    assert first.iteration == 3 and out.is_file() and state_path(out).is_file()
    _, meta = load_tensors(out)
    assert (meta["steps"], meta["iteration"], meta["generator"]["num_classes"]) == (3, 3, 3)
    s = sampler(out)
    assert s.images([0, 1]).shape == (2, 1, 16, 16) and s.info.num_classes == 3
    assert sorted(p.name for p in first.samples.iterdir()) == ["iter-0000002.png", "iter-0000003.png"]
    with pytest.raises(InputError):  # OutputError: exists, no --resume
        gt.train_gan(data, out, GANTrainConfig(architecture=architecture, iterations=5, **TINY))
    second = gt.train_gan(data, out, GANTrainConfig(architecture=architecture, iterations=5, **TINY), resume=True)
    assert second.iteration == 5
    log = [line for line in first.loss_log.read_text().splitlines() if line]
    assert [json.loads(line)["iteration"] for line in log] == [2, 3, 4, 5]
    assert load_tensors(out)[1]["steps"] == 5


def test_training_on_an_image_folder(tmp_path: Path, image_factory: object) -> None:
    for i in range(6):
        image_factory(tmp_path / "imgs" / ("sub" if i % 2 else "") / f"{i}.png", (20, 18), seed=i)  # type: ignore[operator]
    out = tmp_path / "f.safetensors"
    config = GANTrainConfig(iterations=2, workers=0, channels=3, **{**TINY, "batch_size": 4})
    result = gt.train_gan(tmp_path / "imgs", out, config)
    assert result.iteration == 2
    s = sampler(out)
    assert s.images([0]).shape == (1, 3, 16, 16) and s.info.num_classes == 0


def test_training_on_a_fashion_mnist_subset(tmp_path: Path) -> None:
    """The real data (../shared/data/gan): a 256-image subset, 3 steps, then --resume to 4."""
    if not DATA.is_dir():
        pytest.skip("../shared/data/gan not present (fresh clone)")
    images = gt.read_idx(DATA / "t10k-images-idx3-ubyte.gz")[:256]
    labels = gt.read_idx(DATA / "t10k-labels-idx1-ubyte.gz")[:256]
    subset = tmp_path / "fashion-mnist-subset"
    subset.mkdir()
    gt.write_idx(subset / "train-images-idx3-ubyte.gz", images)
    gt.write_idx(subset / "train-labels-idx1-ubyte.gz", labels)
    out = tmp_path / "fm.safetensors"
    config = {**TINY, "image_size": 28, "sample_every": 0}
    gt.train_gan(subset, out, GANTrainConfig(iterations=3, **config))
    s = sampler(out)
    assert s.info.class_names[7] == "Sneaker" and s.images([0]).shape == (1, 1, 28, 28)
    assert gt.train_gan(subset, out, GANTrainConfig(iterations=4, **config), resume=True).iteration == 4


def test_shipped_models_are_package_data() -> None:
    """weights/ reaches wheels as stylize/_bundled (a link), listed in pyproject's package-data."""
    import fnmatch

    tomllib = pytest.importorskip("tomllib")
    import stylize
    from stylize.backends.gan import weights_dir

    package = Path(stylize.__file__).resolve().parent
    assert weights_dir() == package / "_bundled"
    shipped = sorted(p.name for p in weights_dir().glob("*.safetensors"))
    assert "gan-fashion-mnist.safetensors" in shipped
    pyproject = package.parent / "pyproject.toml"
    if not pyproject.is_file():
        pytest.skip("installed from a wheel: no pyproject.toml beside the package")
    patterns = tomllib.loads(pyproject.read_text())["tool"]["setuptools"]["package-data"]["stylize"]
    assert all(any(fnmatch.fnmatch(f"_bundled/{name}", p) for p in patterns) for name in shipped)

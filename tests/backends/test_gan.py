"""GAN sampling and training: seeds, truncation, style mixing, interpolation, animations,
pytorch_GAN_zoo imports, idx files, and a short training run with --resume."""

from __future__ import annotations

import sys
import types
from dataclasses import asdict
from pathlib import Path

import pytest
import torch
from PIL import Image

from stylize.backends import gan
from stylize.backends.gan.generator import _zoo_categories
from stylize.backends.gan.writing import write_animation
from stylize.checkpoints import save_checkpoint
from stylize.config import GeneratorConfig, parse_seeds
from stylize.errors import UsageError, WeightsError
from stylize.models.generator import ZooDCGANGenerator, ZooPGANGenerator, build_generator
from stylize.models.latents import seed_inputs
from stylize.training import gan_ops
from stylize.training.gan import architecture_id

CPU = torch.device("cpu")


@pytest.fixture(autouse=True)
def _quick_finalize(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fewer batches for BatchNorm statistics and the average w: tiny models need no more."""
    monkeypatch.setattr(gan_ops, "BN_CALIBRATION_BATCHES", 1)
    monkeypatch.setattr(gan_ops, "W_AVG_SAMPLES", 256)


def make_checkpoint(path: Path, architecture: str = "style", num_classes: int = 0, size: int = 16) -> Path:
    """A tiny random generator of ours, saved as gan-sample loads it (w_avg / BN stats finalised)."""
    torch.manual_seed(0)
    config = GeneratorConfig(
        architecture=architecture,
        image_size=size,
        channels=1,
        latent_dim=8,
        width=16,
        num_classes=num_classes,
        w_dim=8,
        mapping_layers=2,
    )
    g = build_generator(config)
    gan_ops.finalize_generator(g, config, CPU, batches=2, w_samples=512)
    meta = {"architecture": architecture_id(architecture), "generator": asdict(config), "steps": 0}
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
    path = write_animation(frames, tmp_path / f"a{suffix}", fps=10)
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
        sys.modules.update(
            {
                "models": types.ModuleType("models"),
                "models.utils": types.ModuleType("models.utils"),
                "models.utils.config": module,
            }
        )
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
    path = save_zoo(tmp_path / "DCGAN_fashionGen.pth", net, {"latentVectorDim": 16, "dimG": 8, "depth": 2}, as_object)
    s = sampler(path)
    assert (s.info.kind, s.info.image_size, s.info.channels, s.info.latent_dim) == ("gan-zoo-dcgan", 32, 3, 16)
    images = s.images([0, 1])
    assert images.shape == (2, 3, 32, 32) and images.min() >= 0 and images.max() <= 1
    expected = net.eval()(seed_inputs([0, 1], 16).z).add(1).mul(0.5)
    torch.testing.assert_close(images, expected, rtol=0, atol=1e-5)


def test_zoo_conditional_dcgan_gets_one_hot_categories(tmp_path: Path) -> None:
    """AC-GAN zoo models: z = Gaussian part + one one-hot block per attribute (here 3 + 2 values)."""
    net = ZooDCGANGenerator(latent_dim=8 + 5, channels=1, width=4, depth=1)
    attributes = {"colour": {"order": 1, "values": ["r", "g"]}, "kind": {"order": 0, "values": ["a", "b", "c"]}}
    config = {"latentVectorDim": 8, "categoryVectorDim": 5, "attribKeysOrder": attributes}
    s = sampler(save_zoo(tmp_path / "ac.pth", net, config))
    assert s.info.category_blocks == (3, 2)
    z = _zoo_categories(s.inputs([0, 1, 2]).z, (3, 2))
    assert torch.equal(z[:, 8:11].sum(1), torch.ones(3)) and torch.equal(z[:, 11:].sum(1), torch.ones(3))
    assert s.images([0, 1]).shape == (2, 1, 16, 16)


def test_zoo_pgan_import_and_sample(tmp_path: Path) -> None:
    torch.manual_seed(0)
    net = ZooPGANGenerator(latent_dim=16, depths=(16, 16, 8), channels=3)
    path = save_zoo(
        tmp_path / "celebaHQ_s6.pth",
        net,
        {"dimLatentVector": 16, "depthScales": [16, 16, 8], "perChannelNormalization": True, "leakyness": 0.2},
    )
    s = sampler(path)
    assert (s.info.kind, s.info.image_size) == ("gan-zoo-pgan", 16)
    out = s.images([3])
    expected = net(seed_inputs([3], 16).z).clamp(-1, 1).add(1).mul(0.5)  # unbounded output clamped
    torch.testing.assert_close(out, expected, rtol=0, atol=1e-5)


@pytest.mark.parametrize("kind", ["style", "dcgan", "zoo-dcgan", "zoo-pgan"])
def test_a_loaded_generator_is_never_random_initialised(tmp_path: Path, models: dict[str, Path], kind: str) -> None:
    """Built on the meta device and given the file's tensors: no init draws, nothing left unset."""
    zoo = {
        "zoo-dcgan": lambda: ZooDCGANGenerator(latent_dim=16, channels=3, width=8, depth=2),
        "zoo-pgan": lambda: ZooPGANGenerator(latent_dim=16, depths=(16, 8), channels=3),
    }
    path = save_zoo(tmp_path / f"{kind}.pth", zoo[kind](), {}) if kind in zoo else models[kind]
    rng = torch.get_rng_state()
    module = gan.load_generator(path).module
    assert torch.equal(torch.get_rng_state(), rng)  # random init draws from the global generator
    tensors = [*module.parameters(), *module.buffers()]
    assert not any(t.is_meta for t in tensors)
    assert {t.dtype for t in tensors} <= {torch.float32, torch.int64}


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


def test_shipped_models_are_package_data() -> None:
    """weights/ reaches wheels as stylize/_bundled (a link), listed in pyproject's package-data."""
    import fnmatch

    tomllib = pytest.importorskip("tomllib")
    import stylize
    from stylize.backends.gan.generator import weights_dir

    package = Path(stylize.__file__).resolve().parent
    assert weights_dir() == package / "_bundled"
    shipped = sorted(p.name for p in weights_dir().glob("*.safetensors"))
    assert "gan-fashion-mnist.safetensors" in shipped
    pyproject = package.parent / "pyproject.toml"
    if not pyproject.is_file():
        pytest.skip("installed from a wheel: no pyproject.toml beside the package")
    patterns = tomllib.loads(pyproject.read_text())["tool"]["setuptools"]["package-data"]["stylize"]
    assert all(any(fnmatch.fnmatch(f"_bundled/{name}", p) for p in patterns) for name in shipped)

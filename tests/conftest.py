"""Shared fixtures: no test may touch the network or the user's real cache."""

from __future__ import annotations

import socket
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

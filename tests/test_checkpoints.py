"""Weight files load without running code; our checkpoints describe themselves."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
import torch

from stylize import __version__
from stylize.checkpoints import load_tensors, save_checkpoint
from stylize.errors import WeightsError


class _Evil:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (print, ("code ran",))


def test_state_dict_round_trip(tmp_path: Path) -> None:
    sd = {"a.weight": torch.randn(3, 2), "a.bias": torch.zeros(3)}
    torch.save(sd, tmp_path / "m.pth")
    loaded, meta = load_tensors(tmp_path / "m.pth")
    assert meta == {} and torch.equal(loaded["a.weight"], sd["a.weight"])


def test_pickled_objects_are_refused(tmp_path: Path) -> None:
    with open(tmp_path / "evil.pth", "wb") as fh:
        pickle.dump({"x": _Evil()}, fh)
    with pytest.raises(WeightsError, match="refusing to unpickle"):
        load_tensors(tmp_path / "evil.pth")


def test_pkl_files_are_refused_outright(tmp_path: Path) -> None:
    (tmp_path / "net.pkl").write_bytes(b"whatever")
    with pytest.raises(WeightsError) as info:
        load_tensors(tmp_path / "net.pkl")
    assert "runs code" in info.value.one_line()


def test_garbage_is_a_weights_error(tmp_path: Path) -> None:
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    (tmp_path / "junk.safetensors").write_bytes(b"not safetensors")
    for name in ("junk.pth", "junk.safetensors", "missing.pth"):
        with pytest.raises(WeightsError):
            load_tensors(tmp_path / name)


def test_safetensors_checkpoint_describes_itself(tmp_path: Path) -> None:
    tensors = {"w": torch.arange(6.0).reshape(2, 3)}
    path = save_checkpoint(tmp_path / "c.safetensors", tensors, {"architecture": "toy", "config": {"k": 3}})
    loaded, meta = load_tensors(path)
    assert torch.equal(loaded["w"], tensors["w"])
    assert meta == {"architecture": "toy", "config": {"k": 3}, "version": __version__}


def test_a_zip_bomb_pth_is_refused_before_inflating(tmp_path: Path) -> None:
    import zipfile

    bomb = tmp_path / "bomb.pth"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("archive/data.pkl", b"\0" * (64 << 20))  # 64 MiB of zeros in ~64 KB
    assert bomb.stat().st_size < 1 << 20
    with pytest.raises(WeightsError, match="inflate to 67,108,864 bytes"):
        load_tensors(bomb)


def test_the_content_decides_the_format_not_the_name(tmp_path: Path) -> None:
    import torch
    from safetensors.torch import save_file

    misnamed = tmp_path / "really_safetensors.pth"
    save_file({"w": torch.ones(2)}, str(misnamed))
    tensors, _ = load_tensors(misnamed)
    assert tensors["w"].tolist() == [1.0, 1.0]
    (tmp_path / "empty.pth").write_bytes(b"")
    with pytest.raises(WeightsError, match="empty file"):
        load_tensors(tmp_path / "empty.pth")

"""Inputs and outputs as URLs (``stylize.storage``): memory:// for plain runs, file:// through --ray."""

from __future__ import annotations

import builtins
import io
import json
from pathlib import Path
from typing import Any

import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from stylize import images
from stylize.cli import app

fsspec = pytest.importorskip("fsspec")
runner = CliRunner()
pytestmark = pytest.mark.usefixtures("torch_one_thread")


def _picture(seed: int, size: tuple[int, int] = (40, 28), fmt: str = "PNG") -> bytes:
    g = torch.Generator().manual_seed(seed)
    pixels = (torch.rand(size[1], size[0], 3, generator=g) * 255).to(torch.uint8).numpy()
    buffer = io.BytesIO()
    Image.fromarray(pixels, "RGB").save(buffer, format=fmt)
    return buffer.getvalue()


def _put(url: str, data: bytes) -> None:
    fsspec.filesystem("memory").pipe_file(url, data)


def _photos(root: str) -> None:
    """Two photos below ``root``, one in a sub-folder, plus a text file, a hidden file and a hidden folder."""
    _put(f"{root}/a.png", _picture(1))
    _put(f"{root}/sub/b.jpg", _picture(2, fmt="JPEG"))
    _put(f"{root}/notes.txt", b"not a picture")
    _put(f"{root}/.hidden.png", _picture(3))
    _put(f"{root}/.cache/one.png", _picture(4))
    _put(f"{root}/.cache/two.png", _picture(5))


def _pixels(data: bytes) -> bytes:
    with Image.open(io.BytesIO(data)) as img:
        return img.convert("RGB").tobytes()


def _fast(*args: str | Path) -> Any:
    return runner.invoke(app, ["--quiet", "fast", *map(str, args)])


def test_a_stored_folder_round_trip_mirrors_the_tree_like_a_local_run(bucket: str, model_file: Path, tmp_path: Path):
    _photos(f"{bucket}/in")
    result = _fast(f"{bucket}/in/", "-m", model_file, "-o", f"{bucket}/out/", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    outputs = sorted(d["output"] for d in report["done"])
    assert outputs == [f"{bucket}/out/a_fast_random_style.png", f"{bucket}/out/sub/b_fast_random_style.jpg"]
    assert report["counts"]["skipped_non_image"] == 1 and report["counts"]["skipped_hidden"] == 2
    only = _fast(f"{bucket}/in", "-m", model_file, "-o", f"{bucket}/glob", "--glob", "sub/*")
    assert only.exit_code == 0 and only.stdout.split() == [f"{bucket}/glob/sub/b_fast_random_style.jpg"]
    # the same pictures from local files give the same pixels
    local = tmp_path / "in"
    for name in ("a.png", "sub/b.jpg"):
        (local / name).parent.mkdir(parents=True, exist_ok=True)
        (local / name).write_bytes(fsspec.filesystem("memory").cat_file(f"{bucket}/in/{name}"))
    plain = _fast(local, "-m", model_file, "-o", tmp_path / "out")
    assert plain.exit_code == 0, plain.output
    for name in ("a_fast_random_style.png", "sub/b_fast_random_style.jpg"):
        stored = fsspec.filesystem("memory").cat_file(f"{bucket}/out/{name}")
        assert _pixels(stored) == _pixels((tmp_path / "out" / name).read_bytes())
        assert images.read_note(f"{bucket}/out/{name}") == images.read_note(tmp_path / "out" / name)


def test_a_rerun_skips_another_job_s_output_is_refused_and_overwrite_redoes(bucket: str, model_file: Path):
    _put(f"{bucket}/in/a.png", _picture(1))
    args = (f"{bucket}/in/a.png", "-m", model_file, "-o", f"{bucket}/out/")
    assert _fast(*args).exit_code == 0
    again = _fast(*args, "--json")
    counts = json.loads(again.stdout)["counts"]
    assert again.exit_code == 0 and counts["skipped"] == 1 and counts["done"] == 0
    output = f"{bucket}/out/a_fast_random_style.png"
    _put(output, _picture(9))  # another program's picture where this job writes
    refused = _fast(*args)
    assert refused.exit_code == 3 and "exists from another job" in refused.stderr
    assert _pixels(fsspec.filesystem("memory").cat_file(output)) == _pixels(_picture(9))
    redone = _fast(*args, "--overwrite")
    assert redone.exit_code == 0 and images.read_note(output) is not None


def test_mixtures_local_in_url_out_and_url_in_local_out_with_a_url_style(
    bucket: str, tmp_path: Path, image_factory: Any, fake_adain_weights: None
):
    photo = image_factory(tmp_path / "photo.png", (40, 28), 1)
    _put(f"{bucket}/styles/wave.jpg", _picture(5, fmt="JPEG"))
    up = runner.invoke(app, ["--quiet", "adain", str(photo), "-s", f"{bucket}/styles/wave.jpg", "-o", f"{bucket}/out"])
    assert up.exit_code == 0, up.output
    assert up.stdout.split() == [f"{bucket}/out/photo_adain_wave.png"]
    _put(f"{bucket}/single.png", _picture(2))
    down = runner.invoke(
        app, ["--quiet", "adain", f"{bucket}/single.png", "-s", f"{bucket}/styles/wave.jpg", "-o", str(tmp_path / "o")]
    )
    assert down.exit_code == 0, down.output
    assert Image.open(tmp_path / "o" / "single_adain_wave.png").size == (40, 28)


def test_an_output_that_is_its_input_is_refused(bucket: str, model_file: Path):
    _put(f"{bucket}/in/a.png", _picture(1))
    before = fsspec.filesystem("memory").cat_file(f"{bucket}/in/a.png")
    result = _fast(f"{bucket}/in", "-m", model_file, "-o", f"{bucket}/in", "--name", "{stem}.{ext}")
    assert result.exit_code == 3 and "would overwrite the input" in result.stderr
    assert fsspec.filesystem("memory").cat_file(f"{bucket}/in/a.png") == before


def test_a_damaged_stored_photo_fails_alone_and_a_missing_url_is_one_line(bucket: str, model_file: Path):
    _put(f"{bucket}/in/a.png", _picture(1))
    _put(f"{bucket}/in/broken.png", b"\x89PNG\r\n\x1a\n not really")
    result = _fast(f"{bucket}/in", "-m", model_file, "-o", f"{bucket}/out")
    assert result.exit_code == 6 and "broken.png" in result.stderr
    missing = _fast(f"{bucket}/nothing/", "-m", model_file, "-o", f"{bucket}/out")
    assert missing.exit_code == 3 and "no such file or folder" in missing.stderr
    assert len(missing.stderr.strip().splitlines()) == 1


def test_a_store_that_cannot_be_written_is_exit_3_before_any_work(
    bucket: str, model_file: Path, monkeypatch: pytest.MonkeyPatch
):
    _put(f"{bucket}/in/a.png", _picture(1))

    def denied(*args: object, **kwargs: object) -> None:
        raise PermissionError("Access Denied")

    monkeypatch.setattr(type(fsspec.filesystem("memory")), "pipe_file", denied)
    result = _fast(f"{bucket}/in", "-m", model_file, "-o", f"{bucket}/out")
    assert result.exit_code == 3 and "cannot be written here (PermissionError: Access Denied)" in result.stderr


def test_without_fsspec_a_url_is_a_usage_error_naming_the_extra(monkeypatch: pytest.MonkeyPatch, model_file: Path):
    real_import = builtins.__import__

    def no_fsspec(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "fsspec" or name.startswith("fsspec."):
            raise ImportError("No module named 'fsspec'")
        return real_import(name, *args, **kwargs)

    from stylize import storage  # after a run: s3:// may have been looked up (and cached) with fsspec there

    monkeypatch.setattr(builtins, "__import__", no_fsspec)
    storage.filesystem.cache_clear()
    try:
        result = _fast("s3://bucket/photos/", "-m", model_file)
    finally:
        storage.filesystem.cache_clear()
    assert result.exit_code == 2 and 'pip install "stylize[cloud]"' in result.stderr


def test_an_unknown_protocol_or_a_missing_filesystem_package_is_a_usage_error(model_file: Path) -> None:
    unknown = _fast("nope://bucket/a.png", "-m", model_file)
    assert unknown.exit_code == 2 and "not a protocol fsspec knows" in unknown.stderr
    missing = _fast("photo.png", "-m", model_file, "-o", "abfs://container/out/")
    assert missing.exit_code == 2 and "abfs://" in missing.stderr


def test_url_videos_are_refused_with_one_line(bucket: str, model_file: Path) -> None:
    _put(f"{bucket}/clip.mp4", b"\x00" * 64)
    result = _fast(f"{bucket}/clip.mp4", "-m", model_file, "-o", f"{bucket}/out")
    assert result.exit_code == 2 and "videos are read and written as local files only" in result.stderr


def test_memory_urls_are_refused_with_ray_whose_workers_cannot_see_them(bucket: str, model_file: Path) -> None:
    pytest.importorskip("ray")
    _put(f"{bucket}/in/a.png", _picture(1))
    result = _fast(f"{bucket}/in", "-m", model_file, "-o", f"{bucket}/out", "--ray", "local")
    assert result.exit_code == 2 and "memory:// lives in this process only" in result.stderr

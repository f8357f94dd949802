"""``stylize.storage``: URLs as paths, and outputs that reach a store whole or not at all."""

from __future__ import annotations

import pickle
from pathlib import Path, PurePosixPath

import pytest
from PIL import Image

from stylize import images
from stylize.storage import StorePath, location

fsspec = pytest.importorskip("fsspec")


def test_a_url_is_a_store_path_and_anything_else_a_local_one() -> None:
    url = location("memory://bucket/photos/sub/a.tar.png")
    assert isinstance(url, StorePath) and str(url) == "memory://bucket/photos/sub/a.tar.png"
    assert (url.name, url.stem, url.suffix) == ("a.tar.png", "a.tar", ".png")
    assert url.parent.parent == location("memory://bucket/photos/") == location("memory:///bucket/photos")
    assert url.relative_to(location("memory://bucket/photos")) == PurePosixPath("sub/a.tar.png")
    assert location("memory://bucket/photos") / Path(".") / "x.jpg" == location("memory://bucket/photos/x.jpg")
    assert url.with_name("b.jpg") == location("memory://bucket/photos/sub/b.jpg")
    assert not url.is_relative_to(location("memory://bucket/pho")) and url.is_relative_to(url.parents[1])
    assert pickle.loads(pickle.dumps(url)) == url and url != Path(str(url))
    assert location("photos/a.png") == Path("photos/a.png") and location("C:/photos") == Path("C:/photos")


def test_a_stored_output_is_uploaded_whole_and_never_replaced_without_overwrite(bucket: str) -> None:
    fs = fsspec.filesystem("memory")
    seen: list[bool] = []
    real_put = type(fs).put_file

    def put_file(self: object, local: str, remote: str, **kwargs: object) -> None:
        seen.append(fs.exists(remote))  # nothing is there until the one upload of the finished file
        with Image.open(local) as img:
            img.load()  # the local file is complete: it decodes
        real_put(self, local, remote, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(type(fs), "put_file", put_file)
        images.save_image(Image.new("RGB", (8, 6), (9, 8, 7)), f"{bucket}/out/a.png", note="first")
    assert seen == [False] and images.read_note(f"{bucket}/out/a.png") == "first"
    with pytest.raises(images.OutputExistsError):
        images.save_image(Image.new("RGB", (8, 6)), f"{bucket}/out/a.png", note="second")
    assert images.read_note(f"{bucket}/out/a.png") == "first"
    images.save_image(Image.new("RGB", (8, 6)), f"{bucket}/out/a.png", note="second", overwrite=True)
    assert images.read_note(f"{bucket}/out/a.png") == "second"
    assert fs.find(f"{bucket}/out") == [f"/{bucket[len('memory://') :]}/out/a.png"]


def test_a_file_url_is_uploaded_under_a_temp_name_then_renamed_and_a_failure_leaves_nothing(tmp_path: Path) -> None:
    fs = fsspec.filesystem("file")
    dest = f"file://{tmp_path}/out/a.bmp"
    images.save_image(Image.new("RGB", (8, 6), (1, 2, 3)), dest, note="job")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [".a.bmp.stylize", "a.bmp"]
    assert images.read_note(dest) == "job"  # the sidecar, bound to the uploaded bytes

    def broken_mv(*args: object, **kwargs: object) -> None:
        raise OSError("rename failed")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(type(fs), "mv", broken_mv)
        with pytest.raises(OSError, match="rename failed"):
            images.save_image(Image.new("RGB", (8, 6)), f"file://{tmp_path}/out/b.png", note="job")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [".a.bmp.stylize", "a.bmp"]

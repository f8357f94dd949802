"""images.py: every awkward input gives the right pixels or the right error; writes are atomic."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from stylize import images
from stylize.errors import InputError, OutputError, UsageError
from stylize.files import is_temp_file

REPO = Path(__file__).resolve().parents[1]


def _arr(img: Image.Image) -> np.ndarray:
    return np.asarray(img, dtype=np.float64)


# ------------------------------------------------------------ the shared edge cases

OK_EDGE = {
    "animated.gif": (64, 48),
    "cmyk.jpg": (300, 200),
    "exif_orientation_6.jpg": (300, 200),
    "gray16.png": (256, 128),
    "grayscale.png": (300, 200),
    "palette.gif": (225, 150),
    "photo.webp": (300, 200),
    "rgb16.png": (128, 96),
    "rgba_transparent.png": (256, 256),
    "tiny_1x1.png": (1, 1),
    "wide_4000x200.jpg": (4000, 200),
}
BAD_EDGE = {
    "bomb_30000x30000.png": "pixel limit",
    "empty.jpg": "empty file",
    "not_an_image.png": "not an image",
    "truncated.jpg": "damaged or incomplete",
}


def test_edge_folder_is_fully_covered(edge_dir: Path) -> None:
    assert {p.name for p in edge_dir.iterdir()} == set(OK_EDGE) | set(BAD_EDGE)


@pytest.mark.parametrize("name", sorted(OK_EDGE))
def test_edge_files_decode_to_upright_rgb(edge_dir: Path, name: str) -> None:
    pic = images.open_image(edge_dir / name)
    assert pic.rgb.mode == "RGB"
    assert pic.size == OK_EDGE[name]


@pytest.mark.parametrize("name", sorted(BAD_EDGE))
def test_edge_files_fail_with_one_clear_line(edge_dir: Path, name: str) -> None:
    with pytest.raises(InputError) as info:
        images.open_image(edge_dir / name)
    line = info.value.one_line()
    assert BAD_EDGE[name] in line and name in line and "\n" not in line
    assert info.value.exit_code == 3


def test_bomb_error_names_the_fix(edge_dir: Path) -> None:
    with pytest.raises(InputError) as info:
        images.open_image(edge_dir / "bomb_30000x30000.png")
    assert "--max-pixels" in info.value.one_line()


def test_cmyk_matches_the_rgb_original(edge_dir: Path) -> None:
    cmyk = _arr(images.open_image(edge_dir / "cmyk.jpg").rgb)
    webp = _arr(images.open_image(edge_dir / "photo.webp").rgb)  # same coffee photo, RGB
    assert np.abs(cmyk - webp).mean() < 20  # not inverted, not garbled


def test_exif_orientation_is_applied(edge_dir: Path) -> None:
    upright = images.open_image(edge_dir / "exif_orientation_6.jpg").rgb
    reference = images.resize_to(images.open_image(edge_dir / "palette.gif").rgb, upright.size)  # same cat
    rotated = upright.rotate(180)
    assert np.abs(_arr(upright) - _arr(reference)).mean() < np.abs(_arr(rotated) - _arr(reference)).mean() / 2


def test_gray16_keeps_tonal_range(edge_dir: Path) -> None:
    arr = _arr(images.open_image(edge_dir / "gray16.png").rgb)
    assert arr[..., 0].min() == 0 and arr[..., 0].max() == 255
    assert (arr[..., 0] == arr[..., 1]).all() and (arr[..., 1] == arr[..., 2]).all()
    assert (arr == 18).all(axis=2).sum() > 100  # the 0x1234 box -> 4660 / 257 = 18


def test_alpha_is_kept_apart(edge_dir: Path) -> None:
    pic = images.open_image(edge_dir / "rgba_transparent.png")
    assert pic.alpha is not None and pic.alpha.size == pic.size
    assert pic.alpha.getpixel((0, 0)) == 0 and pic.alpha.getpixel((128, 128)) == 255


def test_tiny_pixel_value(edge_dir: Path) -> None:
    assert images.open_image(edge_dir / "tiny_1x1.png").rgb.getpixel((0, 0)) == (200, 30, 40)


# ------------------------------------------------------------ self-made fixtures (no ../shared needed)


def _save(tmp_path: Path, name: str, img: Image.Image, **kw: object) -> Path:
    path = tmp_path / name
    img.save(path, **kw)
    return path


def test_missing_file_and_folder_are_input_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        images.open_image(tmp_path / "nope.jpg")
    with pytest.raises(InputError, match="folder"):
        images.open_image(tmp_path)


def test_max_pixels_is_enforced_exactly(tmp_path: Path) -> None:
    path = _save(tmp_path, "a.png", Image.new("RGB", (100, 50)))
    images.open_image(path, max_pixels=5000)
    with pytest.raises(InputError, match="100x50"):
        images.open_image(path, max_pixels=4999)


def test_16bit_gray_made_here(tmp_path: Path) -> None:
    ramp = np.tile(np.linspace(0, 65535, 64).astype(np.uint16), (8, 1))
    path = _save(tmp_path, "g16.png", Image.fromarray(ramp))
    arr = _arr(images.open_image(path).rgb)
    assert arr[0, 0, 0] == 0 and arr[0, -1, 0] == 255 and np.all(np.diff(arr[0, :, 0]) >= 0)


def test_palette_transparency_becomes_alpha(tmp_path: Path) -> None:
    img = Image.new("P", (8, 8), 1)
    img.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    img.paste(0, (0, 0, 4, 8))
    path = _save(tmp_path, "t.png", img, transparency=0)
    pic = images.open_image(path)
    assert pic.alpha is not None and pic.alpha.getpixel((0, 0)) == 0 and pic.alpha.getpixel((7, 0)) == 255
    assert pic.rgb.getpixel((7, 0)) == (255, 0, 0)


def test_icc_profile_is_converted_to_srgb() -> None:
    rocket = REPO / "examples" / "content" / "rocket.jpg"  # carries an Adobe RGB (1998) profile
    if not rocket.exists():
        pytest.skip("examples/content/rocket.jpg missing")
    pic = images.open_image(rocket)
    naive = Image.open(rocket).convert("RGB")
    assert pic.had_icc
    assert np.abs(_arr(pic.rgb) - _arr(naive)).mean() > 0.5  # the profile changed the pixels


def test_an_output_tagged_srgb_carries_a_profile_with_a_fixed_date(tmp_path: Path) -> None:
    from PIL import ImageCms

    pic = images.Picture(rgb=Image.new("RGB", (8, 8), (10, 200, 30)), had_icc=True)
    out = tmp_path / "o.jpg"
    images.save_picture(pic, out)
    icc = Image.open(out).info["icc_profile"]
    assert ImageCms.getProfileDescription(ImageCms.ImageCmsProfile(io.BytesIO(icc))).strip() == "sRGB built-in"
    assert icc[24:36] == images.ICC_DATE  # lcms stamps the current time: the same job's bytes differed per run


def test_resize_keeps_aspect_ratio() -> None:
    img = Image.new("RGB", (4000, 200))
    assert images.resize_long_side(img, 512).size == (512, 26)
    assert images.resize_long_side(img, 0).size == (4000, 200)
    assert images.resize_long_side(Image.new("RGB", (30, 60)), 120).size == (60, 120)
    assert images.center_crop_square(Image.new("RGB", (300, 200)), 128).size == (128, 128)


def test_tensor_round_trip_is_exact() -> None:
    rng = np.random.default_rng(0)
    img = Image.fromarray(rng.integers(0, 256, (5, 7, 3), dtype=np.uint8))
    t = images.to_tensor(img)
    assert tuple(t.shape) == (1, 3, 5, 7) and 0.0 <= float(t.min()) and float(t.max()) <= 1.0
    assert (np.asarray(images.to_pil(t)) == np.asarray(img)).all()


def test_to_pil_clamps_and_rounds() -> None:
    import torch

    t = torch.tensor([[[-0.5, 0.5 / 255 + 1e-4]], [[1.5, 0.0]], [[0.2, 1.0]]])  # (3, 1, 2)
    px = np.asarray(images.to_pil(t))
    assert px[0, 0].tolist() == [0, 255, 51] and px[0, 1].tolist() == [1, 0, 255]


# ------------------------------------------------------------ writing


@pytest.mark.parametrize("ext", [".jpg", ".png", ".webp", ".tif", ".bmp"])
def test_save_every_format(tmp_path: Path, ext: str) -> None:
    out = images.save_image(Image.new("RGB", (16, 8), (10, 200, 30)), tmp_path / f"o{ext}")
    back = images.open_image(out)
    assert back.size == (16, 8)
    assert np.abs(_arr(back.rgb) - np.array([10, 200, 30])).max() <= 3


def test_alpha_reattached_only_where_format_allows(tmp_path: Path) -> None:
    alpha = Image.new("L", (8, 8), 0)
    alpha.paste(255, (4, 0, 8, 8))
    png = images.save_image(Image.new("RGB", (8, 8), "red"), tmp_path / "a.png", alpha=alpha)
    jpg = images.save_image(Image.new("RGB", (8, 8), "red"), tmp_path / "a.jpg", alpha=alpha)
    assert Image.open(png).mode == "RGBA" and Image.open(png).getpixel((0, 0))[3] == 0
    assert Image.open(jpg).mode == "RGB"


def test_unknown_extension_is_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=".xyz"):
        images.save_image(Image.new("RGB", (4, 4)), tmp_path / "o.xyz")


def test_refuses_to_overwrite(tmp_path: Path) -> None:
    out = images.save_image(Image.new("RGB", (4, 4)), tmp_path / "o.png")
    with pytest.raises(OutputError, match="already exists"):
        images.save_image(Image.new("RGB", (4, 4), "white"), out)
    images.save_image(Image.new("RGB", (4, 4), "white"), out, overwrite=True)
    assert Image.open(out).getpixel((0, 0)) == (255, 255, 255)


def test_never_overwrites_an_input_even_with_overwrite(tmp_path: Path) -> None:
    src = _save(tmp_path, "in.png", Image.new("RGB", (4, 4), "blue"))
    with pytest.raises(OutputError, match="input"):
        images.save_image(Image.new("RGB", (4, 4)), src, overwrite=True, inputs=(src,))
    assert Image.open(src).getpixel((0, 0)) == (0, 0, 255)


def test_failed_write_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken_save(self: Image.Image, fp: object, *a: object, **kw: object) -> None:
        Path(str(fp)).write_bytes(b"half an image")
        raise OSError("disk full")

    monkeypatch.setattr(Image.Image, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        images.save_image(Image.new("RGB", (4, 4)), tmp_path / "o.png")
    assert list(tmp_path.iterdir()) == []


def test_failed_overwrite_keeps_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = images.save_image(Image.new("RGB", (4, 4), "blue"), tmp_path / "o.png")
    monkeypatch.setattr(Image.Image, "save", lambda *a, **k: (_ for _ in ()).throw(KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):
        images.save_image(Image.new("RGB", (4, 4)), out, overwrite=True)
    monkeypatch.undo()
    assert Image.open(out).getpixel((0, 0)) == (0, 0, 255)
    assert not any(is_temp_file(p) for p in tmp_path.iterdir())


def test_exif_survives_and_orientation_is_reset(tmp_path: Path) -> None:
    exif = Image.Exif()
    exif[0x0112] = 6
    exif[0x010F] = "TestCam"  # Make
    src = _save(tmp_path, "in.jpg", Image.new("RGB", (20, 10), "green"), exif=exif.tobytes())
    pic = images.open_image(src)
    assert pic.size == (10, 20)
    out = images.save_picture(pic, tmp_path / "out.jpg")
    saved = Image.open(out).getexif()
    assert saved.get(0x010F) == "TestCam" and 0x0112 not in saved


def test_outputs_get_normal_permissions(tmp_path: Path) -> None:
    from stylize import files

    out = images.save_image(Image.new("RGB", (4, 4)), tmp_path / "o.png")
    assert out.stat().st_mode & 0o777 == 0o666 & ~files._UMASK

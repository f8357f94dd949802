"""The picture API: stylize.adain / fast / optimize / gan_sample and Stylizer, in memory."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import stylize
from stylize import image_api
from stylize.errors import UsageError

REPO = Path(__file__).resolve().parents[1]
CHELSEA = REPO / "examples" / "content" / "chelsea.jpg"
MOSAIC = REPO / "examples" / "style" / "mosaic.png"

pytestmark = pytest.mark.usefixtures("torch_one_thread")


def test_importing_stylize_stays_light() -> None:
    code = "import sys, stylize; stylize.__version__; print('torch' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"
    assert stylize.Stylizer is image_api.Stylizer and stylize.fast is image_api.fast


def test_inputs_may_be_images_paths_or_arrays() -> None:
    photo = Image.open(CHELSEA)
    as_path, as_image = image_api.to_rgb(CHELSEA), image_api.to_rgb(photo.convert("RGBA"))
    assert as_path.size == as_image.size == photo.size and as_path.mode == "RGB"
    floats = np.asarray(photo, dtype=np.float32) / 255.0
    assert np.array_equal(np.asarray(image_api.to_rgb(floats)), np.asarray(photo))
    with pytest.raises(UsageError, match="not a picture"):
        image_api.to_rgb(np.zeros((4, 4)))


def test_fast_returns_the_same_pixels_as_the_command(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from stylize.cli import app

    out = stylize.fast(CHELSEA, "great-wave", size=96)
    result = CliRunner().invoke(
        app, ["--offline", "fast", str(CHELSEA), "-m", "great-wave", "--size", "96", "-o", str(tmp_path / "a.png")]
    )
    assert result.exit_code == 0, result.output
    assert out.size == (96, 64) and np.array_equal(np.asarray(out), np.asarray(Image.open(tmp_path / "a.png")))


def test_a_stylizer_loads_each_model_once(monkeypatch: pytest.MonkeyPatch) -> None:
    from stylize.backends.fast import backend as fast  # FastMethod.load reads its module's load_described

    loads: list[str] = []
    real = fast.load_described
    monkeypatch.setattr(fast, "load_described", lambda name, reporter=None: loads.append(name) or real(name))
    s = stylize.Stylizer(device="cpu")
    first = s.fast(np.asarray(Image.open(CHELSEA)), size=48)
    second = s.fast(first, size=48)
    assert loads == ["starry-night"] and second.size == first.size == (48, 32)


def test_bad_options_are_the_cli_errors() -> None:
    with pytest.raises(UsageError, match="--precision"):
        stylize.fast(CHELSEA, precision="int8")
    with pytest.raises(TypeError):
        stylize.fast(CHELSEA, no_such_option=1)


@pytest.mark.usefixtures("fake_adain_weights")
def test_adain_takes_images_and_blends_several_styles() -> None:
    s = stylize.Stylizer(device="cpu")
    style = Image.open(MOSAIC)
    one = s.adain(CHELSEA, style, size=64, style_size=64, precision="fp32")
    assert one.size == (64, 43) and one.mode == "RGB"
    mixed = s.adain(CHELSEA, [style, np.asarray(style)[::-1]], size=64, style_size=64, precision="fp32")
    assert mixed.size == (64, 43) and not np.array_equal(np.asarray(one), np.asarray(mixed))
    assert np.array_equal(
        np.asarray(s.adain(CHELSEA, MOSAIC, size=64, style_size=64, precision="fp32")), np.asarray(one)
    )  # a path and the same picture in memory give the same result
    two = [style, np.asarray(style)[::-1]]
    weighted = s.adain(CHELSEA, two, size=64, style_size=64, precision="fp32", blend=(0.9, 0.1))
    assert not np.array_equal(np.asarray(weighted), np.asarray(mixed))
    with pytest.warns(DeprecationWarning, match="blend="):
        old = s.adain(CHELSEA, two, size=64, style_size=64, precision="fp32", style_weights=(0.9, 0.1))
    assert np.array_equal(np.asarray(old), np.asarray(weighted))
    bigger = s.adain(CHELSEA, style, size=64, style_size=64, precision="fp32", style_scale=2.0)
    assert bigger.size == one.size and not np.array_equal(np.asarray(bigger), np.asarray(one))
    with pytest.raises(UsageError, match="--style-scale"):
        s.adain(CHELSEA, style, style_scale=0.0)


@pytest.mark.usefixtures("fake_adain_weights", "bundled_vgg")
def test_adain_refine_moves_the_feed_forward_picture_toward_the_style() -> None:
    from stylize.backends.evaluate import QualityMeter

    s = stylize.Stylizer(device="cpu")
    plain = s.adain(CHELSEA, MOSAIC, size=48, style_size=48, precision="bf16")
    refined = s.adain(CHELSEA, MOSAIC, size=48, style_size=48, precision="bf16", refine=5)  # the loss runs in fp32
    assert refined.size == plain.size
    meter = QualityMeter()
    before, after = meter.score(plain, CHELSEA, MOSAIC), meter.score(refined, CHELSEA, MOSAIC)
    assert after.style < before.style and after.content < before.content  # the Gatys loss pulled both closer
    blended = s.adain(CHELSEA, [MOSAIC, MOSAIC], size=48, style_size=48, precision="bf16", refine=5)
    assert np.abs(np.asarray(blended, np.float32) - np.asarray(refined, np.float32)).max() <= 2  # a style with itself
    with pytest.raises(UsageError, match="--refine"):
        s.adain(CHELSEA, MOSAIC, refine=-1)


@pytest.mark.usefixtures("bundled_vgg")
def test_optimize_moves_the_picture_toward_the_style() -> None:
    from stylize.backends.evaluate import QualityMeter

    out = stylize.optimize(CHELSEA, MOSAIC, size=64, iterations=20, seed=0)
    assert out.size == (64, 43)
    meter = QualityMeter()
    photo = meter.content_image(CHELSEA, out.size)
    assert meter.score(out, None, MOSAIC).style < meter.score(photo, None, MOSAIC).style


def test_gan_sample_gives_one_picture_per_seed() -> None:
    pictures = stylize.gan_sample([3, 5, 3])
    assert [p.size for p in pictures] == [(28, 28)] * 3 and pictures[0].mode == "L"
    assert np.array_equal(np.asarray(pictures[0]), np.asarray(pictures[2]))  # same seed, same picture
    assert not np.array_equal(np.asarray(pictures[0]), np.asarray(pictures[1]))


def test_arrays_are_converted_by_their_dtype_or_refused() -> None:
    photo = np.asarray(Image.open(CHELSEA).convert("RGB"))
    assert np.array_equal(np.asarray(image_api.to_rgb(photo.astype(np.int64))), photo)  # ints within 0..255
    sixteen = photo.astype(np.uint16) * 257  # a 16-bit picture, reduced as a 16-bit file is
    assert np.array_equal(np.asarray(image_api.to_rgb(sixteen)), photo)
    nan = photo / 255.0
    nan[0, 0, 0] = np.nan
    bad = {
        "floats must be in \\[0, 1\\]": photo.astype(np.float32),  # the commonest mistake: 0..255 floats
        "integers must be 0..255": photo.astype(np.int64) * 4,
        "NaN": nan,
        "not a picture": np.zeros((0, 0, 3), np.uint8),
        "bool": np.ones((4, 4, 3), bool),
    }
    for message, array in bad.items():
        with pytest.raises(UsageError, match=message):
            image_api.to_rgb(array)
    with pytest.raises(UsageError) as raised:
        stylize.fast(photo.astype(np.float32))
    assert "divide by 255" in raised.value.one_line()


def test_a_16_bit_pil_image_is_the_same_picture_as_its_file(tmp_path: Path) -> None:
    ramp = (np.arange(64 * 48, dtype=np.uint16).reshape(48, 64) * 21).astype(np.uint16)  # 0..64491
    path = tmp_path / "gray16.png"
    Image.fromarray(ramp).save(path)
    with Image.open(path) as img:
        assert img.mode.startswith("I")
        assert np.array_equal(np.asarray(image_api.to_rgb(img)), np.asarray(image_api.to_rgb(path)))
        assert np.asarray(image_api.to_rgb(img)).max() < 255  # not clipped to white


@pytest.mark.usefixtures("fake_adain_weights")
def test_bad_styles_and_weights_are_usage_errors() -> None:
    s = stylize.Stylizer(device="cpu")
    style = Image.open(MOSAIC)
    calls = {
        "no style picture": lambda: s.adain(CHELSEA, [], size=32),
        "1 values for 2 styles": lambda: s.adain(CHELSEA, [style, style], size=32, blend=(1.0,)),
        "0 or more": lambda: s.adain(CHELSEA, [style, style], size=32, blend=(-1.0, 2.0)),
        "finite": lambda: s.adain(CHELSEA, [style, style], size=32, blend=(float("nan"), 1.0)),
        "not all 0": lambda: s.adain(CHELSEA, [style, style], size=32, blend=(0.0, 0.0)),
    }
    for message, call in calls.items():
        with pytest.raises(UsageError, match=message):
            call()
    for style_arg in ([], None):
        with pytest.raises(UsageError, match="no style picture"):
            stylize.optimize(CHELSEA, style_arg, size=32, iterations=1)


def test_gan_sample_refuses_bad_truncation_and_seeds() -> None:
    for options, message in (
        ({"truncation": float("nan")}, "finite"),
        ({"truncation": -1.0}, "0 or positive"),
        ({"seeds": []}, "no seeds"),
        ({"seeds": [2**64]}, "from 0 to"),
        ({"seeds": [-1]}, "from 0 to"),
    ):
        with pytest.raises(UsageError, match=message):
            stylize.gan_sample(**options)

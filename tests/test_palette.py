"""``--palette``: outputs take the painting's whole colour distribution (adain and fast), its maths
(``ops.palette_lut``) and its rules (strength, --color, models without a palette)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from stylize import images, ops
from stylize.backends import fast
from stylize.backends.stylizer import Palette
from stylize.cli import app
from stylize.config import AdaINConfig, FastConfig, palette_strength
from stylize.errors import UsageError
from stylize.models.transformer_net import TransformerNet

runner = CliRunner()
pytestmark = pytest.mark.usefixtures("torch_one_thread")


def colour_distance(a: torch.Tensor, b: torch.Tensor) -> float:
    """Sliced Wasserstein distance between two pixel sets (N, 3) and (M, 3), RGB in [0, 1]."""
    g = torch.Generator().manual_seed(7)
    directions = torch.nn.functional.normalize(torch.randn(3, 32, generator=g), dim=0)
    levels = torch.linspace(0, 1, 101)
    qa = torch.quantile(a.float() @ directions, levels, dim=0)
    qb = torch.quantile(b.float() @ directions, levels, dim=0)
    return float((qa - qb).abs().mean())


def pixels(path_or_tensor: Path | torch.Tensor) -> torch.Tensor:
    x = path_or_tensor if isinstance(path_or_tensor, torch.Tensor) else images.to_tensor(Image.open(path_or_tensor))
    return x.reshape(3, -1).T


def warm(seed: int, n: int = 4000) -> torch.Tensor:
    """Correlated reddish pixels (N, 3)."""
    g = torch.Generator().manual_seed(seed)
    t = torch.rand(n, 1, generator=g)
    return torch.cat([0.5 + 0.5 * t, 0.2 + 0.3 * t**2, 0.1 * torch.rand(n, 1, generator=g)], 1)


def cool(seed: int, n: int = 4000) -> torch.Tensor:
    """Bluish-green pixels (N, 3), another shape of distribution."""
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 3, generator=g) * torch.tensor([0.2, 0.6, 0.4]) + torch.tensor([0.0, 0.2, 0.6])


# ---------------------------------------------------------------- the maths


def test_lut_moves_the_colour_distribution_onto_the_target() -> None:
    source, target = cool(0), warm(1)
    image = source[:3600].T.reshape(1, 3, 60, 60)
    out = ops.apply_lut(image, ops.palette_lut(ops.pixel_sample(image), ops.palette_knots(target)))
    before, after = colour_distance(source, target), colour_distance(pixels(out[0]), target)
    assert after < 0.1 * before, (before, after)
    assert out.min() >= 0 and out.max() <= 1 and out.shape == image.shape


def test_lut_of_the_same_distribution_changes_little_and_is_deterministic() -> None:
    image = cool(2)[:3600].T.reshape(1, 3, 60, 60)
    torch.manual_seed(123)  # the table draws from its own seeded generator, not the global one
    table = ops.palette_lut(ops.pixel_sample(image), ops.palette_knots(cool(3)))
    torch.manual_seed(456)
    assert torch.equal(table, ops.palette_lut(ops.pixel_sample(image), ops.palette_knots(cool(3))))
    assert float((ops.apply_lut(image, table) - image).abs().mean()) < 0.02


def test_strength_blends_between_the_image_and_its_recolouring() -> None:
    image = cool(4)[:900].T.reshape(1, 3, 30, 30)
    table = ops.palette_lut(ops.pixel_sample(image), ops.palette_knots(warm(5)))
    full, none, half = (ops.apply_lut(image, table, s) for s in (1.0, 0.0, 0.5))
    torch.testing.assert_close(none, image)
    torch.testing.assert_close(half, (full + image) / 2, atol=1e-5, rtol=0)


def test_pixel_sample_draws_only_where_the_mask_is() -> None:
    image = torch.zeros(1, 3, 8, 8)
    image[:, 0, :, :4] = 1.0  # red on the left
    image[:, 2, :, 4:] = 1.0  # blue on the right
    left = torch.zeros(8, 8)
    left[:, :4] = 1
    drawn = ops.pixel_sample(image, 500, where=left)
    assert torch.equal(drawn, torch.tensor([[1.0, 0.0, 0.0]]).expand(500, 3))
    assert 0.3 < float(ops.pixel_sample(image, 2000)[:, 0].mean()) < 0.7  # no mask: both halves


def test_a_table_for_one_image_maps_only_its_cells_and_recolours_it_the_same() -> None:
    """lut_cells: the table points apply_lut reads for an image; mapping only those gives the same pixels."""
    torch.manual_seed(1)
    image = torch.rand(1, 3, 40, 56) ** 2 * 0.6  # dark colours: a corner of the cube
    cells = ops.lut_cells(image)
    assert 0 < int(cells.sum()) < cells.numel() // 4
    knots = ops.palette_knots(warm(5))
    samples = ops.pixel_sample(image)
    full, part = ops.palette_lut(samples, knots), ops.palette_lut(samples, knots, cells)
    assert not torch.equal(full, part)  # the untouched points kept their own colour...
    assert torch.equal(ops.apply_lut(image, full), ops.apply_lut(image, part))  # ...and no pixel reads them
    assert ops.lut_cells(torch.ones(1, 3, 2, 2)).sum() == 8  # white: the top cell's 8 corners
    assert ops.lut_cells(torch.ones(1, 3, 2, 2)).reshape(33, 33, 33)[-1, -1, -1]


def test_masked_palette_gives_each_region_its_own_style_colours() -> None:
    image = cool(6)[:3600].T.reshape(1, 3, 60, 60)
    masks = torch.zeros(2, 60, 60)
    masks[0, :, :30], masks[1, :, 30:] = 1, 1
    red, blue = warm(7), cool(8) * torch.tensor([0.2, 0.2, 1.0])
    out = Palette([red, blue], 1.0)(image, masks)
    left, right = pixels(out[0, :, :, :30].contiguous()), pixels(out[0, :, :, 30:].contiguous())
    assert colour_distance(left, red) < 0.5 * colour_distance(left, blue)
    assert colour_distance(right, blue) < 0.5 * colour_distance(right, red)


def test_a_video_palette_keeps_part_of_the_previous_frame_and_resumes() -> None:
    first, second = cool(9)[:900].T.reshape(1, 3, 30, 30), warm(10)[:900].T.reshape(1, 3, 30, 30)
    target = warm(11)
    steady = Palette([target], 1.0, keep=0.9)
    steady(first)
    state = steady.state(0)
    after = steady(second)
    resumed = Palette([target], 1.0, keep=0.9)
    resumed.resume(state)
    assert torch.equal(resumed(second), after)  # the resumed one starts from the saved table
    alone = Palette([target], 1.0)(second)
    assert not torch.equal(alone, after)


# ---------------------------------------------------------------- the rules


def test_strength_follows_alpha_and_color_and_bad_values_are_usage_errors() -> None:
    assert palette_strength(None, "none", 0.6) == 0.6
    assert palette_strength(None, "luminance", 1.0) == 0.0
    assert palette_strength(0.3, "none", 1.0) == 0.3
    with pytest.raises(UsageError, match="between 0 and 1"):
        AdaINConfig(palette=1.5)
    with pytest.raises(UsageError, match="keeps the photo's"):
        FastConfig(palette=0.5, color="match")
    assert AdaINConfig(palette=0.0, color="luminance").palette == 0.0


# ---------------------------------------------------------------- adain end to end


@pytest.fixture
def warm_style(tmp_path: Path) -> Path:
    path = tmp_path / "styles" / "warm.png"
    path.parent.mkdir(parents=True)
    Image.fromarray((warm(12, 64 * 64).reshape(64, 64, 3).numpy() * 255).astype(np.uint8)).save(path)
    return path


def _adain(*args: str | Path) -> object:
    return runner.invoke(app, ["--quiet", "adain", "--size", "64", "--style-size", "64", *map(str, args)])


@pytest.mark.usefixtures("fake_adain_weights")
def test_adain_output_takes_the_painting_colours_as_much_as_alpha_says(
    tmp_path: Path, image_factory: object, warm_style: Path
) -> None:
    photo = image_factory(tmp_path / "photo.png", (64, 48), 1)  # type: ignore[operator]
    runs = {"default": [], "off": ["--palette", "0"], "half": ["--palette", "0.5"], "full": ["--palette", "1"]}
    for name, flags in runs.items():
        result = _adain(photo, warm_style, "-o", tmp_path / f"{name}.png", *flags)
        assert result.exit_code == 0, result.output
    style = pixels(warm_style)
    far = {name: colour_distance(pixels(tmp_path / f"{name}.png"), style) for name in runs}
    assert far["full"] < 0.45 * far["off"] and far["full"] < far["half"] < far["off"], far
    same = (np.asarray(Image.open(tmp_path / f"{n}.png")) for n in ("default", "full"))
    assert np.array_equal(*same)  # these weights' default alpha is 1: so is the palette's
    clash = _adain(photo, warm_style, "--palette", "1", "--color", "luminance", "-o", tmp_path / "x.png")
    assert clash.exit_code == 2 and "--palette" in clash.output
    kept = _adain(photo, warm_style, "--color", "luminance", "-o", tmp_path / "lum.png")  # palette off by itself
    assert kept.exit_code == 0, kept.output


# ---------------------------------------------------------------- fast end to end


def _fast(*args: str | Path) -> object:
    return runner.invoke(app, ["--quiet", "fast", "--size", "48", *map(str, args)])


def test_fast_palette_recolours_on_request_and_a_model_without_one_refuses_it(
    tmp_path: Path, image_factory: object
) -> None:
    torch.manual_seed(0)
    net = TransformerNet()
    photo = image_factory(tmp_path / "photo.png", (48, 40), 2)  # type: ignore[operator]
    style = warm(13, 64 * 64).T.reshape(1, 3, 64, 64)
    with_palette = fast.save_model(tmp_path / "warm.safetensors", net, palette=fast.palette_tensor(style))
    without = fast.save_model(tmp_path / "plain.safetensors", net)
    assert _fast(photo, "-m", with_palette, "--palette", "1", "-o", tmp_path / "a.png").exit_code == 0
    assert _fast(photo, "-m", with_palette, "-o", tmp_path / "b.png").exit_code == 0
    assert _fast(photo, "-m", without, "-o", tmp_path / "c.png").exit_code == 0
    off, plain = (np.asarray(Image.open(tmp_path / f"{n}.png")) for n in "bc")
    assert np.array_equal(off, plain)  # by default: exactly the network's own picture
    target = pixels(style[0])
    painted, before = (
        colour_distance(pixels(tmp_path / "a.png"), target),
        colour_distance(pixels(tmp_path / "c.png"), target),
    )
    assert painted < 0.45 * before, (painted, before)
    refused = _fast(photo, "-m", without, "--palette", "1", "-o", tmp_path / "d.png")
    assert refused.exit_code == 2 and "carries no palette" in refused.output
    assert not (tmp_path / "d.png").exists()


def test_a_fast_models_file_sets_its_default_palette(tmp_path: Path, image_factory: object) -> None:
    """The shipped models carry ``palette_strength``: without --palette they run at it; --palette and
    --color still win; a file whose default is out of range, or names a palette it lacks, is refused (exit 4)."""
    torch.manual_seed(0)
    net = TransformerNet()
    photo = image_factory(tmp_path / "photo.png", (48, 40), 2)  # type: ignore[operator]
    colours = fast.palette_tensor(warm(13, 64 * 64).T.reshape(1, 3, 64, 64))
    half = fast.save_model(tmp_path / "half.safetensors", net, palette=colours, palette_strength=0.5)
    runs = {"default": [], "asked": ["--palette", "0.5"], "off": ["--palette", "0"], "kept": ["--color", "luminance"]}
    for name, extra in runs.items():
        assert _fast(photo, "-m", half, *extra, "-o", tmp_path / f"{name}.png").exit_code == 0, name
    plain = fast.save_model(tmp_path / "plain.safetensors", net, palette=colours)
    assert _fast(photo, "-m", plain, "-o", tmp_path / "plain.png").exit_code == 0
    out = {n: np.asarray(Image.open(tmp_path / f"{n}.png")) for n in [*runs, "plain"]}
    assert np.array_equal(out["default"], out["asked"])  # the file's 0.5
    assert np.array_equal(out["off"], out["plain"]) and not np.array_equal(out["default"], out["plain"])
    assert not np.array_equal(out["kept"], out["default"])  # --color keeps the photo's colours: no palette
    for bad, meta in (("range", {"palette_strength": 1.5}), ("text", {"palette_strength": "x"})):
        path = fast.save_model(tmp_path / f"{bad}.safetensors", net, palette=colours, **meta)
        result = _fast(photo, "-m", path, "-o", tmp_path / f"{bad}.png")
        assert result.exit_code == 4 and "palette_strength" in result.output, result.output
    lacking = fast.save_model(tmp_path / "lacking.safetensors", net, palette_strength=0.5)
    result = _fast(photo, "-m", lacking, "-o", tmp_path / "lacking.png")
    assert result.exit_code == 4 and "carries no 'palette'" in result.output, result.output
    assert not any((tmp_path / f"{n}.png").exists() for n in ("range", "text", "lacking"))


def test_a_damaged_palette_is_a_weights_error(tmp_path: Path, image_factory: object) -> None:
    from stylize.checkpoints import save_checkpoint
    from stylize.errors import WeightsError

    photo = image_factory(tmp_path / "photo.png", (24, 20), 3)  # type: ignore[operator]
    bad = {**TransformerNet().state_dict(), fast.PALETTE_KEY: torch.zeros(10, 4, dtype=torch.uint8)}
    path = save_checkpoint(tmp_path / "bad.safetensors", bad, {"architecture": "transformer-net", "format": 2})
    result = _fast(photo, "-m", path, "-o", tmp_path / "out.png")
    assert result.exit_code == 4 and "palette" in result.output
    assert not (tmp_path / "out.png").exists()
    with pytest.raises(WeightsError, match="uint8"):
        fast.split_palette({fast.PALETTE_KEY: torch.zeros(5, 3)})

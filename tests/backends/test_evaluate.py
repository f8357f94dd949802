"""``stylize eval``'s numbers (real bundled VGG-19) and how outputs find their content and style."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from PIL import Image

from stylize import images
from stylize.backends import evaluate as ev
from stylize.errors import UsageError

REPO = Path(__file__).resolve().parents[2]
CAT = REPO / "examples" / "content" / "chelsea.jpg"
MOSAIC = REPO / "examples" / "style" / "mosaic.png"


def test_distances_are_zero_at_the_target() -> None:
    feats = {"a": torch.rand(1, 4, 5, 6) + 0.1}
    assert ev.style_distance(feats, {"a": __import__("stylize").ops.gram(feats["a"])})[0] == pytest.approx(0, abs=1e-6)
    assert ev.content_distance(feats["a"], feats["a"]) == 0
    assert ev.content_distance(torch.zeros(1, 4, 5, 6), feats["a"]) == pytest.approx(1.0)


@pytest.fixture
def meter(bundled_vgg: Path) -> ev.QualityMeter:
    return ev.QualityMeter()


def test_an_image_against_itself_scores_zero(meter: ev.QualityMeter) -> None:
    img = images.resize_long_side(images.open_image(CAT).rgb, 96)
    scores = meter.score(img, CAT, None)
    assert scores.content == pytest.approx(0, abs=2e-3)  # the content is resized to the same 96 px again
    style = images.resize_long_side(images.open_image(MOSAIC).rgb, 96)
    assert meter.score(style, None, MOSAIC).style == pytest.approx(0, abs=1e-6)


def test_a_stylized_output_is_closer_to_the_style_than_the_content_is(meter: ev.QualityMeter) -> None:
    from stylize.backends.optimize import OptimizeModel, StyleImage, load_loss_net
    from stylize.config import OptimizeConfig

    config = OptimizeConfig(size=64, scales=1, iterations=15)  # the default weights
    net = load_loss_net(config.vgg, [*config.content_layers, *config.style_layers])
    content = images.resize_long_side(images.open_image(CAT).rgb, 64)
    result = OptimizeModel(net, config, torch.device("cpu")).stylize(
        content, [StyleImage(images.open_image(MOSAIC).rgb)]
    )
    out = images.to_pil(result.image)
    stylized, untouched = meter.score(out, CAT, MOSAIC), meter.score(content, CAT, MOSAIC)
    assert stylized.style < 0.8 * untouched.style
    assert 0 < stylized.content < 1


def test_match_by_name_uses_the_longest_content_stem() -> None:
    contents = {"cat": Path("c/cat.jpg"), "cat_big": Path("c/cat_big.jpg")}
    styles = {"wave": Path("s/wave.jpg"), "starry": Path("s/starry.jpg")}
    item = ev.match_by_name(Path("out/cat_big_starry.jpg"), contents, styles)
    assert item.content == Path("c/cat_big.jpg") and item.style == Path("s/starry.jpg")
    assert ev.match_by_name(Path("o/cat_wave.png"), contents, styles).content == Path("c/cat.jpg")
    single = ev.match_by_name(Path("anything.png"), {"x": Path("x.png")}, {"y": Path("y.png")})
    assert single.content == Path("x.png") and single.style == Path("y.png")
    with pytest.raises(UsageError, match="content image"):
        ev.match_by_name(Path("dog_wave.png"), contents, styles)
    with pytest.raises(UsageError, match="style image"):
        ev.match_by_name(Path("cat_mosaic.png"), contents, styles)


def test_match_by_report_reads_a_batch_report() -> None:
    report = {
        "done": [{"input": "c/a.jpg", "style": "wave", "output": "o/a_wave.jpg"}],
        "skipped": [{"input": "c/b.jpg", "style": "wave", "output": "o/b_wave.jpg"}],
        "failed": [],
    }
    items = ev.match_by_report(report, {"wave": Path("s/wave.png")})
    assert [(i.output, i.content, i.style) for i in items] == [
        (Path("o/a_wave.jpg"), Path("c/a.jpg"), Path("s/wave.png")),
        (Path("o/b_wave.jpg"), Path("c/b.jpg"), Path("s/wave.png")),
    ]
    with pytest.raises(UsageError):
        ev.match_by_report({"done": []}, {})


@pytest.mark.parametrize("record", ["garbage{", "[1]", "null", '{"job": 5}', '{"job": {"content": [1]}}', "[" * 5000])
def test_an_output_with_a_damaged_record_is_matched_by_nothing(tmp_path: Path, record: str) -> None:
    content = tmp_path / "photo.png"
    Image.new("RGB", (8, 8), "white").save(content)
    output = images.save_image(Image.new("RGB", (8, 8), "red"), tmp_path / "out.png", note=record)
    assert ev.match_by_record(output, {"photo": content}, {}) is None

"""train-fast --teacher: a teacher paints the photos, the network learns its pictures (distillation)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch
from PIL import Image, ImageChops, ImageDraw

from stylize import api
from stylize.backends.optimize import build_loss_net
from stylize.checkpoints import load_tensors
from stylize.config import FastTrainConfig
from stylize.errors import InputError, UsageError
from stylize.training import LossLog, RunFiles, TeacherPairs
from stylize.training import fast_loss as fl
from stylize.training.fast import TEACHER_FOLDER, Teacher, train_fast

pytestmark = pytest.mark.usefixtures("torch_one_thread")

TINY = {
    "image_size": 32,
    "batch_size": 2,
    "workers": 0,
    "precision": "fp32",
    "checkpoint_every": 0,
    "sample_every": 0,
    "sample_count": 2,
    "log_every": 1,
    "style_size": 48,
    "teacher": "adain",
    "teacher_size": 48,
}


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("teacher") / "photos"
    (root / "sub").mkdir(parents=True)
    for i in range(4):
        img = Image.linear_gradient("L").resize((72, 56)).convert("RGB")
        ImageDraw.Draw(img).rectangle((6 * i, 8, 30 + 6 * i, 40), fill=(40 * i, 200, 255 - 50 * i))
        img.save(root / ("sub" if i % 2 else "") / f"{i}.png")
    return root


def inverting_teacher(calls: list[Path] | None = None) -> Teacher:
    """A stand-in teacher: the negative of each photo, at long side 48, as train-fast's folder wants it."""

    def paint(data: Path, style: Path, folder: Path) -> None:
        for photo in sorted(data.rglob("*.png")):
            out = folder / photo.relative_to(data)
            if calls is not None:
                calls.append(out)
            if out.exists():
                continue
            out.parent.mkdir(parents=True, exist_ok=True)
            with Image.open(photo) as img:
                ImageChops.invert(img.convert("RGB")).resize((48, 37)).save(out)

    return paint


def _config(vgg: Path, **changes: object) -> FastTrainConfig:
    return FastTrainConfig(**{**TINY, "loss_net": str(vgg), **changes})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "changes",
    [{"teacher": "gatys"}, {"teacher_size": 16}, {"pixel_weight": -1.0}],
)
def test_bad_teacher_settings_are_usage_errors(changes: dict) -> None:
    with pytest.raises(UsageError):
        FastTrainConfig(**{**TINY, **changes})


def test_pairs_are_the_same_square_of_photo_and_picture(photos: Path, tmp_path: Path) -> None:
    inverting_teacher()(photos, photos, tmp_path)
    pairs = TeacherPairs(photos, tmp_path, 32)
    assert len(pairs) == 4 and pairs.missing == 0
    torch.manual_seed(0)
    for _ in range(6):
        pair, skipped = pairs[1]
        assert pair.shape == (6, 32, 32) and pair.dtype == torch.uint8 and not skipped
        # the picture is the photo's negative: aligned crops sum to white, up to the resampling
        total = pair[:3].int() + pair[3:].int()
        assert (total - 255).abs().float().mean() < 6, (total - 255).abs().float().mean()
    preview = pairs.preview(2)
    assert preview.shape == (2, 6, 32, 32)


def test_photos_the_teacher_did_not_paint_are_left_out(photos: Path, tmp_path: Path) -> None:
    inverting_teacher()(photos, photos, tmp_path)
    (tmp_path / "sub" / "1.png").unlink()
    pairs = TeacherPairs(photos, tmp_path, 32)
    assert pairs.missing == 1 and Path("sub/1.png") not in [p.relative_to(photos) for p in pairs.paths]
    with pytest.raises(InputError, match="painted none"):
        TeacherPairs(photos, tmp_path / "empty", 32)


def test_the_teacher_terms_vanish_at_the_teachers_picture(vgg_file: Path) -> None:
    net = build_loss_net(torch.load(vgg_file, weights_only=True), ["relu1_1"], "max", torch.device("cpu"))
    layers = fl.LossLayers({"relu1_1": 1.0}, {})
    x, teacher = torch.rand(2, 3, 16, 16), torch.rand(2, 3, 16, 16)
    targets = fl.style_targets(net, torch.rand(1, 3, 16, 16), layers)
    same = fl.fast_losses(net, layers, targets, x, teacher.clone(), teacher)
    assert float(same["content"]) == pytest.approx(0.0, abs=1e-10) and float(same["pixel"]) == 0.0
    assert float(same["style"]) == 0.0  # no style layers: no style term
    other = fl.fast_losses(net, layers, targets, x, x, teacher)
    assert float(other["pixel"]) == pytest.approx(float((x - teacher).abs().mean()), rel=1e-6)
    assert float(other["content"]) > 0
    assert "pixel" not in fl.fast_losses(net, layers, targets, x, x)


def test_without_a_style_term_the_loss_network_stops_at_the_content_layers() -> None:
    layers = fl.loss_layers(FastTrainConfig(style_weight=0, content_layers=("relu2_1",)), "vgg19")
    assert layers.all == ["relu2_1"] and layers.style == {}
    with pytest.raises(UsageError, match="no layer"):
        fl.loss_layers(FastTrainConfig(style_weight=0, style_layers=("relu9_9",)), "vgg19")


@pytest.fixture(scope="module")
def vgg_file(random_adain_files: tuple[Path, Path]) -> Path:
    return random_adain_files[0]


def test_the_network_learns_the_teachers_pictures(photos: Path, vgg_file: Path, tmp_path: Path) -> None:
    """Pixel term only: the network learns to paint the negative; its run folder holds the pictures."""
    out = tmp_path / "negative.safetensors"
    cfg = _config(vgg_file, iterations=30, lr=1e-2, content_weight=0, style_weight=0, sample_every=30)
    calls: list[Path] = []
    train_fast(photos / "0.png", photos, out, cfg, teacher=inverting_teacher(calls))
    folder = RunFiles.beside(out).log_dir / TEACHER_FOLDER
    assert sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*.png")) == [
        "0.png",
        "2.png",
        "sub/1.png",
        "sub/3.png",
    ]
    entries = LossLog(RunFiles.beside(out).loss_log).read()
    first = sum(e["pixel"] for e in entries[:5]) / 5
    last = sum(e["pixel"] for e in entries[-5:]) / 5
    assert last < 0.6 * first, (first, last)
    with Image.open(RunFiles.beside(out).sample(30)) as grid:  # photos, the network's, the teacher's
        assert grid.size == (3 * 32 + 4 * 2, 2 * 32 + 3 * 2)
    meta = load_tensors(out)[1]
    assert meta["style_layers"] == {} and meta["iteration"] == 30
    # --resume asks the teacher again (it skips what it painted) and goes on
    calls.clear()
    train_fast(
        photos / "0.png",
        photos,
        out,
        dataclasses.replace(cfg, iterations=31),
        teacher=inverting_teacher(calls),
        resume=True,
    )
    assert len(calls) == 4 and load_tensors(out)[1]["iteration"] == 31


def test_a_teacher_setting_needs_a_teacher(photos: Path, vgg_file: Path, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no teacher"):
        train_fast(photos / "0.png", photos, tmp_path / "x.safetensors", _config(vgg_file, iterations=1))


def test_adain_paints_the_photos_through_the_api(photos: Path, bundled_vgg: Path, tmp_path: Path) -> None:
    """The real teacher: stylize adain's default, one PNG per photo at --teacher-size, a re-run skips."""
    paint = api.teacher_painter(FastTrainConfig(**TINY))
    paint(photos, photos / "0.png", tmp_path)
    written = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.png"))
    assert written == ["0.png", "2.png", "sub/1.png", "sub/3.png"]
    with Image.open(tmp_path / "sub" / "1.png") as picture:
        assert max(picture.size) == 48
        stamp = picture.info
    before = (tmp_path / "2.png").stat().st_mtime_ns
    paint(photos, photos / "0.png", tmp_path)
    assert (tmp_path / "2.png").stat().st_mtime_ns == before and stamp

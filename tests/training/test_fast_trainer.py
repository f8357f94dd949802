"""Training a fast-style network: config, loss maths, layers, a tiny run that learns, resume, files, and
learning from a teacher's pictures (--teacher)."""

from __future__ import annotations

import dataclasses
import json
import math
import random
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from PIL import Image, ImageChops, ImageDraw

from stylize import api, ops, weights
from stylize.backends import fast
from stylize.backends.optimize import build_loss_net
from stylize.checkpoints import load_tensors
from stylize.config import FastTrainConfig
from stylize.errors import InputError, OutputError, UsageError, WeightsError
from stylize.models.vgg import TorchvisionVGG16Features
from stylize.training import LossLog, RunFiles, TeacherPairs, load_training_checkpoint
from stylize.training import fast_loss as fl
from stylize.training.fast import TEACHER_FOLDER, Teacher, train_fast

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
}


pytestmark = pytest.mark.usefixtures("torch_one_thread")


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("fast_train")
    rng = random.Random(0)
    (root / "photos" / "sub").mkdir(parents=True)
    for i in range(6):
        img = Image.new("RGB", (56, 40), tuple(rng.randrange(256) for _ in range(3)))
        ImageDraw.Draw(img).ellipse((4, 4, 10 + 5 * i, 30), fill=(255 - 40 * i, 40 * i, 128))
        img.save(root / "photos" / ("sub" if i % 2 else "") / f"{i}.png")
    style = Image.new("RGB", (64, 48), (30, 60, 200))
    draw = ImageDraw.Draw(style)
    for k in range(0, 64, 8):
        draw.line((k, 0, 64 - k, 48), fill=(250, 200, 0), width=3)
    style.save(root / "style.png")
    return {"photos": root / "photos", "style": root / "style.png", "root": root}


@pytest.fixture(scope="module")
def vgg_file(random_adain_files: tuple[Path, Path]) -> Path:
    return random_adain_files[0]  # the He-initialised vgg_normalised.pth layout


@pytest.fixture(scope="module")
def vgg16_file(tmp_path_factory: pytest.TempPathFactory, scaled_init: Callable) -> Path:
    path = tmp_path_factory.mktemp("vgg16") / "vgg16.pth"
    torch.manual_seed(0)
    net = TorchvisionVGG16Features()
    scaled_init(net)
    torch.save(net.state_dict(), path)
    return path


def _config(vgg: Path, **changes: object) -> FastTrainConfig:
    return FastTrainConfig(**{**TINY, "loss_net": str(vgg), **changes})  # type: ignore[arg-type]


# ---------------------------------------------------------------- config


def test_epochs_give_the_iteration_count() -> None:
    cfg = FastTrainConfig(epochs=2, batch_size=4)
    assert cfg.total_iterations(10) == 2 * 3  # ceil(10 / 4) steps per pass
    assert cfg.total_iterations(10, world_size=2) == 2 * 2
    assert FastTrainConfig(iterations=7).total_iterations(10_000) == 7


@pytest.mark.parametrize(
    "changes",
    [
        {"image_size": 30},
        {"image_size": 8},
        {"epochs": 0, "iterations": 0},
        {"lr": 0.0},
        {"style_weight": -1.0},
        {"crop_scale": 0.0},
        {"crop_scale": 1.5},
        {"precision": "fp8"},
        {"batch_size": 0},
        {"style_layers": ("relu1_1", "relu1_1")},
        {"style_layers": ("relu1_1",), "style_layer_weights": (1.0, 2.0)},
        {"content_layer_weights": (1.0,)},
        {"style_scale": 0.0},
        {"style_scale": 4.5},
    ],
)
def test_bad_configs_are_usage_errors(changes: dict) -> None:
    with pytest.raises(UsageError):
        FastTrainConfig(**changes)


def test_style_scale_resizes_the_style_after_its_size(tmp_path: Path) -> None:
    """--style-scale 2 after --style-size 32: a 64 px painting, smooth (its grain is not multiplied)."""
    from stylize.training.fast import load_style

    path = tmp_path / "style.png"
    Image.radial_gradient("L").convert("RGB").resize((80, 60)).save(path)
    assert load_style(path, 32, torch.device("cpu")).shape == (1, 3, 24, 32)
    grown = load_style(path, 32, torch.device("cpu"), 2.0)
    assert grown.shape == (1, 3, 48, 64)
    assert ops.tv_loss(grown) < ops.tv_loss(load_style(path, 64, torch.device("cpu")))
    assert load_style(path, 0, torch.device("cpu"), 0.5).shape == (1, 3, 30, 40)


def test_default_layers_follow_the_loss_network(vgg_file: Path, vgg16_file: Path) -> None:
    net19 = torch.load(vgg_file, weights_only=True)
    net16 = torch.load(vgg16_file, weights_only=True)
    assert fl.family(net19) == "vgg19" and fl.family(net16) == "vgg16"
    layers = fl.loss_layers(FastTrainConfig(), "vgg16")
    assert list(layers.style) == ["relu1_2", "relu2_2", "relu3_3", "relu4_3"] and list(layers.content) == ["relu2_2"]
    assert sum(layers.style.values()) == pytest.approx(1.0)
    weighted = fl.loss_layers(
        FastTrainConfig(style_layers=("relu1_1", "relu2_1"), style_layer_weights=(3.0, 1.0)), "vgg19"
    )
    assert weighted.style == {"relu1_1": 0.75, "relu2_1": 0.25}


def test_a_layer_the_network_lacks_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="vgg16 has no layer 'relu3_4'"):
        fl.loss_layers(FastTrainConfig(style_layers=("relu3_4",)), "vgg16")


# ---------------------------------------------------------------- loss maths


def test_losses_vanish_at_their_targets(vgg_file: Path) -> None:
    net = build_loss_net(
        torch.load(vgg_file, weights_only=True), ["relu1_1", "relu2_1", "relu2_2"], "max", torch.device("cpu")
    )
    layers = fl.LossLayers({"relu2_2": 1.0}, {"relu1_1": 0.5, "relu2_1": 0.5})
    x = torch.rand(1, 3, 32, 32)
    targets = fl.style_targets(net, x, layers)  # style = the image itself
    losses = fl.fast_losses(net, layers, targets, x, x.clone())
    assert float(losses["content"]) == pytest.approx(0.0, abs=1e-10)
    assert float(losses["style"]) == pytest.approx(0.0, abs=1e-10)
    flat = torch.full((1, 3, 32, 32), 0.3)
    assert float(fl.fast_losses(net, layers, targets, x, flat)["tv"]) == 0.0
    black = torch.zeros(2, 3, 32, 32)  # zero features: the content unit comes from the style image
    assert torch.isfinite(fl.fast_losses(net, layers, targets, black, x.expand(2, -1, -1, -1))["content"])


def test_content_error_is_per_element_in_the_style_images_unit(vgg_file: Path) -> None:
    net = build_loss_net(torch.load(vgg_file, weights_only=True), ["relu1_1"], "max", torch.device("cpu"))
    layers = fl.LossLayers({"relu1_1": 1.0}, {"relu1_1": 1.0})
    style, x, y = torch.rand(1, 3, 16, 16), torch.rand(2, 3, 16, 16), torch.rand(2, 3, 16, 16)
    targets = fl.style_targets(net, style, layers)
    feats = {k: net.features(t, ["relu1_1"])["relu1_1"] for k, t in (("s", style), ("x", x), ("y", y))}
    expected = (feats["y"] - feats["x"]).square().mean() / feats["s"].square().mean()
    assert float(fl.fast_losses(net, layers, targets, x, y)["content"]) == pytest.approx(float(expected), rel=1e-5)


def test_style_error_is_relative_and_averaged_over_the_batch() -> None:
    target = torch.eye(3).unsqueeze(0) * 2.0  # |G_s|^2 = 12
    gram = torch.stack([torch.eye(3) * 2.0, torch.eye(3) * 4.0])  # errors 0 and 12
    assert float(fl._style_error(gram, target)) == pytest.approx((0 + 12 / 12) / 2)


def test_gram_backward_matches_autograd() -> None:
    x = torch.randn(2, 4, 5, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(ops.gram, (x,))
    weights = torch.randn(2, 4, 4, dtype=torch.float64)
    (ops.gram(x) * weights).sum().backward()
    flat = x.detach().reshape(2, 4, 15).requires_grad_()
    (torch.bmm(flat, flat.transpose(1, 2)) / 60 * weights).sum().backward()
    assert torch.allclose(x.grad.reshape(2, 4, 15), flat.grad)


# ---------------------------------------------------------------- a tiny run


@pytest.fixture(scope="module")
def trained(data: dict[str, Path], vgg_file: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    out = tmp_path_factory.mktemp("fast_run") / "tiny.safetensors"
    cfg = _config(vgg_file, iterations=24, lr=5e-3, sample_every=12)
    result = train_fast(data["style"], data["photos"], out, cfg)
    return {"result": result, "out": out, "config": cfg}


def test_training_lowers_the_loss(trained: dict[str, object]) -> None:
    entries = LossLog(RunFiles.beside(trained["out"]).loss_log).read()  # type: ignore[arg-type]
    assert [e["iteration"] for e in entries] == list(range(1, 25))
    first = sum(e["loss"] for e in entries[:4]) / 4
    last = sum(e["loss"] for e in entries[-4:]) / 4
    assert last < 0.7 * first, (first, last)
    assert all(e["images_per_s"] > 0 for e in entries)


def test_checkpoint_is_a_fast_model_that_fast_loads(
    trained: dict[str, object], data: dict[str, Path], tmp_path: Path
) -> None:
    out = trained["out"]
    tensors, meta = load_tensors(out)  # type: ignore[arg-type]
    # exactly the TransformerNet's keys, and the style's colours for --palette
    assert set(tensors) == {*fast.load_model(str(out)).state_dict(), fast.PALETTE_KEY}
    palette = tensors[fast.PALETTE_KEY]
    assert palette.dtype == torch.uint8 and palette.shape[1] == 3 and palette.float().std() > 0
    assert meta["architecture"] == "transformer-net" and meta["format"] == 2 and meta["iteration"] == 24
    assert meta["style"] == "style.png" and meta["images_seen"] == 48 and "version" in json.dumps(meta)
    assert meta["content_layers"] == {"relu2_2": 1.0}
    net = fast.load_model(str(out))
    model = fast.FastModel(net, torch.device("cpu"), "fp32")
    photo = torch.rand(1, 3, 40, 56)
    styled = model(photo)
    assert styled.shape == photo.shape and torch.isfinite(styled).all()
    reference = fl.stylize_batch(net, photo)
    assert torch.allclose(styled, reference, atol=1e-3)


def test_sample_grids_and_loss_plot_are_written(trained: dict[str, object]) -> None:
    files = RunFiles.beside(trained["out"])  # type: ignore[arg-type]
    grids = sorted((files.log_dir / "samples").glob("*.png"))
    assert [g.name for g in grids] == ["iter-0000012.png", "iter-0000024.png"]
    with Image.open(grids[-1]) as grid:
        assert grid.size == (2 * 32 + 3 * 2, 2 * 32 + 3 * 2)  # content | output, two validation images
    with Image.open(files.loss_plot) as plot:
        assert plot.size[0] > 200
    assert files.state.is_file() and not list(files.checkpoint.parent.glob("*.part"))


def test_resume_equals_an_uninterrupted_run(data: dict[str, Path], vgg_file: Path, tmp_path: Path) -> None:
    """Square photos at the crop size leave no crop randomness: data order, weights and Adam must carry over."""
    photos = tmp_path / "square"
    photos.mkdir()
    for i in range(5):
        Image.effect_noise((32, 32), 20 + 10 * i).convert("RGB").save(photos / f"{i}.png")
    straight, split = tmp_path / "straight.safetensors", tmp_path / "split.safetensors"
    cfg = {"iterations": 4, "crop_scale": 1.0}
    train_fast(data["style"], photos, straight, _config(vgg_file, **cfg))
    train_fast(data["style"], photos, split, _config(vgg_file, **{**cfg, "iterations": 2}))
    result = train_fast(data["style"], photos, split, _config(vgg_file, **cfg), resume=True)
    assert result.iteration == 4
    a, b = load_tensors(straight)[0], load_tensors(split)[0]
    assert all(torch.allclose(a[k], b[k], atol=1e-5) for k in a)
    assert load_training_checkpoint(split, "transformer-net").state["iteration"] == 4
    assert [e["iteration"] for e in LossLog(RunFiles.beside(split).loss_log).read()] == [1, 2, 3, 4]


def test_resume_at_the_target_does_nothing(trained: dict[str, object], data: dict[str, Path]) -> None:
    before = Path(trained["out"]).stat().st_mtime_ns  # type: ignore[arg-type]
    result = train_fast(data["style"], data["photos"], trained["out"], trained["config"], resume=True)  # type: ignore[arg-type]
    assert result.iteration == 24 and Path(trained["out"]).stat().st_mtime_ns == before  # type: ignore[arg-type]


def test_fine_tuning_from_a_model_and_vgg16_loss_net(
    data: dict[str, Path], vgg16_file: Path, trained: dict[str, object], tmp_path: Path
) -> None:
    out = tmp_path / "tuned.safetensors"
    cfg = _config(vgg16_file, iterations=2, init=str(trained["out"]), lr=1e-9)
    train_fast(data["style"], data["photos"], out, cfg)
    tuned, meta = load_tensors(out)
    start = load_tensors(trained["out"])[0]  # type: ignore[arg-type]
    assert all(torch.allclose(tuned[k], start[k], atol=1e-4) for k in start)  # lr ~0: still the init
    assert list(meta["style_layers"]) == ["relu1_2", "relu2_2", "relu3_3", "relu4_3"]
    # the images its --init saw count too: a fine-tune of a trained model is not an undertrained model
    assert meta["images_inherited"] == 48 and meta["images_seen"] == 48 + 2 * 2


def test_default_output_goes_to_the_local_model_folder(data: dict[str, Path], vgg_file: Path) -> None:
    result = train_fast(data["style"], data["photos"], None, _config(vgg_file, iterations=1))
    assert result.checkpoint == weights.fast_models_dir() / "style.safetensors"
    assert fast.local_models() == [result.checkpoint]  # not its .state.pt beside it
    assert fast.resolve_model("style") == result.checkpoint


def test_input_and_output_errors(
    data: dict[str, Path], vgg_file: Path, trained: dict[str, object], tmp_path: Path
) -> None:
    cfg = _config(vgg_file, iterations=1)
    with pytest.raises(InputError, match="no such style image"):
        train_fast(tmp_path / "nope.png", data["photos"], tmp_path / "a.safetensors", cfg)
    with pytest.raises(InputError, match="not a folder"):
        train_fast(data["style"], tmp_path / "nothing", tmp_path / "a.safetensors", cfg)
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no images found"):
        train_fast(data["style"], tmp_path / "empty", tmp_path / "a.safetensors", cfg)
    with pytest.raises(OutputError, match="already exists"):
        train_fast(data["style"], data["photos"], trained["out"], cfg)  # type: ignore[arg-type]
    with pytest.raises(UsageError):
        train_fast(
            data["style"], data["photos"], tmp_path / "a.safetensors", dataclasses.replace(cfg, init="x"), resume=True
        )
    with pytest.raises(WeightsError):
        train_fast(
            data["style"],
            data["photos"],
            tmp_path / "b.safetensors",
            dataclasses.replace(cfg, loss_net=str(data["style"])),
        )


def test_bf16_autocast_training_on_cpu(data: dict[str, Path], vgg_file: Path, tmp_path: Path) -> None:
    """bf16 autocast (the CPU default where native) trains too: finite, falling loss, float32 weights."""
    out = tmp_path / "bf16.safetensors"
    train_fast(
        data["style"], data["photos"], out, _config(vgg_file, iterations=12, lr=5e-3, precision="bf16", image_size=48)
    )
    entries = LossLog(RunFiles.beside(out).loss_log).read()
    assert all(math.isfinite(e["loss"]) for e in entries)
    assert sum(e["loss"] for e in entries[-3:]) < sum(e["loss"] for e in entries[:3])
    tensors, meta = load_tensors(out)
    network = [t for key, t in tensors.items() if key != fast.PALETTE_KEY]
    assert meta["precision"] == "bf16" and all(t.dtype == torch.float32 for t in network)


def test_flat_crops_are_redrawn(tmp_path: Path) -> None:
    from stylize.training import ImageFolderDataset, is_flat

    photo = Image.new("RGB", (200, 200), (90, 90, 90))
    ImageDraw.Draw(photo).rectangle((0, 0, 12, 200), fill=(250, 10, 10))  # texture only at the left edge
    photo.save(tmp_path / "p.png")
    torch.manual_seed(0)
    flat_data = ImageFolderDataset(tmp_path, 32, 32, min_scale=0.1)
    guarded = ImageFolderDataset(tmp_path, 32, 32, min_scale=0.1, min_contrast=2.0)
    flat = sum(is_flat(flat_data[0][0], 2.0) for _ in range(40))
    assert flat > 5  # small random squares often miss the edge
    assert sum(is_flat(guarded[0][0], 2.0) for _ in range(40)) < flat / 4


def test_random_resized_squares_cover_the_requested_share(tmp_path: Path) -> None:
    from stylize.training import random_resized_square

    img = Image.new("RGB", (200, 100))
    torch.manual_seed(0)
    for _ in range(20):
        crop = random_resized_square(img, 32, 0.5)
        assert crop.size == (32, 32)
    for _ in range(20):
        assert random_resized_square(img, 16, 1.0).size == (16, 16)


def test_ctrl_c_saves_a_resumable_checkpoint(data: dict[str, Path], vgg_file: Path, tmp_path: Path) -> None:
    import signal

    from stylize.errors import Interrupted
    from stylize.progress import RecordingReporter

    class CtrlCAt(RecordingReporter):
        def advance(self, task: str, n: int = 1, **fields: object) -> None:
            super().advance(task, n, **fields)
            if sum(1 for e in self.events if e[0] == "advance") == 3:
                signal.raise_signal(signal.SIGINT)

    out = tmp_path / "stopped.safetensors"
    with pytest.raises(Interrupted, match="iteration 3"):
        train_fast(data["style"], data["photos"], out, _config(vgg_file, iterations=10), reporter=CtrlCAt())
    assert load_tensors(out)[1]["iteration"] == 3 and RunFiles.beside(out).loss_plot.is_file()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    result = train_fast(data["style"], data["photos"], out, _config(vgg_file, iterations=5), resume=True)
    assert result.iteration == 5


def test_trains_through_the_awkward_inputs(
    edge_dir: Path, data: dict[str, Path], vgg_file: Path, tmp_path: Path
) -> None:
    """../shared/data/edge: broken files are skipped with one warning each; 1x1 images do not poison Adam."""
    from stylize.progress import RecordingReporter

    reporter = RecordingReporter()
    out = tmp_path / "edge.safetensors"
    cfg = _config(vgg_file, iterations=4, batch_size=4, image_size=32)
    result = train_fast(data["style"], edge_dir, out, cfg, reporter=reporter)
    assert result.iteration == 4
    warnings = [e[2] for e in reporter.events if e[0] == "log" and e[1] == "warning"]
    skipped = [w for w in warnings if w.startswith("skipped ")]
    assert len(skipped) == len(set(skipped)) >= 1
    tensors, _ = load_tensors(out)
    assert all(torch.isfinite(t).all() for t in tensors.values())


# ---------------------------------------------------------------- --teacher (distillation)

TEACHER = {"teacher": "adain", "teacher_size": 48}


def _taught(vgg: Path, **changes: object) -> FastTrainConfig:
    return _config(vgg, **{**TEACHER, **changes})


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
            out = folder / f"{photo.relative_to(data)}.png"
            if calls is not None:
                calls.append(out)
            if out.exists():
                continue
            out.parent.mkdir(parents=True, exist_ok=True)
            with Image.open(photo) as img:
                ImageChops.invert(img.convert("RGB")).resize((48, 37)).save(out)

    return paint


@pytest.mark.parametrize(
    "changes",
    [{"teacher": "gatys"}, {"teacher_size": 16}, {"pixel_weight": -1.0}],
)
def test_bad_teacher_settings_are_usage_errors(changes: dict) -> None:
    with pytest.raises(UsageError):
        FastTrainConfig(**{**TINY, **TEACHER, **changes})


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
    (tmp_path / "sub" / "1.png.png").unlink()
    pairs = TeacherPairs(photos, tmp_path, 32)
    assert pairs.missing == 1 and Path("sub/1.png") not in [p.relative_to(photos) for p in pairs.paths]
    with pytest.raises(InputError, match="painted none"):
        TeacherPairs(photos, tmp_path / "empty", 32)


def test_with_a_teacher_every_term_is_relative_to_its_pictures(vgg_file: Path) -> None:
    """Content, style and pixel terms vanish at the teacher's pictures (not at the photo, nor the painting's
    Grams); the style term is each output's Gram error against its own picture's, averaged."""
    net = build_loss_net(torch.load(vgg_file, weights_only=True), ["relu1_1"], "max", torch.device("cpu"))
    layers = fl.LossLayers({"relu1_1": 1.0}, {"relu1_1": 1.0})
    x, teacher = torch.rand(2, 3, 16, 16), torch.rand(2, 3, 16, 16)
    targets = fl.style_targets(net, torch.rand(1, 3, 16, 16), layers)  # a painting unlike either
    same = fl.fast_losses(net, layers, targets, x, teacher.clone(), teacher)
    assert float(same["content"]) == pytest.approx(0.0, abs=1e-10) and float(same["pixel"]) == 0.0
    assert float(same["style"]) == pytest.approx(0.0, abs=1e-10)
    other = fl.fast_losses(net, layers, targets, x, x, teacher)
    assert float(other["pixel"]) == pytest.approx(float((x - teacher).abs().mean()), rel=1e-6)
    assert float(other["content"]) > 0
    g_x, g_t = (ops.gram(net.features(t, ["relu1_1"])["relu1_1"]) for t in (x, teacher))
    each = (g_x - g_t).square().sum(dim=(1, 2)) / g_t.square().sum(dim=(1, 2))
    assert float(other["style"]) == pytest.approx(float(each.mean()), rel=1e-5)
    assert "pixel" not in fl.fast_losses(net, layers, targets, x, x)


def test_without_a_style_term_the_loss_network_stops_at_the_content_layers() -> None:
    layers = fl.loss_layers(FastTrainConfig(style_weight=0, content_layers=("relu2_1",)), "vgg19")
    assert layers.all == ["relu2_1"] and layers.style == {}
    with pytest.raises(UsageError, match="no layer"):
        fl.loss_layers(FastTrainConfig(style_weight=0, style_layers=("relu9_9",)), "vgg19")


def test_the_network_learns_the_teachers_pictures(photos: Path, vgg_file: Path, tmp_path: Path) -> None:
    """Pixel term only: the network learns to paint the negative; its run folder holds the pictures."""
    out = tmp_path / "negative.safetensors"
    cfg = _taught(vgg_file, iterations=30, lr=1e-2, content_weight=0, style_weight=0, sample_every=30)
    calls: list[Path] = []
    train_fast(photos / "0.png", photos, out, cfg, teacher=inverting_teacher(calls))
    folder = RunFiles.beside(out).log_dir / TEACHER_FOLDER
    assert sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*.png")) == [
        "0.png.png",
        "2.png.png",
        "sub/1.png.png",
        "sub/3.png.png",
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
        train_fast(photos / "0.png", photos, tmp_path / "x.safetensors", _taught(vgg_file, iterations=1))


def test_adain_paints_the_photos_through_the_api(photos: Path, bundled_vgg: Path, tmp_path: Path) -> None:
    """The real teacher: stylize adain's default, one PNG per photo at --teacher-size (a photo that differs
    from another only by its extension gets its own, an animated GIF is an image as train-fast reads it),
    that train-fast pairs with it; a re-run skips."""
    data, pictures = tmp_path / "photos", tmp_path / "teacher"
    shutil.copytree(photos, data)
    Image.open(data / "2.png").convert("RGB").save(data / "2.jpg")
    frames = [Image.new("RGB", (40, 30), c) for c in ((200, 40, 40), (40, 200, 40))]
    frames[0].save(data / "4.gif", save_all=True, append_images=frames[1:])  # an image to train-fast: no video
    paint = api.teacher_painter(FastTrainConfig(**TINY, **TEACHER))
    paint(data, photos / "0.png", pictures)
    written = sorted(p.relative_to(pictures).as_posix() for p in pictures.rglob("*.png"))
    assert written == ["0.png.png", "2.jpg.png", "2.png.png", "4.gif.png", "sub/1.png.png", "sub/3.png.png"]
    with Image.open(pictures / "sub" / "1.png.png") as picture:
        assert max(picture.size) == 48 and picture.size != Image.open(data / "sub" / "1.png").size
    assert TeacherPairs(data, pictures, 32).missing == 0
    before = (pictures / "2.png.png").stat().st_mtime_ns
    paint(data, photos / "0.png", pictures)
    assert (pictures / "2.png.png").stat().st_mtime_ns == before

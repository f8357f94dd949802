"""Training a fast-style network: config, loss maths, layers, a tiny run that learns, resume, files."""

from __future__ import annotations

import dataclasses
import json
import math
import random
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from PIL import Image, ImageDraw

from stylize import ops, weights
from stylize.backends import fast
from stylize.backends.optimize import build_loss_net
from stylize.checkpoints import load_tensors
from stylize.config import FastTrainConfig
from stylize.errors import InputError, OutputError, UsageError, WeightsError
from stylize.models.vgg import TorchvisionVGG16Features
from stylize.training import LossLog, RunFiles, load_training_checkpoint
from stylize.training import fast_loss as fl
from stylize.training.fast import train_fast

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
    ],
)
def test_bad_configs_are_usage_errors(changes: dict) -> None:
    with pytest.raises(UsageError):
        FastTrainConfig(**changes)


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

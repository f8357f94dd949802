"""Training infrastructure and the AdaIN decoder trainer, on tiny generated images.

The encoder is conftest's random normalised VGG-19 in the published ``vgg_normalised.pth``
layout (He-initialised so its features keep their scale); nothing touches the network.
"""

from __future__ import annotations

import itertools
import random
import shutil
import signal
from pathlib import Path
from typing import Any

import pytest
import torch
from PIL import Image, ImageDraw
from torch import nn

from stylize import training as tr
from stylize.backends.adain_train import AdaINTrainConfig, AdaINTrainResult, adain_losses, train_adain
from stylize.checkpoints import load_tensors
from stylize.devices import autocast, effective_precision
from stylize.errors import InputError, Interrupted, OutputError, UsageError, WeightsError
from stylize.models.adain_net import AdaINDecoder
from stylize.models.layouts import adain_decoder_layout
from stylize.plot import draw_loss_curves, image_grid, log_ticks, loss_series, nice_ticks, tick_label
from stylize.progress import RecordingReporter

ITERATIONS = 40
CROP = 16
SAMPLES = 2
PAD = 2


pytestmark = pytest.mark.usefixtures("torch_one_thread")


# ---------------------------------------------------------------- generated data


def _colour(rng: random.Random, base: tuple[int, int, int], jitter: int) -> tuple[int, int, int]:
    return tuple(max(0, min(255, c + rng.randint(-jitter, jitter))) for c in base)  # type: ignore[return-value]


def make_content(folder: Path, count: int, seed: int = 0) -> list[Path]:
    """Gradients with a few ellipses: photo-like smooth areas and edges."""
    rng, paths = random.Random(seed), []
    for i in range(count):
        img = Image.linear_gradient("L").resize((64, 64)).convert("RGB")
        img = Image.blend(img, Image.new("RGB", img.size, _colour(rng, (128, 128, 128), 100)), 0.5)
        draw = ImageDraw.Draw(img)
        for _ in range(4):
            x, y = rng.randrange(56), rng.randrange(56)
            draw.ellipse((x, y, x + rng.randrange(8, 30), y + rng.randrange(8, 30)), fill=_colour(rng, (128,) * 3, 120))
        path = folder / ("nested" if i % 4 == 0 else "") / f"c{i:02d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        img.save(path)
        paths.append(path)
    return paths


def make_styles(folder: Path, count: int, seed: int = 1) -> list[Path]:
    """Diagonal two-colour stripes of similar palettes: similar statistics keep the loss steady."""
    rng, paths = random.Random(seed), []
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        img = Image.new("RGB", (64, 64), _colour(rng, (200, 60, 40), 20))
        draw, width = ImageDraw.Draw(img), 4 + i % 3
        for k in range(-64, 64, 2 * width):
            draw.polygon(
                [(k, 0), (k + width, 0), (k + width + 64, 64), (k + 64, 64)], fill=_colour(rng, (30, 40, 120), 20)
            )
        paths.append(folder / f"s{i:02d}.png")
        img.save(paths[-1])
    return paths


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory, random_adain_files: tuple[Path, Path]) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("train_data")
    make_content(root / "content", 16)
    make_styles(root / "style", 8)
    (root / "content" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    return {"content": root / "content", "style": root / "style", "encoder": random_adain_files[0]}


def small_config(data: dict[str, Path], **changes: Any) -> AdaINTrainConfig:
    base: dict[str, Any] = {"iterations": ITERATIONS, "batch_size": 4, "lr": 5e-4, "crop": CROP, "image_size": 24}
    base.update(log_every=1, sample_every=20, checkpoint_every=20, sample_count=SAMPLES, workers=0, precision="fp32")
    return AdaINTrainConfig(**{**base, "encoder": str(data["encoder"]), **changes})


class Run:
    def __init__(self, result: AdaINTrainResult, reporter: RecordingReporter) -> None:
        self.result, self.reporter = result, reporter
        self.files = tr.RunFiles.beside(result.checkpoint)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, data: dict[str, Path]) -> Run:
    with pytest.MonkeyPatch.context() as mp:
        for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
            mp.delenv(name, raising=False)
        out = tmp_path_factory.mktemp("run") / "decoder.safetensors"
        reporter = RecordingReporter()
        result = train_adain(data["content"], data["style"], out, small_config(data), device="cpu", reporter=reporter)
    return Run(result, reporter)


def _log(run_files: tr.RunFiles) -> list[dict[str, Any]]:
    return tr.LossLog(run_files.loss_log).read()


# ---------------------------------------------------------------- the AdaIN trainer


def test_loss_falls(trained: Run) -> None:
    losses = [entry["loss"] for entry in _log(trained.files)]
    first, last = sum(losses[:3]) / 3, sum(losses[-3:]) / 3
    assert last < 0.8 * first, (first, last)  # seeds 0-9 give 0.11-0.72 here


def test_log_has_one_entry_per_logged_iteration(trained: Run) -> None:
    entries = _log(trained.files)
    assert [e["iteration"] for e in entries] == list(range(1, ITERATIONS + 1))
    assert {"loss", "content", "style", "lr", "images_per_s"} <= set(entries[0])
    assert entries[0]["loss"] == pytest.approx(entries[0]["content"] + 10 * entries[0]["style"], rel=1e-4)


def test_checkpoint_loads_into_the_published_decoder_layout(trained: Run, data: dict[str, Path]) -> None:
    tensors, meta = load_tensors(trained.result.checkpoint)
    assert set(tensors) == set(adain_decoder_layout())
    AdaINDecoder().load_state_dict(tensors, strict=True)
    assert meta["architecture"] == "adain-decoder" and meta["layout"] == "adain_decoder"
    assert meta["iteration"] == ITERATIONS and meta["version"]
    assert meta["config"]["crop"] == CROP and meta["config"]["style_weight"] == 10.0
    from stylize.weights import sha256_file

    assert meta["encoder"] == sha256_file(data["encoder"])


def test_sample_grids_and_loss_plot(trained: Run) -> None:
    grid_size = (3 * CROP + 4 * PAD, SAMPLES * CROP + (SAMPLES + 1) * PAD)
    for iteration in (20, 40):
        with Image.open(trained.files.sample(iteration)) as img:
            assert img.format == "PNG" and img.size == grid_size
    with Image.open(trained.result.loss_plot) as img:
        img.load()
        assert img.format == "PNG" and img.size == (800, 480)
    leftovers = [p.name for p in trained.files.checkpoint.parent.rglob("*") if ".part" in p.name]
    assert leftovers == []


def test_undecodable_image_is_skipped_with_a_warning(trained: Run) -> None:
    warnings = [e for e in trained.reporter.events if e[:2] == ("log", "warning")]
    assert len(warnings) == 1 and "broken.png" in warnings[0][2]


def test_resume_continues_iteration_and_optimizer(trained: Run, data: dict[str, Path], tmp_path: Path) -> None:
    shutil.copytree(trained.files.checkpoint.parent, tmp_path, dirs_exist_ok=True)
    out = tmp_path / trained.files.checkpoint.name
    reporter = RecordingReporter()
    config = small_config(data, iterations=ITERATIONS + 3)
    result = train_adain(data["content"], data["style"], out, config, resume=True, device="cpu", reporter=reporter)
    assert result.iteration == ITERATIONS + 3
    assert load_tensors(out)[1]["iteration"] == ITERATIONS + 3
    state = torch.load(tr.state_path(out), weights_only=True)
    steps = {int(s["step"]) for s in state["optimizers"]["decoder"]["state"].values()}
    assert steps == {ITERATIONS + 3}  # Adam went on counting: its state was restored
    assert [e["iteration"] for e in _log(tr.RunFiles.beside(out))] == list(range(1, ITERATIONS + 4))
    assert any(f"resuming at iteration {ITERATIONS}" in e[-1] for e in reporter.events if e[0] == "log")


def test_resume_at_the_target_does_nothing(trained: Run, data: dict[str, Path]) -> None:
    before = trained.files.checkpoint.stat().st_mtime_ns
    config = small_config(data)
    result = train_adain(data["content"], data["style"], trained.result.checkpoint, config, resume=True, device="cpu")
    assert result.iteration == ITERATIONS and trained.files.checkpoint.stat().st_mtime_ns == before


def test_refuses_to_start_over_an_existing_checkpoint(trained: Run, data: dict[str, Path]) -> None:
    with pytest.raises(OutputError, match="already exists"):
        train_adain(data["content"], data["style"], trained.result.checkpoint, small_config(data), device="cpu")


def test_resume_without_a_checkpoint_is_an_input_error(data: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(InputError, match="nothing to resume"):
        train_adain(data["content"], data["style"], tmp_path / "d.safetensors", small_config(data), resume=True)


def test_bad_options_are_usage_errors(data: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(UsageError):
        train_adain(data["content"], data["style"], tmp_path / "d.pth", small_config(data))
    with pytest.raises(UsageError):
        small_config(data, crop=20)
    with pytest.raises(UsageError):
        small_config(data, precision="fp8")
    with pytest.raises(UsageError):
        config = small_config(data, decoder="x.safetensors")
        train_adain(data["content"], data["style"], tmp_path / "d.safetensors", config, resume=True)


class _CtrlCAt(RecordingReporter):
    """Sends SIGINT to this process when the bar reaches ``step``."""

    def __init__(self, step: int) -> None:
        super().__init__()
        self.step, self.seen = step, 0

    def advance(self, task: str, n: int = 1, **fields: Any) -> None:
        self.seen += n
        if self.seen == self.step:
            signal.raise_signal(signal.SIGINT)


def test_ctrl_c_saves_then_stops(data: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "d.safetensors"
    config = small_config(data, iterations=10, checkpoint_every=0, sample_every=0)
    with pytest.raises(Interrupted, match="iteration 3"):
        train_adain(data["content"], data["style"], out, config, device="cpu", reporter=_CtrlCAt(3))
    assert load_tensors(out)[1]["iteration"] == 3
    assert tr.load_training_checkpoint(out, "adain-decoder").iteration == 3
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    assert tr.RunFiles.beside(out).loss_plot.is_file()


def test_bf16_autocast_step_on_cpu(data: dict[str, Path]) -> None:
    from stylize.backends.adain_train import build_decoder, load_encoder

    device = torch.device("cpu")
    encoder, decoder = load_encoder(str(data["encoder"]), device, RecordingReporter()), build_decoder(None, device)
    x = torch.rand(2, 3, 16, 16)
    with autocast(device, "bf16"):
        losses = adain_losses(encoder, decoder, x[:1], x[1:])
    (losses["content"] + losses["style"]).backward()
    assert all(torch.isfinite(v) and v.dtype == torch.float32 for v in losses.values())
    assert all(p.grad is not None for p in decoder.parameters()) and encoder[0].weight.grad is None
    assert effective_precision("auto", device, auto_bf16="cuda") == "fp32"
    assert effective_precision("auto", device, auto_bf16="never") == "fp32"


def test_config_lr_decay_follows_the_reference() -> None:
    config = AdaINTrainConfig()
    assert (config.iterations, config.batch_size, config.lr, config.style_weight) == (160_000, 8, 1e-4, 10.0)
    assert config.lr_at(0) == 1e-4 and config.lr_at(20_000) == pytest.approx(1e-4 / 2)


# ---------------------------------------------------------------- image folders


def test_list_images_is_recursive_sorted_and_skips_hidden(tmp_path: Path) -> None:
    img = Image.new("RGB", (8, 8))
    for name in ("b.png", "a/c.JPG", "a/.hidden.png", ".cache/d.png", "notes.txt", "e.webp"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        if name.endswith(".txt"):
            (tmp_path / name).write_text("x")
        else:
            img.save(tmp_path / name, format="WEBP" if name.endswith("webp") else "PNG")
    found = [p.relative_to(tmp_path).as_posix() for p in tr.list_images(tmp_path)]
    assert found == ["a/c.JPG", "b.png", "e.webp"]


def test_empty_or_missing_folders_are_input_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no images found"):
        tr.list_images(tmp_path)
    with pytest.raises(InputError, match="no such folder"):
        tr.ImageFolderDataset(tmp_path / "missing", 32, 16)
    with pytest.raises(UsageError):
        tr.ImageFolderDataset(tmp_path, 16, 32)


def test_dataset_resizes_short_side_then_crops(tmp_path: Path) -> None:
    Image.new("RGB", (90, 30), (255, 0, 0)).save(tmp_path / "wide.png")
    Image.new("RGB", (6, 10), (0, 255, 0)).save(tmp_path / "tiny.png")
    dataset = tr.ImageFolderDataset(tmp_path, resize=24, crop=16)
    for index in range(len(dataset)):
        image, skipped = dataset[index]
        assert image.shape == (3, 16, 16) and image.dtype == torch.uint8 and skipped == ()
    assert dataset.preview(3).shape == (3, 3, 16, 16)
    assert tr.resize_and_crop(Image.new("RGB", (90, 30)), 24, 16).size == (16, 16)
    assert tr.resize_and_crop(Image.new("RGB", (90, 30)), 0, 8, random_crop=False).size == (8, 8)


def test_undecodable_files_are_passed_over(tmp_path: Path) -> None:
    Image.new("RGB", (20, 20)).save(tmp_path / "b.png")
    (tmp_path / "a.png").write_bytes(b"")
    dataset = tr.ImageFolderDataset(tmp_path, 16, 16)
    image, skipped = dataset[0]
    assert image.shape == (3, 16, 16) and len(skipped) == 1 and "a.png" in skipped[0]
    (tmp_path / "b.png").write_bytes(b"junk")
    with pytest.raises(InputError, match="cannot be decoded"):
        tr.ImageFolderDataset(tmp_path, 16, 16)[0]


def test_batch_stream_with_a_worker_reports_each_bad_file_once(tmp_path: Path) -> None:
    for i in range(3):
        Image.new("RGB", (20, 20), (i * 100, 0, 0)).save(tmp_path / f"{i}.png")
    (tmp_path / "0bad.png").write_bytes(b"junk")
    reporter = RecordingReporter()
    stream = tr.BatchStream(
        tr.ImageFolderDataset(tmp_path, 16, 8), 2, torch.device("cpu"), workers=1, reporter=reporter
    )
    batches = list(itertools.islice(stream, 6))  # 12 draws from 4 files: the bad one comes up 3 times
    stream.close()
    assert all(b.shape == (2, 3, 8, 8) and b.dtype == torch.float32 and 0 <= b.min() <= b.max() <= 1 for b in batches)
    warnings = [e for e in reporter.events if e[:2] == ("log", "warning")]
    assert len(warnings) == 1 and "0bad.png" in warnings[0][2]


def test_infinite_sampler_shards_and_resumes() -> None:
    ranks = [tr.InfiniteSampler(5, seed=3, rank=r, world_size=2) for r in range(2)]
    first_pass = [list(itertools.islice(iter(s), 3)) for s in ranks]
    assert set(first_pass[0]) | set(first_pass[1]) == set(range(5))  # 6 slots, one wrapped
    whole = list(itertools.islice(iter(tr.InfiniteSampler(5, seed=3)), 20))
    assert sorted(whole[:5]) == list(range(5)) and whole[:5] != whole[5:10]  # reshuffled each pass
    later = list(itertools.islice(iter(tr.InfiniteSampler(5, seed=3, start=7)), 13))
    assert later == whole[7:]


# ---------------------------------------------------------------- checkpoints, logs, signals


def test_training_checkpoint_round_trip_and_checks(tmp_path: Path) -> None:
    model = nn.Linear(3, 2)
    opt = torch.optim.Adam(model.parameters(), lr=0.1)
    model(torch.ones(1, 3)).sum().backward()
    opt.step()
    path = tmp_path / "m.safetensors"
    tr.save_training_checkpoint(path, model.state_dict(), {"architecture": "toy"}, tr.TrainState(7, {"m": opt}))
    resumed = tr.load_training_checkpoint(path, "toy")
    fresh = torch.optim.Adam(nn.Linear(3, 2).parameters(), lr=0.1)
    state = tr.TrainState(0, {"m": fresh})
    state.load_state_dict(resumed.state)
    assert state.iteration == resumed.iteration == 7
    assert torch.equal(fresh.state_dict()["state"][0]["exp_avg"], opt.state_dict()["state"][0]["exp_avg"])
    with pytest.raises(WeightsError, match="cannot resume a 'toy'"):
        tr.load_training_checkpoint(path, "adain-decoder")
    torch.save({"iteration": 9, "optimizers": {}}, tr.state_path(path))
    with pytest.raises(WeightsError, match="iteration 9"):
        tr.load_training_checkpoint(path, "toy")
    with pytest.raises(WeightsError, match="no optimizer state for m"):
        tr.TrainState(0, {"m": fresh}).load_state_dict({"iteration": 1, "optimizers": {}})


def test_run_files_layout(tmp_path: Path) -> None:
    files = tr.RunFiles.beside(tmp_path / "dec.safetensors")
    assert files.state.name == "dec.state.pt" and files.log_dir.name == "dec-train"
    assert files.sample(12).relative_to(files.log_dir).as_posix() == "samples/iter-0000012.png"
    with pytest.raises(UsageError):
        files.check_start(resume=True, overwrite=True)


def test_loss_log_rewinds_and_meter_averages(tmp_path: Path) -> None:
    log = tr.LossLog(tmp_path / "loss.jsonl")
    for i in range(1, 6):
        log.append({"iteration": i, "loss": 1.0 / i})
    log.rewind(3)
    assert [e["iteration"] for e in log.read()] == [1, 2, 3]
    assert tr.LossLog(None).read() == [] and tr.LossLog(None).plot(tmp_path / "x.png", ["loss"]) is None
    meter = tr.LossMeter()
    meter.add({"a": torch.tensor(1.0)})
    meter.add({"a": torch.tensor(3.0)})
    assert meter.means() == {"a": 2.0} and meter.means() == {}


def test_graceful_stop_flags_then_aborts() -> None:
    with tr.GracefulStop() as stop:
        signal.raise_signal(signal.SIGINT)
        assert stop.requested
        signal.raise_signal(signal.SIGTERM)  # torchrun's follow-up: still a graceful stop
        with pytest.raises(KeyboardInterrupt):
            signal.raise_signal(signal.SIGINT)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_detect_distributed_reads_torchrun_env() -> None:
    assert tr.detect_distributed({}) == tr.Distributed()
    dist = tr.detect_distributed({"RANK": "1", "WORLD_SIZE": "2", "LOCAL_RANK": "1"})
    assert (dist.rank, dist.world_size, dist.is_main, dist.active) == (1, 2, False, True)
    with pytest.raises(UsageError):
        tr.detect_distributed({"RANK": "2", "WORLD_SIZE": "2"})
    reporter = RecordingReporter()
    rank1 = tr.rank_reporter(reporter, dist)
    rank1.start("x", 3)
    rank1.log("quiet")
    rank1.log("loud", "warning")
    assert reporter.events == [("log", "warning", "[rank 1] loud")]


# ---------------------------------------------------------------- plots and grids


def test_ticks_are_round_and_cover_the_data() -> None:
    assert nice_ticks(0, 160_000, 4) == [0, 50_000, 100_000, 150_000, 200_000]
    assert nice_ticks(1, 160_000, 6, inside=True) == [25_000 * k for k in range(1, 7)]
    assert nice_ticks(0, 1, 5) == [0, 0.2, 0.4, 0.6, 0.8, 1]
    assert nice_ticks(0.13, 0.92)[0] <= 0.13 and nice_ticks(0.13, 0.92)[-1] >= 0.92
    assert nice_ticks(5, 5)[0] < 5 < nice_ticks(5, 5)[-1]
    assert log_ticks(0.03, 400) == [0.01, 0.1, 1, 10, 100, 1000]
    assert log_ticks(3, 40) == [2, 5, 10, 20, 50]
    assert [tick_label(v) for v in (0, 0.25, 160_000, 1e-5)] == ["0", "0.25", "160k", "1e-05"]


def test_loss_curves_draw_with_log_scale_and_odd_values() -> None:
    entries = [{"iteration": i, "loss": 10.0 / i, "style": 0.0 if i == 2 else 1.0 / i} for i in range(1, 20)]
    series = loss_series(entries, ["loss", "style", "absent"])
    assert series["absent"] == [] and len(series["loss"]) == 19
    img = draw_loss_curves(series, (400, 300), log_y=True, title="t")
    assert img.size == (400, 300) and img.mode == "RGB"
    assert len(img.getcolors(1 << 20) or ()) > 10  # something was drawn
    assert draw_loss_curves({"one": [(1.0, float("nan")), (2.0, 3.0)]}).size == (800, 480)
    assert draw_loss_curves({"neg": [(0.0, -1.0), (1.0, 0.0)]}, log_y=True).size == (800, 480)


def test_image_grid_and_sample_grid_sizes(tmp_path: Path) -> None:
    tiles = [Image.new("RGB", (10, 8), (i * 40, 0, 0)) for i in range(5)]
    assert image_grid(tiles, columns=2, padding=3).size == (2 * 10 + 3 * 3, 3 * 8 + 4 * 3)
    path = tr.save_sample_grid(tmp_path / "g.png", [torch.rand(2, 3, 8, 8), torch.zeros(2, 3, 8, 8)])
    with Image.open(path) as img:
        assert img.size == (2 * 8 + 3 * PAD, 2 * 8 + 3 * PAD)


def test_host_allocator_tuning_applies_on_glibc() -> None:
    import ctypes.util
    import sys

    from stylize.devices import tune_host_allocator

    if not (sys.platform.startswith("linux") and "libc.so" in (ctypes.util.find_library("c") or "")):
        pytest.skip("glibc only")
    assert tune_host_allocator() is True  # every mallopt call was accepted

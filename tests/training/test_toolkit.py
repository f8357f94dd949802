"""The training toolkit every trainer uses (stylize.training's data, dist and state), and its plots."""

from __future__ import annotations

import itertools
import signal
from pathlib import Path

import pytest
import torch
from PIL import Image
from torch import nn

from stylize import training as tr
from stylize.errors import InputError, UsageError, WeightsError
from stylize.plot import draw_loss_curves, image_grid, log_ticks, loss_series, nice_ticks, tick_label
from stylize.progress import RecordingReporter

PAD = 2


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

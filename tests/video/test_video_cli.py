"""``stylize fast|adain`` with videos and ``stylize eval --video``, end to end through the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("av")
pytest.importorskip("cv2")

from clips import make_clip
from typer.testing import CliRunner

from stylize import video
from stylize.cli import app
from stylize.errors import EXIT_CODES

runner = CliRunner()
pytestmark = pytest.mark.usefixtures("torch_one_thread")


def _fast(*args: object) -> object:
    return runner.invoke(app, ["--quiet", "fast", *map(str, args)])


def test_fast_writes_the_video_and_prints_its_path(tmp_path: Path, model_file: Path) -> None:
    src = make_clip(tmp_path / "clip.mp4", (64, 48), frames=8, fps=8)
    result = _fast(src, "-m", model_file, "-o", tmp_path / "out", "--crf", "23", "--temporal", "0.3")
    assert result.exit_code == 0, result.output
    out = tmp_path / "out" / "clip_fast_random_style_temporal0.3_crf23.mp4"  # {variant}: the settings
    assert result.stdout.splitlines() == [str(out)]
    info = video.probe(out)
    assert (info.width, info.height, info.frames, info.fps, info.has_audio) == (64, 48, 8, 8, True)


def test_size_start_duration_codec_and_ext(tmp_path: Path, model_file: Path) -> None:
    src = make_clip(tmp_path / "clip.mp4", (64, 48), frames=12, fps=12)
    out = tmp_path / "small.mkv"
    result = _fast(src, "-m", model_file, "-o", out, "--size", "47", "--start", "0.25", "--duration", "0.5",
                   "--codec", "mpeg4")  # fmt: skip
    assert result.exit_code == 0, result.output
    info = video.probe(out)
    assert (info.width, info.height, info.frames, info.codec) == (48, 36, 6, "mpeg4")  # 47x35 padded to even


def test_damaged_video_alone_is_exit_3_and_in_a_folder_exit_6(tmp_path: Path, model_file: Path) -> None:
    bad = tmp_path / "in" / "bad.mov"
    bad.parent.mkdir()
    bad.write_bytes(b"not a video at all" * 50)
    alone = _fast(bad, "-m", model_file, "-o", tmp_path / "o1")
    assert alone.exit_code == EXIT_CODES["input"] == 3
    assert len(alone.stderr.strip().splitlines()) == 1 and "bad.mov" in alone.stderr
    make_clip(tmp_path / "in" / "good.mp4", frames=4, audio=False)
    folder = _fast(tmp_path / "in", "-m", model_file, "-o", tmp_path / "o2")
    assert folder.exit_code == EXIT_CODES["partial"] == 6
    assert folder.stdout.splitlines() == [str(tmp_path / "o2" / "good_fast_random_style.mp4")]


def test_an_image_ext_for_a_video_is_a_usage_error(tmp_path: Path, model_file: Path) -> None:
    src = make_clip(tmp_path / "clip.mp4", frames=2, audio=False)
    result = _fast(src, "-m", model_file, "-o", tmp_path / "o", "--ext", "png")
    assert result.exit_code == EXIT_CODES["usage"] and "is a video" in result.stderr
    assert _fast(src, "-m", model_file, "--temporal", "2").exit_code == EXIT_CODES["usage"]


def test_a_codec_or_audio_the_container_cannot_hold_stops_before_any_frame(tmp_path: Path, model_file: Path) -> None:
    src = make_clip(tmp_path / "clip.mp4", frames=4)  # AAC audio: not allowed in WebM
    result = _fast(src, "-m", model_file, "-o", tmp_path / "o", "--ext", "webm")
    assert result.exit_code == EXIT_CODES["input"] and "cannot be copied into a .webm file" in result.stderr
    result = _fast(src, "-m", model_file, "-o", tmp_path / "o", "--codec", "libvpx-vp9", "--ext", "mov")
    assert result.exit_code == EXIT_CODES["input"] and "choose another --codec" in result.stderr
    assert not (tmp_path / "o").exists() or list((tmp_path / "o").iterdir()) == []


@pytest.mark.usefixtures("fake_adain_weights")
def test_adain_stylizes_a_video_with_the_style_encoded_once(tmp_path: Path, image_factory: object) -> None:
    src = make_clip(tmp_path / "clip.webm", (64, 48), frames=6, fps=6)
    style = image_factory(tmp_path / "style.png", (32, 32))  # type: ignore[operator]
    result = runner.invoke(app, ["--quiet", "-v", "adain", str(src), str(style), "--size", "0", "--color", "match",
                                 "-o", str(tmp_path / "out")])  # fmt: skip
    assert result.exit_code == 0, result.output
    out = tmp_path / "out" / "clip_adain_style_color-match.webm"  # --size 0: the video's own, the default
    info = video.probe(out)
    assert (info.width, info.height, info.frames, info.codec, info.has_audio) == (64, 48, 6, "vp9", True)


def test_eval_video_reports_the_warping_error(tmp_path: Path) -> None:
    src = make_clip(tmp_path / "clip.mp4", frames=6, audio=False)
    for temporal in ("0", "0.8"):  # the shipped model: a random one paints a flat colour, nothing flickers
        out = tmp_path / f"t{temporal}.mp4"
        assert _fast(src, "-m", "starry-night", "-o", out, "--temporal", temporal).exit_code == 0
    result = runner.invoke(app, ["eval", "--video", str(src), str(tmp_path / "t0.mp4"), str(tmp_path / "t0.8.mp4"),
                                 "--json"])  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    errors = [row["warping_error"] for row in report["outputs"]]
    assert report["input"]["pairs"] == 5 and errors[1] < errors[0]
    table = runner.invoke(app, ["eval", "--video", str(src), str(tmp_path / "t0.mp4")])
    assert table.exit_code == 0 and "warping error" in table.stdout.splitlines()[0]


@pytest.mark.usefixtures("bundled_vgg")
def test_eval_video_with_a_style_adds_the_frames_style_distance(tmp_path: Path, image_factory: object) -> None:
    src = make_clip(tmp_path / "clip.mp4", frames=4, audio=False)
    style = image_factory(tmp_path / "style.png", (48, 48))  # type: ignore[operator]
    assert _fast(src, "-m", "starry-night", "-o", tmp_path / "out.mp4").exit_code == 0
    result = runner.invoke(app, ["eval", "--video", str(src), str(tmp_path / "out.mp4"), "-s", str(style), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["input"]["style"] > 0 and report["outputs"][0]["style"] > 0
    table = runner.invoke(app, ["eval", "--video", str(src), str(tmp_path / "out.mp4"), "-s", str(style)])
    assert table.stdout.splitlines()[0].endswith("style")


def test_the_cli_imports_neither_av_nor_cv2_nor_numpy_at_start() -> None:
    import subprocess
    import sys

    code = "import sys, stylize.cli; print([m for m in ('av', 'cv2', 'numpy', 'torch') if m in sys.modules])"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


@pytest.mark.usefixtures("fake_adain_weights")
def test_a_video_keeps_its_size_by_default_while_an_image_is_capped(tmp_path: Path, image_factory: object) -> None:
    """Issue 14: 'same size unless --size'; images keep issue 16's 512 px cap."""
    (tmp_path / "in").mkdir()
    src = make_clip(tmp_path / "in" / "wide.mp4", (640, 48), frames=3, fps=6, audio=False)
    image_factory(tmp_path / "in" / "wide.png", (640, 48), 1)
    style = image_factory(tmp_path / "style.png", (48, 48), 2)
    result = runner.invoke(app, ["--quiet", "adain", str(tmp_path / "in"), str(style), "-o", str(tmp_path / "out"),
                                 "--temporal", "0"])  # fmt: skip
    assert result.exit_code == 0, result.output
    info = video.probe(tmp_path / "out" / "wide_adain_style_temporal0.mp4")  # a video knob: videos only
    assert (info.width, info.height) == (640, 48) and src.exists()
    from PIL import Image

    assert Image.open(tmp_path / "out" / "wide_adain_style.png").size == (512, 38)


def test_real_sigint_mid_video_then_the_same_command_gives_the_uninterrupted_frames(
    tmp_path: Path, model_file: Path
) -> None:
    import os
    import signal
    import subprocess
    import sys
    import time

    import numpy as np

    src = make_clip(tmp_path / "long.mp4", (64, 48), frames=264, fps=12, audio=True)  # 22 s: three segments
    args = [sys.executable, "-m", "stylize", "--quiet", "fast", str(src), "-m", str(model_file), "--crf", "0"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    whole = tmp_path / "whole.mp4"
    assert subprocess.run([*args, "-o", str(whole)], check=False, env=env, capture_output=True).returncode == 0
    part = tmp_path / "part.mp4"
    work = tmp_path / ".part.mp4.stylize-video"
    run = subprocess.Popen([*args, "-o", str(part)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while not list(work.glob("*segment*")) and not list(work.glob("*.nut")) and time.monotonic() < deadline:
        time.sleep(0.05)
    run.send_signal(signal.SIGINT)
    _, err = run.communicate(timeout=60)
    assert run.returncode == 130, err.decode()
    assert not part.exists() and work.is_dir()  # finished segments kept, no half-made output
    again = subprocess.run([*args, "-o", str(part)], check=False, env=env, capture_output=True)
    assert again.returncode == 0, again.stderr.decode()
    assert not work.exists()
    a, b = list(video.read_frames(whole)), list(video.read_frames(part))
    assert [f.pts for f in a] == [f.pts for f in b] and len(a) == 264
    assert max(int(np.abs(x.rgb.astype(int) - y.rgb.astype(int)).max()) for x, y in zip(a, b)) <= 2


@pytest.mark.usefixtures("bundled_vgg")
def test_optimize_takes_a_video_frame_by_frame(tmp_path: Path, image_factory: object) -> None:
    src = make_clip(tmp_path / "clip.mp4", (48, 32), frames=3, fps=6)
    style = image_factory(tmp_path / "style.png", (32, 32), 2)
    result = runner.invoke(app, ["--quiet", "optimize", str(src), str(style), "-o", str(tmp_path / "out"),
                                 "--iterations", "1", "--scales", "1", "--save-every", "1"])  # fmt: skip
    assert result.exit_code == 0, result.output
    out = tmp_path / "out" / "clip_optimize_style_scales1_iterations1.mp4"
    info = video.probe(out)
    assert (info.width, info.height, info.frames, info.has_audio) == (48, 32, 3, True)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [out.name]  # --save-every: images only


def test_bitrate_instead_of_crf(tmp_path: Path) -> None:
    src = make_clip(tmp_path / "clip.mp4", (96, 64), frames=12, fps=12, audio=False)
    sizes = {}
    for rate in ("20k", "2M"):
        out = tmp_path / f"{rate}.mp4"
        result = _fast(src, "-m", "starry-night", "-o", out, "--bitrate", rate, "--temporal", "0")
        assert result.exit_code == 0, result.output
        sizes[rate] = out.stat().st_size
        assert video.probe(out).frames == 12
    assert sizes["2M"] > 3 * sizes["20k"]
    bad = _fast(src, "-m", "starry-night", "-o", tmp_path / "x.mp4", "--bitrate", "fast")
    assert bad.exit_code == 2 and "--bitrate 'fast'" in bad.output


def test_eval_video_refuses_a_video_of_another_shape(tmp_path: Path) -> None:
    src = make_clip(tmp_path / "clip.mp4", size=(64, 48), frames=4, audio=False)
    other = make_clip(tmp_path / "other.mp4", size=(48, 64), frames=4, audio=False)
    result = runner.invoke(app, ["eval", "--video", str(src), str(other)])
    assert result.exit_code == EXIT_CODES["usage"] and "not the shape of" in result.output


def test_eval_video_says_when_the_frame_counts_differ(tmp_path: Path) -> None:
    src = make_clip(tmp_path / "clip.mp4", frames=9, audio=False)
    short = make_clip(tmp_path / "short.mp4", size=(32, 24), frames=6, audio=False)
    result = runner.invoke(app, ["eval", "--video", str(src), str(short), "--json"])
    assert result.exit_code == 0, result.output
    assert "has fewer frames than" in result.stderr and "first 6" in result.stderr
    assert json.loads(result.stdout)["outputs"][0]["pairs"] == 5

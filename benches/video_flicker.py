"""Video flicker and speed: warping error frame by frame vs --temporal, and video vs image-folder frames/s.

The clip pans and zooms across a high-resolution photo from ../shared/data/content/ (a scene cut
half way to a second photo), like a slow camera move; it is stylized with the shipped fast model
(offline) at several --temporal values and measured with the same code as
``stylize eval --video``. Speed: the same frames as a folder of PNGs through the image path.

    python benches/video_flicker.py [--size 320x180] [--frames 48] [--temporal 0,0.3,0.5,0.7,0.9]
    python benches/video_flicker.py --size 912x512 --frames 48 --temporal 0.5 --repeat 3   # speed, 512p
    python benches/video_flicker.py --size 320x180 --temporal 0.5 --rss-seconds 120        # memory, 2 min

Both paths run at the clip's own size (``size=0``): the image path would otherwise cap at 512 px.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from stylize import api, video
from stylize.batch import BatchOptions
from stylize.config import FastConfig
from stylize.video.run import measure_flicker

PHOTOS = ROOT.parent / "shared" / "data" / "content"


def camera_move(photo: Path, size: tuple[int, int], frames: int) -> list[np.ndarray]:
    """Frames of a slow pan (left to right) with a 15% zoom-in over a photo."""
    img = Image.open(photo).convert("RGB")
    w, h = size
    out = []
    for t in range(frames):
        s = t / max(frames - 1, 1)
        crop_w = img.width * (0.6 - 0.09 * s)
        crop_h = crop_w * h / w
        x0 = (img.width - crop_w) * (0.2 + 0.5 * s)
        y0 = (img.height - crop_h) * 0.5
        box = (x0, y0, x0 + crop_w, y0 + crop_h)
        out.append(np.asarray(img.resize((w, h), Image.Resampling.BICUBIC, box=box)))
    return out


def write_clip(path: Path, frames: list[np.ndarray], fps: int) -> None:
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps, options={"crf": "12"})
        stream.width, stream.height, stream.pix_fmt = frames[0].shape[1], frames[0].shape[0], "yuv420p"
        for rgb in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")))
        container.mux(stream.encode(None))


def run_video(clip: Path, out: Path, temporal: float) -> float:
    """Seconds to stylize ``clip`` into ``out`` with --temporal ``temporal``."""
    start = time.perf_counter()
    api.fast(
        [str(clip)],
        FastConfig(models=("starry-night",), size=0),
        BatchOptions(output=out, overwrite=True),
        video=video.VideoConfig(temporal=temporal),
    )
    return time.perf_counter() - start


def run_folder(frames: list[np.ndarray], folder: Path) -> float:
    """Seconds to stylize the same frames as a folder of PNGs (decode, stylize, encode PNG)."""
    for i, rgb in enumerate(frames):
        Image.fromarray(rgb).save(folder / "in" / f"{i:04d}.png")
    start = time.perf_counter()
    api.fast(
        [str(folder / "in")],
        FastConfig(models=("starry-night",), size=0),
        BatchOptions(output=folder / "out", overwrite=True),
    )
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="320x180")
    parser.add_argument("--frames", type=int, default=48)
    parser.add_argument("--fps", type=int, default=24)
    parser.add_argument("--temporal", default="0,0.3,0.5,0.7,0.9")
    parser.add_argument("--photos", default="forest_path.jpg,evening_glow_boats.jpg")
    parser.add_argument("--style", type=Path, help="also the mean style distance of 12 frames against this image")
    parser.add_argument("--repeat", type=int, default=1, help="speed: video and folder interleaved, median of N")
    parser.add_argument("--rss-seconds", type=float, default=0, help="memory: RSS along a clip this long, then exit")
    args = parser.parse_args()
    if args.rss_seconds:
        return rss_along(tuple(int(v) for v in args.size.split("x")), args.rss_seconds, args.fps, args.photos)
    size = tuple(int(v) for v in args.size.split("x"))
    names = args.photos.split(",")
    half = args.frames // 2
    frames = camera_move(PHOTOS / names[0], size, half) + camera_move(PHOTOS / names[-1], size, args.frames - half)
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        clip = tmp / "clip.mp4"
        write_clip(clip, frames, args.fps)
        print(
            f"clip: {args.frames} frames {size[0]}x{size[1]} at {args.fps} fps, pan + zoom over {names[0]}, "
            f"cut to {names[-1]}; torch threads {os.environ.get('OMP_NUM_THREADS', 'default')}\n"
        )
        print(
            "| --temporal | warping error | vs frame by frame | frames/s | style distance |\n|---:|---:|---:|---:|---:|"
        )
        floor = measure_flicker(clip, clip)
        run_video(clip, tmp / "warm-up", 0.0)  # model load, first-call allocations
        base = None
        for temporal in (float(v) for v in args.temporal.split(",")):
            out = tmp / f"t{temporal}"
            seconds = run_video(clip, out, temporal)
            made = out / "clip_fast_starry-night.mp4"
            error = measure_flicker(clip, made).warping_error
            base = error if base is None else base
            style = f"{_style_distance(made, args.style):.4f}" if args.style else ""
            print(f"| {temporal:g} | {error:.5f} | {error / base - 1:+.0%} | {args.frames / seconds:.1f} | {style} |")
        print(
            f"| input itself | {floor.warping_error:.5f} | | | "
            f"{f'{_style_distance(clip, args.style):.4f}' if args.style else ''} |\n"
        )
        (tmp / "folder" / "in").mkdir(parents=True)
        pairs = [(run_video(clip, tmp / "speed", 0.5), run_folder(frames, tmp / "folder")) for _ in range(args.repeat)]
        video_s = sorted(p[0] for p in pairs)[len(pairs) // 2]
        folder_s = sorted(p[1] for p in pairs)[len(pairs) // 2]
        print(
            f"speed, median of {args.repeat} interleaved: video (--temporal 0.5) {args.frames / video_s:.2f} frames/s, "
            f"the same frames as a PNG folder {args.frames / folder_s:.2f} frames/s: "
            f"video at {folder_s / video_s:.0%} of the folder"
        )


def _style_distance(path: Path, style: Path) -> float:
    """The mean style distance `stylize eval --video -s` reports (12 frames spread over the video)."""
    from stylize import api

    return api.evaluate_video(path, [str(path)], style=style)[1].style_distance


def rss_along(size: tuple[int, int], seconds: float, fps: int, photos: str) -> None:
    """Stylize a ``seconds``-long clip, sampling this process's RSS; print it at each tenth of the run."""
    import threading

    frames = int(seconds * fps)
    names = photos.split(",")
    loop = camera_move(PHOTOS / names[0], size, 96)
    samples: list[tuple[float, int]] = []
    done = threading.Event()

    def sample() -> None:
        start = time.perf_counter()
        while not done.wait(0.5):
            status = Path("/proc/self/status").read_text().splitlines()
            rss = int(next(line for line in status if line.startswith("VmRSS")).split()[1])
            samples.append((time.perf_counter() - start, rss // 1024))

    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        clip = tmp / "long.mp4"
        write_clip(clip, [loop[i % len(loop)] for i in range(frames)], fps)
        thread = threading.Thread(target=sample, daemon=True)
        thread.start()
        took = run_video(clip, tmp / "out", 0.5)
        done.set()
        thread.join()
    marks = [samples[min(len(samples) - 1, round(k * (len(samples) - 1) / 10))] for k in range(11)]
    print(f"{frames} frames ({seconds:g} s at {fps} fps) {size[0]}x{size[1]}, --temporal 0.5, {took:.0f} s")
    print("RSS MiB at each tenth of the run: " + " ".join(str(m[1]) for m in marks))


if __name__ == "__main__":
    main()

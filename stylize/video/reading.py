"""Reading videos with PyAV: :func:`probe` a header, :func:`read_frames` as upright RGB with their pts.

Rotation metadata is applied to the pixels. Decoding uses demux + decode with a container that is
always closed (breaking out of ``container.decode`` with frame threading on can hang PyAV). Animated
WebP goes through Pillow (FFmpeg decodes only still WebP).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import av.container
import numpy as np
from PIL import Image, UnidentifiedImageError

from stylize.errors import InputError
from stylize.images import DEFAULT_MAX_PIXELS


@dataclass(frozen=True)
class VideoInfo:
    """What :func:`probe` learns from a video's header (sizes as displayed: rotation applied)."""

    path: Path
    width: int
    height: int
    fps: Fraction  # average frame rate
    time_base: Fraction  # of the video stream: frame pts count in it
    frames: int  # from the header, or estimated from the duration (0: unknown)
    duration_s: float
    rotation: int  # counter-clockwise degrees the display matrix asks for (0, 90, 180, -90)
    has_audio: bool
    codec: str


@dataclass(frozen=True)
class Frame:
    """One decoded frame: upright RGB pixels and when to show it."""

    pts: int  # in the stream's time base
    time: float  # seconds
    rgb: np.ndarray  # (H, W, 3) uint8


@contextlib.contextmanager
def open_input(path: Path) -> Iterator[av.container.InputContainer]:
    """Open a video for reading; every failure is a one-line InputError; always closed."""

    if not path.is_file():
        raise InputError(f"{path}: no such file" if not path.exists() else f"{path}: not a regular file")
    try:
        container = av.open(str(path), "r")
    except (av.FFmpegError, UnicodeDecodeError, ValueError) as exc:
        raise InputError(f"{path}: cannot open video ({one_line(exc)})", "the file is damaged or not a video") from exc
    try:
        if not container.streams.video:
            raise InputError(f"{path}: has no video stream")
        yield container
    finally:
        container.close()


def one_line(exc: BaseException) -> str:
    """An FFmpeg error as one short line, for our messages."""
    text = getattr(exc, "strerror", None) or str(exc)
    return text.replace("\n", " ").split(": '")[0][:120]


def probe(path: Path, max_pixels: int = DEFAULT_MAX_PIXELS) -> VideoInfo:
    """Size, frame rate, frame count, rotation and audio of a video (reads the header and one frame).

    A video whose frames are over ``max_pixels`` is an InputError before any frame is decoded."""
    if path.suffix.lower() == ".webp":
        return _probe_webp(path, max_pixels)
    with open_input(path) as container:
        stream = container.streams.video[0]
        check_frame_size(path, stream.width, stream.height, max_pixels)
        fps = Fraction(stream.average_rate or stream.guessed_rate or 25)
        duration_s = _duration_s(container, stream)
        frames = stream.frames or round(duration_s * fps)
        first = next(_decoded(container, stream, path), None)
        if first is None:
            raise InputError(f"{path}: no frame could be decoded", "the file is damaged or incomplete")
        rotation = _rotation(first)
        width, height = (stream.height, stream.width) if rotation % 180 else (stream.width, stream.height)
        return VideoInfo(
            path,
            width,
            height,
            fps,
            Fraction(stream.time_base or Fraction(1, 1000)),
            int(frames),
            duration_s,
            rotation,
            bool(container.streams.audio),
            stream.codec_context.name,
        )


def _duration_s(container: Any, stream: Any) -> float:
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    return container.duration / 1_000_000 if container.duration else 0.0


def _rotation(frame: Any) -> int:
    try:
        return round(frame.rotation / 90.0) * 90
    except Exception:  # noqa: BLE001 - no display matrix
        return 0


def check_frame_size(path: Path, width: int, height: int, max_pixels: int) -> None:
    """An InputError when a frame of ``width`` x ``height`` is over the pixel limit (--max-pixels)."""
    if width * height > max_pixels:
        raise InputError(
            f"{path}: video frames {width}x{height} are over the {max_pixels:,}-pixel limit",
            "raise it with --max-pixels if you trust this file",
        )


def _decoded(container: Any, stream: Any, path: Path) -> Iterator[Any]:
    """The stream's frames: demux + decode (never ``container.decode``: see the module doc)."""

    try:
        for packet in container.demux(stream):
            yield from packet.decode()
    except av.FFmpegError as exc:
        raise InputError(f"{path}: cannot decode video ({one_line(exc)})", "the file is damaged or incomplete") from exc


def read_frames(
    path: Path,
    start_s: float = 0.0,
    end_s: float = math.inf,
    after_pts: int | None = None,
    threads: bool = True,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> Iterator[Frame]:
    """Upright RGB frames shown from ``start_s`` up to ``end_s``, after ``after_pts`` if given (resume).

    Seeks to the keyframe before the first wanted frame; frames before it are decoded and dropped,
    so a resumed read yields exactly the frames an uninterrupted one would. Closing the generator
    closes the file. Frames over ``max_pixels``, or of another size than the header's (a size that
    changes mid-stream), are an InputError.
    """
    if path.suffix.lower() == ".webp":
        yield from _webp_frames(path, start_s, end_s, after_pts, max_pixels)
        return
    with open_input(path) as container:
        stream = container.streams.video[0]
        check_frame_size(path, stream.width, stream.height, max_pixels)
        if threads:
            stream.thread_type = "AUTO"
        tb = Fraction(stream.time_base or Fraction(1, 1000))
        _seek(container, stream, start_s, after_pts, tb)
        index, size = 0, (stream.width, stream.height) if stream.width and stream.height else None
        for frame in _decoded(container, stream, path):
            size = size or _first_size(path, frame, max_pixels)
            _check_same_size(path, frame, size, tb)
            pts = frame.pts if frame.pts is not None else index
            index += 1
            time = float(pts * tb)
            if time >= end_s:
                return
            if time < start_s or (after_pts is not None and pts <= after_pts):
                continue
            yield Frame(pts, time, _upright(frame))


def _first_size(path: Path, frame: Any, max_pixels: int) -> tuple[int, int]:
    """The size of the first frame, for a header that gives none."""
    check_frame_size(path, frame.width, frame.height, max_pixels)
    return frame.width, frame.height


def _check_same_size(path: Path, frame: Any, size: tuple[int, int], tb: Fraction) -> None:
    """Every frame has the header's size: one that changes mid-stream is an InputError."""
    if (frame.width, frame.height) != size:
        when = f" at {float(frame.pts * tb):.2f} s" if frame.pts is not None else ""
        raise InputError(
            f"{path}: the frame size changes from {size[0]}x{size[1]} to {frame.width}x{frame.height}{when}",
            "stylize videos of one frame size: split the file where the size changes",
        )


WEBP_TIME_BASE = Fraction(1, 1000)  # animated WebP frames carry millisecond timestamps


def _webp_frames(path: Path, start_s: float, end_s: float, after_pts: int | None, max_pixels: int) -> Iterator[Frame]:
    """Frames of an animated WebP through Pillow (FFmpeg decodes only still WebP), pts in ms."""

    with _opened_webp(path) as img:
        check_frame_size(path, img.width, img.height, max_pixels)
        for index in range(getattr(img, "n_frames", 1)):
            img.seek(index)
            img.load()
            pts = int(img.info.get("timestamp", 0))
            time = float(pts * WEBP_TIME_BASE)
            if time >= end_s:
                return
            if time < start_s or (after_pts is not None and pts <= after_pts):
                continue
            yield Frame(pts, time, np.asarray(img.convert("RGB")))


@contextlib.contextmanager
def _opened_webp(path: Path) -> Iterator[Any]:

    if not path.is_file():
        raise InputError(f"{path}: no such file" if not path.exists() else f"{path}: not a regular file")
    try:
        with Image.open(path) as img:
            yield img
    except (OSError, UnidentifiedImageError, ValueError, EOFError) as exc:
        raise InputError(f"{path}: cannot decode animated WebP ({exc})", "the file is damaged or incomplete") from exc


def _probe_webp(path: Path, max_pixels: int) -> VideoInfo:
    with _opened_webp(path) as img:
        check_frame_size(path, img.width, img.height, max_pixels)
        frames = getattr(img, "n_frames", 1)
        img.seek(frames - 1)
        img.load()
        duration_s = (int(img.info.get("timestamp", 0)) + int(img.info.get("duration", 0) or 0)) / 1000
        fps = Fraction(frames / duration_s).limit_denominator(1000) if duration_s > 0 else Fraction(25)
        return VideoInfo(path, img.width, img.height, fps, WEBP_TIME_BASE, frames, duration_s, 0, False, "webp")


def _seek(container: Any, stream: Any, start_s: float, after_pts: int | None, tb: Fraction) -> None:
    target = max(start_s, float(after_pts * tb) if after_pts is not None else 0.0)
    if target <= 0 or container.format.name == "gif":
        return
    with contextlib.suppress(Exception):  # not seekable: decode from the start and drop
        container.seek(int(target / tb), stream=stream, backward=True)


def _upright(frame: Any) -> np.ndarray:

    rgb = frame.to_ndarray(format="rgb24")  # (H, W, 3)
    quarter = (_rotation(frame) // 90) % 4
    return np.ascontiguousarray(np.rot90(rgb, quarter)) if quarter else rgb

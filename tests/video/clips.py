"""Small generated clips for the video tests: moving shapes over a texture, a sine tone, made with PyAV."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np


def texture(width: int, height: int, seed: int = 0) -> np.ndarray:
    """A smooth colourful background (H, W, 3) uint8 with some fine detail for optical flow to lock on."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    waves = [np.sin(xx / rng.uniform(3, 9) + rng.uniform(0, 6)) * np.cos(yy / rng.uniform(3, 9)) for _ in range(3)]
    return ((np.stack(waves, axis=-1) * 0.5 + 0.5) * 200 + 20).astype(np.uint8)


def scene(width: int, height: int, t: int, speed: int = 2, static: bool = False) -> np.ndarray:
    """Frame ``t``: the texture panning left and a white square moving right (nothing moves if static)."""
    big = texture(width + 64, height, seed=1)
    shift = 0 if static else (t * speed) % 64
    frame = big[:, shift : shift + width].copy()
    x = 4 if static else (4 + t * speed) % max(width - 12, 1)
    frame[height // 4 : height // 4 + 10, x : x + 10] = 255
    return frame


def make_clip(path: Path, size: tuple[int, int] = (64, 48), frames: int = 12, fps: int = 12, audio: bool = True,
              static: bool = False, codec: str | None = None, rotation: int = 0,
              times_ms: list[int] | None = None) -> Path:  # fmt: skip
    """Write a clip by extension (.mp4, .mkv, .webm, .avi, .mov, .gif) with an optional 0.5 s+ sine track.

    ``times_ms``: each frame's time in milliseconds, for a variable-frame-rate clip (one frame each)."""
    import av

    width, height = size
    suffix = path.suffix.lower()
    codec = codec or {".webm": "libvpx-vp9", ".gif": "gif", ".avi": "mpeg4"}.get(suffix, "libx264")
    with av.open(str(path), "w") as out:
        video = out.add_stream(codec, rate=fps)
        video.width, video.height = width, height
        video.pix_fmt = "rgb8" if codec == "gif" else "yuv420p"
        if rotation:
            video.set_display_rotation(rotation)
        sound = _add_audio(out, suffix) if audio else None
        for t in range(len(times_ms) if times_ms else frames):
            frame = av.VideoFrame.from_ndarray(scene(width, height, t, static=static), format="rgb24")
            if times_ms:
                frame.pts, frame.time_base = times_ms[t], Fraction(1, 1000)
                video.codec_context.time_base = Fraction(1, 1000)
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
        if sound is not None:
            _write_tone(out, sound, seconds=frames / fps)
    return path


def _add_audio(out: object, suffix: str) -> object:
    codec = {".webm": "libopus", ".avi": "mp3"}.get(suffix, "aac")
    rate = 48000 if codec == "libopus" else 44100
    return out.add_stream(codec, rate=rate, layout="mono")  # type: ignore[attr-defined]


def _write_tone(out: object, stream: object, seconds: float) -> None:
    import av

    rate = stream.rate  # type: ignore[attr-defined]
    size = stream.codec_context.frame_size or 1024  # type: ignore[attr-defined]
    total = int(rate * seconds)
    tone = (0.3 * np.sin(2 * np.pi * 440 * np.arange(total + size) / rate)).astype(np.float32)
    for start in range(0, total, size):
        chunk = tone[start : start + size][None, :]
        frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="mono")
        frame.sample_rate, frame.pts, frame.time_base = rate, start, Fraction(1, rate)
        out.mux(stream.encode(frame))  # type: ignore[attr-defined]
    out.mux(stream.encode(None))  # type: ignore[attr-defined]

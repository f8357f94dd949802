"""Writing videos with PyAV: frames into segments (:class:`SegmentWriter`), segments + the input's audio into one file.

Frames keep their timestamps (the output stream has the input's time base) and audio packets are
copied unchanged, so segments join without re-timing or re-encoding (:func:`join_segments`). The
job signature goes into the container's tags (a sidecar for GIF/WebP: :func:`read_note`).
"""

from __future__ import annotations

import contextlib
import heapq
import io
from collections.abc import Iterator, Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any, BinaryIO

import av
import numpy as np
from PIL import Image

from stylize import images
from stylize.errors import OutputError
from stylize.video.config import ONE_PASS, VideoConfig, bits_per_s
from stylize.video.reading import VideoInfo, one_line, open_input

DEFAULT_CODEC = "libx264"  # H.264 plays everywhere
FALLBACK_CODEC = "mpeg4"  # FFmpeg's own encoder, for builds without libx264
CONTAINER_CODECS = {".webm": "libvpx-vp9", ".gif": "gif", ".webp": "libwebp_anim"}  # cannot hold H.264
EVEN_CODECS = frozenset({"libx264", "h264", "mpeg4", "libx265", "hevc"})  # yuv420p: even sizes only
NOTE_KEY = "comment"  # container tag that holds the job signature


def codec_for(output: Path, config: VideoConfig) -> str:
    """The encoder: --codec, else the container's own (vp9, gif), else libx264, else mpeg4."""

    if config.codec:
        return config.codec
    wanted = CONTAINER_CODECS.get(output.suffix.lower(), DEFAULT_CODEC)
    return wanted if wanted in av.codecs_available else FALLBACK_CODEC


def even_size(width: int, height: int, codec: str) -> tuple[int, int]:
    """The encoded size: yuv420p codecs need even sides, so odd ones get one replicated row/column."""
    if codec not in EVEN_CODECS:
        return width, height
    return width + width % 2, height + height % 2


class SegmentWriter:
    """Encodes frames into one segment file (its own container, the output's format).

    Frames are written with their input pts in the input's time base, so segments join without
    re-timing. Use as a context manager: leaving it normally flushes the encoder and closes the file.
    """

    def __init__(self, path: Path | BinaryIO, fmt: str, info: VideoInfo, config: VideoConfig, codec: str) -> None:

        self.path, self.codec = path, codec
        target = str(path) if isinstance(path, Path) else path
        self.container = av.open(target, "w", format=fmt, options=_muxer_options(fmt, info.time_base))
        self.stream: Any = None
        self.info, self.config = info, config

    def _open_stream(self, width: int, height: int) -> None:
        stream = self.container.add_stream(
            self.codec, rate=self.info.fps, options=_encoder_options(self.codec, self.config)
        )
        stream.width, stream.height = even_size(width, height, self.codec)
        stream.pix_fmt = "pal8" if self.codec == "gif" else "yuv420p"
        stream.time_base = stream.codec_context.time_base = self.info.time_base
        if self.config.bitrate:
            stream.codec_context.bit_rate = bits_per_s(self.config.bitrate)
        elif self.codec == FALLBACK_CODEC:
            stream.codec_context.bit_rate = int(stream.width * stream.height * float(self.info.fps) * 0.4)
        self.stream = stream

    def write(self, rgb: np.ndarray, pts: int) -> None:
        """Encode one (H, W, 3) uint8 frame shown at ``pts``."""

        if self.stream is None:
            self._open_stream(rgb.shape[1], rgb.shape[0])
        frame = _to_frame(rgb, self.stream.width, self.stream.height, self.codec == "gif")
        frame.pts, frame.time_base = pts, self.info.time_base
        try:
            self.container.mux(self.stream.encode(frame))
        except av.FFmpegError as exc:
            raise OutputError(
                f"{self.path}: cannot encode with {self.codec} ({one_line(exc)})", "try --codec mpeg4 or another --ext"
            ) from exc

    def close(self, flush: bool = True) -> None:
        try:
            if flush and self.stream is not None:
                self.container.mux(self.stream.encode(None))
        finally:
            self.container.close()

    def __enter__(self) -> SegmentWriter:  # noqa: PYI034 - py3.10 has no typing.Self
        return self

    def __exit__(self, kind: object, exc: object, tb: object) -> None:
        self.close(flush=kind is None)


def _muxer_options(fmt: str, time_base: Fraction) -> dict[str, str]:
    if fmt in ("mp4", "mov", "ipod"):  # keep the input's clock: mov would round pts to its own timescale
        return {"video_track_timescale": str(time_base.denominator)}
    return {}


def _encoder_options(codec: str, config: VideoConfig) -> dict[str, str]:
    if config.bitrate:  # an average rate: the encoder's rate control, no crf
        return {"preset": "medium", "bf": "0"} if codec in ("libx264", "libx265") else {}
    if codec in ("libx264", "libx265"):
        # no B-frames: pts == dts, so segments join without re-timing (files ~10% larger at equal crf)
        options = {"crf": str(config.crf), "preset": "medium", "bf": "0"}
        return {**options, "x265-params": "log-level=error"} if codec == "libx265" else options
    if codec.startswith("libvpx"):
        return {"crf": str(config.crf), "b": "0", "row-mt": "1"}
    return {}


def _to_frame(rgb: np.ndarray, width: int, height: int, palette: bool) -> Any:

    h, w = rgb.shape[:2]
    if (w, h) != (width, height):
        rgb = np.pad(rgb, ((0, height - h), (0, width - w), (0, 0)), mode="edge")
    if not palette:
        return av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
    return av.VideoFrame.from_ndarray(_paletted(rgb), format="pal8")


def _paletted(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """An adaptive 256-colour palette per frame (GIF), as PyAV's (index image, ARGB palette) pair."""

    img = Image.fromarray(rgb).quantize(256, dither=Image.Dither.NONE)
    colours = np.zeros((256, 3), np.uint8)
    flat = np.frombuffer(bytes(img.getpalette() or []), np.uint8)[: 256 * 3].reshape(-1, 3)
    colours[: len(flat)] = flat
    argb = np.concatenate([np.full((256, 1), 255, np.uint8), colours], axis=1)
    return np.asarray(img, np.uint8), argb


SEGMENT_FORMAT = "nut"  # FFmpeg's own container: any codec, timestamps kept exactly in the stream's time base
SEGMENT_SUFFIX = ".nut"


def container_format(path: Path) -> str:
    """FFmpeg's muxer name for an output file's extension."""
    suffix = path.suffix.lower()
    return {
        ".mkv": "matroska",
        ".m4v": "mp4",
        ".avi": "avi",
        ".webm": "webm",
        ".gif": "gif",
        ".mov": "mov",
        ".webp": "webp",
        ".nut": SEGMENT_FORMAT,
    }.get(suffix, "mp4")


# ---------------------------------------------------------------- joining


def join_segments(
    segments: Sequence[Path], dest: Path, info: VideoInfo, config: VideoConfig, note: str | None = None
) -> None:
    """Write ``dest`` (a temp path the caller renames) from the segment files plus the input's audio.

    Video packets are copied from the segments; audio packets from the input, cut to the
    ``start``/``duration`` window at packet boundaries and shifted like the video. No re-encoding.
    """

    fmt = container_format(dest)
    with contextlib.ExitStack() as stack:
        out = av.open(str(dest), "w", format=fmt, options=_muxer_options(fmt, info.time_base))
        stack.callback(out.close)
        if note and fmt != "gif":
            out.metadata[NOTE_KEY] = note
        sources = [stack.enter_context(_open_segment(path)) for path in segments]
        video_out = out.add_stream_from_template(sources[0].streams.video[0])
        video_out.time_base = info.time_base
        video_out.codec_context.framerate = info.fps  # else Matroska derives 1000 fps from its millisecond clock
        streams = [_video_packets(sources, video_out)]
        if info.has_audio and fmt not in ("gif", "webp"):
            audio_in = stack.enter_context(open_input(info.path))
            streams.append(_audio_packets(audio_in, out, config, dest))
        try:
            for _, packet in heapq.merge(*streams, key=lambda item: item[0]):
                out.mux(packet)
        except av.FFmpegError as exc:
            raise OutputError(
                f"{dest}: cannot write the joined video ({one_line(exc)})", "try another --ext, e.g. mkv"
            ) from exc


def segment_frames(path: Path) -> int | None:
    """How many video frames a finished segment file holds (its packets); None when it cannot be read."""

    try:
        with _open_segment(path) as source:
            stream = source.streams.video[0]
            return sum(1 for packet in source.demux(stream) if packet.pts is not None or packet.dts is not None)
    except (av.FFmpegError, OSError, IndexError, ValueError):
        return None


@contextlib.contextmanager
def _open_segment(path: Path) -> Iterator[Any]:

    container = av.open(str(path), "r")
    try:
        yield container
    finally:
        container.close()


def _video_packets(sources: Sequence[Any], stream: Any) -> Iterator[tuple[float, Any]]:
    for source in sources:
        for packet in source.demux(source.streams.video[0]):
            if packet.dts is None and packet.pts is None:
                continue  # the demuxer's end-of-stream marker
            packet.stream = stream
            yield float((packet.dts if packet.dts is not None else packet.pts) * packet.time_base), packet


def _audio_packets(source: Any, out: Any, config: VideoConfig, dest: Path) -> Iterator[tuple[float, Any]]:
    """The input's first audio stream, packet by packet, inside the start/duration window."""

    audio_in = source.streams.audio[0]
    try:
        audio_out = out.add_stream_from_template(audio_in)
    except (av.FFmpegError, ValueError) as exc:
        raise OutputError(
            f"{dest}: the audio ({audio_in.codec_context.name}) cannot go into this container",
            "choose another --ext, e.g. mkv",
        ) from exc
    tb = Fraction(audio_in.time_base)
    shift = round(config.start / tb) if config.start else 0
    for packet in source.demux(audio_in):
        if packet.pts is None:
            continue
        time = float(packet.pts * tb)
        if config.start and time < config.start or time >= config.end:
            continue  # without --start every packet stays, the encoder's priming ones (pts < 0) too
        packet.pts -= shift
        packet.dts = packet.dts - shift if packet.dts is not None else packet.pts
        packet.stream = audio_out
        yield float(packet.dts * tb), packet


def check_output_fits(info: VideoInfo, output: Path, config: VideoConfig, codec: str) -> None:
    """An OutputError now, before any frame is stylized, when ``codec`` or the input's audio cannot go
    into ``output``'s container (H.264 or AAC into .webm, Opus into .avi): one tiny frame and the
    first audio packet are muxed into a throwaway buffer."""

    fmt = container_format(output)
    try:
        with SegmentWriter(io.BytesIO(), fmt, info, config, codec) as writer:
            writer.write(np.zeros((16, 16, 3), np.uint8), 0)
    except (av.FFmpegError, OutputError, ValueError) as exc:
        raise OutputError(
            f"{info.path}: {codec} video cannot be written into a {output.suffix} file",
            "choose another --codec or --ext",
        ) from exc
    if info.has_audio and fmt not in ("gif", "webp"):
        with open_input(info.path) as source, av.open(io.BytesIO(), "w", format=fmt) as out:
            _check_audio(source, out, output, info.path)


def _check_audio(source: Any, out: Any, output: Path, path: Path) -> None:

    audio_in = source.streams.audio[0]
    try:
        audio_out = out.add_stream_from_template(audio_in)
        packet = next((p for p in source.demux(audio_in) if p.size), None)
        if packet is not None:
            packet.stream = audio_out
            out.mux(packet)
    except (av.FFmpegError, ValueError) as exc:
        raise OutputError(
            f"{path}: its audio ({audio_in.codec_context.name}) cannot be copied into a {output.suffix} file",
            "choose another --ext, e.g. mkv",
        ) from exc


def read_note(path: Path) -> str | None:
    """The job signature stored in an output video's tags (None when absent or unreadable)."""

    try:
        if path.suffix.lower() in ONE_PASS:
            return images.read_sidecar_note(path)  # no container tags
        with av.open(str(path), "r") as container:
            tags = {key.lower(): value for key, value in container.metadata.items()}
            return tags.get(NOTE_KEY)
    except (av.FFmpegError, OSError, ValueError):
        return None

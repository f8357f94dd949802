"""Reading and writing videos with PyAV: frames in, segments out, one file at the end.

    info = probe("clip.mp4")                               # size, fps, frames, rotation, audio
    for frame in read_frames("clip.mp4", start_s=2.0):     # upright RGB frames with their pts
        ...
    with SegmentWriter(tmp, "nut", info, config, codec) as writer:  # one segment of the output
        writer.write(rgb, pts)
    join_segments(segment_files, "out.mp4", info, config)  # + the input's audio, remuxed

Frames keep their timestamps (the output stream has the input's time base), rotation metadata is
applied to the pixels (outputs are upright, without a display matrix), and audio packets are copied
unchanged. Decoding uses demux + decode with a container that is always closed (breaking out of
``container.decode`` with frame threading on can hang PyAV). No torch here, and numpy and ``av``
are imported only when a video is read or written, so ``stylize --help`` stays fast.
"""

from __future__ import annotations

import contextlib
import functools
import heapq
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from stylize import images
from stylize.errors import InputError, OutputError, UsageError

if TYPE_CHECKING:
    import av.container
    import numpy as np

VIDEO_EXTENSIONS = frozenset({".mp4", ".mov", ".mkv", ".webm", ".avi", ".m4v"})
ANIMATED_IMAGES = frozenset({".gif", ".webp"})  # videos when they hold more than one frame
OUTPUT_EXTENSIONS = VIDEO_EXTENSIONS | ANIMATED_IMAGES  # an animated GIF/WebP in, an animated GIF/WebP out
ONE_PASS = ANIMATED_IMAGES  # written in one pass, not in segments: their packets do not stand alone
DEFAULT_CODEC = "libx264"  # H.264 plays everywhere
FALLBACK_CODEC = "mpeg4"  # FFmpeg's own encoder, for builds without libx264
CONTAINER_CODECS = {".webm": "libvpx-vp9", ".gif": "gif", ".webp": "libwebp_anim"}  # cannot hold H.264
EVEN_CODECS = frozenset({"libx264", "h264", "mpeg4", "libx265", "hevc"})  # yuv420p: even sizes only
NOTE_KEY = "comment"  # container tag that holds the job signature


@dataclass(frozen=True)
class VideoConfig:
    """Every video knob of ``stylize adain``/``fast``; the CLI reads its defaults from here."""

    temporal: float = 0.5  # 0 frame by frame .. 1 keep the previous frame: flow-guided blend (stylize.temporal)
    codec: str = ""  # "": libx264 (mpeg4 without it), libvpx-vp9 for .webm, gif for .gif
    crf: int = 18  # constant rate factor of libx264/vp9: 18 is visually lossless, +6 halves the size
    bitrate: str = ""  # "": --crf decides; e.g. 4M or 800k: an average bit rate instead (every encoder)
    start: float = 0.0  # seconds into the input where the output begins
    duration: float = 0.0  # seconds of input to stylize; 0: to the end
    segment_s: float = 10.0  # seconds of output per finished segment (what an interruption can lose)
    keep_size: bool = True  # frames keep the video's own size (images: --size, 512); False: --size was given

    def __post_init__(self) -> None:
        values = (self.temporal, self.start, self.duration, self.segment_s)
        if not all(math.isfinite(v) for v in values):
            raise UsageError("--temporal, --start and --duration must be finite numbers")
        if not 0.0 <= self.temporal <= 1.0:
            raise UsageError(f"--temporal must be between 0 and 1, not {self.temporal}")
        if not 0 <= self.crf <= 63:
            raise UsageError(f"--crf must be between 0 and 63, not {self.crf}")
        if self.bitrate:
            bits_per_s(self.bitrate)
        if self.start < 0 or self.duration < 0 or self.segment_s <= 0:
            raise UsageError("--start and --duration must be 0 or positive")
        if self.codec:
            check_codec(self.codec)

    @property
    def end(self) -> float:
        """Where the output ends in input seconds (inf: the end of the input)."""
        return self.start + self.duration if self.duration else math.inf


VIDEO_DEFAULTS = VideoConfig()


def check_codec(name: str) -> None:
    """A UsageError unless FFmpeg (as bundled with PyAV) has an encoder called ``name``."""
    import av

    try:
        av.codec.Codec(name, "w")
    except Exception:  # noqa: BLE001 - PyAV raises several types for an unknown codec
        raise UsageError(f"--codec {name}: no such video encoder here",
                         "try libx264, mpeg4, libvpx-vp9 or libx265") from None  # fmt: skip


# ---------------------------------------------------------------- what is a video


@functools.lru_cache(maxsize=4096)
def is_video(path: Path) -> bool:
    """A video container by extension, or a GIF or WebP with more than one frame."""
    suffix = path.suffix.lower()
    if suffix in VIDEO_EXTENSIONS:
        return True
    if suffix not in ANIMATED_IMAGES:
        return False
    from PIL import Image

    try:
        with Image.open(path) as img:
            return bool(getattr(img, "is_animated", False))
    except Exception:  # noqa: BLE001 - unreadable: the image path reports it properly
        return False


def check_output_kind(input_path: Path, output: Path, is_video_input: bool) -> None:
    """A video goes to a video container (or GIF), an image to an image format: else a UsageError."""
    suffix = output.suffix.lower()
    if is_video_input and suffix not in OUTPUT_EXTENSIONS:
        known = " ".join(sorted(s[1:] for s in OUTPUT_EXTENSIONS))
        raise UsageError(f"{input_path} is a video: it cannot be written as '{suffix or output.name}'",
                         f"use --ext with one of {known}, or leave --ext out")  # fmt: skip
    if not is_video_input and suffix in VIDEO_EXTENSIONS:
        raise UsageError(f"{input_path} is an image: it cannot be written as '{suffix}'",
                         "video --ext values apply to video inputs only; run images and videos separately")  # fmt: skip


# ---------------------------------------------------------------- reading


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
    import av

    if not path.is_file():
        raise InputError(f"{path}: no such file" if not path.exists() else f"{path}: not a regular file")
    try:
        container = av.open(str(path), "r")
    except (av.FFmpegError, UnicodeDecodeError, ValueError) as exc:
        raise InputError(f"{path}: cannot open video ({_reason(exc)})", "the file is damaged or not a video") from exc
    try:
        if not container.streams.video:
            raise InputError(f"{path}: has no video stream")
        yield container
    finally:
        container.close()


def _reason(exc: BaseException) -> str:
    text = getattr(exc, "strerror", None) or str(exc)
    return text.replace("\n", " ").split(": '")[0][:120]


def probe(path: Path) -> VideoInfo:
    """Size, frame rate, frame count, rotation and audio of a video (reads the header and one frame)."""
    if path.suffix.lower() == ".webp":
        return _probe_webp(path)
    with open_input(path) as container:
        stream = container.streams.video[0]
        fps = Fraction(stream.average_rate or stream.guessed_rate or 25)
        duration_s = _duration_s(container, stream)
        frames = stream.frames or round(duration_s * fps)
        first = next(_decoded(container, stream, path), None)
        if first is None:
            raise InputError(f"{path}: no frame could be decoded", "the file is damaged or incomplete")
        rotation = _rotation(first)
        width, height = (stream.height, stream.width) if rotation % 180 else (stream.width, stream.height)
        return VideoInfo(path, width, height, fps, Fraction(stream.time_base or Fraction(1, 1000)), int(frames),
                         duration_s, rotation, bool(container.streams.audio), stream.codec_context.name)  # fmt: skip


def _duration_s(container: Any, stream: Any) -> float:
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    return container.duration / 1_000_000 if container.duration else 0.0


def _rotation(frame: Any) -> int:
    try:
        return round(frame.rotation / 90.0) * 90
    except Exception:  # noqa: BLE001 - no display matrix
        return 0


def _decoded(container: Any, stream: Any, path: Path) -> Iterator[Any]:
    """The stream's frames: demux + decode (never ``container.decode``: see the module doc)."""
    import av

    try:
        for packet in container.demux(stream):
            yield from packet.decode()
    except av.FFmpegError as exc:
        raise InputError(f"{path}: cannot decode video ({_reason(exc)})", "the file is damaged or incomplete") from exc


def read_frames(path: Path, start_s: float = 0.0, end_s: float = math.inf, after_pts: int | None = None,
                threads: bool = True) -> Iterator[Frame]:  # fmt: skip
    """Upright RGB frames shown from ``start_s`` up to ``end_s``, after ``after_pts`` if given (resume).

    Seeks to the keyframe before the first wanted frame; frames before it are decoded and dropped,
    so a resumed read yields exactly the frames an uninterrupted one would. Closing the generator
    closes the file.
    """
    if path.suffix.lower() == ".webp":
        yield from _webp_frames(path, start_s, end_s, after_pts)
        return
    with open_input(path) as container:
        stream = container.streams.video[0]
        if threads:
            stream.thread_type = "AUTO"
        tb = Fraction(stream.time_base or Fraction(1, 1000))
        _seek(container, stream, start_s, after_pts, tb)
        index = 0
        for frame in _decoded(container, stream, path):
            pts = frame.pts if frame.pts is not None else index
            index += 1
            time = float(pts * tb)
            if time >= end_s:
                return
            if time < start_s or (after_pts is not None and pts <= after_pts):
                continue
            yield Frame(pts, time, _upright(frame))


WEBP_TIME_BASE = Fraction(1, 1000)  # animated WebP frames carry millisecond timestamps


def _webp_frames(path: Path, start_s: float, end_s: float, after_pts: int | None) -> Iterator[Frame]:
    """Frames of an animated WebP through Pillow (FFmpeg decodes only still WebP), pts in ms."""
    import numpy as np

    with _opened_webp(path) as img:
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
    from PIL import Image, UnidentifiedImageError

    if not path.is_file():
        raise InputError(f"{path}: no such file" if not path.exists() else f"{path}: not a regular file")
    try:
        with Image.open(path) as img:
            yield img
    except (OSError, UnidentifiedImageError, ValueError, EOFError) as exc:
        raise InputError(f"{path}: cannot decode animated WebP ({exc})", "the file is damaged or incomplete") from exc


def _probe_webp(path: Path) -> VideoInfo:
    with _opened_webp(path) as img:
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
    import numpy as np

    rgb = frame.to_ndarray(format="rgb24")  # (H, W, 3)
    quarter = (_rotation(frame) // 90) % 4
    return np.ascontiguousarray(np.rot90(rgb, quarter)) if quarter else rgb


# ---------------------------------------------------------------- writing segments


def codec_for(output: Path, config: VideoConfig) -> str:
    """The encoder: --codec, else the container's own (vp9, gif), else libx264, else mpeg4."""
    import av

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
        import av

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
        import av

        if self.stream is None:
            self._open_stream(rgb.shape[1], rgb.shape[0])
        frame = _to_frame(rgb, self.stream.width, self.stream.height, self.codec == "gif")
        frame.pts, frame.time_base = pts, self.info.time_base
        try:
            self.container.mux(self.stream.encode(frame))
        except av.FFmpegError as exc:
            raise OutputError(f"{self.path}: cannot encode with {self.codec} ({_reason(exc)})",
                              "try --codec mpeg4 or another --ext") from exc  # fmt: skip

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


def bits_per_s(text: str) -> int:
    """``--bitrate``: ``4M``, ``800k`` or a number of bits per second; anything else is a UsageError."""
    scale = {"k": 1_000, "m": 1_000_000}.get(text[-1:].lower(), 1)
    try:
        value = float(text[:-1] if scale > 1 else text) * scale
    except ValueError:
        value = 0.0
    if not math.isfinite(value) or value < 1_000:
        raise UsageError(f"--bitrate {text!r}: expected bits per second such as 4M or 800k (at least 1k)")
    return int(value)


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
    import av
    import numpy as np

    h, w = rgb.shape[:2]
    if (w, h) != (width, height):
        rgb = np.pad(rgb, ((0, height - h), (0, width - w), (0, 0)), mode="edge")
    if not palette:
        return av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
    return av.VideoFrame.from_ndarray(_paletted(rgb), format="pal8")


def _paletted(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """An adaptive 256-colour palette per frame (GIF), as PyAV's (index image, ARGB palette) pair."""
    import numpy as np
    from PIL import Image

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
    return {".mkv": "matroska", ".m4v": "mp4", ".avi": "avi", ".webm": "webm", ".gif": "gif", ".mov": "mov",
            ".webp": "webp", ".nut": SEGMENT_FORMAT}.get(suffix, "mp4")  # fmt: skip


# ---------------------------------------------------------------- joining


def join_segments(segments: Sequence[Path], dest: Path, info: VideoInfo, config: VideoConfig,
                  note: str | None = None) -> None:  # fmt: skip
    """Write ``dest`` (a temp path the caller renames) from the segment files plus the input's audio.

    Video packets are copied from the segments; audio packets from the input, cut to the
    ``start``/``duration`` window at packet boundaries and shifted like the video. No re-encoding.
    """
    import av

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
            raise OutputError(f"{dest}: cannot write the joined video ({_reason(exc)})",
                              "try another --ext, e.g. mkv") from exc  # fmt: skip


@contextlib.contextmanager
def _open_segment(path: Path) -> Iterator[Any]:
    import av

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
    import av

    audio_in = source.streams.audio[0]
    try:
        audio_out = out.add_stream_from_template(audio_in)
    except (av.FFmpegError, ValueError) as exc:
        raise OutputError(f"{dest}: the audio ({audio_in.codec_context.name}) cannot go into this container",
                          "choose another --ext, e.g. mkv") from exc  # fmt: skip
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
    import io

    import av
    import numpy as np

    fmt = container_format(output)
    try:
        with SegmentWriter(io.BytesIO(), fmt, info, config, codec) as writer:
            writer.write(np.zeros((16, 16, 3), np.uint8), 0)
    except (av.FFmpegError, OutputError, ValueError) as exc:
        raise OutputError(f"{info.path}: {codec} video cannot be written into a {output.suffix} file",
                          "choose another --codec or --ext") from exc  # fmt: skip
    if info.has_audio and fmt not in ("gif", "webp"):
        with open_input(info.path) as source, av.open(io.BytesIO(), "w", format=fmt) as out:
            _check_audio(source, out, output, info.path)


def _check_audio(source: Any, out: Any, output: Path, path: Path) -> None:
    import av

    audio_in = source.streams.audio[0]
    try:
        audio_out = out.add_stream_from_template(audio_in)
        packet = next((p for p in source.demux(audio_in) if p.size), None)
        if packet is not None:
            packet.stream = audio_out
            out.mux(packet)
    except (av.FFmpegError, ValueError) as exc:
        raise OutputError(f"{path}: its audio ({audio_in.codec_context.name}) cannot be copied into a "
                          f"{output.suffix} file", "choose another --ext, e.g. mkv") from exc  # fmt: skip


def read_note(path: Path) -> str | None:
    """The job signature stored in an output video's tags (None when absent or unreadable)."""
    import av

    try:
        if path.suffix.lower() in ONE_PASS:
            return images.note_sidecar(path).read_text(encoding="utf-8")  # no container tags
        with av.open(str(path), "r") as container:
            tags = {key.lower(): value for key, value in container.metadata.items()}
            return tags.get(NOTE_KEY)
    except (av.FFmpegError, OSError, ValueError):
        return None

"""Reading and writing videos with PyAV: frames in, segments out, one file at the end.

    info = probe("clip.mp4")                               # size, fps, frames, rotation, audio
    for frame in read_frames("clip.mp4", start_s=2.0):     # upright RGB frames with their pts
        ...
    with SegmentWriter(tmp, "nut", info, config, codec) as writer:  # one segment of the output
        writer.write(rgb, pts)
    join_segments(segment_files, "out.mp4", info, config)  # + the input's audio, remuxed

Frames keep their timestamps (the output stream has the input's time base), rotation metadata is
applied to the pixels (outputs are upright, without a display matrix), and audio packets are copied
unchanged. No torch here, and numpy and ``av`` are imported only when a video is read or written,
so ``stylize --help`` stays fast.

The rooms, each importing only the ones below it (``lint-imports`` keeps it so): ``writing``
(encoding, joining, the stored signature) -> ``reading`` (probing, decoding) -> ``config``
(:class:`VideoConfig`, what counts as a video).

Videos through a batch backend live here too, but this package face never imports them (they
import torch, numpy and cv2): ``run`` (:func:`~stylize.video.run.run_jobs`, the runner) ->
``pipeline`` (the decode and encode threads) -> ``segments`` (the work folder a rerun resumes
from), and ``temporal`` (optical flow, the ``--temporal`` stabiliser, the warping error).
"""

from stylize.video.config import (
    ANIMATED_IMAGES,
    ONE_PASS,
    OUTPUT_EXTENSIONS,
    VIDEO_DEFAULTS,
    VIDEO_EXTENSIONS,
    VideoConfig,
    bits_per_s,
    check_codec,
    check_output_kind,
    is_video,
)
from stylize.video.reading import WEBP_TIME_BASE, Frame, VideoInfo, open_input, probe, read_frames
from stylize.video.writing import (
    CONTAINER_CODECS,
    DEFAULT_CODEC,
    EVEN_CODECS,
    FALLBACK_CODEC,
    NOTE_KEY,
    SEGMENT_FORMAT,
    SEGMENT_SUFFIX,
    SegmentWriter,
    check_output_fits,
    codec_for,
    container_format,
    even_size,
    join_segments,
    read_note,
)

__all__ = [
    "ANIMATED_IMAGES",
    "CONTAINER_CODECS",
    "DEFAULT_CODEC",
    "EVEN_CODECS",
    "FALLBACK_CODEC",
    "NOTE_KEY",
    "ONE_PASS",
    "OUTPUT_EXTENSIONS",
    "SEGMENT_FORMAT",
    "SEGMENT_SUFFIX",
    "VIDEO_DEFAULTS",
    "VIDEO_EXTENSIONS",
    "WEBP_TIME_BASE",
    "Frame",
    "SegmentWriter",
    "VideoConfig",
    "VideoInfo",
    "bits_per_s",
    "check_codec",
    "check_output_fits",
    "check_output_kind",
    "codec_for",
    "container_format",
    "even_size",
    "is_video",
    "join_segments",
    "open_input",
    "probe",
    "read_frames",
    "read_note",
]

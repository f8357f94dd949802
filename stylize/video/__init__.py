"""Reading and writing videos with PyAV: frames in, segments out, one file at the end.

    info = probe("clip.mp4")                               # size, fps, frames, rotation, audio
    for frame in read_frames("clip.mp4", start_s=2.0):     # upright RGB frames with their pts
        ...
    with SegmentWriter(tmp, "nut", info, config, codec) as writer:  # one segment of the output
        writer.write(rgb, pts)
    join_segments(segment_files, "out.mp4", info, config)  # + the input's audio, remuxed

Frames keep their timestamps (the output stream has the input's time base), rotation metadata is
applied to the pixels (outputs are upright, without a display matrix), and audio packets are copied
unchanged. No torch here; ``reading`` and ``writing`` (numpy, ``av``) load when one of their names is
first used, so ``stylize --help`` stays fast.

The rooms, each importing only the ones below it (``lint-imports`` keeps it so): ``writing``
(encoding, joining, the stored signature) -> ``reading`` (probing, decoding) -> ``config``
(:class:`VideoConfig`, what counts as a video).

Videos through a batch backend live here too, but this package face never imports them (they
import torch, numpy and cv2): ``run`` (:func:`~stylize.video.run.run_jobs`, the runner) ->
``pipeline`` (the decode and encode threads) -> ``segments`` (the work folder a rerun resumes
from), and ``temporal`` (optical flow, the ``--temporal`` stabiliser, the warping error).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

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

# reading and writing import numpy and PyAV at their top: their names load on first use, so that
# `stylize --help` (which reaches this face through stylize.batch) never imports them
_LAZY = {
    "stylize.video.reading": ("WEBP_TIME_BASE", "Frame", "VideoInfo", "open_input", "probe", "read_frames"),
    "stylize.video.writing": (
        "CONTAINER_CODECS",
        "DEFAULT_CODEC",
        "EVEN_CODECS",
        "FALLBACK_CODEC",
        "NOTE_KEY",
        "SEGMENT_FORMAT",
        "SEGMENT_SUFFIX",
        "SegmentWriter",
        "check_output_fits",
        "codec_for",
        "container_format",
        "even_size",
        "join_segments",
        "read_note",
        "segment_frames",
    ),
}
_HOME = {name: module for module, names in _LAZY.items() for name in names}


def __getattr__(name: str) -> Any:
    """A reading or writing name, imported on first use (PEP 562)."""
    if name not in _HOME:
        raise AttributeError(f"module 'stylize.video' has no attribute '{name}'")
    value = getattr(importlib.import_module(_HOME[name]), name)
    globals()[name] = value
    return value


if TYPE_CHECKING:
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
        segment_frames,
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
    "segment_frames",
]

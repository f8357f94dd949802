"""The video flags of ``stylize adain``, ``fast`` and ``optimize`` (the "Video" help panel).

A command gets them all from :func:`video_params` and builds a :class:`~stylize.video.VideoConfig`
with :func:`video_config_from`::

    @with_params(..., video_params)
    def command(..., size: ..., **shared): video = video_config_from(shared, size)
"""

from __future__ import annotations

import inspect
from typing import Annotated, Any

import typer

from stylize.api import VIDEO_DEFAULTS as DEFAULTS
from stylize.api import VideoConfig
from stylize.cli.display import emit_json, emit_result

PANEL = "Video"

TemporalOption = Annotated[
    float,
    typer.Option(
        "--temporal",
        min=0.0,
        max=1.0,
        help="Flicker reduction: how much of the previous output frame, moved along the input's optical flow, "
        "is blended into each frame (0: frame by frame; scene cuts reset it).",
        rich_help_panel=PANEL,
    ),
]
CodecOption = Annotated[
    str,
    typer.Option(
        "--codec",
        help="Video encoder, e.g. libx264, mpeg4, libvpx-vp9, libx265.",
        show_default="libx264; vp9 for .webm",
        rich_help_panel=PANEL,
    ),
]
CrfOption = Annotated[
    int,
    typer.Option(
        "--crf", min=0, max=63, help="Quality of libx264/vp9: lower is better and bigger.", rich_help_panel=PANEL
    ),
]
BitrateOption = Annotated[
    str,
    typer.Option(
        "--bitrate",
        help="Average bit rate instead of --crf, e.g. 4M or 800k.",
        show_default="none: --crf",
        rich_help_panel=PANEL,
    ),
]
StartOption = Annotated[
    float, typer.Option("--start", min=0.0, help="Begin this many seconds into each video.", rich_help_panel=PANEL)
]
DurationOption = Annotated[
    float,
    typer.Option(
        "--duration", min=0.0, help="Stylize this many seconds of each video; 0: to the end.", rich_help_panel=PANEL
    ),
]


def video_params(
    temporal: TemporalOption = DEFAULTS.temporal,
    codec: CodecOption = DEFAULTS.codec,
    crf: CrfOption = DEFAULTS.crf,
    bitrate: BitrateOption = DEFAULTS.bitrate,
    start: StartOption = DEFAULTS.start,
    duration: DurationOption = DEFAULTS.duration,
) -> None:
    """The video options of every stylizing command, in help order (``shared_params.with_params``)."""


VIDEO_FLAGS = tuple(inspect.signature(video_params).parameters)  # named once, by the template


def video_config_from(shared: dict[str, object], size: int | None) -> VideoConfig:
    """A :class:`VideoConfig` from the video options in a command's ``**shared``; bad values raise
    UsageError. A video keeps its own frame size unless the command was given ``--size`` (images get
    512 then: :func:`stylize.cli.picture_options.image_size`)."""
    frame_size = 0 if size is None else size
    return VideoConfig(**{k: shared[k] for k in VIDEO_FLAGS}, frame_size=frame_size)  # type: ignore[arg-type]


def print_flicker(rows: list[Any], as_json: bool) -> None:
    """``stylize eval --video``: the input's own warping error, then each output's, on stdout."""
    if as_json:
        emit_json({"input": rows[0].to_json(), "outputs": [row.to_json() for row in rows[1:]]})
        return
    width = max(len(str(row.path)) for row in rows) + len(" (input)")
    styled = rows[0].style_distance is not None
    emit_result(f"{'video':<{width}}  {'warping error':>13}  {'pairs':>5}  {'compared':>8}" + ("    style" * styled))
    for index, row in enumerate(rows):
        name = f"{row.path} (input)" if index == 0 else str(row.path)
        style = f"  {row.style_distance:>7.4f}" if styled else ""
        emit_result(f"{name:<{width}}  {row.warping_error:>13.6f}  {row.pairs:>5}  {row.compared:>8.1%}{style}")

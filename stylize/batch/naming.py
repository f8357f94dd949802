"""The ``{variant}`` of an output's name: its style, then every setting that differs from the defaults.

A run at the defaults is named as it always was (``chelsea_adain_mosaic.jpg``); a run with other
pixel settings gets its own file (``chelsea_adain_mosaic_alpha0.9.jpg``), so trying a setting never
meets the output of another one. A blend says which style got which weight (``a@0.7+b@0.3``), a
masked run names its masks (``a+b_masks-fg``). The same settings always give the same name, so a
re-run finds its outputs and skips them::

    variant = run_variant(config, options, video, list(run.styles), run.blended)
    variant.render("mosaic", is_video=False)   # -> "mosaic_alpha0.9"

Torch-free: it reads only the configs' dataclass fields and their ``knob`` metadata.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from stylize.batch.options import BatchOptions

MAX_SETTINGS = 96  # characters of settings in one name at most (names stay well under 255 bytes); more: a digest
_VIDEO_UNNAMED = ("segment_s",)  # a video knob that changes no frame: the length of its resumable segments
_LABELS = {"frame_size": "size"}  # a video's --size, named as the images' is
_UNSAFE = re.compile(r"[^A-Za-z0-9.+-]")  # "_" separates settings; "@" is the blend label's; "/" and the rest never


@dataclasses.dataclass(frozen=True)
class Variant:
    """The settings part of a run's names, for its image jobs and for its video jobs."""

    image: tuple[str, ...] = ()  # "alpha0.9", "size1024", ...
    video: tuple[str, ...] = ()  # the same for videos, with the video knobs
    labels: Mapping[str, str] = dataclasses.field(default_factory=dict)  # style tag -> how the name shows it

    def render(self, style: str, is_video: bool = False) -> str:
        """``{variant}`` of one job: the style's label, then the settings, joined by ``_``."""
        return "_".join((self.labels.get(style, style), *_bounded(self.video if is_video else self.image)))


def run_variant(
    config: Any,
    options: BatchOptions | None = None,
    video: Any = None,
    tags: Sequence[str] = (),
    blended: bool = False,
) -> Variant:
    """The :class:`Variant` of one run of a method: ``config`` (a method's config dataclass), the batch
    options (``--quality``), the video knobs, and the run's style tags (a blend's weights go in its label)."""
    weights = getattr(config, "blend", None)
    labelled = blended and bool(weights) and len(weights) == len(tags)
    skip = ("blend",) if labelled else ()
    quality = [] if options is None or options.quality == BatchOptions().quality else [f"quality{options.quality}"]
    image = (*changed(config, skip), *quality)
    labels = {"+".join(tags): "+".join(f"{tag}@{_number(w, 3)}" for tag, w in zip(tags, weights))} if labelled else {}
    if video is None:
        return Variant(image, image, labels)
    # a video's frames take the video's own size or a given --size (frame_size), never the images' cap
    videos = (*changed(config, (*skip, "size")), *quality, *changed(video, _VIDEO_UNNAMED))
    return Variant(image, videos, labels)


def changed(config: Any, skip: Iterable[str] = ()) -> list[str]:
    """One label per field of ``config`` that differs from its class's default and changes pixels or
    names weights (``knob(..., pixels=...)``, ``weights=...``), in field order: ``alpha0.9``, ``crop``."""
    if config is None:
        return []
    defaults = type(config)()
    return [
        label(f.name, getattr(config, f.name))
        for f in dataclasses.fields(config)
        if f.name not in skip
        and (f.metadata.get("pixels", True) or f.metadata.get("weights", False))
        and getattr(config, f.name) != getattr(defaults, f.name)
    ]


def label(name: str, value: Any) -> str:
    """A setting as a piece of a file name: ``alpha0.9``, ``crop``, ``no-crop``, ``color-luminance``,
    ``decoder-my_decoder`` (a file by its stem), ``style-layers-relu1_1+relu2_1``."""
    key = _LABELS.get(name, name).replace("_", "-")
    if value is True or value is False:
        return key if value else f"no-{key}"
    if isinstance(value, (int, float)):
        return f"{key}{_number(value)}"
    if isinstance(value, (tuple, list)):
        return f"{key}-{'+'.join(_piece(v) for v in value)}"
    return f"{key}-{_piece(value)}"


def _piece(value: Any) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return _number(value)
    if value is None:
        return "none"
    text = str(value)
    if isinstance(value, Path) or "/" in text or Path(text).suffix.lower() in (".pth", ".pt", ".safetensors"):
        text = Path(text).stem  # a file: its stem (the signature holds its hash)
    return _UNSAFE.sub("-", text) or "-"


def _number(value: float, digits: int = 4) -> str:
    return f"{value:.{digits}g}"


def _bounded(parts: Sequence[str]) -> tuple[str, ...]:
    """``parts`` while they fit :data:`MAX_SETTINGS` characters; else those that fit and a digest of all."""
    if len("_".join(parts)) <= MAX_SETTINGS:
        return tuple(parts)
    digest = hashlib.sha256("_".join(parts).encode()).hexdigest()[:8]
    kept: list[str] = []
    for part in parts:
        if len("_".join([*kept, part])) > MAX_SETTINGS - len(digest) - 1:
            break
        kept.append(part)
    return (*kept, digest)

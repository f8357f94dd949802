"""The method seam: a :class:`Method` is one way of stylizing a picture, and :class:`MethodBackend`
is the one adapter that runs any method over a batch of files and over the frames of a video.

A method says how a decoded picture becomes its input (``prepare``), what it computes once per
style (``style_state``, cached here), and how a batch of equal-size inputs becomes outputs
(``run``: colour, masks and tiles are the method's business). A method that keeps state along a
video (AdaIN's smoothed content statistics) overrides ``begin_video`` and ``video_states``; every
other hook has a default. The batch engine (``stylize.batch``), the video runner
(``stylize.video.run``), ``stylize.api`` and the picture API (``stylize.image_api``) reach a
method only through this module.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, ClassVar, NamedTuple

import numpy as np
import torch
from torch import Tensor

from stylize import images, ops
from stylize.batch import BatchOptions, Job, SharedPictures, load_picture, save_result_image
from stylize.devices import resolve_device, tune_host_allocator
from stylize.errors import UsageError
from stylize.progress import Reporter

VideoState = dict[str, np.ndarray]  # a method's per-video state after one frame (saved with each segment)


@dataclass
class Prepared:
    """A decoded content picture at output size: (1, 3, H, W) in [0, 1], the picture (alpha, EXIF)
    for saving, and the style tag of its job."""

    tensor: Tensor
    picture: images.Picture
    style: str


@dataclass
class Batch:
    """Equal-size inputs of one style tag for :meth:`Method.run`; ``jobs`` are None in the picture API."""

    content: Tensor  # (B, 3, H, W) in [0, 1]
    items: list[Prepared]
    jobs: list[Job | None]

    @property
    def style(self) -> str:
        return self.items[0].style


Finish = Callable[[Tensor], Tensor]  # (B, 3, H, W) -> (B, 3, H, W): the last step, one output at a time


class Stylized(NamedTuple):
    """What :meth:`Method.run` returns: the outputs, per output what ``save_extra`` writes beside it,
    and a last step that needs no model (``finish``, the palette's recolouring): a batch runs it on the
    I/O thread that saves each output, beside the next batch's model; a video frame at once."""

    images: Tensor  # (B, 3, H, W), [0, 1] after clamping
    extras: Sequence[Any] | None = None
    finish: Finish | None = None  # a pure function of one output (B == 1) as well as of the batch


class Result(NamedTuple):
    """One output on its way to ``save``: the image first (the video runner reads ``[0]``, finished)."""

    image: Tensor  # (3, H, W)
    picture: images.Picture
    extra: Any = None
    finish: Finish | None = None  # still to run on ``image``: :meth:`final`

    def final(self) -> Tensor:
        """The output as saved: (3, H, W), ``finish`` run on it."""
        return self.image if self.finish is None else self.finish(self.image[None])[0]


class Method:
    """One stylizing method. Subclasses set ``name`` and implement ``prepare``, ``style_state`` and ``run``.

    ``load(tags)`` runs once a batch knows it has work, before the first image: load networks
    there, so a bad weights file stops the batch and a fully resumed batch loads nothing.
    """

    name: ClassVar[str]
    batchable: ClassVar[bool] = True  # equal-size inputs of one style may share a ``run`` call
    reporter: Reporter

    def prepare(self, picture: images.Picture, size: int | None = None) -> images.Picture:
        """A decoded picture (an image or a video frame) at output size; ``size`` overrides the config's."""
        raise NotImplementedError

    def style_state(self, tag: str, reference: Tensor | None) -> Any:
        """What one output in style ``tag`` needs of its style (features, a network, pictures).

        ``reference`` is the picture the style is recoloured to when ``follows_content`` (a video's
        first frame, else the content itself), None otherwise. Cached by the adapter."""
        raise NotImplementedError

    def run(self, batch: Batch, state: Any) -> Stylized:
        """Main thread: stylize ``batch.content`` with ``state``."""
        raise NotImplementedError

    @property
    def follows_content(self) -> bool:
        """The style state depends on the content's colours (``--color match`` on the style)."""
        return False

    def load(self, tags: Sequence[str]) -> None:
        """Load what the styles ``tags`` need (networks) before the first image."""

    def begin_video(self, temporal: float, resumed: VideoState | None) -> None:
        """A video starts (``temporal``: --temporal), carrying on from ``resumed`` after a Ctrl-C."""

    def end_video(self) -> None:
        """The video ended or failed: drop its state."""

    def video_states(self) -> list[VideoState] | None:
        """The per-video state after each frame of the last ``run`` (saved with the video's segments)."""
        return None

    def save_extra(self, job: Job, extra: Any) -> None:
        """I/O thread: write what an output's ``extra`` asks for beside it (loss plots)."""


@dataclass
class MethodBackend:
    """Any :class:`Method` as a batch backend (``stylize.batch.BatchBackend``) and a video backend
    (``stylize.batch.VideoBackend``): style states cached per style tag (and per video reference)."""

    method: Method
    options: BatchOptions = field(default_factory=BatchOptions)
    _states: dict[Hashable, Any] = field(default_factory=dict)
    _reference: Tensor | None = None  # a video's first frame, once begin_video says so

    # I/O thread
    def load(self, job: Job) -> Prepared:
        return self.prepare(load_picture(job, self.options), job.style)

    def prepare(self, picture: images.Picture, style: str, size: int | None = None) -> Prepared:
        """A decoded picture as the method's input; ``size`` overrides the config's (video frames)."""
        pic = self.method.prepare(picture, size)
        return Prepared(images.to_tensor(pic.rgb), pic, style)

    def group_key(self, prepared: Prepared) -> Hashable:
        if not self.method.batchable:
            return id(prepared)
        return (prepared.style, tuple(prepared.tensor.shape))

    def load_model(self, todo: Sequence[Job]) -> None:
        """Before the first job: the method loads what the styles with work need."""
        self.method.load(list(dict.fromkeys(job.style for job in todo)))

    # main thread
    def process(self, jobs: Sequence[Job | None], loaded: Sequence[Prepared]) -> list[Result]:
        batch = Batch(torch.cat([item.tensor for item in loaded]), list(loaded), list(jobs))
        out = self.method.run(batch, self._state(batch))
        extras = out.extras if out.extras is not None else [None] * len(loaded)
        outputs, finish = out.images.cpu(), out.finish
        if finish is not None and self._reference is not None:  # a video reads its frames as they come back
            outputs, finish = finish(outputs), None
        return [Result(img, item.picture, extra, finish) for img, item, extra in zip(outputs.unbind(0), loaded, extras)]

    def _state(self, batch: Batch) -> Any:
        reference = None
        if self.method.follows_content:
            reference = self._reference if self._reference is not None else batch.content[:1]
        key = (batch.style, None if reference is None else hashlib.sha1(reference.numpy().tobytes()).hexdigest())
        if key not in self._states:
            self._states[key] = self.method.style_state(batch.style, reference)
        return self._states[key]

    # I/O thread
    def save(self, job: Job, result: Result) -> None:
        pic = result.picture
        # differs from pytorch/examples because it truncates to uint8; to_pil rounds (at most 1/255 apart)
        save_result_image(
            job, images.to_pil(result.final()), pic.alpha, pic.exif, self.options, srgb_profile=pic.had_icc
        )
        if result.extra is not None:
            self.method.save_extra(job, result.extra)

    # video hooks (main thread)
    def begin_video(self, first: Prepared | None, temporal: float = 0.0, resumed: VideoState | None = None) -> None:
        """Per-video state: the style follows the video's first frame (not each frame: a per-frame
        target would flicker and re-encode the style every frame); ``first`` None ends the video."""
        self._reference = first.tensor if first is not None else None
        if first is None:
            self.method.end_video()
        else:
            self.method.begin_video(temporal, resumed)

    def video_states(self) -> list[VideoState] | None:
        return self.method.video_states()

    # the picture API
    def one(self, picture: images.Picture, style: str) -> Tensor:
        """Stylize one decoded picture in style ``style``: (3, H, W) in [0, 1]."""
        (result,) = self.process([None], [self.prepare(picture, style)])
        return result.final()


# ---------------------------------------------------------------- what api.stylize plans before it builds a method


@dataclass(frozen=True)
class MethodPlan:
    """What one run of a method reads besides its content files, decided before any work.

    ``styles`` maps each style tag to its style file, or for fast to the model spec; ``blended``
    runs give one output per content using every style (the tag is ``combined_tag``)."""

    styles: dict[str, Any]  # tag -> Path or StorePath (a style picture) or str (a fast model spec)
    blended: bool = False
    shared: tuple[Path, ...] = ()  # pictures every job reads: decoded once, before any model loads
    protected: tuple[Path, ...] = ()  # files no output may be (styles, masks, model files)
    weights: dict[str, str] = field(default_factory=dict)  # role -> weights_id, for the job signature

    @property
    def tags(self) -> list[str]:
        """The style tags of the jobs: one per style, or the combined tag of a blend."""
        return [combined_tag(list(self.styles))] if self.blended else list(self.styles)

    def style_inputs(self, tag: str) -> tuple[list[Path], str | None]:
        """(style files, model spec) that a job in style ``tag`` reads, for its signature."""
        if self.blended:
            return list(self.styles.values()), None
        source = self.styles[tag]
        return ([], source) if isinstance(source, str) else ([source], None)  # a Path or a URL's StorePath


@dataclass
class Palette:
    """``--palette``: outputs recoloured toward the painting's whole colour distribution
    (:func:`stylize.ops.palette_lut`), one lookup table per output, estimated from the output itself.

    ``samples`` are the styles' pixels (N, 3) (:func:`stylize.ops.pixel_sample`); a blend draws from
    each by its ``weights``, masks give each region its own style's table. Along a video the table
    keeps ``keep`` of the previous frame's (``--temporal``), so the colours do not flicker."""

    samples: list[Tensor]
    strength: float
    weights: Sequence[float] | None = None
    keep: float = 0.0
    tables: list[Tensor] = field(default_factory=list)  # the last frame's, when keep > 0
    trail: list[list[Tensor]] = field(default_factory=list)  # the tables after each frame of the last call

    def __call__(self, out: Tensor, masks: Tensor | None = None) -> Tensor:
        """``out`` (B, 3, H, W) recoloured; ``masks`` (K, H', W'), one per sample, any size."""
        if not self.active:
            return out
        planes = None if masks is None else torch.nn.functional.interpolate(masks[None].float(), out.shape[-2:])[0]
        if self.keep:
            self.trail = []
        frames = [self._one(image, planes) for image in out.split(1)]
        return torch.cat(frames)

    @property
    def active(self) -> bool:
        """On, with colours to match (styles made by hand as targets have none)."""
        return bool(self.strength and self.samples)

    def later(self, masks: Tensor | None = None) -> Finish | None:
        """This recolouring as a :data:`Finish` (``masks`` bound), for :class:`Stylized` to run off the main
        thread; None when off or when it must run now, in frame order: a video's tables chain (``keep``)."""
        if not self.active or self.keep:
            return None
        self.knots if masks is None else self.each_knots  # noqa: B018 - computed here, once, not on an I/O thread
        return functools.partial(self, masks=masks)

    def _one(self, image: Tensor, planes: Tensor | None) -> Tensor:
        image = image.float().clamp(0.0, 1.0)  # the colours as saved: a decoder's overshoot is clipped anyway
        cells = None if self.keep else ops.lut_cells(image)  # a kept table recolours later frames: all of it
        if planes is None:
            tables = [ops.palette_lut(ops.pixel_sample(image), self.knots, cells)]
        else:
            samples = [ops.pixel_sample(image, where=p) for p in planes]
            tables = [ops.palette_lut(s, k, cells) for s, k in zip(samples, self.each_knots)]
        if self.keep and len(self.tables) == len(tables):
            tables = [torch.lerp(new, old, self.keep) for new, old in zip(tables, self.tables)]
        if self.keep:
            self.tables = tables
            self.trail.append(tables)
        looked = [ops.apply_lut(image, t, self.strength) for t in tables]
        if planes is None:
            return looked[0]
        share = planes.to(image.device)
        total = share.sum(0, keepdim=True)
        mixed = sum(w * x for w, x in zip(share, looked)) / total.clamp_min(1e-6)
        return torch.where(total > 0, mixed, image).contiguous()

    @functools.cached_property
    def knots(self) -> Tensor:
        """The target's quantiles (ops.palette_knots): one style's, or every blended style's by its share."""
        if len(self.samples) == 1:
            return ops.palette_knots(self.samples[0])
        shares = self.weights or [1.0 / len(self.samples)] * len(self.samples)
        weights = [torch.full((len(s),), w / len(s)) for w, s in zip(shares, self.samples)]
        return ops.palette_knots(torch.cat(self.samples), torch.cat(weights))

    @functools.cached_property
    def each_knots(self) -> list[Tensor]:
        """Each style's own quantiles, for masks (each region its own style's colours)."""
        return [ops.palette_knots(s) for s in self.samples]

    def state(self, frame: int) -> VideoState:
        """What resuming a video after ``frame`` of the last call needs (empty when nothing is kept)."""
        return {"palette": torch.stack(self.trail[frame]).numpy()} if frame < len(self.trail) else {}

    def resume(self, state: VideoState | None) -> None:
        if state and "palette" in state:
            self.tables = list(torch.from_numpy(state["palette"]).unbind(0))


def combined_tag(tags: Sequence[str]) -> str:
    """The {style} tag of an output that blends several styles."""
    return "+".join(tags)


def check_blend(weights: Sequence[float] | None, styles: dict[str, Any]) -> None:
    """``--blend`` needs one weight per style, each 0 or more, not all 0 (a negative weight pushes away
    from a style: no blend of them)."""
    if weights and len(weights) != len(styles):
        raise UsageError(f"--blend has {len(weights)} values for {len(styles)} styles")
    if weights and (min(weights) < 0 or not sum(weights) > 0):
        raise UsageError(f"--blend weights must be 0 or more and not all 0, not {','.join(map(str, weights))}")


def start(
    backend: ModuleType,
    config: Any,
    run: MethodPlan,
    device: str | None,
    options: BatchOptions,
    reporter: Reporter,
    pictures: SharedPictures,
) -> MethodBackend:
    """The Method that ``backend`` (a method package: ``plan``, ``build``) builds for ``run`` on ``device``
    (None: the best there is), wrapped as the batch and video backend of a run with ``options``.

    On a CPU the process keeps freed buffers for reuse (:func:`stylize.devices.tune_host_allocator`, as
    the trainers do): a 512² image's 32 MiB activations otherwise come from a fresh mmap each time and
    page-fault in again, 10% of `stylize adain`'s model time (BENCHMARKS.md)."""
    where = resolve_device(device)
    if where.type == "cpu":
        tune_host_allocator()
    method = backend.build(config, run, where, options.max_pixels, reporter, pictures)
    return MethodBackend(method, options)

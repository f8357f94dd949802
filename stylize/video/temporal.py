"""Temporal consistency of stylized video: optical flow, warping, occlusion, and the flicker metric.

Flow is DIS optical flow (OpenCV) computed on the *input* frames, which are stable, never on the
stylized ones, and at most :data:`FLOW_SIDE` px on the long side (upscaled afterwards: fast, and
style textures are coarser than that anyway). A pixel is occluded when the forward and backward
flows disagree (Sundaram et al. 2010, the check Ruder et al. 2016 use for video style transfer).

* :class:`Stabilizer` (``--temporal``): blend the previous stylized frame, warped onto the current
  one, into the current stylized frame wherever it is not occluded; a scene cut (most pixels
  occluded) resets it.
* :func:`warping_error`: the flicker metric of ``stylize eval --video``: mean squared difference
  between stylized frame t and stylized frame t-1 warped onto t, over unoccluded pixels (RGB in [0, 1]).

numpy and cv2 only; loaded when a video runs (:mod:`stylize.video.run`), never by ``stylize --help``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

FLOW_SIDE = 320  # px: flow is computed at most at this long side, then upscaled
CUT_SHARE = 0.5  # more occluded pixels than this: a scene cut, the blend starts again
CHECK_RELATIVE = 0.01  # forward-backward check: |f + b|^2 <= 0.01 (|f|^2 + |b|^2) + 0.5 (Sundaram et al.)
CHECK_ABSOLUTE = 0.5  # px^2 at flow resolution


@dataclass
class FlowField:
    """Where each pixel of the current frame was in the previous one, and which pixels are occluded."""

    flow: np.ndarray  # (H, W, 2) float32: current pixel (x, y) came from (x, y) + flow
    occluded: np.ndarray  # (H, W) bool

    @property
    def occluded_share(self) -> float:
        return float(self.occluded.mean())


@dataclass
class FlowEstimator:
    """DIS optical flow between two RGB frames of equal size, with an occlusion mask."""

    side: int = FLOW_SIDE
    _dis: Any = field(default=None, repr=False)

    def __call__(self, current: np.ndarray, previous: np.ndarray) -> FlowField:
        """Backward flow (current -> previous) at the frames' full size, (H, W, 3) uint8 each."""
        if self._dis is None:
            self._dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
        cur, scale = _small_gray(current, self.side)
        prev, _ = _small_gray(previous, self.side)
        backward = self._dis.calc(cur, prev, None)  # (h, w, 2)
        forward = self._dis.calc(prev, cur, None)
        occluded = _occlusion(backward, forward)
        return _upscaled(backward, occluded, current.shape[:2], scale)


def _small_gray(rgb: np.ndarray, side: int) -> tuple[np.ndarray, float]:
    """Grey frame with its long side at most ``side``, and the factor it was shrunk by."""
    gray = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY)
    scale = min(1.0, side / max(gray.shape))
    if scale < 1.0:
        size = (max(1, round(gray.shape[1] * scale)), max(1, round(gray.shape[0] * scale)))
        gray = cv2.resize(gray, size, interpolation=cv2.INTER_AREA)
    return gray, scale


def _occlusion(backward: np.ndarray, forward: np.ndarray) -> np.ndarray:
    """Pixels whose backward flow is not undone by the forward flow where it lands, or that land outside."""
    forward_there = warp(forward, backward)
    round_trip = np.square(backward + forward_there).sum(-1)
    magnitude = np.square(backward).sum(-1) + np.square(forward_there).sum(-1)
    inconsistent = round_trip > CHECK_RELATIVE * magnitude + CHECK_ABSOLUTE
    return inconsistent | _outside(backward)


def _outside(flow: np.ndarray) -> np.ndarray:
    h, w = flow.shape[:2]
    xs, ys = _grid(h, w)
    x, y = xs + flow[..., 0], ys + flow[..., 1]
    return (x < 0) | (x > w - 1) | (y < 0) | (y > h - 1)


def _grid(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    return xs, ys


def _upscaled(flow: np.ndarray, occluded: np.ndarray, shape: tuple[int, ...], scale: float) -> FlowField:
    if scale >= 1.0:
        return FlowField(flow, occluded)
    h, w = shape[0], shape[1]
    big = cv2.resize(flow, (w, h), interpolation=cv2.INTER_LINEAR) / scale
    mask = cv2.resize(occluded.astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST).astype(bool)
    return FlowField(big.astype(np.float32), mask)


def warp(image: np.ndarray, flow: np.ndarray, sharp: bool = False) -> np.ndarray:
    """``image`` sampled at (x, y) + flow(x, y): the previous frame moved onto the current one
    (bilinear; ``sharp``: bicubic, which blurs less when warps are chained frame after frame)."""
    xs, ys = _grid(*flow.shape[:2])
    mode = cv2.INTER_CUBIC if sharp else cv2.INTER_LINEAR
    return cv2.remap(image, xs + flow[..., 0], ys + flow[..., 1], mode, borderMode=cv2.BORDER_REPLICATE)


# ---------------------------------------------------------------- stabilising


@dataclass
class Stabilizer:
    """``--temporal``: each output frame is ``(1 - s) * stylized + s * warped previous output`` where the
    flow holds (unoccluded pixels), the stylized frame alone elsewhere and after a scene cut.

    Differs from Ruder et al. 2016 (a temporal loss inside the optimisation) because feed-forward
    methods have no optimisation to put it in: a flow-guided blend is the post-hoc equivalent.
    The state (previous input and output frame) is two uint8 arrays, saved with each segment so a
    resumed run continues exactly.
    """

    strength: float
    flow: FlowEstimator = field(default_factory=FlowEstimator)
    cut_share: float = CUT_SHARE
    previous: tuple[np.ndarray, np.ndarray] | None = None  # (input, output) of the last frame, uint8
    cuts: int = 0  # scene cuts seen (resets)

    def __call__(self, content: np.ndarray, stylized: np.ndarray) -> np.ndarray:
        """The output frame for ``stylized`` (H, W, 3) uint8, made from input frame ``content`` (same size)."""
        out = self._blend(content, stylized)
        self.previous = (content, out)
        return out

    def _blend(self, content: np.ndarray, stylized: np.ndarray) -> np.ndarray:
        if self.strength <= 0 or self.previous is None or self.previous[0].shape != content.shape:
            return stylized
        field_ = self.flow(content, self.previous[0])
        if field_.occluded_share > self.cut_share:
            self.cuts += 1
            return stylized
        warped = warp(self.previous[1], field_.flow, sharp=True).astype(np.float32)
        weight = (self.strength * ~field_.occluded)[..., None].astype(np.float32)  # (H, W, 1)
        mixed = stylized.astype(np.float32) * (1.0 - weight) + warped * weight
        return np.clip(np.rint(mixed), 0, 255).astype(np.uint8)


# ---------------------------------------------------------------- measuring


def warping_error(
    inputs: tuple[np.ndarray, np.ndarray], outputs: tuple[np.ndarray, np.ndarray], flow: FlowEstimator
) -> tuple[float, float]:
    """(mean squared error in [0, 1] RGB, share of pixels compared) between output frame t and output
    frame t-1 warped onto t with the flow of the input frames (t-1, t); occluded pixels left out."""
    (in_prev, in_cur), (out_prev, out_cur) = inputs, outputs
    if in_cur.shape != out_cur.shape:
        in_prev, in_cur = (_resized(a, out_cur.shape) for a in (in_prev, in_cur))
    field_ = flow(in_cur, in_prev)
    valid = ~field_.occluded
    if not valid.any():
        return 0.0, 0.0
    diff = out_cur.astype(np.float32) / 255.0 - warp(out_prev, field_.flow).astype(np.float32) / 255.0
    return float(np.square(diff[valid]).mean()), float(valid.mean())


def _resized(rgb: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    return cv2.resize(rgb, (shape[1], shape[0]), interpolation=cv2.INTER_AREA)

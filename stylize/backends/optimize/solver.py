"""The optimisation of ``stylize optimize`` at one scale: the objective, the coarse-to-fine schedule
and the optimisers (L-BFGS without line search, Adam with iterate averaging). Pure tensor work on a
loss network: no files, no printing.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from stylize import ops
from stylize.config import OptimizeConfig
from stylize.devices import autocast
from stylize.losses import Moments, W2Target, content_loss, gram_loss, meanstd_loss, moments, positions, w2_loss
from stylize.models.loss_net import LossNet
from stylize.ops import normalised_weights

# a coarse scale runs at most this many times the final scale's iterations. 1: every scale runs
# --iterations. Differs from crowsonkb (more at coarse scales) because a 128 px iteration costs 1/4
# of a 512 px one on a 2-core CPU, not 1/16: with 4x there, the coarse scales took 80% of the time
# and the run tied a single-scale run of equal wall clock; with 1x it wins (BENCHMARKS.md)
MAX_BOOST = 1
MIN_SIDE = 32  # px: coarser scales than this are skipped (deep layers would be 2x2 or less)
LBFGS_MEMORY = 1 << 30  # bytes of L-BFGS history at most; fewer pairs are kept at large sizes
ADAM_AVERAGE_DECAY = 0.99  # crowsonkb's iterate averaging for Adam
RESTART_RISE = 1.5  # L-BFGS restarts from the best image (history dropped) when the loss rises past this x best

# ---------------------------------------------------------------- the objective at one scale


@dataclass
class Targets:
    """What one scale's objective matches: content features and blended style moments per layer."""

    content: dict[str, Tensor]  # layer -> (1, C, H, W) float32
    style: dict[str, Moments]


class Objective:
    """Weighted content + style + TV loss of an image at one scale."""

    def __init__(self, net: LossNet, targets: Targets, config: OptimizeConfig, precision: str = "fp32") -> None:
        self.net, self.targets, self.config, self.precision = net, targets, config, precision
        self.content_w = dict(
            zip(config.content_layers, normalised_weights(config.content_layer_weights, len(config.content_layers)))
        )
        self.style_w = dict(
            zip(config.style_layers, normalised_weights(config.style_layer_weights, len(config.style_layers)))
        )
        self.layers = list(dict.fromkeys([*config.content_layers, *config.style_layers]))
        kind = config.style_loss
        self.w2 = {k: W2Target.of(m) for k, m in targets.style.items()} if kind == "w2" else {}

    def __call__(self, image: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        """(total, {"content", "style", "tv"}) for ``image`` (1, 3, H, W)."""
        device = image.device
        with autocast(device, self.precision):
            feats = self.net.features(image, self.layers)
        content = sum(w * content_loss(feats[k], self.targets.content[k]) for k, w in self.content_w.items())
        style = sum(w * self._style(k, feats[k]) for k, w in self.style_w.items())
        tv = ops.tv_loss(image)
        cfg = self.config
        parts = {"content": cfg.content_weight * content, "style": cfg.style_weight * style, "tv": cfg.tv_weight * tv}
        return sum(parts.values()), parts  # type: ignore[return-value]

    def _style(self, layer: str, feat: Tensor) -> Tensor:
        m, kind = moments(feat), self.config.style_loss
        if kind == "w2":
            return w2_loss(m, self.w2[layer], positions(feat))
        if kind == "meanstd":
            return meanstd_loss(m, self.targets.style[layer])
        return gram_loss(m, self.targets.style[layer])


# ---------------------------------------------------------------- schedule


def scale_sides(long_side: int, config: OptimizeConfig) -> list[int]:
    """Long sides of the scales, smallest first, ending at ``long_side``."""
    factor = config.scale_factor
    if config.scales:
        count = config.scales
    elif long_side > config.min_size:
        count = 1 + math.floor(math.log(long_side / config.min_size) / math.log(factor) + 1e-9)
    else:
        count = 1
    sides = {round(long_side / factor**k) for k in range(count)}
    return sorted(s for s in sides if s >= MIN_SIDE or s == long_side)


def scale_shapes(width: int, height: int, config: OptimizeConfig) -> list[tuple[int, int]]:
    """(W, H) of every scale for an output of ``width`` x ``height``, aspect ratio kept."""
    long_side = max(width, height)
    return [
        (max(1, round(width * s / long_side)), max(1, round(height * s / long_side)))
        for s in scale_sides(long_side, config)
    ]


def scale_iterations(iterations: int, shapes: Sequence[tuple[int, int]]) -> list[int]:
    """Iterations per scale: the final scale gets ``iterations``, a k times smaller one k times more
    up to MAX_BOOST times (1 by default: the same number everywhere)."""
    final = max(shapes[-1])
    return [math.ceil(iterations * min(MAX_BOOST, final / max(shape))) for shape in shapes]


# ---------------------------------------------------------------- optimisers


Step = Callable[[int, Tensor, float, dict[str, float]], None]  # (iteration, image, loss, parts)


def _floats(parts: Mapping[str, Tensor]) -> dict[str, float]:
    return {k: float(v.detach()) for k, v in parts.items()}


def lbfgs_history(numel: int, wanted: int) -> int:
    """Correction pairs to keep: ``wanted``, fewer when they would pass LBFGS_MEMORY."""
    return max(5, min(wanted, LBFGS_MEMORY // (2 * 4 * numel)))


def run_lbfgs(
    objective: Objective, image: Tensor, iterations: int, history: int, on_step: Step, deadline: float | None = None
) -> Tensor:
    """L-BFGS without line search (as Gatys' and neural-style's); returns the best image evaluated.

    Every point is clamped to [0, 1] before it is evaluated (the PyTorch tutorial's projection),
    so the image returned is the one whose loss was measured: left unconstrained, pixels drift
    outside [0, 1] and the final clamp undid most of the style match (measured at 512² on the
    benchmark's network: loss 0.13 before the clamp, 0.97 after). Projected steps without a line
    search can diverge after a while, so when the loss rises past ``RESTART_RISE`` times the best,
    the run restarts from the best image with an empty history. Stops early once
    ``time.monotonic()`` passes ``deadline`` (for equal-time comparisons).
    """
    x = image.detach().clone(memory_format=torch.contiguous_format).requires_grad_(True)  # LBFGS views grads flat
    opt = torch.optim.LBFGS(
        [x],
        lr=1.0,
        max_iter=1,
        history_size=lbfgs_history(x.numel(), history),
        tolerance_grad=0.0,
        tolerance_change=0.0,
    )
    best: list[Any] = [math.inf, x.detach().clone()]
    state: dict[str, Any] = {}

    def closure() -> Tensor:
        with torch.no_grad():  # differs from Gatys/neural-style (clamp once at the end): see the docstring
            x.clamp_(0, 1)
        opt.zero_grad(set_to_none=True)
        loss, parts = objective(x)
        loss.backward()
        state["loss"], state["parts"] = float(loss.detach()), parts
        if state["loss"] < best[0]:
            best[0], best[1] = state["loss"], x.detach().clone()
        return loss

    for i in range(iterations):
        opt.step(closure)
        on_step(i, x.detach(), state["loss"], _floats(state["parts"]))
        if deadline is not None and time.monotonic() > deadline:
            break
        if not state["loss"] <= RESTART_RISE * best[0]:  # diverging (or NaN): start again from the best point
            with torch.no_grad():
                x.copy_(best[1])
            opt.state.clear()
    return best[1]


class AdamRun:
    """Adam with a box constraint and iterate averaging; its state carries across scales (crowsonkb)."""

    def __init__(self, learning_rate: float) -> None:
        self.learning_rate = learning_rate
        self.state: dict[str, Tensor] | None = None

    def run(self, objective: Objective, image: Tensor, iterations: int, on_step: Step) -> Tensor:
        x = image.detach().clone().requires_grad_(True)
        opt = torch.optim.Adam([x], lr=self.learning_rate)
        self._restore(opt, x)
        average, weight = torch.zeros_like(x), 0.0
        for i in range(iterations):
            opt.zero_grad(set_to_none=True)
            loss, parts = objective(x)
            loss.backward()
            opt.step()
            with torch.no_grad():
                x.clamp_(0, 1)
                weight = weight * ADAM_AVERAGE_DECAY + (1 - ADAM_AVERAGE_DECAY)
                average.mul_(ADAM_AVERAGE_DECAY).add_(x, alpha=1 - ADAM_AVERAGE_DECAY)
            on_step(i, x.detach(), float(loss.detach()), _floats(parts))
        self.state = {k: v for k, v in opt.state[x].items() if torch.is_tensor(v)}
        return average / weight

    def _restore(self, opt: torch.optim.Adam, x: Tensor) -> None:
        """Warm-start at a new size: moments resized like the image (crowsonkb's scale_adam)."""
        if self.state is None:
            return
        size = tuple(x.shape[-2:])
        exp_avg = F.interpolate(self.state["exp_avg"], size, mode="bicubic", align_corners=False)
        exp_avg_sq = F.interpolate(self.state["exp_avg_sq"], size, mode="bilinear", align_corners=False).relu_()
        opt.state[x] = {"step": self.state["step"], "exp_avg": exp_avg, "exp_avg_sq": exp_avg_sq}

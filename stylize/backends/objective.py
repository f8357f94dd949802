"""The Gatys loss on a VGG-19 and its L-BFGS solver, shared by ``stylize optimize`` (its whole
coarse-to-fine run) and ``stylize adain --refine`` (a few iterations at the output's size, started
from the feed-forward picture). Tensor work on a loss network: no printing; the network's file is
resolved through the weights registry.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from stylize import ops
from stylize.checkpoints import load_state
from stylize.config import OptimizeConfig, vgg_source
from stylize.devices import autocast
from stylize.losses import Moments, W2Target, blend, content_loss, gram_loss, meanstd_loss, moments, positions, w2_loss
from stylize.models.loss_net import LossNet, build_loss_net
from stylize.ops import normalised_weights
from stylize.progress import Reporter
from stylize.weights import resolve

LBFGS_MEMORY = 1 << 30  # bytes of L-BFGS history at most; fewer pairs are kept at large sizes
RESTART_RISE = 1.5  # L-BFGS restarts from the best image (history dropped) when the loss rises past this x best
REFINE = OptimizeConfig()  # --refine's loss: stylize optimize's default layers and weights

# ---------------------------------------------------------------- the network and its targets


def load_loss_net(
    vgg: str,
    layers: Sequence[str],
    pooling: str = "max",
    device: torch.device | None = None,
    reporter: Reporter | None = None,
) -> LossNet:
    """The VGG-19 named by ``vgg`` (normalised, torchvision, registry name or file), cut after ``layers``."""
    path = resolve(vgg_source(vgg), reporter)
    return build_loss_net(load_state(path), layers, pooling, device or torch.device("cpu"), str(path))


def content_targets(
    net: LossNet, content: Tensor, layers: Sequence[str], device: torch.device, precision: str
) -> dict[str, Tensor]:
    """Features (1, C, H, W) float32 of ``content`` at ``layers``: what the content term matches."""
    with torch.no_grad(), autocast(device, precision):
        feats = net.features(content.to(device), layers)
    return {k: v.float() for k, v in feats.items()}


def style_moments(
    net: LossNet, style: Tensor, layers: Sequence[str], device: torch.device, precision: str
) -> dict[str, Moments]:
    """Moments of ``style`` (1, 3, H, W) at ``layers``: what the style term matches."""
    with torch.no_grad(), autocast(device, precision):
        feats = net.features(style.to(device), layers)
        return {k: moments(v) for k, v in feats.items()}


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


# ---------------------------------------------------------------- L-BFGS


Step = Callable[[int, Tensor, float, dict[str, float]], None]  # (iteration, image, loss, parts)


def as_floats(parts: Mapping[str, Tensor]) -> dict[str, float]:
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
        on_step(i, x.detach(), state["loss"], as_floats(state["parts"]))
        if deadline is not None and time.monotonic() > deadline:
            break
        if not state["loss"] <= RESTART_RISE * best[0]:  # diverging (or NaN): start again from the best point
            with torch.no_grad():
                x.copy_(best[1])
            opt.state.clear()
    return best[1]


# ---------------------------------------------------------------- --refine


def refine(
    net: LossNet,
    image: Tensor,
    content: Tensor,
    styles: Sequence[tuple[Tensor, float]],
    iterations: int,
    precision: str = "fp32",
    config: OptimizeConfig = REFINE,
    on_step: Step | None = None,
) -> Tensor:
    """``image`` (1, 3, H, W) after ``iterations`` of L-BFGS on the Gatys loss, ``content``
    (1, 3, H, W) its photo at that size and ``styles`` the style pictures with their blend weights,
    weighed as ``config`` says (``stylize optimize``'s defaults). Returns the best image evaluated,
    in [0, 1], on the network's device."""
    device = next(net.parameters()).device
    per_style = [style_moments(net, s, config.style_layers, device, precision) for s, _ in styles]
    weights = normalised_weights([w for _, w in styles], len(styles))
    blended = {k: blend([p[k] for p in per_style], weights) for k in config.style_layers}
    targets = Targets(content_targets(net, content, config.content_layers, device, precision), blended)
    objective = Objective(net, targets, config, precision)
    start = image.detach().float().clamp(0, 1).to(device)
    return run_lbfgs(objective, start, iterations, config.lbfgs_history, on_step or (lambda *_: None))

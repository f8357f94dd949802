"""The coarse-to-fine schedule of ``stylize optimize`` and its Adam optimiser (with iterate
averaging); the objective and L-BFGS are :mod:`stylize.backends.objective`, shared with
``adain --refine``. Pure tensor work on a loss network: no files, no printing.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from stylize.backends.objective import Objective, Step, as_floats
from stylize.config import OptimizeConfig

# a coarse scale runs at most this many times the final scale's iterations. 1: every scale runs
# --iterations. Differs from crowsonkb (more at coarse scales) because a 128 px iteration costs 1/4
# of a 512 px one on a 2-core CPU, not 1/16: with 4x there, the coarse scales took 80% of the time
# and the run tied a single-scale run of equal wall clock; with 1x it wins (BENCHMARKS.md)
MAX_BOOST = 1
MIN_SIDE = 32  # px: coarser scales than this are skipped (deep layers would be 2x2 or less)
ADAM_AVERAGE_DECAY = 0.99  # crowsonkb's iterate averaging for Adam

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
            on_step(i, x.detach(), float(loss.detach()), as_floats(parts))
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

"""stylize.progress: the time left of a task whose steps cost unequal time (optimize's scales)."""

from __future__ import annotations

import pytest

from stylize.config import OptimizeConfig
from stylize.progress import WorkClock


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_the_estimate_counts_pixels_times_iterations_and_does_not_jump_between_scales() -> None:
    from stylize.backends.optimize.model import iteration_work  # lazy: torch
    from stylize.backends.optimize.solver import scale_iterations, scale_shapes  # lazy: torch

    shapes = scale_shapes(512, 384, OptimizeConfig())  # 5 scales, 128 px to 512 px
    counts = scale_iterations(60, shapes)
    total_s = 240.0
    work = [iteration_work(shape) for shape in shapes]  # as measured: pixels plus a fixed part
    seconds_per_pixel = total_s / sum(c * p for c, p in zip(counts, work))
    clock = Clock()
    estimate = WorkClock(sum(c * p for c, p in zip(counts, work)), clock)
    clock.now = 30.0  # loading the networks and the style targets: not a rate to extrapolate
    by_work, by_count, steps = [], [], 0
    for count, pixels in zip(counts, work):
        for _ in range(count):
            clock.now += pixels * seconds_per_pixel  # an iteration costs its scale's pixels
            steps += 1
            left = estimate.step(pixels)
            by_work.append(None if left is None else clock.now + left)
            by_count.append((clock.now - 30.0) / steps * sum(counts) + 30.0)
    assert by_work[0] is None  # the first step starts the clock
    assert by_work[1:] == pytest.approx([30.0 + total_s] * (len(by_work) - 1))  # the true end, throughout
    assert min(by_count) < 0.7 * (30.0 + total_s)  # counting iterations: far too early at first, then jumping


def test_the_clock_starts_at_the_first_step() -> None:
    clock = Clock()
    estimate = WorkClock(100, clock)
    clock.now = 50.0  # setup before the first step
    assert estimate.step(10) is None
    assert estimate.step(0) is None  # no time, no work: no rate yet
    clock.now = 52.0
    assert estimate.step(10) == pytest.approx(16.0)  # 2 s for 10 units, 80 to go

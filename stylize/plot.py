"""Small Pillow-only drawings for training runs: loss curves and image grids (no matplotlib).

    series = loss_series(entries, ("loss", "content", "style"))   # from the JSON-lines loss log
    save_loss_plot(series, "run/loss.png", log_y=True)
    grid = image_grid(tiles, columns=3)                             # equal cells, padded

Plots are drawn at twice their size and scaled down, which smooths lines and text.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from stylize.images import save_image

Point = tuple[float, float]
Series = Mapping[str, Sequence[Point]]
RGB = tuple[int, int, int]

# matplotlib's "tab10" colours: distinct, and readable on white
PALETTE: tuple[RGB, ...] = (
    (31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
    (140, 86, 75), (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207),
)  # fmt: skip
SUPERSAMPLE = 2
MARGINS = (78, 34, 24, 50)  # left, top, right, bottom, in output pixels
AXIS, GRID, TEXT, WHITE = (60, 60, 60), (225, 225, 225), (30, 30, 30), (255, 255, 255)


# ---------------------------------------------------------------- ticks


def nice_step(span: float, count: int) -> float:
    """The step of 1, 2, 2.5 or 5 x 10^k that cuts ``span`` into nearest ``count`` intervals."""
    magnitude = 10.0 ** math.floor(math.log10(span / max(count, 1)))
    steps = [m * magnitude for m in (1.0, 2.0, 2.5, 5.0, 10.0)]
    return min(steps, key=lambda step: abs(span / step - count))


def nice_ticks(lo: float, hi: float, count: int = 5, inside: bool = False) -> list[float]:
    """Round tick values for [lo, hi]: covering it (first <= lo, last >= hi), or only ``inside`` it."""
    lo, hi = _widen(lo, hi)
    step = nice_step(hi - lo, count)
    if inside:
        first, last = math.ceil(lo / step - 1e-9), math.floor(hi / step + 1e-9)
    else:
        first, last = math.floor(lo / step + 1e-9), math.ceil(hi / step - 1e-9)
    return [_clean(k * step) for k in range(first, last + 1)]


def log_ticks(lo: float, hi: float) -> list[float]:
    """Decades covering [lo, hi] (both > 0), with 2x and 5x ticks when the span is short."""
    first, last = math.floor(math.log10(lo)), math.ceil(math.log10(hi))
    last = max(last, first + 1)
    mantissas = (1.0, 2.0, 5.0) if last - first <= 2 else (1.0,)
    ticks = [_clean(m * 10.0**e) for e in range(first, last) for m in mantissas]
    ticks.append(_clean(10.0**last))
    if len(mantissas) > 1:  # trim to the data, keeping one tick each side of it
        below = [t for t in ticks if t <= lo]
        above = [t for t in ticks if t >= hi]
        ticks = [t for t in ticks if below[-1] <= t <= above[0]]
    return ticks


def _widen(lo: float, hi: float) -> tuple[float, float]:
    if hi > lo:
        return lo, hi
    pad = abs(lo) * 0.5 or 1.0  # a flat line: give it some room
    return lo - pad, hi + pad


def _clean(value: float) -> float:
    return float(f"{value:.12g}")  # 0.30000000000000004 -> 0.3


def tick_label(value: float) -> str:
    """Short text for a tick: 0.003 -> '0.003', 160000 -> '160k', 1e-05 -> '1e-05'."""
    if value != 0 and (abs(value) < 1e-3 or abs(value) >= 1e7):
        return f"{value:.3g}"
    if abs(value) >= 1e4 and value % 1000 == 0:
        return f"{value / 1000:g}k"
    return f"{value:.6g}"


# ---------------------------------------------------------------- data


def loss_series(
    entries: Iterable[Mapping[str, float]], keys: Sequence[str], x_key: str = "iteration"
) -> dict[str, list[Point]]:
    """One (x, value) list per key from log entries; entries lacking a key are skipped for it."""
    series: dict[str, list[Point]] = {key: [] for key in keys}
    for entry in entries:
        for key in keys:
            if key in entry and x_key in entry:
                series[key].append((float(entry[x_key]), float(entry[key])))
    return series


def _finite(points: Sequence[Point], log_y: bool) -> list[Point]:
    return [(x, y) for x, y in points if math.isfinite(x) and math.isfinite(y) and (y > 0 or not log_y)]


# ---------------------------------------------------------------- drawing


class _Axes:
    """Maps data to pixel coordinates inside the plot box (y possibly in log10)."""

    def __init__(
        self, box: tuple[int, int, int, int], x_range: tuple[float, float], y_ticks: list[float], log_y: bool
    ) -> None:
        self.box, self.log_y = box, log_y
        self.x0, self.x1 = x_range
        self.x_ticks = nice_ticks(self.x0, self.x1, 6, inside=True)
        self.y_ticks = y_ticks
        self.y0, self.y1 = self._ty(y_ticks[0]), self._ty(y_ticks[-1])

    def _ty(self, y: float) -> float:
        return math.log10(y) if self.log_y else y

    def px(self, x: float, y: float) -> tuple[float, float]:
        left, top, right, bottom = self.box
        fx = (x - self.x0) / ((self.x1 - self.x0) or 1.0)
        fy = (self._ty(y) - self.y0) / ((self.y1 - self.y0) or 1.0)
        return left + fx * (right - left), bottom - fy * (bottom - top)


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow without FreeType: the fixed bitmap font
        return ImageFont.load_default()


def _make_axes(series: Series, box: tuple[int, int, int, int], log_y: bool) -> _Axes:
    points = [p for pts in series.values() for p in pts]
    xs, ys = [x for x, _ in points] or [0.0, 1.0], [y for _, y in points] or [1.0]
    y_ticks = log_ticks(min(ys), max(ys)) if log_y else nice_ticks(min(ys), max(ys), 5)
    return _Axes(box, _widen(min(xs), max(xs)), y_ticks, log_y)


def _draw_frame(draw: ImageDraw.ImageDraw, axes: _Axes, font: ImageFont.ImageFont, s: int) -> None:
    left, top, right, bottom = axes.box
    for x in axes.x_ticks:
        px, _ = axes.px(x, axes.y_ticks[0])
        draw.line([(px, top), (px, bottom)], fill=GRID, width=s)
        draw.text((px, bottom + 6 * s), tick_label(x), fill=TEXT, font=font, anchor="mt")
    for y in axes.y_ticks:
        _, py = axes.px(axes.x_ticks[0], y)
        draw.line([(left, py), (right, py)], fill=GRID, width=s)
        draw.text((left - 6 * s, py), tick_label(y), fill=TEXT, font=font, anchor="rm")
    draw.rectangle(axes.box, outline=AXIS, width=s)


def _draw_lines(draw: ImageDraw.ImageDraw, axes: _Axes, series: Series, s: int) -> None:
    for index, points in enumerate(series.values()):
        colour = PALETTE[index % len(PALETTE)]
        pixels = [axes.px(x, y) for x, y in points]
        if len(pixels) == 1:
            (px, py), r = pixels[0], 3 * s
            draw.ellipse((px - r, py - r, px + r, py + r), fill=colour)
        elif pixels:
            draw.line(pixels, fill=colour, width=2 * s, joint="curve")


def _draw_legend(
    draw: ImageDraw.ImageDraw, axes: _Axes, names: Sequence[str], font: ImageFont.ImageFont, s: int
) -> None:
    _, top, right, _ = axes.box
    line_h = 16 * s
    width = max((draw.textlength(name, font=font) for name in names), default=0) + 34 * s
    x0, y0 = right - width - 8 * s, top + 8 * s
    draw.rectangle((x0, y0, right - 8 * s, y0 + line_h * len(names) + 6 * s), fill=WHITE, outline=GRID, width=s)
    for index, name in enumerate(names):
        y = y0 + 3 * s + line_h * index + line_h / 2
        draw.line([(x0 + 6 * s, y), (x0 + 24 * s, y)], fill=PALETTE[index % len(PALETTE)], width=2 * s)
        draw.text((x0 + 30 * s, y), name, fill=TEXT, font=font, anchor="lm")


def draw_loss_curves(
    series: Series,
    size: tuple[int, int] = (800, 480),
    *,
    log_y: bool = False,
    title: str | None = None,
    x_label: str = "iteration",
) -> Image.Image:
    """A line chart, one line per series, with ticks, grid, legend and optional log-scale y.

    Non-finite points (and, on a log scale, points <= 0) are left out; if nothing positive is
    left for a log scale, the chart falls back to a linear one.
    """
    cleaned = {name: _finite(points, log_y) for name, points in series.items()}
    if log_y and not any(cleaned.values()):
        return draw_loss_curves(series, size, log_y=False, title=title, x_label=x_label)
    s = SUPERSAMPLE
    img = Image.new("RGB", (size[0] * s, size[1] * s), WHITE)
    draw, font = ImageDraw.Draw(img), _font(11 * s)
    left, top, right, bottom = (m * s for m in MARGINS)
    axes = _make_axes(cleaned, (left, top, img.width - right, img.height - bottom), log_y)
    _draw_frame(draw, axes, font, s)
    _draw_lines(draw, axes, cleaned, s)
    _draw_legend(draw, axes, list(cleaned), font, s)
    draw.text((img.width / 2, img.height - 8 * s), x_label, fill=TEXT, font=font, anchor="md")
    heading = (title or "") + ("  (log scale)" if log_y else "")
    draw.text((img.width / 2, top / 2), heading.strip(), fill=TEXT, font=_font(13 * s), anchor="mm")
    return img.resize(size, Image.Resampling.LANCZOS)


def save_loss_plot(series: Series, path: str | os.PathLike[str], **kwargs: object) -> Path:
    """Draw ``series`` (see :func:`draw_loss_curves`) and write it as a PNG, atomically."""
    return save_image(draw_loss_curves(series, **kwargs), path, overwrite=True)  # type: ignore[arg-type]


# ---------------------------------------------------------------- grids


def image_grid(tiles: Sequence[Image.Image], columns: int, padding: int = 2, background: RGB = WHITE) -> Image.Image:
    """Tiles in rows of ``columns``, each centred in a cell the size of the largest tile.

    Size: ``columns * cell_w + (columns + 1) * padding`` by ``rows * cell_h + (rows + 1) * padding``.
    """
    if not tiles or columns < 1:
        raise ValueError("image_grid needs at least one tile and one column")
    cell_w, cell_h = max(t.width for t in tiles), max(t.height for t in tiles)
    rows = math.ceil(len(tiles) / columns)
    size = (columns * cell_w + (columns + 1) * padding, rows * cell_h + (rows + 1) * padding)
    grid = Image.new("RGB", size, background)
    for index, tile in enumerate(tiles):
        row, col = divmod(index, columns)
        x = padding + col * (cell_w + padding) + (cell_w - tile.width) // 2
        y = padding + row * (cell_h + padding) + (cell_h - tile.height) // 2
        grid.paste(tile.convert("RGB"), (x, y))
    return grid

"""Contact sheets: rows of pictures, each with a caption under it (``eval --sheet``, the gallery)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from stylize.files import atomic_path
from stylize.images import resize_to

Cell = tuple[Image.Image, str]  # picture, caption (may hold a newline)
PAD = 6
LINE = 15  # px per caption line
BACKGROUND = (255, 255, 255)
INK = (20, 20, 20)


def _font() -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=12)
    except (TypeError, OSError):  # Pillow without FreeType: the fixed bitmap font
        return ImageFont.load_default()


def _fit(img: Image.Image, height: int, max_width: int) -> Image.Image:
    scale = min(height / img.height, max_width / img.width)
    return resize_to(img.convert("RGB"), (max(1, round(img.width * scale)), max(1, round(img.height * scale))))


def contact_sheet(rows: Sequence[Sequence[Cell]], height: int = 192, max_width: int = 288) -> Image.Image:
    """One row per sequence of cells; each picture scaled to ``height`` (at most ``max_width`` wide)."""
    lines = max((caption.count("\n") + 1 for row in rows for _, caption in row), default=1)
    fitted = [[(_fit(img, height, max_width), caption) for img, caption in row] for row in rows]
    row_h = height + lines * LINE + 2 * PAD
    width = max((sum(img.width + PAD for img, _ in row) + PAD for row in fitted), default=PAD)
    sheet = Image.new("RGB", (width, max(1, row_h * len(fitted))), BACKGROUND)
    draw, font = ImageDraw.Draw(sheet), _font()
    for r, row in enumerate(fitted):
        x, y = PAD, r * row_h + PAD
        for img, caption in row:
            sheet.paste(img, (x, y + (height - img.height) // 2))
            for i, text in enumerate(caption.split("\n")):
                draw.text((x, y + height + 2 + i * LINE), _clip(draw, text, img.width, font), fill=INK, font=font)
            x += img.width + PAD
    return sheet


def _clip(draw: ImageDraw.ImageDraw, text: str, width: int, font: object) -> str:
    """Shorten ``text`` with an ellipsis until it fits ``width`` px."""
    while text and draw.textlength(text, font=font) > width:  # type: ignore[arg-type]
        text = text[:-2] + "…" if len(text) > 2 else ""
    return text


def save_sheet(sheet: Image.Image, path: Path) -> Path:
    """Write atomically as PNG or JPEG (by extension)."""
    with atomic_path(path) as tmp:
        fmt = "JPEG" if path.suffix.lower() in (".jpg", ".jpeg") else "PNG"
        sheet.save(tmp, format=fmt, **({"quality": 90} if fmt == "JPEG" else {}))
    return path

"""A photo in every shipped fast-style model and every given style, on one labelled sheet (``stylize sheet``).

Each tile is made at a preview size by the picture API (:mod:`stylize.image_api`: the same methods,
configs and checks as the commands), so choosing a style takes seconds, and each tile comes with the
command that makes it at the usual size::

    result = style_sheet(Path("photo.jpg"), {"mosaic": Path("mosaic.png")}, Path("sheet.jpg"), shipped_models(), 320)
    for tile in result.tiles:
        print(tile.command)          # stylize fast photo.jpg -m great-wave ...
"""

from __future__ import annotations

import shlex
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from stylize import images
from stylize.backends.fast import list_models
from stylize.errors import OutputError, UsageError
from stylize.files import same_file
from stylize.image_api import Stylizer
from stylize.progress import NullReporter, Reporter
from stylize.sheet import contact_sheet, save_sheet

COLUMNS = 4  # tiles per row: the photo and the three shipped models fill the first
SHEET_SUFFIXES = (".jpg", ".jpeg", ".png")


@dataclass(frozen=True)
class Tile:
    """One picture of the sheet: its caption and the command that makes it at the usual size."""

    label: str  # "photo", "fast great-wave", "adain mosaic"
    method: str  # "fast" or "adain"; "" for the photo itself
    style: str  # the model name, or the style image's path
    command: str  # "" for the photo itself

    def to_json(self) -> dict[str, str]:
        return {"label": self.label, "method": self.method, "style": self.style, "command": self.command}


@dataclass(frozen=True)
class SheetResult:
    """What ``stylize sheet`` made: the sheet file, its tiles in order, the seconds it took."""

    path: Path
    tiles: list[Tile]
    seconds: float

    def to_json(self) -> dict[str, object]:
        return {"sheet": str(self.path), "seconds": round(self.seconds, 2), "tiles": [t.to_json() for t in self.tiles]}


def shipped_models() -> list[str]:
    """The fast-style models that come with the install (no download), in the registry's order."""
    return [entry.name for entry in list_models() if entry.source == "bundled"]


def default_output(photo: Path) -> Path:
    """``stylized/PHOTO-STEM_sheet.jpg``: beside the other outputs, never beside the photo."""
    return Path("stylized") / f"{photo.stem}_sheet.jpg"


def style_sheet(
    photo: Path,
    styles: dict[str, Path],
    output: Path,
    models: Sequence[str],
    size: int,
    device: str | None = None,
    reporter: Reporter | None = None,
) -> SheetResult:
    """The photo, then the photo in each fast model (``models``) and each style (AdaIN at its defaults),
    all at ``size`` px on the long side, labelled, written atomically to ``output`` (.jpg or .png)."""
    started, reporter = time.monotonic(), reporter or NullReporter()
    check_output(output, [photo, *styles.values(), *(Path(m) for m in models)])
    if size < 16:
        raise UsageError(f"--size must be at least 16 px for a sheet, not {size}")
    preview = images.resize_long_side(images.open_image(photo).rgb, size, upscale=False)
    stylizer = Stylizer(device)
    cells: list[tuple[Image.Image, str]] = [(preview, "photo")]
    tiles = [Tile("photo", "", str(photo), "")]
    reporter.start("sheet", total=len(models) + len(styles), unit="tile", transient=True)
    try:
        for model in models:
            tiles.append(Tile(f"fast {_model_label(model)}", "fast", model, _command("fast", photo, "-m", model)))
            cells.append((stylizer.fast(preview, model, size=size), tiles[-1].label))
            reporter.advance("sheet", 1)
        for tag, path in styles.items():
            tiles.append(Tile(f"adain {tag}", "adain", str(path), _command("adain", photo, str(path))))
            cells.append((stylizer.adain(preview, path, size=size, style_size=size), tiles[-1].label))
            reporter.advance("sheet", 1)
    finally:
        reporter.finish("sheet")
    rows = [cells[i : i + COLUMNS] for i in range(0, len(cells), COLUMNS)]
    save_sheet(contact_sheet(rows, height=preview.height, max_width=preview.width), output)
    return SheetResult(output, tiles, time.monotonic() - started)


def check_output(output: Path, inputs: Sequence[Path]) -> None:
    """A sheet is a .jpg or .png (exit 2) and never one of the files it is made from (exit 3)."""
    if output.suffix.lower() not in SHEET_SUFFIXES:
        raise UsageError(f"-o {output}: a sheet is written as .jpg or .png", f"e.g. -o {output.with_suffix('.jpg')}")
    for path in inputs:
        if same_file(output, path):
            raise OutputError(f"{output}: would overwrite {path}, which this command reads", "choose another -o")


def _model_label(model: str) -> str:
    return Path(model).stem if Path(model).suffix else model


def _command(method: str, photo: Path, *args: str) -> str:
    """The command line that makes a tile at the usual size (512 px; ``--size 0`` keeps the photo's)."""
    return shlex.join(["stylize", method, str(photo), *args])

"""The picture flags every stylizing command shares, with one meaning everywhere.

``--size`` caps the output's long side (never upscaling unless ``--upscale``), ``--color`` keeps
the content's colours the same way in adain, fast and optimize (``--preserve-color`` is short for
``--color luminance``), ``--precision`` picks the arithmetic. Defaults come from :mod:`stylize.config`.
"""

from __future__ import annotations

from typing import Annotated

import typer

from stylize.config import COLOR_MODES, DEFAULT_SIZE, PALETTE_HELP, PRECISIONS
from stylize.errors import UsageError

PANEL = "Picture"
SIZE_HELP = (
    f"Long side of the output, at most, in px (default {DEFAULT_SIZE}; videos keep their own size unless "
    "given): larger inputs are shrunk, smaller ones kept as they are (--upscale enlarges them); 0 keeps "
    "every input's size."
)

SizeOption = Annotated[int | None, typer.Option(min=0, help=SIZE_HELP, show_default=False, rich_help_panel=PANEL)]


def image_size(size: int | None) -> int:
    """``--size`` for images: the default cap when not given."""
    return DEFAULT_SIZE if size is None else size


UpscaleOption = Annotated[
    bool, typer.Option("--upscale", help="Enlarge inputs smaller than --size to it.", rich_help_panel=PANEL)
]
ColorOption = Annotated[
    str,
    typer.Option(
        help="Keep the content's colours: none; luminance (only brightness is stylized, colours stay "
        "exactly); match (the result is recoloured toward the content's colours). "
        f"One of {', '.join(COLOR_MODES)}.",
        rich_help_panel=PANEL,
    ),
]
PaletteOption = Annotated[
    float | None,
    typer.Option(min=0.0, max=1.0, help=PALETTE_HELP, show_default=False, rich_help_panel=PANEL),
]
PreserveColorOption = Annotated[
    bool, typer.Option("--preserve-color", help="Short for --color luminance.", rich_help_panel=PANEL)
]
PrecisionOption = Annotated[
    str,
    typer.Option(
        help=f"{', '.join(PRECISIONS)}: auto is bf16 where the hardware runs it natively, else fp32.",
        rich_help_panel=PANEL,
    ),
]


def resolve_color(color: str, preserve_color: bool, ctx: typer.Context | None = None) -> str:
    """``--color``, with ``--preserve-color`` read as ``--color luminance``; ``ctx`` tells a ``--color
    none`` that was typed (a contradiction) from the default."""
    if not preserve_color:
        return color
    source = ctx.get_parameter_source("color") if ctx is not None else None  # typer's own click: by name
    typed = source is not None and source.name != "DEFAULT"
    if color != "luminance" and (color != "none" or typed):
        raise UsageError(
            f"--preserve-color means --color luminance; it conflicts with --color {color}", "give one of them"
        )
    return "luminance"

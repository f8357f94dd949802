"""``stylize eval``: style and content distance of stylized images, and a contact sheet."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from stylize import api
from stylize.cli.app import app, settings
from stylize.cli.display import emit_json, emit_result
from stylize.cli.video_options import print_flicker
from stylize.errors import UsageError


@app.command("eval")
def eval_(
    ctx: typer.Context,
    outputs: Annotated[list[str] | None, typer.Argument(help="Stylized images or folders.", show_default=False)] = None,
    content: Annotated[
        list[str] | None,
        typer.Option("--content", "-c", help="Content image(s) or folder; repeatable.", show_default=False),
    ] = None,
    style: Annotated[
        list[str] | None,
        typer.Option("--style", "-s", help="Style image(s) or folder; repeatable.", show_default=False),
    ] = None,
    report: Annotated[
        Path | None, typer.Option(help="A run's --json report: match outputs to inputs by it.", show_default=False)
    ] = None,
    sheet: Annotated[
        Path | None,
        typer.Option(
            help="Write a contact sheet (content | style | outputs, numbers under each), .png or .jpg.",
            show_default=False,
        ),
    ] = None,
    vgg: Annotated[
        str | None,
        typer.Option(
            help="Feature network (default: the bundled VGG-19; keep it for comparable numbers).", show_default=False
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output on stdout.")] = False,
    video: Annotated[
        Path | None,
        typer.Option(
            "--video",
            metavar="INPUT",
            help="Measure the flicker of the OUTPUTS (videos) made from this input video: warping error "
            "(with -s: also the frames' mean style distance).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Measure outputs: style distance (Gram, relu1_1…relu5_1), content distance (relu4_2), patch
    distance (Lab colour patches against the style) and structure distance (relu3_1 self-similarity).

    Lower is closer for all four. Outputs are matched to their content and style by name
    ({stem}_{method}_{style}, the default output name) or by --report. The README defines both numbers.
    """
    state = settings(ctx)
    if video is not None:
        if style and len(style) > 1:
            raise UsageError("--video takes one --style image")
        if sheet is not None or report is not None:
            raise UsageError("--sheet and --report are for images, not with --video")
        rows = api.evaluate_video(
            video, outputs or [], state.reporter(), Path(style[0]) if style else None, vgg, state.device
        )
        return print_flicker(rows, as_json)
    result = api.evaluate(outputs or [], content or [], style or [], report, vgg, state.device, state.reporter(), sheet)
    rows, means = result.rows, result.means
    if as_json:
        emit_json(
            {
                "outputs": [r.to_json() for r in rows],
                "mean": means,
                "sheet": str(sheet) if sheet else None,
            }
        )
        return
    _print_table(rows, means)


COLUMNS = ("style", "content", "patch", "structure", "style of content", "patch of content")


def _print_table(rows: list[Any], means: dict[str, float | None]) -> None:
    width = max([len(str(r.item.output)) for r in rows] + [len("mean of 00000")])
    emit_result(f"{'output':<{width}}  " + "  ".join(f"{name:>{max(7, len(name))}}" for name in COLUMNS))
    for r in rows:
        s = r.scores
        emit_result(
            f"{r.item.output!s:<{width}}  "
            + _cells((s.style, s.content, s.patch, s.structure, r.baseline_style, r.baseline_patch))
        )
    keys = ("style", "content", "patch", "structure", "content_style", "content_patch")
    emit_result(f"{'mean of ' + str(len(rows)):<{width}}  " + _cells(tuple(means[k] for k in keys)))


def _cells(values: tuple[float | None, ...]) -> str:
    return "  ".join(_num(v, max(7, len(name))) for v, name in zip(values, COLUMNS))


def _num(value: float | None, width: int = 7) -> str:
    return f"{'-' if value is None else f'{value:.4f}':>{width}}"

"""The batch flags every stylizing command shares, and the end-of-batch summary.

A command declares the flags by annotation, with defaults from :data:`DEFAULTS`, and ends in
:func:`run_and_finish`::

    @app.command()
    def adain(ctx: typer.Context, inputs: InputsArgument, style: ..., output: OutputOption = DEFAULTS.output,
              name: NameOption = DEFAULTS.name, ..., as_json: JsonOption = False) -> None:
        options = build_batch_options(output=output, name=name, ...)
        reporter = settings(ctx).reporter()
        run_and_finish(lambda: api.adain(inputs, style, options, reporter), as_json, reporter)

stdout gets one output path per line (or the ``--json`` report), stderr the summary table.
"""

from __future__ import annotations

import inspect
import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from stylize.api import (
    PLACEHOLDERS,
    BatchInterrupted,
    BatchOptions,
    BatchReport,
    Failure,
    Reporter,
    check_ray_address,
    parse_shard,
)
from stylize.cli.display import emit_json, emit_result, err_console
from stylize.errors import PartialBatchError, StylizeError, UsageError

DEFAULTS = BatchOptions()
PANEL = "Batch"
MAX_FAILURES_SHOWN = 20

InputsArgument = Annotated[
    list[str], typer.Argument(help="Images, folders (searched recursively), or - to read paths from stdin.")
]
OutputOption = Annotated[
    str | None,  # not a Path: a URL (s3://bucket/out/) keeps its "//"
    typer.Option(
        "--output",
        "-o",
        help="A file for one output, else a folder, or a URL; mirrors the input tree.",
        show_default="./stylized/",
        rich_help_panel=PANEL,
    ),
]
NameOption = Annotated[
    str,
    typer.Option(
        "--name",
        help="Output name template: "
        + " ".join("{" + p + "}" for p in PLACEHOLDERS)
        + ". {variant} is the style and every setting that differs from its default (mosaic_alpha0.9), "
        "so a changed setting writes a new file and a re-run skips what is done.",
        rich_help_panel=PANEL,
    ),
]
ExtOption = Annotated[
    str | None,
    typer.Option(
        "--ext",
        help="Force the output format (png, jpg, webp, tif, bmp).",
        show_default="the input's, png for gif",
        rich_help_panel=PANEL,
    ),
]
GlobOption = Annotated[
    str | None,
    typer.Option(
        "--glob",
        help="Only files in folders matching this pattern (case-insensitive), e.g. '*.jpg'.",
        show_default="image extensions",
        rich_help_panel=PANEL,
    ),
]
OverwriteOption = Annotated[
    bool,
    typer.Option(
        "--overwrite",
        help="Replace outputs that exist. Without it an output of this same job is skipped (re-runs resume) "
        "and one of another job stops the run.",
        rich_help_panel=PANEL,
    ),
]
FailFastOption = Annotated[
    bool, typer.Option("--fail-fast", help="Stop at the first image that fails.", rich_help_panel=PANEL)
]
JsonOption = Annotated[
    bool, typer.Option("--json", help="Print a machine-readable report on stdout.", rich_help_panel=PANEL)
]
BatchSizeOption = Annotated[
    int,
    typer.Option(
        "--batch-size", min=1, help="Images of equal size per model call (GPU: try 4-8).", rich_help_panel=PANEL
    ),
]
ShardOption = Annotated[
    str | None,
    typer.Option(
        "--shard",
        metavar="I/N",
        help="Do only shard I of N (I from 0); torchrun's RANK/WORLD_SIZE set it automatically.",
        rich_help_panel=PANEL,
    ),
]
QualityOption = Annotated[
    int, typer.Option("--quality", min=1, max=100, help="JPEG/WebP quality.", rich_help_panel=PANEL)
]
MaxPixelsOption = Annotated[
    int,
    typer.Option("--max-pixels", min=1, help="Refuse larger inputs (decompression-bomb guard).", rich_help_panel=PANEL),
]
IoWorkersOption = Annotated[
    int,
    typer.Option("--io-workers", min=0, help="Threads decoding and encoding images; 0: none.", rich_help_panel=PANEL),
]


def ray_argv(args: list[str]) -> list[str]:
    """``--ray`` without an address means this machine: ``--ray local`` (typer has no options whose value
    may be left out). What follows ``--ray`` is its address only when it is one (``auto``,
    ``ray://...``, ``HOST:PORT``), so ``--ray photos/`` still reads ``photos/`` as an input."""
    out = []
    for index, arg in enumerate(args):
        out.append(arg)
        if arg == "--ray" and not _is_ray_address(args[index + 1] if index + 1 < len(args) else ""):
            out.append("local")
    return out


def _is_ray_address(text: str) -> bool:
    try:
        check_ray_address(text)
    except UsageError:
        return False
    return True


RayOption = Annotated[
    str | None,
    typer.Option(
        "--ray",
        metavar="[ADDRESS]",
        help="Run on Ray: alone, this machine's CPUs and GPUs; auto, or ray://HOST:10001, a cluster "
        '(install it: pip install "stylize\\[ray]").',
        rich_help_panel=PANEL,
    ),
]
RayWorkersOption = Annotated[
    int,
    typer.Option(
        "--ray-workers", min=0, help="Ray actors; 0: one per GPU, else one per 4 CPU cores.", rich_help_panel=PANEL
    ),
]


def build_batch_options(
    *,
    output: str | Path | None = None,
    name: str = DEFAULTS.name,
    ext: str | None = DEFAULTS.ext,
    glob: str | None = DEFAULTS.glob,
    overwrite: bool = DEFAULTS.overwrite,
    fail_fast: bool = DEFAULTS.fail_fast,
    shard: str | None = None,
    batch_size: int = DEFAULTS.batch_size,
    io_workers: int = DEFAULTS.io_workers,
    quality: int = DEFAULTS.quality,
    max_pixels: int = DEFAULTS.max_pixels,
    ray: str | None = DEFAULTS.ray,
    ray_workers: int = DEFAULTS.ray_workers,
) -> BatchOptions:
    """The flags as :class:`BatchOptions`; bad values raise UsageError (exit 2)."""
    return BatchOptions(
        output=output,
        name=name,
        ext=ext,
        glob=glob,
        overwrite=overwrite,
        fail_fast=fail_fast,
        shard=parse_shard(shard) if shard is not None else None,
        batch_size=batch_size,
        io_workers=io_workers,
        quality=quality,
        max_pixels=max_pixels,
        ray=ray,
        ray_workers=ray_workers,
    )


def batch_params(
    output: OutputOption = None,
    name: NameOption = DEFAULTS.name,
    ext: ExtOption = DEFAULTS.ext,
    glob: GlobOption = DEFAULTS.glob,
    overwrite: OverwriteOption = DEFAULTS.overwrite,
    fail_fast: FailFastOption = DEFAULTS.fail_fast,
    batch_size: BatchSizeOption = DEFAULTS.batch_size,
    shard: ShardOption = None,
    quality: QualityOption = DEFAULTS.quality,
    max_pixels: MaxPixelsOption = DEFAULTS.max_pixels,
    io_workers: IoWorkersOption = DEFAULTS.io_workers,
    ray: RayOption = DEFAULTS.ray,
    ray_workers: RayWorkersOption = DEFAULTS.ray_workers,
    as_json: JsonOption = False,
) -> None:
    """The batch options of every stylizing command, in help order (``shared_params.with_params``)."""


# what BatchOptions is built from: the template's options but --json (how the result is printed)
BATCH_FLAGS = tuple(name for name in inspect.signature(batch_params).parameters if name != "as_json")


def batch_options_from(flags: dict[str, object]) -> BatchOptions:
    """:func:`build_batch_options` from a command's ``**shared`` options (optimize has no --batch-size)."""
    return build_batch_options(**{k: flags[k] for k in BATCH_FLAGS if k in flags})  # type: ignore[arg-type]


def split_styles(command: str, inputs: list[str], style: list[str] | None) -> tuple[list[str], list[str]]:
    """``stylize COMMAND C... -s S...`` or the short form ``stylize COMMAND CONTENT STYLE``."""
    if style:
        return inputs, style
    if len(inputs) < 2:
        raise UsageError("no style given", f"use 'stylize {command} CONTENT STYLE' or -s STYLE")
    return inputs[:-1], inputs[-1:]


# --blend's name until 0.x: "weights" in stylize means the network files (`stylize weights`), and
# `optimize` also has the loss's --style-weight. Hidden, still accepted, so that scripts keep working.
OldBlendOption = Annotated[str | None, typer.Option("--style-weights", hidden=True, help="Old name of --blend.")]


def parse_blend(text: str | None, old: str | None = None) -> tuple[float, ...] | None:
    """``--blend 0.7,0.3`` (or its old name ``--style-weights``, ``old``) -> weights normalised to sum 1
    (None when not given)."""
    if old is not None:
        if text is not None:
            raise UsageError("--style-weights is the old name of --blend: give one of them")
        text = old
    if text is None:
        return None
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError as exc:
        raise UsageError(f"--blend must be numbers separated by commas, not '{text}'") from exc
    if not all(math.isfinite(v) for v in values):
        raise UsageError(f"--blend must be finite numbers, not '{text}'")
    if any(v < 0 for v in values) or sum(values) <= 0:
        raise UsageError("--blend must be non-negative and not all zero")
    total = sum(values)
    return tuple(v / total for v in values)


def run_and_finish(
    run: Callable[[], BatchReport], as_json: bool, reporter: Reporter | None = None, quiet: bool = False
) -> BatchReport:
    """Run a batch, then :func:`finish_batch`; on Ctrl-C print the summary and re-raise (exit 130)."""
    try:
        report = run()
    except BatchInterrupted as exc:
        _close(reporter)
        finish_batch(exc.report, as_json, quiet)
        raise
    _close(reporter)
    finish_batch(report, as_json, quiet)
    return report


def _close(reporter: Reporter | None) -> None:
    """Stop live bars (RichReporter) so the summary prints below them."""
    close = getattr(reporter, "close", None)
    if callable(close):
        close()


def finish_batch(report: BatchReport, as_json: bool, quiet: bool = False) -> None:
    """Outputs (or JSON) on stdout, the summary on stderr; PartialBatchError (exit 6) if any failed.

    A batch of one image that failed is one error line with that failure's own exit code (a
    damaged photo: 3), not a summary and a table.
    """
    if as_json:
        emit_json(report.to_json())
    else:
        for path in report.outputs():
            emit_result(str(path))
    if report.total == 1 and report.failed and not report.interrupted:
        raise single_failure(report.failed[0])
    if not quiet:
        err_console.print(summary_table(report))
    if report.failed or report.unreadable:
        for line in failure_lines(report):
            err_console.print(escape(line), style="red", soft_wrap=True)
    if (report.failed or report.unreadable) and not report.interrupted:
        raise PartialBatchError(
            _partial_message(report), "fix or remove them and run again: finished outputs are skipped"
        )


def shown_path(path: Path) -> Path:
    """``path`` relative to the current folder when it is inside it (shorter tables), else as given."""
    try:
        return Path(os.path.abspath(path)).relative_to(Path.cwd())  # links kept: a looping one names itself
    except (ValueError, OSError, TypeError):  # TypeError: a URL (no local path)
        return path


def single_failure(failure: Failure) -> StylizeError:
    """The error of a batch's only job, as if it had been raised directly."""
    error = StylizeError(f"{failure.path}: {failure.reason}")
    error.exit_code = failure.exit_code
    return error


def _partial_message(report: BatchReport) -> str:
    total = len(report.done) + len(report.failed) + report.not_started
    stopped = f", stopped early ({report.not_started} not started)" if report.stopped_early else ""
    unreadable = f", {len(report.unreadable)} unreadable files or folders passed over" if report.unreadable else ""
    return f"{len(report.failed)} of {total} images failed{unreadable}{stopped}"


def summary_table(report: BatchReport) -> Table:
    """done / skipped / failed / passed-over counts, with the speed."""
    table = Table(title="batch summary", title_justify="left", box=None, show_header=False, pad_edge=False)
    table.add_column(style="bold")
    table.add_column(justify="right")
    table.add_column(style="dim")
    speed = f"{speed_text(report)} over {report.elapsed_s:.1f} s" if report.done else ""
    rows = [
        ("[green]done[/]", len(report.done), speed),
        ("skipped", len(report.skipped), "made by this same job already (--overwrite redoes it)"),
        ("[red]failed[/]" if report.failed else "failed", len(report.failed), ""),
        ("not started", report.not_started, "interrupted" if report.interrupted else "--fail-fast"),
        ("hidden", report.skipped_hidden, "hidden files and folders passed over"),
        ("not images", report.skipped_non_image, "no image extension or no --glob match"),
        ("[red]unreadable[/]", len(report.unreadable), "passed over: listed below"),
    ]
    for label, count, note in rows:
        if count or label.endswith("done[/]") or "failed" in label:
            table.add_row(label, str(count), note)
    return table


def speed_text(report: BatchReport) -> str:
    """Images per second, or seconds per image when slower than one a second (no "0.00 img/s")."""
    rate = report.images_per_s
    if rate >= 1 or not report.done:
        return f"{rate:.2f} img/s"
    return f"{report.elapsed_s / len(report.done):.1f} s/img"


def failure_lines(report: BatchReport) -> list[str]:
    """One line per failed input (the first MAX_FAILURES_SHOWN): ``failed: PATH: reason``.

    Lines, not a table: a table squeezed to the terminal cuts paths in the middle. Paths inside
    the current folder are shown relative to it."""
    lines = [f"failed: {shown_path(f.path)}: {f.reason}" for f in report.failed[:MAX_FAILURES_SHOWN]]
    lines += [f"passed over: {shown_path(path)}: {why}" for path, why in report.unreadable[:MAX_FAILURES_SHOWN]]
    hidden = len(report.failed) - MAX_FAILURES_SHOWN
    if hidden > 0:
        lines.append(f"... and {hidden} more (--json lists them all)")
    return lines

"""``stylize weights list|fetch|import|verify|path``: the pretrained-file cache."""

from __future__ import annotations

import io
import shutil
import textwrap
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.filesize import decimal
from rich.table import Table

from stylize import api
from stylize.cli.app import StylizeGroup, StylizeTyper, app, settings
from stylize.cli.display import emit_json, emit_result, err_console
from stylize.errors import WeightsError

weights_app = StylizeTyper(
    cls=StylizeGroup, help="List, fetch, import and verify pretrained weights.", no_args_is_help=True
)
app.add_typer(weights_app, name="weights")

JsonOption = Annotated[bool, typer.Option("--json", help="Machine-readable output on stdout.")]


@weights_app.command("list")
def list_(as_json: JsonOption = False) -> None:
    """Every known file: name, size, status (bundled, cached or download) and what it is."""
    entries = api.weights_list()
    if as_json:
        emit_json([_entry_json(e) for e in entries])
        return
    width = min(shutil.get_terminal_size().columns, _MAX_WIDTH)
    table = Table("name", "size", "status", "description", box=None, pad_edge=False)
    for column in table.columns[:3]:
        column.no_wrap = True
    for e in entries:
        table.add_row(e.spec.name, _size(e), _status(e), e.spec.description)
    typer.echo(_render(table, width), nl=False)
    notes = [f"bundled (works offline): {s.license}; source {s.url}" for s in _bundled_sources(entries)]
    notes.append("~: size as published; ?: not published. 'stylize weights fetch NAME' downloads.")
    notes.append("'stylize weights path NAME' shows where a file is; --json has licences, URLs.")
    for note in notes:
        typer.echo(textwrap.fill(note, width, subsequent_indent="  ", break_on_hyphens=False))


_MAX_WIDTH = 100  # wider rows are hard to read


def _size(e: api.CacheEntry) -> str:
    """Bytes on disk, else the registry's exact size, else its published approximation (~), else ?."""
    if e.size:
        return decimal(e.size)
    approx = e.spec.approx_size
    return f"~{decimal(approx, precision=0 if approx >= 10**7 else 1)}" if approx else "?"


def _bundled_sources(entries: list[api.CacheEntry]) -> list[api.WeightSpec]:
    return list({e.spec.license: e.spec for e in entries if e.spec.bundled}.values())


def _status(e: api.CacheEntry) -> str:
    if e.spec.bundled:
        return "bundled"
    return "cached" if e.path else "download"


def _render(table: Table, width: int) -> str:
    console = Console(width=width, file=io.StringIO(), record=True)
    console.print(table)
    return "\n".join(line.rstrip() for line in console.export_text().splitlines()) + "\n"


def _entry_json(e: api.CacheEntry) -> dict[str, object]:
    return {
        "name": e.spec.name,
        "size": e.size,
        "approx_size": e.spec.approx_size,
        "status": _status(e),
        "cached": e.path is not None,
        "origin": e.spec.origin,
        "path": str(e.path) if e.path else None,
        "url": e.spec.url,
        "sha256": e.spec.sha256,
        "license": e.spec.license,
        "layout": e.spec.layout,
        "description": e.spec.description,
    }


@weights_app.command()
def fetch(ctx: typer.Context, names: Annotated[list[str], typer.Argument(help="Registry names.")]) -> None:
    """Download files now (for offline use later); prints each cached path."""
    reporter = settings(ctx).reporter()
    for name in names:
        emit_result(str(api.weights_fetch(name, reporter)))


@weights_app.command("import")
def import_(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Registry name.")],
    file: Annotated[Path, typer.Argument(help="A local copy of the file.")],
) -> None:
    """Check a local file's hash and copy it into the cache."""
    emit_result(str(api.weights_import(name, file, settings(ctx).reporter())))


@weights_app.command()
def verify(as_json: JsonOption = False) -> None:
    """Re-hash every cached file; exit 4 if any is corrupt."""
    results = api.weights_verify()
    if as_json:
        emit_json([{"name": s.name, "path": str(p), "sha256": h, "ok": ok} for s, p, h, ok in results])
    else:
        for spec, path, digest, ok in results:
            err_console.print(f"{'[green]ok' if ok else '[red]BAD'}[/] {spec.name} {path} {digest}")
        if not results:
            err_console.print("nothing cached yet")
    bad = [s for s, _, _, ok in results if not ok]
    if bad:
        fixes = dict.fromkeys(_fix(s) for s in bad)
        raise WeightsError(f"damaged or missing: {', '.join(s.name for s in bad)}", "; ".join(fixes))


def _fix(spec: api.WeightSpec) -> str:
    if spec.bundled == "file":
        return api.REINSTALL_US
    if spec.bundled:
        return f"run '{api.REINSTALL}'"
    return f"delete {spec.filename} from the cache and run 'stylize weights fetch {spec.name}'"


@weights_app.command()
def path(name: Annotated[str, typer.Argument(help="Registry name.")]) -> None:
    """Print where a file is (or would be) cached."""
    emit_result(str(api.weights_path(name)))

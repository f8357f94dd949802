"""The Typer application: global options and the single error funnel.

Every ``StylizeError`` becomes one red line on stderr and its exit code; Ctrl-C exits 130.
Nothing here imports torch, so ``stylize --help`` stays fast.
"""

from __future__ import annotations

import os
import traceback
from dataclasses import dataclass
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from stylize import __version__
from stylize.cli.display import RichReporter, err_console, print_error
from stylize.cli.plain_progress import PlainReporter
from stylize.errors import Interrupted, StylizeError, stop_exit_code


@dataclass
class Settings:
    """Global options, stored on the Typer context for every command."""

    device: str | None = None
    quiet: bool = False
    verbose: bool = False
    traceback: bool = False

    def reporter(self) -> RichReporter | PlainReporter:
        """Bars on a terminal; plain progress lines every few seconds in a log, CI or under nohup."""
        if err_console.is_terminal:
            return RichReporter(verbose=self.verbose, quiet=self.quiet)
        return PlainReporter(verbose=self.verbose, quiet=self.quiet)


def settings(ctx: typer.Context) -> Settings:
    """The global settings of this invocation (defaults when called without the callback)."""
    root = ctx.find_root()
    if not isinstance(root.obj, Settings):
        root.obj = Settings()
    return root.obj


class StylizeGroup(TyperGroup):
    """Runs a command and turns its errors into exit codes (the one exit funnel)."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except StylizeError as exc:
            raise typer.Exit(_report(ctx, exc, exc.one_line(), exc.exit_code)) from exc
        except KeyboardInterrupt as exc:
            code = stop_exit_code(exc)
            raise typer.Exit(
                _report(ctx, exc, "terminated" if code != Interrupted.exit_code else "interrupted", code)
            ) from exc
        except (typer.Exit, typer.Abort):
            raise
        except Exception as exc:  # a bug: say so in one line unless --traceback
            if _is_click_exception(exc):
                raise
            hint = "" if _wants_traceback(ctx) else " (run with --traceback for details)"
            raise typer.Exit(_report(ctx, exc, f"internal error: {exc!r}{hint}", 1)) from exc


def _is_click_exception(exc: BaseException) -> bool:
    """Usage errors and exits raised by click (or typer's vendored copy) keep their own handling."""
    return type(exc).__module__.split(".")[0] in ("click", "typer")


def _wants_traceback(ctx: Any) -> bool:
    obj = ctx.find_root().obj
    return bool(getattr(obj, "traceback", False)) or os.environ.get("STYLIZE_TRACEBACK") == "1"


def _report(ctx: Any, exc: BaseException, message: str, code: int) -> int:
    if _wants_traceback(ctx):
        err_console.print("".join(traceback.format_exception(exc)), markup=False, highlight=False)
    print_error(message)
    return code


app = typer.Typer(
    cls=StylizeGroup,
    name="stylize",
    help="Artistic image stylization: Gatys optimization, fast feed-forward networks, AdaIN, GANs.",
    no_args_is_help=True,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"stylize {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    ctx: typer.Context,
    device: Annotated[
        str | None, typer.Option(help="auto, cpu, cuda, cuda:N or mps.", envvar="STYLIZE_DEVICE", show_default="auto")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars or messages; errors only.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug messages on stderr.")] = False,
    offline: Annotated[
        bool, typer.Option("--offline", help="Never touch the network (same as STYLIZE_OFFLINE=1).")
    ] = False,
    show_traceback: Annotated[
        bool, typer.Option("--traceback", help="Show Python tracebacks for errors.", envvar="STYLIZE_TRACEBACK")
    ] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Artistic image stylization from the command line."""
    if offline:
        os.environ["STYLIZE_OFFLINE"] = "1"
    ctx.obj = Settings(device=device, quiet=quiet, verbose=verbose, traceback=show_traceback)

"""The Typer application: global options and the single error funnel.

Every ``StylizeError`` becomes one red line on stderr and its exit code; Ctrl-C exits 130.
Nothing here imports torch, so ``stylize --help`` stays fast.
"""

from __future__ import annotations

import os
import sys
import traceback
from dataclasses import dataclass
from typing import Annotated, Any

import typer
from typer.core import TyperArgument, TyperCommand, TyperGroup, TyperOption

try:  # newer typer carries its own copy of click, and raises its exceptions
    from typer._click import exceptions as click_errors
except ImportError:  # pragma: no cover - older typer runs on click itself
    from click import exceptions as click_errors

from stylize._version import __version__
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


# `stylize --help` lists commands in the order people reach for them; any other command follows
COMMAND_ORDER = (
    *("adain", "fast", "optimize", "sheet", "gan-sample"),
    *("train-adain", "train-fast", "train-gan"),
    *("weights", "eval", "info"),
)


class _PlainHelpOption(TyperOption):
    """An option whose help row has no type column (<int range>, [x>=16], <bool>), so the text gets the width."""

    def display_type_rich(self, ctx: Any) -> str | None:
        return _shown_type(self, ctx)

    def _get_number_range_help_str(self) -> str | None:
        return None  # the range is enforced at parse time and named in the error


class _PlainHelpArgument(TyperArgument):
    """An argument without the type column (its name is already in the row)."""

    def display_type_rich(self, ctx: Any) -> str | None:
        return _shown_type(self, ctx)

    def _get_number_range_help_str(self) -> str | None:
        return None


def _shown_type(param: TyperOption | TyperArgument, ctx: Any) -> str:
    """What the help shows as a parameter's type: a metavar someone wrote (I/N) or the choices, else nothing."""
    if isinstance(param, TyperOption) and param.metavar is not None:
        return param.metavar
    return param.display_type(ctx) if param.type_descriptor.is_choice else ""


_PLAIN_HELP = {TyperOption: _PlainHelpOption, TyperArgument: _PlainHelpArgument}


def _plain_help(params: list[Any]) -> list[Any]:
    """Give typer's parameters the help rendering above; parsing and errors stay typer's.

    typer builds the parameters itself with no hook for their class, so they are switched to the
    subclass here (it adds no state); this runs for every command through ``get_params``.
    """
    for param in params:
        param.__class__ = _PLAIN_HELP.get(type(param), type(param))
    return params


class StylizeCommand(TyperCommand):
    """Every command: help without type labels (see ``_PlainHelpOption``)."""

    def get_params(self, ctx: Any) -> list[Any]:
        return _plain_help(super().get_params(ctx))


class StylizeGroup(TyperGroup):
    """Runs a command and turns its errors into exit codes (the one exit funnel)."""

    def get_params(self, ctx: Any) -> list[Any]:
        return _plain_help(super().get_params(ctx))

    def list_commands(self, ctx: Any) -> list[str]:
        names = super().list_commands(ctx)
        rank = {name: i for i, name in enumerate(COMMAND_ORDER)}
        return sorted(names, key=lambda name: rank.get(name, len(rank)))  # stable: the rest keep their order

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)
        except click_errors.UsageError as exc:
            raise _usage_exit(exc) from exc

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except click_errors.UsageError as exc:  # bad option, missing argument, bad value, unknown command
            raise _usage_exit(exc) from exc
        except StylizeError as exc:
            raise typer.Exit(_report(ctx, exc, exc.one_line(), exc.exit_code)) from exc
        except KeyboardInterrupt as exc:
            code = stop_exit_code(exc)
            raise typer.Exit(
                _report(ctx, exc, "terminated" if code != Interrupted.exit_code else "interrupted", code)
            ) from exc
        except BrokenPipeError as exc:  # the reader went away (`stylize weights list | head`): stop quietly
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # the exit's own flush must not fail too
            raise typer.Exit(BROKEN_PIPE_EXIT) from exc
        except (typer.Exit, typer.Abort):
            raise
        except Exception as exc:  # a bug: say so in one line unless --traceback
            if _is_click_exception(exc):
                raise
            hint = "" if _wants_traceback(ctx) else " (run with --traceback for details)"
            raise typer.Exit(_report(ctx, exc, f"internal error: {exc!r}{hint}", 1)) from exc


BROKEN_PIPE_EXIT = 141  # 128 + SIGPIPE: what a Unix tool killed by a closed pipe reports


def _usage_exit(exc: click_errors.UsageError) -> Exception:
    """click's usage errors as one red line and a hint, exit 2 (typer would draw a boxed panel)."""
    if isinstance(exc, click_errors.NoArgsIsHelpError):
        return exc  # the help was printed; click exits with it
    print_error(_usage_message(exc))
    if exc.ctx is not None:
        err_console.print(f"try '{exc.ctx.command_path} --help'", style="dim", markup=False, soft_wrap=True)
    return typer.Exit(exc.exit_code)


def _usage_message(exc: click_errors.UsageError) -> str:
    """click's message, lower case and without the final full stop like ours; suggestions as 'did you mean'."""
    message = exc.format_message()
    if isinstance(exc, click_errors.NoSuchOption) and exc.possibilities:
        helps = set(exc.ctx.help_option_names if exc.ctx else ())
        close = sorted(set(exc.possibilities) - helps) or sorted(exc.possibilities)
        message = f"{exc.message}; did you mean {' or '.join(close)}?"
    message = message.replace(". Did you mean", "; did you mean").rstrip(".")  # typer's command suggestion
    return message[:1].lower() + message[1:] if message[1:2].islower() else message


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


class StylizeTyper(typer.Typer):
    """A Typer whose commands are ``StylizeCommand``s unless one names another class."""

    def command(self, name: str | None = None, *, cls: type[TyperCommand] | None = None, **kwargs: Any) -> Any:
        return super().command(name, cls=cls or StylizeCommand, **kwargs)


app = StylizeTyper(
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

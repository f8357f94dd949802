"""Option groups that several commands share, declared once.

``@with_params(template, ...)`` appends the parameters of template functions (functions that only
declare Typer options: ``batch_options.batch_params``, ``video_options.video_params``) to a command's
signature. Typer shows them as the command's own options, in that order after its own; the command
receives them in ``**shared``. A Typer command must otherwise name every option in its signature,
which had the three stylizing commands spell out the same eighteen parameters each.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


def with_params(*templates: Callable[..., None], skip: Iterable[str] = ()) -> Callable[[F], F]:
    """Give the decorated command the templates' parameters (less ``skip``) after its own."""
    skipped = set(skip)

    def decorate(command: F) -> F:
        own = inspect.signature(command, eval_str=True)
        kept = [p for p in own.parameters.values() if p.kind is not inspect.Parameter.VAR_KEYWORD]
        added = [
            p
            for template in templates
            for p in inspect.signature(template, eval_str=True).parameters.values()
            if p.name not in skipped
        ]
        clash = {p.name for p in kept} & {p.name for p in added}
        if clash:
            raise TypeError(f"{command.__name__} declares shared options itself: {sorted(clash)}")
        command.__signature__ = own.replace(parameters=[*kept, *added])  # type: ignore[attr-defined]
        hints = typing.get_type_hints(command, include_extras=True)  # resolved: typer re-reads them
        command.__annotations__ = {**hints, **{p.name: p.annotation for p in added}}
        return command

    return decorate

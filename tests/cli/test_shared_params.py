"""cli/shared_params.py: option groups declared once appear as each command's own options."""

from __future__ import annotations

import inspect
from typing import Annotated, Any

import pytest
import typer
from typer.testing import CliRunner

from stylize.cli.shared_params import with_params


def _template(shout: Annotated[bool, typer.Option(help="Louder.")] = False, times: int = 1) -> None:
    """Parameters only."""


def test_template_options_are_parsed_and_handed_over_in_shared() -> None:
    app = typer.Typer()
    seen: dict[str, Any] = {}

    @app.command()
    @with_params(_template)
    def hello(name: str, **shared: Any) -> None:
        seen.update(name=name, **shared)

    result = CliRunner().invoke(app, ["Ada", "--shout", "--times", "3"])
    assert result.exit_code == 0, result.output
    assert seen == {"name": "Ada", "shout": True, "times": 3}
    assert list(inspect.signature(hello).parameters) == ["name", "shout", "times"]
    assert "Louder." in CliRunner().invoke(app, ["--help"]).output


def test_skip_leaves_an_option_out_and_a_clash_is_refused() -> None:
    def cmd(name: str, **shared: Any) -> None: ...

    assert list(inspect.signature(with_params(_template, skip=("times",))(cmd)).parameters) == ["name", "shout"]

    def clashing(shout: bool = False, **shared: Any) -> None: ...

    with pytest.raises(TypeError, match="shout"):
        with_params(_template)(clashing)

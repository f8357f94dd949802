"""Progress a person can follow in a log: plain lines when stderr is not a terminal."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from stylize.cli import app
from stylize.cli.plain_progress import PlainReporter, clock_text, rate_text

runner = CliRunner()


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_line_every_interval_with_count_rate_and_time_left() -> None:
    out, clock = io.StringIO(), Clock()
    reporter = PlainReporter(interval=5, stream=out, clock=clock)
    reporter.start("images", total=40, unit="img")
    for _ in range(10):
        clock.now += 1
        reporter.advance("images", loss=0.25)
    lines = out.getvalue().splitlines()
    assert lines == [
        "images 5/40 (12%)  1.00 img/s  elapsed 0:05  left ~0:35  loss=0.25",
        "images 10/40 (25%)  1.00 img/s  elapsed 0:10  left ~0:30  loss=0.25",
    ]
    clock.now += 2
    reporter.finish("images")
    assert out.getvalue().splitlines()[-1].startswith("images 10/40 (25%)  1.2 s/img  elapsed 0:12")


def test_short_tasks_print_nothing_and_quiet_prints_only_warnings() -> None:
    out, clock = io.StringIO(), Clock()
    reporter = PlainReporter(interval=5, stream=out, clock=clock, quiet=True)
    reporter.start("images", total=2)
    reporter.advance("images")
    reporter.finish("images")
    reporter.log("hello")
    reporter.log("careful", "warning")
    assert out.getvalue() == "warning: careful\n"


def test_slow_rates_read_as_seconds_per_item_and_clock_text() -> None:
    assert rate_text(1, 7.4, "img") == "7.4 s/img" and rate_text(3, 1.5, "img") == "2.00 img/s"
    assert rate_text(0, 3, "img") == "- img/s"
    assert clock_text(59) == "0:59" and clock_text(3725) == "1:02:05"


def test_a_batch_in_a_log_shows_progress_lines(
    tmp_path: Path, image_factory: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STYLIZE_PROGRESS_EVERY", "0")
    for i in range(3):
        image_factory(tmp_path / "in" / f"p{i}.png", (24, 16), i)
    result = runner.invoke(app, ["fast", str(tmp_path / "in"), "-o", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert "images 3/3 (100%)" in result.stderr
    assert re.search(r"\d img/s|\d s/img", result.stderr)  # a rate either way round (under load, s/img)


def test_a_tasks_own_estimate_of_the_time_left_is_shown_instead_of_the_count_based_one() -> None:
    out, clock = io.StringIO(), Clock()
    reporter = PlainReporter(interval=5, stream=out, clock=clock)
    reporter.start("optimize", total=100, unit="it")
    for _ in range(5):
        clock.now += 1
        reporter.advance("optimize", loss=0.5, left_s=300.0)
    assert out.getvalue().splitlines() == ["optimize 5/100 (5%)  1.00 it/s  elapsed 0:05  left ~5:00  loss=0.5"]

"""Help and messages for people: help without type noise at 80 columns, commands in order of use,
usage errors as one line, and a `weights list` that fits the terminal."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from stylize import weights as w
from stylize.cli import app

runner = CliRunner()

HELP_COMMANDS = [
    "adain",
    "fast",
    "optimize",
    "sheet",
    "gan-sample",
    "train-adain",
    "train-fast",
    "train-gan",
    "eval",
    "info",
]
TYPE_NOISE = re.compile(r"<(int|float|bool|str|path|list)\b|\bx[<>]=|<=x|\b(INTEGER|FLOAT|TEXT|BOOLEAN|PATH)\b")


@pytest.fixture(autouse=True)
def eighty_columns(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.delenv("TERMINAL_WIDTH", raising=False)


def _help(*args: str) -> str:
    result = runner.invoke(app, [*args, "--help"])
    assert result.exit_code == 0, result.output
    return result.stdout


@pytest.mark.parametrize("command", [*HELP_COMMANDS, "weights list", "weights", ""])
def test_help_at_80_columns_has_no_type_or_range_labels(command: str) -> None:
    text = _help(*command.split())
    assert not TYPE_NOISE.search(text), TYPE_NOISE.search(text)
    assert max(len(line) for line in text.splitlines()) <= 80


@pytest.mark.parametrize("command", ["adain", "fast", "optimize", "train-adain", "train-fast", "train-gan"])
def test_help_descriptions_get_the_width(command: str) -> None:
    """Every '[default: ...]' sits in the description column, which starts by column 42 so descriptions
    get 36 characters or more (with typer's type column it started at 57 in optimize, 59 in train-gan)."""
    text = _help(command)
    columns = [line.index("[default:") for line in text.splitlines() if line.lstrip("│ ").startswith("[default:")]
    assert columns and max(columns) <= 42, max(columns)


def test_optimize_help_rows_are_not_squeezed() -> None:
    text = _help("optimize")
    assert re.search(r"--min-size\s+Long side of the first, coarsest scale\.", text)
    assert re.search(r"--shard\s+I/N\s+Do only shard I of N", text)  # a metavar someone wrote stays
    assert len(text.splitlines()) < 142  # 157 with the type column before --ray and --ray-workers (136 now)


@pytest.mark.parametrize("command", ["adain", "fast"])
def test_boolean_flags_show_as_plain_flags(command: str) -> None:
    text = _help(command)
    assert re.search(r"│ --preserve-color {2,}[A-Z]", text)  # the description follows: no <bool>, no --no- form
    assert re.search(r"--help\s+-h\s+Show this message", text)


def test_commands_are_listed_in_order_of_use() -> None:
    text = _help()
    panel = text[text.index("Commands") :]
    names = re.findall(r"^│ ([a-z][a-z-]+)\s", panel, re.MULTILINE)
    expected = ["adain", "fast", "optimize", "sheet", "gan-sample", "train-adain", "train-fast", "train-gan", "weights"]
    assert names == [*expected, "eval", "info"]


@pytest.mark.parametrize(
    ("args", "message", "hint"),
    [
        (["adain", "--bogus"], "error: no such option: --bogus", "try 'stylize adain --help'"),
        (["adain", "x.jpg", "--alpah", "1"], "error: no such option: --alpah; did you mean --alpha?", None),
        (["adain"], "error: missing argument 'inputs'", "try 'stylize adain --help'"),
        (["optimize", "x.jpg", "--size", "-3"], "error: invalid value for '--size'", "try 'stylize optimize --help'"),
        (["adian"], "error: no such command 'adian'; did you mean 'adain'?", "try 'stylize --help'"),
        (["--bogus", "info"], "error: no such option: --bogus", "try 'stylize --help'"),
        (["weights", "list", "--jsn"], "error: no such option: --jsn; did you mean --json?", None),
    ],
)
def test_usage_error_is_one_line_and_a_hint(args: list[str], message: str, hint: str | None) -> None:
    result = runner.invoke(app, args)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.exit_code == 2 and result.stdout == ""
    assert len(lines) == 2, result.stderr
    assert lines[0].startswith(message) and lines[1].startswith("try '")
    if hint:
        assert lines[1] == hint
    assert "╭" not in result.stderr and "Usage:" not in result.stderr


def _rows(text: str) -> dict[str, list[str]]:
    """name -> [size, status] for each table row of `weights list`."""
    rows = {}
    for line in text.splitlines():
        cells = line.split()
        if cells and cells[0] in w.REGISTRY:
            size_end = 2 if cells[1] in ("?",) else 3
            rows[cells[0]] = [" ".join(cells[1:size_end]), cells[size_end]]
    return rows


def test_weights_list_fits_80_columns_with_sizes_and_a_status_column() -> None:
    result = runner.invoke(app, ["weights", "list"])
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert lines[0].split() == ["name", "size", "status", "description"]
    rows = _rows(result.stdout)
    assert set(rows) == set(w.REGISTRY)
    assert {status for _, status in rows.values()} == {"bundled", "download"}
    assert rows["vgg19"] == ["574.7 MB", "download"] and rows["vgg16"] == ["~554 MB", "download"]
    assert rows["adain-decoder"][0] == "~14 MB" and rows["candy"][0] == "~6.7 MB"
    assert rows["starry-night"] == ["3.4 MB", "bundled"]
    unknown = [name for name, (size, _) in rows.items() if size == "?"]
    assert unknown == ["gan-zoo-dcgan-fashiongen", "gan-zoo-pgan-celebahq"]  # no size published for these


def test_weights_list_marks_a_cached_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = b"weights!"
    spec = w.WeightSpec(
        "t", "https://example.invalid/t.bin", "t.bin", hashlib.sha256(data).hexdigest(), None, "CC0", "raw", "test"
    )
    monkeypatch.setitem(w.REGISTRY, "t", spec)
    (tmp_path / "t.bin").write_bytes(data)
    assert runner.invoke(app, ["weights", "import", "t", str(tmp_path / "t.bin")]).exit_code == 0
    line = next(line for line in runner.invoke(app, ["weights", "list"]).stdout.splitlines() if line.startswith("t "))
    assert line.split()[1:4] == ["8", "bytes", "cached"]


def test_weights_list_json_is_complete() -> None:
    rows = json.loads(runner.invoke(app, ["weights", "list", "--json"]).stdout)
    assert [r["name"] for r in rows] == list(w.REGISTRY)
    keys = {"name", "size", "approx_size", "status", "cached", "origin", "path", "url", "sha256", "license"}
    assert all(keys | {"layout", "description"} <= set(r) for r in rows)
    by_name = {r["name"]: r for r in rows}
    assert by_name["vgg16"]["size"] is None and by_name["vgg16"]["approx_size"] == 528 * 2**20
    assert by_name["vgg19"]["status"] == "download" and by_name["starry-night"]["status"] == "bundled"

"""The CLI glue (stylize.cli.batch_options): stdout lines, --json, exit codes, summaries, a CLI driving the engine."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import typer
from batch_helpers import EDGE_BROKEN, InvertBackend, make_image
from typer.testing import CliRunner

from stylize.batch import (
    BatchReport,
    Failure,
    Job,
    collect_inputs,
    plan_jobs,
    run_batch,
)
from stylize.cli.app import StylizeGroup
from stylize.cli.batch_options import (
    BatchSizeOption,
    ExtOption,
    FailFastOption,
    GlobOption,
    InputsArgument,
    IoWorkersOption,
    JsonOption,
    NameOption,
    OutputOption,
    OverwriteOption,
    ShardOption,
    build_batch_options,
    finish_batch,
    run_and_finish,
)
from stylize.errors import PartialBatchError, StylizeError


def make_cli() -> typer.Typer:
    cli = typer.Typer(cls=StylizeGroup, pretty_exceptions_enable=False)

    @cli.callback()
    def main() -> None:
        """Group mode, so StylizeGroup's exit-code funnel runs."""

    @cli.command()
    def invert(
        inputs: InputsArgument,
        output: OutputOption = None,
        name: NameOption = "{stem}_{style}.{ext}",
        ext: ExtOption = None,
        glob: GlobOption = None,
        overwrite: OverwriteOption = False,
        fail_fast: FailFastOption = False,
        as_json: JsonOption = False,
        batch_size: BatchSizeOption = 1,
        shard: ShardOption = None,
        io_workers: IoWorkersOption = 2,
        interrupt_at: int = 0,
    ) -> None:
        options = build_batch_options(
            output=output,
            name=name,
            ext=ext,
            glob=glob,
            overwrite=overwrite,
            fail_fast=fail_fast,
            shard=shard,
            batch_size=batch_size,
            io_workers=io_workers,
        )
        found = collect_inputs(inputs)
        jobs = plan_jobs(found, ["inv"], options)
        backend = InvertBackend(options, interrupt_at=interrupt_at)
        run_and_finish(lambda: run_batch(jobs, backend, options, inputs=found), as_json)

    return cli


def test_cli_prints_outputs_and_exits_0(tree: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(make_cli(), ["invert", str(tree), "-o", str(tmp_path / "o")])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert len(lines) == 4 and set(lines) == {str(p) for p in (tmp_path / "o").rglob("*.*")}
    assert "batch summary" in result.stderr


def test_cli_partial_exit_6_with_json(edge_tree: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(make_cli(), ["invert", str(edge_tree), "-o", str(tmp_path / "o"), "--json"])
    assert result.exit_code == PartialBatchError.exit_code == 6
    report = json.loads(result.stdout)
    assert {Path(f["input"]).name for f in report["failed"]} >= EDGE_BROKEN
    assert report["counts"]["done"] == len(report["done"]) and "empty file" in " ".join(result.stderr.split())


@pytest.mark.parametrize("args", [["--shard", "3/2"], ["-o", "one.png"], ["--name", "{oops}"], ["--batch-size", "0"]])
def test_cli_usage_errors_exit_2(tree: Path, args: list[str]) -> None:
    result = CliRunner().invoke(make_cli(), ["invert", str(tree), *args])
    assert result.exit_code == 2, result.output


def test_cli_interrupt_prints_summary_and_exits_130(tree: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(make_cli(), ["invert", str(tree), "-o", str(tmp_path / "o"), "--interrupt-at", "2"])
    assert result.exit_code == 130
    assert result.stdout.splitlines() == [str(tmp_path / "o" / "B_inv.png")]
    assert "not started" in result.stderr and "interrupted after 1 of 4" in result.stderr


def test_cli_folder_with_a_fifo_finishes_the_rest_and_exits_6(tree: Path, tmp_path: Path) -> None:
    os.mkfifo(tree / "zz_pipe.png")
    result = CliRunner().invoke(make_cli(), ["invert", str(tree), "-o", str(tmp_path / "o"), "--json"])
    assert result.exit_code == 6, result.output
    report = json.loads(result.stdout)
    assert report["counts"]["done"] == 4 and report["counts"]["unreadable"] == 1
    assert report["unreadable"][0]["input"].endswith("zz_pipe.png")
    assert "passed over" in result.stderr and "zz_pipe.png" in result.stderr


@pytest.mark.parametrize("relative", [False, True])
def test_cli_folder_with_symlink_loops_lists_them_and_exits_6(
    tree: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, relative: bool
) -> None:
    (tree / "zz_a.png").symlink_to("zz_b.png")  # a file link loop: zz_a.png -> zz_b.png -> zz_a.png
    (tree / "zz_b.png").symlink_to("zz_a.png")
    (tree / "zz_self").symlink_to(".")  # a folder link back to itself
    monkeypatch.chdir(tmp_path)
    folder = tree.relative_to(tmp_path) if relative else tree
    result = CliRunner().invoke(make_cli(), ["invert", str(folder), "-o", str(tmp_path / "o"), "--json"])
    assert result.exit_code == 6, result.output
    report = json.loads(result.stdout)
    assert report["counts"]["done"] == 4 and report["counts"]["unreadable"] == 3
    message = " ".join(result.stderr.split())
    assert "internal error" not in message
    for name in ("zz_a.png", "zz_b.png", "zz_self"):
        assert f"{tree.relative_to(tmp_path) / name}: " in message  # each link by its own name, not where it leads


def test_finish_batch_raises_partial(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    jobs = [
        Job(item, "s", tmp_path / f"o{i}.png")
        for i, item in enumerate(collect_inputs([str(make_image(tmp_path / n)) for n in ("a.png", "b.png")]).items)
    ]
    with pytest.raises(PartialBatchError, match="1 of 2 images failed"):
        finish_batch(BatchReport(done=[jobs[0]], failed=[Failure(jobs[1], "broken")]), as_json=False)
    capsys.readouterr()
    finish_batch(BatchReport(done=[jobs[0]]), as_json=False)
    assert capsys.readouterr().out.splitlines() == [str(tmp_path / "o0.png")]


def test_a_batch_of_one_failed_image_is_one_line_with_its_own_exit_code(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    job = Job(collect_inputs([str(make_image(tmp_path / "a.png"))]).items[0], "s", tmp_path / "o.png")
    with pytest.raises(StylizeError) as info:
        finish_batch(BatchReport(failed=[Failure(job, "cannot decode image (truncated)", 3)]), as_json=False)
    assert info.value.exit_code == 3 and str(info.value) == f"{job.input.path}: cannot decode image (truncated)"
    assert capsys.readouterr().err == ""  # no summary, no table: the CLI prints the one error line


def test_failure_lines_keep_each_path_whole_and_relative(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from stylize.cli.batch_options import failure_lines

    deep = tmp_path / "a_rather_long_folder_name" / "and_another_one_inside_it" / "holiday_photo_0001.jpg"
    job = Job(collect_inputs([str(make_image(deep))]).items[0], "s", tmp_path / "o.png")
    monkeypatch.chdir(tmp_path)
    report = BatchReport(failed=[Failure(job, "cannot decode image")] * 2)
    relative = "a_rather_long_folder_name/and_another_one_inside_it/holiday_photo_0001.jpg"
    assert failure_lines(report) == [f"failed: {relative}: cannot decode image"] * 2
    monkeypatch.chdir(deep.parent)
    assert failure_lines(report)[0] == "failed: holiday_photo_0001.jpg: cannot decode image"


def test_slow_batches_report_seconds_per_image(tmp_path: Path) -> None:
    from stylize.cli.batch_options import speed_text

    job = Job(collect_inputs([str(make_image(tmp_path / "a.png"))]).items[0], "s", tmp_path / "o.png")
    assert speed_text(BatchReport(done=[job], elapsed_s=61.0)) == "61.0 s/img"  # not "0.02 img/s"
    assert speed_text(BatchReport(done=[job] * 10, elapsed_s=2.0)) == "5.00 img/s"

"""The batch engine: inputs, naming, resuming, failure isolation, sharding, Ctrl-C, and the CLI glue."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Hashable
from io import StringIO
from pathlib import Path

import pytest
import typer
from PIL import Image, ImageOps
from typer.testing import CliRunner

from stylize import images
from stylize.batch import (
    DEFAULT_OUTPUT_DIR,
    BatchInterrupted,
    BatchOptions,
    BatchReport,
    Failure,
    Job,
    collect_inputs,
    load_picture,
    max_in_memory,
    parse_shard,
    plan_jobs,
    resolve_shard,
    run_batch,
    save_result_image,
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
from stylize.errors import InputError, OutputError, PartialBatchError, StylizeError, UsageError
from stylize.files import TEMP_PREFIX, TEMP_SUFFIX
from stylize.progress import RecordingReporter

EDGE = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "edge"
EDGE_BROKEN = {"truncated.jpg", "not_an_image.png", "empty.jpg"}


# ---------------------------------------------------------------- helpers


def make_image(path: Path, size: tuple[int, int] = (32, 24), colour: tuple[int, int, int] = (200, 40, 10)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(path)
    return path


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """photos/{a.jpg, B.PNG, sub/c.jpg, sub/deeper/d.webp, .hidden.jpg, .git/x.jpg, notes.txt}."""
    root = tmp_path / "photos"
    make_image(root / "a.jpg")
    make_image(root / "B.PNG", (20, 20))
    make_image(root / "sub" / "c.jpg")
    make_image(root / "sub" / "deeper" / "d.webp")
    make_image(root / ".hidden.jpg")
    make_image(root / ".git" / "x.jpg")
    (root / "notes.txt").write_text("not an image")
    (root / f"{TEMP_PREFIX}abc{TEMP_SUFFIX}.jpg").write_bytes(b"half")
    return root


class InvertBackend:
    """Inverts colours; records calls and how many images are alive between load and save."""

    def __init__(self, options: BatchOptions, delay: float = 0.0, interrupt_at: int = 0) -> None:
        self.options, self.delay, self.interrupt_at = options, delay, interrupt_at
        self.calls: list[list[Job]] = []
        self.alive = self.peak = 0
        self.lock = threading.Lock()

    def load(self, job: Job) -> images.Picture:
        pic = load_picture(job, self.options)
        with self.lock:
            self.alive += 1
            self.peak = max(self.peak, self.alive)
        return pic

    def group_key(self, loaded: images.Picture) -> Hashable:
        return loaded.size

    def process(self, jobs: list[Job], loaded: list[images.Picture]) -> list[images.Picture]:
        self.calls.append(jobs)
        if len(self.calls) == self.interrupt_at:
            raise KeyboardInterrupt
        time.sleep(self.delay)
        return [images.Picture(ImageOps.invert(pic.rgb), pic.alpha, exif=pic.exif) for pic in loaded]

    def save(self, job: Job, result: images.Picture) -> None:
        save_result_image(job, result.rgb, result.alpha, result.exif, self.options)
        with self.lock:
            self.alive -= 1


def run(sources: list[str], tmp_path: Path, styles: tuple[str, ...] = ("out",), **kw: object) -> BatchReport:
    options = BatchOptions(output=tmp_path / "out", **kw)  # type: ignore[arg-type]
    inputs = collect_inputs(sources)
    return run_batch(plan_jobs(inputs, styles, options), InvertBackend(options), options, inputs=inputs)


def files_under(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


def temp_files(root: Path) -> list[Path]:
    return [p for p in root.rglob(f"{TEMP_PREFIX}*") if TEMP_SUFFIX in p.name]


# ---------------------------------------------------------------- inputs


def test_collect_mirrors_folder_and_counts_skips(tree: Path) -> None:
    found = collect_inputs([str(tree)])
    assert [i.rel.as_posix() for i in found.items] == ["B.PNG", "a.jpg", "sub/c.jpg", "sub/deeper/d.webp"]
    assert found.skipped_hidden == 2  # .hidden.jpg and the .git folder
    assert found.skipped_non_image == 1  # notes.txt; our own temp file is not counted at all


def test_collect_glob_is_case_insensitive(tree: Path) -> None:
    found = collect_inputs([str(tree)], glob="*.JPG")
    assert [i.rel.as_posix() for i in found.items] == ["a.jpg", "sub/c.jpg"]
    assert collect_inputs([str(tree)], glob="sub/*.webp").items[0].rel == Path("sub/deeper/d.webp")


def test_collect_files_stdin_and_dedupe(tree: Path) -> None:
    stdin = StringIO(f"{tree / 'a.jpg'}\n\n{tree / 'sub' / 'c.jpg'}\n")
    found = collect_inputs(["-", str(tree / "a.jpg")], stdin=stdin)
    assert [(i.rel.as_posix(), i.path.name) for i in found.items] == [("a.jpg", "a.jpg"), ("c.jpg", "c.jpg")]


def test_collect_missing_and_empty_are_input_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        collect_inputs([str(tmp_path / "nope")])
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "readme.md").write_text("x")
    with pytest.raises(InputError, match="no images found"):
        collect_inputs([str(tmp_path / "empty")])


# ---------------------------------------------------------------- planning


def test_plan_mirrors_tree_with_template(tree: Path, tmp_path: Path) -> None:
    options = BatchOptions(output=tmp_path / "out", name="{parent}-{stem}_{style}.{ext}")
    jobs = plan_jobs(collect_inputs([str(tree)]), ["starry", "wave"], options)
    rel = [j.output.relative_to(tmp_path / "out").as_posix() for j in jobs]
    assert rel[:2] == ["photos-B_starry.png", "photos-B_wave.png"]
    assert "sub/deeper/deeper-d_wave.webp" in rel and len(rel) == 8


def test_plan_ext_and_gif_default(tmp_path: Path) -> None:
    make_image(tmp_path / "in" / "anim.gif")
    make_image(tmp_path / "in" / "x.JPEG")
    inputs = collect_inputs([str(tmp_path / "in")])
    names = [j.output.name for j in plan_jobs(inputs, ["s"], BatchOptions(output=tmp_path / "o", name="{name}.{ext}"))]
    assert names == ["anim.gif.png", "x.JPEG.jpeg"]
    forced = plan_jobs(inputs, ["s"], BatchOptions(output=tmp_path / "o", ext=".WEBP"))
    assert [j.output.name for j in forced] == ["anim_out_s.webp", "x_out_s.webp"]


def test_plan_never_takes_earlier_outputs_as_inputs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_image(tmp_path / "a.png")
    make_image(tmp_path / DEFAULT_OUTPUT_DIR / "a_s.png")  # the result of an earlier run in ./stylized/
    make_image(tmp_path / "out" / "a_s.png")
    monkeypatch.chdir(tmp_path)
    inputs = collect_inputs(["."])
    planned = [j.output.as_posix() for j in plan_jobs(inputs, ["s"], BatchOptions())]
    assert planned == ["stylized/a_out_s.png", "stylized/out/a_s_out_s.png"]
    assert inputs.skipped_in_output == 1
    jobs = plan_jobs(collect_inputs(["."]), ["s"], BatchOptions(output=Path("out")))
    assert [j.input.path.as_posix() for j in jobs] == ["a.png", "stylized/a_s.png"]


def test_plan_default_output_folder(tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tree.parent)
    jobs = plan_jobs(collect_inputs(["photos"]), ["out"], BatchOptions())
    assert jobs[1].output == DEFAULT_OUTPUT_DIR / "a_out_out.jpg"


def test_plan_single_file_output(tree: Path, tmp_path: Path) -> None:
    one = collect_inputs([str(tree / "a.jpg")])
    assert plan_jobs(one, ["s"], BatchOptions(output=tmp_path / "x.png"))[0].output == tmp_path / "x.png"
    with pytest.raises(UsageError, match="names one file but there are 4 outputs"):
        plan_jobs(collect_inputs([str(tree)]), ["s"], BatchOptions(output=tmp_path / "x.png"))


def test_plan_collision_names_both_inputs(tmp_path: Path) -> None:
    make_image(tmp_path / "in" / "p.jpg")
    make_image(tmp_path / "in" / "p.JPG")
    with pytest.raises(UsageError, match=r"p\.JPG.*and.*p\.jpg.*would both be written"):
        plan_jobs(collect_inputs([str(tmp_path / "in")]), ["s"], BatchOptions(output=tmp_path / "o"))
    with pytest.raises(UsageError, match="would both"):  # two styles, no {style}
        plan_jobs(collect_inputs([str(tmp_path / "in" / "p.jpg")]), ["s", "t"], BatchOptions(name="{stem}.{ext}"))


def test_plan_refuses_to_write_over_an_input(tree: Path) -> None:
    with pytest.raises(OutputError, match="would overwrite the input"):
        plan_jobs(collect_inputs([str(tree)]), ["s"], BatchOptions(output=tree, name="{stem}.{ext}"))


@pytest.mark.parametrize("kw", [{"name": "{stemm}.png"}, {"name": "../{stem}.png"}, {"ext": "gif"}, {"batch_size": 0}])
def test_bad_options_are_usage_errors(tree: Path, kw: dict[str, object]) -> None:
    with pytest.raises(UsageError):
        plan_jobs(collect_inputs([str(tree)]), ["s"], BatchOptions(**kw))  # type: ignore[arg-type]


# ---------------------------------------------------------------- running


def test_run_writes_inverted_mirror(tree: Path, tmp_path: Path) -> None:
    report = run([str(tree)], tmp_path)
    assert files_under(tmp_path / "out") == {
        "B_out_out.png",
        "a_out_out.jpg",
        "sub/c_out_out.jpg",
        "sub/deeper/d_out_out.webp",
    }
    assert Image.open(tmp_path / "out" / "B_out_out.png").getpixel((0, 0)) == (55, 215, 245)
    assert (len(report.done), report.skipped_hidden, report.skipped_non_image) == (4, 2, 1)


def test_skip_existing_then_overwrite(tree: Path, tmp_path: Path) -> None:
    run([str(tree)], tmp_path)
    (tmp_path / "out" / "a_out_out.jpg").unlink()
    again = run([str(tree)], tmp_path)
    assert [j.output.name for j in again.done] == ["a_out_out.jpg"] and len(again.skipped) == 3
    redo = run([str(tree)], tmp_path, overwrite=True)
    assert (len(redo.done), len(redo.skipped)) == (4, 0)


@pytest.mark.parametrize("io_workers", [0, 2])
def test_batches_group_equal_sizes_and_memory_is_bounded(tmp_path: Path, io_workers: int) -> None:
    for i in range(30):
        make_image(tmp_path / "in" / f"{i:02d}.png", (16, 16) if i % 3 else (8, 12))
    options = BatchOptions(output=tmp_path / "out", batch_size=3, io_workers=io_workers)
    backend = InvertBackend(options)
    report = run_batch(plan_jobs(collect_inputs([str(tmp_path / "in")]), ["s"], options), backend, options)
    assert len(report.done) == 30
    assert all(len({backend.group_key(load_picture(j, options)) for j in call}) == 1 for call in backend.calls)
    assert max(map(len, backend.calls)) == 3
    assert backend.peak <= max_in_memory(options)


def test_progress_goes_through_the_reporter(tree: Path, tmp_path: Path) -> None:
    options = BatchOptions(output=tmp_path / "out")
    reporter = RecordingReporter()
    run_batch(plan_jobs(collect_inputs([str(tree)]), ["s"], options), InvertBackend(options), options, reporter)
    assert reporter.events[0] == ("start", "images", "4") and reporter.events[-1] == ("finish", "images")
    assert sum(1 for e in reporter.events if e[0] == "advance") == 4


@pytest.fixture
def edge_tree(tmp_path: Path) -> Path:
    if not EDGE.is_dir():
        pytest.skip("../shared/data/edge is not available")
    root = tmp_path / "mixed"
    shutil.copytree(EDGE, root)
    root.chmod(0o755)  # the shared copy is read-only
    for path in root.iterdir():
        path.chmod(0o644)
    for i in range(3):
        make_image(root / "gen" / f"g{i}.jpg")
    return root


def test_broken_files_fail_and_the_batch_goes_on(edge_tree: Path, tmp_path: Path) -> None:
    report = run([str(edge_tree)], tmp_path)
    failed = {f.path.name: f.reason for f in report.failed}
    assert {f.exit_code for f in report.failed} == {3}  # each one alone would have been an input error
    assert EDGE_BROKEN <= set(failed) and "bomb_30000x30000.png" in failed
    assert "pixel limit" in failed["bomb_30000x30000.png"] and "truncated" in failed["truncated.jpg"]
    assert len(report.done) == len(report.to_json()["done"]) == 14
    assert (tmp_path / "out" / "palette_out_out.png").is_file() and not temp_files(tmp_path)


def test_fail_fast_stops_at_the_first_failure(tmp_path: Path) -> None:
    for i in range(12):
        make_image(tmp_path / "in" / f"{i:02d}.png")
    (tmp_path / "in" / "03.png").write_bytes(b"garbage")
    report = run([str(tmp_path / "in")], tmp_path, fail_fast=True, io_workers=0)
    assert report.stopped_early and len(report.failed) == 1
    assert len(report.done) == 3 and report.not_started == 8


def test_backend_bug_is_a_failure_with_a_short_reason(tree: Path, tmp_path: Path) -> None:
    class Broken(InvertBackend):
        def process(self, jobs: list[Job], loaded: list[images.Picture]) -> list[images.Picture]:
            raise ValueError("boom")

    options = BatchOptions(output=tmp_path / "out")
    reporter = RecordingReporter()
    jobs = plan_jobs(collect_inputs([str(tree)]), ["s"], options)
    report = run_batch(jobs, Broken(options), options, reporter)
    assert [(f.reason, f.exit_code) for f in report.failed] == [("ValueError: boom", 1)] * 4
    warnings = sorted(e[2] for e in reporter.events if e[:2] == ("log", "warning"))
    assert warnings == sorted(f"failed: {job.input.path}: ValueError: boom" for job in jobs)  # which file, as it fails


@pytest.mark.parametrize("io_workers", [0, 2])
def test_interrupt_saves_finished_work_and_raises(tree: Path, tmp_path: Path, io_workers: int) -> None:
    options = BatchOptions(output=tmp_path / "out", io_workers=io_workers)
    backend = InvertBackend(options, interrupt_at=3)
    with pytest.raises(BatchInterrupted, match="after 2 of 4") as caught:
        run_batch(plan_jobs(collect_inputs([str(tree)]), ["s"], options), backend, options)
    report = caught.value.report
    assert report.interrupted and caught.value.exit_code == 130
    assert (len(report.done), report.not_started) == (2, 2)
    assert files_under(tmp_path / "out") == {"B_out_s.png", "a_out_s.jpg"}


# ---------------------------------------------------------------- sharding


def test_shards_are_disjoint_and_their_union_is_the_whole(tmp_path: Path) -> None:
    for i in range(10):
        make_image(tmp_path / "in" / f"d{i % 3}" / f"{i}.png")
    inputs = collect_inputs([str(tmp_path / "in")])
    whole = plan_jobs(inputs, ["s", "t"], BatchOptions())
    parts = [plan_jobs(inputs, ["s", "t"], BatchOptions(shard=(i, 3))) for i in range(3)]
    outputs = [j.output for part in parts for j in part]
    assert sorted(outputs) == sorted(j.output for j in whole) and len(set(outputs)) == 20
    assert all(
        {j.input for j in part}.isdisjoint({j.input for j in other})
        for part in parts
        for other in parts
        if part is not other
    )


def test_shard_from_torchrun_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert resolve_shard(None, {"RANK": "2", "WORLD_SIZE": "4"}) == (2, 4)
    assert resolve_shard(None, {"RANK": "2"}) is None and resolve_shard((1, 2), {"RANK": "0", "WORLD_SIZE": "4"}) == (
        1,
        2,
    )
    for i in range(4):
        make_image(tmp_path / "in" / f"{i}.png")
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "2")
    jobs = plan_jobs(collect_inputs([str(tmp_path / "in")]), ["s"], BatchOptions())
    assert [j.input.path.name for j in jobs] == ["1.png", "3.png"]


@pytest.mark.parametrize("text", ["4/4", "-1/2", "1", "a/b", "1/0"])
def test_bad_shards_are_usage_errors(text: str) -> None:
    with pytest.raises(UsageError):
        parse_shard(text)


# ---------------------------------------------------------------- CLI glue


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


# ---------------------------------------------------------------- Ctrl-C

SLOW_SCRIPT = """
import json, signal, sys, time
from pathlib import Path
from stylize import images
from stylize.batch import BatchInterrupted, BatchOptions, collect_inputs, load_picture, plan_jobs, run_batch
from stylize.batch import save_result_image

signal.signal(signal.SIGINT, signal.default_int_handler)  # even if our parent ignores SIGINT
options = BatchOptions(output=Path(sys.argv[2]), batch_size=2)

class Slow:
    def load(self, job):
        return load_picture(job, options)
    def group_key(self, pic):
        return pic.size
    def process(self, jobs, pics):
        time.sleep(0.15)
        return pics
    def save(self, job, pic):
        time.sleep(0.02)
        save_result_image(job, pic.rgb, None, None, options)

inputs = collect_inputs([sys.argv[1]])
try:
    report = run_batch(plan_jobs(inputs, ["s"], options), Slow(), options)
except BatchInterrupted as exc:
    print(json.dumps(exc.report.counts()))
    sys.exit(130)
print(json.dumps(report.counts()))
"""


def run_script(script: Path, src: Path, out: Path) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, str(script), str(src), str(out)], stdout=subprocess.PIPE, text=True)


def test_sigint_stops_cleanly_and_a_rerun_resumes(tmp_path: Path) -> None:
    for i in range(24):
        make_image(tmp_path / "in" / f"sub{i % 2}" / f"{i:02d}.jpg", (48, 32))
    script, out = tmp_path / "slow.py", tmp_path / "out"
    script.write_text(textwrap.dedent(SLOW_SCRIPT))
    proc = run_script(script, tmp_path / "in", out)
    deadline = time.monotonic() + 30
    while len(list(out.rglob("*_s.jpg"))) < 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    stdout, _ = proc.communicate(timeout=30)
    first = json.loads(stdout)
    assert proc.returncode == 130
    assert not temp_files(out)
    written = len(list(out.rglob("*_s.jpg")))
    assert 3 <= first["done"] == written < 24
    proc = run_script(script, tmp_path / "in", out)
    second = json.loads(proc.communicate(timeout=60)[0])
    assert proc.returncode == 0 and second["skipped"] == written and second["done"] == 24 - written
    assert len(list(out.rglob("*_s.jpg"))) == 24 and not temp_files(out)


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


def test_outputs_may_not_be_protected_files_even_through_a_hard_link(tmp_path: Path) -> None:
    photo, style = make_image(tmp_path / "in" / "a.png"), make_image(tmp_path / "style.png")
    inputs = collect_inputs([str(photo)])
    with pytest.raises(OutputError, match="which this command reads"):
        plan_jobs(inputs, ["s"], BatchOptions(output=style), protected=[style])
    os.link(style, tmp_path / "alias.png")
    with pytest.raises(OutputError, match="which this command reads"):
        plan_jobs(inputs, ["s"], BatchOptions(output=tmp_path / "alias.png"), protected=[style])
    assert plan_jobs(inputs, ["s"], BatchOptions(output=tmp_path / "fine.png"), protected=[style])


def test_a_fifo_is_refused_named_directly_and_passed_over_in_a_folder(tmp_path: Path) -> None:
    make_image(tmp_path / "in" / "a.png")
    fifo = tmp_path / "in" / "pipe.png"
    os.mkfifo(fifo)
    with pytest.raises(InputError, match="not a regular file"):
        collect_inputs([str(fifo)])  # never opened: opening a FIFO with no writer blocks forever
    found = collect_inputs([str(tmp_path / "in")])
    assert [item.path.name for item in found.items] == ["a.png"]
    assert found.unreadable == [(fifo, "not a regular file (a FIFO, device, socket or broken link)")]
    with pytest.raises(InputError, match="not a regular file"):
        images.open_image(fifo)


def test_links_that_lead_nowhere_say_so(tmp_path: Path) -> None:
    loop = tmp_path / "loop.png"
    loop.symlink_to(loop)
    with pytest.raises(InputError, match="looping symbolic link"):
        collect_inputs([str(loop)])
    (tmp_path / "dangling.png").symlink_to(tmp_path / "gone.png")
    with pytest.raises(InputError, match="broken or looping symbolic link"):
        collect_inputs([str(tmp_path / "dangling.png")])
    zero = tmp_path / "zero.png"
    zero.symlink_to("/dev/zero")
    with pytest.raises(InputError, match="not a regular file"):
        collect_inputs([str(zero)])


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads every folder")
def test_an_unreadable_subfolder_is_reported_not_silently_skipped(tmp_path: Path) -> None:
    make_image(tmp_path / "in" / "a.png")
    locked = tmp_path / "in" / "locked"
    make_image(locked / "b.png")
    locked.chmod(0)
    try:
        found = collect_inputs([str(tmp_path / "in")])
        assert [item.path.name for item in found.items] == ["a.png"]
        assert found.unreadable and "not readable" in found.unreadable[0][1]
        with pytest.raises(InputError, match="permission denied"):
            collect_inputs([str(locked / "b.png")])
    finally:
        locked.chmod(0o755)


def test_cli_folder_with_a_fifo_finishes_the_rest_and_exits_6(tree: Path, tmp_path: Path) -> None:
    os.mkfifo(tree / "zz_pipe.png")
    result = CliRunner().invoke(make_cli(), ["invert", str(tree), "-o", str(tmp_path / "o"), "--json"])
    assert result.exit_code == 6, result.output
    report = json.loads(result.stdout)
    assert report["counts"]["done"] == 4 and report["counts"]["unreadable"] == 1
    assert report["unreadable"][0]["input"].endswith("zz_pipe.png")
    assert "passed over" in result.stderr and "zz_pipe.png" in result.stderr


def test_environment_shard_errors_name_the_variables() -> None:
    with pytest.raises(UsageError, match="RANK=3 WORLD_SIZE=2"):
        resolve_shard(None, {"RANK": "3", "WORLD_SIZE": "2"})


@pytest.mark.parametrize("name", ["out.exe", "result.txt"])
def test_a_one_file_output_with_an_unknown_extension_is_refused(tmp_path: Path, name: str) -> None:
    inputs = collect_inputs([str(make_image(tmp_path / "a.png"))])
    with pytest.raises(UsageError, match="not an image format"):
        plan_jobs(inputs, ["s"], BatchOptions(output=tmp_path / name))
    assert plan_jobs(inputs, ["s"], BatchOptions(output=tmp_path / "v1.2"))[0].output.parent == tmp_path / "v1.2"


def test_an_output_folder_under_a_file_is_refused_before_any_work(tmp_path: Path) -> None:
    inputs = collect_inputs([str(make_image(tmp_path / "a.png"))])
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(OutputError, match="is a file"):
        plan_jobs(inputs, ["s"], BatchOptions(output=tmp_path / "file.txt" / "out"))


def test_folder_links_are_followed_once_and_loops_reported(tmp_path: Path) -> None:
    make_image(tmp_path / "real" / "a.png")
    (tmp_path / "in").mkdir()
    make_image(tmp_path / "in" / "b.png")
    (tmp_path / "in" / "linked").symlink_to(tmp_path / "real")
    (tmp_path / "in" / "loop").symlink_to(tmp_path / "in")
    found = collect_inputs([str(tmp_path / "in")])
    assert sorted(item.rel.as_posix() for item in found.items) == ["b.png", "linked/a.png"]
    assert [(p.name, "loop" in why) for p, why in found.unreadable] == [("loop", True)]


def test_line_breaks_in_file_names_are_refused(tmp_path: Path) -> None:
    odd = make_image(tmp_path / "in" / "two\nlines.png")
    make_image(tmp_path / "in" / "fine.png")
    with pytest.raises(InputError, match="line break"):
        collect_inputs([str(odd)])
    found = collect_inputs([str(tmp_path / "in")])
    assert [item.path.name for item in found.items] == ["fine.png"] and len(found.unreadable) == 1


def test_a_file_in_an_unsearchable_folder_is_one_line_not_an_internal_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As a normal user (root searches every folder, so the denial is simulated)."""
    target = make_image(tmp_path / "locked" / "a.png")
    real_stat = Path.stat

    def stat(self: Path, *args: object, **kwargs: object) -> os.stat_result:
        if self == target:
            raise PermissionError(13, "Permission denied", str(self))
        return real_stat(self, *args, **kwargs)

    monkeypatch.setattr(Path, "stat", stat)
    with pytest.raises(InputError, match="permission denied"):
        collect_inputs([str(target)])


def test_slow_batches_report_seconds_per_image(tmp_path: Path) -> None:
    from stylize.cli.batch_options import speed_text

    job = Job(collect_inputs([str(make_image(tmp_path / "a.png"))]).items[0], "s", tmp_path / "o.png")
    assert speed_text(BatchReport(done=[job], elapsed_s=61.0)) == "61.0 s/img"  # not "0.02 img/s"
    assert speed_text(BatchReport(done=[job] * 10, elapsed_s=2.0)) == "5.00 img/s"

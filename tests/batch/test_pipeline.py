"""stylize.batch.pipeline: running, resuming, batching, progress, failure isolation, interrupts and Ctrl-C."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from batch_helpers import EDGE_BROKEN, InvertBackend, files_under, make_image, run, temp_files
from PIL import Image

from stylize import images
from stylize.batch import (
    BatchInterrupted,
    BatchOptions,
    Job,
    collect_inputs,
    load_picture,
    max_in_memory,
    plan_jobs,
    run_batch,
)
from stylize.progress import RecordingReporter


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

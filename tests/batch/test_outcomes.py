"""stylize.batch.outcomes: skipping and refusing existing outputs, failure isolation, fatal errors, Ctrl-C."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from batch_helpers import make_image
from PIL import Image

from stylize import images
from stylize.batch import (
    IMAGE_OUTPUTS,
    BatchInterrupted,
    BatchReport,
    InputItem,
    InputSet,
    Job,
    Outcomes,
    OutputKind,
    new_report,
    skip_existing,
)
from stylize.errors import InputError, OutputError, WeightsError
from stylize.progress import RecordingReporter
from stylize.provenance import JobSignature

SETTINGS = JobSignature("adain", {"alpha": 1.0})
OTHER_SETTINGS = JobSignature("adain", {"alpha": 0.5})


class TextNotes:
    """An OutputKind whose outputs are text files holding their signature; counts the reads."""

    def __init__(self, count_others: bool = True) -> None:
        self.reads: list[str] = []
        self.kind = OutputKind("things", self.read, "--overwrite redoes it", count_others)

    def read(self, path: Path) -> str | None:
        self.reads.append(path.name)
        return path.read_text() or None


def _job(tmp_path: Path, name: str, signature: JobSignature | None = SETTINGS) -> Job:
    content = tmp_path / "in" / f"{name}.txt"
    content.parent.mkdir(exist_ok=True)
    content.write_text(name)
    text = signature.text(content) if signature else None
    return Job(InputItem(content, Path(content.name)), "s", tmp_path / "out" / f"{name}.out", text)


def _made_by(job: Job, signature: str | None) -> None:
    job.output.parent.mkdir(exist_ok=True)
    job.output.write_text(signature or "")


def test_an_output_this_job_made_is_skipped_and_the_rest_are_to_do(tmp_path: Path) -> None:
    made, missing = _job(tmp_path, "made"), _job(tmp_path, "missing")
    _made_by(made, made.signature)
    reporter = RecordingReporter()
    todo, skipped = skip_existing([made, missing], False, TextNotes().kind, reporter)
    assert (todo, skipped) == ([missing], [made])
    assert reporter.events == [("log", "info", "1 of 2 things exist already: skipped (--overwrite redoes them)")]


def test_overwrite_redoes_every_output_without_reading_them(tmp_path: Path) -> None:
    jobs = [_job(tmp_path, "a"), _job(tmp_path, "b", OTHER_SETTINGS)]
    for job in jobs:
        _made_by(job, "not a signature")
    notes = TextNotes()
    assert skip_existing(jobs, True, notes.kind, RecordingReporter()) == (jobs, [])
    assert notes.reads == []


def test_an_output_of_a_job_without_signature_is_skipped_unread(tmp_path: Path) -> None:
    job = _job(tmp_path, "plain", signature=None)
    _made_by(job, None)
    notes = TextNotes()
    assert skip_existing([job], False, notes.kind, RecordingReporter()) == ([], [job])
    assert notes.reads == []


def test_outputs_of_another_job_are_refused_before_any_work(tmp_path: Path) -> None:
    ours, theirs, unsigned = _job(tmp_path, "a"), _job(tmp_path, "b"), _job(tmp_path, "c")
    _made_by(ours, ours.signature)
    _made_by(theirs, _job(tmp_path, "b", OTHER_SETTINGS).signature)
    _made_by(unsigned, None)
    with pytest.raises(OutputError, match=r"b\.out exists from another job: .*alpha.* \(and 1 more outputs\)") as err:
        skip_existing([ours, theirs, unsigned], False, TextNotes().kind, RecordingReporter())
    assert err.value.hint == "--overwrite redoes it"


def test_without_count_others_only_the_first_refused_output_is_read(tmp_path: Path) -> None:
    first, second = _job(tmp_path, "a"), _job(tmp_path, "b")
    _made_by(first, None)
    _made_by(second, None)
    notes = TextNotes(count_others=False)
    with pytest.raises(OutputError) as err:
        skip_existing([first, second], False, notes.kind, RecordingReporter())
    assert str(err.value).endswith("a.out exists from another job: it has no stylize record "
                                   "(made by another program, or by stylize before 0.1)")  # fmt: skip
    assert notes.reads == ["a.out"]


def test_image_outputs_read_the_signature_the_image_carries(tmp_path: Path) -> None:
    job = _job(tmp_path, "photo")
    job = Job(job.input, job.style, tmp_path / "out" / "photo.png", job.signature)
    job.output.parent.mkdir()
    images.save_image(Image.new("RGB", (8, 8)), job.output, note=job.signature)
    assert skip_existing([job], False, IMAGE_OUTPUTS, RecordingReporter()) == ([], [job])
    make_image(job.output)  # the same file, from another program
    with pytest.raises(OutputError, match="no stylize record"):
        skip_existing([job], False, IMAGE_OUTPUTS, RecordingReporter())


def _work(fail: dict[str, BaseException], ran: list[str]) -> Callable[[Job], None]:
    """A job's work: note its stem, raise what ``fail`` names for it."""

    def work(job: Job) -> None:
        ran.append(job.input.path.stem)
        if job.input.path.stem in fail:
            raise fail[job.input.path.stem]

    return work


def test_a_failing_job_is_recorded_and_the_others_go_on(tmp_path: Path) -> None:
    jobs = [_job(tmp_path, name) for name in ("a", "bad", "c")]
    report, reporter, ran = BatchReport(), RecordingReporter(), []
    outcomes = Outcomes(report, reporter, "things")
    with outcomes.timed(len(jobs), "thing"):
        outcomes.run_each(jobs, _work({"bad": InputError("cannot decode it")}, ran))
    assert ran == ["a", "bad", "c"] and report.done == [jobs[0], jobs[2]]
    [failure] = report.failed
    assert (failure.what, failure.reason, failure.exit_code) == (jobs[1], "cannot decode it", InputError.exit_code)
    assert ("log", "warning", f"failed: {jobs[1].input.path}: cannot decode it") in reporter.events
    assert [e for e in reporter.events if e[0] != "log"] == [
        ("start", "things", "3"),
        *[("advance", "things", "1")] * 3,
        ("finish", "things"),
    ]
    assert (report.not_started, report.stopped_early, report.interrupted) == (0, False, False)
    assert report.elapsed_s > 0


def test_the_only_job_fails_without_a_warning_and_any_error_gets_the_generic_code(tmp_path: Path) -> None:
    job = _job(tmp_path, "only")
    report, reporter = BatchReport(), RecordingReporter()
    Outcomes(report, reporter, "things", single=True).run_each([job], _work({"only": RuntimeError("boom")}, []))
    assert report.failed[0].reason == "RuntimeError: boom" and report.failed[0].exit_code == 1
    assert not [e for e in reporter.events if e[0] == "log"]


def test_fail_fast_stops_after_the_first_failure(tmp_path: Path) -> None:
    jobs = [_job(tmp_path, name) for name in ("bad", "b", "c")]
    report, ran = BatchReport(), []
    Outcomes(report, RecordingReporter(), "things", fail_fast=True).run_each(jobs, _work({"bad": ValueError()}, ran))
    assert ran == ["bad"] and len(report.failed) == 1 and report.done == []
    assert (report.not_started, report.stopped_early) == (2, True)


def test_a_fatal_error_stops_the_batch_and_propagates(tmp_path: Path) -> None:
    jobs = [_job(tmp_path, name) for name in ("a", "b")]
    report, ran = BatchReport(), []
    outcomes = Outcomes(report, RecordingReporter(), "things")
    with pytest.raises(WeightsError, match="no weights"):
        outcomes.run_each(jobs, _work({"a": WeightsError("no weights")}, ran))
    assert ran == ["a"] and report.failed == [] and report.done == []
    with pytest.raises(WeightsError):  # the same from a pipeline that records failures itself
        outcomes.failed(jobs[1], WeightsError("no weights"))
    assert report.failed == []


def test_ctrl_c_raises_batch_interrupted_with_the_partial_report(tmp_path: Path) -> None:
    jobs = [_job(tmp_path, name) for name in ("a", "stop", "c", "d")]
    report, reporter = BatchReport(elapsed_s=1.0), RecordingReporter()
    outcomes = Outcomes(report, reporter, "things")
    with pytest.raises(BatchInterrupted) as err, outcomes.timed(len(jobs), "thing"):
        outcomes.run_each(jobs, _work({"stop": KeyboardInterrupt()}, []))
    assert err.value.report is report and err.value.exit_code == 130
    assert str(err.value).startswith("interrupted after 1 of 4 images")
    assert (report.done, report.not_started, report.interrupted) == ([jobs[0]], 3, True)
    assert report.elapsed_s > 1.0 and reporter.events[-1] == ("finish", "things")  # time adds up across runs


def test_new_report_carries_what_collecting_passed_over(tmp_path: Path) -> None:
    inputs = InputSet(skipped_hidden=2, skipped_non_image=1, unreadable=[(tmp_path / "x.jpg", "truncated")])
    report = new_report(inputs)
    assert (report.skipped_hidden, report.skipped_non_image, report.unreadable) == (2, 1, inputs.unreadable)
    assert report.unreadable is not inputs.unreadable
    assert new_report(None) == BatchReport()

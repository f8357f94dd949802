"""Videos through a batch backend: decode -> the model -> stabilise -> encode, in resumable segments.

    report = run_jobs(jobs, backend, options, reporter, inputs, prepare, VideoConfig())

Images among ``jobs`` go to :func:`stylize.batch.run_batch` unchanged; each video job then runs
the *same* backend's ``prepare`` (a frame as a model input, like ``load``) and ``process`` on
batches of frames. Three threads overlap the work: one decodes (and resizes) frames, the main one
runs the model and the stabiliser, one encodes; bounded queues between them keep memory flat
whatever the video's length (:mod:`stylize.video.pipeline`).

Output is written in segments of ``segment_s`` seconds into a hidden work folder beside the
output (``.NAME.stylize-video/``: segment files, the stabiliser's state, ``manifest.json`` with
the job signature). Ctrl-C or a crash keeps the finished segments; the same command resumes
after the last one, and a changed setting starts over. The output appears, atomically, only when
every frame is done: the segments' packets and the input's audio packets remuxed, no re-encode
(:mod:`stylize.video.segments`).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from stylize import images, video
from stylize.batch import (
    BatchInterrupted,
    BatchOptions,
    BatchReport,
    InputSet,
    Job,
    Outcomes,
    OutputKind,
    VideoBackend,
    new_report,
    run_batch,
    skip_existing,
    written_meanwhile,
)
from stylize.errors import InputError
from stylize.files import atomic_path, remove_stale_temp_files
from stylize.progress import NullReporter, Reporter
from stylize.video import VideoConfig, VideoInfo
from stylize.video.pipeline import FrameReader, FrameWriter
from stylize.video.segments import FileSink, Segments, SegmentSink, Sink, work_folder
from stylize.video.temporal import FlowEstimator, Stabilizer, warping_error

TASK = "videos"  # the Reporter task of the batch-wide video bar
FRAMES = "frames"  # the per-video bar
# only the first video from another job is named: reading a video's signature opens its container
OUTPUTS = OutputKind(
    "videos",
    video.read_note,
    "--overwrite replaces it; --name '{stem}_{method}_{variant}_2.{ext}' writes a new one",
    count_others=False,
)


def split_jobs(jobs: Sequence[Job]) -> tuple[list[Job], list[Job]]:
    """(image jobs, video jobs)."""
    return [job for job in jobs if not job.input.video], [job for job in jobs if job.input.video]


def run_jobs(
    jobs: Sequence[Job],
    backend: VideoBackend,
    options: BatchOptions,
    reporter: Reporter | None,
    inputs: InputSet,
    prepare: Callable[[list[Job]], None] | None,
    config: VideoConfig,
) -> BatchReport:
    """Images through the batch engine, then each video; one report for both (a failed video is a Failure)."""
    reporter = reporter or NullReporter()
    image_jobs, video_jobs = split_jobs(jobs)
    todo, skipped = skip_existing(video_jobs, options.overwrite, OUTPUTS, reporter)
    try:
        report = (
            run_batch(image_jobs, backend, options, reporter, inputs=inputs, prepare=prepare)
            if image_jobs
            else new_report(inputs)
        )
    except BatchInterrupted as exc:
        exc.report.not_started += len(todo)
        exc.report.skipped += skipped
        raise
    report.skipped += skipped
    if todo:
        if prepare is not None:
            prepare(todo)
        VideoRunner(backend, options, config, reporter, single=len(jobs) == 1).run_all(todo, report)
    return report


@dataclass
class VideoRunner:
    """Runs video jobs one at a time, each frame batch through ``backend.process``."""

    backend: VideoBackend
    options: BatchOptions
    config: VideoConfig
    reporter: Reporter = field(default_factory=NullReporter)
    single: bool = False  # the batch's only job: its failure becomes the command's one error line, no warning

    def run_all(self, todo: Sequence[Job], report: BatchReport) -> None:
        """Every job; failures recorded in ``report``; Ctrl-C raises BatchInterrupted (finished segments kept)."""
        outcomes = Outcomes(report, self.reporter, TASK, self.options.fail_fast, self.single)
        with outcomes.timed(len(todo), "video"):
            outcomes.run_each(todo, self.run_one)

    def run_one(self, job: Job) -> None:
        """Stylize one video into ``job.output`` (resuming from finished segments)."""
        info = video.probe(job.input.path, self.options.max_pixels)
        codec = video.codec_for(job.output, self.config)
        folder = work_folder(job.output)
        remove_stale_temp_files(job.output.parent)
        if job.output.suffix.lower() in video.ONE_PASS:  # GIF/WebP packets do not stand alone: one pass
            return self._run_gif(job, info, codec)
        video.check_output_fits(info, job.output, self.config, codec)
        segments = Segments.open(folder, job.signature or "", self.reporter)
        stabilizer = Stabilizer(self.config.temporal, previous=segments.state())
        sink = SegmentSink(segments, info, self.config, codec)
        self._stream(job, info, sink, stabilizer, segments.last_pts, segments.backend_state())
        if not segments.entries:
            shutil.rmtree(folder, ignore_errors=True)
            raise InputError(f"{job.input.path}: no frames between {self.config.start:g} s and {self.config.end:g} s")
        with self._placed(job) as tmp:
            video.join_segments(segments.files(), tmp, info, self.config, job.signature)
        shutil.rmtree(folder, ignore_errors=True)

    @contextmanager
    def _placed(self, job: Job) -> Iterator[Path]:
        """``atomic_path(job.output)``; without --overwrite an output that appeared meanwhile (another
        run) stays, and is an OutputError unless it is this very job's."""
        try:
            with atomic_path(job.output, replace=self.options.overwrite) as tmp:
                yield tmp
        except FileExistsError:
            written_meanwhile(job, OUTPUTS)

    def _run_gif(self, job: Job, info: VideoInfo, codec: str) -> None:
        """One pass into the output's temp file; the signature in a sidecar (as for BMP), bound to
        the finished file's bytes and written just before it is renamed into place."""
        with self._placed(job) as tmp:
            sink = FileSink(tmp, info, self.config, codec)
            self._stream(job, info, sink, Stabilizer(self.config.temporal), None)
            if not sink.frames:
                raise InputError(
                    f"{job.input.path}: no frames between {self.config.start:g} s and {self.config.end:g} s"
                )
            if not self.options.overwrite and job.output.exists():
                raise FileExistsError(job.output)  # keep the sidecar of the output another run wrote
            if job.signature:
                images.write_sidecar_note(job.output, tmp, job.signature)

    def _stream(
        self,
        job: Job,
        info: VideoInfo,
        sink: Sink,
        stabilizer: Stabilizer,
        after_pts: int | None,
        resumed: dict[str, np.ndarray] | None = None,
    ) -> None:
        """Decode (thread) -> model + stabiliser (here) -> encode (thread), every frame of the window."""
        frames = FrameReader(job, self.backend, self.config, after_pts, self._queue_size(), self.options.max_pixels)
        writer = FrameWriter(sink, self._queue_size())
        self.reporter.start(FRAMES, total=_frames_in_window(info, self.config), unit="frame", transient=True)
        try:
            self._begin_video(job, resumed)
            for batch in frames.batches(self.options.batch_size):
                for frame, content, out, extra in self._process(job, batch, stabilizer):
                    writer.put((frame.pts, frame.time, content, out, extra))
                self.reporter.advance(FRAMES, len(batch))
            writer.finish()
        except BaseException as exc:
            frames.stop()
            if isinstance(exc, KeyboardInterrupt):
                writer.stop()  # the frames already done are written: a segment they close survives
            else:
                writer.abort()
            raise
        finally:
            self.reporter.finish(FRAMES)
            self.backend.begin_video(None)

    def _begin_video(self, job: Job, resumed: dict[str, np.ndarray] | None = None) -> None:
        """Tell a backend that keeps per-video state (AdaIN's colour match and content statistics) the
        window's first frame, the same whether this run starts there or resumes later, and the state
        it had after the last finished segment (``resumed``)."""
        frames = video.read_frames(
            job.input.path, self.config.start, self.config.end, max_pixels=self.options.max_pixels
        )
        try:
            first = next(frames, None)
        finally:
            frames.close()
        picture = images.Picture(Image.fromarray(first.rgb), path=job.input.path) if first is not None else None
        loaded = self.backend.prepare(picture, job.style, self.config.frame_size) if picture is not None else None
        self.backend.begin_video(loaded, self.config.temporal, resumed)

    def _process(
        self, job: Job, batch: list[tuple[video.Frame, Any]], stabilizer: Stabilizer
    ) -> Iterator[tuple[video.Frame, np.ndarray, np.ndarray, dict[str, np.ndarray] | None]]:
        """Each frame's content, stabilised output, and the backend's per-video state after it."""
        loads = [loaded for _, loaded in batch]
        results = self.backend.process([job] * len(loads), loads)
        trail = self.backend.video_states() or [None] * len(loads)
        for (frame, loaded), result, extra in zip(batch, results, trail):
            tensor = result[0]  # (image, picture, ...) from every backend
            content = np.asarray(loaded.picture.rgb)
            yield frame, content, stabilizer(content, np.asarray(images.to_pil(tensor))), extra

    def _queue_size(self) -> int:
        return 2 * self.options.batch_size + max(self.options.io_workers, 1)


def _frames_in_window(info: VideoInfo, config: VideoConfig) -> int | None:
    """About how many frames --start/--duration select (for the progress bar); None when unknown."""
    if not info.frames:
        return None
    left = max(info.frames - round(config.start * info.fps), 0)
    return min(left, round(config.duration * info.fps)) if config.duration else left


@dataclass(frozen=True)
class Flicker:
    """``stylize eval --video``: how much a video flickers against the motion of its input."""

    path: Path
    warping_error: float  # mean over frame pairs of the MSE (RGB in [0, 1]) over unoccluded pixels
    pairs: int  # frame pairs compared
    compared: float  # mean share of pixels not occluded (the part the error is measured on)
    style_distance: float | None = None  # mean over sampled frames, when a style was given (api.evaluate_video)

    def to_json(self) -> dict[str, Any]:
        return {
            "output": str(self.path),
            "warping_error": self.warping_error,
            "pairs": self.pairs,
            "compared": round(self.compared, 4),
            "style": self.style_distance,
        }


def measure_flicker(input_path: Path, output_path: Path, reporter: Reporter | None = None) -> Flicker:
    """Warping error of ``output_path``: each frame against the previous one moved along the optical
    flow of ``input_path``'s frames (see :func:`stylize.video.temporal.warping_error`). Frames are paired
    in order; the output may be smaller (``--size``): input frames are resized to it."""
    reporter = reporter or NullReporter()
    flow, errors, shares = FlowEstimator(), [], []
    previous: tuple[np.ndarray, np.ndarray] | None = None
    reporter.start(FRAMES, total=video.probe(output_path).frames or None, unit="frame", transient=True)
    inputs, outputs = video.read_frames(input_path), video.read_frames(output_path)
    try:
        while (pair := (next(inputs, None), next(outputs, None))) and None not in pair:
            frame_in, frame_out = pair
            if previous is not None:
                error, share = warping_error((previous[0], frame_in.rgb), (previous[1], frame_out.rgb), flow)
                errors.append(error)
                shares.append(share)
            previous = (frame_in.rgb, frame_out.rgb)
            reporter.advance(FRAMES)
    finally:
        inputs.close()
        outputs.close()
        reporter.finish(FRAMES)
    if pair != (None, None):
        more = "fewer" if pair[1] is None else "more"
        reporter.log(
            f"{output_path}: has {more} frames than {input_path}: only the first {len(errors) + 1} "
            "of each were compared",
            "warning",
        )
    if not errors:
        raise InputError(f"{output_path}: fewer than two frames to compare")
    return Flicker(output_path, float(np.mean(errors)), len(errors), float(np.mean(shares)))

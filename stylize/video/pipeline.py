"""The frame pipeline of one video: a thread decodes and prepares frames, the main one runs the model, one encodes.

Bounded queues between the threads keep memory flat whatever the video's length; an error in
either thread is raised in the main one.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Iterator
from typing import Any

from PIL import Image

from stylize import images, video
from stylize.batch import Job, VideoBackend
from stylize.video import VideoConfig
from stylize.video.segments import Sink

_END = object()  # end of a queue
_ABORT = object()  # stop writing: drop the segment in progress


class FrameReader:
    """Decodes and prepares frames in a thread, at most ``size`` ahead of the model."""

    def __init__(
        self,
        job: Job,
        backend: VideoBackend,
        config: VideoConfig,
        after_pts: int | None,
        size: int,
        max_pixels: int = images.DEFAULT_MAX_PIXELS,
    ) -> None:
        self.queue: queue.Queue[Any] = queue.Queue(size)
        self.stopped = threading.Event()
        self.args = (job, backend, config, after_pts, max_pixels)
        self.thread = threading.Thread(target=self._run, name="stylize-decode", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        job, backend, config, after_pts, max_pixels = self.args
        frames = video.read_frames(job.input.path, config.start, config.end, after_pts, max_pixels=max_pixels)
        try:
            for frame in frames:
                picture = images.Picture(Image.fromarray(frame.rgb), path=job.input.path)
                if not self._put((frame, backend.prepare(picture, job.style, config.frame_size))):
                    return
            self._put(_END)
        except BaseException as exc:  # noqa: BLE001 - handed to the main thread, raised there
            self._put(exc)
        finally:
            frames.close()  # closes the container, also when stopped early

    def _put(self, item: Any) -> bool:
        while not self.stopped.is_set():
            try:
                self.queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def batches(self, size: int) -> Iterator[list[tuple[video.Frame, Any]]]:
        """Up to ``size`` consecutive (frame, load) pairs at a time; decoding errors raised here."""
        batch: list[tuple[video.Frame, Any]] = []
        while True:
            item = self.queue.get()
            if isinstance(item, BaseException):
                raise item
            if item is _END:
                break
            batch.append(item)
            if len(batch) == size:
                yield batch
                batch = []
        if batch:
            yield batch

    def stop(self) -> None:
        self.stopped.set()
        self.thread.join()


class FrameWriter:
    """Feeds a sink from a thread; the sink's errors are raised in the main thread."""

    def __init__(self, sink: Sink, size: int) -> None:
        self.sink = sink
        self.queue: queue.Queue[Any] = queue.Queue(size)
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="stylize-encode", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            while (item := self.queue.get()) is not _END:
                if item is _ABORT:
                    return self.sink.abort()
                self.sink.write(*item)
            self.sink.finish()
        except BaseException as exc:  # noqa: BLE001 - raised in the main thread
            self.error = exc
            self.sink.abort()

    def put(self, item: Any) -> None:
        while self.thread.is_alive():
            try:
                return self.queue.put(item, timeout=0.1)
            except queue.Full:
                continue
        self._raise()

    def _raise(self) -> None:
        if self.error is not None:
            raise self.error
        raise RuntimeError("the encoding thread stopped")

    def finish(self) -> None:
        self.put(_END)
        self.thread.join()
        if self.error is not None:
            raise self.error

    def stop(self) -> None:
        """Ctrl-C: the frames already queued are finished work, so they are written first; then the sink
        aborts (the open segment is dropped, closed ones are kept for the rerun)."""
        if self.thread.is_alive():
            # after the queued frames, which the thread writes first; if the sink fails on them it has
            # aborted itself, and the interrupt goes on rather than turning into that error
            with contextlib.suppress(Exception):
                self.put(_ABORT)
            self.thread.join()

    def abort(self) -> None:
        """An error: frames not yet encoded are dropped and the sink aborts."""
        if self.thread.is_alive():
            with_room = _drain(self.queue)
            if with_room:
                self.queue.put(_ABORT)
            self.thread.join()


def _drain(q: queue.Queue[Any]) -> bool:
    """Empty a queue (frames not yet encoded are dropped); True."""
    while True:
        try:
            q.get_nowait()
        except queue.Empty:
            return True

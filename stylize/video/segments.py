"""Where a video's stylized frames go: one file (GIF/WebP), or segments in a work folder that a rerun resumes.

Segments of ``segment_s`` seconds are written into a hidden work folder beside the output
(``.NAME.stylize-video/``), each renamed into place when finished; ``manifest.json`` lists them
(with each one's frame count and SHA-256, checked on resume) and the job signature, ``state.npz`` holds the stabiliser's and the backend's state after the
last one, so the same command resumes exactly there and a changed setting starts over.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from stylize import video
from stylize.files import atomic_path, atomic_write_bytes, sha256_file
from stylize.progress import Reporter
from stylize.video import VideoConfig, VideoInfo

MANIFEST = "manifest.json"
STATE = "state.npz"


def work_folder(output: Path) -> Path:
    """The hidden folder beside ``output`` that holds its finished segments until it is complete."""
    return output.with_name(f".{output.name}.stylize-video")


class Sink:
    """Where finished frames go: ``write(pts, time, content, out)``, then ``finish()``.

    ``pts`` is the input's; outputs start at ``origin`` (``--start`` in the input's time base) = 0.
    """

    frames: int = 0
    origin: int = 0

    def write(
        self, pts: int, time_s: float, content: np.ndarray, out: np.ndarray, extra: dict[str, np.ndarray] | None = None
    ) -> None: ...

    def finish(self) -> None: ...

    def abort(self) -> None: ...


class FileSink(Sink):
    """All frames into one file (GIF)."""

    def __init__(self, path: Path, info: VideoInfo, config: VideoConfig, codec: str) -> None:
        self.writer = video.SegmentWriter(path, video.container_format(path), info, config, codec)
        self.frames, self.origin = 0, round(config.start / info.time_base)

    def write(
        self, pts: int, time_s: float, content: np.ndarray, out: np.ndarray, extra: dict[str, np.ndarray] | None = None
    ) -> None:
        self.writer.write(out, pts - self.origin)
        self.frames += 1

    def finish(self) -> None:
        self.writer.close()

    def abort(self) -> None:
        self.writer.close(flush=False)


class SegmentSink(Sink):
    """Frames into segment files of ``segment_s`` seconds of input, each finished atomically."""

    def __init__(self, segments: Segments, info: VideoInfo, config: VideoConfig, codec: str) -> None:
        self.segments, self.info, self.config, self.codec = segments, info, config, codec
        self.origin = round(config.start / info.time_base)
        self.current: tuple[int, Any, Any] | None = None  # (segment index, atomic_path context, writer)
        self.count = 0
        self.last: tuple[int, np.ndarray, np.ndarray, dict[str, np.ndarray] | None] | None = None  # the last frame's
        # pts, content, output and the backend's state after it

    def write(
        self, pts: int, time_s: float, content: np.ndarray, out: np.ndarray, extra: dict[str, np.ndarray] | None = None
    ) -> None:
        index = int((time_s - self.config.start) // self.config.segment_s)
        if self.current is not None and self.current[0] != index:
            self._close_segment()
        if self.current is None:
            self._open_segment(index)
        assert self.current is not None
        self.current[2].write(out, pts - self.origin)
        self.count += 1
        self.last = (pts, content, out, extra)

    def _open_segment(self, index: int) -> None:
        path = self.segments.folder / f"{len(self.segments.entries):05d}{video.SEGMENT_SUFFIX}"
        context = atomic_path(path)
        tmp = context.__enter__()
        writer = video.SegmentWriter(tmp, video.SEGMENT_FORMAT, self.info, self.config, self.codec)
        self.current = (index, context, writer)
        self.count = 0

    def _close_segment(self) -> None:
        assert self.current is not None and self.last is not None
        _, context, writer = self.current
        self.current = None
        try:
            writer.close()
        except BaseException as exc:
            context.__exit__(type(exc), exc, exc.__traceback__)
            raise
        context.__exit__(None, None, None)  # renamed into place
        pts, content, out, extra = self.last
        self.segments.add(self.count, pts, (content, out) if self.config.temporal else None, extra)

    def finish(self) -> None:
        if self.current is not None:
            self._close_segment()

    def abort(self) -> None:
        if self.current is None:
            return
        _, context, writer = self.current
        self.current = None
        try:
            writer.close(flush=False)
        finally:
            error = KeyboardInterrupt()
            context.__exit__(KeyboardInterrupt, error, None)  # removes the unfinished temp file


@dataclass
class Segments:
    """The finished segments of one output, as ``manifest.json`` in its work folder records them."""

    folder: Path
    signature: str
    entries: list[dict[str, Any]] = field(default_factory=list)  # {"file", "frames", "last_pts", "sha256"}

    @classmethod
    def open(cls, folder: Path, signature: str, reporter: Reporter) -> Segments:
        """The segments an earlier run of this same job finished; a folder of another job is cleared.

        Every segment is checked (a plain name in this folder, its hash and frame count as recorded):
        from the first that is not as recorded on, segments are redone (all of them when the
        stabiliser's or the backend's saved state belongs to a later segment)."""
        manifest = _read_manifest(folder)
        if manifest is not None and manifest.get("signature") == signature:
            listed = manifest.get("segments")
            entries = _good_prefix(folder, listed if isinstance(listed, list) else [])
            if entries and (len(entries) == len(listed) or not (folder / STATE).exists()):
                found = cls(folder, signature, entries)
                if len(entries) < len(listed):
                    reporter.log(f"{folder}: {len(listed) - len(entries)} segments are not as recorded: redoing them")
                    found._write_manifest()
                frames = sum(entry["frames"] for entry in entries)
                reporter.log(f"resuming after {len(entries)} finished segments ({frames} frames)")
                return found
        if folder.exists() or folder.is_symlink():
            reporter.log(f"{folder}: an unfinished run of other settings (or damaged): starting over")
            _remove(folder)
        folder.mkdir(parents=True, exist_ok=True)
        return cls(folder, signature)

    @property
    def last_pts(self) -> int | None:
        return self.entries[-1]["last_pts"] if self.entries else None

    def files(self) -> list[Path]:
        return [self.folder / entry["file"] for entry in self.entries]

    def add(
        self,
        frames: int,
        last_pts: int,
        state: tuple[np.ndarray, np.ndarray] | None,
        extra: dict[str, np.ndarray] | None = None,
    ) -> None:
        """Record a segment just renamed into place (and the stabiliser's and the backend's state
        after its last frame)."""
        name = f"{len(self.entries):05d}{video.SEGMENT_SUFFIX}"
        if state is not None or extra:
            arrays = {"content": state[0], "out": state[1]} if state is not None else {}
            arrays.update({f"backend_{k}": v for k, v in (extra or {}).items()})
            with atomic_path(self.folder / STATE) as tmp, open(tmp, "wb") as fh:
                np.savez(fh, **arrays)
        digest = sha256_file(self.folder / name)
        self.entries.append({"file": name, "frames": frames, "last_pts": int(last_pts), "sha256": digest})
        self._write_manifest()

    def _write_manifest(self) -> None:
        manifest = {"signature": self.signature, "segments": self.entries}
        atomic_write_bytes(self.folder / MANIFEST, json.dumps(manifest, indent=1).encode())

    def state(self) -> tuple[np.ndarray, np.ndarray] | None:
        """The stabiliser's (input, output) after the last finished segment; None at the start."""
        saved = self._saved()
        return (saved["content"], saved["out"]) if "content" in saved and "out" in saved else None

    def backend_state(self) -> dict[str, np.ndarray] | None:
        """The backend's per-video state after the last finished segment (see ``video_states``)."""
        saved = self._saved()
        return {k.removeprefix("backend_"): v for k, v in saved.items() if k.startswith("backend_")} or None

    def _saved(self) -> dict[str, np.ndarray]:
        if not self.entries:
            return {}
        try:
            with np.load(self.folder / STATE) as saved:
                return {k: saved[k] for k in saved.files}
        except (OSError, KeyError, ValueError):
            return {}


def _read_manifest(folder: Path) -> dict[str, Any] | None:
    """``manifest.json`` as a dict; None when missing, unreadable or not an object."""
    try:
        manifest = json.loads((folder / MANIFEST).read_text())
    except (OSError, ValueError, RecursionError):
        return None
    return manifest if isinstance(manifest, dict) else None


def _good_prefix(folder: Path, listed: list[Any]) -> list[dict[str, Any]]:
    """The listed segments up to the first one that is not exactly as recorded."""
    good: list[dict[str, Any]] = []
    for entry in listed:
        if not _as_recorded(folder, len(good), entry, good[-1]["last_pts"] if good else None):
            break
        good.append(entry)
    return good


def _as_recorded(folder: Path, index: int, entry: Any, previous_pts: int | None) -> bool:
    """A manifest entry names segment ``index`` of this folder, a regular file with the recorded
    hash and frame count, ending after the segment before it."""
    if not isinstance(entry, dict) or entry.get("file") != f"{index:05d}{video.SEGMENT_SUFFIX}":
        return False
    frames, last_pts, digest = entry.get("frames"), entry.get("last_pts"), entry.get("sha256")
    if not (_is_int(frames) and frames > 0 and _is_int(last_pts) and isinstance(digest, str)):
        return False
    if previous_pts is not None and last_pts <= previous_pts:
        return False
    path = folder / entry["file"]
    if path.is_symlink() or not path.is_file():
        return False
    return sha256_file(path) == digest and video.segment_frames(path) == frames


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _remove(folder: Path) -> None:
    """Delete a work folder (a link planted in its place: only the link)."""
    if folder.is_symlink() or not folder.is_dir():
        folder.unlink(missing_ok=True)
    else:
        shutil.rmtree(folder, ignore_errors=True)

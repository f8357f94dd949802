"""The batch engine every stylizing command uses: inputs -> jobs -> load / process / save.

    inputs = collect_inputs(["photos/", "extra.jpg"])           # files, folders, "-" (stdin)
    jobs = plan_jobs(inputs, ["starry"], options)               # output paths, collisions, shard
    report = run_batch(jobs, backend, options, reporter, inputs=inputs)

``run_batch`` decodes and encodes in ``options.io_workers`` background threads while the main
thread runs the model, keeps at most :func:`max_in_memory` images decoded at once, skips outputs
that exist, writes every output atomically, isolates failures, and on Ctrl-C stops cleanly with
:class:`BatchInterrupted` (exit 130) carrying the partial report.

Backends get the :class:`BatchOptions` when they are built: ``load`` reads ``max_pixels``
(see :func:`load_picture`) and ``save`` reads ``quality`` (see :func:`save_result_image`).
No typer or rich here: progress goes through a ``Reporter``, problems are ``StylizeError``s.
"""

from __future__ import annotations

import fnmatch
import os
import string
import sys
import time
from collections import deque
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, NamedTuple, Protocol, TextIO

from PIL import Image

from stylize import images, video
from stylize.errors import (
    DeviceError,
    InputError,
    Interrupted,
    OutputError,
    StylizeError,
    UsageError,
    WeightsError,
    stop_exit_code,
)
from stylize.files import is_temp_file, remove_stale_temp_files, unknown_file_suffix
from stylize.progress import NullReporter, Reporter

DEFAULT_OUTPUT_DIR = Path("stylized")  # where outputs go without -o: never beside the inputs
PLACEHOLDERS = ("stem", "ext", "style", "method", "name", "parent")
TASK = "images"  # the Reporter task of the folder-wide bar
BATCH_FATAL = (WeightsError, DeviceError, UsageError)  # errors that stop the batch instead of one image


@dataclass(frozen=True)
class BatchOptions:
    """How a batch reads, names, writes and splits its work; the CLI flags read their defaults here."""

    output: Path | None = None  # a file for one output, else a folder; None -> ./stylized/
    name: str = "{stem}_{method}_{style}.{ext}"  # output name template, PLACEHOLDERS; {method}: adain, fast...
    ext: str | None = None  # force an output format ("png"); None keeps the input's when writable
    glob: str | None = None  # filter for files found in folders (case-insensitive); None -> image extensions
    overwrite: bool = False  # redo outputs that exist instead of skipping them (resume)
    fail_fast: bool = False  # stop at the first failed image instead of carrying on
    shard: tuple[int, int] | None = None  # (I, N): do inputs I, I+N, ...; None -> RANK/WORLD_SIZE if set
    batch_size: int = 1  # images of equal size per model call: >1 pays off on GPU, 1 on CPU
    io_workers: int = 2  # decode/encode threads; 0 runs everything in the main thread
    quality: int = images.DEFAULT_QUALITY  # JPEG/WebP quality of outputs
    max_pixels: int = images.DEFAULT_MAX_PIXELS  # refuse larger inputs (decompression-bomb guard)

    def __post_init__(self) -> None:
        if self.output is not None and not isinstance(self.output, Path):
            object.__setattr__(self, "output", Path(self.output))  # library callers may pass a str
        _at_least(self.batch_size, 1, "--batch-size")
        _at_least(self.io_workers, 0, "--io-workers")
        _at_least(self.max_pixels, 1, "--max-pixels")
        if not 1 <= self.quality <= 100:
            raise UsageError(f"--quality must be between 1 and 100, not {self.quality}")
        if self.shard is not None:
            check_shard(*self.shard)
        if self.ext is not None:
            _ext_suffix(self.ext)
        check_template(self.name)

    def pixel_settings(self) -> dict[str, Any]:
        """The batch settings that change an output's pixels, for its job signature."""
        return {"quality": self.quality}


def _at_least(value: int, low: int, flag: str) -> None:
    if value < low:
        raise UsageError(f"{flag} must be at least {low}, not {value}")


# ---------------------------------------------------------------- inputs


@dataclass(frozen=True)
class InputItem:
    """One input image: where it is, and where it sits below the folder it came from."""

    path: Path  # the file to read
    rel: Path  # path below the folder given (mirrored in the output); a file given directly: its name
    video: bool = False  # a video (or animated GIF) collected with videos=True: frames in, a video out


@dataclass
class InputSet:
    """The inputs found, sorted, plus how many files were passed over."""

    items: list[InputItem] = field(default_factory=list)
    skipped_hidden: int = 0  # hidden files and folders (folders are not descended into)
    skipped_non_image: int = 0  # files without an image extension, or not matching --glob
    skipped_in_output: int = 0  # files inside the output folder (results of an earlier run)
    unreadable: list[tuple[Path, str]] = field(default_factory=list)  # found in folders but not readable: why
    extensions: frozenset[str] = images.IMAGE_EXTENSIONS  # what files found in folders must end in


def collect_inputs(sources: Sequence[str], glob: str | None = None, stdin: TextIO | None = None,
                   videos: bool = False) -> InputSet:  # fmt: skip
    """Expand files, folders (recursively) and ``-`` (paths on stdin) into a sorted :class:`InputSet`.

    Files named directly are always tried; files found in folders must have an image extension
    (a video one too with ``videos``; or match ``glob``) and must not be hidden. A missing source,
    or no image at all, is an InputError.
    """
    found = InputSet(extensions=images.IMAGE_EXTENSIONS | video.VIDEO_EXTENSIONS if videos else images.IMAGE_EXTENSIONS)
    for source in _expand_stdin(sources, stdin):
        _collect_source(Path(source), glob, found)
    found.items = sorted(_unique(found.items), key=lambda item: (item.rel.as_posix(), item.path.as_posix()))
    if videos:
        found.items = [replace(item, video=video.is_video(item.path)) for item in found.items]
    if not found.items:
        raise InputError(f"no images found in {' '.join(sources) or 'the arguments'}", _no_images_hint(found, glob))
    return found


def _expand_stdin(sources: Sequence[str], stdin: TextIO | None) -> Iterator[str]:
    for source in sources:
        if source != "-":
            yield source
            continue
        for line in stdin or sys.stdin:
            if line.strip():
                yield line.rstrip("\r\n")


def _collect_source(path: Path, glob: str | None, found: InputSet) -> None:
    try:
        is_dir = path.is_dir()
    except PermissionError:  # pathlib lets EACCES through: a folder on the way cannot be searched
        raise InputError(f"{path}: permission denied (a folder on the way cannot be searched)") from None
    if is_dir:
        if not os.access(path, os.R_OK | os.X_OK):
            raise InputError(f"{path}: permission denied (cannot list this folder)")
        _collect_folder(path, glob, found)
    elif path.is_file():
        if "\n" in path.name or "\r" in path.name:
            raise InputError(f"{path!r}: a line break in a file name would break one-path-per-line output",
                             "rename the file")  # fmt: skip
        if not is_temp_file(path):
            found.items.append(InputItem(path, Path(path.name)))
    else:
        raise _not_a_file(path)


def _not_a_file(path: Path) -> InputError:
    """Why ``path`` (neither a folder nor a regular file) cannot be an input."""
    try:
        path.stat()
    except PermissionError:
        return InputError(f"{path}: permission denied (a folder on the way cannot be searched)")
    except OSError as exc:
        if path.is_symlink():
            return InputError(f"{path}: broken or looping symbolic link ({exc.strerror or exc})")
        return InputError(f"{path}: no such file or folder")
    return InputError(f"{path}: not a regular file (a FIFO, device or socket)", "give an image file")


def _collect_folder(root: Path, glob: str | None, found: InputSet) -> None:
    def unlisted(exc: OSError) -> None:
        found.unreadable.append((Path(exc.filename or root), f"folder not readable ({exc.strerror or exc})"))

    seen = {os.path.realpath(root)}
    for dirpath, dirnames, filenames in os.walk(root, onerror=unlisted, followlinks=True):
        visible = [d for d in dirnames if not d.startswith(".")]
        found.skipped_hidden += len(dirnames) - len(visible)
        dirnames[:] = [d for d in visible if _first_visit(Path(dirpath, d), seen, found)]
        for name in filenames:
            _consider(root, Path(dirpath, name), glob, found)


def _first_visit(folder: Path, seen: set[str], found: InputSet) -> bool:
    """Symbolic links to folders are followed, each real folder once (a link loop is reported, not walked)."""
    real = os.path.realpath(folder)
    if real in seen:
        found.unreadable.append((folder, "folder link leads to a folder already searched (a loop?)"))
        return False
    seen.add(real)
    return True


def _consider(root: Path, path: Path, glob: str | None, found: InputSet) -> None:
    if is_temp_file(path):
        return
    if path.name.startswith("."):
        found.skipped_hidden += 1
        return
    rel = path.relative_to(root)
    if not _wanted(rel, glob, found.extensions):
        found.skipped_non_image += 1
        return
    if not path.is_file():
        found.unreadable.append((path, "not a regular file (a FIFO, device, socket or broken link)"))
        return
    if "\n" in path.name or "\r" in path.name:
        found.unreadable.append((path, "a line break in the name would break one-path-per-line output"))
        return
    found.items.append(InputItem(path, rel))


def _wanted(rel: Path, glob: str | None, extensions: frozenset[str] = images.IMAGE_EXTENSIONS) -> bool:
    """One of ``extensions``, or ``glob`` matching the file name or its path below the folder."""
    if glob is None:
        return rel.suffix.lower() in extensions
    pattern = glob.lower()
    return fnmatch.fnmatchcase(rel.name.lower(), pattern) or fnmatch.fnmatchcase(rel.as_posix().lower(), pattern)


def _unique(items: Iterable[InputItem]) -> list[InputItem]:
    """The first occurrence of each file (a file given directly and again inside a folder)."""
    seen: dict[str, InputItem] = {}
    for item in items:
        seen.setdefault(os.path.abspath(item.path), item)
    return list(seen.values())


def _no_images_hint(found: InputSet, glob: str | None) -> str:
    passed = f"{found.skipped_non_image} files did not match" if found.skipped_non_image else "no files found"
    wanted = f"--glob {glob!r}" if glob else "the extensions " + " ".join(sorted(found.extensions))
    return f"{passed} {wanted}; {found.skipped_hidden} hidden entries skipped"


# ---------------------------------------------------------------- planning


@dataclass(frozen=True)
class Job:
    """One unit of work: stylize ``input`` with the style tagged ``style`` into ``output``."""

    input: InputItem
    style: str  # the tag that fills {style}: a style image stem, a model name, or "out"
    output: Path
    signature: str | None = None  # what made the output (provenance.JobSignature.text), stored in it


Signer = Callable[[Job], str]  # a job -> its signature (see stylize.provenance)


def plan_jobs(inputs: InputSet, styles: Sequence[str], options: BatchOptions,
              protected: Iterable[Path] = (), sign: Signer | None = None,
              method: str = "out") -> list[Job]:  # fmt: skip
    """One job per (input, style): output paths, collision checks, then this process's shard.

    Collisions are checked over all inputs before sharding, so every shard fails the same way.
    ``protected``: the other files the command reads (styles, masks, models); no output may be
    one of them, whatever --overwrite says. ``sign`` gives each job of the shard its signature,
    which is stored in its output and decides whether an existing output can be skipped.
    """
    if not styles:
        raise UsageError("no style given")
    items = _outside_output_folder(inputs, options)
    pairs = [(item, style) for item in items for style in styles]
    target = _single_file_target(options.output, len(pairs))
    jobs = [Job(item, style, target or output_path(item, style, options, method)) for item, style in pairs]
    for job in jobs:
        video.check_output_kind(job.input.path, job.output, job.input.video)
    _check_outputs(jobs)
    _check_protected(jobs, protected)
    check_writable({job.output.parent for job in jobs})
    mine = select_shard(jobs, inputs, resolve_shard(options.shard))
    return [replace(job, signature=sign(job)) for job in mine] if sign else mine


def _outside_output_folder(inputs: InputSet, options: BatchOptions) -> list[InputItem]:
    """The inputs minus files inside the output folder: earlier results are never re-stylized.

    (``stylize adain . style.jpg`` run twice would otherwise pick up ``./stylized/`` itself.)
    """
    output = options.output
    if output is not None and output.suffix.lower() in _FILE_EXTENSIONS and not output.is_dir():
        return list(inputs.items)  # a single output file, not a folder
    folder = (output or DEFAULT_OUTPUT_DIR).resolve()
    kept = [item for item in inputs.items if not _in_nested_output(item, folder)]
    inputs.skipped_in_output += len(inputs.items) - len(kept)
    return kept


def _in_nested_output(item: InputItem, folder: Path) -> bool:
    """True for a file found inside ``folder`` where ``folder`` is a sub-folder of the one searched."""
    root = item.path.resolve().parents[len(item.rel.parts) - 1]
    return folder != root and folder.is_relative_to(root) and item.path.resolve().is_relative_to(folder)


def _single_file_target(output: Path | None, count: int) -> Path | None:
    """``-o`` itself when it names an image or video file; an error when it does but there are many outputs."""
    if output is not None and unknown_file_suffix(output, _FILE_EXTENSIONS):
        known = ", ".join(sorted(_FILE_EXTENSIONS))
        raise UsageError(f"-o {output}: '{output.suffix}' is not an image format (nor a video container) stylize writes",
                         f"give a folder, or a file ending in one of {known}")  # fmt: skip
    if output is None or output.is_dir() or output.suffix.lower() not in _FILE_EXTENSIONS:
        return None
    if count > 1:
        raise UsageError(f"-o {output} names one file but there are {count} outputs", "give a folder for -o/--output")
    if output.suffix.lower() not in video.OUTPUT_EXTENSIONS:
        images.output_format(output)  # a format we can write
    return output


_FILE_EXTENSIONS = images.IMAGE_EXTENSIONS | video.VIDEO_EXTENSIONS  # -o with one of these names a file


def output_path(item: InputItem, style: str, options: BatchOptions, method: str = "out") -> Path:
    """Where a job writes: the output folder, the input's sub-folder, the rendered name."""
    root = options.output if options.output is not None else DEFAULT_OUTPUT_DIR
    return root / item.rel.parent / render_name(options.name, item, style, options.ext, method)


def render_name(template: str, item: InputItem, style: str, ext: str | None = None, method: str = "out") -> str:
    """Fill the name template for one input and style; the result must be a writable image name."""
    suffix = _ext_suffix(ext) if ext else _default_suffix(item)
    fields = {
        "stem": item.rel.stem,
        "ext": suffix[1:],
        "style": style,
        "method": method,
        "name": item.rel.name,
        "parent": item.path.absolute().parent.name,
    }
    name = template.format(**fields)
    rendered = Path(name)
    if not name or rendered.is_absolute() or ".." in rendered.parts:
        raise UsageError(f"--name {template!r} gives {name!r}", "names must stay inside the output folder")
    if not (item.video and rendered.suffix.lower() in video.OUTPUT_EXTENSIONS):
        images.output_format(rendered)
    return name


def check_template(template: str) -> None:
    """Refuse unknown placeholders up front (a typo would otherwise fail on the first image)."""
    try:
        names = [name for _, name, _, _ in string.Formatter().parse(template) if name is not None]
    except ValueError as exc:
        raise UsageError(f"--name {template!r}: {exc}") from exc
    unknown = [name for name in names if name not in PLACEHOLDERS]
    if unknown:
        known = " ".join("{" + p + "}" for p in PLACEHOLDERS)
        raise UsageError(f"--name {template!r}: unknown placeholder {{{unknown[0]}}}", f"use {known}")


def _ext_suffix(ext: str) -> str:
    suffix = "." + ext.lower().lstrip(".")
    if suffix not in images.FORMATS and suffix not in video.OUTPUT_EXTENSIONS:
        known = " ".join(sorted(s[1:] for s in {*images.FORMATS, *video.OUTPUT_EXTENSIONS}))
        raise UsageError(f"--ext {ext}: cannot write this format", f"use one of {known}")
    return suffix


def _default_suffix(item: InputItem) -> str:
    """The input's extension, lower-cased, when we can write it (videos and animated GIFs too); else .png."""
    suffix = item.path.suffix.lower()
    return suffix if suffix in images.FORMATS or item.video else ".png"


def check_writable(folders: Iterable[Path]) -> None:
    """Every output folder can be created and written, checked before any model loads."""
    for folder in folders:
        existing = next(p for p in (folder, *folder.parents) if p.exists() or p == p.parent)
        if not existing.is_dir():
            raise OutputError(f"{folder}: cannot be a folder, {existing} is a file", "choose another -o/--output")
        if not os.access(existing, os.W_OK | os.X_OK):
            raise OutputError(f"{existing}: no permission to write here", "choose another -o/--output")


def _check_outputs(jobs: Sequence[Job]) -> None:
    """Two jobs writing one file, or a job writing over any input, is an error before any work."""
    inputs = {os.path.abspath(job.input.path): job for job in jobs}
    seen: dict[str, Job] = {}
    for job in jobs:
        key = os.path.abspath(job.output)
        if key in inputs:
            raise OutputError(
                f"{job.output}: would overwrite the input {inputs[key].input.path}",
                "choose another -o/--output or --name",
            )
        if key in seen:
            raise UsageError(
                f"{_describe(seen[key])} and {_describe(job)} would both be written to {job.output}",
                "make names unique with --name, e.g. '{parent}_{stem}_{method}_{style}.{ext}'",
            )
        seen[key] = job


def _check_protected(jobs: Sequence[Job], protected: Iterable[Path]) -> None:
    """An output that is a style, mask or model file the command reads stops it before any work."""
    by_name = {path.resolve(): path for path in protected}
    by_inode = {_inode(path): path for path in protected if path.exists()}
    for job in jobs:
        hit = by_name.get(job.output.resolve()) or (by_inode.get(_inode(job.output)) if job.output.exists() else None)
        if hit is not None:
            raise OutputError(f"{job.output}: would overwrite {hit}, which this command reads",
                              "choose another -o/--output or --name")  # fmt: skip


def _inode(path: Path) -> tuple[int, int]:
    stat = path.stat()
    return stat.st_dev, stat.st_ino


def _describe(job: Job) -> str:
    return f"{job.input.path} (style {job.style})"


# ---------------------------------------------------------------- sharding


def parse_shard(text: str) -> tuple[int, int]:
    """``"I/N"`` (I counted from 0) -> (I, N); anything else is a UsageError."""
    index, slash, count = text.strip().partition("/")
    try:
        shard = (int(index), int(count))
    except ValueError:
        raise UsageError(f"--shard {text!r}: expected I/N, e.g. 0/4", "I counts from 0 and is below N") from None
    if not slash:
        raise UsageError(f"--shard {text!r}: expected I/N, e.g. 0/4")
    return check_shard(*shard)


def check_shard(index: int, count: int) -> tuple[int, int]:
    if count < 1 or not 0 <= index < count:
        raise UsageError(f"shard {index}/{count}: need 0 <= I < N", "I counts from 0, e.g. --shard 0/4 .. 3/4")
    return index, count


def resolve_shard(shard: tuple[int, int] | None, environ: Mapping[str, str] = os.environ) -> tuple[int, int] | None:
    """``--shard`` if given, else torchrun's RANK/WORLD_SIZE when both are set, else no sharding."""
    if shard is not None:
        return check_shard(*shard)
    rank, world = environ.get("RANK"), environ.get("WORLD_SIZE")
    if rank is None or world is None:
        return None
    try:
        return parse_shard(f"{rank}/{world}")
    except UsageError:
        raise UsageError(
            f"the environment says RANK={rank} WORLD_SIZE={world}: need 0 <= RANK < WORLD_SIZE",
            "these are set by torchrun; unset them, or pass --shard I/N",
        ) from None


def select_shard(jobs: Sequence[Job], inputs: InputSet, shard: tuple[int, int] | None) -> list[Job]:
    """Jobs of the inputs at sorted positions I, I+N, I+2N, ... (all styles of an input stay together)."""
    if shard is None or shard[1] == 1:
        return list(jobs)
    index, count = shard
    position = {item: i for i, item in enumerate(inputs.items)}
    return [job for job in jobs if position[job.input] % count == index]


# ---------------------------------------------------------------- running


class BatchBackend(Protocol):
    """What a method provides to run on a batch; built with the BatchOptions it needs.

    Per-style work (style features) belongs in ``process``, once per call or cached across calls:
    put the style in ``group_key`` so one call never mixes styles. Long per-image work (optimize)
    draws its own bar: ``reporter.start(task, total, transient=True)`` inside ``process``.
    """

    def load(self, job: Job) -> Any:
        """I/O thread: decode, resize, to tensor (see :func:`load_picture`). Raise InputError if unreadable."""

    def group_key(self, loaded: Any) -> Hashable:
        """Main thread: loads with equal keys may share one ``process`` call, e.g. (style, H, W)."""

    def process(self, jobs: list[Job], loaded: list[Any]) -> list[Any]:
        """Main thread, the model: up to batch_size loads of one group key -> one result each."""

    def save(self, job: Job, result: Any) -> None:
        """I/O thread: write ``job.output`` atomically (see :func:`save_result_image`)."""


def load_picture(job: Job, options: BatchOptions) -> images.Picture:
    """Decode a job's input with the batch's pixel limit (for ``BatchBackend.load``)."""
    return images.open_image(job.input.path, options.max_pixels)


def save_result_image(
    job: Job,
    rgb: Image.Image,
    alpha: Image.Image | None,
    exif: bytes | None,
    options: BatchOptions,
    *,
    srgb_profile: bool = False,
) -> Path:
    """Write a result to ``job.output`` atomically, with the input's alpha and EXIF where the format keeps them."""
    return images.save_image(
        rgb,
        job.output,
        alpha=alpha,
        quality=options.quality,
        exif=exif,
        srgb_profile=srgb_profile,
        overwrite=True,
        inputs=(job.input.path,),
        note=job.signature,
    )


class Failure(NamedTuple):
    """One failed job (or input) with a one-line reason and the exit code it alone would have given."""

    what: Job | InputItem
    reason: str
    exit_code: int = InputError.exit_code

    @property
    def path(self) -> Path:
        """The input that failed."""
        return self.what.path if isinstance(self.what, InputItem) else self.what.input.path


@dataclass
class BatchReport:
    """What a batch did; ``failed`` pairs each job (or input) with a one-line reason."""

    done: list[Job] = field(default_factory=list)
    skipped: list[Job] = field(default_factory=list)  # outputs that existed already
    failed: list[Failure] = field(default_factory=list)
    skipped_hidden: int = 0
    skipped_non_image: int = 0
    unreadable: list[tuple[Path, str]] = field(default_factory=list)  # found in folders, passed over: why
    elapsed_s: float = 0.0
    not_started: int = 0  # jobs never finished because of --fail-fast or Ctrl-C
    interrupted: bool = False  # Ctrl-C or SIGTERM
    stop_code: int = Interrupted.exit_code  # 130 after Ctrl-C, 143 after SIGTERM
    stopped_early: bool = False  # --fail-fast hit a failure

    @property
    def images_per_s(self) -> float:
        return len(self.done) / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def total(self) -> int:
        """Jobs this batch had to do (skipped outputs count: they were asked for)."""
        return len(self.done) + len(self.skipped) + len(self.failed) + self.not_started

    def outputs(self) -> list[Path]:
        """Every output this batch stands behind: written now or already there."""
        return sorted(job.output for job in [*self.done, *self.skipped])

    def counts(self) -> dict[str, int]:
        return {
            "done": len(self.done),
            "skipped": len(self.skipped),
            "failed": len(self.failed),
            "not_started": self.not_started,
            "skipped_hidden": self.skipped_hidden,
            "skipped_non_image": self.skipped_non_image,
            "unreadable": len(self.unreadable),
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "done": [_job_json(job) for job in self.done],
            "skipped": [_job_json(job) for job in self.skipped],
            "failed": [{**_job_json(f.what), "reason": f.reason} for f in self.failed],
            "unreadable": [{"input": str(path), "reason": reason} for path, reason in self.unreadable],
            "counts": self.counts(),
            "elapsed_s": round(self.elapsed_s, 3),
            "images_per_s": round(self.images_per_s, 2),
            "interrupted": self.interrupted,
            "stopped_early": self.stopped_early,
        }


def _job_json(what: Job | InputItem) -> dict[str, str | None]:
    if isinstance(what, InputItem):
        return {"input": str(what.path), "style": None, "output": None}
    return {"input": str(what.input.path), "style": what.style, "output": str(what.output)}


class BatchInterrupted(Interrupted):
    """Ctrl-C (exit 130) or SIGTERM (exit 143) during a batch; ``report`` says what was finished."""

    def __init__(self, report: BatchReport) -> None:
        total = len(report.done) + len(report.failed) + report.not_started
        word = "interrupted" if report.stop_code == Interrupted.exit_code else "terminated"
        super().__init__(
            f"{word} after {len(report.done)} of {total} images",
            "run the same command again to finish: the outputs it already wrote are kept and skipped",
        )
        self.report = report
        self.exit_code = report.stop_code


def max_in_memory(options: BatchOptions) -> int:
    """Upper bound on jobs between load and saved (decoded inputs plus results), whatever the batch size."""
    return _prefetch(options) + _max_buffered(options) + _max_saving(options)


def _prefetch(options: BatchOptions) -> int:
    return options.io_workers + 2 * options.batch_size  # loads submitted ahead of the model


def _max_buffered(options: BatchOptions) -> int:
    return 2 * options.batch_size  # loaded, waiting for a full group of equal size


def _max_saving(options: BatchOptions) -> int:
    return options.io_workers + options.batch_size  # results queued or being encoded


def run_batch(
    jobs: Sequence[Job],
    backend: BatchBackend,
    options: BatchOptions,
    reporter: Reporter | None = None,
    *,
    inputs: InputSet | None = None,
    prepare: Callable[[list[Job]], None] | None = None,
) -> BatchReport:
    """Run every job (existing outputs of the same job skipped unless ``overwrite``); raises
    BatchInterrupted on Ctrl-C.

    An existing output made by another job (other settings, inputs or weights, see
    :mod:`stylize.provenance`) stops the batch before any work with an OutputError naming
    --overwrite and --name. ``prepare(todo)`` runs next, when there is work to do: load the
    model there, so a fully resumed batch loads nothing. ``inputs`` only copies its
    hidden/non-image counts into the report. Failures are recorded, not raised: the caller
    decides what a report with failures means (the CLI exits 6).
    """
    reporter = reporter or NullReporter()
    report = BatchReport(
        skipped_hidden=inputs.skipped_hidden if inputs else 0,
        skipped_non_image=inputs.skipped_non_image if inputs else 0,
        unreadable=list(inputs.unreadable) if inputs else [],
    )
    todo = _skip_existing(jobs, options.overwrite, report, reporter)
    if todo and prepare is not None:
        prepare(todo)
    _clean_stale_temp_files(todo, reporter)
    start = time.perf_counter()
    reporter.start(TASK, total=len(todo), unit="img")
    try:
        _run_pipeline(todo, backend, options, reporter, report)
    finally:
        report.elapsed_s = time.perf_counter() - start
        report.not_started = len(todo) - len(report.done) - len(report.failed)
        reporter.finish(TASK)
    if report.interrupted:
        raise BatchInterrupted(report)
    return report


def _clean_stale_temp_files(jobs: Sequence[Job], reporter: Reporter) -> None:
    """Remove the temp files an earlier, killed run left in the output folders it wrote to."""
    removed = sum(remove_stale_temp_files(folder) for folder in {job.output.parent for job in jobs})
    if removed:
        reporter.log(f"removed {removed} unfinished temp files left by an earlier run that was killed")


def _skip_existing(jobs: Sequence[Job], overwrite: bool, report: BatchReport, reporter: Reporter) -> list[Job]:
    exists = [not overwrite and job.output.exists() for job in jobs]
    _check_existing_are_ours([job for job, there in zip(jobs, exists) if there])
    report.skipped = [job for job, there in zip(jobs, exists) if there]
    if report.skipped:
        reporter.log(f"{len(report.skipped)} of {len(jobs)} outputs exist already: skipped (--overwrite redoes them)")
    return [job for job, there in zip(jobs, exists) if not there]


def _check_existing_are_ours(existing: Sequence[Job]) -> None:
    """Existing outputs may be skipped only if this very job made them: else stop before any work."""
    from stylize.provenance import differences

    other = [
        (job, why)
        for job in existing
        if job.signature and (why := differences(job.signature, images.read_note(job.output)))
    ]
    if not other:
        return
    job, why = other[0]
    more = f" (and {len(other) - 1} more outputs)" if len(other) > 1 else ""
    raise OutputError(
        f"{job.output} exists from another job: {'; '.join(why)}{more}",
        "--overwrite replaces such outputs; --name '{stem}_{method}_{style}_2.{ext}' writes new ones beside them",
    )


def _run_pipeline(
    todo: list[Job], backend: BatchBackend, options: BatchOptions, reporter: Reporter, report: BatchReport
) -> None:
    pool = ThreadPoolExecutor(options.io_workers, "stylize-io") if options.io_workers else _InlineExecutor()
    engine = _Engine(backend, options, reporter, report, pool)
    engine.single = len(todo) + len(report.skipped) == 1
    try:
        engine.run(todo)
    except KeyboardInterrupt as exc:
        report.interrupted = True
        report.stop_code = stop_exit_code(exc)
    finally:
        engine.cancel_loads()
        pool.shutdown(wait=True)  # computed results still get saved (atomically): model time is never thrown away
        engine.settle()


class _InlineExecutor:
    """``io_workers=0``: run each task at once in the calling thread."""

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future[Any]:
        future: Future[Any] = Future()
        try:
            future.set_result(fn(*args))
        except Exception as exc:  # noqa: BLE001 - becomes that job's failure, as in a worker thread
            future.set_exception(exc)
        return future

    def shutdown(self, wait: bool = True, cancel_futures: bool = False) -> None:
        pass


class _Engine:
    """The pipeline's state: loads in flight, groups waiting for the model, saves in flight."""

    def __init__(
        self,
        backend: BatchBackend,
        options: BatchOptions,
        reporter: Reporter,
        report: BatchReport,
        pool: ThreadPoolExecutor | _InlineExecutor,
    ) -> None:
        self.backend, self.options, self.reporter = backend, options, reporter
        self.report, self.pool = report, pool
        self.loads: deque[tuple[Job, Future[Any]]] = deque()
        self.groups: dict[Hashable, list[tuple[Job, Any]]] = {}
        self.saves: deque[tuple[Job, Future[Any]]] = deque()
        self.stop = False
        self.single = False  # one job in all: its failure becomes the command's one error line, not a warning

    def run(self, todo: Iterable[Job]) -> None:
        pending = iter(todo)
        while not self.stop:
            self._prefetch(pending)
            if not self.loads:
                break
            self._take_load()
        while self.groups and not self.stop:
            self._process(self.groups.pop(next(iter(self.groups))))
        self._drain_saves(0)

    def _prefetch(self, pending: Iterator[Job]) -> None:
        while len(self.loads) < _prefetch(self.options):
            job = next(pending, None)
            if job is None:
                return
            self.loads.append((job, self.pool.submit(self.backend.load, job)))

    def _take_load(self) -> None:
        job, future = self.loads[0]
        try:
            loaded = future.result()
            key = self.backend.group_key(loaded)
        except Exception as exc:  # noqa: BLE001 - failure isolation: one bad image never stops the batch
            self.loads.popleft()
            return self._fail(job, exc)
        self.loads.popleft()
        self._group(key, job, loaded)

    def _group(self, key: Hashable, job: Job, loaded: Any) -> None:
        group = self.groups.setdefault(key, [])
        group.append((job, loaded))
        if len(group) >= self.options.batch_size:
            self._process(self.groups.pop(key))
        elif sum(map(len, self.groups.values())) > _max_buffered(self.options):
            self._process(self.groups.pop(next(iter(self.groups))))  # the oldest group, not full

    def _process(self, group: list[tuple[Job, Any]]) -> None:
        self._drain_saves(_max_saving(self.options) - len(group))
        jobs = [job for job, _ in group]
        try:
            results = self.backend.process(jobs, [loaded for _, loaded in group])
            _check_count(results, jobs)
        except Exception as exc:  # noqa: BLE001 - failure isolation, as above
            for job in jobs:
                self._fail(job, exc)
            return
        for job, result in zip(jobs, results):
            self.saves.append((job, self.pool.submit(self.backend.save, job, result)))
        self._reap()

    def _drain_saves(self, limit: int) -> None:
        """Wait for the oldest saves until at most ``limit`` are in flight."""
        while len(self.saves) > max(limit, 0):
            self.saves[0][1].exception()  # wait (interruptible)
            self._record(*self.saves.popleft())

    def _reap(self) -> None:
        """Record the saves already finished, without waiting."""
        while self.saves and self.saves[0][1].done():
            self._record(*self.saves.popleft())

    def _record(self, job: Job, future: Future[Any]) -> None:
        exc = future.exception()
        if exc is not None:
            return self._fail(job, exc)
        self.report.done.append(job)
        self.reporter.advance(TASK)

    def _fail(self, job: Job, exc: BaseException) -> None:
        if isinstance(exc, BATCH_FATAL):
            raise exc  # missing weights or device: every image would fail the same way
        reason = failure_reason(exc, job.input.path)
        code = exc.exit_code if isinstance(exc, StylizeError) else StylizeError.exit_code
        self.report.failed.append(Failure(job, reason, code))
        if not self.single:
            self.reporter.log(f"failed: {reason}", "warning")
        self.reporter.advance(TASK)
        if self.options.fail_fast:
            self.stop = self.report.stopped_early = True

    def cancel_loads(self) -> None:
        """Stop: loads not yet running never start; the ones running finish and are dropped."""
        for _, future in self.loads:
            future.cancel()

    def settle(self) -> None:
        """After shutdown: record every save (they all ran)."""
        while self.saves:
            self._record(*self.saves.popleft())


def _check_count(results: Sequence[Any], jobs: Sequence[Job]) -> None:
    if len(results) != len(jobs):
        raise RuntimeError(f"backend returned {len(results)} results for {len(jobs)} images")


def failure_reason(exc: BaseException, path: Path | None = None) -> str:
    """One line for the summary: a StylizeError's message and hint, else a short repr; no leading "path: "."""
    text = exc.one_line() if isinstance(exc, StylizeError) else f"{type(exc).__name__}: {exc}".replace("\n", " ")
    if path is not None and text.startswith(f"{path}: "):
        text = text[len(str(path)) + 2 :]
    return text if len(text) <= 200 else text[:197] + "..."

"""Planning a batch: one :class:`Job` per (input, style), its output name, the checks before any work, the shard.

Every check here runs over all jobs before any model loads: two jobs writing one file, an output
over an input or a file the command reads, a folder that cannot be written.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from stylize import images, video
from stylize.batch.inputs import InputItem, InputSet
from stylize.batch.naming import Variant
from stylize.batch.options import DEFAULT_OUTPUT_DIR, BatchOptions, ext_suffix, resolve_shard
from stylize.errors import OutputError, UsageError
from stylize.files import TEMP_PREFIX, TEMP_SUFFIX, unknown_file_suffix
from stylize.storage import StorePath, key, temp_name, within


@dataclass(frozen=True)
class Job:
    """One unit of work: stylize ``input`` with the style tagged ``style`` into ``output``."""

    input: InputItem
    style: str  # the tag that fills {style}: a style image stem, a model name, or "out"
    output: Path | StorePath
    signature: str | None = None  # what made the output (provenance.JobSignature.text), stored in it


Signer = Callable[[Job], str]  # a job -> its signature (see stylize.provenance)


def plan_jobs(
    inputs: InputSet,
    styles: Sequence[str],
    options: BatchOptions,
    protected: Iterable[Path | StorePath] = (),
    sign: Signer | None = None,
    method: str = "out",
    variant: Variant | None = None,
) -> list[Job]:
    """One job per (input, style): output paths, collision checks, then this process's shard.

    Collisions are checked over all inputs before sharding, so every shard fails the same way.
    ``protected``: the other files the command reads (styles, masks, models); no output may be
    one of them, whatever --overwrite says. ``sign`` gives each job of the shard its signature,
    which is stored in its output and decides whether an existing output can be skipped.
    ``variant`` fills ``{variant}`` (:mod:`stylize.batch.naming`); without it ``{variant}`` is the style.
    """
    if not styles:
        raise UsageError("no style given")
    items = _outside_output_folder(inputs, options)
    pairs = [(item, style) for item in items for style in styles]
    target = _single_file_target(options.output, len(pairs))
    if target is None:
        items = _not_our_outputs(items, styles, options, method, inputs, variant)
        pairs = [(item, style) for item in items for style in styles]
    jobs = [Job(item, style, target or output_path(item, style, options, method, variant)) for item, style in pairs]
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
    if output is not None and output.suffix.lower() in FILE_EXTENSIONS and not output.is_dir():
        return list(inputs.items)  # a single output file, not a folder
    folder = (output or DEFAULT_OUTPUT_DIR).resolve()
    kept = [item for item in inputs.items if not _in_nested_output(item, folder)]
    inputs.skipped_in_output += len(inputs.items) - len(kept)
    return kept


def _not_our_outputs(
    items: list[InputItem],
    styles: Sequence[str],
    options: BatchOptions,
    method: str,
    inputs: InputSet,
    variant: Variant | None = None,
) -> list[InputItem]:
    """The inputs minus stylize's own results of this command: a file that one of its jobs writes
    and that carries a stylize record (``-o .`` run twice: the first run's outputs sit among the inputs)."""
    outputs = {key(output_path(item, style, options, method, variant)) for item in items for style in styles}
    ours = {item for item in items if key(item.path) in outputs and _has_record(item)}
    inputs.skipped_in_output += len(ours)
    return [item for item in items if item not in ours]


def _has_record(item: InputItem) -> bool:
    return (video.read_note(item.path) if item.video else images.read_note(item.path)) is not None


def _in_nested_output(item: InputItem, folder: Path | StorePath) -> bool:
    """True for a file found inside ``folder`` where ``folder`` is a sub-folder of the one searched."""
    root = item.path.resolve().parents[len(item.rel.parts) - 1]
    return folder != root and within(folder, root) and within(item.path.resolve(), folder)


def _single_file_target(output: Path | StorePath | None, count: int) -> Path | StorePath | None:
    """``-o`` itself when it names an image or video file; an error when it does but there are many outputs."""
    if output is not None and unknown_file_suffix(output, FILE_EXTENSIONS):
        known = ", ".join(sorted(FILE_EXTENSIONS))
        raise UsageError(
            f"-o {output}: '{output.suffix}' is not an image format (nor a video container) stylize writes",
            f"give a folder, or a file ending in one of {known}",
        )
    if output is None or output.is_dir() or output.suffix.lower() not in FILE_EXTENSIONS:
        return None
    if count > 1:
        raise UsageError(f"-o {output} names one file but there are {count} outputs", "give a folder for -o/--output")
    if output.suffix.lower() not in video.OUTPUT_EXTENSIONS:
        images.output_format(output)  # a format we can write
    return output


FILE_EXTENSIONS = images.IMAGE_EXTENSIONS | video.VIDEO_EXTENSIONS  # -o with one of these names a file


def output_path(
    item: InputItem, style: str, options: BatchOptions, method: str = "out", variant: Variant | None = None
) -> Path | StorePath:
    """Where a job writes: the output folder, the input's sub-folder, the rendered name."""
    root = options.output if options.output is not None else DEFAULT_OUTPUT_DIR
    return root / item.rel.parent / render_name(options.name, item, style, options.ext, method, variant)


def render_name(
    template: str,
    item: InputItem,
    style: str,
    ext: str | None = None,
    method: str = "out",
    variant: Variant | None = None,
) -> str:
    """Fill the name template for one input and style; the result must be a writable image name."""
    suffix = ext_suffix(ext) if ext else _default_suffix(item)
    fields = {
        "stem": item.rel.stem,
        "ext": suffix[1:],
        "style": style,
        "variant": (variant or Variant()).render(style, item.video),
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


def _default_suffix(item: InputItem) -> str:
    """The input's extension, lower-cased, when we can write it (videos and animated GIFs too); else .png."""
    suffix = item.path.suffix.lower()
    return suffix if suffix in images.FORMATS or item.video else ".png"


def check_writable(folders: Iterable[Path | StorePath]) -> None:
    """Every output folder can be created and written, checked before any model loads (in a store: by
    writing and removing a small file there)."""
    folders = list(folders)
    _probe_stored([folder for folder in folders if isinstance(folder, StorePath)])
    probed: set[Path] = set()
    for folder in folders:
        if isinstance(folder, StorePath):
            continue
        existing = next(p for p in (folder, *folder.parents) if p.exists() or p == p.parent)
        if not existing.is_dir():
            raise OutputError(f"{folder}: cannot be a folder, {existing} is a file", "choose another -o/--output")
        if not os.access(existing, os.W_OK | os.X_OK):
            raise OutputError(f"{existing}: no permission to write here", "choose another -o/--output")
        if existing not in probed:
            probe_write(existing)
            probed.add(existing)


def _probe_stored(folders: list[StorePath]) -> None:
    """A store's permissions go by bucket or prefix: one probe for each folder not below one probed already."""
    probed: list[StorePath] = []
    for folder in sorted(set(folders), key=lambda folder: len(folder.key)):
        if not any(folder.is_relative_to(done) for done in probed):
            folder.probe_write(temp_name(f"{TEMP_PREFIX}{os.getpid()}-probe-", TEMP_SUFFIX))
            probed.append(folder)


def probe_write(folder: Path) -> None:
    """Create and remove a temp file in ``folder``: permission bits do not tell a pseudo filesystem
    (``/proc``, ``/sys``) or a read-only mount, where every output would fail after the models load."""
    try:
        with tempfile.NamedTemporaryFile(prefix=f"{TEMP_PREFIX}{os.getpid()}-probe-", suffix=TEMP_SUFFIX, dir=folder):
            pass
    except OSError as exc:
        raise OutputError(
            f"{folder}: files cannot be created here ({exc.strerror or exc})", "choose another -o/--output"
        ) from exc


def _check_outputs(jobs: Sequence[Job]) -> None:
    """Two jobs writing one file, or a job writing over any input, is an error before any work."""
    inputs = {key(job.input.path): job for job in jobs}
    seen: dict[str, Job] = {}
    for job in jobs:
        name = key(job.output)
        if name in inputs:
            raise OutputError(
                f"{job.output}: would overwrite the input {inputs[name].input.path}",
                "choose another -o/--output or --name",
            )
        if name in seen:
            raise UsageError(
                f"{_describe(seen[name])} and {_describe(job)} would both be written to {job.output}",
                "make names unique with --name, e.g. '{parent}_{stem}_{method}_{variant}.{ext}'",
            )
        seen[name] = job


def _check_protected(jobs: Sequence[Job], protected: Iterable[Path | StorePath]) -> None:
    """An output that is a style, mask or model file the command reads stops it before any work."""
    by_name = {path.resolve(): path for path in protected}
    by_inode = {_inode(path): path for path in protected if isinstance(path, Path) and path.exists()}
    for job in jobs:
        local = isinstance(job.output, Path) and job.output.exists()  # links: another name of a local file
        hit = by_name.get(job.output.resolve()) or (by_inode.get(_inode(job.output)) if local else None)
        if hit is not None:
            raise OutputError(
                f"{job.output}: would overwrite {hit}, which this command reads", "choose another -o/--output or --name"
            )


def _inode(path: Path) -> tuple[int, int]:
    stat = path.stat()
    return stat.st_dev, stat.st_ino


def _describe(job: Job) -> str:
    return f"{job.input.path} (style {job.style})"


def select_shard(jobs: Sequence[Job], inputs: InputSet, shard: tuple[int, int] | None) -> list[Job]:
    """Jobs of the inputs at sorted positions I, I+N, I+2N, ... (all styles of an input stay together)."""
    if shard is None or shard[1] == 1:
        return list(jobs)
    index, count = shard
    position = {item: i for i, item in enumerate(inputs.items)}
    return [job for job in jobs if position[job.input] % count == index]

"""Service layer: resolve inputs, device and weights, build a backend, run it over a batch.

The CLI calls these; so can notebooks and scripts (pass any Reporter, e.g. TqdmReporter).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from stylize.batch import (
    BatchOptions,
    BatchReport,
    Job,
    SharedPictures,
    collect_inputs,
    plan_jobs,
    run_batch,
    shared_picture,
)
from stylize.config import (
    AdaINConfig,
    AdaINTrainConfig,
    FastConfig,
    FastTrainConfig,
    GANTrainConfig,
    OptimizeConfig,
)
from stylize.errors import UsageError
from stylize.progress import NullReporter, Reporter
from stylize.provenance import JobSignature, settings_of
from stylize.video import VIDEO_DEFAULTS, VideoConfig

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from stylize.training.loop import RunKeywords, TrainResult

# Re-exported: the CLI imports only config, api and errors (issue 13, a lint-imports contract), so it
# finds here the doors of the commands that run no batch and the torch-free types and constants it names
# (BatchOptions, BatchReport, Reporter, VideoConfig and VIDEO_DEFAULTS come with the imports above).
from stylize.api_tools import (  # noqa: F401
    eval_means,
    export_onnx,
    fast_models,
    fast_models_dir,
    gan_sample,
    info,
    save_eval_sheet,
    weights_fetch,
    weights_import,
    weights_list,
    weights_path,
    weights_verify,
)
from stylize.batch import PLACEHOLDERS, BatchInterrupted, Failure, parse_shard  # noqa: F401
from stylize.bundled import REINSTALL, REINSTALL_US  # noqa: F401
from stylize.weights import CacheEntry, WeightSpec  # noqa: F401


def style_files(sources: Sequence[str], max_count: int = 10_000) -> dict[str, Path]:
    """Style images (files or folders) keyed by a unique tag, the file stem, for ``{style}``."""
    found = collect_inputs(sources)
    styles: dict[str, Path] = {}
    for item in found.items[:max_count]:
        tag = item.path.stem
        if tag in styles and styles[tag] != item.path:
            raise UsageError(f"two styles are both called '{tag}': {styles[tag]} and {item.path}", "rename one of them")
        styles[tag] = item.path
    return styles


def check_shared_inputs(paths: Iterable[Path], max_pixels: int) -> SharedPictures:
    """Styles and masks serve every content image: decode each now, so a damaged one stops the run
    with one line (exit 3) before any model loads instead of failing every image in turn. The
    pictures go to the method, which reads none of them again."""
    decoded: SharedPictures = {}
    for path in paths:
        shared_picture(decoded, path, max_pixels)
    return decoded


# method name (the CLI command, the config, the job signature) -> its package in stylize.backends
METHODS = {"adain": "stylize.backends.adain", "fast": "stylize.backends.fast", "optimize": "stylize.backends.optimize"}


def stylize(
    method: str,
    contents: Sequence[str],
    config: Any,
    options: BatchOptions,
    styles: Sequence[str] = (),
    device: str | None = None,
    reporter: Reporter | None = None,
    stdin: TextIO | None = None,
    video: VideoConfig = VIDEO_DEFAULTS,
) -> BatchReport:
    """Stylize every content image or video with ``method`` (adain, fast, optimize): one output per
    (content, style), or per content when the styles are blended.

    Before any work: the styles and masks are decoded, no output may be a style, mask or model
    file (exit 3), and each job gets its signature (:mod:`stylize.provenance`). Videos run frame
    by frame (:mod:`stylize.video.run`) with ``video``'s settings."""
    import importlib

    from stylize.backends.stylizer import MethodBackend
    from stylize.devices import resolve_device

    if method not in METHODS:
        raise UsageError(f"no method '{method}'", f"use one of {', '.join(METHODS)}")
    backend = importlib.import_module(METHODS[method])  # lazy: a run loads only its own method
    reporter = reporter or NullReporter()
    run = backend.plan(config, style_files(styles) if styles else {})
    decoded = check_shared_inputs(run.shared, options.max_pixels)
    signature = JobSignature(method, {**settings_of(config), **options.pixel_settings()}, run.weights)
    inputs = collect_inputs(contents, options.glob, stdin, videos=True)

    def sign(job: Job) -> str:  # a video's settings change its pixels too
        files, model = run.style_inputs(job.style)
        more = settings_of(video) if video is not None and job.input.video else {}
        return signature.text(job.input.path, files, model=model, more=more)

    jobs = plan_jobs(inputs, run.tags, options, list(run.protected), sign, method=method)
    made = backend.build(config, run, resolve_device(device), options.max_pixels, reporter, decoded)
    adapter = MethodBackend(made, options, reporter)
    if video is not None:
        from stylize.video.run import run_jobs  # lazy: only a run with videos needs PyAV

        return run_jobs(jobs, adapter, options, reporter, inputs, adapter.load_model, video)
    return run_batch(jobs, adapter, options, reporter, inputs=inputs, prepare=adapter.load_model)


def adain(
    contents: Sequence[str],
    styles: Sequence[str],
    config: AdaINConfig,
    options: BatchOptions,
    device: str | None = None,
    reporter: Reporter | None = None,
    stdin: TextIO | None = None,
    video: VideoConfig = VIDEO_DEFAULTS,
) -> BatchReport:
    """``stylize adain``: :func:`stylize` with AdaIN (Huang & Belongie 2017)."""
    return stylize("adain", contents, config, options, styles, device, reporter, stdin, video)


def optimize(
    contents: Sequence[str],
    styles: Sequence[str],
    config: OptimizeConfig,
    options: BatchOptions,
    device: str | None = None,
    reporter: Reporter | None = None,
    stdin: TextIO | None = None,
    video: VideoConfig = VIDEO_DEFAULTS,
) -> BatchReport:
    """``stylize optimize``: :func:`stylize` with Gatys et al.'s optimisation (slow on videos: the
    per-image time for every frame; ``--save-every`` and ``--plot`` apply to images only)."""
    return stylize("optimize", contents, config, options, styles, device, reporter, stdin, video)


def fast(
    contents: Sequence[str],
    config: FastConfig,
    options: BatchOptions,
    device: str | None = None,
    reporter: Reporter | None = None,
    stdin: TextIO | None = None,
    video: VideoConfig = VIDEO_DEFAULTS,
) -> BatchReport:
    """``stylize fast``: :func:`stylize` with every fast-style model in ``config.models``."""
    return stylize("fast", contents, config, options, (), device, reporter, stdin, video)


def evaluate(
    outputs: Sequence[str],
    contents: Sequence[str] = (),
    styles: Sequence[str] = (),
    report: Path | None = None,
    vgg: str | None = None,
    device: str | None = None,
    reporter: Reporter | None = None,
) -> list[Any]:
    """Style and content distance of each output (``stylize eval``); a list of ``EvalRow``.

    Outputs are matched to their content and style images by name (``{stem}_{method}_{style}``), or by a
    batch run's ``--json`` report.
    """
    import json

    from stylize.backends import evaluate as ev
    from stylize.config import DEFAULT_VGG, vgg_source
    from stylize.devices import resolve_device

    if not contents and not styles:
        raise UsageError("give --content and/or --style images to compare against")
    content_map = {item.path.stem: item.path for item in collect_inputs(contents).items} if contents else {}
    style_map = style_files(styles) if styles else {}
    if report is not None:
        try:
            items = ev.match_by_report(json.loads(Path(report).read_text()), style_map)
        except (OSError, ValueError) as exc:
            raise UsageError(f"{report}: not a readable --json report ({exc})") from exc
    else:
        if not outputs:
            raise UsageError("give the output images to evaluate (files or folders), or --report")
        found = collect_inputs(outputs).items
        items = [
            ev.match_by_record(item.path, content_map, style_map) or ev.match_by_name(item.path, content_map, style_map)
            for item in found
        ]
    meter = ev.QualityMeter(vgg_source(vgg or DEFAULT_VGG), resolve_device(device), reporter)
    return ev.evaluate_items(meter, items, reporter or NullReporter())


def evaluate_video(
    input_video: Path,
    outputs: Sequence[str],
    reporter: Reporter | None = None,
    style: Path | None = None,
    vgg: str | None = None,
    device: str | None = None,
) -> list[Any]:
    """Flicker of each output video against the input's motion (``stylize eval --video``): a list
    of ``stylize.video.run.Flicker``, the input itself first (its own warping error: the flow's floor).

    With ``style``, each row also gets the mean style distance of up to STYLE_FRAMES frames spread
    over the video (the ``stylize eval`` number; the input's row: what doing nothing scores)."""
    from dataclasses import replace

    from stylize.video.run import measure_flicker

    if not outputs:
        raise UsageError("give the stylized videos to measure after --video INPUT")
    reporter = reporter or NullReporter()
    paths = [Path(input_video), *(Path(p) for p in outputs)]
    meter = _quality_meter(vgg, device, reporter) if style is not None else None
    rows = []
    reporter.start("videos", total=len(paths), unit="video")  # one bar; each video's frames below it
    try:
        for path in paths:
            row = measure_flicker(paths[0], path, reporter)
            if meter is not None and style is not None:
                row = replace(row, style_distance=_video_style_distance(meter, path, style))
            rows.append(row)
            reporter.advance("videos")
    finally:
        reporter.finish("videos")
    return rows


STYLE_FRAMES = 12  # frames per video scored for its style distance (VGG-19 on every frame would dominate)


def _quality_meter(vgg: str | None, device: str | None, reporter: Reporter) -> Any:
    from stylize.backends import evaluate as ev
    from stylize.config import DEFAULT_VGG, vgg_source
    from stylize.devices import resolve_device

    return ev.QualityMeter(vgg_source(vgg or DEFAULT_VGG), resolve_device(device), reporter)


def _video_style_distance(meter: Any, path: Path, style: Path) -> float:
    """Mean style distance of STYLE_FRAMES frames evenly spread over ``path``."""
    from PIL import Image

    from stylize import video

    step = max(1, video.probe(path).frames // STYLE_FRAMES)
    frames = video.read_frames(path)
    try:
        scores = [meter.score(Image.fromarray(f.rgb), None, style).style for i, f in enumerate(frames) if i % step == 0]
    finally:
        frames.close()
    return sum(scores) / len(scores)


# ---------------------------------------------------------------- training: one door per trainer in stylize.training
# ``run``: resume, overwrite, log_dir, device, reporter (training.loop.RunKeywords).


def train_adain(
    content_dir: str | Path,
    style_dir: str | Path,
    output: str | Path,
    config: AdaINTrainConfig | None = None,
    **run: Unpack[RunKeywords],
) -> TrainResult:
    """Train an AdaIN decoder (``stylize train-adain``): :func:`stylize.training.adain.train_adain`."""
    from stylize.training.adain import train_adain as train

    return train(content_dir, style_dir, output, config, **run)


def train_fast(
    style_image: str | Path,
    data: str | Path,
    output: str | Path | None = None,
    config: FastTrainConfig | None = None,
    **run: Unpack[RunKeywords],
) -> TrainResult:
    """Train a fast-style network (``stylize train-fast``): :func:`stylize.training.fast.train_fast`."""
    from stylize.training.fast import train_fast as train

    return train(style_image, data, output, config, **run)


def train_gan(
    data: str | Path, output: str | Path, config: GANTrainConfig | None = None, **run: Unpack[RunKeywords]
) -> TrainResult:
    """Train a GAN (``stylize train-gan``): :func:`stylize.training.gan.train_gan`."""
    from stylize.training.gan import train_gan as train

    return train(data, output, config, **run)

"""Service layer: resolve inputs, device and weights, build a backend, run it over a batch.

The CLI calls these; so can notebooks and scripts (pass any Reporter, e.g. TqdmReporter). The doors of
the commands that run no batch (``eval``, ``info``, ``weights``, ``fast --list`` and ``--export-onnx``,
``gan-sample``) live here too. Nothing here imports torch until a function runs: ``--help`` stays light.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from stylize import weights
from stylize._version import __version__
from stylize.batch import (
    BatchOptions,
    BatchReport,
    Job,
    SharedPictures,
    collect_inputs,
    plan_jobs,
    run_batch,
    run_variant,
    shared_picture,
)
from stylize.config import (
    AdaINConfig,
    AdaINTrainConfig,
    FastConfig,
    FastTrainConfig,
    GANSampleConfig,
    GANTrainConfig,
    OptimizeConfig,
)
from stylize.errors import UsageError
from stylize.progress import LEFT, NullReporter, Reporter  # noqa: F401 - LEFT: the CLI's bars read it
from stylize.provenance import JobSignature, settings_of
from stylize.video import VIDEO_DEFAULTS, VideoConfig

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from stylize.backends.evaluate import EvalResult
    from stylize.backends.fast.zoo import ModelEntry
    from stylize.backends.gan.service import SampleResult
    from stylize.catalogue import SheetResult
    from stylize.training.loop import RunKeywords, TrainResult
    from stylize.video.run import Flicker

# Re-exported: the CLI imports only config, api and errors (a lint-imports contract), so it finds here
# the torch-free types and constants it names (BatchOptions, BatchReport, Reporter, VideoConfig and
# VIDEO_DEFAULTS come with the imports above).
from stylize.batch import DEFAULT_NAME, PLACEHOLDERS, BatchInterrupted, Failure, check_ray_address, parse_shard  # noqa: F401
from stylize.bundled import REINSTALL, REINSTALL_US  # noqa: F401
from stylize.weights import CacheEntry, WeightSpec  # noqa: F401


def style_files(sources: Sequence[str], max_count: int = 10_000) -> dict[str, Path]:
    """Style images (files or folders) keyed by a unique tag, the file stem, for ``{style}``; in the order
    given (a folder's files sorted), which is the order of ``--blend`` and ``--mask``."""
    found = [item for source in dict.fromkeys(sources) for item in collect_inputs([source]).items]
    styles: dict[str, Path] = {}
    for item in found[:max_count]:
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
    video: VideoConfig | None = VIDEO_DEFAULTS,
) -> BatchReport:
    """Stylize every content image or video with ``method`` (adain, fast, optimize): one output per
    (content, style), or per content when the styles are blended.

    Before any work: the styles and masks are decoded, no output may be a style, mask or model
    file (exit 3), and each job gets its signature (:mod:`stylize.provenance`). Default names carry
    the settings that differ from the defaults (:mod:`stylize.batch.naming`), so a variant gets its own
    file. Videos run frame by frame (:mod:`stylize.video.run`) with ``video``'s settings; with
    ``video`` None every input is an image (an animated GIF's first frame; video files in folders
    are not picked up)."""
    from stylize.backends.stylizer import start  # lazy: torch; the CLI imports api for --help

    if method not in METHODS:
        raise UsageError(f"no method '{method}'", f"use one of {', '.join(METHODS)}")
    backend = importlib.import_module(METHODS[method])  # lazy: a run loads only its own method
    reporter = reporter or NullReporter()
    run = backend.plan(config, style_files(styles) if styles else {})
    decoded = check_shared_inputs(run.shared, options.max_pixels)
    signature = JobSignature(method, {**settings_of(config), **options.pixel_settings()}, run.weights)
    inputs = collect_inputs(contents, options.glob, stdin, videos=video is not None)
    video_settings = settings_of(video) if video is not None else {}

    def sign(job: Job) -> str:  # a video's settings change its pixels too
        files, model = run.style_inputs(job.style)
        return signature.text(job.input.path, files, model=model, more=video_settings if job.input.video else {})

    variant = run_variant(config, options, video, list(run.styles), run.blended)  # {variant} of the names
    jobs = plan_jobs(inputs, run.tags, options, list(run.protected), sign, method=method, variant=variant)
    if options.ray is not None:
        from stylize.cluster import run_on_ray  # lazy: Ray (an optional extra), only for --ray

        make = functools.partial(start, backend, config, run, device, options, NullReporter(), decoded)
        return run_on_ray(jobs, make, options, reporter, inputs, video)
    adapter = start(backend, config, run, device, options, reporter, decoded)
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
    video: VideoConfig | None = VIDEO_DEFAULTS,
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


# ---------------------------------------------------------------- eval: doors to stylize.backends.evaluate


def evaluate(
    outputs: Sequence[str],
    contents: Sequence[str] = (),
    styles: Sequence[str] = (),
    report: Path | None = None,
    vgg: str | None = None,
    device: str | None = None,
    reporter: Reporter | None = None,
    sheet: Path | None = None,
) -> EvalResult:
    """Style and content distance of each output, their means, and with ``sheet`` a contact sheet written
    there (``stylize eval``): :func:`stylize.backends.evaluate.evaluate`.

    Outputs are matched to their content and style images by name (``{stem}_{method}_{style}``), or by a
    batch run's ``--json`` report.
    """
    from stylize.backends import evaluate as ev  # lazy: the eval module loads torch

    if not contents and not styles:
        raise UsageError("give --content and/or --style images to compare against")
    content_map = {item.path.stem: item.path for item in collect_inputs(contents).items} if contents else {}
    style_map = style_files(styles) if styles else {}
    return ev.evaluate(outputs, content_map, style_map, report, vgg, device, reporter, sheet)


def evaluate_video(
    input_video: Path,
    outputs: Sequence[str],
    reporter: Reporter | None = None,
    style: Path | None = None,
    vgg: str | None = None,
    device: str | None = None,
) -> list[Flicker]:
    """Flicker of each output video against the input's motion, the input first (``stylize eval --video``;
    with ``style`` also the frames' mean style distance): :func:`stylize.backends.evaluate.evaluate_video`."""
    from stylize.backends import evaluate as ev  # lazy: the eval module loads torch

    return ev.evaluate_video(input_video, outputs, reporter, style, vgg, device)


# ---------------------------------------------------------------- sheet: a photo in every shipped model and style

# px, each tile's long side in ``stylize sheet``: enough to judge a style's marks; an AdaIN tile costs
# about 2.8 CPU-seconds at 256 px and 4.2 at 320 (measured: one thread, fp32), a fast tile 0.5-0.8
SHEET_PREVIEW_SIZE = 256


def style_sheet(
    photo: Path,
    styles: Sequence[str] = (),
    models: Sequence[str] = (),
    output: Path | None = None,
    size: int = SHEET_PREVIEW_SIZE,
    device: str | None = None,
    reporter: Reporter | None = None,
) -> SheetResult:
    """``stylize sheet``: the photo in every shipped fast model, each of ``models`` and each style image
    (files or folders), at ``size`` px, labelled, in one file: :func:`stylize.catalogue.style_sheet`."""
    from stylize import catalogue  # lazy: the picture API loads torch

    shipped = catalogue.shipped_models()
    chosen = [*shipped, *(m for m in models if m not in shipped)]
    target = output if output is not None else catalogue.default_output(photo)
    return catalogue.style_sheet(photo, style_files(styles) if styles else {}, target, chosen, size, device, reporter)


# ---------------------------------------------------------------- info


def info(device: str | None = None) -> dict[str, object]:
    """``stylize info``: versions, the device ``device`` resolves to (a bad one raises), the caches."""
    from stylize.devices import torch_facts  # lazy: `stylize --help` must not import torch

    return {
        "stylize": __version__,
        **torch_facts(device),
        "cache": str(weights.cache_dir()),
        "torch_hub_cache": str(weights.torch_hub_dir()),
        "offline": weights.offline(),
    }


# ---------------------------------------------------------------- weights: one door per ``stylize weights`` command


def weights_list() -> list[weights.CacheEntry]:
    """``weights list``: every registry entry with where (and whether) it is on disk."""
    return weights.list_cache()


def weights_fetch(name: str, reporter: Reporter | None = None) -> Path:
    """``weights fetch``: the cached file for ``name``, downloaded and verified if need be."""
    return weights.ensure(name, reporter)


def weights_import(name: str, file: Path, reporter: Reporter | None = None) -> Path:
    """``weights import``: copy a local copy of ``name`` into the cache once its hash checks out."""
    return weights.import_file(name, file, reporter)


def weights_verify() -> list[tuple[weights.WeightSpec, Path, str, bool]]:
    """``weights verify``: re-hash every cached file; (spec, path, sha256, ok) each."""
    return weights.verify_cache()


def weights_path(name: str) -> Path:
    """``weights path``: where ``name`` is cached, else where it would be (an unknown name raises)."""
    return weights.find_cached(name) or weights.cache_path(weights.get_spec(name))


# ---------------------------------------------------------------- fast models and GAN samples


def fast_models() -> list[ModelEntry]:
    """``fast --list``: the registry's fast-style models (bundled first), then the local ones."""
    from stylize.backends.fast import list_models  # lazy: the fast backend loads torch

    return list_models()


def fast_models_dir() -> Path:
    """Where local fast-style models live (``train-fast`` saves there; ``--model NAME`` looks there)."""
    return weights.fast_models_dir()


def export_onnx(model: str, path: Path, reporter: Reporter | None = None) -> Path:
    """``fast --export-onnx``: write the fast-style ``model`` as ONNX at ``path``."""
    from stylize.backends.fast import export_onnx as export  # lazy: the fast backend loads torch

    return export(model, path, reporter)


def gan_sample(
    config: GANSampleConfig,
    output: Path | None = None,
    device: str | None = None,
    reporter: Reporter | None = None,
    on_written: Callable[[Path], None] | None = None,
) -> SampleResult:
    """``gan-sample``: draw ``config``'s images into ``output``; ``on_written`` hears of each per-seed
    file as soon as it is on disk (see :func:`stylize.backends.gan.sample`)."""
    from stylize.backends.gan import sample  # lazy: the GAN backend loads torch

    return sample(config, output, device, reporter, on_written)


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
    from stylize.training.adain import train_adain as train  # lazy: a trainer loads torch and its models

    return train(content_dir, style_dir, output, config, **run)


def train_fast(
    style_image: str | Path,
    data: str | Path,
    output: str | Path | None = None,
    config: FastTrainConfig | None = None,
    **run: Unpack[RunKeywords],
) -> TrainResult:
    """Train a fast-style network (``stylize train-fast``): :func:`stylize.training.fast.train_fast`,
    with ``config.teacher`` (adain) painting the photos it learns from first (:func:`teacher_painter`)."""
    from stylize.training.fast import train_fast as train  # lazy: a trainer loads torch and its models

    config = config or FastTrainConfig()
    teacher = teacher_painter(config, run.get("device"), run.get("reporter")) if config.teacher else None
    return train(style_image, data, output, config, teacher, **run)


def teacher_painter(
    config: FastTrainConfig, device: str | None = None, reporter: Reporter | None = None
) -> Callable[[Path, Path, Path], None]:
    """train-fast's teacher: ``stylize adain``'s default pictures of a folder of photos (long side
    ``config.teacher_size``, the style at ``config.style_size`` and ``config.style_scale``) as PNGs in a folder mirroring it
    (``a/b.jpg`` -> ``a/b.jpg.png``).
    A re-run skips the pictures painted before; under torchrun each rank paints its share."""
    adain_config = AdaINConfig(size=config.teacher_size, style_size=config.style_size, style_scale=config.style_scale)
    options = functools.partial(BatchOptions, name="{name}.png", ext="png")  # b.jpg -> b.jpg.png: one per photo

    def paint(photos: Path, style: Path, folder: Path) -> None:  # as train-fast reads them: all images, no videos
        adain([str(photos)], [str(style)], adain_config, options(output=folder), device, reporter, video=None)

    return paint


def train_gan(
    data: str | Path, output: str | Path, config: GANTrainConfig | None = None, **run: Unpack[RunKeywords]
) -> TrainResult:
    """Train a GAN (``stylize train-gan``): :func:`stylize.training.gan.train_gan`."""
    from stylize.training.gan import train_gan as train  # lazy: a trainer loads torch and its models

    return train(data, output, config, **run)

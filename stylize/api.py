"""Service layer: resolve inputs, device and weights, build a backend, run it over a batch.

The CLI calls these; so can notebooks and scripts (pass any Reporter, e.g. TqdmReporter).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from stylize.batch import (
    BatchOptions,
    BatchReport,
    InputSet,
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
    default_adain_pair,
)
from stylize.errors import UsageError
from stylize.progress import NullReporter, Reporter
from stylize.provenance import JobSignature, settings_of, weights_id
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
    pictures go to the backend, which reads none of them again."""
    decoded: SharedPictures = {}
    for path in paths:
        shared_picture(decoded, path, max_pixels)
    return decoded


def combined_tag(tags: Sequence[str]) -> str:
    """The {style} tag of an output that blends several styles."""
    return "+".join(tags)


def plan_style_jobs(contents: Sequence[str], style_map: dict[str, Path], blended: bool, options: BatchOptions,
                    signature: JobSignature, stdin: TextIO | None = None,
                    masks: Sequence[Path] = (), videos: bool = False) -> tuple[InputSet, list[Job]]:  # fmt: skip
    """The content images (and videos, with ``videos``) and one job per (content, style), or per
    content when the styles are blended.

    No output may be a style or mask file (exit 3 before any work, whatever --overwrite says).
    Each job carries ``signature`` for its content and style files (see :mod:`stylize.provenance`)."""
    inputs = collect_inputs(contents, options.glob, stdin, videos=videos)
    tags = [combined_tag(list(style_map))] if blended else list(style_map)

    def sign(job: Job) -> str:
        styles = list(style_map.values()) if blended else [style_map[job.style]]
        return signature.text(job.input.path, styles)

    protected = [*style_map.values(), *masks]
    return inputs, plan_jobs(inputs, tags, options, protected, sign, method=signature.method)


def run_with_model(backend: Any, jobs: list[Job], options: BatchOptions, reporter: Reporter, inputs: InputSet,
                   video: VideoConfig | None = None, load: Callable[[list[Job]], None] | None = None) -> BatchReport:  # fmt: skip
    """Run ``backend`` (which loads its network lazily as ``.model``, or through ``load(todo)``) over ``jobs``.

    The network is loaded once the batch knows an output is still to be written, before the
    first image, so a weights error stops the batch instead of failing every image; a fully
    resumed batch loads nothing. With ``video``, video jobs run frame by frame (stylize.video_run).
    """

    def load_model(todo: list[Job]) -> None:
        backend.model  # noqa: B018 - load weights now

    prepare = load or load_model
    if video is not None:
        from stylize.video.run import run_jobs

        return run_jobs(jobs, backend, options, reporter, inputs, prepare, video)
    return run_batch(jobs, backend, options, reporter, inputs=inputs, prepare=prepare)


def adain(contents: Sequence[str], styles: Sequence[str], config: AdaINConfig, options: BatchOptions,
          device: str | None = None, reporter: Reporter | None = None, stdin: TextIO | None = None,
          video: VideoConfig = VIDEO_DEFAULTS) -> BatchReport:  # fmt: skip
    """Stylize every content image or video with AdaIN: one output per (content, style), or blended.

    Videos (see :mod:`stylize.video_run`) take ``video``'s settings."""
    from stylize.backends.adain import AdaINBackend, AdaINModel, load_pair
    from stylize.devices import resolve_device

    reporter = reporter or NullReporter()
    style_map = style_files(styles)
    _check_style_options(config, style_map)
    decoded = check_shared_inputs([*style_map.values(), *config.masks], options.max_pixels)
    signature = JobSignature(
        "adain",
        {**settings_of(config, skip=("encoder", "decoder")), **options.pixel_settings()},
        {"encoder": weights_id(config.encoder), "decoder": weights_id(config.decoder or default_adain_pair()[1])},
    )
    blended = bool(config.style_weights or config.masks)
    inputs, jobs = plan_style_jobs(contents, style_map, blended, options, signature, stdin, config.masks, videos=True)
    torch_device = resolve_device(device)

    def make_model() -> AdaINModel:
        encoder, decoder, alpha = load_pair(config, reporter)
        return AdaINModel(
            encoder, decoder, torch_device, config.precision, default_alpha=alpha, transform=config.transform
        )

    return run_with_model(AdaINBackend(make_model, config, options, style_map, reporter, decoded), jobs, options,
                          reporter, inputs, video)  # fmt: skip


def check_style_weights(weights: Sequence[float] | None, style_map: dict[str, Path]) -> None:
    """``--style-weights`` needs one weight per style."""
    if weights and len(weights) != len(style_map):
        raise UsageError(f"--style-weights has {len(weights)} values for {len(style_map)} styles")


def _check_style_options(config: AdaINConfig, style_map: dict[str, Path]) -> None:
    weights, masks = config.style_weights, config.masks
    check_style_weights(weights, style_map)
    if weights and masks:
        raise UsageError("--style-weights and --mask cannot be combined", "use one or the other")
    if masks and len(style_map) < 2 and len(masks) != len(style_map):
        raise UsageError("--mask needs one mask per style")


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


def evaluate_video(input_video: Path, outputs: Sequence[str], reporter: Reporter | None = None,
                   style: Path | None = None, vgg: str | None = None, device: str | None = None) -> list[Any]:  # fmt: skip
    """Flicker of each output video against the input's motion (``stylize eval --video``): a list
    of ``video_run.Flicker``, the input itself first (its own warping error: the flow's floor).

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


def optimize(contents: Sequence[str], styles: Sequence[str], config: OptimizeConfig, options: BatchOptions,
             device: str | None = None, reporter: Reporter | None = None, stdin: TextIO | None = None,
             video: VideoConfig = VIDEO_DEFAULTS) -> BatchReport:  # fmt: skip
    """Optimise one image per (content, style), or per content blending all styles with ``style_weights``.

    Videos are optimised frame by frame (slow: the per-image time for every frame) with ``video``'s
    settings; ``--save-every`` and ``--plot`` apply to images only."""
    from stylize.backends.gatys import GatysBackend, GatysModel, load_loss_net
    from stylize.devices import effective_precision, resolve_device

    reporter = reporter or NullReporter()
    style_map = style_files(styles)
    check_style_weights(config.style_weights, style_map)
    decoded = check_shared_inputs(style_map.values(), options.max_pixels)
    blended = bool(config.style_weights)
    signature = JobSignature(
        "optimize",
        {**settings_of(config, skip=("save_every", "plot", "vgg")), **options.pixel_settings()},
        {"vgg": weights_id(config.vgg)},
    )
    inputs, jobs = plan_style_jobs(contents, style_map, blended, options, signature, stdin, videos=True)
    torch_device = resolve_device(device)
    effective_precision(config.precision, torch_device)  # fp16 on a CPU stops here, before any work

    def make_model() -> GatysModel:
        layers = [*config.content_layers, *config.style_layers]
        return GatysModel(
            load_loss_net(config.vgg, layers, config.pooling, torch_device, reporter), config, torch_device
        )

    backend = GatysBackend(make_model, config, options, style_map, blended, reporter, decoded)
    return run_with_model(backend, jobs, options, reporter, inputs, video)


def fast(contents: Sequence[str], config: FastConfig, options: BatchOptions, device: str | None = None,
         reporter: Reporter | None = None, stdin: TextIO | None = None,
         video: VideoConfig = VIDEO_DEFAULTS) -> BatchReport:  # fmt: skip
    """Stylize every content image or video with every fast-style model: one output per (input, model).

    Videos (see :mod:`stylize.video_run`) take ``video``'s settings."""
    from stylize.backends.fast import FastBackend, FastModel, load_model, model_tags
    from stylize.devices import resolve_device

    reporter = reporter or NullReporter()
    tags = model_tags(config.models)
    inputs = collect_inputs(contents, options.glob, stdin, videos=True)
    model_files = [Path(spec).expanduser() for spec in tags.values() if Path(spec).expanduser().is_file()]
    signature = JobSignature(
        "fast", {**settings_of(config, skip=("models", "channels_last")), **options.pixel_settings()}
    )
    jobs = plan_jobs(inputs, list(tags), options, protected=model_files,
                     sign=lambda job: signature.text(job.input.path, model=tags[job.style]), method="fast")  # fmt: skip
    torch_device = resolve_device(device)
    backend = FastBackend({}, config, options, reporter)

    def load_models(todo: list[Job]) -> None:
        """Every model with work to do, before the first image: a bad model file stops the batch (exit 4)."""
        for tag in dict.fromkeys(job.style for job in todo):
            model = FastModel(load_model(tags[tag], reporter), torch_device, config.precision, config.channels_last)
            reporter.log(f"model {tags[tag]}: {model.precision} on {torch_device}", "debug")
            backend.models[tag] = model

    return run_with_model(backend, jobs, options, reporter, inputs, video, load_models)


# ---------------------------------------------------------------- training: one door per trainer in stylize.training
# ``run``: resume, overwrite, log_dir, device, reporter (training.loop.RunKeywords).


def train_adain(content_dir: str | Path, style_dir: str | Path, output: str | Path,
                config: AdaINTrainConfig | None = None, **run: Unpack[RunKeywords]) -> TrainResult:  # fmt: skip
    """Train an AdaIN decoder (``stylize train-adain``): :func:`stylize.training.adain.train_adain`."""
    from stylize.training.adain import train_adain as train

    return train(content_dir, style_dir, output, config, **run)


def train_fast(style_image: str | Path, data: str | Path, output: str | Path | None = None,
               config: FastTrainConfig | None = None, **run: Unpack[RunKeywords]) -> TrainResult:  # fmt: skip
    """Train a fast-style network (``stylize train-fast``): :func:`stylize.training.fast.train_fast`."""
    from stylize.training.fast import train_fast as train

    return train(style_image, data, output, config, **run)


def train_gan(
    data: str | Path, output: str | Path, config: GANTrainConfig | None = None, **run: Unpack[RunKeywords]
) -> TrainResult:
    """Train a GAN (``stylize train-gan``): :func:`stylize.training.gan.train_gan`."""
    from stylize.training.gan import train_gan as train

    return train(data, output, config, **run)

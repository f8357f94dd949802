"""``stylize eval``: how stylized an output is, and how much of its content it kept.

Both numbers are measured with the bundled, normalised VGG-19 (``vgg19-caffe-normalised``),
float32, at the output's own size:

- **style distance**: at relu1_1, relu2_1, relu3_1, relu4_1 and relu5_1, the Gram matrix G of
  the output (C x C, features times their transpose over the H*W positions, divided by C*H*W)
  against the style image's (resized to the output's long side), ``||G_out - G_style||_F /
  ||G_style||_F``; the mean of the five. 0 = the style's texture statistics exactly.
- **content distance**: at relu4_2, ``mean((F_out - F_content)^2) / mean(F_content^2)`` with
  the content image resized to the output's exact size. 0 = the content's features exactly;
  1 = as far as an all-black image's features.
- **patch distance** (a second style number no method of ours optimises): the sliced Wasserstein
  distance between the 3x3 colour patches of the output and of the style image (at the output's
  long side) in CIELAB, in Lab units (:func:`stylize.metrics.patch_swd`).
- **structure distance** (CFSD): the KL divergence between the relu3_1 self-similarity of the
  content and of the output, both at the output's size (:func:`stylize.metrics.structure_distance`).

Style images and content images are encoded once per size (a batch reuses them). An image with a
side under 32 px is measured upscaled to 32 px on that side (the network needs 2 px at relu5_1); an
output (or a resized style) over MAX_MEASURED pixels is measured downscaled to it, and an output too
thin for both (a 1x5000 strip) is refused: the work of one output is bounded by pixels, not by its sides.

``eval --video`` measures flicker instead (:func:`evaluate_video`). The api's eval doors only call here.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from PIL import Image
from torch import Tensor

from stylize import images, metrics, ops, video
from stylize.batch import collect_inputs
from stylize.checkpoints import load_tensors
from stylize.config import DEFAULT_VGG, vgg_source
from stylize.devices import resolve_device
from stylize.errors import InputError, OutputError, UsageError
from stylize.files import same_file
from stylize.models.layouts import ADAIN_VGG_NORMALISED, build_checked
from stylize.models.vgg import NormalisedVGG19
from stylize.progress import NullReporter, Reporter
from stylize.provenance import fingerprint, recorded_job  # fingerprints: cached per file version
from stylize.sheet import contact_sheet, save_sheet
from stylize.weights import resolve

if TYPE_CHECKING:
    from stylize.video.run import Flicker

STYLE_LAYERS: tuple[str, ...] = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
CONTENT_LAYER = "relu4_2"
STRUCTURE_LAYER = "relu3_1"
MIN_SIDE = 32  # px: smaller images (outputs, contents, styles) are measured upscaled to this short side
MAX_MEASURED = 2048 * 2048  # px fed to VGG-19 per image: float32 activations of ~4 GB at most on CPU
MAX_ASPECT = MAX_MEASURED // MIN_SIDE**2  # 4096:1, the thinnest output that fits both bounds
CACHED = 32  # style targets, content features and resized content images kept per meter


@dataclass(frozen=True)
class Scores:
    """One output's numbers; None where no content (or style) image was given."""

    style: float | None
    content: float | None
    style_layers: Mapping[str, float] = field(default_factory=dict)
    patch: float | None = None  # metrics.patch_swd against the style
    structure: float | None = None  # metrics.structure_distance against the content


def style_distance(feats: Mapping[str, Tensor], targets: Mapping[str, Tensor]) -> tuple[float, dict[str, float]]:
    """Mean over layers of ||G - G_target|| / ||G_target||; ``targets`` are Gram matrices (1, C, C)."""
    per_layer = {}
    for name, target in targets.items():
        g = ops.gram(feats[name].float())
        per_layer[name] = float(torch.linalg.norm(g - target) / torch.linalg.norm(target).clamp_min(1e-12))
    return sum(per_layer.values()) / len(per_layer), per_layer


def content_distance(feat: Tensor, target: Tensor) -> float:
    """mean((feat - target)^2) / mean(target^2), both (1, C, H, W)."""
    return float((feat.float() - target).square().mean() / target.square().mean().clamp_min(1e-12))


class QualityMeter:
    """The VGG-19 and per-image caches behind :meth:`score`."""

    def __init__(
        self, vgg: str = DEFAULT_VGG, device: torch.device | None = None, reporter: Reporter | None = None
    ) -> None:
        state, _ = load_tensors(resolve(vgg, reporter or NullReporter()))
        self.device = device or torch.device("cpu")
        net = build_checked(NormalisedVGG19, state, ADAIN_VGG_NORMALISED)
        self.net = net.to(self.device).eval().requires_grad_(False)
        # bounded: a folder of thousands of outputs must not keep every content's features alive
        self.style_targets = functools.lru_cache(maxsize=CACHED)(self._style_targets)
        self.style_image = functools.lru_cache(maxsize=CACHED)(self._style_image)
        self.content_target = functools.lru_cache(maxsize=CACHED)(self._content_target)
        self.content_image = functools.lru_cache(maxsize=CACHED)(self._content_image)

    def features(self, img: Image.Image, layers: Sequence[str]) -> dict[str, Tensor]:
        if min(img.size) < MIN_SIDE:  # the reflection padding of relu5_1's 1/16-size maps needs 2 px
            scale = MIN_SIDE / min(img.size)
            img = images.resize_to(
                img, (max(MIN_SIDE, round(img.width * scale)), max(MIN_SIDE, round(img.height * scale)))
            )
        with torch.no_grad():
            return self.net.features(images.to_tensor(img).to(self.device), layers)

    def _style_image(self, path: Path, long_side: int) -> Image.Image:
        """The style image resized to ``long_side``, within MAX_MEASURED pixels (cached as ``style_image``)."""
        return within_budget(images.resize_long_side(images.open_image(path).rgb, long_side))

    def _style_targets(self, path: Path, long_side: int) -> dict[str, Tensor]:
        """Gram matrices of the style image at ``long_side`` (cached as ``style_targets``)."""
        return {
            k: ops.gram(v.float()) for k, v in self.features(self.style_image(path, long_side), STYLE_LAYERS).items()
        }

    def _content_image(self, path: Path, size: tuple[int, int]) -> Image.Image:
        """The content image resized to an output's size (cached as ``content_image``)."""
        return images.resize_to(images.open_image(path).rgb, size)

    def _content_target(self, path: Path, size: tuple[int, int]) -> dict[str, Tensor]:
        """relu4_2 and relu3_1 of the content image at ``size`` (cached as ``content_target``)."""
        feats = self.features(self.content_image(path, size), [CONTENT_LAYER, STRUCTURE_LAYER])
        return {k: v.float() for k, v in feats.items()}

    def score(self, output: Image.Image, content: Path | None, style: Path | None) -> Scores:
        """Every number of ``output`` against the images at ``content`` and ``style`` (None: not measured)."""
        output = output.convert("RGB")
        feats = self.features(output, [*STYLE_LAYERS, CONTENT_LAYER])
        s, per_layer, patch = None, {}, None
        if style is not None:
            s, per_layer = style_distance(feats, self.style_targets(style, max(output.size)))
            patch = metrics.patch_swd(
                images.to_tensor(output), images.to_tensor(self.style_image(style, max(output.size)))
            )
        c = structure = None
        if content is not None:
            target = self.content_target(content, output.size)
            c = content_distance(feats[CONTENT_LAYER], target[CONTENT_LAYER])
            structure = metrics.structure_distance(feats[STRUCTURE_LAYER], target[STRUCTURE_LAYER])
        return Scores(s, c, per_layer, patch, structure)


def within_budget(img: Image.Image) -> Image.Image:
    """``img`` downscaled to MAX_MEASURED pixels when it is larger (aspect kept)."""
    if img.width * img.height <= MAX_MEASURED:
        return img
    scale = math.sqrt(MAX_MEASURED / (img.width * img.height))
    return images.resize_to(img, (max(1, math.floor(img.width * scale)), max(1, math.floor(img.height * scale))))


def measurable_output(img: Image.Image, path: Path) -> Image.Image:
    """An output as it is measured: within MAX_MEASURED pixels even once its short side is grown to
    MIN_SIDE; an output too thin for both is an InputError (the work stays bounded by pixels)."""
    low, high = sorted(img.size)
    if high / low > MAX_ASPECT:
        raise InputError(
            f"{path}: a {img.width}x{img.height} picture is too thin to measure",
            f"eval measures at least {MIN_SIDE} px across within {MAX_MEASURED:,} pixels: "
            f"an aspect ratio up to {MAX_ASPECT}:1",
        )
    return within_budget(img)


# ---------------------------------------------------------------- which content and style each output had


@dataclass(frozen=True)
class EvalItem:
    output: Path
    content: Path | None
    style: Path | None


def match_by_record(output: Path, contents: Mapping[str, Path], styles: Mapping[str, Path]) -> EvalItem | None:
    """The content and style files whose fingerprints the output's stylize record names (see
    :mod:`stylize.provenance`); None when the output has no record or names none of them.

    Robust to any ``--name``; a fast output records its model, not a style file, so its style is
    the only one given, if one is."""
    job = recorded_job(images.read_note(output) or "")
    if isinstance(job, str):  # no record, or one that cannot be read
        return None
    content = _by_fingerprint(contents.values(), [job.get("content")])
    style = _by_fingerprint(styles.values(), job.get("styles") or [])
    if style is None and len(styles) == 1 and not job.get("styles"):
        style = next(iter(styles.values()))
    if content is None and style is None:
        return None
    if content is None and len(contents) == 1:
        content = next(iter(contents.values()))
    return EvalItem(output, content, style)


def _by_fingerprint(paths: Iterable[Path], wanted: Sequence[str | None]) -> Path | None:
    return next((path for path in paths if fingerprint(path) in wanted), None)


def match_by_name(output: Path, contents: Mapping[str, Path], styles: Mapping[str, Path]) -> EvalItem:
    """The content whose stem starts the output's name (``{stem}_{method}_{style}``), the style named after it."""
    stem, rest = output.stem, output.stem
    content = None
    if len(contents) == 1:
        content = next(iter(contents.values()))
    elif contents:
        hits = [s for s in contents if stem == s or stem.startswith((s + "_", s + "-", s + "."))]
        if not hits:
            raise UsageError(
                f"{output}: cannot tell which content image it was made from",
                "name outputs {stem}_{method}_{style} (the default) or pass --report with the run's --json",
            )
        best = max(hits, key=len)
        content, rest = contents[best], stem[len(best) :]
    return EvalItem(output, content, _style_named(output, rest, styles))


def _style_named(output: Path, rest: str, styles: Mapping[str, Path]) -> Path | None:
    if len(styles) <= 1:
        return next(iter(styles.values()), None)
    hits = [s for s in styles if s in rest]
    if not hits:
        raise UsageError(
            f"{output}: cannot tell which style image it was made with",
            "name outputs {stem}_{method}_{style} (the default) or pass --report with the run's --json",
        )
    return styles[max(hits, key=len)]


def match_by_report(report: Mapping[str, object], styles: Mapping[str, Path]) -> list[EvalItem]:
    """Outputs of a batch run's ``--json`` report, with their input and style."""
    items = []
    for entry in [*report.get("done", []), *report.get("skipped", [])]:  # type: ignore[misc]
        if not isinstance(entry, dict) or not entry.get("output"):
            continue
        items.append(EvalItem(Path(entry["output"]), Path(entry["input"]), styles.get(str(entry.get("style")))))
    if not items:
        raise UsageError("the --report lists no outputs", "pass the --json report of a stylize run")
    return items


# ---------------------------------------------------------------- running


@dataclass(frozen=True)
class EvalRow:
    """One output's scores, and the content image's own style distance (the score of doing nothing)."""

    item: EvalItem
    scores: Scores
    baseline_style: float | None
    baseline_patch: float | None = None  # the content image's own patch distance to the style

    def to_json(self) -> dict[str, object]:
        return {
            "output": str(self.item.output),
            "content": _str(self.item.content),
            "style": _str(self.item.style),
            "style_distance": self.scores.style,
            "content_distance": self.scores.content,
            "content_style_distance": self.baseline_style,
            "style_layers": dict(self.scores.style_layers),
            "patch_distance": self.scores.patch,
            "structure_distance": self.scores.structure,
            "content_patch_distance": self.baseline_patch,
        }


def _str(path: Path | None) -> str | None:
    return str(path) if path is not None else None


def evaluate_items(meter: QualityMeter, items: Sequence[EvalItem], reporter: Reporter) -> list[EvalRow]:
    rows, baselines = [], {}
    reporter.start("eval", total=len(items))
    try:
        for item in items:
            output = measurable_output(images.open_image(item.output).rgb, item.output)
            scores = meter.score(output, item.content, item.style)
            if item.content is not None and item.style is not None:
                key = (item.content, item.style, output.size)
                if key not in baselines:
                    baselines[key] = meter.score(meter.content_image(item.content, output.size), None, item.style)
            baseline = baselines.get((item.content, item.style, output.size))
            rows.append(EvalRow(item, scores, *((baseline.style, baseline.patch) if baseline else (None, None))))
            reporter.advance("eval")
    finally:
        reporter.finish("eval")
    return rows


MEAN_KEYS = ("style", "content", "patch", "structure")  # Scores fields averaged on eval's last line


def mean_scores(rows: Sequence[EvalRow]) -> dict[str, float | None]:
    """``eval``'s last line: the mean of every number of ``rows``, and of their content images' own
    style and patch distances (``content_style``, ``content_patch``: what doing nothing scores)."""
    means = {key: mean_of([getattr(r.scores, key) for r in rows]) for key in MEAN_KEYS}
    return {
        **means,
        "content_style": mean_of([r.baseline_style for r in rows]),
        "content_patch": mean_of([r.baseline_patch for r in rows]),
    }


def mean_of(values: Sequence[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return sum(known) / len(known) if known else None


def eval_sheet(rows: Sequence[EvalRow]) -> Image.Image:
    """One row per (content, style): content | style | every output of that pair, numbers under each."""
    groups: dict[tuple[Path | None, Path | None], list[EvalRow]] = {}
    for row in rows:
        groups.setdefault((row.item.content, row.item.style), []).append(row)
    sheet_rows = []
    for (content, style), members in groups.items():
        cells = []
        if content is not None:
            cells.append((images.open_image(content).rgb, f"{content.name}\nstyle {_fmt(members[0].baseline_style)}"))
        if style is not None:
            cells.append((images.open_image(style).rgb, f"{style.name}\nstyle image"))
        for row in members:
            text = f"{row.item.output.name}\nstyle {_fmt(row.scores.style)}  content {_fmt(row.scores.content)}"
            cells.append((images.open_image(row.item.output).rgb, text))
        sheet_rows.append(cells)
    return contact_sheet(sheet_rows)


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def save_eval_sheet(rows: Sequence[EvalRow], path: Path) -> Path:
    """``eval --sheet``: :func:`eval_sheet` written to ``path``."""
    return save_sheet(eval_sheet(rows), path)


# ---------------------------------------------------------------- the eval command: images, then videos


def quality_meter(vgg: str | None = None, device: str | None = None, reporter: Reporter | None = None) -> QualityMeter:
    """A meter on ``vgg`` (a weights name or file; None: the bundled VGG-19) and ``device`` (None: the best)."""
    return QualityMeter(vgg_source(vgg or DEFAULT_VGG), resolve_device(device), reporter)


@dataclass(frozen=True)
class EvalResult:
    """``stylize eval``'s answer: a row per output, the means (:func:`mean_scores`), the sheet written (or None)."""

    rows: list[EvalRow]
    means: dict[str, float | None]
    sheet: Path | None = None


def evaluate(
    outputs: Sequence[str],
    contents: Mapping[str, Path],
    styles: Mapping[str, Path],
    report: Path | None = None,
    vgg: str | None = None,
    device: str | None = None,
    reporter: Reporter | None = None,
    sheet: Path | None = None,
) -> EvalResult:
    """Every output's scores (``stylize eval``). ``contents`` are keyed by stem, ``styles`` by tag; the
    outputs (files or folders) are matched to them by their records, else by name, or are those a batch
    run's ``--json`` ``report`` lists. With ``sheet``, the contact sheet is written there
    (:func:`save_eval_sheet`); a sheet path that is a folder or any file eval reads (every content and
    style given, every output measured, the report) is refused before any work."""
    items = _report_items(report, styles) if report is not None else _named_items(outputs, contents, styles)
    if sheet is not None:
        _check_sheet_path(sheet, [*contents.values(), *styles.values()], items, report)
    rows = evaluate_items(quality_meter(vgg, device, reporter), items, reporter or NullReporter())
    return EvalResult(rows, mean_scores(rows), save_eval_sheet(rows, sheet) if sheet is not None else None)


def _check_sheet_path(sheet: Path, given: Sequence[Path], items: Sequence[EvalItem], report: Path | None) -> None:
    """An OutputError when ``sheet`` is a folder or names an input of the run: a content or style given, an
    output measured, its content or style, the report."""
    if sheet.is_dir():
        raise OutputError(f"--sheet {sheet} is a folder", "give a .png or .jpg file name")
    inputs = [report, *given] + [p for item in items for p in (item.output, item.content, item.style)]
    for path in inputs:
        if path is not None and same_file(sheet, path):
            raise OutputError(f"--sheet {sheet} is an input of this eval ({path})", "write the sheet to a new file")


def _report_items(report: Path, styles: Mapping[str, Path]) -> list[EvalItem]:
    if report.exists() and not report.is_file():  # a FIFO would block forever
        raise InputError(f"--report {report}: not a regular file", "give the --json report file of a stylize run")
    try:
        data = json.loads(Path(report).read_text())
    except (OSError, ValueError) as exc:
        raise InputError(f"--report {report}: not a readable --json report ({exc})") from exc
    return match_by_report(_checked_report(report, data), styles)


def _checked_report(report: Path, data: object) -> dict[str, list[dict[str, str]]]:
    """The ``done`` and ``skipped`` entries of a report, each with string ``output`` and ``input``."""
    bad = InputError(f"--report {report}: not a stylize --json report", "give the --json report of a stylize run")
    if not isinstance(data, dict):
        raise bad
    lists = {key: data.get(key, []) for key in ("done", "skipped")}
    if not all(isinstance(entries, list) for entries in lists.values()):
        raise bad
    for entry in (e for entries in lists.values() for e in entries):
        if not (isinstance(entry, dict) and isinstance(entry.get("input"), str) and _optional_str(entry, "output")):
            raise InputError(f"--report {report}: not a stylize --json report (entry {entry!r:.60})")
    return lists  # type: ignore[return-value]


def _optional_str(entry: Mapping[str, object], key: str) -> bool:
    return entry.get(key) is None or isinstance(entry.get(key), str)


def _named_items(outputs: Sequence[str], contents: Mapping[str, Path], styles: Mapping[str, Path]) -> list[EvalItem]:
    if not outputs:
        raise UsageError("give the output images to evaluate (files or folders), or --report")
    found = [item.path for item in collect_inputs(outputs).items]
    return [match_by_record(path, contents, styles) or match_by_name(path, contents, styles) for path in found]


STYLE_FRAMES = 12  # frames per video scored for its style distance (VGG-19 on every frame would dominate)


def evaluate_video(
    input_video: Path,
    outputs: Sequence[str],
    reporter: Reporter | None = None,
    style: Path | None = None,
    vgg: str | None = None,
    device: str | None = None,
) -> list[Flicker]:
    """Flicker of each output video against the input's motion (``stylize eval --video``), the input
    itself first (its own warping error: the flow's floor). With ``style``, each row also gets the mean
    style distance of up to STYLE_FRAMES frames spread over the video (the input's: what doing nothing scores)."""
    from stylize.video.run import measure_flicker  # lazy: only --video needs cv2 and the frame pipeline

    if not outputs:
        raise UsageError("give the stylized videos to measure after --video INPUT")
    reporter = reporter or NullReporter()
    paths = [Path(input_video), *(Path(p) for p in outputs)]
    check_same_shape(paths)
    meter = quality_meter(vgg, device, reporter) if style is not None else None
    rows = []
    reporter.start("videos", total=len(paths), unit="video")  # one bar; each video's frames below it
    try:
        for path in paths:
            row = measure_flicker(paths[0], path, reporter)
            if meter is not None and style is not None:
                row = replace(row, style_distance=video_style_distance(meter, path, style))
            rows.append(row)
            reporter.advance("videos")
    finally:
        reporter.finish("videos")
    return rows


SHAPE_TOLERANCE = 0.02  # relative aspect difference an encoder's rounding to even sides can cause


def check_same_shape(paths: Sequence[Path]) -> None:
    """Every output video has the input's aspect ratio (any size: ``--size`` scales it), else it was
    not made from this input and its flicker against the input's motion means nothing."""
    first = video.probe(paths[0])
    for path in paths[1:]:
        info = video.probe(path)
        if abs(info.width * first.height / (info.height * first.width) - 1) > SHAPE_TOLERANCE:
            raise UsageError(
                f"{path}: its {info.width}x{info.height} frames are not the shape of {paths[0]}'s "
                f"{first.width}x{first.height}",
                "give outputs stylized from this input video",
            )


def video_style_distance(meter: QualityMeter, path: Path, style: Path) -> float:
    """Mean style distance of STYLE_FRAMES frames evenly spread over ``path``."""
    step = max(1, video.probe(path).frames // STYLE_FRAMES)
    frames = video.read_frames(path)
    try:
        scores = [meter.score(Image.fromarray(f.rgb), None, style).style for i, f in enumerate(frames) if i % step == 0]
    finally:
        frames.close()
    return sum(scores) / len(scores)

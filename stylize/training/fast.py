"""Training a fast-style TransformerNet for one style image (Johnson et al. 2016; ``stylize train-fast``).

Each step: random square crops x of content photos, y = T(x), and minimise
    content_weight * sum_l w_l mean |F_l(y) - F_l(x)|^2 / mean |F_l(s)|^2   (content layers)
  + style_weight   * sum_l w_l mean_b |G_l(y_b) - G_l(s)|^2 / |G_l(s)|^2  (style layers, Gram / CHW)
  + tv_weight      * TV(y)
with Adam on T only; F is a frozen VGG (the normalised VGG-19 by default, torchvision's VGG-16
as in Johnson et al. with ``--loss-net vgg16``), s the style image. The layer weights w_l are
normalised to sum to 1. Differs from Johnson et al. (plain squared errors with hand-set
weights) because errors relative to the style image's own feature scale keep one set of
weights right for every network and layer, as in ``stylize optimize``. The content error's
unit is fixed (not each photo's own feature energy), so a black photo cannot blow it up.

With ``--teacher adain`` (distillation) every term is relative to a teacher's picture t of each
photo instead (``stylize adain``'s default, painted once before the first step into the run's
``teacher/`` folder; crops of photo and picture cut at the same place): the content term compares
F_l(y) with F_l(t), the style term G_l(y_b) with G_l(t_b) (each crop's own picture's marks, not
the painting's), plus ``pixel_weight * mean |y - t|``. The painting's Gram targets then serve
nothing; the painting still gives the model its palette.

The checkpoint is a ``transformer-net`` safetensors file (our ``stylize fast`` format plus the
training iteration), so ``stylize fast --model`` loads it directly; ``<stem>.state.pt`` beside
it holds the optimizer state for ``--resume``.

Speed (CPU, float32): the loss network runs NNPACK Winograd convolutions forward and backward
(``models.loss_net.Conv3x3``) and only as deep as its deepest layer; the content targets need
the network only to the content layers and no graph; the style Gram targets are computed once;
the Gram backward is one batched matmul. Photos are decoded in DataLoader worker processes.

The knobs are ``stylize.config.FastTrainConfig``; the CLI calls it through ``stylize.api.train_fast``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import replace
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor, nn

from stylize import images, weights
from stylize import training as tr
from stylize.backends.fast import (
    CHECKPOINT_FORMAT,
    PALETTE_KEY,
    load_described,
    model_name,
    palette_tensor,
    registry_clash,
    undertrained,
)
from stylize.config import FastTrainConfig
from stylize.devices import autocast, effective_precision
from stylize.errors import InputError, UsageError
from stylize.models.layouts import build_checked
from stylize.models.transformer_net import ARCHITECTURE, LAYOUT, TransformerNet
from stylize.progress import Reporter
from stylize.training.data import BatchStream
from stylize.training.dist import Distributed
from stylize.training.fast_loss import fast_losses, load_loss_network, loss_net_source, style_targets, stylize_batch
from stylize.training.loop import LoopTrainer, RunKeywords, TrainResult, run_training
from stylize.training.state import Resumed, RunFiles
from stylize.weights import sha256_file, weights_id

if TYPE_CHECKING:  # typing_extensions is no declared dependency: annotations only
    from typing_extensions import Unpack

TASK = "train-fast"
LOSS_TERMS = ("loss", "content", "style", "tv", "pixel")  # pixel: with --teacher
# flat crops (pixel std below this, 0-255, in every channel) are redrawn: through the net's 15
# InstanceNorms a zero-variance input multiplies the gradient by 1/sqrt(eps) = 316 at each one
MIN_CONTRAST = 2.0
# config fields whose change on --resume alters what is being optimised
OBJECTIVE_FIELDS = (
    "batch_size",
    "lr",
    "content_weight",
    "style_weight",
    "tv_weight",
    "content_layers",
    "style_layers",
    "image_size",
    "crop_scale",
    "style_size",
    "style_scale",
    "loss_net",
    "teacher",
    "teacher_size",
    "pixel_weight",
)
TEACHER_FOLDER = "teacher"  # in the run's log folder: the teacher's pictures of the photos (--teacher)
# the teacher paints photos (a content folder, the style image, a folder to write); it skips what it painted before
Teacher = Callable[[Path, Path, Path], None]


# ---------------------------------------------------------------- models and data


def build_transformer(state: Mapping[str, Any] | None, device: torch.device, channels_last: bool = False) -> nn.Module:
    """A TransformerNet in training mode, from ``state`` (our layout) or randomly initialised."""
    net = TransformerNet() if state is None else build_checked(TransformerNet, state, LAYOUT, own_dtypes=True)
    memory_format = torch.channels_last if channels_last else torch.preserve_format
    return net.to(device, memory_format=memory_format).train()


def _starting_point(
    config: FastTrainConfig, resumed: Resumed | None, reporter: Reporter
) -> tuple[dict | None, int | None]:
    """The weights to start from (None: random) and the training images they had seen before this run:
    --init's own count (None where its file does not say, as the published models'), carried along by
    --resume; 0 from a random start."""
    if resumed is not None:
        carried = resumed.meta.get("images_inherited", 0)
        state = {key: value for key, value in resumed.tensors.items() if key != PALETTE_KEY}
        return state, carried if isinstance(carried, int) else None
    if config.init is None:
        return None, 0
    net, _, meta = load_described(config.init, reporter)
    seen = meta.get("images_seen")
    return net.state_dict(), seen if isinstance(seen, int) else None


def load_style(path: Path, size: int, device: torch.device, scale: float = 1.0) -> Tensor:
    """The style image (1, 3, H, W) in [0, 1], long side ``size`` (0 keeps it), then resized by ``scale``."""
    picture = images.open_image(path)
    rgb = images.resize_long_side(picture.rgb, size) if size else picture.rgb
    return images.to_tensor(images.scale_by(rgb, scale)).to(device)


# ---------------------------------------------------------------- the run


class FastTrainer(LoopTrainer):
    """One training run: transformer, loss network, optimizer, data and files. Build it, then :meth:`run`."""

    task = TASK
    architecture = ARCHITECTURE
    objective_fields = OBJECTIVE_FIELDS
    init_field = "init"
    plot_keys = LOSS_TERMS
    plot_title = "fast-style training loss"

    @classmethod
    def planned_iterations(cls, config: FastTrainConfig) -> int | None:
        return None  # --epochs: known once the photos are counted

    def __init__(
        self,
        config: FastTrainConfig,
        style_image: Path,
        data: Path,
        teacher: Teacher | None,
        files: RunFiles,
        dist: Distributed,
        device: torch.device,
        reporter: Reporter,
        resumed: Resumed | None = None,
    ) -> None:
        # differs from the other trainers (bf16 only on CUDA): on CPUs with native bf16 (AVX512-BF16,
        # AMX) bf16 autocast + channels_last ran the whole step ~2x faster than float32 here
        self._setup(config, files, dist, device, reporter, effective_precision(config.precision, device))
        self.channels_last = device.type == "cuda" or self.precision != "fp32"
        start = resumed.iteration if resumed else 0
        self.style_path = style_image
        if resumed is not None:
            self._check_same_style(resumed, files.checkpoint)
        self.dataset = self._dataset(config, data, teacher, files, dist)
        self.config = replace(config, iterations=config.total_iterations(len(self.dataset), dist.world_size))
        # a bad image fails before the VGG loads
        style = load_style(style_image, config.style_size, device, config.style_scale)
        self.palette = palette_tensor(style.cpu())  # saved with the model, for stylize fast's --palette
        # oneDNN/cuDNN's fast bf16 convs want NHWC (fp32 on CPU: NCHW Winograd)
        self.loss_net, self.layers = load_loss_network(config, device, self.reporter, self.channels_last)
        self.targets = style_targets(self.loss_net, style, self.layers)
        torch.manual_seed(config.seed)  # the same initial weights on every rank
        start_state, self.inherited = _starting_point(config, resumed, self.reporter)
        net = build_transformer(start_state, device, self.channels_last)
        self.optimizer = torch.optim.Adam(net.parameters(), lr=config.lr)
        self.state = tr.TrainState(start, {"transformer": self.optimizer}, tr.grad_scaler(self.precision, device))
        if resumed is not None:
            self.state.load_state_dict(resumed.state)
        self.net = tr.wrap_ddp(net, dist, device)
        self.skipped = 0  # steps whose gradients overflowed (not applied)
        self.final_loss: float | None = None  # the last logged mean loss, saved with the model
        tr.seed_everything(config.seed, dist.rank, start)
        self.content: BatchStream = tr.BatchStream(
            self.dataset,
            config.batch_size,
            device,
            workers=config.workers,
            seed=config.seed,
            dist=dist,
            start=start,
            reporter=self.reporter,
        )

    def _dataset(
        self, config: FastTrainConfig, data: Path, teacher: Teacher | None, files: RunFiles, dist: Distributed
    ) -> tr.ImageFolderDataset:
        """The photos; with --teacher, each with the teacher's picture of it (painted first, every rank its share)."""
        if config.teacher is None:
            return tr.ImageFolderDataset(
                data, config.image_size, config.image_size, min_scale=config.crop_scale, min_contrast=MIN_CONTRAST
            )
        if teacher is None:
            raise UsageError(
                f"--teacher {config.teacher}: no teacher was given to train_fast", "call stylize.api.train_fast"
            )
        folder = files.log_dir / TEACHER_FOLDER
        self.reporter.log(f"the teacher ({config.teacher}) paints the photos at {config.teacher_size} px into {folder}")
        teacher(data, self.style_path, folder)
        tr.barrier(dist)
        pairs = tr.TeacherPairs(data, folder, config.image_size, min_contrast=MIN_CONTRAST)
        if pairs.missing:
            self.reporter.log(f"{pairs.missing} photos have no teacher's picture and are left out", "warning")
        return pairs

    # -- one step

    def _step(self) -> None:
        cfg = self.config
        batch = next(self.content)  # (B, 3, S, S) in [0, 1]; with --teacher (B, 6, S, S): photos, then pictures
        if self.channels_last:
            batch = batch.contiguous(memory_format=torch.channels_last)
        x, teacher = (batch, None) if cfg.teacher is None else (batch[:, :3], batch[:, 3:])
        with autocast(self.device, self.precision):
            y = stylize_batch(self.net, x)
            losses = fast_losses(self.loss_net, self.layers, self.targets, x, y, teacher)
            total = cfg.content_weight * losses["content"] + cfg.style_weight * losses["style"]
            total = total + cfg.tv_weight * losses["tv"]
            if teacher is not None:
                total = total + cfg.pixel_weight * losses["pixel"]
        self.optimizer.zero_grad(set_to_none=True)
        scaler = self.state.scaler
        scaler.scale(total).backward()
        scaler.unscale_(self.optimizer)
        norm = torch.nn.utils.clip_grad_norm_(self.net.parameters(), math.inf)
        if torch.isfinite(norm):  # one overflowing step would leave Adam's moments inf/NaN for good
            scaler.step(self.optimizer)
        else:
            self._skipped()
        scaler.update()
        self.meter.add({"loss": total, **losses})
        self.state.iteration += 1

    def _skipped(self) -> None:
        self.skipped += 1
        if self.skipped == 1:
            self.reporter.log(f"iteration {self.state.iteration + 1}: gradients overflowed; step skipped", "warning")

    def _close(self) -> None:
        self.content.close()

    # -- files (rank 0)

    def _checkpoint(self) -> tuple[dict[str, Tensor], dict[str, Any]]:
        cfg = self.config
        meta = self._meta(
            format=CHECKPOINT_FORMAT,
            layout=LAYOUT,
            style=self.style_path.name,
            style_sha256=self._style_sha,
            loss_net=self._loss_net_id,
            content_layers=self.layers.content,
            style_layers=self.layers.style,
            # a fine-tune has seen its --init's images too: it is not the undertrained model a short run is
            images_seen=None
            if self.inherited is None
            else self.inherited + self.state.iteration * cfg.batch_size * self.dist.world_size,
            images_inherited=self.inherited,
            skipped_steps=self.skipped,
            final_loss=self.final_loss,
        )
        return {**tr.unwrap(self.net).state_dict(), PALETTE_KEY: self.palette}, meta

    def _progress_fields(self, means: Mapping[str, float], rate: float) -> dict[str, float]:
        self.final_loss = float(f"{means['loss']:.6g}") if "loss" in means else self.final_loss
        return super()._progress_fields(means, rate)

    def _finish(self) -> None:
        """Save as every trainer does; then say so when the model saw far fewer images than a useful one."""
        super()._finish()
        if self.dist.is_main:
            _, meta = self._checkpoint()
            warning = undertrained(meta, self.files.checkpoint.stem)
            if warning:
                self.reporter.log(warning, "warning")

    @cached_property
    def _style_sha(self) -> str:
        return sha256_file(self.style_path)

    def _check_same_style(self, resumed: Resumed, checkpoint: Path) -> None:
        """--resume continues training for the style image the checkpoint was trained on, no other."""
        recorded = resumed.meta.get("style_sha256")
        if isinstance(recorded, str) and recorded != self._style_sha:
            raise InputError(
                f"{checkpoint} was trained on another style image ({resumed.meta.get('style')}), not {self.style_path}",
                "resume with the style image it started from, or drop --resume and pass --overwrite to start over",
            )

    @cached_property
    def _loss_net_id(self) -> str:
        return weights_id(loss_net_source(self.config))

    def _write_sample(self, path: Path) -> None:
        net = tr.unwrap(self.net)
        net.eval()
        try:
            with torch.no_grad(), autocast(self.device, self.precision):
                out = stylize_batch(net, self._previews[:, :3])
        finally:
            net.train()
        rows = [self._previews[:, :3], out.float().clamp(0, 1)]
        tr.save_sample_grid(path, rows + [self._previews[:, 3:]] if self.config.teacher else rows)

    @cached_property
    def _previews(self) -> Tensor:
        """The fixed validation images (sample_count, 3 or 6, S, S): centre crops, the same every time
        (with --teacher, the teacher's pictures of them too, drawn below the network's)."""
        return self.dataset.preview(min(self.config.sample_count, len(self.dataset))).to(self.device)

    def _announce(self) -> None:
        cfg = self.config
        verb = f"resuming at iteration {self.state.iteration}" if self.state.iteration else "training"
        self.reporter.log(
            f"{verb}: fast-style network for {self.style_path.name} to {cfg.iterations} iterations on "
            f"{len(self.dataset):,} photos, loss network {Path(cfg.loss_net).name} ({self._where()})"
        )


# ---------------------------------------------------------------- entry point


def default_output(style_image: str | Path) -> Path:
    """``$STYLIZE_HOME/fast-models/<name>.safetensors``, the name by the rule every fast model follows
    (``Starry_Night.jpg`` -> ``starry-night``): ``stylize fast -m <name>`` finds it."""
    return weights.fast_models_dir() / f"{model_name(Path(style_image).stem)}.safetensors"


def check_model_name(output: Path) -> None:
    """A model saved where ``--model NAME`` looks must not share its name (or nearly) with a shipped or
    published one: ``-m starry-night`` would find the registry's, and ``starry_night`` beside it confuses."""
    folder = weights.fast_models_dir().resolve()
    clash = registry_clash(output.stem) if output.parent.resolve() == folder else None
    if clash:
        raise UsageError(
            f"a local model named '{output.stem}' would be confused with the '{clash}' that stylize ships or fetches",
            f"name it with -o, e.g. -o {output.with_name(f'my-{model_name(output.stem)}{output.suffix}')}",
        )


def train_fast(
    style_image: str | Path,
    data: str | Path,
    output: str | Path | None = None,
    config: FastTrainConfig | None = None,
    teacher: Teacher | None = None,
    **run: Unpack[RunKeywords],
) -> TrainResult:
    """Train (or with ``resume`` continue training) a fast-style network for ``style_image``.

    ``data`` is a folder of content photos (searched recursively). With ``config.teacher``,
    ``teacher(data, style_image, folder)`` first paints each photo into ``folder`` (the log
    folder's ``teacher/``, mirroring ``data``'s tree, ``b.jpg`` as ``b.jpg.png``), and the network learns to
    paint as it did (:mod:`stylize.api` gives one). ``output`` defaults to
    :func:`default_output`. Beside it go ``<stem>.state.pt`` (for ``resume``) and, unless
    ``log_dir`` says otherwise, ``<stem>-train/`` with ``loss.jsonl``, ``loss.png`` and
    ``samples/``. Ctrl-C or SIGTERM saves a checkpoint, then raises ``Interrupted``.
    """
    style_image, data = Path(style_image), Path(data)
    _check_inputs(style_image, data)
    output = Path(output) if output else default_output(style_image)
    if not run.get("resume"):  # a model saved before the rule can still be continued
        check_model_name(output)
    return run_training(FastTrainer, config or FastTrainConfig(), (style_image, data, teacher), output, **run)


def _check_inputs(style_image: Path, data: Path) -> None:
    if not style_image.is_file():
        raise InputError(f"{style_image}: no such style image")
    if not data.is_dir():
        raise InputError(f"{data}: not a folder of content photos", "pass --data FOLDER (searched recursively)")

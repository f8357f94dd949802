"""Training an AdaIN decoder (Huang & Belongie 2017) for the frozen normalised VGG-19 encoder.

Each step: encode content c and style s to relu4_1, t = AdaIN(f(c), f(s)), decode g(t), and
minimise  content_weight * MSE(f(g(t)), t)
        + style_weight * sum over relu1_1..relu4_1 of MSE(mean) + MSE(std)  (stats: ops.mean_std)
        + identity_weight * (IDENTITY_PIXEL * MSE(g(f(c)), c) + sum over relu1_1..relu4_1 of MSE(f(g(f(c))), f(c)))
        + tv_weight * TV(g(t))  (ops.tv_loss: mean squared neighbour differences)
with Adam on the decoder only. The identity term (0 by default, as in the paper) is SANet's
(Park & Lee 2019): decoding the content's own features must give the content back, which keeps
the photo's detail at every alpha. The total-variation term (0 by default) damps the fine
8-pixel grid a briefly trained decoder lays over flat areas. The checkpoint is safetensors in the published ``decoder.pth``
layout plus self-describing metadata, so ``stylize adain --decoder`` loads it directly.

The knobs are ``stylize.config.AdaINTrainConfig``; the CLI calls it through ``stylize.api.train_adain``.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from stylize import ops
from stylize import training as tr
from stylize.checkpoints import load_tensors
from stylize.config import AdaINTrainConfig, vgg_source
from stylize.devices import autocast, effective_precision
from stylize.models.adain_net import AdaINDecoder
from stylize.models.layouts import ADAIN_DECODER, ADAIN_VGG_NORMALISED, build_checked
from stylize.models.vgg import NormalisedVGG19
from stylize.progress import Reporter
from stylize.training.data import BatchStream
from stylize.training.dist import Distributed
from stylize.training.loop import LoopTrainer, RunKeywords, TrainResult, run_training
from stylize.training.state import Resumed, RunFiles
from stylize.weights import resolve, weights_id

if TYPE_CHECKING:  # typing_extensions is no declared dependency: annotations only
    from typing_extensions import Unpack

ARCHITECTURE = "adain-decoder"
STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1")
CONTENT_LAYER = "relu4_1"
TASK = "train-adain"
LOSS_TERMS = ("loss", "content", "style", "identity", "tv")
IDENTITY_PIXEL = 50.0  # SANet's lambda_identity1 (pixels) against lambda_identity2 = 1 (features)
# config fields whose change on --resume alters what is being optimised
OBJECTIVE_FIELDS = (
    "batch_size",
    "lr",
    "lr_decay",
    "style_weight",
    "content_weight",
    "identity_weight",
    "tv_weight",
    "image_size",
    "crop",
    "encoder",
)


# ---------------------------------------------------------------- the loss


def adain_losses(
    encoder: nn.Module, decoder: nn.Module, content: Tensor, style: Tensor, identity: bool = False, tv: bool = False
) -> dict[str, Tensor]:
    """Unweighted content, style (and with ``identity``, identity; with ``tv``, total variation)
    losses of one batch; content, style (B, 3, H, W) in [0, 1].

    ``encoder`` is a ``NormalisedVGG19`` (frozen); gradients reach only the decoder.
    """
    batch = content.shape[0]
    with torch.no_grad():
        feats = encoder.features(torch.cat([content, style]), STYLE_LAYERS)  # one pass for both
        targets = {name: ops.mean_std(feat[batch:].float()) for name, feat in feats.items()}
        t = ops.adain(feats[CONTENT_LAYER][:batch].float(), *targets[CONTENT_LAYER])  # (B, 512, H/8, W/8)
    out = decoder(t)
    out_feats = encoder.features(out, STYLE_LAYERS)
    content_loss = F.mse_loss(out_feats[CONTENT_LAYER].float(), t.float())
    style_loss = sum(_stat_loss(out_feats[name], *targets[name]) for name in STYLE_LAYERS)
    losses = {"content": content_loss, "style": style_loss}
    if tv:
        losses["tv"] = ops.tv_loss(out.float())
    if identity:
        losses["identity"] = _identity_loss(encoder, decoder, content, {k: v[:batch] for k, v in feats.items()})
    return losses


def _identity_loss(encoder: nn.Module, decoder: nn.Module, content: Tensor, feats: dict[str, Tensor]) -> Tensor:
    """SANet's identity loss: g(f(c)) against c in pixels and in every style layer's features."""
    back = decoder(feats[CONTENT_LAYER])  # (B, 3, H, W)
    back_feats = encoder.features(back, STYLE_LAYERS)
    pixel = F.mse_loss(back.float(), content.float())
    return IDENTITY_PIXEL * pixel + sum(F.mse_loss(back_feats[k].float(), feats[k].float()) for k in STYLE_LAYERS)


def _stat_loss(feat: Tensor, mean: Tensor, std: Tensor) -> Tensor:
    out_mean, out_std = ops.mean_std(feat.float())  # sums over H*W need float32's mantissa under bf16
    return F.mse_loss(out_mean, mean) + F.mse_loss(out_std, std)


# ---------------------------------------------------------------- models


def load_encoder(name_or_path: str, device: torch.device, reporter: Reporter, channels_last: bool = False) -> nn.Module:
    """The frozen ``NormalisedVGG19`` from the published layout (registry name or file)."""
    state, _ = load_tensors(resolve(vgg_source(name_or_path), reporter))
    encoder = build_checked(NormalisedVGG19, state, ADAIN_VGG_NORMALISED)
    return _place(encoder, device, channels_last).eval().requires_grad_(False)


def build_decoder(state: dict[str, Any] | None, device: torch.device, channels_last: bool = False) -> nn.Module:
    """An ``AdaINDecoder``, from ``state`` (published layout) or randomly initialised."""
    decoder = AdaINDecoder() if state is None else build_checked(AdaINDecoder, state, ADAIN_DECODER, own_dtypes=True)
    return _place(decoder, device, channels_last).train()


def _initial_decoder_state(config: AdaINTrainConfig, resumed: Resumed | None, reporter: Reporter) -> dict | None:
    if resumed is not None:
        return resumed.tensors
    if config.decoder is None:
        return None
    return load_tensors(resolve(config.decoder, reporter))[0]


def _place(module: nn.Module, device: torch.device, channels_last: bool) -> nn.Module:
    memory_format = torch.channels_last if channels_last else torch.preserve_format
    return module.to(device, memory_format=memory_format)


# ---------------------------------------------------------------- the run


class AdaINTrainer(LoopTrainer):
    """One training run: models, optimizer, data and files. Build it, then call :meth:`run`."""

    task = TASK
    architecture = ARCHITECTURE
    objective_fields = OBJECTIVE_FIELDS
    init_field = "decoder"
    plot_keys = LOSS_TERMS
    plot_title = "AdaIN decoder training loss"

    def __init__(
        self,
        config: AdaINTrainConfig,
        content_dir: Path,
        style_dir: Path,
        files: RunFiles,
        dist: Distributed,
        device: torch.device,
        reporter: Reporter,
        resumed: Resumed | None = None,
    ) -> None:
        # bf16 where native, CPUs included (as train-fast): autocast + channels_last ran the step
        # 2.4x faster than float32 on this AVX512-BF16 CPU (BENCHMARKS.md)
        self._setup(config, files, dist, device, reporter, effective_precision(config.precision, device))
        self.channels_last = device.type == "cuda" or self.precision != "fp32"
        start = resumed.iteration if resumed else 0
        tr.seed_everything(config.seed, dist.rank, start)
        self.encoder = load_encoder(config.encoder, device, self.reporter, self.channels_last)
        decoder = build_decoder(_initial_decoder_state(config, resumed, self.reporter), device, self.channels_last)
        self.optimizer = torch.optim.Adam(decoder.parameters(), lr=config.lr_at(start))
        self.state = tr.TrainState(start, {"decoder": self.optimizer}, tr.grad_scaler(self.precision, device))
        if resumed is not None:
            self.state.load_state_dict(resumed.state)
        self.decoder = tr.wrap_ddp(decoder, dist, device)
        self.content = self._stream(content_dir, start)
        self.style = self._stream(style_dir, start, salt=1)

    def _stream(self, root: Path, start: int, salt: int = 0) -> BatchStream:
        cfg = self.config
        dataset = tr.ImageFolderDataset(root, cfg.image_size, cfg.crop)
        return tr.BatchStream(
            dataset,
            cfg.batch_size,
            self.device,
            workers=cfg.workers,
            seed=cfg.seed * 2 + salt,
            dist=self.dist,
            start=start,
            reporter=self.reporter,
        )

    def _step(self) -> None:
        cfg, iteration = self.config, self.state.iteration
        for group in self.optimizer.param_groups:
            group["lr"] = cfg.lr_at(iteration)
        content, style = self._inputs()
        with autocast(self.device, self.precision):
            losses = adain_losses(
                self.encoder, self.decoder, content, style, identity=cfg.identity_weight > 0, tv=cfg.tv_weight > 0
            )
            weights = {
                "content": cfg.content_weight,
                "style": cfg.style_weight,
                "identity": cfg.identity_weight,
                "tv": cfg.tv_weight,
            }
            total = sum(weights[name] * value for name, value in losses.items())
        self.optimizer.zero_grad(set_to_none=True)
        scaler = self.state.scaler
        scaler.scale(total).backward()
        scaler.step(self.optimizer)
        scaler.update()
        self.meter.add({"loss": total, **losses})
        self.state.iteration = iteration + 1

    def _inputs(self) -> tuple[Tensor, Tensor]:
        content, style = next(self.content), next(self.style)  # (B, 3, crop, crop) each
        if self.channels_last:
            content = content.contiguous(memory_format=torch.channels_last)
            style = style.contiguous(memory_format=torch.channels_last)
        return content, style

    def _log_extra(self, iteration: int) -> dict[str, Any]:
        return {"lr": self.config.lr_at(iteration - 1)}

    def _close(self) -> None:
        self.content.close()
        self.style.close()

    def _checkpoint(self) -> tuple[dict[str, Tensor], dict[str, Any]]:
        return tr.unwrap(self.decoder).state_dict(), self._meta(layout=ADAIN_DECODER, encoder=self._encoder_id)

    @cached_property
    def _encoder_id(self) -> str:
        return weights_id(vgg_source(self.config.encoder))  # an alias is recorded as the name it stands for

    def _write_sample(self, path: Path) -> None:
        content, style = self._previews
        with torch.no_grad(), autocast(self.device, self.precision):
            feats = self.encoder.features(torch.cat([content, style]), [CONTENT_LAYER])[CONTENT_LAYER]
            out = tr.unwrap(self.decoder)(ops.adain_feats(feats[: len(content)], feats[len(content) :]))
        tr.save_sample_grid(path, [content, style, out.float()])

    @cached_property
    def _previews(self) -> tuple[Tensor, Tensor]:
        """The fixed sample pairs, (sample_count, 3, crop, crop) each: centre crops, same every time."""
        count = self.config.sample_count
        content = self.content.loader.dataset.preview(count).to(self.device)
        return content, self.style.loader.dataset.preview(count).to(self.device)

    def _announce(self) -> None:
        cfg = self.config
        sizes = f"{len(self.content.loader.dataset)} content / {len(self.style.loader.dataset)} style images"
        verb = f"resuming at iteration {self.state.iteration}" if self.state.iteration else "training"
        self.reporter.log(f"{verb}: AdaIN decoder to {cfg.iterations} iterations on {sizes} ({self._where()})")


# ---------------------------------------------------------------- entry point


def train_adain(
    content_dir: str | Path,
    style_dir: str | Path,
    output: str | Path,
    config: AdaINTrainConfig | None = None,
    **run: Unpack[RunKeywords],
) -> TrainResult:
    """Train (or with ``resume`` continue training) an AdaIN decoder; write ``output``.

    Beside ``output`` go ``<stem>.state.pt`` (optimizer state for ``resume``) and, unless
    ``log_dir`` says otherwise, ``<stem>-train/`` with ``loss.jsonl``, ``loss.png`` and
    ``samples/``. Ctrl-C or SIGTERM saves a checkpoint, then raises ``Interrupted``.
    """
    inputs = (Path(content_dir), Path(style_dir))
    return run_training(AdaINTrainer, config or AdaINTrainConfig(), inputs, output, **run)

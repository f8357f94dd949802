"""Training our GANs (``stylize train-gan``): DCGAN or the small style-based generator.

Each step: one discriminator update on a batch of real images and a batch of generated ones
(hinge or non-saturating loss; spectral norm in D, or R1 on the reals every ``R1_EVERY``
steps), then one generator update, then the generator's exponential moving average (EMA) moves
towards the new weights. The checkpoint is the EMA generator as safetensors with metadata (what
``stylize gan-sample`` loads); ``<stem>.state.pt`` beside it holds the raw G and D and the
optimizers for ``--resume``.

Data (:mod:`.gan_data`): MNIST-format idx(.gz) files (held in memory, labels used for a
class-conditional model) or an image folder (recursive). The losses, EMA and the EMA G's
finishing are in :mod:`.gan_ops`.
"""

from __future__ import annotations

import copy
import platform
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor, nn

from stylize import training as tr
from stylize.backends.gan import OurGenerator, Sampler, write_grid
from stylize.config import GANTrainConfig, GeneratorConfig
from stylize.devices import autocast
from stylize.errors import InputError
from stylize.models.generator import build_generator
from stylize.progress import Reporter
from stylize.training import TrainState, all_reduce_mean
from stylize.training.dist import Distributed
from stylize.training.gan_data import ArrayStream, FolderStream, find_idx, load_idx_data
from stylize.training.gan_ops import (
    build_discriminator,
    d_loss,
    ema_beta,
    finalize_generator,
    g_loss,
    generator_config,
    one_hot,
    r1_penalty,
    update_ema,
)
from stylize.training.loop import LoopTrainer, RunKeywords, TrainResult, run_training
from stylize.training.state import Resumed, RunFiles

if TYPE_CHECKING:  # typing_extensions is no declared dependency: annotations only
    from typing_extensions import Unpack

TASK = "train-gan"
R1_EVERY = 16  # lazy R1 (StyleGAN2): penalise every 16 D steps, weighted by 16
MIXING_PROB = 0.9  # style-based: share of G steps trained with two mixed styles (StyleGAN2)
LOSS_TERMS = ("loss_d", "loss_g", "d_real", "d_fake")
OBJECTIVE_FIELDS = ("batch_size", "lr_g", "lr_d", "loss", "r1_gamma", "ema_halflife")  # may change on --resume
SHAPE_FIELDS = (
    "image_size",
    "channels",
    "conditional",
    "latent_dim",
    "width",
    "d_width",
    "w_dim",
    "mapping_layers",
    "reg",
)  # fix the tensors' shapes (spectral norm adds tensors): must not change on --resume


def architecture_id(architecture: str) -> str:
    """The ``architecture`` recorded in our checkpoints: gan-dcgan or gan-style."""
    return f"gan-{architecture}"


# ---------------------------------------------------------------- training state


@dataclass
class GANTrainState(TrainState):
    """TrainState plus the raw G and D weights (the safetensors file holds only the EMA G)."""

    nets: dict[str, Any] = None  # type: ignore[assignment]

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "nets": {k: m.state_dict() for k, m in (self.nets or {}).items()}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        for name, module in (self.nets or {}).items():
            module.load_state_dict(state["nets"][name])


# ---------------------------------------------------------------- the run


class GANTrainer(LoopTrainer):
    """One training run: data, G, D, EMA G, optimizers, files. Build it, then call :meth:`run`."""

    task = TASK
    objective_fields = OBJECTIVE_FIELDS
    shape_fields = SHAPE_FIELDS
    plot_keys = ("loss_d", "loss_g")
    plot_log_y = False
    plot_title = "GAN training losses"

    @classmethod
    def checkpoint_architecture(cls, config: GANTrainConfig) -> str:
        return architecture_id(config.architecture)

    def __init__(
        self,
        config: GANTrainConfig,
        data: Path,
        files: RunFiles,
        dist: Distributed,
        device: torch.device,
        reporter: Reporter,
        resumed: Resumed | None = None,
    ) -> None:
        self._setup(config, files, dist, device, reporter)
        start = resumed.iteration if resumed else 0
        tr.seed_everything(config.seed, dist.rank, start)
        self.stream, self.gen, self.class_names, self.dataset = self._data(data, start)
        torch.manual_seed(config.seed)  # the same initial weights on every rank
        self.g = build_generator(self.gen).to(device).train()
        self.d = build_discriminator(config, self.gen).to(device).train()
        self.g_ema = copy.deepcopy(self.g).eval().requires_grad_(False)
        tr.seed_everything(config.seed, dist.rank, start)
        betas = (config.beta1, config.beta2)
        r1_ratio = R1_EVERY / (R1_EVERY + 1) if config.reg_kind == "r1" else 1.0  # lazy-reg lr/beta fix
        self.opt_g = torch.optim.Adam(self.g.parameters(), lr=config.lr_g_value, betas=betas)
        self.opt_d = torch.optim.Adam(
            self.d.parameters(), lr=config.lr_d * r1_ratio, betas=(betas[0] ** r1_ratio, betas[1] ** r1_ratio)
        )
        scaler = tr.grad_scaler(self.precision, device)
        self.state = GANTrainState(start, {"g": self.opt_g, "d": self.opt_d}, scaler, nets={"g": self.g, "d": self.d})
        if resumed is not None:
            self.state.load_state_dict(resumed.state)
            self.g_ema.load_state_dict(resumed.tensors)
        self._prior_seconds = float(resumed.meta.get("train_seconds", 0.0)) if resumed else 0.0
        self._t0 = time.perf_counter()

    def _data(self, data: Path, start: int) -> tuple[Any, GeneratorConfig, tuple[str, ...], str]:
        cfg = self.config
        idx = find_idx(data)
        if idx is not None:
            channels = cfg.channels or 1
            arrays = load_idx_data(idx[0], idx[1], cfg.image_size, channels, cfg.conditional)
            size = int(arrays.images.shape[-1])
            gen = generator_config(cfg, size, channels, arrays.num_classes)
            stream = ArrayStream(arrays, cfg.batch_size, self.device, cfg.seed, self.dist, start)
            self.count = len(arrays.images)
            return stream, gen, arrays.class_names, cfg.dataset_name or arrays.name
        size, channels = cfg.image_size or 64, cfg.channels or 3
        stream = FolderStream(data, size, channels, cfg.batch_size, self.device, cfg, self.dist, start, self.reporter)
        self.count = stream.count
        gen = generator_config(cfg, size, channels, 0)
        return stream, gen, (), cfg.dataset_name or data.name

    def _step(self) -> None:
        real, labels = next(self.stream)
        onehot = one_hot(labels, self.gen.num_classes, self.device) if labels is not None else None
        losses = self._d_step(real, onehot)
        losses.update(self._g_step(real.shape[0], onehot))
        self.state.scaler.update()
        self.state.iteration += 1
        images_seen = self.state.iteration * real.shape[0] * self.dist.world_size
        update_ema(self.g_ema, self.g, ema_beta(self.config, images_seen, real.shape[0] * self.dist.world_size))
        self.meter.add(losses)

    def _d_step(self, real: Tensor, labels: Tensor | None) -> dict[str, Tensor]:
        cfg, scaler = self.config, self.state.scaler
        self.d.requires_grad_(True)
        with torch.no_grad(), autocast(self.device, self.precision):
            fake = self._generate(real.shape[0], labels)
        with autocast(self.device, self.precision):
            scores = self.d(torch.cat([real, fake.to(real.dtype)]), _cat(labels, labels)).float()
            s_real, s_fake = scores.split(real.shape[0])
            loss = d_loss(cfg.loss_kind, s_real, s_fake)
        self.opt_d.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        if cfg.reg_kind == "r1" and cfg.r1_gamma > 0 and self.state.iteration % R1_EVERY == 0:
            penalty = r1_penalty(self.d, real, labels)
            scaler.scale(penalty * (cfg.r1_gamma / 2 * R1_EVERY)).backward()
        self._sync_grads(self.d)
        scaler.step(self.opt_d)
        return {"loss_d": loss.detach(), "d_real": s_real.detach().mean(), "d_fake": s_fake.detach().mean()}

    def _g_step(self, batch: int, labels: Tensor | None) -> dict[str, Tensor]:
        self.d.requires_grad_(False)
        with autocast(self.device, self.precision):
            fake = self._generate(batch, labels)
            loss = g_loss(self.config.loss_kind, self.d(fake, labels).float())
        self.opt_g.zero_grad(set_to_none=True)
        self.state.scaler.scale(loss).backward()
        self._sync_grads(self.g)
        self.state.scaler.step(self.opt_g)
        return {"loss_g": loss.detach()}

    def _generate(self, batch: int, labels: Tensor | None) -> Tensor:
        """Fakes for a step: fresh z; the style-based G mixes two styles at a random layer (90%)."""
        z = torch.randn(batch, self.gen.latent_dim, device=self.device)
        if self.gen.architecture != "style":
            return self.g(z, labels)
        ws = self.g.styles(z, labels)
        if torch.rand(()) < MIXING_PROB:
            cut = int(torch.randint(1, self.g.num_ws, ()))
            other = self.g.styles(torch.randn_like(z), labels)
            ws = torch.cat([ws[:, :cut], other[:, cut:]], dim=1)
        return self.g.synthesis(ws, noise_mode="random")

    def _sync_grads(self, model: nn.Module) -> None:
        """Average gradients over ranks (by hand: R1's double backward does not go through DDP)."""
        if not self.dist.active:
            return
        grads = [p.grad for p in model.parameters() if p.grad is not None]
        flat = all_reduce_mean(torch.cat([g.reshape(-1) for g in grads]), self.dist)
        for g, part in zip(grads, flat.split([g.numel() for g in grads])):
            g.copy_(part.view_as(g))

    def _close(self) -> None:
        self.stream.close()

    def _log_extra(self, iteration: int) -> dict[str, Any]:
        return {"elapsed_s": round(self._elapsed(), 1)}

    def _progress_fields(self, means: Mapping[str, float], rate: float) -> dict[str, float]:
        return {"D": means.get("loss_d", 0.0), "G": means.get("loss_g", 0.0), "img/s": rate}

    def _elapsed(self) -> float:
        """Seconds of training so far, over every resumed run."""
        return self._prior_seconds + time.perf_counter() - self._t0

    # -- files (rank 0)

    def meta(self) -> dict[str, Any]:
        """Self-description stored in the checkpoint (gan-sample reads ``generator`` and ``classes``)."""
        cfg = self.config
        return self._meta(
            format=1,
            generator=asdict(self.gen),
            image_size=self.gen.image_size,
            channels=self.gen.channels,
            classes=list(self.class_names),
            dataset=self.dataset,
            dataset_size=self.count,
            steps=self.state.iteration,
            images_seen=self.state.iteration * cfg.batch_size * self.dist.world_size,
            loss=cfg.loss_kind,
            reg=cfg.reg_kind,
            hardware=hardware(self.device),
            train_seconds=round(self._elapsed(), 1),
        )

    def _checkpoint(self) -> tuple[dict[str, Tensor], dict[str, Any]]:
        self._finalize()
        return self.g_ema.state_dict(), self.meta()

    def _finalize(self) -> None:
        """BatchNorm statistics / average w of the EMA G, once per iteration that needs them."""
        if getattr(self, "_finalized_at", -1) != self.state.iteration:
            finalize_generator(self.g_ema, self.gen, self.device)
            self._finalized_at = self.state.iteration

    def _write_sample(self, path: Path) -> None:
        """A grid of the EMA G's images for seeds 0..sample_count-1 (what gan-sample would draw)."""
        self._finalize()
        sampler = Sampler(OurGenerator(self.g_ema, self.gen), self.device, "fp32")
        with torch.no_grad():
            batch = sampler.images(tuple(range(self.config.sample_count)))
        write_grid(batch, path, 0)

    def _announce(self) -> None:
        cfg, gen = self.config, self.gen
        what = f"{cfg.architecture} {gen.image_size}px x{gen.channels}" + (
            f", {gen.num_classes} classes" if gen.num_classes else ""
        )
        verb = f"resuming at iteration {self.state.iteration}" if self.state.iteration else "training"
        self.reporter.log(f"{verb}: {what} to {cfg.iterations} iterations on {self.count:,} images ({self._where()})")


def _cat(a: Tensor | None, b: Tensor | None) -> Tensor | None:
    return None if a is None else torch.cat([a, b])


def hardware(device: torch.device) -> str:
    """A short description of where training ran, for the model card."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"{_cpu_name() or platform.processor() or platform.machine()} CPU, {torch.get_num_threads()} threads"


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            return next((line.split(":", 1)[1].strip() for line in fh if line.startswith("model name")), "")
    except OSError:
        return ""


# ---------------------------------------------------------------- entry point


def train_gan(
    data: str | Path,
    output: str | Path,
    config: GANTrainConfig | None = None,
    **run: Unpack[RunKeywords],
) -> TrainResult:
    """Train (or with ``resume`` continue) a GAN on ``data``; write the EMA generator to ``output``.

    Beside ``output`` go ``<stem>.state.pt`` (for ``resume``) and, unless ``log_dir`` says
    otherwise, ``<stem>-train/`` with ``loss.jsonl``, ``loss.png`` and ``samples/``. Ctrl-C or
    SIGTERM saves a checkpoint, then raises ``Interrupted``.
    """
    data = Path(data)
    if not data.exists():
        raise InputError(f"{data}: no such file or folder")
    return run_training(GANTrainer, config or GANTrainConfig(), (data,), output, **run)

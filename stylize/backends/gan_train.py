"""Training our GANs (``stylize train-gan``): DCGAN or the small style-based generator.

Each step: one discriminator update on a batch of real images and a batch of generated ones
(hinge or non-saturating loss; spectral norm in D, or R1 on the reals every ``R1_EVERY``
steps), then one generator update, then the generator's exponential moving average (EMA) moves
towards the new weights. The checkpoint is the EMA generator as safetensors with metadata (what
``stylize gan-sample`` loads); ``<stem>.state.pt`` beside it holds the raw G and D and the
optimizers for ``--resume``.

Data: MNIST-format idx(.gz) files (held in memory, labels used for a class-conditional model)
or an image folder (recursive). Importing this module does not import torch.
"""

from __future__ import annotations

import gzip
import math
import os
import struct
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stylize.config import GANTrainConfig, GeneratorConfig
from stylize.errors import InputError, UsageError
from stylize.progress import NullReporter, Reporter
from stylize.train_loop import LoopTrainer, warn_changed

if TYPE_CHECKING:
    import numpy as np
    import torch
    from torch import Tensor, nn

    from stylize.training import Distributed, Resumed, RunFiles

TASK = "train-gan"
R1_EVERY = 16  # lazy R1 (StyleGAN2): penalise every 16 D steps, weighted by 16
MIXING_PROB = 0.9  # style-based: share of G steps trained with two mixed styles (StyleGAN2)
BN_CALIBRATION_BATCHES = 16  # batches of 256 to re-estimate BatchNorm statistics of the EMA G
W_AVG_SAMPLES = 8192  # z samples per class to estimate the style-based G's average w
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
IDX_MAGIC = {0x0801: 1, 0x0803: 3}  # unsigned-byte idx: labels (1 dim), images (3 dims)
FASHION_MNIST_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)  # fmt: skip


def architecture_id(architecture: str) -> str:
    """The ``architecture`` recorded in our checkpoints: gan-dcgan or gan-style."""
    return f"gan-{architecture}"


@dataclass(frozen=True)
class GANTrainResult:
    """What a run produced. On ranks other than 0 the paths are where rank 0 wrote."""

    checkpoint: Path
    iteration: int
    loss_log: Path
    loss_plot: Path | None
    samples: Path | None
    is_main: bool


# ---------------------------------------------------------------- idx (MNIST format) files


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """An unsigned-byte idx file (optionally .gz) as a uint8 array: (N,) labels or (N, H, W) images."""
    import numpy as np

    path = Path(path)
    try:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rb") as fh:
            data = fh.read()
    except (OSError, EOFError) as exc:
        raise InputError(f"{path}: cannot read idx file ({exc})") from exc
    if len(data) < 8:
        raise InputError(f"{path}: too short for an idx file")
    magic = struct.unpack(">I", data[:4])[0]
    if magic not in IDX_MAGIC:
        raise InputError(f"{path}: not an unsigned-byte idx file (magic {magic:#x})")
    dims = IDX_MAGIC[magic]
    shape = struct.unpack(f">{dims}I", data[4 : 4 + 4 * dims])
    offset, count = 4 + 4 * dims, math.prod(shape)
    if len(data) - offset != count:
        raise InputError(f"{path}: holds {len(data) - offset:,} bytes of data, its header says {count:,}")
    return np.frombuffer(data, dtype=np.uint8, offset=offset).reshape(shape)


def write_idx(path: str | os.PathLike[str], array: np.ndarray) -> Path:
    """Write uint8 labels (N,) or images (N, H, W) as an idx file (``.gz`` compressed by name)."""
    import numpy as np

    path = Path(path)
    array = np.ascontiguousarray(array, dtype=np.uint8)
    magic = {1: 0x0801, 3: 0x0803}[array.ndim]
    payload = struct.pack(f">I{array.ndim}I", magic, *array.shape) + array.tobytes()
    path.write_bytes(gzip.compress(payload, mtime=0) if path.suffix == ".gz" else payload)
    return path


def _is_idx(path: Path) -> bool:
    name = path.name.lower()
    return "idx3" in name or "idx1" in name


def find_idx(data: Path) -> tuple[Path, Path | None] | None:
    """(images, labels or None) when ``data`` is an idx images file or a folder holding one."""
    if data.is_file():
        return (data, _labels_for(data)) if _is_idx(data) else None
    if not data.is_dir():
        raise InputError(f"{data}: no such file or folder")
    candidates = sorted(p for p in data.iterdir() if p.is_file() and "idx3" in p.name.lower())
    if not candidates:
        return None
    train = [p for p in candidates if "train" in p.name.lower()]
    images = (train or candidates)[0]
    return images, _labels_for(images)


def _labels_for(images: Path) -> Path | None:
    name = images.name.replace("images", "labels").replace("idx3", "idx1")
    path = images.with_name(name)
    return path if path != images and path.is_file() else None


@dataclass(frozen=True)
class ArrayData:
    """Images held in memory: uint8 (N, C, H, W) and optional labels (N,)."""

    images: Tensor
    labels: Tensor | None
    num_classes: int
    class_names: tuple[str, ...]
    name: str


def load_idx_data(images_path: Path, labels_path: Path | None, size: int, channels: int, use_labels: bool) -> ArrayData:
    """Read idx images (and labels), resized to ``size`` (0 keeps them) and repeated to ``channels``."""
    import torch

    images = torch.from_numpy(read_idx(images_path).copy())
    if images.ndim != 3:
        raise InputError(f"{images_path}: expected images (N, H, W), found shape {tuple(images.shape)}")
    images = _fit(images[:, None], size, channels)
    labels, num_classes, names = None, 0, ()
    if use_labels and labels_path is not None:
        labels = torch.from_numpy(read_idx(labels_path).astype("int64"))
        if labels.ndim != 1 or len(labels) != len(images):
            raise InputError(f"{labels_path}: {len(labels)} labels for {len(images)} images")
        num_classes = int(labels.max()) + 1
    fashion = _is_fashion_mnist(images_path)
    names = FASHION_MNIST_CLASSES if fashion and num_classes == 10 else tuple(str(i) for i in range(num_classes))
    return ArrayData(images, labels, num_classes, names, "Fashion-MNIST" if fashion else images_path.parent.name)


def _is_fashion_mnist(images_path: Path) -> bool:
    """True when the path or a LICENSE/README beside the file names Fashion-MNIST (for class names)."""
    if "fashion" in str(images_path.resolve()).lower():
        return True
    for note in sorted(images_path.parent.glob("*")):
        small_note = note.stem.upper() in ("LICENSE", "README", "COPYING") and note.is_file()
        if small_note and note.stat().st_size < 65536 and "fashion-mnist" in note.read_text(errors="replace").lower():
            return True
    return False


def _fit(images: Tensor, size: int, channels: int) -> Tensor:
    """uint8 (N, c, h, w) -> uint8 (N, channels, size, size): antialiased bilinear resize, channel repeat."""
    import torch
    import torch.nn.functional as F

    if size and (images.shape[-1] != size or images.shape[-2] != size):
        out = []
        for chunk in images.split(4096):
            resized = F.interpolate(chunk.float(), size=(size, size), mode="bilinear", antialias=True)
            out.append(resized.round().clamp(0, 255).to(torch.uint8))
        images = torch.cat(out)
    return images.expand(-1, channels, -1, -1).contiguous() if images.shape[1] != channels else images


class ArrayStream:
    """Endless shuffled batches from in-memory images; ``start`` batches already consumed (resume)."""

    def __init__(self, data: ArrayData, batch_size: int, device: torch.device, seed: int, dist: Distributed,
                 start: int) -> None:  # fmt: skip
        from stylize.training import InfiniteSampler

        self.data, self.batch_size, self.device = data, batch_size, device
        sampler = InfiniteSampler(len(data.images), seed=seed, rank=dist.rank, world_size=dist.world_size,
                                  start=start * batch_size)  # fmt: skip
        self._indices = iter(sampler)

    def __next__(self) -> tuple[Tensor, Tensor | None]:
        import torch

        index = torch.tensor([next(self._indices) for _ in range(self.batch_size)])
        images = self.data.images[index].to(self.device, non_blocking=True).float().div_(127.5).sub_(1.0)
        labels = self.data.labels[index].to(self.device) if self.data.labels is not None else None
        return images, labels  # (B, C, H, W) in [-1, 1], (B,)

    def close(self) -> None:
        pass


class FolderStream:
    """Endless batches from an image folder (``training.BatchStream``), in [-1, 1], no labels."""

    def __init__(self, root: Path, size: int, channels: int, batch_size: int, device: torch.device,
                 config: GANTrainConfig, dist: Distributed, start: int, reporter: Reporter) -> None:  # fmt: skip
        from stylize import training as tr

        dataset = tr.ImageFolderDataset(root, resize=size, crop=size)
        self.count, self.channels = len(dataset), channels
        self.stream = tr.BatchStream(dataset, batch_size, device, workers=config.workers, seed=config.seed,
                                     dist=dist, start=start, reporter=reporter)  # fmt: skip

    def __next__(self) -> tuple[Tensor, None]:
        images = next(self.stream)  # (B, 3, H, W) in [0, 1]
        if self.channels == 1:
            weights = images.new_tensor([0.299, 0.587, 0.114])[None, :, None, None]  # ITU-R 601 luma
            images = (images * weights).sum(dim=1, keepdim=True)
        return images * 2.0 - 1.0, None

    def close(self) -> None:
        self.stream.close()


# ---------------------------------------------------------------- models


def generator_config(config: GANTrainConfig, image_size: int, channels: int, num_classes: int) -> GeneratorConfig:
    return GeneratorConfig(
        architecture=config.architecture, image_size=image_size, channels=channels, latent_dim=config.latent_dim,
        width=config.width, num_classes=num_classes, w_dim=config.w_dim, mapping_layers=config.mapping_layers,
    )  # fmt: skip


def build_discriminator(config: GANTrainConfig, gen: GeneratorConfig) -> nn.Module:
    from stylize.models.generator import Discriminator

    return Discriminator(gen.image_size, gen.channels, config.d_width, gen.num_classes, config.reg_kind == "sn")


def ema_beta(config: GANTrainConfig, images_seen: int, batch: int) -> float:
    """Per-step EMA decay for a half-life of ``ema_halflife`` images, ramped up early (StyleGAN2-ADA)."""
    halflife = min(config.ema_halflife, images_seen * 0.05)
    return 0.5 ** (batch / halflife) if halflife > 0 else 0.0


def update_ema(ema: nn.Module, model: nn.Module, beta: float) -> None:
    """ema = beta * ema + (1 - beta) * model for parameters; buffers are copied."""
    import torch

    with torch.no_grad():
        for p_ema, p in zip(ema.parameters(), model.parameters()):
            p_ema.lerp_(p.detach(), 1.0 - beta)
        for b_ema, b in zip(ema.buffers(), model.buffers()):
            b_ema.copy_(b)


def finalize_generator(g: nn.Module, gen: GeneratorConfig, device: torch.device, batches: int | None = None,
                       w_samples: int | None = None) -> None:  # fmt: skip
    """Make the EMA G ready to sample: BatchNorm statistics of its own weights, or average w.

    BatchNorm statistics are re-estimated over ``BN_CALIBRATION_BATCHES`` batches (cumulative
    average) because the running statistics were gathered with the raw G's weights, not the
    averaged ones (BigGAN's "standing statistics"). Seeded, so it does not touch the global RNG.
    """
    import torch
    from torch import nn

    batches = BN_CALIBRATION_BATCHES if batches is None else batches
    w_samples = W_AVG_SAMPLES if w_samples is None else w_samples
    rng = torch.Generator().manual_seed(12345)
    was_training = g.training
    with torch.no_grad():
        norms = [m for m in g.modules() if isinstance(m, nn.BatchNorm2d)]
        if norms:
            g.train()
            for m in norms:
                m.reset_running_stats()
                m.momentum = None
            for _ in range(batches):
                z, labels = _random_inputs(gen, 256, rng, device)
                g(z, labels)
            for m in norms:
                m.momentum = 0.1
        if hasattr(g, "w_avg"):
            _estimate_w_avg(g, gen, rng, device, w_samples)
    g.train(was_training)


def _estimate_w_avg(g: nn.Module, gen: GeneratorConfig, rng: torch.Generator, device: torch.device,
                   samples: int) -> None:  # fmt: skip
    import torch

    for c in range(max(gen.num_classes, 1)):
        z = torch.randn(samples, gen.latent_dim, generator=rng).to(device)
        labels = _one_hot(torch.full((samples,), c), gen.num_classes, device) if gen.num_classes else None
        g.w_avg[c] = g.mapping(z, labels).mean(dim=0)


def _random_inputs(gen: GeneratorConfig, count: int, rng: torch.Generator | None, device: torch.device):
    import torch

    z = torch.randn(count, gen.latent_dim, generator=rng).to(device)
    if not gen.num_classes:
        return z, None
    return z, _one_hot(torch.randint(gen.num_classes, (count,), generator=rng), gen.num_classes, device)


def _one_hot(labels: Tensor, num_classes: int, device: torch.device) -> Tensor:
    import torch.nn.functional as F

    return F.one_hot(labels.to(device), num_classes).float()


# ---------------------------------------------------------------- losses


def d_loss(kind: str, real: Tensor, fake: Tensor) -> Tensor:
    """Discriminator loss on scores of reals and fakes (B,): hinge or non-saturating."""
    import torch.nn.functional as F

    if kind == "hinge":
        return F.relu(1.0 - real).mean() + F.relu(1.0 + fake).mean()
    return F.softplus(-real).mean() + F.softplus(fake).mean()


def g_loss(kind: str, fake: Tensor) -> Tensor:
    """Generator loss on the scores of its images: -D (hinge) or softplus(-D) (non-saturating)."""
    import torch.nn.functional as F

    return -fake.mean() if kind == "hinge" else F.softplus(-fake).mean()


def r1_penalty(d: nn.Module, real: Tensor, labels: Tensor | None) -> Tensor:
    """R1 (Mescheder et al. 2018): mean squared norm of dD/dx on real images."""
    import torch

    real = real.detach().requires_grad_(True)
    scores = d(real, labels)
    (grad,) = torch.autograd.grad(scores.sum(), real, create_graph=True)
    return grad.square().sum(dim=(1, 2, 3)).mean()


# ---------------------------------------------------------------- training state


def _gan_state_class():
    from stylize.training import TrainState

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

    return GANTrainState


# ---------------------------------------------------------------- the run


class GANTrainer(LoopTrainer):
    """One training run: data, G, D, EMA G, optimizers, files. Build it, then call :meth:`run`."""

    task = TASK
    plot_keys = ("loss_d", "loss_g")
    plot_log_y = False
    plot_title = "GAN training losses"

    def __init__(self, config: GANTrainConfig, data: Path, files: RunFiles, dist: Distributed,
                 device: torch.device, reporter: Reporter, resumed: Resumed | None = None) -> None:  # fmt: skip
        import copy

        import torch

        from stylize import training as tr

        self._setup(config, files, dist, device, reporter)
        start = resumed.iteration if resumed else 0
        tr.seed_everything(config.seed, dist.rank, start)
        self.stream, self.gen, self.class_names, self.dataset = self._data(data, start)
        from stylize.models.generator import build_generator

        torch.manual_seed(config.seed)  # the same initial weights on every rank
        self.g = build_generator(self.gen).to(device).train()
        self.d = build_discriminator(config, self.gen).to(device).train()
        self.g_ema = copy.deepcopy(self.g).eval().requires_grad_(False)
        tr.seed_everything(config.seed, dist.rank, start)
        betas = (config.beta1, config.beta2)
        r1_ratio = R1_EVERY / (R1_EVERY + 1) if config.reg_kind == "r1" else 1.0  # lazy-reg lr/beta fix
        self.opt_g = torch.optim.Adam(self.g.parameters(), lr=config.lr_g_value, betas=betas)
        self.opt_d = torch.optim.Adam(self.d.parameters(), lr=config.lr_d * r1_ratio,
                                      betas=(betas[0] ** r1_ratio, betas[1] ** r1_ratio))  # fmt: skip
        state_cls = _gan_state_class()
        self.state = state_cls(start, {"g": self.opt_g, "d": self.opt_d}, tr.grad_scaler(self.precision, device),
                               nets={"g": self.g, "d": self.d})  # fmt: skip
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
        onehot = _one_hot(labels, self.gen.num_classes, self.device) if labels is not None else None
        losses = self._d_step(real, onehot)
        losses.update(self._g_step(real.shape[0], onehot))
        self.state.scaler.update()
        self.state.iteration += 1
        images_seen = self.state.iteration * real.shape[0] * self.dist.world_size
        update_ema(self.g_ema, self.g, ema_beta(self.config, images_seen, real.shape[0] * self.dist.world_size))
        self.meter.add(losses)

    def _d_step(self, real: Tensor, labels: Tensor | None) -> dict[str, Tensor]:
        import torch

        from stylize.devices import autocast

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
        from stylize.devices import autocast

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
        import torch

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
        import torch

        from stylize.training import all_reduce_mean

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
        return {
            "architecture": architecture_id(cfg.architecture),
            "format": 1,
            "generator": asdict(self.gen),
            "image_size": self.gen.image_size,
            "channels": self.gen.channels,
            "classes": list(self.class_names),
            "dataset": self.dataset,
            "dataset_size": self.count,
            "steps": self.state.iteration,
            "images_seen": self.state.iteration * cfg.batch_size * self.dist.world_size,
            "loss": cfg.loss_kind,
            "reg": cfg.reg_kind,
            "config": asdict(cfg),
            "world_size": self.dist.world_size,
            "precision": self.precision,
            "hardware": hardware(self.device),
            "train_seconds": round(self._elapsed(), 1),
        }

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
        import torch

        from stylize.backends.gan import OurGenerator, Sampler, write_grid

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
    import torch

    return None if a is None else torch.cat([a, b])


def hardware(device: torch.device) -> str:
    """A short description of where training ran, for the model card."""
    import platform

    import torch

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
    *,
    resume: bool = False,
    overwrite: bool = False,
    log_dir: str | Path | None = None,
    device: str | None = None,
    reporter: Reporter | None = None,
) -> GANTrainResult:
    """Train (or with ``resume`` continue) a GAN on ``data``; write the EMA generator to ``output``.

    Beside ``output`` go ``<stem>.state.pt`` (for ``resume``) and, unless ``log_dir`` says
    otherwise, ``<stem>-train/`` with ``loss.jsonl``, ``loss.png`` and ``samples/``. Ctrl-C or
    SIGTERM saves a checkpoint, then raises ``Interrupted``.
    """
    from stylize import training as tr

    config = config or GANTrainConfig()
    reporter = reporter or NullReporter()
    data = Path(data)
    if not data.exists():
        raise InputError(f"{data}: no such file or folder")
    files = tr.RunFiles.beside(output, log_dir)
    files.check_start(resume, overwrite)
    with tr.distributed_session(device) as (dist, torch_device), tr.GracefulStop() as stop:
        resumed = _resumed(files, config, reporter, dist) if resume else None
        if resumed is not None and resumed.iteration >= config.iterations:
            tr.rank_reporter(reporter, dist).log(
                f"{files.checkpoint} is at iteration {resumed.iteration}; nothing to do"
            )
            return _result(files, resumed.iteration, dist)
        trainer = GANTrainer(config, data, files, dist, torch_device, reporter, resumed)
        return _result(files, trainer.run(stop), dist)


def _result(files: RunFiles, iteration: int, dist: Distributed) -> GANTrainResult:
    plot = files.loss_plot if files.loss_plot.is_file() else None
    samples = files.log_dir / "samples"
    return GANTrainResult(files.checkpoint, iteration, files.loss_log, plot, samples if samples.is_dir() else None,
                          dist.is_main)  # fmt: skip


def _resumed(files: RunFiles, config: GANTrainConfig, reporter: Reporter, dist: Distributed) -> Resumed:
    from stylize import training as tr

    resumed = tr.load_training_checkpoint(files.checkpoint, architecture_id(config.architecture))
    saved = resumed.meta.get("config", {})
    reshaped = [name for name in SHAPE_FIELDS if name in saved and saved[name] != getattr(config, name)]
    if reshaped:
        listing = ", ".join(
            f"--{name.replace('_', '-')} {saved[name]} (now {getattr(config, name)})" for name in reshaped
        )
        raise UsageError(f"{files.checkpoint} was trained with {listing}", "resume with the same model settings")
    warn_changed(saved, config, OBJECTIVE_FIELDS, reporter, dist)
    return resumed

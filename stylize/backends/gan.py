"""Sampling GAN generators: ours (safetensors) and pytorch_GAN_zoo's DCGAN and PGAN (.pth).

    sampler = Sampler(load_generator("fashion-mnist"), torch.device("cpu"))
    images = sampler.images(range(64), psi=0.7)        # (64, C, H, W) in [0, 1], on the CPU

Seeds: each seed draws its latent (then its class, then its noise maps) from its own
``torch.Generator`` on the CPU, so an image depends on its seed only, never on the batch it is
computed in or on the device. Truncation pulls latents towards the average (w for the
style-based model, z = 0 for the others); style mixing takes seed A's styles before layer K and
seed B's from K on; interpolation is spherical between Gaussian latents.

Model files never unpickle code: ours are safetensors; published ``.pth`` files load with
``torch.load(weights_only=True)``; StyleGAN2-ADA ``.pkl`` files are refused.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stylize.config import DEFAULT_MODEL, GeneratorConfig
from stylize.devices import effective_precision
from stylize.errors import UsageError, WeightsError
from stylize.files import atomic_path, unknown_file_suffix
from stylize.progress import NullReporter, Reporter

if TYPE_CHECKING:
    import torch
    from PIL import Image
    from torch import Tensor, nn

BUNDLED = {DEFAULT_MODEL: "gan-fashion-mnist.safetensors"}  # shipped in weights/ at the repository root
OUR_ARCHITECTURES = ("gan-dcgan", "gan-style")
PICKLE_SUFFIXES = (".pkl", ".pickle")
ZOO_CONFIG_CLASS = "models.utils.config.BaseConfig"  # pytorch_GAN_zoo pickles its config object


def weights_dir() -> Path:
    """Where shipped models live: ``stylize/_bundled/`` when packaged as package data (wheels),
    else ``weights/`` at the repository root (editable installs, source checkouts)."""
    from stylize.bundled import shipped_dir

    return shipped_dir()


def bundled_path(name: str) -> Path:
    path = weights_dir() / BUNDLED[name]
    if not path.is_file():
        raise WeightsError(f"the shipped model '{name}' is missing ({path})",
                           "reinstall stylize from the repository, or pass a model file")  # fmt: skip
    return path


# ---------------------------------------------------------------- what a loaded model offers


@dataclass
class ModelInfo:
    """What the sampler needs to know about a generator."""

    name: str
    kind: str  # gan-dcgan, gan-style, gan-zoo-dcgan, gan-zoo-pgan
    latent_dim: int
    image_size: int
    channels: int
    num_classes: int = 0
    class_names: tuple[str, ...] = ()
    num_ws: int = 0  # > 0: style-based (truncation in w, style mixing)
    category_blocks: tuple[int, ...] = ()  # conditional zoo models: sizes of the one-hot blocks ending z
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def style_based(self) -> bool:
        return self.num_ws > 0

    def as_dict(self) -> dict[str, Any]:
        keep = ("dataset", "steps", "images_seen", "version", "loss", "reg", "hardware")
        return {
            "name": self.name, "kind": self.kind, "latent_dim": self.latent_dim, "image_size": self.image_size,
            "channels": self.channels, "num_classes": self.num_classes, "classes": list(self.class_names),
            "style_layers": self.num_ws, **{k: self.meta[k] for k in keep if k in self.meta},
        }  # fmt: skip


class Generator:
    """A generator module behind one interface: z (+ one-hot class) -> image in [-1, 1]."""

    def __init__(self, module: nn.Module, info: ModelInfo) -> None:
        self.module, self.info = module.eval().requires_grad_(False), info

    def to(self, device: torch.device) -> Generator:
        self.module.to(device)
        return self

    def noise_shapes(self) -> list[tuple[int, ...]]:
        return self.module.noise_shapes() if self.info.style_based else []

    def styles(self, z: Tensor, labels: Tensor | None, psi: float) -> Tensor:
        """(B, num_ws, w_dim); style-based models only."""
        return self.module.styles(z, labels, psi)

    def synthesis(self, ws: Tensor, noise_mode: str, noise: list[Tensor] | None) -> Tensor:
        return self.module.synthesis(ws, noise_mode, noise)

    def __call__(self, z: Tensor, labels: Tensor | None, psi: float, noise_mode: str,
                 noise: list[Tensor] | None) -> Tensor:  # fmt: skip
        if self.info.style_based:
            return self.synthesis(self.styles(z, labels, psi), noise_mode, noise)
        z = z * psi if psi != 1.0 else z  # truncation: z towards its mean, 0
        return self.module(_zoo_categories(z, self.info.category_blocks), labels)


def _zoo_categories(z: Tensor, blocks: tuple[int, ...]) -> Tensor:
    """Conditional zoo models: the latent's tail is one one-hot block per attribute (AC-GAN).

    Each block's category is the argmax of the seed's Gaussian values there: uniform over the
    categories and fixed by the seed, with no extra random draws.
    """
    if not blocks:
        return z
    import torch
    import torch.nn.functional as F

    start = z.shape[1] - sum(blocks)
    parts = [z[:, :start]]
    for size in blocks:
        parts.append(F.one_hot(z[:, start : start + size].argmax(1), size).to(z.dtype))
        start += size
    return torch.cat(parts, dim=1)


def OurGenerator(module: nn.Module, gen: GeneratorConfig, meta: dict[str, Any] | None = None,
                 name: str = "") -> Generator:  # fmt: skip
    """Wrap one of our generator modules (DCGANGenerator or StyleGenerator)."""
    meta = meta or {}
    classes = tuple(meta.get("classes") or (str(i) for i in range(gen.num_classes)))
    info = ModelInfo(
        name=name, kind=f"gan-{gen.architecture}", latent_dim=gen.latent_dim, image_size=gen.image_size,
        channels=gen.channels, num_classes=gen.num_classes, class_names=classes,
        num_ws=getattr(module, "num_ws", 0), meta=meta,
    )  # fmt: skip
    return Generator(module, info)


# ---------------------------------------------------------------- loading


def load_generator(model: str | os.PathLike[str] = DEFAULT_MODEL, reporter: Reporter | None = None) -> Generator:
    """Our safetensors checkpoint, a pytorch_GAN_zoo ``.pth``, a registry name or the shipped name."""
    from stylize import weights

    reporter = reporter or NullReporter()
    text = str(model)
    if Path(text).suffix.lower() in PICKLE_SUFFIXES:
        raise _pickle_refused(Path(text))
    path = bundled_path(text) if text in BUNDLED else weights.resolve(text, reporter)
    name = text if text in BUNDLED or text in weights.REGISTRY else Path(text).name
    if path.suffix.lower() == ".safetensors":
        return _load_ours(path, name)
    return _load_zoo(path, name)


def _pickle_refused(path: Path) -> WeightsError:
    return WeightsError(
        f"{path}: refusing to load a pickle (.pkl) model such as StyleGAN2-ADA's: unpickling it runs "
        "Python code stored inside the file, which could do anything to this machine",
        "load models as .safetensors or a plain .pth state dict; convert the .pkl in an environment you trust",
    )


def _load_ours(path: Path, name: str) -> Generator:
    import torch

    from stylize.checkpoints import load_tensors
    from stylize.models.generator import build_generator

    tensors, meta = load_tensors(path)
    arch = meta.get("architecture")
    if arch not in OUR_ARCHITECTURES or "generator" not in meta:
        raise WeightsError(f"{path}: not a stylize GAN generator (architecture: {arch or 'none recorded'})",
                           "train one with 'stylize train-gan'")  # fmt: skip
    try:
        gen = GeneratorConfig(**meta["generator"])
    except (TypeError, ValueError, UsageError) as exc:
        raise WeightsError(f"{path}: generator settings not understood ({exc})") from exc
    with torch.device("meta"):  # shapes first, allocating nothing: metadata claiming width 1e6 is caught here
        _load_strict(build_generator(gen), tensors, path, check_only=True)
    module = build_generator(gen)
    _load_strict(module, tensors, path)
    return OurGenerator(module, gen, meta, name)


def _load_strict(module: nn.Module, state: dict[str, Any], path: Path, check_only: bool = False) -> None:
    expected = {k: tuple(v.shape) for k, v in module.state_dict().items()}
    found = {k: tuple(v.shape) for k, v in state.items() if hasattr(v, "shape")}
    missing, unexpected = sorted(set(expected) - set(found)), sorted(set(found) - set(expected))
    wrong = sorted(k for k in set(expected) & set(found) if expected[k] != found[k])
    if missing or unexpected or wrong:
        first = (missing or unexpected or wrong)[0]
        raise WeightsError(
            f"{path}: wrong layout ({len(missing)} missing, {len(unexpected)} unexpected, "
            f"{len(wrong)} mis-shaped tensors; first: {first})"
        )
    if not check_only:
        module.load_state_dict(state, strict=True)


def _load_zoo(path: Path, name: str) -> Generator:
    checkpoint = load_zoo_checkpoint(path)
    config = checkpoint.get("config") or {}
    state = checkpoint.get("avgG") or checkpoint.get("netG") or checkpoint  # the averaged G when present
    state = {k: v for k, v in state.items() if hasattr(v, "shape")}
    try:
        if "formatLayer.weight" in state and state["formatLayer.weight"].dim() == 4:
            module, kind = zoo_dcgan_from_state(state, config), "gan-zoo-dcgan"
        elif "formatLayer.module.weight" in state or "formatLayer.weight" in state:
            state = _with_module_keys(state)
            module, kind = zoo_pgan_from_state(state, config), "gan-zoo-pgan"
        else:
            raise WeightsError(
                f"{path}: not a pytorch_GAN_zoo DCGAN or PGAN generator (no formatLayer)",
                "gan-sample loads stylize checkpoints (.safetensors) and pytorch_GAN_zoo .pth files",
            )
    except (KeyError, IndexError, ValueError, RuntimeError) as exc:
        raise WeightsError(f"{path}: wrong pytorch_GAN_zoo layout (missing or mis-shaped {exc})") from exc
    _load_strict(module, state, path)
    channels, size, _ = module.output_shape
    info = ModelInfo(name, kind, module.latent_dim, size, channels, meta={"config": _jsonable(config)},
                     category_blocks=zoo_category_blocks(config, module.latent_dim))  # fmt: skip
    return Generator(module, info)


def zoo_category_blocks(config: dict[str, Any], input_dim: int) -> tuple[int, ...]:
    """Sizes of the AC-GAN one-hot blocks at the end of a zoo generator's input, in attribute order."""
    attributes = config.get("attribKeysOrder") or {}
    try:
        ordered = sorted(attributes.values(), key=lambda a: a["order"])
        blocks = tuple(len(a["values"]) for a in ordered)
    except (AttributeError, KeyError, TypeError):
        blocks = ()
    category_dim = int(config.get("categoryVectorDim") or 0) or sum(blocks)
    if not category_dim or category_dim >= input_dim:
        return ()
    return blocks if sum(blocks) == category_dim else (category_dim,)


def load_zoo_checkpoint(path: Path) -> dict[str, Any]:
    """A pytorch_GAN_zoo ``.pth``: ``{config, netG, netD, avgG}`` via the weights-only unpickler.

    The zoo pickles its ``BaseConfig`` object; it is read into an inert attribute holder (a
    plain class whose only ability is to receive attributes), never the zoo's own code.
    """
    import pickle

    import torch

    from stylize.checkpoints import load_tensors

    try:
        with torch.serialization.safe_globals([(_ZooConfig, ZOO_CONFIG_CLASS)]):
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise WeightsError(f"{path}: holds Python objects beyond tensors and the zoo's config; refusing to "
                           "unpickle it", "save a state_dict() instead of a whole model") from exc  # fmt: skip
    except (RuntimeError, EOFError, OSError, ValueError) as exc:
        load_tensors(path)  # the shared loader words the error
        raise WeightsError(f"{path}: not a readable PyTorch weights file ({exc})") from exc
    if not isinstance(obj, dict):
        raise WeightsError(f"{path}: expected a dict, found {type(obj).__name__}")
    if isinstance(obj.get("config"), _ZooConfig):
        obj["config"] = dict(vars(obj["config"]))
    return obj


class _ZooConfig:
    """Stands in for pytorch_GAN_zoo's ``BaseConfig`` while unpickling: only holds attributes."""

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state if isinstance(state, dict) else {})


def _with_module_keys(state: dict[str, Any]) -> dict[str, Any]:
    """Older zoo files drop the ``.module`` of equalised layers; put it back."""
    if any(".module." in k for k in state):
        return state
    return {k.rsplit(".", 1)[0] + ".module." + k.rsplit(".", 1)[1]: v for k, v in state.items()}


def zoo_dcgan_from_state(state: dict[str, Any], config: dict[str, Any]) -> nn.Module:
    """Build the zoo DCGAN generator whose shapes match ``state``."""
    from stylize.models.generator import ZooDCGANGenerator

    latent, top = state["formatLayer.weight"].shape[:2]
    depth = sum(1 for k in state if k.startswith("main.convTranspose"))
    width, channels = state["main.outlayer.weight"].shape[:2]
    if top != width * 2**depth:
        raise WeightsError(f"DCGAN layout: formatLayer has {top} channels, expected {width * 2**depth}")
    tanh = str(config.get("lossMode", "DCGAN")).upper() != "WGANGP"
    return ZooDCGANGenerator(int(latent), int(channels), int(width), depth, tanh=tanh)


def zoo_pgan_from_state(state: dict[str, Any], config: dict[str, Any]) -> nn.Module:
    """Build the zoo PGAN generator (final scale) whose shapes match ``state``."""
    from stylize.models.generator import ZooPGANGenerator

    latent = int(state["formatLayer.module.weight"].shape[1])
    depths = [int(state["groupScale0.0.module.weight"].shape[0])]
    scale = 0
    while f"scaleLayers.{scale}.0.module.weight" in state:
        depths.append(int(state[f"scaleLayers.{scale}.0.module.weight"].shape[0]))
        scale += 1
    channels = int(state["toRGBLayers.0.module.weight"].shape[0])
    leak = float(config.get("leakyness", 0.2) or 0.2)
    normalize = bool(config.get("perChannelNormalization", True))
    return ZooPGANGenerator(latent, tuple(depths), channels, leak, normalize)


def _jsonable(config: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in config.items() if isinstance(v, (int, float, str, bool, list, tuple, type(None)))}


# ---------------------------------------------------------------- latents from seeds


@dataclass
class SeedInputs:
    """Per-seed inputs, drawn on the CPU: z (N, latent), classes (N,) or None, noise per layer."""

    z: Tensor
    classes: Tensor | None
    noise: list[Tensor] | None = None  # one (N, 1, H, W) per style layer


def seed_inputs(seeds: Sequence[int], latent_dim: int, num_classes: int = 0,
                noise_shapes: Sequence[tuple[int, ...]] = ()) -> SeedInputs:  # fmt: skip
    """z ~ N(0, I), then the class, then the noise maps, each from ``torch.Generator(seed)`` on the CPU."""
    import torch

    z = torch.empty(len(seeds), latent_dim)
    classes = torch.empty(len(seeds), dtype=torch.long) if num_classes else None
    noise = [torch.empty(len(seeds), *shape) for shape in noise_shapes] if noise_shapes else None
    for i, seed in enumerate(seeds):
        rng = torch.Generator().manual_seed(int(seed))
        z[i] = torch.randn(latent_dim, generator=rng)
        if classes is not None:
            classes[i] = torch.randint(num_classes, (), generator=rng)
        for maps in noise or ():
            maps[i] = torch.randn(maps.shape[1:], generator=rng)
    return SeedInputs(z, classes, noise)


def slerp(a: Tensor, b: Tensor, t: float) -> Tensor:
    """Spherical interpolation of rows of a and b (exact at t = 0 and 1; linear when parallel)."""
    import torch

    if t <= 0.0:
        return a.clone()
    if t >= 1.0:
        return b.clone()
    cos = (a * b).sum(-1, keepdim=True) / (a.norm(dim=-1, keepdim=True) * b.norm(dim=-1, keepdim=True))
    omega = torch.arccos(cos.clamp(-1.0, 1.0))
    sin = torch.sin(omega)
    parallel = sin.abs() < 1e-6
    wa = torch.where(parallel, 1.0 - t, torch.sin((1.0 - t) * omega) / sin.where(~parallel, 1.0))
    wb = torch.where(parallel, t, torch.sin(t * omega) / sin.where(~parallel, 1.0))
    return wa * a + wb * b


# ---------------------------------------------------------------- the sampler


class Sampler:
    """Images from seeds in batches on ``device``; results are float (N, C, H, W) in [0, 1] on the CPU."""

    def __init__(self, model: Generator, device: torch.device, precision: str = "fp32", batch_size: int = 64,
                 noise: str = "const") -> None:  # fmt: skip
        self.model, self.device, self.batch_size, self.noise = model.to(device), device, batch_size, noise
        self.precision = effective_precision(precision, device, auto_bf16="never")
        self.info = model.info

    # -- inputs

    def class_index(self, label: str | int | None) -> int | None:
        """A class given by index or (case-insensitive) name; None keeps the seed's class."""
        if label is None:
            return None
        info = self.info
        if not info.num_classes:
            raise UsageError(f"--class given, but {info.name or 'this model'} is not class-conditional")
        text = str(label).strip()
        if text.isdigit() and int(text) < info.num_classes:
            return int(text)
        lowered = [c.lower() for c in info.class_names]
        if text.lower() in lowered:
            return lowered.index(text.lower())
        listing = ", ".join(f"{i}={c}" for i, c in enumerate(info.class_names))
        raise UsageError(f"unknown class '{text}'", f"classes: {listing}")

    def inputs(self, seeds: Sequence[int], class_index: int | None = None) -> SeedInputs:
        shapes = self.model.noise_shapes() if self.noise == "seed" else ()
        drawn = seed_inputs(seeds, self.info.latent_dim, self.info.num_classes, shapes)
        if drawn.classes is not None and class_index is not None:
            drawn.classes.fill_(class_index)
        return drawn

    def one_hot(self, classes: Tensor | None) -> Tensor | None:
        import torch.nn.functional as F

        return None if classes is None else F.one_hot(classes, self.info.num_classes).float()

    # -- generation

    def images(self, seeds: Sequence[int], psi: float = 1.0, class_index: int | None = None,
               on_batch: Callable[[int], None] | None = None) -> Tensor:  # fmt: skip
        """One image per seed."""
        drawn = self.inputs(list(seeds), class_index)
        return self.render(drawn.z, self.one_hot(drawn.classes), drawn.noise, psi, on_batch)

    def render(self, z: Tensor, labels: Tensor | None, noise: list[Tensor] | None, psi: float = 1.0,
               on_batch: Callable[[int], None] | None = None) -> Tensor:  # fmt: skip
        """Images for given inputs (CPU tensors), in batches of ``batch_size``."""
        import torch

        out = []
        for start in range(0, len(z), self.batch_size):
            part = slice(start, start + self.batch_size)
            args = (self._dev(z[part]), self._dev(labels, part), psi, self._mode(noise), self._dev_list(noise, part))
            out.append(self._run(lambda args=args: self.model(*args)))
            if on_batch:
                on_batch(len(out[-1]))
        return torch.cat(out) if out else torch.empty(0, self.info.channels, self.info.image_size, self.info.image_size)

    def mix(self, seed_a: int, seed_b: int, layer: int, psi: float = 1.0, class_index: int | None = None) -> Tensor:
        """(3, C, H, W): seed A, seed B, and A's styles for layers < ``layer`` with B's from ``layer`` on."""
        import torch

        info = self.info
        if not info.style_based:
            raise UsageError(f"--style-mix needs a style-based model; {info.name or 'this one'} is {info.kind}")
        if not 0 <= layer <= info.num_ws:
            raise UsageError(f"--mix-layer must be between 0 and {info.num_ws} for this model, not {layer}")
        drawn = self.inputs([seed_a, seed_b], class_index)
        labels, noise = self._dev(self.one_hot(drawn.classes)), self._dev_list(drawn.noise, slice(0, 1))

        def run() -> Tensor:
            ws = self.model.styles(self._dev(drawn.z), labels, psi)  # (2, num_ws, w_dim)
            mixed = torch.cat([ws[:1, :layer], ws[1:, layer:]], dim=1)
            plain = self.model.synthesis(ws, self._mode(drawn.noise), self._dev_list(drawn.noise, slice(0, 2)))
            return torch.cat([plain, self.model.synthesis(mixed, self._mode(drawn.noise), noise)])

        return self._run(run)

    def interpolate(self, seeds: Sequence[int], steps: int, psi: float = 1.0, class_index: int | None = None) -> Tensor:
        """Frames from each seed to the next: ``steps`` per pair, plus the last seed: (n, C, H, W)."""
        import torch

        if len(seeds) < 2 or steps < 1:
            raise UsageError("--interpolate needs at least two seeds and one step")
        drawn = self.inputs(list(seeds), class_index)
        labels = self.one_hot(drawn.classes)
        zs, ls, ns = [], [], []
        for k in range(len(seeds) - 1):
            for step in range(steps + (1 if k == len(seeds) - 2 else 0)):
                t = step / steps
                zs.append(slerp(drawn.z[k], drawn.z[k + 1], t))
                if labels is not None:
                    ls.append(torch.lerp(labels[k], labels[k + 1], t) if 0 < t < 1 else labels[k + int(t)])
                if drawn.noise is not None:
                    ns.append([_lerp_exact(n[k], n[k + 1], t) for n in drawn.noise])
        noise = [torch.stack([frame[i] for frame in ns]) for i in range(len(drawn.noise))] if ns else None
        return self.render(torch.stack(zs), torch.stack(ls) if ls else None, noise, psi)

    # -- helpers

    def _mode(self, noise: list[Tensor] | None) -> str:
        return "given" if noise is not None else ("none" if self.noise == "none" else "const")

    def _dev(self, t: Tensor | None, part: slice | None = None) -> Tensor | None:
        if t is None:
            return None
        return (t[part] if part is not None else t).to(self.device)

    def _dev_list(self, ts: list[Tensor] | None, part: slice) -> list[Tensor] | None:
        return None if ts is None else [t[part].to(self.device) for t in ts]

    def _run(self, fn: Callable[[], Tensor]) -> Tensor:
        import torch

        from stylize.devices import autocast

        with torch.inference_mode(), autocast(self.device, self.precision):
            out = fn()
        return out.float().clamp(-1.0, 1.0).add(1.0).mul(0.5).cpu()  # [-1, 1] -> [0, 1]


def _lerp_exact(a: Tensor, b: Tensor, t: float) -> Tensor:
    return a if t <= 0 else b if t >= 1 else a + (b - a) * t


# ---------------------------------------------------------------- writing


def to_image(t: Tensor) -> Image.Image:
    """(C, H, W) in [0, 1] -> a PIL image: mode L for one channel, RGB for three (rounded)."""
    from PIL import Image

    arr = t.detach().float().clamp(0, 1).mul(255).round().to("cpu").byte()
    if arr.shape[0] == 1:
        return Image.fromarray(arr[0].numpy(), mode="L")
    return Image.fromarray(arr.permute(1, 2, 0).contiguous().numpy(), mode="RGB")


def grid_image(batch: Tensor, nrow: int = 0, padding: int = 2) -> Image.Image:
    """A contact sheet of (N, C, H, W) images, ``nrow`` per row (0: about sqrt(N))."""
    from stylize.plot import image_grid

    columns = nrow or max(1, math.ceil(math.sqrt(len(batch))))
    grid = image_grid([to_image(t) for t in batch], columns=columns, padding=padding)
    return grid.convert("L") if batch.shape[1] == 1 else grid


def write_grid(batch: Tensor, path: str | os.PathLike[str], nrow: int = 0) -> Path:
    """Write a contact sheet atomically (over an existing file)."""
    from stylize.images import save_image

    return save_image(grid_image(batch, nrow), path, overwrite=True)


def write_images(batch: Tensor, paths: Sequence[Path], overwrite: bool = True) -> list[Path]:
    """One file per image, each written atomically."""
    from stylize.images import save_image

    return [save_image(to_image(t), p, overwrite=overwrite) for t, p in zip(batch, paths)]


def write_animation(frames: Tensor, path: str | os.PathLike[str], fps: int = 12) -> Path:
    """An endlessly looping GIF or (lossless) WebP of the frames, written atomically."""
    path = Path(path)
    pictures = [to_image(t) for t in frames]
    fmt = {".gif": "GIF", ".webp": "WEBP"}.get(path.suffix.lower())
    if fmt is None:
        raise UsageError(f"{path}: animations are written as .gif or .webp")
    extra: dict[str, Any] = {"lossless": True} if fmt == "WEBP" else {"disposal": 1}
    with atomic_path(path) as tmp:
        pictures[0].save(tmp, format=fmt, save_all=True, append_images=pictures[1:], duration=round(1000 / fps),
                         loop=0, **extra)  # fmt: skip
    return path


# ---------------------------------------------------------------- the gan-sample service

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")
ANIMATION_SUFFIXES = (".gif", ".webp")
DEFAULT_OUTPUT = Path("gan-samples")
TASK = "gan-sample"


@dataclass
class SampleResult:
    """What ``gan-sample`` wrote: the paths, in order (stdout prints them one per line)."""

    outputs: list[Path]
    seeds: list[int]
    model: dict[str, Any]
    images: int
    elapsed_s: float
    device: str

    def as_json(self) -> dict[str, Any]:
        rate = self.images / self.elapsed_s if self.elapsed_s > 0 else 0.0
        return {"outputs": [str(p) for p in self.outputs], "seeds": self.seeds, "model": self.model,
                "images": self.images, "elapsed_s": round(self.elapsed_s, 3), "images_per_s": round(rate, 1),
                "device": self.device}  # fmt: skip


def sample(config: Any, output: str | os.PathLike[str] | None = None, device: str | None = None,
           reporter: Reporter | None = None, on_written: Callable[[Path], None] | None = None) -> SampleResult:  # fmt: skip
    """Run ``stylize gan-sample``: per-seed files, a grid, a style mix, or an interpolation.

    ``on_written`` hears of each per-seed file as soon as it is on disk (the CLI prints it then, so
    an interrupted run has still listed what it wrote)."""
    import time

    from stylize.devices import resolve_device

    reporter = reporter or NullReporter()
    out = Path(output) if output else DEFAULT_OUTPUT
    _check_output_kind(config, out)
    torch_device = resolve_device(device)
    sampler = Sampler(load_generator(config.model, reporter), torch_device, config.precision, config.batch_size,
                      config.noise)  # fmt: skip
    class_index = sampler.class_index(config.class_label)
    _check_grid_size(config, sampler)
    start = time.perf_counter()
    if config.style_mix:
        paths, count = _run_mix(sampler, config, out, class_index), 1
    elif config.interpolate:
        paths, count = _run_interpolation(sampler, config, out, class_index)
    else:
        paths, count = _run_seeds(sampler, config, out, class_index, reporter, on_written)
    seeds = list(config.style_mix or config.seed_list)
    return SampleResult(paths, seeds, sampler.info.as_dict(), count, time.perf_counter() - start, str(torch_device))


MAX_GRID_PIXELS = 100_000_000  # a contact sheet is built in memory: --grid -n 1000000 would take gigabytes


def _check_grid_size(config: Any, sampler: Sampler) -> None:
    size = sampler.info.image_size
    if config.grid and len(config.seed_list) * size * size > MAX_GRID_PIXELS:
        most = MAX_GRID_PIXELS // (size * size)
        raise UsageError(f"--grid of {len(config.seed_list):,} images of {size}x{size} px is too large",
                         f"at most {most:,} images per grid; write them as files (no --grid)")  # fmt: skip


def _is_file(out: Path) -> bool:
    return out.suffix.lower() in IMAGE_SUFFIXES + ANIMATION_SUFFIXES


def _check_output_kind(config: Any, out: Path) -> None:
    if unknown_file_suffix(out, IMAGE_SUFFIXES + ANIMATION_SUFFIXES):
        raise UsageError(f"-o {out}: '{out.suffix}' is not a format gan-sample writes",
                         "give a folder, an image (.png, .jpg, .webp) or an animation (.gif, .webp)")  # fmt: skip
    if not _is_file(out):
        return
    suffix = out.suffix.lower()
    if config.interpolate and suffix not in ANIMATION_SUFFIXES:
        raise UsageError(f"-o {out}: an interpolation is written as a .gif or .webp animation (or give a folder)")
    if not config.interpolate and suffix == ".gif":
        raise UsageError(f"-o {out}: still images are written as .png, .jpg, .webp, .bmp or .tif")
    several = not config.grid and not config.style_mix and not config.interpolate and len(config.seed_list) > 1
    if several:
        raise UsageError(f"-o {out} names one file, but {len(config.seed_list)} images would be written",
                         "give a folder, or add --grid for one contact sheet")  # fmt: skip


def _tag(config: Any, class_index: int | None) -> str:
    """Suffix for settings that change the image: truncation, a forced class."""
    tag = f"-psi{config.truncation:g}" if config.truncation != 1.0 else ""
    return tag + (f"-class{class_index}" if class_index is not None else "")


def _seed_range(seeds: Sequence[int]) -> str:
    consecutive = list(seeds) == list(range(seeds[0], seeds[0] + len(seeds)))
    if len(seeds) == 1:
        return f"seed{seeds[0]:04d}"
    if consecutive:
        return f"seeds{seeds[0]:04d}-{seeds[-1]:04d}"
    return f"seeds{seeds[0]:04d}-and-{len(seeds) - 1}-more"


def _run_seeds(sampler: Sampler, config: Any, out: Path, class_index: int | None, reporter: Reporter,
               on_written: Callable[[Path], None] | None = None) -> tuple[list[Path], int]:  # fmt: skip
    seeds, tag = list(config.seed_list), _tag(config, class_index)
    if not config.grid:
        seeds = list(dict.fromkeys(seeds))  # one file per seed: a repeated seed is the same file
    reporter.start(TASK, total=len(seeds), unit="img", transient=True)
    try:
        if config.grid:
            batch = sampler.images(seeds, config.truncation, class_index, lambda n: reporter.advance(TASK, n))
            path = out if _is_file(out) else out / f"grid-{_seed_range(seeds)}{tag}.png"
            return [write_grid(batch, path, config.nrow)], len(seeds)
        return _write_in_chunks(sampler, config, seeds, out, tag, class_index, reporter, on_written), len(seeds)
    finally:
        reporter.finish(TASK)


def _write_in_chunks(sampler: Sampler, config: Any, seeds: list[int], out: Path, tag: str, class_index: int | None,
                     reporter: Reporter, on_written: Callable[[Path], None] | None = None) -> list[Path]:  # fmt: skip
    """Generate and write one batch at a time, so memory stays flat for any number of seeds."""
    paths: list[Path] = []
    for start in range(0, len(seeds), sampler.batch_size):
        chunk = seeds[start : start + sampler.batch_size]
        batch = sampler.images(chunk, config.truncation, class_index)
        targets = [out] if _is_file(out) else [out / f"seed{s:04d}{tag}.png" for s in chunk]
        written = write_images(batch, targets, overwrite=config.overwrite)
        paths += written
        for path in written if on_written else ():
            on_written(path)  # type: ignore[misc]
        reporter.advance(TASK, len(chunk))
    return paths


def _run_mix(sampler: Sampler, config: Any, out: Path, class_index: int | None) -> list[Path]:
    a, b = config.style_mix
    trio = sampler.mix(a, b, config.mix_layer, config.truncation, class_index)  # (3, C, H, W): A, B, mixed
    name = f"mix-seed{a:04d}-seed{b:04d}-layer{config.mix_layer}{_tag(config, class_index)}.png"
    path = out if _is_file(out) else out / name
    if config.grid:
        return [write_grid(trio, path, 3)]
    return write_images(trio[2:], [path], overwrite=config.overwrite)


def _run_interpolation(sampler: Sampler, config: Any, out: Path,
                       class_index: int | None) -> tuple[list[Path], int]:  # fmt: skip
    seeds = list(config.seed_list)
    frames = sampler.interpolate(seeds, config.interpolate, config.truncation, class_index)
    if _is_file(out):
        animation, folder = out, out.with_name(out.stem + "-frames")
    else:
        stem = f"interp-{'-'.join(f'{s:04d}' for s in seeds[:4])}{'-etc' if len(seeds) > 4 else ''}"
        stem += _tag(config, class_index)
        animation, folder = out / f"{stem}.{config.animation}", out / stem
    paths = write_images(frames, [folder / f"frame-{i:04d}.png" for i in range(len(frames))], config.overwrite)
    return [*paths, write_animation(frames, animation, config.fps)], len(frames)

"""A GAN generator behind one interface, and loading one: ours (safetensors) and pytorch_GAN_zoo's
DCGAN and PGAN (.pth).

Model files never unpickle code: ours are safetensors; published ``.pth`` files load with
``torch.load(weights_only=True)`` (``checkpoints.load_zoo_checkpoint``); StyleGAN2-ADA ``.pkl``
files are refused.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from stylize import weights
from stylize.bundled import shipped_dir
from stylize.checkpoints import PICKLE_SUFFIXES, load_tensors, load_zoo_checkpoint
from stylize.config import DEFAULT_MODEL, GeneratorConfig
from stylize.errors import UsageError, WeightsError
from stylize.models.generator import ZooDCGANGenerator, ZooPGANGenerator, build_generator
from stylize.progress import NullReporter, Reporter

BUNDLED = {DEFAULT_MODEL: "gan-fashion-mnist.safetensors"}  # shipped in weights/ at the repository root
OUR_ARCHITECTURES = ("gan-dcgan", "gan-style")


def weights_dir() -> Path:
    """Where shipped models live: ``stylize/_bundled/`` when packaged as package data (wheels),
    else ``weights/`` at the repository root (editable installs, source checkouts)."""
    return shipped_dir()


def bundled_path(name: str) -> Path:
    path = weights_dir() / BUNDLED[name]
    if not path.is_file():
        raise WeightsError(
            f"the shipped model '{name}' is missing ({path})",
            "reinstall stylize from the repository, or pass a model file",
        )
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
            "name": self.name,
            "kind": self.kind,
            "latent_dim": self.latent_dim,
            "image_size": self.image_size,
            "channels": self.channels,
            "num_classes": self.num_classes,
            "classes": list(self.class_names),
            "style_layers": self.num_ws,
            **{k: self.meta[k] for k in keep if k in self.meta},
        }


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

    def __call__(
        self, z: Tensor, labels: Tensor | None, psi: float, noise_mode: str, noise: list[Tensor] | None
    ) -> Tensor:
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
    start = z.shape[1] - sum(blocks)
    parts = [z[:, :start]]
    for size in blocks:
        parts.append(F.one_hot(z[:, start : start + size].argmax(1), size).to(z.dtype))
        start += size
    return torch.cat(parts, dim=1)


def OurGenerator(
    module: nn.Module, gen: GeneratorConfig, meta: dict[str, Any] | None = None, name: str = ""
) -> Generator:
    """Wrap one of our generator modules (DCGANGenerator or StyleGenerator)."""
    meta = meta or {}
    classes = tuple(meta.get("classes") or (str(i) for i in range(gen.num_classes)))
    info = ModelInfo(
        name=name,
        kind=f"gan-{gen.architecture}",
        latent_dim=gen.latent_dim,
        image_size=gen.image_size,
        channels=gen.channels,
        num_classes=gen.num_classes,
        class_names=classes,
        num_ws=getattr(module, "num_ws", 0),
        meta=meta,
    )
    return Generator(module, info)


# ---------------------------------------------------------------- loading


def load_generator(model: str | os.PathLike[str] = DEFAULT_MODEL, reporter: Reporter | None = None) -> Generator:
    """Our safetensors checkpoint, a pytorch_GAN_zoo ``.pth``, a registry name or the shipped name."""
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
    tensors, meta = load_tensors(path)
    arch = meta.get("architecture")
    if arch not in OUR_ARCHITECTURES or "generator" not in meta:
        raise WeightsError(
            f"{path}: not a stylize GAN generator (architecture: {arch or 'none recorded'})",
            "train one with 'stylize train-gan'",
        )
    try:
        gen = GeneratorConfig(**meta["generator"])
    except (TypeError, ValueError, UsageError) as exc:
        raise WeightsError(f"{path}: generator settings not understood ({exc})") from exc
    with torch.device("meta"):  # shaped, not initialised: metadata claiming width 1e6 allocates nothing
        module = build_generator(gen)
    _load_strict(module, tensors, path)
    _check_classes(meta.get("classes"), gen.num_classes, path)
    return OurGenerator(module, gen, meta, name)


def _check_classes(classes: object, count: int, path: Path) -> None:
    """The recorded class names (``--class`` by name): none, or one name per class."""
    if not classes:
        return
    if not (isinstance(classes, list) and len(classes) == count and all(isinstance(c, str) for c in classes)):
        raise WeightsError(
            f"{path}: its metadata's classes are not {count} names: {classes!r:.60}",
            "the file is damaged or was edited: train it again",
        )


def _load_strict(module: nn.Module, state: dict[str, Any], path: Path) -> None:
    """Check ``state`` against the meta-device ``module``'s layout, then give it the file's tensors."""
    own = module.state_dict()
    expected = {k: tuple(v.shape) for k, v in own.items()}
    found = {k: tuple(v.shape) for k, v in state.items() if hasattr(v, "shape")}
    missing, unexpected = sorted(set(expected) - set(found)), sorted(set(found) - set(expected))
    wrong = sorted(k for k in set(expected) & set(found) if expected[k] != found[k])
    if missing or unexpected or wrong:
        first = (missing or unexpected or wrong)[0]
        raise WeightsError(
            f"{path}: wrong layout ({len(missing)} missing, {len(unexpected)} unexpected, "
            f"{len(wrong)} mis-shaped tensors; first: {first})"
        )
    # the module's dtypes, as loading by copy gave: a float16 file still runs in float32
    module.load_state_dict({k: v.to(own[k].dtype).contiguous() for k, v in state.items()}, strict=True, assign=True)
    if any(t.is_meta for t in (*module.parameters(), *module.buffers())):
        raise WeightsError(f"{path}: some tensors of the generator are not in the file")


def _load_zoo(path: Path, name: str) -> Generator:
    checkpoint = load_zoo_checkpoint(path)
    config = checkpoint.get("config") or {}
    state = checkpoint.get("avgG") or checkpoint.get("netG") or checkpoint  # the averaged G when present
    state = {k: v for k, v in state.items() if hasattr(v, "shape")}
    try:
        with torch.device("meta"):  # shaped, not initialised: _load_strict gives it the file's tensors
            module, kind, state = _zoo_module(state, config, path)
    except (KeyError, IndexError, ValueError, RuntimeError) as exc:
        raise WeightsError(f"{path}: wrong pytorch_GAN_zoo layout (missing or mis-shaped {exc})") from exc
    _load_strict(module, state, path)
    channels, size, _ = module.output_shape
    info = ModelInfo(
        name,
        kind,
        module.latent_dim,
        size,
        channels,
        meta={"config": _jsonable(config)},
        category_blocks=zoo_category_blocks(config, module.latent_dim),
    )
    return Generator(module, info)


def _zoo_module(state: dict[str, Any], config: dict[str, Any], path: Path) -> tuple[nn.Module, str, dict[str, Any]]:
    """The zoo generator whose shapes match ``state``, its kind, and ``state`` in its key layout."""
    if "formatLayer.weight" in state and state["formatLayer.weight"].dim() == 4:
        return zoo_dcgan_from_state(state, config), "gan-zoo-dcgan", state
    if "formatLayer.module.weight" in state or "formatLayer.weight" in state:
        state = _with_module_keys(state)
        return zoo_pgan_from_state(state, config), "gan-zoo-pgan", state
    raise WeightsError(
        f"{path}: not a pytorch_GAN_zoo DCGAN or PGAN generator (no formatLayer)",
        "gan-sample loads stylize checkpoints (.safetensors) and pytorch_GAN_zoo .pth files",
    )


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


def _with_module_keys(state: dict[str, Any]) -> dict[str, Any]:
    """Older zoo files drop the ``.module`` of equalised layers; put it back."""
    if any(".module." in k for k in state):
        return state
    return {k.rsplit(".", 1)[0] + ".module." + k.rsplit(".", 1)[1]: v for k, v in state.items()}


def zoo_dcgan_from_state(state: dict[str, Any], config: dict[str, Any]) -> nn.Module:
    """Build the zoo DCGAN generator whose shapes match ``state``."""
    latent, top = state["formatLayer.weight"].shape[:2]
    depth = sum(1 for k in state if k.startswith("main.convTranspose"))
    width, channels = state["main.outlayer.weight"].shape[:2]
    if top != width * 2**depth:
        raise WeightsError(f"DCGAN layout: formatLayer has {top} channels, expected {width * 2**depth}")
    tanh = str(config.get("lossMode", "DCGAN")).upper() != "WGANGP"
    return ZooDCGANGenerator(int(latent), int(channels), int(width), depth, tanh=tanh)


def zoo_pgan_from_state(state: dict[str, Any], config: dict[str, Any]) -> nn.Module:
    """Build the zoo PGAN generator (final scale) whose shapes match ``state``."""
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

"""Stylize pictures in memory: ``stylize.adain(content, style) -> PIL.Image`` and friends.

Inputs are PIL images, paths, or arrays (H, W, 3) of uint8, uint16, or floats in [0, 1] (README). Options are the
fields of the command's config (``AdaINConfig``, ``FastConfig``, ``OptimizeConfig``), validated
the same way as on the command line. A :class:`Stylizer` keeps every network it loaded, so a loop
over thousands of pictures loads each model once; the module-level functions share one.

    import stylize
    out = stylize.fast("photo.jpg", "great-wave")                 # shipped model, offline
    out = stylize.optimize(photo, "style.jpg", size=320)           # the bundled VGG-19
    s = stylize.Stylizer()                                          # a GPU if there is one, else the CPU
    frames = [s.adain(f, "style.jpg", alpha=0.8) for f in frames]  # the decoder loads once
"""

from __future__ import annotations

import importlib
import os
import warnings
from collections.abc import Callable, Hashable, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import torch
from PIL import Image

from stylize import images
from stylize.api import METHODS
from stylize.backends.stylizer import MethodBackend
from stylize.config import MAX_SEED, AdaINConfig, FastConfig, GANSampleConfig, OptimizeConfig
from stylize.devices import resolve_device
from stylize.errors import UsageError
from stylize.progress import NullReporter

Picture = Image.Image | str | os.PathLike[str] | Any  # PIL image, path, or numpy array
ARRAY_HINT = "pass a PIL image, a path, or an array (H, W, 3) of uint8, uint16 or floats in [0, 1]"
FLOAT_SLACK = 1 / 512  # floats this far outside [0, 1] are rounding (clipped); further out is a mistake


def to_rgb(picture: Picture) -> Image.Image:
    """Any accepted input as an RGB PIL image, decoded as the CLI decodes a file: a PIL image goes
    through the same conversion as its own path (EXIF orientation, ICC profile, 16 bit, alpha dropped)."""
    if picture is None:
        raise UsageError("no picture given (None)", ARRAY_HINT)
    if isinstance(picture, Image.Image):
        return images.from_pil(picture).rgb
    if isinstance(picture, (str, os.PathLike)):
        return images.open_image(picture).rgb
    return _from_array(picture)


def _from_array(array: Any) -> Image.Image:
    """(H, W, 3) or (H, W, 4) (alpha dropped) of uint8 (0..255), uint16 (0..65535, as a 16-bit file is
    read), other integers within 0..255, or floats within [0, 1]; anything else is a UsageError."""
    a = np.asarray(array)
    if a.ndim != 3 or a.shape[2] not in (3, 4) or a.size == 0:
        raise UsageError(f"an array of shape {a.shape} is not a picture", ARRAY_HINT)
    return Image.fromarray(np.ascontiguousarray(_as_uint8(a[..., :3])), "RGB")


def _as_uint8(a: np.ndarray) -> np.ndarray:
    if a.dtype == np.uint8:
        return a
    if a.dtype == np.uint16:  # 16-bit samples, reduced as a 16-bit file is
        return (a.astype(np.float64) / 257.0 + 0.5).astype(np.uint8)
    if np.issubdtype(a.dtype, np.integer) and not np.issubdtype(a.dtype, np.bool_):
        if a.min() < 0 or a.max() > 255:
            raise UsageError(f"{a.dtype} pixels from {a.min()} to {a.max()}: integers must be 0..255", ARRAY_HINT)
        return a.astype(np.uint8)
    if not np.issubdtype(a.dtype, np.floating):
        raise UsageError(f"an array of {a.dtype} is not a picture", ARRAY_HINT)
    if not np.isfinite(a).all():
        raise UsageError("the picture array holds NaN or infinite values", ARRAY_HINT)
    low, high = float(a.min()), float(a.max())
    if low < -FLOAT_SLACK or high > 1 + FLOAT_SLACK:
        hint = "divide by 255 first" if high <= 255 + FLOAT_SLACK and low >= -FLOAT_SLACK else ARRAY_HINT
        raise UsageError(f"float pixels from {low:g} to {high:g}: floats must be in [0, 1]", hint)
    return (np.clip(a.astype(np.float32), 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


class Stylizer:
    """One device and the networks loaded on it, reused across calls."""

    def __init__(self, device: str | None = None) -> None:
        self.device = resolve_device(device)
        self._models: dict[Hashable, Any] = {}

    def _cached(self, key: Hashable, make: Callable[[], Any]) -> Any:
        if key not in self._models:
            self._models[key] = make()
        return self._models[key]

    def adain(self, content: Picture, style: Picture | Sequence[Picture], **options: Any) -> Image.Image:
        """AdaIN (Huang & Belongie): options are ``AdaINConfig`` fields (alpha, size, color, ...).
        Several styles are blended (equal weights unless ``blend`` says otherwise)."""
        adain = _method("adain")
        styles = _as_list(style)
        _renamed(options)
        if len(styles) > 1 and not options.get("blend") and not options.get("masks"):
            options["blend"] = tuple(1.0 / len(styles) for _ in styles)
        config = AdaINConfig(**options)
        key = ("adain", config.encoder, config.decoder, config.precision, config.transform)
        paths, decoded = _given_styles(styles)
        run = adain.plan(config, paths)
        method = adain.build(config, run, self.device, images.DEFAULT_MAX_PIXELS, NullReporter(), decoded)
        method.model = self._cached(key, method.make_model)  # the network outlives the call
        return _run(method, content, "style0")

    def fast(self, content: Picture, model: str = "", **options: Any) -> Image.Image:
        """A fast-style network (a registry name, a local model name or a file); options are
        ``FastConfig`` fields (size, upscale, color, tile, precision)."""
        fast = _method("fast")
        name = model or fast.DEFAULT_MODEL
        config = FastConfig(models=(name,), **options)
        run = fast.plan(config, {})
        method = fast.build(config, run, self.device, images.DEFAULT_MAX_PIXELS, NullReporter(), {})
        (tag,) = run.tags
        key = ("fast", name, config.precision, config.channels_last)
        method.models[tag] = self._cached(key, lambda: _loaded(method, tag))
        return _run(method, content, tag)

    def optimize(self, content: Picture, style: Picture | Sequence[Picture], **options: Any) -> Image.Image:
        """Gatys et al. optimisation; options are ``OptimizeConfig`` fields (size, iterations,
        style_weight, ...). Several styles are blended by ``blend`` (equal by default)."""
        optimize = _method("optimize")
        styles = _as_list(style)
        _renamed(options)
        if len(styles) > 1 and not options.get("blend"):
            options["blend"] = tuple(1.0 for _ in styles)
        config = OptimizeConfig(**options)
        layers = (*config.content_layers, *config.style_layers)
        key = ("optimize", config.vgg, layers, config.pooling, config.precision, config)
        paths, decoded = _given_styles(styles)
        run = optimize.plan(config, paths)
        method = optimize.build(config, run, self.device, images.DEFAULT_MAX_PIXELS, NullReporter(), decoded)
        method.model = self._cached(key, method.make_model)  # the network outlives the call
        return _run(method, content, run.tags[0])

    def gan_sample(
        self,
        seeds: int | Sequence[int] = 16,
        model: str = "fashion-mnist",
        truncation: float = 1.0,
        class_label: str | int | None = None,
    ) -> list[Image.Image]:
        """One picture per seed (``seeds=N`` means seeds 0..N-1), from a GAN generator."""
        from stylize.backends.gan import Sampler, load_generator  # lazy: a call loads only its own backend

        seed_list = list(range(seeds)) if isinstance(seeds, int) else list(seeds)
        GANSampleConfig(model=model, truncation=truncation, seeds=_checked_seeds(seed_list))  # the CLI's checks
        sampler = self._cached(("gan", model), lambda: Sampler(load_generator(model), self.device))
        batch = sampler.images(seed_list, truncation, sampler.class_index(class_label))  # (N, C, H, W) in [0, 1]
        return [_to_image(x) for x in batch]


def _method(name: str) -> ModuleType:
    """The package of method ``name``, imported on its first call: a call loads only its own method,
    by the registry ``api.stylize`` uses (``api.METHODS``)."""
    return importlib.import_module(METHODS[name])


def _renamed(options: dict[str, Any]) -> None:
    """``style_weights=`` is the old name of ``blend=`` (still accepted, with a DeprecationWarning)."""
    if "style_weights" in options:
        warnings.warn("style_weights= is now blend=", DeprecationWarning, stacklevel=3)
        if "blend" in options:
            raise UsageError("style_weights= is the old name of blend=: give one of them")
        options["blend"] = options.pop("style_weights")


def _as_list(style: Picture | Sequence[Picture]) -> list[Picture]:
    styles = list(style) if isinstance(style, (list, tuple)) else [style]
    if not styles or style is None:
        raise UsageError("no style picture given", "pass a style: a PIL image, a path or an array, or a list of them")
    return styles


def _checked_seeds(seeds: list[int]) -> tuple[int, ...]:
    if not seeds:
        raise UsageError("no seeds given", "seeds=N samples seeds 0..N-1, or pass a list of seeds")
    if not all(isinstance(s, (int, np.integer)) and 0 <= s <= MAX_SEED for s in seeds):
        raise UsageError(f"seeds must be whole numbers from 0 to {MAX_SEED}", "e.g. seeds=[0, 1, 42]")
    return tuple(int(s) for s in seeds)


def _given_styles(styles: Sequence[Picture]) -> tuple[dict[str, Path], dict[Path, Image.Image]]:
    """Style tags -> stand-in paths, and the decoded pictures under those paths (the method reads
    its styles through them; nothing is opened again)."""
    paths = {f"style{i}": Path(f"<style {i}>") for i in range(len(styles))}
    return paths, {path: to_rgb(style) for path, style in zip(paths.values(), styles)}


def _loaded(method: Any, tag: str) -> Any:
    """The network of fast model ``tag``, loaded by the method (cached by the Stylizer)."""
    method.load([tag])
    return method.models[tag]


def _run(method: Any, content: Picture, tag: str) -> Image.Image:
    """One picture through ``method`` by the same adapter the batch and video runs use."""
    return images.to_pil(MethodBackend(method).one(images.Picture(to_rgb(content)), tag))


def _to_image(x: torch.Tensor) -> Image.Image:
    if x.shape[0] == 1:
        return Image.fromarray((x[0].clamp(0, 1) * 255 + 0.5).to(torch.uint8).numpy(), "L")
    return images.to_pil(x)


_shared: Stylizer | None = None


def shared() -> Stylizer:
    """The Stylizer behind the module-level functions (default device), made on first use."""
    global _shared
    if _shared is None:
        _shared = Stylizer()
    return _shared


def adain(content: Picture, style: Picture | Sequence[Picture], **options: Any) -> Image.Image:
    """:meth:`Stylizer.adain` on the shared Stylizer."""
    return shared().adain(content, style, **options)


def fast(content: Picture, model: str = "", **options: Any) -> Image.Image:
    """:meth:`Stylizer.fast` on the shared Stylizer."""
    return shared().fast(content, model, **options)


def optimize(content: Picture, style: Picture | Sequence[Picture], **options: Any) -> Image.Image:
    """:meth:`Stylizer.optimize` on the shared Stylizer."""
    return shared().optimize(content, style, **options)


def gan_sample(seeds: int | Sequence[int] = 16, **options: Any) -> list[Image.Image]:
    """:meth:`Stylizer.gan_sample` on the shared Stylizer."""
    return shared().gan_sample(seeds, **options)

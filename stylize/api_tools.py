"""The doors of the commands that run no batch: ``info``, ``weights``, ``fast --list`` and
``--export-onnx``, and ``gan-sample``.

Part of :mod:`stylize.api`, which re-exports every name here (api.py would pass ~400 lines with
them); callers import them from there. Like the rest of the api, nothing here imports torch until
a function runs, so the CLI's ``--help`` stays light.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from stylize import weights
from stylize._version import __version__
from stylize.progress import Reporter

if TYPE_CHECKING:
    from stylize.backends.fast.zoo import ModelEntry
    from stylize.backends.gan.service import SampleResult
    from stylize.config import GANSampleConfig


def info(device: str | None = None) -> dict[str, object]:
    """``stylize info``: versions, the device ``device`` resolves to (a bad one raises), the caches."""
    import torch

    from stylize.devices import resolve_device

    chosen = resolve_device(device)
    return {
        "stylize": __version__,
        "torch": torch.__version__,
        "device": str(chosen),
        "cuda_devices": torch.cuda.device_count(),
        "cpu_threads": torch.get_num_threads(),
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


# ---------------------------------------------------------------- fast models, GAN samples


def fast_models() -> list[ModelEntry]:
    """``fast --list``: the registry's fast-style models (bundled first), then the local ones."""
    from stylize.backends.fast import list_models

    return list_models()


def fast_models_dir() -> Path:
    """Where local fast-style models live (``train-fast`` saves there; ``--model NAME`` looks there)."""
    from stylize.backends.fast import models_dir

    return models_dir()


def export_onnx(model: str, path: Path, reporter: Reporter | None = None) -> Path:
    """``fast --export-onnx``: write the fast-style ``model`` as ONNX at ``path``."""
    from stylize.backends.fast import export_onnx as export

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
    from stylize.backends.gan import sample

    return sample(config, output, device, reporter, on_written)

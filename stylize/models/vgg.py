"""VGG-19 feature extractors in the two published state-dict layouts.

``NormalisedVGG19`` is the flat 53-module ``nn.Sequential`` of ``vgg_normalised.pth`` (Gatys'
normalised VGG-19 as converted for AdaIN): keys ``N.weight/bias``, a 1x1 colour conv first,
reflection padding before each 3x3 conv, ceil-mode pooling. Feed RGB in [0, 1].

``TorchvisionVGG19Features`` holds torchvision's ``features.N.*`` (zero-padded convs) and
normalises RGB in [0, 1] with the ImageNet mean/std itself.

Both use in-place ReLUs. A ReLU only ever overwrites the conv output right before it, so
``features`` returns ReLU/pool outputs as they are and, for a requested conv layer, runs the
following ReLU out of place instead of copying. Pure modules: no I/O, no printing.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from types import MappingProxyType
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

Pooling = Literal["max", "avg"]

# Output widths of the 3x3 convs, one tuple per block (pool between blocks).
VGG19_BLOCKS: tuple[tuple[int, ...], ...] = (
    (64, 64),
    (128, 128),
    (256, 256, 256, 256),
    (512, 512, 512, 512),
    (512, 512, 512, 512),
)
# torchvision's VGG-16 (Johnson et al.'s loss network): three convs in blocks 3-5.
VGG16_BLOCKS: tuple[tuple[int, ...], ...] = ((64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512, 512, 512))
IMAGENET_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
IMAGENET_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)


def _pool(pooling: Pooling, ceil_mode: bool) -> nn.Module:
    """Max pooling (published) or average pooling (Gatys et al. 2016 prefer it for synthesis)."""
    if pooling == "max":
        return nn.MaxPool2d(2, 2, ceil_mode=ceil_mode)
    if pooling == "avg":
        return nn.AvgPool2d(2, 2, ceil_mode=ceil_mode)
    raise ValueError(f"pooling must be 'max' or 'avg', not {pooling!r}")


def normalised_vgg19_modules(pooling: Pooling = "max") -> list[nn.Module]:
    """The 53 modules of ``vgg_normalised.pth`` in order."""
    modules: list[nn.Module] = [nn.Conv2d(3, 3, 1)]  # colour/mean preprocessing
    c_in = 3
    for block, widths in enumerate(VGG19_BLOCKS):
        if block:
            modules.append(_pool(pooling, ceil_mode=True))
        for width in widths:
            modules += [nn.ReflectionPad2d(1), nn.Conv2d(c_in, width, 3), nn.ReLU(inplace=True)]
            c_in = width
    return modules


def torchvision_vgg19_modules(pooling: Pooling = "max") -> list[nn.Module]:
    """The 37 modules of torchvision's ``vgg19().features`` in order."""
    return torchvision_vgg_modules(VGG19_BLOCKS, pooling)


def torchvision_vgg16_modules(pooling: Pooling = "max") -> list[nn.Module]:
    """The 31 modules of torchvision's ``vgg16().features`` in order."""
    return torchvision_vgg_modules(VGG16_BLOCKS, pooling)


def torchvision_vgg_modules(blocks: Sequence[Sequence[int]], pooling: Pooling = "max") -> list[nn.Module]:
    """torchvision's ``features`` for a VGG with these conv widths per block."""
    modules: list[nn.Module] = []
    c_in = 3
    for widths in blocks:
        for width in widths:
            modules += [nn.Conv2d(c_in, width, 3, padding=1), nn.ReLU(inplace=True)]
            c_in = width
        modules.append(_pool(pooling, ceil_mode=False))
    return modules


def layer_names(modules: Iterable[nn.Module]) -> dict[str, int]:
    """Map ``convB_I``, ``reluB_I`` and ``poolB`` to module indices (the 1x1 conv is unnamed)."""
    names: dict[str, int] = {}
    block, conv = 1, 0
    for index, module in enumerate(modules):
        if isinstance(module, nn.Conv2d) and module.kernel_size == (3, 3):
            conv += 1
            names[f"conv{block}_{conv}"] = index
        elif isinstance(module, nn.ReLU):
            names[f"relu{block}_{conv}"] = index
        elif isinstance(module, (nn.MaxPool2d, nn.AvgPool2d)):
            names[f"pool{block}"] = index
            block, conv = block + 1, 0
    return names


def _names_on_meta(factory: Callable[[], list[nn.Module]]) -> Mapping[str, int]:
    with torch.device("meta"):  # no weights allocated or initialised: keeps import fast
        return MappingProxyType(layer_names(factory()))


NORMALISED_VGG19_LAYERS: Mapping[str, int] = _names_on_meta(normalised_vgg19_modules)
TORCHVISION_VGG19_LAYERS: Mapping[str, int] = _names_on_meta(torchvision_vgg19_modules)
TORCHVISION_VGG16_LAYERS: Mapping[str, int] = _names_on_meta(torchvision_vgg16_modules)


def _indices(layers: Sequence[str], index: Mapping[str, int]) -> dict[int, list[str]]:
    """Group requested layer names by module index; unknown names raise ValueError."""
    if isinstance(layers, str):
        layers = [layers]
    wanted: dict[int, list[str]] = {}
    for name in layers:
        if name not in index:
            raise ValueError(f"unknown VGG layer {name!r}; known: {', '.join(index)}")
        wanted.setdefault(index[name], []).append(name)
    return wanted


def _is_inplace_relu(module: nn.Module) -> bool:
    return isinstance(module, nn.ReLU) and module.inplace


def collect(modules: Sequence[nn.Module], x: Tensor, wanted: Mapping[int, list[str]]) -> dict[str, Tensor]:
    """Run ``modules`` up to the deepest wanted index, keeping the wanted outputs."""
    out: dict[str, Tensor] = {}
    if not wanted:
        return out
    for index in range(max(wanted) + 1):
        module = modules[index]
        if index - 1 in wanted and _is_inplace_relu(module):
            x = F.relu(x)  # keep the requested conv output intact
        else:
            x = module(x)
        for name in wanted.get(index, ()):
            out[name] = x
    return out


class NormalisedVGG19(nn.Sequential):
    """``vgg_normalised.pth`` as one flat ``nn.Sequential`` (keys ``0.weight`` … ``51.bias``).

    Input: RGB in [0, 1], shape (B, 3, H, W); module 0 does the colour/mean preprocessing.
    """

    layer_index: Mapping[str, int] = NORMALISED_VGG19_LAYERS

    def __init__(self, pooling: Pooling = "max") -> None:
        super().__init__(*normalised_vgg19_modules(pooling))
        self.pooling = pooling

    def __getitem__(self, idx: Any) -> Any:
        if isinstance(idx, slice):  # nn.Sequential would call our __init__ with a dict
            return nn.Sequential(OrderedDict(list(self._modules.items())[idx]))
        return super().__getitem__(idx)

    def features(self, x: Tensor, layers: Sequence[str]) -> dict[str, Tensor]:
        """Outputs at ``layers`` (e.g. ``relu1_1``), running only to the deepest one."""
        return collect(list(self), x, _indices(layers, self.layer_index))

    def truncated(self, last_layer: str = "relu4_1") -> nn.Sequential:
        """Modules 0..``last_layer`` sharing these weights; keys stay ``N.*`` (AdaIN encoder)."""
        (index,) = _indices([last_layer], self.layer_index)
        return self[: index + 1]


class ImageNetNormalize(nn.Module):
    """(x - mean) / std with the ImageNet statistics; no buffers, so no state-dict keys."""

    def forward(self, x: Tensor) -> Tensor:  # (B, 3, H, W) or (3, H, W) RGB in [0, 1]
        std = torch.tensor(IMAGENET_STD, dtype=x.dtype, device=x.device).view(3, 1, 1)
        mean = torch.tensor(IMAGENET_MEAN, dtype=x.dtype, device=x.device).view(3, 1, 1)
        return torch.addcmul(-mean / std, x, 1.0 / std)  # one pass over x


class TorchvisionVGG19Features(nn.Module):
    """torchvision VGG-19 feature layers (keys ``features.N.*``), ImageNet-normalising input.

    The child module is registered as ``features`` for the state-dict keys, but the attribute
    name ``features`` is this class's method; use ``body`` for the ``nn.Sequential``.
    ``load_state_dict`` drops ``classifier.*`` keys, so the full torchvision file loads.
    """

    layer_index: Mapping[str, int] = TORCHVISION_VGG19_LAYERS
    blocks: tuple[tuple[int, ...], ...] = VGG19_BLOCKS
    ignored_prefixes: tuple[str, ...] = ("classifier.",)

    def __init__(self, pooling: Pooling = "max") -> None:
        super().__init__()
        self.pooling = pooling
        self.normalize = ImageNetNormalize()
        # add_module refuses a name that is also a method; the key prefix must be "features"
        self._modules["features"] = nn.Sequential(*torchvision_vgg_modules(self.blocks, pooling))

    @property
    def body(self) -> nn.Sequential:
        return self._modules["features"]  # type: ignore[return-value]

    def forward(self, x: Tensor) -> Tensor:  # (B, 3, H, W) RGB in [0, 1]
        return self.body(self.normalize(x))

    def features(self, x: Tensor, layers: Sequence[str]) -> dict[str, Tensor]:
        """Outputs at ``layers`` (e.g. ``relu4_2``), running only to the deepest one."""
        wanted = _indices(layers, self.layer_index)
        if not wanted:
            return {}
        return collect(list(self.body), self.normalize(x), wanted)

    def truncated(self, last_layer: str = "relu4_1") -> nn.Sequential:
        """Normalisation + ``features.0..last_layer`` sharing these weights (keys ``features.N``)."""
        (index,) = _indices([last_layer], self.layer_index)
        body = self.body[: index + 1]
        return nn.Sequential(OrderedDict(normalize=self.normalize, features=body))

    def load_state_dict(self, state_dict: Mapping[str, Any], strict: bool = True, assign: bool = False) -> Any:
        """Load ``features.*``; the torchvision ``classifier.*`` keys are ignored."""
        kept = {k: v for k, v in state_dict.items() if not k.startswith(self.ignored_prefixes)}
        return super().load_state_dict(kept, strict=strict, assign=assign)


class TorchvisionVGG16Features(TorchvisionVGG19Features):
    """torchvision VGG-16 feature layers (``vgg16-397923af.pth``; Johnson et al.'s loss network)."""

    layer_index: Mapping[str, int] = TORCHVISION_VGG16_LAYERS
    blocks: tuple[tuple[int, ...], ...] = VGG16_BLOCKS

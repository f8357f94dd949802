"""Published state-dict layouts: expected key -> shape, checking, and strict loading.

The expected layouts are derived from our own modules (built on the meta device, so nothing is
allocated); tests compare them with the manifests of the published files. Loading checks the
layout first so a wrong file fails with one ``WeightsError`` line instead of a torch traceback.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import torch
from torch import nn

from stylize.errors import WeightsError
from stylize.models.adain_net import AdaINDecoder
from stylize.models.transformer_net import transformer_net_layout
from stylize.models.vgg import NormalisedVGG19, TorchvisionVGG16Features, TorchvisionVGG19Features

Shapes = dict[str, tuple[int, ...]]
M = TypeVar("M", bound=nn.Module)

ADAIN_VGG_NORMALISED = "adain_vgg_normalised"
ADAIN_DECODER = "adain_decoder"
TORCHVISION_VGG19 = "torchvision_vgg19"
TORCHVISION_VGG16 = "torchvision_vgg16"


def state_shapes(module: nn.Module) -> Shapes:
    """Key -> shape of ``module.state_dict()`` (works on meta-device modules)."""
    return {key: tuple(value.shape) for key, value in module.state_dict().items()}


def _on_meta(factory: Callable[[], M]) -> M:
    with torch.device("meta"):
        return factory()


def adain_vgg_normalised_layout() -> Shapes:
    """Keys and shapes of ``vgg_normalised.pth``."""
    return state_shapes(_on_meta(NormalisedVGG19))


def adain_decoder_layout() -> Shapes:
    """Keys and shapes of the AdaIN ``decoder.pth``."""
    return state_shapes(_on_meta(AdaINDecoder))


def _torchvision_classifier() -> nn.Sequential:
    """torchvision's VGG classifier head, only to describe its keys."""
    return nn.Sequential(
        nn.Linear(512 * 7 * 7, 4096), nn.ReLU(), nn.Dropout(),
        nn.Linear(4096, 4096), nn.ReLU(), nn.Dropout(),
        nn.Linear(4096, 1000),
    )  # fmt: skip


def torchvision_vgg19_layout(classifier: bool = False) -> Shapes:
    """Keys and shapes of torchvision's VGG-19: ``features.*``, plus ``classifier.*`` if asked."""
    return _torchvision_layout(TorchvisionVGG19Features, classifier)


def torchvision_vgg16_layout(classifier: bool = False) -> Shapes:
    """Keys and shapes of torchvision's VGG-16: ``features.*``, plus ``classifier.*`` if asked."""
    return _torchvision_layout(TorchvisionVGG16Features, classifier)


def _torchvision_layout(factory: Callable[[], nn.Module], classifier: bool) -> Shapes:
    shapes = state_shapes(_on_meta(factory))
    if classifier:
        head = state_shapes(_on_meta(_torchvision_classifier))
        shapes.update({f"classifier.{key}": shape for key, shape in head.items()})
    return shapes


LAYOUTS: dict[str, Callable[[], Shapes]] = {
    ADAIN_VGG_NORMALISED: adain_vgg_normalised_layout,
    ADAIN_DECODER: adain_decoder_layout,
    TORCHVISION_VGG19: torchvision_vgg19_layout,
    TORCHVISION_VGG16: torchvision_vgg16_layout,
}


def _shape_of(value: Any) -> tuple[int, ...] | str:
    shape = getattr(value, "shape", None)
    return tuple(int(s) for s in shape) if shape is not None else type(value).__name__


def layout_problems(state_dict: Mapping[str, Any], expected: Mapping[str, tuple]) -> list[str]:
    """Every missing, mis-shaped (in expected order) and then unexpected key, as phrases."""
    problems: list[str] = []
    for key, shape in expected.items():
        if key not in state_dict:
            problems.append(f"missing key {key!r}")
        elif (got := _shape_of(state_dict[key])) != tuple(shape):
            problems.append(f"key {key!r} has shape {got}, expected {tuple(shape)}")
    problems += [f"unexpected key {key!r}" for key in state_dict if key not in expected]
    return problems


def check_layout(state_dict: Mapping[str, Any], expected: Mapping[str, tuple], layout_name: str) -> None:
    """Raise ``WeightsError`` naming ``layout_name`` and the first bad key, if any."""
    if not isinstance(state_dict, Mapping):
        kind = type(state_dict).__name__
        raise WeightsError(f"weights for layout {layout_name} are a {kind}, not a state dict")
    problems = layout_problems(state_dict, expected)
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise WeightsError(
            f"weights do not match layout {layout_name}: {problems[0]}{more}",
            hint="check that the file is the one this method expects",
        )


def _without_ignored(module: nn.Module, state_dict: Mapping[str, Any]) -> Mapping[str, Any]:
    prefixes: tuple[str, ...] = getattr(module, "ignored_prefixes", ())
    if not prefixes or not isinstance(state_dict, Mapping):
        return state_dict
    return {k: v for k, v in state_dict.items() if not k.startswith(prefixes)}


def load_checked(module: M, state_dict: Mapping[str, Any], layout_name: str, own_dtypes: bool = False) -> M:
    """Check ``state_dict`` against ``module``'s own layout, then load it strictly.

    A module on the meta device takes the tensors themselves (``assign``), so nothing is
    allocated or initialised twice; in the file's dtypes, or with ``own_dtypes`` in the module's
    (float32: what loading into a built module gives, and what training needs).
    """
    state_dict = _without_ignored(module, state_dict)
    check_layout(state_dict, state_shapes(module), layout_name)
    on_meta = any(p.is_meta for p in module.parameters())
    if on_meta and own_dtypes:
        own = module.state_dict()
        state_dict = {k: v.to(own[k].dtype).contiguous() for k, v in state_dict.items()}
    module.load_state_dict(state_dict, strict=True, assign=on_meta)
    if on_meta and any(t.is_meta for t in (*module.parameters(), *module.buffers())):
        raise WeightsError(f"layout {layout_name} leaves tensors of {type(module).__name__} unset")
    return module


def build_checked(
    factory: Callable[[], M], state_dict: Mapping[str, Any], layout_name: str, own_dtypes: bool = False
) -> M:
    """Build ``factory()`` without initialising weights and load ``state_dict`` into it."""
    return load_checked(_on_meta(factory), state_dict, layout_name, own_dtypes)


def expected_shapes(layout: str) -> Shapes | None:
    """The tensor shapes a weights file of registry ``layout`` holds; None for a layout not known here."""
    known: dict[str, Callable[[], Shapes]] = {
        "adain_vgg_normalised": adain_vgg_normalised_layout,
        "adain_decoder": adain_decoder_layout,
        "torchvision_vgg19": lambda: torchvision_vgg19_layout(classifier=True),
        "torchvision_vgg16": lambda: torchvision_vgg16_layout(classifier=True),
        "fast_transformer_net": transformer_net_layout,
    }
    return known[layout]() if layout in known else None

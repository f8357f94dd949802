"""The loss of ``stylize train-fast`` (see :mod:`.fast`): the frozen loss network and its layers,
the style image's targets, and the relative content, style and TV terms of a batch."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from stylize import ops, weights
from stylize.checkpoints import load_state
from stylize.config import FastTrainConfig, vgg_source
from stylize.errors import UsageError
from stylize.models.loss_net import LossNet, build_loss_net, torchvision_kind
from stylize.models.vgg import NORMALISED_VGG19_LAYERS, TORCHVISION_VGG16_LAYERS, TorchvisionVGG16Features
from stylize.progress import Reporter

# (content layers, style layers) by network family when not given
DEFAULT_LAYERS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "vgg16": (("relu2_2",), ("relu1_2", "relu2_2", "relu3_3", "relu4_3")),  # pytorch/examples (Johnson et al.)
    "vgg19": (("relu2_2",), ("relu1_1", "relu2_1", "relu3_1", "relu4_1")),  # the AdaIN / WCT style layers
}

# ---------------------------------------------------------------- the loss network


@dataclass(frozen=True)
class LossLayers:
    """Content and style layers with their normalised weights, for one loss network."""

    content: dict[str, float]
    style: dict[str, float]

    @property
    def all(self) -> list[str]:
        return list(dict.fromkeys([*self.content, *self.style]))


def family(state: Mapping[str, Any]) -> str:
    """'vgg16' or 'vgg19' for a state dict in one of the loss-network layouts."""
    if any(key.startswith("features.") for key in state):
        return "vgg16" if torchvision_kind(state) is TorchvisionVGG16Features else "vgg19"
    return "vgg19"


def loss_layers(config: FastTrainConfig, kind: str) -> LossLayers:
    """The configured layers (or ``kind``'s defaults), checked against that network's names."""
    known = TORCHVISION_VGG16_LAYERS if kind == "vgg16" else NORMALISED_VGG19_LAYERS
    content = config.content_layers or DEFAULT_LAYERS[kind][0]
    style = config.style_layers or DEFAULT_LAYERS[kind][1]
    for flag, names in (("--content-layers", content), ("--style-layers", style)):
        unknown = [name for name in names if name not in known]
        if unknown:
            raise UsageError(f"{flag}: {kind} has no layer '{unknown[0]}'", f"its layers: {', '.join(known)}")
    if config.style_weight == 0:  # no style term: the loss network is cut after the content layers
        return LossLayers(_weighted(content, config.content_layer_weights), {})
    return LossLayers(_weighted(content, config.content_layer_weights), _weighted(style, config.style_layer_weights))


def _weighted(names: Sequence[str], weights: Sequence[float] | None) -> dict[str, float]:
    return dict(zip(names, ops.normalised_weights(weights, len(names))))


def loss_net_source(config: FastTrainConfig) -> str:
    """--loss-net as a registry name or a path (aliases resolved)."""
    return vgg_source(config.loss_net)


def load_loss_network(
    config: FastTrainConfig, device: torch.device, reporter: Reporter, channels_last: bool = False
) -> tuple[LossNet, LossLayers]:
    """The frozen loss network cut after its deepest layer, and its layers."""
    path = weights.resolve(loss_net_source(config), reporter)
    state = load_state(path)
    layers = loss_layers(config, family(state))
    return build_loss_net(state, layers.all, "max", device, str(path), channels_last), layers


# ---------------------------------------------------------------- the loss


@dataclass(frozen=True)
class StyleTargets:
    """What the loss compares with, computed once from the style image."""

    grams: dict[str, Tensor]  # style layer -> (1, C, C) Gram matrix, float32
    scales: dict[str, float]  # content layer -> mean squared feature of the style image: the content error's unit


def style_targets(net: LossNet, style: Tensor, layers: LossLayers) -> StyleTargets:
    """Gram matrices and content-error units from the style image (1, 3, H, W) in [0, 1]."""
    with torch.no_grad():
        feats = net.features(style, layers.all)
        grams = {name: ops.gram(feats[name].float()) for name in layers.style}
        scales = {name: max(float(feats[name].float().square().mean()), 1e-12) for name in layers.content}
    return StyleTargets(grams, scales)


def fast_losses(
    net: LossNet, layers: LossLayers, targets: StyleTargets, x: Tensor, y: Tensor, teacher: Tensor | None = None
) -> dict[str, Tensor]:
    """Unweighted content, style and TV losses of outputs ``y`` for inputs ``x`` (B, 3, H, W) in [0, 1].

    With ``teacher`` (the teacher's pictures of ``x``, same shape) every term is relative to the
    teacher: the content term compares ``y`` with the teacher's pictures instead of the photos,
    the style term each output's Gram matrices with its own teacher's picture's (the painting's
    marks at the scale the teacher painted them, free to fall anywhere in the crop) instead of
    the painting's, and a ``pixel`` term (mean absolute difference, 0-1) is added. Each term is
    a mean over the batch of per-image errors, so any split of a batch over ranks gives the same
    loss and gradients.
    """
    with torch.no_grad():  # only as deep as the content layers, or with a teacher as its style layers too
        wanted = net.features(x, list(layers.content)) if teacher is None else net.features(teacher, layers.all)
    feats = net.features(y, layers.all)
    content = sum(
        w * (feats[k].float() - wanted[k].float()).square().mean() / targets.scales[k]
        for k, w in layers.content.items()
    )
    # Gram matrices in float32 even under bf16 autocast: sums over H*W positions need the mantissa
    style = sum(
        (
            w * _style_error(_gram32(feats[k]), targets.grams[k] if teacher is None else _gram32(wanted[k]))
            for k, w in layers.style.items()
        ),
        y.new_zeros(()),
    )
    losses = {"content": content, "style": style, "tv": ops.tv_loss(y.float())}
    if teacher is not None:
        losses["pixel"] = (y.float() - teacher.float()).abs().mean()
    return losses  # type: ignore[return-value]


def _gram32(feat: Tensor) -> Tensor:
    with torch.autocast(feat.device.type, enabled=False):
        return ops.gram(feat.float())


def _style_error(gram: Tensor, target: Tensor) -> Tensor:
    """mean over the batch of |G_b - T_b|^2 / |T_b|^2; ``gram`` (B, C, C), ``target`` (1, C, C) (the
    style image's, for every image) or (B, C, C) (one per image: its teacher's picture's)."""
    error = (gram.float() - target).square().sum(dim=(1, 2))
    return (error / target.square().sum(dim=(1, 2)).clamp_min(1e-30)).mean()


def stylize_batch(net: nn.Module, x: Tensor) -> Tensor:
    """The TransformerNet on RGB [0, 1] (it works in 0-255): RGB, unclamped, same shape."""
    return net(x * 255.0) / 255.0

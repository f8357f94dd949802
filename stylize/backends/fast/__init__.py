"""Fast feed-forward style transfer (Johnson et al. 2016): one TransformerNet pass per image.

Models: the ones stylize ships (``starry-night``, ``great-wave``, ``composition-vii``: no download),
the four published pytorch/examples networks by registry name (``candy``, ``mosaic``,
``rain-princess``, ``udnie``; the zip is downloaded once and the four files cached), any ``.pth``
in that layout (stale InstanceNorm statistics dropped), or our own ``.safetensors`` checkpoints
(:func:`save_model`). Speed: :class:`~stylize.models.transformer_net.FastTransformerNet` (the same
function rearranged: space-to-depth thin convs, upsample folded into the conv, fused norms),
channels_last, bf16 where the hardware has it, decode/encode overlapped by the batch engine.
"""

from stylize.backends.fast.backend import FastMethod, FastModel, build, model_tags, plan
from stylize.backends.fast.zoo import (
    ARCHITECTURE,
    CHECKPOINT_FORMAT,
    DEFAULT_MODEL,
    LAYOUT,
    PALETTE_KEY,
    PALETTE_STRENGTH_KEY,
    export_onnx,
    list_models,
    load_described,
    load_model,
    load_styled,
    local_models,
    model_name,
    palette_default,
    palette_tensor,
    registry_clash,
    resolve_model,
    save_model,
    split_palette,
    undertrained,
)

__all__ = [
    "ARCHITECTURE",
    "CHECKPOINT_FORMAT",
    "DEFAULT_MODEL",
    "LAYOUT",
    "PALETTE_KEY",
    "PALETTE_STRENGTH_KEY",
    "FastMethod",
    "FastModel",
    "build",
    "export_onnx",
    "list_models",
    "load_described",
    "load_model",
    "load_styled",
    "local_models",
    "model_name",
    "model_tags",
    "palette_default",
    "palette_tensor",
    "plan",
    "registry_clash",
    "resolve_model",
    "save_model",
    "split_palette",
    "undertrained",
]

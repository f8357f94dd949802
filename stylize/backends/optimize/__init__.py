"""Gatys et al. optimisation-based style transfer, coarse to fine (``stylize optimize``).

The image itself is optimised so that its VGG-19 features match the content image's at the
content layers and the style images' statistics at the style layers (Gatys et al. 2016),
first at a small size, then at successively larger ones, each scale starting from the
previous result (crowsonkb's √2 schedule); most iterations run at low resolution.

Padding: the first 3x3 conv pads by reflection (clean borders; crowsonkb replicates there for
the same reason), the deeper ones with zeros. This differs from vgg_normalised.pth, which
reflects before every conv (AdaIN's addition; Gatys' Caffe network zero-pads): materialised
padding costs about 30% more in the backward pass on CPU. torchvision's VGG zero-pads anyway.

Speed: `--precision auto` runs the VGG in bf16 autocast on CPUs with native bf16 (half the
float32 iteration here); 3x3 convs go through oneDNN (NNPACK's Winograd kernels, forward and
backward, are opt-in with STYLIZE_WINOGRAD=1: they won with torch 2.15's CPU build and lose with
2.14.1's oneDNN 3.12, BENCHMARKS.md); the VGG runs only to the deepest layer a loss reads, frozen, in-place ReLUs, NCHW on CPU
(channels_last measured slower there for this backward pass), channels_last on GPU; style
statistics are computed once per scale; the Gram matrix's backward is one matmul instead of
two; the network file is mapped, not read, where its format allows, and unused layers are
never built.
"""

from stylize.backends.objective import load_loss_net
from stylize.backends.optimize.backend import OptimizeMethod, build, plan
from stylize.backends.optimize.model import OptimizeModel, StyleImage
from stylize.models.loss_net import build_loss_net  # noqa: F401 - train-fast's tests build their loss network here

__all__ = ["OptimizeMethod", "OptimizeModel", "StyleImage", "build", "load_loss_net", "plan"]

"""GAN generators and discriminators: pure ``nn.Module``s, no I/O.

Ours (trained by ``stylize train-gan``, safetensors):
  ``DCGANGenerator``   z (+ class) -> linear -> 4x4-stride-2 transposed convs with BatchNorm -> tanh
  ``StyleGenerator``   mapping MLP z (+ class) -> w; constant input; modulated/demodulated 3x3 convs
                       (one style per layer), per-layer noise, skip toRGB outputs (StyleGAN2-style)
  ``Discriminator``    strided convs with LeakyReLU, optional spectral norm, projection for classes

Published (pytorch_GAN_zoo, loaded unchanged):
  ``ZooDCGANGenerator``  keys ``formatLayer``, ``main.batchNorm0``, ``main.convTranspose{i}``, ...
  ``ZooPGANGenerator``   equalised-LR layers with weights under ``.module.weight``, pixel norm

Every generator maps latents ``z`` (B, latent_dim) to images (B, C, H, W) in [-1, 1] (or about
that: PGAN is unbounded and its caller clamps). Class labels are given as one-hot or soft rows
(B, num_classes) so interpolating between classes is well defined.
"""

from __future__ import annotations

import math
from itertools import pairwise

import torch
import torch.nn.functional as F
from torch import nn

from stylize.config import GeneratorConfig

LEAK = 0.2
ACT_GAIN = math.sqrt(2.0)  # keeps unit variance through leaky ReLU (StyleGAN's gain)


def base_resolution(image_size: int) -> tuple[int, int]:
    """(base, ups): ``image_size = base * 2**ups`` with base in 4..7 (28 -> (7, 2), 32 -> (4, 3))."""
    ups = 0
    while image_size % 2 == 0 and image_size // 2 >= 4:
        image_size //= 2
        ups += 1
    if not 4 <= image_size <= 7:
        raise ValueError(f"image size must be 4..7 times a power of two, not {image_size * 2**ups}")
    return image_size, ups


def block_widths(width: int, blocks: int, min_width: int = 16) -> list[int]:
    """Channels per resolution block, halving from ``width`` down to ``min_width``."""
    return [max(width >> i, min_width) for i in range(blocks)]


def pixel_norm(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Normalise each vector (dim 1) to unit root-mean-square (Karras et al. 2018)."""
    return x * (x.square().mean(dim=1, keepdim=True) + eps).rsqrt()


def _shaping_only() -> bool:
    """True under ``torch.device("meta")``: the module is only being shaped, to be loaded next.

    Random init is skipped there: there are no values to draw, and meta ``normal_``, ``randn`` and
    even arithmetic import torch._dynamo and sympy on first use (~2 s of a cold ``gan-sample`` here).
    """
    return torch.get_default_device().type == "meta"


def _randn(*shape: int, divisor: float = 1.0) -> torch.Tensor:
    """``torch.randn(shape) / divisor`` (same values, same RNG use), or uninitialised when only shaping."""
    return torch.empty(shape) if _shaping_only() else torch.randn(shape) / divisor


# ---------------------------------------------------------------- DCGAN


class DCGANGenerator(nn.Module):
    """DCGAN (Radford et al. 2016) generator sized for small images.

    Differs from DCGAN in projecting z with a linear layer instead of a 1x1-input transposed
    conv (the same maths, and it allows non-4 base sizes such as 7 for 28 px).
    """

    def __init__(self, latent_dim=64, image_size=28, channels=1, width=128, num_classes=0):
        super().__init__()
        self.latent_dim, self.num_classes = latent_dim, num_classes
        self.base, ups = base_resolution(image_size)
        widths = block_widths(width, ups + 1)
        self.embed = nn.Linear(num_classes, latent_dim, bias=False) if num_classes else None
        in_dim = latent_dim * (2 if num_classes else 1)
        self.project = nn.Linear(in_dim, widths[0] * self.base * self.base, bias=False)
        self.bn0 = nn.BatchNorm2d(widths[0])
        layers: list[nn.Module] = []
        for c_in, c_out in pairwise(widths):
            layers += [nn.ConvTranspose2d(c_in, c_out, 4, 2, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(True)]
        self.blocks = nn.Sequential(*layers)
        self.to_image = nn.Conv2d(widths[-1], channels, 3, 1, 1)
        _dcgan_init(self)

    def forward(self, z, labels=None):
        if self.embed is not None:
            z = torch.cat([z, self.embed(labels.to(z.dtype))], dim=1)
        x = self.project(z).view(z.shape[0], -1, self.base, self.base)  # (B, C0, base, base)
        x = F.relu(self.bn0(x))
        return torch.tanh(self.to_image(self.blocks(x)))  # (B, C, H, W)


def _dcgan_init(module: nn.Module) -> None:
    """DCGAN's N(0, 0.02) weights; BatchNorm scales N(1, 0.02)."""
    if _shaping_only():
        return
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


# ---------------------------------------------------------------- style-based (StyleGAN2-like, small)


class EqualLinear(nn.Module):
    """Linear layer with equalised learning rate (weights N(0,1), scaled at run time)."""

    def __init__(self, in_dim, out_dim, bias_init=0.0, lr_mul=1.0):
        super().__init__()
        self.weight = nn.Parameter(_randn(out_dim, in_dim, divisor=lr_mul))
        self.bias = nn.Parameter(torch.full((out_dim,), float(bias_init) / lr_mul))
        self.scale, self.lr_mul = lr_mul / math.sqrt(in_dim), lr_mul

    def forward(self, x):
        return F.linear(x, self.weight * self.scale, self.bias * self.lr_mul)


class MappingNetwork(nn.Module):
    """z (+ class embedding) -> w: pixel-normalised input through an MLP (StyleGAN's f)."""

    def __init__(self, latent_dim, w_dim, layers, num_classes=0, lr_mul=0.01):
        super().__init__()
        self.embed = EqualLinear(num_classes, w_dim) if num_classes else None
        dims = [latent_dim + (w_dim if num_classes else 0)] + [w_dim] * layers
        self.layers = nn.ModuleList(EqualLinear(a, b, lr_mul=lr_mul) for a, b in pairwise(dims))

    def forward(self, z, labels=None):
        x = pixel_norm(z)
        if self.embed is not None:
            x = torch.cat([x, pixel_norm(self.embed(labels.to(z.dtype)))], dim=1)
        for layer in self.layers:
            x = F.leaky_relu(layer(x), LEAK) * ACT_GAIN
        return x  # (B, w_dim)


class ModulatedConv(nn.Module):
    """3x3 (or 1x1) conv whose input channels are scaled by a style, then demodulated.

    Differs from StyleGAN2 in modulating activations instead of weights (its "non-fused" path,
    the same maths, and a plain conv that is fast on CPUs) and in upsampling by bilinear
    interpolation before the conv rather than a transposed conv with an FIR filter.
    """

    def __init__(self, c_in, c_out, w_dim, kernel=3, demodulate=True, up=False):
        super().__init__()
        self.affine = EqualLinear(w_dim, c_in, bias_init=1.0)
        self.weight = nn.Parameter(_randn(c_out, c_in, kernel, kernel))
        self.scale = 1.0 / math.sqrt(c_in * kernel * kernel)
        self.demodulate, self.up, self.padding = demodulate, up, kernel // 2

    def forward(self, x, w):
        styles = self.affine(w)  # (B, c_in)
        weight = self.weight * self.scale
        if self.up:
            x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
        x = F.conv2d(x * styles[:, :, None, None], weight, padding=self.padding)
        if self.demodulate:
            coef = (weight.square().sum(dim=(2, 3)) @ styles.square().t() + 1e-8).rsqrt()  # (c_out, B)
            x = x * coef.t()[:, :, None, None]
        return x


class StyleLayer(nn.Module):
    """Modulated conv + per-pixel noise (learned strength) + bias + leaky ReLU."""

    def __init__(self, c_in, c_out, w_dim, resolution, up=False):
        super().__init__()
        self.conv = ModulatedConv(c_in, c_out, w_dim, up=up)
        self.noise_strength = nn.Parameter(torch.zeros(()))
        self.bias = nn.Parameter(torch.zeros(c_out))
        self.register_buffer("noise_const", _randn(1, 1, resolution, resolution))
        self.resolution = resolution

    def forward(self, x, w, noise=None):
        x = self.conv(x, w)
        if noise is not None:  # (B, 1, H, W), or None for no noise
            x = x + noise * self.noise_strength
        return F.leaky_relu(x + self.bias[None, :, None, None], LEAK) * ACT_GAIN


class ToImage(nn.Module):
    """Modulated 1x1 conv to image channels, no demodulation (StyleGAN2's tRGB)."""

    def __init__(self, c_in, channels, w_dim):
        super().__init__()
        self.conv = ModulatedConv(c_in, channels, w_dim, kernel=1, demodulate=False)
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x, w):
        return self.conv(x, w) + self.bias[None, :, None, None]


class StyleGenerator(nn.Module):
    """A small style-based generator: mapping network, constant input, one style per layer.

    Layer ``i`` of ``num_ws`` reads ``ws[:, i]``: the synthesis convs in order, and each toRGB
    shares its index with the next block's first conv (StyleGAN2's layout), so mixing styles
    at layer K swaps everything from the K-th conv onwards.
    """

    def __init__(self, latent_dim=64, image_size=28, channels=1, width=128, num_classes=0, w_dim=128, mapping_layers=4):
        super().__init__()
        self.latent_dim, self.num_classes, self.w_dim = latent_dim, num_classes, w_dim
        base, ups = base_resolution(image_size)
        widths = block_widths(width, ups + 1)
        self.mapping = MappingNetwork(latent_dim, w_dim, mapping_layers, num_classes)
        self.const = nn.Parameter(_randn(1, widths[0], base, base))
        self.layers = nn.ModuleList([StyleLayer(widths[0], widths[0], w_dim, base)])
        self.to_images = nn.ModuleList([ToImage(widths[0], channels, w_dim)])
        self.torgb_index = [1]
        for i, (c_in, c_out) in enumerate(pairwise(widths), start=1):
            res = base * 2**i
            self.layers.append(StyleLayer(c_in, c_out, w_dim, res, up=True))
            self.layers.append(StyleLayer(c_out, c_out, w_dim, res))
            self.to_images.append(ToImage(c_out, channels, w_dim))
            self.torgb_index.append(len(self.layers))
        self.num_ws = len(self.layers) + 1
        self.register_buffer("w_avg", torch.zeros(max(num_classes, 1), w_dim))

    def forward(self, z, labels=None, psi=1.0, noise_mode="const"):
        ws = self.styles(z, labels, psi)
        return self.synthesis(ws, noise_mode)

    def styles(self, z, labels=None, psi=1.0):
        """(B, num_ws, w_dim): mapped, truncated towards the (class) average, broadcast."""
        w = self.mapping(z, labels)
        if psi != 1.0:
            w = self.truncate(w, labels, psi)
        return w[:, None, :].expand(-1, self.num_ws, -1)

    def truncate(self, w, labels, psi):
        """w' = avg + psi (w - avg), avg being the average w of the class (truncation trick)."""
        avg = self.w_avg[:1] if labels is None else labels.to(w.dtype) @ self.w_avg  # (B or 1, w_dim)
        return avg + psi * (w - avg)

    def synthesis(self, ws, noise_mode="const", noise=None):
        """Image from styles (B, num_ws, w_dim). noise_mode: const, none, or given per layer."""
        x = self.const.expand(ws.shape[0], -1, -1, -1)
        img, ti = None, 0
        for i, layer in enumerate(self.layers):
            x = layer(x, ws[:, i], self._noise(i, layer, x.shape[0], noise_mode, noise))
            if i + 1 == self.torgb_index[ti]:
                img = _upsample_add(img, self.to_images[ti](x, ws[:, i + 1]))
                ti += 1
        return img

    def _noise(self, i, layer, batch, noise_mode, noise):
        if noise is not None:
            return noise[i]
        if noise_mode == "none":
            return None
        if noise_mode == "const":
            return layer.noise_const
        return torch.randn(batch, 1, layer.resolution, layer.resolution, device=layer.bias.device)

    def noise_shapes(self):
        """(1, H, W) of each layer's noise input."""
        return [(1, layer.resolution, layer.resolution) for layer in self.layers]


def _upsample_add(img, new):
    if img is None:
        return new
    return F.interpolate(img, scale_factor=2, mode="bilinear", align_corners=False) + new


# ---------------------------------------------------------------- discriminator


class Discriminator(nn.Module):
    """Strided 4x4 convs down to the base resolution, then a linear score (+ class projection).

    ``spectral=True`` wraps every layer in spectral norm (Miyato et al. 2018); the class term is
    the projection discriminator's <embed(y), h> (Miyato & Koyama 2018).
    """

    def __init__(self, image_size=28, channels=1, width=128, num_classes=0, spectral=True):
        super().__init__()
        base, ups = base_resolution(image_size)
        widths = block_widths(width, ups + 1)[::-1]  # narrow at full size, wide at the base
        norm = nn.utils.parametrizations.spectral_norm if spectral else (lambda m: m)
        layers: list[nn.Module] = [norm(nn.Conv2d(channels, widths[0], 3, 1, 1)), nn.LeakyReLU(LEAK)]
        for c_in, c_out in pairwise(widths):
            layers += [norm(nn.Conv2d(c_in, c_out, 4, 2, 1)), nn.LeakyReLU(LEAK)]
        layers += [norm(nn.Conv2d(widths[-1], widths[-1], 3, 1, 1)), nn.LeakyReLU(LEAK)]
        self.features = nn.Sequential(*layers)
        feat_dim = widths[-1] * base * base
        self.score = norm(nn.Linear(feat_dim, 1))
        self.embed = norm(nn.Linear(num_classes, feat_dim, bias=False)) if num_classes else None

    def forward(self, x, labels=None):
        h = self.features(x).flatten(1)  # (B, feat_dim)
        out = self.score(h)
        if self.embed is not None:
            out = out + (self.embed(labels.to(h.dtype)) * h).sum(dim=1, keepdim=True)
        return out.squeeze(1)  # (B,)


# ---------------------------------------------------------------- pytorch_GAN_zoo layouts


class ZooDCGANGenerator(nn.Module):
    """pytorch_GAN_zoo's DCGAN ``GNet``, key for key: output 2**(depth + 3) px, tanh (DCGAN/MSE losses)."""

    def __init__(self, latent_dim=64, channels=3, width=64, depth=3, tanh=True):
        super().__init__()
        self.latent_dim, self.num_classes, self.tanh = latent_dim, 0, tanh
        depth_c = width * 2**depth
        self.formatLayer = nn.ConvTranspose2d(latent_dim, depth_c, 4, 1, 0, bias=False)
        seq: dict[str, nn.Module] = {"batchNorm0": nn.BatchNorm2d(depth_c), "relu0": nn.ReLU(True)}
        for i in range(depth):
            seq[f"convTranspose{i + 1}"] = nn.ConvTranspose2d(depth_c, depth_c // 2, 4, 2, 1, bias=False)
            seq[f"batchNorm{i + 1}"] = nn.BatchNorm2d(depth_c // 2)
            seq[f"relu{i + 1}"] = nn.ReLU(True)
            depth_c //= 2
        seq["outlayer"] = nn.ConvTranspose2d(width, channels, 4, 2, 1, bias=False)
        self.output_shape = (channels, 2 ** (depth + 3), 2 ** (depth + 3))
        self.main = nn.Sequential()
        for name, module in seq.items():
            self.main.add_module(name, module)

    def forward(self, z, labels=None):
        x = self.main(self.formatLayer(z[:, :, None, None]))
        return torch.tanh(x) if self.tanh else x  # WGAN-GP runs of the zoo have no output activation


class _Equalized(nn.Module):
    """pytorch_GAN_zoo's ``ConstrainedLayer``: the wrapped layer's output (bias included) times He's constant."""

    def __init__(self, module):
        super().__init__()
        self.module = module
        self.gain = math.sqrt(2.0 / module.weight[0].numel())

    def forward(self, x):
        return self.module(x) * self.gain


class ZooPGANGenerator(nn.Module):
    """pytorch_GAN_zoo's progressive GAN ``GNet`` at its final scale (alpha = 0), key for key.

    ``depths``: channels per scale, from 4x4 up; output 4 * 2**(len(depths) - 1) px, unbounded.
    """

    def __init__(self, latent_dim=512, depths=(512,), channels=3, leak=0.2, normalize=True):
        super().__init__()
        self.latent_dim, self.num_classes, self.leak, self.normalize = latent_dim, 0, leak, normalize
        self.formatLayer = _Equalized(nn.Linear(latent_dim, 16 * depths[0]))
        self.groupScale0 = nn.ModuleList([_Equalized(nn.Conv2d(depths[0], depths[0], 3, padding=1))])
        self.scaleLayers = nn.ModuleList()
        self.toRGBLayers = nn.ModuleList([_Equalized(nn.Conv2d(depths[0], channels, 1))])
        side = 4 * 2 ** (len(depths) - 1)
        self.output_shape = (channels, side, side)
        for prev, new in pairwise(depths):
            convs = [_Equalized(nn.Conv2d(prev, new, 3, padding=1)), _Equalized(nn.Conv2d(new, new, 3, padding=1))]
            self.scaleLayers.append(nn.ModuleList(convs))
            self.toRGBLayers.append(_Equalized(nn.Conv2d(new, channels, 1)))

    def _act(self, x):
        x = F.leaky_relu(x, self.leak)
        return pixel_norm(x) if self.normalize else x

    def forward(self, z, labels=None):
        if self.normalize:
            z = pixel_norm(z)
        x = F.leaky_relu(self.formatLayer(z), self.leak).view(z.shape[0], -1, 4, 4)
        x = pixel_norm(x) if self.normalize else x
        x = self._act(self.groupScale0[0](x))
        for convs in self.scaleLayers:
            x = F.interpolate(x, scale_factor=2, mode="nearest")
            for conv in convs:
                x = self._act(conv(x))
        return self.toRGBLayers[-1](x)


def build_generator(gen: GeneratorConfig) -> nn.Module:
    """One of our generators, randomly initialised, from the settings stored in every checkpoint."""
    common = {
        "latent_dim": gen.latent_dim,
        "image_size": gen.image_size,
        "channels": gen.channels,
        "width": gen.width,
        "num_classes": gen.num_classes,
    }
    if gen.architecture == "style":
        return StyleGenerator(**common, w_dim=gen.w_dim, mapping_layers=gen.mapping_layers)
    return DCGANGenerator(**common)

"""Generator and discriminator modules: shapes, the maths of modulation and truncation, and the
pytorch_GAN_zoo DCGAN / PGAN key layouts (as written by the zoo's ``GNet`` classes)."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from stylize.models.generator import (
    DCGANGenerator,
    Discriminator,
    ModulatedConv,
    StyleGenerator,
    ZooDCGANGenerator,
    ZooPGANGenerator,
    base_resolution,
    pixel_norm,
)


@pytest.mark.parametrize(("size", "expected"), [(28, (7, 2)), (32, (4, 3)), (8, (4, 1)), (64, (4, 4)), (24, (6, 2))])
def test_base_resolution(size: int, expected: tuple[int, int]) -> None:
    assert base_resolution(size) == expected


def test_base_resolution_rejects_odd_sizes() -> None:
    with pytest.raises(ValueError):
        base_resolution(36 * 3 + 1)


@pytest.mark.parametrize("size", [28, 32])
@pytest.mark.parametrize("classes", [0, 10])
def test_dcgan_shapes_and_range(size: int, classes: int) -> None:
    torch.manual_seed(0)
    g = DCGANGenerator(latent_dim=16, image_size=size, channels=1, width=32, num_classes=classes).eval()
    d = Discriminator(image_size=size, channels=1, width=32, num_classes=classes)
    labels = F.one_hot(torch.arange(4) % 10, 10).float() if classes else None
    x = g(torch.randn(4, 16), labels)
    assert x.shape == (4, 1, size, size)
    assert x.abs().max() <= 1.0
    assert d(x, labels).shape == (4,)


def test_style_generator_layout() -> None:
    g = StyleGenerator(latent_dim=16, image_size=28, channels=1, width=32, w_dim=24)
    assert g.num_ws == len(g.layers) + 1 == 6  # 7x7: 1 conv, 14 and 28: 2 convs each, + the last toRGB
    ws = g.styles(torch.randn(3, 16))
    assert ws.shape == (3, g.num_ws, 24)
    assert g.synthesis(ws).shape == (3, 1, 28, 28)


def test_modulated_conv_equals_weight_modulation() -> None:
    """Modulating activations (ours) is the same maths as StyleGAN2's modulated, demodulated weights."""
    torch.manual_seed(0)
    conv = ModulatedConv(5, 7, w_dim=6)
    x, w = torch.randn(2, 5, 9, 9), torch.randn(2, 6)
    ours = conv(x, w)
    styles = conv.affine(w)  # (B, in)
    weight = conv.weight[None] * conv.scale * styles[:, None, :, None, None]  # (B, out, in, k, k)
    weight = weight * (weight.square().sum(dim=(2, 3, 4), keepdim=True) + 1e-8).rsqrt()
    fused = F.conv2d(x.reshape(1, -1, 9, 9), weight.reshape(-1, 5, 3, 3), padding=1, groups=2).reshape(2, 7, 9, 9)
    torch.testing.assert_close(ours, fused, rtol=1e-4, atol=1e-5)


def test_truncation_psi_zero_is_the_average_w() -> None:
    g = StyleGenerator(latent_dim=8, image_size=8, width=16, w_dim=8)
    g.w_avg.normal_()
    ws = g.styles(torch.randn(4, 8), psi=0.0)
    torch.testing.assert_close(ws, g.w_avg[0].expand(4, g.num_ws, 8))


def test_conditional_truncation_uses_the_class_average() -> None:
    g = StyleGenerator(latent_dim=8, image_size=8, width=16, w_dim=8, num_classes=3)
    g.w_avg.normal_()
    labels = F.one_hot(torch.tensor([2, 0]), 3).float()
    ws = g.styles(torch.randn(2, 8), labels, psi=0.0)
    torch.testing.assert_close(ws[:, 0], g.w_avg[[2, 0]])


def test_pixel_norm_gives_unit_rms() -> None:
    x = pixel_norm(torch.randn(4, 32) * 7)
    torch.testing.assert_close(x.square().mean(1), torch.ones(4))


# ---------------------------------------------------------------- pytorch_GAN_zoo layouts


def zoo_dcgan_keys(depth: int) -> list[str]:
    """Every key of the zoo's DCGAN GNet state dict (models/networks/DCGAN_nets.py)."""
    bn = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")
    keys = ["formatLayer.weight", *(f"main.batchNorm0.{k}" for k in bn)]
    for i in range(1, depth + 1):
        keys += [f"main.convTranspose{i}.weight", *(f"main.batchNorm{i}.{k}" for k in bn)]
    return [*keys, "main.outlayer.weight"]


def test_zoo_dcgan_layout_matches_published_keys() -> None:
    g = ZooDCGANGenerator(latent_dim=64, channels=3, width=64, depth=3)
    shapes = {k: tuple(v.shape) for k, v in g.state_dict().items()}
    assert sorted(shapes) == sorted(zoo_dcgan_keys(3))
    assert shapes["formatLayer.weight"] == (64, 512, 4, 4)  # ConvTranspose2d(latent, dimG * 2**depth, 4, 1, 0)
    assert shapes["main.convTranspose1.weight"] == (512, 256, 4, 4)
    assert shapes["main.outlayer.weight"] == (64, 3, 4, 4)
    assert g.eval()(torch.randn(2, 64)).shape == (2, 3, 64, 64) == (2, *g.output_shape)  # 2**(depth + 3)


def zoo_pgan_keys(scales: int) -> list[str]:
    """Keys of the zoo's PGAN GNet with ``scales`` scales after 4x4 (equalised layers under .module)."""
    keys = [
        "formatLayer.module.weight",
        "formatLayer.module.bias",
        "groupScale0.0.module.weight",
        "groupScale0.0.module.bias",
    ]
    for s in range(scales):
        keys += [f"scaleLayers.{s}.{c}.module.{p}" for c in (0, 1) for p in ("weight", "bias")]
    return keys + [f"toRGBLayers.{s}.module.{p}" for s in range(scales + 1) for p in ("weight", "bias")]


def test_zoo_pgan_layout_matches_published_keys() -> None:
    g = ZooPGANGenerator(latent_dim=32, depths=(32, 32, 16), channels=3)
    shapes = {k: tuple(v.shape) for k, v in g.state_dict().items()}
    assert sorted(shapes) == sorted(zoo_pgan_keys(2))
    assert shapes["formatLayer.module.weight"] == (16 * 32, 32)
    assert shapes["scaleLayers.1.0.module.weight"] == (16, 32, 3, 3)
    assert g(torch.randn(2, 32)).shape == (2, 3, 16, 16) == (2, *g.output_shape)


def test_zoo_pgan_forward_follows_the_zoo() -> None:
    """Transcription of the zoo's GNet.forward at alpha = 0 (He constant applied to the layer output)."""
    torch.manual_seed(0)
    g = ZooPGANGenerator(latent_dim=16, depths=(16, 8), channels=3)
    for p in g.parameters():
        torch.nn.init.normal_(p)
    state = g.state_dict()

    def layer(x: torch.Tensor, name: str, conv: bool = True) -> torch.Tensor:
        w, b = state[f"{name}.module.weight"], state[f"{name}.module.bias"]
        out = F.conv2d(x, w, b, padding=w.shape[-1] // 2) if conv else F.linear(x, w, b)
        return out * math.sqrt(2.0 / w[0].numel())

    def norm(x: torch.Tensor) -> torch.Tensor:
        return x * ((x**2).mean(dim=1, keepdim=True) + 1e-8).rsqrt()

    z = torch.randn(3, 16)
    x = F.leaky_relu(layer(norm(z), "formatLayer", conv=False), 0.2).view(3, -1, 4, 4)
    x = norm(F.leaky_relu(layer(norm(x), "groupScale0.0"), 0.2))
    x = x.repeat_interleave(2, 2).repeat_interleave(2, 3)  # Upscale2d
    x = norm(F.leaky_relu(layer(x, "scaleLayers.0.0"), 0.2))
    x = norm(F.leaky_relu(layer(x, "scaleLayers.0.1"), 0.2))
    torch.testing.assert_close(g(z), layer(x, "toRGBLayers.1"), rtol=1e-4, atol=1e-4)

"""The maths in stylize.ops, checked by hand and against the reference conventions."""

from __future__ import annotations

import pytest
import torch

from stylize import ops

CL = torch.channels_last


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


def _cov(img: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    pixels = img.reshape(3, -1).double()
    return pixels.mean(1), torch.cov(pixels, correction=0)


def test_mean_std_matches_hand_computation() -> None:
    feat = torch.tensor([[[[1.0, 2.0], [3.0, 6.0]]]], dtype=torch.float64)  # (1, 1, 2, 2)
    mean, std = ops.mean_std(feat, eps=1e-5)
    # mean 3; unbiased variance (4 + 1 + 0 + 9) / 3
    assert mean.shape == std.shape == (1, 1, 1, 1)
    assert mean.item() == pytest.approx(3.0)
    assert std.item() == pytest.approx((14 / 3 + 1e-5) ** 0.5)


def test_mean_std_matches_adain_reference() -> None:
    feat = torch.randn(2, 5, 4, 3)
    n, c = feat.shape[:2]
    ref_std = (feat.view(n, c, -1).var(dim=2) + 1e-5).sqrt().view(n, c, 1, 1)
    ref_mean = feat.view(n, c, -1).mean(dim=2).view(n, c, 1, 1)
    mean, std = ops.mean_std(feat.contiguous(memory_format=CL))
    torch.testing.assert_close(mean, ref_mean)
    torch.testing.assert_close(std, ref_std)


def test_mean_std_of_single_pixel_is_finite() -> None:
    mean, std = ops.mean_std(torch.randn(1, 4, 1, 1))
    assert torch.isfinite(std).all() and torch.isfinite(mean).all()


def test_adain_output_has_style_statistics() -> None:
    content = torch.randn(2, 8, 6, 5) * 3 + 1
    style = torch.randn(2, 8, 4, 7) * 0.5 - 2
    out = ops.adain_feats(content, style, eps=0.0)
    out_mean, out_std = ops.mean_std(out, eps=0.0)
    style_mean, style_std = ops.mean_std(style, eps=0.0)
    torch.testing.assert_close(out_mean, style_mean, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(out_std, style_std, rtol=1e-5, atol=1e-5)


def test_adain_matches_reference_formula_and_alpha() -> None:
    content, style = torch.randn(1, 4, 5, 5), torch.randn(1, 4, 3, 3)
    c_mean, c_std = ops.mean_std(content)
    s_mean, s_std = ops.mean_std(style)
    reference = (content - c_mean) / c_std * s_std + s_mean
    torch.testing.assert_close(ops.adain(content, s_mean, s_std), reference)
    blended = ops.adain_feats(content, style, alpha=0.3)
    torch.testing.assert_close(blended, 0.3 * reference + 0.7 * content)


def test_adain_channels_last_and_bf16() -> None:
    content = torch.randn(1, 16, 6, 6).contiguous(memory_format=CL)
    style = torch.randn(1, 16, 5, 5)
    out = ops.adain_feats(content, style)
    assert out.is_contiguous(memory_format=CL)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        low = ops.adain_feats(content.bfloat16(), style.bfloat16())
    assert low.dtype == torch.bfloat16
    torch.testing.assert_close(low.float(), out, rtol=0.05, atol=0.05)


def test_gram_by_hand_and_symmetric() -> None:
    feat = torch.tensor([[[[1.0, 2.0]], [[3.0, 4.0]]]])  # (1, C=2, H=1, W=2)
    expected = torch.tensor([[[5.0, 11.0], [11.0, 25.0]]]) / 4  # / (C*H*W)
    torch.testing.assert_close(ops.gram(feat), expected)
    g = ops.gram(torch.randn(3, 6, 5, 4).contiguous(memory_format=CL))
    assert g.shape == (3, 6, 6)
    torch.testing.assert_close(g, g.transpose(1, 2))


def test_tv_loss() -> None:
    assert ops.tv_loss(torch.full((1, 3, 5, 4), 0.7)).item() == 0.0
    assert ops.tv_loss(torch.full((1, 3, 1, 1), 0.7)).item() == 0.0
    ramp = torch.arange(4.0).view(1, 1, 1, 4)  # horizontal steps of 1, no vertical neighbours
    assert ops.tv_loss(ramp).item() == pytest.approx(1.0)
    assert ops.tv_loss(torch.rand(1, 3, 8, 8)).item() > 0


def test_yiq_round_trip_and_grey_has_no_chroma() -> None:
    rgb = torch.rand(2, 3, 4, 5)
    torch.testing.assert_close(ops.yiq_to_rgb(ops.rgb_to_yiq(rgb)), rgb)
    grey = ops.rgb_to_yiq(torch.full((3, 2, 2), 0.4))
    torch.testing.assert_close(grey[0], torch.full((2, 2), 0.4))
    torch.testing.assert_close(grey[1:], torch.zeros(2, 2, 2))


def test_luminance_transfer_keeps_content_chroma_and_stylized_luma() -> None:
    content, stylized = torch.rand(1, 3, 6, 7), torch.rand(1, 3, 6, 7)
    out = ops.rgb_to_yiq(ops.luminance_transfer(stylized, content))
    torch.testing.assert_close(out[:, 1:], ops.rgb_to_yiq(content)[:, 1:])
    torch.testing.assert_close(out[:, :1], ops.rgb_to_yiq(stylized)[:, :1])
    resized = ops.luminance_transfer(torch.rand(3, 8, 8), torch.rand(3, 4, 4))
    assert resized.shape == (3, 8, 8)


@pytest.mark.parametrize("batched", [False, True])
def test_match_color_matches_mean_and_covariance(batched: bool) -> None:
    src = torch.rand(3, 16, 12) * 0.3 + 0.2
    mix = torch.tensor([[0.5, 0.2, 0.0], [0.1, 0.3, 0.1], [0.0, 0.1, 0.2]])
    ref = torch.einsum("ij,jhw->ihw", mix, torch.rand(3, 10, 9)) + 0.2
    shaped = (lambda t: t.unsqueeze(0)) if batched else (lambda t: t)
    out = ops.match_color(shaped(src), shaped(ref), clamp=False)
    assert out.shape == shaped(src).shape and out.dtype == src.dtype
    (out_mean, out_cov), (ref_mean, ref_cov) = _cov(out.reshape(3, 16, 12)), _cov(ref)
    torch.testing.assert_close(out_mean, ref_mean, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(out_cov, ref_cov, rtol=1e-3, atol=3e-5)


def test_match_color_clamps_and_handles_channels_last() -> None:
    src = torch.rand(1, 3, 8, 8).contiguous(memory_format=CL)
    out = ops.match_color(src, torch.rand(1, 3, 5, 5) * 3 - 1)
    assert out.min() >= 0 and out.max() <= 1
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert ops.match_color(src, torch.rand(3, 5, 5)).dtype == torch.float32


@pytest.mark.parametrize("size", [(1, 1), (1, 9), (5, 7), (8, 8), (13, 3)])
@pytest.mark.parametrize("mode", ["reflect", "replicate", "constant"])
def test_pad_crop_round_trip(size: tuple[int, int], mode: str) -> None:
    x = torch.rand(1, 3, *size)
    padded, pads = ops.pad_to_multiple(x, 8, mode=mode)
    assert padded.shape[-2] % 8 == 0 and padded.shape[-1] % 8 == 0
    assert torch.equal(ops.crop_padding(padded, pads), x)
    unbatched, pads3 = ops.pad_to_multiple(x[0], 8, mode=mode)
    assert pads3 == pads and torch.equal(ops.crop_padding(unbatched, pads3), x[0])


def test_pad_is_even_and_noop_when_aligned() -> None:
    x = torch.rand(1, 3, 16, 8)
    padded, pads = ops.pad_to_multiple(x, 8)
    assert padded is x and pads == (0, 0, 0, 0)
    _, pads = ops.pad_to_multiple(torch.rand(1, 3, 11, 13), 8)
    assert pads == (2, 3, 1, 2)
    with pytest.raises(ValueError):
        ops.pad_to_multiple(x, 0)


def test_pad_bf16_channels_last() -> None:
    x = torch.rand(1, 3, 5, 6).contiguous(memory_format=CL).bfloat16()
    padded, pads = ops.pad_to_multiple(x, 4)
    assert padded.dtype == torch.bfloat16
    assert torch.equal(ops.crop_padding(padded, pads), x)


def test_gray_is_the_luminance_on_three_channels() -> None:
    rgb = torch.rand(2, 3, 4, 5)
    out = ops.gray(rgb)
    assert out.shape == rgb.shape and out.is_contiguous()
    torch.testing.assert_close(out, ops.rgb_to_yiq(rgb)[:, :1].expand(-1, 3, -1, -1))
    torch.testing.assert_close(ops.rgb_to_yiq(out)[:, 1:], torch.zeros(2, 2, 4, 5), atol=1e-6, rtol=0)  # no chroma


def test_efdm_gives_each_channel_the_style_values_in_the_content_order() -> None:
    content = torch.randn(2, 4, 5, 6)
    style = torch.randn(1, 4, 5, 6) * 3 + 1
    out = ops.efdm(content, ops.sorted_features(style))
    assert torch.equal(out.flatten(2).sort(-1).values[1], style.flatten(2).sort(-1).values[0])
    assert torch.equal(out.flatten(2).argsort(-1), content.flatten(2).argsort(-1))


def test_efdm_resamples_a_style_of_another_size() -> None:
    content, style = torch.randn(1, 3, 4, 4), torch.randn(1, 3, 9, 7)
    out = ops.efdm(content, ops.sorted_features(style))
    assert out.shape == content.shape
    per_channel = out.flatten(2)
    assert torch.allclose(per_channel.amin(-1), style.flatten(2).amin(-1))  # the quantile ends are kept
    assert torch.allclose(per_channel.amax(-1), style.flatten(2).amax(-1))


def _feature_stats(feat: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    flat = feat.flatten(2)[0].double()  # (C, N)
    return flat.mean(1), torch.cov(flat, correction=0)


def test_wct_gives_the_content_the_style_mean_and_covariance() -> None:
    content = torch.randn(1, 4, 8, 9)
    mix = torch.tensor([[2.0, 0.5, 0, 0], [0, 1, 0.8, 0], [0, 0, 0.3, 0], [1, 0, 0, 1.5]])
    style = (mix @ torch.randn(1, 4, 70)).view(1, 4, 7, 10) + torch.tensor([1.0, -2, 0, 3]).view(1, 4, 1, 1)
    mean, colour = ops.wct_colouring(style)
    out = ops.wct(content, mean, colour, ridge=0.0)
    out_mean, out_cov = _feature_stats(out)
    style_mean, style_cov = _feature_stats(style)
    torch.testing.assert_close(out_mean, style_mean, atol=1e-4, rtol=0)
    torch.testing.assert_close(out_cov, style_cov, atol=1e-3, rtol=1e-3)  # correlations too, not only spreads
    shifted = ops.wct(content * 3 + 5, mean, colour, ridge=0.0)
    torch.testing.assert_close(shifted, out, atol=1e-4, rtol=0)  # the content's own statistics are whitened away


def test_wct_stays_finite_on_tiny_and_flat_features() -> None:
    content = torch.randn(1, 8, 5, 6)
    dot = torch.randn(1, 8, 1, 1)  # a style one feature pixel wide: its mean, no spread
    out = ops.wct(content, *ops.wct_colouring(dot))
    torch.testing.assert_close(out, dot.expand_as(out), atol=1e-5, rtol=0)
    few = torch.randn(1, 8, 2, 2)  # fewer pixels than channels: a rank-3 covariance
    out = ops.wct(content, *ops.wct_colouring(few))
    assert torch.isfinite(out).all() and torch.linalg.matrix_rank(_feature_stats(out)[1]) <= 3
    flat = torch.full((1, 8, 5, 6), 2.0)  # a flat photo: nothing to colour, the style's mean
    style = torch.randn(1, 8, 6, 6)
    out = ops.wct(flat, *ops.wct_colouring(style))
    torch.testing.assert_close(out, style.mean((2, 3), keepdim=True).expand_as(out), atol=1e-5, rtol=0)


def test_wct_whitens_by_a_reference_region() -> None:
    content, style = torch.randn(1, 4, 6, 8), torch.randn(1, 4, 9, 9) * 2 + 3
    region = content[..., :, :4].flatten(2)
    out = ops.wct(content, *ops.wct_colouring(style), reference=region, ridge=0.0)
    torch.testing.assert_close(_feature_stats(out[..., :4])[0], _feature_stats(style)[0], atol=1e-4, rtol=0)
    assert not torch.allclose(out, ops.wct(content, *ops.wct_colouring(style), ridge=0.0))

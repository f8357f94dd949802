"""TransformerNet against the published fast-style layout, and FastTransformerNet against TransformerNet."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from stylize.errors import WeightsError
from stylize.models.layouts import build_checked
from stylize.models.transformer_net import (
    LAYOUT,
    FastTransformerNet,
    TransformerNet,
    fill_border,
    space_to_depth_kernel,
    strip_stale_keys,
    transformer_net_layout,
    upsample_conv_kernel,
)

MANIFEST = Path(__file__).resolve().parents[2] / ".." / "shared" / "reference" / "fast_transformer_net.json"


@pytest.fixture(autouse=True, scope="module")
def _one_thread() -> Iterator[None]:
    """Small tensors: one thread avoids OpenMP barrier stalls on a busy 2-core machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def published_state_dict(seed: int = 0) -> dict[str, torch.Tensor]:
    """Random tensors with exactly the published keys and shapes, stale running statistics included."""
    g = torch.Generator().manual_seed(seed)
    return {key: torch.randn(shape, generator=g) * 0.1 for key, shape in transformer_net_layout(stale=True).items()}


@pytest.fixture(scope="module")
def lively_net() -> TransformerNet:
    """A random net whose output spreads over 0-255 like a trained one (the default init is nearly flat)."""
    torch.manual_seed(0)
    net = TransformerNet().eval()
    with torch.no_grad():
        for p in net.parameters():
            p.add_(torch.randn_like(p) * 0.05)
        net.deconv3.conv2d.weight.mul_(100)
    return net


def test_layout_matches_published_manifest() -> None:
    if not MANIFEST.is_file():
        pytest.skip(f"no reference manifest at {MANIFEST}")
    expected = {key: tuple(shape) for key, shape in json.loads(MANIFEST.read_text())["keys"].items()}
    assert transformer_net_layout(stale=True) == expected


def test_stale_keys_are_exactly_the_instance_norm_statistics() -> None:
    published = transformer_net_layout(stale=True)
    stripped = strip_stale_keys(published)
    dropped = sorted(set(published) - set(stripped))
    assert dropped == sorted(f"in{i}.{s}" for i in range(1, 6) for s in ("running_mean", "running_var"))
    assert {k: tuple(v) for k, v in stripped.items()} == transformer_net_layout()


def test_published_layout_loads_unchanged_after_stripping() -> None:
    state = published_state_dict()
    net = build_checked(TransformerNet, strip_stale_keys(state), LAYOUT).eval()
    assert torch.equal(net.res3.conv2.conv2d.weight, state["res3.conv2.conv2d.weight"])
    assert net(torch.rand(1, 3, 16, 20) * 255).shape == (1, 3, 16, 20)
    with pytest.raises(WeightsError, match=LAYOUT):  # the stale keys are refused unless stripped
        build_checked(TransformerNet, state, LAYOUT)


def test_module_keeps_reference_structure() -> None:
    net = TransformerNet()
    assert net.conv1.conv2d.kernel_size == (9, 9) and net.deconv3.conv2d.kernel_size == (9, 9)
    assert net.conv2.conv2d.stride == (2, 2) and net.deconv1.upsample == 2
    assert net.relu.inplace and net.res1.relu.inplace
    assert all(getattr(net, f"in{i}").affine for i in range(1, 6))


@pytest.mark.parametrize("factor", [2, 4])
def test_space_to_depth_kernel_is_exact(factor: int) -> None:
    g = torch.Generator().manual_seed(factor)
    x = torch.randn(2, 5, 24, 16, generator=g, dtype=torch.float64)
    w = torch.randn(7, 5, 9, 9, generator=g, dtype=torch.float64)
    xp = F.pad(x, (4, 4, 4, 4), mode="reflect")
    want = F.conv2d(xp, w)
    got = F.pixel_shuffle(F.conv2d(F.pixel_unshuffle(xp, factor), space_to_depth_kernel(w, factor)), factor)
    torch.testing.assert_close(got, want)


def test_upsample_conv_kernel_is_exact() -> None:
    g = torch.Generator().manual_seed(1)
    x = torch.randn(2, 6, 5, 7, generator=g, dtype=torch.float64)
    w = torch.randn(4, 6, 3, 3, generator=g, dtype=torch.float64)
    want = F.conv2d(F.pad(F.interpolate(x, scale_factor=2, mode="nearest"), (1, 1, 1, 1), mode="reflect"), w)
    got = F.pixel_shuffle(F.conv2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), upsample_conv_kernel(w)), 2)
    torch.testing.assert_close(got, want)


@pytest.mark.parametrize(("mode", "pad"), [("reflect", 1), ("reflect", 4), ("replicate", 1)])
def test_fill_border_matches_f_pad(mode: str, pad: int) -> None:
    x = torch.randn(1, 3, 9, 11)
    buf = torch.zeros(1, 3, 9 + 2 * pad, 11 + 2 * pad)
    buf[..., pad:-pad, pad:-pad] = x
    torch.testing.assert_close(fill_border(buf, pad, mode), F.pad(x, (pad,) * 4, mode=mode), rtol=0, atol=0)


def test_fill_border_in_space_to_depth_layout() -> None:
    x = torch.randn(1, 3, 12, 8)
    want = F.pixel_unshuffle(F.pad(x, (4,) * 4, mode="reflect"), 2)
    buf = torch.zeros_like(want)
    buf[..., 2:-2, 2:-2] = F.pixel_unshuffle(x, 2)
    torch.testing.assert_close(fill_border(buf, 4, "reflect", factor=2), want, rtol=0, atol=0)


@pytest.mark.parametrize(("batch", "h", "w", "channels_last"), [(1, 8, 8, True), (2, 12, 20, False), (1, 64, 48, True)])
def test_fast_net_fp32_equals_reference(
    lively_net: TransformerNet, batch: int, h: int, w: int, channels_last: bool
) -> None:
    x = torch.rand(batch, 3, h, w, generator=torch.Generator().manual_seed(h)) * 255
    with torch.inference_mode():
        want = lively_net(x)
        got = FastTransformerNet(lively_net, torch.float32, channels_last)(x)
    assert got.dtype == torch.float32 and got.shape == want.shape
    assert (got - want).abs().max() < 0.05  # on a 0-255 scale; the output spreads over ~150
    assert want.std() > 50


def test_fast_net_bf16_is_as_close_as_autocast(lively_net: TransformerNet) -> None:
    x = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(3)) * 255
    with torch.inference_mode():
        want = lively_net(x)
        got = FastTransformerNet(lively_net, torch.bfloat16)(x)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            autocast = lively_net(x).float()
    ours, theirs = (got - want).abs().mean(), (autocast - want).abs().mean()
    assert ours < 1.5 * theirs + 0.5, (ours, theirs)
    assert ours < 0.05 * want.std()


def test_fast_net_holds_no_reference_to_the_module(lively_net: TransformerNet) -> None:
    fast = FastTransformerNet(lively_net, torch.float32)
    assert not any(p.requires_grad for p in fast.buffers())
    assert {name for name, _ in fast.named_children()} == {"norms"}

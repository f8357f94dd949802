"""The fast-style TransformerNet (Johnson et al. 2016) in the layout of the published ``.pth`` files.

pytorch/examples' ``fast_neural_style`` network: reflection-padded convs 9-3-3 with 32-64-128
channels, five residual blocks, two nearest x2 upsample + conv stages and a 9x9 conv back to RGB,
affine InstanceNorm after every conv but the last. Keys ``conv1.conv2d.*``, ``in1.*``, …,
``res1..res5.{conv1.conv2d, in1, conv2.conv2d, in2}.*``, ``deconv1..3.conv2d.*``. Input and
output are RGB in 0–255, (B, 3, H, W) -> (B, 3, H, W) for H and W multiples of 4; the output is
unclamped. Pure module: no I/O, no printing.

The published files also carry ``in1..in5.running_mean/var`` buffers written by an old PyTorch
whose InstanceNorm tracked running statistics it never used: :func:`strip_stale_keys` drops them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

ARCHITECTURE = "transformer-net"  # the ``architecture`` of our own checkpoints
LAYOUT = "fast_transformer_net"  # the published state-dict layout's name
STRIDE = 4  # total down-sampling: H and W must be multiples of this
STALE_SUFFIXES = (".running_mean", ".running_var", ".num_batches_tracked")
NORM_EPS = 1e-5


class ConvLayer(nn.Module):
    """Reflection padding of ``kernel // 2`` then a conv; the conv sits at ``.conv2d``."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int = 1) -> None:
        super().__init__()
        self.pad = nn.ReflectionPad2d(kernel // 2)
        self.conv2d = nn.Conv2d(c_in, c_out, kernel, stride)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv2d(self.pad(x))


class UpsampleConvLayer(nn.Module):
    """Nearest x2 upsampling then a reflection-padded conv (no transposed conv: no checkerboard)."""

    def __init__(self, c_in: int, c_out: int, kernel: int, upsample: int = 2) -> None:
        super().__init__()
        self.upsample = upsample
        self.pad = nn.ReflectionPad2d(kernel // 2)
        self.conv2d = nn.Conv2d(c_in, c_out, kernel)

    def forward(self, x: Tensor) -> Tensor:
        x = F.interpolate(x, scale_factor=self.upsample, mode="nearest")
        return self.conv2d(self.pad(x))


class ResidualBlock(nn.Module):
    """conv-IN-ReLU-conv-IN plus the input (He et al. 2016, without the final ReLU, as Johnson)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = ConvLayer(channels, channels, 3)
        self.in1 = nn.InstanceNorm2d(channels, affine=True)
        self.conv2 = ConvLayer(channels, channels, 3)
        self.in2 = nn.InstanceNorm2d(channels, affine=True)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        y = self.relu(self.in1(self.conv1(x)))
        return self.in2(self.conv2(y)) + x


class TransformerNet(nn.Module):
    """Image transformation network; ``forward`` maps RGB 0–255 (B, 3, H, W) to RGB 0–255."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = ConvLayer(3, 32, 9)
        self.in1 = nn.InstanceNorm2d(32, affine=True)
        self.conv2 = ConvLayer(32, 64, 3, stride=2)
        self.in2 = nn.InstanceNorm2d(64, affine=True)
        self.conv3 = ConvLayer(64, 128, 3, stride=2)
        self.in3 = nn.InstanceNorm2d(128, affine=True)
        self.res1 = ResidualBlock(128)
        self.res2 = ResidualBlock(128)
        self.res3 = ResidualBlock(128)
        self.res4 = ResidualBlock(128)
        self.res5 = ResidualBlock(128)
        self.deconv1 = UpsampleConvLayer(128, 64, 3)
        self.in4 = nn.InstanceNorm2d(64, affine=True)
        self.deconv2 = UpsampleConvLayer(64, 32, 3)
        self.in5 = nn.InstanceNorm2d(32, affine=True)
        self.deconv3 = ConvLayer(32, 3, 9)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        y = self.relu(self.in1(self.conv1(x)))  # (B, 32, H, W)
        y = self.relu(self.in2(self.conv2(y)))  # (B, 64, H/2, W/2)
        y = self.relu(self.in3(self.conv3(y)))  # (B, 128, H/4, W/4)
        y = self.res5(self.res4(self.res3(self.res2(self.res1(y)))))
        y = self.relu(self.in4(self.deconv1(y)))  # (B, 64, H/2, W/2)
        y = self.relu(self.in5(self.deconv2(y)))  # (B, 32, H, W)
        return self.deconv3(y)  # (B, 3, H, W), unclamped


def strip_stale_keys(state_dict: Mapping[str, Any]) -> dict[str, Any]:
    """``state_dict`` without InstanceNorm running statistics (stale in the published files)."""
    return {key: value for key, value in state_dict.items() if not key.endswith(STALE_SUFFIXES)}


def transformer_net_layout(stale: bool = False) -> dict[str, tuple[int, ...]]:
    """Key -> shape of our TransformerNet; with ``stale``, as the published files (plus in1..in5 stats)."""
    with torch.device("meta"):
        net = TransformerNet()
    shapes = {key: tuple(value.shape) for key, value in net.state_dict().items()}
    if stale:
        for name in ("in1", "in2", "in3", "in4", "in5"):
            channels = getattr(net, name).num_features
            shapes[f"{name}.running_mean"] = (channels,)
            shapes[f"{name}.running_var"] = (channels,)
    return shapes


# --- inference: the same function, rearranged for speed ----------------------------------------


def space_to_depth_kernel(weight: Tensor, factor: int) -> Tensor:
    """A k x k stride-1 kernel as the kernel of the same conv on ``pixel_unshuffle(x, factor)``.

    Output channel ``o * f^2 + a * f + b`` is output phase (a, b) of channel ``o``; input channel
    ``i * f^2 + r * f + s`` is input phase (r, s). The 9 x 9 convs with 3 channels in or out run
    about 5x faster in oneDNN this way (f = 2) despite 1.23x the multiply-adds (zero taps).
    """
    c_out, c_in, k, _ = weight.shape
    taps = -(-(factor + k - 1) // factor)  # ceil((f + k - 1) / f)
    # select[a, r, q, t] = 1 where tap t of the original kernel lands on input phase r, block q
    select = weight.new_zeros(factor, factor, taps, k)
    for a in range(factor):
        for t in range(k):
            q, r = divmod(a + t, factor)
            select[a, r, q, t] = 1
    out = torch.einsum("oiyx,arpy,bsqx->oabirspq", weight, select, select)
    return out.reshape(c_out * factor * factor, c_in * factor * factor, taps, taps)


# rows: low-resolution tap (-1, 0, +1); columns: tap of the 3 x 3 kernel on the upsampled image
_UP_PHASES = torch.tensor([[[1, 0, 0], [0, 1, 1], [0, 0, 0]], [[0, 0, 0], [1, 1, 0], [0, 0, 1]]])


def upsample_conv_kernel(weight: Tensor) -> Tensor:
    """Nearest x2 upsampling then a 3 x 3 conv, as one 3 x 3 conv on the low-resolution input.

    Output channel ``o * 4 + a * 2 + b`` is output phase (a, b) (for ``pixel_shuffle(y, 2)``).
    Reflection padding by 1 of the upsampled image equals replicate padding of the small one.
    Same multiply-adds as the original, but at a quarter of the pixels with 4x the channels.
    """
    c_out, c_in, k, _ = weight.shape
    if k != 3:
        raise ValueError(f"upsample_conv_kernel needs a 3 x 3 kernel, got {k} x {k}")
    phases = _UP_PHASES.to(weight)
    out = torch.einsum("oiyx,apy,bqx->oabipq", weight, phases, phases)
    return out.reshape(c_out * 4, c_in, 3, 3)


def _reflect(u: int, length: int) -> int:
    return -u if u < 0 else 2 * (length - 1) - u if u >= length else u


def _border_sources(pad: int, length: int, mode: str) -> list[tuple[int, int]]:
    """(destination, source) indices along one padded axis of ``length + 2 pad`` for the frame."""
    pairs = []
    for u in [*range(-pad, 0), *range(length, length + pad)]:
        src = _reflect(u, length) if mode == "reflect" else min(max(u, 0), length - 1)
        pairs.append((u + pad, src + pad))
    return pairs


def fill_border(buf: Tensor, pad: int, mode: str, factor: int = 1) -> Tensor:
    """Fill the frame of ``buf`` in place from its interior: reflect or replicate padding by ``pad``.

    With ``factor`` f > 1, ``buf`` (B, C * f^2, h + 2 pad/f, w + 2 pad/f) holds ``pixel_unshuffle(image, f)``
    and the frame is filled as if the full-resolution image had been padded by ``pad``.
    """
    if pad == 0:
        return buf
    b, c, n_h, n_w = buf.shape
    view = buf.view(b, c // factor**2, factor, factor, n_h, n_w)  # (B, C, row phase, col phase, h, w)
    pairs_h = _border_sources(pad, n_h * factor - 2 * pad, mode)
    for dst, src in pairs_h:
        view[:, :, dst % factor, :, dst // factor] = view[:, :, src % factor, :, src // factor]
    for dst, src in _border_sources(pad, n_w * factor - 2 * pad, mode):
        view[..., dst % factor, :, dst // factor] = view[..., src % factor, :, src // factor]
    return buf


def _image_stats(y: Tensor) -> tuple[Tensor, Tensor]:
    """Per-channel mean and biased variance (C,) of one image ``y`` (1, C, h, w), in float32."""
    c = y.shape[1]
    if y.dtype != torch.float64 and y.device.type in ("cpu", "cuda"):
        scratch = torch.zeros(c, device=y.device), torch.ones(c, device=y.device)
        with contextlib.suppress(RuntimeError, NotImplementedError):  # a backend without mixed types
            return torch.batch_norm_update_stats(y, *scratch, 1.0)  # one fused pass, float32 accumulators
    var, mean = torch.var_mean(y if y.dtype == torch.float64 else y.float(), (0, 2, 3), correction=0)
    return mean, var


def channel_stats(y: Tensor, phases: int) -> tuple[Tensor, Tensor]:
    """Mean and biased variance (B, C) of ``y`` (B, C * phases, h, w) whose phase channels are one channel."""
    stats = [_image_stats(y[i : i + 1]) for i in range(y.shape[0])]
    mean = torch.stack([m for m, _ in stats]).unflatten(1, (-1, phases))  # (B, C, phases)
    var = torch.stack([v for _, v in stats]).unflatten(1, (-1, phases))
    # equal-sized groups: total variance = mean of the variances + variance of the means
    return mean.mean(-1), var.mean(-1) + mean.var(-1, correction=0)


Region = tuple[int, int, int, int]  # (top, bottom, left, right) in input pixels


class SharedStats:
    """InstanceNorm statistics shared by the tiles of one image (differs from per-tile statistics).

    Collecting (``frozen`` False): each tile is normalised with its own statistics, as usual, while
    the statistics of its core region (tiles' cores partition the image) are summed per layer.
    :meth:`freeze` then turns the sums into whole-image statistics that every tile uses, so all
    tiles share one normalisation, as the untiled image would. float64 sums: no cancellation.
    """

    def __init__(self) -> None:
        self.sums: dict[str, tuple[Tensor, Tensor, int]] = {}  # layer -> (sum, sum of squares, count)
        self.frozen: dict[str, tuple[Tensor, Tensor]] = {}  # layer -> (mean, var), each (B, C)
        self.region: Region | None = None  # the core of the tile being run, in its input pixels
        self.input_hw: tuple[int, int] = (0, 0)

    def add(self, name: str, y: Tensor, phases: int) -> None:
        """Sum the statistics of ``y``'s part inside :attr:`region`."""
        assert self.region is not None
        top, bottom, left, right = self.region
        sy, sx = y.shape[-2] / self.input_hw[0], y.shape[-1] / self.input_hw[1]  # this layer's scale
        core = y[..., round(top * sy) : round(bottom * sy), round(left * sx) : round(right * sx)]
        if core.numel() == 0:
            return
        mean, var = (t.double() for t in channel_stats(core, phases))
        count = core.shape[-2] * core.shape[-1] * phases
        total, squares = mean * count, (var + mean.square()) * count
        if name in self.sums:
            old_total, old_squares, old_count = self.sums[name]
            total, squares, count = old_total + total, old_squares + squares, old_count + count
        self.sums[name] = (total, squares, count)

    def freeze(self) -> None:
        for name, (total, squares, count) in self.sums.items():
            mean = total / count
            self.frozen[name] = (mean.float(), (squares / count - mean.square()).clamp_min(0).float())
        self.sums.clear()


class _Norm(nn.Module):
    """Affine InstanceNorm folded to a per-(image, channel) scale and shift, statistics in float32."""

    def __init__(self, norm: nn.InstanceNorm2d, dtype: torch.dtype) -> None:
        super().__init__()
        self.register_buffer("weight", norm.weight.detach().float().clone())
        self.register_buffer("bias", norm.bias.detach().float().clone())
        self.eps, self.dtype = norm.eps, dtype

    def coefficients(
        self, y: Tensor, phases: int, name: str = "", shared: SharedStats | None = None
    ) -> tuple[Tensor, Tensor]:
        """Scale and shift (B, C * phases, 1, 1) for ``y`` (B, C * phases, h, w) whose phases share statistics."""
        if shared is not None and name in shared.frozen:
            mean, var = shared.frozen[name]
        else:
            mean, var = channel_stats(y, phases)  # (B, C)
        if shared is not None and shared.region is not None:
            shared.add(name, y, phases)
        scale = self.weight * torch.rsqrt(var + self.eps)
        shift = self.bias - mean * scale
        scale, shift = (t.repeat_interleave(phases, 1)[..., None, None].to(self.dtype) for t in (scale, shift))
        return scale, shift


def _empty_padded(like: Tensor, channels: int, h: int, w: int, pad: int) -> Tensor:
    """An uninitialised (B, channels, h + 2 pad, w + 2 pad) tensor in ``like``'s memory format."""
    shape = (like.shape[0], channels, h + 2 * pad, w + 2 * pad)
    fmt = torch.channels_last if like.is_contiguous(memory_format=torch.channels_last) else torch.contiguous_format
    return torch.empty(shape, dtype=like.dtype, device=like.device, memory_format=fmt)


def _interior(buf: Tensor, pad: int) -> Tensor:
    return buf[..., pad : buf.shape[-2] - pad, pad : buf.shape[-1] - pad] if pad else buf


class FastTransformerNet(nn.Module):
    """A :class:`TransformerNet` rearranged for inference: the same function in less time.

    It differs from the reference forward in how it computes, not in what:
    - the 9 x 9 convs run on ``pixel_unshuffle(x, 2)`` as 5 x 5 convs (:func:`space_to_depth_kernel`):
      thin convs (3 channels in or out) run ~5x faster that way despite ~1.2x the multiply-adds,
    - upsample + conv run as one conv at low resolution (:func:`upsample_conv_kernel`),
    - conv biases before an InstanceNorm are dropped (its mean subtraction cancels them),
    - InstanceNorm statistics take one fused pass; scale, shift, ReLU and the residual are
      applied in place or written straight into the next conv's padded input,
    - the last stages stay in the 2 x 2 space-to-depth layout: no full-resolution pad or shuffle,
    - weights and activations are in ``dtype``; normalisation statistics are always float32.
    Input (B, 3, H, W) RGB 0-255 with H, W multiples of 4 and at least 8; output float32, unclamped.
    """

    def __init__(self, net: TransformerNet, dtype: torch.dtype = torch.float32, channels_last: bool = True) -> None:
        super().__init__()
        self.dtype, self.channels_last = dtype, channels_last
        self.shared: SharedStats | None = None  # set by :meth:`sharing` while tiles run
        self.norms = nn.ModuleDict()
        self._add("conv1", space_to_depth_kernel(net.conv1.conv2d.weight.detach(), 2), net.in1)
        self._add("conv2", net.conv2.conv2d.weight.detach(), net.in2)
        self._add("conv3", net.conv3.conv2d.weight.detach(), net.in3)
        for i in range(1, 6):
            block = getattr(net, f"res{i}")
            self._add(f"res{i}a", block.conv1.conv2d.weight.detach(), block.in1)
            self._add(f"res{i}b", block.conv2.conv2d.weight.detach(), block.in2)
        self._add("deconv1", upsample_conv_kernel(net.deconv1.conv2d.weight.detach()), net.in4)
        self._add("deconv2", upsample_conv_kernel(net.deconv2.conv2d.weight.detach()), net.in5)
        self._add("deconv3", space_to_depth_kernel(net.deconv3.conv2d.weight.detach(), 2))
        self.register_buffer("deconv3_bias", net.deconv3.conv2d.bias.detach().repeat_interleave(4).to(dtype))

    @contextlib.contextmanager
    def sharing(self, shared: SharedStats, region: Region | None = None) -> Iterator[None]:
        """Run with ``shared`` statistics: collecting over ``region`` of the input, or frozen."""
        self.shared = shared
        shared.region = region
        try:
            yield
        finally:
            self.shared = None

    @property
    def memory_format(self) -> torch.memory_format:
        return torch.channels_last if self.channels_last else torch.contiguous_format

    def _add(self, name: str, weight: Tensor, norm: nn.InstanceNorm2d | None = None) -> None:
        self.register_buffer(f"w_{name}", weight.to(self.dtype).contiguous(memory_format=self.memory_format))
        if norm is not None:
            self.norms[name] = _Norm(norm, self.dtype)

    def _conv(self, name: str, x: Tensor, stride: int = 1, bias: Tensor | None = None) -> Tensor:
        return F.conv2d(x, getattr(self, f"w_{name}"), bias, stride)

    def _norm(self, name: str, y: Tensor, phases: int = 1, out: Tensor | None = None) -> Tensor:
        """InstanceNorm of ``y`` (in place, or into ``out``); ``phases`` channels share statistics."""
        scale, shift = self.norms[name].coefficients(y, phases, name, self.shared)
        return torch.addcmul(shift, y, scale, out=y if out is None else out)

    def _padded(self, y: Tensor, pad: int) -> tuple[Tensor, Tensor]:
        buf = _empty_padded(y, y.shape[1], y.shape[2], y.shape[3], pad)
        return buf, _interior(buf, pad)

    def _norm_relu_pad(self, name: str, y: Tensor, pad: int = 1, mode: str = "reflect") -> Tensor:
        buf, inner = self._padded(y, pad)
        self._norm(name, y, out=inner).relu_()
        return fill_border(buf, pad, mode)

    def _shuffle_pad(self, name: str, y: Tensor, mode: str) -> Tensor:
        """Norm + ReLU of a 2 x 2 phase tensor in place, then depth-to-space into a 1-padded buffer."""
        self._norm(name, y, phases=4).relu_()
        shuffled = F.pixel_shuffle(y, 2)
        buf, inner = self._padded(shuffled, 1)
        inner.copy_(shuffled)
        return fill_border(buf, 1, mode)

    def _residual(self, i: int, buf: Tensor, last: bool) -> Tensor:
        mid = self._norm_relu_pad(f"res{i}a", self._conv(f"res{i}a", buf))
        y = self._conv(f"res{i}b", mid)
        out, inner = self._padded(y, 1)
        self._norm(f"res{i}b", y, out=inner).add_(_interior(buf, 1))
        # the last output is padded for the upsampling conv: reflect-after-upsample = replicate-before
        return fill_border(out, 1, "replicate" if last else "reflect")

    def forward(self, x: Tensor) -> Tensor:
        if self.shared is not None:
            self.shared.input_hw = (x.shape[-2], x.shape[-1])
        x = x.to(self.dtype).contiguous(memory_format=self.memory_format)
        x = F.pixel_unshuffle(F.pad(x, (4, 4, 4, 4), mode="reflect"), 2)  # (B, 3 * 4, H/2 + 4, W/2 + 4)
        buf = self._shuffle_pad("conv1", self._conv("conv1", x), "reflect")  # (B, 32, H + 2, W + 2)
        buf = self._norm_relu_pad("conv2", self._conv("conv2", buf, 2))  # (B, 64, H/2 + 2, W/2 + 2)
        buf = self._norm_relu_pad("conv3", self._conv("conv3", buf, 2))  # (B, 128, H/4 + 2, W/4 + 2)
        for i in range(1, 6):
            buf = self._residual(i, buf, last=i == 5)
        buf = self._shuffle_pad("deconv1", self._conv("deconv1", buf), "replicate")  # (B, 64, H/2 + 2, ...)
        y = self._conv("deconv2", buf)  # (B, 32 * 4, H/2, W/2): pixel_unshuffle(upsampled conv output, 2)
        buf, inner = self._padded(y, 2)
        self._norm("deconv2", y, phases=4, out=inner).relu_()
        fill_border(buf, 4, "reflect", factor=2)  # = reflection padding by 4 at full resolution
        y = self._conv("deconv3", buf, bias=self.deconv3_bias)  # (B, 3 * 4, H/2, W/2)
        return F.pixel_shuffle(y, 2).float()  # (B, 3, H, W)

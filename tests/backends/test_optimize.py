"""Gatys optimisation: the network cut and layouts, the schedule, a few real steps on tiny nets."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from PIL import Image
from torch import nn

from stylize import images, ops
from stylize.backends import optimize as g
from stylize.backends.objective import run_lbfgs
from stylize.backends.optimize.solver import scale_iterations, scale_shapes, scale_sides
from stylize.config import OptimizeConfig, parse_layers
from stylize.errors import UsageError, WeightsError
from stylize.models import loss_net
from stylize.models.vgg import NormalisedVGG19, TorchvisionVGG19Features
from stylize.progress import LEFT, NullReporter


@pytest.fixture(autouse=True, scope="module")
def _one_thread() -> object:
    """Tiny tensors gain nothing from threads, and lose a lot to them on a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# ------------------------------------------------------------------ the network


def _he(net: nn.Module) -> nn.Module:
    for m in net.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
            nn.init.zeros_(m.bias)
    return net


@pytest.fixture(scope="module")
def normalised_state() -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    return _he(NormalisedVGG19()).state_dict()


@pytest.fixture(scope="module")
def torchvision_state() -> dict[str, torch.Tensor]:
    torch.manual_seed(1)
    state = _he(TorchvisionVGG19Features()).state_dict()
    state["classifier.0.weight"] = torch.zeros(2, 2)  # the published file's head: must be ignored
    return state


LAYERS = ["relu1_1", "conv2_1", "relu3_1", "relu4_2"]


def test_loss_net_matches_published_normalised_vgg(normalised_state: dict[str, torch.Tensor]) -> None:
    vgg = NormalisedVGG19()
    vgg.load_state_dict(normalised_state)
    net = loss_net.build_loss_net(normalised_state, LAYERS, "max", torch.device("cpu"))
    x = torch.rand(1, 3, 64, 56)
    ours, ref = net.features(x, LAYERS), vgg.eval().features(x, LAYERS)
    assert torch.allclose(ours["relu1_1"], ref["relu1_1"], atol=1e-4)  # first conv: reflection, as published
    inner = (slice(None), slice(None), slice(4, -4), slice(4, -4))  # deeper convs zero-pad: borders differ
    assert torch.allclose(ours["conv2_1"][inner], ref["conv2_1"][inner], atol=1e-4)
    assert all(ours[k].shape == ref[k].shape for k in LAYERS)
    assert len(net.layers) == net.index["relu4_2"] + 1  # cut after the deepest layer: nothing deeper is built


def test_loss_net_matches_torchvision_vgg(torchvision_state: dict[str, torch.Tensor]) -> None:
    net = loss_net.build_loss_net(torchvision_state, ["relu5_1", "relu2_1"], "avg", torch.device("cpu"))
    vgg = TorchvisionVGG19Features("avg")
    vgg.load_state_dict(torchvision_state)
    x = torch.rand(1, 3, 64, 48)
    ours, ref = net.features(x, ["relu2_1", "relu5_1"]), vgg.eval().features(x, ["relu2_1", "relu5_1"])
    inner = (slice(None), slice(None), slice(2, -2), slice(2, -2))  # first conv reflects: borders differ
    assert torch.allclose(ours["relu2_1"][inner], ref["relu2_1"][inner], atol=1e-4)
    assert ours["relu5_1"].shape == ref["relu5_1"].shape == (1, 512, 4, 3)


def test_unknown_layout_is_a_weights_error() -> None:
    with pytest.raises(WeightsError, match="not a VGG in the vgg_normalised.pth or torchvision layout"):
        loss_net.build_loss_net({"foo.weight": torch.zeros(1)}, ["relu1_1"], "max", torch.device("cpu"))


def test_bad_layer_names_are_clear_usage_errors() -> None:
    with pytest.raises(UsageError, match="unknown VGG-19 layer 'relu9_1'") as info:
        OptimizeConfig(style_layers=("relu1_1", "relu9_1"))
    assert "relu4_2" in (info.value.hint or "")
    with pytest.raises(UsageError, match="one non-negative weight per layer"):
        OptimizeConfig(style_layers=("relu1_1",), style_layer_weights=(1.0, 2.0))
    with pytest.raises(UsageError, match="LAYER:WEIGHT"):
        parse_layers("--style-layers", "relu1_1:heavy")
    assert parse_layers("--x", "relu1_1, relu2_1:0.5") == (("relu1_1", "relu2_1"), (1.0, 0.5))
    assert parse_layers("--x", "relu4_2") == (("relu4_2",), None)


# ------------------------------------------------------------------ schedule


def test_coarse_to_fine_schedule() -> None:
    cfg = OptimizeConfig()
    assert scale_sides(512, cfg) == [128, 181, 256, 362, 512]  # sqrt(2) steps from 128 (crowsonkb)
    assert scale_sides(512, OptimizeConfig(scales=1)) == [512]
    assert scale_sides(100, cfg) == [100]
    shapes = scale_shapes(512, 256, cfg)
    assert shapes[-1] == (512, 256) and shapes[0] == (128, 64)
    counts = scale_iterations(100, shapes)
    assert counts == [100] * 5  # most iterations (4/5) at low resolution
    assert sum(c * w * h for c, (w, h) in zip(counts, shapes)) < 2 * 100 * 512 * 256  # at < 2x the final pixels


# ------------------------------------------------------------------ optimisation on a tiny random net


@pytest.fixture(scope="module")
def tiny_net(normalised_state: dict[str, torch.Tensor]) -> loss_net.LossNet:
    cfg = OptimizeConfig()
    return loss_net.build_loss_net(
        normalised_state, [*cfg.content_layers, *cfg.style_layers], "max", torch.device("cpu")
    )


def _picture(size: tuple[int, int], seed: int) -> Image.Image:
    """A smooth random RGB picture (gradients plus a few colour blobs)."""
    gen = torch.Generator().manual_seed(seed)
    low = torch.rand(1, 3, 4, 4, generator=gen)
    x = torch.nn.functional.interpolate(low, size=(size[1], size[0]), mode="bicubic", align_corners=False)
    return images.to_pil(x.clamp(0, 1))


@pytest.fixture(scope="module")
def pictures() -> tuple[Image.Image, Image.Image]:
    return _picture((32, 24), 1), _picture((32, 32), 7)


def _model(net: loss_net.LossNet, **kwargs: object) -> g.OptimizeModel:
    cfg = OptimizeConfig(size=32, scales=1, **kwargs)  # type: ignore[arg-type]
    return g.OptimizeModel(net, cfg, torch.device("cpu"))


@pytest.mark.parametrize(("optimizer", "loss"), [("lbfgs", "gram"), ("lbfgs", "w2"), ("adam", "meanstd")])
def test_a_few_steps_lower_the_loss(tiny_net: loss_net.LossNet, pictures: tuple, optimizer: str, loss: str) -> None:
    content, style = pictures
    model = _model(tiny_net, iterations=4, optimizer=optimizer, style_loss=loss, learning_rate=0.05)
    result = model.stylize(content, [g.StyleImage(style)])
    losses = [h["loss"] for h in result.history]
    assert len(losses) == 4 and result.image.shape == (1, 3, 24, 32)
    assert losses[-1] < 0.95 * losses[0] and min(losses) == losses[-1]
    assert 0.0 <= float(result.image.min()) and float(result.image.max()) <= 1.0


def test_coarse_to_fine_runs_every_scale(tiny_net: loss_net.LossNet, pictures: tuple) -> None:
    content, style = pictures
    cfg = OptimizeConfig(size=48, min_size=32, iterations=1)
    result = g.OptimizeModel(tiny_net, cfg, torch.device("cpu")).stylize(
        content.resize((48, 36)), [g.StyleImage(style)]
    )
    assert scale_shapes(48, 36, cfg) == [(34, 26), (48, 36)]
    assert len(result.history) == sum(scale_iterations(1, scale_shapes(48, 36, cfg))) == 2
    assert result.image.shape == (1, 3, 36, 48)


def test_seed_reproduces_bit_identical_output(tiny_net: loss_net.LossNet, pictures: tuple) -> None:
    content, style = pictures
    runs = [
        _model(tiny_net, iterations=2, init="noise").stylize(content, [g.StyleImage(style)], seed=s).image
        for s in (5, 5, 6)
    ]
    assert torch.equal(runs[0], runs[1])
    assert not torch.equal(runs[0], runs[2])


def _chroma_error(out: torch.Tensor, content: Image.Image) -> float:
    """Mean |I, Q| difference to the content (YIQ chroma)."""
    return float((ops.rgb_to_yiq(out)[:, 1:] - ops.rgb_to_yiq(images.to_tensor(content))[:, 1:]).abs().mean())


def _colour_stats_error(out: torch.Tensor, content: Image.Image) -> float:
    """Distance between the per-channel colour mean and std of ``out`` and the content's."""
    ref = images.to_tensor(content)
    return float(
        (out.mean((0, 2, 3)) - ref.mean((0, 2, 3))).abs().sum() + (out.std((0, 2, 3)) - ref.std((0, 2, 3))).abs().sum()
    )


def test_color_keeps_the_contents_colours(tiny_net: loss_net.LossNet, pictures: tuple) -> None:
    content, style = pictures
    outs = {
        mode: _model(tiny_net, iterations=3, color=mode, optimizer="adam", learning_rate=0.1)
        .stylize(content, [g.StyleImage(style)])
        .image
        for mode in ("none", "luminance", "match")
    }
    chroma = {mode: _chroma_error(out, content) for mode, out in outs.items()}
    assert chroma["luminance"] < 0.01 < chroma["none"]  # luminance: per-pixel chroma kept (clipping aside)
    assert chroma["match"] > 0  # match recolours the styles instead: checked on the style targets below
    matched = _model(tiny_net, color="match")._style_tensor(g.StyleImage(style), 40, images.to_tensor(content))
    assert _colour_stats_error(matched, content) < 0.02 < _colour_stats_error(images.to_tensor(style), content)


def test_style_blend_weights_and_style_stats_init(tiny_net: loss_net.LossNet, pictures: tuple) -> None:
    content, style = pictures
    model = _model(tiny_net, iterations=1, init="style-stats")
    a = model.style_targets([g.StyleImage(style, 1.0)], 32, images.to_tensor(content))
    b = model.style_targets([g.StyleImage(content, 1.0)], 32, images.to_tensor(content))
    mixed = model.style_targets([g.StyleImage(style, 0.25), g.StyleImage(content, 0.75)], 32, images.to_tensor(content))
    for layer in ("relu1_1", "relu5_1"):
        assert torch.allclose(mixed[layer].srm, 0.25 * a[layer].srm + 0.75 * b[layer].srm, rtol=1e-4, atol=1e-6)
    init = model._init(images.to_tensor(content), [g.StyleImage(style)], seed=1)
    style_mean = images.to_tensor(style).mean((0, 2, 3))
    assert torch.allclose(init.mean((0, 2, 3)), style_mean, atol=0.1)


def test_loss_net_file_loading(tmp_path: Path, normalised_state: dict[str, torch.Tensor]) -> None:
    path = tmp_path / "vgg.pth"
    torch.save(normalised_state, path)
    net = g.load_loss_net(str(path), ["relu2_1"], "max")
    assert set(net.index) >= {"relu1_1", "relu2_1"} and "relu3_1" not in net.index
    with pytest.raises(WeightsError):
        g.load_loss_net(str(tmp_path / "missing.pth"), ["relu2_1"])


@pytest.mark.parametrize("reflect", [False, True])
def test_winograd_conv_matches_conv2d_forward_and_backward(reflect: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    if not loss_net.NNPACK:
        pytest.skip("this torch has no NNPACK")
    monkeypatch.setattr(loss_net, "WINOGRAD", True)  # opt-in (STYLIZE_WINOGRAD=1)
    torch.manual_seed(4)
    weight, bias = torch.randn(6, 5, 3, 3) * 0.2, torch.randn(6)
    conv = loss_net.Conv3x3(nn.Parameter(weight, requires_grad=False), nn.Parameter(bias, requires_grad=False), reflect)
    for shape in ((1, 5, 13, 9), (1, 5, 1, 2)):
        x = torch.randn(shape, requires_grad=True)
        out = conv(x)
        grad = torch.randn_like(out)
        (dx,) = torch.autograd.grad((out * grad).sum(), x)
        mode = "reflect" if min(shape[-2:]) > 1 else "replicate"
        ref = torch.nn.functional.conv2d(
            torch.nn.functional.pad(x, (1, 1, 1, 1), mode=mode) if reflect else x,
            weight,
            bias,
            padding=0 if reflect else 1,
        )
        (ref_dx,) = torch.autograd.grad((ref * grad).sum(), x)
        assert torch.allclose(out, ref, atol=1e-4) and torch.allclose(dx, ref_dx, atol=1e-4)


def test_lbfgs_keeps_the_image_in_range_and_survives_divergence() -> None:
    """Projected L-BFGS: every evaluated point is clamped to [0, 1], so the result is what was scored."""
    target = torch.full((1, 3, 8, 8), 2.0)  # the unconstrained optimum lies outside [0, 1]

    def objective(x: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        loss = (x - target).square().sum()
        return loss, {"content": loss}

    losses: list[float] = []
    out = run_lbfgs(objective, torch.rand(1, 3, 8, 8), 20, 10, lambda i, x, loss, parts: losses.append(loss))
    assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0
    assert torch.allclose(out, torch.ones_like(out), atol=1e-4)  # the projection of the optimum
    assert all(math.isfinite(v) for v in losses)


def test_lbfgs_restarts_from_the_best_point_when_the_loss_blows_up() -> None:
    points: list[torch.Tensor] = []

    def objective(x: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        points.append(x.detach().clone())
        loss = (weights * (x - 0.5).square()).sum() + (1e6 if len(points) == 3 else 0.0)  # one wild evaluation
        return loss, {"content": loss}

    weights = torch.linspace(0.1, 3.0, 48).view(1, 3, 4, 4)  # ill-conditioned: several steps to converge
    out = run_lbfgs(objective, torch.zeros(1, 3, 4, 4), 30, 5, lambda *a: None)
    assert torch.equal(points[3], points[1])  # after the blow-up it went back to the best point so far
    assert torch.allclose(out, torch.full_like(out, 0.5), atol=1e-3)


def test_progress_sends_the_time_left_by_pixels_to_go(tiny_net: loss_net.LossNet, pictures: tuple) -> None:
    class Fields(NullReporter):
        def __init__(self) -> None:
            self.left: list[object] = []

        def advance(self, task: str, n: int = 1, **fields: object) -> None:
            self.left.append(fields.get(LEFT))

    content, style = pictures
    reporter = Fields()
    cfg = OptimizeConfig(size=48, min_size=32, iterations=2)
    g.OptimizeModel(tiny_net, cfg, torch.device("cpu")).stylize(
        content.resize((48, 36)), [g.StyleImage(style)], reporter=reporter
    )
    assert len(reporter.left) == 4 and reporter.left[0] is None  # the first step starts the clock
    assert all(isinstance(v, float) and v >= 0 for v in reporter.left[1:])
    assert reporter.left[-1] == 0.0

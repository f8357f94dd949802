"""AdaIN backend: published layouts, the maths of each option, exact tiling."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
import torch
from PIL import Image

from stylize import ops
from stylize.backends.adain.backend import prepare_style
from stylize.backends.adain.model import AdaINModel, StyleTarget, load_decoder, load_encoder, masked_transfer
from stylize.checkpoints import save_checkpoint
from stylize.config import AdaINConfig
from stylize.errors import UsageError, WeightsError
from stylize.models.adain_net import AdaINDecoder


@pytest.fixture(scope="module")
def model(random_adain_files: tuple[Path, Path]) -> AdaINModel:
    enc, dec = random_adain_files
    return AdaINModel(load_encoder(str(enc)), load_decoder(str(dec)), torch.device("cpu"), "fp32")


def _img(seed: int, h: int = 64, w: int = 80) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    low = torch.rand(1, 3, h // 8, w // 8, generator=g)
    return torch.nn.functional.interpolate(low, size=(h, w), mode="bilinear", align_corners=False)


def test_published_layouts_load_and_wrong_layout_is_named(
    random_adain_files: tuple[Path, Path], tmp_path: Path
) -> None:
    enc, dec = random_adain_files
    assert len(load_encoder(str(enc))) == 31  # modules 0..30, through relu4_1
    with pytest.raises(WeightsError, match="adain_decoder"):
        load_decoder(str(enc))
    with pytest.raises(WeightsError, match="adain_vgg_normalised"):
        load_encoder(str(dec))


def test_our_safetensors_decoder_loads(random_adain_files: tuple[Path, Path], tmp_path: Path) -> None:
    state = torch.load(random_adain_files[1], weights_only=True)
    path = save_checkpoint(tmp_path / "d.safetensors", state, {"architecture": "adain-decoder"})
    loaded = load_decoder(str(path))
    assert torch.equal(loaded[1].weight, state["1.weight"])
    other = save_checkpoint(tmp_path / "g.safetensors", state, {"architecture": "dcgan"})
    with pytest.raises(UsageError, match="dcgan"):
        load_decoder(str(other))


def test_output_shape_matches_content_even_when_not_multiple_of_8(model: AdaINModel) -> None:
    content = _img(1, 61, 75)
    out = model.stylize(content, [model.style_target(_img(2))], None, 1.0)
    assert out.shape == (1, 3, 61, 75) and torch.isfinite(out).all()


def test_adain_target_has_the_style_statistics(model: AdaINModel) -> None:
    target = model.style_target(_img(2))
    feats = model.encode(_img(1))
    mean, std = ops.mean_std(ops.adain(feats, target.mean, target.std))
    live = ops.mean_std(feats)[1] > 0.05  # dead ReLU channels are constant: nothing to rescale
    assert live.float().mean() > 0.5
    torch.testing.assert_close(mean, target.mean, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(std[live], target.std[live], rtol=1e-3, atol=1e-3)


def test_alpha_zero_reconstructs_and_style_changes_output(model: AdaINModel) -> None:
    content, style = _img(1), model.style_target(_img(2))
    plain = model.decode(model.encode(content)).float()
    assert torch.allclose(model.stylize(content, [style], None, 0.0), plain, atol=1e-4)
    assert (model.stylize(content, [style], None, 1.0) - plain).abs().mean() > 1e-3


def test_blend_one_hot_equals_single_style(model: AdaINModel) -> None:
    content = _img(1)
    a, b = model.style_target(_img(2)), model.style_target(_img(3))
    single = model.stylize(content, [a], None, 1.0)
    torch.testing.assert_close(model.stylize(content, [a, b], [1.0, 0.0], 1.0), single, rtol=1e-4, atol=1e-4)
    mixed = model.stylize(content, [a, b], [0.5, 0.5], 1.0)
    assert (mixed - single).abs().mean() > 1e-4


def test_full_mask_equals_single_style(model: AdaINModel) -> None:
    content = _img(1)
    a, b = model.style_target(_img(2)), model.style_target(_img(3))
    masks = torch.stack([torch.ones(8, 10), torch.zeros(8, 10)])
    torch.testing.assert_close(
        model.stylize(content, [a, b], None, 1.0, masks), model.stylize(content, [a], None, 1.0), rtol=1e-3, atol=1e-3
    )


def test_half_masks_take_each_style_in_its_region() -> None:
    feats = torch.randn(1, 4, 6, 8)
    a = StyleTarget(torch.full((1, 4, 1, 1), 5.0), torch.full((1, 4, 1, 1), 0.1))
    b = StyleTarget(torch.full((1, 4, 1, 1), -5.0), torch.full((1, 4, 1, 1), 0.1))
    left = torch.zeros(6, 8)
    left[:, :4] = 1
    out = masked_transfer(feats, [a, b], torch.stack([left, 1 - left]))
    assert out[..., :4].mean() == pytest.approx(5.0, abs=0.05) and out[..., 4:].mean() == pytest.approx(-5.0, abs=0.05)


@pytest.mark.parametrize("size", [(200, 136), (96, 250)])
def test_tiling_is_exact(model: AdaINModel, size: tuple[int, int]) -> None:
    content, style = _img(4, *size), model.style_target(_img(2))
    whole = model.stylize(content, [style], None, 0.8)
    tiled = model.stylize(content, [style], None, 0.8, tile=64)
    torch.testing.assert_close(tiled, whole, rtol=1e-4, atol=2e-4)


def test_bf16_is_close_to_fp32(random_adain_files: tuple[Path, Path], model: AdaINModel) -> None:
    enc, dec = random_adain_files
    bf16 = AdaINModel(load_encoder(str(enc)), load_decoder(str(dec)), torch.device("cpu"), "bf16")
    content = _img(1)
    ref = model.stylize(content, [model.style_target(_img(2))], None, 1.0).clamp(0, 1)
    low = bf16.stylize(content, [bf16.style_target(_img(2))], None, 1.0).clamp(0, 1)
    assert (ref - low).abs().mean() < 0.03


def test_decoder_random_round_trip(tmp_path: Path) -> None:
    torch.manual_seed(3)
    dec = AdaINDecoder()
    torch.save(dec.state_dict(), tmp_path / "d.pth")
    back = load_decoder(str(tmp_path / "d.pth"))
    x = torch.randn(1, 512, 3, 4)
    with torch.no_grad():
        torch.testing.assert_close(back(x), dec(x))


def test_a_decoder_gets_the_encoder_it_was_trained_for(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from stylize.backends.adain import model as adain
    from stylize.config import AdaINConfig
    from stylize.progress import RecordingReporter

    path = save_checkpoint(
        tmp_path / "mine.safetensors",
        AdaINDecoder().state_dict(),
        {"architecture": "adain-decoder", "encoder": "vgg19-caffe-normalised"},
    )
    asked: list[str] = []
    monkeypatch.setattr(adain, "load_encoder", lambda name, reporter=None: asked.append(name) or name)
    adain.load_pair(AdaINConfig(decoder=str(path)))
    assert asked == ["vgg19-caffe-normalised"]  # no --encoder needed: offline with the bundled VGG-19
    reporter = RecordingReporter()
    adain.load_pair(AdaINConfig(decoder=str(path), encoder="published"), reporter)
    assert asked[-1] == "adain-vgg" and any("trained for" in e[-1] for e in reporter.events if e[0] == "log")
    monkeypatch.setattr(
        adain,
        "load_decoder_for",
        lambda name, reporter=None: adain.DecoderInfo(None, adain.PUBLISHED_ENCODERS.get(name)),  # type: ignore[arg-type]
    )
    adain.load_pair(AdaINConfig())
    assert asked[-1] == "adain-vgg"  # the published decoder keeps the published encoder


# ---------------------------------------------------------------- videos: content statistics over time


def test_stats_smoother_damps_a_flicker_and_restarts_at_a_cut() -> None:
    from stylize.backends.adain.model import StatsSmoother

    base, std = torch.ones(1, 4, 1, 1), torch.ones(1, 4, 1, 1)
    smoother = StatsSmoother(keep=0.5, cut=0.25)
    assert torch.equal(smoother(base, std)[0], base)  # the first frame is taken as it is
    flicker = smoother(base * 1.2, std)[0]  # a 20% flash: half of it gets through
    assert torch.allclose(flicker, base * 1.1)
    cut = smoother(base * 3.0, std * 2)  # a new scene: taken at once
    assert torch.equal(cut[0], base * 3.0) and torch.equal(cut[1], std * 2)
    frames = smoother(torch.stack([base[0] * 3.0, base[0] * 3.3]), torch.stack([std[0] * 2] * 2))[0]
    assert torch.allclose(frames[1], base[0] * 3.15) and len(smoother.trail) == 2  # in order, within a batch


def test_a_video_frames_statistics_are_smoothed_and_resume_exactly(model: AdaINModel) -> None:
    """A bright patch that comes and goes restyles the whole frame frame by frame (AdaIN renormalises
    by each frame's statistics); with --temporal the rest of the frame stays steadier. Stopping after
    frame 3 and resuming from the saved state gives the uninterrupted run's frames."""
    from stylize.backends.adain.backend import AdaINMethod
    from stylize.backends.stylizer import MethodBackend, Prepared
    from stylize.config import AdaINConfig

    frames = [_img(1).clone() for _ in range(6)]
    for frame in frames[1::2]:
        frame[..., :24, :24] = 1.0  # the patch, in every other frame
    loads = [Prepared(f, None, "s") for f in frames]  # type: ignore[arg-type]

    def backend() -> MethodBackend:
        made = MethodBackend(AdaINMethod(lambda: model, AdaINConfig(), {"s": Path("unused.png")}))
        made._states[("s", None)] = [model.style_target(_img(9))]
        return made

    def run(b: MethodBackend, items: list[Prepared]) -> list[torch.Tensor]:
        return [b.process([None], [item])[0].final() for item in items]

    def flicker(outs: list[torch.Tensor]) -> float:  # change of the far corner, away from the patch
        return float(sum((a[..., 40:, 48:] - b[..., 40:, 48:]).abs().mean() for a, b in itertools.pairwise(outs)))

    plain, steady = backend(), backend()
    plain.begin_video(loads[0], 0.0)
    steady.begin_video(loads[0], 0.5)
    whole = run(steady, loads)
    assert flicker(whole) < 0.8 * flicker(run(plain, loads))
    first, rest = backend(), backend()
    first.begin_video(loads[0], 0.5)
    head = run(first, loads[:3])
    rest.begin_video(loads[0], 0.5, (first.video_states() or [])[-1])
    assert all(torch.equal(a, b) for a, b in zip(head + run(rest, loads[3:]), whole))


def test_efdm_masks_give_each_region_its_style_distribution() -> None:
    feats = torch.randn(1, 4, 6, 8)
    values_a, values_b = torch.arange(24.0), -torch.arange(24.0) - 100.0
    a = StyleTarget(torch.zeros(1, 4, 1, 1), torch.ones(1, 4, 1, 1), values_a.expand(1, 4, 24).contiguous())
    b = StyleTarget(
        torch.zeros(1, 4, 1, 1), torch.ones(1, 4, 1, 1), values_b.sort().values.expand(1, 4, 24).contiguous()
    )
    left = torch.zeros(6, 8)
    left[:, :4] = 1
    out = masked_transfer(feats, [a, b], torch.stack([left, 1 - left]), "efdm")
    assert torch.equal(out[0, 0, :, :4].flatten().sort().values, values_a)
    assert out[..., 4:].max() <= -100.0


def test_efdm_model_matches_the_style_distribution(model: AdaINModel) -> None:
    efdm = AdaINModel(model.encoder, model.decoder, torch.device("cpu"), "fp32", fused=False, transform="efdm")
    content, style = _img(1), _img(2)
    target = efdm.style_target(style)
    assert target.sorted is not None and target.sorted.shape[:2] == (1, 512)
    out = efdm.stylize(content, [target], None, 1.0)
    assert out.shape == content.shape
    assert (out - model.stylize(content, [model.style_target(style)], None, 1.0)).abs().mean() > 1e-4


def test_wct_model_gives_the_style_covariance_and_blends(model: AdaINModel) -> None:
    wct = AdaINModel(model.encoder, model.decoder, torch.device("cpu"), "fp32", fused=False, transform="wct")
    content, style, other = _img(1), _img(2), _img(3)
    target = wct.style_target(style)
    assert target.colour is not None and target.colour.shape == (1, 512, 512)
    out = wct.stylize(content, [target], None, 1.0)
    assert out.shape == content.shape and torch.isfinite(out).all()
    assert (out - model.stylize(content, [model.style_target(style)], None, 1.0)).abs().mean() > 1e-4
    one_hot = wct.stylize(content, [target, wct.style_target(other)], [1.0, 0.0], 1.0)
    torch.testing.assert_close(one_hot, out, atol=1e-4, rtol=0)
    tiny = wct.style_target(_img(4, 8, 8))  # one feature pixel: a flat target, still a picture
    assert torch.isfinite(wct.stylize(content, [tiny], None, 1.0)).all()


def test_wct_masks_give_each_region_its_style_mean() -> None:
    feats = torch.randn(1, 4, 6, 8)
    styles = [torch.randn(1, 4, 5, 5) + 10, torch.randn(1, 4, 5, 5) - 10]
    targets = [StyleTarget(*ops.mean_std(s), colour=ops.wct_colouring(s)[1]) for s in styles]
    left = torch.zeros(6, 8)
    left[:, :4] = 1
    out = masked_transfer(feats, targets, torch.stack([left, 1 - left]), "wct")
    torch.testing.assert_close(out[..., :4].mean((2, 3)), styles[0].mean((2, 3)), atol=1e-3, rtol=0)
    torch.testing.assert_close(out[..., 4:].mean((2, 3)), styles[1].mean((2, 3)), atol=1e-3, rtol=0)


@pytest.mark.parametrize(
    ("crop", "scale", "shape"), [(False, 2.0, (96, 128)), (True, 2.0, (128, 128)), (False, 0.001, (1, 1))]
)
def test_style_scale_resizes_the_style_after_its_size(crop: bool, scale: float, shape: tuple[int, int]) -> None:
    rgb = Image.new("RGB", (160, 120), (200, 30, 30))
    config = AdaINConfig(style_size=64, crop=crop, style_scale=scale)
    assert prepare_style(rgb, config, 10**6).shape[-2:] == shape
    assert prepare_style(rgb, AdaINConfig(style_size=64), 10**6).shape[-2:] == (48, 64)  # 1: unchanged


@pytest.mark.parametrize("scale", [0.0, -1.0, 4.01, float("inf")])
def test_style_scale_is_validated(scale: float) -> None:
    with pytest.raises(UsageError, match="--style-scale"):
        AdaINConfig(style_scale=scale)
    assert AdaINConfig(style_scale=4.0).style_scale == 4.0


def test_refine_runs_its_loss_in_float32_whatever_the_precision(
    model: AdaINModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    """bf16 rounds pixels to 1/256 steps: L-BFGS's first small step from a decoded picture vanished and
    the run cycled between the start and a 60x higher loss."""
    seen = []

    def fake(net: object, image: torch.Tensor, *args: object, **kwargs: object) -> torch.Tensor:
        seen.append(args[3])
        return image

    monkeypatch.setattr("stylize.backends.objective.refine", fake)
    bf16 = AdaINModel(model.encoder, model.decoder, torch.device("cpu"), "bf16", fused=False)
    bf16.loss_net = torch.nn.Identity()  # type: ignore[assignment]
    target = bf16.style_target(_img(2))
    target.picture = _img(2)
    out = bf16.refine(_img(1).expand(2, -1, -1, -1), _img(1).expand(2, -1, -1, -1), [target], None, 3)
    assert out.shape == (2, 3, 64, 80) and seen == ["fp32", "fp32"]  # each picture of a batch, in float32


def test_transform_is_validated() -> None:
    with pytest.raises(UsageError, match="--transform must be one of adain, efdm, wct"):
        AdaINConfig(transform="gatys")


@pytest.mark.parametrize("alpha", [float("nan"), 50, -0.5, "0.5", True, [1]])
def test_a_decoder_whose_recorded_alpha_is_not_0_to_1_is_refused(tmp_path: Path, alpha: object) -> None:
    from stylize.backends.adain.model import load_decoder_for

    state = AdaINDecoder().state_dict()
    path = save_checkpoint(tmp_path / "d.safetensors", state, {"architecture": "adain-decoder", "alpha": alpha})
    with pytest.raises(WeightsError, match="alpha .* is not a number between 0 and 1"):
        load_decoder_for(str(path))
    good = save_checkpoint(tmp_path / "g.safetensors", state, {"architecture": "adain-decoder", "alpha": 0.6})
    assert load_decoder_for(str(good)).alpha == 0.6


@pytest.mark.usefixtures("fake_adain_weights")
def test_a_tampered_decoder_is_exit_4_with_one_line(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from stylize.cli import app

    photo = Path(__file__).resolve().parents[2] / "examples" / "content" / "chelsea.jpg"
    state = AdaINDecoder().state_dict()
    for meta in ({"alpha": float("nan")}, {"alpha": 50}, {"encoder": ["adain-vgg"]}):
        bad = save_checkpoint(tmp_path / "bad.safetensors", state, {"architecture": "adain-decoder", **meta})
        args = [
            "adain",
            str(photo),
            "-s",
            str(photo),
            "--decoder",
            str(bad),
            "-o",
            str(tmp_path / "out"),
            "--size",
            "32",
        ]
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 4 and len(result.stderr.strip().splitlines()) == 1, (meta, result.output)
        assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())

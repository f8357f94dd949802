"""Our VGG-19 and AdaIN decoder modules against the published state-dict layouts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch import nn

from stylize.errors import WeightsError
from stylize.models import layouts
from stylize.models.adain_net import AdaINDecoder
from stylize.models.vgg import NormalisedVGG19, TorchvisionVGG16Features, TorchvisionVGG19Features

REFERENCE_DIR = Path(__file__).resolve().parents[2] / ".." / "shared" / "reference"
SMALL = (1, 3, 32, 32)

LAYOUT_FUNCTIONS = {
    "adain_vgg_normalised": layouts.adain_vgg_normalised_layout,
    "adain_decoder": layouts.adain_decoder_layout,
    "torchvision_vgg19": lambda: layouts.torchvision_vgg19_layout(classifier=True),
    "torchvision_vgg16": lambda: layouts.torchvision_vgg16_layout(classifier=True),
}
FACTORIES = {
    "adain_vgg_normalised": NormalisedVGG19,
    "adain_decoder": AdaINDecoder,
    "torchvision_vgg19": TorchvisionVGG19Features,
    "torchvision_vgg16": TorchvisionVGG16Features,
}


def _random_state_dict(name: str) -> dict[str, torch.Tensor]:
    """Random tensors with exactly the published keys and shapes (classifier on meta)."""
    shapes = LAYOUT_FUNCTIONS[name]()
    return {
        key: torch.empty(shape, device="meta") if key.startswith("classifier.") else torch.randn(shape)
        for key, shape in shapes.items()
    }


@pytest.fixture(scope="module")
def vgg() -> NormalisedVGG19:
    return NormalisedVGG19().eval()


@pytest.fixture(scope="module")
def tv_vgg() -> TorchvisionVGG19Features:
    return TorchvisionVGG19Features().eval()


@pytest.mark.parametrize("name", sorted(LAYOUT_FUNCTIONS))
def test_layout_matches_published_manifest(name: str) -> None:
    path = REFERENCE_DIR / f"{name}.json"
    if not path.is_file():
        pytest.skip(f"no reference manifest at {path}")
    expected = {key: tuple(shape) for key, shape in json.loads(path.read_text())["keys"].items()}
    assert LAYOUT_FUNCTIONS[name]() == expected


def test_layout_registry_covers_all() -> None:
    assert set(layouts.LAYOUTS) == set(LAYOUT_FUNCTIONS)
    assert layouts.LAYOUTS["torchvision_vgg19"]() == layouts.torchvision_vgg19_layout()


def test_vgg16_layout_is_torchvisions() -> None:
    """vgg16-397923af.pth: 13 convs at features.0,2,5,...,28 and the three-layer classifier (no manifest shipped)."""
    convs = (0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28)
    widths = (64, 64, 128, 128, 256, 256, 256, 512, 512, 512, 512, 512, 512)
    expected: dict[str, tuple[int, ...]] = {}
    c_in = 3
    for index, width in zip(convs, widths):
        expected[f"features.{index}.weight"], expected[f"features.{index}.bias"] = (width, c_in, 3, 3), (width,)
        c_in = width
    for index, (out, inp) in zip((0, 3, 6), ((4096, 25088), (4096, 4096), (1000, 4096))):
        expected[f"classifier.{index}.weight"], expected[f"classifier.{index}.bias"] = (out, inp), (out,)
    assert layouts.torchvision_vgg16_layout(classifier=True) == expected
    named = {"relu1_2": 3, "relu2_2": 8, "relu3_3": 15, "relu4_3": 22}
    assert {k: TorchvisionVGG16Features.layer_index[k] for k in named} == named


def test_module_counts_and_named_layers() -> None:
    assert len(NormalisedVGG19()) == 53
    assert len(AdaINDecoder()) == 29
    assert len(TorchvisionVGG19Features().body) == 37
    named = {"relu1_1": 3, "relu2_1": 10, "relu3_1": 17, "relu4_1": 30, "relu5_1": 43}
    assert {k: NormalisedVGG19.layer_index[k] for k in named} == named
    tv = {"relu1_1": 1, "relu2_1": 6, "relu3_1": 11, "relu4_1": 20, "relu4_2": 22, "relu5_1": 29}
    assert {k: TorchvisionVGG19Features.layer_index[k] for k in tv} == tv


def test_decoder_structure() -> None:
    decoder = AdaINDecoder()
    ups = [i for i, m in enumerate(decoder) if isinstance(m, nn.Upsample)]
    relus = [i for i, m in enumerate(decoder) if isinstance(m, nn.ReLU)]
    assert ups == [3, 16, 23]
    assert not isinstance(decoder[-1], nn.ReLU) and len(relus) == 8
    assert all(m.inplace for m in decoder if isinstance(m, nn.ReLU))


@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_random_published_dict_loads_strict(name: str) -> None:
    state = _random_state_dict(name)
    model = FACTORIES[name]()
    model.load_state_dict(state, strict=True)
    first = next(k for k in state if not k.startswith("classifier."))
    assert torch.equal(model.state_dict()[first], state[first])
    built = layouts.build_checked(FACTORIES[name], state, name)
    assert not any(p.is_meta for p in built.parameters())
    assert torch.equal(built.state_dict()[first], state[first])


def test_wrong_layout_raises_weights_error() -> None:
    decoder_state = AdaINDecoder().state_dict()
    with pytest.raises(WeightsError, match="adain_vgg_normalised") as info:
        layouts.load_checked(NormalisedVGG19(), decoder_state, "adain_vgg_normalised")
    assert "\n" not in info.value.one_line() and "'0.weight'" in str(info.value)


def test_check_layout_names_first_bad_key() -> None:
    expected = layouts.adain_decoder_layout()
    state = {key: torch.empty(shape) for key, shape in expected.items()}
    state["5.weight"] = torch.empty(1, 2, 3, 3)
    with pytest.raises(WeightsError, match=r"adain_decoder: key '5.weight' has shape \(1, 2, 3, 3\)"):
        layouts.check_layout(state, expected, "adain_decoder")
    state = {key: torch.empty(shape) for key, shape in expected.items()} | {"extra": torch.zeros(1)}
    with pytest.raises(WeightsError, match="unexpected key 'extra'"):
        layouts.check_layout(state, expected, "adain_decoder")
    with pytest.raises(WeightsError, match="adain_decoder"):
        layouts.check_layout([1, 2], expected, "adain_decoder")  # type: ignore[arg-type]


@pytest.mark.parametrize("factory", [AdaINDecoder, NormalisedVGG19])
def test_saved_random_model_round_trips(tmp_path: Path, factory: type[nn.Module]) -> None:
    model = factory().eval()
    torch.save(model.state_dict(), tmp_path / "weights.pth")
    state = torch.load(tmp_path / "weights.pth", weights_only=True)
    loaded = layouts.build_checked(factory, state, "round trip").eval()
    x = torch.rand(1, 512, 4, 4) if factory is AdaINDecoder else torch.rand(*SMALL)
    with torch.no_grad():
        assert torch.equal(model(x), loaded(x))


def test_features_agree_with_truncated_encoder(vgg: NormalisedVGG19) -> None:
    x = torch.rand(*SMALL)
    encoder = vgg.truncated("relu4_1")
    assert len(encoder) == 31 and list(encoder.state_dict())[-1] == "29.bias"
    with torch.no_grad():
        feats = vgg.features(x, ["relu1_1", "relu2_1", "relu3_1", "relu4_1"])
        assert torch.equal(feats["relu4_1"], encoder(x))
    assert [f.shape[1] for f in feats.values()] == [64, 128, 256, 512]


def test_features_stop_at_deepest_layer(vgg: NormalisedVGG19) -> None:
    called = []
    handle = vgg[31].register_forward_hook(lambda *_: called.append(True))
    try:
        with torch.no_grad():
            vgg.features(torch.rand(*SMALL), ["relu4_1"])
    finally:
        handle.remove()
    assert not called


@pytest.mark.parametrize("which", ["vgg", "tv_vgg"])
def test_conv_outputs_survive_inplace_relu(which: str, request: pytest.FixtureRequest) -> None:
    model = request.getfixturevalue(which)
    with torch.no_grad():
        feats = model.features(torch.rand(*SMALL), ["conv1_1", "relu1_1", "conv4_2", "relu4_2"])
    assert (feats["conv4_2"] < 0).any()
    assert torch.equal(torch.relu(feats["conv4_2"]), feats["relu4_2"])
    assert torch.equal(torch.relu(feats["conv1_1"]), feats["relu1_1"])


def test_unknown_layer_is_rejected(vgg: NormalisedVGG19) -> None:
    with pytest.raises(ValueError, match="relu9_9"):
        vgg.features(torch.rand(*SMALL), ["relu9_9"])
    assert vgg.features(torch.rand(*SMALL), []) == {}


def test_torchvision_normalises_inside(tv_vgg: TorchvisionVGG19Features) -> None:
    x = torch.rand(*SMALL)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    with torch.no_grad():
        expected = tv_vgg.body[:12]((x - mean) / std)
        got = tv_vgg.features(x, ["relu3_1"])["relu3_1"]
        truncated = tv_vgg.truncated("relu3_1")(x)
    torch.testing.assert_close(got, expected)
    assert torch.equal(got, truncated)
    assert list(tv_vgg.truncated("relu1_1").state_dict()) == ["features.0.weight", "features.0.bias"]


@pytest.mark.parametrize("factory", [NormalisedVGG19, TorchvisionVGG19Features])
def test_avg_pooling_keeps_layout(factory: type[nn.Module]) -> None:
    model = factory(pooling="avg")
    assert any(isinstance(m, nn.AvgPool2d) for m in model.modules())
    assert not any(isinstance(m, nn.MaxPool2d) for m in model.modules())
    assert layouts.state_shapes(model) == layouts.state_shapes(factory())
    with pytest.raises(ValueError, match="pooling"):
        factory(pooling="min")


@pytest.mark.parametrize("which", ["vgg", "tv_vgg"])
def test_channels_last_and_bf16_autocast(which: str, request: pytest.FixtureRequest) -> None:
    model = request.getfixturevalue(which)
    x = torch.rand(*SMALL)
    layers = ["conv2_1", "relu2_1", "relu4_1"]
    with torch.no_grad():
        reference = model.features(x, layers)
        fast = model.features(x.contiguous(memory_format=torch.channels_last), layers)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            low = model.features(x.contiguous(memory_format=torch.channels_last), layers)
    for name in layers:
        torch.testing.assert_close(fast[name], reference[name], rtol=1e-4, atol=1e-4)
        assert low[name].dtype == torch.bfloat16 and low[name].shape == reference[name].shape


def test_decoder_shapes_channels_last_and_autocast() -> None:
    decoder = AdaINDecoder().eval()
    feat = torch.rand(1, 512, 3, 5).contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        assert decoder(feat).shape == (1, 3, 24, 40)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            assert decoder(feat).dtype == torch.bfloat16


def test_gradients_flow_to_input(vgg: NormalisedVGG19) -> None:
    x = torch.rand(*SMALL, requires_grad=True)
    feats = vgg.features(x, ["conv1_2", "relu2_1"])
    (feats["conv1_2"].sum() + feats["relu2_1"].square().sum()).backward()
    assert x.grad is not None and x.grad.abs().sum() > 0

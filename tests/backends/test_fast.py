"""Fast-style backend: model loading (registry zip, published .pth, our safetensors), tiling, colour, ONNX."""

from __future__ import annotations

import http.server
import io
import itertools
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest
import torch
import torch.nn.functional as F

from stylize import ops, weights
from stylize.backends.fast import (
    DEFAULT_MODEL,
    FastModel,
    export_onnx,
    list_models,
    load_model,
    model_tags,
    save_model,
)
from stylize.backends.fast.backend import tile_cores
from stylize.config import FastConfig
from stylize.devices import effective_precision
from stylize.errors import UsageError, WeightsError
from stylize.models.transformer_net import SharedStats, TransformerNet, strip_stale_keys, transformer_net_layout
from stylize.tiles import blended_map
from stylize.weights import fast_models_dir

CPU = torch.device("cpu")


@pytest.fixture(autouse=True, scope="module")
def _one_thread() -> Iterator[None]:
    """Small tensors: one thread avoids OpenMP barrier stalls on a busy 2-core machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


FAST_NAMES = ("candy", "mosaic", "rain-princess", "udnie")


def published_state(seed: int) -> dict[str, torch.Tensor]:
    """A state dict with exactly the published keys and shapes, stale statistics included."""
    g = torch.Generator().manual_seed(seed)
    return {key: torch.randn(shape, generator=g) * 0.1 for key, shape in transformer_net_layout(stale=True).items()}


@pytest.fixture(scope="module")
def mild_net() -> TransformerNet:
    """Default init with an amplified last conv: the output spreads over 0-255."""
    torch.manual_seed(0)
    net = TransformerNet().eval()
    with torch.no_grad():
        net.deconv3.conv2d.weight.mul_(300)
    return net


@pytest.fixture(scope="module")
def model(mild_net: TransformerNet) -> FastModel:
    return FastModel(mild_net, CPU, "fp32")


def _image(seed: int, h: int, w: int) -> torch.Tensor:
    """Smooth shapes plus texture, with a darker top half (not stationary), (1, 3, H, W) in [0, 1]."""
    g = torch.Generator().manual_seed(seed)
    low = torch.rand(1, 3, max(1, h // 32), max(1, w // 32), generator=g)
    low[..., : max(1, h // 64), :] *= 0.3
    smooth = F.interpolate(low, size=(h, w), mode="bilinear", align_corners=False)
    return smooth * 0.6 + torch.rand(1, 3, h, w, generator=g) * 0.4


# ---------------------------------------------------------------- loading


def test_published_pth_loads_and_safetensors_round_trips(tmp_path: Path) -> None:
    state = published_state(1)
    torch.save(state, tmp_path / "candy.pth")
    net = load_model(str(tmp_path / "candy.pth"))
    assert torch.equal(net.in4.weight, state["in4.weight"]) and not net.training
    saved = save_model(tmp_path / "mine.safetensors", net, style="candy.jpg", config={"epochs": 2})
    again = load_model(str(saved))
    assert all(torch.equal(a, b) for a, b in zip(net.state_dict().values(), again.state_dict().values()))
    from stylize.checkpoints import load_tensors

    tensors, meta = load_tensors(saved)
    assert meta["architecture"] == "transformer-net" and meta["format"] == 2 and meta["style"] == "candy.jpg"
    assert set(tensors) == set(strip_stale_keys(state))


def test_names_shared_with_the_model_module_agree() -> None:
    from stylize.backends.fast import backend, zoo
    from stylize.models import transformer_net

    assert (zoo.LAYOUT, zoo.ARCHITECTURE) == (transformer_net.LAYOUT, transformer_net.ARCHITECTURE)
    assert backend.MULTIPLE == transformer_net.STRIDE


def test_newer_checkpoint_format_is_refused(tmp_path: Path) -> None:
    from stylize.checkpoints import save_checkpoint

    path = save_checkpoint(
        tmp_path / "future.safetensors",
        TransformerNet().state_dict(),
        {"architecture": "transformer-net", "format": 99},
    )
    with pytest.raises(WeightsError, match="format 99"):
        load_model(str(path))


def test_wrapped_state_dict_is_accepted(tmp_path: Path) -> None:
    torch.save({"state_dict": published_state(2)}, tmp_path / "wrapped.pth")
    assert isinstance(load_model(str(tmp_path / "wrapped.pth")), TransformerNet)


@pytest.mark.parametrize("damage", ["missing", "shape", "architecture", "not-weights"])
def test_bad_model_files_name_the_expected_layout(tmp_path: Path, damage: str) -> None:
    state = published_state(3)
    path = tmp_path / "bad.pth"
    if damage == "missing":
        del state["res2.conv1.conv2d.weight"]
        torch.save(state, path)
    elif damage == "shape":
        state["conv1.conv2d.weight"] = torch.zeros(16, 3, 9, 9)
        torch.save(state, path)
    elif damage == "architecture":
        path = save_model(tmp_path / "bad.safetensors", TransformerNet())
        from stylize.checkpoints import save_checkpoint

        save_checkpoint(path, strip_stale_keys(state), {"architecture": "adain-decoder"})
    else:
        path.write_bytes(b"these are not weights")
    with pytest.raises(WeightsError, match="fast_transformer_net") as info:
        load_model(str(path))
    assert "\n" not in info.value.one_line() and str(path) in str(info.value)


def test_unknown_and_non_fast_names(tmp_path: Path) -> None:
    with pytest.raises(WeightsError, match="no such model") as info:
        load_model("no-such-model")
    assert "candy" in info.value.one_line()  # the hint lists the known models
    with pytest.raises(WeightsError, match="not a fast-style model"):
        load_model("vgg19")


def test_local_model_folder_is_searched_and_listed() -> None:
    fast_models_dir().mkdir(parents=True)
    save_model(fast_models_dir() / "my-style.safetensors", TransformerNet())
    assert isinstance(load_model("my-style"), TransformerNet)
    entries = {e.name: e for e in list_models()}
    assert set(FAST_NAMES) <= set(entries) and entries["my-style"].source == "local"
    assert entries["candy"].path is None  # nothing downloaded


def test_model_tags_refuse_two_models_with_one_name() -> None:
    assert model_tags(["candy", "x/mosaic.pth"]) == {"candy": "candy", "mosaic": "x/mosaic.pth"}
    with pytest.raises(UsageError):
        model_tags(["a/m.pth", "b/m.safetensors"])
    assert model_tags([]) == {DEFAULT_MODEL: DEFAULT_MODEL} == {"starry-night": "starry-night"}  # shipped


class _ZipHandler(http.server.BaseHTTPRequestHandler):
    payload = b""
    hits: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        type(self).hits.append(self.path)
        self.send_response(200)
        self.send_header("Content-Length", str(len(self.payload)))
        self.end_headers()
        self.wfile.write(self.payload)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def zip_server() -> Iterator[str]:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for i, stem in enumerate(("candy", "mosaic", "rain_princess", "udnie")):
            member = io.BytesIO()
            torch.save(published_state(10 + i), member)
            zf.writestr(f"saved_models/{stem}.pth", member.getvalue())
    _ZipHandler.payload, _ZipHandler.hits = buf.getvalue(), []
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _ZipHandler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def test_registry_names_download_the_zip_once_and_cache_all_four(
    zip_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STYLIZE_MIRROR", zip_server)
    candy = load_model("candy")
    assert torch.equal(candy.conv1.conv2d.weight, published_state(10)["conv1.conv2d.weight"])
    for name in FAST_NAMES:
        assert weights.find_cached(name) is not None
    load_model("udnie")
    assert _ZipHandler.hits == ["/saved_models.zip"]
    assert not weights.cache_path(weights.get_spec("fast-style-models")).exists()  # the zip is not kept


# ---------------------------------------------------------------- running


def test_precision_resolution() -> None:
    assert effective_precision("auto", CPU) in ("bf16", "fp32")
    assert effective_precision("fp32", CPU) == "fp32"
    with pytest.raises(UsageError, match="fp16"):
        effective_precision("fp16", CPU)
    with pytest.raises(UsageError):
        FastConfig(precision="fp8")


@pytest.mark.parametrize(
    ("avx512_bf16", "amx", "expected"), [(False, False, "fp32"), (True, False, "bf16"), (False, True, "bf16")]
)
def test_auto_precision_wants_the_cpus_own_bf16_instructions(
    monkeypatch: pytest.MonkeyPatch, avx512_bf16: bool, amx: bool, expected: str
) -> None:
    """oneDNN accepts bf16 on any AVX-512 CPU but emulates it without AVX512-BF16/AMX (5x slower convs)."""
    monkeypatch.setattr(torch.backends.mkldnn, "is_available", lambda: True)
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: avx512_bf16, raising=False)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: amx, raising=False)
    assert effective_precision("auto", CPU) == expected
    assert effective_precision("bf16", CPU) == "bf16"  # asked for, it is used anyway


def test_float16_files_run_in_the_precision_asked_for() -> None:
    """The shipped files store float16: at fp32 they run as float32 (float16 convs crawl on a CPU)."""
    net = TransformerNet().half()
    model = FastModel(net, CPU, "fp32")
    assert model.net.dtype == torch.float32
    assert all(p.dtype == torch.float32 for p in model.net.parameters())
    assert FastModel(net, CPU, "bf16").net.dtype == torch.bfloat16


def test_any_size_comes_back_at_its_size(model: FastModel) -> None:
    for h, w in ((1, 1), (5, 3)):  # both padded to 8 x 8: one set of conv kernels
        out = model(torch.rand(2, 3, h, w))
        assert out.shape == (2, 3, h, w) and torch.isfinite(out).all()


def _fast_color(net: TransformerNet, x: torch.Tensor, color: str) -> torch.Tensor:
    from stylize.backends.fast import FastMethod
    from stylize.backends.stylizer import MethodBackend, Prepared

    method = FastMethod(FastConfig(color=color), {"m": "unused"}, models={"m": FastModel(net, CPU, "fp32")})
    return MethodBackend(method).process([None], [Prepared(x, None, "m")])[0].final()  # type: ignore[arg-type]


def test_color_luminance_keeps_the_content_chroma(mild_net: TransformerNet) -> None:
    x = _image(5, 32, 48)
    kept, styled = _fast_color(mild_net, x, "luminance"), _fast_color(mild_net, x, "none")
    yiq_kept, yiq_content, yiq_styled = ops.rgb_to_yiq(kept), ops.rgb_to_yiq(x[0]), ops.rgb_to_yiq(styled.clamp(0, 1))
    torch.testing.assert_close(yiq_kept[1:], yiq_content[1:], atol=1e-5, rtol=0)
    torch.testing.assert_close(yiq_kept[0], yiq_styled[0], atol=1e-5, rtol=0)


def test_color_match_gives_the_content_colour_statistics(mild_net: TransformerNet) -> None:
    x = _image(6, 40, 40)
    matched, styled = _fast_color(mild_net, x, "match"), _fast_color(mild_net, x, "none").clamp(0, 1)

    def mean_gap(img: torch.Tensor) -> float:
        return float((img.flatten(1).mean(1) - x[0].flatten(1).mean(1)).abs().max())

    assert mean_gap(matched) < 0.02 < mean_gap(styled)


# ---------------------------------------------------------------- tiling

SIZE, TILE, OVERLAP = 320, 192, 64
REACH = 56  # px: the network's receptive field radius (54 px)


def _away_from_tile_edges(length: int) -> torch.Tensor:
    keep = torch.ones(length, dtype=torch.bool)
    for start, _, _ in tile_cores(length, TILE, OVERLAP):
        for edge in (start, start + TILE):
            keep[max(0, edge - REACH) : edge + REACH] = False
    keep[:REACH] = keep[-REACH:] = False  # no tile edge there, but keep the test about tiles
    keep[:1] = keep[-1:] = False
    return keep


def test_tile_cores_partition_each_axis() -> None:
    cores = tile_cores(SIZE, TILE, OVERLAP)
    assert cores[0][1] == 0 and cores[-1][2] == SIZE
    assert all(a[2] == b[1] for a, b in itertools.pairwise(cores))
    assert all(start <= lo < hi <= start + TILE for start, lo, hi in cores)
    assert tile_cores(100, 192, 64) == [(0, 0, 100)]


def test_tiles_with_whole_image_statistics_equal_the_untiled_output(model: FastModel) -> None:
    x = _image(7, SIZE, SIZE) * 255
    with torch.inference_mode():
        whole = model._padded(x)
        truth = SharedStats()
        model._padded(x, truth, (0, SIZE, 0, SIZE))
        truth.freeze()
        tiled = model._tiled(x, TILE, OVERLAP, truth)
    keep = _away_from_tile_edges(SIZE)
    interior = (whole - tiled).abs()[..., keep, :][..., keep]
    assert keep.sum() >= 16 and interior.max() < 0.01  # 0-255 scale: exact up to float rounding
    assert (whole - tiled).abs().mean() < 4  # near tile edges the context beyond the tile is missing


def test_tiling_has_no_seam_and_beats_per_tile_statistics(model: FastModel) -> None:
    x = _image(8, SIZE, SIZE)
    whole = model(x).clamp(0, 1)
    tiled = model(x, tile=TILE, overlap=OVERLAP).clamp(0, 1)
    with torch.inference_mode():
        per_tile = blended_map(model._padded, x * 255, TILE, OVERLAP).div(255).clamp(0, 1)
    assert (tiled - whole).abs().mean() < (per_tile - whole).abs().mean()
    # seam: the step across each tile edge is no larger than a typical step between neighbours
    steps = (tiled[..., :, 1:] - tiled[..., :, :-1]).abs().mean(dim=(0, 1, 2))  # (W - 1,) per column
    edges = sorted(
        {e for s, _, _ in tile_cores(SIZE, TILE, OVERLAP) for e in (s - 1, s + TILE - 1) if 0 <= e < SIZE - 1}
    )
    assert edges and max(steps[e] for e in edges) < 1.25 * steps.median()
    rows = (tiled[..., 1:, :] - tiled[..., :-1, :]).abs().mean(dim=(0, 1, 3))
    assert max(rows[e] for e in edges) < 1.25 * rows.median()


def test_tiled_batch_keeps_statistics_per_image(model: FastModel) -> None:
    a, b = _image(10, 160, 128), _image(11, 160, 128).flip(-2)  # different tone layouts
    both = model(torch.cat([a, b]), tile=96, overlap=32)
    torch.testing.assert_close(
        both, torch.cat([model(a, tile=96, overlap=32), model(b, tile=96, overlap=32)]), atol=1e-4, rtol=1e-4
    )


def test_untiled_when_the_image_fits_the_tile(model: FastModel) -> None:
    x = _image(9, 40, 56)
    torch.testing.assert_close(model(x, tile=64, overlap=16), model(x))


# ---------------------------------------------------------------- ONNX


def test_onnx_export_matches_pytorch(tmp_path: Path) -> None:
    pytest.importorskip("onnx")
    torch.save(published_state(4), tmp_path / "m.pth")
    path = export_onnx(str(tmp_path / "m.pth"), tmp_path / "out" / "m.onnx")
    assert path.is_file() and path.stat().st_size > 6_000_000
    ort = pytest.importorskip("onnxruntime")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    net = load_model(str(tmp_path / "m.pth"))
    for h, w in ((32, 48), (20, 28)):  # dynamic height and width, batch 2
        x = torch.rand(2, 3, h, w) * 255
        got = torch.from_numpy(session.run(None, {"input": x.numpy()})[0])
        with torch.inference_mode():
            torch.testing.assert_close(got, net(x), atol=1e-3, rtol=1e-4)


def test_onnx_export_refuses_other_suffixes(tmp_path: Path) -> None:
    pytest.importorskip("onnx")
    torch.save(published_state(4), tmp_path / "m.pth")
    with pytest.raises(UsageError, match=".onnx"):
        export_onnx(str(tmp_path / "m.pth"), tmp_path / "m.bin")

"""``stylize adain`` end to end with random weights registered as the cached defaults."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from stylize.cli import app

runner = CliRunner()
pytestmark = pytest.mark.usefixtures("fake_adain_weights")


def _run(*args: str) -> object:
    return runner.invoke(app, ["--quiet", "adain", "--size", "64", "--style-size", "64", *args])


V = "_size64_style-size64"  # what _run's settings add to a default name ({variant})


@pytest.fixture
def pics(tmp_path: Path, image_factory: object) -> dict[str, Path]:
    make = image_factory
    return {
        "c1": make(tmp_path / "in" / "c1.jpg", (80, 60), 1),
        "c2": make(tmp_path / "in" / "sub" / "c2.png", (40, 70), 2),
        "s1": make(tmp_path / "styles" / "s1.png", (64, 64), 3),
        "s2": make(tmp_path / "styles" / "s2.jpg", (50, 64), 4),
    }


def test_short_form_writes_one_file(pics: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "out.png"
    result = _run(str(pics["c1"]), str(pics["s1"]), "-o", str(out))
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == str(out)
    img = Image.open(out)
    assert img.size == (64, 48)  # long side --size, aspect kept
    assert np.asarray(img).std() > 1  # not a flat image


def test_folder_times_styles_mirrors_tree(pics: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = _run(str(tmp_path / "in"), "-s", str(pics["s1"]), "-s", str(pics["s2"]), "-o", str(out))
    assert result.exit_code == 0, result.output
    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert written == [
        f"c1_adain_s1{V}.jpg",
        f"c1_adain_s2{V}.jpg",
        f"sub/c2_adain_s1{V}.png",
        f"sub/c2_adain_s2{V}.png",
    ]
    assert len(result.stdout.split()) == 4


def test_blend_give_one_blended_output(pics: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "o"
    result = _run(
        str(pics["c1"]),
        "-s",
        str(pics["s1"]),
        "-s",
        str(pics["s2"]),
        "--blend",
        "3,1",
        "-o",
        str(out),
        "--json",
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert [Path(d["output"]).name for d in report["done"]] == [f"c1_adain_s1@0.75+s2@0.25{V}.jpg"]


def test_old_blend_name_still_works_and_is_hidden(pics: dict[str, Path], tmp_path: Path) -> None:
    both = [str(pics["c1"]), "-s", str(pics["s1"]), "-s", str(pics["s2"])]
    new = _run(*both, "--blend", "3,1", "-o", str(tmp_path / "new"))
    old = _run(*both, "--style-weights", "3,1", "-o", str(tmp_path / "old"))
    assert new.exit_code == old.exit_code == 0, (new.output, old.output)
    name = f"c1_adain_s1@0.75+s2@0.25{V}.jpg"
    assert (tmp_path / "new" / name).read_bytes() == (tmp_path / "old" / name).read_bytes()
    twice = _run(*both, "--blend", "3,1", "--style-weights", "3,1", "-o", str(tmp_path / "x"))
    assert twice.exit_code == 2 and "old name of --blend" in twice.stderr
    help_text = runner.invoke(app, ["adain", "--help"]).stdout
    assert "--blend" in help_text and "--style-weights" not in help_text


def test_preserve_color_luminance_keeps_chroma(pics: dict[str, Path], tmp_path: Path) -> None:
    import torch

    from stylize import images, ops

    out, plain = tmp_path / "lum.png", tmp_path / "plain.png"
    assert _run(str(pics["c2"]), str(pics["s1"]), "--color", "luminance", "-o", str(out)).exit_code == 0
    assert _run(str(pics["c2"]), str(pics["s1"]), "-o", str(plain)).exit_code == 0
    content = images.to_tensor(images.resize_long_side(Image.open(pics["c2"]).convert("RGB"), 64))

    def chroma_error(path: Path) -> float:  # mean |IQ difference| to the content (clipping moves a little)
        return float(
            (ops.rgb_to_yiq(images.to_tensor(Image.open(path)))[:, 1:] - ops.rgb_to_yiq(content)[:, 1:]).abs().mean()
        )

    assert chroma_error(out) < 0.01 < chroma_error(plain)
    assert torch.is_tensor(content)


def test_preserve_color_is_color_luminance_and_match_recolours(pics: dict[str, Path], tmp_path: Path) -> None:
    runs = {"alias": ["--preserve-color"], "luminance": ["--color", "luminance"], "match": ["--color", "match"]}
    for name, flags in runs.items():
        assert _run(str(pics["c1"]), str(pics["s1"]), *flags, "-o", str(tmp_path / f"{name}.png")).exit_code == 0
    pixels = {name: np.asarray(Image.open(tmp_path / f"{name}.png")) for name in runs}
    assert np.array_equal(pixels["alias"], pixels["luminance"])
    assert not np.array_equal(pixels["match"], pixels["luminance"])
    clash = _run(str(pics["c1"]), str(pics["s1"]), "--preserve-color", "--color", "match")
    assert clash.exit_code == 2 and "conflicts with --color match" in clash.output


def test_mask_splits_two_styles_and_bad_mask_is_exit_3(pics: dict[str, Path], tmp_path: Path) -> None:
    mask = tmp_path / "mask.png"
    m = Image.new("L", (10, 10), 0)
    m.paste(255, (0, 0, 5, 10))
    m.save(mask)
    ok = _run(
        str(pics["c1"]),
        "-s",
        str(pics["s1"]),
        "-s",
        str(pics["s2"]),
        "--mask",
        str(mask),
        "-o",
        str(tmp_path / "masked.png"),
    )
    assert ok.exit_code == 0, ok.output
    bad = tmp_path / "bad.png"
    bad.write_text("not an image")
    res = _run(
        str(pics["c1"]), "-s", str(pics["s1"]), "-s", str(pics["s2"]), "--mask", str(bad), "-o", str(tmp_path / "x.png")
    )
    assert res.exit_code == 3 and "mask" in res.stderr


def test_wct_transform_runs_alone_blended_masked_and_on_a_tiny_style(pics: dict[str, Path], tmp_path: Path) -> None:
    mask = tmp_path / "white.png"
    Image.new("L", (10, 10), 255).save(mask)
    c1, s1, s2 = str(pics["c1"]), str(pics["s1"]), str(pics["s2"])
    runs = {
        "adain": [c1, s1, "--transform", "adain"],
        "wct": [c1, s1, "--transform", "wct"],
        "blend": [c1, "-s", s1, "-s", s2, "--blend", "1,0", "--transform", "wct"],
        "mask": [c1, "-s", s1, "-s", s2, "--mask", str(mask), "--transform", "wct"],
        "tiny": [c1, s1, "--transform", "wct", "--style-scale", "0.1"],
    }
    out = {}
    for name, args in runs.items():
        result = _run(*args, "-o", str(tmp_path / f"{name}.png"))
        assert result.exit_code == 0, (name, result.output)
        out[name] = np.asarray(Image.open(tmp_path / f"{name}.png"), dtype=np.float32)
    assert np.abs(out["wct"] - out["adain"]).mean() > 0.5
    assert np.abs(out["blend"] - out["wct"]).max() <= 2  # all weight on s1: s1's picture
    assert np.abs(out["mask"] - out["wct"]).max() <= 2  # all white: s1 everywhere
    bad = _run(c1, s1, "--transform", "wxt")
    assert bad.exit_code == 2 and "adain, efdm, wct" in bad.stderr


def test_alpha_channel_survives(tmp_path: Path, pics: dict[str, Path]) -> None:
    src = tmp_path / "rgba.png"
    img = Image.open(pics["c1"]).convert("RGBA")
    img.putalpha(Image.linear_gradient("L").resize(img.size))
    img.save(src)
    out = tmp_path / "rgba_out.png"
    assert _run(str(src), str(pics["s1"]), "-o", str(out)).exit_code == 0
    back = Image.open(out)
    assert back.mode == "RGBA" and back.getchannel("A").getextrema()[0] < 20


def test_bad_inputs_partial_exit_6(pics: dict[str, Path], tmp_path: Path) -> None:
    (tmp_path / "in" / "broken.jpg").write_bytes(b"\xff\xd8\xff garbage")
    result = _run(str(tmp_path / "in"), "-s", str(pics["s1"]), "-o", str(tmp_path / "o"))
    assert result.exit_code == 6
    assert "broken.jpg" in result.stderr
    assert len(list((tmp_path / "o").rglob(f"*_s1{V}.*"))) == 2


def test_usage_errors(pics: dict[str, Path], tmp_path: Path) -> None:
    assert _run(str(pics["c1"])).exit_code == 2  # no style
    weights = _run(str(pics["c1"]), "-s", str(pics["s1"]), "--blend", "1,2")
    assert weights.exit_code == 2 and "--blend" in weights.stderr
    assert _run(str(pics["c1"]), str(pics["s1"]), "--color", "sepia").exit_code == 2
    assert _run(str(pics["c1"]), str(pics["s1"]), "--tile", "100").exit_code == 2
    for scale in ("0", "-1", "4.5", "nan"):
        bad = _run(str(pics["c1"]), str(pics["s1"]), "--style-scale", scale)
        assert bad.exit_code == 2 and "--style-scale" in bad.stderr, (scale, bad.output)
        assert len(bad.stderr.strip().splitlines()) == 1
    for args in (
        ["--refine", "-1"],
        ["--refine", "1001"],
        ["-s", str(pics["s2"]), "--mask", str(pics["c2"]), "--refine", "2"],
    ):
        bad = _run(str(pics["c1"]), "-s", str(pics["s1"]), *args)
        assert bad.exit_code == 2 and "--refine" in bad.stderr, (args, bad.output)


def test_style_scale_changes_the_pixels(pics: dict[str, Path], tmp_path: Path) -> None:
    outs = {}
    for scale in ("1", "2"):
        outs[scale] = tmp_path / f"x{scale}.png"
        result = _run(str(pics["c1"]), str(pics["s1"]), "--style-scale", scale, "-o", str(outs[scale]))
        assert result.exit_code == 0, result.output
    one, two = (np.asarray(Image.open(outs[s]), dtype=np.float32) for s in ("1", "2"))
    assert one.shape == two.shape and np.abs(one - two).mean() > 0.5


def test_wrong_layout_decoder_is_exit_4(
    pics: dict[str, Path], random_adain_files: tuple[Path, Path], tmp_path: Path
) -> None:
    result = _run(
        str(pics["c1"]), str(pics["s1"]), "--decoder", str(random_adain_files[0]), "-o", str(tmp_path / "x.png")
    )
    assert result.exit_code == 4
    assert "adain_decoder" in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_resume_skips_existing_without_loading(
    pics: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "o"
    assert _run(str(tmp_path / "in"), "-s", str(pics["s1"]), "-o", str(out)).exit_code == 0
    import stylize.backends.adain.model as backend

    monkeypatch.setattr(backend, "load_encoder", lambda *a: pytest.fail("model loaded for nothing"))
    again = _run(str(tmp_path / "in"), "-s", str(pics["s1"]), "-o", str(out), "--json")
    assert again.exit_code == 0 and json.loads(again.stdout)["counts"]["skipped"] == 2


def _truncated(path: Path, source: Path) -> Path:
    data = Image.open(source).convert("RGB")
    data.save(path, quality=95)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    return path


def test_one_damaged_photo_is_one_error_line_and_exit_3(pics: dict[str, Path], tmp_path: Path) -> None:
    bad = _truncated(tmp_path / "truncated.jpg", pics["c1"])
    result = _run(str(bad), str(pics["s1"]), "-o", str(tmp_path / "out"))
    assert result.exit_code == 3, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and f"{bad}: cannot decode image" in lines[0], lines
    assert result.stdout == ""


def test_a_damaged_style_stops_before_any_model_or_work(
    pics: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import stylize.backends.adain as backend

    monkeypatch.setattr(backend, "load_pair", lambda *a: pytest.fail("model loaded before the style was checked"))
    bad = _truncated(tmp_path / "bad_style.jpg", pics["s1"])
    out = tmp_path / "out"
    for args in (["-s", str(bad)], ["-s", str(pics["s1"]), "-s", str(pics["s2"]), "--mask", str(bad)]):
        result = _run(str(tmp_path / "in"), *args, "-o", str(out))
        assert result.exit_code == 3, result.output
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and "bad_style.jpg: cannot decode image" in lines[0], lines
        assert not out.exists()


def test_styles_and_masks_are_decoded_once_for_the_whole_batch(
    pics: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from stylize import images

    opened: list[Path] = []
    real_open = images.open_image
    monkeypatch.setattr(
        images, "open_image", lambda path, *a, **k: opened.append(Path(path)) or real_open(path, *a, **k)
    )
    args = ["-s", str(pics["s1"]), "-s", str(pics["s2"]), "--mask", str(pics["s2"]), "-o", str(tmp_path / "out")]
    result = _run(str(tmp_path / "in"), *args)
    assert result.exit_code == 0, result.output
    assert len(result.stdout.split()) == sum(p.is_file() for p in (tmp_path / "in").rglob("*"))  # one per photo
    assert opened.count(pics["s1"]) == 1 and opened.count(pics["s2"]) == 1  # the style-and-mask file too


@pytest.mark.parametrize("overwrite", [[], ["--overwrite"]])
def test_style_and_mask_files_are_never_outputs(pics: dict[str, Path], tmp_path: Path, overwrite: list[str]) -> None:
    before = {k: pics[k].read_bytes() for k in ("s1", "s2")}
    result = _run(str(pics["c1"]), str(pics["s1"]), "-o", str(pics["s1"]), *overwrite)
    assert result.exit_code == 3 and "which this command reads" in result.stderr and result.stdout == ""
    mask = pics["s2"]  # any image works as a mask
    result = _run(str(pics["c1"]), "-s", str(pics["s1"]), "--mask", str(mask), "-o", str(mask), *overwrite)
    assert result.exit_code == 3 and "which this command reads" in result.stderr
    assert {k: pics[k].read_bytes() for k in ("s1", "s2")} == before


@pytest.mark.parametrize(
    "args", [["--size", "100000"], ["--size", "99999999"], ["--style-size", "100000"], ["--size", "100000", "--crop"]]
)
def test_sizes_over_max_pixels_are_refused_before_allocating(
    pics: dict[str, Path], tmp_path: Path, args: list[str]
) -> None:
    result = runner.invoke(
        app, ["adain", str(pics["c1"]), str(pics["s1"]), *args, "--upscale", "-o", str(tmp_path / "o.png")]
    )
    assert result.exit_code == 3, result.output
    assert "pixel limit" in result.stderr and "--max-pixels" in result.stderr
    assert not (tmp_path / "o.png").exists()


def test_a_fifo_as_content_or_style_is_exit_3_without_blocking(pics: dict[str, Path], tmp_path: Path) -> None:
    import os

    fifo = tmp_path / "pipe.jpg"
    os.mkfifo(fifo)
    for args in ([str(fifo), str(pics["s1"])], [str(pics["c1"]), "-s", str(fifo)]):
        result = _run(*args, "-o", str(tmp_path / "out"))
        assert result.exit_code == 3 and "not a regular file" in result.stderr, result.output


def test_conflicting_colour_options_are_refused(pics: dict[str, Path]) -> None:
    result = _run(str(pics["c1"]), str(pics["s1"]), "--preserve-color", "--color", "match")
    assert result.exit_code == 2 and "conflicts" in result.stderr


def test_without_alpha_the_decoder_runs_at_its_own(
    pics: dict[str, Path], tmp_path: Path, random_adain_files: tuple[Path, Path]
) -> None:
    import torch

    from stylize.checkpoints import save_checkpoint

    state = torch.load(random_adain_files[1], weights_only=True)
    mine = save_checkpoint(
        tmp_path / "mine.safetensors", state, {"architecture": "adain-decoder", "encoder": "adain-vgg", "alpha": 0.3}
    )

    def run(name: str, *extra: str) -> np.ndarray:
        out = tmp_path / f"{name}.png"
        assert _run(str(pics["c1"]), str(pics["s1"]), "--decoder", str(mine), "-o", str(out), *extra).exit_code == 0
        return np.asarray(Image.open(out))

    default, third, full = run("default"), run("third", "--alpha", "0.3"), run("full", "--alpha", "1")
    assert np.array_equal(default, third) and not np.array_equal(default, full)


@pytest.mark.usefixtures("bundled_vgg")
def test_refine_runs_after_the_decoder_and_keeps_luminance_chroma(pics: dict[str, Path], tmp_path: Path) -> None:
    plain, refined = tmp_path / "plain.png", tmp_path / "refined.png"
    # fp32 decoding: from these random weights' saturated bf16 picture (a CPU with native bf16 decodes in
    # bf16 by default) L-BFGS's first 3 iterations move it by 0.1 grey levels, 10 by 28; fp32: 8.6 and 24
    for out, extra in ((plain, []), (refined, ["--refine", "3"])):
        result = runner.invoke(
            app,
            ["adain", "--size", "32", "--style-size", "32", "--precision", "fp32", str(pics["c1"]), str(pics["s1"])]
            + ["-o", str(out), *extra],
        )
        assert result.exit_code == 0, result.output
    a, b = (np.asarray(Image.open(p), dtype=np.float32) for p in (plain, refined))
    assert a.shape == b.shape and np.abs(a - b).mean() > 1
    gray = tmp_path / "gray.png"
    result = _run(str(pics["c1"]), str(pics["s1"]), "--refine", "2", "--color", "luminance", "-o", str(gray))
    assert result.exit_code == 0, result.output
    content = Image.open(pics["c1"]).convert("YCbCr").resize(Image.open(gray).size)
    chroma = np.asarray(Image.open(gray).convert("YCbCr"), np.float32)[..., 1:]
    assert np.abs(chroma - np.asarray(content, np.float32)[..., 1:]).mean() < 4  # the photo's colours kept

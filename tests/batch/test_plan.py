"""stylize.batch.plan (and its options): output names, folders and the outputs that are refused."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from batch_helpers import make_image

from stylize.batch import (
    DEFAULT_OUTPUT_DIR,
    BatchOptions,
    collect_inputs,
    plan_jobs,
)
from stylize.errors import OutputError, UsageError


def test_plan_mirrors_tree_with_template(tree: Path, tmp_path: Path) -> None:
    options = BatchOptions(output=tmp_path / "out", name="{parent}-{stem}_{style}.{ext}")
    jobs = plan_jobs(collect_inputs([str(tree)]), ["starry", "wave"], options)
    rel = [j.output.relative_to(tmp_path / "out").as_posix() for j in jobs]
    assert rel[:2] == ["photos-B_starry.png", "photos-B_wave.png"]
    assert "sub/deeper/deeper-d_wave.webp" in rel and len(rel) == 8


def test_plan_ext_and_gif_default(tmp_path: Path) -> None:
    make_image(tmp_path / "in" / "anim.gif")
    make_image(tmp_path / "in" / "x.JPEG")
    inputs = collect_inputs([str(tmp_path / "in")])
    names = [j.output.name for j in plan_jobs(inputs, ["s"], BatchOptions(output=tmp_path / "o", name="{name}.{ext}"))]
    assert names == ["anim.gif.png", "x.JPEG.jpeg"]
    forced = plan_jobs(inputs, ["s"], BatchOptions(output=tmp_path / "o", ext=".WEBP"))
    assert [j.output.name for j in forced] == ["anim_out_s.webp", "x_out_s.webp"]


def test_plan_never_takes_earlier_outputs_as_inputs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_image(tmp_path / "a.png")
    make_image(tmp_path / DEFAULT_OUTPUT_DIR / "a_s.png")  # the result of an earlier run in ./stylized/
    make_image(tmp_path / "out" / "a_s.png")
    monkeypatch.chdir(tmp_path)
    inputs = collect_inputs(["."])
    planned = [j.output.as_posix() for j in plan_jobs(inputs, ["s"], BatchOptions())]
    assert planned == ["stylized/a_out_s.png", "stylized/out/a_s_out_s.png"]
    assert inputs.skipped_in_output == 1
    jobs = plan_jobs(collect_inputs(["."]), ["s"], BatchOptions(output=Path("out")))
    assert [j.input.path.as_posix() for j in jobs] == ["a.png", "stylized/a_s.png"]


def test_plan_default_output_folder(tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tree.parent)
    jobs = plan_jobs(collect_inputs(["photos"]), ["out"], BatchOptions())
    assert jobs[1].output == DEFAULT_OUTPUT_DIR / "a_out_out.jpg"


def test_plan_single_file_output(tree: Path, tmp_path: Path) -> None:
    one = collect_inputs([str(tree / "a.jpg")])
    assert plan_jobs(one, ["s"], BatchOptions(output=tmp_path / "x.png"))[0].output == tmp_path / "x.png"
    with pytest.raises(UsageError, match="names one file but there are 4 outputs"):
        plan_jobs(collect_inputs([str(tree)]), ["s"], BatchOptions(output=tmp_path / "x.png"))


def test_plan_collision_names_both_inputs(tmp_path: Path) -> None:
    make_image(tmp_path / "in" / "p.jpg")
    make_image(tmp_path / "in" / "p.JPG")
    with pytest.raises(UsageError, match=r"p\.JPG.*and.*p\.jpg.*would both be written"):
        plan_jobs(collect_inputs([str(tmp_path / "in")]), ["s"], BatchOptions(output=tmp_path / "o"))
    with pytest.raises(UsageError, match="would both"):  # two styles, no {style}
        plan_jobs(collect_inputs([str(tmp_path / "in" / "p.jpg")]), ["s", "t"], BatchOptions(name="{stem}.{ext}"))


def test_plan_refuses_to_write_over_an_input(tree: Path) -> None:
    with pytest.raises(OutputError, match="would overwrite the input"):
        plan_jobs(collect_inputs([str(tree)]), ["s"], BatchOptions(output=tree, name="{stem}.{ext}"))


@pytest.mark.parametrize("kw", [{"name": "{stemm}.png"}, {"name": "../{stem}.png"}, {"ext": "gif"}, {"batch_size": 0}])
def test_bad_options_are_usage_errors(tree: Path, kw: dict[str, object]) -> None:
    with pytest.raises(UsageError):
        plan_jobs(collect_inputs([str(tree)]), ["s"], BatchOptions(**kw))  # type: ignore[arg-type]


def test_outputs_may_not_be_protected_files_even_through_a_hard_link(tmp_path: Path) -> None:
    photo, style = make_image(tmp_path / "in" / "a.png"), make_image(tmp_path / "style.png")
    inputs = collect_inputs([str(photo)])
    with pytest.raises(OutputError, match="which this command reads"):
        plan_jobs(inputs, ["s"], BatchOptions(output=style), protected=[style])
    os.link(style, tmp_path / "alias.png")
    with pytest.raises(OutputError, match="which this command reads"):
        plan_jobs(inputs, ["s"], BatchOptions(output=tmp_path / "alias.png"), protected=[style])
    assert plan_jobs(inputs, ["s"], BatchOptions(output=tmp_path / "fine.png"), protected=[style])


@pytest.mark.parametrize("name", ["out.exe", "result.txt"])
def test_a_one_file_output_with_an_unknown_extension_is_refused(tmp_path: Path, name: str) -> None:
    inputs = collect_inputs([str(make_image(tmp_path / "a.png"))])
    with pytest.raises(UsageError, match="not an image format"):
        plan_jobs(inputs, ["s"], BatchOptions(output=tmp_path / name))
    assert plan_jobs(inputs, ["s"], BatchOptions(output=tmp_path / "v1.2"))[0].output.parent == tmp_path / "v1.2"


def test_an_output_folder_under_a_file_is_refused_before_any_work(tmp_path: Path) -> None:
    inputs = collect_inputs([str(make_image(tmp_path / "a.png"))])
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(OutputError, match="is a file"):
        plan_jobs(inputs, ["s"], BatchOptions(output=tmp_path / "file.txt" / "out"))


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux /proc")
def test_an_output_under_proc_is_refused_before_any_work(tmp_path: Path) -> None:
    """/proc passes the permission check (as root) but takes no files: refused up front, one line, exit 3."""
    from typer.testing import CliRunner

    from stylize.cli import app

    photo = make_image(tmp_path / "a.png")
    for output in ("/proc/stylize-out", "/proc/a.png"):
        result = CliRunner().invoke(app, ["fast", str(photo), "-o", output, "--size", "16"])
        assert result.exit_code == 3 and "files cannot be created here" in result.output, result.output
        assert len(result.stderr.strip().splitlines()) == 1
    assert (
        CliRunner().invoke(app, ["--quiet", "fast", str(photo), "-o", str(tmp_path / "out"), "--size", "16"]).exit_code
        == 0
    )
    assert [p.name for p in (tmp_path / "out").iterdir()] == [
        "a_fast_starry-night_size16.png"
    ]  # the probe left nothing

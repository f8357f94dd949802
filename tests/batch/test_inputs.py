"""stylize.batch.inputs: collecting files, folders, globs and stdin; what is skipped or refused and why."""

from __future__ import annotations

import os
from io import StringIO
from pathlib import Path

import pytest
from batch_helpers import make_image

from stylize import images
from stylize.batch import (
    collect_inputs,
)
from stylize.errors import InputError


def test_collect_mirrors_folder_and_counts_skips(tree: Path) -> None:
    found = collect_inputs([str(tree)])
    assert [i.rel.as_posix() for i in found.items] == ["B.PNG", "a.jpg", "sub/c.jpg", "sub/deeper/d.webp"]
    assert found.skipped_hidden == 2  # .hidden.jpg and the .git folder
    assert found.skipped_non_image == 1  # notes.txt; our own temp file is not counted at all


def test_collect_glob_is_case_insensitive(tree: Path) -> None:
    found = collect_inputs([str(tree)], glob="*.JPG")
    assert [i.rel.as_posix() for i in found.items] == ["a.jpg", "sub/c.jpg"]
    assert collect_inputs([str(tree)], glob="sub/*.webp").items[0].rel == Path("sub/deeper/d.webp")


def test_collect_files_stdin_and_dedupe(tree: Path) -> None:
    stdin = StringIO(f"{tree / 'a.jpg'}\n\n{tree / 'sub' / 'c.jpg'}\n")
    found = collect_inputs(["-", str(tree / "a.jpg")], stdin=stdin)
    assert [(i.rel.as_posix(), i.path.name) for i in found.items] == [("a.jpg", "a.jpg"), ("c.jpg", "c.jpg")]


def test_collect_missing_and_empty_are_input_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        collect_inputs([str(tmp_path / "nope")])
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "readme.md").write_text("x")
    with pytest.raises(InputError, match="no images found"):
        collect_inputs([str(tmp_path / "empty")])


def test_a_fifo_is_refused_named_directly_and_passed_over_in_a_folder(tmp_path: Path) -> None:
    make_image(tmp_path / "in" / "a.png")
    fifo = tmp_path / "in" / "pipe.png"
    os.mkfifo(fifo)
    with pytest.raises(InputError, match="not a regular file"):
        collect_inputs([str(fifo)])  # never opened: opening a FIFO with no writer blocks forever
    found = collect_inputs([str(tmp_path / "in")])
    assert [item.path.name for item in found.items] == ["a.png"]
    assert found.unreadable == [(fifo, "not a regular file (a FIFO, device, socket or broken link)")]
    with pytest.raises(InputError, match="not a regular file"):
        images.open_image(fifo)


def test_links_that_lead_nowhere_say_so(tmp_path: Path) -> None:
    loop = tmp_path / "loop.png"
    loop.symlink_to(loop)
    with pytest.raises(InputError, match="looping symbolic link"):
        collect_inputs([str(loop)])
    (tmp_path / "dangling.png").symlink_to(tmp_path / "gone.png")
    with pytest.raises(InputError, match="broken or looping symbolic link"):
        collect_inputs([str(tmp_path / "dangling.png")])
    zero = tmp_path / "zero.png"
    zero.symlink_to("/dev/zero")
    with pytest.raises(InputError, match="not a regular file"):
        collect_inputs([str(zero)])


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads every folder")
def test_an_unreadable_subfolder_is_reported_not_silently_skipped(tmp_path: Path) -> None:
    make_image(tmp_path / "in" / "a.png")
    locked = tmp_path / "in" / "locked"
    make_image(locked / "b.png")
    locked.chmod(0)
    try:
        found = collect_inputs([str(tmp_path / "in")])
        assert [item.path.name for item in found.items] == ["a.png"]
        assert found.unreadable and "not readable" in found.unreadable[0][1]
        with pytest.raises(InputError, match="permission denied"):
            collect_inputs([str(locked / "b.png")])
    finally:
        locked.chmod(0o755)


def test_folder_links_are_followed_once_and_loops_reported(tmp_path: Path) -> None:
    make_image(tmp_path / "real" / "a.png")
    (tmp_path / "in").mkdir()
    make_image(tmp_path / "in" / "b.png")
    (tmp_path / "in" / "linked").symlink_to(tmp_path / "real")
    (tmp_path / "in" / "loop").symlink_to(tmp_path / "in")
    found = collect_inputs([str(tmp_path / "in")])
    assert sorted(item.rel.as_posix() for item in found.items) == ["b.png", "linked/a.png"]
    assert [(p.name, "loop" in why) for p, why in found.unreadable] == [("loop", True)]


def test_line_breaks_in_file_names_are_refused(tmp_path: Path) -> None:
    odd = make_image(tmp_path / "in" / "two\nlines.png")
    make_image(tmp_path / "in" / "fine.png")
    with pytest.raises(InputError, match="line break"):
        collect_inputs([str(odd)])
    found = collect_inputs([str(tmp_path / "in")])
    assert [item.path.name for item in found.items] == ["fine.png"] and len(found.unreadable) == 1


def test_a_file_in_an_unsearchable_folder_is_one_line_not_an_internal_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As a normal user (root searches every folder, so the denial is simulated)."""
    target = make_image(tmp_path / "locked" / "a.png")
    real_stat = Path.stat

    def stat(self: Path, *args: object, **kwargs: object) -> os.stat_result:
        if self == target:
            raise PermissionError(13, "Permission denied", str(self))
        return real_stat(self, *args, **kwargs)

    monkeypatch.setattr(Path, "stat", stat)
    with pytest.raises(InputError, match="permission denied"):
        collect_inputs([str(target)])

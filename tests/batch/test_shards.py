"""Sharding: --shard i/n and torchrun's RANK/WORLD_SIZE split the jobs into disjoint parts."""

from __future__ import annotations

from pathlib import Path

import pytest
from batch_helpers import make_image

from stylize.batch import (
    BatchOptions,
    collect_inputs,
    parse_shard,
    plan_jobs,
    resolve_shard,
)
from stylize.errors import UsageError


def test_shards_are_disjoint_and_their_union_is_the_whole(tmp_path: Path) -> None:
    for i in range(10):
        make_image(tmp_path / "in" / f"d{i % 3}" / f"{i}.png")
    inputs = collect_inputs([str(tmp_path / "in")])
    whole = plan_jobs(inputs, ["s", "t"], BatchOptions())
    parts = [plan_jobs(inputs, ["s", "t"], BatchOptions(shard=(i, 3))) for i in range(3)]
    outputs = [j.output for part in parts for j in part]
    assert sorted(outputs) == sorted(j.output for j in whole) and len(set(outputs)) == 20
    assert all(
        {j.input for j in part}.isdisjoint({j.input for j in other})
        for part in parts
        for other in parts
        if part is not other
    )


def test_shard_from_torchrun_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert resolve_shard(None, {"RANK": "2", "WORLD_SIZE": "4"}) == (2, 4)
    assert resolve_shard(None, {"RANK": "2"}) is None and resolve_shard((1, 2), {"RANK": "0", "WORLD_SIZE": "4"}) == (
        1,
        2,
    )
    for i in range(4):
        make_image(tmp_path / "in" / f"{i}.png")
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "2")
    jobs = plan_jobs(collect_inputs([str(tmp_path / "in")]), ["s"], BatchOptions())
    assert [j.input.path.name for j in jobs] == ["1.png", "3.png"]


@pytest.mark.parametrize("text", ["4/4", "-1/2", "1", "a/b", "1/0"])
def test_bad_shards_are_usage_errors(text: str) -> None:
    with pytest.raises(UsageError):
        parse_shard(text)


def test_environment_shard_errors_name_the_variables() -> None:
    with pytest.raises(UsageError, match="RANK=3 WORLD_SIZE=2"):
        resolve_shard(None, {"RANK": "3", "WORLD_SIZE": "2"})

"""Shared config validation: one PRECISIONS, finite numbers everywhere."""

from __future__ import annotations

import dataclasses
import math

import pytest
from typer.testing import CliRunner

from stylize.cli import app
from stylize.config import (
    PRECISIONS,
    AdaINConfig,
    AdaINTrainConfig,
    FastTrainConfig,
    GANSampleConfig,
    GANTrainConfig,
    OptimizeConfig,
    check_precision,
    help_of,
)
from stylize.errors import UsageError

CONFIGS = [AdaINConfig, OptimizeConfig, FastTrainConfig, AdaINTrainConfig, GANTrainConfig, GANSampleConfig]


def _float_fields(cls: type) -> list[str]:
    return [f.name for f in dataclasses.fields(cls) if str(f.type).startswith("float")]  # float and float | None


@pytest.mark.parametrize("cls", CONFIGS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_every_float_knob_refuses_non_finite_numbers(cls: type, bad: float) -> None:
    names = _float_fields(cls)
    assert names, cls
    for name in names:
        with pytest.raises(UsageError, match="finite"):
            cls(**{name: bad})


def test_one_precision_list_and_validator() -> None:
    assert PRECISIONS == ("auto", "fp32", "bf16", "fp16")
    for value in PRECISIONS:
        check_precision(value)
    with pytest.raises(UsageError, match="--precision must be one of auto, fp32, bf16, fp16"):
        check_precision("int8")


@pytest.mark.parametrize(
    "args",
    [
        ["adain", "c.jpg", "s.jpg", "--blend", "nan,1"],
        ["adain", "c.jpg", "-s", "a.jpg", "-s", "b.jpg", "--blend", "inf,1"],
        ["adain", "c.jpg", "s.jpg", "--alpha", "nan"],
        ["optimize", "c.jpg", "s.jpg", "--style-weight", "nan"],
        ["optimize", "c.jpg", "s.jpg", "--content-weight", "inf"],
        ["gan-sample", "--psi", "inf"],
    ],
)
def test_cli_refuses_non_finite_numbers_with_exit_2(args: list[str]) -> None:
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, result.output  # typer's range check or ours ("must be a finite number")


@pytest.mark.parametrize("cls", CONFIGS, ids=lambda c: c.__name__)
def test_help_text_is_field_metadata(cls: type) -> None:
    helps = {f.name: f.metadata["help"] for f in dataclasses.fields(cls) if "help" in f.metadata}
    assert helps, cls
    assert all(isinstance(text, str) and text.strip() for text in helps.values())
    assert all(help_of(cls, name) == text == help_of(cls(), name) for name, text in helps.items())


@pytest.mark.parametrize(
    ("command", "cls", "name"),
    [("train-adain", AdaINTrainConfig, "lr_decay"), ("train-gan", GANTrainConfig, "r1_gamma")],
)
def test_cli_help_reads_the_config(command: str, cls: type, name: str) -> None:
    result = CliRunner().invoke(app, [command, "--help"], env={"COLUMNS": "400", "TERM": "dumb"})
    assert help_of(cls, name) in result.output


def test_a_tile_overlap_of_half_the_tile_is_refused_with_a_message_that_says_so() -> None:
    from stylize.config import FastConfig
    from stylize.errors import UsageError

    with pytest.raises(UsageError, match="less than half of --tile 128") as caught:
        FastConfig(tile=128, tile_overlap=64)
    assert "below 64" in str(caught.value.hint)
    assert FastConfig(tile=128, tile_overlap=63).tile_overlap == 63


@pytest.mark.parametrize("config", ["OptimizeConfig", "AdaINTrainConfig", "FastTrainConfig", "GANTrainConfig"])
def test_a_seed_out_of_torch_range_is_a_usage_error(config: str) -> None:
    """torch wraps seeds modulo 2**64: a 20-digit seed would quietly be another seed."""
    import stylize.config as cfg

    cls = getattr(cfg, config)
    cls(seed=cfg.MAX_SEED)
    for seed in (cfg.MAX_SEED + 1, 12345678901234567890123, -1):
        with pytest.raises(UsageError, match="--seed must be a whole number from 0 to"):
            cls(seed=seed)
